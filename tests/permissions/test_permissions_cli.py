"""``symphony policy``: through the real root command and its error boundary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from permissions_helpers import record

import symphony_core.cli.policy as policy_cli
from symphony_core.cli.context import CliState
from symphony_core.cli.main import cli, main
from symphony_core.cli.policy import policy
from symphony_core.discovery import DiscoveryResult, SkippedExtension
from symphony_core.permissions import PolicyStore

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    added = "policy" not in cli.commands
    if added:
        cli.add_command(policy)

    def invoke(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--home", str(home), "policy", *args])
        out = capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 0), out.out, out.err

    yield invoke
    if added:
        cli.commands.pop("policy", None)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two installed extensions: one asking for a lot, one trusted."""
    greedy = record(
        tmp_path,
        "acme.greedy",
        permissions={
            "network": "any",
            "env": ["HF_HOME"],
            "subprocess": True,
            "filesystem": {"write": ["out"]},
        },
        limits={"memory": "2GiB"},
    )
    trusted = record(tmp_path, "symphony.pit", trust="trusted")
    off = record(tmp_path, "acme.off")
    skipped = SkippedExtension(
        extension_id="acme.off",
        distribution="acme-off",
        distribution_version="1.0.0",
        reason="disabled",
        record=off,
    )
    result = DiscoveryResult(extensions=[greedy, trusted], failures=[], skipped=[skipped])
    monkeypatch.setattr(policy_cli, "discover", lambda config: result)


def _policy(home: Path) -> dict[str, object]:
    import tomllib

    return tomllib.loads((home / "policy.toml").read_text())


@pytest.mark.usefixtures("installed")
def test_show_puts_asked_and_granted_side_by_side(run: Run, home: Path) -> None:
    code, out, err = run("show")
    assert code == 0, err
    assert "(absent: built-in defaults apply)" in out
    assert "acme.greedy 1.0.0 (community)" in out
    assert "network     none  (asked any)" in out
    assert "not granted network: asked any, granted none" in out
    assert "limits.memory: asked 2GiB, granted 512MiB" in out
    assert "symphony.pit 1.0.0 (trusted)" in out
    assert "the sandbox policy does not apply" in out
    assert "acme.off 1.0.0 (community) -- not loaded: disabled" in out

    code, out, _ = run("show", "--json")
    data = json.loads(out)
    greedy = next(e for e in data["extensions"] if e["extension_id"] == "acme.greedy")
    assert greedy["profile"]["network"] == "none"
    assert {s["permission"] for s in greedy["shortfalls"]} == {
        "network",
        "env",
        "subprocess",
        "filesystem.write",
        "limits.memory",
    }
    assert isinstance(greedy["sandbox"]["ok"], bool)
    assert greedy["not_loaded"] is None
    off = next(e for e in data["extensions"] if e["extension_id"] == "acme.off")
    assert off["not_loaded"] == "disabled"
    assert data["exists"] is False


@pytest.mark.usefixtures("installed")
def test_grant_asked_then_revoke(run: Run, home: Path) -> None:
    code, out, err = run("grant", "acme.greedy", "--asked")
    assert code == 0, err
    entry = _policy(home)["extensions"]["acme.greedy"]  # type: ignore[index]
    assert entry == {
        "write": ["out"],
        "network": "any",
        "env": ["HF_HOME"],
        "subprocess": True,
        "limits": {"memory": "2GiB"},
    }
    code, out, _ = run("show", "acme.greedy", "--json")
    data = json.loads(out)
    assert data["shortfalls"] == []
    assert data["profile"]["network"] == "any"
    assert data["profile"]["memory_bytes"] == 2 << 30
    assert data["profile"]["fs_write"] == [str(home / "extensions" / "acme.greedy" / "out")]

    code, out, _ = run("revoke", "acme.greedy", "--network", "--subprocess")
    assert code == 0
    assert "network: none" in out
    data = json.loads(run("show", "acme.greedy", "--json")[1])
    assert {s["text"] for s in data["shortfalls"]} == {
        "network: asked any, granted none",
        "subprocess: asked yes, granted no",
    }


