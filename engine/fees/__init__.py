"""Fee models: what a trade costs in brokerage, taxes and exchange charges.

- :mod:`engine.fees.model`: :class:`Fees` (a total and its contract-note lines),
  the :class:`FeeModel` protocol, :func:`fee_of_next_fill` (charging an order's fills as one);
- :mod:`engine.fees.simple`: :class:`ZeroFees`, :class:`PerShareFees`, :class:`PercentageFees`;
- :mod:`engine.fees.india`: :class:`IndianEquityIntradayFees`, from the rate table with
  effective dates in :mod:`engine.fees.rate_table` (``config/fees/india_equity_intraday.toml``);
- :mod:`engine.fees.config`: :class:`FeeConfig` and :func:`make_fee_model`.
"""

from engine.fees.config import FEE_MODELS, FeeConfig, FeeConfigError, make_fee_model
from engine.fees.india import IndianEquityIntradayFees
from engine.fees.model import (
    MINOR_UNIT,
    NO_FEES,
    FeeModel,
    FeeRateError,
    Fees,
    fee_of_next_fill,
    round_half_up,
)
from engine.fees.rate_table import IntradayRates, RateTable, read_rate_table, shipped_rate_table
from engine.fees.simple import PercentageFees, PerShareFees, ZeroFees

__all__ = [
    "FEE_MODELS",
    "MINOR_UNIT",
    "NO_FEES",
    "FeeConfig",
    "FeeConfigError",
    "FeeModel",
    "FeeRateError",
    "Fees",
    "IndianEquityIntradayFees",
    "IntradayRates",
    "PerShareFees",
    "PercentageFees",
    "RateTable",
    "ZeroFees",
    "fee_of_next_fill",
    "make_fee_model",
    "read_rate_table",
    "round_half_up",
    "shipped_rate_table",
]
