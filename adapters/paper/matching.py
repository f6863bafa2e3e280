"""The paper broker's fill rules: when market data fills an order, and at what price.

Pure functions over one order and one piece of market data. They return a :class:`Match`
(the price and the liquidity side; the broker decides the quantity from the order's remainder
and the volume allowed) or ``None``, and they advance the order's own trigger state
(``triggered``, ``aggressive``), nothing else.

**Tick mode** (:func:`match_trade`, :func:`match_quote`), ``B``/``S`` for buy/sell:

=====================================  ================================================
order                                  fills on a trade at price ``p``
=====================================  ================================================
market                                 the next trade, at ``p`` (or, with
                                       ``market_fill_price = "quote"``, the next quote's
                                       ask (B) or bid (S) instead)
limit ``L``, resting                   a trade *through* it (B: ``p < L``; S: ``p > L``),
                                       at ``L``: a print at ``L`` does not prove that an
                                       order at the back of the queue traded
limit ``L``, marketable on arrival     the next trade at or better than ``L``, at ``p``;
(B: last trade <= ``L``)               if that trade is worse, it rests as above
stop-market ``T``                      the first trade at or through ``T`` (B: ``p >= T``)
                                       triggers it and fills it at ``p``: ``T`` when the
                                       trade touched it, worse when the price jumped over
                                       it (a stop becomes a market order)
stop-limit ``T``, ``L``                triggered as a stop; then a limit at ``L``,
                                       marketable against the triggering trade
=====================================  ================================================

**Bar mode** (:func:`match_bar`), bar ``o/h/l/c``:

=====================================  ================================================
order                                  fills in the bar
=====================================  ================================================
market                                 at ``o`` (made on bar t's close: fills at t+1's
                                       open)
limit ``L``                            at ``o`` if the bar opens through it (B: ``o <= L``,
                                       the better price); else at ``L`` if the bar trades
                                       to it (B: ``l <= L``)
stop-market ``T``                      at ``o`` if the bar opens through it (a gap, B:
                                       ``o >= T``); else at ``T`` if the bar reaches it
stop-limit ``T``, ``L``                opened through ``T``: a limit for the whole bar;
                                       reached inside the bar: fills at ``T`` only if ``T``
                                       is within the limit (whether the price came back
                                       to ``L`` after the trigger is unknowable from a
                                       bar), else a limit from the next bar
=====================================  ================================================

**The rest of the entry's bar** (:func:`match_rest_of_bar`): a protective stop sent when its
entry filled inside bar B is checked against what is left of B: triggered at once if the
entry's price is already through it, else at ``T`` if B's range reaches it. Only stops are
checked: from a bar's high and low one cannot tell whether the target was reached after the
entry, and a backtest that books it overstates profits; a stop hit is the pessimistic reading.
For the same reason an entry filled inside the bar (a limit or a stop entry) has the whole of
the bar's range checked against its stop, not only the part after the entry.

Slippage (:func:`slipped`) is added by the broker to fills marked ``slippage=True`` (market
and stop-market executions), never to a limit price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from adapters.paper.orders import PaperOrder
from engine.messages.trading import LiquiditySide, OrderSide, OrderType

__all__ = [
    "Match",
    "match_bar",
    "match_quote",
    "match_rest_of_bar",
    "match_trade",
    "on_tick",
    "slipped",
]

_TAKER = LiquiditySide.TAKER
_MAKER = LiquiditySide.MAKER
_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Match:
    """An order fills at ``price`` at ``ts_ns``; ``slippage``: the broker adds its slippage."""

    price: Decimal
    ts_ns: int
    liquidity: LiquiditySide
    slippage: bool


def _through(order: PaperOrder, price: Decimal, level: Decimal) -> bool:
    """Whether ``price`` is at or beyond ``level`` in the direction a stop triggers."""
    return price >= level if order.side is OrderSide.BUY else price <= level


def _within_limit(order: PaperOrder, price: Decimal) -> bool:
    """Whether ``price`` is at or better than the order's limit."""
    assert order.price is not None
    return price <= order.price if order.side is OrderSide.BUY else price >= order.price


# --- Tick mode --------------------------------------------------------------------------------


def match_trade(order: PaperOrder, price: Decimal, ts_ns: int, *, quote_mode: bool) -> Match | None:
    """How a trade at ``price`` fills ``order`` (tick mode); see the module's table.

    ``quote_mode``: market orders fill on quotes (:func:`match_quote`), not on trades.
    """
    kind = order.order_type
    if kind is OrderType.MARKET:
        return None if quote_mode else Match(price, ts_ns, _TAKER, True)
    if order.is_stop and not order.triggered:
        assert order.trigger_price is not None
        if not _through(order, price, order.trigger_price):
            return None
        order.triggered = True
        # A stop-limit is now a limit; the triggering trade tests whether it is marketable.
        order.aggressive = True
    if kind is OrderType.STOP_MARKET:  # triggered: a market order
        return Match(price, ts_ns, _TAKER, True)
    assert order.price is not None
    if order.aggressive:
        order.aggressive = False  # after this trade it rests at its limit
        return Match(price, ts_ns, _TAKER, False) if _within_limit(order, price) else None
    through = price < order.price if order.side is OrderSide.BUY else price > order.price
    return Match(order.price, ts_ns, _MAKER, False) if through else None


