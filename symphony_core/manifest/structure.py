"""Structural validation that reports every problem, driven by the msgspec model.

msgspec stops at the first error. To show a manifest's author everything at once, the
model's type tree (:func:`msgspec.inspect.type_info`) is compiled into a tree of small
checkers that walk a decoded document completely, mirroring msgspec's own conversion
rules (so a document without issues converts), and adding what the model declares
beyond types: string ``format`` checks (:mod:`symphony_core.manifest.formats`), arrays
of tables whose key must be unique, and per-table cross-field checks.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from symphony_core.errors import InternalError
from symphony_core.manifest.formats import FORMATS, Format
from symphony_core.manifest.issues import Issue, KeyPath, describe_value, format_key_path

__all__ = ["MAX_VALUE_DEPTH", "Checker", "Reporter", "StructCheck", "compile_checker"]

MAX_VALUE_DEPTH = 64
"""Deepest nesting of arrays and tables accepted in a free-form value (a default)."""


class Reporter:
    """Collects the issues of one document.

    Args:
        source: The file (or source name) issues are reported against.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[Issue] = []

    def add(
        self,
        path: KeyPath,
        code: str,
        message: str,
        *,
        found: str | None = None,
        expected: str | None = None,
    ) -> None:
        """Record one issue at ``path``."""
        self.issues.append(
            Issue(
                file=self.source,
                path=format_key_path(path),
                code=code,
                message=message,
                found=found,
                expected=expected,
            )
        )


StructCheck = Callable[[Mapping[str, Any], KeyPath, Reporter], None]
"""A cross-field check of one table: gets the raw table, its path and the reporter."""


@dataclass(frozen=True, slots=True)
class _Problem:
    code: str
    message: str
    expected: str


class Checker:
    """Validates one value against one type of the model."""

    expected = "a value"

    def accepts_kind(self, value: Any) -> bool:
        """Tell whether ``value`` is of the TOML kind this checker takes (ignoring constraints)."""
        raise NotImplementedError

    def check(self, value: Any, path: KeyPath, rep: Reporter) -> bool:
        """Report every problem of ``value`` at ``path``; return whether there was none."""
        problem = self.problem(value)
        if problem is None:
            return True
        rep.add(
            path,
            problem.code,
            problem.message,
            found=describe_value(value),
            expected=problem.expected,
        )
        return False

    def problem(self, value: Any) -> _Problem | None:
        """Return the problem of a scalar value, or ``None`` if it is valid."""
        raise NotImplementedError

    def wrong_type(self) -> _Problem:
        """The problem reported for a value of the wrong kind."""
        return _Problem("manifest.type", "wrong type", self.expected)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds_text(
    gt: float | None, ge: float | None, lt: float | None, le: float | None
) -> list[str]:
    parts = []
    if ge is not None:
        parts.append(f"at least {ge:g}")
    if gt is not None:
        parts.append(f"greater than {gt:g}")
    if le is not None:
        parts.append(f"at most {le:g}")
    if lt is not None:
        parts.append(f"less than {lt:g}")
    return parts


def _within(
    value: float, gt: float | None, ge: float | None, lt: float | None, le: float | None
) -> bool:
    # Written so that NaN fails every bound, as in msgspec.
    return (
        (gt is None or value > gt)
        and (ge is None or value >= ge)
        and (lt is None or value < lt)
        and (le is None or value <= le)
    )


def _length_problem(length: int, low: int | None, high: int | None, unit: str) -> str | None:
    if low is not None and length < low:
        return f"too short: needs at least {low} {unit}"
    if high is not None and length > high:
        return f"too long: at most {high} {unit} allowed"
    return None


