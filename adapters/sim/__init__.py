"""The synthetic market: seeded, deterministic ticks for any number of instruments.

``SimMarket`` implements the :class:`~engine.data_client.DataClient` port; ``SimInstrument``
and ``TradingHours`` configure it.
"""

from adapters.sim.market import SimMarket
from adapters.sim.price_path import SimInstrument, generated_instruments
from adapters.sim.trading_hours import SessionCalendar, TradingHours

__all__ = ["SessionCalendar", "SimInstrument", "SimMarket", "TradingHours", "generated_instruments"]
