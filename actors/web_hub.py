"""The web hub: the live view's one door out of the actor system (DESIGN §9).

The hub subscribes to every topic, keeps what the live view carries
(:func:`web.topics.is_live_topic`), and every ``flush_ns`` hands the whole batch to
``deliver``. In the service ``deliver`` is
``lambda batch: loop.call_soon_threadsafe(live_view.deliver, batch)``: one crossing into the
web loop per flush, however many messages were published, so a busy market costs the loop
one callback per flush rather than one per tick.

Market data is conflated in the batch: within one flush only the latest message per
``(topic, conflation key)`` survives. Everything else (order events, fills, alerts) is kept in
publication order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from engine.actor import Actor, handles
from engine.context import Context
from engine.runtime import ALL_TOPICS, Published
from web.topics import LIVE_PREFIXES, LIVE_TOPICS, conflation_key, is_live_topic

NAME = "web_hub"
DEFAULT_FLUSH_NS = 50_000_000

Batch = list[tuple[str, Any]]
"""``(topic, message)`` pairs in publication order (market data conflated)."""


class FlushLiveView(msgspec.Struct, frozen=True):
    """The hub's own timer message: time to hand the batch over."""


class WebHub(Actor):
    """Buffers the live topics and hands them to ``deliver`` once per ``flush_ns``.

    ``deliver`` is called on the hub's thread with a fresh list it may keep; it must not block
    (hand off to another thread or loop). If it raises, the batch is logged and dropped: a
    live view that cannot take a batch (its loop is closing) must not crash the engine.
    ``wants`` selects the topics kept (default: :func:`web.topics.is_live_topic`).
    """

    def __init__(
        self,
        deliver: Callable[[Batch], object],
        *,
        flush_ns: int = DEFAULT_FLUSH_NS,
        wants: Callable[[str], bool] = is_live_topic,
    ) -> None:
        self.deliver = deliver
        self.flush_ns = flush_ns
        self.wants = wants
        self.batch: Batch = []
        # (topic, conflation key) -> index in batch of the latest market data message
        self.latest: dict[tuple[str, Any], int] = {}
        self.flushes = 0

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        # A restarted hub starts with an empty batch: what its predecessor buffered, and what
        # was published while it was down, is lost, and clients see the gap in their sequence
        # numbers, which is what the numbers are for.
        for topic in self._subscriptions():
            ctx.subscribe(topic, with_topic=True)
        ctx.schedule_periodic(self.flush_ns, FlushLiveView())

    def _subscriptions(self) -> list[str]:
        # The live view's own topics and families ("bars:*"), not "*": every tick of every
        # instrument would otherwise cross the hub's mailbox only to be dropped here.
        if self.wants is is_live_topic:
            return [*sorted(LIVE_TOPICS), *(f"{prefix}*" for prefix in LIVE_PREFIXES)]
        return [ALL_TOPICS]

    def on_stop(self) -> None:
        # What is buffered dies with this incarnation anyway (clients see the gap), so the
        # hub need not hear anything until it is back: otherwise, on shutdown, every event
        # published after the hub stopped would wait in its mailbox to be dead-lettered.
        for topic in self._subscriptions():
            self.ctx.unsubscribe(topic)

    @handles(Published)
    def on_published(self, published: Published) -> None:
        topic = published.topic
        if not self.wants(topic):
            return
        message = published.message
        key = conflation_key(message)
        if key is None:
            self.batch.append((topic, message))
            return
        slot = (topic, key)
        index = self.latest.get(slot)
        if index is None:
            self.latest[slot] = len(self.batch)
            self.batch.append((topic, message))
        else:
            self.batch[index] = (topic, message)

    @handles(FlushLiveView)
    def on_flush(self, _flush: FlushLiveView) -> None:
        if not self.batch:
            return  # nothing to say: no crossing into the loop
        batch, self.batch = self.batch, []
        self.latest = {}
        self.flushes += 1
        try:
            self.deliver(batch)
        except Exception as exc:
            self.ctx.log.warning(
                "live view batch dropped", messages=len(batch), error=f"{type(exc).__name__}: {exc}"
            )
