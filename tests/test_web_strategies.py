"""The strategies endpoints on a real server on 127.0.0.1: list, reload, and a refused reload
that names every problem and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.test_web_api import assert_envelope, call
from tests.web_support import Server, config_with, running_server


@pytest.fixture
def server() -> Iterator[Server]:
    with running_server(config_with(mutations_per_minute=1000)) as s:
        yield s


def reload(server: Server, body: object) -> tuple[int, dict[str, object]]:
    status, _, answer = call(
        "POST",
        f"{server.url}/strategies/reload",
        headers=server.auth,
        data=json.dumps(body).encode(),
    )
    return status, answer


def test_a_reload_adds_strategies_and_the_list_shows_them(server: Server) -> None:
    status, changed = reload(
        server,
        {"strategies": [{"use": "sma_cross", "instruments": ["NSE:INFY"], "params": {"fast": 3}}]},
    )

    assert status == 200, changed
    assert changed["added"] == ["strategy.sma_cross.NSE:INFY"]
    status, _, listed = call("GET", f"{server.url}/strategies", headers=server.auth)
    assert status == 200
    [view] = listed["strategies"]
    assert view["name"] == "strategy.sma_cross.NSE:INFY"
    assert view["params"]["fast"] == 3 and view["params"]["slow"] == 30
    names = {a.name for a in server.runtime.describe().actors}
    assert "strategy.sma_cross.NSE:INFY" in names


def test_a_bad_reload_is_refused_with_every_reason_and_changes_nothing(server: Server) -> None:
    status, answer = reload(
        server,
        {"strategies": [{"use": "sma_cross", "params": {"fast": 0}}, {"use": "nope"}]},
    )

    assert status == 400
    assert_envelope(answer, "reload_refused")
    problems = answer["error"]["details"]["problems"]  # type: ignore[index]
    assert len(problems) == 2
    assert "strategies[0].params" in problems[0] and "strategies[1].use" in problems[1]
    _, _, listed = call("GET", f"{server.url}/strategies", headers=server.auth)
    assert listed["strategies"] == []


def test_a_body_that_is_not_a_strategy_list_is_a_400(server: Server) -> None:
    status, _, answer = call(
        "POST", f"{server.url}/strategies/reload", headers=server.auth, data=b"{nope"
    )
    assert status == 400
    assert_envelope(answer, "malformed_json")
    status, answer_2 = reload(server, {"strategies": 3})
    assert status == 400
    assert_envelope(answer_2, "invalid_body")


def test_the_endpoints_need_the_token(server: Server) -> None:
    assert call("GET", f"{server.url}/strategies")[0] == 401
    assert call("POST", f"{server.url}/strategies/reload", data=b"{}")[0] == 401
