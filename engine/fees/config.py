"""Choosing a fee model from configuration: :class:`FeeConfig` and :func:`make_fee_model`.

In TOML (the section the service config gives it, ``[paper.fees]`` for instance)::

    model = "indian_equity_intraday"          # the shipped rate table
    table = "my_rates.toml"                   # optional: a rate file of your own

    model = "per_share"                       # 0.005 per unit, at least 1.00 per order
    rate = 0.005
    minimum = 1.00

    model = "percentage"                      # 0.1 % of the traded value, at most 20 per order
    rate = 0.1
    maximum = 20

    model = "zero"                            # the default: no charges
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec

from engine.fees.india import IndianEquityIntradayFees
from engine.fees.model import FeeModel
from engine.fees.simple import PercentageFees, PerShareFees, ZeroFees

__all__ = ["FEE_MODELS", "FeeConfig", "FeeConfigError", "make_fee_model"]

FEE_MODELS: tuple[str, ...] = ("zero", "per_share", "percentage", "indian_equity_intraday")
"""The names :attr:`FeeConfig.model` accepts."""

# The parameters each model takes; any other one given is a mistake worth reporting.
_PARAMETERS: dict[str, frozenset[str]] = {
    "zero": frozenset(),
    "per_share": frozenset({"rate", "minimum", "maximum"}),
    "percentage": frozenset({"rate", "minimum", "maximum"}),
    "indian_equity_intraday": frozenset({"table"}),
}


class FeeConfigError(ValueError):
    """A fee config that names an unknown model or gives it parameters it cannot use."""


class FeeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which fee model charges the paper broker's fills, and its parameters."""

    model: str = "zero"
    """One of :data:`FEE_MODELS`."""
    rate: Decimal | None = None
    """``per_share``: currency per unit traded; ``percentage``: percent of the traded value
    (``0.1`` is 0.1 %). Required by those two models, refused by the others."""
    minimum: Decimal | None = None
    """``per_share`` and ``percentage``: the least charged per order, in currency."""
    maximum: Decimal | None = None
    """``per_share`` and ``percentage``: the most charged per order, in currency."""
    table: str | None = None
    """``indian_equity_intraday``: the rate file; ``None`` is the shipped
    ``config/fees/india_equity_intraday.toml``."""


def make_fee_model(config: FeeConfig, *, where: str = "fees") -> FeeModel:
    """The fee model ``config`` describes. ``where`` prefixes messages (the config key path).

    Raises :class:`FeeConfigError` naming the bad value and what is allowed, and
    :class:`engine.config.load.ConfigError` for a bad rate file.
    """
    if config.model not in _PARAMETERS:
        allowed = ", ".join(f'"{name}"' for name in FEE_MODELS)
        raise FeeConfigError(
            f"{where}.model: unknown fee model {config.model!r}; expected one of {allowed}"
        )
    given = {
        name
        for name in ("rate", "minimum", "maximum", "table")
        if getattr(config, name) is not None
    }
    extra = sorted(given - _PARAMETERS[config.model])
    if extra:
        takes = ", ".join(sorted(_PARAMETERS[config.model])) or "no parameters"
        raise FeeConfigError(
            f"{where}: the {config.model!r} fee model does not take {', '.join(extra)}; "
            f"it takes {takes}"
        )
    try:
        if config.model == "zero":
            return ZeroFees()
        if config.model == "indian_equity_intraday":
            return IndianEquityIntradayFees(None if config.table is None else Path(config.table))
        if config.rate is None:
            raise FeeConfigError(
                f"{where}.rate: missing: the {config.model!r} fee model needs a rate "
                + ("(currency per unit)" if config.model == "per_share" else "(percent)")
            )
        if config.model == "per_share":
            return PerShareFees(config.rate, minimum=config.minimum, maximum=config.maximum)
        return PercentageFees(config.rate, minimum=config.minimum, maximum=config.maximum)
    except FeeConfigError:
        raise
    except ValueError as exc:  # a negative rate, or a minimum above the maximum
        raise FeeConfigError(f"{where}: {exc}") from None
