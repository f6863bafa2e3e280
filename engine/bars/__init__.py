"""Bar aggregation, as pure code: time bars, tick and volume bars, bars from bars.

No actor and no clock here: builders are told trades and how far time has gone, and hand
each closed :class:`~engine.messages.market.Bar` to a callback. The
:class:`actors.bar_aggregator.BarAggregator` actor and ``troupe trades-to-ohlcv`` both run
these builders, so live bars, backtest bars and bars made from a file agree.

* :mod:`engine.bars.interval`: the supported intervals and their names;
* :mod:`engine.bars.alignment`: where intervals start (epoch or session origin);
* :mod:`engine.bars.time_bars`: :class:`TimeBarBuilder` (from trades, or from shorter bars);
* :mod:`engine.bars.activity_bars`: :class:`TickBarBuilder`, :class:`VolumeBarBuilder`;
* :mod:`engine.bars.spec`: bar specs and their configuration strings.
"""

from engine.bars.activity_bars import TickBarBuilder, VolumeBarBuilder
from engine.bars.alignment import Alignment, Origin
from engine.bars.interval import INTERVALS, Interval, parse_interval
from engine.bars.spec import (
    BarsFromBars,
    BarSpec,
    TickBars,
    TimeBars,
    VolumeBars,
    parse_bar_spec,
    parse_bar_specs,
)
from engine.bars.time_bars import (
    EMPTY_POLICIES,
    LATE_POLICIES,
    BarSink,
    EmptyPolicy,
    LatePolicy,
    TimeBarBuilder,
)

__all__ = [
    "EMPTY_POLICIES",
    "INTERVALS",
    "LATE_POLICIES",
    "Alignment",
    "BarSink",
    "BarSpec",
    "BarsFromBars",
    "EmptyPolicy",
    "Interval",
    "LatePolicy",
    "Origin",
    "TickBarBuilder",
    "TickBars",
    "TimeBarBuilder",
    "TimeBars",
    "VolumeBarBuilder",
    "VolumeBars",
    "parse_bar_spec",
    "parse_bar_specs",
    "parse_interval",
]