class _Any(Checker):
    expected = "any value"

    def accepts_kind(self, value: Any) -> bool:
        return True

    def problem(self, value: Any) -> _Problem | None:
        # Free-form values are walked without recursion, so a hostile nesting depth
        # is reported here instead of blowing the stack in later comparisons.
        stack: list[tuple[Any, int]] = [(value, 0)]
        while stack:
            item, depth = stack.pop()
            if depth > MAX_VALUE_DEPTH:
                return _Problem(
                    "manifest.too_deep",
                    f"nested more than {MAX_VALUE_DEPTH} levels deep",
                    f"at most {MAX_VALUE_DEPTH} levels of arrays and tables",
                )
            if isinstance(item, list | tuple):
                stack.extend((child, depth + 1) for child in item)
            elif isinstance(item, dict):
                stack.extend((child, depth + 1) for child in item.values())
        return None


class _None(Checker):
    expected = "nothing"

    def accepts_kind(self, value: Any) -> bool:
        return value is None

    def problem(self, value: Any) -> _Problem | None:
        return None if value is None else self.wrong_type()


class _Bool(Checker):
    expected = "true or false"

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, bool)

    def problem(self, value: Any) -> _Problem | None:
        return None if isinstance(value, bool) else self.wrong_type()


class _Number(Checker):
    def __init__(self, info: mi.IntType | mi.FloatType, *, integer: bool) -> None:
        self.integer = integer
        self.gt, self.ge, self.lt, self.le = info.gt, info.ge, info.lt, info.le
        self.multiple_of = info.multiple_of
        noun = "an integer" if integer else "a number"
        bounds = _bounds_text(self.gt, self.ge, self.lt, self.le)
        if self.multiple_of is not None:
            bounds.append(f"a multiple of {self.multiple_of:g}")
        self.expected = f"{noun} {' and '.join(bounds)}" if bounds else noun

    def accepts_kind(self, value: Any) -> bool:
        return _is_int(value) if self.integer else _is_number(value)

    def problem(self, value: Any) -> _Problem | None:
        if not self.accepts_kind(value):
            return self.wrong_type()
        if not _within(value, self.gt, self.ge, self.lt, self.le):
            return _Problem("manifest.range", "out of range", self.expected)
        if self.multiple_of is not None and (
            not math.isfinite(value) or value % self.multiple_of != 0
        ):
            return _Problem("manifest.range", "not an allowed step", self.expected)
        return None


class _Str(Checker):
    def __init__(self, info: mi.StrType, fmt: Format | None, description: str | None) -> None:
        self.min_length, self.max_length = info.min_length, info.max_length
        self.pattern = re.compile(info.pattern) if info.pattern is not None else None
        self.format = fmt
        if fmt is not None:
            self.expected = fmt.expected
        elif description is not None:
            self.expected = description.replace("`", "")
        elif self.pattern is not None:
            self.expected = f"a string matching {self.pattern.pattern}"
        else:
            self.expected = "a string"
        if self.pattern is not None and description is not None:
            self.form = f"{description.replace('`', '')} (pattern {self.pattern.pattern})"
        elif self.pattern is not None:
            self.form = f"a string matching {self.pattern.pattern}"
        else:
            self.form = self.expected

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, str)

    def problem(self, value: Any) -> _Problem | None:
        if not isinstance(value, str):
            return self.wrong_type()
        too = _length_problem(len(value), self.min_length, self.max_length, "characters")
        if too is not None:
            return _Problem("manifest.range", too, self.expected)
        if self.pattern is not None and self.pattern.search(value) is None:
            return _Problem("manifest.pattern", "does not have the required form", self.form)
        if self.format is not None:
            found = self.format.check(value)
            if found is not None:
                return _Problem(found.code, found.message, self.format.expected)
        return None


class _Literal(Checker):
    def __init__(self, info: mi.LiteralType) -> None:
        self.values = info.values
        shown = ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in self.values)
        self.expected = f"one of {shown}"

    def accepts_kind(self, value: Any) -> bool:
        return any(type(value) is type(v) for v in self.values)

    def problem(self, value: Any) -> _Problem | None:
        if not self.accepts_kind(value):
            return self.wrong_type()
        if value not in self.values:
            return _Problem("manifest.choice", "not an allowed value", self.expected)
        return None


