from __future__ import annotations

import sys
from pathlib import Path

import pytest

from symphony_core.errors import UserError
from symphony_core.runtime import InProcessRuntime
from symphony_sdk.pytest_plugin import symphony_home, symphony_runtime  # noqa: F401
from symphony_sdk.testing import package_dir, record_for_package


def test_record_for_package_reads_the_manifest_without_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith("symphony_example_textops")]:
        monkeypatch.delitem(sys.modules, name)
    record = record_for_package("symphony_example_textops")
    assert "symphony_example_textops" not in sys.modules
    assert record.id == "examples.textops"
    assert record.entry_point == "examples.textops"
    assert record.distribution == "symphony-example-textops"
    assert record.trust == "trusted"
    assert record.manifest_path == record.package_dir / "symphony.toml"
    assert [n.type for n in record.manifest.nodes] == ["tokenize", "word_count", "ngrams"]


def test_package_dir_refuses_what_it_cannot_find() -> None:
    with pytest.raises(UserError) as info:
        package_dir("symphony_no_such_package_here")
    assert "no package named" in str(info.value)
    with pytest.raises(UserError):
        package_dir("symphony_example_textops.ops")


def test_the_runtime_fixture(symphony_runtime: InProcessRuntime, symphony_home: Path) -> None:  # noqa: F811 - fixtures imported above
    symphony_runtime.add(record_for_package("symphony_example_textops"))
    out = symphony_runtime.call_node("word_count", {"tokens": ["a", "b", "a"]}, {"top": 1})
    assert dict(out) == {"counts": {"a": 2}, "total": 3, "distinct": 2}
    assert symphony_runtime.context_of("examples.textops").data_dir.is_relative_to(symphony_home)
