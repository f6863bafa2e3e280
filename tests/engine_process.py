"""``troupe run`` as a child process on a data directory and a free port, for the tests that
need the real command: its exit code, its stderr, its files, its lock.

Its stdout and stderr go to files beside the data directory (never a pipe nobody reads, which
would block a chatty engine), and :meth:`EngineProcess.wait_answering` waits until the API
answers ``GET health`` at all (200 or 503), or fails at a deadline.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEADLINE_S = 60.0
POLL_S = 0.05


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def engine_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``TROUPE*`` variable, with ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE")}
    env.update({"TROUPE__DATA_DIR": str(data_dir), **(extra or {})})
    return env


class EngineProcess:
    """One ``troupe run --port PORT`` on ``data_dir``; output in ``<name>.out``/``.err`` in
    ``data_dir``'s parent."""

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str = "engine",
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.stdout_path = data_dir.parent / f"{name}.out"
        self.stderr_path = data_dir.parent / f"{name}.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "troupe", "run", "--port", str(self.port)],
                cwd=data_dir.parent,
                env=engine_env(data_dir, env),
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def request(
        self, path: str, token: str | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, Any]]:
        """``method /api/v1/<path>``: the status and the decoded JSON body."""
        request = urllib.request.Request(f"{self.url}/{path}", method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    def wait_answering(self) -> None:
        """Return once ``GET health`` answers (200 or 503); raise if the process exits first
        or nothing answers within :data:`DEADLINE_S`."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            code = self.process.poll()
            if code is not None:
                raise AssertionError(f"troupe run exited {code} before answering: {self.stderr()}")
            try:
                self.request("health")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer within {DEADLINE_S:g}s: {self.stderr()}")
            time.sleep(POLL_S)  # polling a condition with a deadline, not a fixed wait

    def wait_refused(self) -> int:
        """The exit code of an engine expected not to start; raise if its API answers
        first, or if it neither exits nor answers within :data:`DEADLINE_S`."""
        deadline = time.monotonic() + DEADLINE_S
        while (code := self.process.poll()) is None:
            try:
                self.request("health")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            else:
                raise AssertionError(f"troupe run started and answers: {self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"neither exit nor answer in {DEADLINE_S:g}s: {self.stderr()}")
            time.sleep(POLL_S)  # polling a condition with a deadline, not a fixed wait
        return code

    def kill(self) -> None:
        """SIGKILL (``kill -9``) if still running, and reap."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE_S)

    def terminate(self) -> int:
        """SIGTERM, then the exit code (a graceful stop)."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=DEADLINE_S)
