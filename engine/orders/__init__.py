"""Orders: the state machine, deterministic ids, the rate limit and the brackets' exits.

Pure code (no actor, no clock of its own): the order router (``actors/order_router.py``)
drives it. Modules:

* :mod:`~engine.orders.state`: the transition table (every event in every status);
* :mod:`~engine.orders.order`: :class:`TrackedOrder` (status, fills deduplicated by trade id,
  exact average price) and :class:`OrderView`;
* :mod:`~engine.orders.ids`: client order ids of entries and exits;
* :mod:`~engine.orders.token_bucket`: the broker's rate limit;
* :mod:`~engine.orders.bracket`, :mod:`~engine.orders.exit_slots` and
  :mod:`~engine.orders.exits`: what a bracket's position needs (stop, targets, OCO,
  trailing, time stop, market close);
* :mod:`~engine.orders.closing`: ``ClosePosition``, closing a position at market without
  ever reversing it (an exit signal, the kill switch, the square-off);
* :mod:`~engine.orders.config`: :class:`RouterConfig`;
* :mod:`~engine.orders.describe`: ``DescribeOrders``, ``OrdersReport``, ``RouterAnswer``;
* :mod:`~engine.orders.rebuild`: the book taken back from the journal after a restart
  (:class:`~engine.orders.rebuild.RouterRebuild`), and :mod:`~engine.orders.reconcile`: the
  comparison with the venue's book (import them from their modules: the journal's reader
  imports :mod:`~engine.orders.rebuild`).
"""

from engine.orders.bracket import Bracket, BracketCommand, bracket_problems
from engine.orders.config import RateLimit, RetryPolicy, RouterConfig
from engine.orders.describe import (
    DescribeOrders,
    OrdersReport,
    ReconcileNow,
    RouterAnswer,
    RouterCounts,
    SettlementReport,
)
from engine.orders.ids import ExitRole, entry_order_id, exit_order_id, target_role
from engine.orders.order import FillResult, OrderView, TrackedOrder
from engine.orders.state import LIVE, TERMINAL, WORKING, OrderEventKind, fill_kept, next_status
from engine.orders.token_bucket import TokenBucket

__all__ = [
    "LIVE",
    "TERMINAL",
    "WORKING",
    "Bracket",
    "BracketCommand",
    "DescribeOrders",
    "ExitRole",
    "FillResult",
    "OrderEventKind",
    "OrderView",
    "OrdersReport",
    "RateLimit",
    "ReconcileNow",
    "RetryPolicy",
    "RouterAnswer",
    "RouterConfig",
    "RouterCounts",
    "SettlementReport",
    "TokenBucket",
    "TrackedOrder",
    "bracket_problems",
    "entry_order_id",
    "exit_order_id",
    "fill_kept",
    "next_status",
    "target_role",
]
