"""The ledger's book, as pure code: positions, cash, fees, P&L and the equity curve.

No actor and no clock here: the book is told fills, marks and day changes, with their times.
The :class:`actors.ledger.Ledger` actor runs one book for the account; tests and a backtest
report can run one directly over a list of fills.

* :mod:`engine.ledger.book`: :class:`Book`, netting fills into positions and cash;
* :mod:`engine.ledger.position`: :class:`Position`, average-cost netting of one instrument;
* :mod:`engine.ledger.equity_curve`: :class:`EquityCurve` and :class:`EquityPoint`;
* :mod:`engine.ledger.money`: minor units and the rounding rule of every reported figure;
* :mod:`engine.ledger.views`: :class:`PositionView`, :class:`AccountFigures`;
* :mod:`engine.ledger.trading_day`: :class:`TradingDay`, when "today" ends.
"""

from engine.ledger.book import Book, FillOutcome
from engine.ledger.equity_curve import DEFAULT_CAPACITY, EquityCurve, EquityPoint, EquitySink
from engine.ledger.money import (
    AVG_PRICE_PLACES,
    MINOR_UNIT_PLACES,
    minor_unit_places,
    round_price,
    round_to_places,
)
from engine.ledger.position import Position
from engine.ledger.trading_day import TradingDay
from engine.ledger.views import AccountFigures, PositionView

__all__ = [
    "AVG_PRICE_PLACES",
    "DEFAULT_CAPACITY",
    "MINOR_UNIT_PLACES",
    "AccountFigures",
    "Book",
    "EquityCurve",
    "EquityPoint",
    "EquitySink",
    "FillOutcome",
    "Position",
    "PositionView",
    "TradingDay",
    "minor_unit_places",
    "round_price",
    "round_to_places",
]
