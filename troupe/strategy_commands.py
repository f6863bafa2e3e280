"""``troupe list-strategies`` and ``troupe new-strategy NAME``."""

from __future__ import annotations

import keyword
import re
import sys
import textwrap
from pathlib import Path

from actors.strategies import BUILT_INS
from engine.strategy import describe_params

EXIT_OK = 0
EXIT_USAGE = 2

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def list_strategies() -> int:
    """Print every built-in strategy: its rule, then its parameters with types and defaults."""
    out = sys.stdout
    for name in sorted(BUILT_INS):
        strategy = BUILT_INS[name]
        out.write(f"{name}: {strategy.summary}\n")
        for line in textwrap.wrap(f"rule: {strategy.rule}", 88):
            out.write(f"    {line}\n")
        out.write("    params:\n")
        for param, kind, default in describe_params(strategy.Params):
            out.write(f"      {param} ({kind}) = {default!r}\n")
        out.write("\n")
    out.write(
        'Use one with [[strategies]] use = "NAME", params = { ... } in a configuration file;\n'
        "write your own with `troupe new-strategy NAME`.\n"
    )
    return EXIT_OK


def new_strategy(name: str, directory: str = ".", force: bool = False) -> int:
    """Write ``NAME.py`` (a working strategy to edit) and ``test_NAME.py`` (its test) into
    ``directory``. ``NAME`` must be a lowercase Python identifier."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        print(
            f"strategy name {name!r}: use lowercase letters, digits and _, starting with a "
            "letter (it becomes a module name)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if name in BUILT_INS:
        print(f"strategy name {name!r} is a built-in strategy; choose another", file=sys.stderr)
        return EXIT_USAGE
    folder = Path(directory)
    module, test = folder / f"{name}.py", folder / f"test_{name}.py"
    existing = [str(path) for path in (module, test) if path.exists()]
    if existing and not force:
        print(f"{', '.join(existing)}: exists; pass --force to overwrite", file=sys.stderr)
        return EXIT_USAGE
    folder.mkdir(parents=True, exist_ok=True)
    class_name = "".join(part.capitalize() for part in name.split("_") if part)
    module.write_text(STRATEGY_TEMPLATE.format(name=name, cls=class_name), encoding="utf-8")
    test.write_text(TEST_TEMPLATE.format(name=name, cls=class_name), encoding="utf-8")
    print(f"wrote {module} and {test}", file=sys.stderr)
    print(
        f'use it with: [[strategies]] use = "{name}:{class_name}" (with {folder} on PYTHONPATH);'
        f" test it with: pytest {test}",
        file=sys.stderr,
    )
    return EXIT_OK


STRATEGY_TEMPLATE = '''\
"""{cls}: buy when a bar closes above the highest high of the bars before it.

A template written by `troupe new-strategy {name}`: edit the rule, keep the shape. Use it with

    [[strategies]]
    use = "{name}:{cls}"
    instruments = ["NSE:INFY"]
    interval = "1m"
    params = {{ lookback = 20 }}
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.indicators import Indicator, highest
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class {cls}Params(StrategyParams, frozen=True, kw_only=True):
    lookback: int = 20
    """Bars whose highest high the close must beat."""

    def __post_init__(self) -> None:
        if self.lookback < 2:
            raise ValueError(f"lookback must be >= 2 bars, got {{self.lookback}}")


class {cls}(Strategy[{cls}Params]):
    name = "{name}"
    summary = "Buy a close above the highest high of the previous `lookback` bars."
    rule = (
        "on bar t's close: BUY when close[t] > max(high[t-lookback .. t-1]); "
        "state['breakouts'] counts the signals"
    )
    Params = {cls}Params

    def indicators(self) -> Mapping[str, Indicator]:
        return {{"high": highest(self.params.lookback, source="high")}}

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        previous_high = ctx.value("high", ago=1)  # NaN until there are enough bars
        if bar.close > previous_high:
            self.state["breakouts"] = self.state.get("breakouts", 0) + 1
            ctx.signal(
                OrderSide.BUY,
                strength=1.0,
                stop=previous_high,
                features={{"breakout": bar.close / previous_high - 1.0}},
                reason=f"close {{bar.close}} above the {{self.params.lookback}}-bar high",
            )
'''

TEST_TEMPLATE = '''\
"""The rule of {cls}, on bars whose signal bar is known in advance."""

from __future__ import annotations

import structlog

from engine.messages.market import Bar
from engine.messages.trading import OrderSide, Signal
from engine.strategy_runner import StrategyRunner
from {name} import {cls}, {cls}Params

MINUTE = 60_000_000_000


def bar(i: int, close: float) -> Bar:
    return Bar(
        ts_event=i * MINUTE,
        ts_init=(i + 1) * MINUTE,
        ts_close=(i + 1) * MINUTE,
        instrument="NSE:INFY",
        interval="1m",
        open=close,
        high=close + 0.5,
        low=close - 0.5,
        close=close,
        volume=100.0,
        trade_count=10,
        vwap=close,
    )


def test_a_close_above_the_range_is_a_buy_signal() -> None:
    signals: list[Signal] = []
    runner = StrategyRunner(
        {cls}({cls}Params(lookback=5)),
        strategy_id="{name}",
        instrument="NSE:INFY",
        interval="1m",
        emit=signals.append,
        clock=lambda: 0,
        schedule=lambda _delay, _key: None,
        log=structlog.get_logger(),
    )
    runner.start()
    closes = [100.0] * 10 + [102.0]  # flat, then a close above the highs (100.5)

    for i, close in enumerate(closes):
        runner.on_bar(bar(i, close))

    assert [(s.side, s.ts_event) for s in signals] == [(OrderSide.BUY, 11 * MINUTE)]
'''
