"""The live view's WebSocket on a real server, with real clients and a real runtime.

Messages are published from a thread other than either loop, with ``runtime.publish``, as an
actor or a feed would; they reach clients through the web hub, one loop crossing per flush.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from engine.messages.market import Bar
from tests.web_support import (
    TOKEN,
    Server,
    config_with,
    count_reaches,
    eventually,
    fill,
    next_json,
    running_server,
    within,
)
from web.live import TOO_SLOW_CODE, TOO_SLOW_REASON

PAD = "s" * 4000
"""A long strategy name: big frames fill socket buffers with fewer messages."""


def bar(n: int, interval: str = "1m") -> Bar:
    return Bar(
        ts_event=n,
        ts_init=n,
        instrument="NSE:A",
        interval=interval,
        ts_close=n + 60,
        open=1.0,
        high=2.0,
        low=0.5,
        close=float(n),
        volume=10,
        trade_count=1,
        vwap=1.5,
    )


async def subscribe(ws: ClientWebSocketResponse, *topics: str) -> list[dict[str, Any]]:
    """Subscribe and return the snapshots, one per topic, in order."""
    await ws.send_json({"op": "subscribe", "topics": list(topics)})
    return [await next_json(ws) for _ in topics]


async def publish(server: Server, topic: str, messages: list[Any]) -> None:
    """Publish from a thread of its own (not a loop thread), as a feed or an actor would."""

    def run() -> None:
        for message in messages:
            server.runtime.publish(topic, message)

    await asyncio.to_thread(run)


def test_subscribe_gives_a_snapshot_then_updates_with_consecutive_seqs() -> None:
    async def body(server: Server) -> None:
        await publish(server, "fills", [fill(1), fill(2)])
        await eventually(lambda: server.live.seq("fills") == 2, what="two fills delivered")
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            [snapshot] = await subscribe(ws, "fills")
            assert snapshot["op"] == "snapshot" and snapshot["topic"] == "fills"
            assert snapshot["seq"] == 2
            assert [m["client_order_id"] for m in snapshot["data"]] == ["O-1", "O-2"]

            await publish(server, "fills", [fill(n) for n in range(3, 23)])
            updates = [await next_json(ws) for _ in range(20)]
            assert {u["op"] for u in updates} == {"update"}
            assert [u["seq"] for u in updates] == list(range(3, 23))
            first = updates[0]["data"]
            # Decimal as a string, enums as values, the type tag kept.
            assert first["type"] == "OrderFilled"
            assert (first["last_price"], first["side"]) == ("2450.05", "BUY")

    with running_server() as server:
        asyncio.run(within(body(server)))


def test_state_and_actors_snapshots_are_the_reports_and_state_changes_follow() -> None:
    async def body(server: Server) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            actors, state = await subscribe(ws, "actors", "state")
            assert actors["data"]["type"] == "ActorsReport"
            assert {a["name"] for a in actors["data"]["actors"]} >= {"trading", "web_hub"}
            assert state["data"]["trading_state"] == "ACTIVE"
            assert state["data"]["mode"] == "paper"

            async with session.post(f"{server.url}/pause", headers=server.auth) as response:
                assert response.status == 200
            update = await next_json(ws)
            while update["topic"] == "actors":  # actors started since the snapshot
                update = await next_json(ws)
            assert (update["op"], update["topic"]) == ("update", "state")
            assert update["seq"] == state["seq"] + 1
            assert update["data"]["type"] == "TradingStateChanged"
            assert update["data"]["state"] == "REDUCING"

    with running_server() as server:
        asyncio.run(within(body(server)))


def test_unsubscribe_stops_the_updates_of_that_topic_only() -> None:
    async def body(server: Server) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            await subscribe(ws, "fills", "orders")
            await ws.send_json({"op": "unsubscribe", "topics": ["fills"]})
            await ws.send_json({"op": "ping"})
            assert await next_json(ws) == {"op": "pong"}  # the unsubscribe was handled first

            await publish(server, "fills", [fill(1)])
            await publish(server, "orders", [fill(2)])
            update = await next_json(ws)
            # Had "fills" still been subscribed, its update (published first) would come first.
            assert (update["topic"], update["seq"]) == ("orders", 1)

    with running_server() as server:
        asyncio.run(within(body(server)))


def test_subscribing_again_sends_no_second_snapshot_and_cannot_fill_the_queue() -> None:
    async def body(server: Server) -> None:
        await publish(server, "fills", [fill(1)])
        await eventually(lambda: server.live.seq("fills") == 1, what="a fill delivered")
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            [snapshot] = await subscribe(ws, "fills")
            assert snapshot["seq"] == 1
            # Far more than the queue holds (ws_queue = 16), sent before reading anything.
            for _ in range(1000):
                await ws.send_json({"op": "subscribe", "topics": ["fills", "fills"]})
            await ws.send_json({"op": "ping"})
            assert await next_json(ws) == {"op": "pong"}  # nothing queued before it
            assert server.live.cut_off == 0 and not ws.closed

            await publish(server, "fills", [fill(2)])
            update = await next_json(ws)  # still subscribed, once
            assert (update["op"], update["seq"]) == ("update", 2)

            # A resync of one topic: unsubscribe, subscribe, a fresh snapshot.
            await ws.send_json({"op": "unsubscribe", "topics": ["fills"]})
            [again] = await subscribe(ws, "fills")
            assert (again["op"], again["seq"]) == ("snapshot", 2)
            assert [m["client_order_id"] for m in again["data"]] == ["O-1", "O-2"]

    with running_server(config_with(ws_queue=16)) as server:
        asyncio.run(within(body(server), 30))


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_message"),
        ('{"op": "dance"}', "bad_message"),
        ('{"op": "subscribe", "topics": "fills"}', "bad_message"),
        ('{"op": "subscribe"}', "bad_message"),
        ('{"op": "subscribe", "topics": ["fills", "secrets"]}', "unknown_topic"),
        ('{"op": "subscribe", "topics": ["bars:"]}', "unknown_topic"),
        ("[1, 2]", "bad_message"),
    ],
)
def test_a_bad_message_gets_an_error_and_the_connection_stays(frame: str, code: str) -> None:
    async def body(server: Server) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            await ws.send_str(frame)
            error = await next_json(ws)
            assert error["op"] == "error"
            assert error["error"]["code"] == code
            assert error["error"]["message"]
            await ws.send_bytes(b"\x00")
            assert (await next_json(ws))["error"]["code"] == "bad_message"
            await ws.send_json({"op": "ping"})
            assert await next_json(ws) == {"op": "pong"}
            assert not ws.closed

    with running_server() as server:
        asyncio.run(within(body(server)))


def test_the_token_is_required_on_the_websocket_only_when_configured() -> None:
    async def body(server: Server) -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{server.url}/ws?token=wrong")
            assert refused.value.status == 401
            async with session.ws_connect(f"{server.url}/ws?token={TOKEN}") as ws:
                await ws.send_json({"op": "ping"})
                assert await next_json(ws) == {"op": "pong"}

    with running_server(config_with(ws_requires_token=True)) as server:
        asyncio.run(within(body(server)))


def test_a_foreign_page_cannot_open_the_live_view() -> None:
    async def body(server: Server) -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(
                    f"{server.url}/ws", headers={"Origin": "http://evil.example"}
                )
            assert refused.value.status == 403

    with running_server() as server:
        asyncio.run(within(body(server)))


def test_a_slow_client_is_cut_off_with_the_resync_reason_while_a_fast_one_gets_everything() -> None:
    async def body(server: Server) -> None:
        fast_seqs: list[int] = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{server.url}/ws") as fast,
            session.ws_connect(f"{server.url}/ws") as slow,
        ):
            await subscribe(fast, "fills")
            await subscribe(slow, "fills")  # ...and then the slow client stops reading

            async def read_fast() -> None:
                while True:
                    message = await next_json(fast)
                    fast_seqs.append(message["seq"])

            reader = asyncio.create_task(read_fast())
            published = 0
            # Publish in chunks smaller than the queue, each once the fast client has it all,
            # until the slow client's queue overflows (its socket buffers fill first).
            while server.live.cut_off == 0:
                assert published < 20_000, "the slow client was never cut off"
                chunk = [fill(n, instrument=PAD) for n in range(published, published + 16)]
                await publish(server, "fills", chunk)
                published += len(chunk)
                await count_reaches(lambda: len(fast_seqs), published, what="fast client")
            await publish(server, "fills", [fill(n) for n in range(published, published + 16)])
            published += 16
            await eventually(lambda: len(fast_seqs) == published, what="fast client caught up")
            reader.cancel()
            assert fast_seqs == list(range(1, published + 1))
            assert not fast.closed

            # The slow client reads again: what it had in flight, in order, then the close.
            slow_seqs: list[int] = []
            while True:
                message = await slow.receive(timeout=10)
                if message.type is not WSMsgType.TEXT:
                    break
                slow_seqs.append(msgspec.json.decode(message.data)["seq"])
            assert message.type is WSMsgType.CLOSE
            assert (message.data, message.extra) == (TOO_SLOW_CODE, TOO_SLOW_REASON)
            assert slow_seqs == list(range(1, len(slow_seqs) + 1))
            assert len(slow_seqs) < published

    with running_server(config_with(ws_queue=64, ws_flush_ms=2)) as server:
        asyncio.run(within(body(server), 50))


def test_market_data_is_conflated_for_a_slow_client_which_stays_connected() -> None:
    async def body(server: Server) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            await subscribe(ws, "fills", "bars:NSE:A")
            # The client stops reading; order events pile up in its queue, not dropped.
            published = 0
            while server.on_loop(lambda: next(iter(server.live.clients)).queued) < 100:
                assert published < 20_000, "the client's queue never filled"
                chunk = [fill(n, instrument=PAD) for n in range(published, published + 50)]
                await publish(server, "fills", chunk)
                published += len(chunk)
                await count_reaches(lambda: server.live.seq("fills"), published)
            # Bars keep coming, flush after flush: only the latest per key stays queued.
            for round_ in range(20):
                await publish(server, "bars:NSE:A", [bar(round_, "1m"), bar(round_, "5m")])
                await count_reaches(lambda: server.live.seq("bars:NSE:A"), 2 * round_ + 1)
            client = next(iter(server.live.clients))
            assert server.on_loop(lambda: client.conflated) > 0
            assert server.live.cut_off == 0

            fills: list[int] = []
            bars: list[int] = []
            last_bar_seq = server.live.seq("bars:NSE:A")
            while not bars or bars[-1] < last_bar_seq:
                message = await next_json(ws, timeout_s=10)
                (fills if message["topic"] == "fills" else bars).append(message["seq"])
            assert fills == list(range(1, published + 1))  # every order event, in order
            assert bars == sorted(bars) and len(bars) < last_bar_seq  # gaps: conflated
            await ws.send_json({"op": "ping"})
            assert await next_json(ws) == {"op": "pong"}

    with running_server(config_with(ws_queue=2000, ws_flush_ms=2)) as server:
        asyncio.run(within(body(server), 50))


def test_clients_are_closed_with_1001_when_the_server_shuts_down() -> None:
    async def body(server: Server) -> int | None:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{server.url}/ws") as ws:
            await subscribe(ws, "fills")
            closed = asyncio.get_running_loop().run_in_executor(None, server.close)
            message = await ws.receive(timeout=10)
            await closed
            assert message.type is WSMsgType.CLOSE
            return ws.close_code

    with running_server() as server:
        assert asyncio.run(within(body(server))) == 1001
