"""The Arbitration Engine port: grants contended resources by priority, fairly.

A resource (``memory``, ``gpu``, ``model:acme.embedder``, ``lock:sha256:...``) has an
integer capacity. A request asks for an amount of one resource; it is granted when the
amount fits in what is free and no request ahead of it in the queue is waiting.

Promises every adapter keeps (checked by
:class:`symphony_core.testing.contracts.ArbitrationEngineContract`):

* **Safety**: the amounts granted on a resource never exceed its capacity.
* **Order**: among waiting requests, a higher ``priority`` goes first; equal priorities
  go in submission order.
* **No starvation**: a waiting request ages — every request granted past it raises its
  effective priority — so it is eventually at the head; once at the head, it is passed
  by smaller requests that fit only a bounded number of times before capacity is held
  back for it. With every holder releasing eventually, every request is granted
  eventually.
* **No deadlock from impossibility**: a request that can never fit (more than the
  capacity) is refused at once instead of waiting forever.
* **Explained**: :meth:`ArbitrationEngine.explain` says in plain words why a request
  waits (what is free, who holds it, who is ahead).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import msgspec

from symphony_core.errors import SymphonyError, UserError

__all__ = [
    "ArbitrationEngine",
    "ArbitrationError",
    "ArbitrationTimeoutError",
    "Explanation",
    "Grant",
    "InvalidRequestError",
    "OverCapacityError",
    "ResourceStatus",
    "Ticket",
    "TicketCancelledError",
    "TicketState",
    "UnknownGrantError",
    "UnknownResourceError",
    "UnknownTicketError",
]

TicketState = Literal["waiting", "granted", "released", "cancelled", "rejected"]
"""``released``: granted, then given back. ``rejected``: the resource shrank below the
amount, so it can never be granted."""


class Ticket(msgspec.Struct, frozen=True, kw_only=True):
    """A submitted request, waiting or decided.

    Attributes:
        ticket_id: Unique id of the request.
        resource: The resource asked for.
        amount: How much of it.
        requester: Who asks (an extension id, a run id).
        priority: Higher goes first.
    """

    ticket_id: str
    resource: str
    amount: int
    requester: str
    priority: int


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """A granted request: ``amount`` of ``resource`` is held until released.

    Attributes:
        grant_id: Unique id of the grant (the ticket's id).
        resource: The resource.
        amount: How much is held.
        requester: Who holds it.
        priority: The request's priority.
    """

    grant_id: str
    resource: str
    amount: int
    requester: str
    priority: int


class ResourceStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A resource's capacity, holders and queue.

    Attributes:
        resource: The resource.
        capacity: Its capacity.
        in_use: Sum of the amounts granted.
        holders: Current grants, in grant order.
        waiting: Waiting requests, in the order they would be granted.
    """

    resource: str
    capacity: int
    in_use: int
    holders: list[Grant]
    waiting: list[Ticket]

    @property
    def free(self) -> int:
        """Capacity not granted (0 when the resource shrank below what is in use)."""
        return max(0, self.capacity - self.in_use)


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why a request is where it is.

    Attributes:
        ticket_id: The request.
        state: ``waiting``, ``granted``, ``released``, ``cancelled`` or ``rejected``.
        resource: The resource asked for.
        amount: How much.
        capacity: The resource's capacity.
        free: How much is free now.
        holders: Current grants on the resource.
        ahead: Waiting requests that go first, in order.
        reason: The explanation in plain words.
    """

    ticket_id: str
    state: TicketState
    resource: str
    amount: int
    capacity: int
    free: int
    holders: list[Grant]
    ahead: list[Ticket]
    reason: str


class ArbitrationError(SymphonyError):
    """Base of the Arbitration Engine errors."""

    code = "arbiter.error"


class UnknownResourceError(ArbitrationError, UserError):
    """No resource has that name."""

    code = "arbiter.unknown_resource"


class InvalidRequestError(ArbitrationError, UserError):
    """An amount, capacity, priority or name is malformed."""

    code = "arbiter.invalid_request"


class OverCapacityError(ArbitrationError, UserError):
    """The request asks for more than the resource's capacity: it can never be granted."""

    code = "arbiter.over_capacity"


class ArbitrationTimeoutError(ArbitrationError):
    """The request was not granted within its timeout."""

    code = "arbiter.timeout"


class UnknownTicketError(ArbitrationError):
    """No request has that ticket (or it was issued by another engine)."""

    code = "arbiter.unknown_ticket"


class TicketCancelledError(ArbitrationError):
    """The request was withdrawn with :meth:`ArbitrationEngine.cancel` (or timed out)."""

    code = "arbiter.cancelled"


class UnknownGrantError(ArbitrationError):
    """The grant is not held (never issued, or already released)."""

    code = "arbiter.unknown_grant"


@runtime_checkable
class ArbitrationEngine(Protocol):
    """Grants resources by priority and fairness (see the module documentation)."""

    def define(self, resource: str, capacity: int) -> None:
        """Create a resource or change its capacity.

        Shrinking below what is granted is allowed (nothing is revoked; new grants wait
        until enough is released). Waiting requests that no longer fit at all are
        rejected.

        Args:
            resource: The resource's name.
            capacity: Its capacity, 0 or more.

        Raises:
            InvalidRequestError: The name is empty or the capacity negative.
        """
        ...

    def submit(self, resource: str, amount: int, *, requester: str, priority: int = 0) -> Ticket:
        """Queue a request without waiting; it may be granted at once.

        Args:
            resource: The resource.
            amount: How much, at least 1.
            requester: Who asks.
            priority: Higher goes first.

        Returns:
            The ticket, for :meth:`poll`, :meth:`wait`, :meth:`cancel`, :meth:`explain`.

        Raises:
            UnknownResourceError: No resource has that name.
            InvalidRequestError: The amount is below 1 or the requester is empty.
            OverCapacityError: The amount exceeds the capacity.
        """
        ...

    def poll(self, ticket: Ticket) -> Grant | None:
        """Return the request's grant without waiting; ``None`` while it waits.

        A grant since released is still returned: it tells what was decided.

        Raises:
            UnknownTicketError: The ticket is unknown.
            OverCapacityError: The request was rejected (the resource shrank).
            TicketCancelledError: The request was cancelled.
        """
        ...

    def wait(self, ticket: Ticket, timeout: float | None = None) -> Grant:
        """Wait until the request is granted.

        On timeout the request stays queued.

        Args:
            ticket: The request.
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Returns:
            The grant.

        Raises:
            ArbitrationTimeoutError: Not granted in time.
            UnknownTicketError: The ticket is unknown.
            OverCapacityError: The request was rejected (the resource shrank).
            TicketCancelledError: The request was cancelled.
        """
        ...

    def cancel(self, ticket: Ticket) -> None:
        """Withdraw a waiting request. Cancelling a decided request does nothing.

        Raises:
            UnknownTicketError: The ticket is unknown.
        """
        ...

    def request(
        self,
        resource: str,
        amount: int,
        *,
        requester: str,
        priority: int = 0,
        timeout: float | None = None,
    ) -> Grant:
        """Submit a request and wait for it; on timeout it is withdrawn.

        Args:
            resource: The resource.
            amount: How much, at least 1.
            requester: Who asks.
            priority: Higher goes first.
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Returns:
            The grant.

        Raises:
            ArbitrationTimeoutError: Not granted in time (the request is withdrawn).
            UnknownResourceError: No resource has that name.
            InvalidRequestError: The amount is below 1 or the requester is empty.
            OverCapacityError: The amount exceeds the capacity.
        """
        ...

    def release(self, grant: Grant) -> None:
        """Give a granted amount back; waiting requests that now fit are granted.

        Raises:
            UnknownGrantError: The grant is not held.
        """
        ...

    def explain(self, ticket: Ticket) -> Explanation:
        """Say why a request waits, or what became of it.

        Raises:
            UnknownTicketError: The ticket is unknown.
        """
        ...

    def status(self, resource: str) -> ResourceStatus:
        """Return a resource's capacity, holders and queue.

        Raises:
            UnknownResourceError: No resource has that name.
        """
        ...
