"""Word-prefix matching, the search semantics the doubles share with the real indexes.

A query matches a text when every query word is the start of some word of the text,
ignoring case — what a full-text index with prefix queries (SQLite FTS5 ``term*``,
tantivy) answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["query_words", "text_words", "words_match"]

_WORD = re.compile(r"[0-9a-z]+")


def text_words(texts: Iterable[str]) -> frozenset[str]:
    """Return the lower-case words of ``texts`` (runs of letters and digits)."""
    return frozenset(word for text in texts for word in _WORD.findall(text.lower()))


def query_words(query: str) -> list[str]:
    """Return the lower-case words of a query, in order, without repeats."""
    return list(dict.fromkeys(_WORD.findall(query.lower())))


def words_match(query: list[str], words: frozenset[str]) -> bool:
    """Return whether every query word starts some word of ``words``."""
    return all(any(word.startswith(q) for word in words) for q in query)
