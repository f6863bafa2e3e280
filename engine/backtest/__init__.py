"""Backtests: what a run produced, as a trader reads it (trades, open positions, the equity
curve and its statistics) and the files that hold it (``report.json``, ``equity.csv``,
``orders.csv``, ``fills.csv``)."""
