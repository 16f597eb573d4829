"""The example extension installed in the development environment is discovered."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_core.config import Config
from symphony_core.discovery import discover

_PACKAGE = Path(__file__).parents[2] / "extensions/examples/textops/symphony_example_textops"


def test_the_example_entry_point_is_seen_in_the_real_environment(tmp_path: Path) -> None:
    result = discover(Config(home=tmp_path / "home"))

    seen = {r.id: r.distribution for r in result.extensions}
    seen.update({f.extension_id: f.distribution for f in result.failures})
    assert seen.get("examples.textops") == "symphony-example-textops"


@pytest.mark.xfail(
    not (_PACKAGE / "symphony.toml").is_file(),
    reason="the example's symphony.toml is not written yet",
    strict=True,
)
def test_the_example_extension_is_discovered(tmp_path: Path) -> None:
    result = discover(Config(home=tmp_path / "home"))

    record = result.get("examples.textops")
    assert record is not None, [f.describe() for f in result.failures]
    assert record.distribution == "symphony-example-textops"
    assert record.package_dir == _PACKAGE
    assert record.manifest_path == _PACKAGE / "symphony.toml"
    assert record.trust == "community"
