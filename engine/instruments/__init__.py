"""Instruments and the instrument master.

* :class:`Instrument`: one tradable instrument and its venue's rules (tick size, lot size,
  freeze quantity, the day's price band, its market calendar), with :meth:`~Instrument.
  round_to_tick` and :meth:`~Instrument.price_in_band`;
* :class:`InstrumentMaster`: every instrument the engine knows, by id, loaded from a CSV or
  TOML file (:mod:`engine.instruments.instrument_file`; ``config/instruments.csv`` ships).
"""

from engine.instruments.instrument import Instrument, PriceBand, TickRounding
from engine.instruments.instrument_file import (
    COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    read_csv,
    read_instruments,
    read_toml,
)
from engine.instruments.master import InstrumentMaster

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Instrument",
    "InstrumentMaster",
    "PriceBand",
    "TickRounding",
    "read_csv",
    "read_instruments",
    "read_toml",
]
