"""A real engine behind a real aiohttp server on 127.0.0.1, for the web tests.

:func:`running_server` starts a :class:`~engine.threaded.ThreadedRuntime` with the trading
control actor and the web hub (and, if asked, a fast heartbeat), and serves the API on its own
event loop thread, as the service does. Tests talk to it with real clients from their own
loop (``asyncio.run``) or thread, and publish with ``server.runtime.publish`` from theirs.

It also runs the trading core as the service builds it (:func:`troupe.trading.trading_core`):
the journal on a SQLite file in ``trading_dir`` (default: a temporary directory), the ledger,
the order router on the paper broker (its own book in the same directory) and the risk
supervisor, over :data:`INSTRUMENTS`, whose market is open around the clock. Prices reach the
broker, risk and the ledger as they do in the service: publish a ``TradeTick`` on
``ticks:<instrument>``. With ``trading=False`` there is none, and the trading endpoints answer
503 ``no_trading_core``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import uvloop
from aiohttp import ClientWebSocketResponse, web

from actors.trading_control import NAME as TRADING
from actors.trading_control import TradingControl
from actors.web_hub import NAME as WEB_HUB
from actors.web_hub import WebHub
from engine.actor import Actor, handles
from engine.config.schema import TroupeConfig, WebConfig
from engine.config.secrets import Secret
from engine.context import Context
from engine.instruments import Instrument
from engine.messages.runtime import TOPIC_ENGINE, HeartbeatEmitted
from engine.messages.trading import LiquiditySide, OrderFilled, OrderSide
from engine.spec import ActorSpec, SupervisorSpec
from engine.store.database import Database
from engine.strategy_vault import StrategyVault
from engine.threaded import ThreadedRuntime
from troupe.strategies import SUPERVISOR as STRATEGIES
from troupe.strategies import HostServices
from troupe.strategy_desk import StrategyDesk
from troupe.trading import TradingCore, trading_core
from web.app import serve
from web.live import LiveView
from web.ports import EngineHandle, TradingPorts

TOKEN = "test-token-0123456789"
VERSION = "9.9.9-test"
T = TypeVar("T")


def nse_instrument(instrument_id: str, *, lot_size: int = 1) -> Instrument:
    exchange, _, symbol = instrument_id.partition(":")
    return Instrument(
        id=instrument_id,
        symbol=symbol,
        exchange=exchange,
        currency="INR",
        tick_size=Decimal("0.05"),
        time_zone="Asia/Kolkata",
        calendar="NSE",
        lot_size=lot_size,
    )


INSTRUMENTS: dict[str, Instrument] = {
    "NSE:INFY": nse_instrument("NSE:INFY"),
    "NSE:SBIN": nse_instrument("NSE:SBIN", lot_size=10),
}
"""What the test trading core trades (``NSE:SBIN`` in lots of 10)."""


class _Beat(msgspec.Struct, frozen=True):
    pass


class Pulse(Actor):
    """Publishes a heartbeat every 100 ms so that health stays ready during a test."""

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.beats = 0
        ctx.schedule_periodic(100_000_000, _Beat(), first_delay_ns=0)

    @handles(_Beat)
    def on_beat(self, _beat: _Beat) -> None:
        self.beats += 1
        now = self.ctx.now_ns()
        self.ctx.publish(TOPIC_ENGINE, HeartbeatEmitted(ts_event=now, ts_init=now, beat=self.beats))


@dataclass
class Server:
    engine: EngineHandle
    live: LiveView
    runtime: ThreadedRuntime
    loop: asyncio.AbstractEventLoop
    url: str
    """``http://127.0.0.1:PORT/api/v1``"""
    runner: web.AppRunner
    core: TradingCore | None = None
    """The trading core, with ``trading_dir``."""

    def close(self) -> None:
        """Shut the web server down as the service does (``runner.cleanup()``); idempotent."""
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(15)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (where the live view lives) and return its result."""

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)


def config_with(**web: Any) -> TroupeConfig:
    return TroupeConfig(web=WebConfig(**web))


@contextmanager
def running_server(
    config: TroupeConfig | None = None,
    *,
    heartbeat: bool = True,
    trading: bool = True,
    trading_dir: Path | None = None,
) -> Iterator[Server]:
    config = config or TroupeConfig()
    scratch: str | None = None
    if trading and trading_dir is None:
        scratch = tempfile.mkdtemp(prefix="troupe-web-")
        trading_dir = Path(scratch)
    if trading_dir is not None:
        config = msgspec.structs.replace(config, data_dir=str(trading_dir))
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-web-loop", daemon=True)
    thread.start()
    runtime = ThreadedRuntime()
    live = LiveView(config.web)
    engine = EngineHandle(
        runtime=runtime,
        config=config,
        api_token=Secret(TOKEN),
        version=VERSION,
        started_at_ns=time.time_ns(),
        started_monotonic_s=time.monotonic(),
        redacted_config={"config": msgspec.to_builtins(config), "secrets": {"api_token": "***"}},
        control_actor=TRADING,
    )

    flush_ns = config.web.ws_flush_ms * 1_000_000
    children: list[ActorSpec | SupervisorSpec] = [
        ActorSpec(TRADING, TradingControl),
        ActorSpec(
            WEB_HUB,
            lambda: WebHub(
                lambda batch: loop.call_soon_threadsafe(live.deliver, batch), flush_ns=flush_ns
            ),
        ),
    ]
    if heartbeat:
        children.append(ActorSpec("pulse", Pulse))
    # A real desk over an empty strategies supervisor: the API lists and reloads through it.
    children.append(SupervisorSpec(STRATEGIES, []))
    engine.strategies = StrategyDesk(
        runtime,
        HostServices(vault=StrategyVault()),
        [],
        instruments=list(config.market.instruments),
        intervals=list(config.bars.intervals),
        read_entries=lambda: config.strategies,
    )
    database: Database | None = None
    core: TradingCore | None = None
    if trading_dir is not None:
        database = Database(f"sqlite+aiosqlite:///{trading_dir / 'troupe.db'}")
        core = trading_core(config, runtime, database, INSTRUMENTS, simulated_market=True)
        core.attach(runtime, list(INSTRUMENTS))
        children.extend(core.specs)
        engine.trading = TradingPorts(
            reader=core.reader, writer=core.writer, instruments=INSTRUMENTS
        )
    server: Server | None = None
    try:
        runtime.start(SupervisorSpec("root", children))
        runner = asyncio.run_coroutine_threadsafe(serve(engine, live, "127.0.0.1", 0), loop).result(
            10
        )
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/api/v1"
        server = Server(engine, live, runtime, loop, url, runner, core)
        yield server
    finally:
        if server is not None:
            server.close()
        runtime.stop()
        if core is not None:
            core.close()  # after the actors, as the service does
        if database is not None:
            database.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


async def eventually(
    condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Return once ``condition()`` holds; fail after ``timeout_s`` (polls, no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout_s}s")
        await asyncio.sleep(0.005)


async def count_reaches(
    count: Callable[[], int], target: int, timeout_s: float = 5.0, what: str = "count"
) -> None:
    """Return once ``count() >= target``; fail after ``timeout_s``."""
    await eventually(lambda: count() >= target, timeout_s, f"{what} reaching {target}")


async def next_json(ws: ClientWebSocketResponse, timeout_s: float = 5.0) -> dict[str, Any]:
    """The next frame from the server, decoded; fails on a close or after ``timeout_s``."""
    message = await ws.receive(timeout=timeout_s)
    if not isinstance(message.data, str):
        raise AssertionError(f"expected a text frame, got {message.type!r} {message.data!r}")
    decoded: dict[str, Any] = msgspec.json.decode(message.data)
    return decoded


async def within(awaitable: Awaitable[T], timeout_s: float = 10.0) -> T:
    async with asyncio.timeout(timeout_s):
        return await awaitable


def fill(n: int, instrument: str = "NSE:RELIANCE") -> OrderFilled:
    """An order event: never dropped on the way to a client."""
    return OrderFilled(
        ts_event=n,
        ts_init=n,
        client_order_id=f"O-{n}",
        venue_order_id=f"V-{n}",
        trade_id=f"T-{n}",
        instrument=instrument,
        strategy="test",
        side=OrderSide.BUY,
        last_qty=1,
        last_price=Decimal("2450.05"),
        fee=Decimal("0.10"),
        currency="INR",
        liquidity_side=LiquiditySide.TAKER,
    )
