"""Driving the paper broker by hand: a manual scheduler, recorded events, orders and prices.

The broker is a venue, not an actor: its tests call it directly, as the router and the
service do, with a :class:`ManualScheduler` whose clock moves only when the test says so.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.paper import PaperBroker, PaperBrokerConfig
from engine.execution_client import ExecutionEvents
from engine.fees import FeeModel
from engine.instruments import Instrument
from engine.messages.market import Bar, QuoteTick, TradeTick
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatusReport,
    OrderType,
    SubmitOrder,
    TimeInForce,
)

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_736_918_100 * SECOND
"""2025-01-15 10:45:00 IST (05:15 UTC): a Wednesday session on the NSE."""
INFY = "NSE:INFY"


class ManualScheduler:
    """A clock that moves when told; callbacks run in (due, arrival) order as it passes."""

    def __init__(self, now_ns: int = T0) -> None:
        self._now = now_ns
        self._due: list[tuple[int, int, Callable[[], None]]] = []
        self._arrival = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def call_at(self, due_ns: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._due, (due_ns, next(self._arrival), fn))

    def advance_to(self, ts_ns: int) -> None:
        """Run every callback due by ``ts_ns``, each at its own time; the clock ends there."""
        while self._due and self._due[0][0] <= ts_ns:
            due, _, fn = heapq.heappop(self._due)
            self._now = max(self._now, due)
            fn()
        self._now = max(self._now, ts_ns)

    def advance(self, delta_ns: int) -> None:
        self.advance_to(self._now + delta_ns)


class RecordingEvents(ExecutionEvents):
    """Every report, in order, as ``(kind, payload)``; ``on_fill`` may react (a router
    sending a protective stop once its entry fills)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any]] = []
        self.on_fill: Callable[[OrderFilled], None] | None = None
        self._lock = threading.Lock()

    def _add(self, kind: str, payload: Any) -> None:
        with self._lock:
            self.records.append((kind, payload))

    def on_accepted(self, event: OrderAccepted) -> None:
        self._add("accepted", event)

    def on_rejected(self, event: OrderRejected) -> None:
        self._add("rejected", event)

    def on_filled(self, event: OrderFilled) -> None:
        self._add("filled", event)
        if self.on_fill is not None:
            self.on_fill(event)

    def on_canceled(self, event: OrderCanceled) -> None:
        self._add("canceled", event)

    def on_expired(self, event: OrderExpired) -> None:
        self._add("expired", event)

    def on_status(self, report: OrderStatusReport) -> None:
        self._add("status", report)

    def on_unknown_order(self, client_order_id: str) -> None:
        self._add("unknown", client_order_id)

    def on_transport_error(self, client_order_id: str, operation: str, reason: str) -> None:
        self._add("transport_error", (client_order_id, operation, reason))

    def kinds(self, order_id: str | None = None) -> list[str]:
        """The kinds reported, in order (of one order's reports when ``order_id`` is given)."""
        return [kind for kind, payload in self.records if _about(payload, order_id)]

    def of(self, kind: str) -> list[Any]:
        return [payload for k, payload in self.records if k == kind]

    def fills(self) -> list[OrderFilled]:
        return self.of("filled")

    def clear(self) -> None:
        self.records.clear()


def _about(payload: Any, order_id: str | None) -> bool:
    if order_id is None:
        return True
    if isinstance(payload, str):
        return payload == order_id
    if isinstance(payload, tuple):
        return bool(payload[0] == order_id)
    return bool(getattr(payload, "client_order_id", None) == order_id)


def D(text: str) -> Decimal:  # noqa: N802 (reads like the type)
    return Decimal(text)


def order(
    order_id: str,
    side: OrderSide = OrderSide.BUY,
    quantity: int = 10,
    order_type: OrderType = OrderType.MARKET,
    *,
    price: str | None = None,
    trigger: str | None = None,
    instrument: str = INFY,
    tif: TimeInForce = TimeInForce.DAY,
    correlation_id: str = "sig-1",
) -> SubmitOrder:
    return SubmitOrder(
        ts_event=0,
        ts_init=0,
        client_order_id=order_id,
        instrument=instrument,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=None if price is None else D(price),
        trigger_price=None if trigger is None else D(trigger),
        time_in_force=tif,
        strategy="test",
        correlation_id=correlation_id,
    )


def cancel(order_id: str, instrument: str = INFY) -> CancelOrder:
    return CancelOrder(
        ts_event=0,
        ts_init=0,
        client_order_id=order_id,
        instrument=instrument,
        strategy="test",
        reason="test cancel",
    )


def modify(
    order_id: str,
    *,
    quantity: int | None = None,
    price: str | None = None,
    trigger: str | None = None,
) -> ModifyOrder:
    return ModifyOrder(
        ts_event=0,
        ts_init=0,
        client_order_id=order_id,
        instrument=INFY,
        strategy="test",
        quantity=quantity,
        price=None if price is None else D(price),
        trigger_price=None if trigger is None else D(trigger),
        reason="test modify",
    )


def trade(price: float, ts: int, size: float = 1_000, instrument: str = INFY) -> TradeTick:
    return TradeTick(ts_event=ts, ts_init=ts, instrument=instrument, price=price, size=size)


def quote(bid: float, ask: float, ts: int, size: int = 1_000) -> QuoteTick:
    return QuoteTick(
        ts_event=ts, ts_init=ts, instrument=INFY, bid=bid, ask=ask, bid_size=size, ask_size=size
    )


def bar(
    start: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    *,
    volume: float = 10_000,
    trades: int = 100,
    interval: str = "1m",
    instrument: str = INFY,
) -> Bar:
    return Bar(
        ts_event=start,
        ts_init=start + MINUTE,
        instrument=instrument,
        interval=interval,
        ts_close=start + MINUTE,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        trade_count=trades,
        vwap=close,
    )


def instrument(
    instrument_id: str = INFY,
    *,
    tick: str = "0.05",
    lot_size: int = 1,
    freeze: int | None = None,
) -> Instrument:
    exchange, _, symbol = instrument_id.partition(":")
    return Instrument(
        id=instrument_id,
        symbol=symbol,
        exchange=exchange,
        currency="INR",
        tick_size=D(tick),
        time_zone="Asia/Kolkata",
        calendar="NSE",
        lot_size=lot_size,
        freeze_quantity=freeze,
    )


class Venue:
    """A paper broker on a SQLite file in ``directory``, connected to recorded events and a
    manual scheduler. ``reopen`` builds a new broker on the same file (a restart)."""

    def __init__(
        self,
        directory: Path,
        *,
        fee_model: FeeModel | None = None,
        instruments: dict[str, Instrument] | None = None,
        market_open: Callable[[str, int], bool] | None = None,
        session_close: Callable[[str, int], int | None] | None = None,
        now_ns: int = T0,
        **settings: Any,
    ) -> None:
        self.path = directory / "paper.db"
        self.config = PaperBrokerConfig(database_url=f"sqlite+aiosqlite:///{self.path}", **settings)
        self.options: dict[str, Any] = {
            "fee_model": fee_model,
            "instruments": None if instruments is None else instruments.get,
            "market_open": market_open,
            "session_close": session_close,
        }
        self.clock = ManualScheduler(now_ns)
        self.events = RecordingEvents()
        self.broker = self._open()

    def _open(self) -> PaperBroker:
        broker = PaperBroker(self.config, **self.options)
        broker.connect(self.events, self.clock)
        return broker

    def reopen(self) -> PaperBroker:
        self.broker.close()
        self.events = RecordingEvents()
        self.broker = self._open()
        return self.broker

    def close(self) -> None:
        self.broker.close()
