"""How an actor writes ahead: a record made durable before the actor acts on it (DESIGN §7).

The sender sends :class:`WriteAhead` to the journal actor (``journal``) and acts only when
:class:`Written` comes back for its ``key``: the order router records an order before sending
it, and a fill before publishing it to the ledger; the control API records a command before
acknowledging it. The journal groups records into transactions with a bound on the delay, and
answers each once its transaction has committed (``ok``) or failed (``ok=False`` with the
error: the sender must not act as if it were recorded).

These two are the journal's private protocol (not in the catalogue): ``record`` is any
catalogue message.

:class:`JournalHealthChanged` is public (in the catalogue): the journal actor publishes it on
:data:`TOPIC_JOURNAL` and on ``alerts`` when the journal becomes unable to write and again when
it writes again, and on :data:`TOPIC_JOURNAL` once as it starts (the health as it stands).
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.messages.base import Event

JOURNAL = "journal"
"""The journal actor's name."""
TOPIC_JOURNAL = "journal"
"""Where the journal actor publishes :class:`JournalHealthChanged`."""


class WriteAhead(msgspec.Struct, frozen=True):
    key: str
    """Returned in :class:`Written`: the client order id, the fill's trade id, a command id."""
    record: Any
    """The message to record (a catalogue message)."""
    reply_to: str
    """The actor to answer."""


class Written(msgspec.Struct, frozen=True):
    key: str
    ok: bool = True
    error: str = ""


class JournalHealthChanged(Event, frozen=True, kw_only=True):
    """The journal became unable to write (``ok=False``: a transaction failed with a database
    fault, or a record has waited longer than ``[journal] stall_after_s``), or writes again
    (``ok=True``). What is appended meanwhile is kept, in order, and written once it can.

    ``ts_event`` is the runtime's clock when the journal actor noticed; ``since_ns`` is the
    writer's wall clock (ns since the epoch, UTC).
    """

    ok: bool
    reason: str
    """Why it cannot write (the database's error, or how long a record has waited); when
    ``ok``, ``""`` (or, after a stall too short to be seen while it lasted, what it was)."""
    unwritten: int
    """Records appended and not yet committed."""
    since_ns: int
    """When the present condition began: the stall's start, or when it wrote again."""
