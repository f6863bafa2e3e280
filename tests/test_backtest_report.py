"""The backtest report: exit reasons from order ids, trades from fills, report.json's bytes, the
CSV files and the console summary (engine/backtest/exit_reasons.py, report.py)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from engine.backtest.exit_reasons import EXIT_REASONS, OTHER, exit_reason
from engine.backtest.report import (
    OpenPosition,
    Report,
    TradeRow,
    build_report,
    closed_trades,
    console_summary,
    read_report,
    report_json,
    write_equity_csv,
    write_fills_csv,
    write_orders_csv,
    write_report,
)
from engine.instruments import Instrument
from engine.ledger.equity_curve import EquityPoint
from engine.messages.trading import (
    LiquiditySide,
    OrderFilled,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TradeIntent,
)
from engine.orders.ids import ExitRole, exit_order_id, target_role
from engine.orders.order import OrderView
from engine.risk.limits import RiskLimits
from engine.risk.orders import closing_orders, split_orders
from engine.risk.proposals import EntryPlan, plan_entry
from engine.timezones import from_exchange_time

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
IST = "Asia/Kolkata"
NEW_YORK = "America/New_York"
MINUTE = 60 * 10**9
T0 = from_exchange_time("2024-01-02T09:15:00", IST)  # 03:45 UTC


# -- exit reasons ----------------------------------------------------------------------------


def nse(symbol: str, *, freeze: int | None = None) -> Instrument:
    return Instrument(
        id=f"NSE:{symbol}",
        symbol=symbol,
        exchange="NSE",
        currency="INR",
        tick_size=D("0.05"),
        time_zone=IST,
        calendar="NSE",
        freeze_quantity=freeze,
    )


def entry_id(instrument: Instrument) -> str:
    """The entry id the risk supervisor gives a strategy's signal (through its own code)."""
    intent = TradeIntent(
        ts_event=T0,
        ts_init=T0,
        strategy="sma_cross",
        instrument=instrument.id,
        side=BUY,
        strength=1.0,
        stop=D("95"),
        correlation_id=f"sma_cross:{instrument.id}:{T0}:1",
        score=1.0,
    )
    plan = plan_entry(
        intent, instrument, RiskLimits(), last_price=D("100"), equity=D("1000000"), now_ns=T0
    )
    assert isinstance(plan, EntryPlan), plan
    return plan.bracket.entry.client_order_id


@pytest.mark.parametrize(
    ("client_order_id", "reason"),
    [
        ("sma:NSE:INFY:1:1:entry:stop", "stop"),
        ("sma:NSE:INFY:1:1:entry:stop.2", "stop"),
        ("sma:NSE:INFY:1:1:entry:trail", "trailing_stop"),
        ("sma:NSE:INFY:1:1:entry:trail.3", "trailing_stop"),
        ("sma:NSE:INFY:1:1:entry:target", "target"),
        ("sma:NSE:INFY:1:1:entry:target2", "target"),
        ("sma:NSE:INFY:1:1:entry:target2.2", "target"),
        ("sma:NSE:INFY:1:1:entry:time", "time_stop"),
        ("sma:NSE:INFY:1:1:entry:flat", "stop"),
        ("sma:NSE:INFY:1:1:exit", "signal"),
        ("sma:NSE:INFY:1:1:exit:2", "signal"),
        ("sma:NSE:INFY:1:1:entry", "signal"),
        ("square-off:1704167100000000000:NSE:INFY", "square_off"),
        ("square-off:1704167100000000000:NSE:INFY:2", "square_off"),
        ("flatten:1704167100000000000:NSE:INFY", "kill_switch"),
        ("flatten:1704167100000000000:NSE:INFY:3", "kill_switch"),
        # An instrument whose symbol reads like a role: the supervisor's shape wins.
        ("flatten:1704167100000000000:NSE:stop", "kill_switch"),
        ("square-off:1704167100000000000:X:target", "square_off"),
        # Not the engine's.
        ("my-manual-order", OTHER),
        ("sma:NSE:INFY:1:1:stopper", OTHER),
        ("flatten:soon:NSE:INFY", OTHER),
        ("", OTHER),
    ],
)
def test_exit_reason_of_an_order_id(client_order_id: str, reason: str) -> None:
    assert exit_reason(client_order_id) == reason


