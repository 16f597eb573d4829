"""Ordering of one hook's implementations: extensions' wishes, the user's word, a stable tie-break.

The rules, in order of authority:

1. The user's ``hook-order`` list for the hook (or for ``"*"``) wins. Listed extensions
   run in exactly the listed order; the marker ``"..."`` says where every unlisted
   extension goes (at the end when the list has no marker). Extensions' wishes that
   involve a listed extension are overridden.
2. Among the unlisted extensions, every wish is honoured: ``order-before`` /
   ``order-after`` in manifests and ``before`` / ``after`` on hook implementations.
   Contradicting wishes form a cycle, which is an error that names the cycle and who
   asked for each step.
3. Whatever the wishes leave open is decided by the tier (``tryfirst`` < normal <
   ``trylast``), then by extension id, so the order never depends on discovery order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

from symphony_core.hooks.errors import HookOrderError

__all__ = [
    "REST_MARKER",
    "TIER_FIRST",
    "TIER_LAST",
    "TIER_NORMAL",
    "Constraint",
    "order_extensions",
]

REST_MARKER: Final = "..."
"""In a ``hook-order`` list: where the extensions not named in the list run."""

TIER_FIRST: Final = 0
TIER_NORMAL: Final = 1
TIER_LAST: Final = 2


class Constraint(NamedTuple):
    """One ordering wish: ``earlier`` runs before ``later``.

    Attributes:
        earlier: Extension id that should run first.
        later: Extension id that should run after it.
        source: Who asked, for error messages (e.g. ``"order-before in a.x's manifest"``).
    """

    earlier: str
    later: str
    source: str


def _split_override(
    tiers: Mapping[str, int], override: Sequence[str]
) -> tuple[list[str], list[str], set[str]]:
    head: list[str] = []
    tail: list[str] = []
    listed: set[str] = set()
    target = head
    for ext in override:
        if ext == REST_MARKER:
            target = tail
        elif ext in tiers and ext not in listed:
            target.append(ext)
            listed.add(ext)
    return head, tail, listed


def _find_cycle(
    remaining: set[str], edges: Mapping[tuple[str, str], str], preds: Mapping[str, set[str]]
) -> list[str]:
    # Every node left over by Kahn's algorithm has a predecessor that is also left over,
    # so walking backwards must revisit a node; the revisited stretch is a cycle.
    node = min(remaining)
    seen: dict[str, int] = {}
    path: list[str] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(p for p in preds[node] if p in remaining)
    backwards = path[seen[node] :]
    cycle = list(reversed(backwards))
    start = cycle.index(min(cycle))
    cycle = cycle[start:] + cycle[:start]
    assert all((a, b) in edges for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True))
    return [*cycle, cycle[0]]


def order_extensions(
    hook: str,
    tiers: Mapping[str, int],
    constraints: Iterable[Constraint],
    override: Sequence[str] | None = None,
) -> list[str]:
    """Order the extensions that implement ``hook``.

    Args:
        hook: The hook's name (for error messages).
        tiers: Every extension implementing the hook, mapped to its tier
            (:data:`TIER_FIRST`, :data:`TIER_NORMAL` or :data:`TIER_LAST`).
        constraints: Ordering wishes; those naming an extension absent from ``tiers``
            (or the same extension twice) are ignored.
        override: The user's order for this hook, possibly with :data:`REST_MARKER`.

    Returns:
        The extension ids in call order.

    Raises:
        HookOrderError: The wishes among unlisted extensions form a cycle; the message
            names the cycle and who asked for each step.
    """
    if override:
        head, tail, listed = _split_override(tiers, override)
    else:
        head, tail, listed = [], [], set()
    rest = [ext for ext in tiers if ext not in listed]
    succs: dict[str, set[str]] = {ext: set() for ext in rest}
    preds: dict[str, set[str]] = {ext: set() for ext in rest}
    edges: dict[tuple[str, str], str] = {}
    for earlier, later, source in constraints:
        if earlier == later or earlier not in succs or later not in succs:
            continue
        edges.setdefault((earlier, later), source)
        succs[earlier].add(later)
        preds[later].add(earlier)
    indegree = {ext: len(preds[ext]) for ext in rest}
    ready = [(tiers[ext], ext) for ext in rest if indegree[ext] == 0]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, ext = heapq.heappop(ready)
        ordered.append(ext)
        for nxt in succs[ext]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (tiers[nxt], nxt))
    if len(ordered) < len(rest):
        cycle = _find_cycle(set(rest) - set(ordered), edges, preds)
        steps = "; ".join(f"{a} before {b} ({edges[(a, b)]})" for a, b in itertools.pairwise(cycle))
        raise HookOrderError(
            f"the ordering wishes for hook {hook} form a cycle: {' -> '.join(cycle)} [{steps}]",
            hook=hook,
            cycle=cycle,
            hint=(
                "remove one of these order-before/order-after wishes, or decide the order "
                f"yourself with hook-order.{hook} in the configuration"
            ),
        )
    return head + ordered + tail
