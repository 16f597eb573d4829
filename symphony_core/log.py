"""Logging for people (one readable line) and for machines (JSON lines).

Library code only calls :func:`get_logger`; the host application or the CLI calls
:func:`configure_logging` once. Extra context passed as ``extra={...}`` (for example
``extension_id``) appears as fields in the JSON form and as ``key=value`` in text.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any, Literal

__all__ = ["JsonLinesFormatter", "TextFormatter", "configure_logging", "get_logger"]

LogFormat = Literal["text", "json"]

_ROOT = "symphony"
# Attributes every LogRecord has; anything else was passed through ``extra``.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class JsonLinesFormatter(logging.Formatter):
    """Format each record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Format a record as ``LEVEL logger: message key=value ...`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one readable line (plus a traceback if attached)."""
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{record.levelname.lower():<7} {record.name}: {record.getMessage()}"
        if extras:
            text = f"{text} [{extras}]"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def get_logger(name: str) -> logging.Logger:
    """Return a logger below the ``symphony`` hierarchy."""
    if name == _ROOT or name.startswith(_ROOT + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{_ROOT}.{name}")


def configure_logging(
    level: str | int = "warning",
    fmt: LogFormat = "text",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send Symphony's log records to ``stream`` (stderr by default) in the given format.

    Calling it again replaces the handler installed by the previous call.

    Args:
        level: A level name (``debug``, ``info``, ``warning``, ``error``) or number.
        fmt: ``"text"`` for people, ``"json"`` for JSON lines.
        stream: Where to write.

    Returns:
        The installed handler.
    """
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        if getattr(handler, "_symphony", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if fmt == "json" else TextFormatter())
    handler._symphony = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    root.propagate = False
    return handler
