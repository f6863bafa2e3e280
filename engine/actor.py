"""The actor API: a plain class whose handlers are chosen by message type.

An actor touches the world only through the :class:`~engine.context.Context` it is given in
:meth:`Actor.on_start`: the clock, ``send``, ``publish`` and subscriptions, timers and a bound
logger. It never reads the wall clock, sleeps, starts threads or holds another actor's object,
which is what lets the same code run under the threaded and the simulated runtime.

Example::

    class Counter(Actor):
        def on_start(self, ctx: Context) -> None:
            super().on_start(ctx)
            self.count = 0

        @handles(Tick)
        def on_tick(self, tick: Tick) -> None:
            self.count += 1

A handler's return value is the reply to an ``ask``. An exception in a handler or in
``on_start`` is a crash: the supervisor restarts the actor by policy and the message is
delivered again to the new incarnation, up to the actor's poison bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from engine.context import Context

_HANDLES_ATTR = "__troupe_handles__"

F = TypeVar("F", bound=Callable[..., Any])

Handler = Callable[[Any], Any]


def handles(*message_types: type) -> Callable[[F], F]:
    """Mark a method as the handler for the given message types (and their subclasses)."""
    if not message_types:
        raise TypeError("handles() needs at least one message type")
    for message_type in message_types:
        if not isinstance(message_type, type):
            raise TypeError(f"handles() takes classes, got {message_type!r}")

    def mark(method: F) -> F:
        setattr(method, _HANDLES_ATTR, message_types)
        return method

    return mark


class Actor:
    """Base class of every actor. Subclasses add ``@handles`` methods."""

    # message type -> method name, collected per class (and inherited).
    _handler_names: dict[type, str] = {}  # noqa: RUF012 - replaced per subclass

    ctx: Context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for message_type in getattr(value, _HANDLES_ATTR, ()):
                    names[message_type] = attr
        cls._handler_names = names

    def on_start(self, ctx: Context) -> None:
        """Called once per incarnation before any message. Keep the context."""
        self.ctx = ctx

    def on_stop(self) -> None:
        """Called when the incarnation ends: on shutdown, on a sibling's restart, after a crash.

        Release what the incarnation holds (connections, files). Exceptions are logged and
        otherwise ignored.
        """

    def handler_for(self, message_type: type) -> Handler | None:
        """The bound handler for ``message_type``, walking its MRO; ``None`` if there is none."""
        names = type(self)._handler_names
        for klass in message_type.__mro__:
            name = names.get(klass)
            if name is not None:
                handler: Handler = getattr(self, name)
                return handler
        return None
