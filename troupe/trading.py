"""The right end of the path, as the service starts it: journal, ledger, order router and risk
supervisor, trading on the paper broker.

Start order (stop is the reverse): the journal first, so it is the last to stop and records
what the others say on their way out; then the router, risk and the ledger. The ledger comes
last so that risk, already following ``positions`` and ``account``, hears the ledger announce
the positions and the account it rebuilt from the journal's fills. The paper broker is no
actor: the router drives it, and it sees the market through runtime listeners on each
instrument's ``ticks:`` and ``bars:`` topics (called on the publisher's thread; the broker
guards its own state).

After a process restart (DESIGN §7) each stateful actor rebuilds from the journal before it
takes new work: the ledger replays every recorded fill; the router takes back its orders not
ended and its brackets (:meth:`JournalReader.router_rebuild`), asks the broker about each,
compares the broker's open orders and positions with its own and publishes a
``ReconciliationReport``, refusing new entries until then; risk replays the day's order
records (:meth:`JournalReader.order_records_since`) for its counts, working orders and losing
streak.

Durability follows DESIGN §7 on the threaded runtime (``DURABLE`` journal: an order is
committed before it is sent, a fill before the ledger sees it). On the simulated runtime the
journal is ``SYNCHRONOUS`` (deterministic, still durable); backtests choose ``DEFERRED``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import msgspec

from actors.journal import Journal
from actors.ledger import Ledger
from actors.order_router import order_router_spec
from actors.risk import RiskSupervisor
from actors.trading_control import NAME as TRADING
from actors.trading_control import TradingControl
from adapters.paper.broker import PaperBroker
from adapters.paper.config import PaperBrokerConfig
from adapters.paper.sessions import calendar_hooks
from engine.calendars import AlwaysOpenCalendar
from engine.config.schema import TroupeConfig
from engine.fees import FeeModel, make_fee_model
from engine.fees.config import FeeConfig
from engine.instruments import Instrument
from engine.journal.reader import JournalReader
from engine.journal.records import JournalMode
from engine.journal.writer import JournalWriter
from engine.messages.base import Message
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.runtime import TradingStateChanged
from engine.messages.trading import OrderFilled
from engine.orders.config import RateLimit, RetryPolicy, RouterConfig
from engine.orders.rebuild import RouterRebuild
from engine.price_board import PriceBoard
from engine.runtime import Runtime
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec
from engine.store.database import Database

JOURNAL = "journal"
LEDGER = "ledger"
ROUTER = "router"
RISK = "risk"
MS = 1_000_000
DAY_NS = 86_400 * 1_000_000_000
REBUILD_LOOKBACK_NS = DAY_NS
"""Brackets recorded this long before a restart are looked at for a position left open by
their fills (those with an order not ended are restored whatever their age)."""


@dataclass
class TradingCore:
    """What the service starts for trading, and what it must close after the actors."""

    specs: list[ActorSpec]
    broker: PaperBroker
    writer: JournalWriter
    reader: JournalReader
    kept_state: TradingStateChanged | None = None
    """The journal's last trading state that persists (:func:`trading_core` starts the
    runtime in it): a halt or a pause holds across a restart until a person resumes."""
    _removers: list[Callable[[], None]] = field(default_factory=list)

    def attach(self, runtime: Runtime, instruments: list[str]) -> None:
        """Let the paper broker see each instrument's trades, quotes and bars."""
        broker = self.broker

        def on_ticks(_topic: str, message: object) -> None:
            ticks = message.ticks if isinstance(message, TickBatch) else [message]
            for tick in ticks:
                if isinstance(tick, TradeTick):
                    broker.on_trade(tick)
                elif isinstance(tick, QuoteTick):
                    broker.on_quote(tick)

        def on_bar(_topic: str, message: object) -> None:
            if isinstance(message, Bar):
                broker.on_bar(message)

        for instrument in instruments:
            self._removers.append(runtime.add_listener(f"ticks:{instrument}", on_ticks))
            self._removers.append(runtime.add_listener(f"bars:{instrument}", on_bar))

    def close(self) -> None:
        """After the actors: stop feeding the broker, flush the journal, close the broker."""
        for remove in self._removers:
            remove()
        self._removers.clear()
        self.writer.close()
        self.broker.disconnect()
        self.broker.close()


