"""The router's closing side: cancel everything of an instrument, and close its position
without ever reversing it.

:class:`ClosingDesk` sits between :class:`~actors.order_router_desk.OrderDesk` and the venue
side. Scenario → outcome (the rule is :mod:`engine.orders.closing`'s):

=============================================  ============================================
scenario                                       outcome
=============================================  ============================================
``CancelAllOrders``                            every live order (of the instrument)
                                               canceled, its brackets released; closes
                                               waiting there canceled before they are sent
``ClosePosition``                              the same for its instrument (a protective
                                               stop still on its way to the journal is sent,
                                               then canceled); its orders wait
the orders it waits on have all ended          its orders are recorded and sent for at most
                                               the position the router's fills hold, less
                                               what working orders on its side already
                                               close; one with nothing left is rejected here
                                               (``OrderRejected``); closes of one instrument
                                               go in the order they came
the same client order id again                 answered as a duplicate; nothing is done
a command that mixes instruments or sides      refused (``ok=False``), nothing is done
=============================================  ============================================
"""

from __future__ import annotations

import msgspec

from actors.order_router_desk import OrderDesk
from actors.order_router_memory import PendingClose
from engine.actor import handles
from engine.messages.orders import CancelAllOrders
from engine.messages.trading import OrderStatus, SubmitOrder
from engine.orders.closing import ClosePosition, closable, close_allotments, close_problems
from engine.orders.describe import RouterAnswer
from engine.orders.ids import ExitRole
from engine.orders.order import TrackedOrder
from engine.orders.state import OrderEventKind

__all__ = ["ClosingDesk"]

_PROTECTIVE = frozenset({ExitRole.STOP.value, ExitRole.TRAIL.value})


class ClosingDesk(OrderDesk):
    """Cancel-all and closing positions; see the module doc."""

    @handles(CancelAllOrders)
    def on_cancel_all(self, command: CancelAllOrders) -> RouterAnswer:
        instrument = command.instrument
        reason = command.reason or "cancel all"
        canceled = self.cancel_everything(instrument, reason, send_stops=False)
        kept: list[PendingClose] = []
        for pending in self.memory.closing:
            if instrument is None or pending.instrument == instrument:
                for order in pending.command.orders:
                    tracked = self.track_unsent(order)
                    self.end_locally(tracked, OrderEventKind.CANCEL, f"{reason} (not sent)")
                    canceled.append(order.client_order_id)
            else:
                kept.append(pending)
        self.memory.closing = kept
        self.ctx.log.warning(
            "cancel all orders",
            instrument=instrument,
            canceled=len(canceled),
            reason=command.reason,
        )
        self.settle()
        return RouterAnswer(ok=True, reason=f"canceling {len(canceled)} orders", canceled=canceled)

    @handles(ClosePosition)
    def on_close_position(self, command: ClosePosition) -> RouterAnswer:
        problems = close_problems(command)
        if problems:
            reason = f"close refused: {'; '.join(problems)}"
            self.ctx.log.warning("close refused", reason=reason)
            return RouterAnswer(ok=False, reason=reason)
        memory = self.memory
        ids = {order.client_order_id for order in command.orders}
        known = next((i for i in ids if i in memory.orders), None)
        if known is not None or any(
            order.client_order_id in ids for p in memory.closing for order in p.command.orders
        ):
            memory.counts.duplicate_submits += 1
            known_order = memory.orders.get(known) if known is not None else None
            return RouterAnswer(
                ok=True,
                duplicate=True,
                reason="client order id already known: not sent again",
                order=None if known_order is None else known_order.view(),
            )
        instrument = command.orders[0].instrument
        # Recorded before anything is canceled: a restart finds the close still to send and
        # the brackets it released.
        self.record(command)
        waiting = self.cancel_everything(
            instrument, command.reason, send_stops=True, strategy=command.only_strategy
        )
        memory.closing.append(PendingClose(command, set(waiting)))
        self.ctx.log.info(
            "closing a position once its orders have ended",
            instrument=instrument,
            orders=sorted(ids),
            waiting=len(waiting),
            reason=command.reason,
        )
        self.settle()
        return RouterAnswer(
            ok=True, reason=f"closing once {len(waiting)} orders have ended", canceled=waiting
        )

    def cancel_everything(
        self,
        instrument: str | None,
        reason: str,
        *,
        send_stops: bool,
        strategy: str | None = None,
    ) -> list[str]:
        """Release the brackets and cancel every live order (of ``instrument``, of
        ``strategy``); the ids of the orders canceled. ``send_stops``: a protective stop not
        yet sent is sent first. Each release is recorded in the journal before the cancels
        go (a restart must not take a released bracket up again)."""
        memory = self.memory
        for bracket in memory.brackets.values():
            if bracket.released:
                continue  # released before: nothing to write again
            entry = bracket.entry
            if (instrument is None or entry.instrument == instrument) and (
                strategy is None or entry.strategy == strategy
            ):
                bracket.release()
                self.dirty[bracket.entry_id] = None
                self.record_release(bracket, reason)
        canceled: list[str] = []
        for order in self.exits_first(memory.live_orders(instrument)):
            if strategy is not None and order.order.strategy != strategy:
                continue
            client_order_id = order.client_order_id
            canceled.append(client_order_id)
            if send_stops and order.status is OrderStatus.NEW and order.role in _PROTECTIVE:
                memory.cancel_when_sent[client_order_id] = reason
            elif client_order_id not in memory.last_cancel:
                self.cancel_order(client_order_id, reason)
        return canceled

    def send_closes(self) -> None:
        """Send each close whose instrument's orders have ended (module doc)."""
        memory = self.memory
        if not memory.closing:
            return
        blocked: set[str] = set()
        kept: list[PendingClose] = []
        for pending in memory.closing:
            pending.waiting = {
                client_order_id
                for client_order_id in pending.waiting
                if (order := memory.orders.get(client_order_id)) is not None and order.live
            }
            if pending.waiting or pending.instrument in blocked:
                blocked.add(pending.instrument)
                kept.append(pending)
                continue
            self._send_close(pending.command)
        memory.closing = kept

    def _send_close(self, command: ClosePosition) -> None:
        memory = self.memory
        orders = command.orders
        instrument, side = orders[0].instrument, orders[0].side
        position = memory.positions.get(instrument, 0)
        working = sum(
            order.quantity - order.filled_qty
            for order in memory.live_orders(instrument)
            if order.order.side is side
        )
        units = closable(position, side, working)
        allotted = close_allotments([order.quantity for order in orders], units)
        if sum(allotted) < sum(order.quantity for order in orders):
            self.ctx.log.warning(
                "close cut to the position: an exit closed part of it first",
                instrument=instrument,
                asked=sum(order.quantity for order in orders),
                sent=sum(allotted),
                position=position,
                working=working,
            )
        for order, quantity in zip(orders, allotted, strict=True):
            if quantity > 0:
                sent = msgspec.structs.replace(order, quantity=quantity, reduce_only=True)
                self.open_order(sent, bracket=None, role="order")
                self.cap_brackets(instrument)
                continue
            self.reject_locally(
                self.track_unsent(order),
                f"nothing left to close: {instrument} position {position}, {working} units "
                f"already being closed ({command.reason})",
            )

    def track_unsent(self, order: SubmitOrder) -> TrackedOrder:
        """An order the router ends without sending it (a close with nothing left, a
        reduce-only order with nothing to reduce), kept so that its end is published and its
        id stays known."""
        tracked = TrackedOrder(order, self.ctx.now_ns(), bracket=None, role="order")
        self.memory.track(tracked)
        return tracked
