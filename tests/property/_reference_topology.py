"""Reference copy of ``symphony_core/workflow/topology.py`` before its speed-up (test oracle).

A frozen copy of the straightforward implementation the property tests in
``test_workflow_fastpaths.py`` compare the optimised one against, result for result. Do
not optimise it: its worth is being the plain, previously shipped behaviour.
"""

from __future__ import annotations

import gc
import heapq
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import compress, islice, repeat
from operator import attrgetter, is_, is_not, lt
from typing import TYPE_CHECKING

from symphony_core.workflow.errors import EditError

if TYPE_CHECKING:
    from symphony_core.workflow.model import Workflow

__all__ = ["Topology", "paused_gc"]

_LARGE = 1_000


@contextmanager
def paused_gc(size: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures.

    Building a million small lists would otherwise trigger collections that walk every
    object in the process; nothing built here forms reference cycles, so pausing is safe.
    Below ``_LARGE`` elements this does nothing.
    """
    if size < _LARGE or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _first_index(keys: list[str]) -> dict[str, int]:
    # Iterating backwards lets the first occurrence of a repeated key win.
    n = len(keys)
    return dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True))


def _check_strs(values: list[object], what: str) -> None:
    kinds = set(map(type, values))
    if kinds - {str}:
        bad = next(v for v in values if type(v) is not str)
        raise EditError(f"{what} must be strings, found {type(bad).__name__} {bad!r:.60}")


class Topology:
    """The dense-integer graph of one workflow.

    Attributes:
        n: Number of nodes.
        m: Number of edges.
        ids: Node ids by position.
        edge_ids: Edge ids by position.
        src: Source node position of each edge (``None`` if it names no node).
        dst: Target node position of each edge (``None`` if it names no node).
        dangling: Positions of edges with a ``None`` endpoint.
    """

    __slots__ = (
        "_acyclic",
        "_by_rank",
        "_cycle",
        "_duplicate_edges",
        "_duplicate_nodes",
        "_edge_index",
        "_in",
        "_indegree",
        "_index",
        "_layers",
        "_level",
        "_order",
        "_out",
        "_out_edges",
        "_rank",
        "dangling",
        "dst",
        "edge_ids",
        "ids",
        "m",
        "n",
        "src",
    )

    def __init__(
        self,
        ids: list[str],
        edge_ids: list[str],
        src: list[int | None],
        dst: list[int | None],
        *,
        index: dict[str, int] | None = None,
    ) -> None:
        self.n = len(ids)
        self.m = len(edge_ids)
        self.ids = ids
        self._index = index
        self._duplicate_nodes: tuple[int, ...] | None = None
        self.edge_ids = edge_ids
        self._edge_index: dict[str, int] | None = None
        self._duplicate_edges: tuple[int, ...] | None = None
        self.src = src
        self.dst = dst
        self.dangling: tuple[int, ...] = ()
        if None in src or None in dst:
            self.dangling = tuple(
                compress(
                    range(self.m),
                    map(
                        bool.__or__,
                        map(is_, src, repeat(None)),
                        map(is_, dst, repeat(None)),
                    ),
                )
            )
        self._out: list[list[int]] | None = None
        self._out_edges: list[list[int]] | None = None
        self._in: list[list[int]] | None = None
        self._indegree: list[int] | None = None
        self._rank: list[int] | None = None
        self._by_rank: list[int] | None = None
        self._acyclic: bool | None = None
        self._order: list[int] | None = None
        self._cycle: tuple[list[int], list[int]] | None = None
        self._level: list[int] | None = None
        self._layers: list[list[int]] | None = None

    @property
    def index(self) -> dict[str, int]:
        """Node id -> position of the first node with that id."""
        if self._index is None:
            self._index = _first_index(self.ids)
        return self._index

    @property
    def duplicate_nodes(self) -> tuple[int, ...]:
        """Positions of nodes whose id an earlier node already has."""
        if self._duplicate_nodes is None:
            first = self.index
            self._duplicate_nodes = (
                ()
                if len(first) == self.n
                else tuple(i for i, key in enumerate(self.ids) if first[key] != i)
            )
        return self._duplicate_nodes

    @property
    def edge_index(self) -> dict[str, int]:
        """Edge id -> position of the first edge with that id."""
        if self._edge_index is None:
            self._edge_index = _first_index(self.edge_ids)
        return self._edge_index

    @property
    def duplicate_edges(self) -> tuple[int, ...]:
        """Positions of edges whose id an earlier edge already has."""
        if self._duplicate_edges is None and len(set(self.edge_ids)) == self.m:
            self._duplicate_edges = ()
        if self._duplicate_edges is None:
            first = self.edge_index
            self._duplicate_edges = (
                ()
                if len(first) == self.m
                else tuple(i for i, key in enumerate(self.edge_ids) if first[key] != i)
            )
        return self._duplicate_edges

    @classmethod
    def build(cls, workflow: Workflow) -> Topology:
        """Number the nodes and edges of a workflow and resolve every edge's endpoints.

        Raises:
            EditError: A node id or an edge endpoint is not a string.
        """
        nodes = workflow.nodes
        edges = workflow.edges
        with paused_gc(len(nodes) + len(edges)):
            ids: list[str] = list(map(attrgetter("id"), nodes))
            edge_ids: list[str] = list(map(attrgetter("id"), edges))
            sources: list[str] = list(map(attrgetter("source"), edges))
            targets: list[str] = list(map(attrgetter("target"), edges))
            try:
                index = _first_index(ids)
                src = list(map(index.get, sources))
                dst = list(map(index.get, targets))
                edge_set = set(edge_ids)
            except TypeError:
                # Something unhashable where an id belongs: say which, instead of a
                # TypeError. (Other non-strings are reported by the validator.)
                for values, what in (
                    (ids, "node ids"),
                    (edge_ids, "edge ids"),
                    (sources, "edge sources"),
                    (targets, "edge targets"),
                ):
                    _check_strs(values, what)  # type: ignore[arg-type]
                raise
            if set(map(type, ids)) - {str}:
                # Ids are compared to order the nodes: anything but strings is refused.
                _check_strs(ids, "node ids")  # type: ignore[arg-type]
            topo = cls(ids, edge_ids, src, dst, index=index)
            if len(edge_set) == len(edge_ids):
                topo._duplicate_edges = ()
            return topo

    # Adjacency.

    def _clean_pairs(self) -> tuple[Sequence[int], Sequence[int]]:
        if not self.dangling:
            return self.src, self.dst  # type: ignore[return-value]
        keep = list(
            map(
                bool.__and__,
                map(is_not, self.src, repeat(None)),
                map(is_not, self.dst, repeat(None)),
            )
        )
        return list(compress(self.src, keep)), list(compress(self.dst, keep))  # type: ignore[arg-type]

    @property
    def out(self) -> list[list[int]]:
        """Target positions of each node's outgoing edges (one entry per edge)."""
        if self._out is None:
            src, dst = self._clean_pairs()
            with paused_gc(self.n + self.m):
                out: list[list[int]] = [[] for _ in range(self.n)]
                deque(map(list.append, map(out.__getitem__, src), dst), maxlen=0)
            self._out = out
        return self._out

    @property
    def incoming(self) -> list[list[int]]:
        """Source positions of each node's incoming edges (one entry per edge)."""
        if self._in is None:
            src, dst = self._clean_pairs()
            with paused_gc(self.n + self.m):
                into: list[list[int]] = [[] for _ in range(self.n)]
                deque(map(list.append, map(into.__getitem__, dst), src), maxlen=0)
            self._in = into
        return self._in

    @property
    def out_edges(self) -> list[list[int]]:
        """Positions of each node's outgoing edges (dangling edges left out)."""
        if self._out_edges is None:
            with paused_gc(self.n + self.m):
                out: list[list[int]] = [[] for _ in range(self.n)]
                if self.dangling:
                    dangling = set(self.dangling)
                    for e, s in enumerate(self.src):
                        if e not in dangling:
                            out[s].append(e)  # type: ignore[index]
                else:
                    deque(
                        map(list.append, map(out.__getitem__, self.src), range(self.m)),  # type: ignore[arg-type]
                        maxlen=0,
                    )
            self._out_edges = out
        return self._out_edges

    def edges_from(self, positions: Iterable[int]) -> list[int]:
        """Positions of the edges leaving any of the given nodes, in edge order."""
        wanted = set(positions)
        if not wanted:
            return []
        return list(compress(range(self.m), map(wanted.__contains__, self.src)))

    def edges_into(self, positions: Iterable[int]) -> list[int]:
        """Positions of the edges entering any of the given nodes, in edge order."""
        wanted = set(positions)
        if not wanted:
            return []
        return list(compress(range(self.m), map(wanted.__contains__, self.dst)))

    @property
    def indegree(self) -> list[int]:
        """Number of incoming (non-dangling) edges of each node."""
        if self._indegree is None:
            _, dst = self._clean_pairs()
            degree = [0] * self.n
            for node, count in Counter(dst).items():
                degree[node] = count
            self._indegree = degree
        return self._indegree

    # Order.

    @property
    def sorted_ids(self) -> bool:
        """Whether the nodes are listed in strictly increasing id order (rank = position)."""
        ids = self.ids
        return all(map(lt, ids, islice(ids, 1, None)))

    @property
    def by_rank(self) -> list[int]:
        """Node positions sorted by id (ties, from repeated ids, by position)."""
        if self._by_rank is None:
            if self.sorted_ids:
                self._by_rank = list(range(self.n))
                self._rank = self._by_rank
            else:
                self._by_rank = sorted(range(self.n), key=self.ids.__getitem__)
        return self._by_rank

    @property
    def rank(self) -> list[int]:
        """Each node's place in :attr:`by_rank`."""
        if self._rank is None:
            by_rank = self.by_rank
            if self._rank is None:
                rank = [0] * self.n
                for place, node in enumerate(by_rank):
                    rank[node] = place
                self._rank = rank
        assert self._rank is not None
        return self._rank

    def _sort(self) -> None:
        n = self.n
        by_rank = self.by_rank
        rank = self.rank
        src, dst = self._clean_pairs()
        # Work in rank space (node k = the k-th smallest id): the heap then holds plain
        # node numbers and the inner loop needs no translation.
        rsrc: Sequence[int]
        rdst: Sequence[int]
        if by_rank is rank:  # nodes listed in id order: positions are ranks
            rsrc, rdst = src, dst
        else:
            rsrc = list(map(rank.__getitem__, src))
            rdst = list(map(rank.__getitem__, dst))
        # When every edge already goes from a smaller id to a larger one, the smallest
        # remaining id is always ready, so the id order itself is the answer.
        if (by_rank is rank and self._acyclic) or all(map(lt, rsrc, rdst)):
            self._order = list(by_rank)
            return
        out: list[list[int]] = [[] for _ in range(n)]
        deque(map(list.append, map(out.__getitem__, rsrc), rdst), maxlen=0)
        indeg = [0] * n
        for node, count in Counter(rdst).items():
            indeg[node] = count
        heap = [r for r in range(n) if not indeg[r]]  # ascending, so already a heap
        order: list[int] = []
        append = order.append
        push = heapq.heappush
        pop = heapq.heappop
        while heap:
            u = pop(heap)
            append(u)
            for v in out[u]:
                left = indeg[v] - 1
                indeg[v] = left
                if not left:
                    push(heap, v)
        if len(order) == n:
            self._order = list(map(by_rank.__getitem__, order))
        else:
            remaining = [False] * n
            for r, left in enumerate(indeg):
                if left > 0:
                    remaining[by_rank[r]] = True
            self._cycle = self._find_cycle(remaining)

    def _find_cycle(self, remaining: list[bool]) -> tuple[list[int], list[int]]:
        # Every node Kahn could not emit has an unemitted predecessor, so walking back
        # along such predecessors never dead-ends and must come round to a node twice.
        pred: dict[int, tuple[int, int]] = {}
        for e, (s, d) in enumerate(zip(self.src, self.dst, strict=True)):
            if s is not None and d is not None and remaining[s] and remaining[d]:
                pred.setdefault(d, (s, e))
        start = min((v for v in range(self.n) if remaining[v]), key=self.rank.__getitem__)
        seen: dict[int, int] = {}
        walk: list[int] = []
        via: list[int] = []
        node = start
        while node not in seen:
            seen[node] = len(walk)
            walk.append(node)
            parent, edge = pred[node]
            via.append(edge)
            node = parent
        loop = walk[seen[node] :]
        loop_edges = via[seen[node] :]
        # walk follows edges backwards: reverse to get the forward cycle, whose edges are
        # then "edge into loop[i]" for each i; rotate so the smallest id comes first.
        loop.reverse()
        loop_edges.reverse()
        nodes_fwd = loop
        # loop_edges[i] enters nodes_fwd[i] from nodes_fwd[i-1]; shift so edge i leaves node i.
        edges_fwd = loop_edges[1:] + loop_edges[:1]
        first = min(range(len(nodes_fwd)), key=lambda i: self.rank[nodes_fwd[i]])
        return nodes_fwd[first:] + nodes_fwd[:first], edges_fwd[first:] + edges_fwd[:first]

    @property
    def acyclic(self) -> bool:
        """Whether the graph has no cycle (dangling edges ignored)."""
        if self._acyclic is None:
            src, dst = self._clean_pairs()
            # Nodes are usually listed after everything they depend on; then every edge
            # goes forward in list order, which proves there is no cycle in one C-level
            # pass. Otherwise Kahn's algorithm decides (and finds a cycle's path).
            if all(map(lt, src, dst)):
                self._acyclic = True
            else:
                self._ensure_sorted()
                self._acyclic = self._order is not None
        return self._acyclic

    def _ensure_sorted(self) -> None:
        if self._order is None and self._cycle is None:
            with paused_gc(self.n + self.m):
                self._sort()

    @property
    def order(self) -> list[int] | None:
        """Node positions in topological order, ties broken by smallest id; ``None`` if cyclic."""
        if not self.acyclic:
            return None
        self._ensure_sorted()
        return self._order

    @property
    def cycle(self) -> tuple[list[int], list[int]] | None:
        """One cycle as ``(node positions, edge positions)``; ``None`` if acyclic.

        Edge ``i`` goes from node ``i`` to node ``i + 1`` (the last back to the first);
        the node with the smallest id comes first.
        """
        if self.acyclic:
            return None
        self._ensure_sorted()
        return self._cycle

    @property
    def level(self) -> list[int] | None:
        """Each node's layer: the length of the longest path reaching it (``None`` if cyclic)."""
        if self._level is None:
            order = self.order
            if order is None:
                return None
            out = self.out
            level = [0] * self.n
            with paused_gc(self.n + self.m):
                for u in order:
                    after = level[u] + 1
                    for v in out[u]:
                        if level[v] < after:
                            level[v] = after
            self._level = level
        return self._level

    @property
    def layers(self) -> list[list[int]] | None:
        """Nodes grouped by :attr:`level`, each layer sorted by id (``None`` if cyclic)."""
        if self._layers is None:
            level = self.level
            if level is None:
                return None
            depth = max(level, default=-1) + 1
            layers: list[list[int]] = [[] for _ in range(depth)]
            for node in self.by_rank:
                layers[level[node]].append(node)
            self._layers = layers
        return self._layers

    def reach(self, starts: Iterable[int], *, forward: bool = True) -> set[int]:
        """Every node reachable from ``starts`` (included) along edges, or against them."""
        adjacency = self.out if forward else self.incoming
        seen = set(starts)
        stack = list(seen)
        pop = stack.pop
        push = stack.append
        add = seen.add
        while stack:
            for v in adjacency[pop()]:
                if v not in seen:
                    add(v)
                    push(v)
        return seen
