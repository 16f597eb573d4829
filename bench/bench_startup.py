"""Start-up benchmark: time to ready with 10, 100 and 1000 installed extensions.

Both sides see the same synthetic distributions (``bench/synthetic.py``), put on
``sys.path`` through ``PYTHONPATH``, and are measured in fresh subprocesses, alternating
ours and the peer, median of ``--runs`` runs each:

* **ours** — the public path a host application takes: ``Host().start()`` with the
  configuration read from the environment (``SYMPHONY_HOME``, and ``SYMPHONY_TRUSTED``
  so the synthetic extensions run in-process). That is discovery (entry points ->
  manifests, no extension imported), resolution (dependency check + load order) and
  registering every loadable extension with the in-process runtime: "ready", every
  extension known, none imported. "ready + first use" adds ``host.activate`` of one
  extension (import its entry, instantiate, register its hooks).
* **peer** — stevedore ``ExtensionManager(namespace, invoke_on_load=False)``, which
  reads the entry points (through its own on-disk cache) and imports every plugin
  module. First use is calling one already-loaded plugin.

"cold" = no discovery cache (ours: empty cache directory; stevedore: empty
``XDG_CACHE_HOME``); "warm" = the cache written by a previous process. In both cases
bytecode is already compiled (``PYTHONPYCACHEPREFIX`` points at a private directory
filled by a warm-up run) and the files are in the OS page cache: the comparison is of the
discovery work, not of disk or compiler speed. In-process times start before the
library is imported (so they include importing it) and end when the step is done.
The process rows time whole child processes from outside, interpreter start-up and
exit included: one that gets ready and exits (what a CLI command pays), and one that
also uses one extension first (ours imports the hook layer then; stevedore imported
everything while getting ready). Two reference rows give the floor on this machine with
the same environment and ``sys.path``: ``python -c pass`` (interpreter start-up) and
``python -c "import msgspec"`` (the one third-party import every start of ours needs).
The machine may be shared: the CPU-time rows are the least disturbed by other load.

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
# Modules a warm start must not need; reported per run (see tests/host/test_host_lazy.py).
_HEAVY = ("symphony_core.resolution.installed", "tomllib", "pluggy", "asyncio")


def _child_ours(repeat: int) -> dict[str, object]:
    t0 = time.perf_counter_ns()
    c0 = time.process_time_ns()
    from symphony_core.app import Host

    t_import = time.perf_counter_ns()
    host = Host()  # configuration from the environment: SYMPHONY_HOME, SYMPHONY_TRUSTED
    host.start()
    t_ready = time.perf_counter_ns()
    c_ready = time.process_time_ns()
    heavy = [name for name in _HEAVY if name in sys.modules]
    order = host.load_order()
    last = order[-1]
    host.activate(last)  # first use: import the entry, instantiate, register its hooks
    t_first = time.perf_counter_ns()
    module_name = host.manifest(last).extension.entry.partition(":")[0]
    if module_name not in sys.modules or host.runtime.active_ids() != [last]:
        raise SystemExit("first use did not import exactly the one extension")
    cache = host.discovery.cache
    loadable, refused = len(order), len(host.resolution.refused)
    extensions, failures = len(host.discovery.extensions), len(host.discovery.failures)
    host.close()

    # In the same process: start again (the disk index revalidated each time).
    repeats = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        Host().start().close()
        repeats.append(time.perf_counter_ns() - start)
    validation = _validation_cost() if repeat else {}
    return {
        "import_ms": (t_import - t0) / _NS_PER_MS,
        "start_ms": (t_ready - t_import) / _NS_PER_MS,
        "ready_ms": (t_ready - t0) / _NS_PER_MS,
        "ready_cpu_ms": (c_ready - c0) / _NS_PER_MS,
        "first_use_ms": (t_first - t0) / _NS_PER_MS,
        "repeat_ms": sorted(repeats)[len(repeats) // 2] / _NS_PER_MS if repeats else None,
        "heavy": heavy,
        "cache": cache,
        "extensions": extensions,
        "failures": failures,
        "loadable": loadable,
        "refused": refused,
        **validation,
    }


def _child_ours_ready() -> dict[str, object]:
    """Get ready and exit: what a short-lived process (a CLI command) pays."""
    t0 = time.perf_counter_ns()
    from symphony_core.app import Host

    host = Host().start()
    return {"ready_ms": (time.perf_counter_ns() - t0) / _NS_PER_MS, "cache": host.discovery.cache}


def _child_stevedore_ready(namespace: str) -> dict[str, object]:
    """Get ready and exit, stevedore's way."""
    t0 = time.perf_counter_ns()
    from stevedore import ExtensionManager

    ExtensionManager(namespace=namespace, invoke_on_load=False)
    return {"ready_ms": (time.perf_counter_ns() - t0) / _NS_PER_MS}


