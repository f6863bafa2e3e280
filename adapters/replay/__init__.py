"""Replaying history: bars and trades from CSV files, bars from the candle store.

``CsvReplay`` and ``StoreReplay`` implement the :class:`~engine.data_client.DataClient` port
(both paced as :mod:`adapters.replay.pacing` says); ``CsvSource`` configures one file;
``check_csv`` / ``read_csv`` read a file on their own.
"""

from adapters.replay.csv_layout import CsvLayout, CsvSource
from adapters.replay.csv_rows import BarRow, CsvSummary, TickRow, check_csv, read_csv
from adapters.replay.errors import ReplayError
from adapters.replay.replay import BarFeedEvents, CsvReplay
from adapters.replay.store_replay import StoreReplay

__all__ = [
    "BarFeedEvents",
    "BarRow",
    "CsvLayout",
    "CsvReplay",
    "CsvSource",
    "CsvSummary",
    "ReplayError",
    "StoreReplay",
    "TickRow",
    "check_csv",
    "read_csv",
]
