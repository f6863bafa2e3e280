"""The topics the live view carries, and how each is treated on the way to a browser.

A topic is either one of :data:`LIVE_TOPICS` or a prefix of :data:`LIVE_PREFIXES` followed by
a name (``bars:NSE:RELIANCE``). The web hub forwards only these; a WebSocket client may
subscribe only to these. Everything else published inside the engine stays inside.
"""

from __future__ import annotations

from typing import Any

from engine.messages.account import TOPIC_ACCOUNT
from engine.messages.base import Overflow
from engine.messages.journal import TOPIC_JOURNAL
from engine.messages.risk import TOPIC_RISK
from engine.messages.runtime import TOPIC_DEAD_LETTERS, TOPIC_ENGINE, TOPIC_STATE, TOPIC_SUPERVISION

LIVE_TOPICS: frozenset[str] = frozenset(
    {
        TOPIC_SUPERVISION,  # "actors": actors started, failed, stopped
        TOPIC_STATE,  # "state": trading state changes
        "alerts",
        "signals",
        "rankings",  # each scan cycle's ranking, with every candidate's contributions
        "intents",  # the trade intents the ranker picked
        "strategies",  # strategy reloads
        "reconciliation",  # the books compared with the broker's after a restart
        "orders",  # every order event: submitted, accepted, filled, canceled, rejected, expired
        "fills",
        "positions",  # the ledger's PositionChanged
        TOPIC_ACCOUNT,  # "account": the ledger's AccountChanged (cash, equity, P&L)
        TOPIC_RISK,  # "risk": risk denials, and what a flatten or square-off did
        TOPIC_DEAD_LETTERS,
        TOPIC_ENGINE,  # heartbeats
        TOPIC_JOURNAL,  # "journal": JournalHealthChanged, whether the journal can write
    }
)
"""Topics carried as they are named."""

LIVE_PREFIXES: tuple[str, ...] = ("bars:", "fills:")
"""Topic families: the prefix and then an instrument, ``bars:NSE:RELIANCE``,
``fills:NSE:RELIANCE`` (one instrument's fills)."""

MAX_TOPIC_LENGTH = 200


def is_live_topic(topic: str) -> bool:
    """True if ``topic`` may travel to WebSocket clients."""
    if topic in LIVE_TOPICS:
        return True
    if len(topic) > MAX_TOPIC_LENGTH or not topic.isprintable() or " " in topic:
        return False
    return any(topic.startswith(prefix) and len(topic) > len(prefix) for prefix in LIVE_PREFIXES)


def allowed_topics_text() -> str:
    """The allowed topics as a user reads them in an error message."""
    families = ", ".join(f"{prefix}<instrument>" for prefix in LIVE_PREFIXES)
    return f"{', '.join(sorted(LIVE_TOPICS))}, {families}"


def conflation_key(message: Any) -> Any:
    """The key under which a newer ``message`` may replace a pending one, or ``None`` if it
    must never be dropped (order events, fills, alerts: anything not conflated by its kind)."""
    if getattr(type(message), "overflow", Overflow.BACKPRESSURE) is Overflow.CONFLATE:
        return message.conflation_key()
    return None
