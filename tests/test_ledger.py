"""The ledger actor under both runtimes: fills in, positions and the account out with exact
figures; duplicates and refusals; marking by bars and ticks, throttled; following only held
instruments; the trading day; the snapshot; the equity sink; and replay at start."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest

from actors.ledger import NAME, DescribeLedger, Ledger, LedgerSnapshot
from engine.ledger import EquityPoint, TradingDay
from engine.messages.account import TOPIC_ACCOUNT, AccountChanged
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.orders import TOPIC_FILLS
from engine.messages.ranking import TOPIC_POSITIONS
from engine.messages.trading import OrderFilled, OrderSide, PositionChanged
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import MILLISECOND, SECOND, ActorHarness, Capture, Driver
from tests.support import FAST

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
START = D("100000.00")
INFY = "NSE:INFY"
TCS = "NSE:TCS"
DAY = 86_400 * SECOND
INTERVAL = 100 * MILLISECOND


def fill(
    side: OrderSide,
    qty: int,
    price: str,
    fee: str = "0",
    *,
    trade_id: str,
    instrument: str = INFY,
    strategy: str = "momo",
    ts: int = 1,
    currency: str = "INR",
) -> OrderFilled:
    return OrderFilled(
        ts_event=ts,
        ts_init=ts,
        client_order_id=f"O-{trade_id}",
        venue_order_id=f"V-{trade_id}",
        trade_id=trade_id,
        instrument=instrument,
        strategy=strategy,
        side=side,
        last_qty=qty,
        last_price=D(price),
        fee=D(fee),
        currency=currency,
    )


def bar(instrument: str, close: float, close_at: int) -> Bar:
    return Bar(
        ts_event=close_at - 60 * SECOND,
        ts_init=close_at,
        instrument=instrument,
        interval="1m",
        ts_close=close_at,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=100.0,
        trade_count=3,
        vwap=close,
    )


def trade(instrument: str, price: float, ts: int) -> TradeTick:
    return TradeTick(ts_event=ts, ts_init=ts, instrument=instrument, price=price, size=1.0)


def account_figures(a: AccountChanged) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal, int]:
    return (a.cash, a.equity, a.realized_pnl, a.unrealized_pnl, a.fees, a.open_positions)


class Booked:
    """A started ledger with its publications captured."""

    def __init__(self, driver: Driver, **options: Any) -> None:
        self.driver = driver
        self.capture = Capture(driver.runtime, [TOPIC_POSITIONS, TOPIC_ACCOUNT])
        options.setdefault("mark_interval_ns", INTERVAL)
        spec = ActorSpec(NAME, lambda: Ledger(START, "INR", **options), backoff=FAST)
        driver.start(SupervisorSpec("root", [spec]))
        self.wait_accounts(1)

    def positions(self) -> list[PositionChanged]:
        return self.capture.messages(TOPIC_POSITIONS, PositionChanged)

    def accounts(self) -> list[AccountChanged]:
        return self.capture.messages(TOPIC_ACCOUNT, AccountChanged)

    def wait_accounts(self, count: int) -> list[AccountChanged]:
        self.driver.wait_for(lambda: len(self.accounts()) >= count, what=f"{count} accounts")
        self.driver.settle()
        return self.accounts()

    def publish(self, topic: str, message: Any) -> None:
        self.driver.runtime.publish(topic, message)
        self.driver.settle()

    def fill(self, f: OrderFilled) -> None:
        self.publish(TOPIC_FILLS, f)

    def snapshot(self, curve_tail: int = 100) -> LedgerSnapshot:
        answer = self.driver.runtime.ask(NAME, DescribeLedger(curve_tail=curve_tail))
        assert isinstance(answer, LedgerSnapshot)
        return answer


# --- fills -----------------------------------------------------------------------------------


def test_fills_in_positions_and_account_out_with_exact_figures(driver: Driver) -> None:
    # Arrange
    ledger = Booked(driver)
    [start] = ledger.accounts()
    assert account_figures(start) == (START, START, D("0.00"), D("0.00"), D("0.00"), 0)

    # Act
    ledger.fill(fill(BUY, 10, "100.00", "1.00", trade_id="T1"))
    ledger.fill(fill(SELL, 4, "102.50", "0.50", trade_id="T2", ts=2))
    accounts = ledger.wait_accounts(3)

    # Assert: the account's position, then the strategy's, after each fill
    assert [
        (p.strategy, p.quantity, p.avg_price, p.realized_pnl, p.currency, p.ts_event)
        for p in ledger.positions()
    ] == [
        (None, 10, D("100.00"), D("-1.00"), "INR", 1),
        ("momo", 10, D("100.00"), D("-1.00"), "INR", 1),
        # 4 x (102.50 - 100) - 1.00 - 0.50 = 8.50
        (None, 6, D("100.00"), D("8.50"), "INR", 2),
        ("momo", 6, D("100.00"), D("8.50"), "INR", 2),
    ]
    # cash: 100000 - 1000 - 1 = 98999; then + 410 - 0.50 = 99408.50; 6 held at 102.50 = 615
    assert [account_figures(a) for a in accounts[1:]] == [
        (D("98999.00"), D("99999.00"), D("-1.00"), D("0.00"), D("1.00"), 1),
        (D("99408.50"), D("100023.50"), D("8.50"), D("15.00"), D("1.50"), 1),
    ]
    assert [a.ts_event for a in accounts[1:]] == [1, 2]


def test_a_duplicate_fill_changes_nothing_and_is_counted(driver: Driver) -> None:
    # Arrange
    ledger = Booked(driver)
    first = fill(BUY, 10, "100.00", "1.00", trade_id="T1")
    ledger.fill(first)
    ledger.wait_accounts(2)

    # Act: the same fill again, on the topic and sent directly; and one with other content
    ledger.fill(first)
    driver.send(NAME, first)
    ledger.fill(fill(BUY, 99, "100.00", "1.00", trade_id="T1"))
    driver.settle()

    # Assert
    snapshot = ledger.snapshot()
    assert (snapshot.duplicates, snapshot.conflicting_duplicates, snapshot.fills) == (2, 1, 1)
    assert len(ledger.positions()) == 2
    assert len(ledger.accounts()) == 2
    assert [p.quantity for p in snapshot.positions] == [10]


def test_a_fill_in_another_currency_is_refused_and_nothing_moves(driver: Driver) -> None:
    ledger = Booked(driver)

    ledger.fill(fill(BUY, 10, "100.00", trade_id="T1", currency="USD"))
    ledger.fill(fill(BUY, 0, "100.00", trade_id="T2"))

    snapshot = ledger.snapshot()
    assert (snapshot.refused, snapshot.fills) == (2, 0)
    assert ledger.positions() == []
    assert account_figures(snapshot.account) == (START, START, D("0.00"), D("0.00"), D("0.00"), 0)


def test_without_attribution_only_the_account_position_is_published(driver: Driver) -> None:
    ledger = Booked(driver, per_strategy=False)

    ledger.fill(fill(BUY, 10, "100.00", trade_id="T1"))
    ledger.wait_accounts(2)

    assert [(p.strategy, p.quantity) for p in ledger.positions()] == [(None, 10)]
    assert ledger.snapshot().strategy_positions == []


# --- marks -----------------------------------------------------------------------------------


def test_a_bar_close_marks_the_position_and_moves_unrealised_pnl_and_equity(
    driver: Driver,
) -> None:
    # Arrange
    ledger = Booked(driver)
    ledger.fill(fill(BUY, 10, "100.00", "1.00", trade_id="T1", ts=SECOND))
    ledger.wait_accounts(2)

    # Act
    ledger.publish(f"bars:{INFY}", bar(INFY, 103.25, close_at=2 * SECOND))
    accounts = ledger.wait_accounts(3)

    # Assert: 10 x (103.25 - 100) = 32.50; equity 98999 + 1032.50
    marked = accounts[-1]
    assert account_figures(marked) == (
        D("98999.00"),
        D("100031.50"),
        D("-1.00"),
        D("32.50"),
        D("1.00"),
        1,
    )
    assert marked.ts_event == 2 * SECOND
    snapshot = ledger.snapshot()
    [position] = snapshot.positions
    assert (position.mark_price, position.market_value, position.unrealized_pnl) == (
        D("103.25"),
        D("1032.50"),
        D("32.50"),
    )
    assert snapshot.equity_curve[-1] == EquityPoint(
        ts=2 * SECOND, cash=D("98999.00"), positions_value=D("1032.50"), equity=D("100031.50")
    )


def test_marks_are_published_at_most_once_an_interval_and_the_last_is_not_lost(
    driver: Driver,
) -> None:
    # Arrange
    ledger = Booked(driver)
    ledger.fill(fill(SELL, 10, "100.00", trade_id="T1", ts=SECOND))
    ledger.wait_accounts(2)

    # Act: a batch of trades (with a quote among them), then more trades at once
    batch = TickBatch(
        ts_event=3 * SECOND,
        ts_init=3 * SECOND,
        ticks=[
            trade(INFY, 101.0, 2 * SECOND),
            QuoteTick(
                ts_event=2 * SECOND,
                ts_init=2 * SECOND,
                instrument=INFY,
                bid=90.0,
                ask=91.0,
                bid_size=1,
                ask_size=1,
            ),
            trade(INFY, 100.5, 3 * SECOND),
        ],
    )
    ledger.publish(f"ticks:{INFY}", batch)
    for n, price in enumerate((99.0, 98.0, 97.95), start=4):
        driver.runtime.publish(f"ticks:{INFY}", trade(INFY, price, n * SECOND))
    driver.wait_for(
        lambda: ledger.accounts()[-1].ts_event == 6 * SECOND, what="the last mark published"
    )
    driver.settle()
    accounts = ledger.accounts()

    # Assert: the batch at once (its last trade) ... the last trade published, last of all:
    # 10 short from 100 at 97.95 is 20.50 up; equity 101000 - 979.50
    marks = accounts[2:]
    assert (marks[0].unrealized_pnl, marks[0].ts_event) == (D("-5.00"), 3 * SECOND)
    assert (marks[-1].unrealized_pnl, marks[-1].equity) == (D("20.50"), D("100020.50"))
    if driver.simulated:
        # ... and the three trades, coming inside the interval, as one at its end.
        assert len(marks) == 2
        published_at = [t for t, topic, _ in ledger.capture.items if topic == TOPIC_ACCOUNT]
        assert published_at[-1] - published_at[-2] == INTERVAL
    else:
        assert len(marks) <= 4  # at most one per trade, however the threads ran


def test_only_held_instruments_are_marked_and_a_flat_one_is_dropped(driver: Driver) -> None:
    # Arrange
    ledger = Booked(driver, mark_interval_ns=0)
    ledger.fill(fill(BUY, 5, "50.00", trade_id="T1", instrument=TCS))
    ledger.fill(fill(SELL, 5, "51.00", trade_id="T2", instrument=TCS))
    ledger.wait_accounts(3)

    # Act: a price of a flat instrument, and one of an instrument never held (sent directly)
    ledger.publish(f"bars:{TCS}", bar(TCS, 55.0, close_at=10 * SECOND))
    driver.send(NAME, trade(INFY, 10.0, 11 * SECOND))
    driver.settle()

    # Assert
    assert len(ledger.accounts()) == 3
    assert ledger.snapshot().account.equity == START + D("5.00")


def test_the_marks_a_fill_sees_are_the_latest(driver: Driver) -> None:
    # Arrange: a long in INFY, marked by a tick inside the interval (still pending)
    ledger = Booked(driver, mark_interval_ns=DAY)
    ledger.fill(fill(BUY, 10, "100.00", trade_id="T1", ts=SECOND))
    ledger.publish(f"ticks:{INFY}", trade(INFY, 101.0, 2 * SECOND))
    ledger.publish(f"ticks:{INFY}", trade(INFY, 102.0, 3 * SECOND))
    ledger.wait_accounts(3)

    # Act: a fill in another instrument publishes the account at once
    ledger.fill(fill(BUY, 1, "50.00", trade_id="T2", instrument=TCS, ts=4 * SECOND))
    accounts = ledger.wait_accounts(4)

    # Assert: INFY at 102 (the pending mark), not 101
    assert accounts[-1].unrealized_pnl == D("20.00")


# --- the day, the sink, the snapshot ---------------------------------------------------------


def test_a_fill_on_the_next_day_starts_todays_figures_afresh(driver: Driver) -> None:
    # Arrange
    ledger = Booked(driver)
    today = driver.runtime.now_ns()
    tomorrow = TradingDay("UTC").next_start(today) + SECOND
    ledger.fill(fill(BUY, 10, "100.00", "1.00", trade_id="T1", ts=today))
    ledger.fill(fill(SELL, 5, "101.00", "1.00", trade_id="T2", ts=today))

    # Act
    ledger.fill(fill(SELL, 5, "102.00", "0.25", trade_id="T3", ts=tomorrow))
    accounts = ledger.wait_accounts(4)

    # Assert: yesterday's 5 - 2 gone; today 5 x 2 - 0.25
    assert [(a.realized_pnl, a.fees) for a in accounts[2:]] == [
        (D("3.00"), D("2.00")),
        (D("9.75"), D("0.25")),
    ]
    assert ledger.positions()[-1].realized_pnl == D("9.75")


def test_at_midnight_the_day_changes_by_the_clock() -> None:
    # Arrange: a simulated clock just before midnight UTC (the harness is simulated only)
    midnight = TradingDay("UTC").next_start(1_704_200_000 * SECOND)
    harness = ActorHarness(lambda: Ledger(START, "INR"), name=NAME, start_ns=midnight - SECOND)
    harness.send(fill(BUY, 1, "100.00", "1.00", trade_id="T1", ts=midnight - SECOND))

    # Act
    harness.advance(2 * SECOND)

    # Assert
    accounts = harness.published(TOPIC_ACCOUNT, AccountChanged)
    assert [(a.fees, a.ts_event) for a in accounts[-2:]] == [
        (D("1.00"), midnight - SECOND),
        (D("0.00"), midnight),
    ]


def test_a_midnight_after_a_day_without_fills_publishes_nothing() -> None:
    # Arrange: a day with a fill, then a day without one
    midnight = TradingDay("UTC").next_start(1_704_200_000 * SECOND)
    harness = ActorHarness(lambda: Ledger(START, "INR"), name=NAME, start_ns=midnight - SECOND)
    harness.send(fill(BUY, 1, "100.00", "1.00", trade_id="T1", ts=midnight - SECOND))

    # Act: two midnights pass
    harness.advance(DAY + 2 * SECOND)

    # Assert: the first midnight zeroes the day's fees; the second has nothing to say
    accounts = harness.published(TOPIC_ACCOUNT, AccountChanged)
    assert [(a.fees, a.ts_event) for a in accounts[-2:]] == [
        (D("1.00"), midnight - SECOND),
        (D("0.00"), midnight),
    ]


def test_every_equity_point_goes_to_the_sink_and_a_failing_sink_is_counted(
    driver: Driver,
) -> None:
    # Arrange
    sunk: list[EquityPoint] = []

    def sink(point: EquityPoint) -> None:
        sunk.append(point)
        if len(sunk) == 2:
            raise OSError("disk full")

    ledger = Booked(driver, equity_sink=sink, curve_capacity=2)

    # Act
    for n in range(3):
        ledger.fill(fill(BUY, 1, "100.00", trade_id=f"T{n}", ts=n + 1))
    ledger.wait_accounts(4)

    # Assert: the start point and one per fill; the ring keeps the last two
    snapshot = ledger.snapshot(curve_tail=10)
    assert len(sunk) == 4
    assert [p.ts for p in snapshot.equity_curve] == [2, 3]
    assert ledger.snapshot(curve_tail=1).equity_curve == snapshot.equity_curve[-1:]
    assert (snapshot.failed_sinks, snapshot.fills) == (1, 3)
    assert snapshot.account.open_positions == 1


# --- replay ----------------------------------------------------------------------------------


def _the_day(driver: Driver) -> list[OrderFilled]:
    ts = driver.runtime.now_ns()
    return [
        fill(BUY, 10, "100.00", "1.00", trade_id="T1", ts=ts),
        fill(BUY, 5, "103.00", "0.50", trade_id="T2", ts=ts, strategy="other"),
        fill(SELL, 20, "105.00", "1.25", trade_id="T3", ts=ts),
        fill(BUY, 7, "50.05", "0.10", trade_id="T4", ts=ts, instrument=TCS),
    ]


def _state(snapshot: LedgerSnapshot) -> tuple[Any, ...]:
    return (
        account_figures(snapshot.account),
        snapshot.positions,
        snapshot.strategy_positions,
        snapshot.fills,
    )


def test_replay_at_start_rebuilds_the_same_state(driver: Driver) -> None:
    # Arrange: a ledger that saw the day's fills live
    ledger = Booked(driver)
    fills = _the_day(driver)
    for f in fills:
        ledger.fill(f)
    ledger.wait_accounts(1 + len(fills))
    live = ledger.snapshot()

    # Act: a new ledger that replays them at start
    driver.remove_actor(NAME)
    replayed_from: list[Iterable[OrderFilled]] = []

    def replay() -> Iterable[OrderFilled]:
        replayed_from.append(fills)
        return iter(fills)

    published_before = len(ledger.positions())
    driver.add_actor(
        "root", ActorSpec(NAME, lambda: Ledger(START, "INR", replay=replay), backoff=FAST)
    )
    ledger.wait_accounts(2 + len(fills))
    rebuilt = ledger.snapshot()

    # Assert
    assert len(replayed_from) == 1
    assert _state(rebuilt) == _state(live)
    assert rebuilt.replayed == len(fills)
    # at start, each open position once (the account's, then each strategy's)
    assert [(p.instrument, p.strategy, p.quantity) for p in ledger.positions()][
        published_before:
    ] == [
        (INFY, None, -5),
        (INFY, "momo", -10),
        (INFY, "other", 5),
        (TCS, None, 7),
        (TCS, "momo", 7),
    ]

    # ... and a fill redelivered after the replay is a duplicate
    ledger.fill(fills[-1])
    assert ledger.snapshot().duplicates == 1


def test_a_replay_that_fails_is_a_failed_start_retried(driver: Driver) -> None:
    # Arrange
    fills = _the_day(driver)
    attempts: list[int] = []

    def flaky_replay() -> Iterable[OrderFilled]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("journal not ready")
        return fills

    # Act
    ledger = Booked(driver, replay=flaky_replay)

    # Assert
    assert len(attempts) == 2
    assert ledger.snapshot().fills == len(fills)


# --- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"start_cash": 100000.0}, "start_cash must be a finite Decimal"),
        ({"currency": "XYZ"}, "unknown currency 'XYZ'"),
        ({"mark_interval_ns": -1}, "mark_interval_ns"),
        ({"mark_sources": ("bars:*",)}, "mark source 'bars:\\*'"),
        ({"time_zone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"curve_capacity": 0}, "curve_capacity"),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(options: dict[str, Any], words: str) -> None:
    arguments: dict[str, Any] = {"start_cash": START, "currency": "INR", **options}
    with pytest.raises(ValueError, match=words):
        Ledger(**arguments)
