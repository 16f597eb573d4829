"""Contract suite of the ``ArbitrationEngine`` port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from symphony_core.ports.arbitration import (
    ArbitrationEngine,
    ArbitrationTimeoutError,
    Grant,
    InvalidRequestError,
    OverCapacityError,
    Ticket,
    TicketCancelledError,
    UnknownGrantError,
    UnknownResourceError,
    UnknownTicketError,
)

__all__ = ["ArbitrationEngineContract", "EngineFactory"]

EngineFactory = Callable[[], ArbitrationEngine]
"""Builds a fresh engine with no resources defined."""

_SETTLE = 10.0
_ROUNDS = 500


class ArbitrationEngineContract:
    """Behaviour every arbitration engine shows.

    Subclass it and supply ``engine_factory``: a callable returning a fresh engine with
    no resources each time it is called.
    """

    @pytest.fixture
    def engine_factory(self) -> EngineFactory:
        """Return an engine factory; adapters' test classes override this."""
        raise NotImplementedError("supply an engine_factory fixture")

    @pytest.fixture
    def engine(self, engine_factory: EngineFactory) -> ArbitrationEngine:
        """A fresh engine."""
        return engine_factory()

    def test_satisfies_the_protocol(self, engine: ArbitrationEngine) -> None:
        """The adapter is an ArbitrationEngine."""
        assert isinstance(engine, ArbitrationEngine)

    def test_a_free_resource_is_granted_at_once(self, engine: ArbitrationEngine) -> None:
        """A request that fits is granted immediately, with its own facts."""
        engine.define("gpu", 4)
        grant = engine.request("gpu", 3, requester="run-1", priority=2, timeout=0)
        assert (grant.resource, grant.amount, grant.requester, grant.priority) == (
            "gpu",
            3,
            "run-1",
            2,
        )
        status = engine.status("gpu")
        assert (status.capacity, status.in_use, status.free) == (4, 3, 1)
        assert status.holders == [grant]
        assert status.waiting == []

    def test_a_request_waits_until_enough_is_released(self, engine: ArbitrationEngine) -> None:
        """A request that does not fit waits and is granted on release."""
        engine.define("mem", 10)
        first = engine.request("mem", 7, requester="a")
        ticket = engine.submit("mem", 5, requester="b")
        assert engine.poll(ticket) is None
        assert engine.status("mem").waiting == [ticket]
        engine.release(first)
        grant = engine.poll(ticket)
        assert grant is not None
        assert grant.grant_id == ticket.ticket_id
        assert engine.status("mem").in_use == 5

    def test_higher_priority_goes_first(self, engine: ArbitrationEngine) -> None:
        """Among waiting requests the higher priority is granted first."""
        engine.define("slot", 1)
        holder = engine.request("slot", 1, requester="holder")
        low = engine.submit("slot", 1, requester="low", priority=0)
        high = engine.submit("slot", 1, requester="high", priority=5)
        assert [t.requester for t in engine.status("slot").waiting] == ["high", "low"]
        engine.release(holder)
        granted = engine.poll(high)
        assert granted is not None
        assert engine.poll(low) is None
        engine.release(granted)
        assert engine.poll(low) is not None

    def test_equal_priorities_go_in_submission_order(self, engine: ArbitrationEngine) -> None:
        """First come, first served among equals."""
        engine.define("slot", 1)
        current = engine.request("slot", 1, requester="holder")
        tickets = [engine.submit("slot", 1, requester=f"r{i}") for i in range(5)]
        order: list[str] = []
        for _ in tickets:
            engine.release(current)
            newly = [t for t in tickets if t.requester not in order and engine.poll(t)]
            assert len(newly) == 1
            grant = engine.poll(newly[0])
            assert grant is not None
            current = grant
            order.append(grant.requester)
        assert order == [f"r{i}" for i in range(5)]

    def test_an_impossible_request_is_refused_at_once(self, engine: ArbitrationEngine) -> None:
        """More than the capacity is arbiter.over_capacity, never a wait."""
        engine.define("gpu", 2)
        with pytest.raises(OverCapacityError) as info:
            engine.request("gpu", 3, requester="greedy", timeout=None)
        assert info.value.code == "arbiter.over_capacity"
        with pytest.raises(OverCapacityError):
            engine.submit("gpu", 3, requester="greedy")
        assert engine.status("gpu").waiting == []

    def test_unknown_resources_are_refused(self, engine: ArbitrationEngine) -> None:
        """Requests and status of an undefined resource are arbiter.unknown_resource."""
        with pytest.raises(UnknownResourceError) as info:
            engine.submit("nothing", 1, requester="a")
        assert info.value.code == "arbiter.unknown_resource"
        with pytest.raises(UnknownResourceError):
            engine.status("nothing")

    @pytest.mark.parametrize(
        "call",
        [
            lambda e: e.submit("r", 0, requester="a"),
            lambda e: e.submit("r", -2, requester="a"),
            lambda e: e.submit("r", 1, requester=""),
            lambda e: e.submit("r", 1.5, requester="a"),
            lambda e: e.define("r", -1),
            lambda e: e.define("", 3),
        ],
    )
    def test_malformed_requests_are_refused(
        self, engine: ArbitrationEngine, call: Callable[[ArbitrationEngine], Any]
    ) -> None:
        """Amounts below 1, empty names and negative capacities are arbiter.invalid_request."""
        engine.define("r", 5)
        with pytest.raises(InvalidRequestError) as info:
            call(engine)
        assert info.value.code == "arbiter.invalid_request"

    def test_a_grant_is_released_once(self, engine: ArbitrationEngine) -> None:
        """Releasing twice, or a grant of another engine, is arbiter.unknown_grant."""
        engine.define("r", 2)
        grant = engine.request("r", 1, requester="a")
        engine.release(grant)
        with pytest.raises(UnknownGrantError) as info:
            engine.release(grant)
        assert info.value.code == "arbiter.unknown_grant"
        forged = Grant(grant_id="forged", resource="r", amount=1, requester="x", priority=0)
        with pytest.raises(UnknownGrantError):
            engine.release(forged)
        assert engine.status("r").in_use == 0

    def test_tickets_of_another_engine_are_refused(
        self, engine: ArbitrationEngine, engine_factory: EngineFactory
    ) -> None:
        """A ticket is only known to the engine that issued it: arbiter.unknown_ticket."""
        engine.define("r", 1)
        stranger = Ticket(ticket_id="t-nope", resource="r", amount=1, requester="a", priority=0)
        for call in (engine.poll, engine.cancel, engine.explain):
            with pytest.raises(UnknownTicketError) as info:
                call(stranger)
            assert info.value.code == "arbiter.unknown_ticket"

    def test_request_withdraws_on_timeout(self, engine: ArbitrationEngine) -> None:
        """request() gives up with arbiter.timeout and leaves no ticket behind."""
        engine.define("r", 1)
        held = engine.request("r", 1, requester="a")
        with pytest.raises(ArbitrationTimeoutError) as info:
            engine.request("r", 1, requester="b", timeout=0.05)
        assert info.value.code == "arbiter.timeout"
        assert engine.status("r").waiting == []
        engine.release(held)
        assert engine.status("r").in_use == 0

    def test_wait_keeps_the_request_queued_on_timeout(self, engine: ArbitrationEngine) -> None:
        """wait() may time out; the request still gets its grant later."""
        engine.define("r", 1)
        held = engine.request("r", 1, requester="a")
        ticket = engine.submit("r", 1, requester="b")
        with pytest.raises(ArbitrationTimeoutError):
            engine.wait(ticket, timeout=0.05)
        assert engine.status("r").waiting == [ticket]
        engine.release(held)
        assert engine.wait(ticket, timeout=_SETTLE).requester == "b"

    def test_a_blocked_request_proceeds_when_another_thread_releases(
        self, engine: ArbitrationEngine
    ) -> None:
        """request() blocks the calling thread until the grant comes."""
        engine.define("r", 1)
        held = engine.request("r", 1, requester="a")
        result: dict[str, Any] = {}

        def ask() -> None:
            try:
                result["grant"] = engine.request("r", 1, requester="b", timeout=_SETTLE)
            except Exception as exc:  # reported below
                result["error"] = exc

        thread = threading.Thread(target=ask)
        thread.start()
        for _ in range(1000):
            if engine.status("r").waiting:
                break
            threading.Event().wait(0.005)
        engine.release(held)
        thread.join(_SETTLE)
        assert "error" not in result
        assert result["grant"].requester == "b"

    def test_cancel_withdraws_a_waiting_request(self, engine: ArbitrationEngine) -> None:
        """A cancelled request is gone from the queue; polling it says arbiter.cancelled."""
        engine.define("r", 1)
        held = engine.request("r", 1, requester="a")
        ticket = engine.submit("r", 1, requester="b")
        engine.cancel(ticket)
        engine.cancel(ticket)
        assert engine.status("r").waiting == []
        with pytest.raises(TicketCancelledError) as info:
            engine.poll(ticket)
        assert info.value.code == "arbiter.cancelled"
        assert engine.explain(ticket).state == "cancelled"
        engine.release(held)
        assert engine.status("r").in_use == 0

    def test_cancelling_a_granted_request_changes_nothing(self, engine: ArbitrationEngine) -> None:
        """A decided request cannot be cancelled."""
        engine.define("r", 1)
        ticket = engine.submit("r", 1, requester="a")
        grant = engine.poll(ticket)
        assert grant is not None
        engine.cancel(ticket)
        assert engine.status("r").holders == [grant]
        assert engine.poll(ticket) == grant

    def test_explain_says_why_a_request_waits(self, engine: ArbitrationEngine) -> None:
        """The explanation names what is free, who holds it and who goes first."""
        engine.define("gpu", 4)
        holder = engine.request("gpu", 3, requester="trainer")
        first = engine.submit("gpu", 4, requester="urgent", priority=9)
        mine = engine.submit("gpu", 2, requester="me", priority=1)
        why = engine.explain(mine)
        assert why.state == "waiting"
        assert (why.resource, why.amount, why.capacity, why.free) == ("gpu", 2, 4, 1)
        assert why.holders == [holder]
        assert why.ahead == [first]
        assert "gpu" in why.reason
        assert why.reason.strip()
        engine.release(holder)
        granted = engine.poll(first)
        assert granted is not None
        assert engine.explain(first).state == "granted"
        engine.release(granted)
        assert engine.explain(first).state == "released"
        assert engine.explain(mine).state == "granted"

    def test_shrinking_rejects_requests_that_can_never_fit(self, engine: ArbitrationEngine) -> None:
        """Waiting requests larger than the new capacity are rejected, not left waiting."""
        engine.define("mem", 8)
        held = engine.request("mem", 8, requester="a")
        big = engine.submit("mem", 6, requester="big")
        small = engine.submit("mem", 2, requester="small")
        engine.define("mem", 4)
        with pytest.raises(OverCapacityError):
            engine.poll(big)
        assert engine.explain(big).state == "rejected"
        assert engine.status("mem").waiting == [small]
        engine.release(held)
        assert engine.poll(small) is not None

    def test_growing_grants_waiting_requests(self, engine: ArbitrationEngine) -> None:
        """More capacity is handed out at once."""
        engine.define("slots", 1)
        engine.request("slots", 1, requester="a")
        ticket = engine.submit("slots", 1, requester="b")
        engine.define("slots", 2)
        assert engine.poll(ticket) is not None

    def test_an_old_request_is_not_starved_by_higher_priorities(
        self, engine: ArbitrationEngine
    ) -> None:
        """A steady stream of higher-priority requests does not starve a low one."""
        engine.define("slot", 1)
        current = engine.request("slot", 1, requester="holder")
        low = engine.submit("slot", 1, requester="low", priority=0)
        for round_no in range(_ROUNDS):
            engine.submit("slot", 1, requester=f"high-{round_no}", priority=50)
            engine.release(current)
            if engine.poll(low) is not None:
                return
            current = engine.status("slot").holders[0]
        pytest.fail(f"the low-priority request was still waiting after {_ROUNDS} grants")

    def test_a_large_request_is_not_starved_by_small_ones(self, engine: ArbitrationEngine) -> None:
        """Small requests that keep fitting do not hold off a large one forever."""
        engine.define("mem", 4)
        blocker = engine.request("mem", 1, requester="blocker")
        big = engine.submit("mem", 4, requester="big")
        previous: list[Ticket] = []
        for round_no in range(_ROUNDS):
            fresh = [engine.submit("mem", 1, requester=f"small-{round_no}-{i}") for i in range(2)]
            if round_no == 0:
                engine.release(blocker)
            for ticket in previous:
                grant = engine.poll(ticket)
                if grant is not None:
                    engine.release(grant)
                else:
                    engine.cancel(ticket)
            if engine.poll(big) is not None:
                return
            previous = fresh
        pytest.fail(f"the large request was still waiting after {_ROUNDS} rounds")

    def test_random_operations_never_overcommit(self, engine_factory: EngineFactory) -> None:
        """Grants never exceed capacity, and once everything is released, nothing waits."""
        amounts = st.integers(1, 5)

        class ArbiterMachine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.engine = engine_factory()
                self.capacity = 5
                self.engine.define("r", self.capacity)
                self.tickets: list[Ticket] = []
                self.held: dict[str, Grant] = {}
                self.released: set[str] = set()

            def _collect(self) -> None:
                for ticket in self.tickets:
                    try:
                        grant = self.engine.poll(ticket)
                    except (TicketCancelledError, OverCapacityError):
                        continue
                    if grant is not None and grant.grant_id not in self.released:
                        self.held[grant.grant_id] = grant

            @rule(amount=amounts, priority=st.integers(-3, 3))
            def submit(self, amount: int, priority: int) -> None:
                try:
                    ticket = self.engine.submit("r", amount, requester="x", priority=priority)
                except OverCapacityError:
                    assert amount > self.capacity
                    return
                self.tickets.append(ticket)
                self._collect()

            @rule(data=st.data())
            def release(self, data: st.DataObject) -> None:
                if self.held:
                    grant_id = data.draw(st.sampled_from(sorted(self.held)))
                    self.engine.release(self.held.pop(grant_id))
                    self.released.add(grant_id)
                    self._collect()

            @rule(data=st.data())
            def cancel(self, data: st.DataObject) -> None:
                if self.tickets:
                    self.engine.cancel(data.draw(st.sampled_from(self.tickets)))
                    self._collect()

            @rule(capacity=st.integers(1, 8))
            def resize(self, capacity: int) -> None:
                in_use = self.engine.status("r").in_use
                self.capacity = max(capacity, in_use)
                self.engine.define("r", self.capacity)
                self._collect()

            @invariant()
            def never_overcommitted(self) -> None:
                status = self.engine.status("r")
                assert status.in_use == sum(g.amount for g in status.holders)
                assert status.in_use <= status.capacity
                assert {g.grant_id for g in status.holders} == set(self.held)
                assert all(t.amount <= status.capacity for t in status.waiting)

            def teardown(self) -> None:
                # Liveness: when every holder keeps releasing, every request is granted.
                for _ in range(len(self.tickets) + 2):
                    self._collect()
                    for grant_id in sorted(self.held):
                        self.engine.release(self.held.pop(grant_id))
                        self.released.add(grant_id)
                    if not self.engine.status("r").waiting:
                        break
                assert self.engine.status("r").waiting == []

        run_state_machine_as_test(
            ArbiterMachine,
            settings=settings(
                max_examples=80,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
