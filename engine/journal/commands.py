"""Commands recorded before they are acknowledged (DESIGN §7), for the web layer.

The API records a mutating command (flatten, a manual order, a cancel) and only then acts on
it and answers; if the record cannot be made, it must answer an error (503) and not act::

    await record_command(writer, command_id=request_id, kind="flatten", who=token_name,
                         body=flatten, ts_event=now_ns)
    ... act, then ...
    record_outcome_soon(writer, command_id=request_id, outcome="accepted", ts_event=now_ns)

Both run on the caller's event loop without blocking it: the wait is on the writer's future.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.journal.records import CommandOutcome, CommandRecord
from engine.journal.writer import JournalWriter


async def record_command(
    writer: JournalWriter, *, command_id: str, kind: str, who: str, body: Any, ts_event: int
) -> None:
    """Record a command and return once it is committed. Raises what the writer's future
    fails with (the command must then be refused, not acted on). Recording an id twice keeps
    the first."""
    record = CommandRecord(command_id=command_id, kind=kind, who=who, body=body, ts_event=ts_event)
    await asyncio.wrap_future(writer.append(record))


def record_outcome_soon(
    writer: JournalWriter, *, command_id: str, outcome: str, ts_event: int
) -> None:
    """Record what became of a command, without waiting (nobody acts on it: it is for the
    audit trail). A failure is logged by the writer."""
    writer.append_unanswered(
        CommandOutcome(command_id=command_id, outcome=outcome, ts_event=ts_event), lazy=False
    )
