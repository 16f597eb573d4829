"""A workflow's graph as dense integer arrays: the form validation and ordering work on.

Nodes are numbered by their position in the workflow and edges by theirs; every
algorithm here runs on lists of ints, and the per-edge work is done by C-level
iterators (``map``, ``zip``, ``compress`` over ``operator`` functions) wherever the
algorithm allows, so that a million-node graph does not mean a million Python-level
loop iterations per pass. A :class:`Topology` is built once per workflow and cached on
it (the workflow is immutable, so the cache never goes stale); each derived structure
(edge ids, adjacency, order, layers...) is computed on first use, so ordering a
workflow never pays for what only validation needs, and the reverse.

A node id used twice resolves to its first node; an edge whose endpoint names no node
is *dangling* (its endpoint is ``None``) and is left out of every graph algorithm.

What the passes cost is memory, not arithmetic: on a million nodes every random access
to a node's list entry or int object is a cache miss, so the code favours few
sequential passes, small-int and byte arrays (the in-degrees of Kahn's algorithm live in
a ``bytearray``), and certificates that settle a question in one pass when the usual
case holds (ids listed in increasing order need no hashing to be distinct; edges that
all go forward in list order prove the graph acyclic).
"""

from __future__ import annotations

import gc
import heapq
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import compress, islice, repeat
from operator import is_, is_not, itemgetter, lt, not_
from typing import TYPE_CHECKING

from symphony_core.workflow.errors import EditError

if TYPE_CHECKING:
    from symphony_core.workflow.model import Edge, Workflow

__all__ = ["Topology", "ids_strictly_increase", "paused_gc"]

_LARGE = 1_000
_ONE_LOOP_EDGES = 50_000  # below this many edges one loop builds Kahn's inputs fastest


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
    n = len(keys)
    index = dict(zip(keys, range(n), strict=True))
    if len(index) < n:
        # A key repeats: iterating backwards lets its first occurrence win.
        index = dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True))
    return index


def _resolve(index: dict[str, int], names: list[str]) -> tuple[list[int | None], bool]:
    # Positions of the named nodes, and whether any name resolved to None. One
    # itemgetter call looks every name up in a single C loop (measured faster than
    # ``map`` over the dict's methods); a missing name raises, and ``get`` takes over.
    if len(names) > 1:
        try:
            return list(itemgetter(*names)(index)), False
        except KeyError:
            pass
    found = list(map(index.get, names))
    return found, None in found


def _check_strs(values: list[object], what: str) -> None:
    kinds = set(map(type, values))
    if kinds - {str}:
        bad = next(v for v in values if type(v) is not str)
        raise EditError(f"{what} must be strings, found {type(bad).__name__} {bad!r:.60}")


def ids_strictly_increase(ids: Sequence[str], lengths: Sequence[int] | None = None) -> bool:
    """Whether the ids increase strictly by (length, text): a proof that they are distinct.

    Generated ids (``e1``, ``e2``, ... ``e10``) and zero-padded ones follow this order, and
    checking it is one sequential pass over neighbours, where a set of millions of fresh
    strings would hash each and scatter them over a large table. ``False`` means only
    "not proven": the caller falls back to hashing.

    Args:
        ids: The ids; anything but strings gives ``False``.
        lengths: ``len`` of each id, already known never to decrease, given only by a
            caller that knows every id is a string (without it both are checked here).
    """
    lens: Sequence[int]
    if lengths is None:
        if set(map(type, ids)) - {str}:
            return False
        lens = list(map(len, ids))
        # Sorting lengths that already ascend is one C-level pass (timsort finds one run).
        if sorted(lens) != lens:
            return False
    else:
        lens = lengths
    if len(ids) < 2:
        return True
    # Lengths never shrink; within each run of one length (found by bisection, the
    # lengths being sorted) the texts must increase.
    start = 0
    end = len(ids)
    while start < end:
        stop = bisect_right(lens, lens[start], start)
        if not all(map(lt, islice(ids, start, stop - 1), islice(ids, start + 1, stop))):
            return False
        start = stop
    return True


