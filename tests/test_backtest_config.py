"""A backtest configuration file (``troupe backtest -c FILE``) read into a checked plan: the
plan a good file describes, every problem of a bad one at once (each naming its key path and
value), unknown keys refused, and the shipped example loading."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest

from engine.backtest.config_schema import FeeModelName
from engine.backtest.plan import BacktestPlan, DataFile
from engine.config.errors import ConfigError
from engine.config.schema import RankerConfig, StrategyConfig
from engine.fees.config import FEE_MODELS, FeeConfig
from engine.risk.limits import RiskLimits, checks_off
from troupe.backtest_config import load_backtest_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "backtest.example.toml"


def write_bars(path: Path, days: int = 40, start: dt.date = dt.date(2024, 1, 1)) -> None:
    """Daily bars in the common layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i in range(days):
        price = 100 + i
        lines.append(f"{start + dt.timedelta(days=i)},{price},{price + 1},{price - 1},{price},1000")
    path.write_text("\n".join(lines) + "\n")


def write_minute_bars(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Time,Open,High,Low,Close,Volume"]
    for i in range(10):
        lines.append(f"2024-01-02,09:{15 + i}:00,100,101,99,100,10")
    path.write_text("\n".join(lines) + "\n")


def config(tmp_path: Path, text: str, *, bars: tuple[str, ...] = ("INFY", "TCS")) -> Path:
    """``text`` as ``tmp_path/run/backtest.toml``, with daily bars for ``bars`` in
    ``run/data/NAME.csv``."""
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    for name in bars:
        write_bars(folder / "data" / f"{name}.csv")
    path = folder / "backtest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, **kwargs: Path) -> list[str]:
    """The problems ``path`` is refused with, without the file's name in front."""
    with pytest.raises(ConfigError) as error:
        load_backtest_config(path, **kwargs)
    prefix = f"{path}: "
    assert all(line.startswith(prefix) for line in error.value.problems), error.value.problems
    return [line.removeprefix(prefix) for line in error.value.problems]


MINIMAL = """
[backtest]
cash = 50000
out = "out"

[[data]]
instrument = "NSE:INFY"
file = "data/INFY.csv"

[[strategies]]
use = "sma_cross"
interval = "1d"
"""

GOOD = """
[backtest]
cash = 250000.5
currency = "INR"
timezone = "Asia/Kolkata"
from = "2024-01-03"
to = 2024-02-01          # a TOML date works as well as a string
calendar = "NSE"
qty = 10
stop_loss_pct = 2.5
out = "../runs/good"
seed = 7

[backtest.fees]
model = "percentage"
rate = 0.03
maximum = 20

[[data]]
instrument = "NSE:INFY"
file = "data/INFY.csv"
tick_size = 0.05

[[data]]
instrument = "NSE:TCS"
file = "data/TCS.csv"
timezone = "UTC"
lot_size = 5

[[strategies]]
use = "sma_cross"
interval = "1d"
params = { fast = 5, slow = 20 }

[[strategies]]
use = "sma_cross"
id = "slow_cross"
interval = "1d"
instruments = ["NSE:TCS"]
params = { fast = 10, slow = 30, ma = "ema" }

[ranker]
min_score = 0.2

[risk]
max_open_trades = 2
sizing_quantity = 10
"""


def test_a_good_file_gives_its_plan_with_paths_resolved_and_the_backtest_limits(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, GOOD)
    folder = path.parent.resolve()

    plan = load_backtest_config(path)

    assert plan.data == (
        DataFile("NSE:INFY", folder / "data/INFY.csv", "Asia/Kolkata", Decimal("0.05"), 1),
        DataFile("NSE:TCS", folder / "data/TCS.csv", "UTC", Decimal("0.01"), 5),
    )
    assert plan.strategies == (
        StrategyConfig(use="sma_cross", interval="1d", params={"fast": 5, "slow": 20}),
        StrategyConfig(
            use="sma_cross",
            id="slow_cross",
            interval="1d",
            instruments=["NSE:TCS"],
            params={"fast": 10, "slow": 30, "ma": "ema"},
        ),
    )
    assert plan.out == folder / "../runs/good"
    assert plan.limits == RiskLimits(
        sizing="fixed_qty",
        sizing_quantity=10,
        bracket_exits=False,
        entry_timeout_s=0.0,
        trading_day_tz="Asia/Kolkata",
        stop_loss_pct=2.5,
        max_open_trades=2,
    )
    assert (plan.cash, str(plan.cash), plan.currency) == (Decimal("250000.5"), "250000.5", "INR")
    assert plan.timezone == "Asia/Kolkata"
    assert plan.fees == FeeConfig(model="percentage", rate=Decimal("0.03"), maximum=Decimal(20))
    assert plan.ranker == RankerConfig(top_n=1_000_000, min_score=0.2)
    assert (plan.calendar, plan.start, plan.end) == (
        "NSE",
        dt.date(2024, 1, 3),
        dt.date(2024, 2, 1),
    )
    assert plan.seed == 7
    assert plan.title == "sma_cross, slow_cross on 2 instruments"
    assert plan.settings == (
        (
            "strategies",
            "sma_cross (long_only=true, fast=5, slow=20, ma=sma); "
            "slow_cross = sma_cross (long_only=true, fast=10, slow=30, ma=ema) on NSE:TCS",
        ),
        ("instruments", "NSE:INFY, NSE:TCS"),
        ("interval", "1d"),
        ("cash", "250000.5 INR"),
        ("fees", "percentage rate=0.03 maximum=20"),
        ("risk", "on"),
        ("qty", "10"),
        ("stop_loss_pct", "2.5"),
        ("calendar", "NSE"),
        ("square_off", "15:15"),
        ("from", "2024-01-03"),
        ("to", "2024-02-01"),
    )


def test_a_minimal_file_takes_the_documented_defaults(tmp_path: Path) -> None:
    path = config(tmp_path, MINIMAL, bars=("INFY",))
    folder = path.parent.resolve()

    plan = load_backtest_config(path)

    assert plan == BacktestPlan(
        data=(DataFile("NSE:INFY", folder / "data/INFY.csv", "UTC", Decimal("0.01"), 1),),
        strategies=(StrategyConfig(use="sma_cross", interval="1d"),),
        out=folder / "out",
        limits=RiskLimits(
            sizing="fixed_qty", bracket_exits=False, entry_timeout_s=0.0, trading_day_tz="UTC"
        ),
        cash=Decimal(50000),
        currency="INR",
        timezone="UTC",
        fees=FeeConfig(model="zero"),
        ranker=RankerConfig(top_n=1_000_000),
        calendar=None,
        start=None,
        end=None,
        seed=0,
        settings=plan.settings,
        title="sma_cross on NSE:INFY",
    )
    assert dict(plan.settings) == {
        "strategies": "sma_cross (long_only=true, fast=10, slow=30, ma=sma)",
        "instruments": "NSE:INFY",
        "interval": "1d",
        "cash": "50000 INR",
        "fees": "zero",
        "risk": "on",
        "qty": "1",
        "stop_loss_pct": "none",
        "calendar": "none (every bar in session)",
        "square_off": "none (no calendar)",
        "from": "first bar",
        "to": "last bar",
    }


def test_risk_off_and_no_square_off_change_the_final_limits(tmp_path: Path) -> None:
    text = MINIMAL.replace("cash = 50000", 'cash = 50000\nrisk = "off"\nsquare_off = false')
    path = config(tmp_path, text + "\n[risk]\nmax_trades_per_day = 4\n", bars=("INFY",))

    plan = load_backtest_config(path)

    assert plan.limits == checks_off(
        RiskLimits(
            sizing="fixed_qty",
            bracket_exits=False,
            entry_timeout_s=0.0,
            trading_day_tz="UTC",
            square_off={},
            max_trades_per_day=4,
        )
    )
    assert dict(plan.settings)["risk"] == "off (available cash only)"
    assert dict(plan.settings)["square_off"] == "off"


def test_out_given_by_the_caller_wins_and_one_of_the_two_is_required(tmp_path: Path) -> None:
    path = config(tmp_path, MINIMAL, bars=("INFY",))

    assert load_backtest_config(path, out=Path("elsewhere")).out == Path("elsewhere")

    path.write_text(MINIMAL.replace('out = "out"\n', ""))
    assert problems(path) == [
        "backtest.out: missing: give the report's folder as out (relative to this file's "
        "folder) or --out"
    ]
    assert load_backtest_config(path, out=tmp_path / "x").out == tmp_path / "x"


BAD = """
colour = "blue"

[backtest]
cash = -5
cahs = 3
currency = "XYZ"
timezone = "Mars/Olympus"
from = "2024-02-30"
calendar = "BSE"
qty = 10

[backtest.fees]
model = "percentage"

[[data]]
instrument = "NSE:INFY"
file = "data/NOPE.csv"

[[data]]
instrument = "NSE:INFY"
file = "data/TCS.csv"
tick_size = 0

[[data]]
file = "data/TCS.csv"

[[strategies]]
use = "no_such_strategy"
interval = "1d"

[[strategies]]
use = "sma_cross"
interval = "1m"
instruments = ["NSE:SBIN", "NSE:INFY"]
params = { fast = 40, slow = 10 }

[[strategies]]
interval = 5

[ranker]
top_n = 0

[risk]
max_open_trades = -1
sizing = "percent_risk"
"""


def test_a_file_with_many_problems_names_each_with_its_key_and_value(tmp_path: Path) -> None:
    path = config(tmp_path, BAD)
    folder = path.parent.resolve()

    found = problems(path)

    assert sorted(found) == sorted(
        [
            "colour: unknown key; allowed: backtest, data, ranker, risk, strategies",
            "backtest.cash: expected a number > 0, got -5",
            "backtest.cahs: unknown key; allowed: calendar, cash, currency, fees, from, out, "
            "qty, risk, seed, square_off, stop_loss_pct, timezone, to",
            "backtest.currency: unknown currency 'XYZ': the ledger knows AUD, CAD, CHF, EUR, "
            "GBP, HKD, INR, JPY, SGD, USD",
            "backtest.timezone: unknown time zone 'Mars/Olympus': expected an IANA name such "
            "as 'Asia/Kolkata' or 'America/New_York'",
            'backtest.from: expected a date like "2024-01-01", got "2024-02-30"',
            'backtest.calendar: expected one of "ALWAYS", "NASDAQ", "NSE", "NYSE" (or leave '
            'it out), got "BSE"',
            "backtest.out: missing: give the report's folder as out (relative to this file's "
            "folder) or --out",
            "backtest.fees.rate: missing: the 'percentage' fee model needs a rate (percent)",
            f'data[0].file: "data/NOPE.csv": no such file ({folder / "data/NOPE.csv"})',
            'data[1].instrument: "NSE:INFY" is also data[0]; expected one [[data]] table per '
            "instrument",
            "data[1].tick_size: expected a number > 0, got 0",
            "data[2].instrument: missing: expected a string (The id the bars are for, "
            '"EXCHANGE:SYMBOL" ("NSE:INFY"); unique)',
            "strategies[0].use: no built-in strategy 'no_such_strategy'; built-ins: sma_cross, "
            "rsi_threshold, macd_cross, bollinger_reversion, vwap_reversion, "
            "opening_range_breakout, supertrend_volume, trend_pullback (or give "
            "'package.module:ClassName')",
            'strategies[1].instruments[0]: "NSE:SBIN" is not a [[data]] instrument; expected '
            'one of "NSE:INFY" (or none: all of them)',
            'strategies[1].interval: expected the interval of its data\'s bars, "1d" '
            '(NSE:INFY), got "1m"',
            "strategies[1].params: strategy 'sma_cross': sma_cross: fast 40 must be below slow 10",
            "strategies[2].interval: expected a string, got 5",
            'strategies[2].use: missing: expected a string (A built-in strategy ("sma_cross"; '
            'see troupe list-strategies) or your own class as "package.module:ClassName")',
            "ranker.top_n: expected an integer >= 1, got 0",
            "risk.max_open_trades: expected an integer >= 0, got -1",
            'backtest.qty: 10 means risk.sizing = "fixed_qty", but [risk] has sizing = '
            '"percent_risk"; expected only one of them, or the same value',
        ]
    )


@pytest.mark.parametrize(
    ("where", "table"),
    [
        ("top level", "[backtest]"),
        ("backtest", "[backtest]"),
        ("backtest.fees", "[backtest.fees]"),
        ("data[0]", "[[data]]"),
        ("strategies[0]", "[[strategies]]"),
        ("ranker", "[ranker]"),
        ("risk", "[risk]"),
    ],
)
def test_unknown_keys_are_refused_wherever_they_are(tmp_path: Path, where: str, table: str) -> None:
    text = MINIMAL + "\n[backtest.fees]\n[ranker]\n[risk]\n"
    if where == "top level":
        text = "surprise = 1\n" + text
    else:
        text = text.replace(f"{table}\n", f"{table}\nsurprise = 1\n", 1)
    path = config(tmp_path, text, bars=("INFY",))

    found = problems(path)

    key = "surprise" if where == "top level" else f"{where}.surprise"
    assert len(found) == 1
    assert found[0].startswith(f"{key}: unknown key; allowed: ")


def test_a_shorthand_and_a_risk_key_may_agree_but_not_differ(tmp_path: Path) -> None:
    text = MINIMAL.replace("cash = 50000", "cash = 50000\nqty = 5\nstop_loss_pct = 1.5")
    agreeing = text + '\n[risk]\nsizing = "fixed_qty"\nsizing_quantity = 5\nstop_loss_pct = 1.5\n'
    path = config(tmp_path, agreeing, bars=("INFY",))

    limits = load_backtest_config(path).limits

    assert (limits.sizing, limits.sizing_quantity, limits.stop_loss_pct) == ("fixed_qty", 5, 1.5)

    differing = text.replace("cash = 50000", "cash = 50000\nsquare_off = false") + (
        '\n[risk]\nsizing_quantity = 6\nstop_loss_pct = 1.5\nsquare_off = { NSE = "15:00" }\n'
    )
    path.write_text(differing)

    assert problems(path) == [
        "backtest.qty: 5 means risk.sizing_quantity = 5, but [risk] has sizing_quantity = 6; "
        "expected only one of them, or the same value",
        "backtest.square_off: false means risk.square_off = {}, but [risk] has square_off = "
        '{"NSE": "15:00"}; expected only one of them, or the same value',
    ]


def test_a_strategy_must_decide_on_the_interval_of_its_data(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[data]]\ninstrument = "NSE:TCS"\nfile = "data/TCS-1m.csv"\n'
    path = config(tmp_path, text, bars=("INFY",))
    write_minute_bars(path.parent / "data" / "TCS-1m.csv")

    assert problems(path) == [
        'strategies[0].interval: expected the interval of its data\'s bars, "1m" (NSE:TCS), '
        'got "1d"'
    ]


def test_a_strategy_without_an_interval_decides_on_its_data_s(tmp_path: Path) -> None:
    text = MINIMAL.replace('interval = "1d"\n', "")
    path = config(tmp_path, text, bars=("INFY",))

    assert load_backtest_config(path).strategies[0].interval == "1d"

    path.write_text(text + '\n[[data]]\ninstrument = "NSE:TCS"\nfile = "data/TCS-1m.csv"\n')
    write_minute_bars(path.parent / "data" / "TCS-1m.csv")

    assert problems(path) == [
        'strategies[0].interval: missing: its data\'s bars are "1d", "1m"; expected the '
        "interval it decides on (or an entry per interval)"
    ]


def test_a_file_of_bad_bars_is_named_with_its_key(tmp_path: Path) -> None:
    path = config(tmp_path, MINIMAL, bars=())
    (path.parent / "data").mkdir()
    (path.parent / "data" / "INFY.csv").write_text("when,what\n1,2\n")

    found = problems(path)

    assert len(found) == 1
    assert found[0].startswith(f"data[0].file: {path.parent.resolve() / 'data/INFY.csv'}:1: ")
    assert "has no column for" in found[0]


def test_dates_must_be_in_order_and_cash_to_the_minor_unit(tmp_path: Path) -> None:
    text = MINIMAL.replace("cash = 50000", 'cash = 100.125\nfrom = "2024-03-01"\nto = "2024-02-01"')
    path = config(tmp_path, text, bars=("INFY",))

    assert problems(path) == [
        "backtest.cash: expected an amount to the INR minor unit (2 decimal places at most), "
        "got 100.125",
        'backtest.to: expected a day on or after from = "2024-03-01", got "2024-02-01"',
    ]


def test_a_file_without_data_strategies_or_backtest_says_what_is_missing(tmp_path: Path) -> None:
    path = config(tmp_path, 'data = []\n[risk]\nsizing = "atr"\n', bars=())

    assert problems(path) == [
        "backtest: missing: expected a table (The [backtest] table: at least its cash)",
        "data: missing: at least one [[data]] table (instrument, file)",
        "strategies: missing: at least one [[strategies]] entry (use = a strategy)",
    ]


def test_a_missing_or_broken_file_is_one_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[backtest\n")

    assert problems(tmp_path / "nope.toml") == ["no such file"]
    assert problems(broken)[0].startswith("not valid TOML: ")


def test_the_fee_models_of_the_schema_are_the_fee_models() -> None:
    assert set(get_args(FeeModelName)) == set(FEE_MODELS)


def test_the_example_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "backtest.example.toml"
    shutil.copy(EXAMPLE, path)
    for name in ("INFY", "TCS"):
        write_bars(tmp_path / "data" / f"{name}.csv")

    plan = load_backtest_config(path)

    assert [(d.instrument, d.path) for d in plan.data] == [
        ("NSE:INFY", tmp_path.resolve() / "data/INFY.csv"),
        ("NSE:TCS", tmp_path.resolve() / "data/TCS.csv"),
    ]
    assert plan.strategies == (
        StrategyConfig(use="sma_cross", interval="1d", params={"fast": 10, "slow": 30}),
    )
    assert (plan.cash, plan.limits.sizing, plan.limits.sizing_quantity) == (
        Decimal(100000),
        "fixed_qty",
        10,
    )
    assert plan.out == tmp_path.resolve() / "runs/example"


def test_tables_of_the_wrong_shape_are_named(tmp_path: Path) -> None:
    text = (
        'backtest = 5\ndata = { instrument = "X" }\nrisk = 5\nranker = "x"\n'
        '[[strategies]]\nuse = "sma_cross"\nparams = 3\n'
    )
    path = config(tmp_path, text, bars=())

    assert problems(path) == [
        "backtest: expected a table, got 5",
        'data: expected a list of (a table), got {"instrument": "X"}',
        "risk: expected a table, got 5",
        'ranker: expected a table, got "x"',
        "strategies[0].params: expected a table, got 3",
    ]


def test_ids_instruments_dates_and_files_each_get_their_line(tmp_path: Path) -> None:
    text = MINIMAL.replace('out = "out"', 'out = "out"\nfrom = 2024-01-01T10:00:00') + (
        '\n[[strategies]]\nuse = "rsi_threshold"\nid = "sma_cross"\ninterval = "1d"\n'
        'instruments = ["NSE:INFY", "NSE:INFY"]\n'
        '\n[[data]]\ninstrument = "NSE:TCS"\nfile = "data"\n'
        '\n[backtest.fees]\nmodel = "indian_equity_intraday"\ntable = "rates/mine.toml"\n'
    )
    path = config(tmp_path, text, bars=("INFY",))
    folder = path.parent.resolve()

    assert problems(path) == [
        f"backtest.fees.table: {folder / 'rates/mine.toml'}: fee rate table: no such file",
        'backtest.from: expected a date like "2024-01-01", got "2024-01-01T10:00:00"',
        f'data[1].file: "data": not a file ({folder / "data"})',
        'strategies[1].instruments[1]: "NSE:INFY" is listed twice',
        'strategies[1].id: "sma_cross" is taken by strategies[0]; expected an id of its own '
        "for each entry of the same strategy",
    ]
