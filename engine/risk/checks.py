"""The pre-trade checks: each a small pure function, run in the order of :data:`CHECKS`.

An order is refused for the first check that fails, with that check's :class:`RiskCode`, a
message a trader can read and the figures that failed (as strings, so Decimals stay exact).
Every limit is inclusive: allowed at the limit, denied past it.

================================  ===========  ===============================================
code                              exits too?   the order is refused when
================================  ===========  ===============================================
``trading_halted``                yes          the trading state is HALTED
``reducing_only``                 no           the trading state is REDUCING (exits only)
``market_closed``                 yes          the instrument's market is not open now
``after_cutoff``                  no           now is past the market's entry cutoff
``instrument_banned``             no           the instrument is in ``banned``
``no_price``                      no           there is no last price to judge the entry by
``lot_size``                      yes          the quantity is not a multiple of the lot
``freeze_quantity``               yes          the quantity is above the freeze quantity
``price_band``                    yes          its limit or trigger price is outside the
                                               day's circuit limits
``fat_finger``                    yes          its limit or trigger price is more than
                                               ``fat_finger_pct`` % from the last price
``max_notional``                  no           quantity x price > ``max_order_notional``
``max_position``                  no           the position with working entries and this
                                               order > ``max_position_qty`` units or
                                               ``max_position_notional``
``max_open_trades``               no           it opens one trade more than
                                               ``max_open_trades``
``max_trades_per_day``            no           it is one entry more than
                                               ``max_trades_per_day`` today
``trade_risk``                    no           it has no stop, a stop on the wrong side, or
                                               (entry - stop) x quantity >
                                               ``risk_per_trade_pct`` % of equity
``portfolio_heat``                no           open risk + its risk >
                                               ``max_portfolio_heat_pct`` % of equity
``order_rate``                    no           the order-rate bucket has no token
``loss_cooldown``                 no           a losing streak's cooldown is running
``daily_loss``                    no           the day's loss is past the daily loss limit
``insufficient_cash``             no           working entries + its value + its fees
                                               (the broker's fee model) > cash x
                                               ``leverage`` (the paper broker's margin too)
================================  ===========  ===============================================

An exit (an order that only reduces a position) is checked by the rows marked "exits too":
it is never held back by a limit on new risk, but HALTED stops it, and a closed market or a
malformed order would be refused by the venue anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from engine.instruments import Instrument
from engine.messages.risk import RiskCode
from engine.messages.runtime import TradingState
from engine.messages.trading import OrderSide
from engine.risk.limits import RiskLimits, decimal_of

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderProposal:
    """The order being judged. Prices in quote currency per unit; quantity in units."""

    instrument: Instrument
    side: OrderSide
    quantity: int
    price: Decimal
    """What one unit is valued at: the limit (or trigger) price, else the last price."""
    order_price: Decimal | None = None
    """The order's own limit or trigger price (checked against the band and the last
    price); ``None`` for a market order."""
    stop: Decimal | None = None
    """The protective stop the trade's risk is measured to; ``None``: none known."""
    is_exit: bool = False
    """Whether it only reduces a position (then only the rows marked "exits too" apply)."""
    fees: Decimal = _ZERO
    """The order's estimated charges by the broker's own fee model: the funds it needs are
    its notional plus these, as the broker counts them (``insufficient_cash``)."""

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity

    @property
    def signed_quantity(self) -> int:
        return self.quantity if self.side is OrderSide.BUY else -self.quantity

    def risk(self) -> Decimal:
        """The loss if the stop is hit: ``|price - stop| x quantity``; the whole value when
        there is no stop."""
        if self.stop is None:
            return self.notional
        return abs(self.price - self.stop) * self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskView:
    """What the supervisor knows when it decides. Money in the account's currency."""

    now_ns: int
    state: TradingState = TradingState.ACTIVE
    market_open: bool = True
    market_note: str = ""
    """Why the market is closed, when it is (a holiday, no calendar data)."""
    cutoff_ns: int | None = None
    """The market's entry cutoff today (ns, UTC); ``None``: none."""
    last_price: Decimal | None = None
    position: int = 0
    """Signed units held in the instrument."""
    working_quantity: int = 0
    """Signed units of the instrument's working entry orders."""
    instrument_open: bool = False
    """Whether the instrument already counts as an open trade (position or working entry)."""
    open_trades: int = 0
    trades_today: int = 0
    equity: Decimal = _ZERO
    cash: Decimal = _ZERO
    working_notional: Decimal = _ZERO
    """Value of every working entry order, all instruments."""
    open_risk: Decimal = _ZERO
    """Risk to their stops of every open position and working entry, all instruments."""
    order_tokens: int = 1
    consecutive_losses: int = 0
    cooldown_until_ns: int | None = None
    daily_pnl: Decimal = _ZERO
    """Today's realised + unrealised P&L (negative: a loss)."""
    start_equity: Decimal = _ZERO
    """Equity at the start of the trading day."""


