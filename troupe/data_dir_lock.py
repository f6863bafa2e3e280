"""One engine per data directory: an OS lock held by ``troupe run`` for its whole life.

Two engines on one data directory would both write the same journal and the same paper
broker book: orders in the journal the broker never got, a broker book the journal does not
explain. So ``troupe run`` takes an exclusive ``flock`` on ``<data_dir>/troupe.lock`` before
it opens anything there (log file, token file, journal, paper book) and keeps the file open
until the process ends. The kernel releases the lock when the process dies, however it dies:
a lock left by ``kill -9`` never blocks the next start, and no stale-PID guessing is needed.

The holder writes its PID and start time into the file, only so that the process refused can
say who holds the directory; the lock itself is the ``flock``, never the file's content.

Within one process the lock is re-entrant: asking again for a directory this process already
holds returns the same lock (a ``flock`` on a second descriptor would refuse the holder).
The descriptor is not inherited by child processes (Python's default), so a child cannot keep
the directory locked after its parent died.
"""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import msgspec

LOCK_FILE = "troupe.lock"
"""The lock file's name inside the data directory."""


class Holder(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds a data directory, as written into its lock file."""

    pid: int
    started: str
    """ISO 8601 UTC, when the holder took the lock."""


class DataDirInUseError(Exception):
    """Another process holds the data directory; ``str()`` is the one-line explanation."""

    def __init__(self, data_dir: Path, lock_path: Path, holder: Holder | None) -> None:
        self.data_dir = data_dir
        self.lock_path = lock_path
        self.holder = holder
        who = (
            f"PID {holder.pid} (running since {holder.started})"
            if holder is not None
            else "another process (its PID is not written yet)"
        )
        super().__init__(
            f"data directory {data_dir} is in use by {who}; lock file: {lock_path}. "
            "One engine per data directory: stop that one, or set another data_dir"
        )


class DataDirLock:
    """An exclusive lock on a data directory, held until :meth:`release` or process exit."""

    def __init__(self, path: Path, fd: int, holder: Holder) -> None:
        self.path = path
        """The lock file."""
        self.holder = holder
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the directory up (closing the file releases the ``flock``); idempotent."""
        with _guard:
            if self._fd is None:
                return
            _held.pop(self.path, None)
            fd, self._fd = self._fd, None
        os.close(fd)


_guard = threading.Lock()
_held: dict[Path, DataDirLock] = {}
"""The locks this process holds, by lock file: keeps them referenced and makes them
re-entrant."""


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Take the exclusive lock on ``data_dir`` (created if missing) without waiting.

    Returns the lock, already held by this process if it was. Raises :class:`DataDirInUseError`
    if another process holds it, and ``OSError`` if the directory or the lock file cannot be
    created or opened.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / LOCK_FILE).resolve()
    with _guard:
        existing = _held.get(path)
        if existing is not None:
            return existing
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirInUseError(data_dir, data_dir / LOCK_FILE, holder) from None
        except BaseException:
            os.close(fd)
            raise
        holder = Holder(
            pid=os.getpid(),
            started=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, msgspec.json.encode(holder) + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        lock = DataDirLock(path, fd, holder)
        _held[path] = lock
        return lock


def _read_holder(fd: int) -> Holder | None:
    """The holder written in the lock file; ``None`` if it is not there yet (the holder
    writes it just after taking the lock) or cannot be read."""
    try:
        return msgspec.json.decode(os.pread(fd, 4096, 0), type=Holder)
    except (OSError, msgspec.DecodeError):
        return None
