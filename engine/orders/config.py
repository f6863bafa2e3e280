"""The order router's settings, with their defaults (frozen; decoded from TOML like the rest).

Suggested section (the lead wires it into ``engine/config/schema.py``)::

    [router]
    journal = "journal"
    rate_limit = { orders_per_s = 10.0, burst = 10 }
    retry = { max_resends = 3, backoff = { initial_s = 0.25, max_s = 8.0 } }
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.backoff import Backoff

__all__ = ["RateLimit", "RetryPolicy", "RouterConfig"]


class RateLimit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A broker's order-rate limit, as a token bucket. Every request that reaches the broker's
    order API counts (a new order, a modify, a cancel); status queries do not. Requests
    beyond it wait in the router's queue, never dropped."""

    orders_per_s: float = 10.0
    """Sustained requests a second (Indian brokers allow about 10)."""
    burst: int = 10
    """Requests that may go back to back after a quiet spell."""

    def __post_init__(self) -> None:
        problems = []
        if not self.orders_per_s > 0:
            problems.append(f"rate_limit.orders_per_s must be > 0, got {self.orders_per_s!r}")
        if self.burst < 1:
            problems.append(f"rate_limit.burst must be >= 1, got {self.burst!r}")
        if problems:
            raise ValueError("; ".join(problems))


DEFAULT_RETRY_BACKOFF = Backoff(
    initial_s=0.25, multiplier=2.0, max_s=8.0, jitter=0.2, reset_after_s=60.0
)
"""0.25 s, 0.5 s, 1 s ... capped at 8 s, up to 20% shorter."""


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the router does after a transport error (the request may or may not have reached
    the venue). It waits ``backoff`` (the k-th error in a row of that order waits
    ``delay(k)``), asks the venue for the order's status, and only if the venue does not know
    the order sends it again, with the same client order id, at most ``max_resends`` times;
    after that a venue that still does not know it gets the order rejected locally."""

    backoff: Backoff = DEFAULT_RETRY_BACKOFF
    max_resends: int = 3

    def __post_init__(self) -> None:
        if self.max_resends < 0:
            raise ValueError(f"retry.max_resends must be >= 0, got {self.max_resends!r}")


DEFAULT_JOURNAL_RETRY = Backoff(
    initial_s=0.1, multiplier=2.0, max_s=5.0, jitter=0.0, reset_after_s=60.0
)


class RouterConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The order router's settings."""

    journal: str = "journal"
    """The actor that records orders and fills before the router acts on them."""
    rate_limit: RateLimit = msgspec.field(default_factory=RateLimit)
    retry: RetryPolicy = msgspec.field(default_factory=RetryPolicy)
    journal_retry: Backoff = DEFAULT_JOURNAL_RETRY
    """Waits before recording a fill again after the journal failed to: a fill already
    happened at the venue, so it is never given up; it is published only once recorded."""
    default_tick_size: Decimal = Decimal("0.01")
    """The tick a moved trailing stop is rounded to when the instrument is not known."""
    seed: str = "router"
    """Seeds the back-off jitter (the same seed, the same waits: backtests repeat)."""

    def __post_init__(self) -> None:
        if not self.journal:
            raise ValueError("router.journal must name an actor, got an empty name")
        if not self.default_tick_size > 0:
            raise ValueError(
                f"router.default_tick_size must be > 0, got {self.default_tick_size!r}"
            )
