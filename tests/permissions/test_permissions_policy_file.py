"""The policy file: round trip, every kind of error naming file and key, locked edits."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony_core.permissions import (
    Grant,
    LimitGrant,
    Policy,
    PolicyError,
    PolicyStore,
    dump_policy,
    grant,
    parse_policy,
)
from symphony_core.runtime.sandbox.policy import Weakening

SOURCE = "/home/u/policy.toml"

# -- round trip -----------------------------------------------------------------------

_segment = st.sampled_from(["a", "b", "data", "models", "x-y", "ü"])
_relative = st.lists(_segment, min_size=1, max_size=3).map("/".join) | st.just(".")
_absolute = st.lists(_segment, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
_sizes = st.sampled_from(["16MiB", "512MiB", "1GiB", "2 GB", "17000000"])
_limits = st.builds(
    LimitGrant,
    memory=st.none() | _sizes,
    cpu_share=st.none() | st.floats(0.01, 64),
    cpu_time=st.none() | st.integers(1, 10**6) | st.just("unlimited"),
    processes=st.none() | st.integers(1, 65536),
    open_files=st.none() | st.integers(16, 1048576),
    file_size=st.none() | _sizes,
)
_env = st.sampled_from(["HOME", "HF_*", "LANG", "X?", "_A1"])
_grants = st.builds(
    Grant,
    read=st.lists(_relative | _absolute, max_size=3, unique=True).map(tuple),
    write=st.lists(_relative | _absolute, max_size=3, unique=True).map(tuple),
    exec=st.lists(_absolute, max_size=2, unique=True).map(tuple),
    network=st.none() | st.sampled_from(["none", "loopback", "any"]),
    ports=st.lists(st.integers(1, 65535), max_size=3, unique=True).map(tuple),
    env=st.lists(_env, max_size=3, unique=True).map(tuple),
    subprocess=st.none() | st.booleans(),
    limits=_limits,
    run_as_uid=st.none() | st.integers(0, 70000),
)
_keys = st.sampled_from(["acme.tool", "acme.*", "acme.tool-?", "b.c", "x.[ab]z", "zz.top"])
_policies = st.builds(
    Policy,
    accept_weaker=st.lists(st.sampled_from([w.value for w in Weakening]), unique=True).map(tuple),
    defaults=_grants,
    extensions=st.dictionaries(_keys, _grants, max_size=4),
)


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(_policies)
def test_dump_then_parse_is_identity(policy: Policy) -> None:
    text = dump_policy(policy)
    assert text.startswith("# Symphony sandbox policy")
    assert parse_policy(text, source=SOURCE) == policy


def test_missing_file_is_the_default_policy(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy.toml")
    assert not store.exists()
    assert store.load() == Policy()
    assert store.stamp() is None


def test_empty_entries_are_dropped_and_defaults_omitted(tmp_path: Path) -> None:
    text = dump_policy(Policy(extensions={"acme.tool": Grant(network="any")}))
    assert "[defaults]" not in text
    assert 'network = "any"' in text
    assert "limits" not in text  # nothing set: nothing written


# -- errors -----------------------------------------------------------------------------

ERRORS = [
    ("version = 2", "key version", "expected 1"),
    ("bogus = 1", "unknown key 'bogus'", "known keys: version, accept-weaker"),
    ('[defaults]\nnetwork = "all"', "key defaults.network", "none, loopback or any"),
    ("[defaults]\nnetwork = 1", "key defaults.network", "Expected"),
    (
        '[extensions."acme.tool"]\nnetwrk = "any"',
        'key extensions."acme.tool"',
        "unknown key 'netwrk'",
    ),
    (
        '[extensions."acme.tool".limits]\nmemory = "1MiB"',
        "limits.memory",
        "below the minimum of 16MiB",
    ),
    ('[extensions."acme.tool".limits]\nmemory = "lots"', "limits.memory", "regex"),
    ('[extensions."acme.tool".limits]\ncpu-time = "forever"', "limits.cpu-time", "'unlimited'"),
    ('[extensions."acme.tool".limits]\ncpu-share = 0', "limits.cpu-share", ">= 0.01"),
    ('[extensions."acme.tool".limits]\nopen-files = 3', "limits.open-files", ">= 16"),
    ('[extensions."acme.tool".limits]\nfile-size = "0"', "limits.file-size", "below the minimum"),
    ("[defaults.limits]\nfoo = 1", "key defaults.limits", "unknown key 'foo'"),
    ('[extensions."Acme.Tool"]', 'extensions."Acme.Tool"', "not an extension id"),
    ('[extensions."*"]', 'extensions."*"', "use the [defaults] table"),
    ('[extensions."acme.$*"]', 'extensions."acme.$*"', "a glob of extension ids may use"),
    ('[extensions."acme.tool"]\nread = ["../x"]', "read[0]", "climbs out"),
    ('[extensions."acme.tool"]\nwrite = ["a", "~/x"]', "write[1]", "'~' is not expanded"),
    ('[extensions."acme.tool"]\nread = [""]', "read[0]", "must not be empty"),
    ('[extensions."acme.tool"]\nexec = ["bin/tool"]', "exec[0]", "must be an absolute path"),
    ('[extensions."acme.tool"]\nports = [0]', "ports[0]", ">= 1"),
    ('[extensions."acme.tool"]\nenv = ["A-B"]', "env[0]", "regex"),
    ('[extensions."acme.tool"]\nrun-as-gid = 5', "run-as-gid", "needs run-as-uid"),
    ('accept-weaker = ["no-foo"]', "accept-weaker[0]", "unknown weaker sandbox 'no-foo'"),
    ("extensions = 3", "key extensions", "expected a table"),
    ("x = [", "not valid TOML", ""),
]


@pytest.mark.parametrize(("text", "key", "problem"), ERRORS)
def test_every_error_names_file_and_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source=SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: "), message
    assert key in message
    assert problem in message
    assert info.value.code == "policy.invalid"
    assert "\n" not in message


def test_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"version = 1\n# \xff\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        PolicyStore(path).load()


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        PolicyStore(path).load()


# -- edits ------------------------------------------------------------------------------


def test_edit_writes_only_on_change_and_not_on_error(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy.toml")
    with store.edit() as draft:
        pass
    assert not store.exists()
    with store.edit() as draft:
        draft.policy = grant(draft.policy, "acme.tool", Grant(network="any"))
    assert store.load().extensions["acme.tool"].network == "any"
    before = store.path.read_bytes()

    def abandon() -> None:
        with store.edit() as draft:
            draft.policy = grant(draft.policy, "acme.tool", Grant(network="none"))
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandon()
    assert store.path.read_bytes() == before


def _grant_many(path: str, start: int) -> None:
    store = PolicyStore(Path(path))
    for i in range(start, start + 15):
        with store.edit() as draft:
            draft.policy = grant(draft.policy, f"p{i}.ext", Grant(env=("HOME",)))


def test_concurrent_editors_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "policy.toml")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_grant_many, args=(path, n * 100)) for n in range(3)]
    for proc in procs:
        proc.start()
    _grant_many(path, 900)
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    keys = set(PolicyStore(Path(path)).load().extensions)
    assert keys == {f"p{n * 100 + i}.ext" for n in (0, 1, 2, 9) for i in range(15)}


def test_written_file_is_readable_by_others(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy.toml")
    store.save(Policy(accept_weaker=("no-cgroups",)))
    assert os.stat(store.path).st_mode & 0o777 == 0o644
    assert store.load().accept_weaker == ("no-cgroups",)
