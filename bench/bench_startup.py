"""Start-up benchmark: time to ready with 10, 100 and 1000 installed extensions.

Both sides see the same synthetic distributions (``bench/synthetic.py``), put on
``sys.path`` through ``PYTHONPATH``, and are measured in fresh subprocesses, alternating
ours and the peer, median of ``--runs`` runs each:

* **ours** — ``symphony_core.discovery.discover`` (entry points -> manifests, no
  import), ``symphony_core.resolve.resolve_installed`` (dependency check + load order),
  then ``InProcessRuntime.add`` for every loadable extension (the synthetic ids are
  configured as trusted). That is "ready": every extension registered, none imported.
  The runtime imports an extension's ``entry`` on first use, measured separately
  ("ready + first use": ``runtime.activate`` of one extension — import, instantiate,
  register with the hook relay). "discover+resolve (no runtime)" leaves out importing
  the in-process runtime and registering.
* **peer** — stevedore ``ExtensionManager(namespace, invoke_on_load=False)``, which
  reads the entry points (through its own on-disk cache) and imports every plugin
  module. First use is calling one already-loaded plugin.

"cold" = no discovery cache (ours: empty ``cache_dir``; stevedore: empty
``XDG_CACHE_HOME``); "warm" = the cache written by a previous process. In both cases
bytecode is already compiled (``PYTHONPYCACHEPREFIX`` points at a private directory
filled by a warm-up run) and the files are in the OS page cache: the comparison is of the
discovery work, not of disk or compiler speed. In-process times start before the
library is imported (so they include importing it) and end when the step is done; the
process wall time includes interpreter start-up. The machine may be shared: the CPU-time
row (``time.process_time``) is the least disturbed by other load.

Run::

    uv run python bench/bench_startup.py            # sizes 10, 100, 1000; 5 runs each
    uv run python bench/bench_startup.py --sizes 10,100 --runs 3
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence

_NS_PER_MS = 1e6


def _child_ours(home: str, repeat: int) -> dict[str, object]:
    t0 = time.perf_counter_ns()
    c0 = time.process_time_ns()
    from pathlib import Path

    from symphony_core.config import Config
    from symphony_core.discovery import discover
    from symphony_core.resolve import resolve_installed

    t_import_core = time.perf_counter_ns()
    from symphony_core.runtime.inprocess import InProcessRuntime

    t_import = time.perf_counter_ns()
    # The synthetic extensions are trusted so the in-process runtime takes them.
    config = Config(home=Path(home), trusted=("symphony.*", "synth.*"))
    result = discover(config)
    t_discover = time.perf_counter_ns()
    resolution = resolve_installed(result.extensions)
    t_resolved = time.perf_counter_ns()
    runtime = InProcessRuntime(config)
    for loadable in resolution.loadable:
        if loadable.trust == "trusted":
            runtime.add(loadable)  # registered, nothing imported
    t_ready = time.perf_counter_ns()
    c_ready = time.process_time_ns()
    record = resolution.loadable[-1]
    runtime.activate(record.id)  # first use: import the entry, instantiate, register hooks
    t_first = time.perf_counter_ns()
    module_name = record.manifest.extension.entry.partition(":")[0]
    if module_name not in sys.modules or len(runtime.active_ids()) != 1:
        raise SystemExit("first use did not import exactly the one extension")

    # In the same process: repeat the whole start (disk index revalidated each time).
    repeats = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        again = discover(config)
        resolve_installed(again.extensions)
        repeats.append(time.perf_counter_ns() - start)
    validation = _validation_cost(config) if repeat else {}
    return {
        "import_ms": (t_import - t0) / _NS_PER_MS,
        "import_core_ms": (t_import_core - t0) / _NS_PER_MS,
        "import_runtime_ms": (t_import - t_import_core) / _NS_PER_MS,
        "discover_ms": (t_discover - t_import) / _NS_PER_MS,
        "resolve_ms": (t_resolved - t_discover) / _NS_PER_MS,
        "register_ms": (t_ready - t_resolved) / _NS_PER_MS,
        # Core import + discover + resolve: what "ready" costs without the runtime.
        "resolved_ms": (t_import_core - t0 + t_resolved - t_import) / _NS_PER_MS,
        "ready_ms": (t_ready - t0) / _NS_PER_MS,
        "ready_cpu_ms": (c_ready - c0) / _NS_PER_MS,
        "first_use_ms": (t_first - t0) / _NS_PER_MS,
        "repeat_ms": sorted(repeats)[len(repeats) // 2] / _NS_PER_MS if repeats else None,
        "cache": result.cache,
        "extensions": len(result.extensions),
        "failures": len(result.failures),
        "loadable": len(resolution.loadable),
        "refused": len(resolution.refused),
        **validation,
    }


def _validation_cost(config: object) -> dict[str, object]:
    """Time the check that the on-disk index is still true: read, decode header, stat."""
    from symphony_core.discovery import ENTRY_POINT_GROUP
    from symphony_core.discovery import cache as index_cache

    key = index_cache.make_key(sys.path, group=ENTRY_POINT_GROUP, import_system=True)
    path = index_cache.index_path(config.cache_dir, key)  # type: ignore[attr-defined]
    samples = []
    stats = 0
    for _ in range(20):
        start = time.perf_counter_ns()
        index = index_cache._file_decoder.decode(path.read_bytes())
        change = index_cache._first_change(index.watch)
        samples.append(time.perf_counter_ns() - start)
        stats = len(index.watch)
        assert change is None, change
    return {"validate_ms": sorted(samples)[len(samples) // 2] / _NS_PER_MS, "stats": stats}


def _child_stevedore(namespace: str, name: str, repeat: int) -> dict[str, object]:
    t0 = time.perf_counter_ns()
    c0 = time.process_time_ns()
    from typing import Any

    from stevedore import ExtensionManager

    t_import = time.perf_counter_ns()
    failures: list[str] = []
    manager: Any = ExtensionManager(
        namespace=namespace,
        invoke_on_load=False,
        on_load_failure_callback=lambda _m, ep, exc: failures.append(f"{ep}: {exc}"),
    )
    t_ready = time.perf_counter_ns()
    c_ready = time.process_time_ns()
    manager[name].plugin().run("x")
    t_first = time.perf_counter_ns()

    repeats = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        ExtensionManager(namespace=namespace, invoke_on_load=False)
        repeats.append(time.perf_counter_ns() - start)

    from stevedore import _cache

    samples = []
    values: Sequence[object] = []
    for _ in range(20 if repeat else 0):
        start = time.perf_counter_ns()
        _digest, values = _cache._hash_settings_for_path(tuple(sys.path))
        samples.append(time.perf_counter_ns() - start)
    return {
        "import_ms": (t_import - t0) / _NS_PER_MS,
        "ready_ms": (t_ready - t0) / _NS_PER_MS,
        "ready_cpu_ms": (c_ready - c0) / _NS_PER_MS,
        "first_use_ms": (t_first - t0) / _NS_PER_MS,
        "repeat_ms": sorted(repeats)[len(repeats) // 2] / _NS_PER_MS if repeats else None,
        "extensions": len(manager.extensions),
        "failures": len(failures),
        "validate_ms": sorted(samples)[len(samples) // 2] / _NS_PER_MS if samples else None,
        "stats": len(values),
    }


def _child(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "ours":
        out = _child_ours(rest[0], int(rest[1]))
    elif kind == "stevedore":
        out = _child_stevedore(rest[0], rest[1], int(rest[2]))
    elif kind == "noop":
        out = {}
    else:
        raise SystemExit(f"unknown child kind {kind!r}")
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


# ---------------------------------------------------------------------------- parent


def _run_child(args: list[str], env: dict[str, str]) -> dict[str, object]:
    import subprocess

    start = time.perf_counter_ns()
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = (time.perf_counter_ns() - start) / _NS_PER_MS
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr}")
    data: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    data["wall_ms"] = wall
    return data


def _median(runs: list[dict[str, object]], field: str) -> float:
    import statistics

    values = [float(r[field]) for r in runs if r.get(field) is not None]  # type: ignore[arg-type]
    return statistics.median(values)


def _check(kind: str, runs: list[dict[str, object]], n: int, cache: str | None) -> None:
    for run in runs:
        if kind.startswith("ours"):
            # The environment's own extensions (e.g. the example) may add to n.
            if run["cache"] != cache or int(str(run["loadable"])) < n:
                raise SystemExit(f"unexpected {kind} run at n={n}: {run}")
        elif int(str(run["extensions"])) < n:
            raise SystemExit(f"stevedore loaded {run['extensions']} of {n}: {run}")


def _measure_size(n: int, root: str, runs: int, repeat: int) -> dict[str, list[dict[str, object]]]:
    """Run every scenario for ``n`` extensions, alternating ours and the peer."""
    import shutil
    from pathlib import Path

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from synthetic import PEER_NAMESPACE, make_site, write_distribution

    base = Path(root) / f"n{n}"
    site = make_site(base / "site", n)
    home, xdg = base / "home", base / "xdg"
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "SYMPHONY_HOME")
    }
    env.update(
        PYTHONPATH=str(site.path),
        PYTHONPYCACHEPREFIX=str(Path(root) / "pycache"),
        XDG_CACHE_HOME=str(xdg),
    )
    ours = ["ours", str(home), "0"]
    peer = ["stevedore", PEER_NAMESPACE, f"ext{n - 1:04d}", "0"]
    out: dict[str, list[dict[str, object]]] = {}

    def run(kind: str, args: list[str], before: Callable[[], None] | None = None) -> None:
        if before is not None:
            before()
        out.setdefault(kind, []).append(_run_child(args, env))

    # Warm-up: compile bytecode for both sides and fill the page cache.
    _run_child(ours, env)
    _run_child(peer, env)
    for _ in range(runs):
        run("ours_cold", ours, lambda: shutil.rmtree(home / "cache", ignore_errors=True))
        run("peer_cold", peer, lambda: shutil.rmtree(xdg, ignore_errors=True))
    for _ in range(runs):
        run("ours_warm", ours)
        run("peer_warm", peer)
        run("python", ["noop"])
    run("ours_repeat", ["ours", str(home), str(repeat)])
    run("peer_repeat", [*peer[:3], str(repeat)])

    # One more distribution installed since the caches were written.
    saved_home, saved_xdg = base / "home-before", base / "xdg-before"
    shutil.copytree(home, saved_home)
    shutil.copytree(xdg, saved_xdg)
    write_distribution(site.path, n, "1.0.0", {})

    def restore(saved: Path, target: Path) -> Callable[[], None]:
        def do() -> None:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(saved, target)

        return do

    _run_child(ours, env)  # compile the new plugin module once, like the warm-up
    _run_child(peer, env)
    for _ in range(runs):
        run("ours_install", ours, restore(saved_home, home))
        run("peer_install", peer, restore(saved_xdg, xdg))

    _check("ours_cold", out["ours_cold"], n, "miss")
    _check("ours_warm", out["ours_warm"], n, "hit")
    _check("ours_install", out["ours_install"], n + 1, "miss")
    for kind in ("peer_cold", "peer_warm"):
        _check(kind, out[kind], n, None)
    _check("peer_install", out["peer_install"], n + 1, None)
    return out


def main(argv: list[str]) -> int:
    """Run the benchmark and print the table."""
    if argv[:1] == ["--child"]:
        return _child(argv[1:])

    import argparse
    import tempfile

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _table import Row, print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10, help="in-process repeats per child")
    parser.add_argument("--keep", help="directory to generate into (kept afterwards)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    root = args.keep or tempfile.mkdtemp(prefix="symphony-bench-startup-")
    rows: list[Row] = []
    details: list[str] = []
    try:
        for n in sizes:
            data = _measure_size(n, root, args.runs, args.repeat)

            def pair(
                kind: str, field: str, data: dict[str, list[dict[str, object]]] = data
            ) -> tuple[float, float]:
                return _median(data[f"ours_{kind}"], field), _median(data[f"peer_{kind}"], field)

            peer = "stevedore"
            ready_target = "< 100 ms, < peer" if n >= 1000 else "< peer"
            rows += [
                Row(f"n={n} ready, cold cache", *pair("cold", "ready_ms"), "ms", "< peer", peer),
                Row(
                    f"n={n} discover+resolve (no runtime), warm",
                    _median(data["ours_warm"], "resolved_ms"),
                    _median(data["peer_warm"], "ready_ms"),
                    "ms",
                    ready_target,
                    peer,
                ),
                Row(
                    f"n={n} ready, warm cache", *pair("warm", "ready_ms"), "ms", ready_target, peer
                ),
                Row(
                    f"n={n} ready, warm cache, CPU time",
                    *pair("warm", "ready_cpu_ms"),
                    "ms",
                    ready_target,
                    peer,
                ),
                Row(
                    f"n={n} ready + first use, warm",
                    *pair("warm", "first_use_ms"),
                    "ms",
                    "< peer",
                    peer,
                ),
                Row(
                    f"n={n} ready, 1 dist installed since",
                    *pair("install", "ready_ms"),
                    "ms",
                    "< peer",
                    peer,
                ),
                Row(f"n={n} process wall, warm", *pair("warm", "wall_ms"), "ms", "< peer", peer),
                Row(
                    f"n={n} cache validation",
                    *pair("repeat", "validate_ms"),
                    "ms",
                    "stats only",
                    peer,
                ),
                Row(f"n={n} again in same process", *pair("repeat", "repeat_ms"), "ms", "-", peer),
            ]
            ow, oc, oi = data["ours_warm"], data["ours_cold"], data["ours_install"]
            details.append(
                f"n={n}: ours warm = import {_median(ow, 'import_core_ms'):.1f} ms (core) + "
                f"{_median(ow, 'import_runtime_ms'):.1f} ms (in-process runtime) + discover "
                f"{_median(ow, 'discover_ms'):.1f} ms + resolve {_median(ow, 'resolve_ms'):.1f} ms"
                f" + register {_median(ow, 'register_ms'):.1f} ms"
                f"; cold discover {_median(oc, 'discover_ms'):.1f} ms; after one install "
                f"discover {_median(oi, 'discover_ms'):.1f} ms; validation stats "
                f"{data['ours_repeat'][0]['stats']} paths (stevedore hashes "
                f"{data['peer_repeat'][0]['stats']}); stevedore import "
                f"{_median(data['peer_warm'], 'import_ms'):.1f} ms; bare interpreter wall "
                f"{_median(data['python'], 'wall_ms'):.1f} ms"
            )
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    print_table("Start-up: discover + resolve (ours) vs stevedore ExtensionManager", rows)
    print()
    for line in details:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
