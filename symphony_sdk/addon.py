"""Base class of Addons: behaviour around the work (notifications, metrics, CLI commands)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from symphony_core import hookimpl
from symphony_sdk.extension import Extension, choose_impl

if TYPE_CHECKING:
    import click

__all__ = ["Addon"]


@hookimpl(specname="symphony_addon_event")
def _event(self: Addon, event: object) -> None:
    self.on_event(event)


@hookimpl(specname="symphony_addon_event")
async def _event_async(self: Addon, event: object) -> None:
    result = self.on_event(event)
    if inspect.isawaitable(result):
        await result


@hookimpl(specname="symphony_addon_cli_commands")
def _cli_commands(self: Addon) -> list[click.Command]:
    return list(self.cli_commands())


class Addon(Extension):
    """Base class of an Addon extension.

    Override :meth:`on_event` to react to the host's events (it may be ``async def``)
    and :meth:`cli_commands` to add commands to the ``symphony`` CLI.
    """

    symphony_addon_event = _event
    symphony_addon_cli_commands = _cli_commands

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        choose_impl(cls, "symphony_addon_event", "on_event", _event, _event_async)

    def on_event(self, event: object) -> Awaitable[None] | None:
        """React to one event from the host's bus; the default ignores it.

        Args:
            event: The event (one of the event structs of :mod:`symphony_core.ports`).
        """
        return None

    def cli_commands(self) -> Sequence[click.Command]:
        """Return click commands to add to the ``symphony`` CLI; the default adds none."""
        return ()