class Topology:
    """The dense-integer graph of one workflow.

    Args:
        ids: Node ids by position.
        edge_ids: Edge ids by position, or ``None`` to read them from ``edges`` on use.
        src: Source node position of each edge (``None`` if it names no node).
        dst: Target node position of each edge (``None`` if it names no node).
        index: Node id -> first position, if already built.
        edges: The workflow's edges (read for their ids when ``edge_ids`` is ``None``).
        whole: The caller knows no endpoint is ``None`` (skips looking for one).

    Attributes:
        n: Number of nodes.
        m: Number of edges.
        ids: Node ids by position.
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
        "_edge_ids",
        "_edge_index",
        "_edges",
        "_in",
        "_indegree",
        "_index",
        "_layers",
        "_level",
        "_order",
        "_out",
        "_out_edges",
        "_rank",
        "_sorted_ids",
        "dangling",
        "dst",
        "ids",
        "m",
        "n",
        "src",
    )

    def __init__(
        self,
        ids: list[str],
        edge_ids: list[str] | None,
        src: list[int | None],
        dst: list[int | None],
        *,
        index: dict[str, int] | None = None,
        edges: Sequence[Edge] | None = None,
        whole: bool = False,
    ) -> None:
        if edge_ids is None and edges is None:
            raise ValueError("a Topology needs the edge ids or the edges to read them from")
        self.n = len(ids)
        self.m = len(src)
        self.ids = ids
        self._index = index
        self._duplicate_nodes: tuple[int, ...] | None = None
        self._edge_ids = edge_ids
        self._edges = edges
        self._edge_index: dict[str, int] | None = None
        self._duplicate_edges: tuple[int, ...] | None = None
        self.src = src
        self.dst = dst
        self.dangling: tuple[int, ...] = ()
        if not whole and (None in src or None in dst):
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
        self._sorted_ids: bool | None = None
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
    def edge_ids(self) -> list[str]:
        """Edge ids by position (read from the edges on first use)."""
        if self._edge_ids is None:
            assert self._edges is not None
            self._edge_ids = [edge.id for edge in self._edges]
            self._edges = None
        return self._edge_ids

    @property
    def edge_index(self) -> dict[str, int]:
        """Edge id -> position of the first edge with that id.

        Raises:
            EditError: An edge id is not a string (and cannot be hashed).
        """
        if self._edge_index is None:
            try:
                self._edge_index = _first_index(self.edge_ids)
            except TypeError:
                _check_strs(self.edge_ids, "edge ids")  # type: ignore[arg-type]
                raise
        return self._edge_index

    def edge_ids_distinct(self, lengths: Sequence[int] | None = None) -> bool:
        """Whether no two edges share an id.

        Args:
            lengths: ``len`` of each id, given only when every id is known to be a string
                and the lengths never decrease.

        Raises:
            EditError: An edge id is not a string (and cannot be hashed).
        """
        if self._duplicate_edges is not None:
            return not self._duplicate_edges
        edge_ids = self.edge_ids
        if ids_strictly_increase(edge_ids, lengths):
            distinct = True
        else:
            try:
                distinct = len(set(edge_ids)) == self.m
            except TypeError:
                _check_strs(edge_ids, "edge ids")  # type: ignore[arg-type]
                raise
        if distinct:
            self._duplicate_edges = ()
        return distinct

    def mark_edge_ids_distinct(self) -> None:
        """Record that no two edges share an id (for a builder that refused repeats)."""
        self._duplicate_edges = ()

    @property
    def duplicate_edges(self) -> tuple[int, ...]:
        """Positions of edges whose id an earlier edge already has."""
        if self._duplicate_edges is None and not self.edge_ids_distinct():
            first = self.edge_index
            self._duplicate_edges = tuple(
                i for i, key in enumerate(self.edge_ids) if first[key] != i
            )
        assert self._duplicate_edges is not None
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
            ids: list[str] = [node.id for node in nodes]
            # Fields are read by comprehensions (CPython specialises the slot reads: about
            # twice as fast as attrgetter), all names first and then resolved in a second
            # pass: measured faster than one fused pass on large graphs.
            sources: list[str] = [edge.source for edge in edges]
            targets: list[str] = [edge.target for edge in edges]
            try:
                index = _first_index(ids)
                src, src_missing = _resolve(index, sources)
                dst, dst_missing = _resolve(index, targets)
            except TypeError:
                # Something unhashable where an id belongs: say which, instead of a
                # TypeError. (Other non-strings are reported by the validator.)
                for values, what in (
                    (ids, "node ids"),
                    (sources, "edge sources"),
                    (targets, "edge targets"),
                ):
                    _check_strs(values, what)  # type: ignore[arg-type]
                raise
            del sources, targets
            try:
                # Ids are compared to order the nodes: anything but strings is refused.
                # (Joining them is the quickest C-level test that all are strings.)
                "".join(ids)
            except TypeError:
                _check_strs(ids, "node ids")  # type: ignore[arg-type]
                raise
            return cls(
                ids,
                None,
                src,
                dst,
                index=index,
                edges=edges,
                whole=not (src_missing or dst_missing),
            )

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

    def _count_into(self) -> bytearray | list[int]:
        # In-degrees as bytes while they fit (1 MB for a million nodes, where a list of
        # ints is 8 MB of pointers: the random increments here and the decrements of
        # Kahn's algorithm then mostly hit the cache); a list once a node has 256.
        _, dst = self._clean_pairs()
        counts = bytearray(self.n)
        try:
            for d in dst:
                counts[d] += 1
        except ValueError:
            wide = [0] * self.n
            for d in dst:
                wide[d] += 1
            return wide
        return counts

    @property
    def indegree(self) -> list[int]:
        """Number of incoming (non-dangling) edges of each node."""
        if self._indegree is None:
            counts = self._count_into()
            self._indegree = counts if type(counts) is list else list(counts)
        return self._indegree

    # Order.

    @property
    def sorted_ids(self) -> bool:
        """Whether the nodes are listed in strictly increasing id order (rank = position)."""
        if self._sorted_ids is None:
            ids = self.ids
            self._sorted_ids = all(map(lt, ids, islice(ids, 1, None)))
        return self._sorted_ids

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

    def _adjacency_for_sort(self) -> tuple[list[list[int]], bytearray | list[int]]:
        # The out-lists (kept: levels and reachability use them too) and in-degrees. On
        # small graphs one Python loop filling both is quicker; on large ones C-level
        # appends and a separate counting pass touch memory in a friendlier order.
        if self._out is not None or self.m > _ONE_LOOP_EDGES:
            return self.out, self._count_into()
        src, dst = self._clean_pairs()
        out: list[list[int]] = [[] for _ in range(self.n)]
        counts = bytearray(self.n)
        try:
            for s, d in zip(src, dst, strict=True):
                out[s].append(d)
                counts[d] += 1
        except ValueError:  # a node with 256 incoming edges: counts need a list
            return self.out, self._count_into()
        self._out = out
        return out, counts

    def _sort(self) -> None:
        n = self.n
        ids = self.ids
        src, dst = self._clean_pairs()
        sorted_ids = self.sorted_ids  # nodes listed in id order: positions are ranks
        unique = sorted_ids or len(self.index) == n
        # When every edge already goes from a smaller id to a larger one, the smallest
        # remaining id is always ready, so the id order itself is the answer. (Checked
        # lazily: the first edge against the ids stops the pass.)
        if sorted_ids:
            forward = self._acyclic or all(map(lt, src, dst))
        elif unique:
            forward = all(map(lt, map(ids.__getitem__, src), map(ids.__getitem__, dst)))
        else:
            rank = self.rank
            forward = all(map(lt, map(rank.__getitem__, src), map(rank.__getitem__, dst)))
        if forward:
            self._order = list(self.by_rank)
            return
        # Kahn's algorithm over positions, the heap giving the smallest ready id.
        out, indeg = self._adjacency_for_sort()
        order: list[int] = []
        append = order.append
        push = heapq.heappush
        pop = heapq.heappop
        if sorted_ids:
            # Positions are ranks: the heap holds positions.
            heap = list(compress(range(n), map(not_, indeg)))  # ascending: a heap
            while heap:
                u = pop(heap)
                append(u)
                for v in out[u]:
                    left = indeg[v] - 1
                    indeg[v] = left
                    if not left:
                        push(heap, v)
        elif unique:
            # Distinct ids: the heap holds the ids themselves, found again by the index.
            # Comparing strings in the heap costs less than sorting every id up front
            # to give each a rank (measured on 10k and 1M nodes). The smallest id a node
            # makes ready is kept aside: if it is also the smallest ready id it is next,
            # with no trip through the heap.
            index = self.index
            ready = list(map(ids.__getitem__, compress(range(n), map(not_, indeg))))
            heapq.heapify(ready)
            replace = heapq.heapreplace
            key = pop(ready) if ready else None
            while key is not None:
                u = index[key]
                append(u)
                best = None
                for v in out[u]:
                    left = indeg[v] - 1
                    indeg[v] = left
                    if not left:
                        found = ids[v]
                        if best is None:
                            best = found
                        elif found < best:
                            push(ready, best)
                            best = found
                        else:
                            push(ready, found)
                if best is not None:
                    key = replace(ready, best) if ready and ready[0] < best else best
                else:
                    key = pop(ready) if ready else None
        else:
            # Repeated ids: ranks (ids, then positions) break the ties.
            rank = self.rank
            by_rank = self.by_rank
            heap = list(map(rank.__getitem__, compress(range(n), map(not_, indeg))))
            heapq.heapify(heap)
            while heap:
                u = by_rank[pop(heap)]
                append(u)
                for v in out[u]:
                    left = indeg[v] - 1
                    indeg[v] = left
                    if not left:
                        push(heap, rank[v])
        if len(order) == n:
            self._order = order
        else:
            self._cycle = self._find_cycle(list(map(bool, indeg)))

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
