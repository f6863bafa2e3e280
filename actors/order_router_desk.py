"""The router's own side of an order: recording it, pacing it out, and its brackets.

:class:`OrderDesk` is the base of :class:`actors.order_router.OrderRouter`: it holds the
write-ahead step (an order is sent, a fill published, only once the journal answered
``Written(ok=True)``), the rate-limited dispatch to the venue, local rejections and
cancellations of orders never sent, and the loop that asks each bracket touched by a message
what it needs (:meth:`OrderDesk.settle`, run at the end of every handler, which then lets the
recovery side compare the book with the venue once a restart is settled). The venue's side
(events, transport errors, status queries) is :mod:`actors.order_router_venue`.
"""

from __future__ import annotations

import collections
from typing import Any

import msgspec

from actors.order_router_memory import FillRetry, PendingWrite, RouterMemory
from actors.order_router_outbox import VenueRequest, merge_modifies
from actors.order_router_relay import (
    EntryTimeoutDue,
    JournalRetryDue,
    OrderWriteRetryDue,
    RateLimitDue,
    RouterRuntime,
    TimeStopDue,
)
from engine.actor import Actor, handles
from engine.context import Context, Timer
from engine.execution_client import ExecutionClient
from engine.messages.feed import ticks_topic
from engine.messages.journal import WriteAhead, Written
from engine.messages.orders import TOPIC_FILLS, TOPIC_ORDERS, BracketReduced, BracketReleased
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    SubmitOrder,
    fills_topic,
)
from engine.orders.bracket import Bracket
from engine.orders.closing import closable
from engine.orders.config import RouterConfig
from engine.orders.describe import RouterAnswer
from engine.orders.order import TrackedOrder
from engine.orders.state import OrderEventKind

__all__ = ["OrderDesk"]

_NS_PER_S = 1_000_000_000
_SETTLE_BOUND = 10_000
"""Bracket rounds per message: far above any real need, a guard against a bug looping."""


