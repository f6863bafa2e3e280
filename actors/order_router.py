"""The order router: every order the engine sends, from the journal to the venue and back.

One per execution client (the paper broker or a real broker), named ``router``. Scenario →
outcome:

=========================================  ===================================================
scenario                                   outcome
=========================================  ===================================================
``SubmitOrder`` / ``SubmitBracket``        recorded NEW and sent to the journal
                                           (``WriteAhead`` keyed by the client order id; a
                                           bracket's entry as the whole ``SubmitBracket``); sent
                                           to the venue only once ``Written(ok=True)`` is back
                                           (``OrderSubmitted`` on ``orders``); the answer is a
                                           ``RouterAnswer`` with the order
the journal could not record it            rejected locally (``OrderRejected``), never sent
the same client order id again             answered from the existing order
                                           (``duplicate=True``); nothing is sent
more requests than the rate limit allows   queued (cancels first), never dropped, sent as
                                           tokens come (:mod:`actors.order_router_outbox`)
a venue event (accepted, filled, canceled  applied through the state table
expired, rejected)                         (:mod:`engine.orders.state`) and published on
                                           ``orders`` with the order's correlation id and
                                           strategy; one that does not fit (late or
                                           duplicated) changes nothing and is counted
a fill                                     deduplicated by trade id, counted, recorded
                                           (``WriteAhead`` keyed by the trade id), then
                                           published on ``orders``, ``fills`` and
                                           ``fills:<instrument>``; a failed record is written
                                           again after a back-off, never published unrecorded
a transport error (submit, cancel,         after the retry back-off the venue is asked
modify, query)                             (``query_order``): a known order's status is
                                           adopted (and a cancel or modify whose fate was
                                           unknown is sent again); an unknown one is sent
                                           again with the same id, up to ``max_resends``,
                                           then rejected locally. Never a re-send unasked
a bracket's entry fills, its exits fill,   the exits follow the position
a price moves (trailing), the time stop,   (:mod:`engine.orders.bracket`); the entry's
the entry timeout                          remainder is canceled at the timeout
``CancelOrder``                            an order not yet sent is canceled here; a working
                                           one at the venue (queued ahead of other requests)
``ModifyOrder``                            sent for a working order (the router sizes a
                                           bracket's exits itself: their quantity is refused)
``CancelAllOrders``                        every live order (of the instrument) canceled, its
                                           brackets released
``ClosePosition`` (an exit signal, the     the same for the instrument, then, once each of
kill switch, the square-off)               those orders ended, the closing orders for at
                                           most the position the router's fills hold: a
                                           stop that filled first is never doubled by the
                                           exit (:mod:`actors.order_router_closing`)
``DescribeOrders``                         an ``OrdersReport``, newest first
a crash                                    the next incarnation keeps the book
                                           (:class:`~actors.order_router_memory.RouterMemory`)
                                           and sets its timers again
a process restart (``rebuild`` given)      the book is rebuilt from the journal, settled
                                           with the venue and compared with it; new
                                           entries are refused until then
                                           (:mod:`actors.order_router_recovery`)
=========================================  ===================================================

The client's callbacks only ever call the runtime's thread-safe ``send`` to the router's own
name (:class:`~actors.order_router_relay.VenueRelay`).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from actors.order_router_memory import RouterMemory
from actors.order_router_recovery import Rebuild, RecoverySide
from actors.order_router_relay import EntryTimeoutDue, RouterRuntime, TimeStopDue, VenueRelay
from engine.actor import handles
from engine.context import Context
from engine.execution_client import ExecutionClient
from engine.instruments.instrument import Instrument
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.orders import TOPIC_ORDERS, SubmitBracket
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderRejected,
    SubmitOrder,
)
from engine.orders.bracket import Bracket
from engine.orders.config import RouterConfig
from engine.orders.describe import DescribeOrders, OrdersReport, RouterAnswer, RouterCounts
from engine.orders.exits import to_decimal
from engine.orders.ids import ExitRole
from engine.spec import ActorSpec

__all__ = ["NAME", "OrderRouter", "RouterConfig", "RouterMemory", "order_router_spec"]

NAME = "router"

InstrumentLookup = Callable[[str], Instrument | None]


class OrderRouter(RecoverySide):
    """Orders from risk to the venue and back (module doc).

    ``client`` is the venue; ``runtime`` the runtime the router runs on (its clock and
    callbacks go to the client, its thread-safe ``send`` carries the client's reports back).
    ``memory`` is the book kept across incarnations (pass the same one to every incarnation;
    :func:`order_router_spec` does). ``instruments`` gives lot and tick sizes (targets are
    rounded down to the lot, trailing stops to the tick); ``None``: lot 1 and
    ``config.default_tick_size``. ``rebuild`` reads the journal for the book to take back
    after a process restart (:mod:`actors.order_router_recovery`); ``None``: nothing is
    restored or compared, and entries are taken at once.
    """

    def __init__(
        self,
        client: ExecutionClient,
        runtime: RouterRuntime,
        *,
        config: RouterConfig | None = None,
        memory: RouterMemory | None = None,
        instruments: InstrumentLookup | None = None,
        rebuild: Rebuild | None = None,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.config = config = config or RouterConfig()
        self.memory = memory or RouterMemory(config)
        self.instruments = instruments
        self.rebuild = rebuild

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.begin(ctx)
        memory = self.memory
        if not memory.restored:  # a new process: the journal's book first (raises: retried)
            self.restore()
        if not memory.connected:
            try:
                self.client.connect(VenueRelay(self.runtime.send, ctx.name), self.runtime)
                memory.connected = True
            except Exception as exc:  # requests will meet transport errors and be retried
                ctx.log.error("execution client connect failed", error=_describe(exc))
        # What the previous incarnation had set: its timers died with it.
        for bracket in memory.brackets.values():
            self.arm_bracket_timers(bracket)
        for instrument in memory.trailing:
            self.follow(instrument)  # kept across restarts anyway: subscriptions are the name's
        self.rearm_retries()
        self.rearm_reconcile()
        if not memory.asked:
            self.ask_venue()
        self.settle()

    # -- commands ----------------------------------------------------------------------------

    @handles(SubmitOrder)
    def on_submit(self, order: SubmitOrder) -> RouterAnswer:
        known = self.memory.orders.get(order.client_order_id)
        if known is not None:
            return self._duplicate(known.client_order_id)
        held = self.held_entry(order, entry=False)
        if held is not None:
            return held
        if order.reduce_only:
            return self._reduce(order)
        answer = self.open_order(order, bracket=None, role="order")
        self.settle()
        return answer

    def _reduce(self, order: SubmitOrder) -> RouterAnswer:
        """A reduce-only order: sent for at most what is held less what other reducing orders
        already close (a stop may have filled since risk judged it an exit); the brackets'
        exits then shrink to what is left (:meth:`cap_brackets`)."""
        instrument = order.instrument
        units = self.reducible(order)
        if units <= 0:
            tracked = self.track_unsent(order)
            reason = self.nothing_to_reduce(order)
            self.reject_locally(tracked, reason)
            self.settle()
            return RouterAnswer(ok=False, reason=reason, order=tracked.view())
        if units < order.quantity:
            self.ctx.log.warning(
                "reduce-only order cut to the position",
                order=order.client_order_id,
                asked=order.quantity,
                sent=units,
            )
            order = msgspec.structs.replace(order, quantity=units)
        answer = self.open_order(order, bracket=None, role="order")
        self.cap_brackets(instrument)
        self.settle()
        return answer

    @handles(SubmitBracket)
    def on_bracket(self, command: SubmitBracket) -> RouterAnswer:
        entry = command.entry
        if entry.client_order_id in self.memory.orders:
            return self._duplicate(entry.client_order_id)
        held = self.held_entry(entry, entry=True)
        if held is not None:
            return held
        instrument = self._lookup(entry.instrument)
        now = self.ctx.now_ns()
        try:
            bracket = Bracket(
                command,
                now,
                lot_size=instrument.lot_size if instrument else 1,
                tick_size=instrument.tick_size if instrument else self.config.default_tick_size,
            )
        except ValueError as exc:
            reason = f"bracket refused: {exc}"
            self.ctx.log.warning("bracket refused", order=entry.client_order_id, reason=reason)
            self.ctx.publish(
                TOPIC_ORDERS,
                OrderRejected(
                    ts_event=now,
                    ts_init=now,
                    client_order_id=entry.client_order_id,
                    instrument=entry.instrument,
                    strategy=entry.strategy,
                    reason=reason,
                    correlation_id=entry.correlation_id,
                ),
            )
            return RouterAnswer(ok=False, reason=reason)
        self.memory.brackets[bracket.entry_id] = bracket
        self.memory.active.setdefault(entry.instrument, {})[bracket.entry_id] = None
        if bracket.trailing is not None:
            self.trail(bracket)
        self.arm_bracket_timers(bracket)
        # The whole bracket is recorded with its entry: a restarted router rebuilds it.
        answer = self.open_order(entry, bracket=bracket.entry_id, role="entry", record=command)
        self.settle()
        return answer

    @handles(CancelOrder)
    def on_cancel(self, command: CancelOrder) -> RouterAnswer:
        order = self.memory.orders.get(command.client_order_id)
        if order is None:
            return RouterAnswer(ok=False, reason=f"no order {command.client_order_id!r}")
        if not order.live:
            return RouterAnswer(
                ok=False, reason=f"the order has ended ({order.status.value})", order=order.view()
            )
        bracket = self.memory.brackets.get(order.bracket) if order.bracket else None
        if bracket is not None:
            bracket.cancel_sent(order.client_order_id)
            if order.role != "entry":
                # The exit is the user's from now on: a restart must not place it again.
                self.record_release(
                    bracket, command.reason or "canceled on request", exit=order.client_order_id
                )
        self.cancel_order(order.client_order_id, command.reason or "canceled on request")
        self.settle()
        return RouterAnswer(ok=True, order=order.view())

    @handles(ModifyOrder)
    def on_modify(self, command: ModifyOrder) -> RouterAnswer:
        order = self.memory.orders.get(command.client_order_id)
        if order is None:
            return RouterAnswer(ok=False, reason=f"no order {command.client_order_id!r}")
        if not order.working:
            return RouterAnswer(
                ok=False,
                reason=f"only a sent, working order can be modified ({order.status.value})",
                order=order.view(),
            )
        bracket = self.memory.brackets.get(order.bracket) if order.bracket else None
        if bracket is not None and order.role != "entry":
            if command.quantity is not None:
                return RouterAnswer(
                    ok=False,
                    reason="a bracket's exits are sized by the router to the open position",
                    order=order.view(),
                )
            bracket.adopt(order.client_order_id, trigger=command.trigger_price, price=command.price)
        self.memory.outbox.push(command)
        self.settle()
        return RouterAnswer(ok=True, order=order.view())

    @handles(DescribeOrders)
    def on_describe(self, ask: DescribeOrders) -> OrdersReport:
        memory = self.memory
        views = [
            order.view()
            for order in reversed(memory.orders.values())
            if (ask.instrument is None or order.order.instrument == ask.instrument)
            and (not ask.open_only or order.live)
        ]
        if ask.limit is not None:
            views = views[: max(ask.limit, 0)]
        counts = memory.counts
        now = self.ctx.now_ns()
        return OrdersReport(
            ts_event=now,
            ts_init=now,
            orders=views,
            counts=RouterCounts(
                orders=len(memory.orders),
                open_orders=sum(1 for o in memory.orders.values() if o.live),
                brackets_active=len(memory.brackets) - len(memory.finished),
                queued=len(memory.outbox),
                refused_events=counts.refused_events,
                duplicate_fills=counts.duplicate_fills,
                duplicate_submits=counts.duplicate_submits,
                unknown_events=counts.unknown_events,
                transport_errors=counts.transport_errors,
                resends=counts.resends,
                journal_failures=counts.journal_failures,
            ),
        )

    # -- timers ------------------------------------------------------------------------------

    @handles(EntryTimeoutDue)
    def on_entry_timeout(self, due: EntryTimeoutDue) -> None:
        bracket = self.memory.brackets.get(due.entry_id)
        if bracket is None or not bracket.entry_live or bracket.entry_cancel_requested:
            return
        self.ctx.log.info("entry timed out", order=due.entry_id, filled=bracket.entry_filled)
        bracket.cancel_sent(due.entry_id)
        self.cancel_order(due.entry_id, "entry timeout")
        self.dirty[due.entry_id] = None
        self.settle()

    @handles(TimeStopDue)
    def on_time_stop(self, due: TimeStopDue) -> None:
        bracket = self.memory.brackets.get(due.entry_id)
        if bracket is None or (bracket.open_qty <= 0 and not bracket.entry_live):
            return
        self.ctx.log.info("time stop", order=due.entry_id, open_qty=bracket.open_qty)
        bracket.close("time stop", ExitRole.TIME)
        self.dirty[due.entry_id] = None
        self.settle()

    # -- prices for trailing stops -----------------------------------------------------------

    @handles(TradeTick)
    def on_trade(self, tick: TradeTick) -> None:
        self._price(tick.instrument, tick.price, tick.price)
        self.settle()

    @handles(QuoteTick)
    def on_quote(self, tick: QuoteTick) -> None:
        # A long position could sell at the bid; a short one buy at the ask.
        self._price(tick.instrument, tick.bid, tick.ask)
        self.settle()

    @handles(TickBatch)
    def on_batch(self, batch: TickBatch) -> None:
        for tick in batch.ticks:
            if isinstance(tick, TradeTick):
                self._price(tick.instrument, tick.price, tick.price)
            else:
                self._price(tick.instrument, tick.bid, tick.ask)
        self.settle()

    @handles(Bar)
    def on_bar(self, bar: Bar) -> None:
        self._price(bar.instrument, bar.high, bar.low)
        self.settle()

    def _price(self, instrument: str, for_long: float, for_short: float) -> None:
        entry_ids = self.memory.trailing.get(instrument)
        if not entry_ids:
            return
        for entry_id in entry_ids:
            bracket = self.memory.brackets.get(entry_id)
            if bracket is None or bracket.opened_ns is None:
                continue
            price = for_long if bracket.long else for_short
            if price > 0 and bracket.observe_price(to_decimal(price)):
                self.dirty[entry_id] = None

    # -- helpers -----------------------------------------------------------------------------

    def _duplicate(self, client_order_id: str) -> RouterAnswer:
        self.memory.counts.duplicate_submits += 1
        order = self.memory.orders[client_order_id]
        self.ctx.log.info(
            "duplicate order answered, not sent", order=client_order_id, status=order.status.value
        )
        return RouterAnswer(
            ok=True,
            duplicate=True,
            reason="client order id already known: not sent again",
            order=order.view(),
        )


def order_router_spec(
    client: ExecutionClient,
    runtime: RouterRuntime,
    *,
    config: RouterConfig | None = None,
    instruments: InstrumentLookup | None = None,
    name: str = NAME,
    rebuild: Rebuild | None = None,
    **spec_options: object,
) -> ActorSpec:
    """The router's spec, with one :class:`RouterMemory` shared by all its incarnations (the
    first restores the journal's book through ``rebuild``, if given)."""
    config = config or RouterConfig()
    memory = RouterMemory(config)

    def make() -> OrderRouter:
        return OrderRouter(
            client,
            runtime,
            config=config,
            memory=memory,
            instruments=instruments,
            rebuild=rebuild,
        )

    return ActorSpec(name, make, **spec_options)  # type: ignore[arg-type]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
