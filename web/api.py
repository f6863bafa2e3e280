"""The control API's handlers under ``/api/v1``: read the engine, or command it.

Reads come from thread-safe snapshots (``runtime.describe()``, ``runtime.trading_state``).
Commands go to the trading control actor with ``runtime.ask_future`` and are awaited through
``asyncio.wrap_future``, which resolves on the loop via ``call_soon_threadsafe``: the loop
never blocks on an actor.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from engine.config.load import ConfigError
from engine.messages.runtime import TradingState
from engine.messages.trading import HaltTrading, PauseTrading, ResumeTrading
from engine.runtime import DeadLetterError
from web.api_trading import TradingApi
from web.errors import ApiError, json_response
from web.models import (
    API_VERSION,
    CommandRequest,
    FeedHealth,
    HealthReport,
    JournalHealthView,
    ReloadReport,
    ReloadRequest,
    StrategiesReport,
    StrategyView,
    VersionReport,
    iso_utc,
    state_report,
)
from web.ports import EngineHandle
from web.trading_input import decode_body

RELOAD_TIMEOUT_S = 30.0
"""How long a strategy reload may take (asks to every changed host, actors added, removed)."""

COMMAND_TIMEOUT_S = 5.0
"""How long a command may wait for the trading control actor."""

HEARTBEAT_STALE_S = 5.0
"""Readiness wants an engine heartbeat (one a second) no older than this."""

DOWN_STATES = frozenset({"new", "restarting", "retired"})
"""Actor states that make the engine not ready."""


def health_report(engine: EngineHandle) -> HealthReport:
    runtime = engine.runtime
    report = runtime.describe()
    down = {actor.name: actor.state for actor in report.actors if actor.state in DOWN_STATES}
    problems = [f"actor {name} is {state}" for name, state in sorted(down.items())]
    beat = engine.last_heartbeat_ns
    age_s: float | None = None
    if beat is None:
        problems.append("no engine heartbeat yet")
    else:
        age_s = round(max(0, runtime.now_ns() - beat) / 1e9, 3)
        if age_s > HEARTBEAT_STALE_S:
            problems.append(f"the last engine heartbeat is {age_s} s old (> {HEARTBEAT_STALE_S})")
    feeds: dict[str, FeedHealth] = {}
    now = runtime.now_ns()
    for name, status in sorted(engine.feeds.items()):
        fresh = status.connected and not status.connection_stalled
        if not status.connected:
            problems.append(f"feed {name} is not connected")
        elif status.connection_stalled:
            problems.append(f"feed {name} is silent while its market is open")
        last = status.last_event_ns
        feeds[name] = FeedHealth(
            fresh=fresh,
            connected=status.connected,
            stalled_instruments=sorted(status.stalled),
            last_message_at=None if last is None else iso_utc(last),
            age_s=None if last is None else round(max(0, now - last) / 1e9, 3),
        )
    if engine.trading is not None and engine.reconciled_at_ns is None:
        # DESIGN §7: nothing trades before the books are compared with the broker's.
        problems.append("not yet reconciled with the broker")
    if not engine.strategies_started:
        problems.append("the strategies have not started yet (they start once reconciled)")
    journal: JournalHealthView | None = None
    if engine.trading is not None:
        health = engine.trading.writer.health()
        if not health.ok:
            problems.append(f"the journal cannot write: {health.reason}")
        journal = JournalHealthView(
            ok=health.ok,
            reason=health.reason,
            unwritten=health.unwritten,
            since=iso_utc(health.since_ns),
            since_ns=health.since_ns,
        )
    return HealthReport(
        live=True,
        ready=not problems,
        problems=problems,
        actors_up=not down,
        actors_down=down,
        trading_state=report.trading_state,
        last_heartbeat_at=None if beat is None else iso_utc(beat),
        last_heartbeat_ns=beat,
        heartbeat_age_s=age_s,
        feeds=feeds,
        journal=journal,
        reconciled_at=None if engine.reconciled_at_ns is None else iso_utc(engine.reconciled_at_ns),
    )


def _command_body(raw: bytes) -> CommandRequest:
    return decode_body(raw, CommandRequest, '{"reason": string}')


def _reload_body(raw: bytes) -> ReloadRequest:
    return decode_body(raw, ReloadRequest, '{"strategies": [table, ...]}')


class Api:
    """The handlers, bound to one engine."""

    def __init__(self, engine: EngineHandle) -> None:
        self.engine = engine

    async def health(self, _request: web.Request) -> web.StreamResponse:
        report = health_report(self.engine)
        return json_response(report, 200 if report.ready else 503)

    async def version(self, _request: web.Request) -> web.StreamResponse:
        return json_response(VersionReport(version=self.engine.version, api=API_VERSION))

    async def state(self, _request: web.Request) -> web.StreamResponse:
        return json_response(state_report(self.engine))

    async def actors(self, _request: web.Request) -> web.StreamResponse:
        return json_response(self.engine.runtime.describe())

    async def config(self, _request: web.Request) -> web.StreamResponse:
        return json_response(self.engine.redacted_config)

    async def pause(self, request: web.Request) -> web.StreamResponse:
        return await self._command(request, PauseTrading, "paused")

    async def resume(self, request: web.Request) -> web.StreamResponse:
        return await self._command(request, ResumeTrading, "resumed")

    async def halt(self, request: web.Request) -> web.StreamResponse:
        return await self._command(request, HaltTrading, "halted")

    async def _command(
        self,
        request: web.Request,
        kind: type[PauseTrading | ResumeTrading | HaltTrading],
        default_reason: str,
    ) -> web.StreamResponse:
        engine = self.engine
        if not engine.accepting:
            raise ApiError(
                503, "shutting_down", "the engine is shutting down and takes no commands"
            )
        body = _command_body(await request.read())
        if self._control_mailbox_full():
            # An ask from the loop thread waits for room in a full mailbox; the loop must
            # not, so a stuck control actor is reported instead of waited for.
            raise ApiError(
                503, "engine_busy", f"{engine.control_actor} has a full mailbox; try again"
            )
        now = engine.runtime.now_ns()
        command = kind(ts_event=now, ts_init=now, reason=body.reason or f"{default_reason} via API")
        future = engine.runtime.ask_future(engine.control_actor, command)
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                answer: Any = await asyncio.wrap_future(future)
        except TimeoutError:
            raise ApiError(
                504,
                "engine_timeout",
                f"{engine.control_actor} did not answer within {COMMAND_TIMEOUT_S} s; the "
                "command may still take effect, see GET state",
            ) from None
        except DeadLetterError as exc:
            raise ApiError(
                503, "engine_unavailable", f"{engine.control_actor} cannot take commands: {exc}"
            ) from None
        state = answer if isinstance(answer, TradingState) else None
        return json_response(state_report(engine, state))

    async def strategies(self, _request: web.Request) -> web.StreamResponse:
        desk = self._desk()
        plans = await asyncio.get_running_loop().run_in_executor(None, desk.plans)
        views = [msgspec.convert(plan, StrategyView) for plan in plans]
        return json_response(StrategiesReport(strategies=views))

    async def reload_strategies(self, request: web.Request) -> web.StreamResponse:
        if not self.engine.accepting:
            raise ApiError(
                503, "shutting_down", "the engine is shutting down and takes no commands"
            )
        desk = self._desk()
        body = _reload_body(await request.read())
        work = asyncio.get_running_loop().run_in_executor(None, desk.reload, body.strategies)
        try:
            async with asyncio.timeout(RELOAD_TIMEOUT_S):
                changed = await work
        except ConfigError as error:
            raise ApiError(
                400,
                "reload_refused",
                "the reload was refused and nothing changed: " + "; ".join(error.problems),
                {"problems": error.problems},
            ) from None
        except TimeoutError:
            raise ApiError(
                504,
                "engine_timeout",
                f"the reload did not finish within {RELOAD_TIMEOUT_S} s; see GET strategies",
            ) from None
        return json_response(msgspec.convert(changed, ReloadReport))

    def _desk(self) -> Any:
        desk = self.engine.strategies
        if desk is None:
            raise ApiError(503, "no_strategies", "this engine runs no strategy desk")
        return desk

    def _control_mailbox_full(self) -> bool:
        name = self.engine.control_actor
        for status in self.engine.runtime.describe().actors:
            if status.name == name:
                return status.mailbox_depth >= status.mailbox_capacity
        return False  # no such actor: the ask is dead-lettered at once, answered 503

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/health", self.health, allow_head=False),
            web.get("/api/v1/version", self.version, allow_head=False),
            web.get("/api/v1/state", self.state, allow_head=False),
            web.get("/api/v1/actors", self.actors, allow_head=False),
            web.get("/api/v1/config", self.config, allow_head=False),
            web.post("/api/v1/pause", self.pause),
            web.post("/api/v1/resume", self.resume),
            web.post("/api/v1/halt", self.halt),
            web.get("/api/v1/strategies", self.strategies, allow_head=False),
            web.post("/api/v1/strategies/reload", self.reload_strategies),
            *TradingApi(self.engine).routes(),
        ]
