"""The trading core's handlers under ``/api/v1``: positions, orders, trades, fills, signals,
rankings and risk to read; the kill switch, manual orders and cancels to command.

Scenario → answer:

=========================================  ===================================================
request                                    answer
=========================================  ===================================================
``GET positions[?curve=]``                 the ledger's ``DescribeLedger``: account,
                                           positions, the latest equity points
``GET orders[?status=&limit=&since=...]``  the router's orders (``DescribeOrders``) and the
                                           journal's recent orders, newest first
``GET trades|fills|signals|rankings``      the journal (``limit``, ``since``; ``instrument``
                                           and ``strategy`` except for rankings)
``GET risk``                               the risk supervisor's ``DescribeRisk``: limits,
                                           usage, state, recent denials; the open orders
                                           as the router counts them (exits included)
``POST flatten`` ``{"reason"}``            recorded, then ``FlattenAll`` to risk: what it
                                           canceled and sent, and the halt
``POST orders`` (a manual order)           validated (400 naming the field; 400
                                           ``unknown_instrument`` for an instrument not in
                                           the master), recorded, then
                                           the ``SubmitOrder`` to risk, checked like an
                                           intent: the order as sent, or 422 ``risk_denied``
                                           with risk's code and figures. A client order
                                           id is taken by an order sent only: after a
                                           refusal it is decided afresh; after an order
                                           was sent, the same order gets the first answer,
                                           another 409 ``client_order_id_reused``
``DELETE orders/{client_order_id}``        unknown: 404; ended: 409; else recorded, then
                                           ``CancelOrder`` to the router
no trading core in this engine             503 ``no_trading_core``
a command while shutting down              503 ``shutting_down``
the journal cannot record a command        503 ``journal_unavailable``; nothing is done
an actor's mailbox is full                 503 ``engine_busy`` (an ask would block the loop)
an actor or the journal is too slow        504 ``engine_timeout`` / ``journal_timeout``
=========================================  ===================================================

The loop never blocks: asks go through ``runtime.ask_future`` and journal reads and writes
through futures resolved on other threads, all awaited with ``asyncio.wrap_future``. A command
is recorded in the journal before it is acted on (DESIGN §7); its outcome follows unawaited.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from engine.instruments import Instrument
from engine.journal.commands import record_command, record_outcome_soon
from engine.journal.views import OPEN_STATUSES, JournaledOrder
from engine.ledger.describe import DescribeLedger, LedgerSnapshot
from engine.messages.risk import RiskDenied
from engine.messages.runtime import TradingState
from engine.messages.trading import (
    CancelOrder,
    FlattenAll,
    OrderStatus,
    SubmitOrder,
)
from engine.orders.describe import DescribeOrders, OrdersReport, RouterAnswer
from engine.risk.messages import DescribeRisk, FlattenOrdered, RiskReport
from engine.risk.orders import on_the_tick
from engine.runtime import DeadLetterError
from engine.store.database import StoreClosedError
from web.errors import ApiError, json_response
from web.models import (
    DEFAULT_LIMIT,
    MAX_CURVE_TAIL,
    MAX_LIMIT,
    MAX_NS,
    MAX_ORDER_ID_LENGTH,
    CancelRequested,
    CommandRequest,
    FillsReport,
    FlattenReport,
    ManualOrderRequest,
    OrderBlotter,
    OrderPlaced,
    PositionsReport,
    RankingsReport,
    RiskStatus,
    SignalsReport,
    TradesReport,
    iso_utc,
)
from web.ports import EngineHandle, TradingPorts
from web.trading_input import (
    check_instrument,
    check_prices,
    decode_body,
    int_param,
    journal_query,
    status_param,
    text_param,
)

T = TypeVar("T")

ASK_TIMEOUT_S = 5.0
"""How long an ask to the ledger, router or risk may take."""
JOURNAL_TIMEOUT_S = 10.0
"""How long a journal read, or the commit of a command's record, may take."""


