"""From an intent or a manual order to the order the checks judge and the router receives.

Pure functions: they price (on the tick), default the stop, size, and build the order, or say
why there is nothing to judge (no price, no size). The checks themselves are
:func:`engine.risk.checks.first_denial`'s.

=============================  ==============================================================
step                           rule
=============================  ==============================================================
entry price                    the intent's ``entry`` on the tick (a buy down, a sell up):
                               a LIMIT entry; none: a MARKET entry valued at the last price
stop                           the intent's; none: ``default_stop_pct`` from the price (not
                               for ``atr`` sizing, which places its own); on the tick,
                               moved towards the price, so the risk never grows
``stop_loss_pct`` > 0          replaces the stop: the one ``stop_loss_pct`` from the price
                               (:func:`~engine.orders.exits.percent_stop`, away from the
                               price as the router will place it from the entry's average
                               fill price), for sizing and the checks; the bracket carries
                               ``ExitPlan.stop_pct``, with ``bracket_exits`` false as its only
                               exit (no target)
size                           :func:`engine.risk.sizing.size_entry` (``atr``: the ATR
                               distance sizes, the stop stays that of ``stop_loss_pct``)
target                         the intent's on the tick (as a limit order rounds); one on the
                               losing side of the price is dropped (it would fill at once)
a manual order                 its prices on the tick; valued at its limit (or trigger)
                               price, else the last price, else the position's average; an
                               entry gets ``default_stop_pct`` as its stop for the risk
=============================  ==============================================================
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from engine.instruments import Instrument
from engine.messages.orders import ExitPlan, SubmitBracket
from engine.messages.risk import RiskCode
from engine.messages.trading import OrderSide, OrderType, SubmitOrder, TradeIntent
from engine.orders.exits import percent_stop
from engine.risk.checks import Failure, OrderProposal, figure
from engine.risk.limits import RiskLimits, decimal_of
from engine.risk.orders import on_the_tick, round_limit, round_stop, round_target
from engine.risk.sizing import size_entry

_NS_PER_S = 1_000_000_000


class Refusal(NamedTuple):
    """Why there is no order to judge."""

    code: RiskCode
    failure: Failure


class EntryPlan(NamedTuple):
    proposal: OrderProposal
    bracket: SubmitBracket


class ManualPlan(NamedTuple):
    proposal: OrderProposal
    order: SubmitOrder
    """The order with its prices on the tick."""


def default_stop(price: Decimal, side: OrderSide, limits: RiskLimits) -> Decimal | None:
    """A stop ``default_stop_pct`` from ``price`` on the losing side; ``None`` when that is
    off."""
    if limits.default_stop_pct <= 0 or price <= 0:
        return None
    distance = price * decimal_of(limits.default_stop_pct) / 100
    return price - distance if side is OrderSide.BUY else price + distance


def bad_price(**prices: Decimal | None) -> Refusal | None:
    """A refusal naming the first given price that is not a finite number above 0 (a
    malformed intent or manual order must be refused, not crash the supervisor)."""
    for name, price in prices.items():
        if price is not None and not (price.is_finite() and price > 0):
            return Refusal(
                RiskCode.PRICE_BAND,
                Failure(f"{name} {price} is not a finite price above 0", {name: str(price)}),
            )
    return None


def plan_entry(
    intent: TradeIntent,
    instrument: Instrument,
    limits: RiskLimits,
    *,
    last_price: Decimal | None,
    equity: Decimal,
    now_ns: int,
) -> EntryPlan | Refusal:
    """The bracket an entry intent becomes, and the proposal the checks judge."""
    side = intent.side
    refusal = bad_price(entry=intent.entry, stop=intent.stop, target=intent.target)
    if refusal is not None:
        return refusal
    limit_price = None if intent.entry is None else round_limit(instrument, intent.entry, side)
    price = limit_price if limit_price is not None else last_price
    if price is None or price <= 0:
        return Refusal(
            RiskCode.NO_PRICE,
            Failure(
                f"no price seen for {instrument.id} yet: cannot size a market entry",
                {"instrument": instrument.id},
            ),
        )
    stop_pct = decimal_of(limits.stop_loss_pct) if limits.stop_loss_pct > 0 else None
    stop = intent.stop
    if stop_pct is not None:
        stop = percent_stop(price, stop_pct, instrument.tick_size, long=side is OrderSide.BUY)
    elif stop is None and limits.sizing != "atr":
        stop = default_stop(price, side, limits)
    if stop is not None and stop_pct is None:
        stop = round_stop(instrument, stop, side)
    atr = intent.features.get(limits.sizing_atr_feature)
    size = size_entry(
        limits,
        price=price,
        stop=stop,
        atr=atr,
        is_buy=side is OrderSide.BUY,
        equity=equity,
        lot_size=instrument.lot_size,
        freeze_quantity=instrument.freeze_quantity,
    )
    figures = {"price": figure(price), "stop": figure(size.stop), "equity": figure(equity)}
    if size.code is not None:
        return Refusal(size.code, Failure(size.problem, figures))
    if size.quantity == 0:
        return Refusal(
            RiskCode.ZERO_SIZE,
            Failure(
                f"{limits.sizing} sizing gives less than one lot of {instrument.lot_size}",
                figures,
            ),
        )
    if stop_pct is None:
        stop = None if size.stop is None else round_stop(instrument, size.stop, side)
    target = None if intent.target is None else round_target(instrument, intent.target, side)
    if target is not None and ((target <= price) if side is OrderSide.BUY else (target >= price)):
        target = None
    entry = SubmitOrder(
        ts_event=now_ns,
        ts_init=now_ns,
        client_order_id=f"{intent.correlation_id}:entry",
        instrument=instrument.id,
        side=side,
        order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
        quantity=size.quantity,
        price=limit_price,
        strategy=intent.strategy,
        correlation_id=intent.correlation_id,
    )
    bracket = SubmitBracket(
        ts_event=now_ns,
        ts_init=now_ns,
        entry=entry,
        exits=_exit_plan(limits, stop=stop, stop_pct=stop_pct, target=target, atr=atr),
        entry_timeout_ns=round(limits.entry_timeout_s * _NS_PER_S) or None,
    )
    proposal = OrderProposal(
        instrument=instrument,
        side=side,
        quantity=size.quantity,
        price=price,
        order_price=limit_price,
        stop=stop,
    )
    return EntryPlan(proposal, bracket)


def _exit_plan(
    limits: RiskLimits,
    *,
    stop: Decimal | None,
    stop_pct: Decimal | None,
    target: Decimal | None,
    atr: float | None,
) -> ExitPlan:
    """The bracket's exits: with ``bracket_exits`` the stop (``stop_pct``'s, else the
    intent's or the default) and the target; without, only ``stop_pct``'s stop, if any."""
    if not limits.bracket_exits:
        return ExitPlan(stop_pct=stop_pct)
    if stop_pct is not None:
        return ExitPlan(stop_pct=stop_pct, target=target, atr=atr)
    return ExitPlan(stop=stop, target=target, atr=atr)


def plan_manual(
    order: SubmitOrder,
    instrument: Instrument,
    limits: RiskLimits,
    *,
    is_exit: bool,
    last_price: Decimal | None,
    average_price: Decimal,
) -> ManualPlan | Refusal:
    """A manual order with its prices on the tick, and the proposal the checks judge."""
    refusal = bad_price(price=order.price, trigger_price=order.trigger_price)
    if refusal is not None:
        return refusal
    order = on_the_tick(order, instrument)
    order_price = order.price if order.price is not None else order.trigger_price
    reference = order_price or last_price or average_price
    stop = None if is_exit else default_stop(reference, order.side, limits)
    proposal = OrderProposal(
        instrument=instrument,
        side=order.side,
        quantity=order.quantity,
        price=reference,
        order_price=order_price,
        stop=stop,
        is_exit=is_exit,
    )
    return ManualPlan(proposal, order)
