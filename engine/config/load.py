"""Loading the configuration: TOML files merged in order, then the environment, then checked.

* Several files merge in the order given, later keys winning (tables merge key by key).
* ``TROUPE__SECTION__KEY=value`` overrides a key (``TROUPE__WEB__PORT=9000``,
  ``TROUPE__MODE=paper``); the value is read as a TOML value when it is one (numbers, booleans,
  ``["a", "b"]``), else as a string.
* Every problem is reported, one line each, naming where the value came from, the key path,
  the bad value and what is allowed::

      config/paper.toml: web.port: expected an integer within [1, 65535], got "eighty"

* A config file may not hold secrets: they come from the environment or a secrets file.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from engine.config.errors import ConfigError, shown
from engine.config.schema import TroupeConfig

__all__ = ["SECRET_KEY", "ConfigError", "check", "describe", "dotted", "load_config", "shown"]

ENV_PREFIX = "TROUPE__"

# Words that mark a credential. A key the schema does not know that looks like one gets a
# message saying where secrets go (the schema itself holds none, by design).
SECRET_KEY = re.compile(
    r"(?:^|_)(?:token|password|passwd|secret|api_?key|pin|totp|credentials?)$", re.I
)

Path_ = tuple[str | int, ...]


def load_config(
    files: Sequence[str | Path] = (), env: Mapping[str, str] | None = None
) -> TroupeConfig:
    """The effective configuration: defaults, then ``files`` in order, then ``env``.

    Raises :class:`ConfigError` listing every problem found.
    """
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    origins: dict[Path_, str] = {}
    problems: list[str] = []
    for file in files:
        document = _read(Path(file), problems)
        if document is not None:
            _merge(merged, document, (), str(file), origins)
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path: Path_ = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(path):
            problems.append(f"environment {name}: expected TROUPE__SECTION__KEY, got {name!r}")
            continue
        _merge(merged, _nest(path, _env_value(raw)), (), f"environment {name}", origins)
    problems.extend(check(merged, mi.type_info(TroupeConfig), (), origins))
    if problems:
        raise ConfigError(problems)
    return msgspec.convert(merged, TroupeConfig)


def _read(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: no such file")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
    except UnicodeDecodeError:
        problems.append(f"{path}: not valid TOML: not UTF-8 text")
    return None


def _merge(
    into: dict[str, Any],
    new: dict[str, Any],
    path: Path_,
    source: str,
    origins: dict[Path_, str],
) -> None:
    for key, value in new.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, here, source, origins)
        else:
            into[key] = value
        if not isinstance(value, dict):
            origins[here] = source
        else:
            origins.setdefault(here, source)


def _nest(path: Path_, value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value  # type: ignore[no-any-return]


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


# -- checking ---------------------------------------------------------------------------------


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _origin(path: Path_, origins: dict[Path_, str]) -> str:
    for end in range(len(path), -1, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return "defaults"


def _problem(path: Path_, origins: dict[Path_, str], message: str) -> str:
    return f"{_origin(path, origins)}: {dotted(path) or '(top level)'}: {message}"


def check(value: Any, kind: mi.Type, path: Path_, origins: dict[Path_, str]) -> list[str]:
    """Every problem of ``value`` against the schema type ``kind``, as report lines."""
    if isinstance(kind, mi.Metadata):
        kind = kind.type
    if isinstance(kind, mi.StructType):
        if not isinstance(value, dict):
            return [_problem(path, origins, f"expected a table, got {shown(value)}")]
        fields = {f.encode_name: f for f in kind.fields}
        problems: list[str] = []
        for key, item in value.items():
            field = fields.get(key)
            if field is None and SECRET_KEY.search(key):
                problems.append(
                    _problem(
                        (*path, key),
                        origins,
                        "secrets may not be kept in a config file; set them in the environment "
                        "or a secrets file (see the README)",
                    )
                )
            elif field is None:
                allowed = ", ".join(sorted(fields))
                problems.append(_problem((*path, key), origins, f"unknown key; allowed: {allowed}"))
            else:
                problems.extend(check(item, field.type, (*path, key), origins))
        if not problems:
            # Rules across keys (a placement naming a pool that does not exist) are the
            # Struct's own __post_init__; msgspec reports them as a validation error.
            try:
                msgspec.convert(value, kind.cls)
            except msgspec.ValidationError as exc:
                problems.append(_problem(path, origins, _without_location(str(exc))))
        return problems
    if isinstance(kind, mi.DictType):
        if not isinstance(value, dict):
            return [_problem(path, origins, f"expected a table, got {shown(value)}")]
        return [p for k, v in value.items() for p in check(v, kind.value_type, (*path, k), origins)]
    if isinstance(kind, mi.ListType):
        if not isinstance(value, list):
            return [_problem(path, origins, f"expected {describe(kind)}, got {shown(value)}")]
        return [
            p for i, v in enumerate(value) for p in check(v, kind.item_type, (*path, i), origins)
        ]
    if not _leaf_ok(value, kind):
        return [_problem(path, origins, f"expected {describe(kind)}, got {shown(value)}")]
    return []


def _without_location(text: str) -> str:
    return re.sub(r" - at `\$[^`]*`$", "", text)


def _leaf_ok(value: Any, kind: mi.Type) -> bool:
    if isinstance(kind, mi.AnyType):
        return True  # checked by its owner (a strategy's params, by the strategy)
    if isinstance(kind, mi.UnionType):
        return any(_leaf_ok(value, member) for member in kind.types)
    if isinstance(kind, mi.NoneType):
        return value is None
    if isinstance(kind, mi.BoolType):
        return isinstance(value, bool)
    if isinstance(kind, mi.IntType):
        return isinstance(value, int) and not isinstance(value, bool) and _in_bounds(value, kind)
    if isinstance(kind, mi.FloatType):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # TOML can write nan; no setting means "not a number", and it passes every bound.
        return number and not math.isnan(value) and _in_bounds(value, kind)
    if isinstance(kind, mi.StrType):
        return isinstance(value, str)
    if isinstance(kind, mi.LiteralType):
        return value in kind.values and type(value) is type(next(iter(kind.values)))
    raise TypeError(f"the config schema uses a type the checker does not know: {kind!r}")


def _in_bounds(value: float, kind: mi.IntType | mi.FloatType) -> bool:
    return not (
        (kind.ge is not None and value < kind.ge)
        or (kind.gt is not None and value <= kind.gt)
        or (kind.le is not None and value > kind.le)
        or (kind.lt is not None and value >= kind.lt)
    )


def describe(kind: mi.Type) -> str:
    """What a schema type allows, in words: ``an integer >= 0``, ``one of "a", "b"``."""
    if isinstance(kind, mi.Metadata):
        kind = kind.type
    if isinstance(kind, mi.BoolType):
        return "true or false"
    if isinstance(kind, mi.IntType | mi.FloatType):
        noun = "an integer" if isinstance(kind, mi.IntType) else "a number"
        low = (
            f">= {kind.ge}"
            if kind.ge is not None
            else f"> {kind.gt}"
            if kind.gt is not None
            else ""
        )
        high = (
            f"<= {kind.le}"
            if kind.le is not None
            else f"< {kind.lt}"
            if kind.lt is not None
            else ""
        )
        if kind.ge is not None and kind.le is not None:
            return f"{noun} within [{kind.ge}, {kind.le}]"
        return " ".join(
            part for part in (noun, low, high and ("and " + high if low else high)) if part
        )
    if isinstance(kind, mi.StrType):
        return "a string"
    if isinstance(kind, mi.LiteralType):
        return "one of " + ", ".join(shown(v) for v in sorted(kind.values, key=str))
    if isinstance(kind, mi.ListType):
        return f"a list of ({describe(kind.item_type)})"
    if isinstance(kind, mi.DictType | mi.StructType):
        return "a table"
    if isinstance(kind, mi.UnionType):
        return " or ".join(describe(member) for member in kind.types)
    if isinstance(kind, mi.NoneType):
        return "nothing (leave it out)"
    if isinstance(kind, mi.AnyType):
        return "any value"
    return repr(kind)
