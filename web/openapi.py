"""The OpenAPI 3.1 document of ``/api/v1``, generated from the msgspec types of
:mod:`web.models` (``msgspec.json.schema_components``), never written by hand.

What is declared here is only the part the types cannot say: which path answers with which
type under which status, and which paths need the bearer token. Served at
``GET /api/v1/openapi.json`` without a token (the contract is no secret; tools fetch it first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from engine.messages.runtime import ActorsReport
from web.models import (
    DEFAULT_LIMIT,
    MAX_CURVE_TAIL,
    MAX_LIMIT,
    MAX_NAME_LENGTH,
    MAX_NS,
    MAX_ORDER_ID_LENGTH,
    CancelRequested,
    CommandRequest,
    ErrorEnvelope,
    ErrorFrame,
    FillsReport,
    FlattenReport,
    HealthReport,
    ManualOrderRequest,
    OrderBlotter,
    OrderPlaced,
    Ping,
    PongFrame,
    PositionsReport,
    RankingsReport,
    ReloadReport,
    ReloadRequest,
    RiskStatus,
    SignalsReport,
    SnapshotFrame,
    StateReport,
    StrategiesReport,
    Subscribe,
    TradesReport,
    Unsubscribe,
    UpdateFrame,
    VersionReport,
)

REF = "#/components/schemas/{name}"
SECURITY_SCHEME = "bearerAuth"

# The WebSocket protocol is not an HTTP operation; its frames are listed as components so
# that client generators and readers find them in the same document.
_WS_TYPES: tuple[type, ...] = (
    Subscribe,
    Unsubscribe,
    Ping,
    SnapshotFrame,
    UpdateFrame,
    PongFrame,
    ErrorFrame,
)

_ERRORS: dict[int, str] = {
    400: "The body is not JSON or does not fit the request type, or a query parameter is "
    "out of bounds (details.field names it); an order for an instrument not in the master is "
    "unknown_instrument (details.known lists the known ones); a URL or header over the "
    "server's limit is too_long.",
    401: "No bearer token, or not the API token.",
    404: "No such order (code unknown_order).",
    409: "A conflict with an order: it has ended, nothing to cancel (code order_ended), or "
    "an order already sent has this client_order_id and differs from this one "
    "(client_order_id_reused; details.placed is that order). A refused order does not take "
    "its id.",
    422: "Risk refused the order (code risk_denied); details hold the RiskDenied: its code "
    "(max_notional, lot_size, trading_halted, ...), message and the figures that failed.",
    429: "Too many changes from this client; see Retry-After.",
    500: "A bug: the server failed (logged with its traceback).",
    503: "The engine is shutting down (code shutting_down), cannot take commands, runs no "
    "trading core (no_trading_core), or the journal cannot record the command.",
    504: "An actor (or the journal) did not answer in time.",
}


@dataclass(frozen=True)
class Param:
    """A query or path parameter: what the types of :mod:`web.models` cannot say."""

    name: str
    schema: dict[str, Any]
    description: str
    where: str = "query"
    required: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "description": self.description,
            "schema": self.schema,
        }


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    ok: type | None
    """The 200 body type; None for a free-form JSON object."""
    public: bool = False
    body: type | None = None
    errors: tuple[int, ...] = ()
    extra: dict[int, str] = field(default_factory=dict)
    """Other statuses answered with the ``ok`` type (health's 503)."""
    params: tuple[Param, ...] = ()
    body_required: bool = False
    body_text: str = "Optional; an empty body means no reason given."


LIMIT = Param(
    "limit",
    {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "At most this many, newest first.",
)
SINCE = Param(
    "since",
    {"type": "integer", "minimum": 0, "maximum": MAX_NS},
    "Only those at or after this time, ns since the epoch, UTC.",
)
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
INSTRUMENT = Param("instrument", _NAME, "Only this instrument's (NSE:INFY).")
STRATEGY = Param("strategy", _NAME, "Only this strategy's.")
ORDER_STATUSES: tuple[str, ...] = (
    "open",
    "all",
    "new",
    "submitted",
    "accepted",
    "partially_filled",
    "filled",
    "canceled",
    "rejected",
    "expired",
)
STATUS = Param(
    "status",
    {"type": "string", "enum": list(ORDER_STATUSES), "default": "all"},
    "open: orders that may still fill (new, submitted, accepted, partially filled); all; "
    "or one status.",
)
CURVE = Param(
    "curve",
    {"type": "integer", "minimum": 0, "maximum": MAX_CURVE_TAIL, "default": 100},
    "How many of the latest equity points to include.",
)
ORDER_ID = Param(
    "client_order_id",
    {"type": "string", "minLength": 1, "maxLength": MAX_ORDER_ID_LENGTH},
    "The order's client order id.",
    where="path",
)


_COMMAND_ERRORS = (400, 401, 429, 500, 503, 504)
_READ_ERRORS = (400, 401, 500, 503, 504)
_JOURNAL_QUERY = (LIMIT, SINCE, INSTRUMENT, STRATEGY)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/api/v1/health",
        "health",
        "Liveness and readiness (no token needed)",
        HealthReport,
        public=True,
        errors=(500,),
        extra={503: "Not ready: the same body, with the problems listed."},
    ),
    Operation(
        "get", "/api/v1/version", "version", "The engine version", VersionReport, errors=(401, 500)
    ),
    Operation(
        "get",
        "/api/v1/state",
        "state",
        "Mode, trading state and uptime",
        StateReport,
        errors=(401, 500),
    ),
    Operation(
        "get",
        "/api/v1/actors",
        "actors",
        "The supervision tree with every actor's figures",
        ActorsReport,
        errors=(401, 500),
    ),
    Operation(
        "get",
        "/api/v1/config",
        "config",
        "The effective configuration, secrets redacted",
        None,
        errors=(401, 500),
    ),
    Operation(
        "post",
        "/api/v1/pause",
        "pause",
        "Stop opening positions (trading state REDUCING)",
        StateReport,
        body=CommandRequest,
        errors=_COMMAND_ERRORS,
    ),
    Operation(
        "post",
        "/api/v1/resume",
        "resume",
        "Trade normally again (trading state ACTIVE)",
        StateReport,
        body=CommandRequest,
        errors=_COMMAND_ERRORS,
    ),
    Operation(
        "post",
        "/api/v1/halt",
        "halt",
        "Send no new orders at all (trading state HALTED)",
        StateReport,
        body=CommandRequest,
        errors=_COMMAND_ERRORS,
    ),
    Operation(
        "get",
        "/api/v1/strategies",
        "strategies",
        "The running strategies, one per (strategy, instrument)",
        StrategiesReport,
        errors=(401, 500, 503),
    ),
    Operation(
        "post",
        "/api/v1/strategies/reload",
        "reload_strategies",
        "Reload strategy parameters or the set of strategies without a restart; applied at "
        "each strategy's next bar; refused whole (400 reload_refused) if anything is wrong",
        ReloadReport,
        body=ReloadRequest,
        errors=_COMMAND_ERRORS,
    ),
    # -- the trading core ------------------------------------------------------------------
    Operation(
        "get",
        "/api/v1/positions",
        "positions",
        "The ledger's positions, account and latest equity points",
        PositionsReport,
        errors=_READ_ERRORS,
        params=(CURVE,),
    ),
    Operation(
        "get",
        "/api/v1/orders",
        "orders",
        "The router's orders as they stand, and the journal's recent orders",
        OrderBlotter,
        errors=_READ_ERRORS,
        params=(STATUS, LIMIT, SINCE, INSTRUMENT, STRATEGY),
    ),
    Operation(
        "get",
        "/api/v1/trades",
        "trades",
        "Round trips (entry to exit) made by the journal's fills; since= should be the start "
        "of a trading day, when the book is flat",
        TradesReport,
        errors=_READ_ERRORS,
        params=_JOURNAL_QUERY,
    ),
    Operation(
        "get",
        "/api/v1/fills",
        "fills",
        "The journal's fills",
        FillsReport,
        errors=_READ_ERRORS,
        params=_JOURNAL_QUERY,
    ),
    Operation(
        "get",
        "/api/v1/signals",
        "signals",
        "The strategies' signals, from the journal",
        SignalsReport,
        errors=_READ_ERRORS,
        params=_JOURNAL_QUERY,
    ),
    Operation(
        "get",
        "/api/v1/rankings",
        "rankings",
        "The ranker's scan cycles with every candidate's score, from the journal",
        RankingsReport,
        errors=_READ_ERRORS,
        params=(LIMIT, SINCE),
    ),
    Operation(
        "get",
        "/api/v1/risk",
        "risk",
        "Risk limits, how much of each is used, the trading state and the recent denials",
        RiskStatus,
        errors=(401, 500, 503, 504),
    ),
    Operation(
        "post",
        "/api/v1/flatten",
        "flatten",
        "Kill switch: cancel every open order, close every position at market and halt "
        "(trading state HALTED); recorded in the journal first",
        FlattenReport,
        body=CommandRequest,
        errors=_COMMAND_ERRORS,
    ),
    Operation(
        "post",
        "/api/v1/orders",
        "place_order",
        "A manual order, through the same risk checks as a strategy's; recorded in the "
        "journal first; a refusal is 422 risk_denied with risk's code and figures",
        OrderPlaced,
        body=ManualOrderRequest,
        errors=(400, 401, 409, 422, 429, 500, 503, 504),
        body_required=True,
        body_text="The order.",
    ),
    Operation(
        "delete",
        "/api/v1/orders/{client_order_id}",
        "cancel_order",
        "Cancel a working order; recorded in the journal first; OrderCanceled follows on the "
        "orders topic",
        CancelRequested,
        errors=(401, 404, 409, 429, 500, 503, 504),
        params=(ORDER_ID,),
    ),
)

