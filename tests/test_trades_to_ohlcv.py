"""``troupe trades-to-ohlcv``: the command module on generated and hand-written CSV files."""

from __future__ import annotations

import io
import random
from collections import defaultdict
from pathlib import Path

import pytest

from troupe.trades_to_ohlcv import format_timestamp, main, parse_timestamp

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_704_067_200 * SECOND  # 2024-01-01T00:00:00Z
OUTPUT_HEADER = "start,open,high,low,close,volume,trades,vwap\n"


def run(tmp_path: Path, text: str, *options: str) -> tuple[int, list[str]]:
    source = tmp_path / "ticks.csv"
    source.write_text(text, encoding="utf-8")
    target = tmp_path / "bars.csv"
    code = main(["--input", str(source), "--output", str(target), *options])
    return code, target.read_text(encoding="utf-8").splitlines() if target.exists() else []


def test_a_generated_file_gives_one_row_per_minute_with_trades(tmp_path: Path) -> None:
    rng = random.Random(3)
    ticks = []
    ts = T0
    for _ in range(3000):
        ts += rng.choice([0, 1, 7 * SECOND, 40 * SECOND, 4 * MINUTE])
        ticks.append((ts, rng.randrange(9000, 11000) / 100, rng.randrange(1, 500)))
    text = "ts,price,size\n" + "".join(f"{t},{p},{s}\n" for t, p, s in ticks)

    code, lines = run(tmp_path, text, "--interval", "1m")

    by_minute: dict[int, list[tuple[int, float, int]]] = defaultdict(list)
    for tick in ticks:
        by_minute[tick[0] // MINUTE * MINUTE].append(tick)
    expected = []
    vwaps = []
    for start, group in sorted(by_minute.items()):
        prices = [p for _, p, _ in group]
        volume = sum(s for _, _, s in group)
        first, last = prices[0], prices[-1]
        expected.append(
            (format_timestamp(start), first, max(prices), min(prices), last, volume, len(group))
        )
        vwaps.append(sum(p * s for _, p, s in group) / volume)
    assert code == 0
    assert lines[0] == "start,open,high,low,close,volume,trades,vwap"
    rows = [line.split(",") for line in lines[1:]]
    assert [
        (r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), int(r[5]), int(r[6]))
        for r in rows
    ] == expected
    assert [float(r[7]) for r in rows] == pytest.approx(vwaps, rel=1e-12)


def test_iso_times_with_offsets_fractional_sizes_and_fill_empty(tmp_path: Path) -> None:
    text = (
        "ts,price,size\n"
        "2024-01-02T09:15:00.000000001+05:30,100,0.25\n"  # 03:45:00 UTC and 1 ns
        "2024-01-02T03:45:30Z,104,0.75\n"
        "1704167220000000000,101.5,1.5\n"  # 03:47:00Z in ns
    )

    code, lines = run(tmp_path, text, "--interval", "1m", "--fill-empty")

    assert code == 0
    assert lines == [
        "start,open,high,low,close,volume,trades,vwap",
        "2024-01-02T03:45:00Z,100,104,100,104,1,2,103",
        "2024-01-02T03:46:00Z,104,104,104,104,0,0,104",
        "2024-01-02T03:47:00Z,101.5,101.5,101.5,101.5,1.5,1,101.5",
    ]


def test_columns_in_another_order_and_a_session_origin(tmp_path: Path) -> None:
    text = "size,ts,price\n2,2024-01-02T09:20:00+05:30,10\n1,2024-01-02T10:14:59+05:30,11\n"

    code, lines = run(tmp_path, text, "--interval", "1h", "--origin", "2024-01-01T09:15:00+05:30")

    assert (code, lines[1:]) == (0, ["2024-01-02T03:45:00Z,10,11,10,11,3,2,10.333333333333334"])


def test_stdin_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("ts,price,size\n0,1.5,2\n"))

    code = main(["--input", "-", "--output", "-", "--interval", "1d"])

    assert (code, capsys.readouterr().out) == (
        0,
        OUTPUT_HEADER + "1970-01-01T00:00:00Z,1.5,1.5,1.5,1.5,2,1,1.5\n",
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1,abc,1", ':3: column price: expected a number, got "abc"'),
        ("0,nan,1", ':3: column price: expected a number, got "nan"'),
        ("0,1,-2", ':3: column size: expected a number >= 0, got "-2"'),
        (
            "2024-01-02T09:15:00,1,1",
            ":3: column ts: an ISO 8601 time needs an offset (Z or +HH:MM), "
            'got "2024-01-02T09:15:00"',
        ),
        (
            "yesterday,1,1",
            ":3: column ts: expected integer ns since the epoch or an ISO 8601 time, "
            'got "yesterday"',
        ),
        (
            "2024-02-30T00:00:00Z,1,1",
            ':3: column ts: not a valid ISO 8601 time, got "2024-02-30T00:00:00Z"',
        ),
        ("0,1", ':3: expected 3 fields (ts,price,size), got 2: "0,1"'),
        (
            "5,1,1\n4,1,1",
            ':4: column ts: out of order, before the time on line 3 (sort by ts), got "4"',
        ),
    ],
)
def test_a_bad_row_exits_2_naming_file_line_column_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str
) -> None:
    code, lines = run(tmp_path, f"ts,price,size\n0,1,1\n{rows}\n", "--interval", "1m")

    assert (code, lines) == (2, [])  # nothing written
    assert capsys.readouterr().err == f"{tmp_path / 'ticks.csv'}{message}\n"


def test_a_bad_header_or_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(tmp_path, "time,px,qty\n1,2,3\n", "--interval", "1m")
    missing = main(["--input", str(tmp_path / "nope.csv"), "--output", "-", "--interval", "1m"])

    assert (code, missing) == (2, 2)
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'ticks.csv'}:1: expected the header ts,price,size (any order), "
        'got "time,px,qty"',
        f"{tmp_path / 'nope.csv'}: cannot read: No such file or directory",
    ]


def test_a_bad_interval_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(tmp_path, "ts,price,size\n", "--interval", "2m")

    assert code == 2
    assert "bar interval '2m' is not supported; allowed: 1s, 5s, 15s" in capsys.readouterr().err


def test_timestamps_round_trip_to_the_nanosecond() -> None:
    ts = parse_timestamp("2024-01-02T09:15:00.123456789+05:30")
    assert ts == 1_704_167_100_123_456_789
    assert format_timestamp(ts) == "2024-01-02T03:45:00.123456789Z"
    assert parse_timestamp(format_timestamp(-1)) == -1
