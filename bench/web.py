"""Figures for the web surface: API latency at a fixed request rate, live view fan-out, and the
event loop's lag while both run.

Benchmarks report figures; they do not pass or fail (DESIGN §2). The figures with a right
answer (no errors, no sequence gaps, no disconnects) are checked by
``tests/test_bench_web.py``, never the speeds. Targets from the issue: API p99 < 10 ms at 200
requests/s; 100 clients each receiving 50 messages/s with loop lag p99 < 20 ms.

Run it with ``troupe bench web [--json] [--quick]`` or ``python -m bench.web``.

The server runs in this process as ``troupe run`` runs it: uvloop in the main thread, the
service's actor tree (:func:`troupe.service.actor_tree`) on a threaded runtime, the app from
:func:`web.app.serve` on 127.0.0.1 and a free port, a listener keeping the heartbeat fresh.
The load comes from a second OS process (``python -m bench.web --load-http ...`` or
``--load-ws ...``), so the client's own work does not run on the loop being measured.

``api_latency_ms_p50`` / ``_p99``
    ``GET /api/v1/state`` with the bearer token, open loop at a fixed 200 requests/s (request
    ``i`` is due at ``t0 + i / rate`` whatever happened to the previous ones) over a small
    keep-alive pool; each latency runs from the due time to the last byte of the answer.
    ``api_requests``, ``api_errors`` (non-200 or failed) and ``api_rate_achieved`` (answers per
    second from ``t0`` to the last answer) go with it.
``ws_msgs_per_s_100_clients``
    100 WebSocket clients subscribed to ``orders`` while a thread here publishes 50 order
    events a second (OrderAccepted then OrderFilled, in turn) on the runtime: updates received
    by all clients together, per second of publishing (``ws_expected_msgs_per_s`` is
    100 x 50). ``ws_seq_gaps`` counts updates a client missed (by their sequence numbers),
    ``ws_disconnects`` clients the server closed, ``ws_clients`` clients that subscribed.
``loop_lag_ms_p50`` / ``_p99`` / ``_max``
    A task on the server loop sleeps 10 ms again and again and records how late it wakes,
    over both measured phases (``loop_lag_ms_p99_api`` and ``_ws`` per phase).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import uvloop

from actors.trading_control import NAME as TRADING
from bench.figures import (
    Figures,
    Progress,
    bench_parser,
    collector,
    percentile,
    quiet_logs,
    report,
)
from engine.config.schema import TroupeConfig
from engine.config.secrets import Secret
from engine.messages.trading import LiquiditySide, OrderAccepted, OrderFilled, OrderSide
from engine.runtime import Runtime
from troupe.service import actor_tree, version
from web.app import serve
from web.live import LiveView
from web.ports import EngineHandle

API_RATE = 200
"""Requests per second sent to ``GET state``."""
HTTP_POOL = 4
"""Keep-alive connections the HTTP load may open."""
WS_CLIENTS = 100
WS_RATE = 50
"""Messages per second published on :data:`WS_TOPIC`."""
WS_TOPIC = "orders"
LAG_INTERVAL_S = 0.010
TOKEN = "bench-token-0123456789abcdef"

STARTUP_TIMEOUT_S = 30.0
"""How long a load process may take to start, connect and say ``ready``."""
DRAIN_TIMEOUT_S = 10.0
"""How long, after the last publication, the clients may take to receive everything."""
REQUEST_TIMEOUT_S = 5.0
EXIT_TIMEOUT_S = 5.0

ROOT = Path(__file__).resolve().parent.parent
INSTRUMENTS = ("NSE:RELIANCE", "NSE:TCS", "NSE:INFY", "NSE:HDFCBANK", "NSE:ICICIBANK")


@dataclass(frozen=True)
class Sizes:
    api_seconds: float
    ws_seconds: float


FULL = Sizes(api_seconds=10.0, ws_seconds=10.0)
QUICK = Sizes(api_seconds=2.0, ws_seconds=2.0)


class BenchError(RuntimeError):
    """A load process misbehaved (no ``ready``, no result, bad output)."""


# -- the server side --------------------------------------------------------------------------


class LagMonitor:
    """Sleeps :data:`LAG_INTERVAL_S` on the loop again and again; records how late it woke
    (ms) under the current phase (nothing while ``phase`` is None)."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.samples: dict[str, list[float]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def all_samples(self) -> list[float]:
        return [lag for samples in self.samples.values() for lag in samples]

    async def _run(self) -> None:
        clock = time.perf_counter
        while True:
            before = clock()
            await asyncio.sleep(LAG_INTERVAL_S)
            late_ms = (clock() - before - LAG_INTERVAL_S) * 1e3
            if self.phase is not None:
                self.samples.setdefault(self.phase, []).append(max(0.0, late_ms))