DESCRIPTION = """\
Control API of a troupe engine. JSON in and out; every error is
`{"error": {"code", "message", "details"}}` with a 4xx status for anything the client got
wrong. Every endpoint needs `Authorization: Bearer <token>` except `health`, this document and
the WebSocket.

The live view is the WebSocket `GET /api/v1/ws` (not an HTTP operation, so not listed as a
path): send `Subscribe`, `Unsubscribe` or `Ping`; receive `SnapshotFrame` once per topic, then
`UpdateFrame`s whose `seq` rises by exactly 1 per topic, `PongFrame` and `ErrorFrame`. A client
too slow to take order events is closed with code 4000 and the reason
"too slow: resubscribe to resync".
"""


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document as builtins, ready for ``msgspec.json.encode``."""
    types: list[Any] = [ErrorEnvelope]
    for op in OPERATIONS:
        types.extend(t for t in (op.ok, op.body) if t is not None and t not in types)
    types.extend(_WS_TYPES)
    refs, components = msgspec.json.schema_components(types, ref_template=REF)
    ref_of = {t: ref for t, ref in zip(types, refs, strict=True)}
    error_ref = ref_of[ErrorEnvelope]

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        ok_schema = ref_of[op.ok] if op.ok is not None else {"type": "object"}
        responses: dict[str, Any] = {"200": {"description": "OK", "content": _json(ok_schema)}}
        for status, text in op.extra.items():
            responses[str(status)] = {"description": text, "content": _json(ok_schema)}
        for status in op.errors:
            responses[str(status)] = {"description": _ERRORS[status], "content": _json(error_ref)}
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "responses": responses,
        }
        if op.public:
            operation["security"] = []
        if op.params:
            operation["parameters"] = [param.document() for param in op.params]
        if op.body is not None:
            operation["requestBody"] = {
                "required": op.body_required,
                "description": op.body_text,
                "content": _json(ref_of[op.body]),
            }
        paths.setdefault(op.path, {})[op.method] = operation

    paths["/api/v1/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document (no token needed)",
            "security": [],
            "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "troupe control API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The API token: TROUPE_API_TOKEN, or the generated token "
                    "file (mode 0600) printed once on first start.",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }
