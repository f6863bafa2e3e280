"""What survives a restart of one (strategy, instrument): :class:`RunnerSnapshot`, written by
:meth:`engine.strategy_runner.StrategyRunner.snapshot` as msgpack and checked before it is
taken back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

SNAPSHOT_VERSION = 1


class RunnerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A runner's saved state. msgpack keeps ints, floats (NaN included) and strings apart,
    so ``state`` comes back as it went."""

    version: int = SNAPSHOT_VERSION
    strategy: str
    """The strategy class's ``name``."""
    strategy_id: str
    instrument: str
    interval: str
    params: dict[str, Any]
    """The parameters as plain values: a snapshot is refused by different parameters."""
    state: dict[str, Any]
    position: int
    bar_count: int
    last_bar_ns: int | None
    """``ts_event`` of the newest bar handled; a replayed bar at or before it is ignored."""
    signal_ns: int | None
    signal_seq: int
    """Signals already emitted at ``signal_ns`` (keeps correlation ids unique)."""
    fills: list[str]
    """Trade ids of the latest fills counted into ``position``."""

    def encode(self) -> bytes:
        return msgspec.msgpack.encode(self)


def decode_snapshot(data: bytes, *, expected: Mapping[str, Any], owner: str) -> RunnerSnapshot:
    """The snapshot in ``data``, if each field named in ``expected`` has the value given
    (strategy, strategy id, instrument, interval, parameters, version).

    Raises ``ValueError`` naming ``owner`` and what differs, or saying the bytes are not a
    snapshot.
    """
    try:
        saved = msgspec.msgpack.decode(data, type=RunnerSnapshot)
    except msgspec.DecodeError as error:
        raise ValueError(f"strategy {owner}: not a snapshot: {error}") from None
    for field, value in expected.items():
        theirs = getattr(saved, field)
        if theirs != value:
            raise ValueError(
                f"strategy {owner}: snapshot {field} is {theirs!r}, this runner's is "
                f"{value!r}; refusing to restore it"
            )
    return saved
