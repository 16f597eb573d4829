"""PermissionService: the policy kept current, profiles with their directories, machine checks."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest
from permissions_helpers import config, record

from symphony_core.permissions import (
    Grant,
    PermissionService,
    PolicyError,
    PolicyStore,
    check_sandbox,
    data_dir,
    grant,
)
from symphony_core.runtime.sandbox.errors import SandboxUnavailableError
from symphony_core.runtime.sandbox.policy import EnforcementPlan, SandboxProfile
from symphony_core.runtime.sandbox.probe import probe_kernel


def test_a_grant_made_while_running_applies_to_the_next_start(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    service = PermissionService(cfg)
    rec = record(tmp_path, permissions={"network": "loopback"})
    assert service.profile_for(rec).network == "none"
    with service.store.edit() as draft:
        draft.policy = grant(draft.policy, "acme.tool", Grant(network="any"))
    assert service.profile_for(rec).network == "loopback"
    assert service.accepted_weakenings() == ()
    with service.store.edit() as draft:
        draft.policy = msgspec.structs.replace(draft.policy, accept_weaker=("no-cgroups",))
    assert service.accepted_weakenings() == ("no-cgroups",)


def test_policy_is_read_once_while_unchanged(tmp_path: Path) -> None:
    service = PermissionService(config(tmp_path / "home"))
    first = service.policy
    assert service.policy is first


def test_an_invalid_policy_stops_starts_instead_of_falling_back(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    service = PermissionService(cfg)
    rec = record(tmp_path)
    service.profile_for(rec)
    store = PolicyStore.for_config(cfg)
    store.path.write_text('[defaults]\nnetwork = "everything"\n')
    with pytest.raises(PolicyError, match=r"defaults\.network"):
        service.profile_for(rec)


def test_profile_for_creates_scratch_and_granted_data_dirs(tmp_path: Path) -> None:
    cfg = config(tmp_path / "home")
    service = PermissionService(cfg)
    with service.store.edit() as draft:
        draft.policy = grant(draft.policy, "*", Grant(write=(".",)))
    rec = record(tmp_path, permissions={"filesystem": {"write": ["out/logs"], "read": ["in"]}})
    profile = service.profile_for(rec)
    out = data_dir(cfg, "acme.tool") / "out" / "logs"
    assert out.is_dir()
    assert profile.fs_write == (str(out),)
    assert os.stat(out).st_mode & 0o777 == 0o700
    assert Path(profile.scratch_dir or "").is_dir()
    assert not (data_dir(cfg, "acme.tool") / "in").exists()  # reads are never created


def test_unpreparable_directory_is_a_policy_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("a file where the cache directory should be")
    service = PermissionService(config(home))
    with pytest.raises(PolicyError, match="cannot prepare directory"):
        service.profile_for(record(tmp_path))


def test_check_sandbox_reports_refusals_by_name() -> None:
    caps = probe_kernel()
    lacking = msgspec.structs.replace(caps, landlock_abi=0, landlock_error="test: absent")
    refusal = check_sandbox(SandboxProfile(), lacking, ())
    assert isinstance(refusal, SandboxUnavailableError)
    assert "no-landlock" in str(refusal)
    accepted = tuple(w.value for w in lacking.guarantees().required_weakenings)
    plan = check_sandbox(SandboxProfile(), lacking, accepted)
    assert isinstance(plan, EnforcementPlan)
    assert "no-landlock" in plan.weakenings
