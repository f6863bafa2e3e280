"""The risk limits: what the risk supervisor allows, with documented defaults.

One frozen struct, :class:`RiskLimits`, shaped for the configuration file (a ``[risk]`` table):
money and percentages are TOML numbers (floats), read into exact ``Decimal`` with
:func:`decimal_of` where they are compared with money, and ``0`` switches a limit off (TOML
has no null). Every limit is inclusive: an order exactly at a limit is allowed, one past it
is denied.

Money limits are in the instrument's currency and equity in the account's: the engine trades
one currency per account (INR for NSE, USD for US markets).

A bad value raises ``ValueError`` (``msgspec.ValidationError`` when decoded or converted)
naming the field, the value and what is allowed.
"""

from __future__ import annotations

import functools
import math
from datetime import time
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from engine.calendars import CALENDAR_NAMES
from engine.timezones import to_exchange_time

SizingMethod = Literal["fixed_qty", "fixed_notional", "percent_risk", "atr"]
SIZING_METHODS: tuple[str, ...] = ("fixed_qty", "fixed_notional", "percent_risk", "atr")


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pre-trade limits, sizing and the day's boundaries of the risk supervisor."""

    # -- per order ------------------------------------------------------------------------------
    max_order_notional: Annotated[
        float,
        Meta(
            ge=0,
            description="Largest value of one order (quantity x price), in the instrument's "
            "currency; 0: no limit. Sizing never asks for more.",
        ),
    ] = 500_000.0
    fat_finger_pct: Annotated[
        float,
        Meta(
            ge=0,
            description="A priced order (limit or stop) more than this % away from the last "
            "traded price is refused; 0: no check.",
        ),
    ] = 5.0
    max_orders_per_s: Annotated[
        float,
        Meta(
            gt=0,
            description="Sustained rate of new entry orders (token bucket); exits are never "
            "held back by it.",
        ),
    ] = 5.0
    order_burst: Annotated[
        int,
        Meta(ge=1, description="Entry orders allowed at once before the rate applies."),
    ] = 5
    # -- per instrument and portfolio -----------------------------------------------------------
    max_position_qty: Annotated[
        int,
        Meta(
            ge=0,
            description="Largest position in one instrument, in units, counting working "
            "entries; 0: no limit.",
        ),
    ] = 0
    max_position_notional: Annotated[
        float,
        Meta(
            ge=0,
            description="Largest position value in one instrument (units x price), counting "
            "working entries; 0: no limit.",
        ),
    ] = 1_000_000.0
    max_open_trades: Annotated[
        int,
        Meta(
            ge=0,
            description="Instruments with a position or a working entry at once; 0: no limit.",
        ),
    ] = 5
    max_trades_per_day: Annotated[
        int, Meta(ge=0, description="Entries sent per trading day; 0: no limit.")
    ] = 20
    risk_per_trade_pct: Annotated[
        float,
        Meta(
            ge=0,
            description="Largest loss to the stop of one trade, (entry - stop) x quantity, "
            "as % of equity; also what percent_risk and atr sizing risk. 0: no check.",
        ),
    ] = 0.5
    max_portfolio_heat_pct: Annotated[
        float,
        Meta(
            ge=0,
            description="Largest sum of the open trades' risk to their stops (positions and "
            "working entries, this order included), as % of equity; 0: no limit.",
        ),
    ] = 3.0
    leverage: Annotated[
        float,
        Meta(
            gt=0,
            description="Entries' value (working ones and this order) may reach cash times "
            "this (intraday margin: 5 for NSE MIS).",
        ),
    ] = 1.0
    default_stop_pct: Annotated[
        float,
        Meta(
            ge=0,
            lt=100,
            description="An entry without a stop gets one this % from its price (its risk "
            "and the bracket's stop); 0: an entry without a stop is refused.",
        ),
    ] = 1.0
    bracket_exits: Annotated[
        bool,
        Meta(
            description="true: an entry goes with its stop and target orders (a bracket); "
            "false: without them, exits come from signals only (the stop still sizes the "
            "risk), but for the stop of stop_loss_pct. Backtests of a strategy's own exit "
            "rule use false.",
        ),
    ] = True
    stop_loss_pct: Annotated[
        float,
        Meta(
            ge=0,
            lt=100,
            description="Each entry's protective stop this % from the entry's average fill "
            "price, placed when the entry fills; 0: none. It applies whatever bracket_exits "
            "says: with false the entry goes with this stop only (no target), with true it "
            "replaces the signal's stop. Sizing and the risk checks measure the risk to the "
            "stop this % from the entry's price.",
        ),
    ] = 0.0
    allow_short: Annotated[
        bool,
        Meta(
            description="false: long only, a SELL without a long position is refused (a "
            "SELL with one is an exit); true: a SELL when flat opens a short.",
        ),
    ] = False
    banned: Annotated[
        list[str],
        Meta(description="Instrument ids never entered (exits still allowed)."),
    ] = msgspec.field(default_factory=list)
    # -- losses ---------------------------------------------------------------------------------
    max_consecutive_losses: Annotated[
        int,
        Meta(
            ge=0,
            description="After this many losing trades in a row, no entries for "
            "loss_cooldown_s; 0: no cooldown.",
        ),
    ] = 3
    loss_cooldown_s: Annotated[
        float, Meta(ge=0, description="How long entries pause after the losing streak.")
    ] = 1800.0
    max_daily_loss_pct: Annotated[
        float,
        Meta(
            ge=0,
            description="Loss of the day (realised + unrealised) past this % of the day's "
            "starting equity flattens everything and halts trading; 0: no limit.",
        ),
    ] = 2.0
    max_daily_loss: Annotated[
        float,
        Meta(
            ge=0,
            description="The same in money; with both set, the smaller one applies. 0: none.",
        ),
    ] = 0.0
    trading_day_tz: Annotated[
        str,
        Meta(description="The time zone whose midnight starts a new day for the day's counts."),
    ] = "Asia/Kolkata"
    # -- sessions -------------------------------------------------------------------------------
    square_off: Annotated[
        dict[str, str],
        Meta(
            description='Per market calendar, the local time ("HH:MM" or "HH:MM:SS") its '
            "positions are closed at market; a market not listed is not squared off. Read "
            "as a distance before the regular close, so half days move with it.",
        ),
    ] = msgspec.field(default_factory=lambda: {"NSE": "15:15", "NYSE": "15:50", "NASDAQ": "15:50"})
    entry_cutoff: Annotated[
        dict[str, str],
        Meta(
            description="Per market calendar, the local time after which no entry is sent; "
            "entries stop at the square-off time if that is earlier or no cutoff is listed.",
        ),
    ] = msgspec.field(default_factory=lambda: {"NSE": "15:00", "NYSE": "15:30", "NASDAQ": "15:30"})
    # -- sizing ---------------------------------------------------------------------------------
    sizing: Annotated[
        SizingMethod,
        Meta(
            description="fixed_qty: sizing_quantity units; fixed_notional: sizing_notional "
            "worth; percent_risk: risk_per_trade_pct of equity to the stop; atr: the same "
            "with the stop sizing_atr_multiple ATRs away. Rounded down to the lot.",
        ),
    ] = "percent_risk"
    sizing_quantity: Annotated[int, Meta(ge=1, description="Units per entry for fixed_qty.")] = 1
    sizing_notional: Annotated[
        float, Meta(gt=0, description="Value per entry for fixed_notional.")
    ] = 100_000.0
    sizing_atr_multiple: Annotated[
        float, Meta(gt=0, description="Stop distance in ATRs for atr sizing.")
    ] = 2.0
    sizing_atr_feature: Annotated[
        str,
        Meta(description="The signal feature holding the ATR (price units) for atr sizing."),
    ] = "atr"
    entry_timeout_s: Annotated[
        float,
        Meta(ge=0, description="An entry not filled within this is canceled; 0: never."),
    ] = 300.0
    recent_denials: Annotated[int, Meta(ge=0, description="Denials kept for GET /api/v1/risk.")] = (
        50
    )

    def __post_init__(self) -> None:
        # Struct construction does not check Meta bounds (decoding does); these rules hold
        # either way, so a RiskLimits made in code is as safe as one read from a file.
        for name in (
            "max_order_notional",
            "fat_finger_pct",
            "max_position_notional",
            "risk_per_trade_pct",
            "max_portfolio_heat_pct",
            "default_stop_pct",
            "stop_loss_pct",
            "loss_cooldown_s",
            "max_daily_loss_pct",
            "max_daily_loss",
            "entry_timeout_s",
        ):
            _check_number(name, getattr(self, name), low=0.0)
        for name in ("max_orders_per_s", "leverage", "sizing_notional", "sizing_atr_multiple"):
            _check_number(name, getattr(self, name), low=0.0, open_low=True)
        for name in ("default_stop_pct", "stop_loss_pct"):
            if getattr(self, name) >= 100:
                raise ValueError(f"{name} must be below 100, got {getattr(self, name)!r}")
        for name in (
            "order_burst",
            "max_position_qty",
            "max_open_trades",
            "max_trades_per_day",
            "max_consecutive_losses",
            "sizing_quantity",
            "recent_denials",
        ):
            value = getattr(self, name)
            low = 1 if name in ("order_burst", "sizing_quantity") else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.sizing not in SIZING_METHODS:
            raise ValueError(
                f"sizing must be one of {', '.join(SIZING_METHODS)}, got {self.sizing!r}"
            )
        try:
            to_exchange_time(0, self.trading_day_tz)
        except ValueError as error:
            raise ValueError(f"trading_day_tz: {error}") from None
        for table in ("square_off", "entry_cutoff"):
            for market, wall in getattr(self, table).items():
                if market not in CALENDAR_NAMES:
                    raise ValueError(
                        f"{table}: unknown market calendar {market!r}; the calendars are "
                        f"{', '.join(CALENDAR_NAMES)}"
                    )
                try:
                    local_time(wall)
                except ValueError as error:
                    raise ValueError(f"{table}.{market}: {error}") from None

    def square_off_time(self, market: str) -> time | None:
        """The wall-clock square-off time of the calendar ``market``; ``None``: none."""
        wall = self.square_off.get(market)
        return None if wall is None else local_time(wall)

    def entry_cutoff_time(self, market: str) -> time | None:
        """The wall-clock time after which ``market`` takes no entry: the earlier of its
        entry cutoff and its square-off (an entry after the square-off would be closed at
        once); ``None``: entries until the close."""
        walls = [
            local_time(table[market])
            for table in (self.entry_cutoff, self.square_off)
            if market in table
        ]
        return min(walls) if walls else None

    def daily_loss_limit(self, start_equity: Decimal) -> Decimal | None:
        """The loss (a positive amount) past which the day is over: the smaller of
        ``max_daily_loss`` and ``max_daily_loss_pct`` of ``start_equity``; ``None``: none."""
        limits: list[Decimal] = []
        if self.max_daily_loss > 0:
            limits.append(decimal_of(self.max_daily_loss))
        if self.max_daily_loss_pct > 0:
            limits.append(start_equity * decimal_of(self.max_daily_loss_pct) / 100)
        return min(limits) if limits else None


