"""The paper broker with its book in memory (backtests) answers as it does with its book on
disk: the same reports, open orders, positions, fills and cash; and a broker reopened on the
same memory store resumes the book."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.paper.memory_store import MemoryPaperStore
from engine.messages.trading import OrderSide, OrderType
from tests.paper_support import INFY, SECOND, T0, Venue, order, trade


def _session(venue: Venue) -> None:
    broker, clock = venue.broker, venue.clock
    broker.on_trade(trade(99.0, T0))
    for request, price in (
        (order("buy-1", OrderSide.BUY, 10), 100.0),
        (order("sell-1", OrderSide.SELL, 4, OrderType.LIMIT, price="105.50"), 101.0),
        (order("sell-2", OrderSide.SELL, 3), 102.0),
    ):
        broker.submit(request)
        clock.advance(SECOND)
        broker.on_trade(trade(price, clock.now_ns()))
        clock.advance(SECOND)


def _answers(venue: Venue) -> dict[str, Any]:
    broker = venue.broker
    return {
        "events": [(kind, repr(payload)) for kind, payload in venue.events.records],
        "open_orders": broker.open_orders(),
        "positions": broker.positions(),
        "fills": [broker.order_fills(i) for i in ("buy-1", "sell-1", "sell-2", "nope")],
        "stored": broker.stored_fills(),
        "cash": broker.cash,
        "position": broker.position(INFY),
    }


def test_the_memory_book_answers_as_the_disk_book(tmp_path: Path) -> None:
    # Arrange: the same session on a broker with its book on disk and one with it in memory
    on_disk = Venue(tmp_path / "disk")
    in_memory = Venue(tmp_path / "memory")
    in_memory.options["store"] = MemoryPaperStore()
    in_memory.reopen()

    # Act
    _session(on_disk)
    _session(in_memory)

    # Assert: every answer equal, and the session did fill and leave an order working
    disk, memory = _answers(on_disk), _answers(in_memory)
    assert memory == disk
    assert len(disk["stored"]) == 2 and len(disk["open_orders"]) == 1
    on_disk.close()
    in_memory.close()


def test_a_broker_reopened_on_the_same_memory_store_resumes_the_book(tmp_path: Path) -> None:
    # Arrange
    venue = Venue(tmp_path)
    venue.options["store"] = MemoryPaperStore()
    venue.reopen()
    _session(venue)
    before = _answers(venue)

    # Act
    venue.reopen()

    # Assert
    after = _answers(venue)
    for key in ("open_orders", "positions", "fills", "stored", "cash", "position"):
        assert after[key] == before[key], key
    venue.close()
