"""Stateful tests: node states move only along legal transitions; the event stream resumes
with no gap and no duplicate; slow subscribers are told they fell behind."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from symphony_core.workflow import (
    FINAL_STATES,
    Event,
    EventLog,
    FellBehindError,
    IllegalTransitionError,
    Node,
    NodeState,
    RunState,
    Subscription,
    Workflow,
)

NODES = ["a", "b", "c", "d"]
STATES = list(NodeState)
# The specification, written out here so the machine does not check the code against itself.
LEGAL = {
    NodeState.PENDING: {NodeState.READY, NodeState.SKIPPED, NodeState.CANCELLED},
    NodeState.READY: {NodeState.RUNNING, NodeState.SKIPPED, NodeState.CANCELLED},
    NodeState.RUNNING: {NodeState.SUCCEEDED, NodeState.FAILED, NodeState.CANCELLED},
    NodeState.FAILED: {NodeState.READY},
    NodeState.SUCCEEDED: set(),
    NodeState.SKIPPED: set(),
    NodeState.CANCELLED: set(),
}


class Reader:
    """One subscriber: what it has received, and from where it started."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.start = subscription.last_seq
        self.received: list[int] = []
        self.fell_behind = 0

    def read(self, limit: int) -> None:
        for _ in range(limit):
            try:
                event = self.subscription.get(timeout=0)
            except FellBehindError as exc:
                behind_at: int | None = exc.last_seq
                event = None
            else:
                behind_at = None
            if behind_at is not None:
                assert behind_at == self.start + len(self.received)
                assert self.subscription.behind
                self.fell_behind += 1
                self.subscription = self.subscription.resume()
                continue
            if event is None:
                return
            self.received.append(event.seq)

    def check(self) -> None:
        expected = list(range(self.start + 1, self.start + 1 + len(self.received)))
        assert self.received == expected, "a gap or a duplicate in the stream"


class RunMachine(RuleBasedStateMachine):
    readers = Bundle("readers")

    @initialize(capacity=st.integers(1, 4))
    def start(self, capacity: int) -> None:
        self.persisted: list[Event] = []
        self.log = EventLog(
            capacity=capacity,
            persist=self.persisted.append,
            replay=lambda after: [e for e in self.persisted if e.seq > after],
        )
        workflow = Workflow("w", [Node(n, "x.y/z") for n in NODES])
        self.run = RunState(workflow, run_id="run-1", events=self.log)
        self.model: dict[str, NodeState] = dict.fromkeys(NODES, NodeState.PENDING)
        self.all_readers: list[Reader] = []

    @rule(node=st.sampled_from(NODES), to=st.sampled_from(STATES))
    def transition(self, node: str, to: NodeState) -> None:
        before = self.log.last_seq
        current = self.model[node]
        legal = to in LEGAL[current]
        refused: IllegalTransitionError | None = None
        try:
            event = self.run.transition(node, to, data={"attempt": 1})
        except IllegalTransitionError as exc:
            refused = exc
        if refused is not None:
            exc = refused
            assert not legal
            assert exc.current == current
            assert exc.requested == to
            assert self.log.last_seq == before
            assert self.run.state(node) is current
            return
        assert legal, f"{current} -> {to} was accepted"
        self.model[node] = to
        assert event.seq == before + 1
        assert (event.kind, event.node, event.state, event.previous) == (
            "node.state",
            node,
            str(to),
            str(current),
        )

    @rule(node=st.sampled_from(NODES))
    def probe(self, node: str) -> None:
        # From whatever state the node is in, every move the specification forbids is
        # refused and leaves no trace.
        current = self.model[node]
        before = self.log.last_seq
        for to in STATES:
            if to in LEGAL[current]:
                assert self.run.can(node, to)
                continue
            assert not self.run.can(node, to)
            refused = False
            try:
                self.run.transition(node, to)
            except IllegalTransitionError:
                refused = True
            assert refused, f"{current} -> {to} was accepted"
            assert self.run.state(node) is current
        assert self.log.last_seq == before

    @rule(node=st.sampled_from(NODES), data=st.data())
    def advance(self, node: str, data: st.DataObject) -> None:
        # Mostly legal moves, so the stream grows past the buffer and readers fall behind.
        options = sorted(LEGAL[self.model[node]])
        if not options:
            self.reset([node])
            return
        self.transition(node, data.draw(st.sampled_from(options)))

    @rule(steps=st.lists(st.sampled_from(NODES), min_size=2, max_size=8), data=st.data())
    def burst(self, steps: list[str], data: st.DataObject) -> None:
        # Many events between two reads: a slow reader is overtaken by the buffer.
        for node in steps:
            self.advance(node, data)

    @rule(nodes=st.lists(st.sampled_from(NODES), max_size=4))
    def reset(self, nodes: list[str]) -> None:
        before = self.log.last_seq
        if any(self.model[n] is NodeState.RUNNING for n in nodes):
            try:
                self.run.reset(nodes)
            except IllegalTransitionError:
                assert self.log.last_seq == before
                return
            raise AssertionError("a running node was reset")
        events = self.run.reset(nodes)
        changed = [n for n in dict.fromkeys(nodes) if self.model[n] is not NodeState.PENDING]
        assert [e.node for e in events] == changed
        for n in changed:
            self.model[n] = NodeState.PENDING
        assert self.log.last_seq == before + len(changed)

    @rule(target=readers, back=st.integers(0, 12))
    def subscribe(self, back: int) -> Reader:
        after = max(0, self.log.last_seq - back)
        reader = Reader(self.log.subscribe(after=after))
        self.all_readers.append(reader)
        return reader

    @rule(reader=readers, limit=st.integers(0, 3))
    def read(self, reader: Reader, limit: int) -> None:
        reader.read(limit)
        reader.check()

    @precondition(lambda self: hasattr(self, "run"))
    @invariant()
    def states_and_counts_agree(self) -> None:
        assert self.run.states() == self.model
        progress = self.run.progress()
        for state in STATES:
            assert progress.counts[state] == sum(1 for s in self.model.values() if s is state)
        done = sum(1 for s in self.model.values() if s in FINAL_STATES)
        assert progress.done == done
        assert progress.finished == (done == len(NODES))

    @precondition(lambda self: hasattr(self, "run"))
    @invariant()
    def the_log_is_numbered_without_gaps(self) -> None:
        assert [e.seq for e in self.persisted] == list(range(1, self.log.last_seq + 1))
        assert len(self.log.since(max(0, self.log.last_seq - 3))) == min(3, self.log.last_seq)

    def teardown(self) -> None:
        if not hasattr(self, "run"):
            return
        for reader in self.all_readers:
            # Drain: every reader ends with every event after its start, exactly once.
            for _ in range(self.log.last_seq * 3 + 3):
                reader.read(self.log.last_seq + 1)
                if reader.start + len(reader.received) == self.log.last_seq:
                    break
            reader.check()
            assert reader.start + len(reader.received) == self.log.last_seq


TestRunMachine = RunMachine.TestCase
TestRunMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
