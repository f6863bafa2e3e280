"""Fee models against contract notes worked by hand, to the paisa."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.config.load import ConfigError
from engine.fees import (
    FeeConfig,
    FeeConfigError,
    FeeRateError,
    Fees,
    IndianEquityIntradayFees,
    PercentageFees,
    PerShareFees,
    ZeroFees,
    fee_of_next_fill,
    make_fee_model,
    read_rate_table,
)
from engine.messages.trading import OrderSide
from engine.timezones import from_exchange_time

BUY, SELL = OrderSide.BUY, OrderSide.SELL
IST = "Asia/Kolkata"
JAN_2025 = from_exchange_time("2025-01-15 10:00", IST)
"""A trade date under the row in force from 2024-10-01 (NSE 0.00297 %)."""


def D(text: str) -> Decimal:  # noqa: N802 (reads like the type)
    return Decimal(text)


def india(
    side: OrderSide, quantity: int, price: str, instrument: str = "NSE:INFY", ts: int = JAN_2025
) -> Fees:
    return IndianEquityIntradayFees().fees(
        side=side, quantity=quantity, price=D(price), instrument=instrument, ts_ns=ts
    )


# --- Indian equity intraday: contract notes by hand -----------------------------------------


def test_small_nse_buy_where_the_brokerage_cap_does_not_bind() -> None:
    # Buy 100 INFY @ 500.00 on NSE: turnover 50,000.00
    #   brokerage 0.03 % x 50,000 = 15.00 (below the 20.00 cap)
    #   exchange  0.00297 % x 50,000 = 1.485 -> 1.49 (half-up; half-even would say 1.48)
    #   SEBI      10 / 1,00,00,000 x 50,000 = 0.05
    #   stamp     0.003 % x 50,000 = 1.50 (buy side)
    #   STT       0 (sell side only)
    #   GST       18 % x (15.00 + 1.49 + 0.05) = 18 % x 16.54 = 2.9772 -> 2.98
    #   total     15.00 + 1.49 + 0.05 + 1.50 + 2.98 = 21.02
    fees = india(BUY, 100, "500.00")

    assert fees.breakdown == {
        "brokerage": D("15.00"),
        "stt": D("0.00"),
        "exchange_txn": D("1.49"),
        "sebi": D("0.05"),
        "stamp_duty": D("1.50"),
        "gst": D("2.98"),
    }
    assert fees.total == D("21.02")


def test_small_nse_sell_pays_stt_rounded_to_the_rupee() -> None:
    # Sell 100 INFY @ 505.00 on NSE: turnover 50,500.00
    #   brokerage 0.03 % x 50,500 = 15.15
    #   exchange  0.00297 % x 50,500 = 1.49985 -> 1.50
    #   SEBI      50,500 / 10^7 x 10 = 0.0505 -> 0.05
    #   STT       0.025 % x 50,500 = 12.625 -> 13 (to the rupee: 62.5 paise rounds up)
    #   stamp     0 (buy side only)
    #   GST       18 % x (15.15 + 1.50 + 0.05) = 18 % x 16.70 = 3.006 -> 3.01
    #   total     15.15 + 13.00 + 1.50 + 0.05 + 3.01 = 32.71
    fees = india(SELL, 100, "505.00")

    assert fees.breakdown == {
        "brokerage": D("15.15"),
        "stt": D("13.00"),
        "exchange_txn": D("1.50"),
        "sebi": D("0.05"),
        "stamp_duty": D("0.00"),
        "gst": D("3.01"),
    }
    assert fees.total == D("32.71")


def test_large_nse_buy_where_the_brokerage_cap_binds() -> None:
    # Buy 1,000 RELIANCE @ 2,500.00: turnover 25,00,000.00
    #   brokerage 0.03 % x 25,00,000 = 750.00 -> capped at 20.00
    #   exchange  0.00297 % x 25,00,000 = 74.25
    #   SEBI      25,00,000 / 10^7 x 10 = 2.50
    #   stamp     0.003 % x 25,00,000 = 75.00
    #   GST       18 % x (20.00 + 74.25 + 2.50) = 18 % x 96.75 = 17.415 -> 17.42
    #   total     20.00 + 74.25 + 2.50 + 75.00 + 17.42 = 189.17
    fees = india(BUY, 1000, "2500.00", "NSE:RELIANCE")

    assert fees.breakdown["brokerage"] == D("20.00")
    assert fees.breakdown["exchange_txn"] == D("74.25")
    assert fees.breakdown["sebi"] == D("2.50")
    assert fees.breakdown["stamp_duty"] == D("75.00")
    assert fees.breakdown["stt"] == D("0.00")
    assert fees.breakdown["gst"] == D("17.42")
    assert fees.total == D("189.17")


def test_large_nse_sell_where_the_brokerage_cap_binds() -> None:
    # Sell 1,000 RELIANCE @ 2,512.35: turnover 25,12,350.00
    #   brokerage 753.705 -> capped at 20.00
    #   exchange  0.00297 % x 25,12,350 = 74.616795 -> 74.62
    #   SEBI      25,12,350 / 10^7 x 10 = 2.51235 -> 2.51
    #   STT       0.025 % x 25,12,350 = 628.0875 -> 628 (8.75 paise round down)
    #   GST       18 % x (20.00 + 74.62 + 2.51) = 18 % x 97.13 = 17.4834 -> 17.48
    #   total     20.00 + 628.00 + 74.62 + 2.51 + 17.48 = 742.61
    fees = india(SELL, 1000, "2512.35", "NSE:RELIANCE")

    assert fees.breakdown == {
        "brokerage": D("20.00"),
        "stt": D("628.00"),
        "exchange_txn": D("74.62"),
        "sebi": D("2.51"),
        "stamp_duty": D("0.00"),
        "gst": D("17.48"),
    }
    assert fees.total == D("742.61")


def test_bse_has_its_own_exchange_charge() -> None:
    # Buy 100 @ 500.00 on BSE: exchange 0.00375 % x 50,000 = 1.875 -> 1.88
    #   GST 18 % x (15.00 + 1.88 + 0.05) = 18 % x 16.93 = 3.0474 -> 3.05
    #   total 15.00 + 1.88 + 0.05 + 1.50 + 3.05 = 21.48
    fees = india(BUY, 100, "500.00", "BSE:INFY")

    assert fees.breakdown["exchange_txn"] == D("1.88")
    assert fees.breakdown["gst"] == D("3.05")
    assert fees.total == D("21.48")


def test_the_shipped_table_switches_nse_rates_on_1_october_2024_ist() -> None:
    # 30 Sep 2024 23:59 IST is still the old row (NSE 0.00322 %); one minute later, 1 Oct
    # 00:00 IST (18:30 UTC on 30 Sep), the new one (0.00297 %). Turnover 10,00,000.00:
    #   old: exchange 32.20, GST 18 % x (20 + 32.20 + 1.00) = 9.576 -> 9.58
    #   new: exchange 29.70, GST 18 % x (20 + 29.70 + 1.00) = 9.126 -> 9.13
    old = india(BUY, 1000, "1000.00", ts=from_exchange_time("2024-09-30 23:59", IST))
    new = india(BUY, 1000, "1000.00", ts=from_exchange_time("2024-10-01 00:00", IST))

    assert (old.breakdown["exchange_txn"], old.breakdown["gst"]) == (D("32.20"), D("9.58"))
    assert (new.breakdown["exchange_txn"], new.breakdown["gst"]) == (D("29.70"), D("9.13"))
    # brokerage 20.00 + SEBI 1.00 + stamp 30.00 are the same in both rows
    assert old.total == D("20.00") + D("32.20") + D("1.00") + D("30.00") + D("9.58")
    assert new.total == D("20.00") + D("29.70") + D("1.00") + D("30.00") + D("9.13")


RATES_TOML = """
[rounding]
stt = "paisa"

