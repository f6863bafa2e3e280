"""The service's market-data wiring end to end: sim market → feed → bar aggregator →
candle recorder → a real SQLite file, on the simulated runtime."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from engine.calendars import calendar
from engine.config.load import ConfigError, load_config
from engine.config.schema import TroupeConfig
from engine.messages.market import Bar
from engine.simulated import SimulatedRuntime
from engine.spec import SupervisorSpec
from engine.store import CandleStore, Database
from engine.testing import SECOND, Capture
from engine.timezones import from_exchange_time
from troupe.market import market_data, session_origin

START_NS = 1_795_000_000 * SECOND  # 2026-11-19, an arbitrary fixed start


def config_for(tmp_path: Path, **env: str) -> TroupeConfig:
    base = {
        "TROUPE__DATA_DIR": str(tmp_path),
        "TROUPE__MARKET__SIM__TICKS_PER_SECOND": "50",
        "TROUPE__BARS__INTERVALS": '["1m"]',
        "TROUPE__STORE__BATCH_SIZE": "7",
    }
    return load_config([], env={**base, **env})


def run_pipeline(tmp_path: Path, minutes: int = 10) -> tuple[list[Bar], list[Bar]]:
    """(bars published, bars stored) after ``minutes`` of simulated market."""
    config = config_for(tmp_path)
    runtime = SimulatedRuntime(start_ns=START_NS, seed=1)
    market = market_data(config, runtime)
    capture = Capture(runtime, [f"bars:{i}" for i in market.instruments])
    try:
        runtime.start(SupervisorSpec("root", market.specs))
        runtime.advance(minutes * 60 * SECOND)
        runtime.stop()  # the feed stops first; the aggregator's and recorder's last bars drain
    finally:
        market.close()
    published = capture.messages(kind=Bar)
    with Database(f"sqlite+aiosqlite:///{tmp_path / 'troupe.db'}") as database:
        store = CandleStore(database)
        stored = [
            bar
            for instrument in market.instruments
            for bar in database.call(store.read_bars(instrument, "1m"), 10)
        ]
    return published, stored


def key(bar: Bar) -> tuple[str, int]:
    return (bar.instrument, bar.ts_event)


def test_every_published_bar_is_stored(tmp_path: Path) -> None:
    published, stored = run_pipeline(tmp_path)

    assert len(published) >= 5 * 9  # five instruments, about one bar a minute each
    assert sorted(published, key=key) == sorted(stored, key=key)
    for bar in published:
        assert bar.ts_close - bar.ts_event == 60 * SECOND
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def test_the_same_seed_gives_the_same_bars(tmp_path: Path) -> None:
    first, _ = run_pipeline(tmp_path / "a", minutes=3)
    second, _ = run_pipeline(tmp_path / "b", minutes=3)

    assert msgspec.json.encode(first) == msgspec.json.encode(second)


def test_an_unknown_instrument_is_a_configuration_problem(tmp_path: Path) -> None:
    config = config_for(tmp_path, TROUPE__MARKET__INSTRUMENTS='["NSE:INFY", "NSE:NOPE"]')

    with pytest.raises(ConfigError) as error:
        market_data(config, SimulatedRuntime())

    [problem] = error.value.problems
    assert problem.startswith("market.instruments: unknown instrument 'NSE:NOPE'; the master has:")


def test_session_alignment_starts_nse_bars_at_the_open() -> None:
    origin = session_origin(calendar("NSE"), "Asia/Kolkata")
    ts = from_exchange_time("2026-11-20T10:01:30", "Asia/Kolkata")  # a Friday session

    assert origin(ts) == from_exchange_time("2026-11-20T09:15:00", "Asia/Kolkata")
    # Saturday: no session, bars fall back to local midnight
    saturday = from_exchange_time("2026-11-21T10:00:00", "Asia/Kolkata")
    assert origin(saturday) == from_exchange_time("2026-11-21T00:00:00", "Asia/Kolkata")


def test_stored_candles_replay_through_the_feed(tmp_path: Path) -> None:
    recorded, _ = run_pipeline(tmp_path, minutes=5)
    config = config_for(tmp_path, TROUPE__MARKET__SOURCE="store", TROUPE__MARKET__REPLAY__SPEED="0")
    runtime = SimulatedRuntime(start_ns=START_NS + 3600 * SECOND, seed=1)
    market = market_data(config, runtime)
    capture = Capture(runtime, [f"bars:{i}" for i in market.instruments])
    try:
        runtime.start(SupervisorSpec("root", market.specs))
        runtime.advance(3600 * SECOND)
        runtime.stop()
    finally:
        market.close()

    replayed = capture.messages(kind=Bar)
    assert sorted(replayed, key=key) == sorted(recorded, key=key)
    assert [b.ts_close for b in replayed] == sorted(b.ts_close for b in replayed)