def test_every_closing_id_the_engine_makes_has_a_reason_of_the_issue() -> None:
    made: list[str] = []
    for instrument in (nse("INFY", freeze=100), nse("STOP", freeze=100)):
        entry = entry_id(instrument)
        made.append(entry)  # an entry that goes through flat closes the earlier trade
        roles = [role.value for role in ExitRole if role is not ExitRole.TARGET]
        roles += [target_role(i) for i in (1, 2, 3)]
        made += [exit_order_id(entry, role, nth) for role in roles for nth in (1, 2, 3)]
        correlation = f"sma_cross:{instrument.id}:{T0}:2"
        made += [  # the risk supervisor's exit for an intent against a position (actors/risk.py)
            order.client_order_id
            for order in split_orders(
                instrument=instrument,
                side=SELL,
                quantity=250,
                base_id=f"{correlation}:exit",
                strategy="sma_cross",
                correlation_id=correlation,
                now_ns=T0,
            )
        ]
        for tag in ("flatten", "square-off"):
            made += [
                order.client_order_id
                for order in closing_orders(instrument, -250, tag=tag, now_ns=T0)
            ]

    reasons = {client_order_id: exit_reason(client_order_id) for client_order_id in made}

    assert set(reasons.values()) <= set(EXIT_REASONS)
    assert set(reasons.values()) == set(EXIT_REASONS)  # and each reason is reachable
    assert reasons[f"square-off:{T0}:NSE:STOP:3"] == "square_off"


# -- trades from fills -----------------------------------------------------------------------

_seq = iter(range(1, 10_000))


def fill(
    client_order_id: str,
    side: OrderSide,
    qty: int,
    price: str,
    minutes: int,
    *,
    fee: str = "0",
    instrument: str = "NSE:INFY",
) -> OrderFilled:
    n = next(_seq)
    return OrderFilled(
        ts_event=T0 + minutes * MINUTE,
        ts_init=T0 + minutes * MINUTE,
        client_order_id=client_order_id,
        venue_order_id=f"paper-{n}",
        trade_id=f"paper-T{n:010d}",
        instrument=instrument,
        strategy="sma",
        side=side,
        last_qty=qty,
        last_price=D(price),
        fee=D(fee),
        currency="INR",
        correlation_id=client_order_id.split(":entry", maxsplit=1)[0],
    )


A = "sma:NSE:INFY:1:1:entry"  # a long trade on INFY, out in two parts
B = "sma:NSE:TCS:2:1:entry"  # a short on TCS, squared off
C = "sma:NSE:INFY:3:1"  # a second INFY trade, closed by a signal's exit in two orders
E = "sma:NSE:TCS:4:1:entry"  # a long on TCS the next signal reverses: short 5 stays open


def fills() -> list[OrderFilled]:
    return [
        fill(A, BUY, 10, "100.00", 1, fee="1.50"),
        fill(B, SELL, 5, "200.00", 2, fee="0.75", instrument="NSE:TCS"),
        fill(f"{A}:target", SELL, 4, "110.00", 3, fee="0.60"),
        fill(f"{A}:stop", SELL, 6, "95.00", 5, fee="0.90"),
        fill(f"square-off:{T0 + 6 * MINUTE}:NSE:TCS", BUY, 5, "190.00", 6, instrument="NSE:TCS"),
        fill(f"{C}:entry", BUY, 3, "101.00", 7),
        fill(f"{C}:entry", BUY, 2, "102.00", 8),
        fill(f"{C}:exit", SELL, 4, "103.50", 9),
        fill(f"{C}:exit:2", SELL, 1, "99.50", 9),
        fill(E, BUY, 10, "180.00", 10, instrument="NSE:TCS"),
        fill("sma:NSE:TCS:5:1:entry", SELL, 15, "185.00", 11, fee="3.00", instrument="NSE:TCS"),
    ]