class _List(Checker):
    def __init__(self, info: mi.ListType, item: Checker, unique: str | None) -> None:
        self.item = item
        self.min_length, self.max_length = info.min_length, info.max_length
        self.unique = unique
        self.expected = (
            "an array of tables"
            if isinstance(item, _Struct)
            else f"an array of {_plural(item.expected)}"
        )

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, list | tuple)

    def check(self, value: Any, path: KeyPath, rep: Reporter) -> bool:
        if not isinstance(value, list | tuple):
            return super().check(value, path, rep)
        ok = True
        too = _length_problem(len(value), self.min_length, self.max_length, "items")
        if too is not None:
            rep.add(
                path, "manifest.range", too, found=describe_value(value), expected=self.expected
            )
            ok = False
        for index, item in enumerate(value):
            ok = self.item.check(item, (*path, index), rep) and ok
        if self.unique is not None:
            ok = self._check_unique(value, path, rep) and ok
        return ok

    def problem(self, value: Any) -> _Problem | None:
        return self.wrong_type()

    def _check_unique(self, items: Iterable[Any], path: KeyPath, rep: Reporter) -> bool:
        key = self.unique
        assert key is not None
        first: dict[str, int] = {}
        ok = True
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get(key), str):
                continue
            name = item[key]
            if name in first:
                ok = False
                rep.add(
                    (*path, index, key),
                    "manifest.duplicate",
                    f"duplicate {key}; it is already used by "
                    f"{format_key_path((*path, first[name]))}",
                    found=describe_value(name),
                    expected=f"a {key} no other entry of {format_key_path(path)} uses",
                )
            else:
                first[name] = index
        return ok


class _Dict(Checker):
    def __init__(self, info: mi.DictType, key: Checker, value: Checker) -> None:
        self.key, self.value = key, value
        self.min_length, self.max_length = info.min_length, info.max_length
        self.expected = f"a table whose keys are {_plural(key.expected)}"

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def check(self, value: Any, path: KeyPath, rep: Reporter) -> bool:
        if not isinstance(value, Mapping):
            return super().check(value, path, rep)
        ok = True
        too = _length_problem(len(value), self.min_length, self.max_length, "keys")
        if too is not None:
            rep.add(
                path, "manifest.range", too, found=describe_value(value), expected=self.expected
            )
            ok = False
        for key, item in value.items():
            key_path = (*path, str(key))
            problem = self.key.problem(key)
            if problem is not None:
                ok = False
                rep.add(
                    key_path,
                    problem.code,
                    f"bad key: {problem.message}",
                    found=describe_value(key),
                    expected=problem.expected,
                )
            ok = self.value.check(item, key_path, rep) and ok
        return ok

    def problem(self, value: Any) -> _Problem | None:
        return self.wrong_type()


class _Union(Checker):
    def __init__(self, members: list[Checker]) -> None:
        self.members = members
        self.expected = " or ".join(m.expected for m in members if not isinstance(m, _None))

    def accepts_kind(self, value: Any) -> bool:
        return any(m.accepts_kind(value) for m in self.members)

    def check(self, value: Any, path: KeyPath, rep: Reporter) -> bool:
        candidates = [m for m in self.members if m.accepts_kind(value)]
        if not candidates:
            return super().check(value, path, rep)
        for member in candidates[1:]:
            if member.check(value, path, Reporter(rep.source)):
                return True
        return candidates[0].check(value, path, rep)

    def problem(self, value: Any) -> _Problem | None:
        return self.wrong_type()


