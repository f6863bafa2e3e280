"""Which bars to build: bar specs, their configuration strings, and checking a list of them.

| string | spec | bars |
|---|---|---|
| ``"1m"`` (an :data:`~engine.bars.interval.INTERVALS` name) | :class:`TimeBars` | from trades |
| ``"100t"`` | :class:`TickBars` | a bar every 100 trades |
| ``"5000v"``, ``"0.5v"`` | :class:`VolumeBars` | a bar every 5000 (0.5) units traded |
| ``"5m from 1m"`` | :class:`BarsFromBars` | ``5m`` bars built from the ``1m`` bars |

Each spec's :attr:`label` is the ``interval`` of the bars it makes; labels are unique in one
list. Bars from bars need their source in the same list, as a time spec or bars from bars,
with an interval that divides theirs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from engine.bars.activity_bars import volume_label
from engine.bars.interval import INTERVALS, parse_interval


class TimeBars(msgspec.Struct, frozen=True):
    """Time bars at ``interval`` (``"1m"``), built from trades."""

    interval: str

    @property
    def label(self) -> str:
        return self.interval


class TickBars(msgspec.Struct, frozen=True):
    """A bar every ``trades`` trades."""

    trades: int

    @property
    def label(self) -> str:
        return f"{self.trades}t"


class VolumeBars(msgspec.Struct, frozen=True):
    """A bar every ``volume`` units traded (a trade crossing the threshold is not split)."""

    volume: float

    @property
    def label(self) -> str:
        return volume_label(self.volume)


class BarsFromBars(msgspec.Struct, frozen=True):
    """Time bars at ``interval`` built from the time bars at ``source``."""

    interval: str
    source: str

    @property
    def label(self) -> str:
        return self.interval


BarSpec = TimeBars | TickBars | VolumeBars | BarsFromBars

_FORMS = (
    f"an interval ({', '.join(INTERVALS)}), N trades ('100t'), V units of volume ('5000v') "
    "or 'HIGHER from LOWER' ('5m from 1m')"
)


def parse_bar_spec(text: str | BarSpec) -> BarSpec:
    """The spec a configuration string names (see the module's table); a spec is checked
    and returned as is. Raises ``ValueError`` naming the value and the allowed forms."""
    if not isinstance(text, str):
        return _checked(text)
    words = text.split()
    spec: BarSpec | None = None
    if len(words) == 3 and words[1] == "from":
        spec = BarsFromBars(words[0], words[2])
    elif text in INTERVALS:
        spec = TimeBars(text)
    elif text.endswith("t") and text[:-1].isdigit():
        spec = TickBars(int(text[:-1]))
    elif text.endswith("v") and _is_number(text[:-1]):
        spec = VolumeBars(float(text[:-1]))
    if spec is None:
        raise ValueError(f"bar spec {text!r} is not {_FORMS}")
    try:
        return _checked(spec)
    except ValueError as error:
        raise ValueError(f"bar spec {text!r}: {error}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _checked(spec: BarSpec) -> BarSpec:
    if isinstance(spec, TimeBars):
        parse_interval(spec.interval)
    elif isinstance(spec, TickBars):
        if isinstance(spec.trades, bool) or not isinstance(spec.trades, int) or spec.trades < 1:
            raise ValueError(f"tick bars need a whole number of trades >= 1, got {spec.trades!r}")
    elif isinstance(spec, VolumeBars):
        if not (math.isfinite(spec.volume) and spec.volume > 0):
            raise ValueError(f"volume bars need a finite volume > 0, got {spec.volume!r}")
    else:
        higher = parse_interval(spec.interval).ns
        lower = parse_interval(spec.source).ns
        if higher <= lower or higher % lower:
            raise ValueError(
                f"{spec.interval} bars cannot be built from {spec.source} bars: the source "
                "interval must be shorter and divide it"
            )
    return spec


def parse_bar_specs(items: Sequence[str | BarSpec]) -> list[BarSpec]:
    """Parse and check one list of specs: labels unique, every source of bars from bars in
    the list. Raises ``ValueError`` naming the offending entry."""
    specs = [parse_bar_spec(item) for item in items]
    labels = [spec.label for spec in specs]
    time_labels = {s.label for s in specs if isinstance(s, TimeBars | BarsFromBars)}
    for spec in specs:
        if labels.count(spec.label) > 1:
            raise ValueError(f"bars {spec.label!r} are configured more than once")
        if isinstance(spec, BarsFromBars) and spec.source not in time_labels:
            raise ValueError(
                f"bar spec '{spec.interval} from {spec.source}' needs {spec.source!r} time bars "
                "in the same list"
            )
    return specs
