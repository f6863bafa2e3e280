"""The market-data side of the service, built from the configuration: the instrument master,
the calendars, the data client, and the feed → bar aggregator → candle recorder actors.

Everything a user can get wrong here (an unknown instrument, a missing replay file, a bad
database URL) is found before the actors start and reported like any configuration problem.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import structlog

from actors.bar_aggregator import NAME as BAR_AGGREGATOR
from actors.bar_aggregator import BarAggregator
from actors.candle_recorder import NAME as CANDLE_RECORDER
from actors.candle_recorder import CandleRecorder
from actors.feed import Feed
from actors.feed_config import FeedConfig
from adapters.replay import CsvReplay, CsvSource, StoreReplay
from adapters.sim import SimInstrument, SimMarket, TradingHours
from engine.calendars import calendar
from engine.calendars.market_calendar import CalendarRangeError, MarketCalendar
from engine.config.load import ConfigError
from engine.config.schema import TroupeConfig
from engine.data_client import DataClient
from engine.instruments import Instrument, InstrumentMaster
from engine.messages.market import Bar
from engine.price_board import PriceBoard
from engine.runtime import Runtime
from engine.spec import ActorSpec
from engine.store import CandleStore, Database
from engine.timezones import at_local_time, exchange_date

FEED = "feed"
MS = 1_000_000

log = structlog.get_logger("troupe.market")


@dataclass
class MarketData:
    """What the service starts for market data, and what it must close after the actors."""

    specs: list[ActorSpec]
    """In start order: recorder, aggregator, feed (so the feed stops first)."""
    database: Database | None = None
    instruments: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    """The feeds' names, as their events name them (the data client's name)."""
    tick_sizes: dict[str, float] = field(default_factory=dict)
    """Instrument -> its tick size (signal prices are rounded to it)."""
    calendars: dict[str, str] = field(default_factory=dict)
    """Instrument -> the name of its market calendar."""
    master: dict[str, Instrument] = field(default_factory=dict)
    """The instruments traded, by id."""
    prices: PriceBoard = field(default_factory=PriceBoard)
    """The feed's last trade prices (the risk supervisor reads them)."""

    def close(self) -> None:
        if self.database is not None:
            self.database.close()


def default_instruments_file() -> Path:
    """``config/instruments.csv`` beside the package (a checkout), else in the working
    directory (the Docker image runs from its copy of the repository)."""
    beside = Path(__file__).resolve().parents[1] / "config" / "instruments.csv"
    return beside if beside.is_file() else Path.cwd() / "config" / "instruments.csv"


def market_data(config: TroupeConfig, runtime: Runtime) -> MarketData:
    """Build the market-data actors for ``config`` on ``runtime``.

    Raises :class:`ConfigError` listing every problem.
    """
    market = config.market
    master = InstrumentMaster.load(market.instruments_file or default_instruments_file())
    unknown = [i for i in market.instruments if i not in master]
    if unknown:
        raise ConfigError(
            [
                f"market.instruments: unknown instrument {i!r}; the master has: "
                f"{', '.join(master.ids())}"
                for i in unknown
            ]
        )
    instruments = [master[i] for i in market.instruments]
    # Always a database: the journal lives there even when bars are not recorded.
    database: Database | None = _database(config)
    client = _client(config, instruments, database)
    specs: list[ActorSpec] = []
    if config.store.record_bars and market.source != "store":
        # Replaying the store into itself would rewrite the same candles: not recorded then.
        assert database is not None
        write = _writer(database)
        specs.append(
            ActorSpec(
                CANDLE_RECORDER,
                lambda: CandleRecorder(
                    write,
                    batch_size=config.store.batch_size,
                    flush_ns=config.store.flush_ms * MS,
                    # Named topics, not "*": every tick would otherwise cross its mailbox.
                    topics=[f"bars:{i.id}" for i in instruments],
                ),
            )
        )
    intervals = list(config.bars.intervals)
    origins = (
        {
            i.id: session_origin(calendar(i.calendar, market.calendar_dir or None), i.time_zone)
            for i in instruments
        }
        if config.bars.align == "session"
        else None
    )
    specs.append(
        ActorSpec(
            BAR_AGGREGATOR,
            lambda: BarAggregator(
                {"*": intervals},
                close_delay_ns=config.bars.close_delay_ms * MS,
                empty=config.bars.empty,
                origins=origins,
            ),
        )
    )
    prices = PriceBoard()
    if database is not None:
        # Right after a restart risk needs a last price before the feed's first trade: the
        # stored candles' last closes stand until then.
        stored = CandleStore(database).last_closes([i.id for i in instruments], intervals)
        for instrument_id, close in database.call(stored).items():
            prices.update(instrument_id, close)
    feed_config = FeedConfig(
        downstream=BAR_AGGREGATOR, stale_factor=market.stale_after, price_board=prices
    )
    open_at = _market_open(config, master)
    bands = {i.id: _band(i) for i in instruments}
    specs.append(
        ActorSpec(
            FEED,
            lambda: Feed(
                client,
                runtime,
                [i.id for i in instruments],
                market_open=open_at,
                price_band=bands.get,
                config=feed_config,
            ),
        )
    )
    return MarketData(
        specs=specs,
        database=database,
        instruments=[i.id for i in instruments],
        feeds=[client.name],
        tick_sizes={i.id: float(i.tick_size) for i in instruments},
        calendars={i.id: i.calendar for i in instruments},
        master={i.id: i for i in instruments},
        prices=prices,
    )


