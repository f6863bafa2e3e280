"""The paper venue's session hooks from the market calendars: when it takes orders, and when
its DAY orders expire.

``market_open`` and ``session_close`` for :class:`~adapters.paper.PaperBroker`, answered by the
calendar each instrument names (:func:`engine.calendars.calendar`)::

    master = InstrumentMaster.load("config/instruments.csv")
    market_open, session_close = calendar_hooks(master.get)
    broker = PaperBroker(config, instruments=master.get, market_open=market_open,
                         session_close=session_close)

A date the calendar has no holiday data for counts as closed (the calendar refuses to guess
that a weekday trades, and so does the venue). An instrument the lookup does not know is
left to the broker's own check (it is rejected as unknown).
"""

from __future__ import annotations

from pathlib import Path

from adapters.paper.admission import InstrumentLookup, MarketOpen
from adapters.paper.venue import SessionClose
from engine.calendars import CalendarRangeError, calendar

__all__ = ["calendar_hooks"]


def calendar_hooks(
    instruments: InstrumentLookup, *, calendar_dir: str | Path | None = None
) -> tuple[MarketOpen, SessionClose]:
    """``(market_open, session_close)`` from the instruments' calendars; ``calendar_dir``
    holds the user's calendar files (as :func:`engine.calendars.calendar` takes them).

    The calendars are loaded when first asked; a bad calendar file raises
    :class:`engine.config.load.ConfigError` then.
    """

    def market_open(instrument_id: str, ts_ns: int) -> bool:
        instrument = instruments(instrument_id)
        if instrument is None:
            return True
        try:
            return calendar(instrument.calendar, calendar_dir).is_open(ts_ns)
        except CalendarRangeError:
            return False

    def session_close(instrument_id: str, ts_ns: int) -> int | None:
        instrument = instruments(instrument_id)
        if instrument is None:
            return None
        try:
            return calendar(instrument.calendar, calendar_dir).session_close(ts_ns)
        except CalendarRangeError:
            return None

    return market_open, session_close
