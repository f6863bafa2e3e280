"""Instruments: tick rounding with Decimal, price bands, and the instrument master's CSV and
TOML files with one exact line per problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.calendars import calendar
from engine.config.load import ConfigError
from engine.instruments import (
    Instrument,
    InstrumentMaster,
    PriceBand,
    TickRounding,
    read_csv,
)
from engine.messages.trading import OrderSide

ROOT = Path(__file__).resolve().parents[1]
HEADER = (
    "id,symbol,exchange,currency,tick_size,lot_size,freeze_quantity,band_lower,band_upper,"
    "time_zone,calendar"
)
INFY = "NSE:INFY,INFY,NSE,INR,0.05,1,,,,Asia/Kolkata,NSE"


def nse(tick: str = "0.05", band: PriceBand | None = None) -> Instrument:
    return Instrument(
        id="NSE:INFY",
        symbol="INFY",
        exchange="NSE",
        currency="INR",
        tick_size=Decimal(tick),
        time_zone="Asia/Kolkata",
        calendar="NSE",
        price_band=band,
    )


# -- tick rounding and bands ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tick", "price", "rounding", "expected"),
    [
        ("0.05", "100.07", TickRounding.DOWN, "100.05"),
        ("0.05", "100.07", TickRounding.UP, "100.10"),
        ("0.05", "100.07", TickRounding.NEAREST, "100.05"),
        ("0.05", "100.08", TickRounding.NEAREST, "100.10"),
        ("0.05", "100.025", TickRounding.NEAREST, "100.00"),  # halfway: the even multiple
        ("0.05", "100.075", TickRounding.NEAREST, "100.10"),
        ("0.05", "100", TickRounding.UP, "100.00"),  # on a tick already; the tick's places
        ("0.05", "100.05", TickRounding.DOWN, "100.05"),
        ("0.01", "187.234", TickRounding.DOWN, "187.23"),
        ("0.01", "187.231", TickRounding.UP, "187.24"),
        ("0.25", "10.1", TickRounding.NEAREST, "10.00"),
        ("1", "2499.5", TickRounding.DOWN, "2499"),
    ],
)
def test_round_to_tick(tick: str, price: str, rounding: TickRounding, expected: str) -> None:
    rounded = nse(tick).round_to_tick(Decimal(price), rounding)
    assert str(rounded) == expected


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=4),
    st.sampled_from(["0.01", "0.05", "0.10", "0.25", "1", "5"]),
)
def test_rounding_lands_on_a_tick_within_one_tick(price: Decimal, tick: str) -> None:
    instrument = nse(tick)
    down = instrument.round_to_tick(price, TickRounding.DOWN)
    up = instrument.round_to_tick(price, TickRounding.UP)
    nearest = instrument.round_to_tick(price, TickRounding.NEAREST)
    assert down <= price <= up
    assert up - down in (0, Decimal(tick))
    assert nearest in (down, up)
    assert all(instrument.is_on_tick(p) for p in (down, up, nearest))


def test_a_limit_order_rounds_in_the_traders_favour() -> None:
    assert TickRounding.for_limit_order(OrderSide.BUY) is TickRounding.DOWN
    assert TickRounding.for_limit_order(OrderSide.SELL) is TickRounding.UP


def test_a_non_finite_price_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot round NaN to a tick"):
        nse().round_to_tick(Decimal("NaN"), TickRounding.DOWN)


def test_the_price_band_is_inclusive_and_absent_means_no_limit() -> None:
    banded = nse(band=PriceBand(lower=Decimal("1400.00"), upper=Decimal("1600.00")))
    assert banded.price_in_band(Decimal("1400.00"))
    assert banded.price_in_band(Decimal("1600.00"))
    assert not banded.price_in_band(Decimal("1399.95"))
    assert not banded.price_in_band(Decimal("1600.05"))
    assert nse().price_in_band(Decimal("999999"))


def test_an_instrument_encodes_its_decimals_exactly() -> None:
    encoded = msgspec.json.encode(nse())
    assert b'"tick_size":"0.05"' in encoded
    assert msgspec.json.decode(encoded, type=Instrument) == nse()


# -- the master -------------------------------------------------------------------------------


def test_the_shipped_master_has_nse_and_us_instruments_with_known_calendars() -> None:
    master = InstrumentMaster.load(ROOT / "config" / "instruments.csv")
    assert master.ids() == [
        "NSE:RELIANCE",
        "NSE:INFY",
        "NSE:TCS",
        "NSE:HDFCBANK",
        "NSE:SBIN",
        "NASDAQ:AAPL",
        "NASDAQ:MSFT",
        "ARCA:SPY",
    ]
    infy, spy = master["NSE:INFY"], master["ARCA:SPY"]
    assert (infy.tick_size, infy.currency, infy.lot_size) == (Decimal("0.05"), "INR", 1)
    assert (spy.tick_size, spy.currency, spy.calendar) == (Decimal("0.01"), "USD", "NYSE")
    for instrument in master:
        assert calendar(instrument.calendar).time_zone == instrument.time_zone


def test_lookup_by_id() -> None:
    master = InstrumentMaster([nse()])
    assert "NSE:INFY" in master
    assert master.get("NSE:TCS") is None
    assert len(master) == 1
    with pytest.raises(KeyError, match="unknown instrument 'NSE:TCS'"):
        master["NSE:TCS"]
    with pytest.raises(ValueError, match="duplicate instrument id 'NSE:INFY'"):
        InstrumentMaster([nse(), nse()])


def test_csv_with_comments_blank_lines_any_column_order_and_optional_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "instruments.csv"
    path.write_text(
        "# my instruments\n\n"
        "calendar, id, symbol, exchange, currency, tick_size, lot_size, time_zone, band_lower, "
        "band_upper, freeze_quantity\n"
        "NSE, NSE:SBIN, SBIN, NSE, INR, 0.05, 1, Asia/Kolkata, 720.10, 880.00, 50000\n",
        encoding="utf-8",
    )
    [sbin] = read_csv(path)
    assert sbin.price_band == PriceBand(lower=Decimal("720.10"), upper=Decimal("880.00"))
    assert sbin.freeze_quantity == 50000


def test_toml_gives_the_same_instrument(tmp_path: Path) -> None:
    path = tmp_path / "instruments.toml"
    path.write_text(
        '[instruments."NSE:INFY"]\nsymbol = "INFY"\nexchange = "NSE"\ncurrency = "INR"\n'
        'tick_size = 0.05\nlot_size = 1\ntime_zone = "Asia/Kolkata"\ncalendar = "NSE"\n',
        encoding="utf-8",
    )
    assert list(InstrumentMaster.load(path)) == [nse()]


BAD_ROWS = [
    (
        "NSE:INFY,INFY,NSE,INR,0,1,,,,Asia/Kolkata,NSE",
        ['column tick_size: expected a decimal number > 0 like "0.05", got "0"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,abc,1,,,,Asia/Kolkata,NSE",
        ['column tick_size: expected a decimal number > 0 like "0.05", got "abc"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,1.5,,,,Asia/Kolkata,NSE",
        ['column lot_size: expected an integer >= 1, got "1.5"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,0,,,,Asia/Kolkata,NSE",
        ['column lot_size: expected an integer >= 1, got "0"'],
    ),
    (
        "NSE:INFY,INFY,NSE,rupees,0.05,1,,,,Asia/Kolkata,NSE",
        ['column currency: expected a three-letter ISO 4217 code like "INR", got "rupees"'],
    ),
    (
        "NSE:INFY,INFY,nse,INR,0.05,1,,,,Asia/Kolkata,NSE",
        ['column exchange: expected an exchange code in capitals like "NSE", got "nse"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,1,,,,Asia/Mumbai,NSE",
        ['column time_zone: expected an IANA time zone like "Asia/Kolkata", got "Asia/Mumbai"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,1,,,,Asia/Kolkata,BSE",
        [
            'column calendar: expected one of "ALWAYS", "NASDAQ", "NSE", "NYSE", got "BSE"',
        ],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,1,,,,America/New_York,NSE",
        [
            'column time_zone: expected "Asia/Kolkata", the time zone of the NSE calendar, '
            'got "America/New_York"'
        ],
    ),
    (
        "NSE:INFOSYS,INFY,NSE,INR,0.05,1,,,,Asia/Kolkata,NSE",
        ['column id: expected "NSE:INFY" (exchange:symbol of the same row), got "NSE:INFOSYS"'],
    ),
    (
        "INFY,INFY,NSE,INR,0.05,1,,,,Asia/Kolkata,NSE",
        ['column id: expected an id like "NSE:INFY", got "INFY"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,25,10,,,Asia/Kolkata,NSE",
        ['column freeze_quantity: expected an integer >= lot_size (25), or empty, got "10"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,1,,1400,,Asia/Kolkata,NSE",
        ['column band_upper: expected a price too: band_lower and band_upper go together, got ""'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,0.05,1,,1600,1400,Asia/Kolkata,NSE",
        ['column band_upper: expected a price above band_lower (1600), got "1400"'],
    ),
    (
        "NSE:INFY,INFY,NSE,INR,-1,1,,-5,,Asia/Kolkata,NSE",
        [
            'column tick_size: expected a decimal number > 0 like "0.05", got "-1"',
            'column band_lower: expected a price > 0, or empty for no band, got "-5"',
        ],
    ),
]


@pytest.mark.parametrize(("row", "problems"), BAD_ROWS)
def test_each_bad_csv_row_gets_its_exact_line(
    tmp_path: Path, row: str, problems: list[str]
) -> None:
    path = tmp_path / "instruments.csv"
    path.write_text(f"{HEADER}\n{INFY.replace('INFY', 'TCS')}\n{row}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        InstrumentMaster.load(path)
    assert caught.value.problems == [f"{path}: row 3, {p}" for p in problems]


BAD_FILES = [
    (
        HEADER + ",sector\n",
        [
            'row 1: column "sector": unknown; allowed: id, symbol, exchange, currency, '
            "tick_size, lot_size, time_zone, calendar, freeze_quantity, band_lower, band_upper"
        ],
    ),
    (
        "id,symbol,exchange,currency,tick_size,time_zone,calendar,lot_size,lot_size\n",
        ['row 1: column "lot_size": appears more than once'],
    ),
    (
        "id,symbol,exchange,currency,lot_size,time_zone\n",
        [
            'row 1: column "tick_size": missing; it is required',
            'row 1: column "calendar": missing; it is required',
        ],
    ),
    (
        "# only a comment\n",
        [
            "no header row; expected id,symbol,exchange,currency,tick_size,lot_size,time_zone,"
            "calendar,freeze_quantity,band_lower,band_upper"
        ],
    ),
    (f"{HEADER}\n{INFY}\nNSE:TCS,TCS,NSE\n", ["row 3: expected 11 cells as in the header, got 3"]),
    (
        f"{HEADER}\n{INFY}\n\n{INFY}\n",
        ['row 4, column id: duplicate id "NSE:INFY"; first on row 2'],
    ),
]


@pytest.mark.parametrize(("text", "problems"), BAD_FILES)
def test_each_bad_csv_file_gets_its_exact_lines(
    tmp_path: Path, text: str, problems: list[str]
) -> None:
    path = tmp_path / "instruments.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        InstrumentMaster.load(path)
    assert caught.value.problems == [f"{path}: {p}" for p in problems]


BAD_TOML = [
    (
        '[instruments."NSE:INFY"]\nsymbol = "INFY"\nexchange = "NSE"\ncurrency = "INR"\n'
        'tick_size = "0.05"\nlot_size = true\ntime_zone = "Asia/Kolkata"\ncalendar = "NSE"\n',
        ['instruments."NSE:INFY".lot_size: expected an integer >= 1, got true'],
    ),
    (
        '[instruments."NSE:INFY"]\nsymbol = "INFY"\nexchange = "NSE"\ncurrency = "INR"\n'
        'tick_size = "0.05"\nlot_size = 1\ntime_zone = "Asia/Kolkata"\ncalendar = "NSE"\n'
        'isin = "INE009A01021"\n',
        [
            'instruments."NSE:INFY".isin: unknown key; allowed: symbol, exchange, currency, '
            "tick_size, lot_size, time_zone, calendar, freeze_quantity, band_lower, band_upper"
        ],
    ),
    (
        '[instruments."NSE:INFY"]\nsymbol = "INFY"\nexchange = "NSE"\n',
        [
            f'instruments."NSE:INFY".{key}: missing; it is required'
            for key in ("currency", "tick_size", "lot_size", "time_zone", "calendar")
        ],
    ),
    (
        '[instruments."NSE INFY"]\nsymbol = "INFY"\nexchange = "NSE"\ncurrency = "INR"\n'
        'tick_size = "0.05"\nlot_size = 1\ntime_zone = "Asia/Kolkata"\ncalendar = "NSE"\n',
        ['instruments."NSE INFY": expected an id like "NSE:INFY", got "NSE INFY"'],
    ),
    (
        "instruments = 3\nversion = 2\n",
        [
            "version: unknown key; allowed: instruments",
            "instruments: expected a table, got 3",
        ],
    ),
]


@pytest.mark.parametrize(("text", "problems"), BAD_TOML)
def test_each_bad_toml_entry_gets_its_exact_line(
    tmp_path: Path, text: str, problems: list[str]
) -> None:
    path = tmp_path / "instruments.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        InstrumentMaster.load(path)
    assert caught.value.problems == [f"{path}: {p}" for p in problems]


def test_an_unreadable_or_unknown_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        InstrumentMaster.load(tmp_path / "missing.csv")
    assert caught.value.problems == [f"{tmp_path / 'missing.csv'}: no such file"]
    with pytest.raises(ConfigError) as caught:
        InstrumentMaster.load(tmp_path / "instruments.xlsx")
    assert caught.value.problems == [
        f"{tmp_path / 'instruments.xlsx'}: expected an instrument file ending in .csv or .toml"
    ]
