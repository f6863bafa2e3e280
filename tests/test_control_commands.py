"""``troupe status``, ``pause``, ``resume``, ``halt``, ``flatten`` against a real ``troupe run``
(a child process on its own data directory and port, its API token generated into the data
directory as on a first start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_process import DEADLINE_S, POLL_S, EngineProcess, engine_env, free_port
from troupe.cli import main
from troupe.control_commands import status_summary


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    process = EngineProcess(tmp_path_factory.mktemp("control") / "var")
    try:
        process.wait_answering()
        yield process
    finally:
        process.kill()


def shell_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """The environment of a trader's shell: no TROUPE variable but ``data_dir``."""
    for name in list(os.environ):
        if name.startswith("TROUPE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TROUPE__DATA_DIR", str(data_dir))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, engine: EngineProcess) -> None:
    shell_env(monkeypatch, engine.data_dir)


def troupe(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``troupe ARGV`` in this process: the exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def token_of(engine: EngineProcess) -> str:
    return (engine.data_dir / "api_token").read_text().strip()


def state_of(engine: EngineProcess) -> str:
    status, state = engine.request("state", token=token_of(engine))
    assert status == 200, state
    return str(state["trading_state"])


def wait_logged(engine: EngineProcess, text: str) -> None:
    """Return once ``text`` is in the engine's JSON log file; fail at the deadline."""
    log_file = engine.data_dir / "logs" / "troupe.jsonl"
    deadline = time.monotonic() + DEADLINE_S
    while text not in log_file.read_text():
        assert time.monotonic() < deadline, f"{text!r} not logged within {DEADLINE_S:g}s"
        time.sleep(POLL_S)  # polling a condition with a deadline, not a fixed wait


@pytest.mark.usefixtures("env")
def test_status_reads_the_token_file_and_summarises_the_engine(
    engine: EngineProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = troupe(capsys, "status", "--port", str(engine.port))

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"engine    http://127.0.0.1:{engine.port}/api/v1/  paper, up ")
    assert lines[1] == "trading   ACTIVE"
    assert lines[2].startswith("account   cash ")
    assert any(line.startswith("positions ") for line in lines)
    assert any(line.startswith("orders    ") for line in lines)


@pytest.mark.usefixtures("env")
def test_halt_pause_flatten_and_resume_say_the_new_state(
    engine: EngineProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(engine.port)

    halted = troupe(capsys, "halt", "--port", port, "--reason", "desk says stop")
    after_halt = state_of(engine)
    resumed = troupe(capsys, "resume", "--port", port)
    after_resume = state_of(engine)
    paused = troupe(capsys, "pause", "--port", port)
    after_pause = state_of(engine)
    flattened = troupe(capsys, "flatten", "--port", port, "--reason", "fat finger drill")
    after_flatten = state_of(engine)
    troupe(capsys, "resume", "--port", port)

    assert halted == (0, "trading state: HALTED\n", "") and after_halt == "HALTED"
    assert resumed == (0, "trading state: ACTIVE\n", "") and after_resume == "ACTIVE"
    assert paused == (0, "trading state: REDUCING\n", "") and after_pause == "REDUCING"
    code, out, err = flattened
    assert (code, err) == (0, "") and after_flatten == "HALTED"
    assert out.startswith("kill switch: ") and out.endswith("; trading state: HALTED\n")
    wait_logged(engine, "desk says stop")  # the reason reached the engine
    wait_logged(engine, "fat finger drill")


@pytest.mark.usefixtures("env")
def test_json_prints_the_engines_answer(
    engine: EngineProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(engine.port)

    status = troupe(capsys, "status", "--port", port, "--json")
    halted = troupe(capsys, "halt", "--port", port, "--json")
    troupe(capsys, "resume", "--port", port)

    assert status[0] == 0
    answers = json.loads(status[1])
    assert answers["state"]["trading_state"] == "ACTIVE"
    assert "account" in answers["positions"] and "counts" in answers["orders"]
    assert halted[0] == 0
    assert json.loads(halted[1])["trading_state"] == "HALTED"


@pytest.mark.usefixtures("env")
def test_an_engine_bound_to_every_address_is_reached_on_loopback(
    engine: EngineProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = troupe(capsys, "status", "--host", "0.0.0.0", "--port", str(engine.port))

    assert code == 0 and f"http://127.0.0.1:{engine.port}/api/v1/" in out


@pytest.mark.usefixtures("env")
def test_a_refused_token_names_where_it_came_from(
    engine: EngineProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "api_token").write_text("not-the-token\n")
    monkeypatch.setenv("TROUPE__DATA_DIR", str(other))

    from_file = troupe(capsys, "halt", "--port", str(engine.port))
    monkeypatch.setenv("TROUPE_API_TOKEN", "also-wrong")
    from_env = troupe(capsys, "status", "--port", str(engine.port))

    assert from_file[0] == 1 and from_file[1] == ""
    assert "401" in from_file[2] and f"token file {other / 'api_token'}" in from_file[2]
    assert from_env[0] == 1
    assert "401" in from_env[2] and "environment TROUPE_API_TOKEN" in from_env[2]
    assert "not-the-token" not in from_file[2] and "also-wrong" not in from_env[2]
    assert state_of(engine) == "ACTIVE"  # nothing was done


@pytest.mark.usefixtures("env")
def test_no_engine_listening_exits_1_naming_the_url(
    engine: EngineProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there

    code, out, err = troupe(capsys, "halt", "--port", str(port))

    assert (code, out) == (1, "")
    assert f"http://127.0.0.1:{port}/api/v1/halt" in err and "connection refused" in err
    assert err.count("\n") == 1


def test_no_token_exits_2_and_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shell_env(monkeypatch, tmp_path)

    code, out, err = troupe(capsys, "flatten", "--port", str(free_port()))

    assert (code, out) == (2, "")
    assert str(tmp_path / "api_token") in err and "TROUPE_API_TOKEN" in err


def test_the_installed_command_halts_and_resumes(engine: EngineProcess) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "troupe", *argv, "--port", str(engine.port)],
            env=engine_env(engine.data_dir),
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
        )

    halted = run("halt", "--reason", "from a shell")
    resumed = run("resume")

    assert (halted.returncode, halted.stdout) == (0, "trading state: HALTED\n"), halted.stderr
    assert (resumed.returncode, resumed.stdout) == (0, "trading state: ACTIVE\n")


# -- the summary's text, from answers as the API gives them -------------------------------------

STATE = {
    "mode": "paper",
    "trading_state": "REDUCING",
    "runtime": "threaded",
    "accepting": True,
    "started_at": "2026-12-08T04:24:29.125345Z",
    "started_at_ns": 1796703869125345014,
    "uptime_s": 3723.4,
}
ACCOUNT = {
    "currency": "INR",
    "cash": "995671.68",
    "equity": "999998.93",
    "realized_pnl": "-1.82",
    "unrealized_pnl": "0.75",
    "fees": "1.82",
    "open_positions": 1,
}
SBIN = {
    "instrument": "NSE:SBIN",
    "strategy": None,
    "quantity": 5,
    "avg_price": "865.30",
    "mark_price": "865.45",
    "unrealized_pnl": "0.75",
}
CLOSED_TODAY = {**SBIN, "instrument": "NSE:INFY", "quantity": 0}
LIMIT_ORDER = {
    "client_order_id": "manual:NSE:SBIN:1:3",
    "instrument": "NSE:SBIN",
    "side": "BUY",
    "order_type": "LIMIT",
    "quantity": 5,
    "price": "850.00",
    "trigger_price": None,
    "status": "ACCEPTED",
    "filled_qty": 0,
    "strategy": "manual",
}


def test_the_summary_lists_open_positions_and_working_orders() -> None:
    positions = {"account": ACCOUNT, "positions": [SBIN, CLOSED_TODAY]}
    orders = {"orders": [LIMIT_ORDER], "counts": {"open_orders": 1}}

    text = status_summary("http://127.0.0.1:8080/api/v1/", STATE, positions, orders)

    assert text.splitlines() == [
        "engine    http://127.0.0.1:8080/api/v1/  paper, up 1h02m03s "
        "(since 2026-12-08T04:24:29.125345Z)",
        "trading   REDUCING",
        "account   cash 995671.68 INR  equity 999998.93  realised -1.82  unrealised 0.75  "
        "fees 1.82",
        "positions 1 open",
        "  NSE:SBIN         +5 @ 865.30  mark 865.45  unrealised 0.75",
        "orders    1 open",
        "  NSE:SBIN         BUY 5 LIMIT 850.00  ACCEPTED  filled 0  manual  manual:NSE:SBIN:1:3",
    ]


def test_the_summary_counts_orders_beyond_those_it_lists() -> None:
    many = [{**LIMIT_ORDER, "client_order_id": f"o{n}"} for n in range(25)]
    orders = {"orders": many, "counts": {"open_orders": 25}}
    positions = {"account": ACCOUNT, "positions": []}

    text = status_summary("u", {**STATE, "accepting": False}, positions, orders)

    assert ", shutting down" in text.splitlines()[0]
    assert text.splitlines()[-1] == "  ... and 5 more (--json lists them all)"
