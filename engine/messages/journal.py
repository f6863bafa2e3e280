"""How an actor writes ahead: a record made durable before the actor acts on it (DESIGN §7).

The sender sends :class:`WriteAhead` to the journal actor (``journal``) and acts only when
:class:`Written` comes back for its ``key``: the order router records an order before sending
it, and a fill before publishing it to the ledger; the control API records a command before
acknowledging it. The journal groups records into transactions with a bound on the delay, and
answers each once its transaction has committed (``ok``) or failed (``ok=False`` with the
error: the sender must not act as if it were recorded).

These are the journal's private protocol (not in the catalogue): ``record`` is any catalogue
message.
"""

from __future__ import annotations

from typing import Any

import msgspec

JOURNAL = "journal"
"""The journal actor's name."""


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