def test_trades_from_fills_with_partial_exits_and_their_reasons() -> None:
    trades, still_open = closed_trades(fills())

    assert [(t.instrument, t.exit_reason) for t in trades] == [
        ("NSE:INFY", "stop"),  # out at the target (4) then the stop (6): the stop closed it
        ("NSE:TCS", "square_off"),
        ("NSE:INFY", "signal"),
        ("NSE:TCS", "signal"),  # reversed by the next entry
    ]
    first, short, second, reversed_ = trades
    assert first.side == "long"
    assert first.qty == 10
    assert first.entry_price == D("100")
    assert first.exit_price == D("101")  # (4 * 110 + 6 * 95) / 10
    assert first.gross_pnl == D("10.00")  # 1010 - 1000
    assert first.fees == D("3.00")
    assert first.pnl == D("7.00")
    assert (first.entry_ns, first.exit_ns) == (T0 + MINUTE, T0 + 5 * MINUTE)
    assert short.side == "short"
    assert (short.entry_price, short.exit_price, short.pnl) == (D("200"), D("190"), D("49.25"))
    assert second.qty == 5
    assert second.entry_price == D("101.4")  # (303 + 204) / 5
    assert second.exit_price == D("102.7")  # (414 + 99.5) / 5
    assert second.pnl == D("6.50")  # 513.50 - 507
    # The reversing fill of 15 closes 10 and opens 5: its fee shared 10 : 5.
    assert (reversed_.qty, reversed_.pnl, reversed_.fees) == (10, D("48.00"), D("2.00"))
    assert len(still_open) == 1
    assert (still_open[0].instrument, still_open[0].side, still_open[0].fees) == (
        "NSE:TCS",
        SELL,
        D("1.00"),
    )


def test_trades_are_listed_in_order_of_exit() -> None:
    # The TCS trade opens after the INFY one and closes before it.
    sequence = [
        fill(A, BUY, 10, "100", 1),
        fill(B, SELL, 5, "200", 2, instrument="NSE:TCS"),
        fill(f"{B}:target", BUY, 5, "190", 3, instrument="NSE:TCS"),
        fill(f"{A}:time", SELL, 10, "101", 4),
    ]

    trades, _ = closed_trades(sequence)

    assert [(t.instrument, t.exit_reason) for t in trades] == [
        ("NSE:TCS", "target"),
        ("NSE:INFY", "time_stop"),
    ]


# -- the report ------------------------------------------------------------------------------


def curve(count: int, *, tz: str = IST, start: str = "2024-01-02T09:15:00") -> list[EquityPoint]:
    first = from_exchange_time(start, tz)
    values = ["100000", "100010", "99990", "100020", "100007.25", "100100.50"]
    return [
        EquityPoint(
            ts=first + i * MINUTE,
            cash=D(values[i % len(values)]),
            positions_value=D("0"),
            equity=D(values[i % len(values)]),
        )
        for i in range(count)
    ]


def report(**changes: object) -> Report:
    arguments: dict[str, object] = {
        "fills": fills(),
        "equity": curve(12),
        "exposure": [i % 2 == 1 for i in range(12)],
        "marks": {"NSE:INFY": D("104.00"), "NSE:TCS": D("187.55")},
        "timezone": IST,
        "currency": "INR",
        "start_cash": D("100000"),
        "settings": {"strategy": "sma_cross", "fast": "10", "slow": "30"},
    }
    arguments.update(changes)
    return build_report(**arguments)  # type: ignore[arg-type]


def test_the_report_lists_trades_and_open_positions() -> None:
    built = report()

    assert built.trades[0] == TradeRow(
        instrument="NSE:INFY",
        strategy="sma",
        side="long",
        qty=10,
        entry_time="2024-01-02T09:16:00+05:30",
        entry_price=D("100"),
        exit_time="2024-01-02T09:20:00+05:30",
        exit_price=D("101"),
        pnl=D("7.00"),
        gross_pnl=D("10.00"),
        fees=D("3.00"),
        exit_reason="stop",
    )
    assert built.open_positions == [
        OpenPosition(
            instrument="NSE:TCS",
            strategy="sma",
            qty=-5,
            avg_price=D("185"),
            mark_price=D("187.55"),
            unrealized_pnl=D("-12.75"),  # -5 * (187.55 - 185)
            since="2024-01-02T09:26:00+05:30",
        )
    ]
    assert built.final_equity == D("100100.50")  # the last point's (index 11)
    assert built.run.instruments == ["NSE:INFY", "NSE:TCS"]
    assert built.run.start == "2024-01-02T09:15:00+05:30"
    assert built.run.end == "2024-01-02T09:26:00+05:30"
    assert built.statistics.overall.trades == 4
    assert built.statistics.overall.exposure == 0.5
    assert sorted(built.statistics.by_exit_reason) == ["signal", "square_off", "stop"]


def test_an_open_position_needs_a_mark() -> None:
    with pytest.raises(ValueError, match="NSE:TCS has no mark price"):
        report(marks={"NSE:INFY": D("104")})


def test_report_json_is_byte_identical_for_the_same_inputs(tmp_path: Path) -> None:
    first = write_report(tmp_path / "one", report())
    second = write_report(tmp_path / "two", report())

    assert first.name == "report.json"
    assert first.read_bytes() == second.read_bytes()
    assert report_json(read_report(first)) == first.read_bytes()  # read back, written again


def test_report_json_has_sorted_keys_exact_money_and_relative_paths(tmp_path: Path) -> None:
    text = write_report(tmp_path, report()).read_text(encoding="utf-8")

    def sorted_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    data = json.loads(text, object_pairs_hook=sorted_keys)
    assert text.endswith("}\n")
    assert data["trades"][0]["exit_price"] == "101.00"  # 1010.00 / 10, exact
    assert data["trades"][0]["pnl"] == "7.00"
    assert data["final_equity"] == "100100.50"
    assert (data["orders"], data["fills"], data["equity"]) == (
        "orders.csv",
        "fills.csv",
        "equity.csv",
    )
    assert str(tmp_path) not in text
    assert data["statistics"]["overall"]["profit_factor"] is None  # every trade made money


def test_report_json_has_no_nan_or_infinity(tmp_path: Path) -> None:
    # No losing trade (profit factor infinite) on a flat curve (Sharpe 0/0).
    flat = [
        EquityPoint(ts=T0 + i * MINUTE, cash=D(100), positions_value=D(0), equity=D(100))
        for i in range(4)
    ]
    built = report(
        fills=[fill(A, BUY, 1, "100", 1), fill(f"{A}:target", SELL, 1, "110", 2)],
        equity=flat,
        exposure=[False] * 4,
    )
    overall = built.statistics.overall
    assert (overall.profit_factor, overall.sharpe, overall.sortino) == (None, None, None)
    # And should a ratio ever be NaN or infinite, it is written as null all the same.
    broken = msgspec.structs.replace(
        built,
        statistics=msgspec.structs.replace(
            built.statistics,
            overall=msgspec.structs.replace(overall, sharpe=float("nan"), calmar=float("inf")),
        ),
    )

    for text in (report_json(built).decode(), report_json(broken).decode()):

        def refuse(constant: str) -> object:
            raise AssertionError(f"{constant} in report.json")

        data = json.loads(text, parse_constant=refuse)
        assert data["statistics"]["overall"]["profit_factor"] is None
        assert data["statistics"]["overall"]["sharpe"] is None
        assert data["statistics"]["overall"]["calmar"] is None


def test_floats_are_rounded_to_ten_significant_digits() -> None:
    built = report()
    exact = built.statistics.overall.sharpe
    assert exact is not None
    assert exact != float(f"{exact:.10g}")  # the setup: more digits than are written

    written = json.loads(report_json(built))["statistics"]["overall"]["sharpe"]

    assert written == float(f"{exact:.10g}")


def test_negative_zero_and_exponents_never_reach_the_json() -> None:
    # A short closed at its entry price: pnl -1 * 0 is Decimal("-0").
    built = report(
        fills=[
            fill(B, SELL, 5, "200", 1, instrument="NSE:TCS"),
            fill(f"{B}:stop", BUY, 5, "200", 2, instrument="NSE:TCS"),
        ],
        start_cash=D("1E+5"),
    )

    data = json.loads(report_json(built))

    assert data["trades"][0]["gross_pnl"] == "0"
    assert data["run"]["start_cash"] == "100000"


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "start", "expected"),
    [
        (IST, "2024-01-02T09:15:00", "2024-01-02T09:15:00+05:30"),
        (NEW_YORK, "2024-01-02T09:30:00", "2024-01-02T09:30:00-05:00"),  # EST
        (NEW_YORK, "2024-07-01T09:30:00", "2024-07-01T09:30:00-04:00"),  # EDT
    ],
)
def test_times_carry_the_offset_of_their_zone(tz: str, start: str, expected: str) -> None:
    points = curve(2, tz=tz, start=start)

    built = report(fills=[], equity=points, exposure=[False, False], timezone=tz)

    assert built.run.start == expected


def test_trade_times_follow_daylight_saving_in_new_york() -> None:
    # In on the Friday before the spring change (EST), out on the Monday after (EDT).
    entry = from_exchange_time("2024-03-08T15:59:00", NEW_YORK)
    out = from_exchange_time("2024-03-11T09:31:00", NEW_YORK)
    sequence = [
        msgspec.structs.replace(fill(A, BUY, 1, "50", 0), ts_event=entry),
        msgspec.structs.replace(fill(f"{A}:trail", SELL, 1, "49", 0), ts_event=out),
    ]

    built = report(fills=sequence, timezone=NEW_YORK)

    assert built.trades[0].entry_time == "2024-03-08T15:59:00-05:00"
    assert built.trades[0].exit_time == "2024-03-11T09:31:00-04:00"
    assert built.trades[0].exit_reason == "trailing_stop"


