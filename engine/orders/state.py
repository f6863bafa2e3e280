"""The order state machine: which event moves an order from which status to which.

An order is born ``NEW`` (recorded, not yet sent), becomes ``SUBMITTED`` when the router sends
it, ``ACCEPTED`` when the venue acknowledges it, ``PARTIALLY_FILLED`` / ``FILLED`` with its
executions, and ends ``FILLED``, ``CANCELED``, ``REJECTED`` or ``EXPIRED``. The whole table:

=================  ==========  =========  =========  =========  ========  ========  ========
status \\ event     submit      accept     fill       fill (1)   cancel    expire    reject
=================  ==========  =========  =========  =========  ========  ========  ========
NEW                SUBMITTED   --         --         --         CANCELED  --        REJECTED
SUBMITTED          SUBMITTED   ACCEPTED   PARTIALLY  FILLED     CANCELED  EXPIRED   REJECTED
ACCEPTED           --          --         PARTIALLY  FILLED     CANCELED  EXPIRED   --
PARTIALLY_FILLED   --          --         PARTIALLY  FILLED     CANCELED  EXPIRED   --
FILLED             --          --         FILLED     FILLED     --        --        --
CANCELED           --          --         CANCELED   CANCELED   --        --        --
EXPIRED            --          --         EXPIRED    EXPIRED    --        --        --
REJECTED           --          --         --         --         --        --        --
=================  ==========  =========  =========  =========  ========  ========  ========

(1) a fill that completes the order's quantity. ``--``: refused; the event changes nothing and
the caller counts and logs it.

Why these cells:

* ``NEW`` + submit is the router sending; ``SUBMITTED`` + submit is a re-send with the same id
  after the venue said it does not know the order. ``NEW`` + cancel and ``NEW`` + reject are
  the router's own decisions about an order it never sent (cancelled before sending; the
  journal could not record it).
* A fill may come before the acknowledgement (venues do not order their messages), so
  ``SUBMITTED`` + fill is allowed.
* An accept after the order is already working, a reject of a working order, a cancel or
  expiry after the end: late or duplicated venue messages, refused.
* A fill with a new execution id after ``CANCELED``, ``EXPIRED`` or ``FILLED`` is refused as a
  *status change* but kept as an execution (the order's status stays): the venue executed it
  before the cancel took effect, or before a smaller quantity did, and the money moved.
  A fill of a ``NEW`` order (never sent) or a ``REJECTED`` one (the venue said it does not
  exist) contradicts what the venue told us and is refused outright.

A fill repeated with the same execution id never reaches this table: the order drops it first
(:class:`engine.orders.order.TrackedOrder`).
"""

from __future__ import annotations

import enum

from engine.messages.trading import OrderStatus

__all__ = [
    "LIVE",
    "TERMINAL",
    "WORKING",
    "OrderEventKind",
    "fill_kept",
    "next_status",
]


class OrderEventKind(enum.Enum):
    """What happened to an order, as far as its status is concerned."""

    SUBMIT = "submit"
    ACCEPT = "accept"
    FILL = "fill"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REJECT = "reject"


S = OrderStatus
E = OrderEventKind

TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
"""No further status change (a late execution may still be counted: see the module doc)."""
WORKING = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED})
"""Sent and not ended: the venue may have it and may fill it."""
LIVE = WORKING | {S.NEW}
"""Not ended: recorded or sent."""

_FILLABLE = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED})
_LATE_FILL_KEPT = frozenset({S.FILLED, S.CANCELED, S.EXPIRED})

_TABLE: dict[tuple[OrderStatus, OrderEventKind], OrderStatus] = {
    (S.NEW, E.SUBMIT): S.SUBMITTED,
    (S.NEW, E.CANCEL): S.CANCELED,
    (S.NEW, E.REJECT): S.REJECTED,
    (S.SUBMITTED, E.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, E.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, E.CANCEL): S.CANCELED,
    (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.ACCEPTED, E.CANCEL): S.CANCELED,
    (S.ACCEPTED, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
}


def next_status(
    status: OrderStatus, event: OrderEventKind, *, completes: bool = False
) -> OrderStatus | None:
    """The status after ``event``, or ``None`` when the table refuses it.

    ``completes`` matters for a fill only: whether the order's filled quantity reaches its
    quantity with it. A kept late fill (see :func:`fill_kept`) returns ``None`` here: it
    changes no status.
    """
    if event is E.FILL:
        if status in _FILLABLE:
            return S.FILLED if completes else S.PARTIALLY_FILLED
        return None
    return _TABLE.get((status, event))


def fill_kept(status: OrderStatus) -> bool:
    """Whether a fill with a new execution id counts in this status: always while the order
    is working, and after it ended other than by rejection (the module doc says why)."""
    return status in _FILLABLE or status in _LATE_FILL_KEPT
