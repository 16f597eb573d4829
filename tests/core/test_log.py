from __future__ import annotations

import io
import json
import logging

import pytest

from symphony_core.log import configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger("symphony")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]


def test_json_lines_carry_extra_fields() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    get_logger("host").info("activated %s", "acme.x", extra={"extension_id": "acme.x"})
    get_logger("host").debug("hidden")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "activated acme.x"
    assert record["extension_id"] == "acme.x"
    assert record["logger"] == "symphony.host"
    assert record["level"] == "info"
    assert record["time"].endswith("Z")


def test_text_form_and_reconfigure() -> None:
    first = io.StringIO()
    configure_logging("warning", "text", first)
    second = io.StringIO()
    configure_logging("warning", "text", second)
    try:
        raise ValueError("bad")
    except ValueError:
        get_logger("symphony.x").exception("failed", extra={"extension_id": "a.b"})
    assert first.getvalue() == ""
    text = second.getvalue()
    assert text.startswith("error   symphony.x: failed [extension_id=a.b]")
    assert "ValueError: bad" in text
    ours = [h for h in logging.getLogger("symphony").handlers if getattr(h, "_symphony", False)]
    assert len(ours) == 1
