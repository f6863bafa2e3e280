"""The router's queue of requests to the venue, paced by the broker's rate limit.

Every request that reaches the broker's order API (a new order, a modify, a cancel) takes a
token from the bucket (:class:`~engine.orders.token_bucket.TokenBucket`); a request without a
token waits here, never dropped, and goes out when one comes (the router sets a timer for
:meth:`Outbox.next_due`). Order within the queue:

* cancels go before everything else: under a burst, taking risk off comes first;
* new orders and modifies keep their order of arrival;
* a modify of an order that already has one queued is merged into it (the newest figures win,
  the place in the queue is kept): a trailing stop moved on every tick sends one modify per
  token, not one per tick;
* a cancel drops the queued modifies of its order (they would be wasted on an order being
  canceled).

Owned by one router (kept in its :class:`~actors.order_router_memory.RouterMemory`); times
are the router's clock, ns.
"""

from __future__ import annotations

import collections

import msgspec

from engine.messages.trading import CancelOrder, ModifyOrder, SubmitOrder
from engine.orders.config import RateLimit
from engine.orders.token_bucket import TokenBucket

__all__ = ["Outbox", "VenueRequest", "merge_modifies"]

VenueRequest = SubmitOrder | ModifyOrder | CancelOrder


class Outbox:
    """Requests waiting for a token."""

    def __init__(self, limit: RateLimit) -> None:
        self.bucket = TokenBucket(limit.orders_per_s, limit.burst)
        self._cancels: collections.deque[CancelOrder] = collections.deque()
        self._others: collections.deque[SubmitOrder | ModifyOrder] = collections.deque()

    def __len__(self) -> int:
        return len(self._cancels) + len(self._others)

    def push(self, request: VenueRequest) -> None:
        if isinstance(request, CancelOrder):
            self._drop_modifies(request.client_order_id)
            self._cancels.append(request)
        elif isinstance(request, ModifyOrder):
            self._push_modify(request)
        else:
            self._others.append(request)

    def take(self, now_ns: int) -> VenueRequest | None:
        """The next request, if one waits and a token is there at ``now_ns``."""
        if not (self._cancels or self._others) or not self.bucket.try_take(now_ns):
            return None
        return self._cancels.popleft() if self._cancels else self._others.popleft()

    def next_due(self, now_ns: int) -> int | None:
        """When the next waiting request may go (``None``: nothing waits)."""
        if not (self._cancels or self._others):
            return None
        return self.bucket.available_at(now_ns)

    def withdraw(self, client_order_id: str) -> bool:
        """Take every queued request of an order out (it was canceled before it was sent);
        whether a new order of that id was among them."""
        had_submit = any(
            isinstance(r, SubmitOrder) and r.client_order_id == client_order_id
            for r in self._others
        )
        self._others = collections.deque(
            r for r in self._others if r.client_order_id != client_order_id
        )
        self._cancels = collections.deque(
            r for r in self._cancels if r.client_order_id != client_order_id
        )
        return had_submit

    def holds_submit(self, client_order_id: str) -> bool:
        return any(
            isinstance(r, SubmitOrder) and r.client_order_id == client_order_id
            for r in self._others
        )

    def _push_modify(self, modify: ModifyOrder) -> None:
        for index, queued in enumerate(self._others):
            if isinstance(queued, ModifyOrder) and queued.client_order_id == modify.client_order_id:
                self._others[index] = merge_modifies(queued, modify)
                return
        self._others.append(modify)

    def _drop_modifies(self, client_order_id: str) -> None:
        if any(
            isinstance(r, ModifyOrder) and r.client_order_id == client_order_id
            for r in self._others
        ):
            self._others = collections.deque(
                r
                for r in self._others
                if not (isinstance(r, ModifyOrder) and r.client_order_id == client_order_id)
            )


def merge_modifies(older: ModifyOrder, newer: ModifyOrder) -> ModifyOrder:
    """One modify that leaves the order as ``older`` then ``newer`` would: a modify carries
    totals and new prices, so each field is the newer one's where it gives one."""
    return msgspec.structs.replace(
        newer,
        quantity=newer.quantity if newer.quantity is not None else older.quantity,
        price=newer.price if newer.price is not None else older.price,
        trigger_price=(
            newer.trigger_price if newer.trigger_price is not None else older.trigger_price
        ),
    )
