"""Logging: readable lines on the console, JSON lines in a rotating file (mode 0600), one
structlog setup.

Every line carries its time (UTC, ISO 8601) and level; an actor's lines carry ``actor`` and
``incarnation`` (bound by the runtime into ``ctx.log``); from a signal onward, lines carry the
``correlation_id`` (see :mod:`engine.correlation`). Values under secret-looking keys are
replaced by ``***`` whatever logs them, and :class:`~engine.config.secrets.Secret` values print
as ``***`` anyway. Libraries that use the standard ``logging`` module (pykka, aiohttp) go
through the same handlers.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from io import TextIOWrapper
from pathlib import Path

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from engine.config.load import SECRET_KEY
from engine.config.secrets import REDACTED

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def redact_secrets(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Replace the value of any secret-looking key (``api_token``, ``password``...)."""
    for key in event:
        if SECRET_KEY.search(key):
            event[key] = REDACTED
    return event


PRIVATE_FILE_MODE = 0o600
"""The log file's mode, and its backups': owner read and write only."""


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file readable by its owner only (mode 0600).

    Logs name orders, accounts and client addresses, so the file is created 0600 whatever
    the umask, and an existing one still open to group or others is narrowed on open. The
    backups are the same file renamed, so they keep its mode; older backups are narrowed
    when the handler is made.
    """

    def __init__(self, filename: Path, max_bytes: int, backups: int) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        for index in range(1, backups + 1):
            _narrow(Path(f"{self.baseFilename}.{index}"))

    def _open(self) -> TextIOWrapper:
        stream = open(  # noqa: SIM115 (the handler owns and closes it)
            self.baseFilename,
            "a",  # self.mode: a rotating file is always appended to
            encoding=self.encoding,
            errors=self.errors,
            opener=lambda path, flags: os.open(path, flags, PRIVATE_FILE_MODE),
        )
        _narrow(Path(self.baseFilename))
        return stream


def _narrow(path: Path) -> None:
    """Take group and other permissions off ``path``, if it exists and has any."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE_MODE)
    except FileNotFoundError:
        pass


def _json_lines(_logger: WrappedLogger, _method: str, event: EventDict) -> str:
    return orjson.dumps(event, default=str).decode()


def configure_logging(
    level: str = "info",
    *,
    console: bool = True,
    file: Path | None = None,
    max_bytes: int = 20_000_000,
    backups: int = 5,
) -> None:
    """Send every log line to the console (readable) and to ``file`` (JSON lines, rotated at
    ``max_bytes`` keeping ``backups`` old files). Safe to call again: handlers are replaced."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handlers: list[logging.Handler] = []
    if console:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
                ],
            )
        )
        handlers.append(handler)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        rotating = PrivateRotatingFileHandler(file, max_bytes, backups)
        rotating.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[*shared, structlog.processors.format_exc_info],
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _json_lines,
                ],
            )
        )
        handlers.append(rotating)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for new in handlers:
        root.addHandler(new)
    root.setLevel(LEVELS[level])
