"""The rebuild, property-tested (issue 12): whatever the running router did, the journal it
wrote rebuilds to the book it held, and the rebuilt book asks for no order the running one
would not have placed.

A router on the simulated runtime, a real journal (the :class:`~actors.journal.Journal` actor
over a :class:`~engine.journal.writer.JournalWriter` on a SQLite file) and a scripted venue
run a random session: brackets of two strategies entered and filled in parts, exits filled,
venue cancels, a strategy's close, cancel-alls. After every step, once everything settled
and the journal committed, the journal as it stands is read back
(:meth:`~engine.journal.reader.JournalReader.router_rebuild`) and restored
(:func:`~engine.orders.rebuild.restore_book`), the venue confirms what it holds, and:

* the orders not ended are the running router's, with the same fills;
* every bracket the running router still manages is restored, released or not as it is,
  with the same units filled and open; one it is done with is not taken up again;
* no restored bracket asks for anything (a new exit, a modify, a cancel): the running
  router, settled, asks for nothing either;
* the positions are the running router's.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.journal import Journal
from actors.order_router import OrderRouter
from actors.order_router_memory import RouterMemory
from engine.backoff import Backoff
from engine.journal.reader import JournalReader
from engine.journal.records import JournalMode
from engine.journal.writer import JournalWriter
from engine.messages.orders import CancelAllOrders, ClosePosition, ExitPlan, SubmitBracket
from engine.messages.trading import OrderSide, OrderStatus, OrderType, SubmitOrder
from engine.orders import RateLimit, RetryPolicy, RouterConfig
from engine.orders.rebuild import RestoredBook, restore_book
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.store import Database
from engine.testing import SECOND, Driver
from tests.venue_support import ScriptedVenue

INFY = "NSE:INFY"
START_NS = 1_795_000_000 * SECOND
CONFIG = RouterConfig(
    retry=RetryPolicy(
        backoff=Backoff(initial_s=0.02, multiplier=2.0, max_s=0.1, jitter=0.0, reset_after_s=60.0),
        max_resends=2,
    ),
    rate_limit=RateLimit(orders_per_s=10_000.0, burst=10_000),
)
STRATEGIES = ("sma", "rsi")

# -- a session -----------------------------------------------------------------------------------

Step = tuple[Any, ...]
steps = st.one_of(
    st.tuples(st.just("bracket"), st.sampled_from(STRATEGIES), st.integers(1, 20), st.booleans()),
    st.tuples(st.just("fill entry"), st.integers(0, 9), st.integers(1, 20)),
    st.tuples(st.just("fill exit"), st.integers(0, 9), st.sampled_from(["stop", "target"])),
    st.tuples(st.just("venue cancels"), st.integers(0, 9), st.sampled_from(["stop", "target"])),
    st.tuples(st.just("close"), st.sampled_from(STRATEGIES)),
    st.tuples(st.just("fill closes")),
    st.tuples(st.just("trader sells"), st.integers(1, 8)),
    st.tuples(st.just("trader buys"), st.integers(1, 8)),
    st.tuples(st.just("cancel all")),
)


class Session:
    def __init__(self, path: Path) -> None:
        self.runtime = SimulatedRuntime(start_ns=START_NS, seed=1)
        self.driver = Driver(self.runtime)
        self.database = Database(f"sqlite+aiosqlite:///{path}")
        self.writer = JournalWriter(self.database)
        self.venue = ScriptedVenue()
        self.memory = RouterMemory(CONFIG)
        runtime = self.driver.runtime
        self.driver.start(
            SupervisorSpec(
                "root",
                [
                    ActorSpec(
                        "journal", lambda: Journal(self.writer, mode=JournalMode.SYNCHRONOUS)
                    ),
                    ActorSpec(
                        "router",
                        lambda: OrderRouter(self.venue, runtime, config=CONFIG, memory=self.memory),
                    ),
                ],
            )
        )
        self.entries: list[str] = []
        self.closes = 0

    def close(self) -> None:
        self.driver.stop()
        self.writer.close()
        self.database.close()

    def now(self) -> int:
        return int(self.driver.runtime.now_ns())

    def apply(self, step: Step) -> None:
        kind = step[0]
        venue = self.venue
        if kind == "bracket":
            _, strategy, quantity, with_target = step
            entry_id = f"{strategy}:{INFY}:{len(self.entries)}:1"
            self.entries.append(entry_id)
            entry = SubmitOrder(
                ts_event=self.now(),
                ts_init=self.now(),
                client_order_id=entry_id,
                instrument=INFY,
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                quantity=quantity,
                strategy=strategy,
                correlation_id=entry_id,
            )
            plan = ExitPlan(
                stop=Decimal("95.00"), target=Decimal("110.00") if with_target else None
            )
            bracket = SubmitBracket(
                ts_event=self.now(), ts_init=self.now(), entry=entry, exits=plan
            )
            self.driver.runtime.ask("router", bracket)
        elif kind in ("fill entry", "fill exit", "venue cancels"):
            if not self.entries:
                return
            entry_id = self.entries[step[1] % len(self.entries)]
            order_id = entry_id if kind == "fill entry" else self._leg(entry_id, step[2])
            held = venue.order(order_id) if order_id is not None else None
            if held is None or held.status not in (
                OrderStatus.ACCEPTED,
                OrderStatus.PARTIALLY_FILLED,
            ):
                return
            left = held.quantity - held.filled
            if kind == "venue cancels":
                venue.cancel_by_venue(held.order.client_order_id)
            else:
                quantity = min(step[2], left) if kind == "fill entry" else left
                venue.fill(held.order.client_order_id, quantity, "100.00")
        elif kind == "close":
            position = self.memory.positions.get(INFY, 0)
            if position <= 0:
                return
            self.closes += 1
            exit_order = SubmitOrder(
                ts_event=self.now(),
                ts_init=self.now(),
                client_order_id=f"{step[1]}:{INFY}:close{self.closes}:exit",
                instrument=INFY,
                side=OrderSide.SELL,
                order_type=OrderType.MARKET,
                quantity=position,
                strategy=step[1],
                correlation_id=f"close{self.closes}",
            )
            close = ClosePosition(
                ts_event=self.now(),
                ts_init=self.now(),
                orders=[exit_order],
                reason=f"exit close{self.closes}",
                only_strategy=step[1],
            )
            self.driver.runtime.ask("router", close)
        elif kind in ("trader sells", "trader buys"):
            self.closes += 1
            selling = kind == "trader sells"
            if selling and self.memory.positions.get(INFY, 0) <= 0:
                return
            order = SubmitOrder(
                ts_event=self.now(),
                ts_init=self.now(),
                client_order_id=f"manual:{self.closes}",
                instrument=INFY,
                side=OrderSide.SELL if selling else OrderSide.BUY,
                order_type=OrderType.MARKET,
                quantity=step[1],
                strategy="manual",
                correlation_id=f"manual:{self.closes}",
                reduce_only=selling,
            )
            self.driver.runtime.ask("router", order)
            self.driver.settle()
            if order.client_order_id in venue.working():
                venue.fill(order.client_order_id, None, "100.00")
        elif kind == "fill closes":
            for client_order_id in venue.working():
                if client_order_id.endswith(":exit"):
                    venue.fill(client_order_id, None, "101.00")
        else:
            self.driver.runtime.ask(
                "router", CancelAllOrders(ts_event=self.now(), ts_init=self.now(), reason="all")
            )
        self.driver.settle()
        self.runtime.run(until_ns=self.now() + SECOND)  # the retries' timers, if any

    def _leg(self, entry_id: str, role: str) -> str | None:
        legs = [
            cid
            for cid, vo in self.venue.orders.items()
            if cid.startswith(f"{entry_id}:{role}")
            and vo.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        ]
        return legs[-1] if legs else None

    def rebuilt(self) -> RestoredBook:
        self.writer.flush().result(10)
        data = self.database.call(JournalReader(self.database).router_rebuild(START_NS))
        assert data.positions == {i: q for i, q in self.memory.positions.items() if q}
        return restore_book(data, lot_size=lambda _i: 1, tick_size=lambda _i: Decimal("0.01"))


def check(session: Session, book: RestoredBook) -> None:
    memory, venue = session.memory, session.venue
    live = {cid: (o.status, o.filled_qty) for cid, o in memory.orders.items() if o.live}
    restored_live = {cid: o.filled_qty for cid, o in book.orders.items() if cid in book.live}
    assert restored_live == {cid: filled for cid, (_status, filled) in live.items()}

    managed = {
        entry_id: b for entry_id, b in memory.brackets.items() if entry_id not in memory.finished
    }
    for entry_id, bracket in managed.items():
        assert entry_id in book.brackets, f"bracket {entry_id} still managed, not restored"
        again = book.brackets[entry_id]
        assert again.released == bracket.released, entry_id
        assert again.entry_filled == bracket.entry_filled, entry_id
        assert again.open_qty == bracket.open_qty, entry_id
    for entry_id, again in book.brackets.items():
        # What the venue holds of each restored exit, as its answer after the restart says.
        for cid in book.live:
            held = venue.order(cid)
            if again.owns(cid) and cid != entry_id and held is not None:
                again.confirm_leg(
                    cid, quantity=held.quantity, trigger=held.trigger_price, price=held.price
                )
                again.leg_working(cid)
        asked = again.actions(session.now())
        assert asked == [], (entry_id, [msgspec.to_builtins(a) for a in asked])
        if entry_id not in managed:
            assert again.done, f"bracket {entry_id} was done, restored as live"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(session_steps=st.lists(steps, min_size=1, max_size=14))
def test_every_journal_the_router_wrote_rebuilds_to_its_book(
    tmp_path_factory: Any, session_steps: list[Step]
) -> None:
    path = tmp_path_factory.mktemp("journal") / "troupe.db"
    session = Session(path)
    try:
        for step in session_steps:
            session.apply(step)
            check(session, session.rebuilt())
    finally:
        session.close()


def test_the_bracket_an_exit_signal_closed_is_not_taken_up_again(tmp_path: Path) -> None:
    """The example of issue 12's defect 1, as a session."""
    session = Session(tmp_path / "troupe.db")
    try:
        for step in [
            ("bracket", "sma", 10, True),
            ("fill entry", 0, 10),
            ("close", "sma"),
            ("fill closes",),
        ]:
            session.apply(step)
        assert session.memory.positions.get(INFY, 0) == 0
        book = session.rebuilt()
        assert book.brackets == {} and book.live == []
        check(session, book)
    finally:
        session.close()


def test_units_the_trader_sold_stay_given_up_after_a_restart(tmp_path: Path) -> None:
    """The crash suite: a bracket whose units a trader's sell closed took them up again after
    a restart (its open units counted from its own legs only), and placed ``stop.2`` on units
    the trader bought back later."""
    session = Session(tmp_path / "troupe.db")
    try:
        for step in [
            ("bracket", "sma", 10, True),
            ("fill entry", 0, 10),
            ("trader sells", 4),
            ("trader buys", 4),
        ]:
            session.apply(step)
        [bracket] = session.memory.brackets.values()
        assert (bracket.open_qty, bracket.closed_elsewhere) == (6, 4)
        book = session.rebuilt()
        assert book.brackets[bracket.entry_id].open_qty == 6
        check(session, book)
    finally:
        session.close()