def order_event(n: int) -> OrderAccepted | OrderFilled:
    """The ``n``-th order event: order ``n // 2`` accepted, then filled."""
    now = time.time_ns()
    order = n // 2
    instrument = INSTRUMENTS[order % len(INSTRUMENTS)]
    client_order_id = f"O-20240611-{order:06d}"
    venue_order_id = f"2406110{order:09d}"
    correlation_id = f"sig-momentum-{order:06d}"
    if n % 2 == 0:
        return OrderAccepted(
            ts_event=now,
            ts_init=now,
            client_order_id=client_order_id,
            venue_order_id=venue_order_id,
            instrument=instrument,
            strategy="momentum",
            correlation_id=correlation_id,
        )
    return OrderFilled(
        ts_event=now,
        ts_init=now,
        client_order_id=client_order_id,
        venue_order_id=venue_order_id,
        trade_id=f"T{order:010d}",
        instrument=instrument,
        strategy="momentum",
        side=OrderSide.BUY if order % 3 else OrderSide.SELL,
        last_qty=25 + order % 50,
        last_price=Decimal("2450.05") + Decimal(order % 40) / 20,
        fee=Decimal("20.00"),
        currency="INR",
        liquidity_side=LiquiditySide.NO_LIQUIDITY_SIDE,
        correlation_id=correlation_id,
    )


class Publisher(threading.Thread):
    """Publishes ``rate`` order events a second on :data:`WS_TOPIC` for ``seconds``, on a fixed
    schedule (event ``i`` at ``t0 + i / rate``); ``halt`` stops it early."""

    def __init__(self, runtime: Runtime, rate: int, seconds: float) -> None:
        super().__init__(name="bench-publisher", daemon=True)
        self.runtime = runtime
        self.rate = rate
        self.total = round(rate * seconds)
        self.published = 0
        self.halt = threading.Event()
        self.done: Future[int] = Future()

    def run(self) -> None:
        try:
            started = time.perf_counter()
            for i in range(self.total):
                if self.halt.wait(max(0.0, started + i / self.rate - time.perf_counter())):
                    break
                self.runtime.publish(WS_TOPIC, order_event(i))
                self.published += 1
            self.done.set_result(self.published)
        except BaseException as exc:
            self.done.set_exception(exc)


async def spawn(*args: str, stdin: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.web",
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )


async def read_line(proc: asyncio.subprocess.Process, timeout_s: float, what: str) -> str:
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(timeout_s):
            line = await proc.stdout.readline()
    except TimeoutError:
        raise BenchError(f"gave up waiting {timeout_s:g}s for {what}") from None
    if not line:
        raise BenchError(f"the load process ended (status {await proc.wait()}) before {what}")
    return line.decode("utf-8").strip()


async def expect_ready(proc: asyncio.subprocess.Process) -> None:
    line = await read_line(proc, STARTUP_TIMEOUT_S, "the load process to be ready")
    if line != "ready":
        raise BenchError(f"expected 'ready' from the load process, got {line!r}")


async def read_result(proc: asyncio.subprocess.Process, timeout_s: float) -> dict[str, Any]:
    line = await read_line(proc, timeout_s, "the load process's result")
    result: dict[str, Any] = json.loads(line)
    return result