class Denial(NamedTuple):
    """Why an order was refused."""

    code: RiskCode
    message: str
    figures: dict[str, str]


class Failure(NamedTuple):
    """What a check found wrong; :func:`first_denial` adds the row's code."""

    message: str
    figures: dict[str, str]


Check = Callable[[OrderProposal, RiskView, RiskLimits], Failure | None]


class CheckRow(NamedTuple):
    code: RiskCode
    check: Check
    on_exits: bool
    """Whether the check also applies to an exit."""


def figure(value: Decimal | int | float | str | None) -> str:
    """A figure as a string; a Decimal in plain notation without trailing zeros (``1000000``,
    not ``1E+6`` nor ``1000000.00``; ``2.5``), so equal amounts read the same."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def _pct_of(pct: float, amount: Decimal) -> Decimal:
    return amount * decimal_of(pct) / 100


# -- the checks, in table order ---------------------------------------------------------------


def trading_halted(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if v.state is TradingState.HALTED:
        return Failure("trading is halted: no orders at all", {"state": v.state.value})
    return None


def reducing_only(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if v.state is TradingState.REDUCING:
        return Failure("trading is reducing: exits only", {"state": v.state.value})
    return None


def market_closed(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if not v.market_open:
        note = f" ({v.market_note})" if v.market_note else ""
        return Failure(
            f"the {p.instrument.calendar} market is closed{note}",
            {"calendar": p.instrument.calendar, "now_ns": figure(v.now_ns)},
        )
    return None


def after_cutoff(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if v.cutoff_ns is not None and v.now_ns > v.cutoff_ns:
        return Failure(
            f"past the {p.instrument.calendar} entry cutoff: exits only until the close",
            {"now_ns": figure(v.now_ns), "cutoff_ns": figure(v.cutoff_ns)},
        )
    return None


def instrument_banned(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if p.instrument.id in lim.banned:
        return Failure(f"{p.instrument.id} is banned", {"instrument": p.instrument.id})
    return None


def no_price(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if v.last_price is None:
        return Failure(
            f"no price seen for {p.instrument.id} yet: cannot judge an entry",
            {"instrument": p.instrument.id},
        )
    return None


def lot_size(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    lot = p.instrument.lot_size
    if p.quantity % lot:
        return Failure(
            f"quantity {p.quantity} is not a multiple of the lot size {lot}",
            {"quantity": figure(p.quantity), "lot_size": figure(lot)},
        )
    return None


def freeze_quantity(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    freeze = p.instrument.freeze_quantity
    if freeze is not None and p.quantity > freeze:
        return Failure(
            f"quantity {p.quantity} is above the freeze quantity {freeze}",
            {"quantity": figure(p.quantity), "freeze_quantity": figure(freeze)},
        )
    return None


def price_band(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    band = p.instrument.price_band
    if (
        p.order_price is not None
        and band is not None
        and not p.instrument.price_in_band(p.order_price)
    ):
        return Failure(
            f"price {p.order_price} is outside the day's band {band.lower}-{band.upper}",
            {
                "price": figure(p.order_price),
                "band_lower": figure(band.lower),
                "band_upper": figure(band.upper),
            },
        )
    return None


def fat_finger(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    last, price = v.last_price, p.order_price
    if price is None or last is None or lim.fat_finger_pct <= 0 or last <= 0:
        return None
    # Compared without dividing: |price - last| x 100 > pct x last.
    if abs(price - last) * 100 > decimal_of(lim.fat_finger_pct) * last:
        away = abs(price - last) * 100 / last
        return Failure(
            f"price {price} is {away:.2f}% from the last price {last}, more than "
            f"{lim.fat_finger_pct:g}%",
            {
                "price": figure(price),
                "last_price": figure(last),
                "fat_finger_pct": figure(decimal_of(lim.fat_finger_pct)),
            },
        )
    return None


def max_notional(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    limit = decimal_of(lim.max_order_notional)
    if limit > 0 and p.notional > limit:
        return Failure(
            f"order value {figure(p.notional)} is above the limit {figure(limit)}",
            {"notional": figure(p.notional), "max_order_notional": figure(limit)},
        )
    return None


def max_position(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    after = abs(v.position + v.working_quantity + p.signed_quantity)
    if lim.max_position_qty > 0 and after > lim.max_position_qty:
        return Failure(
            f"position would be {after} units, above the limit {lim.max_position_qty}",
            {"position_after": figure(after), "max_position_qty": figure(lim.max_position_qty)},
        )
    limit = decimal_of(lim.max_position_notional)
    value = p.price * after
    if limit > 0 and value > limit:
        return Failure(
            f"position would be worth {figure(value)}, above the limit {figure(limit)}",
            {"position_notional_after": figure(value), "max_position_notional": figure(limit)},
        )
    return None


def max_open_trades(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if lim.max_open_trades > 0 and not v.instrument_open and v.open_trades >= lim.max_open_trades:
        return Failure(
            f"{v.open_trades} trades open: one more would pass the limit {lim.max_open_trades}",
            {"open_trades": figure(v.open_trades), "max_open_trades": figure(lim.max_open_trades)},
        )
    return None


def max_trades_per_day(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    limit = lim.max_trades_per_day
    if limit > 0 and v.trades_today >= limit:
        return Failure(
            f"{v.trades_today} entries today: one more would pass the limit {limit}",
            {"trades_today": figure(v.trades_today), "max_trades_per_day": figure(limit)},
        )
    return None


def trade_risk(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if lim.risk_per_trade_pct <= 0:
        return None
    if p.stop is None:
        return Failure("the entry has no stop: its risk is unbounded", {"stop": "none"})
    distance = p.price - p.stop if p.side is OrderSide.BUY else p.stop - p.price
    if distance <= 0:
        return Failure(
            f"the stop {p.stop} is not on the losing side of the price {p.price}",
            {"price": figure(p.price), "stop": figure(p.stop)},
        )
    risk = distance * p.quantity
    allowed = _pct_of(lim.risk_per_trade_pct, v.equity)
    if risk > allowed:
        return Failure(
            f"risk to the stop {figure(risk)} is above {lim.risk_per_trade_pct:g}% of equity "
            f"({figure(allowed)})",
            {
                "risk": figure(risk),
                "max_risk": figure(allowed),
                "equity": figure(v.equity),
                "risk_per_trade_pct": figure(decimal_of(lim.risk_per_trade_pct)),
            },
        )
    return None


def portfolio_heat(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if lim.max_portfolio_heat_pct <= 0:
        return None
    heat = v.open_risk + p.risk()
    allowed = _pct_of(lim.max_portfolio_heat_pct, v.equity)
    if heat > allowed:
        return Failure(
            f"open risk would be {figure(heat)}, above {lim.max_portfolio_heat_pct:g}% of "
            f"equity ({figure(allowed)})",
            {
                "heat": figure(heat),
                "open_risk": figure(v.open_risk),
                "max_heat": figure(allowed),
                "equity": figure(v.equity),
            },
        )
    return None


def order_rate(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if v.order_tokens < 1:
        return Failure(
            f"more than {lim.max_orders_per_s:g} entries a second (burst {lim.order_burst})",
            {
                "tokens": figure(v.order_tokens),
                "max_orders_per_s": figure(lim.max_orders_per_s),
                "order_burst": figure(lim.order_burst),
            },
        )
    return None


def loss_cooldown(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    if v.cooldown_until_ns is not None and v.now_ns < v.cooldown_until_ns:
        return Failure(
            f"{v.consecutive_losses} losing trades in a row: no entries until the cooldown ends",
            {
                "consecutive_losses": figure(v.consecutive_losses),
                "max_consecutive_losses": figure(lim.max_consecutive_losses),
                "cooldown_until_ns": figure(v.cooldown_until_ns),
            },
        )
    return None


def daily_loss(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    limit = lim.daily_loss_limit(v.start_equity)
    loss = -v.daily_pnl
    if limit is not None and loss > limit:
        return Failure(
            f"today's loss {figure(loss)} is past the daily limit {figure(limit)}",
            {"daily_loss": figure(loss), "max_daily_loss": figure(limit)},
        )
    return None


def insufficient_cash(p: OrderProposal, v: RiskView, lim: RiskLimits) -> Failure | None:
    # The broker's rule: the order's value and its fees, on top of what working entries
    # hold, within cash x leverage (the paper broker is given the same leverage).
    needed = v.working_notional + p.notional + p.fees
    available = v.cash * decimal_of(lim.leverage)
    if needed > available:
        return Failure(
            f"entries and fees would need {figure(needed)}, above cash x leverage "
            f"({figure(available)})",
            {
                "needed": figure(needed),
                "fees": figure(p.fees),
                "available": figure(available),
                "cash": figure(v.cash),
            },
        )
    return None


CHECKS: tuple[CheckRow, ...] = (
    CheckRow(RiskCode.TRADING_HALTED, trading_halted, on_exits=True),
    CheckRow(RiskCode.REDUCING_ONLY, reducing_only, on_exits=False),
    CheckRow(RiskCode.MARKET_CLOSED, market_closed, on_exits=True),
    CheckRow(RiskCode.AFTER_CUTOFF, after_cutoff, on_exits=False),
    CheckRow(RiskCode.INSTRUMENT_BANNED, instrument_banned, on_exits=False),
    CheckRow(RiskCode.NO_PRICE, no_price, on_exits=False),
    CheckRow(RiskCode.LOT_SIZE, lot_size, on_exits=True),
    CheckRow(RiskCode.FREEZE_QUANTITY, freeze_quantity, on_exits=True),
    CheckRow(RiskCode.PRICE_BAND, price_band, on_exits=True),
    CheckRow(RiskCode.FAT_FINGER, fat_finger, on_exits=True),
    CheckRow(RiskCode.MAX_NOTIONAL, max_notional, on_exits=False),
    CheckRow(RiskCode.MAX_POSITION, max_position, on_exits=False),
    CheckRow(RiskCode.MAX_OPEN_TRADES, max_open_trades, on_exits=False),
    CheckRow(RiskCode.MAX_TRADES_PER_DAY, max_trades_per_day, on_exits=False),
    CheckRow(RiskCode.TRADE_RISK, trade_risk, on_exits=False),
    CheckRow(RiskCode.PORTFOLIO_HEAT, portfolio_heat, on_exits=False),
    CheckRow(RiskCode.ORDER_RATE, order_rate, on_exits=False),
    CheckRow(RiskCode.LOSS_COOLDOWN, loss_cooldown, on_exits=False),
    CheckRow(RiskCode.DAILY_LOSS, daily_loss, on_exits=False),
    CheckRow(RiskCode.INSUFFICIENT_CASH, insufficient_cash, on_exits=False),
)
"""Every check in the order it runs (the table in the module docstring)."""

MOMENT_CHECKS: tuple[CheckRow, ...] = CHECKS[:6]
"""The checks that judge the moment, not the order (state, market, cutoff, ban, a price):
run on their own when an intent cannot even be sized, so that a halted engine says "halted"
rather than "no size"."""


def first_denial(
    proposal: OrderProposal,
    view: RiskView,
    limits: RiskLimits,
    rows: tuple[CheckRow, ...] = CHECKS,
) -> Denial | None:
    """The first of ``rows`` that ``proposal`` fails, or ``None`` if it passes them all.
    Pure."""
    for row in rows:
        if proposal.is_exit and not row.on_exits:
            continue
        failure = row.check(proposal, view, limits)
        if failure is not None:
            return Denial(row.code, failure.message, failure.figures)
    return None
