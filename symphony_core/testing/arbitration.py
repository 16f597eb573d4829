"""The double of ``ArbitrationEngine``: priorities, aging and bounded backfilling.

The queue of a resource is ordered by *effective priority* — the request's priority plus
``aging`` times the number of grants made on the resource while it waited — then by
submission order. The first request in that order that fits is granted, except that a
request may be passed by requests behind it (backfilling) at most ``max_bypass`` times:
after that nothing behind it is granted until it fits. Aging stops a stream of
higher-priority requests from starving an old one; the bypass bound stops a stream of
small requests from starving a large one.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

from symphony_core.log import get_logger
from symphony_core.ports.arbitration import (
    ArbitrationTimeoutError,
    Explanation,
    Grant,
    InvalidRequestError,
    OverCapacityError,
    ResourceStatus,
    Ticket,
    TicketCancelledError,
    TicketState,
    UnknownGrantError,
    UnknownResourceError,
    UnknownTicketError,
)

__all__ = ["FakeArbitrationEngine"]

_log = get_logger("arbitration")


@dataclass(slots=True)
class _Request:
    ticket: Ticket
    seq: int
    state: TicketState = "waiting"
    age: int = 0
    bypassed: int = 0
    grant: Grant | None = None
    note: str = ""


@dataclass(slots=True)
class _Resource:
    name: str
    capacity: int
    in_use: int = 0
    holders: dict[str, Grant] = field(default_factory=dict)
    queue: list[_Request] = field(default_factory=list)


def _holders_text(grants: list[Grant]) -> str:
    if not grants:
        return "nobody holds it"
    return "held by " + ", ".join(f"{g.requester} ({g.amount})" for g in grants)


class FakeArbitrationEngine:
    """Grants by effective priority with aging and bounded backfilling (see module doc).

    Thread-safe; :meth:`wait` and :meth:`request` block on a condition variable.

    Args:
        aging: Effective priority gained per grant made while a request waits, >= 1.
        max_bypass: How many times a waiting request may be passed by requests behind
            it before capacity is held back for it, >= 0.
    """

    def __init__(self, *, aging: int = 1, max_bypass: int = 8) -> None:
        if aging < 1 or max_bypass < 0:
            raise ValueError("aging must be >= 1 and max_bypass >= 0")
        self._aging = aging
        self._max_bypass = max_bypass
        self._cond = threading.Condition()
        self._resources: dict[str, _Resource] = {}
        self._requests: dict[str, _Request] = {}
        self._seq = itertools.count(1)

    # -- helpers ----------------------------------------------------------------------

    def _resource(self, name: str) -> _Resource:
        res = self._resources.get(name)
        if res is None:
            raise UnknownResourceError(
                "no resource has this name", where=name, hint="define it first"
            )
        return res

    def _request(self, ticket: Ticket) -> _Request:
        req = self._requests.get(ticket.ticket_id)
        if req is None or req.ticket != ticket:
            raise UnknownTicketError("this engine issued no such ticket", where=ticket.ticket_id)
        return req

    def _order(self, res: _Resource) -> list[_Request]:
        return sorted(res.queue, key=lambda r: (-(r.ticket.priority + self._aging * r.age), r.seq))

    def _pick(self, res: _Resource) -> tuple[_Request, list[_Request]] | None:
        """Return the next request to grant and the requests it passes, if any."""
        free = res.capacity - res.in_use
        ahead: list[_Request] = []
        for req in self._order(res):
            if req.ticket.amount <= free:
                return req, ahead
            ahead.append(req)
            if req.bypassed >= self._max_bypass:
                return None
        return None

    def _schedule(self, res: _Resource) -> None:
        granted = False
        while (picked := self._pick(res)) is not None:
            req, passed = picked
            t = req.ticket
            res.queue.remove(req)
            req.state = "granted"
            req.grant = Grant(
                grant_id=t.ticket_id,
                resource=t.resource,
                amount=t.amount,
                requester=t.requester,
                priority=t.priority,
            )
            res.holders[t.ticket_id] = req.grant
            res.in_use += t.amount
            for other in res.queue:
                other.age += 1
            for other in passed:
                other.bypassed += 1
            granted = True
            _log.debug(
                "granted %d of %s to %s (priority %d, waited through %d grants)",
                t.amount,
                t.resource,
                t.requester,
                t.priority,
                req.age,
                extra={"ticket": t.ticket_id, "passed": [p.ticket.ticket_id for p in passed]},
            )
        if granted:
            self._cond.notify_all()

    @staticmethod
    def _decided(req: _Request) -> Grant | None:
        if req.state == "cancelled":
            raise TicketCancelledError(
                f"the request was withdrawn ({req.note})", where=req.ticket.ticket_id
            )
        if req.state == "rejected":
            raise OverCapacityError(req.note, where=req.ticket.ticket_id)
        return req.grant

    # -- the port ---------------------------------------------------------------------

    def define(self, resource: str, capacity: int) -> None:
        """Create a resource or change its capacity (see ``ArbitrationEngine.define``).

        Args:
            resource: The resource's name.
            capacity: Its capacity.
        """
        if not isinstance(resource, str) or not resource:
            raise InvalidRequestError("a resource needs a non-empty name")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise InvalidRequestError(
                f"capacity must be an integer >= 0, got {capacity!r}", where=resource
            )
        with self._cond:
            res = self._resources.get(resource)
            if res is None:
                self._resources[resource] = _Resource(resource, capacity)
                return
            res.capacity = capacity
            for req in [r for r in res.queue if r.ticket.amount > capacity]:
                res.queue.remove(req)
                req.state = "rejected"
                req.note = f"{resource!r} shrank to {capacity}, below the {req.ticket.amount} asked"
            self._schedule(res)
            self._cond.notify_all()

    def submit(self, resource: str, amount: int, *, requester: str, priority: int = 0) -> Ticket:
        """Queue a request; it may be granted at once (see ``ArbitrationEngine.submit``).

        Args:
            resource: The resource.
            amount: How much.
            requester: Who asks.
            priority: Higher goes first.

        Returns:
            The ticket.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise InvalidRequestError(f"amount must be an integer >= 1, got {amount!r}")
        if not isinstance(requester, str) or not requester:
            raise InvalidRequestError("a request needs a non-empty requester")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidRequestError(f"priority must be an integer, got {priority!r}")
        with self._cond:
            res = self._resource(resource)
            if amount > res.capacity:
                raise OverCapacityError(
                    f"asks for {amount} but the capacity is {res.capacity}: it could never "
                    "be granted",
                    where=resource,
                    hint="ask for less, or raise the resource's capacity",
                )
            seq = next(self._seq)
            ticket = Ticket(
                ticket_id=f"t{seq}",
                resource=resource,
                amount=amount,
                requester=requester,
                priority=priority,
            )
            req = _Request(ticket, seq)
            self._requests[ticket.ticket_id] = req
            res.queue.append(req)
            self._schedule(res)
            return ticket

    def poll(self, ticket: Ticket) -> Grant | None:
        """Return the grant, or ``None`` while the request waits."""
        with self._cond:
            return self._decided(self._request(ticket))

    def wait(self, ticket: Ticket, timeout: float | None = None) -> Grant:
        """Wait for the grant; on timeout the request stays queued.

        Args:
            ticket: The request.
            timeout: Seconds to wait at most.

        Returns:
            The grant.
        """
        return self._wait(ticket, timeout, withdraw=False)

    def _wait(self, ticket: Ticket, timeout: float | None, *, withdraw: bool) -> Grant:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            req = self._request(ticket)
            while True:
                grant = self._decided(req)
                if grant is not None:
                    return grant
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    explanation = self._explain(req)
                    if withdraw:
                        self._withdraw(req, f"timed out after {timeout} s")
                    raise ArbitrationTimeoutError(
                        f"not granted within {timeout} s: {explanation.reason}",
                        where=ticket.ticket_id,
                    )
                self._cond.wait(remaining)

    def _withdraw(self, req: _Request, note: str) -> None:
        res = self._resources[req.ticket.resource]
        res.queue.remove(req)
        req.state = "cancelled"
        req.note = note
        self._schedule(res)
        self._cond.notify_all()

    def cancel(self, ticket: Ticket) -> None:
        """Withdraw a waiting request; a decided one is left as it is."""
        with self._cond:
            req = self._request(ticket)
            if req.state == "waiting":
                self._withdraw(req, "cancelled")

    def request(
        self,
        resource: str,
        amount: int,
        *,
        requester: str,
        priority: int = 0,
        timeout: float | None = None,
    ) -> Grant:
        """Submit and wait; on timeout the request is withdrawn.

        Args:
            resource: The resource.
            amount: How much.
            requester: Who asks.
            priority: Higher goes first.
            timeout: Seconds to wait at most.

        Returns:
            The grant.
        """
        ticket = self.submit(resource, amount, requester=requester, priority=priority)
        return self._wait(ticket, timeout, withdraw=True)

    def release(self, grant: Grant) -> None:
        """Give a grant back and grant what now fits."""
        with self._cond:
            res = self._resources.get(grant.resource)
            held = None if res is None else res.holders.get(grant.grant_id)
            if res is None or held != grant:
                raise UnknownGrantError(
                    "this grant is not held (already released?)", where=grant.grant_id
                )
            del res.holders[grant.grant_id]
            res.in_use -= grant.amount
            self._requests[grant.grant_id].state = "released"
            _log.debug("released %d of %s by %s", grant.amount, grant.resource, grant.requester)
            self._schedule(res)
            self._cond.notify_all()

    def _explain(self, req: _Request) -> Explanation:
        t = req.ticket
        res = self._resources[t.resource]
        holders = list(res.holders.values())
        free = max(0, res.capacity - res.in_use)
        ahead: list[Ticket] = []
        if req.state == "waiting":
            for other in self._order(res):
                if other is req:
                    break
                ahead.append(other.ticket)
            if t.amount > free:
                reason = (
                    f"waits for {t.amount} of {t.resource!r}: {free} of {res.capacity} free, "
                    f"{_holders_text(holders)}"
                )
            else:
                reason = f"waits although {t.amount} of {t.resource!r} would fit"
            if ahead:
                reason += f"; {len(ahead)} request(s) go first: " + ", ".join(
                    f"{a.requester} ({a.amount}, priority {a.priority})" for a in ahead
                )
            if req.age:
                reason += f"; aged by {req.age} grant(s)"
        elif req.state in ("granted", "released"):
            reason = f"{req.state}: {t.amount} of {t.resource!r} to {t.requester}"
        elif req.state == "cancelled":
            reason = f"withdrawn: {req.note}"
        else:
            reason = f"rejected: {req.note}"
        return Explanation(
            ticket_id=t.ticket_id,
            state=req.state,
            resource=t.resource,
            amount=t.amount,
            capacity=res.capacity,
            free=free,
            holders=holders,
            ahead=ahead,
            reason=reason,
        )

    def explain(self, ticket: Ticket) -> Explanation:
        """Say why a request waits, or what became of it."""
        with self._cond:
            return self._explain(self._request(ticket))

    def status(self, resource: str) -> ResourceStatus:
        """Return a resource's capacity, holders and queue (in grant order)."""
        with self._cond:
            res = self._resource(resource)
            return ResourceStatus(
                resource=resource,
                capacity=res.capacity,
                in_use=res.in_use,
                holders=list(res.holders.values()),
                waiting=[r.ticket for r in self._order(res)],
            )
