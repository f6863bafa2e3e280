"""The message catalogue: completeness, JSON round trips, immutability, naming and schema."""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
import orjson
import pytest

from engine.messages import (
    CATALOGUE,
    Bar,
    Command,
    Event,
    MarketData,
    Message,
    OrderFilled,
    OrderSide,
    OrderType,
    QuoteTick,
    Report,
    SubmitOrder,
    TradeTick,
    account,
    base,
    catalogue,
    decode,
    encode,
    feed,
    journal,
    json_schema,
    market,
    naming_problems,
    orders,
    ranking,
    reconciliation,
    risk,
    runtime,
    strategy,
    trading,
)

M = TypeVar("M", bound=Message)

ROOTS: frozenset[type[Message]] = frozenset({Message, Command, Event, Report, MarketData})

# Field values a class's own checks require; everything else the builder invents.
SHAPES: dict[type[Message], dict[str, Any]] = {
    # STOP_LIMIT uses both price fields, so the builder's Decimals are all exercised.
    SubmitOrder: {"order_type": OrderType.STOP_LIMIT},
}


def _value(info: mi.Type, name: str, counter: Iterator[int]) -> Any:
    """A value of the described type that is unlike any default, distinct per field."""
    n = next(counter)
    if isinstance(info, mi.IntType):
        return 1_704_167_100_000_000_000 + n
    if isinstance(info, mi.FloatType):
        return n + 0.1  # not exactly representable: a lossy float encoding would show
    if isinstance(info, mi.StrType):
        return f"{name}-{n}"
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.DecimalType):
        return Decimal(f"{n}.0500")  # trailing zero: the exact digits must survive
    if isinstance(info, mi.EnumType):
        members: list[enum.Enum] = list(info.cls)
        return members[-1]
    if isinstance(info, mi.UnionType):
        # The non-None arm exercises more of the encoding than the None default.
        arm = next(t for t in info.types if not isinstance(t, mi.NoneType))
        return _value(arm, name, counter)
    if isinstance(info, mi.DictType):
        return {f"{name}-key": _value(info.value_type, name, counter)}
    if isinstance(info, mi.ListType):
        return [_value(info.item_type, name, counter)]
    if isinstance(info, mi.StructType):
        return _struct(info, counter, {})
    if isinstance(info, mi.AnyType):
        return f"{name}-{n}"  # free-form JSON (a strategy's parameters): a string will do
    raise AssertionError(f"the builder cannot make a {info!r} for field {name!r}; teach it")


def _struct(info: mi.StructType, counter: Iterator[int], overrides: dict[str, Any]) -> Any:
    values = {
        field.name: overrides[field.name]
        if field.name in overrides
        else _value(field.type, field.name, counter)
        for field in info.fields
    }
    return info.cls(**values)