async def reap(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    """Wait up to ``grace_s`` for ``proc`` to exit, then kill it; always waited for."""
    if proc.returncode is None:
        try:
            async with asyncio.timeout(grace_s):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def api_phase(url: str, seconds: float, lag: LagMonitor) -> Figures:
    proc = await spawn(
        "--load-http",
        f"{url}/state",
        TOKEN,
        str(API_RATE),
        str(seconds),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        await expect_ready(proc)
        lag.phase = "api"
        result = await read_result(proc, seconds + STARTUP_TIMEOUT_S)
        lag.phase = None
        await reap(proc, EXIT_TIMEOUT_S)
    finally:
        lag.phase = None
        await reap(proc, 0.0)
    latencies: list[float] = result["latencies_ms"]
    return {
        "api_latency_ms_p50": percentile(latencies, 50),
        "api_latency_ms_p99": percentile(latencies, 99),
        "api_latency_ms_max": max(latencies, default=math.nan),
        "api_requests": int(result["requests"]),
        "api_errors": int(result["errors"]),
        "api_rate_target": API_RATE,
        "api_rate_achieved": float(result["rate_achieved"]),
    }


async def ws_phase(
    url: str, seconds: float, runtime: Runtime, live: LiveView, lag: LagMonitor
) -> Figures:
    ws_url = url.replace("http://", "ws://", 1) + "/ws"
    proc = await spawn(
        "--load-ws", ws_url, str(WS_CLIENTS), WS_TOPIC, stdin=asyncio.subprocess.PIPE
    )
    publisher = Publisher(runtime, WS_RATE, seconds)
    try:
        await expect_ready(proc)
        first_seq = live.seq(WS_TOPIC)
        lag.phase = "ws"
        publisher.start()
        published = await asyncio.wrap_future(publisher.done)
        # Every event published is numbered by the live view once the hub's next flush lands.
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while live.seq(WS_TOPIC) < first_seq + published:
                await asyncio.sleep(0.005)
        assert proc.stdin is not None
        proc.stdin.write(f"stop {live.seq(WS_TOPIC)}\n".encode())
        await proc.stdin.drain()
        proc.stdin.close()
        result = await read_result(proc, DRAIN_TIMEOUT_S + EXIT_TIMEOUT_S)
        lag.phase = None
        await reap(proc, EXIT_TIMEOUT_S)
    finally:
        lag.phase = None
        publisher.halt.set()
        if publisher.is_alive():
            publisher.join(EXIT_TIMEOUT_S)
        await reap(proc, 0.0)
    delivered = int(result["delivered"])
    return {
        "ws_msgs_per_s_100_clients": delivered / seconds,
        "ws_expected_msgs_per_s": WS_CLIENTS * WS_RATE,
        "ws_published": published,
        "ws_delivered": delivered,
        "ws_seq_gaps": int(result["seq_gaps"]),
        "ws_disconnects": int(result["disconnects"]),
        "ws_clients": int(result["clients"]),
    }


def lag_figures(lag: LagMonitor) -> Figures:
    every = lag.all_samples()
    return {
        "loop_lag_ms_p50": percentile(every, 50),
        "loop_lag_ms_p99": percentile(every, 99),
        "loop_lag_ms_max": max(every, default=math.nan),
        "loop_lag_ms_p99_api": percentile(lag.samples.get("api", []), 99),
        "loop_lag_ms_p99_ws": percentile(lag.samples.get("ws", []), 99),
    }


async def bench(sizes: Sizes, add: Progress | None, figures: Figures) -> None:
    loop = asyncio.get_running_loop()
    config = TroupeConfig()
    live = LiveView(config.web)
    runtime = config.runtime.make_runtime()
    engine = EngineHandle(
        runtime=runtime,
        config=config,
        api_token=Secret(TOKEN),
        version=version(),
        started_at_ns=time.time_ns(),
        started_monotonic_s=time.monotonic(),
        redacted_config={"config": msgspec.to_builtins(config), "secrets": {"api_token": "***"}},
        control_actor=TRADING,
    )

    tree = actor_tree(config, lambda batch: loop.call_soon_threadsafe(live.deliver, batch))
    lag = LagMonitor()
    runner = None
    await asyncio.to_thread(runtime.start, tree)
    try:
        runner = await serve(engine, live, "127.0.0.1", 0)
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/api/v1"
        lag.start()

        record = collector(figures, add)
        record(await api_phase(url, sizes.api_seconds, lag))
        record(await ws_phase(url, sizes.ws_seconds, runtime, live, lag))
        record(lag_figures(lag))
    finally:
        await lag.stop()
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(runtime.stop)


def run(quick: bool = False, progress: Progress | None = None) -> Figures:
    """Run the web benchmark; return the figures (``python`` is the only string).

    ``quick`` runs 2 s phases instead of 10 s (the tests use it); ``progress`` is called with
    one line per figure as it is known.
    """
    sizes = QUICK if quick else FULL
    figures: Figures = {"python": platform.python_version(), "cpu_count": os.cpu_count() or 0}
    with quiet_logs(), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(bench(sizes, progress, figures))
    return figures


# -- the load processes -----------------------------------------------------------------------


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def load_http(url: str, token: str, rate: float, seconds: float) -> dict[str, Any]:
    """Open-loop ``GET url`` at ``rate`` per second for ``seconds``; says ``ready`` once the
    pool is warm, then returns the latencies (ms, from each request's due time)."""
    clock = time.perf_counter
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=HTTP_POOL),
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    ) as session:

        async def get() -> bool:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await asyncio.gather(*(get() for _ in range(HTTP_POOL)))  # open the pool
        say("ready")
        latencies: list[float] = []
        errors = 0
        last_done = 0.0

        async def one(due: float) -> None:
            nonlocal errors, last_done
            sent = max(due, clock())
            ok = await get()
            last_done = clock()
            if ok:
                latencies.append((last_done - sent) * 1e3)
            else:
                errors += 1

        total = round(rate * seconds)
        tasks: list[asyncio.Task[None]] = []
        started = clock()
        for i in range(total):
            due = started + i / rate
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    elapsed = last_done - started
    return {
        "latencies_ms": latencies,
        "requests": total,
        "errors": errors,
        "rate_achieved": total / elapsed if elapsed > 0 else math.inf,
    }


class _Frame(msgspec.Struct):
    op: str
    topic: str = ""
    seq: int = 0


@dataclass
class _Client:
    last_seq: int = -1
    updates: int = 0
    gaps: int = 0
    disconnected: bool = False


async def load_ws(url: str, clients: int, topic: str) -> dict[str, Any]:
    """``clients`` WebSockets subscribed to ``topic``; says ``ready`` once every one has its
    snapshot, then counts updates until ``stop SEQ`` arrives on stdin and every client still
    connected has seen ``SEQ`` (or :data:`DRAIN_TIMEOUT_S` passes)."""
    decode = msgspec.json.Decoder(_Frame).decode
    subscribe = msgspec.json.encode({"op": "subscribe", "topics": [topic]}).decode()
    stopping = False
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = await asyncio.gather(*(session.ws_connect(url) for _ in range(clients)))
        states = [_Client() for _ in sockets]
        subscribed = asyncio.Event()
        waiting = [len(sockets)]

        async def read(ws: aiohttp.ClientWebSocketResponse, state: _Client) -> None:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                frame = decode(message.data)
                if frame.topic != topic:
                    continue
                if frame.op == "snapshot":
                    if state.last_seq < 0:
                        waiting[0] -= 1
                        if waiting[0] == 0:
                            subscribed.set()
                    state.last_seq = frame.seq
                elif frame.op == "update":
                    if frame.seq != state.last_seq + 1:
                        state.gaps += abs(frame.seq - state.last_seq - 1)
                    state.last_seq = frame.seq
                    state.updates += 1
            if not stopping:
                state.disconnected = True

        readers = [
            asyncio.create_task(read(ws, state)) for ws, state in zip(sockets, states, strict=True)
        ]
        for ws in sockets:
            await ws.send_str(subscribe)
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            await subscribed.wait()
        say("ready")
        command = (await asyncio.to_thread(sys.stdin.readline)).split()
        final = int(command[1]) if len(command) == 2 and command[0] == "stop" else 0
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and not all(
            s.disconnected or s.last_seq >= final for s in states
        ):
            await asyncio.sleep(0.005)
        stopping = True
        await asyncio.gather(*(ws.close() for ws in sockets))
        await asyncio.gather(*readers)
    return {
        "clients": len(states),
        "delivered": sum(s.updates for s in states),
        "seq_gaps": sum(s.gaps for s in states),
        "disconnects": sum(s.disconnected for s in states),
    }


def run_load(work: Any) -> int:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(work)
    say(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("web", "Measure the web API and live view.", "2 s phases instead of 10 s")
    load = parser.add_mutually_exclusive_group()
    load.add_argument(
        "--load-http",
        nargs=4,
        metavar=("URL", "TOKEN", "RATE", "SECONDS"),
        help="(internal) be the HTTP load process",
    )
    load.add_argument(
        "--load-ws",
        nargs=3,
        metavar=("URL", "CLIENTS", "TOPIC"),
        help="(internal) be the WebSocket load process",
    )
    args = parser.parse_args(argv)
    if args.load_http is not None:
        url, token, rate, seconds = args.load_http
        return run_load(load_http(url, token, float(rate), float(seconds)))
    if args.load_ws is not None:
        url, clients, topic = args.load_ws
        return run_load(load_ws(url, int(clients), topic))

    return report(run, quick=args.quick, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
