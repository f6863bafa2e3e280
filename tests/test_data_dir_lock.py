"""One engine per data directory: the lock on its own, between processes, and ``troupe run``
refusing a directory another engine holds (issue 12, critical defect 3)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.engine_process import DEADLINE_S, EngineProcess
from troupe.data_dir_lock import LOCK_FILE, DataDirInUseError, lock_data_dir

HOLD = """
import sys
from pathlib import Path
from troupe.data_dir_lock import lock_data_dir
lock_data_dir(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
"""


@contextmanager
def holder_process(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding ``data_dir``'s lock until its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"  # blocks until it holds the lock
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=DEADLINE_S)


def test_a_second_process_is_refused_and_told_the_holders_pid(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with holder_process(data_dir) as child:
        with pytest.raises(DataDirInUseError) as refused:
            lock_data_dir(data_dir)

        assert refused.value.holder is not None and refused.value.holder.pid == child.pid
        assert f"PID {child.pid}" in str(refused.value)
        assert str(data_dir / LOCK_FILE) in str(refused.value)
        assert "\n" not in str(refused.value)

        # The holder ends normally: the directory is free again.
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=DEADLINE_S) == 0
    lock = lock_data_dir(data_dir)
    try:
        assert lock.held and lock.holder.pid != child.pid
    finally:
        lock.release()


def test_the_kernel_frees_the_lock_of_a_killed_holder(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with holder_process(data_dir) as child:
        child.kill()  # kill -9: no chance to clean up; the lock file stays behind
        child.wait(timeout=DEADLINE_S)

        lock = lock_data_dir(data_dir)
    try:
        assert (data_dir / LOCK_FILE).exists()
        assert lock.held
    finally:
        lock.release()


def test_within_one_process_the_lock_is_reentrant_and_released_once(tmp_path: Path) -> None:
    first = lock_data_dir(tmp_path)
    again = lock_data_dir(tmp_path)
    assert again is first

    first.release()
    first.release()  # idempotent

    assert not first.held
    with holder_process(tmp_path) as child:  # another process may take it now
        assert child.poll() is None


def test_a_second_troupe_run_on_the_same_data_directory_exits_2(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {"TROUPE_API_TOKEN": "test-token-lock"}
    first = EngineProcess(data_dir, name="first", env=env)
    second: EngineProcess | None = None
    try:
        first.wait_answering()

        second = EngineProcess(data_dir, name="second", env=env)
        code = second.wait_refused()

        assert code == 2
        lines = second.stderr().splitlines()
        assert len(lines) == 1, lines
        assert f"PID {first.pid}" in lines[0]
        assert str(data_dir / LOCK_FILE) in lines[0]
        assert first.process.poll() is None  # the first engine runs on, untouched
        status, health = first.request("health")
        assert status in (200, 503) and "ready" in health

        first.kill()  # kill -9: the lock file stays, the lock does not
        third = EngineProcess(data_dir, name="third", env=env)
        try:
            third.wait_answering()
            assert third.terminate() == 0
        finally:
            third.kill()
    finally:
        first.kill()
        if second is not None:
            second.kill()
