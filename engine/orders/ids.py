"""Deterministic client order ids (DESIGN §5): the same decisions give the same ids.

A restart or a replay therefore produces the ids it produced before, and a duplicate
submission is recognisable by its id alone (the router answers it from the order it already
has; the venue refuses a second order with an id it knows).

* An entry (or a plain order) takes the id of its trade: :func:`entry_order_id` of the
  intent's correlation id, which is already unique per signal
  (``<strategy>:<instrument>:<decision ns>:<sequence>``).
* The exits of a bracket take the entry's id and a suffix naming their role
  (:func:`exit_order_id`): ``<entry>:stop``, ``<entry>:trail``, ``<entry>:target``,
  ``<entry>:target2`` ..., ``<entry>:time`` (the time stop's close), ``<entry>:flat`` (closing
  a position whose protective stop was lost). When a role needs a further order (a target's
  shortfall after more of the entry filled, a stop again after a late entry fill), the n-th
  order of the role adds ``.n``: ``<entry>:stop.2``.

A real broker adapter that limits the length of a client tag maps these ids to its own; the
engine only ever sees these.
"""

from __future__ import annotations

import enum
import re

__all__ = ["ExitRole", "entry_order_id", "exit_of", "exit_order_id", "parse_exit_id", "target_role"]


class ExitRole(enum.Enum):
    """The suffix of an exit order's id."""

    STOP = "stop"
    """The protective stop at ``ExitPlan.stop`` (stop-market)."""
    TRAIL = "trail"
    """The protective stop when it trails the best price (stop-market, moved by the router)."""
    TARGET = "target"
    """Take profit (limit); the second partial target is ``target2``, and so on."""
    TIME = "time"
    """The market order that closes the position when the time stop is reached."""
    FLAT = "flat"
    """The market order that closes a position whose protective stop was lost."""


def entry_order_id(correlation_id: str) -> str:
    """The client order id of the entry of the trade ``correlation_id`` names.

    Raises ``ValueError`` for an empty id (an order without a traceable origin).
    """
    if not correlation_id:
        raise ValueError("an order id needs a correlation id, got an empty one")
    return correlation_id


def target_role(index: int) -> str:
    """The suffix of the ``index``-th target (1-based): ``target``, ``target2``, ..."""
    if index < 1:
        raise ValueError(f"target index must be >= 1, got {index}")
    return ExitRole.TARGET.value if index == 1 else f"{ExitRole.TARGET.value}{index}"


def exit_order_id(entry_id: str, role: str, nth: int = 1) -> str:
    """The id of the ``nth`` order (1-based) of exit ``role`` of the bracket ``entry_id``."""
    if nth < 1:
        raise ValueError(f"nth must be >= 1, got {nth}")
    base = f"{entry_id}:{role}"
    return base if nth == 1 else f"{base}.{nth}"


_EXIT_ID = re.compile(
    r"^(?P<entry>.+):(?P<role>stop|trail|target(?:[1-9][0-9]*)?|time|flat)"
    r"(?:\.(?P<nth>[1-9][0-9]*))?$"
)


def exit_of(entry_id: str, client_order_id: str) -> bool:
    """Whether ``client_order_id`` is an exit order id of the bracket ``entry_id``."""
    parsed = parse_exit_id(client_order_id)
    return parsed is not None and parsed[0] == entry_id


def parse_exit_id(client_order_id: str) -> tuple[str, str, int] | None:
    """``(entry_id, role, nth)`` when ``client_order_id`` reads as :func:`exit_order_id`'s,
    else ``None``. Only the shape is checked: whether ``entry_id`` names a bracket is the
    caller's to know (a plain order's id may end in ``:stop`` too).

    >>> parse_exit_id("sma:NSE:INFY:1000:1:entry:stop.2")
    ('sma:NSE:INFY:1000:1:entry', 'stop', 2)
    """
    found = _EXIT_ID.match(client_order_id)
    if found is None:
        return None
    nth = found.group("nth")
    return found.group("entry"), found.group("role"), 1 if nth is None else int(nth)
