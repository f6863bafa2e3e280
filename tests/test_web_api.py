"""The control API on a real server on 127.0.0.1, driven by a real HTTP client."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.config.secrets import Secret
from engine.messages.feed import FeedConnected, FeedStalled, feed_topic
from tests.web_support import (
    TOKEN,
    VERSION,
    Server,
    config_with,
    running_server,
)
from web.auth import TokenFileError, resolve_api_token


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as s:
        yield s


async def _call(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, data=data) as response,
    ):
        body = await response.json(content_type=None) if await response.read() else None
        return response.status, dict(response.headers), body


def call(
    method: str, url: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    return asyncio.run(_call(method, url, headers=headers, data=data))


def assert_envelope(body: Any, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


# -- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["version", "state", "actors", "config"])
def test_protected_endpoints_refuse_a_missing_or_wrong_token(server: Server, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, response_headers, body = call("GET", f"{server.url}/{path}", headers=headers)
        assert status == 401
        assert response_headers["WWW-Authenticate"].startswith("Bearer")
        assert_envelope(body, "unauthorized")


def test_a_command_without_the_token_is_refused_and_changes_nothing(server: Server) -> None:
    status, _, body = call("POST", f"{server.url}/halt", headers={"Authorization": "Bearer x"})
    assert status == 401
    assert_envelope(body, "unauthorized")
    assert server.runtime.trading_state.value != "HALTED"


def test_health_needs_no_token_and_reports_readiness(server: Server) -> None:
    status, _, body = call("GET", f"{server.url}/health")
    assert status == 200
    assert body["ready"] is True and body["live"] is True
    assert body["actors_up"] is True and body["actors_down"] == {}
    assert body["feeds"] == {}
    assert body["problems"] == []
    assert 0 <= body["heartbeat_age_s"] < 5
    assert body["last_heartbeat_at"].endswith("Z")
    journal = body["journal"]
    assert (journal["ok"], journal["reason"]) == (True, "")
    assert journal["since"].endswith("Z") and journal["since_ns"] > 0


def test_health_has_no_journal_section_without_a_trading_core() -> None:
    with running_server(trading=False) as server:
        status, _, body = call("GET", f"{server.url}/health")
        assert (status, body["journal"]) == (200, None)


def test_health_is_503_with_the_same_body_until_the_engine_beats() -> None:
    with running_server(heartbeat=False) as server:
        status, _, body = call("GET", f"{server.url}/health")
        assert status == 503
        assert body["ready"] is False and body["live"] is True
        assert body["problems"] == ["no engine heartbeat yet"]
        server.engine.last_heartbeat_ns = server.runtime.now_ns()
        status, _, body = call("GET", f"{server.url}/health")
        assert (status, body["ready"]) == (200, True)


def test_health_follows_a_feed_connecting_going_silent_and_resuming(server: Server) -> None:
    server.engine.follow_feed("sim")
    now = server.runtime.now_ns()
    topic = feed_topic("sim")

    status, _, body = call("GET", f"{server.url}/health")
    assert status == 503 and body["problems"] == ["feed sim is not connected"]

    server.runtime.publish(
        topic, FeedConnected(ts_event=now, ts_init=now, feed="sim", reconnects=0)
    )
    server.runtime.publish(
        topic,
        FeedStalled(
            ts_event=now,
            ts_init=now,
            feed="sim",
            instrument="NSE:INFY",
            last_tick_ns=now,
            silent_for_ns=30 * 10**9,
            expected_interval_ns=5 * 10**9,
        ),
    )
    status, _, body = call("GET", f"{server.url}/health")
    assert status == 200
    feed = body["feeds"]["sim"]
    assert (feed["fresh"], feed["connected"], feed["stalled_instruments"]) == (
        True,
        True,
        ["NSE:INFY"],
    )

    server.runtime.publish(
        topic,
        FeedStalled(
            ts_event=now,
            ts_init=now,
            feed="sim",
            instrument=None,
            last_tick_ns=now,
            silent_for_ns=30 * 10**9,
            expected_interval_ns=5 * 10**9,
        ),
    )
    status, _, body = call("GET", f"{server.url}/health")
    assert status == 503 and body["problems"] == ["feed sim is silent while its market is open"]


# -- reads ------------------------------------------------------------------------------------


def test_version_state_actors_and_config(server: Server) -> None:
    status, _, version = call("GET", f"{server.url}/version", headers=server.auth)
    assert (status, version) == (200, {"version": VERSION, "api": "v1"})

    status, _, state = call("GET", f"{server.url}/state", headers=server.auth)
    assert status == 200
    assert state["mode"] == "paper" and state["runtime"] == "threaded"
    assert state["trading_state"] in {"ACTIVE", "REDUCING", "HALTED"}
    assert state["uptime_s"] >= 0 and state["started_at"].endswith("Z")

    status, _, actors = call("GET", f"{server.url}/actors", headers=server.auth)
    assert status == 200
    assert actors["type"] == "ActorsReport"
    assert {a["name"] for a in actors["actors"]} >= {"trading", "web_hub"}
    assert actors["supervisors"][0]["name"] == "root"

    status, _, config = call("GET", f"{server.url}/config", headers=server.auth)
    assert status == 200
    assert config["config"]["web"]["port"] == 8080
    assert TOKEN not in str(config)


# -- commands ---------------------------------------------------------------------------------


def test_pause_resume_and_halt_answer_the_new_state() -> None:
    with running_server() as server:
        auth = server.auth
        status, _, body = call(
            "POST", f"{server.url}/pause", headers=auth, data=b'{"reason": "lunch"}'
        )
        assert (status, body["trading_state"]) == (200, "REDUCING")
        assert server.runtime.trading_state.value == "REDUCING"

        status, _, body = call("POST", f"{server.url}/resume", headers=auth)
        assert (status, body["trading_state"]) == (200, "ACTIVE")

        status, _, body = call("POST", f"{server.url}/halt", headers=auth, data=b"{}")
        assert (status, body["trading_state"]) == (200, "HALTED")
        _, _, state = call("GET", f"{server.url}/state", headers=auth)
        assert state["trading_state"] == "HALTED"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b'{"reason": 42}', "invalid_body"),
        (b'{"reason": "x", "extra": 1}', "invalid_body"),
        (b"[]", "invalid_body"),
        (b"null", "invalid_body"),
        (b'{"reason": "' + b"x" * 501 + b'"}', "invalid_body"),
        ("\udcff".encode("utf-8", "surrogatepass"), "malformed_json"),
    ],
)
def test_a_bad_body_is_400_with_details(server: Server, body: bytes, code: str) -> None:
    status, _, answer = call("POST", f"{server.url}/pause", headers=server.auth, data=body)
    assert status == 400
    assert_envelope(answer, code)
    assert answer["error"]["details"]["reason"]


def test_unknown_paths_and_wrong_methods_have_the_envelope(server: Server) -> None:
    status, _, body = call("GET", f"{server.url}/nope", headers=server.auth)
    assert status == 404
    assert_envelope(body, "not_found")

    status, headers, body = call("GET", f"{server.url}/pause", headers=server.auth)
    assert status == 405
    assert_envelope(body, "method_not_allowed")
    assert body["error"]["details"]["allowed"] == ["POST"]
    assert headers["Allow"] == "POST"

    status, _, body = call("DELETE", f"{server.url}/state")
    assert status == 405
    assert_envelope(body, "method_not_allowed")


def test_an_oversized_body_is_413_not_a_crash(server: Server) -> None:
    status, _, body = call("POST", f"{server.url}/pause", headers=server.auth, data=b" " * 100_000)
    assert status == 413
    assert_envelope(body, "body_too_large")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("state?q=" + "a" * 9000, {}),  # the request line over aiohttp's 8190 bytes
        ("state", {"X-Long": "a" * 9000}),  # a header over it
    ],
)
def test_an_over_long_url_or_header_gets_the_envelope(
    server: Server, path: str, headers: dict[str, str]
) -> None:
    status, answer_headers, body = call("GET", f"{server.url}/{path}", headers=headers)
    assert status == 400
    assert answer_headers["Content-Type"].startswith("application/json")
    assert_envelope(body, "too_long")
    assert body["error"]["details"] == {"limit_bytes": 8190}


def test_a_request_that_is_not_http_gets_the_envelope(server: Server) -> None:
    async def send() -> bytes:
        port = server.runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/v1/state HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        answer = await reader.read()  # to the end: the server closes the connection
        writer.close()
        return answer

    head, _, payload = asyncio.run(send()).partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b"Content-Type: application/json" in head
    assert_envelope(json.loads(payload), "bad_request")


def test_mutations_are_rate_limited_per_client_with_retry_after() -> None:
    with running_server(config_with(mutations_per_minute=3)) as server:
        statuses = [call("POST", f"{server.url}/resume", headers=server.auth)[0] for _ in range(3)]
        assert statuses == [200, 200, 200]
        status, headers, body = call("POST", f"{server.url}/resume", headers=server.auth)
        assert status == 429
        assert_envelope(body, "rate_limited")
        assert int(headers["Retry-After"]) == 20  # 3 a minute: one every 20 s
        # Reads are not limited.
        assert call("GET", f"{server.url}/state", headers=server.auth)[0] == 200


def test_orders_and_cancels_have_their_own_rate_limit() -> None:
    with running_server(config_with(mutations_per_minute=1, orders_per_minute=2)) as server:
        assert call("POST", f"{server.url}/resume", headers=server.auth)[0] == 200
        assert call("POST", f"{server.url}/resume", headers=server.auth)[0] == 429
        # The commands' bucket is empty; orders and cancels spend their own.
        assert call("DELETE", f"{server.url}/orders/nope", headers=server.auth)[0] == 404
        assert call("POST", f"{server.url}/orders", headers=server.auth, data=b"{")[0] == 400
        status, headers, body = call("DELETE", f"{server.url}/orders/nope", headers=server.auth)
        assert status == 429
        assert_envelope(body, "rate_limited")
        assert body["error"]["details"]["setting"] == "web.orders_per_minute"
        assert body["error"]["details"]["limit_per_minute"] == 2
        assert int(headers["Retry-After"]) == 30  # 2 a minute: one every 30 s


def test_orders_are_not_limited_at_the_commands_rate_by_default() -> None:
    with running_server(trading=False) as server:
        # 4 orders a second for a minute fit the default; the commands' 30 would not.
        statuses = {
            call("DELETE", f"{server.url}/orders/x{n}", headers=server.auth)[0] for n in range(240)
        }
        assert 429 not in statuses, statuses


def test_commands_answer_503_once_shutdown_has_begun() -> None:
    with running_server() as server:
        server.engine.accepting = False
        status, _, body = call("POST", f"{server.url}/halt", headers=server.auth)
        assert status == 503
        assert_envelope(body, "shutting_down")
        assert server.runtime.trading_state.value == "ACTIVE"
        assert call("GET", f"{server.url}/state", headers=server.auth)[0] == 200


# -- CORS -------------------------------------------------------------------------------------

PREFLIGHT = {
    "Origin": "http://dash.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


def test_cors_is_closed_by_default(server: Server) -> None:
    status, headers, _ = call("OPTIONS", f"{server.url}/pause", headers=PREFLIGHT)
    assert status == 405
    assert not any(h.lower().startswith("access-control-") for h in headers)
    _, headers, _ = call(
        "GET", f"{server.url}/state", headers={**server.auth, "Origin": "http://dash.example"}
    )
    assert not any(h.lower().startswith("access-control-") for h in headers)


def test_cors_opens_for_a_configured_origin_only() -> None:
    with running_server(config_with(cors_origins=["http://dash.example"])) as server:
        status, headers, _ = call("OPTIONS", f"{server.url}/pause", headers=PREFLIGHT)
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == "http://dash.example"
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert "Authorization" in headers["Access-Control-Allow-Headers"]

        # Answers, errors included, carry the header so the page can read them.
        origin = {"Origin": "http://dash.example"}
        status, headers, _ = call("GET", f"{server.url}/state", headers=origin)
        assert status == 401
        assert headers["Access-Control-Allow-Origin"] == "http://dash.example"

        status, headers, _ = call(
            "OPTIONS", f"{server.url}/pause", headers={**PREFLIGHT, "Origin": "http://evil.example"}
        )
        assert status == 405
        assert "Access-Control-Allow-Origin" not in headers


# -- the token file ---------------------------------------------------------------------------


def test_the_token_is_generated_once_into_a_0600_file_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "deep" / "api_token"
    token, generated = resolve_api_token(None, path)
    assert generated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token.reveal()
    assert len(token.reveal()) >= 40

    again, generated_again = resolve_api_token(None, path)
    assert (again, generated_again) == (token, False)


def test_the_environment_token_wins_and_no_file_is_written(tmp_path: Path) -> None:
    path = tmp_path / "api_token"
    token, generated = resolve_api_token(Secret("from-env"), path)
    assert (token.reveal(), generated) == ("from-env", False)
    assert not path.exists()


def test_a_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api_token"
    path.write_text("abc\n")
    os.chmod(path, 0o644)
    with pytest.raises(TokenFileError, match=r"mode 0644; run: chmod 600"):
        resolve_api_token(None, path)


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api_token"
    path.write_text("\n")
    os.chmod(path, 0o600)
    with pytest.raises(TokenFileError, match="empty"):
        resolve_api_token(None, path)


def test_a_non_ascii_token_is_refused_not_a_crash(server: Server) -> None:
    status, _, body = call("GET", f"{server.url}/state", headers={"Authorization": "Bearer é€"})
    assert status == 401
    assert_envelope(body, "unauthorized")
