"""The last trade price of each instrument: written by the feed, read by whoever needs a price
now (the risk supervisor's fat-finger and notional checks).

A last price is a query, not an event stream. Sent as messages, 20,000 ticks a second would
fill the risk supervisor's mailbox and make every trade intent wait behind the ticks queued
before it; a board costs the feed one dict store per instrument per batch and the reader one
lookup per decision. It is the one place actors share state, and it is only ever a price
(a float) written by one writer (the feed) and read by others: a dict store and load are
each atomic in CPython, so no lock is needed and a reader sees the old price or the new one.
"""

from __future__ import annotations


class PriceBoard:
    """Instrument -> last good trade price (quote currency per unit)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def update(self, instrument: str, price: float) -> None:
        self._last[instrument] = price

    def last(self, instrument: str) -> float | None:
        """The last price seen for ``instrument``; ``None`` before the first trade."""
        return self._last.get(instrument)
