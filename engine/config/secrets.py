"""Secrets: the API token and broker credentials. Never in a config file, never printed.

They come from the environment (``TROUPE_API_TOKEN``) or from a secrets file named by
``TROUPE_SECRETS_FILE``, a TOML file readable by its owner only (mode 0600)::

    api_token = "..."

    [brokers.zerodha]
    api_key = "..."
    api_secret = "..."

A :class:`Secret` prints as ``***``; only :meth:`Secret.reveal` gives the value, and only the
code that must use it (the auth check, a broker adapter) calls it.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config.errors import ConfigError

REDACTED = "***"
ENV_TOKEN = "TROUPE_API_TOKEN"
ENV_SECRETS_FILE = "TROUPE_SECRETS_FILE"


class Secret:
    """A string that does not show itself in reprs, logs, f-strings or JSON."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Secrets:
    """What the process knows that it must not print, and where each came from."""

    api_token: Secret | None = None
    brokers: dict[str, dict[str, Secret]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def redacted(self) -> dict[str, Any]:
        """Which secrets are set and from where, with every value replaced by ``***``."""
        out: dict[str, Any] = {}
        if self.api_token is not None:
            out["api_token"] = f"{REDACTED} (from {self.sources.get('api_token', '?')})"
        for broker, values in sorted(self.brokers.items()):
            out[f"brokers.{broker}"] = {key: REDACTED for key in sorted(values)}
        return out


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """Read the secrets from ``env`` and the secrets file it names.

    The environment's token wins over the file's. Raises :class:`ConfigError` if the file is
    missing, unreadable, not TOML, shaped wrongly, or readable by group or others.
    """
    env = os.environ if env is None else env
    token: Secret | None = None
    brokers: dict[str, dict[str, Secret]] = {}
    sources: dict[str, str] = {}
    path_text = env.get(ENV_SECRETS_FILE)
    if path_text:
        document = _read_private(Path(path_text))
        if "api_token" in document:
            token = Secret(_text(document["api_token"], path_text, "api_token"))
            sources["api_token"] = f"secrets file {path_text}"
        unknown = sorted(set(document) - {"api_token", "brokers"})
        if unknown:
            raise ConfigError(
                [f"{path_text}: {key}: unknown key; allowed: api_token, brokers" for key in unknown]
            )
        for broker, values in document.get("brokers", {}).items():
            if not isinstance(values, dict):
                raise ConfigError([f"{path_text}: brokers.{broker}: expected a table"])
            brokers[broker] = {
                key: Secret(_text(value, path_text, f"brokers.{broker}.{key}"))
                for key, value in values.items()
            }
    if env.get(ENV_TOKEN):
        token = Secret(env[ENV_TOKEN])
        sources["api_token"] = f"environment {ENV_TOKEN}"
    return Secrets(api_token=token, brokers=brokers, sources=sources)


def _read_private(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such secrets file ({ENV_SECRETS_FILE})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            [
                f"{path}: a secrets file must be readable by its owner only, "
                f"got mode {stat.S_IMODE(mode):04o}; run: chmod 600 {path}"
            ]
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None


def _text(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError([f"{source}: {key}: expected a non-empty string"])
    return value
