"""The candle recorder: every bar published on the ``bars:`` topics, kept in the store.

The recorder buffers bars and hands them over in batches: as soon as ``batch_size`` bars are
buffered, on its ``flush_ns`` timer if any are, and when it stops. It never waits on the
database: ``write`` takes the batch and returns at once. In the service it is::

    write = lambda bars: db.submit(candle_store.write_bars(bars))

so a batch becomes one statement on the store's own loop, and a failed write is logged and
counted there (:attr:`engine.store.database.Database.failures`,
:attr:`engine.store.candles.CandleStore.write_failures`). Under the simulated runtime, or in a
test, ``write`` can be ``list.append``.

By default the recorder subscribes to ``bars:*`` (every instrument's bars, a prefix
subscription); ``topics`` names the topics to record instead (every
:class:`~engine.messages.market.Bar` on them is kept, anything else ignored). A bar sent to the
recorder directly is kept too.

Its subscriptions are kept when it stops (unlike the web hub's): bars published while it
restarts wait for the next incarnation instead of being lost. At shutdown, what is published
after it stopped is dead-lettered, so declare it before the bar aggregator in its supervisor: it
then stops after it, and the last bars of a session reach the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from engine.actor import Actor, handles
from engine.context import Context
from engine.messages.market import Bar
from engine.runtime import Published

NAME = "candle_recorder"
BARS_TOPICS = "bars:*"
"""Every instrument's bars (a prefix subscription)."""
BARS_TOPIC_PREFIX = "bars:"
DEFAULT_BATCH_SIZE = 500
DEFAULT_FLUSH_NS = 1_000_000_000

WriteBars = Callable[[list[Bar]], object]
"""Takes a batch (a fresh list it may keep), hands it to the store and returns at once."""


class FlushCandles(msgspec.Struct, frozen=True):
    """The recorder's own timer message: hand over what is buffered."""


class CandleRecorder(Actor):
    """Buffers published bars and hands them to ``write`` in batches.

    ``batch_size`` (> 0) bars make a batch at once; ``flush_ns`` (> 0, ns) is how long a
    partial batch may wait. If ``write`` raises, the batch is logged, counted in
    :attr:`failed_batches` / :attr:`failed_bars` and dropped; the recorder goes on. Raises
    ``ValueError`` for a bad ``batch_size``, ``flush_ns`` or an empty ``topics``.
    """

    def __init__(
        self,
        write: WriteBars,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_ns: int = DEFAULT_FLUSH_NS,
        topics: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(flush_ns, int) or flush_ns < 1:
            raise ValueError(f"flush_ns must be an int of ns >= 1, got {flush_ns!r}")
        if topics is not None and not topics:
            raise ValueError("topics must name at least one topic, or be None for bars:*")
        self.write = write
        self.batch_size = batch_size
        self.flush_ns = flush_ns
        self.topics = None if topics is None else tuple(topics)
        self.buffer: list[Bar] = []
        self.batches_handed = 0
        self.bars_handed = 0
        self.failed_batches = 0
        self.failed_bars = 0

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        # Subscriptions belong to the name and outlive a restart: bars published while the
        # recorder restarts wait in its mailbox instead of being lost.
        for topic in (BARS_TOPICS,) if self.topics is None else self.topics:
            ctx.subscribe(topic, with_topic=True)
        ctx.schedule_periodic(self.flush_ns, FlushCandles())

    def on_stop(self) -> None:
        # Also after a crash: what is buffered is handed over rather than lost.
        self.flush()

    @handles(Published)
    def on_published(self, published: Published) -> None:
        if not isinstance(published.message, Bar):
            return  # ticks, orders, ...: not ours, and not an error either
        if self.topics is not None or published.topic.startswith(BARS_TOPIC_PREFIX):
            self.on_bar(published.message)

    @handles(Bar)
    def on_bar(self, bar: Bar) -> None:
        self.buffer.append(bar)
        if len(self.buffer) >= self.batch_size:
            self.flush()

    @handles(FlushCandles)
    def on_flush(self, _flush: FlushCandles) -> None:
        self.flush()

    def flush(self) -> None:
        """Hand what is buffered to ``write`` (nothing if the buffer is empty)."""
        if not self.buffer:
            return
        batch, self.buffer = self.buffer, []
        try:
            self.write(batch)
        except Exception as exc:
            self.failed_batches += 1
            self.failed_bars += len(batch)
            self.ctx.log.error(
                "candle batch not handed to the store",
                bars=len(batch),
                first=_describe_bar(batch[0]),
                last=_describe_bar(batch[-1]),
                failed_batches=self.failed_batches,
                error=f"{type(exc).__name__}: {exc}",
            )
            return
        self.batches_handed += 1
        self.bars_handed += len(batch)


def _describe_bar(bar: Bar) -> str:
    return f"{bar.instrument} {bar.interval} @{bar.ts_event}"
