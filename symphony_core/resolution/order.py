"""Load order: dependencies before dependents, ties broken by id, cycles named."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["OrderResult", "cycle_through", "find_cycle", "load_order"]


@dataclass(frozen=True, slots=True)
class OrderResult:
    """The outcome of ordering a dependency graph.

    Attributes:
        order: The ids that could be ordered, dependencies first, ties by id.
        blocked: The ids that could not: they are on a cycle or depend on one, sorted.
    """

    order: tuple[str, ...]
    blocked: tuple[str, ...]


def load_order(graph: Mapping[str, Iterable[str]]) -> OrderResult:
    """Order ``graph`` so that every id comes after the ids it depends on.

    Among ids whose dependencies are all placed, the smallest id goes first, so the
    order depends only on the graph, never on dict or set iteration order.

    Args:
        graph: id -> the ids it depends on. Dependencies outside the graph are ignored.

    Returns:
        The order, and the ids left over because of cycles.
    """
    deps = {node: sorted({d for d in targets if d in graph}) for node, targets in graph.items()}
    dependents: dict[str, list[str]] = {node: [] for node in deps}
    waiting: dict[str, int] = {}
    for node, targets in deps.items():
        waiting[node] = len(targets)
        for target in targets:
            dependents[target].append(node)
    ready = [node for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependent in dependents[node]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    placed = set(order)
    return OrderResult(tuple(order), tuple(sorted(n for n in deps if n not in placed)))


def find_cycle(graph: Mapping[str, Iterable[str]], within: Iterable[str]) -> tuple[str, ...]:
    """Return one cycle among ``within``, deterministically, as a closed path.

    Starts at the smallest id in ``within`` and always follows the smallest dependency
    that is also in ``within``; every blocked id has such a dependency, so the walk
    must come back to an id it has seen. The part from that id on is the cycle.

    Args:
        graph: id -> the ids it depends on.
        within: Ids left over by :func:`load_order` (non-empty).

    Returns:
        The cycle, first id repeated at the end, e.g. ``("acme.a", "acme.b", "acme.a")``.

    Raises:
        ValueError: ``within`` holds no cycle.
    """
    pool = set(within)
    if not pool:
        raise ValueError("no ids to look for a cycle in")
    path: list[str] = []
    seen: dict[str, int] = {}
    node = min(pool)
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        nexts = sorted(d for d in graph.get(node, ()) if d in pool)
        if not nexts:
            raise ValueError(f"{node} has no dependency among {sorted(pool)}: no cycle here")
        node = nexts[0]
    return (*path[seen[node] :], node)


def cycle_through(graph: Mapping[str, Iterable[str]], start: str) -> Sequence[str] | None:
    """Return the shortest cycle through ``start`` (smallest ids on ties), or ``None``.

    Args:
        graph: id -> the ids it depends on.
        start: The id the cycle must pass through.

    Returns:
        The closed path ``(start, ..., start)``, or ``None`` if ``start`` is on no cycle.
    """
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for dep in sorted(set(graph.get(node, ()))):
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return (start, *reversed(path[:-1]), start)
                if dep not in parents and dep in graph:
                    parents[dep] = node
                    following.append(dep)
        frontier = following
    return None