class TradingApi:
    """The trading handlers, bound to one engine."""

    def __init__(self, engine: EngineHandle) -> None:
        self.engine = engine
        self._sequence = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/positions", self.positions, allow_head=False),
            web.get("/api/v1/orders", self.orders, allow_head=False),
            web.get("/api/v1/trades", self.trades, allow_head=False),
            web.get("/api/v1/fills", self.fills, allow_head=False),
            web.get("/api/v1/signals", self.signals, allow_head=False),
            web.get("/api/v1/rankings", self.rankings, allow_head=False),
            web.get("/api/v1/risk", self.risk, allow_head=False),
            web.post("/api/v1/flatten", self.flatten),
            web.post("/api/v1/orders", self.place_order),
            web.delete("/api/v1/orders/{client_order_id}", self.cancel_order),
        ]

    # -- reads --------------------------------------------------------------------------------

    async def positions(self, request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        tail = int_param(request, "curve", 100, MAX_CURVE_TAIL)
        snapshot = await self._ask(ports.ledger, DescribeLedger(curve_tail=tail), LedgerSnapshot)
        return json_response(
            PositionsReport(
                at=iso_utc(snapshot.ts),
                ts=snapshot.ts,
                account=snapshot.account,
                positions=snapshot.positions,
                strategy_positions=snapshot.strategy_positions,
                equity_curve=snapshot.equity_curve,
                fills=snapshot.fills,
            )
        )

    async def orders(self, request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        statuses = status_param(request)
        limit = int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        since = int_param(request, "since", None, MAX_NS)
        instrument = text_param(request, "instrument")
        strategy = text_param(request, "strategy")
        now = self.engine.runtime.now_ns()
        open_only = statuses is not None and statuses <= OPEN_STATUSES
        ask = DescribeOrders(ts_event=now, ts_init=now, instrument=instrument, open_only=open_only)
        live, recent = await asyncio.gather(
            self._ask(ports.router, ask, OrdersReport),
            self._read(
                ports,
                ports.reader.orders(
                    limit, since, instrument=instrument, strategy=strategy, statuses=statuses
                ),
            ),
        )
        views = [
            view
            for view in live.orders
            if (statuses is None or view.status in statuses)
            and (strategy is None or view.strategy == strategy)
            and (since is None or view.created_ns >= since)
        ]
        return json_response(OrderBlotter(orders=views[:limit], recent=recent, counts=live.counts))

    async def trades(self, request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        limit, since, instrument, strategy = journal_query(request)
        trips = await self._read(
            ports, ports.reader.trades(limit, since, instrument=instrument, strategy=strategy)
        )
        return json_response(TradesReport(trades=trips))

    async def fills(self, request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        limit, since, instrument, strategy = journal_query(request)
        fills = await self._read(
            ports, ports.reader.fills(limit, since, instrument=instrument, strategy=strategy)
        )
        return json_response(FillsReport(fills=fills))

    async def signals(self, request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        limit, since, instrument, strategy = journal_query(request)
        signals = await self._read(
            ports, ports.reader.signals(limit, since, instrument=instrument, strategy=strategy)
        )
        return json_response(SignalsReport(signals=signals))

    async def rankings(self, request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        limit = int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        since = int_param(request, "since", None, MAX_NS)
        rankings = await self._read(ports, ports.reader.rankings(limit, since))
        return json_response(RankingsReport(rankings=rankings))

    async def risk(self, _request: web.Request) -> web.StreamResponse:
        ports = self._ports()
        now = self.engine.runtime.now_ns()
        # The router places a bracket's stop and target, which risk never sent: its count of
        # open orders is the one that holds them all.
        report, orders = await asyncio.gather(
            self._ask(ports.risk, DescribeRisk(ts_event=now, ts_init=now), RiskReport),
            self._ask(
                ports.router,
                DescribeOrders(ts_event=now, ts_init=now, open_only=True, limit=0),
                OrdersReport,
            ),
        )
        usage = msgspec.structs.replace(report.usage, open_orders=orders.counts.open_orders)
        return json_response(
            RiskStatus(
                at=iso_utc(report.ts_event),
                ts=report.ts_event,
                trading_state=report.state,
                limits=report.limits,
                usage=usage,
                recent_denials=report.recent_denials,
            )
        )

    # -- commands -----------------------------------------------------------------------------

    async def flatten(self, request: web.Request) -> web.StreamResponse:
        ports = self._command_ports()
        body = decode_body(await request.read(), CommandRequest, '{"reason": string}')
        self._refuse_if_busy(ports.risk)
        now = self.engine.runtime.now_ns()
        reason = body.reason or "kill switch via API"
        command = FlattenAll(ts_event=now, ts_init=now, reason=reason)
        command_id = f"flatten:{now}:{next(self._sequence)}"
        await self._record(ports, request, command_id, "flatten", command)
        done = await self._ask_recorded(ports, command_id, ports.risk, command, FlattenOrdered)
        self._outcome(ports, command_id, f"done: {len(done.closing_orders)} closing orders")
        state = TradingState.HALTED if done.halted else self.engine.runtime.trading_state
        return json_response(
            FlattenReport(
                command_id=command_id,
                reason=done.reason,
                closing_orders=done.closing_orders,
                halted=done.halted,
                trading_state=state,
            )
        )

    async def place_order(self, request: web.Request) -> web.StreamResponse:
        ports = self._command_ports()
        raw = await request.read()
        if not raw.strip():
            raise ApiError(
                400,
                "invalid_body",
                "the body must be an order: {instrument, side, quantity, order_type, ...}",
                {"field": "body"},
            )
        body = decode_body(raw, ManualOrderRequest, "the manual order (see ManualOrderRequest)")
        check_prices(body)
        instrument = check_instrument(body.instrument, ports.instruments)
        self._refuse_if_busy(ports.risk)
        now = self.engine.runtime.now_ns()
        order_id = body.client_order_id or (
            f"{body.strategy}:{body.instrument}:{now}:{next(self._sequence)}"
        )
        order = SubmitOrder(
            ts_event=now,
            ts_init=now,
            client_order_id=order_id,
            instrument=body.instrument,
            side=body.side,
            order_type=body.order_type,
            quantity=body.quantity,
            price=body.price,
            trigger_price=body.trigger_price,
            time_in_force=body.time_in_force,
            strategy=body.strategy,
            correlation_id=order_id,
        )
        if body.client_order_id is None:
            command_id = f"submit_order:{order_id}"
        else:
            # Only an order sent takes the id (the journal holds every order sent); after a
            # refusal the id is free, and each attempt is recorded as its own command.
            known = await self._read(ports, ports.reader.order(order_id))
            if known is not None:
                return _already_placed(known.order, order, instrument)
            command_id = _attempt_id(order_id, now)
        await self._record(ports, request, command_id, "submit_order", order)
        decision: SubmitOrder | RiskDenied = await self._ask_recorded(
            ports, command_id, ports.risk, order, (SubmitOrder, RiskDenied)
        )
        if isinstance(decision, RiskDenied):
            self._outcome(ports, command_id, f"refused: {decision.code.value}")
            raise ApiError(
                422,
                "risk_denied",
                f"risk refused the order: {decision.message}",
                {
                    "code": decision.code.value,
                    "message": decision.message,
                    "figures": decision.figures,
                    "instrument": decision.instrument,
                    "strategy": decision.strategy,
                    "client_order_id": order_id,
                },
            )
        if decision.ts_event != now:
            # Risk had already sent an order under this id (an attempt racing this one, or
            # not journaled yet): this request sent nothing.
            self._outcome(ports, command_id, "nothing sent: the id was taken")
            return _already_placed(decision, order, instrument)
        self._outcome(ports, command_id, "accepted")
        return json_response(OrderPlaced(command_id=command_id, order=decision))

    async def cancel_order(self, request: web.Request) -> web.StreamResponse:
        ports = self._command_ports()
        order_id = request.match_info["client_order_id"]
        found = await self._find_order(ports, order_id)
        if isinstance(found, JournaledOrder) and not found.open:
            raise _ended(order_id, found.status)
        self._refuse_if_busy(ports.router)
        now = self.engine.runtime.now_ns()
        instrument, strategy = (
            (found.order.instrument, found.order.strategy)
            if isinstance(found, JournaledOrder)
            else found
        )
        command = CancelOrder(
            ts_event=now,
            ts_init=now,
            client_order_id=order_id,
            instrument=instrument,
            strategy=strategy,
            reason="canceled via API",
        )
        command_id = f"cancel_order:{order_id}:{now}:{next(self._sequence)}"
        await self._record(ports, request, command_id, "cancel_order", command)
        answer = await self._ask_recorded(ports, command_id, ports.router, command, RouterAnswer)
        if not answer.ok:
            self._outcome(ports, command_id, f"refused: {answer.reason}")
            if answer.order is None:
                raise _unknown(order_id)
            raise _ended(order_id, answer.order.status)
        assert answer.order is not None  # an accepted cancel names its order
        self._outcome(ports, command_id, "accepted")
        return json_response(CancelRequested(command_id=command_id, order=answer.order))

    async def _find_order(
        self, ports: TradingPorts, order_id: str
    ) -> JournaledOrder | tuple[str, str]:
        """The order from the journal (every order sent is recorded first), else from the
        router's open orders (one still waiting for its record), as (instrument, strategy).
        Raises 404 if neither knows it."""
        if len(order_id) > MAX_ORDER_ID_LENGTH:
            raise _unknown(order_id)
        journaled = await self._read(ports, ports.reader.order(order_id))
        if journaled is not None:
            return journaled
        now = self.engine.runtime.now_ns()
        ask = DescribeOrders(ts_event=now, ts_init=now, open_only=True)
        report = await self._ask(ports.router, ask, OrdersReport)
        for view in report.orders:
            if view.client_order_id == order_id:
                return view.instrument, view.strategy
        raise _unknown(order_id)

    # -- plumbing -----------------------------------------------------------------------------

    def _ports(self) -> TradingPorts:
        ports = self.engine.trading
        if ports is None:
            raise ApiError(503, "no_trading_core", "this engine runs no trading core")
        return ports

    def _command_ports(self) -> TradingPorts:
        if not self.engine.accepting:
            raise ApiError(
                503, "shutting_down", "the engine is shutting down and takes no commands"
            )
        return self._ports()

    def _refuse_if_busy(self, name: str) -> None:
        # An ask from the loop thread would wait for room in a full mailbox; the loop must
        # not, so a stuck actor is reported instead of waited for.
        for status in self.engine.runtime.describe().actors:
            if status.name == name and status.mailbox_depth >= status.mailbox_capacity:
                raise ApiError(503, "engine_busy", f"{name} has a full mailbox; try again")

    async def _ask(self, name: str, message: Any, expected: type[T] | tuple[type, ...]) -> T:
        """Ask actor ``name``; its answer if it is of the ``expected`` type(s)."""
        self._refuse_if_busy(name)
        future = self.engine.runtime.ask_future(name, message)
        try:
            async with asyncio.timeout(ASK_TIMEOUT_S):
                answer = await asyncio.wrap_future(future)
        except TimeoutError:
            raise ApiError(
                504,
                "engine_timeout",
                f"{name} did not answer within {ASK_TIMEOUT_S} s; a command may still take effect",
                {"actor": name},
            ) from None
        except DeadLetterError as exc:
            raise ApiError(
                503, "engine_unavailable", f"{name} cannot answer: {exc}", {"actor": name}
            ) from None
        if not isinstance(answer, expected):
            raise TypeError(f"{name} answered {type(answer).__name__} to {type(message).__name__}")
        return answer  # type: ignore[return-value]

    async def _ask_recorded(
        self,
        ports: TradingPorts,
        command_id: str,
        name: str,
        message: Any,
        expected: type[T] | tuple[type, ...],
    ) -> T:
        """:meth:`_ask` for a recorded command: an ask that fails leaves its outcome."""
        try:
            return await self._ask(name, message, expected)
        except ApiError as error:
            self._outcome(ports, command_id, f"unknown: {error.code}")
            raise

    async def _read(self, ports: TradingPorts, coro: Coroutine[Any, Any, T]) -> T:
        try:
            future: Future[T] = ports.read(coro)
        except StoreClosedError:
            raise ApiError(503, "journal_unavailable", "the journal is closed") from None
        try:
            async with asyncio.timeout(JOURNAL_TIMEOUT_S):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise ApiError(
                504, "journal_timeout", f"the journal did not answer within {JOURNAL_TIMEOUT_S} s"
            ) from None

    async def _record(
        self, ports: TradingPorts, request: web.Request, command_id: str, kind: str, body: Any
    ) -> None:
        """Record the command (``body``: the message acted on, which decodes back with the
        catalogue) and return once it is committed; 503, nothing done, if it cannot be."""
        try:
            async with asyncio.timeout(JOURNAL_TIMEOUT_S):
                await record_command(
                    ports.writer,
                    command_id=command_id,
                    kind=kind,
                    who=f"api {request.remote or 'unknown'}",
                    body=body,
                    ts_event=self.engine.runtime.now_ns(),
                )
        except Exception as exc:
            raise ApiError(
                503,
                "journal_unavailable",
                f"the command could not be recorded, so nothing was done: {exc}",
                {"command_id": command_id},
            ) from None

    def _outcome(self, ports: TradingPorts, command_id: str, outcome: str) -> None:
        record_outcome_soon(
            ports.writer,
            command_id=command_id,
            outcome=outcome,
            ts_event=self.engine.runtime.now_ns(),
        )


# -- answers ----------------------------------------------------------------------------------


def _attempt_id(order_id: str, ts_event: int) -> str:
    """The command id of an attempt to place ``order_id`` with the client's own id: the
    order's ``ts_event`` (ns) tells attempts apart, and names the one sent."""
    return f"submit_order:{order_id}:{ts_event}"


def _already_placed(
    placed: SubmitOrder, asked: SubmitOrder, instrument: Instrument | None
) -> web.Response:
    """A client order id an order was sent under: the same order again (its prices on the
    tick as risk puts them) gets the first answer, nothing sent; another is 409
    ``client_order_id_reused``."""

    def essence(order: SubmitOrder) -> tuple[object, ...]:
        return (
            order.instrument,
            order.side,
            order.order_type,
            order.quantity,
            order.price,
            order.trigger_price,
            order.time_in_force,
            order.strategy,
        )

    same = asked if instrument is None else on_the_tick(asked, instrument)
    order_id = placed.client_order_id
    if essence(placed) == essence(same):
        return json_response(
            OrderPlaced(command_id=_attempt_id(order_id, placed.ts_event), order=placed)
        )
    price = "" if placed.price is None else f" at {placed.price}"
    raise ApiError(
        409,
        "client_order_id_reused",
        f"client_order_id {order_id!r} was used by an order already sent ({placed.side.value} "
        f"{placed.quantity} {placed.instrument} {placed.order_type.value}{price}, "
        f"{placed.strategy}), not this one: send that order again to see it, or use a new id",
        {"field": "client_order_id", "client_order_id": order_id, "placed": placed},
    )


def _unknown(order_id: str) -> ApiError:
    return ApiError(
        404,
        "unknown_order",
        f"no order {order_id[:200]!r}",
        {"client_order_id": order_id[:MAX_ORDER_ID_LENGTH]},
    )


def _ended(order_id: str, status: OrderStatus) -> ApiError:
    return ApiError(
        409,
        "order_ended",
        f"order {order_id!r} has ended ({status.value}): nothing to cancel",
        {"client_order_id": order_id, "status": status.value},
    )
