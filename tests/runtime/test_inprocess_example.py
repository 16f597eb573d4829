"""The real, installed example extension, found the way a host finds extensions."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

import pytest

from symphony_core.config import Config
from symphony_core.extension import ExtensionRecord
from symphony_core.manifest import load_manifest
from symphony_core.runtime import InProcessRuntime

TEXT = (
    "The quick brown fox jumps over the lazy dog. THE DOG sleeps; the fox \uff32\uff35\uff2e\uff33."
)


def find_example() -> ExtensionRecord:
    entry_points = importlib.metadata.entry_points(group="symphony.extensions")
    (entry_point,) = [ep for ep in entry_points if ep.name == "examples.textops"]
    assert entry_point.value == "symphony_example_textops"
    # find_spec on a top-level package locates it without executing its code
    spec = importlib.util.find_spec(entry_point.value)
    assert spec is not None
    assert spec.submodule_search_locations
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    manifest_path = package_dir / "symphony.toml"
    manifest = load_manifest(manifest_path)
    assert entry_point.dist is not None
    return ExtensionRecord(
        manifest=manifest,
        manifest_path=manifest_path,
        distribution=entry_point.dist.name,
        distribution_version=entry_point.dist.version,
        entry_point=entry_point.name,
        package_dir=package_dir,
        trust="trusted",
    )


@pytest.fixture
def clean_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("symphony_example_textops")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.usefixtures("clean_modules")
def test_the_installed_example_runs_through_the_runtime(tmp_path: Path) -> None:
    record = find_example()
    assert not any(m.startswith("symphony_example_textops") for m in sys.modules)
    assert record.id == "examples.textops"
    assert record.distribution == "symphony-example-textops"
    with InProcessRuntime(Config(home=tmp_path)) as runtime:
        runtime.add(record)
        assert "symphony_example_textops.ops" not in sys.modules
        tokens = runtime.call_node("tokenize", {"text": TEXT})
        assert "symphony_example_textops.ops" in sys.modules
        assert tokens["tokens"][:4] == ["the", "quick", "brown", "fox"]
        assert tokens["tokens"][-1] == "runs"  # NFKC folded the full-width letters
        counts = runtime.call_node("word_count", tokens, {"top": 3})
        assert dict(counts) == {
            "counts": {"the": 4, "dog": 2, "fox": 2},
            "total": 15,
            "distinct": 10,
        }
        pairs = runtime.call_node("ngrams", {"tokens": ["a", "b", "c", "d"]}, {"n": 3})
        assert pairs["ngrams"] == ["a b c", "b c d"]
        assert runtime.active_ids() == ["examples.textops"]
    assert runtime.active_ids() == []
