"""What one backtest runs: the data, the strategies, the money, the rules and the dates.

Both forms of ``troupe backtest`` end here: the one-instrument options and a ``-c FILE``
configuration each become one :class:`BacktestPlan`, and the runner (``troupe.backtest``)
knows only the plan. The plan carries already-checked values; building one from user input
is the job of the two front ends, which report every problem at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from engine.config.schema import RankerConfig, StrategyConfig
from engine.fees.config import FeeConfig
from engine.risk.limits import RiskLimits


@dataclass(frozen=True)
class DataFile:
    """One instrument's bars: a CSV in either common layout (see ``adapters.replay``)."""

    instrument: str
    """The id the bars are for, ``EXCHANGE:SYMBOL`` (``NSE:INFY``)."""
    path: Path
    timezone: str = "UTC"
    """The time zone of the file's dates and times (an IANA name)."""
    tick_size: Decimal = Decimal("0.01")
    lot_size: int = 1


@dataclass(frozen=True)
class BacktestPlan:
    """A checked backtest: run by :func:`troupe.backtest.run_plan`."""

    data: tuple[DataFile, ...]
    strategies: tuple[StrategyConfig, ...]
    """Each entry as in the service's ``[[strategies]]``; its ``interval`` must be the data's
    bar interval, and empty ``instruments`` means every data file."""
    out: Path
    limits: RiskLimits
    """Final: sizing, stop-loss, square-off and checks as the run uses them."""
    cash: Decimal = Decimal("100000")
    currency: str = "INR"
    timezone: str = "UTC"
    """Where times in the report are shown, and where the trading day ends."""
    fees: FeeConfig = field(default_factory=FeeConfig)
    ranker: RankerConfig = field(default_factory=lambda: RankerConfig(top_n=1_000_000))
    calendar: str | None = None
    """A calendar name (``NSE``, ``NYSE``): sessions, holidays and square-off from it. None:
    every bar of the files is inside the session, and nothing squares off by the clock."""
    start: dt.date | None = None
    """First trading day used (inclusive), in ``timezone``; None: from the first bar."""
    end: dt.date | None = None
    """Last trading day used (inclusive); None: to the last bar."""
    seed: int = 0
    settings: tuple[tuple[str, str], ...] = ()
    """What the report's settings table shows, in order."""
    title: str = "backtest"
    progress: bool = False
    """Draw a progress bar on stderr while it runs."""