def session_origin(market_calendar: MarketCalendar, tz: str) -> Callable[[int], int]:
    """Bars aligned to the session open: for an instant, the open of that exchange day's
    session; on a day without one (or outside the calendar's data), local midnight."""
    opens: dict[date, int] = {}

    def origin(ts_ns: int) -> int:
        day = exchange_date(ts_ns, tz)
        found = opens.get(day)
        if found is None:
            try:
                session = market_calendar.session_for(day)
            except CalendarRangeError:
                session = None
            found = opens[day] = (
                session.open_ns if session is not None else at_local_time(day, "00:00", tz)
            )
        return found

    return origin


def _client(
    config: TroupeConfig, instruments: list[Instrument], database: Database | None
) -> DataClient:
    market = config.market
    if market.source == "store":
        assert database is not None
        return StoreReplay(
            CandleStore(database),
            [i.id for i in instruments],
            market.replay.interval,
            speed=market.replay.speed or None,
        )
    if market.source == "sim":
        sim = market.sim
        return SimMarket(
            [
                SimInstrument(
                    id=i.id,
                    start_price=_start_price(i.id),
                    tick_size=float(i.tick_size),
                    lot_size=i.lot_size,
                )
                for i in instruments
            ],
            seed=sim.seed,
            ticks_per_second=sim.ticks_per_second,
            hours=TradingHours(open=sim.open, close=sim.close, tz=sim.tz),
        )
    replay = market.replay
    problems = []
    if not replay.file:
        problems.append('market.replay.file: expected a CSV path when market.source = "replay"')
    elif not Path(replay.file).is_file():
        problems.append(f"market.replay.file: no such file {replay.file!r}")
    if replay.instrument not in {i.id for i in instruments}:
        problems.append(
            f"market.replay.instrument: expected one of market.instruments, got "
            f"{replay.instrument!r}"
        )
    if problems:
        raise ConfigError(problems)
    # Replayed bars travel as bars (published on bars:<instrument> by the feed), replayed
    # ticks as ticks (aggregated into the configured bars).
    return CsvReplay(
        CsvSource(path=replay.file, instrument=replay.instrument, tz=replay.tz),
        speed=replay.speed or None,
    )


def _start_price(instrument: str) -> float:
    """A stable, plausible start price per instrument for the synthetic market."""
    return 100.0 + zlib.crc32(instrument.encode()) % 2900


def _database(config: TroupeConfig) -> Database:
    url = config.store.url or f"sqlite+aiosqlite:///{Path(config.data_dir) / 'troupe.db'}"
    try:
        database = Database(url)
        CandleStore(database)  # refuses a URL it cannot serve, before anything starts
    except (ValueError, OSError, RuntimeError) as exc:
        raise ConfigError([f"store.url: cannot open {url!r}: {exc}"]) from None
    return database


def _writer(database: Database) -> Callable[[list[Bar]], Any]:
    store = CandleStore(database)

    def write(bars: list[Bar]) -> Any:
        return database.submit(store.write_bars(bars))

    return write


def _market_open(config: TroupeConfig, master: InstrumentMaster) -> Callable[[str, int], bool]:
    """Is the instrument's market open at ts? The synthetic market keeps its own hours, around
    the clock by default; otherwise the instrument's exchange calendar decides."""
    if config.market.source == "sim":
        return lambda _instrument, _ts: True
    directory = config.market.calendar_dir or None
    calendars = {i.id: calendar(i.calendar, directory) for i in master}

    def is_open(instrument: str, ts_ns: int) -> bool:
        found = calendars.get(instrument)
        if found is None:
            return False
        try:
            return found.is_open(ts_ns)
        except CalendarRangeError:
            log.warning(
                "no calendar data for this date; treating the market as closed",
                instrument=instrument,
            )
            return False

    return is_open


def _band(instrument: Instrument) -> tuple[float, float] | None:
    band = instrument.price_band
    return None if band is None else (float(band.lower), float(band.upper))
