"""The configuration schema: every key, its type, its limits and its documented default.

The descriptions here are the documentation: ``troupe new-config`` writes them as comments,
``check-config`` and ``GET /api/v1/config`` print the effective values, and the JSON Schema
(`msgspec.json.schema(TroupeConfig)`) carries them too. Unknown keys are rejected.

Secrets (the API token, broker credentials) are not part of this schema on purpose: they come
only from the environment or a secrets file (see :mod:`engine.config.secrets`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.risk.limits import RiskLimits
from engine.runtime_config import RuntimeConfig


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A table of the configuration file."""


class WebConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The control API and live view (aiohttp)."""

    host: Annotated[
        str,
        Meta(
            description="Address to listen on. Anything but loopback is logged as a warning: "
            "the API can pause and halt trading."
        ),
    ] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535, description="TCP port of the API.")] = 8080
    cors_origins: Annotated[
        list[str],
        Meta(description="Origins allowed to call the API from a browser; empty: CORS closed."),
    ] = msgspec.field(default_factory=list)
    mutations_per_minute: Annotated[
        int,
        Meta(
            ge=1,
            description="Rate limit per client on the control commands: pause, resume, "
            "halt, flatten and strategies/reload (orders have their own, orders_per_minute).",
        ),
    ] = 30
    orders_per_minute: Annotated[
        int,
        Meta(
            ge=1,
            description="Rate limit per client on manual orders and cancels (POST orders, "
            "DELETE orders/{id}); risk.max_orders_per_s still paces the entries sent.",
        ),
    ] = 600
    token_file: Annotated[
        str,
        Meta(
            description="Where the generated API token is kept (mode 0600) when "
            "TROUPE_API_TOKEN is not set; relative to data_dir."
        ),
    ] = "api_token"
    ws_requires_token: Annotated[
        bool,
        Meta(
            description="Require the token (?token=...) on the WebSocket too. The live view "
            "is read-only; turn this on when binding beyond loopback."
        ),
    ] = False
    ws_queue: Annotated[
        int,
        Meta(
            ge=10,
            description="Messages a WebSocket client may have waiting before it is cut off "
            "(market data is conflated first; order events and alerts never dropped).",
        ),
    ] = 2000
    ws_flush_ms: Annotated[
        int,
        Meta(ge=1, le=1000, description="How often the live view crosses into the web loop."),
    ] = 50
    ws_heartbeat_s: Annotated[
        float, Meta(gt=0, description="WebSocket ping interval; a silent client is closed.")
    ] = 20.0


class LogConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Structured logs: readable lines on the console, JSON lines in a rotating file."""

    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        Meta(description="The lowest level written."),
    ] = "info"
    file: Annotated[
        str,
        Meta(description="JSON-lines log file, relative to data_dir; empty: no file."),
    ] = "logs/troupe.jsonl"
    max_bytes: Annotated[
        int, Meta(ge=1024, description="Size at which the log file is rotated.")
    ] = 20_000_000
    backups: Annotated[int, Meta(ge=0, description="Rotated log files kept.")] = 5
    console: Annotated[bool, Meta(description="Also write readable lines to stderr.")] = True


class ShutdownConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Stopping on SIGINT or SIGTERM."""

    timeout_s: Annotated[
        float,
        Meta(
            gt=0,
            description="The whole shutdown must finish within this; past it the process "
            "exits with status 4. A second signal exits at once with status 130.",
        ),
    ] = 30.0


class SimMarketConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The synthetic market (adapters/sim): seeded, around the clock by default."""

    seed: Annotated[int, Meta(description="Seed of the price paths and trade times.")] = 7
    ticks_per_second: Annotated[
        float, Meta(gt=0, description="Ticks per second over all instruments, on average.")
    ] = 20.0
    open: Annotated[str, Meta(description='Session open, local "HH:MM" ("00:00": midnight).')] = (
        "00:00"
    )
    close: Annotated[str, Meta(description='Session close, local "HH:MM" ("24:00": midnight).')] = (
        "24:00"
    )
    tz: Annotated[str, Meta(description="Time zone of open and close.")] = "UTC"


class ReplayConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Historical data from a CSV file (adapters/replay)."""

    file: Annotated[
        str,
        Meta(
            description="CSV of bars (Date,Open,High,Low,Close[,Adj Close],Volume or "
            "Date,Time,Open,...) or ticks (ts,price,size)."
        ),
    ] = ""
    instrument: Annotated[str, Meta(description="The instrument the file holds.")] = ""
    tz: Annotated[str, Meta(description="Time zone of timestamps that carry none.")] = "UTC"
    speed: Annotated[
        float,
        Meta(ge=0, description="1 = real time, 60 = a minute a second, 0 = as fast as possible."),
    ] = 60.0
    interval: Annotated[
        str, Meta(description='With source = "store": the stored bar interval to replay.')
    ] = "1m"


class MarketConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where prices come from and which instruments are traded."""

    source: Annotated[
        Literal["sim", "replay", "store"],
        Meta(
            description="sim: the synthetic market; replay: a CSV file; store: candles kept "
            "in the database (both paced by [market.replay])."
        ),
    ] = "sim"
    instruments: Annotated[
        list[str],
        Meta(description="Instrument ids to subscribe (from the instrument master)."),
    ] = msgspec.field(
        default_factory=lambda: ["NSE:RELIANCE", "NSE:INFY", "NSE:TCS", "NSE:HDFCBANK", "NSE:SBIN"]
    )
    instruments_file: Annotated[
        str, Meta(description="Instrument master, CSV or TOML; empty: config/instruments.csv.")
    ] = ""
    calendar_dir: Annotated[
        str,
        Meta(description="A folder of calendar files overriding the shipped ones; empty: none."),
    ] = ""
    stale_after: Annotated[
        float,
        Meta(
            gt=0,
            description="An instrument is stale after this many expected intervals of "
            "silence while its market is open.",
        ),
    ] = 5.0
    sim: SimMarketConfig = msgspec.field(default_factory=SimMarketConfig)
    replay: ReplayConfig = msgspec.field(default_factory=ReplayConfig)


class BarsConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Bars built from trades, published on bars:<instrument>."""

    intervals: Annotated[
        list[str], Meta(description="Time bar intervals: 1s 5s 15s 30s 1m 3m 5m 15m 30m 1h 1d.")
    ] = msgspec.field(default_factory=lambda: ["5s", "1m", "5m"])
    align: Annotated[
        Literal["epoch", "session"],
        Meta(
            description="epoch: bars start on whole UTC units (1m at :00 seconds); session: "
            "at the instrument's session open (09:15 IST for NSE), whatever the day."
        ),
    ] = "epoch"
    empty: Annotated[
        Literal["skip", "flat"],
        Meta(description="An interval without trades: no bar, or a flat bar at the last close."),
    ] = "skip"
    close_delay_ms: Annotated[
        int,
        Meta(ge=0, description="A quiet instrument's bar closes this long after its end."),
    ] = 250


class StoreConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The database (SQLite by default) where candles are kept."""

    url: Annotated[
        str,
        Meta(description="SQLAlchemy async URL; empty: sqlite+aiosqlite:///<data_dir>/troupe.db."),
    ] = ""
    record_bars: Annotated[bool, Meta(description="Store every closed bar.")] = True
    batch_size: Annotated[int, Meta(ge=1, description="Bars written per batch.")] = 500
    flush_ms: Annotated[
        int, Meta(ge=1, description="A partial batch is written after this long.")
    ] = 1000


class StrategyConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One strategy run on each of a list of instruments (a [[strategies]] entry)."""

    use: Annotated[
        str,
        Meta(
            min_length=1,
            description='A built-in strategy ("sma_cross"; see troupe list-strategies) or '
            'your own class as "package.module:ClassName".',
        ),
    ]
    id: Annotated[
        str,
        Meta(
            description="The name its signals and actors carry; empty: the strategy's name. "
            "Two entries of the same strategy need different ids.",
        ),
    ] = ""
    instruments: Annotated[
        list[str], Meta(description="Instruments to run it on; empty: every market instrument.")
    ] = msgspec.field(default_factory=list)
    interval: Annotated[str, Meta(description="The bar interval it decides on.")] = "1m"
    params: Annotated[
        dict[str, Any],
        Meta(description="The strategy's parameters; absent ones take their defaults."),
    ] = msgspec.field(default_factory=dict)


def _default_strategies() -> list[StrategyConfig]:
    # 5-second bars: the embedded default (synthetic market, paper) shows signals, orders and
    # fills within a minute of `make run`; real configurations use their own.
    return [StrategyConfig(use="sma_cross", interval="5s", params={"fast": 3, "slow": 8})]


class RankerConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ranker: each scan cycle, the live signals scored and the best passed on."""

    cycle: Annotated[
        Literal["bar", "timer", "signal"],
        Meta(
            description="bar: a cycle when bars close; timer: every cycle_s seconds; signal: "
            "a cycle on each signal (tick-driven strategies)."
        ),
    ] = "bar"
    cycle_s: Annotated[float, Meta(gt=0, description="Seconds between timer cycles.")] = 60.0
    top_n: Annotated[int, Meta(ge=1, description="Intents passed on per cycle, at most.")] = 3
    min_score: Annotated[
        float, Meta(description="Signals scoring below this are not passed on (-inf: none).")
    ] = -math.inf
    weights: Annotated[
        dict[str, float],
        Meta(description="Weight of each feature's cross-sectional z-score in the score."),
    ] = msgspec.field(default_factory=lambda: {"strength": 1.0})
    penalties: Annotated[
        dict[str, float],
        Meta(
            description="Weight of each penalty (spread, liquidity, correlation, held), "
            "each >= 0; absent: 0."
        ),
    ] = msgspec.field(default_factory=dict)


class PaperConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The paper broker: fills from the market data it sees; its own book in its own file."""

    fill_on: Annotated[
        Literal["tick", "bar"],
        Meta(description="tick: market orders fill at the next trade; bar: at the next open."),
    ] = "tick"
    starting_cash: Annotated[float, Meta(gt=0, description="Cash at the first start.")] = (
        1_000_000.0
    )
    currency: Annotated[str, Meta(description="ISO 4217 code of the account.")] = "INR"
    fees: Annotated[
        Literal["zero", "per_share", "percentage", "indian_equity_intraday"],
        Meta(description="The fee model (rates of indian_equity_intraday: config/fees)."),
    ] = "indian_equity_intraday"
    fee_rate: Annotated[
        float,
        Meta(ge=0, description="per_share: per unit; percentage: percent of the notional."),
    ] = 0.0
    slippage_bps: Annotated[float, Meta(ge=0, description="Against the trader, in bps.")] = 0.0
    participation: Annotated[
        float,
        Meta(ge=0, le=1, description="At most this share of a trade's volume fills (0: all)."),
    ] = 0.0
    file: Annotated[str, Meta(description="Its book, inside data_dir.")] = "paper_broker.db"


class LedgerConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ledger: positions, cash and P&L (start cash and currency: [paper])."""

    mark_interval_ms: Annotated[
        int, Meta(ge=0, description="Account updates from price marks at most this often.")
    ] = 1000
    time_zone: Annotated[str, Meta(description="Where the trading day ends (midnight).")] = (
        "Asia/Kolkata"
    )


class RouterSettings(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The order router: the broker's rate limit and retries after a transport error."""

    orders_per_s: Annotated[float, Meta(gt=0, description="Broker requests a second.")] = 10.0
    burst: Annotated[int, Meta(ge=1, description="Requests back to back after a pause.")] = 10
    max_resends: Annotated[
        int,
        Meta(ge=0, description="Re-sends of an order the broker says it never got."),
    ] = 3


class JournalConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The journal: every order, event, fill, signal, ranking and denial, written ahead."""

    max_delay_ms: Annotated[
        float, Meta(ge=0, description="A record waits at most this long for its transaction.")
    ] = 2.0
    max_batch: Annotated[int, Meta(ge=1, description="Records per transaction, at most.")] = 500
    stall_after_s: Annotated[
        float,
        Meta(
            gt=0,
            description="The journal cannot write once a record has waited this long (or a "
            "transaction failed): /health is not ready and JournalHealthChanged goes out on "
            "journal and alerts until it writes again.",
        ),
    ] = 5.0


class TroupeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration of one engine process."""

    mode: Annotated[
        Literal["paper", "live", "backtest"],
        Meta(
            description="paper: live clock, simulated market, paper broker. live: real "
            "broker, refused unless TROUPE_SAFE_MODE=off and credentials are present. "
            "backtest: simulated runtime over history."
        ),
    ] = "paper"
    data_dir: Annotated[
        str, Meta(description="Where the engine keeps its files (token, logs, journal).")
    ] = "var"
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    web: WebConfig = msgspec.field(default_factory=WebConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    shutdown: ShutdownConfig = msgspec.field(default_factory=ShutdownConfig)
    market: MarketConfig = msgspec.field(default_factory=MarketConfig)
    bars: BarsConfig = msgspec.field(default_factory=BarsConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    strategies: Annotated[
        list[StrategyConfig],
        Meta(description="The strategies to run ([[strategies]] tables)."),
    ] = msgspec.field(default_factory=_default_strategies)
    ranker: RankerConfig = msgspec.field(default_factory=RankerConfig)
    risk: RiskLimits = msgspec.field(default_factory=RiskLimits)
    paper: PaperConfig = msgspec.field(default_factory=PaperConfig)
    ledger: LedgerConfig = msgspec.field(default_factory=LedgerConfig)
    router: RouterSettings = msgspec.field(default_factory=RouterSettings)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
