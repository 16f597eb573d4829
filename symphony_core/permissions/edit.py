"""Changes to a policy, as pure functions: grant, revoke, accept or refuse a weaker sandbox.

Each takes a :class:`~symphony_core.permissions.model.Policy` and returns a new one; the
caller stores it (:meth:`~symphony_core.permissions.store.PolicyStore.edit`). The
entry key ``*`` (:data:`DEFAULTS_KEY`) addresses ``[defaults]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import msgspec

from symphony_core.permissions.errors import PolicyEditError
from symphony_core.permissions.model import Grant, LimitGrant, Policy, key_problem
from symphony_core.runtime.sandbox.policy import Weakening

__all__ = [
    "DEFAULTS_KEY",
    "Revocation",
    "accept_weaker",
    "check_key",
    "entry_of",
    "grant",
    "merge_grants",
    "refuse_weaker",
    "revoke",
    "with_entry",
]

_T = TypeVar("_T")

DEFAULTS_KEY = "*"
"""The key that names ``[defaults]``: what every extension is granted."""


class Revocation(msgspec.Struct, frozen=True, kw_only=True):
    """What to take back from one entry.

    Attributes:
        read: Readable paths to remove (as written in the policy).
        write: Writable paths to remove.
        exec: Executable paths to remove.
        env: Environment names (or globs) to remove.
        ports: TCP ports to remove.
        network: Set the entry's network to ``none``.
        subprocess: Set the entry's ``subprocess`` to false.
        limits: Forget the entry's limits (inherit them again).
        run_as: Forget the entry's ``run-as-uid``/``run-as-gid``.
        everything: Remove the entry altogether (``[defaults]``: reset it).
    """

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    exec: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    network: bool = False
    subprocess: bool = False
    limits: bool = False
    run_as: bool = False
    everything: bool = False

    def is_empty(self) -> bool:
        """Whether nothing would be revoked."""
        return self == Revocation()


def check_key(key: str) -> None:
    """Raise :class:`PolicyEditError` unless ``key`` can name an entry (id, glob or ``*``)."""
    if key == DEFAULTS_KEY:
        return
    problem = key_problem(key)
    if problem:
        raise PolicyEditError(
            f"{key!r} cannot name a policy entry: {problem}",
            hint="give an extension id (acme.tool), a glob of ids (acme.*) or '*' for every "
            "extension",
        )


def entry_of(policy: Policy, key: str) -> Grant | None:
    """Return the entry ``key`` names (``*``: the defaults), or ``None`` if there is none."""
    if key == DEFAULTS_KEY:
        return policy.defaults
    return policy.extensions.get(key)


def with_entry(policy: Policy, key: str, entry: Grant | None) -> Policy:
    """Return ``policy`` with entry ``key`` replaced (``None`` or empty: removed)."""
    if key == DEFAULTS_KEY:
        return msgspec.structs.replace(policy, defaults=entry or Grant())
    extensions = dict(policy.extensions)
    if entry is None or entry.is_empty():
        extensions.pop(key, None)
    else:
        extensions[key] = entry
    return msgspec.structs.replace(policy, extensions=extensions)


def _union(old: Sequence[str], new: Iterable[str]) -> tuple[str, ...]:
    out = list(old)
    out += [item for item in dict.fromkeys(new) if item not in out]
    return tuple(out)


def _merge_limits(old: LimitGrant, new: LimitGrant) -> LimitGrant:
    changes = {
        f.name: getattr(new, f.name)
        for f in msgspec.structs.fields(LimitGrant)
        if getattr(new, f.name) is not None
    }
    return msgspec.structs.replace(old, **changes)


def merge_grants(old: Grant, change: Grant) -> Grant:
    """Return ``old`` with ``change`` added: lists add up, values ``change`` sets replace."""
    return Grant(
        read=_union(old.read, change.read),
        write=_union(old.write, change.write),
        exec=_union(old.exec, change.exec),
        network=change.network if change.network is not None else old.network,
        ports=tuple(sorted(set(old.ports) | set(change.ports))),
        env=_union(old.env, change.env),
        subprocess=change.subprocess if change.subprocess is not None else old.subprocess,
        limits=_merge_limits(old.limits, change.limits),
        run_as_uid=change.run_as_uid if change.run_as_uid is not None else old.run_as_uid,
        run_as_gid=change.run_as_gid if change.run_as_gid is not None else old.run_as_gid,
    )


def grant(policy: Policy, key: str, change: Grant) -> Policy:
    """Add ``change`` to entry ``key``: paths, names and ports add up, set values replace.

    Args:
        policy: The current policy.
        key: An extension id, a glob of ids, or ``*`` for the defaults.
        change: What to grant; unset values leave the entry's as they are.

    Returns:
        The new policy.

    Raises:
        PolicyEditError: ``key`` cannot name an entry, or the result is inconsistent.
    """
    check_key(key)
    new = merge_grants(entry_of(policy, key) or Grant(), change)
    if change.ports:
        network = new.network if new.network is not None else policy.defaults.network
        if network != "any":
            raise PolicyEditError(
                f"ports restrict network 'any', but {key!r} has network {network or 'none'!r}",
                hint="grant network 'any' in the same command (--network any)",
            )
    if change.exec and not (
        new.subprocess or (new.subprocess is None and policy.defaults.subprocess)
    ):
        raise PolicyEditError(
            f"programs can only be run with the subprocess grant, which {key!r} lacks",
            hint="grant it in the same command (--subprocess)",
        )
    return with_entry(policy, key, new)


def _remove(policy: Policy, key: str, what: str, remove: Iterable[_T]) -> tuple[_T, ...]:
    def held(entry: Grant) -> tuple[_T, ...]:
        return tuple(getattr(entry, what))

    current = entry_of(policy, key) or Grant()
    out = list(held(current))
    for item in remove:
        if item not in out:
            via = [k for k, g in policy.extensions.items() if k != key and item in held(g)]
            if key != DEFAULTS_KEY and item in held(policy.defaults):
                via.insert(0, DEFAULTS_KEY)
            hint = (
                f"it is granted through {', '.join(repr(v) for v in via)}: revoke it there"
                if via
                else f"its {what} grants: {', '.join(str(i) for i in held(current)) or 'none'}"
            )
            raise PolicyEditError(f"{key!r} has no {what} grant {item!r}", hint=hint)
        out.remove(item)
    return tuple(out)


def revoke(policy: Policy, key: str, change: Revocation) -> Policy:
    """Take ``change`` back from entry ``key``.

    Revoking a path, name or port the entry does not hold is an error (the hint names
    the entry that grants it, when another one does). Revoking ``network`` or
    ``subprocess`` writes an explicit ``none``/``false``, so it also overrides what a
    less specific entry grants.

    Args:
        policy: The current policy.
        key: An extension id, a glob of ids, or ``*`` for the defaults.
        change: What to revoke.

    Returns:
        The new policy.

    Raises:
        PolicyEditError: Nothing to revoke, or the entry does not hold what is revoked.
    """
    check_key(key)
    if change.is_empty():
        raise PolicyEditError("nothing to revoke", hint="name what to revoke, or --all")
    current = entry_of(policy, key)
    if current is None:
        raise PolicyEditError(
            f"the policy has no entry {key!r}",
            hint="`symphony policy show` lists the entries",
        )
    if change.everything:
        return with_entry(policy, key, None)
    limits = LimitGrant() if change.limits else current.limits
    new = Grant(
        read=_remove(policy, key, "read", change.read),
        write=_remove(policy, key, "write", change.write),
        exec=_remove(policy, key, "exec", change.exec),
        network="none" if change.network else current.network,
        ports=_remove(policy, key, "ports", change.ports),
        env=_remove(policy, key, "env", change.env),
        subprocess=False if change.subprocess else current.subprocess,
        limits=limits,
        run_as_uid=None if change.run_as else current.run_as_uid,
        run_as_gid=None if change.run_as else current.run_as_gid,
    )
    if not new.subprocess and new.exec and change.subprocess:
        new = msgspec.structs.replace(new, exec=())
    if new.network != "any" and new.ports and change.network:
        new = msgspec.structs.replace(new, ports=())
    return with_entry(policy, key, new)


def _weakenings(names: Iterable[str]) -> list[str]:
    known = {w.value for w in Weakening}
    out: list[str] = []
    for name in names:
        if name not in known:
            raise PolicyEditError(
                f"unknown weaker sandbox {name!r}", hint=f"known: {', '.join(sorted(known))}"
            )
        out.append(name)
    return out


def accept_weaker(policy: Policy, names: Iterable[str]) -> Policy:
    """Return ``policy`` with the named weaker sandboxes accepted.

    Raises:
        PolicyEditError: A name is not a known weakening.
    """
    wanted = _weakenings(names)
    return msgspec.structs.replace(
        policy, accept_weaker=tuple(sorted(set(policy.accept_weaker) | set(wanted)))
    )


def refuse_weaker(policy: Policy, names: Iterable[str]) -> Policy:
    """Return ``policy`` with the named weaker sandboxes no longer accepted.

    Raises:
        PolicyEditError: A name is not a known weakening.
    """
    unwanted = set(_weakenings(names))
    return msgspec.structs.replace(
        policy, accept_weaker=tuple(n for n in policy.accept_weaker if n not in unwanted)
    )
