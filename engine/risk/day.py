"""The trading day as the risk supervisor counts it: equity, the day's P&L against the daily
loss limit, entries sent, and the losing streak with its cooldown.

A day starts at midnight in ``limits.trading_day_tz``; the counts of the day (entries, the
daily loss flag, the day's starting equity) start afresh then. The losing streak and a
running cooldown carry over. Times are ns since the epoch, UTC, given by the caller.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.messages.account import AccountChanged
from engine.risk.limits import RiskLimits
from engine.timezones import exchange_date

_NS_PER_S = 1_000_000_000
_ZERO = Decimal(0)


class TradingDay:
    """The day's figures, starting from ``equity`` and ``cash`` until the ledger reports."""

    def __init__(self, limits: RiskLimits, *, equity: Decimal, cash: Decimal) -> None:
        self.limits = limits
        self.equity = equity
        self.cash = cash
        self.start_equity = equity
        """Equity at the start of the day: the day's first account report less its P&L."""
        self._start_known = False
        self.daily_pnl = _ZERO
        """Realised + unrealised P&L today (negative: a loss)."""
        self.daily_breached = False
        self.day: date | None = None
        self.trades_today = 0
        self.consecutive_losses = 0
        self.cooldown_until_ns: int | None = None

    def roll(self, now_ns: int) -> None:
        """Start a new day if ``now_ns`` is past midnight of the current one."""
        day = exchange_date(now_ns, self.limits.trading_day_tz)
        if day == self.day:
            return
        if self.day is not None:
            self.start_equity, self._start_known = self.equity, False
            self.daily_pnl = _ZERO
        self.day, self.trades_today, self.daily_breached = day, 0, False

    def daily_loss_limit(self) -> Decimal | None:
        return self.limits.daily_loss_limit(self.start_equity)

    def apply_account(self, account: AccountChanged) -> Decimal | None:
        """Take the ledger's account; return the daily loss limit if this report is the one
        that takes the day's loss past it (once a day), else ``None``."""
        self.equity, self.cash = account.equity, account.cash
        self.daily_pnl = account.realized_pnl + account.unrealized_pnl
        if not self._start_known:
            self.start_equity, self._start_known = account.equity - self.daily_pnl, True
        limit = self.daily_loss_limit()
        if limit is None or self.daily_breached or -self.daily_pnl <= limit:
            return None
        self.daily_breached = True
        return limit

    def count_entry(self) -> None:
        self.trades_today += 1

    def uncount_entry(self) -> None:
        """An entry the venue rejected unfilled no longer counts."""
        self.trades_today = max(0, self.trades_today - 1)

    def close_trade(self, pnl: Decimal, now_ns: int) -> bool:
        """Count a closed trade's ``pnl``; return whether it starts a cooldown."""
        if pnl >= 0:
            self.consecutive_losses = 0
            return False
        self.consecutive_losses += 1
        streak = self.limits.max_consecutive_losses
        if streak and self.consecutive_losses >= streak and self.cooldown_until_ns is None:
            self.cooldown_until_ns = now_ns + round(self.limits.loss_cooldown_s * _NS_PER_S)
            return True
        return False

    def end_cooldown(self, now_ns: int) -> None:
        """Once the cooldown is over, the streak starts again from 0."""
        if self.cooldown_until_ns is not None and now_ns >= self.cooldown_until_ns:
            self.cooldown_until_ns, self.consecutive_losses = None, 0
