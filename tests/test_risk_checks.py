"""The risk checks as pure functions: each allowed exactly at its limit and denied just past
it, with its code and the figures that failed; the table's order; what an exit skips; sizing
rounded down to the lot; the order-rate bucket; square-off times; the limits' own rules."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from engine.calendars import calendar
from engine.instruments import Instrument, PriceBand
from engine.messages.risk import RiskCode
from engine.messages.runtime import TradingState
from engine.messages.trading import OrderSide
from engine.risk.checks import CHECKS, Denial, OrderProposal, RiskView, first_denial
from engine.risk.limits import RiskLimits, local_time
from engine.risk.sessions import cutoff_at, market_status, next_square_off
from engine.risk.sizing import size_entry, split_by_freeze
from engine.risk.token_bucket import TokenBucket
from engine.testing import SECOND
from engine.timezones import from_exchange_time

D = Decimal

INSTRUMENT = Instrument(
    id="NSE:TEST",
    symbol="TEST",
    exchange="NSE",
    currency="INR",
    tick_size=D("0.05"),
    time_zone="UTC",
    calendar="ALWAYS",
)

# Every limit off or far away, so that each case turns on only the one it tests.
OPEN = RiskLimits(
    max_order_notional=0.0,
    fat_finger_pct=0.0,
    max_position_notional=0.0,
    max_open_trades=0,
    max_trades_per_day=0,
    risk_per_trade_pct=0.0,
    max_portfolio_heat_pct=0.0,
    max_consecutive_losses=0,
    max_daily_loss_pct=0.0,
    leverage=1000.0,
)

PROPOSAL = OrderProposal(
    instrument=INSTRUMENT, side=OrderSide.BUY, quantity=10, price=D("100"), stop=D("99")
)
VIEW = RiskView(
    now_ns=0,
    last_price=D("100"),
    equity=D("100000"),
    cash=D("100000"),
    start_equity=D("100000"),
)


class Case:
    """One check at its limit (allowed) and just past it (denied)."""

    def __init__(
        self,
        name: str,
        code: RiskCode,
        *,
        at: dict[str, Any],
        past: dict[str, Any],
        figures: dict[str, str],
    ) -> None:
        self.name, self.code, self.at, self.past, self.figures = name, code, at, past, figures

    def build(self, changes: dict[str, Any]) -> tuple[OrderProposal, RiskView, RiskLimits]:
        proposal_fields = {f.name for f in dataclasses.fields(OrderProposal)}
        view_fields = {f.name for f in dataclasses.fields(RiskView)}
        proposal = dataclasses.replace(
            PROPOSAL, **{k: v for k, v in changes.items() if k in proposal_fields}
        )
        view = dataclasses.replace(VIEW, **{k: v for k, v in changes.items() if k in view_fields})
        limit_changes = {k: v for k, v in changes.items() if k not in proposal_fields | view_fields}
        return proposal, view, msgspec.structs.replace(OPEN, **limit_changes)


def instrument(**changes: Any) -> Instrument:
    return msgspec.structs.replace(INSTRUMENT, **changes)


BANDED = instrument(price_band=PriceBand(lower=D("90"), upper=D("110")))

CASES = [
    Case(
        "halted",
        RiskCode.TRADING_HALTED,
        at={"state": TradingState.ACTIVE},
        past={"state": TradingState.HALTED},
        figures={"state": "HALTED"},
    ),
    Case(
        "reducing",
        RiskCode.REDUCING_ONLY,
        at={"state": TradingState.ACTIVE},
        past={"state": TradingState.REDUCING},
        figures={"state": "REDUCING"},
    ),
    Case(
        "market closed",
        RiskCode.MARKET_CLOSED,
        at={"market_open": True},
        past={"market_open": False, "now_ns": 7},
        figures={"calendar": "ALWAYS", "now_ns": "7"},
    ),
    Case(
        "cutoff",
        RiskCode.AFTER_CUTOFF,
        at={"now_ns": 1000, "cutoff_ns": 1000},
        past={"now_ns": 1001, "cutoff_ns": 1000},
        figures={"now_ns": "1001", "cutoff_ns": "1000"},
    ),
    Case(
        "banned",
        RiskCode.INSTRUMENT_BANNED,
        at={"banned": ["NSE:OTHER"]},
        past={"banned": ["NSE:OTHER", "NSE:TEST"]},
        figures={"instrument": "NSE:TEST"},
    ),
    Case(
        "no price",
        RiskCode.NO_PRICE,
        at={"last_price": D("100")},
        past={"last_price": None},
        figures={"instrument": "NSE:TEST"},
    ),
    Case(
        "lot size",
        RiskCode.LOT_SIZE,
        at={"instrument": instrument(lot_size=25), "quantity": 50},
        past={"instrument": instrument(lot_size=25), "quantity": 51},
        figures={"quantity": "51", "lot_size": "25"},
    ),
    Case(
        "freeze quantity",
        RiskCode.FREEZE_QUANTITY,
        at={"instrument": instrument(freeze_quantity=1800), "quantity": 1800},
        past={"instrument": instrument(freeze_quantity=1800), "quantity": 1801},
        figures={"quantity": "1801", "freeze_quantity": "1800"},
    ),
    Case(
        "band, upper",
        RiskCode.PRICE_BAND,
        at={"instrument": BANDED, "order_price": D("110.00")},
        past={"instrument": BANDED, "order_price": D("110.05")},
        figures={"price": "110.05", "band_lower": "90", "band_upper": "110"},
    ),
    Case(
        "band, lower",
        RiskCode.PRICE_BAND,
        at={"instrument": BANDED, "order_price": D("90.00")},
        past={"instrument": BANDED, "order_price": D("89.95")},
        figures={"price": "89.95", "band_lower": "90", "band_upper": "110"},
    ),
    Case(
        "fat finger, above",
        RiskCode.FAT_FINGER,
        at={"fat_finger_pct": 5.0, "order_price": D("105.00")},
        past={"fat_finger_pct": 5.0, "order_price": D("105.05")},
        figures={"price": "105.05", "last_price": "100", "fat_finger_pct": "5"},
    ),
    Case(
        "fat finger, below",
        RiskCode.FAT_FINGER,
        at={"fat_finger_pct": 5.0, "order_price": D("95.00")},
        past={"fat_finger_pct": 5.0, "order_price": D("94.95")},
        figures={"price": "94.95", "last_price": "100", "fat_finger_pct": "5"},
    ),
    Case(
        "max notional",
        RiskCode.MAX_NOTIONAL,
        at={"max_order_notional": 10_000.0, "quantity": 100},
        past={"max_order_notional": 10_000.0, "quantity": 101},
        figures={"notional": "10100", "max_order_notional": "10000"},
    ),
    Case(
        "max position, units",
        RiskCode.MAX_POSITION,
        at={"max_position_qty": 100, "position": 50, "working_quantity": 30, "quantity": 20},
        past={"max_position_qty": 100, "position": 50, "working_quantity": 30, "quantity": 21},
        figures={"position_after": "101", "max_position_qty": "100"},
    ),
    Case(
        "max position, short units",
        RiskCode.MAX_POSITION,
        at={"max_position_qty": 100, "position": -90, "side": OrderSide.SELL, "quantity": 10},
        past={"max_position_qty": 100, "position": -90, "side": OrderSide.SELL, "quantity": 11},
        figures={"position_after": "101", "max_position_qty": "100"},
    ),
    Case(
        "max position, notional",
        RiskCode.MAX_POSITION,
        at={"max_position_notional": 10_000.0, "position": 60, "quantity": 40},
        past={"max_position_notional": 10_000.0, "position": 60, "quantity": 41},
        figures={"position_notional_after": "10100", "max_position_notional": "10000"},
    ),
    Case(
        "max open trades",
        RiskCode.MAX_OPEN_TRADES,
        at={"max_open_trades": 3, "open_trades": 2},
        past={"max_open_trades": 3, "open_trades": 3},
        figures={"open_trades": "3", "max_open_trades": "3"},
    ),
    Case(
        "max trades per day",
        RiskCode.MAX_TRADES_PER_DAY,
        at={"max_trades_per_day": 5, "trades_today": 4},
        past={"max_trades_per_day": 5, "trades_today": 5},
        figures={"trades_today": "5", "max_trades_per_day": "5"},
    ),
    Case(
        "trade risk, long",
        RiskCode.TRADE_RISK,
        at={"risk_per_trade_pct": 1.0, "stop": D("90"), "quantity": 100},
        past={"risk_per_trade_pct": 1.0, "stop": D("90"), "quantity": 101},
        figures={
            "risk": "1010",
            "max_risk": "1000",
            "equity": "100000",
            "risk_per_trade_pct": "1",
        },
    ),
    Case(
        "trade risk, short",
        RiskCode.TRADE_RISK,
        at={"risk_per_trade_pct": 1.0, "side": OrderSide.SELL, "stop": D("110"), "quantity": 100},
        past={
            "risk_per_trade_pct": 1.0,
            "side": OrderSide.SELL,
            "stop": D("110.05"),
            "quantity": 100,
        },
        figures={
            "risk": "1005",
            "max_risk": "1000",
            "equity": "100000",
            "risk_per_trade_pct": "1",
        },
    ),
    Case(
        "portfolio heat",
        RiskCode.PORTFOLIO_HEAT,
        at={"max_portfolio_heat_pct": 3.0, "open_risk": D("2990"), "quantity": 10},
        past={"max_portfolio_heat_pct": 3.0, "open_risk": D("2990.01"), "quantity": 10},
        figures={"heat": "3000.01", "open_risk": "2990.01", "max_heat": "3000", "equity": "100000"},
    ),
    Case(
        "order rate",
        RiskCode.ORDER_RATE,
        at={"order_tokens": 1},
        past={"order_tokens": 0},
        figures={"tokens": "0", "max_orders_per_s": "5.0", "order_burst": "5"},
    ),
    Case(
        "loss cooldown",
        RiskCode.LOSS_COOLDOWN,
        at={
            "max_consecutive_losses": 3,
            "consecutive_losses": 3,
            "cooldown_until_ns": 5000,
            "now_ns": 5000,
        },
        past={
            "max_consecutive_losses": 3,
            "consecutive_losses": 3,
            "cooldown_until_ns": 5000,
            "now_ns": 4999,
        },
        figures={
            "consecutive_losses": "3",
            "max_consecutive_losses": "3",
            "cooldown_until_ns": "5000",
        },
    ),
    Case(
        "daily loss, percent",
        RiskCode.DAILY_LOSS,
        at={"max_daily_loss_pct": 2.0, "daily_pnl": D("-2000")},
        past={"max_daily_loss_pct": 2.0, "daily_pnl": D("-2000.01")},
        figures={"daily_loss": "2000.01", "max_daily_loss": "2000"},
    ),
    Case(
        "daily loss, the smaller of money and percent",
        RiskCode.DAILY_LOSS,
        at={"max_daily_loss_pct": 2.0, "max_daily_loss": 1500.0, "daily_pnl": D("-1500")},
        past={"max_daily_loss_pct": 2.0, "max_daily_loss": 1500.0, "daily_pnl": D("-1500.01")},
        figures={"daily_loss": "1500.01", "max_daily_loss": "1500"},
    ),
    Case(
        "insufficient cash",
        RiskCode.INSUFFICIENT_CASH,
        at={"leverage": 2.0, "cash": D("5000"), "working_notional": D("9000"), "quantity": 10},
        past={"leverage": 2.0, "cash": D("5000"), "working_notional": D("9000.01"), "quantity": 10},
        figures={"needed": "10000.01", "fees": "0", "available": "10000", "cash": "5000"},
    ),
    Case(
        "insufficient cash for the fees",
        RiskCode.INSUFFICIENT_CASH,
        at={"leverage": 1.0, "cash": D("1000"), "quantity": 10, "fees": D("0")},
        past={"leverage": 1.0, "cash": D("1000"), "quantity": 10, "fees": D("0.01")},
        figures={"needed": "1000.01", "fees": "0.01", "available": "1000", "cash": "1000"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_check_allows_at_its_limit_and_denies_past_it(case: Case) -> None:
    # Arrange
    at, past = case.build(case.at), case.build(case.past)

    # Act
    allowed = first_denial(*at)
    denied = first_denial(*past)

    # Assert
    assert allowed is None
    assert denied is not None
    assert denied.code is case.code
    assert denied.message
    if case.figures:
        assert denied.figures == case.figures


def test_every_code_of_the_table_has_a_case() -> None:
    assert {row.code for row in CHECKS} <= {case.code for case in CASES}


@pytest.mark.parametrize(
    ("stop", "words"),
    [(None, "no stop"), (D("100"), "losing side"), (D("100.05"), "losing side")],
)
def test_an_entry_without_a_sound_stop_is_refused_for_its_risk(
    stop: Decimal | None, words: str
) -> None:
    proposal = dataclasses.replace(PROPOSAL, stop=stop)
    limits = msgspec.structs.replace(OPEN, risk_per_trade_pct=1.0)

    denial = first_denial(proposal, VIEW, limits)

    assert denial is not None and denial.code is RiskCode.TRADE_RISK
    assert words in denial.message


def test_the_first_failing_check_in_table_order_names_the_denial() -> None:
    # Arrange: banned, past the cutoff and over the notional all at once
    proposal = dataclasses.replace(PROPOSAL, quantity=1000)
    view = dataclasses.replace(VIEW, now_ns=2, cutoff_ns=1)
    limits = msgspec.structs.replace(OPEN, banned=["NSE:TEST"], max_order_notional=10.0)

    # Act
    denial = first_denial(proposal, view, limits)

    # Assert
    assert denial is not None and denial.code is RiskCode.AFTER_CUTOFF


def code_of(denial: Denial | None) -> RiskCode | None:
    return None if denial is None else denial.code


def test_an_exit_skips_the_limits_on_new_risk_but_not_halted_or_closed() -> None:
    # Arrange: every entry limit is already used up
    exit_order = dataclasses.replace(PROPOSAL, side=OrderSide.SELL, stop=None, is_exit=True)
    full = dataclasses.replace(
        VIEW,
        state=TradingState.REDUCING,
        now_ns=2,
        cutoff_ns=1,
        last_price=None,
        open_trades=9,
        trades_today=9,
        order_tokens=0,
        cooldown_until_ns=10,
        daily_pnl=D("-99999"),
        cash=D("0"),
    )
    limits = RiskLimits(banned=["NSE:TEST"], max_open_trades=1, max_trades_per_day=1)

    # Act / Assert
    assert first_denial(exit_order, full, limits) is None
    halted = dataclasses.replace(full, state=TradingState.HALTED)
    assert code_of(first_denial(exit_order, halted, limits)) is RiskCode.TRADING_HALTED
    closed = dataclasses.replace(full, market_open=False)
    assert code_of(first_denial(exit_order, closed, limits)) is RiskCode.MARKET_CLOSED


def test_an_instrument_already_open_does_not_count_as_a_new_trade() -> None:
    view = dataclasses.replace(VIEW, open_trades=3, instrument_open=True)
    limits = msgspec.structs.replace(OPEN, max_open_trades=3)

    assert first_denial(PROPOSAL, view, limits) is None


# --- Sizing ----------------------------------------------------------------------------------


def sized(
    limits: RiskLimits,
    *,
    price: str = "100",
    stop: str | None = None,
    atr: float | None = None,
    lot: int = 1,
    freeze: int | None = None,
    buy: bool = True,
) -> tuple[int, Decimal | None, RiskCode | None]:
    size = size_entry(
        limits,
        price=D(price),
        stop=None if stop is None else D(stop),
        atr=atr,
        is_buy=buy,
        equity=D("100000"),
        lot_size=lot,
        freeze_quantity=freeze,
    )
    return size.quantity, size.stop, size.code


SIZING = msgspec.structs.replace(OPEN, risk_per_trade_pct=1.0)


@pytest.mark.parametrize(
    ("changes", "options", "expected"),
    [
        ({"sizing": "fixed_qty", "sizing_quantity": 7}, {"lot": 5}, 5),
        ({"sizing": "fixed_qty", "sizing_quantity": 7}, {}, 7),
        ({"sizing": "fixed_notional", "sizing_notional": 10_000.0}, {"price": "333"}, 30),
        (
            {"sizing": "fixed_notional", "sizing_notional": 10_000.0},
            {"price": "333", "lot": 25},
            25,
        ),
        # 1% of 100000 = 1000 to a stop 3 away: 333.3 units
        ({"sizing": "percent_risk"}, {"stop": "97"}, 333),
        ({"sizing": "percent_risk"}, {"stop": "97", "lot": 50}, 300),
        ({"sizing": "percent_risk"}, {"stop": "103", "buy": False}, 333),
        # 2 ATRs of 1.5 = 3 away
        ({"sizing": "atr", "sizing_atr_multiple": 2.0}, {"atr": 1.5}, 333),
        ({"sizing": "atr", "sizing_atr_multiple": 2.0}, {"atr": 1.5, "lot": 40}, 320),
        # capped by one order's notional (10000 at 100: 100 units), then by the freeze qty
        ({"sizing": "percent_risk", "max_order_notional": 10_000.0}, {"stop": "97"}, 100),
        ({"sizing": "percent_risk"}, {"stop": "97", "freeze": 250, "lot": 40}, 240),
        # less than a lot
        ({"sizing": "fixed_notional", "sizing_notional": 10_000.0}, {"lot": 150}, 0),
    ],
)
def test_sizing_methods_round_down_to_the_lot(
    changes: dict[str, Any], options: dict[str, Any], expected: int
) -> None:
    quantity, _, code = sized(msgspec.structs.replace(SIZING, **changes), **options)

    assert (quantity, code) == (expected, None)


def test_atr_sizing_places_the_stop_when_the_intent_has_none() -> None:
    limits = msgspec.structs.replace(SIZING, sizing="atr")

    assert sized(limits, atr=1.5)[1] == D("97.0")
    assert sized(limits, atr=1.5, buy=False)[1] == D("103.0")
    assert sized(limits, atr=1.5, stop="98")[1] == D("98")


@pytest.mark.parametrize(
    ("changes", "options", "code"),
    [
        ({"sizing": "percent_risk"}, {}, RiskCode.TRADE_RISK),
        ({"sizing": "percent_risk"}, {"stop": "100"}, RiskCode.TRADE_RISK),
        ({"sizing": "percent_risk"}, {"stop": "99", "buy": False}, RiskCode.TRADE_RISK),
        ({"sizing": "atr"}, {}, RiskCode.ZERO_SIZE),
        ({"sizing": "atr"}, {"atr": 0.0}, RiskCode.ZERO_SIZE),
    ],
)
def test_sizing_that_cannot_be_done_says_why(
    changes: dict[str, Any], options: dict[str, Any], code: RiskCode
) -> None:
    quantity, _, found = sized(msgspec.structs.replace(SIZING, **changes), **options)

    assert (quantity, found) == (0, code)


@pytest.mark.parametrize(
    ("quantity", "freeze", "lot", "pieces"),
    [
        (100, None, 1, [100]),
        (1800, 1800, 1, [1800]),
        (4000, 1800, 1, [1800, 1800, 400]),
        (4000, 1810, 25, [1800, 1800, 400]),
        (0, 1800, 1, []),
    ],
)
def test_a_large_close_is_split_within_the_freeze_quantity(
    quantity: int, freeze: int | None, lot: int, pieces: list[int]
) -> None:
    assert split_by_freeze(quantity, freeze, lot) == pieces


# --- The order-rate bucket -------------------------------------------------------------------


def test_the_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    # Arrange: 5 a second, 5 at once
    bucket = TokenBucket(5.0, 5, start_ns=0)

    # Act / Assert
    assert [bucket.take(0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.available(SECOND // 5 - 1) == 0  # one token takes 200 ms
    assert bucket.available(SECOND // 5) == 1
    assert bucket.available(10 * SECOND) == 5  # never more than the burst


def test_the_bucket_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0.0, 5, 0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(5.0, 0, 0)


# --- Sessions --------------------------------------------------------------------------------

NSE = calendar("NSE")
IST = "Asia/Kolkata"


def ist(when: str) -> int:
    return from_exchange_time(when, IST)


@pytest.mark.parametrize(
    ("now", "done", "expected"),
    [
        ("2025-06-02T10:00:00", None, "2025-06-02T15:15:00"),
        ("2025-06-02T15:15:00", None, "2025-06-02T15:15:00"),
        ("2025-06-02T15:20:00", None, "2025-06-02T15:20:00"),  # late start: at once
        ("2025-06-02T15:20:00", date(2025, 6, 2), "2025-06-03T15:15:00"),
        ("2025-06-02T15:30:00", None, "2025-06-03T15:15:00"),  # closed: the next session
        ("2025-06-06T16:00:00", None, "2025-06-09T15:15:00"),  # Friday: Monday's
    ],
)
def test_the_next_square_off_follows_the_nse_calendar(
    now: str, done: date | None, expected: str
) -> None:
    wall = RiskLimits().square_off_time("NSE")
    assert wall is not None

    due = next_square_off(NSE, wall, ist(now), done)

    assert due is not None and due[1] == ist(expected)


def test_the_entry_cutoff_and_market_status_come_from_the_calendar() -> None:
    cutoff = RiskLimits().entry_cutoff_time("NSE")

    assert cutoff_at(NSE, cutoff, ist("2025-06-02T10:00:00")) == ist("2025-06-02T15:00:00")
    assert market_status(NSE, ist("2025-06-02T10:00:00")) == (True, "")
    assert market_status(NSE, ist("2025-06-07T10:00:00")) == (False, "not a trading day")
    is_open, note = market_status(NSE, 0)  # 1970: no holiday data
    assert not is_open and "1970" in note


# --- The limits' own rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"square_off": {"NSE": "3pm"}}, "square_off.NSE"),
        ({"square_off": {"NSE": "25:00"}}, "square_off.NSE"),
        ({"square_off": {"LSE": "16:00"}}, "LSE"),
        ({"entry_cutoff": {"NSE": "3:20"}}, "entry_cutoff.NSE"),
        ({"max_order_notional": -1.0}, "max_order_notional"),
        ({"max_orders_per_s": 0.0}, "max_orders_per_s"),
        ({"default_stop_pct": 100.0}, "default_stop_pct"),
        ({"max_open_trades": -1}, "max_open_trades"),
        ({"sizing": "kelly"}, "sizing"),
        ({"trading_day_tz": "Mars/Olympus"}, "trading_day_tz"),
    ],
)
def test_bad_limits_are_refused_naming_the_value(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        RiskLimits(**changes)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(changes, RiskLimits)


def test_entries_stop_at_the_earlier_of_the_cutoff_and_the_square_off() -> None:
    limits = RiskLimits(
        square_off={"NSE": "14:30", "NYSE": "15:50"}, entry_cutoff={"NYSE": "15:30"}
    )

    assert limits.entry_cutoff_time("NSE") == local_time("14:30")
    assert limits.entry_cutoff_time("NYSE") == local_time("15:30")
    assert limits.entry_cutoff_time("ALWAYS") is None


def test_limits_read_from_toml_numbers_are_exact_decimals() -> None:
    limits = msgspec.convert({"max_daily_loss": 1234.56, "max_daily_loss_pct": 0.0}, RiskLimits)

    assert limits.daily_loss_limit(D("100000")) == D("1234.56")
    assert RiskLimits().daily_loss_limit(D("250000")) == D("5000.0")