def build(cls: type[M], **overrides: Any) -> M:
    """An instance of ``cls`` with every field, optional ones included, set to a fresh value."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    instance: M = _struct(info, itertools.count(1), {**SHAPES.get(cls, {}), **overrides})
    return instance


def _declared_messages(module: ModuleType) -> set[type[Message]]:
    return {
        value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Message)
        and value.__module__ == module.__name__
        and not name.startswith("_")
        and value not in ROOTS
    }


# --- The catalogue ---------------------------------------------------------------------------


def test_catalogue_lists_every_concrete_message_once() -> None:
    # Arrange
    declared = set().union(
        *(
            _declared_messages(m)
            for m in (
                base,
                runtime,
                market,
                feed,
                ranking,
                trading,
                orders,
                account,
                risk,
                strategy,
                reconciliation,
                journal,
            )
        )
    )

    # Act
    listed = list(CATALOGUE)

    # Assert
    assert len(listed) == len(set(listed))
    assert set(listed) == declared


@pytest.mark.parametrize("cls", CATALOGUE, ids=lambda cls: cls.__name__)
def test_round_trips_through_json_byte_identically(cls: type[Message]) -> None:
    # Arrange
    message = build(cls)

    # Act
    data = encode(message)
    decoded = decode(data)

    # Assert
    assert type(decoded) is cls
    assert decoded == message
    assert encode(decoded) == data
    assert json.loads(data)["type"] == cls.__name__


@pytest.mark.parametrize("cls", CATALOGUE, ids=lambda cls: cls.__name__)
def test_messages_are_frozen(cls: type[Message]) -> None:
    message = build(cls)

    with pytest.raises(AttributeError):
        message.ts_init = 0  # type: ignore[misc]


@pytest.mark.parametrize("cls", CATALOGUE, ids=lambda cls: cls.__name__)
def test_messages_refuse_positional_arguments(cls: type[Message]) -> None:
    with pytest.raises(TypeError):
        cls(1, 2)  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", CATALOGUE, ids=lambda cls: cls.__name__)
def test_every_message_carries_integer_timestamps(cls: type[Message]) -> None:
    # Arrange
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)

    # Act
    types = {field.name: field.type for field in info.fields}
    message = build(cls)

    # Assert
    assert isinstance(types["ts_event"], mi.IntType)
    assert isinstance(types["ts_init"], mi.IntType)
    assert type(message.ts_event) is int
    assert type(message.ts_init) is int


def test_decode_refuses_an_unknown_type_naming_it() -> None:
    with pytest.raises(msgspec.ValidationError, match="NotAMessage"):
        decode(b'{"type": "NotAMessage", "ts_event": 1, "ts_init": 1}')


# --- Naming ----------------------------------------------------------------------------------


def test_catalogue_follows_the_naming_rule() -> None:
    assert naming_problems() == []


def test_naming_rule_flags_each_kind_of_bad_name() -> None:
    # Arrange
    class OrdersFlattened(Command, frozen=True, kw_only=True):
        pass

    class OrderStateReport(Command, frozen=True, kw_only=True):
        pass

    class OrderFill(Event, frozen=True, kw_only=True):
        pass

    class OrderState(Report, frozen=True, kw_only=True):
        pass

    class Depth(MarketData, frozen=True, kw_only=True):
        pass

    # Act
    problems = naming_problems([OrdersFlattened, OrderStateReport, OrderFill, OrderState, Depth])

    # Assert
    assert len(problems) == 4
    for name in ("OrdersFlattened", "OrderStateReport", "OrderFill", "OrderState"):
        assert any(problem.startswith(name) for problem in problems), name


def test_naming_exceptions_are_not_stale() -> None:
    # Every excused name is in the catalogue and really breaks the rule; otherwise
    # naming_problems() above would report it.
    names = {cls.__name__ for cls in CATALOGUE}
    assert set(catalogue.NAMING_EXCEPTIONS) <= names


# --- Schema ----------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_json_schema_covers_the_catalogue_and_serialises() -> None:
    # Act
    schema = json_schema()
    text = orjson.dumps(schema)

    # Assert
    assert json.loads(text) == schema
    defs = schema["$defs"]
    assert [entry["$ref"] for entry in schema["oneOf"]] == [
        f"#/$defs/{cls.__name__}" for cls in CATALOGUE
    ]
    for cls in CATALOGUE:
        assert defs[cls.__name__]["properties"]["type"] == {"enum": [cls.__name__]}
        assert "type" in defs[cls.__name__]["required"]
    for ref in _refs(schema):
        assert ref.removeprefix("#/$defs/") in defs, ref


# --- Money and market data -------------------------------------------------------------------


def test_decimal_money_survives_a_round_trip_exactly() -> None:
    # Arrange: amounts a float cannot hold exactly.
    fill = build(
        OrderFilled,
        last_price=Decimal("2450.05"),
        fee=Decimal("0.1") + Decimal("0.2"),
        side=OrderSide.BUY,
    )

    # Act
    data = encode(fill)
    decoded = decode(data)

    # Assert
    assert b'"last_price":"2450.05"' in data
    assert b'"fee":"0.3"' in data
    assert isinstance(decoded, OrderFilled)
    assert decoded.fee == Decimal("0.3")
    assert str(decoded.last_price) == "2450.05"


@pytest.mark.parametrize("cls", [TradeTick, QuoteTick], ids=lambda cls: cls.__name__)
def test_ticks_conflate_per_kind_and_instrument(cls: type[MarketData]) -> None:
    # Arrange
    first = build(cls, instrument="NSE:RELIANCE")
    newer = build(cls, instrument="NSE:RELIANCE", ts_event=first.ts_event + 1)
    other = build(cls, instrument="NSE:INFY")

    # Act / Assert
    assert first.conflation_key() == (cls, "NSE:RELIANCE")
    assert newer.conflation_key() == first.conflation_key()
    assert other.conflation_key() != first.conflation_key()


def test_bars_conflate_per_instrument_and_interval() -> None:
    # A pending 5m bar must survive a newer 1m bar of the same instrument.
    one_minute = build(Bar, instrument="NSE:RELIANCE", interval="1m")
    five_minute = build(Bar, instrument="NSE:RELIANCE", interval="5m")

    assert one_minute.conflation_key() == (Bar, "NSE:RELIANCE", "1m")
    assert five_minute.conflation_key() != one_minute.conflation_key()


# --- Order shape checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"quantity": 0}, "quantity 0"),
        ({"order_type": OrderType.LIMIT, "price": None, "trigger_price": None}, "needs price"),
        ({"order_type": OrderType.MARKET, "trigger_price": None}, "takes no price"),
        ({"order_type": OrderType.STOP_MARKET, "price": None, "trigger_price": None}, "trigger"),
    ],
)
def test_submit_order_refuses_impossible_shapes(overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        build(SubmitOrder, **overrides)


def test_decoding_an_impossible_order_names_the_problem() -> None:
    # Arrange
    good = msgspec.json.decode(encode(build(SubmitOrder)))
    bad = msgspec.json.encode({**good, "quantity": -5})

    # Act / Assert
    with pytest.raises(msgspec.ValidationError, match="quantity -5"):
        decode(bad)