def _child_phases() -> dict[str, object]:
    """Where a start of ours goes, phase by phase (diagnostic: uses internals)."""
    t0 = time.perf_counter_ns()
    from symphony_core.app import _resolve
    from symphony_core.config import load_config
    from symphony_core.discovery import open_discovery
    from symphony_core.runtime.inprocess import InProcessRuntime

    t_import = time.perf_counter_ns()
    config = load_config()
    t_config = time.perf_counter_ns()
    session = open_discovery(config)
    t_discover = time.perf_counter_ns()
    resolution = _resolve(session)
    session.close()
    t_resolve = time.perf_counter_ns()
    runtime = InProcessRuntime(config)
    runtime.add_all(r for r in resolution.loadable if r.trust == "trusted")
    t_register = time.perf_counter_ns()
    return {
        "import_ms": (t_import - t0) / _NS_PER_MS,
        "config_ms": (t_config - t_import) / _NS_PER_MS,
        "discover_ms": (t_discover - t_config) / _NS_PER_MS,
        "resolve_ms": (t_resolve - t_discover) / _NS_PER_MS,
        "register_ms": (t_register - t_resolve) / _NS_PER_MS,
        "cache": session.result.cache,
    }


def _validation_cost() -> dict[str, object]:
    """Time the check that the on-disk index is still true: read, decode header, stat."""
    from symphony_core.config import load_config
    from symphony_core.discovery import ENTRY_POINT_GROUP
    from symphony_core.discovery import cache as index_cache

    config = load_config()
    key = index_cache.make_key(sys.path, group=ENTRY_POINT_GROUP, import_system=True)
    path = index_cache.index_path(config.cache_dir, key)
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
        out = _child_ours(int(rest[0]))
    elif kind == "ours-ready":
        out = _child_ours_ready()
    elif kind == "stevedore-ready":
        out = _child_stevedore_ready(rest[0])
    elif kind == "phases":
        out = _child_phases()
    elif kind == "stevedore":
        out = _child_stevedore(rest[0], rest[1], int(rest[2]))
    else:
        raise SystemExit(f"unknown child kind {kind!r}")
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


# ---------------------------------------------------------------------------- parent


def _run_child(args: list[str], env: dict[str, str]) -> dict[str, object]:
    # -P: the bench directory is not put on sys.path, so files other people change in it
    # (a shared checkout) cannot make either side's cache look stale.
    return _run([sys.executable, "-P", os.path.abspath(__file__), "--child", *args], env)


def _run_floor(code: str, env: dict[str, str]) -> dict[str, object]:
    """Run ``python -c code`` in the same environment (same ``sys.path``): a floor."""
    return _run([sys.executable, "-c", code], env, output=False)


