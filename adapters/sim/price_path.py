"""One synthetic instrument: its parameters and the stream of ticks it prints.

Each instrument draws from its own random generator, seeded from the market's seed and the
instrument's id, so its ticks do not depend on which other instruments are subscribed or when.
Prices follow a geometric random walk with jumps, in market time; arrivals are a Poisson
process whose rate follows the session's intensity profile (:mod:`.trading_hours`).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import msgspec

from adapters.sim.trading_hours import SessionCalendar
from engine.messages.market import AggressorSide, QuoteTick, TradeTick

_NS_PER_S = 1_000_000_000
_S_PER_YEAR = 365.25 * 86_400


class SimInstrument(msgspec.Struct, frozen=True, kw_only=True):
    """A synthetic instrument. Rates are annualised over calendar time (365.25 days)."""

    id: str
    """The engine's instrument id, for example ``"SIM:ACME"``."""
    start_price: float = 100.0
    """Price at the market's start, in quote currency per unit; > 0."""
    tick_size: float = 0.05
    """Price grid, in quote currency; every printed price is a multiple of it."""
    lot_size: int = 1
    """Trade and quote sizes are multiples of this many units."""
    drift: float = 0.0
    """Annual drift of the log price (0.05 = 5 % a year)."""
    volatility: float = 0.3
    """Annual volatility of the log price (0.3 = 30 % a year)."""
    jump_probability: float = 0.0005
    """Chance, per tick, of a jump in the price."""
    jump_size: float = 0.02
    """Standard deviation of a jump in the log price (0.02 is about 2 %)."""
    max_spread_ticks: int = 3
    """The bid/ask spread is drawn between 1 and this many ticks."""

    def __post_init__(self) -> None:
        where = f"sim instrument {self.id!r}"
        if not (self.start_price > 0 and math.isfinite(self.start_price)):
            raise ValueError(f"{where}: start_price must be > 0, got {self.start_price!r}")
        if not (self.tick_size > 0 and math.isfinite(self.tick_size)):
            raise ValueError(f"{where}: tick_size must be > 0, got {self.tick_size!r}")
        if self.lot_size < 1 or self.max_spread_ticks < 1:
            raise ValueError(
                f"{where}: lot_size and max_spread_ticks must be >= 1, "
                f"got {self.lot_size!r} and {self.max_spread_ticks!r}"
            )
        if not (self.volatility >= 0 and self.jump_size >= 0):
            raise ValueError(
                f"{where}: volatility and jump_size must be >= 0, "
                f"got {self.volatility!r} and {self.jump_size!r}"
            )
        if not 0.0 <= self.jump_probability <= 1.0:
            raise ValueError(
                f"{where}: jump_probability must be within [0, 1], got {self.jump_probability!r}"
            )


def generated_instruments(count: int, seed: int) -> list[SimInstrument]:
    """``count`` instruments named ``SIM:S000``, ``SIM:S001``, ... with start prices drawn
    (from ``seed``) between 20 and 2000 and a tick size of 0.05."""
    if count < 1:
        raise ValueError(f"sim market: expected at least one instrument, got {count}")
    draw = random.Random(f"{seed}:universe")
    return [
        SimInstrument(id=f"SIM:S{i:03d}", start_price=round(math.exp(draw.uniform(3.0, 7.6)), 2))
        for i in range(count)
    ]


class PricePath:
    """The ticks of one instrument, one arrival at a time, starting after ``start_ns``.

    ``rate`` is this instrument's mean ticks per second of market time over a session;
    ``trade_share`` the chance that a tick is a trade (else it is a quote).
    """

    def __init__(
        self,
        instrument: SimInstrument,
        *,
        seed: int,
        start_ns: int,
        rate: float,
        trade_share: float,
        calendar: SessionCalendar,
    ) -> None:
        self.instrument = instrument
        self._random = random.Random(f"{seed}:{instrument.id}")
        self._calendar = calendar
        self._peak_rate = rate * calendar.peak
        self._trade_share = trade_share
        self._log_price = math.log(instrument.start_price)
        self._decimals = max(0, -int(Decimal(str(instrument.tick_size)).as_tuple().exponent))
        self._last_ns = start_ns
        self._trades = 0
        self.next_ns = self._next_arrival(start_ns)
        """Market time of the next tick, ns since the epoch, UTC."""

    def _next_arrival(self, after_ns: int) -> int:
        # Thinning (Lewis-Shedler): candidates at the peak rate, each kept with probability
        # intensity / peak. Closed hours have no intensity; a Poisson process is memoryless,
        # so skipping straight to the next open is exact.
        draw = self._random
        calendar = self._calendar
        t = after_ns
        while True:
            window = calendar.window_at(t)
            t = max(t, window[0]) + 1 + int(draw.expovariate(self._peak_rate) * _NS_PER_S)
            if t >= window[1]:
                t = window[1]
                continue
            if draw.random() * calendar.peak <= calendar.intensity(t, window):
                return t

    def skip_until(self, ts_ns: int) -> None:
        """Let the market move, unseen, through every tick at or before ``ts_ns``."""
        while self.next_ns <= ts_ns:
            self.advance(0)

    def advance(self, ts_init: int) -> TradeTick | QuoteTick:
        """The tick at :attr:`next_ns`; draws the one after it."""
        instrument = self.instrument
        draw = self._random
        ts = self.next_ns
        years = (ts - self._last_ns) / _NS_PER_S / _S_PER_YEAR
        sigma = instrument.volatility
        self._log_price += (instrument.drift - 0.5 * sigma * sigma) * years + sigma * math.sqrt(
            years
        ) * draw.gauss()
        if draw.random() < instrument.jump_probability:
            self._log_price += draw.gauss(0.0, instrument.jump_size)
        self._last_ns = ts
        tick_size = instrument.tick_size
        spread = 1 + int(draw.random() * instrument.max_spread_ticks)
        # The fair price sits mid-spread; the best bid is at least one tick, so prices stay > 0.
        bid_ticks = max(1, round(math.exp(self._log_price) / tick_size - spread / 2))
        bid = round(bid_ticks * tick_size, self._decimals)
        ask = round((bid_ticks + spread) * tick_size, self._decimals)
        tick: TradeTick | QuoteTick
        if draw.random() < self._trade_share:
            self._trades += 1
            buyer = draw.random() < 0.5
            tick = TradeTick(
                ts_event=ts,
                ts_init=ts_init,
                instrument=instrument.id,
                price=ask if buyer else bid,
                size=float(instrument.lot_size * (1 + int(draw.expovariate(0.25)))),
                trade_id=f"{self._trades:012d}",
                aggressor=AggressorSide.BUYER if buyer else AggressorSide.SELLER,
            )
        else:
            tick = QuoteTick(
                ts_event=ts,
                ts_init=ts_init,
                instrument=instrument.id,
                bid=bid,
                ask=ask,
                bid_size=instrument.lot_size * (1 + int(draw.random() * 50)),
                ask_size=instrument.lot_size * (1 + int(draw.random() * 50)),
            )
        self.next_ns = self._next_arrival(ts)
        return tick
