"""The connection a feed keeps to its data client: attempts, a timeout each, back-off between.

Each attempt is tagged ``(incarnation, attempt)``; the client's reports come back with the
tag of the attempt they belong to, so the news of an attempt already given up (timed out,
failed, replaced) is ignored. A failure (a report of disconnection, a ``connect`` that raises,
a timeout) is counted once per attempt and sets one ``Reconnect`` timer after the back-off of
:class:`~engine.reconnect.ReconnectSchedule`.

This class decides and keeps the state; it returns the events, and its feed announces them.
It lives inside the feed actor and is only ever called from the feed's handlers.
"""

from __future__ import annotations

from actors.feed_config import FeedRuntime
from actors.feed_relay import ConnectTimedOut, Reconnect, Relay, Tag
from engine.context import Context, Timer
from engine.data_client import DataClient
from engine.messages.feed import FeedConnected, FeedDisconnected
from engine.reconnect import ReconnectSchedule


class FeedConnection:
    """One client's connection as its feed sees it. Call :meth:`begin` in each incarnation's
    ``on_start``; times are the feed's clock, ns."""

    def __init__(
        self,
        client: DataClient,
        runtime: FeedRuntime,
        schedule: ReconnectSchedule,
        connect_timeout_ns: int,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.schedule = schedule
        self.connect_timeout_ns = connect_timeout_ns

    def begin(self, ctx: Context) -> None:
        """Forget the previous incarnation's connection (its timers are gone with it)."""
        self.ctx = ctx
        self.attempt = 0
        self.up = False
        self.up_since = 0
        """When the current connection came up (valid while ``up``)."""
        self.retry_pending = False
        self.ever_up = False
        self.reconnects = 0
        """Connections made after the first one, this incarnation."""
        self.disconnects = 0
        """Connections lost after they were up, this incarnation."""
        self._timeout: Timer | None = None

    def is_current(self, tag: Tag) -> bool:
        return tag == (self.ctx.incarnation, self.attempt)

    def connect(self) -> FeedDisconnected | None:
        """Start an attempt; the event if ``connect`` itself failed (a retry is then set)."""
        self.attempt += 1
        self.retry_pending = False
        tag = (self.ctx.incarnation, self.attempt)
        self._timeout = self.ctx.schedule_once(self.connect_timeout_ns, ConnectTimedOut(tag))
        try:
            self.client.connect(Relay(self.runtime.send, self.ctx.name, tag), self.runtime)
        except Exception as exc:
            return self.lose(f"connect failed: {type(exc).__name__}: {exc}")
        return None

    def confirm(self, tag: Tag) -> FeedConnected | None:
        """The client says the attempt ``tag`` is up: the event, or ``None`` for news of an
        attempt given up, or said twice."""
        if not self.is_current(tag) or self.up or self.retry_pending:
            return None
        now = self.ctx.now_ns()
        self._cancel_timeout()
        self.up, self.up_since = True, now
        self.schedule.connected(now)
        if self.ever_up:
            self.reconnects += 1
        self.ever_up = True
        name = self.client.name
        self.ctx.log.info("feed connected", feed=name, reconnects=self.reconnects)
        return FeedConnected(ts_event=now, ts_init=now, feed=name, reconnects=self.reconnects)

    def timed_out(self, tag: Tag) -> FeedDisconnected | None:
        if not self.is_current(tag) or self.up:
            return None
        return self.lose(f"connect timed out after {self.connect_timeout_ns} ns")

    def retry_due(self, tag: Tag) -> FeedDisconnected | None:
        """The back-off after attempt ``tag`` is over: the next attempt starts."""
        return self.connect() if self.is_current(tag) and self.retry_pending else None

    def lose(self, reason: str) -> FeedDisconnected | None:
        """The current attempt failed or its connection dropped: disconnect the client, set
        the retry, return the event (``None`` if this attempt had failed already)."""
        if self.retry_pending:
            return None
        now = self.ctx.now_ns()
        self._cancel_timeout()
        if self.up:
            self.disconnects += 1
        self.up = False
        self.retry_pending = True
        self.close()
        wait_ns = self.schedule.failed(now)
        attempt = self.schedule.failures
        self.ctx.schedule_once(wait_ns, Reconnect((self.ctx.incarnation, self.attempt)))
        name = self.client.name
        self.ctx.log.warning(
            "feed disconnected", feed=name, reason=reason, attempt=attempt, retry_in_ns=wait_ns
        )
        return FeedDisconnected(
            ts_event=now,
            ts_init=now,
            feed=name,
            reason=reason,
            attempt=attempt,
            retry_in_ns=wait_ns,
        )

    def close(self) -> None:
        """Tell the client to stop (idempotent; an error is logged, not raised)."""
        try:
            self.client.disconnect()
        except Exception as exc:
            self.ctx.log.warning(
                "client disconnect failed", feed=self.client.name, error=_describe(exc)
            )

    def _cancel_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
