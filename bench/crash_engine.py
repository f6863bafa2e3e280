"""The crash suite's engine: ``troupe run -c <generated toml>`` as a child process, and its API.

:func:`session_toml` writes the paper session the suite kills: the synthetic market, the
embedded default strategy (``sma_cross(3, 8)``) on 1-second bars so that signals come every few
seconds, brackets with the strategy's stop and target (and ``stop_loss_pct`` when given),
fixed-notional sizing, and the risk limits that would stop a long session on their own (trades
per day, the losing streak's cooldown, the daily loss limit, the API's mutation rate) turned
off. :class:`EngineProcess` starts one incarnation on the run's data directory and port, its
console output in a log file of its own, and always ends it (``kill -9`` at the latest).
:class:`Api` is a small blocking client with a timeout on every call.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.bars.interval import parse_interval

__all__ = [
    "Api",
    "ApiDownError",
    "EngineProcess",
    "SessionSettings",
    "free_port",
    "session_toml",
]

TOKEN = "crash-suite-token"
"""The API token every incarnation is given (``TROUPE_API_TOKEN``)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The paper session's knobs."""

    instruments: tuple[str, ...] = (
        "NSE:RELIANCE",
        "NSE:INFY",
        "NSE:TCS",
        "NSE:HDFCBANK",
        "NSE:SBIN",
    )
    interval: str = "1s"
    fast: int = 2
    slow: int = 5
    """``sma_cross``'s averages: shorter than the default (3, 8) for more crossings."""
    ticks_per_second: float = 100.0
    starting_cash: int = 10_000_000
    """Rupees; the paper broker's starting cash."""
    sizing_notional: int = 150_000
    """Each strategy entry's value (fixed-notional sizing)."""
    stop_loss_pct: float = 0.0
    """``[risk] stop_loss_pct``: 0 keeps the strategy's own stop."""
    shutdown_timeout_s: float = 15.0

    @property
    def interval_ns(self) -> int:
        """The bar interval's length, ns."""
        return parse_interval(self.interval).ns


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def session_toml(settings: SessionSettings, *, data_dir: Path, port: int, seed: int) -> str:
    """The configuration of the suite's paper session (every key in
    ``engine/config/schema.py`` and ``engine/risk/limits.py``)."""
    return f"""# The crash suite's paper session (bench/crash_engine.py), seed {seed}.
mode = "paper"
data_dir = {json.dumps(str(data_dir))}
strategies = [{{ use = "sma_cross", interval = "{settings.interval}", \
params = {{ fast = {settings.fast}, slow = {settings.slow} }} }}]

[web]
host = "127.0.0.1"
port = {port}
mutations_per_minute = 1000000

[log]
level = "info"
console = true

[shutdown]
timeout_s = {settings.shutdown_timeout_s}

[market]
source = "sim"
instruments = {_toml_list(settings.instruments)}

[market.sim]
seed = {seed}
ticks_per_second = {settings.ticks_per_second}

[ranker]
top_n = {len(settings.instruments)}

[bars]
intervals = ["{settings.interval}"]

[paper]
starting_cash = {float(settings.starting_cash)}
fill_on = "tick"

[risk]
bracket_exits = true
stop_loss_pct = {settings.stop_loss_pct}
sizing = "fixed_notional"
sizing_notional = {float(settings.sizing_notional)}
max_order_notional = {float(settings.sizing_notional * 4)}
max_position_notional = {float(settings.sizing_notional * 10)}
max_open_trades = 0
max_trades_per_day = 0
max_consecutive_losses = 0
max_daily_loss_pct = 0.0
max_daily_loss = 0.0
max_portfolio_heat_pct = 0.0
risk_per_trade_pct = 0.0
max_orders_per_s = 50.0
order_burst = 50
"""


class ApiDownError(Exception):
    """The API did not answer (connection refused or reset, or a timeout)."""


class Api:
    """Blocking calls to ``http://127.0.0.1:<port>/api/v1``, each within ``timeout_s``."""

    def __init__(self, port: int, token: str = TOKEN) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, *, timeout_s: float = 5.0
    ) -> tuple[int, Any]:
        """``(status, decoded JSON or None)``; any HTTP status is an answer. Raises
        :class:`ApiDownError` when there was none."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, _decoded(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decoded(error.read())
        except (OSError, urllib.error.URLError) as error:
            raise ApiDownError(f"{method} {path}: {error}") from error

    def get(self, path: str, *, timeout_s: float = 5.0) -> Any:
        """The body of a 200 answer; :class:`ApiDownError` for anything else."""
        status, body = self.call("GET", path, timeout_s=timeout_s)
        if status != 200:
            raise ApiDownError(f"GET {path}: {status} {body}")
        return body


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}


class EngineProcess:
    """One incarnation: ``python -m troupe run -c config`` in ``cwd``, its stdout and stderr
    in ``log_path``, in a session of its own (a signal reaches it alone)."""

    def __init__(self, config: Path, *, cwd: Path, log_path: Path, token: str = TOKEN) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE")}
        env["TROUPE_API_TOKEN"] = token
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.spawn_ns = time.time_ns()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "troupe", "run", "-c", str(config)],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_code(self) -> int | None:
        return self.process.poll()

    def health(self, api: Api, *, timeout_s: float = 1.0) -> int | None:
        """``GET health``'s status; ``None`` when nothing answered."""
        try:
            status, _ = api.call("GET", "health", timeout_s=timeout_s)
        except ApiDownError:
            return None
        return status

    def wait_ready(self, api: Api, deadline: float) -> int | None:
        """Poll ``GET health`` until 200 (the time, ns) or ``deadline`` (monotonic s) or the
        process's exit (``None`` for both)."""
        while time.monotonic() < deadline and self.alive():
            if self.health(api) == 200:
                return time.time_ns()
            time.sleep(0.05)
        return None

    def stop(self, sig: signal.Signals, *, wait_s: float) -> int | None:
        """Send ``sig`` and wait up to ``wait_s`` for the exit; its code, or ``None`` (the
        process was then killed with SIGKILL)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)
        try:
            return self.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """``kill -9`` if still running, and reap it (bounded)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