def _run(command: list[str], env: dict[str, str], *, output: bool = True) -> dict[str, object]:
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter_ns()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = (time.perf_counter_ns() - start) / _NS_PER_MS
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"child {command[1:]} failed:\n{proc.stderr}")
    data: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1]) if output else {}
    data["wall_ms"] = wall
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    data["wall_cpu_ms"] = cpu * 1000
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
            if cache == "hit" and run["heavy"]:
                raise SystemExit(f"a warm start imported {run['heavy']}: {run}")
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
    env = {k: v for k, v in env.items() if not k.startswith("SYMPHONY_")}
    env.update(
        PYTHONPATH=str(site.path),
        PYTHONPYCACHEPREFIX=str(Path(root) / "pycache"),
        XDG_CACHE_HOME=str(xdg),
        SYMPHONY_HOME=str(home),
        # The synthetic extensions are trusted so the in-process runtime takes them.
        SYMPHONY_TRUSTED="symphony.*,synth.*",
    )
    ours = ["ours", "0"]
    peer = ["stevedore", PEER_NAMESPACE, f"ext{n - 1:04d}", "0"]
    out: dict[str, list[dict[str, object]]] = {}

    def run(kind: str, args: list[str], before: Callable[[], None] | None = None) -> None:
        if before is not None:
            before()
        out.setdefault(kind, []).append(_run_child(args, env))

    # Warm-up: compile bytecode for both sides and fill the page cache.
    _run_child(ours, env)
    _run_child(peer, env)
    _run_floor("import msgspec", env)
    for _ in range(runs):
        run("ours_cold", ours, lambda: shutil.rmtree(home / "cache", ignore_errors=True))
        run("peer_cold", peer, lambda: shutil.rmtree(xdg, ignore_errors=True))
    for _ in range(runs):
        run("ours_warm", ours)
        run("peer_warm", peer)
        run("ours_exit", ["ours-ready"])
        run("peer_exit", ["stevedore-ready", PEER_NAMESPACE])
        out.setdefault("python", []).append(_run_floor("pass", env))
        out.setdefault("msgspec", []).append(_run_floor("import msgspec", env))
        run("ours_phases", ["phases"])
    run("ours_repeat", ["ours", str(repeat)])
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
    if any(run["cache"] != "hit" for run in out["ours_exit"]):
        raise SystemExit(f"unexpected ours_exit runs at n={n}: {out['ours_exit']}")
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
            floor = "reference (same env)"
            rows += [
                Row(f"n={n} ready, cold cache", *pair("cold", "ready_ms"), "ms", "< peer", peer),
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
                Row(
                    f"n={n} process wall: start, ready, exit (warm)",
                    *pair("exit", "wall_ms"),
                    "ms",
                    "< peer",
                    peer,
                ),
                Row(
                    f"n={n} process CPU: start, ready, exit (warm)",
                    *pair("exit", "wall_cpu_ms"),
                    "ms",
                    "< peer",
                    peer,
                ),
                Row(
                    f"n={n} process wall: start, ready, first use, exit (warm)",
                    *pair("warm", "wall_ms"),
                    "ms",
                    "< peer",
                    peer,
                ),
                Row(
                    f"n={n} floor: python -c pass, wall",
                    _median(data["python"], "wall_ms"),
                    None,
                    "ms",
                    floor,
                ),
                Row(
                    f"n={n} floor: python -c 'import msgspec', wall",
                    _median(data["msgspec"], "wall_ms"),
                    None,
                    "ms",
                    floor,
                ),
                Row(
                    f"n={n} cache validation",
                    *pair("repeat", "validate_ms"),
                    "ms",
                    "stats only",
                    peer,
                ),
                Row(f"n={n} again in same process", *pair("repeat", "repeat_ms"), "ms", "-", peer),
            ]
            ow, oc, ph = data["ours_warm"], data["ours_cold"], data["ours_phases"]
            details.append(
                f"n={n}: ours warm = import {_median(ow, 'import_ms'):.1f} ms + Host.start "
                f"{_median(ow, 'start_ms'):.1f} ms (by phase, separate runs: import "
                f"{_median(ph, 'import_ms'):.1f} + config {_median(ph, 'config_ms'):.1f} + "
                f"discover {_median(ph, 'discover_ms'):.1f} + resolve "
                f"{_median(ph, 'resolve_ms'):.1f} + register {_median(ph, 'register_ms'):.1f} ms)"
                f"; cold Host.start {_median(oc, 'start_ms'):.1f} ms; validation stats "
                f"{data['ours_repeat'][0]['stats']} paths (stevedore hashes "
                f"{data['peer_repeat'][0]['stats']}); stevedore import "
                f"{_median(data['peer_warm'], 'import_ms'):.1f} ms; wall floors: python "
                f"{_median(data['python'], 'wall_ms'):.1f} ms, python + msgspec "
                f"{_median(data['msgspec'], 'wall_ms'):.1f} ms"
            )
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    print_table("Start-up: Host.start() (ours) vs stevedore ExtensionManager", rows)
    print()
    for line in details:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
