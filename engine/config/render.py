"""Writing configuration as TOML: the effective configuration (``troupe check-config``) and a
commented starter file (``troupe new-config``), both generated from the schema.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import msgspec.inspect as mi

from engine.config.load import describe
from engine.config.schema import TroupeConfig
from engine.config.secrets import Secrets


def effective_toml(config: TroupeConfig, secrets: Secrets | None = None) -> str:
    """The configuration in force, as TOML, with which secrets are set (values redacted)."""
    # No redaction needed for the configuration itself: the schema holds no secret, and a
    # secret-looking key is refused when loading. Secrets are listed below, values hidden.
    data = msgspec.to_builtins(config)
    lines = ["# The effective configuration: defaults, then files, then the environment."]
    lines += _table_lines(data, ())
    if secrets is not None:
        summary = secrets.redacted()
        lines += ["", "# Secrets (from the environment or the secrets file; never printed):"]
        lines += [f"#   {key} = {value}" for key, value in summary.items()] or ["#   none set"]
    return "\n".join(lines) + "\n"


def starter_toml() -> str:
    """A commented configuration file with every key at its default."""
    lines = [
        "# troupe configuration. Every key is shown with its default; delete what you do not",
        "# change. Later -c files override earlier ones; TROUPE__SECTION__KEY=value overrides",
        "# a key from the environment. Secrets never go here: set TROUPE_API_TOKEN or point",
        "# TROUPE_SECRETS_FILE at a file only you can read (chmod 600).",
    ]
    info = mi.type_info(TroupeConfig)
    assert isinstance(info, mi.StructType)
    defaults = msgspec.to_builtins(TroupeConfig())
    lines += _documented(info, defaults, ())
    return "\n".join(lines) + "\n"


def _documented(info: mi.StructType, values: dict[str, Any], path: tuple[str, ...]) -> list[str]:
    scalars: list[str] = []
    tables: list[str] = []
    for field in info.fields:
        kind = field.type
        description = ""
        if isinstance(kind, mi.Metadata):
            description = (kind.extra_json_schema or {}).get("description", "")
            kind = kind.type
        value = values.get(field.encode_name)
        if isinstance(kind, mi.StructType):
            tables.append("")
            doc = (kind.cls.__doc__ or "").strip().splitlines()
            if doc:
                tables.append(f"# {doc[0]}")
            tables.append(f"[{'.'.join((*path, field.encode_name))}]")
            tables += _documented(kind, value or {}, (*path, field.encode_name))
            continue
        scalars.append("")
        if description:
            scalars += [f"# {line}" for line in _wrap(description)]
        scalars.append(f"# Allowed: {describe(kind)}.")
        if isinstance(value, dict):
            scalars.append(
                f"{field.encode_name} = {{}}" if not value else _inline(field.encode_name, value)
            )
        else:
            scalars.append(f"{field.encode_name} = {_toml_value(value)}")
    return scalars + tables


def _wrap(text: str, width: int = 90) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def _table_lines(data: dict[str, Any], path: tuple[str, ...]) -> list[str]:
    scalars = [f"{_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            here = (*path, key)
            nested = _table_lines(value, here)
            tables += ["", f"[{'.'.join(_key(p) for p in here)}]", *nested]
    return scalars + tables


def _inline(key: str, value: dict[str, Any]) -> str:
    body = ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items())
    return f"{key} = {{ {body} }}"


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        raise ValueError("TOML has no null; the schema should not produce one")
    return json.dumps(str(value))