[[rates]]
effective_from = 2025-03-01
brokerage_percent = "0.05"
brokerage_cap = 40
stt_sell_percent = 0.1
stamp_buy_percent = 0
sebi_per_crore = 0
gst_percent = 0
exchange_txn_percent = { NSE = 0 }

[[rates]]
effective_from = 2025-01-01
brokerage_percent = 0.03
brokerage_cap = 20
stt_sell_percent = 0.025
stamp_buy_percent = 0
sebi_per_crore = 0
gst_percent = 0
exchange_txn_percent = { NSE = 0 }
"""


def test_a_table_of_your_own_switches_rows_on_their_dates(tmp_path: Path) -> None:
    path = tmp_path / "rates.toml"
    path.write_text(RATES_TOML)
    model = IndianEquityIntradayFees(path)

    def sell_on(day: str) -> Fees:
        ts = from_exchange_time(f"{day} 10:00", IST)
        return model.fees(side=SELL, quantity=10, price=D("1234.50"), instrument="NSE:X", ts_ns=ts)

    # turnover 12,345.00. Before 1 March: brokerage 3.7035 -> 3.70, STT 0.025 % = 3.08625
    # -> 3.09 (rounded to the paisa as this file says). From 1 March: brokerage 6.1725 ->
    # 6.17, STT 0.1 % = 12.345 -> 12.35.
    assert sell_on("2025-02-28").total == D("3.70") + D("3.09")
    assert sell_on("2025-03-01").total == D("6.17") + D("12.35")
    with pytest.raises(FeeRateError, match=r"2024-12-31.*first row is in force from 2025-01-01"):
        sell_on("2024-12-31")


def test_an_exchange_missing_from_the_row_is_a_fee_rate_error() -> None:
    with pytest.raises(FeeRateError, match=r"'MCX:GOLD'.*exchange 'MCX'.*BSE, NSE"):
        india(BUY, 1, "100.00", "MCX:GOLD")


def test_a_bad_rate_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[rounding]\nstt = "lakh"\n\n[[rates]]\neffective_from = "soon"\n'
        "brokerage_percent = -1\nbrokerage_cap = 20\nstt_sell_percent = 0.025\n"
        "stamp_buy_percent = 0.003\nsebi_per_crore = 10\ngst_percent = 18\n"
        'exchange_txn_percent = { NSE = "x" }\nbrokerage = 1\n'
    )

    with pytest.raises(ConfigError) as raised:
        read_rate_table(path)

    problems = "\n".join(raised.value.problems)
    assert 'rounding.stt: expected "paisa", "rupee", got "lakh"' in problems
    assert 'rates[1].effective_from: expected a date such as 2024-10-01, got "soon"' in problems
    assert "rates[1].brokerage_percent: expected a number >= 0, got -1" in problems
    assert 'rates[1].exchange_txn_percent.NSE: expected a number >= 0, got "x"' in problems
    assert "rates[1].brokerage: unknown key" in problems


# --- Simple models --------------------------------------------------------------------------


def simple(model: object, quantity: int, price: str) -> Decimal:
    fees: Fees = model.fees(  # type: ignore[attr-defined]
        side=BUY, quantity=quantity, price=D(price), instrument="XNYS:IBM", ts_ns=0
    )
    return fees.total


def test_zero_fees_charge_nothing() -> None:
    assert simple(ZeroFees(), 1000, "250.00") == D("0.00")


def test_per_share_fees_with_a_minimum_and_a_maximum() -> None:
    model = PerShareFees(D("0.005"), minimum=D("1.00"), maximum=D("10.00"))

    assert simple(model, 100, "20.00") == D("1.00")  # 0.50 is below the minimum
    assert simple(model, 301, "20.00") == D("1.51")  # 1.505 -> 1.51, half-up
    assert simple(model, 5000, "20.00") == D("10.00")  # 25.00 is above the maximum


def test_percentage_fees_with_a_minimum_and_a_maximum() -> None:
    model = PercentageFees(D("0.1"), minimum=D("2.00"), maximum=D("20.00"))

    assert simple(model, 10, "100.00") == D("2.00")  # 1.00 is below the minimum
    assert simple(model, 45, "100.05") == D("4.50")  # 4.50225 -> 4.50
    assert simple(model, 300, "100.00") == D("20.00")  # 30.00 is above the maximum


def test_an_orders_partial_fills_pay_the_cap_and_the_minimum_once() -> None:
    # Three fills of one NSE buy order, 400 + 400 + 200 @ 2,500.00: the whole order is the
    # 25,00,000.00 buy worked above (189.17); the fills' fees add up to exactly that, and the
    # 20.00 brokerage cap is paid once, not three times.
    model = IndianEquityIntradayFees()
    charged: list[Decimal] = []
    filled, turnover = 0, D("0")
    for qty in (400, 400, 200):
        this_fill, _ = fee_of_next_fill(
            model,
            side=BUY,
            instrument="NSE:RELIANCE",
            ts_ns=JAN_2025,
            filled_before=filled,
            turnover_before=turnover,
            last_qty=qty,
            last_price=D("2500.00"),
        )
        charged.append(this_fill.total)
        filled, turnover = filled + qty, turnover + qty * D("2500.00")

    assert sum(charged) == D("189.17")
    # the first fill (10,00,000.00) already pays the full 20.00 brokerage
    assert charged[0] == D("20.00") + D("29.70") + D("1.00") + D("30.00") + D("9.13")


# --- Config -----------------------------------------------------------------------------------


def test_make_fee_model_builds_each_model() -> None:
    assert isinstance(make_fee_model(FeeConfig()), ZeroFees)
    per_share = make_fee_model(FeeConfig(model="per_share", rate=D("0.01"), minimum=D("1")))
    assert isinstance(per_share, PerShareFees)
    assert per_share.minimum == D("1")
    assert isinstance(make_fee_model(FeeConfig(model="percentage", rate=D("0.1"))), PercentageFees)
    assert isinstance(
        make_fee_model(FeeConfig(model="indian_equity_intraday")), IndianEquityIntradayFees
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            FeeConfig(model="flat"),
            'fees.model: unknown fee model \'flat\'; expected one of "zero", "per_share", '
            '"percentage", "indian_equity_intraday"',
        ),
        (FeeConfig(model="per_share"), "fees.rate: missing: the 'per_share' fee model needs"),
        (
            FeeConfig(model="zero", rate=D("1")),
            "fees: the 'zero' fee model does not take rate; it takes no parameters",
        ),
        (
            FeeConfig(model="indian_equity_intraday", minimum=D("1")),
            "fees: the 'indian_equity_intraday' fee model does not take minimum; it takes table",
        ),
        (
            FeeConfig(model="percentage", rate=D("0.1"), minimum=D("5"), maximum=D("1")),
            "fees: the minimum fee per order (5) is above the maximum (1)",
        ),
        (
            FeeConfig(model="per_share", rate=D("-0.01")),
            "fees: the fee per unit must be >= 0, got -0.01",
        ),
    ],
)
def test_make_fee_model_names_the_bad_value(config: FeeConfig, message: str) -> None:
    with pytest.raises(FeeConfigError) as raised:
        make_fee_model(config)
    assert message in str(raised.value)


def test_a_missing_rate_file_is_a_config_error(tmp_path: Path) -> None:
    config = FeeConfig(model="indian_equity_intraday", table=str(tmp_path / "none.toml"))
    with pytest.raises(ConfigError, match=r"none\.toml: fee rate table: no such file"):
        make_fee_model(config)
