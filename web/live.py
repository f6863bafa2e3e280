"""The live view on the web loop: sequence numbers, snapshots, and a bounded queue per client.

Batches arrive from the web hub (:mod:`actors.web_hub`) through one
``loop.call_soon_threadsafe(live.deliver, batch)`` per flush; everything here then runs on the
loop, so nothing is locked.

For each message, once per topic and not once per client: the topic's sequence number is
bumped (it starts at 1 and rises by exactly 1, so a client that misses one sees the gap), the
message is encoded with msgspec (Decimals as strings, enums as values) and the resulting
frame is shared by every subscriber. Each topic also keeps what a new subscriber's snapshot
needs: the latest message per conflation key for market data, the last
:data:`HISTORY` messages otherwise; ``actors`` and ``state`` have report snapshots supplied
by the app (:meth:`LiveView.provide_snapshot`).

Each client has a queue of at most ``web.ws_queue`` frames drained by its own sender task.
Under pressure a market data frame replaces the pending frame of the same topic and
conflation key (the client sees a gap in that topic's numbers). Order events, fills and alerts
are never dropped: when one meets a full queue the client is closed with
:data:`TOO_SLOW_CODE` and :data:`TOO_SLOW_REASON`, and resyncs by subscribing again.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from engine.config.schema import WebConfig
from web.models import SnapshotFrame, UpdateFrame
from web.topics import conflation_key

log = structlog.get_logger("troupe.web.live")

HISTORY = 100
"""Messages of a (non market data) topic kept for a new subscriber's snapshot."""

TOO_SLOW_CODE = 4000
TOO_SLOW_REASON = "too slow: resubscribe to resync"
SHUTDOWN_REASON = "server shutting down"
CLOSE_TIMEOUT_S = 5.0
"""How long a closing client may take to read what is in flight before it is cut."""


class _Entry:
    """A frame waiting in a client's queue. ``frame`` is None once superseded by a newer
    frame of the same conflation key (removed lazily, so superseding is O(1))."""

    __slots__ = ("frame", "key")

    def __init__(self, frame: bytes, key: tuple[str, Any] | None) -> None:
        self.frame: bytes | None = frame
        self.key = key


class LiveClient:
    """One WebSocket client: its topics, its bounded queue and its sender task."""

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, capacity: int
    ) -> None:
        self.ws = ws
        self.topics: set[str] = set()
        self.capacity = capacity
        self.conflated = 0
        self._transport = transport
        self._queue: collections.deque[_Entry] = collections.deque()
        self._size = 0  # live (not superseded) entries
        self._pending: dict[tuple[str, Any], _Entry] = {}
        self._wake = asyncio.Event()
        self._close_with: tuple[int, str] | None = None
        self._abort_handle: asyncio.TimerHandle | None = None
        self.sender = asyncio.get_running_loop().create_task(self._send_loop())

    @property
    def closing(self) -> bool:
        return self._close_with is not None

    @property
    def queued(self) -> int:
        return self._size

    def offer(self, frame: bytes, key: tuple[str, Any] | None) -> bool:
        """Queue ``frame``; False if it must not be dropped and the queue is full."""
        if self._close_with is not None:
            return True  # the client is going: nothing more is queued for it
        if key is not None:
            previous = self._pending.get(key)
            if previous is not None:
                previous.frame = None
                self._size -= 1
                self.conflated += 1
            # Admitted even over capacity: bounded by capacity plus the number of keys.
        elif self._size >= self.capacity:
            return False
        entry = _Entry(frame, key)
        if key is not None:
            self._pending[key] = entry
        self._queue.append(entry)
        self._size += 1
        if len(self._queue) > 2 * self._size + 64:
            self._queue = collections.deque(e for e in self._queue if e.frame is not None)
        self._wake.set()
        return True

    def close(self, code: int, reason: str) -> None:
        """Drop what is queued and close with ``code`` once the frame being written (if any)
        is out; the connection is cut if that takes over :data:`CLOSE_TIMEOUT_S`."""
        if self._close_with is not None:
            return
        self._close_with = (code, reason)
        self._queue.clear()
        self._pending.clear()
        self._size = 0
        self._wake.set()
        self._abort_handle = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self._abort)

    def _abort(self) -> None:
        # The client does not read: its close frame cannot get out. Cut the connection; the
        # sender, stuck waiting for room, then fails and ends.
        if self._transport is not None and not self.sender.done():
            self._transport.abort()

    async def _send_loop(self) -> None:
        ws = self.ws
        try:
            while self._close_with is None:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                entry = self._queue.popleft()
                frame = entry.frame
                if frame is None:
                    continue
                self._size -= 1
                if entry.key is not None and self._pending.get(entry.key) is entry:
                    del self._pending[entry.key]
                await ws.send_frame(frame, WSMsgType.TEXT)
            code, reason = self._close_with
            await ws.close(code=code, message=reason.encode("utf-8"))
        except ConnectionError:
            pass  # the client went away; its handler cleans up
        except Exception:
            log.exception("live view sender failed")
        finally:
            if self._abort_handle is not None:
                self._abort_handle.cancel()


