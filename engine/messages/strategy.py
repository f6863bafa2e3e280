"""Commands and events of the strategy hosts (:mod:`actors.strategy_host`).

A host is named :func:`host_name` of its strategy id and instrument, so the API and the
reload can reach it without knowing anything else.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.messages.base import Command, Event


def host_name(strategy_id: str, instrument: str) -> str:
    """The actor name of the host running ``strategy_id`` on ``instrument``
    (``strategy.sma_fast.NSE:INFY``); the runtime's placement globs match ``strategy.*``."""
    return f"strategy.{strategy_id}.{instrument}"


class ReloadStrategy(Command, frozen=True, kw_only=True):
    """Give a running strategy new parameters. The host checks them at once (an ask fails with
    the reason and nothing changes) and applies them before its next bar: the strategy is
    rebuilt with them, its indicators warmed from the bars it keeps, its state carried over."""

    strategy_id: str
    instrument: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """The full parameter set (absent ones take their defaults), as in the configuration."""


class StrategyReloaded(Event, frozen=True, kw_only=True):
    """A host applied new parameters at a bar boundary (published on ``strategies``)."""

    strategy_id: str
    instrument: str
    params: dict[str, Any]


TOPIC_STRATEGIES = "strategies"
"""Where the hosts say what changed (reloads)."""
