"""The built-in strategies, and finding a strategy class by name or by module path.

| name | module | in a line |
|---|---|---|
| ``sma_cross`` | :mod:`.sma_cross` | fast MA crosses the slow MA |
| ``rsi_threshold`` | :mod:`.rsi_threshold` | RSI below / above fixed levels |
| ``macd_cross`` | :mod:`.macd_cross` | MACD line crosses its signal line |
| ``bollinger_reversion`` | :mod:`.bollinger_reversion` | first close outside a band |
| ``vwap_reversion`` | :mod:`.vwap_reversion` | close stretched from the session VWAP |
| ``opening_range_breakout`` | :mod:`.opening_range_breakout` | close beyond the opening range |
| ``supertrend_volume`` | :mod:`.supertrend_volume` | Supertrend flip on heavy volume |
| ``trend_pullback`` | :mod:`.trend_pullback` | RSI recovery inside an EMA trend |

Each module's docstring states its exact rule, strength, stop and target.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from actors.strategies.bollinger_reversion import BollingerReversion
from actors.strategies.macd_cross import MacdCross
from actors.strategies.opening_range_breakout import OpeningRangeBreakout
from actors.strategies.rsi_threshold import RsiThreshold
from actors.strategies.sma_cross import SmaCross
from actors.strategies.supertrend_volume import SupertrendVolume
from actors.strategies.trend_pullback import TrendPullback
from actors.strategies.vwap_reversion import VwapReversion
from engine.strategy import Strategy

BUILT_INS: dict[str, type[Strategy[Any]]] = {
    cls.name: cls
    for cls in (
        SmaCross,
        RsiThreshold,
        MacdCross,
        BollingerReversion,
        VwapReversion,
        OpeningRangeBreakout,
        SupertrendVolume,
        TrendPullback,
    )
}
"""Every built-in strategy by its configuration name."""


def strategy_class(name_or_path: str) -> type[Strategy[Any]]:
    """The strategy class a configuration's ``use`` names: a built-in name (``"sma_cross"``)
    or ``"package.module:ClassName"`` (imported).

    Raises ``ValueError`` naming what was asked and what exists: an unknown built-in, a module
    that does not import, a missing class, or a class that is not a complete ``Strategy``
    (subclass with ``name``, ``summary`` and ``rule``).
    """
    if ":" not in name_or_path:
        try:
            return BUILT_INS[name_or_path]
        except KeyError:
            raise ValueError(
                f"no built-in strategy {name_or_path!r}; built-ins: {', '.join(BUILT_INS)} "
                "(or give 'package.module:ClassName')"
            ) from None
    module_name, _, class_name = name_or_path.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"strategy {name_or_path!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import failure is the user's module's, reported as such
        raise ValueError(
            f"strategy {name_or_path!r}: cannot import module {module_name!r}: "
            f"{type(error).__name__}: {error}"
        ) from error
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Strategy)):
        candidates = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type)
            and issubclass(value, Strategy)
            and value is not Strategy
            and not inspect.isabstract(value)
        ]
        what = "no such name" if found is None else f"{found!r} is not a Strategy subclass"
        raise ValueError(
            f"strategy {name_or_path!r}: {what} in {module_name}; strategies there: "
            f"{', '.join(candidates) or 'none'}"
        )
    missing = [attr for attr in ("name", "summary", "rule") if not hasattr(found, attr)]
    if missing:
        raise ValueError(
            f"strategy {name_or_path!r}: class {class_name} does not set {', '.join(missing)}"
        )
    return found


__all__ = [
    "BUILT_INS",
    "BollingerReversion",
    "MacdCross",
    "OpeningRangeBreakout",
    "RsiThreshold",
    "SmaCross",
    "SupertrendVolume",
    "TrendPullback",
    "VwapReversion",
    "strategy_class",
]
