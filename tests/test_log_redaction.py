"""No secret in the logs: query strings' secret values redacted in the access log, log files
(and their rotated backups) readable by their owner only, health polls at debug."""

from __future__ import annotations

import asyncio
import logging
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import structlog

from engine.logs import configure_logging
from tests.engine_process import DEADLINE_S, POLL_S, EngineProcess
from web.access_log import redact_url

TOKEN = "tok-5ecret-0123456789"


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("/api/v1/ws", "/api/v1/ws"),
        ("/api/v1/ws?token=s3cr3t", "/api/v1/ws?token=***"),
        (
            "/api/v1/orders?status=open&access_token=a1&limit=5&api_key=k2&apikey=k3",
            "/api/v1/orders?status=open&access_token=***&limit=5&api_key=***&apikey=***",
        ),
        (
            "/x?Token=a&PASSWORD=b&client_secret=c&key=d&sig=e",
            "/x?Token=***&PASSWORD=***&client_secret=***&key=***&sig=***",
        ),
        ("/x?to%6Ben=percent-encoded", "/x?to%6Ben=***"),
        ("/x?token&tokens=kept&monkey=kept", "/x?token&tokens=kept&monkey=kept"),
        ("http://host/page?token=abc#frag", "http://host/page?token=***#frag"),
        ("/x?a=1&&token=", "/x?a=1&&token=***"),
    ],
)
def test_secret_query_values_are_replaced_and_the_rest_kept(url: str, logged: str) -> None:
    assert redact_url(url) == logged


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    process = EngineProcess(
        tmp_path / "var",
        env={"TROUPE_API_TOKEN": TOKEN, "TROUPE__WEB__WS_REQUIRES_TOKEN": "true"},
    )
    try:
        process.wait_answering()
        yield process
    finally:
        process.kill()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE_S:g}s"
        time.sleep(POLL_S)  # polling a condition with a deadline, not a fixed wait


async def open_live_view(url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/ws?token={TOKEN}&since=1") as ws,
    ):
        await ws.close()


def test_a_token_in_the_query_never_reaches_the_console_or_the_log_file(
    engine: EngineProcess,
) -> None:
    log_file = engine.data_dir / "logs" / "troupe.jsonl"

    asyncio.run(open_live_view(engine.url))
    denied, _ = engine.request("state?access_token=other-5ecret&keep=visible")
    wait_for(lambda: "keep=visible" in log_file.read_text(), "the access line logged")
    wait_for(lambda: "keep=visible" in engine.stderr(), "the access line on the console")
    engine.terminate()

    logged, console = log_file.read_text(), engine.stderr()
    assert denied == 401
    for text in (logged, console):
        assert "GET /api/v1/ws?token=***&since=1 HTTP/1.1" in text
        assert "GET /api/v1/state?access_token=***&keep=visible HTTP/1.1" in text
        assert TOKEN not in text and "other-5ecret" not in text
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_successful_health_polls_are_not_logged_at_info(engine: EngineProcess) -> None:
    log_file = engine.data_dir / "logs" / "troupe.jsonl"
    wait_for(lambda: engine.request("health")[0] == 200, "ready")

    for _ in range(5):
        engine.request("health")
    engine.request("version", token=TOKEN)
    wait_for(lambda: "/api/v1/version" in log_file.read_text(), "the version request logged")

    for text in (log_file.read_text(), engine.stderr()):
        health = [line for line in text.splitlines() if "GET /api/v1/health" in line]
        assert not [line for line in health if '" 200 ' in line], health


@pytest.fixture
def reset_logging() -> Iterator[None]:
    try:
        yield
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


@pytest.mark.usefixtures("reset_logging")
def test_the_log_file_and_its_backups_are_private(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "troupe.jsonl"
    path.parent.mkdir()
    old_backup = Path(f"{path}.2")
    old_backup.write_text("{}\n")
    old_backup.chmod(0o644)  # left by an older version

    configure_logging("info", console=False, file=path, max_bytes=2048, backups=3)
    for n in range(100):
        structlog.get_logger("test").info("filler line to rotate the file", n=n)
    for handler in logging.getLogger().handlers:
        handler.flush()

    files = [path, *(Path(f"{path}.{i}") for i in (1, 2, 3))]
    assert all(file.exists() for file in files)
    assert {file.name: stat.S_IMODE(file.stat().st_mode) for file in files} == {
        file.name: 0o600 for file in files
    }


@pytest.mark.usefixtures("reset_logging")
def test_an_existing_open_log_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "troupe.jsonl"
    path.write_text("")
    path.chmod(0o644)

    configure_logging("info", console=False, file=path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
