"""The book: an account's positions, cash, fees and P&L, netted from its fills. Pure code.

Scenario → outcome:

=========================================  ===================================================
scenario                                   outcome
=========================================  ===================================================
a fill (:meth:`Book.apply`)                netted into the account's position in the
                                           instrument (:mod:`engine.ledger.position`) and,
                                           with ``per_strategy``, into the fill's strategy's;
                                           cash falls by what a buy costs and rises by what a
                                           sell brings, less the fee either way; the
                                           instrument is marked at the fill price (unless a
                                           newer mark is known); an equity point is recorded
a fill whose (instrument, trade id) the    ignored (``DUPLICATE``); one whose side, quantity,
book has netted                            price, fee or order differ is ignored too and told
                                           apart (``CONFLICTING_DUPLICATE``) so it can be
                                           raised as an alarm
a fill the book cannot take (another       ``ValueError`` naming the fill and the bad value;
currency, quantity not > 0, a price not    :meth:`Book.problem` says the same without raising
> 0, a fee not a finite Decimal)           and nothing changes
a mark (:meth:`Book.mark`)                 the instrument's last price, unless a newer mark is
                                           already known; no equity point by itself
:meth:`Book.record`                        an equity point at the current marks
:meth:`Book.new_day`                       today's realised P&L and fees go to 0 (account and
                                           every position); positions, cash and the marks of
                                           held instruments carry over; positions flat at
                                           the change are dropped
=========================================  ===================================================

Account-level netting is the truth; per-strategy positions are attribution. Quantities agree
(the strategies' quantities in an instrument sum to the account's) but the split of P&L between
realised and unrealised need not: one strategy long 10 and another short 10 leave the account
flat, with the spread already realised, while each strategy still holds an open position.

Exactness (:mod:`engine.ledger.money`): cash, fees and market value are exact ``Decimal``;
cost basis, realised and unrealised P&L are exact ``Fraction``\\ s; figures are rounded only
when reported. Duplicate detection keeps one entry per fill netted (a few hundred bytes each),
for the life of the book.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction

from engine.ledger.equity_curve import DEFAULT_CAPACITY, EquityCurve, EquityPoint, EquitySink
from engine.ledger.money import minor_unit_places, round_price, round_to_places
from engine.ledger.position import Position
from engine.ledger.views import AccountFigures, PositionView
from engine.messages.trading import OrderFilled, OrderSide

_ZERO = Fraction(0)


class FillOutcome(enum.Enum):
    """What :meth:`Book.apply` did with a fill."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    """Netted before (same instrument and trade id, same content): ignored."""
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    """Same instrument and trade id as a fill netted before, different content: ignored, but
    someone (the venue or the router) has two stories about one execution."""


_FillContent = tuple[OrderSide, int, Decimal, Decimal, str]


def _content(fill: OrderFilled) -> _FillContent:
    return (fill.side, fill.last_qty, fill.last_price, fill.fee, fill.client_order_id)


def _finite_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


class Book:
    """An account in ``currency`` that starts with ``start_cash`` and no positions.

    ``per_strategy`` also keeps each strategy's positions (attribution). The equity curve keeps
    the last ``curve_capacity`` points and hands each to ``on_equity_point`` as it is made.

    Raises ``ValueError`` naming the value for an unknown ``currency``, a ``start_cash`` that
    is not a finite ``Decimal``, or a ``curve_capacity`` below 1.
    """

    def __init__(
        self,
        start_cash: Decimal,
        currency: str,
        *,
        per_strategy: bool = True,
        curve_capacity: int = DEFAULT_CAPACITY,
        on_equity_point: EquitySink | None = None,
    ) -> None:
        if not _finite_decimal(start_cash):
            raise ValueError(f"start_cash must be a finite Decimal, got {start_cash!r}")
        self.currency = currency
        self.places = minor_unit_places(currency)
        self.start_cash = start_cash
        self.per_strategy = per_strategy
        self.curve = EquityCurve(curve_capacity, on_equity_point)
        self.cash: Decimal = start_cash
        """Exact: start cash - cost of buys + proceeds of sells - fees."""
        self.fees_today = Decimal(0)
        self.fees_total = Decimal(0)
        self.realized_today: Fraction = _ZERO
        """The account's realised P&L before fees since the last :meth:`new_day`. Exact."""
        self.realized_total: Fraction = _ZERO
        self.fills = 0
        """Fills netted (duplicates not counted)."""
        self._positions: dict[str, Position] = {}
        self._by_strategy: dict[str, dict[str, Position]] = {}
        self._held: set[str] = set()
        self._marks: dict[str, Decimal] = {}
        self._mark_ts: dict[str, int] = {}
        self._seen: dict[tuple[str, str], _FillContent] = {}

    # --- fills -------------------------------------------------------------------------------

    def problem(self, fill: OrderFilled) -> str | None:
        """Why the book cannot take ``fill`` (a sentence naming the value), or ``None``."""
        what = f"fill {fill.trade_id!r} of {fill.instrument!r}"
        if fill.currency != self.currency:
            return f"{what} is in {fill.currency!r}; this ledger keeps {self.currency!r}"
        if not fill.instrument:
            return f"{what} names no instrument"
        side: object = fill.side  # struct construction does not check types
        if not isinstance(side, OrderSide):
            return f"{what} has side {side!r}; expected BUY or SELL"
        qty = fill.last_qty
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            return f"{what} has last_qty {qty!r}; expected an int > 0"
        if not _finite_decimal(fill.last_price) or fill.last_price <= 0:
            return f"{what} has last_price {fill.last_price!r}; expected a Decimal > 0"
        if not _finite_decimal(fill.fee):
            return f"{what} has fee {fill.fee!r}; expected a finite Decimal"
        return None

    def apply(self, fill: OrderFilled, *, record: bool = True) -> FillOutcome:
        """Net ``fill`` into the book (see the module's table) and, if ``record``, add an
        equity point at ``fill.ts_event``.

        Raises ``ValueError`` with :meth:`problem`'s sentence for a fill the book cannot take;
        nothing changes then.
        """
        problem = self.problem(fill)
        if problem is not None:
            raise ValueError(problem)
        key = (fill.instrument, fill.trade_id)
        content = _content(fill)
        seen = self._seen.get(key)
        if seen is not None:
            if seen == content:
                return FillOutcome.DUPLICATE
            return FillOutcome.CONFLICTING_DUPLICATE
        self._seen[key] = content

        instrument = fill.instrument
        signed_qty = fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty
        self.cash += -signed_qty * fill.last_price - fill.fee
        self.fees_today += fill.fee
        self.fees_total += fill.fee
        realized = self._account_position(instrument).apply(signed_qty, fill.last_price, fill.fee)
        self.realized_today += realized
        self.realized_total += realized
        if self.per_strategy:
            self._strategy_position(instrument, fill.strategy).apply(
                signed_qty, fill.last_price, fill.fee
            )
        self._update_held(instrument)
        self.fills += 1
        self.mark(instrument, fill.last_price, fill.ts_event)
        if record:
            self.record(fill.ts_event)
        return FillOutcome.APPLIED

    def _account_position(self, instrument: str) -> Position:
        position = self._positions.get(instrument)
        if position is None:
            position = self._positions[instrument] = Position(instrument)
        return position

    def _strategy_position(self, instrument: str, strategy: str) -> Position:
        positions = self._by_strategy.setdefault(instrument, {})
        position = positions.get(strategy)
        if position is None:
            position = positions[strategy] = Position(instrument, strategy)
        return position

    def _update_held(self, instrument: str) -> None:
        account = self._positions.get(instrument)
        held = (account is not None and account.quantity != 0) or any(
            p.quantity != 0 for p in self._by_strategy.get(instrument, {}).values()
        )
        if held:
            self._held.add(instrument)
        else:
            self._held.discard(instrument)

    # --- marks, the curve and the day --------------------------------------------------------

    def mark(self, instrument: str, price: Decimal, ts_ns: int) -> bool:
        """Take ``price`` as the last price of ``instrument`` at ``ts_ns`` (event time, ns),
        unless a mark newer than ``ts_ns`` is already known; ``True`` if taken.

        Raises ``ValueError`` if ``price`` is not a ``Decimal`` > 0.
        """
        if not _finite_decimal(price) or price <= 0:
            raise ValueError(f"mark of {instrument!r}: price {price!r} must be a Decimal > 0")
        if ts_ns < self._mark_ts.get(instrument, ts_ns):
            return False
        self._marks[instrument] = price
        self._mark_ts[instrument] = ts_ns
        return True

    def record(self, ts_ns: int) -> EquityPoint:
        """Add (and return) an equity point at the current marks, stamped ``ts_ns``.

        An exception from the sink propagates, after the point is kept.
        """
        value = self.positions_value()
        point = EquityPoint(
            ts=ts_ns,
            cash=self._money(self.cash),
            positions_value=self._money(value),
            equity=self._money(self.cash + value),
        )
        self.curve.add(point)
        return point

    def new_day(self) -> None:
        """Start a new trading day: see the module's table."""
        self.realized_today = _ZERO
        self.fees_today = Decimal(0)
        self._positions = {i: p for i, p in self._positions.items() if p.quantity != 0}
        for position in self._positions.values():
            position.new_day()
        for instrument in list(self._by_strategy):
            kept = {s: p for s, p in self._by_strategy[instrument].items() if p.quantity != 0}
            for position in kept.values():
                position.new_day()
            if kept:
                self._by_strategy[instrument] = kept
            else:
                del self._by_strategy[instrument]
        # Marks of instruments no longer held would only grow the book day after day.
        self._marks = {i: m for i, m in self._marks.items() if i in self._held}
        self._mark_ts = {i: t for i, t in self._mark_ts.items() if i in self._held}

    # --- exact figures -----------------------------------------------------------------------

    def held(self) -> frozenset[str]:
        """Instruments with a non-zero position, the account's or any strategy's."""
        return frozenset(self._held)

    def is_held(self, instrument: str) -> bool:
        return instrument in self._held

    def position(self, instrument: str) -> Position | None:
        """The account's position in ``instrument`` (``None`` if none this day)."""
        return self._positions.get(instrument)

    def strategy_position(self, instrument: str, strategy: str) -> Position | None:
        """``strategy``'s attributed position in ``instrument`` (``None`` if none)."""
        return self._by_strategy.get(instrument, {}).get(strategy)

    def open_positions(self) -> list[Position]:
        """Every non-flat position, by instrument: the account's, then its strategies' by
        name."""
        found: list[Position] = []
        for instrument in sorted(self._held):
            account = self._positions.get(instrument)
            if account is not None and account.quantity != 0:
                found.append(account)
            by_name = self._by_strategy.get(instrument, {})
            found.extend(by_name[s] for s in sorted(by_name) if by_name[s].quantity != 0)
        return found

    def mark_of(self, instrument: str) -> Decimal | None:
        """The last price taken for ``instrument``; ``None`` if none."""
        return self._marks.get(instrument)

    def positions_value(self) -> Decimal:
        """Exact market value of the account's open positions at their marks."""
        total = Decimal(0)
        for instrument in self._held:
            position = self._positions.get(instrument)
            if position is not None and position.quantity:
                total += position.market_value(self._mark_or_avg(position))
        return total

    def equity(self) -> Decimal:
        """Exact ``cash + positions_value()``."""
        return self.cash + self.positions_value()

    def unrealized(self) -> Fraction:
        """Exact unrealised P&L of the account's open positions at their marks."""
        total = _ZERO
        for instrument in self._held:
            position = self._positions.get(instrument)
            if position is not None and position.quantity:
                total += position.unrealized(self._mark_or_avg(position))
        return total

    def _mark_or_avg(self, position: Position) -> Decimal:
        mark = self._marks.get(position.instrument)
        if mark is not None:
            return mark
        # Unreachable through apply() (a fill marks its instrument); kept so that a position
        # without a price is valued at cost, never at 0.
        return Decimal(position.avg_price.numerator) / Decimal(position.avg_price.denominator)

    # --- reports -----------------------------------------------------------------------------

    def _money(self, amount: Decimal | Fraction) -> Decimal:
        return round_to_places(amount, self.places)

    def account(self) -> AccountFigures:
        """The account now, rounded (:mod:`engine.ledger.money`)."""
        value = self.positions_value()
        return AccountFigures(
            currency=self.currency,
            cash=self._money(self.cash),
            positions_value=self._money(value),
            equity=self._money(self.cash + value),
            realized_pnl=self._money(self.realized_today - Fraction(self.fees_today)),
            unrealized_pnl=self._money(self.unrealized()),
            fees=self._money(self.fees_today),
            open_positions=sum(
                1
                for i in self._held
                if (p := self._positions.get(i)) is not None and p.quantity != 0
            ),
        )

    def view(self, position: Position) -> PositionView:
        """``position`` (the account's or a strategy's) as reported, at its mark."""
        priced = self._mark_or_avg(position)
        return PositionView(
            instrument=position.instrument,
            strategy=position.strategy,
            quantity=position.quantity,
            avg_price=round_price(position.avg_price, self.places),
            mark_price=self._marks.get(position.instrument),
            market_value=self._money(position.market_value(priced)),
            unrealized_pnl=self._money(position.unrealized(priced)),
            realized_pnl=self._money(position.realized_today_after_fees),
            fees=self._money(position.fees_today),
            currency=self.currency,
        )

    def positions(self) -> list[PositionView]:
        """The account's positions open or filled today, by instrument."""
        return [self.view(p) for _, p in sorted(self._positions.items()) if p.active_today]

    def strategy_positions(self) -> list[PositionView]:
        """Each strategy's attributed positions open or filled today, by (instrument,
        strategy); empty without ``per_strategy``."""
        return [self.view(p) for p in self._iter_strategy_positions() if p.active_today]

    def _iter_strategy_positions(self) -> Iterator[Position]:
        for instrument in sorted(self._by_strategy):
            by_name = self._by_strategy[instrument]
            for strategy in sorted(by_name):
                yield by_name[strategy]
