"""The crash suite's trader: manual orders through ``POST /api/v1/orders`` at a steady rate.

The n-th order is a function of the seed and n alone (:func:`manual_order`): its id
``<prefix><n>`` (:func:`manual_prefix`), instrument, side (buys and sells), type (market, or a
limit a little either side of the last stored close), and units. So the ids tell which were
sent, and a rerun with the same seed asks for the same orders.

The flow runs on its own thread across incarnations. An order that got no answer (the engine
was down, or killed while answering) is sent again with the same id once the API answers:
the engine must answer it as it did the first time, and never place it twice. Every attempt is
written, one JSON line each, to the run's ``manual_orders.jsonl``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.crash_engine import Api, ApiDownError

__all__ = ["ManualOrder", "ManualOrderFlow", "manual_order", "manual_prefix"]

LIMIT_SHARE = 0.4
LIMIT_SPREAD = 0.003
"""A limit is placed up to this fraction either side of the last close."""
MAX_UNITS = 10


def manual_prefix(seed: int) -> str:
    """The start of every manual order id of the run seeded ``seed`` (no ``:``, so no id of
    the engine's shapes can be mistaken for one)."""
    return f"crash-{seed}-"


@dataclass(frozen=True, slots=True)
class ManualOrder:
    n: int
    client_order_id: str
    instrument: str
    side: str
    order_type: str
    quantity: int
    offset: float
    """A limit's price is the last close times ``1 + offset``."""

    def body(self, last_close: float | None) -> dict[str, Any]:
        """The ``POST orders`` body; a limit without a known price goes at market."""
        body: dict[str, Any] = {
            "client_order_id": self.client_order_id,
            "instrument": self.instrument,
            "side": self.side,
            "quantity": self.quantity,
            "order_type": "MARKET",
        }
        if self.order_type == "LIMIT" and last_close:
            body["order_type"] = "LIMIT"
            body["price"] = f"{last_close * (1 + self.offset):.2f}"
        return body


def manual_order(seed: int, n: int, instruments: Sequence[str]) -> ManualOrder:
    """The run's ``n``-th manual order; the same for the same ``seed`` and ``n``."""
    rng = random.Random(seed * 1_000_003 + n)
    return ManualOrder(
        n=n,
        client_order_id=f"{manual_prefix(seed)}{n:06d}",
        instrument=rng.choice(list(instruments)),
        side=rng.choice(("BUY", "SELL")),
        order_type="LIMIT" if rng.random() < LIMIT_SHARE else "MARKET",
        quantity=rng.randint(1, MAX_UNITS),
        offset=rng.uniform(-LIMIT_SPREAD, LIMIT_SPREAD),
    )


class ManualOrderFlow:
    """Sends :func:`manual_order` 0, 1, 2 ... at ``per_s`` a second while :meth:`start`-ed,
    from a daemon thread; ``prices()`` gives the last closes for limits."""

    def __init__(
        self,
        api: Api,
        *,
        seed: int,
        instruments: Sequence[str],
        per_s: float,
        prices: Callable[[], dict[str, float]],
        log_path: Path,
    ) -> None:
        self.api = api
        self.seed = seed
        self.instruments = tuple(instruments)
        self.period_s = 1.0 / per_s if per_s > 0 else 0.0
        self.prices = prices
        self.log_path = log_path
        self.outcomes: Counter[str] = Counter()
        """``accepted`` (200), ``refused`` (422), ``http_<status>``, ``no_answer``."""
        self.sent_ids: set[str] = set()
        self.resent_same_id = 0
        self.next_n = 0
        self._run = threading.Event()
        self._quit = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="crash-manual-orders", daemon=True)
        self._thread.start()

    def start(self) -> None:
        if self.period_s > 0:
            self._run.set()

    def pause(self) -> None:
        """Stop sending; an order in flight finishes first (bounded by its timeout)."""
        self._run.clear()
        with self._lock:
            pass

    def close(self) -> None:
        self._quit.set()
        self._run.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            due = time.monotonic()
            while not self._quit.is_set():
                if not self._run.wait(timeout=0.2):
                    due = time.monotonic()
                    continue
                if self._quit.is_set():
                    return
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                due = max(due + self.period_s, time.monotonic())
                with self._lock:
                    if self._run.is_set() and not self._quit.is_set():
                        self._send_next(log)

    def _send_next(self, log: Any) -> None:
        order = manual_order(self.seed, self.next_n, self.instruments)
        body = order.body(self.prices().get(order.instrument))
        if order.client_order_id in self.sent_ids:
            self.resent_same_id += 1
        self.sent_ids.add(order.client_order_id)
        sent_ns = time.time_ns()
        try:
            status, answer = self.api.call("POST", "orders", body, timeout_s=5.0)
        except ApiDownError as error:
            outcome, detail = "no_answer", str(error)
        else:
            outcome = {200: "accepted", 422: "refused"}.get(status, f"http_{status}")
            detail = _short(answer)
            self.next_n += 1
        self.outcomes[outcome] += 1
        record = {"n": order.n, "id": order.client_order_id, "sent_ns": sent_ns}
        log.write(json.dumps({**record, "body": body, "outcome": outcome, "detail": detail}))
        log.write("\n")
        log.flush()


def _short(answer: Any) -> Any:
    if isinstance(answer, dict) and "error" in answer:
        error = answer["error"]
        details = error.get("details") or {}
        return {"code": error.get("code"), "risk_code": details.get("code")}
    if isinstance(answer, dict) and "order" in answer:
        return {"status": "placed"}
    return answer
