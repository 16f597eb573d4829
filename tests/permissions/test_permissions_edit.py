"""Grant, revoke, accept and refuse a weaker sandbox: the pure policy edits."""

from __future__ import annotations

import pytest

from symphony_core.permissions import (
    Grant,
    LimitGrant,
    Policy,
    PolicyEditError,
    Revocation,
    accept_weaker,
    grant,
    refuse_weaker,
    revoke,
)
from symphony_core.permissions.edit import merge_grants


def test_grant_adds_lists_and_replaces_values() -> None:
    policy = grant(Policy(), "acme.tool", Grant(read=("/a",), network="loopback", env=("A",)))
    policy = grant(
        policy,
        "acme.tool",
        Grant(read=("/b", "/a"), network="any", limits=LimitGrant(memory="1GiB")),
    )
    entry = policy.extensions["acme.tool"]
    assert entry.read == ("/a", "/b")
    assert entry.network == "any"
    assert entry.env == ("A",)
    assert entry.limits.memory == "1GiB"
    policy = grant(policy, "acme.tool", Grant(limits=LimitGrant(processes=8)))
    assert policy.extensions["acme.tool"].limits == LimitGrant(memory="1GiB", processes=8)


def test_star_is_the_defaults() -> None:
    policy = grant(Policy(), "*", Grant(write=(".",)))
    assert policy.defaults.write == (".",)
    assert policy.extensions == {}


@pytest.mark.parametrize("key", ["Acme", "acme", "acme.$", ""])
def test_grant_refuses_bad_keys(key: str) -> None:
    with pytest.raises(PolicyEditError, match="cannot name a policy entry"):
        grant(Policy(), key, Grant(network="any"))


def test_ports_need_network_any() -> None:
    with pytest.raises(PolicyEditError, match="ports restrict network 'any'"):
        grant(Policy(), "acme.tool", Grant(ports=(443,)))
    policy = grant(Policy(), "acme.tool", Grant(network="any", ports=(443,)))
    assert policy.extensions["acme.tool"].ports == (443,)
    # inherited from the defaults counts too
    base = grant(Policy(), "*", Grant(network="any"))
    assert grant(base, "acme.tool", Grant(ports=(80,))).extensions["acme.tool"].ports == (80,)


def test_exec_needs_subprocess() -> None:
    with pytest.raises(PolicyEditError, match="subprocess grant"):
        grant(Policy(), "acme.tool", Grant(exec=("/usr/bin/git",)))
    policy = grant(Policy(), "acme.tool", Grant(exec=("/usr/bin/git",), subprocess=True))
    assert policy.extensions["acme.tool"].exec == ("/usr/bin/git",)


def test_revoke_removes_what_the_entry_holds() -> None:
    policy = grant(
        Policy(),
        "acme.tool",
        Grant(read=("/a", "/b"), env=("A", "B"), network="any", ports=(80, 443), subprocess=True),
    )
    policy = revoke(policy, "acme.tool", Revocation(read=("/a",), env=("B",), ports=(80,)))
    entry = policy.extensions["acme.tool"]
    assert (entry.read, entry.env, entry.ports) == (("/b",), ("A",), (443,))
    policy = revoke(policy, "acme.tool", Revocation(network=True, subprocess=True))
    entry = policy.extensions["acme.tool"]
    assert entry.network == "none"
    assert entry.subprocess is False
    assert entry.ports == ()  # meaningless without network any


def test_revoke_of_a_value_overrides_a_glob() -> None:
    policy = grant(Policy(), "acme.*", Grant(subprocess=True))
    policy = grant(policy, "acme.tool", Grant(read=("/a",)))
    policy = revoke(policy, "acme.tool", Revocation(subprocess=True))
    assert policy.extensions["acme.tool"].subprocess is False
    assert policy.extensions["acme.*"].subprocess is True


def test_revoking_what_is_not_held_says_where_it_comes_from() -> None:
    policy = grant(Policy(), "acme.*", Grant(read=("/shared",)))
    policy = grant(policy, "acme.tool", Grant(read=("/own",)))
    with pytest.raises(PolicyEditError) as info:
        revoke(policy, "acme.tool", Revocation(read=("/shared",)))
    assert "'acme.*'" in str(info.value.hint)
    with pytest.raises(PolicyEditError) as info:
        revoke(policy, "acme.tool", Revocation(read=("/nowhere",)))
    assert "its read grants: /own" in str(info.value.hint)


def test_revoke_all_and_empty_entries_disappear() -> None:
    policy = grant(Policy(), "acme.tool", Grant(read=("/a",)))
    assert "acme.tool" not in revoke(policy, "acme.tool", Revocation(everything=True)).extensions
    assert "acme.tool" not in revoke(policy, "acme.tool", Revocation(read=("/a",))).extensions
    defaults = grant(Policy(), "*", Grant(network="any"))
    assert revoke(defaults, "*", Revocation(everything=True)).defaults == Grant()


def test_revoke_errors() -> None:
    with pytest.raises(PolicyEditError, match="nothing to revoke"):
        revoke(Policy(), "acme.tool", Revocation())
    with pytest.raises(PolicyEditError, match=r"no entry 'acme\.tool'"):
        revoke(Policy(), "acme.tool", Revocation(network=True))


def test_revoke_limits_and_run_as() -> None:
    policy = grant(Policy(), "acme.tool", Grant(limits=LimitGrant(memory="1GiB"), run_as_uid=1000))
    policy = grant(policy, "acme.tool", Grant(read=("/a",)))
    policy = revoke(policy, "acme.tool", Revocation(limits=True, run_as=True))
    entry = policy.extensions["acme.tool"]
    assert entry.limits == LimitGrant()
    assert entry.run_as_uid is None


def test_weaker_sandboxes_are_accepted_and_refused_by_name() -> None:
    policy = accept_weaker(Policy(), ["no-cgroups", "no-netns", "no-cgroups"])
    assert policy.accept_weaker == ("no-cgroups", "no-netns")
    assert refuse_weaker(policy, ["no-netns"]).accept_weaker == ("no-cgroups",)
    assert refuse_weaker(policy, ["no-seccomp"]).accept_weaker == policy.accept_weaker
    with pytest.raises(PolicyEditError, match="unknown weaker sandbox 'everything'"):
        accept_weaker(Policy(), ["everything"])


def test_merge_grants_is_what_grant_stores() -> None:
    first = Grant(read=("/a",), network="any", limits=LimitGrant(memory="1GiB"))
    second = Grant(read=("/b",), limits=LimitGrant(processes=3))
    merged = merge_grants(first, second)
    assert merged == Grant(
        read=("/a", "/b"), network="any", limits=LimitGrant(memory="1GiB", processes=3)
    )