class _Topic:
    """One topic's sequence number, snapshot material and subscribers."""

    __slots__ = ("history", "latest", "seq", "subscribers")

    def __init__(self) -> None:
        self.seq = 0
        self.history: collections.deque[msgspec.Raw] = collections.deque(maxlen=HISTORY)
        self.latest: dict[Any, msgspec.Raw] = {}  # conflation key -> latest market data
        self.subscribers: set[LiveClient] = set()


class LiveView:
    """The loop side of the live view. Create it on (or before) the loop it will serve;
    call :meth:`deliver` on that loop only."""

    def __init__(self, config: WebConfig) -> None:
        self.queue_size = config.ws_queue
        self.clients: set[LiveClient] = set()
        self.cut_off = 0
        """Clients closed for being too slow, since start."""
        self.delivered = 0
        """Messages taken from the hub, since start."""
        self._topics: dict[str, _Topic] = {}
        self._reports: dict[str, Callable[[], Any]] = {}
        self._encoder = msgspec.json.Encoder()

    def provide_snapshot(self, topic: str, report: Callable[[], Any]) -> None:
        """Make ``report()`` the snapshot of ``topic`` (instead of its recent messages)."""
        self._reports[topic] = report

    def seq(self, topic: str) -> int:
        """The sequence number of the last message on ``topic`` (0: none yet)."""
        found = self._topics.get(topic)
        return 0 if found is None else found.seq

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    # -- from the hub -----------------------------------------------------------------------

    def deliver(self, batch: list[tuple[str, Any]]) -> None:
        """Number, encode, remember and fan out one batch of ``(topic, message)``."""
        encode = self._encoder.encode
        too_slow: list[LiveClient] = []
        for name, message in batch:
            try:
                data = msgspec.Raw(encode(message))
            except (TypeError, msgspec.EncodeError) as exc:
                log.warning("cannot encode for the live view", topic=name, error=str(exc))
                continue
            topic = self._topic(name)
            topic.seq += 1
            key = conflation_key(message)
            if key is None:
                topic.history.append(data)
            else:
                topic.latest[key] = data
            self.delivered += 1
            if not topic.subscribers:
                continue
            frame = encode(UpdateFrame(topic=name, seq=topic.seq, data=data))
            slot = None if key is None else (name, key)
            for client in topic.subscribers:
                if not client.offer(frame, slot):
                    too_slow.append(client)
        for client in too_slow:
            self.close_too_slow(client)

    # -- from the WebSocket handler ---------------------------------------------------------

    def attach(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> LiveClient:
        """A new client on a prepared WebSocket; its sender task starts now."""
        client = LiveClient(ws, transport, self.queue_size)
        self.clients.add(client)
        return client

    def subscribe(self, client: LiveClient, topics: Iterable[str]) -> None:
        """Queue a snapshot of each topic for ``client``, then its updates. A topic the
        client already has is left as it is (no second snapshot): subscribing is idempotent,
        so a client repeating itself cannot fill its own queue. To resync a topic without
        reconnecting, unsubscribe and subscribe again."""
        for name in topics:
            if name in client.topics:
                continue
            topic = self._topic(name)
            topic.subscribers.add(client)
            client.topics.add(name)
            frame = self._encoder.encode(
                SnapshotFrame(topic=name, seq=topic.seq, data=self._snapshot(name, topic))
            )
            if not client.offer(frame, None):
                self.close_too_slow(client)
                return

    def unsubscribe(self, client: LiveClient, topics: Iterable[str]) -> None:
        for name in topics:
            topic = self._topics.get(name)
            if topic is not None:
                topic.subscribers.discard(client)
            client.topics.discard(name)

    def reply(self, client: LiveClient, frame: bytes) -> None:
        """Queue a reply (pong, error) behind what the client already has queued."""
        if not client.offer(frame, None):
            self.close_too_slow(client)

    def close_too_slow(self, client: LiveClient) -> None:
        if client.closing:
            return
        self.cut_off += 1
        log.warning("live view client too slow, closed", queued=client.queued)
        self.unsubscribe(client, list(client.topics))
        client.close(TOO_SLOW_CODE, TOO_SLOW_REASON)

    async def detach(self, client: LiveClient) -> None:
        """The client's handler is done: forget it and let its sender finish."""
        self.unsubscribe(client, list(client.topics))
        self.clients.discard(client)
        client.close(WSCloseCode.OK, "")
        await asyncio.wait([client.sender], timeout=CLOSE_TIMEOUT_S + 1)

    async def close_all(
        self, code: int = WSCloseCode.GOING_AWAY, reason: str = SHUTDOWN_REASON
    ) -> None:
        """Close every client with ``code`` (1001 on shutdown) and wait for their senders."""
        clients = list(self.clients)
        for client in clients:
            self.unsubscribe(client, list(client.topics))
            client.close(code, reason)
        if clients:
            await asyncio.wait([c.sender for c in clients], timeout=CLOSE_TIMEOUT_S + 1)

    def _snapshot(self, name: str, topic: _Topic) -> Any:
        report = self._reports.get(name)
        if report is not None:
            return report()
        return [*topic.history, *topic.latest.values()]
