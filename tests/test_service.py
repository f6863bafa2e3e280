"""``troupe run`` as a user runs it: a real process, real HTTP on 127.0.0.1, real signals."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Engine:
    """A ``troupe run`` process with its own data directory and port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        base = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE")}
        base.update({"TROUPE__DATA_DIR": str(data_dir), **(env or {})})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "troupe", "run", "--port", str(self.port)],
            cwd=data_dir,
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output = b""

    def read_until(self, needle: bytes) -> None:
        """Read the process's output until ``needle``, or fail at the deadline."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + DEADLINE_S
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while needle not in self.output:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no {needle!r} within {DEADLINE_S:g}s: {self.output!r}")
                if selector.select(timeout=left):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        pytest.fail(f"exited before {needle!r}: {self.output!r}")
                    self.output += chunk

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1/{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=DEADLINE_S)
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), True)
        self.output += self.process.stdout.read()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_sigterm_stops_in_order_and_exits_0(tmp_path: Path) -> None:
    engine = Engine(tmp_path, {"TROUPE_API_TOKEN": "test-token-123"})
    try:
        engine.read_until(b"engine started")
        health_status, health = engine.get("health")
        state_status, state = engine.get("state", token="test-token-123")

        code = engine.stop(signal.SIGTERM)
    finally:
        engine.kill()

    assert health_status in (200, 503) and "ready" in health
    assert state_status == 200 and state["mode"] == "paper"
    assert code == 0
    text = engine.output.decode()
    steps = ["stopping", "intake stopped", "sockets closed", "actors stopped in reverse order"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions), text
    assert "test-token-123" not in text
    log_lines = [
        json.loads(line) for line in (tmp_path / "logs" / "troupe.jsonl").read_text().splitlines()
    ]
    events = [line["event"] for line in log_lines]
    assert "engine started" in events and "stopped" in events
    heartbeat = next(line for line in log_lines if line["event"] == "heartbeat")
    assert (heartbeat["actor"], heartbeat["incarnation"]) == ("heartbeat", 1)


def test_a_generated_token_is_shown_once_and_kept_private(tmp_path: Path) -> None:
    first = Engine(tmp_path)
    try:
        first.read_until(b"engine started")
        assert first.stop(signal.SIGINT) == 0
    finally:
        first.kill()
    token_file = tmp_path / "api_token"
    token = token_file.read_text().strip()

    second = Engine(tmp_path)
    try:
        second.read_until(b"engine started")
        status, _ = second.get("state", token=token)
        denied, _ = second.get("state", token="wrong")
        assert second.stop() == 0
    finally:
        second.kill()

    assert f"shown only now): {token}".encode() in first.output
    assert token.encode() not in second.output  # shown once, on first start only
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert status == 200 and denied == 401
    assert token not in (tmp_path / "logs" / "troupe.jsonl").read_text()


def test_live_mode_is_refused_with_every_reason(tmp_path: Path) -> None:
    engine = Engine(tmp_path, {"TROUPE__MODE": "live"})
    try:
        code = engine.process.wait(timeout=DEADLINE_S)
        assert engine.process.stdout is not None
        output = engine.process.stdout.read().decode()
    finally:
        engine.kill()

    assert code == 2
    assert output.splitlines() == [
        'cannot start: mode = "live": refused while safe mode is on; set TROUPE_SAFE_MODE=off',
        'cannot start: mode = "live": refused without broker credentials in the secrets file',
        'cannot start: mode = "live": this build has no live broker adapter yet',
    ]
