"""The paper broker: a simulated venue behind the ExecutionClient port, with its own book.

- :mod:`adapters.paper.broker`: :class:`PaperBroker`, the venue (what it answers, latency,
  bar mode, resuming after a crash);
- :mod:`adapters.paper.config`: :class:`PaperBrokerConfig`, its settings and defaults;
- :mod:`adapters.paper.matching`: the fill rules, tick and bar mode;
- :mod:`adapters.paper.admission`: the checks an order passes (funds, session, freeze);
- :mod:`adapters.paper.book`: cash, positions and buying power;
- :mod:`adapters.paper.store`: the book's own database tables;
- :mod:`adapters.paper.sessions`: :func:`calendar_hooks`, the session hooks from the
  instruments' market calendars.
"""

from adapters.paper.broker import OPERATIONS, PaperBroker, SessionClose
from adapters.paper.config import DEFAULT_DATABASE_URL, PaperBrokerConfig
from adapters.paper.sessions import calendar_hooks

__all__ = [
    "DEFAULT_DATABASE_URL",
    "OPERATIONS",
    "PaperBroker",
    "PaperBrokerConfig",
    "SessionClose",
    "calendar_hooks",
]