class OrderDesk(Actor):
    """Recording, pacing and bracket upkeep; see the module doc."""

    client: ExecutionClient
    runtime: RouterRuntime
    config: RouterConfig
    memory: RouterMemory

    def begin(self, ctx: Context) -> None:
        """Per incarnation: what dies with it (timers) starts afresh."""
        self.dirty: dict[str, None] = {}
        """Entry ids of brackets to ask again before the handler returns (ordered set)."""
        self.rate_timer: Timer | None = None
        self.bracket_timers: dict[tuple[str, str], Timer] = {}

    def transport_error(self, client_order_id: str, operation: str, reason: str) -> None:
        raise NotImplementedError  # the venue side's (actors.order_router_venue)

    # -- recording ---------------------------------------------------------------------------

    def open_order(
        self, order: SubmitOrder, *, bracket: str | None, role: str, record: Any = None
    ) -> RouterAnswer:
        """Record a new order and send it to the journal; it goes out once recorded.
        ``record`` is what the journal keeps (default: the order; a bracket's entry is
        recorded as its whole ``SubmitBracket``, so a restarted router can rebuild the
        bracket)."""
        tracked = TrackedOrder(order, self.ctx.now_ns(), bracket=bracket, role=role)
        self.memory.track(tracked)
        self.write(order.client_order_id, order.client_order_id, record or order)
        return RouterAnswer(ok=True, order=tracked.view())

    def write(self, key: str, pending: PendingWrite, record: Any) -> None:
        self.memory.pending.setdefault(key, collections.deque()).append(pending)
        self.ctx.send(
            self.config.journal, WriteAhead(key=key, record=record, reply_to=self.ctx.name)
        )

    @handles(Written)
    def on_written(self, written: Written) -> None:
        queue = self.memory.pending.get(written.key)
        if not queue:
            self.ctx.log.warning("journal answer for nothing pending", key=written.key)
            return
        pending = queue.popleft()
        if not queue:
            del self.memory.pending[written.key]
        if isinstance(pending, OrderFilled):
            self._fill_written(pending, written)
        else:
            self._order_written(pending, written)
        self.settle()

    def _order_written(self, client_order_id: str, written: Written) -> None:
        order = self.memory.orders.get(client_order_id)
        if order is None or order.status is not OrderStatus.NEW:
            return  # canceled while the journal wrote it
        if not written.ok:
            self.memory.counts.journal_failures += 1
            if self._is_exit(order):
                # Taking risk off must not wait for a person: the exit is held (not sent:
                # written ahead) and recorded again until the journal takes it.
                attempt = self.memory.order_write_retries.get(client_order_id, 0) + 1
                self.memory.order_write_retries[client_order_id] = attempt
                delay_ns = _ns(self.config.journal_retry.delay_s(attempt, self.memory.rng.random()))
                self.ctx.log.error(
                    "journal could not record an exit: held, recorded again",
                    order=client_order_id,
                    attempt=attempt,
                    retry_in_ns=delay_ns,
                    error=written.error,
                )
                self.ctx.schedule_once(delay_ns, OrderWriteRetryDue(client_order_id))
                return
            self.ctx.log.error(
                "journal could not record an order: not sent",
                order=client_order_id,
                error=written.error,
            )
            self.reject_locally(order, f"the journal could not record the order: {written.error}")
            return
        self.memory.order_write_retries.pop(client_order_id, None)
        self.memory.outbox.push(order.order)

    def _is_exit(self, order: TrackedOrder) -> bool:
        """A bracket's exit, or an order that only reduces the position the router holds."""
        return (order.bracket is not None and order.role != "entry") or self.reduces(order.order)

    def reduces(self, order: SubmitOrder) -> bool:
        """Whether ``order`` only reduces the position the router holds."""
        held = self.memory.positions.get(order.instrument, 0)
        return (
            held != 0
            and (order.side is OrderSide.SELL) == (held > 0)
            and order.quantity <= abs(held)
        )

    @handles(OrderWriteRetryDue)
    def on_order_write_retry(self, due: OrderWriteRetryDue) -> None:
        order = self.memory.orders.get(due.client_order_id)
        if order is None or order.status is not OrderStatus.NEW:
            self.memory.order_write_retries.pop(due.client_order_id, None)
            return  # canceled meanwhile
        # A record already queued is written once (the journal keeps the first of an id).
        self.write(due.client_order_id, due.client_order_id, order.order)

    def _fill_written(self, fill: OrderFilled, written: Written) -> None:
        memory = self.memory
        if written.ok:
            memory.fill_retries.pop(fill.trade_id, None)
            self.ctx.publish(TOPIC_ORDERS, fill)
            self.ctx.publish(TOPIC_FILLS, fill)
            self.ctx.publish(fills_topic(fill.instrument), fill)
            return
        memory.counts.journal_failures += 1
        retry = memory.fill_retries.get(fill.trade_id)
        if retry is None:
            retry = memory.fill_retries[fill.trade_id] = FillRetry(fill, 0, None)
        retry.attempt += 1
        delay_ns = _ns(self.config.journal_retry.delay_s(retry.attempt, memory.rng.random()))
        retry.due_ns = self.ctx.now_ns() + delay_ns
        self.ctx.log.error(
            "journal could not record a fill: held back, written again",
            trade_id=fill.trade_id,
            order=fill.client_order_id,
            attempt=retry.attempt,
            retry_in_ns=delay_ns,
            error=written.error,
        )
        self.ctx.schedule_once(delay_ns, JournalRetryDue(fill.trade_id))

    @handles(JournalRetryDue)
    def on_journal_retry(self, due: JournalRetryDue) -> None:
        retry = self.memory.fill_retries.get(due.key)
        if retry is None or retry.due_ns is None:
            return
        retry.due_ns = None
        self.write(due.key, retry.fill, retry.fill)

    # -- sending -----------------------------------------------------------------------------

    def pump(self) -> None:
        """Send what the rate limit allows now; set a timer for the rest."""
        outbox = self.memory.outbox
        now = self.ctx.now_ns()
        while (request := outbox.take(now)) is not None:
            self._dispatch(request, now)
        due = outbox.next_due(now)
        if due is not None and self.rate_timer is None:
            self.rate_timer = self.ctx.schedule_once(max(due - now, 0), RateLimitDue())

    def _dispatch(self, request: VenueRequest, now: int) -> None:
        client_order_id = request.client_order_id
        order = self.memory.orders.get(client_order_id)
        if order is None:
            return
        if isinstance(request, SubmitOrder):
            if order.status is OrderStatus.NEW and request.reduce_only:
                trimmed = self._trim_reduce_only(order, request, now)
                if trimmed is None:
                    return
                request = trimmed
            if order.status is OrderStatus.NEW:
                order.apply(OrderEventKind.SUBMIT, now)
                self.ctx.publish(
                    TOPIC_ORDERS,
                    OrderSubmitted(
                        ts_event=now,
                        ts_init=now,
                        client_order_id=client_order_id,
                        instrument=request.instrument,
                        strategy=request.strategy,
                        correlation_id=request.correlation_id,
                    ),
                )
            elif order.status is OrderStatus.SUBMITTED:
                self.memory.counts.resends += 1
                self.ctx.log.warning("order sent again, same id", order=client_order_id)
            else:
                return  # it ended while it waited
            self._call("submit", client_order_id, self.client.submit, request)
            reason = self.memory.cancel_when_sent.pop(client_order_id, None)
            if reason is not None:  # taken by the loop that is pumping: cancels go first
                self.cancel_order(client_order_id, reason)
        elif not order.working:
            return  # a modify or cancel of an order that ended while it waited
        elif isinstance(request, ModifyOrder):
            order.quantity = request.quantity or order.quantity
            order.price = request.price if request.price is not None else order.price
            if request.trigger_price is not None:
                order.trigger_price = request.trigger_price
            order.updated_ns = now
            # Kept merged: what is sent again after a transport error must carry every
            # change asked since the venue last confirmed.
            earlier = self.memory.last_modify.get(client_order_id)
            self.memory.last_modify[client_order_id] = (
                request if earlier is None else merge_modifies(earlier, request)
            )
            # Recorded as it goes: the journal's order carries the figures last asked.
            self.record(request)
            self._call("modify", client_order_id, self.client.modify, request)
        else:
            self._call("cancel", client_order_id, self.client.cancel, request)

    def _trim_reduce_only(
        self, order: TrackedOrder, request: SubmitOrder, now: int
    ) -> SubmitOrder | None:
        """A reduce-only order as it may go now: what is held may have changed while its
        record was written (a stop filled meanwhile); ``None`` when nothing is left to
        reduce (ended here). A cut is recorded as a modify, so the journal's order is what
        was sent."""
        units = self.reducible(request, exclude=order.client_order_id)
        if units >= request.quantity:
            return request
        if units <= 0:
            self.reject_locally(order, self.nothing_to_reduce(request))
            return None
        self.ctx.log.warning(
            "reduce-only order cut to the position",
            order=order.client_order_id,
            asked=request.quantity,
            sent=units,
        )
        order.quantity = units
        self.record(
            ModifyOrder(
                ts_event=now,
                ts_init=now,
                client_order_id=order.client_order_id,
                instrument=request.instrument,
                strategy=request.strategy,
                quantity=units,
                reason="cut to the position before it was sent",
            )
        )
        return msgspec.structs.replace(request, quantity=units)

    def reducible(self, order: SubmitOrder, *, exclude: str | None = None) -> int:
        """Units ``order`` may close now: what is held on the other side, less what the
        instrument's other reduce-only orders already close."""
        working = self.reducing_units(order.instrument, order.side) - (
            0 if exclude is None else self._unfilled(exclude)
        )
        return closable(self.memory.positions.get(order.instrument, 0), order.side, working)

    def nothing_to_reduce(self, order: SubmitOrder) -> str:
        position = self.memory.positions.get(order.instrument, 0)
        return f"nothing left to reduce: {order.instrument} position {position}"

    def _unfilled(self, client_order_id: str) -> int:
        order = self.memory.orders.get(client_order_id)
        return 0 if order is None else order.quantity - order.filled_qty

    def _call(self, operation: str, client_order_id: str, method: Any, request: Any) -> None:
        try:
            method(request)
        except Exception as exc:  # the request may or may not have left: a transport error
            self.transport_error(client_order_id, operation, f"{type(exc).__name__}: {exc}")

    @handles(RateLimitDue)
    def on_rate_limit_due(self, _due: RateLimitDue) -> None:
        self.rate_timer = None
        self.settle()

    def cancel_order(self, client_order_id: str, reason: str) -> None:
        """Cancel a live order: here if it was never sent, else at the venue."""
        order = self.memory.orders.get(client_order_id)
        if order is None or not order.live:
            return
        now = self.ctx.now_ns()
        cancel = CancelOrder(
            ts_event=now,
            ts_init=now,
            client_order_id=client_order_id,
            instrument=order.order.instrument,
            strategy=order.order.strategy,
            reason=reason,
        )
        if order.bracket is not None:
            # A restart must know that the router asked for this exit's end, not the venue.
            self.record(cancel)
        if order.status is OrderStatus.NEW:
            self.memory.outbox.withdraw(client_order_id)
            self.end_locally(order, OrderEventKind.CANCEL, reason)
            return
        self.memory.last_cancel[client_order_id] = cancel
        self.memory.outbox.push(cancel)

    def reject_locally(self, order: TrackedOrder, reason: str) -> None:
        self.end_locally(order, OrderEventKind.REJECT, reason)

    def end_locally(self, order: TrackedOrder, kind: OrderEventKind, reason: str) -> None:
        """The router's own rejection or cancellation: published like the venue's."""
        now = self.ctx.now_ns()
        if not order.apply(kind, now, reason):
            return
        source = order.order
        event: OrderCanceled | OrderRejected
        if kind is OrderEventKind.CANCEL:
            event = OrderCanceled(
                ts_event=now,
                ts_init=now,
                client_order_id=source.client_order_id,
                instrument=source.instrument,
                strategy=source.strategy,
                reason=reason,
                correlation_id=source.correlation_id,
            )
        else:
            event = OrderRejected(
                ts_event=now,
                ts_init=now,
                client_order_id=source.client_order_id,
                instrument=source.instrument,
                strategy=source.strategy,
                reason=reason,
                correlation_id=source.correlation_id,
            )
        self.ctx.publish(TOPIC_ORDERS, event)
        self.order_ended(order)

    def order_ended(self, order: TrackedOrder) -> None:
        """Tell the order's bracket; forget what was pending for it."""
        memory = self.memory
        client_order_id = order.client_order_id
        memory.restoring.pop(client_order_id, None)  # ended: nothing left to ask about
        memory.trouble.pop(client_order_id, None)
        memory.last_cancel.pop(client_order_id, None)
        memory.last_modify.pop(client_order_id, None)
        memory.cancel_when_sent.pop(client_order_id, None)
        memory.outbox.withdraw(client_order_id)
        if order.order.reduce_only:
            self.cap_brackets(order.order.instrument)  # what it held back is the brackets' again
        bracket = self.bracket_of(order)
        if bracket is None:
            return
        if order.role == "entry":
            bracket.entry_ended()
        else:
            bracket.leg_ended(order.client_order_id, order.status, order.reason)
        self.dirty[bracket.entry_id] = None

    # -- brackets ----------------------------------------------------------------------------

    def bracket_of(self, order: TrackedOrder) -> Bracket | None:
        return None if order.bracket is None else self.memory.brackets.get(order.bracket)

    def settle(self) -> None:
        """Ask every bracket touched by this message what it needs, act on it, and send what
        the rate limit allows. Run at the end of every handler."""
        memory = self.memory
        rounds = 0
        while self.dirty and rounds < _SETTLE_BOUND:
            rounds += 1
            entry_id = next(iter(self.dirty))
            del self.dirty[entry_id]
            bracket = memory.brackets.get(entry_id)
            if bracket is None:
                continue
            for command in bracket.actions(self.ctx.now_ns()):
                self._execute(bracket, command)
            for alert in bracket.alerts:
                self.ctx.log.error("bracket", entry=entry_id, problem=alert)
            bracket.alerts.clear()
            self.arm_bracket_timers(bracket)
            if bracket.done and entry_id not in memory.finished:
                self._finish(bracket)
            elif not bracket.done and entry_id in memory.finished:
                memory.finished.discard(entry_id)  # a late fill woke it up
                memory.active.setdefault(bracket.entry.instrument, {})[entry_id] = None
                if bracket.trailing is not None:
                    self.trail(bracket)
        if self.dirty:
            self.ctx.log.error("bracket upkeep did not settle", brackets=list(self.dirty))
            self.dirty.clear()
        self.send_closes()
        self.pump()
        self.after_settle()

    def send_closes(self) -> None:
        """What the closing side sends once the orders it waits on have ended (a no-op
        here: :mod:`actors.order_router_closing`)."""

    def after_settle(self) -> None:
        """What the recovery side checks at the end of every handler (a no-op here)."""

    def _execute(self, bracket: Bracket, command: SubmitOrder | ModifyOrder | CancelOrder) -> None:
        if isinstance(command, SubmitOrder):
            if command.client_order_id in self.memory.orders:
                self.ctx.log.error("bracket exit id already used", order=command.client_order_id)
                return
            self.open_order(
                command,
                bracket=bracket.entry_id,
                role=bracket.role_of(command.client_order_id),
            )
        elif isinstance(command, ModifyOrder):
            order = self.memory.orders.get(command.client_order_id)
            if order is not None and order.working:
                self.memory.outbox.push(command)
        else:
            self.cancel_order(command.client_order_id, command.reason)

    def arm_bracket_timers(self, bracket: Bracket) -> None:
        """Set the entry timeout and the time stop, once each per incarnation."""
        now = self.ctx.now_ns()
        due: tuple[tuple[str, int | None, Any], ...] = (
            ("timeout", bracket.timeout_due_ns, EntryTimeoutDue(bracket.entry_id)),
            ("time", bracket.time_stop_due_ns, TimeStopDue(bracket.entry_id)),
        )
        for kind, due_ns, message in due:
            key = (bracket.entry_id, kind)
            if (
                due_ns is None
                or key in self.bracket_timers
                or bracket.entry_id in (self.memory.finished)
            ):
                continue
            self.bracket_timers[key] = self.ctx.schedule_once(max(due_ns - now, 0), message)

    def cap_brackets(self, instrument: str) -> None:
        """Share the instrument's position among its brackets not done, oldest first, as the
        most each may still close (:attr:`Bracket.held_cap`); a bracket whose cap changed is
        asked again. A long position caps long brackets only (and a short one short)."""
        ids = self.memory.active.get(instrument)
        if not ids:
            return
        held = self.memory.positions.get(instrument, 0)
        brackets = [
            self.memory.brackets[entry_id]
            for entry_id in ids
            if not self.memory.brackets[entry_id].released
        ]
        for long in (True, False):
            # Units this side holds; the brackets of the other side hold none.
            owned = max(held, 0) if long else max(-held, 0)
            side = [b for b in brackets if b.long == long]
            excess = sum(max(b.open_qty, 0) for b in side) - owned
            for bracket in reversed(side):  # the newest give up units first
                if excess <= 0:
                    break
                given = min(excess, max(bracket.open_qty, 0))
                if given:
                    excess -= given
                    bracket.closed_elsewhere += given
                    self.record_reduction(bracket)
                    self.dirty[bracket.entry_id] = None
        closing_side = OrderSide.SELL if held > 0 else OrderSide.BUY
        # Reduce-only orders (the trader's exits, a close) go first: the brackets yield.
        left = max(0, abs(held) - self.reducing_units(instrument, closing_side))
        for bracket in brackets:
            same_side = held != 0 and (held > 0) == bracket.long
            cap = min(max(bracket.open_qty, 0), left) if same_side else 0
            left -= cap
            if cap != bracket.held_cap:
                bracket.held_cap = cap
                self.dirty[bracket.entry_id] = None

    def record(self, fact: Any) -> None:
        """Send ``fact`` to the journal, nobody waiting for its commit. What a restart needs to
        know: recorded before what it sets off (a cancel, a modify) goes, since the journal
        keeps records in the order they came (:mod:`engine.orders.rebuild`)."""
        self.ctx.send(self.config.journal, fact)

    def record_reduction(self, bracket: Bracket) -> None:
        """Record what other orders closed of ``bracket`` (its total), before its exits
        shrink (:class:`~engine.messages.orders.BracketReduced`)."""
        self.record(
            BracketReduced(**self._about(bracket), closed_elsewhere=bracket.closed_elsewhere)
        )

    def record_release(self, bracket: Bracket, reason: str, *, exit: str | None = None) -> None:
        """Record that the router let go of ``bracket`` (or of its ``exit`` only): a restart
        must not take it up again."""
        self.record(BracketReleased(**self._about(bracket), reason=reason, exit=exit))

    def _about(self, bracket: Bracket) -> dict[str, Any]:
        """The fields every record about a bracket carries."""
        now = self.ctx.now_ns()
        entry = bracket.entry
        return {
            "ts_event": now,
            "ts_init": now,
            "client_order_id": bracket.entry_id,
            "instrument": entry.instrument,
            "strategy": entry.strategy,
        }

    @staticmethod
    def exits_first(orders: list[TrackedOrder]) -> list[TrackedOrder]:
        """``orders`` with the exits (a bracket's stop or target, a reduce-only order) first,
        each group in its order: canceling many orders waits on the rate limit, and a
        working exit can sell more than is held once its siblings filled, an entry cannot."""
        return sorted(
            orders, key=lambda o: not (o.order.reduce_only or (o.bracket and o.role != "entry"))
        )

    def reducing_units(self, instrument: str, side: OrderSide) -> int:
        """Units the instrument's live reduce-only orders on ``side`` may still close."""
        return sum(
            order.quantity - order.filled_qty
            for order in self.memory.live_orders(instrument)
            if order.order.reduce_only and order.order.side is side
        )

    def _finish(self, bracket: Bracket) -> None:
        memory = self.memory
        memory.finished.add(bracket.entry_id)
        active = memory.active.get(bracket.entry.instrument)
        if active is not None:
            active.pop(bracket.entry_id, None)
            if not active:
                del memory.active[bracket.entry.instrument]
        for kind in ("timeout", "time"):
            timer = self.bracket_timers.pop((bracket.entry_id, kind), None)
            if timer is not None:
                timer.cancel()
        instrument = bracket.entry.instrument
        following = memory.trailing.get(instrument)
        if following is not None and bracket.entry_id in following:
            del following[bracket.entry_id]
            if not following:
                del memory.trailing[instrument]
                self.unfollow(instrument)
        self.ctx.log.info(
            "bracket done",
            entry=bracket.entry_id,
            filled=bracket.entry_filled,
            open_qty=bracket.open_qty,
            released=bracket.released,
        )

    def trail(self, bracket: Bracket) -> None:
        """Follow the prices of the bracket's instrument for its trailing stop."""
        instrument = bracket.entry.instrument
        following = self.memory.trailing.setdefault(instrument, {})
        if not following:
            self.follow(instrument)
        following[bracket.entry_id] = None

    def follow(self, instrument: str) -> None:
        """Receive the instrument's prices (for its trailing stops)."""
        self.ctx.subscribe(ticks_topic(instrument))
        self.ctx.subscribe(f"bars:{instrument}")

    def unfollow(self, instrument: str) -> None:
        self.ctx.unsubscribe(ticks_topic(instrument))
        self.ctx.unsubscribe(f"bars:{instrument}")


def _ns(seconds: float) -> int:
    return round(seconds * _NS_PER_S)


def replace_ids(event: Any, order: TrackedOrder, now_ns: int) -> Any:
    """A venue event as the router publishes it: the order's strategy and correlation id
    (the venue does not know them), stamped with this process's ``ts_init``."""
    return msgspec.structs.replace(
        event,
        strategy=order.order.strategy,
        correlation_id=order.order.correlation_id,
        ts_init=now_ns,
    )
