"""What the order router keeps across its incarnations.

A router that crashes is restarted by its supervisor and the message it crashed on is
delivered again. Its orders must not be forgotten meanwhile: working exits would go
unmanaged, a known order could be sent twice. So the router's state lives in a
:class:`RouterMemory` made once, outside the actor's factory
(:func:`actors.order_router.order_router_spec` does this), and each incarnation picks it up and
sets its timers again from the due times kept here. A handler that crashed halfway leaves
state that the redelivered message finds: every step is idempotent (a known client order id
is not sent again, a known trade id is not counted again).

Owned by one router incarnation at a time; not thread-safe.
"""

from __future__ import annotations

import collections
import dataclasses
import random

from actors.order_router_outbox import Outbox
from engine.messages.trading import CancelOrder, ModifyOrder, OrderFilled
from engine.orders.bracket import Bracket
from engine.orders.closing import ClosePosition
from engine.orders.config import RouterConfig
from engine.orders.order import TrackedOrder

__all__ = ["Counts", "FillRetry", "PendingClose", "PendingWrite", "RouterMemory", "Trouble"]

PendingWrite = str | OrderFilled
"""An order's client order id (sent once recorded), or a fill (published once recorded)."""


@dataclasses.dataclass
class Trouble:
    """An order some request of which may not have reached the venue."""

    attempt: int = 0
    """Transport errors in a row (sets the back-off)."""
    operations: set[str] = dataclasses.field(default_factory=set)
    """What may not have arrived: ``submit``, ``cancel``, ``modify``, ``query``."""
    resends: int = 0
    due_ns: int | None = None
    """When the venue is to be asked about the order; ``None`` while nothing is scheduled
    (a query in flight, or the order sent again)."""


@dataclasses.dataclass
class PendingClose:
    """A :class:`~engine.orders.closing.ClosePosition` waiting for the instrument's orders it
    canceled to end before its own go out."""

    command: ClosePosition
    waiting: set[str]
    """Client order ids of the orders that were live when it arrived, not yet ended."""

    @property
    def instrument(self) -> str:
        return self.command.orders[0].instrument


@dataclasses.dataclass
class FillRetry:
    """A fill the journal failed to record."""

    fill: OrderFilled
    attempt: int
    """Failures so far (sets the back-off)."""
    due_ns: int | None
    """When it is to be written again; ``None`` while a write is in flight."""


@dataclasses.dataclass
class Counts:
    refused_events: int = 0
    duplicate_fills: int = 0
    duplicate_submits: int = 0
    unknown_events: int = 0
    transport_errors: int = 0
    resends: int = 0
    journal_failures: int = 0


class RouterMemory:
    """The router's book: orders, brackets, the queue, what awaits the journal or the venue."""

    def __init__(self, config: RouterConfig | None = None) -> None:
        config = config or RouterConfig()
        self.orders: dict[str, TrackedOrder] = {}
        """Every order by client order id, oldest first (add with :meth:`track`)."""
        self._open: dict[str, dict[str, None]] = {}
        """Instrument -> ids (an ordered set) of its orders that may still be live: every
        order ever would be walked on each close of a long backtest otherwise. Ended orders
        are dropped as they are found (an order never comes back to life)."""
        self.brackets: dict[str, Bracket] = {}
        """Every bracket by entry id, oldest first."""
        self.outbox = Outbox(config.rate_limit)
        self.pending: dict[str, collections.deque[PendingWrite]] = {}
        """Records sent to the journal and not yet answered, by key."""
        self.order_write_retries: dict[str, int] = {}
        """Exits the journal failed to record, by client order id: the attempts so far (they
        are held, not sent, until recorded)."""
        self.fill_retries: dict[str, FillRetry] = {}
        """Fills the journal failed to record, by trade id, waiting to be written again."""
        self.trouble: dict[str, Trouble] = {}
        """Orders awaiting a status query after a transport error."""
        self.last_cancel: dict[str, CancelOrder] = {}
        """The cancel last asked of each order (sent again if its fate was unknown)."""
        self.last_modify: dict[str, ModifyOrder] = {}
        self.closing: list[PendingClose] = []
        """Positions to close once their instrument's orders have ended, oldest first (each
        ``ClosePosition`` is journaled as it arrives: a restart takes back those not sent)."""
        self.closes_to_resume: list[PendingClose] = []
        """Closes taken back after a restart whose cancels go again once the venue has
        answered about every restored order."""
        self.cancel_when_sent: dict[str, str] = {}
        """Protective stops to cancel (with the reason) as soon as they are sent: a close
        arrived while their record was on its way to the journal."""
        self.active: dict[str, dict[str, None]] = {}
        """Instrument -> entry ids (an ordered set, oldest first) of its brackets not done:
        the ones whose exits are capped at the position (:meth:`Bracket.held_cap`)."""
        self.finished: set[str] = set()
        """Entry ids of brackets that are done (kept: a late fill can wake one up)."""
        self.trailing: dict[str, dict[str, None]] = {}
        """Instrument → entry ids (an ordered set) of brackets with a trailing stop: the
        prices to follow."""
        self.counts = Counts()
        self.connected = False
        """The client was given its relay (once: the relay addresses the router by name)."""
        self.rng = random.Random(config.seed)
        """Draws the retry jitter."""
        self.positions: dict[str, int] = {}
        """Signed units per instrument: the journal's fills at the restart (what the ledger
        replays) and every fill counted since (what the ledger is published). Flat ones are
        dropped."""
        # -- after a process restart (actors.order_router_recovery) --
        self.restored = False
        """The journal's book was taken back (once per process, by the first incarnation)."""
        self.reconciled = False
        """The book was compared with the venue's; until then new entries are refused."""
        self.restoring: dict[str, None] = {}
        """Restored orders (ordered set) the venue has not answered about yet."""
        self.asked = False
        """The venue was asked about the restored orders (an incarnation that crashed before
        asking leaves it to the next)."""
        self.restored_orders = 0
        self.restored_brackets = 0
        self.reconcile_attempts = 0
        """Failed attempts to read the venue's book (sets the back-off)."""
        self.reconcile_due_ns: int | None = None
        """When reading the venue's book is to be tried again, after a failure."""

    def track(self, tracked: TrackedOrder) -> None:
        """Keep ``tracked`` (a new order, or one taken back after a restart)."""
        self.orders[tracked.client_order_id] = tracked
        if tracked.live:
            instrument = tracked.order.instrument
            self._open.setdefault(instrument, {})[tracked.client_order_id] = None

    def live_orders(self, instrument: str | None) -> list[TrackedOrder]:
        """The live orders (of ``instrument``, or of all: the kill switch's rare walk over
        every order), oldest first."""
        if instrument is None:
            return [order for order in self.orders.values() if order.live]
        ids = self._open.get(instrument)
        if not ids:
            return []
        found: list[TrackedOrder] = []
        for client_order_id in list(ids):
            order = self.orders[client_order_id]
            if order.live:
                found.append(order)
            else:
                del ids[client_order_id]
        return found
