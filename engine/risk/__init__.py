"""Risk: the limits, the pre-trade checks, sizing and the order-rate bucket the risk
supervisor (:mod:`actors.risk`) is built from.

* :mod:`engine.risk.limits`: :class:`RiskLimits`, every limit with its documented default
  (the ``[risk]`` table);
* :mod:`engine.risk.checks`: :func:`first_denial` over :data:`CHECKS`, the pure checks, in
  their declared order;
* :mod:`engine.risk.sizing`: fixed quantity, fixed notional, percent risk or ATR sizing,
  rounded down to the lot;
* :mod:`engine.risk.token_bucket`: the order rate in exact integer nanoseconds;
* :mod:`engine.risk.exposure`: positions, stops and working orders as the supervisor follows
  them;
* :mod:`engine.risk.day`: equity, the day's P&L and entries, the losing streak;
* :mod:`engine.risk.sessions`: open or closed, the entry cutoff and the square-off, per market;
* :mod:`engine.risk.proposals`: an intent or a manual order made into an order;
* :mod:`engine.risk.replay`: the day's counts, working orders and losing streak replayed from
  the journal after a restart;
* :mod:`engine.risk.messages`: :class:`DescribeRisk` / :class:`RiskReport` and
  :class:`FlattenOrdered`.

Import from the modules: the configuration schema imports :mod:`engine.risk.limits`, and a
package that imported everything here would pull the instruments and calendars into the
schema's import, in a circle.
"""
