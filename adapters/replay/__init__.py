"""Replaying historical bars and trades from CSV files.

``CsvReplay`` implements the :class:`~engine.data_client.DataClient` port; ``CsvSource``
configures one file; ``check_csv`` / ``read_csv`` read a file on their own.
"""

from adapters.replay.csv_layout import CsvLayout, CsvSource
from adapters.replay.csv_rows import BarRow, CsvSummary, TickRow, check_csv, read_csv
from adapters.replay.errors import ReplayError
from adapters.replay.replay import BarFeedEvents, CsvReplay

__all__ = [
    "BarFeedEvents",
    "BarRow",
    "CsvLayout",
    "CsvReplay",
    "CsvSource",
    "CsvSummary",
    "ReplayError",
    "TickRow",
    "check_csv",
    "read_csv",
]
