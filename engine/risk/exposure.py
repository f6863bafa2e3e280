"""What the account holds and has working, as the risk supervisor follows it.

Positions come from the ledger (``PositionChanged``), working orders from what the supervisor
itself sent and the router's order events. From them: the net position per instrument, the
open trades, the risk to the stops (portfolio heat), the value of the working entries, and
each closed trade's P&L (for the losing streak). Plain bookkeeping, no clock, no I/O.

The ledger reports a fill after the router published it, so for a moment the supervisor has
seen a fill its positions do not hold yet (an entry filled at a bar's open, an exit signal at
the same bar's close). Such fills are kept as unconfirmed until the ledger's change that
holds them (its quantity moved by the fill's units) arrives; :meth:`Exposure.exit_units`
counts them, and the working entries that may fill, so that an exit is never refused or cut
short for a fill the ledger has not reported yet (the router closes no more than it holds).

A ledger publishes positions either per strategy or for the account (``strategy=None``); the
net position of an instrument is the sum over what was published for it, so a ledger must not
publish both for one instrument.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

from engine.messages.trading import OrderSide, PositionChanged
from engine.risk.limits import decimal_of

_ZERO = Decimal(0)
_TRADES_KEPT = 10_000  # trade ids remembered: a fill arrives on both ``orders`` and ``fills``


@dataclass(slots=True)
class WorkingOrder:
    """An order the supervisor sent that has not finished."""

    client_order_id: str
    instrument: str
    side: OrderSide
    remaining: int
    """Units not filled yet."""
    price: Decimal
    """What a unit was valued at when it was sent (limit price, else the last price)."""
    stop: Decimal | None
    is_exit: bool
    strategy: str = ""
    trade_ids: set[str] = field(default_factory=set)
    """Fills already counted (a fill may arrive on both ``orders`` and ``fills``)."""

    @property
    def signed_remaining(self) -> int:
        return self.remaining if self.side is OrderSide.BUY else -self.remaining


@dataclass(slots=True)
class _Held:
    quantity: int = 0
    avg_price: Decimal = _ZERO
    realized_at_open: Decimal = _ZERO
    realized: Decimal = _ZERO


class Exposure:
    """Positions, stops and working orders, per instrument."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str | None], _Held] = {}
        self.stops: dict[str, Decimal] = {}
        """The protective stop of each instrument's latest entry, for its risk."""
        self.working: dict[str, WorkingOrder] = {}
        self._unconfirmed: dict[str, list[int]] = {}
        """Instrument → signed units of the fills seen that the ledger has not reported, oldest
        first."""
        self._trades_seen: OrderedDict[str, None] = OrderedDict()

    # -- positions --------------------------------------------------------------------------

    def apply_position(self, change: PositionChanged) -> Decimal | None:
        """Take the ledger's position; return the P&L of the trade it closed (realised, after
        fees, since the position was opened), or ``None`` if it closed none. A position that
        flips from long to short closes one trade and opens another."""
        key = (change.instrument, change.strategy)
        held = self._held.setdefault(key, _Held())
        before, after = held.quantity, change.quantity
        self._confirm(change.instrument, after - before)
        closed: Decimal | None = None
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            closed = change.realized_pnl - held.realized_at_open
        if after != 0 and (before == 0 or closed is not None):
            held.realized_at_open = change.realized_pnl
        held.quantity, held.avg_price, held.realized = after, change.avg_price, change.realized_pnl
        if after == 0:
            del self._held[key]
            if self.position(change.instrument) == 0:
                # Nothing is left for its exits to close: the router never sends one beyond
                # the position (an exit cut short by a stop that filled first would
                # otherwise count as working for good).
                for cid in [
                    c
                    for c, o in self.working.items()
                    if o.instrument == change.instrument and o.is_exit
                ]:
                    del self.working[cid]
                if not self._has_working_entry(change.instrument):
                    self.stops.pop(change.instrument, None)
        return closed

    def position(self, instrument: str) -> int:
        """Signed units held (> 0 long)."""
        return sum(h.quantity for (i, _), h in self._held.items() if i == instrument)

    def average_price(self, instrument: str) -> Decimal:
        """Average entry price of the open units (0 when flat)."""
        held = [h for (i, _), h in self._held.items() if i == instrument]
        units = sum(abs(h.quantity) for h in held)
        if not units:
            return _ZERO
        return sum((h.avg_price * abs(h.quantity) for h in held), _ZERO) / units

    def positions(self) -> dict[str, int]:
        """Every instrument with a non-zero net position."""
        net: dict[str, int] = {}
        for (instrument, _), held in self._held.items():
            net[instrument] = net.get(instrument, 0) + held.quantity
        return {i: q for i, q in sorted(net.items()) if q}

    def fill_seen(self, instrument: str, trade_id: str, signed_quantity: int) -> None:
        """A fill published by the router (> 0 bought): unconfirmed until the ledger reports
        it (once per trade id)."""
        if trade_id in self._trades_seen:
            return
        self._trades_seen[trade_id] = None
        if len(self._trades_seen) > _TRADES_KEPT:
            self._trades_seen.popitem(last=False)
        self._unconfirmed.setdefault(instrument, []).append(signed_quantity)

    def _confirm(self, instrument: str, delta: int) -> None:
        """The ledger's position moved by ``delta``: the fill that moved it is confirmed (and
        any older one it passed over, which the ledger refused). A change that matches no
        fill (the ledger's announcement at its start) confirms none."""
        pending = self._unconfirmed.get(instrument)
        if not pending or not delta or delta not in pending:
            return
        del pending[: pending.index(delta) + 1]
        if not pending:
            del self._unconfirmed[instrument]

    def position_seen(self, instrument: str) -> int:
        """Signed units held with the fills the ledger has not reported yet."""
        return self.position(instrument) + sum(self._unconfirmed.get(instrument, ()))

    def instruments_seen(self) -> set[str]:
        """Instruments with a position, or fills not yet reported by the ledger."""
        return set(self.positions()) | {i for i, p in self._unconfirmed.items() if p}

    def exit_units(self, instrument: str, side: OrderSide) -> int:
        """At most how many units an exit on ``side`` may find to close: the position on the
        other side with the fills the ledger has not reported yet, and the working entries
        that would add to it. An upper bound: the router sends no more than it holds."""
        signed = self.position_seen(instrument)
        held = signed if side is OrderSide.SELL else -signed
        opening = sum(
            o.remaining
            for o in self.working.values()
            if o.instrument == instrument and not o.is_exit and o.side is not side
        )
        return max(held, 0) + opening

    # -- working orders ---------------------------------------------------------------------

    def add_working(self, order: WorkingOrder) -> None:
        self.working[order.client_order_id] = order

    def fill(self, client_order_id: str, trade_id: str, quantity: int) -> None:
        """Count a fill of a working order (once per trade id)."""
        order = self.working.get(client_order_id)
        if order is None or trade_id in order.trade_ids:
            return
        order.trade_ids.add(trade_id)
        order.remaining -= quantity
        if order.remaining <= 0:
            del self.working[client_order_id]

    def finish(self, client_order_id: str) -> WorkingOrder | None:
        """The order stopped working (canceled, expired, rejected); return it if known."""
        return self.working.pop(client_order_id, None)

    def forget_working(self, instrument: str | None = None, strategy: str | None = None) -> None:
        """Drop the working orders (of ``instrument``, of ``strategy``) after a cancel-all
        was sent for them."""
        for cid in [
            c
            for c, o in self.working.items()
            if instrument in (None, o.instrument) and strategy in (None, o.strategy)
        ]:
            del self.working[cid]

    def _has_working_entry(self, instrument: str) -> bool:
        return any(o.instrument == instrument and not o.is_exit for o in self.working.values())

    def working_entry_quantity(self, instrument: str) -> int:
        """Signed units of the instrument's working entries."""
        return sum(
            o.signed_remaining
            for o in self.working.values()
            if o.instrument == instrument and not o.is_exit
        )

    def working_exit_quantity(self, instrument: str) -> int:
        """Units of the instrument's working exits."""
        return sum(
            o.remaining for o in self.working.values() if o.instrument == instrument and o.is_exit
        )

    def working_notional(self) -> Decimal:
        """Value of every working entry."""
        return sum((o.price * o.remaining for o in self.working.values() if not o.is_exit), _ZERO)

    def working_instruments(self) -> set[str]:
        return {o.instrument for o in self.working.values()}

    # -- aggregates -------------------------------------------------------------------------

    def open_instruments(self) -> set[str]:
        """Instruments counted as open trades: a position or a working entry."""
        held = set(self.positions())
        return held | {o.instrument for o in self.working.values() if not o.is_exit}

    def open_risk(self, default_stop_pct: float) -> Decimal:
        """Risk to their stops of every position and working entry. A position whose stop is
        unknown (a manual entry, an entry from before a restart) counts ``default_stop_pct``
        of its value, or all of it when that is 0."""
        total = _ZERO
        for instrument, quantity in self.positions().items():
            price = self.average_price(instrument)
            stop = self.stops.get(instrument)
            if stop is not None:
                total += abs(price - stop) * abs(quantity)
            elif default_stop_pct > 0:
                total += price * abs(quantity) * decimal_of(default_stop_pct) / 100
            else:
                total += price * abs(quantity)
        for order in self.working.values():
            if order.is_exit:
                continue
            if order.stop is None:
                total += order.price * order.remaining
            else:
                total += abs(order.price - order.stop) * order.remaining
        return total
