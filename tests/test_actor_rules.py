"""Actors never touch threads, sleep or the wall clock: checked on the source of actors/.

This is what lets one actor class run live and in a deterministic backtest; a violation would
only show up as a backtest that a live day does not reproduce, so it is caught here instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN_MODULES = {"threading", "time", "asyncio", "multiprocessing", "concurrent", "_thread"}
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def violations(source: str, filename: str) -> list[str]:
    """Where ``source`` reaches for threads, sleeps or the wall clock."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in FORBIDDEN_CALLS
        ):
            found.append(f"{filename}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_checker_flags_what_it_should() -> None:
    bad = (
        "import time\nfrom threading import Thread\nimport datetime\n"
        "x = datetime.now()\nfrom asyncio import sleep\n"
    )
    assert len(violations(bad, "bad.py")) == 4
    assert violations("from engine.actor import Actor\nimport math\n", "good.py") == []


def test_actors_use_only_their_context_for_time_and_concurrency() -> None:
    found: list[str] = []
    for path in sorted((ROOT / "actors").rglob("*.py")):
        found.extend(violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))))
    assert found == [], "actors must use ctx.now_ns() and ctx timers:\n" + "\n".join(found)
