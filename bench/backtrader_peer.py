"""The backtest bench's peer: the same ``sma_cross`` run in backtrader, timed the same way.

backtrader is never a dependency of the project: ``make bench-backtest`` installs it beside the
project in ``.venv-bench``. It is imported only inside :func:`run_peer`, so this module loads
(and :func:`installed` answers) without it.

The strategy is what a backtrader user would write for ours, in backtrader's fastest mode:
``Cerebro(preload=True, runonce=True, stdstats=False)`` (no observers, no analyzers, no
writers), the bars read by its own Yahoo CSV feed from the very file our run reads (prices as
written: ``adjclose`` and ``round`` off), ``SMA(fast)`` and ``SMA(slow)`` of the close and their
``CrossOver``; long only: buy ``qty`` on a cross up when flat, ``close()`` on a cross down when
long. Its default market orders fill at the next bar's open, and an order made on the last bar
never fills: the fill rules of ours. The time is that of ``cerebro.run()``, which reads the file
(ours reads it inside its run too).

Trades are built from ``notify_order`` (each completed order's date, price and size) and
checked against ``notify_trade`` (the closed trades backtrader counts).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

NOT_INSTALLED = "not installed (make bench-backtest installs it in .venv-bench)"
"""What the bench's ``backtrader`` figure says when backtrader cannot be imported."""
CENT = Decimal("0.01")
"""The bench's prices are whole cents."""


class Trade(NamedTuple):
    """A closed long trade as both engines are compared on."""

    entry_date: dt.date
    entry_price: Decimal
    exit_date: dt.date
    exit_price: Decimal
    qty: int


@dataclass(frozen=True)
class PeerRun:
    bars: int
    """Bars backtrader saw (its data feed's length)."""
    elapsed_ns: int
    """Wall time of ``cerebro.run()``."""
    trades: list[Trade]
    """Closed trades, in order of exit."""
    version: str


def installed() -> bool:
    """Whether backtrader can be imported (without importing it)."""
    return importlib.util.find_spec("backtrader") is not None


def run_peer(data: Path, *, fast: int, slow: int, qty: int, cash: Decimal) -> PeerRun:
    """Run the ``sma_cross`` peer over the daily bars of ``data`` (``Date,Open,High,Low,Close,
    Adj Close,Volume``). Raises ``ModuleNotFoundError`` without backtrader."""
    # Never a dependency (the bench venv only), and untyped: imported here, as Any.
    bt: Any = importlib.import_module("backtrader")

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        params = (("fast", fast), ("slow", slow), ("qty", qty))

        def __init__(self) -> None:
            close = self.data.close
            self.cross = bt.ind.CrossOver(
                bt.ind.SMA(close, period=self.p.fast), bt.ind.SMA(close, period=self.p.slow)
            )
            self.trades: list[Trade] = []
            self.closed = 0
            self._entry: tuple[dt.date, Decimal, int] | None = None

        def next(self) -> None:
            if self.cross[0] > 0 and not self.position:
                self.buy(size=self.p.qty)
            elif self.cross[0] < 0 and self.position:
                self.close()

        def notify_order(self, order: Any) -> None:
            if order.status != order.Completed:
                return
            executed = order.executed
            day = bt.num2date(executed.dt).date()
            # The fill price is the next open as read from the file, in cents; backtrader hands it
            # back as an average over the order's fills (price * size / size), a float off by
            # rounding: back to the cent.
            price = Decimal(executed.price).quantize(CENT)
            size = abs(int(executed.size))
            if order.isbuy():
                self._entry = (day, price, size)
                return
            if self._entry is None:
                raise RuntimeError(f"backtrader sold {size} on {day} without an entry")
            entry_day, entry_price, entry_size = self._entry
            if size != entry_size:
                raise RuntimeError(f"backtrader closed {size} of {entry_size} on {day}")
            self.trades.append(Trade(entry_day, entry_price, day, price, size))
            self._entry = None

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                self.closed += 1

    cerebro = bt.Cerebro(preload=True, runonce=True, stdstats=False)
    cerebro.broker.setcash(float(cash))
    feed = bt.feeds.YahooFinanceCSVData(dataname=str(data), adjclose=False, round=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(SmaCross)
    started = time.perf_counter_ns()
    (strategy,) = cerebro.run()
    elapsed = time.perf_counter_ns() - started
    if strategy.closed != len(strategy.trades):
        raise RuntimeError(
            f"backtrader closed {strategy.closed} trades, its orders make {len(strategy.trades)}"
        )
    return PeerRun(
        bars=len(feed), elapsed_ns=elapsed, trades=strategy.trades, version=bt.__version__
    )
