"""The condition language of conditional edges and gates: small, typed, and never ``eval``.

A condition is read by a tokenizer and a recursive-descent parser into a tree of plain
objects, and evaluated by walking that tree over a mapping of names to values (for an
edge: the source node's outputs by port name). Nothing is imported, called or looked up
outside that mapping, so a condition cannot do anything but compute a value.

Grammar::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := unary (op unary)*          op: == != < <= > >= in "not in"
    unary      := "-" unary | postfix
    postfix    := primary ("." NAME | "[" expr "]")*
    primary    := NUMBER | STRING | "true" | "false" | "null" | NAME
                | "(" expr ")" | "[" [expr ("," expr)* [","]] "]"

Examples: ``score >= 0.5``, ``label in ["spam", "ham"] and not flagged``,
``result.items[0].kind == "text"``, ``"error" in response``.

Meaning:

* ``==`` and ``!=`` compare JSON values: ``true`` is not ``1``, ``1 == 1.0``, arrays and
  objects compare item by item.
* ``<``, ``<=``, ``>``, ``>=`` compare two numbers or two strings; anything else is an
  evaluation error. Comparisons chain: ``0 < x <= 1``.
* ``a in b``: an item of an array, a substring of a string, or a key of an object.
* ``and``, ``or``, ``not`` give ``true`` or ``false``; ``null``, ``false``, ``0``, ``""``,
  ``[]`` and ``{}`` count as false. ``and`` and ``or`` stop early.
* ``x.name`` reads an object's key, ``x[i]`` an array item (negative counts from the end)
  or an object key; reading one that is not there is an evaluation error (test with
  ``"name" in x`` first).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from symphony_core.workflow.errors import ExpressionEvaluationError, ExpressionSyntaxError
from symphony_core.workflow.values import INT_MAX, INT_MIN

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Attr",
    "BoolOp",
    "Compare",
    "Expression",
    "Index",
    "ListExpr",
    "Literal",
    "Name",
    "Neg",
    "ExprNode",
    "Not",
    "evaluate",
    "json_equal",
    "literal_text",
    "parse",
    "truthy",
    "unparse",
]

MAX_LENGTH = 10_000
"""Longest condition text accepted, in characters."""
MAX_DEPTH = 100
"""Deepest nesting of sub-expressions accepted."""

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"|')
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|\.|,|-)
    """,
    re.VERBOSE,
)
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
}


# The tree. Frozen dataclasses: comparable, hashable, printable.


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: number, string, ``true``, ``false``, ``null``."""

    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    """A name looked up in the evaluation environment."""

    name: str


@dataclass(frozen=True, slots=True)
class Attr:
    """``obj.name``: an object's key."""

    obj: ExprNode
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """``obj[index]``: an array item or an object key."""

    obj: ExprNode
    index: ExprNode