@pytest.mark.usefixtures("installed")
def test_grant_paths_and_limits(run: Run, home: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    code, out, err = run(
        "grant", "acme.*", "--read", str(corpus), "--memory", "1GiB", "--env", "HF_*", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["entry"] == "acme.*"
    assert data["grant"] == {"read": [str(corpus)], "env": ["HF_*"], "limits": {"memory": "1GiB"}}
    show = json.loads(run("show", "acme.greedy", "--json")[1])
    assert str(corpus) in show["profile"]["fs_read"]
    assert show["profile"]["env"] == ["HF_HOME"]
    assert show["sources"] == ["defaults", "acme.*"]

    code, _, err = run("grant", "acme.greedy", "--read", str(tmp_path / "missing"))
    assert code == 0
    assert "does not exist" in err


def test_grant_and_revoke_errors_are_one_line(run: Run, home: Path) -> None:
    cases = [
        (("grant", "Bad.Id", "--network", "any"), 1, "cannot name a policy entry"),
        (("grant", "acme.tool"), 2, "nothing to grant"),
        (("grant", "acme.tool", "--memory", "1MiB"), 2, "below the minimum of 16MiB"),
        (("grant", "acme.tool", "--memory", "lots"), 2, "is not a byte size"),
        (("grant", "acme.tool", "--env", "A-B"), 2, "--env"),
        (("grant", "acme.tool", "--port", "443"), 1, "ports restrict network 'any'"),
        (("grant", "acme.tool", "--exec", "/bin/sh"), 1, "subprocess grant"),
        (("grant", "acme.tool", "--cpu-time", "1.5"), 2, "whole number of seconds"),
        (("revoke", "acme.tool", "--network"), 1, "no entry 'acme.tool'"),
        (("revoke", "acme.tool"), 2, "nothing to revoke"),
        (("accept-weaker", "everything"), 2, "everything"),
    ]
    for args, expected, text in cases:
        code, out, err = run(*args)
        assert code == expected, (args, out, err)
        assert text in err, (args, err)
        if expected == 1:
            assert err.startswith("error: "), err
            assert err.count("\n") == 1, err
    assert not (home / "policy.toml").exists()


def test_errors_as_json(run: Run) -> None:
    code, out, _ = run("revoke", "acme.tool", "--network", "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "policy.edit_invalid"


def test_invalid_policy_file_is_a_one_line_error(run: Run, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "policy.toml").write_text('[defaults]\nnetwork = "all"\n')
    code, _, err = run("show")
    assert code == 1
    assert err == (
        f"error: {home / 'policy.toml'}: key defaults.network: Invalid enum value 'all' "
        "(expected none, loopback or any)\n"
    )


def test_revoke_names_the_entry_that_grants(run: Run, home: Path) -> None:
    assert run("grant", "acme.*", "--read", "/usr")[0] == 0
    assert run("grant", "acme.tool", "--read", "/opt")[0] == 0
    code, _, err = run("revoke", "acme.tool", "--read", "/usr")
    assert code == 1
    assert "granted through 'acme.*'" in err
    code, out, _ = run("revoke", "acme.tool", "--all")
    assert (code, out) == (0, "acme.tool: entry removed\n")
    assert "acme.tool" not in _policy(home)["extensions"]  # type: ignore[operator]


def test_weaker_sandboxes(run: Run, home: Path) -> None:
    code, out, _ = run("accept-weaker", "no-cgroups", "no-netns")
    assert code == 0
    assert out.startswith("accepted no-cgroups (")
    assert "RLIMIT_DATA" in out  # says what is lost
    assert _policy(home)["accept-weaker"] == ["no-cgroups", "no-netns"]
    code, out, _ = run("refuse-weaker", "no-netns", "no-seccomp")
    assert out == "refused no-netns\nno-seccomp was not accepted\n"
    data = json.loads(run("refuse-weaker", "no-cgroups", "--json")[1])
    assert data["accept_weaker"] == []


@pytest.mark.usefixtures("installed")
def test_show_entry_of_an_extension_not_installed(run: Run) -> None:
    assert run("grant", "other.tool", "--network", "loopback")[0] == 0
    code, out, _ = run("show", "other.tool")
    assert code == 0
    assert out.splitlines()[0].endswith("(not installed)")
    assert "network     loopback" in out
    assert "entries for no installed extension: other.tool" in run("show")[1]
    code, _, err = run("show", "nobody.here")
    assert code == 1
    assert "neither an installed extension nor an entry" in err


def test_clirunner_on_the_group_alone(home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        policy, ["grant", "*", "--data-write", ".", "--json"], obj=CliState(home=home)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["grant"] == {"write": ["."]}
    assert PolicyStore(home / "policy.toml").load().defaults.write == (".",)
