"""Reading and writing workflow files in either form, told apart by their first bytes.

A file that starts with ``SYWF`` is the binary form
(:mod:`symphony_core.workflow.codec_binary`); anything else is read as JSON
(:mod:`symphony_core.workflow.codec_json`). Writes are atomic: a reader sees the old
file or the new one, never half of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from symphony_core.fs import atomic_write
from symphony_core.workflow.codec_binary import MAGIC, decode_binary, encode_binary
from symphony_core.workflow.codec_json import MAX_JSON_BYTES, decode_json, encode_json
from symphony_core.workflow.errors import CodecError
from symphony_core.workflow.model import Workflow

__all__ = ["Format", "decode_workflow", "encode_workflow", "load_workflow", "save_workflow"]

Format = Literal["json", "bin"]
"""The two forms of a workflow file."""


def decode_workflow(data: bytes, *, where: str | None = None) -> Workflow:
    """Decode either form, chosen by the first bytes.

    Raises:
        CodecError: The bytes are not a workflow in either form.
    """
    if data[:4] == MAGIC:
        return decode_binary(data, where=where)
    return decode_json(data, where=where)


def encode_workflow(workflow: Workflow, fmt: Format, *, indent: int | None = None) -> bytes:
    """Encode in ``json`` (canonical, or indented) or ``bin``."""
    if fmt == "bin":
        return encode_binary(workflow)
    return encode_json(workflow, indent=indent)


def load_workflow(path: Path) -> Workflow:
    """Read a workflow file of either form.

    Raises:
        CodecError: The file cannot be read, or is not a workflow.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise CodecError(f"cannot read the file: {exc.strerror}", where=str(path)) from None
    return decode_workflow(data, where=str(path))


def save_workflow(
    workflow: Workflow, path: Path, fmt: Format = "json", *, indent: int | None = None
) -> None:
    """Write a workflow file atomically."""
    atomic_write(path, encode_workflow(workflow, fmt, indent=indent))
