"""Why a trade closed, read from the client order id of the fill that closed it.

The engine's order ids are deterministic (DESIGN §5) and name their origin, so the reason
needs no other record. The shapes:

============================================  =================  ==============================
client order id of the closing order          exit reason        made by
============================================  =================  ==============================
``<entry>:stop``                              ``stop``           the router: a bracket's exits
``<entry>:trail``                             ``trailing_stop``  (``exit_order_id``, see
``<entry>:target``, ``:target2``, ...         ``target``         :mod:`engine.orders.ids`);
``<entry>:time``                              ``time_stop``      ``<entry>`` is the entry's id,
``<entry>:flat``                              ``stop``           ``<correlation>:entry``
``<correlation>:exit``, ``:exit:2``, ...      ``signal``         the risk supervisor, for an
                                                                 intent against a position
``square-off:<ns>:<instrument>`` (``:2``...)  ``square_off``     the risk supervisor's own
``flatten:<ns>:<instrument>`` (``:2``...)     ``kill_switch``    (``closing_orders`` in
                                                                 :mod:`engine.risk.orders`)
``<correlation>:entry`` (``:entry:2``...)     ``signal``         an entry going through flat
anything else                                 ``other``          not the engine: a guard
============================================  =================  ==============================

A role's n-th order adds ``.n`` and keeps the role: ``<entry>:stop.2`` is ``stop``.
``<entry>:stop`` is the protective stop however its price was set: the signal's
(``ExitPlan.stop``) or ``stop_loss_pct`` from the entry's fill (``ExitPlan.stop_pct``).
``<entry>:flat`` is the market order that closes a position whose protective stop was lost
(rejected or canceled by the venue): the stop's job done at market, so it counts as ``stop``.
The supervisor's own ids are recognised first, by their tag and integer time
(``flatten:<digits>:``), so an instrument whose symbol happens to read ``stop`` cannot make a
kill switch look like a stop.

:data:`EXIT_REASONS` is the issue's closed list; ``other`` is only a guard for ids the engine
does not make, and no id the engine makes maps to it.
"""

from __future__ import annotations

import re
from typing import Final

from engine.orders.ids import ExitRole, parse_exit_id

__all__ = ["EXIT_REASONS", "OTHER", "exit_reason"]

EXIT_REASONS: Final = (
    "signal",
    "stop",
    "target",
    "trailing_stop",
    "time_stop",
    "square_off",
    "kill_switch",
)
"""Every reason an engine-made closing order can give."""

OTHER: Final = "other"
"""The reason of an id none of the engine's shapes reads as."""

_SUPERVISOR = re.compile(r"^(?P<tag>square-off|flatten):[0-9]+:.+$")
_SUPERVISOR_REASONS = {"square-off": "square_off", "flatten": "kill_switch"}
_SIGNAL = re.compile(r"^.+:(?:exit|entry)(?::[1-9][0-9]*)?$")
_ROLE_REASONS = {
    ExitRole.STOP.value: "stop",
    ExitRole.TRAIL.value: "trailing_stop",
    ExitRole.TIME.value: "time_stop",
    ExitRole.FLAT.value: "stop",
}


def exit_reason(client_order_id: str) -> str:
    """The exit reason (one of :data:`EXIT_REASONS`, else :data:`OTHER`) of a trade closed by
    the order ``client_order_id`` (module docstring for the shapes)."""
    supervisor = _SUPERVISOR.match(client_order_id)
    if supervisor is not None:
        return _SUPERVISOR_REASONS[supervisor.group("tag")]
    parsed = parse_exit_id(client_order_id)
    if parsed is not None:
        role = parsed[1]
        return "target" if role.startswith(ExitRole.TARGET.value) else _ROLE_REASONS[role]
    if _SIGNAL.match(client_order_id):
        return "signal"
    return OTHER
