"""The three text nodes, written only against :mod:`symphony_sdk`."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any, Literal

from symphony_sdk import NodeInputError, Operator, node

__all__ = ["TextOps"]


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise NodeInputError(
            f"parameter 'pattern' = {pattern!r} is not a valid regular expression: {exc}",
            where="tokenize",
        ) from None


class TextOps(Operator):
    """Tokenise text, count words and build n-grams."""

    @node("tokenize")
    def tokenize(
        self,
        text: str,
        *,
        lowercase: bool,
        pattern: str,
        normalize: Literal["NFC", "NFKC", "none"],
        min_length: int,
    ) -> dict[str, Any]:
        """Split ``text`` into the matches of ``pattern`` after Unicode normalisation."""
        if normalize != "none":
            text = unicodedata.normalize(normalize, text)
        if lowercase:
            text = text.casefold()
        tokens = [
            match.group(0)
            for match in _compile(pattern).finditer(text)
            if len(match.group(0)) >= min_length
        ]
        return {"tokens": tokens}

    @node("word_count")
    def word_count(self, tokens: list[str], *, top: int) -> dict[str, Any]:
        """Count tokens; report the ``top`` most frequent, ties in alphabetical order."""
        counter = Counter(tokens)
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top]
        return {"counts": dict(ranked), "total": len(tokens), "distinct": len(counter)}

    @node("ngrams")
    def ngrams(self, tokens: list[str], *, n: int, separator: str) -> dict[str, Any]:
        """Join each run of ``n`` consecutive tokens with ``separator``."""
        grams = [separator.join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return {"ngrams": grams}
