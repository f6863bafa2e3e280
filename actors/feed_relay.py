"""The bridge from a data client's thread to its feed's mailbox, and the feed's own messages.

A :class:`~engine.data_client.DataClient` reports from whatever thread its I/O runs on. The
:class:`Relay` it is given turns each report into a message sent to the feed's own name
through the runtime's thread-safe ``send``, and does nothing else: the feed's state is only
ever touched by the feed, one message at a time.

Connection reports carry a ``tag`` (the feed's incarnation and connection attempt), so news
from a connection the feed has already given up on is recognised and ignored. Ticks carry no
tag: a late tick is still judged on its merits.

These messages are the feed's private business (not in the catalogue): ticks here are not yet
validated, so they must not look like a ``TickBatch`` to anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

Tag = tuple[int, int]
"""(incarnation, connection attempt) of the feed that made the connection."""


class TicksArrived(msgspec.Struct, frozen=True):
    """Ticks as the client delivered them, oldest first; unvalidated (anything at all)."""

    ticks: list[Any]


class BarsArrived(msgspec.Struct, frozen=True):
    """Bars as the client delivered them, oldest first; unvalidated (anything at all)."""

    bars: list[Any]


class Connected(msgspec.Struct, frozen=True):
    tag: Tag


class Disconnected(msgspec.Struct, frozen=True):
    tag: Tag
    reason: str


class ConnectTimedOut(msgspec.Struct, frozen=True):
    """The feed's timer: the attempt ``tag`` has had its time to connect."""

    tag: Tag


class Reconnect(msgspec.Struct, frozen=True):
    """The feed's timer: the back-off after the attempt ``tag`` is over."""

    tag: Tag


class WatchdogDue(msgspec.Struct, frozen=True):
    """The feed's timer: check staleness, refresh price bands."""


class HealthDue(msgspec.Struct, frozen=True):
    """The feed's timer: publish a FeedHealthReport."""


class Relay:
    """The :class:`~engine.data_client.FeedEvents` a feed hands to its client for one
    connection attempt. Callable from any thread; never raises into the client."""

    __slots__ = ("_feed", "_send", "_tag")

    def __init__(self, send: Callable[[str, Any], None], feed: str, tag: Tag) -> None:
        self._send = send
        self._feed = feed
        self._tag = tag

    def on_connected(self) -> None:
        self._send(self._feed, Connected(self._tag))

    def on_ticks(self, ticks: Sequence[Any]) -> None:
        self._send(self._feed, TicksArrived(_copy(ticks)))

    def on_bars(self, bars: Sequence[Any]) -> None:
        self._send(self._feed, BarsArrived(_copy(bars)))

    def on_disconnected(self, reason: str) -> None:
        self._send(self._feed, Disconnected(self._tag, str(reason)))


def _copy(items: Sequence[Any]) -> list[Any]:
    # A copy: the client may reuse its buffer once it has reported.
    try:
        return list(items)
    except Exception:
        return [items]  # not a sequence: judged (and refused) as one bad tick or bar
