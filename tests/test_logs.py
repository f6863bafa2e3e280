"""Logs: JSON lines in a file with actor, incarnation and, from a signal on, correlation id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from engine.actor import Actor, handles
from engine.logs import configure_logging
from engine.messages.trading import OrderSide, Signal
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import Driver
from tests.support import Ping


class Strategy(Actor):
    @handles(Signal)
    def on_signal(self, signal: Signal) -> None:
        self.ctx.log.info("signal seen", instrument=signal.instrument)
        structlog.get_logger("elsewhere").info("helper logged", api_token="abc123")

    @handles(Ping)
    def on_ping(self, ping: Ping) -> None:
        self.ctx.log.info("ping", n=ping.n)


def signal(correlation_id: str) -> Signal:
    return Signal(
        ts_event=1,
        ts_init=1,
        strategy="sma_cross",
        instrument="NSE:INFY",
        side=OrderSide.BUY,
        strength=1.0,
        correlation_id=correlation_id,
    )


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "troupe.jsonl"
    configure_logging("info", console=False, file=path)
    try:
        yield path
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


def lines(path: Path) -> list[dict[str, object]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_actor_lines_carry_name_incarnation_and_correlation_id(
    driver: Driver, log_file: Path
) -> None:
    driver.start(SupervisorSpec("root", [ActorSpec("strategy.infy", Strategy)]))

    driver.runtime.ask("strategy.infy", signal("sig-20261120-INFY-1"))
    driver.runtime.ask("strategy.infy", Ping(7))

    logged = {str(line["event"]): line for line in lines(log_file)}
    seen = logged["signal seen"]
    assert seen["actor"] == "strategy.infy" and seen["incarnation"] == 1
    assert seen["correlation_id"] == "sig-20261120-INFY-1"
    assert seen["level"] == "info" and str(seen["timestamp"]).endswith("Z")
    # The id follows the handling of that message only, into any logger it uses...
    assert logged["helper logged"]["correlation_id"] == "sig-20261120-INFY-1"
    # ...and not into the next message's lines.
    assert "correlation_id" not in logged["ping"]


def test_secret_looking_fields_are_redacted_in_logs(driver: Driver, log_file: Path) -> None:
    driver.start(SupervisorSpec("root", [ActorSpec("strategy.infy", Strategy)]))

    driver.runtime.ask("strategy.infy", signal("c-1"))

    text = log_file.read_text()
    assert "abc123" not in text
    assert '"api_token":"***"' in text


def test_the_file_rotates(tmp_path: Path) -> None:
    path = tmp_path / "troupe.jsonl"
    configure_logging("info", console=False, file=path, max_bytes=2048, backups=2)
    try:
        log = structlog.get_logger("rotation")
        for n in range(200):
            log.info("filler", n=n, padding="x" * 50)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "troupe.jsonl",
        "troupe.jsonl.1",
        "troupe.jsonl.2",
    ]
