"""The roots of the message catalogue.

Every message is a frozen, keyword-only msgspec ``Struct`` that carries two timestamps in
integer nanoseconds since the Unix epoch, UTC:

* ``ts_event``: when the thing happened (exchange time for market data, decision time for a
  command);
* ``ts_init``: when this process created the object.

Naming follows the catalogue's rule: commands are imperative (``SubmitOrder``), events are past
tense (``OrderFilled``), venue data are reports (``OrderStatusReport``).

Each message kind also declares how a mailbox treats it when the mailbox is full
(:class:`Overflow`): market data is conflated to the latest value per key; everything else is
never dropped and pushes back on its sender instead.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import msgspec


class Overflow(enum.Enum):
    """What a full mailbox does with one more message of a kind."""

    BACKPRESSURE = "backpressure"
    """Never dropped: a sender outside the runtime waits for room; an actor's send is admitted
    over the bound (blocking an executor thread could deadlock the actor graph) and counted."""

    CONFLATE = "conflate"
    """Latest value wins: a pending message with the same conflation key is replaced."""

    OF_CONTENT = "of_content"
    """A wrapper (``Published``) that takes the policy of the message it carries, through
    its ``content_overflow()``."""


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True, gc=False):
    """Base of every message. Encoded to JSON with a ``"type"`` field naming the class.

    ``gc=False``: the cycle collector does not track messages. They are frozen values that
    never refer back to themselves, freed by reference counting; tracked, every one of the
    millions a busy day makes would add to each full collection's work.
    """

    ts_event: int
    ts_init: int

    overflow: ClassVar[Overflow] = Overflow.BACKPRESSURE

    def conflation_key(self) -> Any:
        """The key under which a newer message replaces an older pending one.

        Only consulted when :attr:`overflow` is :attr:`Overflow.CONFLATE`.
        """
        return type(self)


class Command(Message, frozen=True, kw_only=True):
    """An instruction to an actor (imperative name: ``SubmitOrder``)."""


class Event(Message, frozen=True, kw_only=True):
    """Something that happened (past tense: ``OrderFilled``)."""


class Report(Message, frozen=True, kw_only=True):
    """Data as a venue or a component reports it (``OrderStatusReport``)."""


class MarketData(Message, frozen=True, kw_only=True):
    """Prices from a market. Conflated per (kind, instrument) under pressure."""

    instrument: str

    overflow: ClassVar[Overflow] = Overflow.CONFLATE

    def conflation_key(self) -> Any:
        return (type(self), self.instrument)
