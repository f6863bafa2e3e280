"""The schema of a backtest configuration file (``troupe backtest -c FILE``): every key, its
type, its limits and its default.

A file has one ``[backtest]`` table (money, dates, the rules of the run), a ``[[data]]`` table
per instrument, ``[[strategies]]`` entries exactly as the service's, and optionally
``[ranker]`` and ``[risk]`` as in the service (applied over the backtest's own defaults, see
:func:`troupe.backtest_config.load_backtest_config`). Unknown keys are refused. TOML has
no null, so an optional key is one left out (``None`` here).

These Structs only describe what may be written; the loader checks the rules across keys (a
strategy's instruments among the data's, ``from`` before ``to``, files that exist) and builds
the :class:`~engine.backtest.plan.BacktestPlan`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
import msgspec.inspect as mi
from msgspec import Meta

from engine.config.load import check, describe, dotted
from engine.config.schema import RankerConfig, StrategyConfig
from engine.risk.limits import RiskLimits, decimal_of

FeeModelName = Literal["zero", "per_share", "percentage", "indian_equity_intraday"]
"""The names of :data:`engine.fees.config.FEE_MODELS` (a test keeps the two equal)."""

BACKTEST_TOP_N = 1_000_000
"""The ranker's ``top_n`` in a backtest unless ``[ranker]`` says otherwise: every signal
passes, so the result is the strategies' own, not a cut of them."""


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A table of the backtest file."""


class FeesTable(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[backtest.fees]``: the fee model charging the paper broker's fills
    (:class:`engine.fees.config.FeeConfig`; numbers here, exact decimals there)."""

    model: Annotated[
        FeeModelName,
        Meta(
            description="zero: no charges; per_share: rate per unit; percentage: rate % of "
            "the traded value; indian_equity_intraday: the NSE intraday rate table."
        ),
    ] = "zero"
    rate: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        Meta(description="per_share: currency per unit; percentage: percent of the value."),
    ] = None
    minimum: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        Meta(description="per_share and percentage: the least charged per order."),
    ] = None
    maximum: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        Meta(description="per_share and percentage: the most charged per order."),
    ] = None
    table: Annotated[
        str | None,
        Meta(
            description="indian_equity_intraday: a rate file of your own, relative to this "
            "file's folder; absent: the shipped config/fees/india_equity_intraday.toml."
        ),
    ] = None


