"""Read the model's Google-style docstrings, so they document the schema and the docs.

The ``Attributes:`` section of each struct describes its fields; it is the one place a
field is documented. RST inline literals (````x````) become Markdown ones (```x```).
"""

from __future__ import annotations

import inspect
import re

__all__ = ["attribute_docs", "class_summary", "markdown_inline"]

_SECTION = re.compile(
    r"^(Args|Arguments|Attributes|Returns|Raises|Example|Examples|Note|Notes):\s*$"
)
_ENTRY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\s*\([^)]*\))?:\s*(?P<text>.*)$")
_RST_LITERAL = re.compile(r"``(.+?)``")
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def markdown_inline(text: str) -> str:
    """Turn RST inline markup into Markdown: ````x```` and ``:mod:`x``` become ```x```.

    Args:
        text: Docstring text.

    Returns:
        The same text with Markdown code spans.
    """
    text = _RST_ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    return _RST_LITERAL.sub(lambda m: f"`{m.group(1)}`", text)


def _lines(obj: object) -> list[str]:
    return inspect.cleandoc(obj.__doc__ or "").splitlines()


def class_summary(cls: type) -> str:
    """Return a class docstring's text before its first section, as Markdown paragraphs.

    Args:
        cls: A documented class.

    Returns:
        Paragraphs separated by a blank line, each on one line.
    """
    paragraphs: list[list[str]] = [[]]
    for line in _lines(cls):
        if _SECTION.match(line.strip()) and not line.startswith(" "):
            break
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(markdown_inline(" ".join(p)) for p in paragraphs if p)


def attribute_docs(cls: type) -> dict[str, str]:
    """Return the ``Attributes:`` section of a class docstring, by attribute name.

    Args:
        cls: A documented class.

    Returns:
        Each attribute's description on one line, in Markdown, in docstring order.
    """
    docs: dict[str, str] = {}
    inside = False
    entry_indent: int | None = None
    current: str | None = None
    for line in _lines(cls):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not inside:
            inside = stripped == "Attributes:" and indent == 0
            continue
        if not stripped:
            continue
        if indent == 0:
            break
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY.match(stripped)
        if indent == entry_indent and match:
            current = match.group("name")
            docs[current] = match.group("text").strip()
        elif current is not None and indent > entry_indent:
            docs[current] = f"{docs[current]} {stripped}".strip()
    return {name: markdown_inline(text) for name, text in docs.items()}
