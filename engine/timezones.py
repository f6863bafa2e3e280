"""Exchange time zones: converting between engine time and an exchange's wall clock.

Inside the engine a time is an ``int`` of nanoseconds since the Unix epoch, UTC (DESIGN §6).
Exchanges open, close and square off by their local wall clock, which for US markets moves
with daylight saving time. These helpers convert between the two and refuse wall-clock times
that do not name exactly one instant: a time skipped by a spring-forward gap, or repeated by a
fall-back fold.

``datetime`` carries microseconds, so converting ns to a ``datetime`` drops the last three
digits (rounding towards the past); converting back is exact.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NSE_TZ = "Asia/Kolkata"
"""National Stock Exchange of India (and BSE): IST, UTC+05:30, no daylight saving."""
NYSE_TZ = "America/New_York"
"""New York Stock Exchange and Nasdaq: US Eastern, with daylight saving."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1_000
_NS_PER_S = 1_000_000_000


@functools.cache
def _zone(tz: str) -> ZoneInfo:
    # ZoneInfo keeps its own weak cache; a strong one here keeps the few exchange zones loaded.
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(
            f"unknown time zone {tz!r}: expected an IANA name such as {NSE_TZ!r} or {NYSE_TZ!r}"
        ) from error


def _to_ns(moment: datetime) -> int:
    # Integer arithmetic on the timedelta: going through a float timestamp would lose ns.
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * _NS_PER_US


def to_exchange_time(ts_ns: int, tz: str) -> datetime:
    """The exchange's wall-clock time at ``ts_ns`` (ns since the epoch, UTC), as an aware
    ``datetime`` in ``tz``, truncated to the microsecond.

    Raises ``ValueError`` if ``tz`` is not a known time zone.
    """
    zone = _zone(tz)
    seconds, rest_ns = divmod(ts_ns, _NS_PER_S)
    utc = _EPOCH + timedelta(seconds=seconds, microseconds=rest_ns // _NS_PER_US)
    return utc.astimezone(zone)


def from_exchange_time(local: datetime | str, tz: str) -> int:
    """The instant, in ns since the epoch UTC, of a wall-clock time at the exchange.

    ``local`` is a naive ``datetime`` or an ISO 8601 string, read as wall-clock time in ``tz``.
    An aware value (or a string with an offset, as :func:`iso` writes) is accepted only if its
    offset is the one ``tz`` has at that instant.

    Raises ``ValueError`` naming the value if ``tz`` is unknown, the string is not ISO 8601,
    the time does not exist in ``tz`` (skipped by a daylight-saving gap), it is ambiguous
    (repeated by a daylight-saving fold), or its offset disagrees with ``tz``.
    """
    zone = _zone(tz)
    if isinstance(local, str):
        try:
            parsed = datetime.fromisoformat(local)
        except ValueError as error:
            raise ValueError(f"{local!r} is not an ISO 8601 date-time") from error
    else:
        parsed = local
    if parsed.tzinfo is not None:
        return _from_aware(parsed, zone, tz)

    earlier = parsed.replace(tzinfo=zone, fold=0)
    later = parsed.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        # zoneinfo maps a wall time in a gap to an instant whose wall time differs; a wall time
        # in a fold maps back to itself under both folds.
        if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
            raise ValueError(
                f"{parsed.isoformat()} does not exist in {tz}: "
                "the clocks skip it when daylight saving starts"
            )
        raise ValueError(
            f"{parsed.isoformat()} is ambiguous in {tz}: "
            "the clocks show it twice when daylight saving ends"
        )
    return _to_ns(earlier)


def _from_aware(moment: datetime, zone: ZoneInfo, tz: str) -> int:
    expected = moment.astimezone(zone).utcoffset()
    if moment.utcoffset() != expected:
        raise ValueError(
            f"{moment.isoformat()} has offset {moment.utcoffset()}, "
            f"but {tz} is at {expected} at that instant"
        )
    return _to_ns(moment)


def exchange_date(ts_ns: int, tz: str) -> date:
    """The exchange's calendar date at ``ts_ns`` (ns since the epoch, UTC).

    Raises ``ValueError`` if ``tz`` is not a known time zone.
    """
    return to_exchange_time(ts_ns, tz).date()


def at_local_time(day: date, hh_mm: str | time, tz: str) -> int:
    """The instant, in ns since the epoch UTC, when the exchange's clock shows ``hh_mm`` on
    ``day``; for example the 15:15 IST square-off.

    ``hh_mm`` is a naive ``time`` or a string ``"HH:MM"`` (``"HH:MM:SS"`` also accepted).

    Raises ``ValueError`` naming the value if ``hh_mm`` is malformed or carries a time zone,
    if ``tz`` is unknown, or if the time is skipped or repeated that day by daylight saving.
    """
    if isinstance(hh_mm, str):
        try:
            wall = time.fromisoformat(hh_mm)
        except ValueError as error:
            raise ValueError(f"{hh_mm!r} is not a time of day like '15:15'") from error
    else:
        wall = hh_mm
    if wall.tzinfo is not None:
        raise ValueError(f"{wall.isoformat()} carries a time zone; give the wall-clock time")
    return from_exchange_time(datetime.combine(day, wall), tz)


def iso(ts_ns: int, tz: str) -> str:
    """``ts_ns`` (ns since the epoch, UTC) as ISO 8601 wall-clock time in ``tz`` with its UTC
    offset, for example ``"2024-01-02T09:15:00+05:30"``; microsecond precision at most.

    Raises ``ValueError`` if ``tz`` is not a known time zone.
    """
    return to_exchange_time(ts_ns, tz).isoformat()