@dataclass(frozen=True, slots=True)
class ListExpr:
    """``[a, b, ...]``."""

    items: tuple[ExprNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``not operand``."""

    operand: ExprNode


@dataclass(frozen=True, slots=True)
class Neg:
    """``-operand`` (numbers only)."""

    operand: ExprNode


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``a and b and ...`` or ``a or b or ...``."""

    op: str
    operands: tuple[ExprNode, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op1 right1 op2 right2 ...`` (a chain, like Python's)."""

    left: ExprNode
    ops: tuple[str, ...]
    rights: tuple[ExprNode, ...]


ExprNode = Literal | Name | Attr | Index | ListExpr | Not | Neg | BoolOp | Compare
"""Any node of the expression tree."""


# Tokenizer and parser.


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "string", "name", "op", "end"
    value: Any
    pos: int


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while True:
        if pos >= len(text):
            raise ExpressionSyntaxError("unterminated string", text=text, position=start)
        char = text[pos]
        if char == quote:
            return "".join(out), pos + 1
        if char == "\\":
            if pos + 1 >= len(text):
                raise ExpressionSyntaxError("unterminated string", text=text, position=start)
            code = text[pos + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                pos += 2
                continue
            if code == "u":
                digits = text[pos + 2 : pos + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ExpressionSyntaxError(
                        "\\u must be followed by 4 hex digits", text=text, position=pos
                    )
                point = int(digits, 16)
                if 0xD800 <= point <= 0xDFFF:
                    raise ExpressionSyntaxError(
                        "\\u escapes of surrogates are not allowed", text=text, position=pos
                    )
                out.append(chr(point))
                pos += 6
                continue
            raise ExpressionSyntaxError(f"unknown escape \\{code}", text=text, position=pos)
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ExpressionSyntaxError("lone surrogate in string", text=text, position=pos)
        out.append(char)
        pos += 1


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    length = len(text)
    while pos < length:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionSyntaxError(
                f"unexpected character {text[pos]!r}", text=text, position=pos
            )
        kind = match.lastgroup
        if kind == "ws":
            pos = match.end()
        elif kind == "string":
            value, pos = _read_string(text, pos)
            tokens.append(_Token("string", value, match.start()))
        elif kind == "number":
            raw = match.group()
            if match.end() < length and (text[match.end()].isalnum() or text[match.end()] == "_"):
                raise ExpressionSyntaxError(
                    f"a number cannot run into {text[match.end()]!r}",
                    text=text,
                    position=match.end(),
                )
            number: int | float
            if "." in raw or "e" in raw or "E" in raw:
                number = float(raw)
                if not math.isfinite(number):
                    raise ExpressionSyntaxError(
                        f"number {raw} is too large", text=text, position=pos
                    )
            else:
                number = int(raw)
                if number > INT_MAX + 1:
                    raise ExpressionSyntaxError(
                        f"integer {raw} is outside -2**63..2**63-1", text=text, position=pos
                    )
            tokens.append(_Token("number", number, pos))
            pos = match.end()
        else:
            assert kind is not None
            tokens.append(_Token(kind, match.group(), pos))
            pos = match.end()
    tokens.append(_Token("end", None, length))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def fail(self, expected: str) -> ExpressionSyntaxError:
        tok = self.tok
        found = "the end" if tok.kind == "end" else repr(tok.value)
        return ExpressionSyntaxError(
            f"expected {expected}, found {found}", text=self.text, position=tok.pos
        )

    def at(self, kind: str, value: str | None = None) -> bool:
        tok = self.tok
        return tok.kind == kind and (value is None or tok.value == value)

    def at_op(self, value: str) -> bool:
        return self.at("op", value)

    def at_word(self, word: str) -> bool:
        return self.at("name", word)

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect_op(self, value: str) -> None:
        if not self.at_op(value):
            raise self.fail(repr(value))
        self.pos += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionSyntaxError(
                f"the condition is nested more than {MAX_DEPTH} deep",
                text=self.text,
                position=self.tok.pos,
            )

    def parse(self) -> ExprNode:
        if not self.text.strip():
            raise ExpressionSyntaxError("the condition is empty", text=self.text, position=0)
        node = self.parse_or()
        if not self.at("end"):
            raise self.fail("an operator or the end of the condition")
        return node

    def parse_or(self) -> ExprNode:
        self.enter()
        operands = [self.parse_and()]
        while self.at_word("or"):
            self.pos += 1
            operands.append(self.parse_and())
        self.depth -= 1
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def parse_and(self) -> ExprNode:
        operands = [self.parse_not()]
        while self.at_word("and"):
            self.pos += 1
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def parse_not(self) -> ExprNode:
        if self.at_word("not"):
            self.pos += 1
            self.enter()
            operand = self.parse_not()
            self.depth -= 1
            return Not(operand)
        return self.parse_comparison()

    def comparison_op(self) -> str | None:
        tok = self.tok
        if tok.kind == "op" and tok.value in ("==", "!=", "<", "<=", ">", ">="):
            self.pos += 1
            return str(tok.value)
        if self.at_word("in"):
            self.pos += 1
            return "in"
        if self.at_word("not"):
            following = self.tokens[self.pos + 1]
            if following.kind == "name" and following.value == "in":
                self.pos += 2
                return "not in"
        return None

    def parse_comparison(self) -> ExprNode:
        left = self.parse_unary()
        ops: list[str] = []
        rights: list[ExprNode] = []
        while (op := self.comparison_op()) is not None:
            ops.append(op)
            rights.append(self.parse_unary())
        if not ops:
            return left
        return Compare(left, tuple(ops), tuple(rights))

    def parse_unary(self) -> ExprNode:
        if self.at_op("-"):
            self.pos += 1
            following = self.tok
            if following.kind == "number" and following.value == INT_MAX + 1:
                self.pos += 1
                return Literal(INT_MIN)
            self.enter()
            operand = self.parse_unary()
            self.depth -= 1
            if isinstance(operand, Literal) and _is_number(operand.value):
                value = -operand.value
                if isinstance(value, int) and value < INT_MIN:
                    raise self.fail("an integer within -2**63..2**63-1")
                return Literal(value)
            return Neg(operand)
        return self.parse_postfix()

    def parse_postfix(self) -> ExprNode:
        node = self.parse_primary()
        while True:
            if self.at_op("."):
                self.pos += 1
                if not self.at("name"):
                    raise self.fail("a field name after '.'")
                node = Attr(node, str(self.advance().value))
            elif self.at_op("["):
                self.pos += 1
                self.enter()
                index = self.parse_or()
                self.depth -= 1
                self.expect_op("]")
                node = Index(node, index)
            else:
                return node

    def parse_primary(self) -> ExprNode:
        tok = self.tok
        if tok.kind == "number":
            self.pos += 1
            if isinstance(tok.value, int) and tok.value > INT_MAX:
                raise ExpressionSyntaxError(
                    f"integer {tok.value} is outside -2**63..2**63-1",
                    text=self.text,
                    position=tok.pos,
                )
            return Literal(tok.value)
        if tok.kind == "string":
            self.pos += 1
            return Literal(tok.value)
        if tok.kind == "name":
            word = tok.value
            if word == "true":
                self.pos += 1
                return Literal(True)
            if word == "false":
                self.pos += 1
                return Literal(False)
            if word == "null":
                self.pos += 1
                return Literal(None)
            if word in KEYWORDS:
                raise self.fail("a value")
            self.pos += 1
            return Name(str(word))
        if self.at_op("("):
            self.pos += 1
            self.enter()
            inner = self.parse_or()
            self.depth -= 1
            self.expect_op(")")
            return inner
        if self.at_op("["):
            self.pos += 1
            self.enter()
            items: list[ExprNode] = []
            while not self.at_op("]"):
                items.append(self.parse_or())
                if not self.at_op(","):
                    break
                self.pos += 1
            self.expect_op("]")
            self.depth -= 1
            if all(isinstance(item, Literal) for item in items):
                return Literal(tuple(item.value for item in items))  # type: ignore[union-attr]
            return ListExpr(tuple(items))
        raise self.fail("a value, a name, '(' or '['")


# Evaluation.


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def json_equal(left: Any, right: Any) -> bool:
    """Compare two JSON values: ``true`` is not ``1``; ``1`` equals ``1.0``; deep for containers.

    Args:
        left: One value.
        right: The other.

    Returns:
        Whether they are the same JSON value.
    """
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "array":
        return len(left) == len(right) and all(
            json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if kind == "object":
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return bool(left == right)


def truthy(value: Any) -> bool:
    """Tell whether a value counts as true: not ``null``, ``false``, ``0``, ``""``, empty."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | tuple | Mapping):
        return bool(value)
    return True


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{_kind(value)} {text if len(text) <= 40 else text[:37] + '...'}"


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return json_equal(left, right)
    if op == "!=":
        return not json_equal(left, right)
    if op in ("in", "not in"):
        if isinstance(right, list | tuple):
            found = any(json_equal(left, item) for item in right)
        elif isinstance(right, str):
            if not isinstance(left, str):
                raise ExpressionEvaluationError(
                    f"'in' a string needs a string on the left, got {_describe(left)}"
                )
            found = left in right
        elif isinstance(right, Mapping):
            if not isinstance(left, str):
                raise ExpressionEvaluationError(
                    f"'in' an object needs a key string on the left, got {_describe(left)}"
                )
            found = left in right
        else:
            raise ExpressionEvaluationError(
                f"'in' needs an array, a string or an object on the right, got {_describe(right)}"
            )
        return found if op == "in" else not found
    both_numbers = _is_number(left) and _is_number(right)
    both_strings = isinstance(left, str) and isinstance(right, str)
    if not (both_numbers or both_strings):
        raise ExpressionEvaluationError(
            f"cannot order {_describe(left)} and {_describe(right)} with {op}; "
            "only two numbers or two strings can be ordered"
        )
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _eval(node: ExprNode, env: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        try:
            return env[node.name]
        except KeyError:
            known = ", ".join(sorted(env)) or "none"
            raise ExpressionEvaluationError(
                f"unknown name {node.name!r} (known names: {known})"
            ) from None
    if isinstance(node, Compare):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.rights, strict=True):
            right = _eval(right_node, env)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(truthy(_eval(operand, env)) for operand in node.operands)
        return any(truthy(_eval(operand, env)) for operand in node.operands)
    if isinstance(node, Not):
        return not truthy(_eval(node.operand, env))
    if isinstance(node, Attr):
        obj = _eval(node.obj, env)
        if not isinstance(obj, Mapping):
            raise ExpressionEvaluationError(f"cannot read .{node.name} of {_describe(obj)}")
        if node.name not in obj:
            raise ExpressionEvaluationError(
                f'the object has no key {node.name!r} (test with "{node.name}" in ... first)'
            )
        return obj[node.name]
    if isinstance(node, Index):
        obj = _eval(node.obj, env)
        key = _eval(node.index, env)
        if isinstance(obj, list | tuple):
            if type(key) is not int:
                raise ExpressionEvaluationError(f"an array index must be an integer, not {key!r}")
            if not -len(obj) <= key < len(obj):
                raise ExpressionEvaluationError(
                    f"index {key} is out of range for an array of {len(obj)} item(s)"
                )
            return obj[key]
        if isinstance(obj, Mapping):
            if not isinstance(key, str):
                raise ExpressionEvaluationError(f"an object key must be a string, not {key!r}")
            if key not in obj:
                raise ExpressionEvaluationError(f"the object has no key {key!r}")
            return obj[key]
        raise ExpressionEvaluationError(f"cannot index {_describe(obj)}")
    if isinstance(node, ListExpr):
        return tuple(_eval(item, env) for item in node.items)
    if isinstance(node, Neg):
        value = _eval(node.operand, env)
        if not _is_number(value):
            raise ExpressionEvaluationError(f"cannot negate {_describe(value)}")
        return -value
    raise ExpressionEvaluationError(f"unknown expression node {type(node).__name__}")


# Printing (the inverse of parsing, used for canonical text and for tests).

_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "neg": 5, "postfix": 6}


def _string_literal(value: str) -> str:
    out = ['"']
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def literal_text(value: Any) -> str:
    """Spell a value as a literal of the condition language (strings quoted and escaped).

    Raises:
        ValueError: The value has no literal (an object, NaN or an infinity).
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string_literal(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "inf" in text or "nan" in text:
            raise ValueError(f"{value} has no spelling in the condition language")
        if "." not in text and "e" not in text:
            text += ".0"
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, tuple | list):
        return "[" + ", ".join(literal_text(item) for item in value) + "]"
    raise ValueError(f"{value!r} is not a literal of the condition language")


def _unparse(node: ExprNode, parent: int) -> str:
    if isinstance(node, Literal):
        text = literal_text(node.value)
        # A negative number printed after another operator needs parentheses to re-parse
        # into the same tree (e.g. -(-1) as opposed to the literal 1).
        if _is_number(node.value) and node.value < 0 and parent >= _PRECEDENCE["neg"]:
            return f"({text})"
        if text.startswith("-") and parent >= _PRECEDENCE["neg"]:
            return f"({text})"
        return text
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Attr):
        return f"{_unparse(node.obj, _PRECEDENCE['postfix'])}.{node.name}"
    if isinstance(node, Index):
        return f"{_unparse(node.obj, _PRECEDENCE['postfix'])}[{_unparse(node.index, 0)}]"
    if isinstance(node, ListExpr):
        return "[" + ", ".join(_unparse(item, 0) for item in node.items) + "]"
    if isinstance(node, Neg):
        text = "-" + _unparse(node.operand, _PRECEDENCE["neg"])
        return f"({text})" if parent > _PRECEDENCE["neg"] else text
    if isinstance(node, Not):
        text = "not " + _unparse(node.operand, _PRECEDENCE["not"])
        return f"({text})" if parent > _PRECEDENCE["not"] else text
    if isinstance(node, Compare):
        level = _PRECEDENCE["compare"]
        parts = [_unparse(node.left, level + 1)]
        for op, right in zip(node.ops, node.rights, strict=True):
            parts.append(op)
            parts.append(_unparse(right, level + 1))
        text = " ".join(parts)
        return f"({text})" if parent >= level else text
    if isinstance(node, BoolOp):
        level = _PRECEDENCE[node.op]
        text = f" {node.op} ".join(_unparse(operand, level + 1) for operand in node.operands)
        return f"({text})" if parent >= level else text
    raise ValueError(f"unknown expression node {type(node).__name__}")


def unparse(node: ExprNode) -> str:
    """Print an expression tree as condition text that parses back into the same tree."""
    return _unparse(node, 0)


def _root_names(node: ExprNode, into: set[str]) -> None:
    stack: list[ExprNode] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Name):
            into.add(item.name)
        elif isinstance(item, Attr | Not | Neg):
            stack.append(item.obj if isinstance(item, Attr) else item.operand)
        elif isinstance(item, Index):
            stack.extend((item.obj, item.index))
        elif isinstance(item, ListExpr):
            stack.extend(item.items)
        elif isinstance(item, BoolOp):
            stack.extend(item.operands)
        elif isinstance(item, Compare):
            stack.append(item.left)
            stack.extend(item.rights)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed condition.

    Attributes:
        text: The condition as written.
        tree: Its expression tree.
        names: The names it reads from the environment (for an edge: output port names).
    """

    text: str
    tree: ExprNode
    names: frozenset[str]

    def value(self, env: Mapping[str, Any]) -> Any:
        """Evaluate to a value.

        Raises:
            ExpressionEvaluationError: A name is unknown, a key is missing, or an operator
                got values of the wrong kind.
        """
        try:
            return _eval(self.tree, env)
        except RecursionError:
            raise ExpressionEvaluationError("a value is nested too deeply to compare") from None

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        """Evaluate to ``true`` or ``false`` (by :func:`truthy`).

        Raises:
            ExpressionEvaluationError: See :meth:`value`.
        """
        return truthy(self.value(env))

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Expression:
    tree = _Parser(text).parse()
    names: set[str] = set()
    _root_names(tree, names)
    return Expression(text, tree, frozenset(names))


def parse(text: str) -> Expression:
    """Parse a condition.

    Args:
        text: The condition, at most :data:`MAX_LENGTH` characters.

    Returns:
        The parsed expression (cached by text).

    Raises:
        ExpressionSyntaxError: The text does not follow the grammar; the message gives the
            position and what was expected. Nothing else is raised for any string.
    """
    if not isinstance(text, str):
        raise ExpressionSyntaxError(
            f"a condition must be a string, not {type(text).__name__}", text=str(text), position=0
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionSyntaxError(
            f"the condition is longer than {MAX_LENGTH} characters", text=text, position=MAX_LENGTH
        )
    return _parse_cached(text)


def evaluate(condition: str | Expression, env: Mapping[str, Any]) -> bool:
    """Parse (if needed) and evaluate a condition to ``true`` or ``false``.

    Args:
        condition: Condition text or a parsed :class:`Expression`.
        env: Values by name (for an edge: the source node's outputs by port name).

    Raises:
        ExpressionSyntaxError: The text does not parse.
        ExpressionEvaluationError: It cannot be evaluated on these values.
    """
    expression = parse(condition) if isinstance(condition, str) else condition
    return expression.evaluate(env)
