"""The ledger's book: hand-worked netting cases (long, add, partial close, reverse, cover,
fees), exactness of average cost, duplicates, refusals, marks, day change, attribution, the
equity curve and the rounding rule; and a property test against an independent recomputation
from the fills."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ledger import (
    Book,
    EquityPoint,
    FillOutcome,
    TradingDay,
    minor_unit_places,
    round_price,
    round_to_places,
)
from engine.messages.trading import OrderFilled, OrderSide
from engine.timezones import exchange_date

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
START = D("100000.00")
INSTRUMENT = "NSE:INFY"
_ids = iter(range(10**9))


def fill(
    side: OrderSide,
    qty: int,
    price: str | Decimal,
    fee: str | Decimal = "0",
    *,
    instrument: str = INSTRUMENT,
    strategy: str = "momo",
    trade_id: str | None = None,
    ts: int = 1,
    currency: str = "INR",
) -> OrderFilled:
    return OrderFilled(
        ts_event=ts,
        ts_init=ts,
        client_order_id="O-1",
        venue_order_id="V-1",
        trade_id=trade_id if trade_id is not None else f"T-{next(_ids)}",
        instrument=instrument,
        strategy=strategy,
        side=side,
        last_qty=qty,
        last_price=D(price),
        fee=D(fee),
        currency=currency,
    )


def book(**options: object) -> Book:
    return Book(START, "INR", **options)  # type: ignore[arg-type]


# --- hand-worked netting ---------------------------------------------------------------------


def test_a_buy_opens_a_long_and_pays_price_and_fee() -> None:
    # Arrange
    b = book()

    # Act
    outcome = b.apply(fill(BUY, 10, "100.00", "1.00"))

    # Assert: 100000 - 10 x 100 - 1 = 98999; equity = 98999 + 10 x 100
    assert outcome is FillOutcome.APPLIED
    position = b.position(INSTRUMENT)
    assert position is not None
    assert (position.quantity, position.avg_price) == (10, Fraction(100))
    account = b.account()
    assert account.cash == D("98999.00")
    assert account.positions_value == D("1000.00")
    assert account.equity == D("99999.00")
    assert account.realized_pnl == D("-1.00")  # after fees
    assert account.unrealized_pnl == D("0.00")
    assert account.fees == D("1.00")
    assert account.open_positions == 1


def test_long_add_partial_close_reverse_to_short_and_cover_worked_by_hand() -> None:
    # Arrange
    b = book()
    steps = [
        # (fill, quantity after, average after, realised before fees so far, cash after)
        (fill(BUY, 10, "100.00", "1.00"), 10, D("100"), D("0"), D("98999.00")),
        # add: (10 x 100 + 5 x 103) / 15 = 101; cash - 515 - 0.50
        (fill(BUY, 5, "103.00", "0.50"), 15, D("101"), D("0"), D("98483.50")),
        # partial close: 6 x (105 - 101) = 24; average stays 101; cash + 630 - 0.75
        (fill(SELL, 6, "105.00", "0.75"), 9, D("101"), D("24"), D("99112.75")),
        # reverse: close 9 x (110 - 101) = 81, open 5 short at 110; cash + 1540 - 1.25
        (fill(SELL, 14, "110.00", "1.25"), -5, D("110"), D("105"), D("100651.50")),
        # cover: 5 x (110 - 108) = 10; flat; cash - 540 - 0.50
        (fill(BUY, 5, "108.00", "0.50"), 0, D("0"), D("115"), D("100111.00")),
    ]

    for f, qty, avg, realized, cash in steps:
        # Act
        b.apply(f)

        # Assert
        position = b.position(INSTRUMENT)
        assert position is not None
        assert position.quantity == qty
        assert position.avg_price == Fraction(avg)
        assert b.realized_total == Fraction(realized)
        assert b.cash == cash

    # Fees 1 + 0.50 + 0.75 + 1.25 + 0.50 = 4; realised after fees 115 - 4 = 111, all of it
    # in cash: 100000 + 111.
    account = b.account()
    assert account.fees == D("4.00")
    assert account.realized_pnl == D("111.00")
    assert account.equity == account.cash == D("100111.00")
    assert account.open_positions == 0
    view = b.positions()[0]
    assert (view.quantity, view.avg_price, view.realized_pnl, view.fees) == (
        0,
        D("0.00"),
        D("111.00"),
        D("4.00"),
    )


def test_a_sell_from_flat_opens_a_short_that_is_worth_a_negative_value() -> None:
    # Arrange
    b = book()
    b.apply(fill(SELL, 5, "110.00"))

    # Act
    b.mark(INSTRUMENT, D("111.00"), ts_ns=2)

    # Assert: a short loses 5 x 1 when the price rises; it is worth -555 to the account
    account = b.account()
    assert account.cash == D("100550.00")
    assert account.positions_value == D("-555.00")
    assert account.unrealized_pnl == D("-5.00")
    assert account.equity == D("99995.00")


def test_average_cost_is_exact_where_a_rounded_average_would_drift() -> None:
    # Arrange: 1 at 100.00 and 2 at 100.05 average 100.0333...
    b = book()
    b.apply(fill(BUY, 1, "100.00"))
    b.apply(fill(BUY, 2, "100.05"))
    position = b.position(INSTRUMENT)
    assert position is not None
    assert position.avg_price == Fraction(30010, 300)
    assert b.view(position).avg_price == D("100.03333333")

    # Act: close in two steps at 100.10
    b.apply(fill(SELL, 1, "100.10"))
    first = b.account().realized_pnl
    b.apply(fill(SELL, 2, "100.10"))

    # Assert: 0.0666... reports as 0.07; the whole trip is exactly 300.30 - 300.10 = 0.20
    # (an average rounded to 100.03 would have realised 0.07 + 0.14 = 0.21)
    assert first == D("0.07")
    assert b.realized_total == Fraction("0.20")
    assert b.account().realized_pnl == D("0.20")


def test_marks_value_the_open_position_and_an_older_mark_is_ignored() -> None:
    # Arrange
    b = book()
    b.apply(fill(BUY, 10, "100.00", ts=10))

    # Act
    taken = b.mark(INSTRUMENT, D("102.35"), ts_ns=20)
    stale = b.mark(INSTRUMENT, D("90.00"), ts_ns=15)

    # Assert
    assert (taken, stale) == (True, False)
    assert b.mark_of(INSTRUMENT) == D("102.35")
    account = b.account()
    assert account.unrealized_pnl == D("23.50")
    assert account.positions_value == D("1023.50")
    assert account.equity == D("100023.50")


def test_a_fill_older_than_the_last_mark_does_not_move_the_mark() -> None:
    b = book()
    b.mark(INSTRUMENT, D("105.00"), ts_ns=50)

    b.apply(fill(BUY, 1, "100.00", ts=40))

    assert b.mark_of(INSTRUMENT) == D("105.00")
    assert b.account().unrealized_pnl == D("5.00")


# --- duplicates and refusals -----------------------------------------------------------------


def test_a_duplicate_fill_is_ignored_and_a_conflicting_one_told_apart() -> None:
    # Arrange
    b = book()
    first = fill(BUY, 10, "100.00", "1.00", trade_id="T-7")
    b.apply(first)
    before = b.account()

    # Act
    again = b.apply(first)
    other = b.apply(fill(BUY, 11, "100.00", "1.00", trade_id="T-7"))

    # Assert
    assert (again, other) == (FillOutcome.DUPLICATE, FillOutcome.CONFLICTING_DUPLICATE)
    assert b.account() == before
    assert b.fills == 1


def test_the_same_trade_id_in_another_instrument_is_another_fill() -> None:
    b = book()
    b.apply(fill(BUY, 1, "100.00", trade_id="1"))

    outcome = b.apply(fill(BUY, 1, "50.00", trade_id="1", instrument="NSE:TCS"))

    assert outcome is FillOutcome.APPLIED
    assert b.account().open_positions == 2


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (fill(BUY, 1, "100", currency="USD"), "'USD'; this ledger keeps 'INR'"),
        (fill(BUY, 0, "100"), "last_qty 0"),
        (fill(BUY, 1, "0"), "last_price Decimal('0')"),
        (fill(BUY, 1, "NaN"), "last_price Decimal('NaN')"),
        (fill(BUY, 1, "100", "Infinity"), "fee Decimal('Infinity')"),
    ],
)
def test_a_fill_the_book_cannot_take_is_refused_naming_the_value(
    bad: OrderFilled, words: str
) -> None:
    # Arrange
    b = book()
    before = b.account()

    # Act / Assert
    assert words in (b.problem(bad) or "")
    with pytest.raises(ValueError, match="fill 'T-"):
        b.apply(bad)
    assert b.account() == before
    assert b.fills == 0


def test_the_book_refuses_an_unknown_currency_and_bad_start_cash() -> None:
    with pytest.raises(ValueError, match="unknown currency 'XYZ'"):
        Book(START, "XYZ")
    with pytest.raises(ValueError, match="start_cash"):
        Book(D("NaN"), "INR")


# --- the day ---------------------------------------------------------------------------------


def test_a_new_day_zeroes_todays_pnl_and_fees_and_keeps_positions_and_cash() -> None:
    # Arrange
    b = book()
    b.apply(fill(BUY, 10, "100.00", "1.00"))
    b.apply(fill(SELL, 4, "101.00", "1.00"))
    b.apply(fill(BUY, 2, "50.00", instrument="NSE:TCS"))
    b.apply(fill(SELL, 2, "51.00", instrument="NSE:TCS"))
    cash = b.cash

    # Act
    b.new_day()

    # Assert
    account = b.account()
    assert (account.realized_pnl, account.fees) == (D("0.00"), D("0.00"))
    assert b.cash == cash
    assert [(v.instrument, v.quantity, v.realized_pnl) for v in b.positions()] == [
        (INSTRUMENT, 6, D("0.00"))
    ]
    assert b.realized_total == Fraction(4 + 2)  # the lifetime figure stays

    # ... and the next day counts from zero
    b.apply(fill(SELL, 6, "102.00", "0.50"))
    assert b.account().realized_pnl == D("11.50")  # 6 x 2 - 0.50


def test_trading_day_changes_at_local_midnight() -> None:
    ist = TradingDay("Asia/Kolkata")
    # 2024-01-02 18:29:59 UTC is 23:59:59 IST; the next IST day starts at 18:30 UTC.
    before_midnight = 1_704_220_199_000_000_000
    assert str(ist.of(before_midnight)) == "2024-01-02"
    assert ist.next_start(before_midnight) == before_midnight + 1_000_000_000
    assert str(ist.of(before_midnight + 1_000_000_000)) == "2024-01-03"
    with pytest.raises(ValueError, match="Mars/Olympus"):
        TradingDay("Mars/Olympus")


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(["Asia/Kolkata", "America/New_York", "Europe/London", "UTC"]),
    moments=st.lists(
        st.integers(min_value=-2_000_000_000, max_value=2_000_000_000).map(
            lambda s: s * 1_000_000_000
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_the_remembered_day_agrees_with_the_time_zone_in_any_order(
    zone: str, moments: list[int]
) -> None:
    # One TradingDay asked in any order (the remembered day hit and missed) answers as a
    # fresh conversion, daylight-saving changes and times before 1970 included.
    day = TradingDay(zone)
    for ts in moments:
        assert day.of(ts) == exchange_date(ts, zone)
        start = day.next_start(ts)
        assert exchange_date(start, zone) > exchange_date(ts, zone)
        assert exchange_date(start - 1, zone) == exchange_date(ts, zone)


# --- attribution -----------------------------------------------------------------------------


def test_strategies_are_attributed_their_own_positions_the_account_nets_them() -> None:
    # Arrange
    b = book()

    # Act: one strategy buys 10 at 100, another sells 10 at 101
    b.apply(fill(BUY, 10, "100.00", strategy="long"))
    b.apply(fill(SELL, 10, "101.00", strategy="short"))
    b.mark(INSTRUMENT, D("100.50"), ts_ns=5)

    # Assert: the account is flat with 10 realised; each strategy still holds its side
    account = b.account()
    assert (account.open_positions, account.realized_pnl) == (0, D("10.00"))
    assert b.is_held(INSTRUMENT)
    views = {v.strategy: v for v in b.strategy_positions()}
    assert (views["long"].quantity, views["long"].unrealized_pnl) == (10, D("5.00"))
    assert (views["short"].quantity, views["short"].unrealized_pnl) == (-10, D("5.00"))
    assert views["long"].realized_pnl == views["short"].realized_pnl == D("0.00")


def test_without_per_strategy_there_is_no_attribution() -> None:
    b = book(per_strategy=False)
    b.apply(fill(BUY, 10, "100.00"))
    assert b.strategy_positions() == []
    assert b.strategy_position(INSTRUMENT, "momo") is None


# --- the equity curve ------------------------------------------------------------------------


def test_the_curve_keeps_a_ring_and_hands_every_point_to_the_sink() -> None:
    # Arrange
    sunk: list[EquityPoint] = []
    b = book(curve_capacity=3, on_equity_point=sunk.append)

    # Act
    for n in range(5):
        b.apply(fill(BUY, 1, "100.00", "0.10", ts=n))
    b.mark(INSTRUMENT, D("101.00"), ts_ns=9)
    b.record(9)

    # Assert
    assert [p.ts for p in sunk] == [0, 1, 2, 3, 4, 9]
    assert [p.ts for p in b.curve.tail()] == [3, 4, 9]
    assert [p.ts for p in b.curve.tail(2)] == [4, 9]
    assert b.curve.recorded == 6
    last = sunk[-1]
    assert last == EquityPoint(
        ts=9, cash=D("99499.50"), positions_value=D("505.00"), equity=D("100004.50")
    )


def test_a_fill_replayed_without_recording_adds_no_point() -> None:
    sunk: list[EquityPoint] = []
    b = book(on_equity_point=sunk.append)
    b.apply(fill(BUY, 1, "100.00"), record=False)
    assert sunk == []
    assert len(b.curve) == 0


# --- rounding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "places", "expected"),
    [
        (D("0.125"), 2, "0.12"),  # half to even
        (D("0.135"), 2, "0.14"),
        (D("-0.125"), 2, "-0.12"),
        (Fraction(2, 3), 2, "0.67"),
        (Fraction(-1, 3), 2, "-0.33"),
        (D("12.5"), 0, "12"),
        (D("7"), 2, "7.00"),
        (D("123456789012345678901234567890.005"), 2, "123456789012345678901234567890.00"),
    ],
)
def test_money_rounds_half_to_even_exactly(
    amount: Decimal | Fraction, places: int, expected: str
) -> None:
    rounded = round_to_places(amount, places)
    assert str(rounded) == expected


def test_average_prices_report_their_exact_digits_or_eight_places() -> None:
    assert str(round_price(Fraction("100.025"), 2)) == "100.025"
    assert str(round_price(Fraction(100), 2)) == "100.00"
    assert str(round_price(Fraction(30010, 300), 2)) == "100.03333333"
    assert str(round_price(Fraction(0), 2)) == "0.00"


def test_minor_units_are_known_per_currency() -> None:
    assert (minor_unit_places("INR"), minor_unit_places("USD"), minor_unit_places("JPY")) == (
        2,
        2,
        0,
    )
    with pytest.raises(ValueError, match=r"'XYZ'.*INR"):
        minor_unit_places("XYZ")


# --- property: the book against an independent recomputation ---------------------------------

INSTRUMENTS = ("NSE:A", "NSE:B")
STRATEGIES = ("s1", "s2")


@dataclass
class _Leg:
    """The reference's state of one position, in the words of a trade blotter: a side, a
    size and the average price paid (long) or received (short), in paise as a Fraction."""

    side: int = 0  # +1 long, -1 short, 0 flat
    size: int = 0  # units, >= 0
    avg_paise: Fraction = Fraction(0)
    realized_paise: Fraction = Fraction(0)

    def take(self, buy: bool, qty: int, price_paise: int) -> None:
        direction = 1 if buy else -1
        if self.side in (0, direction):
            # Opening or adding: a weighted average of what is held and what comes in.
            total = self.size + qty
            self.avg_paise = (self.avg_paise * self.size + price_paise * qty) / total
            self.size, self.side = total, direction
            return
        closing = min(qty, self.size)
        if self.side == 1:
            self.realized_paise += closing * (price_paise - self.avg_paise)
        else:
            self.realized_paise += closing * (self.avg_paise - price_paise)
        self.size -= closing
        left = qty - closing
        if self.size == 0:
            self.side, self.avg_paise = 0, Fraction(0)
        if left:
            self.side, self.size, self.avg_paise = direction, left, Fraction(price_paise)

    @property
    def signed(self) -> int:
        return self.side * self.size


def _reference(
    fills: list[tuple[str, str, bool, int, int, int]],
) -> tuple[int, dict[str, _Leg], dict[tuple[str, str], _Leg], int]:
    """Cash (paise), account legs, strategy legs and total fees (paise), from scratch."""
    cash = 10_000_000  # START in paise
    fees = 0
    account: dict[str, _Leg] = defaultdict(_Leg)
    by_strategy: dict[tuple[str, str], _Leg] = defaultdict(_Leg)
    for instrument, strategy, buy, qty, price_paise, fee_paise in fills:
        cash += (-qty if buy else qty) * price_paise - fee_paise
        fees += fee_paise
        account[instrument].take(buy, qty, price_paise)
        by_strategy[instrument, strategy].take(buy, qty, price_paise)
    return cash, account, by_strategy, fees


_fill_rows = st.tuples(
    st.sampled_from(INSTRUMENTS),
    st.sampled_from(STRATEGIES),
    st.booleans(),
    st.integers(1, 60),
    st.integers(1, 4000).map(lambda ticks: ticks * 5),  # on a 0.05 grid, in paise
    st.integers(0, 500),  # fee, paise
)
_marks = st.dictionaries(st.sampled_from(INSTRUMENTS), st.integers(1, 4000).map(lambda t: t * 5))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_fill_rows, min_size=1, max_size=60), marks=_marks)
def test_the_book_agrees_with_an_independent_recomputation(
    rows: list[tuple[str, str, bool, int, int, int]], marks: dict[str, int]
) -> None:
    # Arrange
    b = book()
    cents = D("0.01")

    # Act
    for n, (instrument, strategy, buy, qty, price, fee) in enumerate(rows):
        b.apply(
            fill(
                BUY if buy else SELL,
                qty,
                D(price) * cents,
                D(fee) * cents,
                instrument=instrument,
                strategy=strategy,
                ts=n,
            )
        )
    for instrument, price in marks.items():
        b.mark(instrument, D(price) * cents, ts_ns=len(rows))

    # Assert
    cash, account, by_strategy, fees = _reference(rows)
    paise = Fraction(1, 100)
    assert b.cash == D(cash) * cents
    assert b.fees_total == D(fees) * cents
    assert (
        b.realized_total
        == sum((leg.realized_paise for leg in account.values()), Fraction(0)) * paise
    )
    for instrument, leg in account.items():
        position = b.position(instrument)
        assert position is not None
        assert position.quantity == leg.signed
        assert position.avg_price == leg.avg_paise * paise
        assert position.realized_total == leg.realized_paise * paise
    for (instrument, strategy), leg in by_strategy.items():
        attributed = b.strategy_position(instrument, strategy)
        assert attributed is not None
        assert (attributed.quantity, attributed.avg_price) == (leg.signed, leg.avg_paise * paise)
        assert attributed.realized_total == leg.realized_paise * paise
    # equity = cash + sum(qty x last price); the last price is the mark, or the last fill's
    last_price = {instrument: price for instrument, *_, price, _ in rows}
    last_price.update(marks)
    value = sum(leg.signed * last_price[i] for i, leg in account.items())
    assert b.equity() == D(cash + value) * cents
    assert b.account().equity == round_to_places(D(cash + value) * cents, 2)
    # what was made, realised or not, is what equity gained plus what fees took
    unrealized = sum(
        (leg.signed * last_price[i] - leg.signed * leg.avg_paise for i, leg in account.items()),
        Fraction(0),
    )
    assert b.unrealized() == unrealized * paise
    assert b.realized_total + b.unrealized() - Fraction(b.fees_total) == Fraction(
        b.equity() - START
    )
