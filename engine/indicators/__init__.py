"""Indicators on rolling per-instrument numpy buffers, computed by TA-Lib.

* :mod:`engine.indicators.bar_window`: :class:`BarWindow`, the last bars as contiguous arrays;
* :mod:`engine.indicators.spec`: :class:`Indicator`, warm-up arithmetic, the tolerance;
* :mod:`engine.indicators.talib_based`: :func:`sma`, :func:`ema`, :func:`wma`, :func:`rsi`,
  :func:`macd`, :func:`bbands`, :func:`atr`, :func:`highest`, :func:`lowest`;
* :mod:`engine.indicators.volume_weighted`: :func:`vwma`, :func:`session_vwap` (numpy);
* :mod:`engine.indicators.supertrend`: :func:`supertrend`;
* :mod:`engine.indicators.indicator_set`: :class:`IndicatorSet`, one strategy's indicators.

Each value is computed on the newest ``span`` bars only (one TA-Lib call, vectorised), so it
is a function of those bars and costs the same at bar 100 and at bar 100 000.

**The rule** (checked bar by bar against a full-series run over 3000 random-walk bars in
``tests/test_indicators.py``). ``span = lookback + settle + 1`` bars is both what a value
reads and the warm-up: from the bar with index ``span - 1`` on (counting from 0), each value
equals TA-Lib (or the stated definition) run once over the *whole* series, as follows.

* Non-recursive indicators are a function of their last ``n`` bars: equal to floating
  rounding. Not bit for bit: TA-Lib's full-series run updates running sums (add the new value,
  subtract the old) while the window sums afresh, so the last bits differ; asserted with
  ``rtol=1e-12`` (seen: below 2e-13).
* Recursive indicators (exponential or Wilder smoothing) depend on all history; started
  ``settle`` bars earlier, their starting point keeps a weight ``(1 - alpha) ** settle <=``
  :data:`SETTLE_DECAY` (``1e-10``), so they are within :data:`TOLERANCE` (``1e-9``) of the
  full-series value relative to their scale. ``settle`` is computed from the parameters by
  :func:`settle_bars`. Before the window first fills they are TA-Lib's values exactly (the
  window then *is* the whole series; an EMA is seeded with the SMA of its first ``n``).

| indicator | TA-Lib | lookback | settle | span (defaults) | vs full series, once warm |
|---|---|---|---|---|---|
| ``sma(n)``, ``wma(n)`` | SMA, WMA | n-1 | 0 | n | rtol 1e-12 |
| ``bbands(n, k)`` | BBANDS | n-1 | 0 | 20 | rtol 1e-12, each band |
| ``highest(n)``, ``lowest(n)`` | MAX, MIN | n-1 | 0 | n | exact |
| ``vwma(n)`` | numpy | n-1 | 0 | n | rtol 1e-12 of its definition |
| ``session_vwap()`` | numpy | 0 | 0 (sums per session) | 1 | rtol 1e-12 of its definition |
| ``ema(n)`` | EMA | n-1 | k(2/(n+1)) | 251 (n=20) | 1e-9 x price (seen 8e-13) |
| ``rsi(n)`` | RSI | n | k(1/n) | 326 (n=14) | 1e-9 x 100 (seen 4e-11) |
| ``atr(n)`` | ATR | n | k(1/n) | 326 (n=14) | 1e-9 x the ATR (seen 3e-11) |
| ``macd(f, s, g)`` | MACD | s-1 + g-1 | k(2/(s+1)) + k(2/(g+1)) | 438 (12, 26, 9) | 1e-9 x price |
| ``supertrend(n, m)`` | ATR + loop | n | k(1/n) | 230 (10, 3) | line 1e-9 x price; direction |
|  |  |  |  |  | equal (see below) |

``k(alpha)`` is :func:`settle_bars`: the least ``k`` with ``(1 - alpha) ** k <= 1e-10``
(EMA ``alpha = 2/(n+1)``; Wilder's RSI and ATR ``alpha = 1/n``; MACD settles its slow EMA, then
its signal EMA, whose seed is made of MACD values). Lookbacks are read from TA-Lib
(``talib.abstract.Function(name).lookback``), which includes TA-Lib's global unstable period;
this package reads that setting and never changes it.

Supertrend's ATR follows the rule above; its bands ratchet, so the band recursion is carried
bar by bar from the first ATR value (O(1) per bar). It equals a full-series run that started
at the same bar; two runs that started at different bars agree from the first bar where
both have reset their bands and agree on the direction, which is not bounded in advance (in
practice a few bars after the next flip). Session VWAP likewise covers the session's bars this
calculator was shown: warm up from the session's first bar to have it whole.
"""

from engine.indicators.bar_window import FIELDS, INT_FIELDS, PRICE_FIELDS, BarWindow
from engine.indicators.indicator_set import IndicatorSet
from engine.indicators.spec import SETTLE_DECAY, TOLERANCE, Calculator, Indicator, settle_bars
from engine.indicators.supertrend import Supertrend, supertrend
from engine.indicators.talib_based import (
    TalibIndicator,
    atr,
    bbands,
    ema,
    highest,
    lowest,
    macd,
    rolling_sum,
    rsi,
    sma,
    wma,
)
from engine.indicators.volume_weighted import SessionVwap, Vwma, session_vwap, vwma

__all__ = [
    "FIELDS",
    "INT_FIELDS",
    "PRICE_FIELDS",
    "SETTLE_DECAY",
    "TOLERANCE",
    "BarWindow",
    "Calculator",
    "Indicator",
    "IndicatorSet",
    "SessionVwap",
    "Supertrend",
    "TalibIndicator",
    "Vwma",
    "atr",
    "bbands",
    "ema",
    "highest",
    "lowest",
    "macd",
    "rolling_sum",
    "rsi",
    "session_vwap",
    "settle_bars",
    "sma",
    "supertrend",
    "vwma",
    "wma",
]
