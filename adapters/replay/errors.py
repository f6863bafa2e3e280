"""The error a replay raises for a file it cannot use."""

from __future__ import annotations

from engine.config.errors import ConfigError


class ReplayError(ConfigError):
    """A replay source that cannot be used: ``problems`` holds one line per problem, each
    naming the file, and where it applies the line, the column and the value, for example
    ``data/orcl.csv:7: column 'Close': expected a number, got 'n/a'``.

    A :class:`~engine.config.load.ConfigError`, so a replay named in the configuration fails
    the start the same way a bad key does (exit 2, one line per problem).
    """
