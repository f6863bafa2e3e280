"""Bar intervals: the lengths a time bar may have, and the strings that name them.

A bar interval is one of ``1s 5s 15s 30s 1m 3m 5m 15m 30m 1h 1d``. Each of them divides a day
exactly, so bars of any interval aligned to a session open stay aligned day after day, and a
longer interval is built from a shorter one only when it is a multiple of it.
"""

from __future__ import annotations

import msgspec

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS

INTERVALS: dict[str, int] = {
    "1s": SECOND_NS,
    "5s": 5 * SECOND_NS,
    "15s": 15 * SECOND_NS,
    "30s": 30 * SECOND_NS,
    "1m": MINUTE_NS,
    "3m": 3 * MINUTE_NS,
    "5m": 5 * MINUTE_NS,
    "15m": 15 * MINUTE_NS,
    "30m": 30 * MINUTE_NS,
    "1h": HOUR_NS,
    "1d": DAY_NS,
}
"""Every supported interval: its name -> its length in ns, shortest first."""


class Interval(msgspec.Struct, frozen=True):
    """A bar interval: its name as configured (``"5m"``) and its length in ns."""

    name: str
    ns: int

    def __str__(self) -> str:
        return self.name


def parse_interval(text: str | Interval) -> Interval:
    """The :class:`Interval` named ``text`` (``"1m"``); an ``Interval`` is returned as is.

    Raises ``ValueError`` naming the value and listing the allowed ones.
    """
    if isinstance(text, Interval):
        return text
    ns = INTERVALS.get(text) if isinstance(text, str) else None
    if ns is None:
        raise ValueError(f"bar interval {text!r} is not supported; allowed: {', '.join(INTERVALS)}")
    return Interval(text, ns)