class _Struct(Checker):
    expected = "a table"

    def __init__(self, cls: type[msgspec.Struct]) -> None:
        self.cls = cls
        self.fields: dict[str, tuple[mi.Field, Checker]] = {}
        self.checks: list[StructCheck] = []

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def check(self, value: Any, path: KeyPath, rep: Reporter) -> bool:
        if not isinstance(value, Mapping):
            return super().check(value, path, rep)
        ok = True
        for key in value:
            if key not in self.fields:
                ok = False
                self._unknown(key, path, rep)
        for name, (field, checker) in self.fields.items():
            if name in value:
                ok = checker.check(value[name], (*path, name), rep) and ok
            elif field.required:
                ok = False
                rep.add(
                    (*path, name),
                    "manifest.missing",
                    "required key is missing",
                    expected=checker.expected,
                )
        before = len(rep.issues)
        for struct_check in self.checks:
            struct_check(value, path, rep)
        return ok and len(rep.issues) == before

    def problem(self, value: Any) -> _Problem | None:
        return self.wrong_type()

    def _unknown(self, key: Any, path: KeyPath, rep: Reporter) -> None:
        known = list(self.fields)
        message = "unknown key"
        if isinstance(key, str):
            guess = key.replace("_", "-")
            close = [guess] if guess in self.fields else difflib.get_close_matches(key, known, 1)
            if close:
                message = f'unknown key; did you mean "{close[0]}"?'
        rep.add(
            (*path, str(key)),
            "manifest.unknown_key",
            message,
            found=describe_value(key),
            expected="one of the keys " + ", ".join(known) if known else "no keys",
        )


def _plural(expected: str) -> str:
    for article in ("a ", "an "):
        if expected.startswith(article):
            rest = expected[len(article) :]
            head, sep, tail = rest.partition(" ")
            return f"{head}s{sep}{tail}"
    return f"values that are {expected}"


def compile_checker(
    cls: type[msgspec.Struct], struct_checks: Mapping[type, Iterable[StructCheck]]
) -> Checker:
    """Compile a struct type into a checker tree.

    Args:
        cls: The root struct (e.g. ``Manifest``).
        struct_checks: Cross-field checks to run on tables of each struct class.

    Returns:
        The root checker; call ``check(data, (), reporter)`` on a decoded document.

    Raises:
        InternalError: The model uses a type the validator does not understand.
    """
    structs: dict[type, _Struct] = {}

    def build(info: mi.Type, fmt: Format | None = None, unique: str | None = None) -> Checker:
        if isinstance(info, mi.Metadata):
            schema = info.extra_json_schema or {}
            extra = info.extra or {}
            name = schema.get("format")
            if name is not None and name not in FORMATS:
                raise InternalError(f"the manifest model uses unknown format {name!r}")
            inner_fmt = FORMATS[name] if name is not None else fmt
            inner = info.type
            if isinstance(inner, mi.StrType):
                return _Str(inner, inner_fmt, schema.get("description"))
            return build(inner, inner_fmt, extra.get("unique", unique))
        if fmt is not None and not isinstance(info, mi.StrType):
            raise InternalError(f"format {fmt.name!r} applies to strings only")
        if isinstance(info, mi.StrType):
            return _Str(info, fmt, None)
        if isinstance(info, mi.BoolType):
            return _Bool()
        if isinstance(info, mi.IntType):
            return _Number(info, integer=True)
        if isinstance(info, mi.FloatType):
            return _Number(info, integer=False)
        if isinstance(info, mi.LiteralType):
            return _Literal(info)
        if isinstance(info, mi.AnyType):
            return _Any()
        if isinstance(info, mi.NoneType):
            return _None()
        if isinstance(info, mi.ListType):
            return _List(info, build(info.item_type), unique)
        if isinstance(info, mi.DictType):
            return _Dict(info, build(info.key_type), build(info.value_type))
        if isinstance(info, mi.UnionType):
            return _Union([build(member) for member in info.types])
        if isinstance(info, mi.StructType):
            return build_struct(info)
        raise InternalError(f"the manifest validator does not handle {type(info).__name__}")

    def build_struct(info: mi.StructType) -> _Struct:
        known = structs.get(info.cls)
        if known is not None:
            return known
        checker = structs[info.cls] = _Struct(info.cls)
        checker.checks = list(struct_checks.get(info.cls, ()))
        for field in info.fields:
            checker.fields[field.encode_name] = (field, build(field.type))
        return checker

    return build_struct(mi.type_info(cls))  # type: ignore[arg-type]
