"""Trust globs: one compiled matcher behaves exactly like fnmatchcase on each pattern."""

from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_core.discovery import trust_of

ALPHABET = "ab.*?[]!-_"
ids = st.text(alphabet="ab.-_", max_size=8)
patterns = st.lists(st.text(alphabet=ALPHABET, max_size=6), max_size=4)


@settings(max_examples=300, deadline=None)
@given(ids, patterns)
def test_same_answer_as_fnmatchcase(extension_id: str, globs: list[str]) -> None:
    expected = any(fnmatchcase(extension_id, p) for p in globs)
    assert (trust_of(extension_id, globs) == "trusted") is expected


def test_examples() -> None:
    assert trust_of("symphony.pool", ("symphony.*",)) == "trusted"
    assert trust_of("acme.pool", ("symphony.*",)) == "community"
    assert trust_of("acme.pool", ()) == "community"
    assert trust_of("acme.pool", ["nobody.*", "acme.p??l"]) == "trusted"
    assert trust_of("Acme.pool", ["acme.*"]) == "community"  # case-sensitive