class BacktestTable(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[backtest]``: the money, the dates and the rules of the run."""

    cash: Annotated[
        float,
        Meta(gt=0, description="Start cash, in currency, to its minor unit (paise, cents)."),
    ]
    currency: Annotated[str, Meta(description="ISO 4217 code of the account.")] = "INR"
    timezone: Annotated[
        str,
        Meta(
            description="IANA time zone: where the report shows times, where the trading day "
            "ends, and the default of each [[data]] file's."
        ),
    ] = "UTC"
    start: Annotated[
        str | None,
        Meta(
            description='First trading day used, inclusive ("2024-01-01"); absent: the first bar.'
        ),
    ] = msgspec.field(default=None, name="from")
    end: Annotated[
        str | None,
        Meta(description='Last trading day used, inclusive ("2024-06-30"); absent: the last bar.'),
    ] = msgspec.field(default=None, name="to")
    calendar: Annotated[
        str | None,
        Meta(
            description="A market calendar (NSE, NYSE, NASDAQ, ALWAYS): sessions, holidays "
            "and square-off from it; absent: every bar of the files is inside the session."
        ),
    ] = None
    square_off: Annotated[
        bool,
        Meta(
            description="true: positions are closed at the calendar's square-off time "
            "([risk] square_off); false: they stay open overnight."
        ),
    ] = True
    risk: Annotated[
        Literal["on", "off"],
        Meta(description="off: every risk check off but available cash."),
    ] = "on"
    qty: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description='Units per entry: [risk] sizing = "fixed_qty" with this quantity.'),
    ] = None
    stop_loss_pct: Annotated[
        Annotated[float, Meta(gt=0, lt=100)] | None,
        Meta(description="Each entry's protective stop this % from its fill ([risk])."),
    ] = None
    out: Annotated[
        str | None,
        Meta(
            description="Folder for the report, relative to this file's folder; "
            "troupe backtest --out overrides it."
        ),
    ] = None
    seed: Annotated[int, Meta(description="Seed of the simulated runtime.")] = 0
    fees: FeesTable = msgspec.field(default_factory=FeesTable)


class DataTable(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A ``[[data]]`` table: one instrument's bars."""

    instrument: Annotated[
        str,
        Meta(description='The id the bars are for, "EXCHANGE:SYMBOL" ("NSE:INFY"); unique.'),
    ]
    file: Annotated[
        str,
        Meta(
            description="CSV of bars (Date,Open,High,Low,Close[,Adj Close],Volume or "
            "Date,Time,Open,...), relative to this file's folder."
        ),
    ]
    timezone: Annotated[
        str | None,
        Meta(description="Time zone of the file's dates and times; absent: backtest.timezone."),
    ] = None
    tick_size: Annotated[float, Meta(gt=0, description="The price increment.")] = 0.01
    lot_size: Annotated[int, Meta(ge=1, description="Units per lot.")] = 1


class BacktestFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole backtest configuration file."""

    backtest: Annotated[
        BacktestTable,
        Meta(description="The [backtest] table: at least its cash."),
    ]
    data: Annotated[
        list[DataTable],
        Meta(description="The instruments' bars ([[data]] tables), at least one."),
    ] = msgspec.field(default_factory=list)
    strategies: Annotated[
        list[StrategyConfig],
        Meta(
            description="The strategies ([[strategies]] entries, as the service's), at least "
            "one; empty instruments: every [[data]] instrument; interval left out: the "
            "interval of its data's bars."
        ),
    ] = msgspec.field(default_factory=list)
    ranker: Annotated[
        RankerConfig,
        Meta(description=f"As the service's [ranker], but top_n = {BACKTEST_TOP_N} by default."),
    ] = msgspec.field(default_factory=lambda: RankerConfig(top_n=BACKTEST_TOP_N))
    risk: Annotated[
        RiskLimits,
        Meta(
            description="As the service's [risk], over the backtest defaults: sizing = "
            '"fixed_qty", bracket_exits = false, entry_timeout_s = 0, trading_day_tz = '
            "backtest.timezone."
        ),
    ] = msgspec.field(default_factory=RiskLimits)


# -- checking a document against the schema ---------------------------------------------------

Key = tuple[str | int, ...]
T = TypeVar("T", bound=msgspec.Struct)

# check() ends each table with msgspec's own conversion, which names only the first missing
# field and not as a key path; schema_problems reports every missing field itself instead.
_MISSING_LINE = re.compile(r": Object missing required field `[^`]*`$")


def schema_problems(document: dict[str, Any], where: str) -> list[str]:
    """Every problem of ``document`` against :class:`BacktestFile` (types, limits, unknown
    and missing keys), one line each, ``where`` (the file) first."""
    kind = _type_info(BacktestFile)
    found = [
        line for line in check(document, kind, (), {(): where}) if not _MISSING_LINE.search(line)
    ]
    missing = [
        f"{where}: {dotted(key)}: missing: expected {describe(field)}{_about(field)}"
        for key, field in _missing(document, kind, ())
    ]
    return found + missing


def exact(number: float) -> Decimal:
    """A configured number as the exact decimal it was written as (``0.05`` is ``0.05``, not
    its binary expansion), a whole one without a fraction (``100000``, not ``100000.0``)."""
    value = decimal_of(number)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def dates_as_text(document: dict[str, Any]) -> dict[str, Any]:
    """``from = 2024-01-01`` written as a TOML date (or a date and time, which the loader
    then refuses as not a date) as the text the schema takes."""
    backtest = document.get("backtest")
    if not isinstance(backtest, dict):
        return document
    text = {
        k: v.isoformat() if k in ("from", "to") and isinstance(v, dt.date | dt.time) else v
        for k, v in backtest.items()
    }
    return {**document, "backtest": text}


@dataclass(frozen=True)
class Lenient(Generic[T]):
    """A table read despite its problems, so the checks of its other keys still run."""

    value: T
    bad: frozenset[str]
    """Keys with a problem already reported: unknown ones, and those whose value in ``value``
    is a stand-in (the default, or any valid value for a required key) no check may judge."""


def read_leniently(raw: Any, cls: type[T]) -> Lenient[T] | None:
    """``raw`` as ``cls`` with each key that does not fit the schema set aside; ``None`` when
    ``raw`` is not a table or what remains breaks a rule across keys (reported by
    :func:`schema_problems` either way)."""
    if not isinstance(raw, dict):
        return None
    kept: dict[str, Any] = {}
    bad: set[str] = set()
    for field in _type_info(cls).fields:
        name = field.encode_name
        if name in raw and not check(raw[name], field.type, (), {}):
            kept[name] = raw[name]
        elif name in raw or field.required:
            bad.add(name)
            if field.required:
                stand_in = _stand_in(field.type)
                if stand_in is None:
                    return None
                kept[name] = stand_in
    bad.update(set(raw) - {field.encode_name for field in _type_info(cls).fields})  # unknown
    try:
        return Lenient(msgspec.convert(kept, cls), frozenset(bad))
    except msgspec.ValidationError:
        return None


def _missing(value: Any, kind: mi.Type, key: Key) -> Iterator[tuple[Key, mi.Type]]:
    """The required keys absent from ``value`` and its tables, with their types."""
    if isinstance(kind, mi.Metadata):
        kind = kind.type
    if isinstance(kind, mi.StructType) and isinstance(value, dict):
        for field in kind.fields:
            here = (*key, field.encode_name)
            if field.encode_name in value:
                yield from _missing(value[field.encode_name], field.type, here)
            elif field.required:
                yield here, field.type
    elif isinstance(kind, mi.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _missing(item, kind.item_type, (*key, index))


def _about(kind: mi.Type) -> str:
    if isinstance(kind, mi.Metadata) and kind.extra_json_schema:
        description = str(kind.extra_json_schema.get("description", "")).rstrip(".")
        if description:
            return f" ({description})"
    return ""


def _stand_in(kind: mi.Type) -> Any:
    """Any value ``kind`` accepts (``None`` if there is no simple one)."""
    if isinstance(kind, mi.Metadata):
        kind = kind.type
    if isinstance(kind, mi.StrType):
        return "?" * (kind.min_length or 0)
    if isinstance(kind, mi.IntType | mi.FloatType):
        return kind.ge if kind.ge is not None else (kind.gt + 1 if kind.gt is not None else 0)
    if isinstance(kind, mi.BoolType):
        return False
    return None


@functools.cache
def _type_info(cls: type[msgspec.Struct]) -> mi.StructType:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info