# -- CSV files -------------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_equity_csv(tmp_path: Path) -> None:
    points = [
        EquityPoint(ts=T0, cash=D("100000"), positions_value=D("0"), equity=D("100000")),
        EquityPoint(
            ts=T0 + MINUTE, cash=D("98995.00"), positions_value=D("1010.50"), equity=D("100005.50")
        ),
    ]

    path = write_equity_csv(tmp_path / "run", points, IST)

    assert path == tmp_path / "run" / "equity.csv"
    assert read_csv(path) == [
        ["time", "cash", "positions_value", "equity"],
        ["2024-01-02T09:15:00+05:30", "100000", "0", "100000"],
        ["2024-01-02T09:16:00+05:30", "98995.00", "1010.50", "100005.50"],
    ]
    assert path.read_bytes().count(b"\r") == 0


def test_fills_csv(tmp_path: Path) -> None:
    sequence = fills()[:2]

    rows = read_csv(write_fills_csv(tmp_path, sequence, IST))

    assert rows[0] == [
        "time",
        "client_order_id",
        "trade_id",
        "venue_order_id",
        "instrument",
        "strategy",
        "side",
        "quantity",
        "price",
        "fee",
        "currency",
        "liquidity_side",
        "correlation_id",
    ]
    first = sequence[0]
    assert rows[1] == [
        "2024-01-02T09:16:00+05:30",
        A,
        first.trade_id,
        first.venue_order_id,
        "NSE:INFY",
        "sma",
        "BUY",
        "10",
        "100.00",
        "1.50",
        "INR",
        LiquiditySide.NO_LIQUIDITY_SIDE.value,
        "sma:NSE:INFY:1:1",
    ]
    assert len(rows) == 3


def test_orders_csv(tmp_path: Path) -> None:
    stop = OrderView(
        client_order_id=f"{A}:stop",
        instrument="NSE:INFY",
        side=SELL,
        order_type=OrderType.STOP_MARKET,
        time_in_force=TimeInForce.DAY,
        quantity=6,
        price=None,
        trigger_price=D("95.00"),
        status=OrderStatus.FILLED,
        filled_qty=6,
        avg_fill_price=D("95.00"),
        venue_order_id="paper-3",
        strategy="sma",
        correlation_id="sma:NSE:INFY:1:1",
        bracket=A,
        role="stop",
        reason="",
        created_ns=T0 + MINUTE,
        updated_ns=T0 + 5 * MINUTE,
    )

    rows = read_csv(write_orders_csv(tmp_path, [stop], IST))

    assert rows == [
        [
            "created",
            "updated",
            "client_order_id",
            "instrument",
            "strategy",
            "side",
            "order_type",
            "time_in_force",
            "quantity",
            "price",
            "trigger_price",
            "status",
            "filled_qty",
            "avg_fill_price",
            "role",
            "bracket",
            "correlation_id",
            "venue_order_id",
            "reason",
        ],
        [
            "2024-01-02T09:16:00+05:30",
            "2024-01-02T09:20:00+05:30",
            f"{A}:stop",
            "NSE:INFY",
            "sma",
            "SELL",
            "STOP_MARKET",
            "DAY",
            "6",
            "",
            "95.00",
            "FILLED",
            "6",
            "95.00",
            "stop",
            A,
            "sma:NSE:INFY:1:1",
            "paper-3",
            "",
        ],
    ]


# -- console ---------------------------------------------------------------------------------


def test_console_summary_reads_as_a_few_lines() -> None:
    text = console_summary(report())

    lines = text.splitlines()
    assert 4 <= len(lines) <= 8
    assert lines[0].startswith("Backtest of NSE:INFY, NSE:TCS: 2024-01-02T09:15:00+05:30")
    assert "Equity 100,100.50 INR from 100,000.00" in text
    assert "Trades 4: 4 won, 0 lost" in text
    assert "Exits: signal 2, square_off 1, stop 1" in text
    assert "Open: NSE:TCS -5 at 185.00, marked 187.55 (-12.75 unrealized)" in text


def test_console_summary_without_trades_or_bars() -> None:
    text = console_summary(report(fills=[], equity=[], exposure=[]))

    assert "Trades: none closed" in text
    assert "no bars" in text
    assert "n/a" in text