def trading_core(
    config: TroupeConfig,
    runtime: Runtime,
    database: Database,
    instruments: dict[str, Instrument],
    *,
    simulated_market: bool,
    prices: PriceBoard | None = None,
) -> TradingCore:
    """Build the trading actors on ``database`` (the engine's store, which holds the journal).
    ``simulated_market``: the synthetic market trades around the clock, so the broker and risk
    take every instrument's market as open whatever its calendar says."""
    paper = config.paper
    lookup = instruments.get
    writer = JournalWriter(
        database,
        max_delay_ns=round(config.journal.max_delay_ms * MS),
        max_batch=config.journal.max_batch,
        stall_after_ns=round(config.journal.stall_after_s * 1_000_000_000),
    )
    reader = JournalReader(database)
    kept_state = database.call(reader.trading_state())
    if kept_state is not None:
        runtime.restore_trading_state(kept_state.state)
    fees = make_fee_model(paper_fees(config), where="paper.fees")
    # One fee model for the broker and for risk: an entry risk approves, the broker takes.
    broker = paper_broker(config, lookup, simulated_market=simulated_market, fee_model=fees)
    mode = JournalMode.SYNCHRONOUS if isinstance(runtime, SimulatedRuntime) else JournalMode.DURABLE
    start_cash = Decimal(repr(paper.starting_cash))

    def replay() -> list[OrderFilled]:
        # Fills already recorded, oldest first: a restarted ledger nets them again.
        return database.call(reader.fills_since(0))

    def rebuild() -> RouterRebuild:
        # The router's orders not ended and its brackets, as recorded.
        return database.call(reader.router_rebuild(runtime.now_ns() - REBUILD_LOOKBACK_NS))

    def risk_replay(since_ns: int) -> list[Message]:
        # The day's order records: risk's counts, working orders and losing streak.
        return database.call(reader.order_records_since(since_ns))

    router_config = RouterConfig(
        journal=JOURNAL,
        rate_limit=RateLimit(orders_per_s=config.router.orders_per_s, burst=config.router.burst),
        retry=RetryPolicy(max_resends=config.router.max_resends),
    )
    calendars = None
    limits = config.risk
    if simulated_market:
        # The synthetic market trades around the clock: no exchange session, so no entry
        # cutoff and no square-off (a real market's come from its calendar and [risk]).
        calendars = {i.calendar: AlwaysOpenCalendar() for i in instruments.values()}
        limits = msgspec.structs.replace(limits, square_off={}, entry_cutoff={})
    specs = [
        ActorSpec(JOURNAL, lambda: Journal(writer, mode=mode)),
        order_router_spec(
            broker,
            runtime,
            config=router_config,
            instruments=lookup,
            name=ROUTER,
            rebuild=rebuild,
        ),
        ActorSpec(
            RISK,
            lambda: RiskSupervisor(
                limits,
                instruments,
                equity=start_cash,
                router=ROUTER,
                calendars=calendars,
                calendar_dir=config.market.calendar_dir or None,
                state=lambda: runtime.trading_state,
                # Last prices from the feed's board, not from every tick (engine/price_board.py).
                price_topics=("bars:*",) if prices is not None else ("bars:*", "ticks:*"),
                price_board=prices,
                replay=risk_replay,
                fees=fees,
            ),
        ),
        # Last: risk (and the router) already follow what it announces at its start.
        ActorSpec(
            LEDGER,
            lambda: Ledger(
                start_cash,
                paper.currency,
                mark_interval_ns=config.ledger.mark_interval_ms * MS,
                per_strategy=False,
                time_zone=config.ledger.time_zone,
                replay=replay,
            ),
        ),
    ]
    return TradingCore(
        specs=specs, broker=broker, writer=writer, reader=reader, kept_state=kept_state
    )


def trading_control(runtime: Runtime, core: TradingCore | None = None) -> ActorSpec:
    """The trading state's owner, starting in the runtime's standing state (the one
    ``core`` kept from before a restart, announced with its reason)."""
    kept = None if core is None else core.kept_state
    reason = "kept from before the restart" + ("" if kept is None else f": {kept.reason}")
    return ActorSpec(
        TRADING,
        lambda: TradingControl(
            lambda: runtime.standing_trading_state,
            kept_reason=reason,
            journal_ok=None if core is None else (lambda: core.writer.health().ok),
        ),
    )


def paper_broker(
    config: TroupeConfig,
    lookup: Callable[[str], Instrument | None],
    *,
    simulated_market: bool,
    fee_model: FeeModel | None = None,
) -> PaperBroker:
    """The paper broker ``config`` describes, on its own file in ``data_dir`` (a second one on
    the same file is the same book: what a restarted process opens). Its margin is
    ``[risk] leverage``, the one setting risk sizes entries by."""
    paper = config.paper
    fees = paper_fees(config)
    broker_config = PaperBrokerConfig(
        database_url=f"sqlite+aiosqlite:///{Path(config.data_dir) / paper.file}",
        fill_on=paper.fill_on,
        starting_cash=Decimal(repr(paper.starting_cash)),
        currency=paper.currency,
        slippage_bps=Decimal(repr(paper.slippage_bps)),
        participation=paper.participation or None,
        fees=fees,
        leverage=Decimal(repr(config.risk.leverage)),
    )
    if simulated_market:
        return PaperBroker(broker_config, instruments=lookup, fee_model=fee_model)
    market_open, session_close = calendar_hooks(
        lookup, calendar_dir=config.market.calendar_dir or None
    )
    return PaperBroker(
        broker_config,
        instruments=lookup,
        market_open=market_open,
        session_close=session_close,
        fee_model=fee_model,
    )


def paper_fees(config: TroupeConfig) -> FeeConfig:
    """The paper broker's fee settings (``[paper] fees``, ``fee_rate``)."""
    paper = config.paper
    return FeeConfig(
        model=paper.fees,
        rate=Decimal(repr(paper.fee_rate)) if paper.fees in ("per_share", "percentage") else None,
    )
