"""Port type expressions: their grammar, parser and assignability rule.

Grammar (white space between tokens is ignored)::

    type   := "any" | scalar | "list[" type "]" | "dict[str," type "]" | custom
    scalar := "str" | "int" | "float" | "bool" | "bytes" | "json" | "none"
    custom := publisher "." name      (an opaque type owned by an extension, e.g. acme.embedding)

An output of type ``S`` may feed an input of type ``T`` when :func:`is_assignable` says
so: ``any`` on either side matches, ``int`` widens to ``float``, the JSON scalars
(``str``, ``int``, ``float``, ``bool``, ``none``) and lists and dicts of them are
``json``, containers are covariant in their element type, and custom types match only
themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from symphony_core.errors import UserError

__all__ = ["PortType", "PortTypeError", "SCALARS", "is_assignable", "parse_port_type"]

SCALARS = frozenset({"str", "int", "float", "bool", "bytes", "json", "none"})
_JSON_SCALARS = frozenset({"str", "int", "float", "bool", "none", "json"})
_TOKEN = re.compile(r"\s*(?:(?P<name>[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)?)|(?P<punct>[\[\],]))")


class PortTypeError(UserError):
    """A port type expression does not follow the grammar."""

    code = "manifest.port_type_invalid"


@dataclass(frozen=True, slots=True)
class PortType:
    """A parsed port type.

    Attributes:
        name: ``any``, a scalar name, ``list``, ``dict`` or a custom ``publisher.name``.
        item: Element type of ``list`` and value type of ``dict``; ``None`` otherwise.
    """

    name: str
    item: PortType | None = None

    def __str__(self) -> str:
        if self.name == "list":
            return f"list[{self.item}]"
        if self.name == "dict":
            return f"dict[str, {self.item}]"
        return self.name


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> PortTypeError:
        found = self.text[self.pos :].strip()[:20] or "end of text"
        return PortTypeError(
            f"bad port type {self.text!r}: expected {expected} at character {self.pos}, "
            f"found {found!r}",
            hint="write e.g. 'str', 'list[int]', 'dict[str, float]', 'any' or 'publisher.type'",
        )

    def token(self) -> tuple[str, str] | None:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        if match.group("name") is not None:
            return ("name", match.group("name"))
        return ("punct", match.group("punct"))

    def expect(self, punct: str) -> None:
        start = self.pos
        tok = self.token()
        if tok != ("punct", punct):
            self.pos = start
            raise self.fail(f"{punct!r}")

    def parse_type(self, depth: int = 0) -> PortType:
        if depth > 32:
            raise self.fail("a shallower type (at most 32 levels of nesting)")
        start = self.pos
        tok = self.token()
        if tok is None or tok[0] != "name":
            self.pos = start
            raise self.fail("a type name")
        name = tok[1]
        if name == "list":
            self.expect("[")
            item = self.parse_type(depth + 1)
            self.expect("]")
            return PortType("list", item)
        if name == "dict":
            self.expect("[")
            key_start = self.pos
            key = self.token()
            if key != ("name", "str"):
                self.pos = key_start
                raise self.fail("'str' (dict keys are strings)")
            self.expect(",")
            item = self.parse_type(depth + 1)
            self.expect("]")
            return PortType("dict", item)
        if name == "any" or name in SCALARS or "." in name:
            return PortType(name)
        self.pos = start
        raise self.fail(
            "any, str, int, float, bool, bytes, json, none, list[...], dict[str, ...] "
            "or publisher.type"
        )


@lru_cache(maxsize=4096)
def parse_port_type(text: str) -> PortType:
    """Parse a port type expression.

    Raises:
        PortTypeError: The text does not follow the grammar; the message gives the position.
    """
    parser = _Parser(text)
    result = parser.parse_type()
    if text[parser.pos :].strip():
        raise parser.fail("end of the type")
    return result


def _is_json(tp: PortType) -> bool:
    if tp.name in _JSON_SCALARS:
        return True
    if tp.name in ("list", "dict") and tp.item is not None:
        return _is_json(tp.item)
    return False


def is_assignable(source: PortType | str, target: PortType | str) -> bool:
    """Tell whether a value of type ``source`` may flow into a port of type ``target``."""
    src = parse_port_type(source) if isinstance(source, str) else source
    dst = parse_port_type(target) if isinstance(target, str) else target
    if src.name == "any" or dst.name == "any":
        return True
    if dst.name == "json":
        return _is_json(src)
    if src.name == "int" and dst.name == "float":
        return True
    if src.name != dst.name:
        return False
    if src.item is not None and dst.item is not None:
        return is_assignable(src.item, dst.item)
    return True
