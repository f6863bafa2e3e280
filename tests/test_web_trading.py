"""The trading endpoints on a real server on 127.0.0.1 with a real trading core: the journal on
SQLite in tmp_path, the ledger, the router on the paper broker, and risk. Market data reaches
the broker, risk and the ledger as in the service: a ``TradeTick`` on ``ticks:<instrument>``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec
import pytest

from engine.journal.views import CommandEntry
from engine.messages import catalogue
from engine.messages.market import TradeTick
from engine.messages.ranking import RankedSignal, ScoringConfig, SignalsRanked
from engine.messages.trading import OrderSide, Signal, SubmitOrder, TradeIntent
from tests.web_support import Server, eventually, next_json, running_server, within
from web.models import (
    CancelRequested,
    FillsReport,
    FlattenReport,
    OrderBlotter,
    OrderPlaced,
    PositionsReport,
    RankingsReport,
    RiskStatus,
    SignalsReport,
    StateReport,
    TradesReport,
)

T = TypeVar("T")
INFY = "NSE:INFY"
SBIN = "NSE:SBIN"  # lots of 10


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(trading_dir=tmp_path) as s:
        yield s


# -- helpers ------------------------------------------------------------------------------------


class Client:
    """A real HTTP client with the token, for one scenario's loop."""

    def __init__(self, server: Server, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        token: bool = True,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else None if body is None else msgspec.json.encode(body)
        headers = self.server.auth if token else {}
        async with self.session.request(
            method, f"{self.server.url}/{path}", data=data, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str, kind: type[T]) -> T:
        """A 200 answer, decoded as its documented type (every field present and typed)."""
        status, body = await self.call("GET", path)
        assert status == 200, body
        return msgspec.convert(body, kind, strict=False)

    async def place(self, **order: Any) -> tuple[int, Any]:
        return await self.call("POST", "orders", order)

    async def router_order(self, order_id: str) -> Any:
        blotter = await self.get("orders", OrderBlotter)
        return next((o for o in blotter.orders if o.client_order_id == order_id), None)

    async def status_becomes(self, order_id: str, status: str) -> None:
        async def reached() -> bool:
            order = await self.router_order(order_id)
            return order is not None and order.status.value == status

        await until(reached, f"order {order_id} {status}")


def run(server: Server, scenario: Any) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await within(scenario(Client(server, session)), 30)

    asyncio.run(main())


async def until(check: Any, what: str, timeout_s: float = 10.0) -> None:
    """Poll an async ``check`` until it holds (no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s}s")
        await asyncio.sleep(0.01)


def trade(server: Server, instrument: str, price: float, size: float = 10_000) -> None:
    """A trade printed now: risk and the ledger see the price, the paper broker fills on it."""
    now = time.time_ns()
    tick = TradeTick(ts_event=now, ts_init=now, instrument=instrument, price=price, size=size)
    server.runtime.publish(f"ticks:{instrument}", tick)


def commands(server: Server) -> list[CommandEntry]:
    assert server.core is not None
    reader = server.core.reader
    return reader.database.call(reader.commands())


async def buy_and_fill(client: Client, quantity: int = 10) -> str:
    """A market BUY of INFY placed through the API and filled by the paper broker."""
    server = client.server
    trade(server, INFY, 1500.0)
    status, body = await client.place(
        instrument=INFY, side="BUY", quantity=quantity, order_type="MARKET"
    )
    assert status == 200, body
    order_id = msgspec.convert(body, OrderPlaced).order.client_order_id
    await client.status_becomes(order_id, "ACCEPTED")
    trade(server, INFY, 1500.5)
    await client.status_becomes(order_id, "FILLED")
    return order_id


# -- reads --------------------------------------------------------------------------------------


def test_each_read_answers_its_documented_shape_on_a_fresh_engine(server: Server) -> None:
    async def scenario(client: Client) -> None:
        positions = await client.get("positions", PositionsReport)
        assert positions.positions == [] and positions.account.open_positions == 0
        assert positions.account.cash == Decimal("1000000.00")
        blotter = await client.get("orders", OrderBlotter)
        assert blotter.orders == [] and blotter.recent == [] and blotter.counts.orders == 0
        assert (await client.get("trades", TradesReport)).trades == []
        assert (await client.get("fills", FillsReport)).fills == []
        assert (await client.get("signals", SignalsReport)).signals == []
        assert (await client.get("rankings", RankingsReport)).rankings == []
        risk = await client.get("risk", RiskStatus)
        assert risk.trading_state.value == "ACTIVE"
        assert risk.limits.max_order_notional == 500_000.0
        assert risk.usage.open_orders == 0 and risk.recent_denials == []
        assert risk.usage.open_entries == 0

    run(server, scenario)


def test_risk_counts_a_brackets_working_stop_and_target_as_open_orders(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        now = time.time_ns()
        intent = TradeIntent(
            ts_event=now,
            ts_init=now,
            strategy="sma",
            instrument=INFY,
            side=OrderSide.BUY,
            strength=0.9,
            stop=Decimal("1450"),
            target=Decimal("1600"),
            correlation_id="sma:bracket-1",
            score=1.0,
        )
        server.runtime.send("risk", intent)
        entry = "sma:bracket-1:entry"
        await client.status_becomes(entry, "ACCEPTED")
        usage = (await client.get("risk", RiskStatus)).usage
        assert (usage.open_orders, usage.open_entries) == (1, 1)  # the entry, working

        trade(server, INFY, 1500.5)  # the entry fills; the router places the stop and target

        async def exits_working() -> bool:
            blotter = await client.get("orders?status=open", OrderBlotter)
            return len(blotter.orders) == 2 and all(
                o.status.value == "ACCEPTED" for o in blotter.orders
            )

        await until(exits_working, "the stop and the target working")
        usage = (await client.get("risk", RiskStatus)).usage
        assert (usage.open_orders, usage.open_entries, usage.open_trades) == (2, 0, 1)

    run(server, scenario)


def test_signals_and_rankings_come_from_the_journal(server: Server) -> None:
    now = time.time_ns()
    signal = Signal(
        ts_event=now,
        ts_init=now,
        strategy="sma_cross",
        instrument=INFY,
        side=OrderSide.BUY,
        strength=0.7,
        correlation_id=f"sma_cross:{INFY}:{now}:1",
    )
    ranking = SignalsRanked(
        ts_event=now,
        ts_init=now,
        candidates=[
            RankedSignal(
                rank=1,
                strategy="sma_cross",
                instrument=INFY,
                side=OrderSide.BUY,
                strength=0.7,
                score=0.7,
                contributions={"strength": 0.7},
                picked=True,
                correlation_id=signal.correlation_id,
                signal_ts=now,
            )
        ],
        scoring=ScoringConfig(weights={"strength": 1.0}),
    )
    server.runtime.publish("signals", signal)
    server.runtime.publish("rankings", ranking)

    async def scenario(client: Client) -> None:
        async def recorded() -> bool:
            signals = (await client.get("signals", SignalsReport)).signals
            rankings = (await client.get("rankings", RankingsReport)).rankings
            return bool(signals) and bool(rankings)

        await until(recorded, "the signal and the ranking in the journal")
        assert (await client.get("signals", SignalsReport)).signals == [signal]
        assert (await client.get(f"signals?instrument={SBIN}", SignalsReport)).signals == []
        assert (await client.get(f"signals?since={now + 1}", SignalsReport)).signals == []
        assert (await client.get("rankings?limit=1", RankingsReport)).rankings == [ranking]
        assert (await client.get("rankings?limit=0", RankingsReport)).rankings == []

    run(server, scenario)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("fills?limit=-1", "limit"),
        ("fills?limit=1001", "limit"),
        ("trades?limit=ten", "limit"),
        ("signals?since=yesterday", "since"),
        ("fills?instrument=NSE%20INFY", "instrument"),
        ("orders?status=working", "status"),
        ("positions?curve=99999", "curve"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(server: Server, path: str, field: str) -> None:
    async def scenario(client: Client) -> None:
        status, body = await client.call("GET", path)
        assert status == 400, body
        assert body["error"]["code"] == "invalid_query"
        assert body["error"]["details"]["field"] == field

    run(server, scenario)


# -- manual orders ------------------------------------------------------------------------------


def test_a_manual_order_is_recorded_sent_filled_and_shows_everywhere(server: Server) -> None:
    async def scenario(client: Client) -> None:
        order_id = await buy_and_fill(client)
        # Recorded before it was acknowledged, with what became of it.
        entry = next(c for c in commands(server) if c.command_id == f"submit_order:{order_id}")
        assert entry.kind == "submit_order" and entry.who.startswith("api ")
        recorded = catalogue.decode(msgspec.json.encode(entry.body))
        assert isinstance(recorded, SubmitOrder) and recorded.client_order_id == order_id

        async def in_the_ledger() -> bool:
            positions = await client.get("positions", PositionsReport)
            return any(p.instrument == INFY and p.quantity == 10 for p in positions.positions)

        await until(in_the_ledger, "the position in the ledger")
        positions = await client.get("positions", PositionsReport)
        (held,) = positions.positions
        assert held.avg_price == Decimal("1500.5") and held.quantity == 10
        assert positions.account.open_positions == 1 and positions.fills == 1
        assert positions.equity_curve  # at least the fill's point

        fills = (await client.get("fills", FillsReport)).fills
        assert [(f.client_order_id, f.last_qty, f.last_price) for f in fills] == [
            (order_id, 10, Decimal("1500.5"))
        ]
        assert (await client.get(f"fills?strategy=manual&instrument={INFY}", FillsReport)).fills
        (trip,) = (await client.get("trades", TradesReport)).trades
        assert (trip.instrument, trip.quantity, trip.ts_close) == (INFY, 10, None)

        blotter = await client.get("orders", OrderBlotter)
        assert [o.client_order_id for o in blotter.orders] == [order_id]
        assert blotter.orders[0].filled_qty == 10 and blotter.orders[0].strategy == "manual"

        async def journaled_filled() -> bool:
            recent = (await client.get("orders", OrderBlotter)).recent
            return [(o.client_order_id, o.status.value) for o in recent] == [(order_id, "FILLED")]

        await until(journaled_filled, "the journal's order filled")
        assert (await client.get("orders?status=open", OrderBlotter)).orders == []
        assert (await client.get("orders?status=filled", OrderBlotter)).orders

        risk = await client.get("risk", RiskStatus)
        assert risk.usage.trades_today == 1

        def outcome() -> str | None:
            return next(
                c.outcome for c in commands(server) if c.command_id == f"submit_order:{order_id}"
            )

        await eventually(lambda: outcome() == "accepted", what="the command's outcome")

    run(server, scenario)


def test_a_repeated_client_order_id_gets_the_first_answer_and_no_second_order(
    server: Server,
) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        order = {"instrument": INFY, "side": "BUY", "quantity": 5, "client_order_id": "mine-1"}
        first = await client.place(**order)
        again = await client.place(**order)
        assert first[0] == again[0] == 200
        assert first[1] == again[1]  # the first answer: its command id and order
        await client.status_becomes("mine-1", "ACCEPTED")
        assert len((await client.get("orders", OrderBlotter)).orders) == 1

    run(server, scenario)


def test_a_client_order_id_taken_by_another_order_is_a_409(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        order = {"instrument": INFY, "side": "BUY", "quantity": 5, "client_order_id": "mine-2"}
        assert (await client.place(**order))[0] == 200
        await client.status_becomes("mine-2", "ACCEPTED")

        async def journaled() -> bool:
            return bool((await client.get("orders", OrderBlotter)).recent)

        await until(journaled, "the order in the journal")
        status, body = await client.place(**(order | {"quantity": 6}))
        assert status == 409, body
        assert body["error"]["code"] == "client_order_id_reused"
        assert "mine-2" in body["error"]["message"]
        assert body["error"]["details"]["field"] == "client_order_id"
        assert body["error"]["details"]["client_order_id"] == "mine-2"
        assert body["error"]["details"]["placed"]["quantity"] == 5
        status, body = await client.place(**order)  # the same order again: as placed
        assert status == 200 and body["order"]["quantity"] == 5
        assert len((await client.get("orders", OrderBlotter)).orders) == 1
        assert len([c for c in commands(server) if c.kind == "submit_order"]) == 1

    run(server, scenario)


def test_a_refused_order_does_not_take_its_client_order_id(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        typo = {"instrument": INFY, "side": "BUY", "quantity": 400, "client_order_id": "fix-1"}
        status, body = await client.place(**typo)  # 600,000: past max_notional
        assert status == 422 and body["error"]["details"]["code"] == "max_notional", body
        fixed = typo | {"quantity": 4}
        status, body = await client.place(**fixed)  # the same id, corrected: decided afresh
        assert status == 200, body
        placed = msgspec.convert(body, OrderPlaced)
        assert (placed.order.client_order_id, placed.order.quantity) == ("fix-1", 4)
        await client.status_becomes("fix-1", "ACCEPTED")
        # Now the id is taken: the same order gets the first answer, another a 409.
        assert await client.place(**fixed) == (200, body)
        status, refused = await client.place(**typo)
        assert status == 409 and refused["error"]["code"] == "client_order_id_reused"
        assert len((await client.get("orders", OrderBlotter)).orders) == 1

        # Each attempt was recorded as its own command, with its own body and outcome.
        def attempts() -> list[tuple[int, str | None]]:
            return sorted(
                (c.body["quantity"], c.outcome)
                for c in commands(server)
                if c.kind == "submit_order"
            )

        await eventually(
            lambda: attempts() == [(4, "accepted"), (400, "refused: max_notional")],
            what="both attempts and their outcomes recorded",
        )
        assert placed.command_id in {c.command_id for c in commands(server)}

    run(server, scenario)


def test_a_limit_order_sent_again_is_the_same_order_and_a_new_price_is_a_409(
    server: Server,
) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        order = {"instrument": INFY, "side": "BUY", "quantity": 1, "order_type": "LIMIT"}
        order |= {"price": "1480.07", "client_order_id": "lim-1"}
        first = await client.place(**order)
        assert first[0] == 200 and first[1]["order"]["price"] == "1480.05", first
        await client.status_becomes("lim-1", "ACCEPTED")
        assert await client.place(**order) == first  # off the tick as first sent: the same
        status, body = await client.place(**(order | {"price": "1470"}))
        assert status == 409 and body["error"]["code"] == "client_order_id_reused", body

    run(server, scenario)


def test_two_orders_racing_for_one_client_order_id_send_one(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        order = {"instrument": INFY, "side": "BUY", "quantity": 2, "client_order_id": "race-1"}
        answers = await asyncio.gather(
            client.place(**order), client.place(**(order | {"quantity": 3}))
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200, 409], answers
        (sent,) = [body["order"] for status, body in answers if status == 200]
        await client.status_becomes("race-1", "ACCEPTED")
        (routed,) = (await client.get("orders", OrderBlotter)).orders
        assert routed.quantity == sent["quantity"]

    run(server, scenario)


def test_a_limit_price_is_put_on_the_tick_by_risk(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        status, body = await client.place(
            instrument=INFY, side="BUY", quantity=1, order_type="LIMIT", price="1480.07"
        )
        assert status == 200, body
        assert msgspec.convert(body, OrderPlaced).order.price == Decimal("1480.05")

    run(server, scenario)


@pytest.mark.parametrize(
    ("order", "code"),
    [
        ({"instrument": INFY, "side": "BUY", "quantity": 400}, "max_notional"),  # 600,000
        ({"instrument": SBIN, "side": "BUY", "quantity": 5}, "lot_size"),
        ({"instrument": INFY, "side": "SELL", "quantity": 1}, "zero_size"),  # long only
        (
            {"instrument": INFY, "side": "BUY", "quantity": 1, "order_type": "LIMIT"}
            | {"price": "1300"},
            "fat_finger",
        ),
    ],
)
def test_a_manual_order_past_a_risk_limit_is_a_422_with_risks_code(
    server: Server, order: dict[str, Any], code: str
) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        trade(server, SBIN, 800.0)
        status, body = await client.place(**order)
        assert status == 422, body
        error = body["error"]
        assert error["code"] == "risk_denied"
        assert error["details"]["code"] == code
        assert error["details"]["instrument"] == order["instrument"]
        assert isinstance(error["details"]["figures"], dict)
        risk = await client.get("risk", RiskStatus)
        assert [d.code.value for d in risk.recent_denials] == [code]
        blotter = await client.get("orders", OrderBlotter)
        assert blotter.orders == []

    run(server, scenario)


def test_an_unknown_instrument_is_a_400_naming_it_and_the_known_ones(server: Server) -> None:
    async def scenario(client: Client) -> None:
        status, body = await client.place(instrument="NSE:INFI", side="BUY", quantity=1)
        assert status == 400, body
        error = body["error"]
        assert error["code"] == "unknown_instrument"
        assert "NSE:INFI" in error["message"] and "did you mean NSE:INFY" in error["message"]
        assert error["details"]["field"] == "instrument"
        assert error["details"]["value"] == "NSE:INFI"
        assert error["details"]["known"] == [INFY, SBIN]
        # Refused before risk and before the journal: nothing recorded, no denial counted.
        assert commands(server) == []
        assert (await client.get("risk", RiskStatus)).recent_denials == []

    run(server, scenario)


def test_max_notional_denial_carries_the_figures(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        status, body = await client.place(instrument=INFY, side="BUY", quantity=400)
        assert status == 422
        figures = body["error"]["details"]["figures"]
        assert Decimal(figures["notional"]) == Decimal(600000)
        assert Decimal(figures["max_order_notional"]) == Decimal(500000)
        outcome = next(c.outcome for c in commands(server) if c.kind == "submit_order")
        assert outcome in {None, "refused: max_notional"}  # written without waiting

    run(server, scenario)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b"", "invalid_body", "body"),
        (b"{", "malformed_json", None),
        (b'{"instrument": "NSE:INFY", "side": "BUY"}', "invalid_body", "quantity"),
        (b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 0}', "invalid_body", "quantity"),
        (b'{"instrument": "NSE:INFY", "side": "HOLD", "quantity": 1}', "invalid_body", "side"),
        (b'{"instrument": "", "side": "BUY", "quantity": 1}', "invalid_body", "instrument"),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "foo": 1}',
            "invalid_body",
            "foo",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "order_type": "LIMIT"}',
            "invalid_body",
            "price",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "price": "1500"}',
            "invalid_body",
            "price",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "order_type": "LIMIT",'
            b' "price": "-1"}',
            "invalid_body",
            "price",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "order_type": "LIMIT",'
            b' "price": "NaN"}',
            "invalid_body",
            "price",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "order_type": "LIMIT",'
            b' "price": "1500.123456789"}',
            "invalid_body",
            "price",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1,'
            b' "order_type": "STOP_MARKET"}',
            "invalid_body",
            "trigger_price",
        ),
        (
            b'{"instrument": "NSE:INFY", "side": "BUY", "quantity": 1, "client_order_id": "a b"}',
            "invalid_body",
            "client_order_id",
        ),
    ],
)
def test_a_bad_order_body_is_a_400_naming_the_field_and_records_nothing(
    server: Server, body: bytes, code: str, field: str | None
) -> None:
    async def scenario(client: Client) -> None:
        status, answer = await client.call("POST", "orders", raw=body)
        assert status == 400, answer
        assert answer["error"]["code"] == code
        if field is not None:
            assert answer["error"]["details"]["field"] == field
        assert commands(server) == []

    run(server, scenario)


# -- the kill switch ----------------------------------------------------------------------------


def test_flatten_closes_the_position_and_halts(server: Server) -> None:
    async def scenario(client: Client) -> None:
        await buy_and_fill(client)
        status, body = await client.call("POST", "flatten", {"reason": "end of test"})
        assert status == 200, body
        report = msgspec.convert(body, FlattenReport)
        assert report.halted and report.trading_state.value == "HALTED"
        assert report.reason == "end of test"
        (closing,) = report.closing_orders
        assert (closing.instrument, closing.side.value, closing.quantity) == (INFY, "SELL", 10)
        recorded = next(c for c in commands(server) if c.command_id == report.command_id)
        assert recorded.kind == "flatten" and recorded.body["reason"] == "end of test"

        await client.status_becomes(closing.client_order_id, "ACCEPTED")
        trade(server, INFY, 1499.0)
        await client.status_becomes(closing.client_order_id, "FILLED")

        async def flat() -> bool:
            positions = await client.get("positions", PositionsReport)
            return positions.account.open_positions == 0

        await until(flat, "the position closed")
        state = await client.get("state", StateReport)
        assert state.trading_state.value == "HALTED"
        # Halted: a new order is refused.
        status, body = await client.place(instrument=INFY, side="BUY", quantity=1)
        assert status == 422 and body["error"]["details"]["code"] == "trading_halted"

    run(server, scenario)


def test_flatten_with_nothing_open_still_halts(server: Server) -> None:
    async def scenario(client: Client) -> None:
        status, body = await client.call("POST", "flatten", raw=b"")
        assert status == 200, body
        report = msgspec.convert(body, FlattenReport)
        assert report.closing_orders == [] and report.halted
        assert report.reason == "kill switch via API"

        async def halted() -> bool:
            return (await client.get("state", StateReport)).trading_state.value == "HALTED"

        await until(halted, "HALTED")

    run(server, scenario)


# -- cancel -------------------------------------------------------------------------------------


def test_delete_cancels_a_working_limit_order(server: Server) -> None:
    async def scenario(client: Client) -> None:
        trade(server, INFY, 1500.0)
        status, body = await client.place(
            instrument=INFY, side="BUY", quantity=10, order_type="LIMIT", price="1450"
        )
        assert status == 200, body
        order_id = msgspec.convert(body, OrderPlaced).order.client_order_id
        await client.status_becomes(order_id, "ACCEPTED")
        trade(server, INFY, 1500.0)  # above the limit: nothing fills

        status, body = await client.call("DELETE", f"orders/{order_id}")
        assert status == 200, body
        answer = msgspec.convert(body, CancelRequested)
        assert answer.order.client_order_id == order_id
        await client.status_becomes(order_id, "CANCELED")
        recorded = next(c for c in commands(server) if c.command_id == answer.command_id)
        assert recorded.kind == "cancel_order" and recorded.body["client_order_id"] == order_id

        status, body = await client.call("DELETE", f"orders/{order_id}")
        assert status == 409, body
        assert body["error"]["code"] == "order_ended"
        assert body["error"]["details"]["status"] == "CANCELED"
        assert (await client.get("orders?status=open", OrderBlotter)).orders == []

    run(server, scenario)


def test_delete_of_an_unknown_order_is_a_404(server: Server) -> None:
    async def scenario(client: Client) -> None:
        status, body = await client.call("DELETE", "orders/no-such-order")
        assert status == 404, body
        assert body["error"]["code"] == "unknown_order"
        assert commands(server) == []

    run(server, scenario)


# -- the gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "positions"),
        ("GET", "orders"),
        ("GET", "trades"),
        ("GET", "fills"),
        ("GET", "signals"),
        ("GET", "rankings"),
        ("GET", "risk"),
        ("POST", "flatten"),
        ("POST", "orders"),
        ("DELETE", "orders/x"),
    ],
)
def test_every_trading_endpoint_needs_the_token(server: Server, method: str, path: str) -> None:
    async def scenario(client: Client) -> None:
        status, body = await client.call(method, path, token=False)
        assert status == 401 and body["error"]["code"] == "unauthorized"

    run(server, scenario)
    assert server.runtime.trading_state.value == "ACTIVE"


def test_without_a_trading_core_the_endpoints_answer_503() -> None:
    with running_server(trading=False) as server:

        async def scenario(client: Client) -> None:
            for method, path in (("GET", "positions"), ("GET", "fills"), ("POST", "flatten")):
                status, body = await client.call(method, path)
                assert status == 503 and body["error"]["code"] == "no_trading_core"

        run(server, scenario)


def test_commands_are_refused_while_shutting_down(server: Server) -> None:
    server.engine.accepting = False

    async def scenario(client: Client) -> None:
        for method, path, body in (
            ("POST", "flatten", None),
            ("POST", "orders", {"instrument": INFY, "side": "BUY", "quantity": 1}),
            ("DELETE", "orders/x", None),
        ):
            status, answer = await client.call(method, path, body)
            assert status == 503 and answer["error"]["code"] == "shutting_down"
        status, _ = await client.call("GET", "positions")
        assert status == 200  # reads still answer

    run(server, scenario)
    assert commands(server) == []


# -- the live view ------------------------------------------------------------------------------


def test_the_live_view_carries_account_risk_and_an_instruments_fills(server: Server) -> None:
    async def scenario(client: Client) -> None:
        ws_url = f"{server.url}/ws"
        async with client.session.ws_connect(ws_url) as ws:
            topics = ["account", "risk", f"fills:{INFY}"]
            await ws.send_json({"op": "subscribe", "topics": topics})
            snapshots = [await next_json(ws) for _ in topics]
            assert [(s["op"], s["topic"]) for s in snapshots] == [
                ("snapshot", topic) for topic in topics
            ]
            trade(server, INFY, 1500.0)
            status, _ = await client.place(instrument=INFY, side="BUY", quantity=400)
            assert status == 422
            await buy_and_fill(client)
            seen: dict[str, list[str]] = {}
            while not {"risk", "account", f"fills:{INFY}"} <= set(seen):
                frame = await next_json(ws, timeout_s=10)
                if frame["op"] == "update":
                    seen.setdefault(frame["topic"], []).append(frame["data"]["type"])
            assert seen["risk"] == ["RiskDenied"]
            assert "AccountChanged" in seen["account"]
            assert seen[f"fills:{INFY}"] == ["OrderFilled"]

    run(server, scenario)