def local_time(wall: str) -> time:
    """``"HH:MM"`` or ``"HH:MM:SS"`` as a wall-clock ``time``. Raises ``ValueError`` naming
    the value otherwise."""
    parts = wall.split(":") if isinstance(wall, str) else []
    if len(parts) not in (2, 3) or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise ValueError(f'{wall!r} is not a time of day like "15:15" or "15:15:30"')
    try:
        numbers = [int(p) for p in parts]
        return time(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 0)
    except ValueError:
        raise ValueError(f'{wall!r} is not a time of day like "15:15" or "15:15:30"') from None


@functools.lru_cache(maxsize=256)
def decimal_of(value: float) -> Decimal:
    """A configured number as the exact decimal it was written as (``0.1`` is ``0.1``, not
    its binary expansion)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _check_number(name: str, value: object, *, low: float, open_low: bool = False) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < low or (open_low and value == low):  # type: ignore[operator, arg-type]
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def checks_off(limits: RiskLimits) -> RiskLimits:
    """``limits`` with every check off but available cash (``troupe backtest --risk off``,
    and benchmarks that measure the path, not the rules): no notional, position, trade-count,
    per-trade risk, heat, fat-finger, loss or rate limit; sizing and sessions unchanged."""
    return msgspec.structs.replace(
        limits,
        max_order_notional=1e18,
        fat_finger_pct=0.0,
        max_orders_per_s=1e9,
        order_burst=10**9,
        max_position_notional=1e18,
        max_open_trades=0,
        max_trades_per_day=0,
        risk_per_trade_pct=0.0,
        max_portfolio_heat_pct=0.0,
        max_consecutive_losses=0,
        max_daily_loss_pct=0.0,
    )
