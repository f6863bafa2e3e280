"""What every configuration reader raises and how it shows a value: a module of its own, so
that readers the schema depends on (calendars, instruments, fees) can use it without importing
the schema."""

from __future__ import annotations

import json
from typing import Any


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def shown(value: Any) -> str:
    """A value as the user wrote it (strings quoted)."""
    return json.dumps(value, default=str, ensure_ascii=False)
