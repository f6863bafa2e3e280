"""What the journal records besides catalogue messages, and how it runs.

Every catalogue message can be recorded (:mod:`engine.journal.rows` says where each kind
goes). These three records are the journal's own, for what is not a message:

* :class:`CommandRecord`: a command from the API, recorded before it is acknowledged
  (DESIGN §7), and :class:`CommandOutcome`, what became of it;
* :class:`AuditRecord`: a free-form note worth keeping (a kill switch pressed, a config
  reloaded, a reconciliation's findings).

They are plain structs, not catalogue messages: the web API never receives them.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class CommandRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A command as received. Recording the same ``command_id`` twice keeps the first."""

    command_id: str
    """Unique per command (the API's request id); the key an outcome is recorded against."""
    kind: str
    """What was asked, for example ``"flatten"``, ``"submit_order"``, ``"cancel_order"``."""
    who: str
    """Who asked: the API token's name, ``"dashboard"``, ``"cli"``."""
    body: Any = None
    """The command's body, anything ``msgspec.json`` encodes; a catalogue message keeps its
    ``"type"`` tag, so it decodes back with :func:`engine.messages.catalogue.decode`."""
    ts_event: int
    """When it was received, ns since the epoch, UTC."""


class CommandOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a recorded command (an outcome for an unknown id changes nothing)."""

    command_id: str
    outcome: str
    """``"accepted"``, ``"refused: <why>"``, ``"done"``, in the API's words."""
    ts_event: int


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A free-form entry for the audit trail."""

    kind: str
    message: str
    detail: dict[str, Any] = msgspec.field(default_factory=dict)
    """Anything ``msgspec.json`` encodes (Decimals become strings)."""
    ts_event: int


JournalRecord = CommandRecord | CommandOutcome | AuditRecord
"""The journal's own records (a catalogue message is the other thing it takes)."""


class JournalMode(enum.Enum):
    """How the journal actor answers a ``WriteAhead``: the trade-off between durability,
    determinism and speed. The service picks it from the runtime.

    ==============  =========================================  ==============================
    mode            ``Written`` is sent                        for
    ==============  =========================================  ==============================
    ``DURABLE``     from the writer's thread once the record's  the threaded runtime (live,
                    transaction committed; the actor goes on    paper): durable and fast;
                    with other messages meanwhile               needs a thread-safe ``send``
    ``SYNCHRONOUS`` by the handler, which waits for the commit  the simulated runtime when
                                                                durability matters (tests):
                                                                deterministic and durable,
                                                                but every write-ahead holds
                                                                the simulation for a commit
    ``DEFERRED``    at once; the record is queued (lazily:      backtests: deterministic and
                    grouped into large transactions) and        fast. A backtest needs no
                    committed later; a failure is logged and    crash durability: rerunning
                    counted, not answered (only a record the    it gives the same record
                    journal refuses outright is answered        again. Call the writer's
                    ``ok=False``)                               ``close()`` (or ``flush()``)
                                                                at the end
    ==============  =========================================  ==============================
    """

    DURABLE = "durable"
    SYNCHRONOUS = "synchronous"
    DEFERRED = "deferred"
