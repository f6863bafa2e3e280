"""A bracket's bookkeeping: an entry, the exits it needs, and the orders that carry them.

Pure: the router tells a :class:`Bracket` what happened to its orders and asks it
:meth:`Bracket.actions`, the commands (``SubmitOrder`` / ``ModifyOrder`` / ``CancelOrder``)
that bring the venue to what the position needs now. Asking twice without news gives nothing
the second time: each command is remembered as asked.

What the position needs, as scenario → outcome:

=============================================  ==============================================
scenario                                       outcome
=============================================  ==============================================
the entry fills (in part or in full)           the protective stop (stop-market at
                                               ``ExitPlan.stop``, or ``ExitPlan.stop_pct``
                                               from the entry's average fill price
                                               (:func:`~engine.orders.exits.percent_stop`),
                                               or trailing) covers the whole open quantity;
                                               each target (limit) its share of the filled
                                               quantity
                                               (:func:`~engine.orders.exits.target_allotments`)
more of the entry fills                        the working exits grow by ``ModifyOrder`` of
                                               the total quantity (same id, no moment without
                                               a stop); a ``stop_pct`` stop moves to the new
                                               average's price in the same modify; exits not
                                               yet acknowledged are resized once they are
a target fills (in part)                       the stop shrinks to the open quantity
the stop fills (in part)                       the targets shrink so that none exceeds the
                                               open quantity; at zero they are canceled (OCO)
the exits closed the whole position            the entry's unfilled remainder is canceled
a better price, trailing                       the stop's trigger moves (``ModifyOrder``),
                                               never back
the time stop                                  every exit and the entry's remainder are
                                               canceled; once the venue confirmed each, the
                                               open quantity is closed at market (``:time``)
the protective stop ends without filling       the same, closing with ``:flat``: a position
(rejected, canceled or expired by the venue)   is not left without its stop
a target ends without filling                  that target is given up (logged); the stop
                                               still covers the position
an exit order filled in full and more is open  a further order for the role (``:stop.2``)
(a late entry fill)
the user cancels an exit                       that exit is left to the user (not re-placed)
the user moves the stop                        it stays there (a ``stop_pct`` stop is no
                                               longer moved by later entry fills)
other orders (the trader's manual sells)       the newest brackets give those units up for
reduce the instrument's position below the     good (:attr:`Bracket.closed_elsewhere`); while
brackets' open quantity, or a reduce-only      such an order works, the exits shrink to what
order works                                    it leaves (:attr:`Bracket.held_cap`): an exit
                                               never sells more than is held, so it never
                                               opens a reverse position
CancelAllOrders, ClosePosition (an exit        the bracket is released: nothing more is placed
signal, the kill switch, the square-off)       or moved; the router cancels its orders
                                               (:mod:`engine.orders.closing`)
the market close is rejected                   the bracket gives up (logged as an error)
=============================================  ==============================================

Why OCO is kept by the router: a venue-side OCO is not available on every broker. Between one
exit's fill and the cancel of the other both are working; the other is sized to the open
quantity, so at worst it fills what was still open.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from engine.messages.orders import SubmitBracket
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderSide,
    OrderStatus,
    OrderType,
    SubmitOrder,
    TimeInForce,
)
from engine.orders.exit_slots import ExitSlot, LegOrder, bracket_problems
from engine.orders.exits import TrailingStop, percent_stop, target_allotments, to_decimal
from engine.orders.ids import ExitRole, exit_order_id, target_role

__all__ = ["Bracket", "BracketCommand", "ExitSlot", "LegOrder", "bracket_problems"]

BracketCommand = SubmitOrder | ModifyOrder | CancelOrder


class Bracket:
    """An entry and its exits. Raises ``ValueError`` listing :func:`bracket_problems`.

    ``lot_size`` rounds the targets' shares; ``tick_size`` the trailing stop. Times ns.
    """

    def __init__(
        self,
        command: SubmitBracket,
        now_ns: int,
        *,
        lot_size: int = 1,
        tick_size: Decimal = Decimal("0.01"),
    ) -> None:
        problems = bracket_problems(command)
        if problems:
            raise ValueError("; ".join(problems))
        entry = command.entry
        plan = command.exits
        self.entry = entry
        self.entry_id = entry.client_order_id
        self.plan = plan
        self.long = entry.side is OrderSide.BUY
        self.exit_side = OrderSide.SELL if self.long else OrderSide.BUY
        # Exits outlive an IOC entry; they last the day unless the entry was meant to last.
        self.exit_tif = (
            TimeInForce.GTC if entry.time_in_force is TimeInForce.GTC else (TimeInForce.DAY)
        )
        self.lot_size = lot_size
        self.tick_size = tick_size
        self.entry_filled = 0
        self._entry_notional = Decimal(0)
        self.entry_live = True
        self.entry_cancel_requested = False
        self.closing: str | None = None
        """Why the position is being closed at market (time stop, stop lost), if it is."""
        self.released = False
        self.alerts: list[str] = []
        """What went wrong since the router last looked (it logs and clears them)."""
        self.opened_ns: int | None = None
        self.timeout_due_ns = (
            None if command.entry_timeout_ns is None else (now_ns + command.entry_timeout_ns)
        )
        self.time_stop_due_ns: int | None = None

        distance = plan.trailing_distance
        if distance is None and plan.trailing_atr_multiple is not None and plan.atr is not None:
            distance = to_decimal(plan.trailing_atr_multiple * plan.atr)
        self.trailing = (
            None
            if distance is None
            else TrailingStop(long=self.long, distance=distance, tick=tick_size, floor=plan.stop)
        )
        self.stop: ExitSlot | None = None
        self.stop_follows_fills = plan.stop_pct is not None
        """The stop's trigger is ``stop_pct`` from the entry's average fill price, set at each
        entry fill (until the user moves it)."""
        if self.trailing is not None:
            self.stop = ExitSlot(ExitRole.TRAIL.value, OrderType.STOP_MARKET)
        elif plan.stop is not None or plan.stop_pct is not None:
            # A stop_pct stop has no trigger before the first fill: nothing is placed until then.
            self.stop = ExitSlot(ExitRole.STOP.value, OrderType.STOP_MARKET, trigger=plan.stop)
        targets = [(t.price, to_decimal(t.fraction)) for t in plan.partial_targets]
        if plan.target is not None:
            targets = [(plan.target, Decimal(1))]
        self.targets = [
            ExitSlot(target_role(i), OrderType.LIMIT, price=price, fraction=fraction)
            for i, (price, fraction) in enumerate(targets, start=1)
        ]
        self.close_slot: ExitSlot | None = None
        self._legs: dict[str, tuple[ExitSlot, LegOrder]] = {}
        self.closed_elsewhere = 0
        """Units of its position other orders closed (a trader's exit): given up for good
        (:class:`~engine.messages.orders.BracketReduced`)."""
        self.held_cap: int | None = None
        """At most this many of its open units are still held at the venue (the router
        sets it from the instrument's position, shared oldest bracket first): other orders
        may have closed some. ``None``: no cap known."""

    # -- what the bracket is told ------------------------------------------------------------

    @property
    def open_qty(self) -> int:
        """Units the entry filled that no exit (nor another order) has closed yet."""
        exited = sum(slot.filled for slot in self._slots(with_close=True))
        return self.entry_filled - exited - self.closed_elsewhere

    @property
    def entry_avg_price(self) -> Decimal | None:
        return self._entry_notional / self.entry_filled if self.entry_filled else None

    @property
    def done(self) -> bool:
        """Nothing more will happen: the entry ended and every exit order ended, and either
        the position is closed or the bracket gave up or was released."""
        if self.entry_live or any(slot.live for slot in self._slots(with_close=True)):
            return False
        return self.released or self.open_qty <= 0

    @property
    def trails(self) -> bool:
        """Whether the router should feed it prices now."""
        return self.trailing is not None and not self.released and not self.done

    def owns(self, client_order_id: str) -> bool:
        return client_order_id == self.entry_id or client_order_id in self._legs

    def role_of(self, client_order_id: str) -> str:
        if client_order_id == self.entry_id:
            return "entry"
        return self._legs[client_order_id][0].role

    def entry_fill(self, quantity: int, price: Decimal, now_ns: int) -> None:
        """The entry executed ``quantity`` units at ``price``."""
        self.entry_filled += quantity
        self._entry_notional += price * quantity
        pct = self.plan.stop_pct
        if pct is not None and self.stop_follows_fills and self.stop is not None:
            # From the exact average (a Fraction: notional / units need not terminate).
            average = Fraction(self._entry_notional) / self.entry_filled
            try:
                self.stop.trigger = percent_stop(average, pct, self.tick_size, long=self.long)
            except ValueError as error:  # a venue's fill at a price <= 0: nothing to place
                self.alerts.append(f"no stop_pct stop from the entry's fills: {error}")
        if self.opened_ns is None:
            self.opened_ns = now_ns
            if self.plan.time_stop_ns is not None:
                self.time_stop_due_ns = now_ns + self.plan.time_stop_ns
            if self.trailing is not None and self.stop is not None:
                self.stop.trigger = self.trailing.start(price)

    def entry_ended(self) -> None:
        self.entry_live = False

    def leg_working(self, client_order_id: str) -> None:
        leg = self._leg(client_order_id)
        if leg is not None and leg.live:
            leg.working = True

    def leg_fill(self, client_order_id: str, quantity: int) -> None:
        leg = self._leg(client_order_id)
        if leg is not None:
            leg.filled += quantity
            if leg.live:
                leg.working = True  # a venue that fills an order has it

    def leg_ended(self, client_order_id: str, status: OrderStatus, reason: str = "") -> None:
        found = self._legs.get(client_order_id)
        if found is None:
            return
        slot, leg = found
        if leg.ended is not None:
            return
        leg.ended = status
        leg.working = False
        # A released bracket's exits are canceled by whoever took over: no alert.
        if not leg.ended_as_planned and not slot.released and not self.released:
            if slot is self.close_slot:
                self.released = True
                self.alerts.append(
                    f"the market close {client_order_id} ended {status.value} ({reason}): "
                    f"{self.open_qty} units stay open"
                )
            elif slot is not self.stop:
                slot.lost = True
                self.alerts.append(
                    f"target {client_order_id} ended {status.value} ({reason}): given up"
                )

    def cancel_sent(self, client_order_id: str) -> None:
        """Someone else (the user, the entry timeout) canceled this order of the bracket."""
        if client_order_id == self.entry_id:
            self.entry_cancel_requested = True
            return
        found = self._legs.get(client_order_id)
        if found is not None:
            found[1].cancel_requested = True
            found[0].released = True

    def adopt(
        self, client_order_id: str, *, trigger: Decimal | None, price: Decimal | None
    ) -> None:
        """The user moved an exit: the bracket keeps it where the user put it."""
        found = self._legs.get(client_order_id)
        if found is None:
            return
        slot, leg = found
        if trigger is not None:
            slot.trigger = leg.requested_trigger = trigger
            if slot is self.stop:
                self.stop_follows_fills = False
                if self.trailing is not None:
                    self.trailing.adopt(trigger)
        if price is not None:
            slot.price = leg.requested_price = price

    def observe_price(self, price: Decimal) -> bool:
        """A price for a trailing stop; whether the stop's trigger moved."""
        if self.trailing is None or self.stop is None or self.released or self.closing:
            return False
        moved = self.trailing.observe(price)
        if moved is None:
            return False
        self.stop.trigger = moved
        return True

    def close(self, reason: str, role: ExitRole) -> None:
        """Close the position at market (the time stop): exits first, then the market order."""
        if self.closing is None and not self.released:
            self.closing = reason
            self.close_slot = ExitSlot(role.value, OrderType.MARKET)

    def release(self) -> None:
        """Stop managing (CancelAllOrders: the canceller takes over)."""
        self.released = True

    # -- after a restart ---------------------------------------------------------------------

    def restore_leg(
        self,
        client_order_id: str,
        role: str,
        *,
        quantity: int,
        trigger: Decimal | None,
        price: Decimal | None,
    ) -> bool:
        """Take back an exit order the journal recorded for this bracket (oldest first per
        role), as if :meth:`actions` had just asked for it; whether its role fits the plan.
        Its fills and end are then told as usual (:meth:`leg_fill`, :meth:`leg_ended`); it
        counts as working once the venue confirms it (:meth:`confirm_leg`).

        A ``time`` or ``flat`` order means the position was being closed at market: the
        bracket takes up closing again."""
        if client_order_id in self._legs:
            return True
        slot: ExitSlot | None
        if role in (ExitRole.TIME.value, ExitRole.FLAT.value):
            if self.close_slot is None:
                reason = "time stop" if role == ExitRole.TIME.value else "protective stop lost"
                self.close(reason, ExitRole(role))
            slot = self.close_slot
        elif self.stop is not None and role == self.stop.role:
            slot = self.stop
        else:
            slot = next((t for t in self.targets if t.role == role), None)
        if slot is None or slot.role != role:
            self.alerts.append(
                f"exit {client_order_id} ({role}) does not fit the bracket's plan: not managed"
            )
            return False
        leg = LegOrder(client_order_id, quantity, trigger, price)
        slot.orders.append(leg)
        self._legs[client_order_id] = (slot, leg)
        return True

    def cancel_asked(self, client_order_id: str) -> None:
        """The router had asked to cancel this restored exit (the journal recorded its
        ``CancelOrder``): its end is the bracket's own, so units still open get a new order,
        never a market close."""
        leg = self._leg(client_order_id)
        if leg is not None:
            leg.cancel_requested = True

    def confirm_leg(
        self,
        client_order_id: str,
        *,
        quantity: int,
        trigger: Decimal | None,
        price: Decimal | None,
    ) -> None:
        """The venue reported a restored exit working with these figures: they are what the
        bracket last asked (the journal does not keep modifies), and a trailing stop trails on
        from the venue's trigger, never back from it."""
        found = self._legs.get(client_order_id)
        if found is None:
            return
        slot, leg = found
        leg.requested_qty = quantity
        leg.requested_trigger = trigger
        leg.requested_price = price
        if slot.current is not leg:
            return
        if trigger is not None and slot.order_type is OrderType.STOP_MARKET:
            slot.trigger = trigger
            if slot is self.stop and self.trailing is not None:
                self.trailing.adopt(trigger)
        if price is not None and slot.order_type is OrderType.LIMIT:
            slot.price = price

    # -- what the bracket asks ---------------------------------------------------------------

    def actions(self, now_ns: int) -> list[BracketCommand]:
        """The commands that bring the venue to what the position needs now (module doc)."""
        if self.released:
            return []
        out: list[BracketCommand] = []
        open_qty = self.open_qty
        if (
            self.closing is None
            and self.entry_filled > 0
            and open_qty <= 0
            and self.entry_live
            and not self.entry_cancel_requested
        ):
            self._cancel_entry("position closed by its exits", out, now_ns)
        # The exits close no more than is still held: never a reverse position.
        covered = open_qty if self.held_cap is None else min(open_qty, self.held_cap)
        if self.closing is None:
            self._size_exits(covered, out, now_ns)
        if self.closing is not None:
            self._close(covered, out, now_ns)
        return out

    def _size_exits(self, open_qty: int, out: list[BracketCommand], now_ns: int) -> None:
        stop = self.stop
        if stop is not None and not stop.released:
            current = stop.current
            if current is not None and not current.live and not current.ended_as_planned:
                if open_qty > 0:
                    self.alerts.append(
                        f"protective stop {current.client_order_id} ended "
                        f"{current.ended.value if current.ended else '?'}: closing "
                        f"{open_qty} units at market"
                    )
                    self.close("protective stop lost", ExitRole.FLAT)
                    return
            else:
                self._size(stop, open_qty, out, now_ns)
        fractions = [slot.fraction or Decimal(0) for slot in self.targets]
        allots = target_allotments(fractions, self.entry_filled, self.lot_size)
        open_left = max(open_qty, 0)
        for slot, allot in zip(self.targets, allots, strict=True):
            wanted = max(0, min(allot - slot.filled, open_left))
            open_left -= wanted
            if not (slot.released or slot.lost):
                self._size(slot, wanted, out, now_ns)

    def _size(self, slot: ExitSlot, wanted: int, out: list[BracketCommand], now_ns: int) -> None:
        """Make ``slot``'s working order carry ``wanted`` more units than it filled."""
        current = slot.current
        if current is not None and current.live:
            if wanted <= 0:
                if not current.cancel_requested:
                    current.cancel_requested = True
                    out.append(self._cancel(current.client_order_id, "exit not needed", now_ns))
                return
            if current.cancel_requested or not current.working:
                return  # resized once the venue confirms it (or placed anew once it ended)
            quantity = trigger = price = None
            total = current.filled + wanted
            if total != current.requested_qty:
                quantity = current.requested_qty = total
            if slot.trigger is not None and slot.trigger != current.requested_trigger:
                trigger = current.requested_trigger = slot.trigger
            if slot.price is not None and slot.price != current.requested_price:
                price = current.requested_price = slot.price
            if quantity is not None or trigger is not None or price is not None:
                out.append(
                    ModifyOrder(
                        ts_event=now_ns,
                        ts_init=now_ns,
                        client_order_id=current.client_order_id,
                        instrument=self.entry.instrument,
                        strategy=self.entry.strategy,
                        quantity=quantity,
                        price=price,
                        trigger_price=trigger,
                        reason=f"bracket {slot.role}",
                    )
                )
            return
        if wanted <= 0:
            return
        if slot.order_type is OrderType.STOP_MARKET and slot.trigger is None:
            return  # a trailing stop before its first reference price
        out.append(self._place(slot, wanted, now_ns))

    def _close(self, open_qty: int, out: list[BracketCommand], now_ns: int) -> None:
        waiting = False
        for slot in self._slots(with_close=False):
            current = slot.current
            if current is not None and current.live:
                waiting = True
                if not current.cancel_requested:
                    current.cancel_requested = True
                    out.append(self._cancel(current.client_order_id, self.closing or "", now_ns))
        if self.entry_live:
            waiting = True
            if not self.entry_cancel_requested:
                self._cancel_entry(self.closing or "closing", out, now_ns)
        close = self.close_slot
        if waiting or open_qty <= 0 or close is None or close.live:
            return  # an exit may still fill while its cancel travels: size the close after
        out.append(self._place(close, open_qty, now_ns))

    # -- building commands -------------------------------------------------------------------

    def _place(self, slot: ExitSlot, quantity: int, now_ns: int) -> SubmitOrder:
        client_order_id = exit_order_id(self.entry_id, slot.role, len(slot.orders) + 1)
        entry = self.entry
        order = SubmitOrder(
            ts_event=now_ns,
            ts_init=now_ns,
            client_order_id=client_order_id,
            instrument=entry.instrument,
            side=self.exit_side,
            order_type=slot.order_type,
            quantity=quantity,
            price=slot.price if slot.order_type is OrderType.LIMIT else None,
            trigger_price=slot.trigger if slot.order_type is OrderType.STOP_MARKET else None,
            time_in_force=self.exit_tif,
            strategy=entry.strategy,
            correlation_id=entry.correlation_id,
        )
        leg = LegOrder(client_order_id, quantity, order.trigger_price, order.price)
        slot.orders.append(leg)
        self._legs[client_order_id] = (slot, leg)
        return order

    def _cancel(self, client_order_id: str, reason: str, now_ns: int) -> CancelOrder:
        return CancelOrder(
            ts_event=now_ns,
            ts_init=now_ns,
            client_order_id=client_order_id,
            instrument=self.entry.instrument,
            strategy=self.entry.strategy,
            reason=reason,
        )

    def _cancel_entry(self, reason: str, out: list[BracketCommand], now_ns: int) -> None:
        self.entry_cancel_requested = True
        out.append(self._cancel(self.entry_id, reason, now_ns))

    def _leg(self, client_order_id: str) -> LegOrder | None:
        found = self._legs.get(client_order_id)
        return None if found is None else found[1]

    def _slots(self, *, with_close: bool) -> list[ExitSlot]:
        slots = [] if self.stop is None else [self.stop]
        slots += self.targets
        if with_close and self.close_slot is not None:
            slots.append(self.close_slot)
        return slots
