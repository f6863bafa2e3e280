"""Indian equity intraday (MIS) charges, line by line as a contract note shows them.

For a trade of turnover ``T`` (quantity x price, rupees) on exchange ``X``, with the rates of
the row in force on the trade's date (:mod:`engine.fees.rate_table`):

==============  ====================================================  ==================
line            amount                                                rounded (half-up)
==============  ====================================================  ==================
brokerage       ``min(brokerage_cap, brokerage_percent % of T)``      to the paisa
stt             ``stt_sell_percent % of T``, sell side only            to the rupee
exchange_txn    ``exchange_txn_percent[X] % of T``                     to the paisa
sebi            ``sebi_per_crore x T / 10^7``                          to the paisa
stamp_duty      ``stamp_buy_percent % of T``, buy side only            to the paisa
gst             ``gst_percent %`` of (brokerage + exchange_txn + sebi)  to the paisa
==============  ====================================================  ==================

The units in the last column are the shipped file's ``[rounding]`` table and can be changed
there. Why these: STT is rounded to the nearest rupee (50 paise and above up), as Zerodha's
support article "How is the Securities Transaction Tax (STT) calculated?" states and its
calculator shows; every other line is a paisa amount on the contract note. GST is computed on
the *rounded* lines it is levied on, as the contract note prints them.

One call charges one order: the paper broker charges the fills of an order together
(:func:`engine.fees.model.fee_of_next_fill`), so the ₹20 brokerage cap binds once per
executed order. A real contract note rounds STT per scrip over the whole day; this model
rounds it per order, which can differ by up to a rupee per order.

The exchange is the prefix of the instrument id (``"NSE:INFY"`` -> ``"NSE"``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.fees.model import FeeRateError, Fees, round_half_up
from engine.fees.rate_table import RateTable, read_rate_table
from engine.messages.trading import OrderSide

__all__ = ["IndianEquityIntradayFees"]

_PERCENT = Decimal(100)
_CRORE = Decimal(10_000_000)
_NIL = Decimal("0.00")


class IndianEquityIntradayFees:
    """Brokerage, STT, exchange, SEBI, stamp duty and GST on an NSE or BSE intraday trade.

    ``table`` is a :class:`RateTable`, or the path of a rate file; ``None`` reads the shipped
    ``config/fees/india_equity_intraday.toml``. Raises
    :class:`engine.config.load.ConfigError` listing the problems of a bad file.
    """

    def __init__(self, table: RateTable | str | Path | None = None) -> None:
        self.table = table if isinstance(table, RateTable) else read_rate_table(table)

    def fees(
        self,
        *,
        side: OrderSide,
        quantity: int,
        price: Decimal,
        instrument: str,
        ts_ns: int,
        turnover: Decimal | None = None,
    ) -> Fees:
        """The charges on one order's execution; :class:`FeeRateError` if the instrument's
        exchange is not in the row in force, or the date is before the table's first row."""
        rates = self.table.rates_at(ts_ns)
        exchange, _, symbol = instrument.partition(":")
        if not symbol or exchange not in rates.exchange_txn_percent:
            known = ", ".join(sorted(rates.exchange_txn_percent))
            raise FeeRateError(
                f"{self.table.source}: no exchange transaction charge for {instrument!r} "
                f"(exchange {exchange!r}) in the row in force from {rates.effective_from}; "
                f"the row has {known}"
            )
        traded = price * quantity if turnover is None else turnover
        unit = self.table.rounding
        brokerage = round_half_up(
            min(rates.brokerage_cap, traded * rates.brokerage_percent / _PERCENT),
            unit["brokerage"],
        )
        exchange_txn = round_half_up(
            traded * rates.exchange_txn_percent[exchange] / _PERCENT, unit["exchange_txn"]
        )
        sebi = round_half_up(traded * rates.sebi_per_crore / _CRORE, unit["sebi"])
        selling = side is OrderSide.SELL
        stt = (
            round_half_up(traded * rates.stt_sell_percent / _PERCENT, unit["stt"])
            if selling
            else _NIL
        )
        stamp_duty = (
            _NIL
            if selling
            else round_half_up(traded * rates.stamp_buy_percent / _PERCENT, unit["stamp_duty"])
        )
        gst = round_half_up(
            (brokerage + exchange_txn + sebi) * rates.gst_percent / _PERCENT, unit["gst"]
        )
        return Fees.of(
            {
                "brokerage": brokerage,
                "stt": stt,
                "exchange_txn": exchange_txn,
                "sebi": sebi,
                "stamp_duty": stamp_duty,
                "gst": gst,
            }
        )

    def __repr__(self) -> str:
        return f"IndianEquityIntradayFees({self.table.source!r})"
