"""Reading the trading endpoints' input: query parameters and bodies, each refusal a 400
that names the field (``details.field``) and says what is allowed.

Query parameters are parsed strictly: an integer is ASCII digits only (no sign, no ``_``, no
other scripts' digits, which ``int()`` would take), within the bound the OpenAPI document
declares; a name (instrument, strategy) is 1 to 64 characters without spaces or controls.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import TypeVar

import msgspec
from aiohttp import web

from engine.instruments import Instrument
from engine.journal.views import OPEN_STATUSES
from engine.messages.trading import OrderStatus, OrderType
from web.errors import ApiError
from web.models import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_NAME_LENGTH,
    MAX_NS,
    MAX_PRICE,
    MAX_PRICE_PLACES,
    ManualOrderRequest,
)

T = TypeVar("T")

_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_TRIGGERED = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
_DIGITS = re.compile(r"[0-9]{1,19}")
_TEXT = re.compile(r"[^\s\x00-\x1f\x7f]+")
_NAMED_FIELD = re.compile(r"field `([^`]+)`")
_ORDER_STATUS_NAMES = {status.value.lower(): status for status in OrderStatus}


def decode_body(raw: bytes, kind: type[T], shape: str) -> T:
    """``raw`` as ``kind``; an empty body is ``kind()``. 400 naming the field otherwise."""
    if not raw.strip():
        return kind()
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        field = _field_of(str(exc))
        raise ApiError(
            400,
            "invalid_body",
            f"the body does not fit {shape}: {exc}",
            {"field": field, "reason": str(exc)},
        ) from None
    except msgspec.DecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"the body is not JSON: {exc}", {"reason": str(exc)}
        ) from None


def _field_of(problem: str) -> str:
    """The field a msgspec validation message names: ``... field `side` `` (missing or
    unknown) or ``... - at `$.price` ``; ``"body"`` for the body as a whole."""
    named = _NAMED_FIELD.search(problem)
    if named:
        return named.group(1)
    _, at, path = problem.rpartition(" - at `$.")
    return path.rstrip("`").split(".")[0].split("[")[0] if at else "body"


def check_prices(body: ManualOrderRequest) -> None:
    """What risk would refuse as malformed, refused here with the field named: a price the
    order type does not use or lacks, or one that is not a plain positive decimal."""
    kind = body.order_type
    for field, value, used in (
        ("price", body.price, kind in _PRICED),
        ("trigger_price", body.trigger_price, kind in _TRIGGERED),
    ):
        if value is None:
            if used:
                raise _bad_field(field, None, f"a {kind.value} order needs {field}")
            continue
        if not used:
            raise _bad_field(field, str(value), f"a {kind.value} order takes no {field}")
        exponent = value.as_tuple().exponent
        if (
            not value.is_finite()
            or not isinstance(exponent, int)
            or value <= 0
            or value >= MAX_PRICE
            or -exponent > MAX_PRICE_PLACES
        ):
            raise _bad_field(
                field,
                str(value),
                f"{field} must be a decimal above 0 and below {MAX_PRICE:f} with at most "
                f"{MAX_PRICE_PLACES} decimal places",
            )


KNOWN_LISTED = 50
"""At most this many known instruments are listed in an ``unknown_instrument`` refusal."""


def check_instrument(instrument: str, known: Mapping[str, Instrument] | None) -> Instrument | None:
    """The ``known`` instrument (the instrument master, by id) ``instrument`` names; else 400
    ``unknown_instrument`` naming it, with the closest ids and the known ones (the first
    :data:`KNOWN_LISTED`, sorted). ``None`` if there is nothing to check against."""
    if known is None:
        return None
    found = known.get(instrument)
    if found is not None:
        return found
    ordered = sorted(known)
    close = difflib.get_close_matches(instrument, ordered, n=3, cutoff=0.6)
    listed = ", ".join(ordered[:KNOWN_LISTED]) + (
        f" (and {len(ordered) - KNOWN_LISTED} more)" if len(ordered) > KNOWN_LISTED else ""
    )
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ApiError(
        400,
        "unknown_instrument",
        f"instrument: {instrument} is not in the instrument master; {hint}known: "
        f"{listed or 'none'}",
        {
            "field": "instrument",
            "value": instrument,
            "did_you_mean": close,
            "known": ordered[:KNOWN_LISTED],
            "known_count": len(ordered),
        },
    )


def _bad_field(field: str, value: str | None, message: str) -> ApiError:
    return ApiError(400, "invalid_body", f"{field}: {message}", {"field": field, "value": value})


def _bad_query(name: str, value: str, allowed: str) -> ApiError:
    return ApiError(
        400,
        "invalid_query",
        f"?{name}={value[:80]} is not allowed: {allowed}",
        {"field": name, "value": value[:200], "allowed": allowed},
    )


def int_param(request: web.Request, name: str, default: T, high: int) -> int | T:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or int(raw) > high:
        raise _bad_query(name, raw, f"an integer from 0 to {high}")
    return int(raw)


def text_param(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if len(raw) > MAX_NAME_LENGTH or not _TEXT.fullmatch(raw):
        raise _bad_query(name, raw, f"1 to {MAX_NAME_LENGTH} characters, no spaces")
    return raw


def status_param(request: web.Request) -> frozenset[OrderStatus] | None:
    raw = request.query.get("status")
    if raw is None or raw.lower() == "all":
        return None
    if raw.lower() == "open":
        return OPEN_STATUSES
    status = _ORDER_STATUS_NAMES.get(raw.lower())
    if status is None:
        raise _bad_query("status", raw, "open, all, " + ", ".join(_ORDER_STATUS_NAMES))
    return frozenset({status})


def journal_query(request: web.Request) -> tuple[int, int | None, str | None, str | None]:
    return (
        int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT),
        int_param(request, "since", None, MAX_NS),
        text_param(request, "instrument"),
        text_param(request, "strategy"),
    )
