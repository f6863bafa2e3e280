"""``troupe run``: the long-lived service (DESIGN §9).

Start: read the configuration and secrets (a problem exits 2 before anything starts), lock
the data directory (another engine holding it exits 2, :mod:`troupe.data_dir_lock`), set up
logs, resolve the API token, start the actors under the root supervisor on the threaded
runtime, then serve the API and live view with aiohttp on uvloop in the main thread. The
strategy hosts start once the router has reconciled its book with the broker's (until then
``/health`` is not ready).

Stop, on SIGINT or SIGTERM, in this order and within ``shutdown.timeout_s``:

1. stop intake: mutating API calls answer 503;
2. settle orders: wait (at most half the timeout) until nothing is in flight to the broker
   or the journal, then compare the books with the broker's a last time (the report is
   logged and published); working orders stay at the broker, a stop protects its position;
3. close the sockets: WebSocket clients get 1001 "going away", the listener closes;
4. stop the actors in reverse start order, each within its own timeout: the feed first (it
   was started last), then the bar aggregator, whose last bars the candle recorder writes;
5. close the database once the recorder has handed over its last batch.

A second signal exits at once with status 130; a shutdown past its timeout exits 4.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec
import structlog
import uvloop

from actors.heartbeat import NAME as HEARTBEAT
from actors.heartbeat import Heartbeat
from actors.trading_control import NAME as TRADING
from actors.trading_control import TradingControl
from actors.web_hub import NAME as WEB_HUB
from actors.web_hub import WebHub
from engine.config.load import ConfigError, load_config
from engine.config.schema import TroupeConfig
from engine.config.secrets import Secrets, load_secrets
from engine.logs import configure_logging
from engine.messages.reconciliation import TOPIC_RECONCILIATION, ReconciliationReport
from engine.orders import ReconcileNow, SettlementReport
from engine.runtime import Runtime
from engine.spec import ActorSpec, SupervisorSpec
from troupe.data_dir_lock import DataDirInUseError, lock_data_dir
from troupe.decisions import Decisions, decisions, reader
from troupe.market import MarketData, market_data
from troupe.trading import LEDGER, RISK, ROUTER, TradingCore, trading_control, trading_core
from web.app import serve
from web.auth import resolve_api_token
from web.live import LiveView
from web.ports import EngineHandle, TradingPorts

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_SHUTDOWN_TIMEOUT = 4
EXIT_FORCED = 130

log = structlog.get_logger("troupe.service")


def version() -> str:
    try:
        return metadata.version("troupe")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def startup_problems(config: TroupeConfig, secrets: Secrets, env: Mapping[str, str]) -> list[str]:
    """Reasons ``troupe run`` must not start with this configuration (empty: go)."""
    problems: list[str] = []
    if config.mode == "live":
        # Three locks, all required (DESIGN §8), and this build has no live broker at all.
        if env.get("TROUPE_SAFE_MODE", "on").strip().lower() != "off":
            problems.append(
                'mode = "live": refused while safe mode is on; set TROUPE_SAFE_MODE=off'
            )
        if not secrets.brokers:
            problems.append('mode = "live": refused without broker credentials in the secrets file')
        problems.append('mode = "live": this build has no live broker adapter yet')
    elif config.mode == "backtest":
        problems.append('mode = "backtest" runs with `troupe backtest`, not `troupe run`')
    if config.runtime.kind != "threaded":
        problems.append(
            f'runtime.kind = "{config.runtime.kind}": `troupe run` needs the threaded runtime'
        )
    return problems


def actor_tree(
    config: TroupeConfig,
    deliver: Callable[[list[tuple[str, Any]]], object],
    market: Sequence[ActorSpec] = (),
    decisions: Sequence[ActorSpec | SupervisorSpec] = (),
    trading: Sequence[ActorSpec] = (),
    *,
    control: ActorSpec | None = None,
) -> SupervisorSpec:
    """What the service starts, in this order (stopped in reverse): the engine's own actors,
    the trading core (journal, router, risk, ledger), the ranker and the strategies, then
    market data with the feed last, so that stopping begins with the feed, the last bars still
    reach the strategies, and the journal is the last to stop. ``control``: the trading
    state's owner (:func:`troupe.trading.trading_control`; default: one starting ACTIVE)."""
    flush_ns = config.web.ws_flush_ms * 1_000_000
    return config.runtime.apply(
        SupervisorSpec(
            "root",
            [
                ActorSpec(HEARTBEAT, Heartbeat),
                control or ActorSpec(TRADING, TradingControl),
                ActorSpec(WEB_HUB, lambda: WebHub(deliver=deliver, flush_ns=flush_ns)),
                *trading,
                *decisions,
                *market,
            ],
        )
    )


def run_service(
    files: Sequence[str],
    *,
    host: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run until a signal; return the process exit status (see the module docstring)."""
    env = os.environ if env is None else env
    try:
        config = load_config(files, env)
        secrets = load_secrets(env)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    web = msgspec.structs.replace(
        config.web,
        **{k: v for k, v in (("host", host), ("port", port)) if v is not None},
    )
    config = msgspec.structs.replace(config, web=web)
    problems = startup_problems(config, secrets, env)
    if problems:
        for problem in problems:
            print(f"cannot start: {problem}", file=sys.stderr)
        return EXIT_CONFIG

    data_dir = Path(config.data_dir)
    try:
        # Before anything in it is opened (logs, token, journal, paper book); held for life.
        lock_data_dir(data_dir)
    except DataDirInUseError as busy:
        print(f"cannot start: {busy}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"cannot start: data directory {data_dir}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(
        config.log.level,
        console=config.log.console,
        file=data_dir / config.log.file if config.log.file else None,
        max_bytes=config.log.max_bytes,
        backups=config.log.backups,
    )
    try:
        token, generated = resolve_api_token(secrets.api_token, data_dir / config.web.token_file)
    except (OSError, ValueError) as exc:
        print(f"cannot start: API token: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if generated:
        # Printed once, on the console only: the log file never sees it.
        print(
            f"API token (kept in {data_dir / config.web.token_file}, shown only now): "
            f"{token.reveal()}",
            file=sys.stderr,
        )
    if not _is_loopback(config.web.host):
        log.warning(
            "binding beyond loopback: anyone who reaches this address and holds the token "
            "can pause and halt trading",
            host=config.web.host,
        )
    runtime = config.runtime.make_runtime()
    try:
        market = market_data(config, runtime)
    except ConfigError as error:
        for problem in error.problems:
            print(f"cannot start: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        try:
            middle = decisions(config, runtime, market, read_entries=reader(files), hold_hosts=True)
        except ConfigError as error:
            for problem in error.problems:
                print(f"cannot start: {problem}", file=sys.stderr)
            return EXIT_CONFIG
        assert market.database is not None
        core = trading_core(
            config,
            runtime,
            market.database,
            market.master,
            simulated_market=config.market.source == "sim",
            prices=market.prices,
        )
        core.attach(runtime, market.instruments)
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(_serve(config, secrets, token, runtime, market, middle, core))
        finally:
            core.close()  # after the actors: the journal's last records are committed
    finally:
        market.close()  # after the actors: the recorder's last batch is written first


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(  # noqa: PLR0917 (the service's parts, in the order they are made)
    config: TroupeConfig,
    secrets: Secrets,
    token: Any,
    runtime: Runtime,
    market: MarketData,
    middle: Decisions,
    core: TradingCore,
) -> int:
    loop = asyncio.get_running_loop()
    # Signals first: one that arrives while the actors start still means "stop", cleanly.
    stopping = asyncio.Event()
    signals: list[str] = []

    def on_signal(signum: int) -> None:
        signals.append(signal.Signals(signum).name)
        if len(signals) > 1:
            print("second signal: exiting now", file=sys.stderr, flush=True)
            os._exit(EXIT_FORCED)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    live = LiveView(config.web)
    engine = EngineHandle(
        runtime=runtime,
        config=config,
        api_token=token,
        version=version(),
        started_at_ns=time.time_ns(),
        started_monotonic_s=time.monotonic(),
        redacted_config={
            "config": msgspec.to_builtins(config),
            "secrets": secrets.redacted(),
        },
        control_actor=TRADING,
        strategies=middle.desk,
        trading=TradingPorts(
            reader=core.reader,
            writer=core.writer,
            risk=RISK,
            router=ROUTER,
            ledger=LEDGER,
            instruments=market.master,
        ),
    )

    for feed in market.feeds:
        engine.follow_feed(feed)
    tree = actor_tree(
        config,
        lambda batch: loop.call_soon_threadsafe(live.deliver, batch),
        market.specs,
        middle.specs,
        core.specs,
        control=trading_control(runtime, core),
    )
    reconciled = asyncio.Event()

    def on_reconciliation(_topic: str, message: Any) -> None:
        if isinstance(message, ReconciliationReport):
            loop.call_soon_threadsafe(reconciled.set)

    remove_listener = runtime.add_listener(TOPIC_RECONCILIATION, on_reconciliation)
    await _off_loop(lambda: runtime.start(tree))
    engine.strategies_started = not middle.held_hosts
    hosts = asyncio.create_task(
        _start_strategies(engine, reconciled, middle, runtime, remove_listener)
    )
    try:
        site = await serve(engine, live, config.web.host, config.web.port)
    except OSError as exc:
        log.error("cannot listen", host=config.web.host, port=config.web.port, error=str(exc))
        await _off_loop(runtime.stop)
        return EXIT_FAILURE
    log.info(
        "engine started",
        mode=config.mode,
        url=f"http://{config.web.host}:{config.web.port}/api/v1/",
        actors=len(runtime.describe().actors),
        source=config.market.source,
        instruments=len(market.instruments),
    )

    await stopping.wait()
    hosts.cancel()
    await asyncio.gather(hosts, return_exceptions=True)
    log.info("stopping", signal=signals[0], timeout_s=config.shutdown.timeout_s)
    try:
        await asyncio.wait_for(
            _shut_down(engine, site, runtime, settle_s=config.shutdown.timeout_s / 2),
            timeout=config.shutdown.timeout_s,
        )
    except TimeoutError:
        log.error("shutdown timed out", timeout_s=config.shutdown.timeout_s)
        return EXIT_SHUTDOWN_TIMEOUT
    log.info("stopped")
    return EXIT_OK


async def _start_strategies(
    engine: EngineHandle,
    reconciled: asyncio.Event,
    middle: Decisions,
    runtime: Runtime,
    remove_listener: Callable[[], None],
) -> None:
    """DESIGN §7: the strategies start once the books were compared with the broker's (the
    router refuses entries until then; a strategy warming up meanwhile would only see its
    signals refused)."""
    try:
        await reconciled.wait()
    finally:
        remove_listener()
    started: list[int] = []
    try:
        await _off_loop(lambda: started.append(middle.start_hosts(runtime)))
    except Exception as exc:  # stopping meanwhile: the runtime takes no more actors
        log.warning("strategies not started", error=f"{type(exc).__name__}: {exc}")
        return
    engine.strategies_started = True
    log.info("strategies started after reconciliation", hosts=started[0])


async def _shut_down(engine: EngineHandle, site: Any, runtime: Runtime, *, settle_s: float) -> None:
    engine.accepting = False
    log.info("shutdown: intake stopped (mutating API calls answer 503)")
    if engine.trading is not None:
        await _settle(runtime, engine.trading.router, settle_s)
    await site.cleanup()
    log.info("shutdown: sockets closed")
    await _off_loop(runtime.stop)
    log.info("shutdown: actors stopped in reverse order, the feed first")


async def _settle(runtime: Runtime, router: str, within_s: float) -> None:
    """Let what is in flight reach the broker and the journal, then compare the books a last
    time (DESIGN §9). Working orders stay at the broker: a bracket's stop protects its
    position while the engine is down."""
    deadline = time.monotonic() + within_s
    answer: Any = None
    while True:
        try:
            answer = await asyncio.wait_for(
                asyncio.to_thread(runtime.ask, router, ReconcileNow(ts_event=0, ts_init=0)),
                timeout=max(0.1, deadline - time.monotonic()),
            )
        except Exception as exc:
            log.error("shutdown: the router did not settle", error=f"{type(exc).__name__}: {exc}")
            return
        if not isinstance(answer, SettlementReport) or answer.settled:
            break
        if time.monotonic() >= deadline:
            log.error(
                "shutdown: orders still in flight, not settled in time",
                in_flight=answer.in_flight,
                within_s=within_s,
            )
            return
        await asyncio.sleep(0.05)
    if not isinstance(answer, SettlementReport):
        return
    report = answer.reconciliation
    log.info(
        "shutdown: orders settled",
        open_orders_left_working=answer.open_orders,
        final_reconciliation=(
            "not made: " + answer.error
            if report is None
            else "no differences"
            if report.in_agreement
            else f"{len(report.order_differences)} order and "
            f"{len(report.position_differences)} position differences"
        ),
    )


async def _off_loop(fn: Callable[[], None]) -> None:
    """Run blocking runtime work on a daemon thread so the loop never waits on an actor and
    a stuck stop cannot hold the process past the shutdown timeout."""
    done: Future[None] = Future()

    def work() -> None:
        try:
            fn()
        except BaseException as exc:
            outcome: BaseException | None = exc
        else:
            outcome = None
        if done.cancelled():
            return  # the waiter gave up (a shutdown): nobody to tell
        if outcome is None:
            done.set_result(None)
        else:
            done.set_exception(outcome)

    threading.Thread(target=work, name="troupe-service", daemon=True).start()
    await asyncio.wrap_future(done)