def match_quote(order: PaperOrder, bid: Decimal, ask: Decimal, ts_ns: int) -> Match | None:
    """A market order at the quote's ask (buy) or bid (sell); other orders wait for trades."""
    if order.order_type is not OrderType.MARKET:
        return None
    price = ask if order.side is OrderSide.BUY else bid
    return Match(price, ts_ns, _TAKER, True) if price > 0 else None


# --- Bar mode ---------------------------------------------------------------------------------


def match_bar(
    order: PaperOrder,
    *,
    open_: Decimal,
    high: Decimal,
    low: Decimal,
    ts_open: int,
    ts_close: int,
) -> Match | None:
    """How a bar fills ``order`` (bar mode); see the module's table. A fill at the open is
    stamped ``ts_open``; one inside the bar ``ts_close`` (when it is known to have happened)."""
    kind = order.order_type
    if kind is OrderType.MARKET:
        return Match(open_, ts_open, _TAKER, True)
    if order.is_stop and not order.triggered:
        trigger = order.trigger_price
        assert trigger is not None
        if _through(order, open_, trigger):  # opened through the stop: a gap
            order.triggered = True
            if kind is OrderType.STOP_MARKET:
                return Match(open_, ts_open, _TAKER, True)
            return _limit_in_bar(order, open_, high, low, ts_open=ts_open, ts_close=ts_close)
        if not _through(order, high if order.side is OrderSide.BUY else low, trigger):
            return None
        order.triggered = True
        if kind is OrderType.STOP_MARKET:
            return Match(trigger, ts_close, _TAKER, True)
        return Match(trigger, ts_close, _TAKER, False) if _within_limit(order, trigger) else None
    if kind is OrderType.STOP_MARKET:  # triggered on an earlier bar, not yet all filled
        return Match(open_, ts_open, _TAKER, True)
    return _limit_in_bar(order, open_, high, low, ts_open=ts_open, ts_close=ts_close)


def _limit_in_bar(
    order: PaperOrder, open_: Decimal, high: Decimal, low: Decimal, *, ts_open: int, ts_close: int
) -> Match | None:
    assert order.price is not None
    if _within_limit(order, open_):
        return Match(open_, ts_open, _TAKER, False)
    reached = low <= order.price if order.side is OrderSide.BUY else high >= order.price
    return Match(order.price, ts_close, _MAKER, False) if reached else None


def match_rest_of_bar(
    order: PaperOrder, *, entry_price: Decimal, high: Decimal, low: Decimal, ts_close: int
) -> Match | None:
    """How the rest of the bar in which its entry filled at ``entry_price`` fills a
    protective stop (bar mode). Other order types wait for the next bar."""
    if not order.is_stop or order.triggered:
        return None
    trigger = order.trigger_price
    assert trigger is not None
    if _through(order, entry_price, trigger):
        at = entry_price  # through it already when it arrived: triggers at once
    elif _through(order, high if order.side is OrderSide.BUY else low, trigger):
        at = trigger
    else:
        return None
    order.triggered = True
    if order.order_type is OrderType.STOP_MARKET:
        return Match(at, ts_close, _TAKER, True)
    return Match(at, ts_close, _TAKER, False) if _within_limit(order, at) else None


# --- Prices -----------------------------------------------------------------------------------


def on_tick(price: float | Decimal, tick: Decimal) -> Decimal:
    """A market-data price as a ``Decimal`` on the nearest multiple of ``tick`` (a float goes
    through its shortest repr: ``101.35`` is read as written)."""
    exact = price if isinstance(price, Decimal) else Decimal(repr(price))
    steps = (exact / tick).to_integral_value(rounding=ROUND_HALF_EVEN)
    return (steps * tick).quantize(tick)


def slipped(price: Decimal, side: OrderSide, *, bps: Decimal, ticks: int, tick: Decimal) -> Decimal:
    """``price`` moved against the trader by ``bps`` basis points then ``ticks`` ticks, and
    onto the tick grid against the trader (a buy rounds up, a sell down)."""
    if not bps and not ticks:
        return price
    sign = 1 if side is OrderSide.BUY else -1
    moved = price * (1 + sign * bps / _BPS) + sign * ticks * tick
    rounding = ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR
    steps = (moved / tick).to_integral_value(rounding=rounding)
    return max(steps * tick, tick).quantize(tick)
