"""``troupe status``, ``pause``, ``resume``, ``halt``, ``flatten``: the controls a trader
reaches for in a hurry, from a shell, against the running engine's API.

They find the engine as ``troupe run`` does: the same ``-c FILE`` files and ``TROUPE__...``
environment, ``--host`` and ``--port`` overriding ``web.host`` and ``web.port`` (an engine
bound to every address is reached on loopback). The bearer token is the one ``troupe run``
uses: ``TROUPE_API_TOKEN`` or the secrets file (``TROUPE_SECRETS_FILE``) if set, else the
file it generated, ``data_dir/web.token_file`` (``var/api_token`` by default, relative to the
current directory like ``data_dir`` itself).

==========================  =====================================================================
command                     does
==========================  =====================================================================
``status``                  ``GET state``, ``positions``, ``orders?status=open``: one summary
``pause`` / ``resume``      ``POST pause`` / ``resume`` (optional ``--reason``): the new state
``halt``                    ``POST halt`` (optional ``--reason``): the new state
``flatten``                 ``POST flatten``, the kill switch: closing orders sent, HALTED
==========================  =====================================================================

``--json`` prints the engine's answer as it came (``status``: one object with the three).
Exit codes, as the rest of the command line: 0 done; 1 the engine did not answer (nothing
listening, a timeout) or refused (401 names the token's source; any other error its code and
message); 2 a configuration problem or no token to send, nothing sent. Only the standard
library is used, so these load fast and need nothing but a shell.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config.load import ConfigError, load_config
from engine.config.secrets import ENV_TOKEN, load_secrets

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

TIMEOUT_S = 30.0
"""How long to wait for an answer; the API itself gives up on a command after 10 s (504)."""

OPEN_ORDERS_SHOWN = 20
"""Open orders listed one a line by ``status``; the rest are counted."""

VERBS: dict[str, tuple[str, str]] = {
    "status": (
        "show the running engine's trading state, positions and open orders",
        "GET state, positions and open orders from the running engine, as one summary.",
    ),
    "pause": (
        "pause the running engine: REDUCING, no new entries",
        "POST pause: trading goes to REDUCING (exits only) until resumed.",
    ),
    "resume": (
        "resume trading on the running engine: ACTIVE",
        "POST resume: trading goes back to ACTIVE.",
    ),
    "halt": (
        "halt the running engine: HALTED, no orders at all until resumed",
        "POST halt: trading goes to HALTED (no orders, exits included) until resumed. Open "
        "orders and positions stay; `troupe flatten` cancels and closes them.",
    ),
    "flatten": (
        "kill switch: cancel every open order, close every position, halt",
        "POST flatten: recorded in the journal, then every open order canceled, every "
        "position closed at market, and trading HALTED.",
    ),
}
"""Verb -> (one-line help, description)."""


def add_parsers(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    config_option: Callable[[argparse.ArgumentParser], None],
    port: Callable[[str], int],
) -> None:
    """Add the control verbs to ``troupe``'s sub-parsers, with the options ``run`` takes."""
    for verb, (summary, description) in VERBS.items():
        parser = verbs.add_parser(
            verb,
            help=summary,
            description=f"{description} The engine and its token are found as `troupe run` "
            "finds them (-c FILE, TROUPE__... variables, TROUPE_API_TOKEN or the token file "
            "in data_dir). Exit 1 if it does not answer or refuses, 2 on a configuration "
            "problem.",
        )
        config_option(parser)
        parser.add_argument("--host", help="the engine's address (overrides web.host)")
        parser.add_argument("--port", type=port, help="the engine's TCP port (overrides web.port)")
        if verb != "status":
            parser.add_argument("--reason", help="why, in your words; journaled with the change")
        parser.add_argument("--json", action="store_true", help="print the engine's raw answer")


class ControlError(Exception):
    """A control command could not be done; ``str()`` is the line for stderr."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Engine:
    """Where the running engine answers and what to show it."""

    base_url: str
    """``http://HOST:PORT/api/v1/``"""
    token: str
    token_source: str
    """Where the token came from, for a 401's message."""


def run(verb: str, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Do ``verb`` (one of :data:`VERBS`) with the parsed ``args``; return the exit code."""
    try:
        engine = find_engine(args.config, args.host, args.port, env)
        if verb == "status":
            return _status(engine, as_json=args.json)
        body = json.dumps({"reason": args.reason}).encode() if args.reason else b""
        raw = _call(engine, "POST", verb, body)
        if args.json:
            sys.stdout.write(raw.decode() + "\n")
        elif verb == "flatten":
            print(_flatten_summary(json.loads(raw)))
        else:
            print(f"trading state: {json.loads(raw)['trading_state']}")
        return EXIT_OK
    except ControlError as error:
        print(f"troupe {verb}: {error}", file=sys.stderr)
        return error.code


def find_engine(
    files: list[str], host: str | None, port: int | None, env: Mapping[str, str]
) -> Engine:
    """The engine's API address and token, as ``troupe run`` with the same configuration
    and environment would use them. Raises :class:`ControlError` (code 2) on a configuration
    problem or when there is no token to send."""
    try:
        config = load_config(files, env)
        secrets = load_secrets(env)
    except ConfigError as error:
        raise ControlError("; ".join(error.problems), EXIT_USAGE) from None
    address = _reachable(host if host is not None else config.web.host)
    base_url = f"http://{address}:{port if port is not None else config.web.port}/api/v1/"
    if secrets.api_token is not None:
        source = secrets.sources.get("api_token", f"environment {ENV_TOKEN}")
        return Engine(base_url, secrets.api_token.reveal(), source)
    path = Path(config.data_dir) / config.web.token_file
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ControlError(
            f"no API token: {ENV_TOKEN} is not set and {path} does not exist (`troupe run` "
            "writes it on first start; run this from the directory, with the -c files, the "
            "engine was started with)",
            EXIT_USAGE,
        ) from None
    except OSError as exc:
        raise ControlError(f"cannot read the API token file {path}: {exc}", EXIT_USAGE) from None
    if not token:
        raise ControlError(f"the API token file {path} is empty", EXIT_USAGE)
    return Engine(base_url, token, f"token file {path}")


def _reachable(host: str) -> str:
    """``host`` as a URL's host: an engine bound to every address is reached on loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


# No proxy: the engine is addressed directly, whatever http_proxy says.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _call(engine: Engine, method: str, path: str, body: bytes | None = None) -> bytes:
    """The body of the engine's 2xx answer to ``method path``. Raises :class:`ControlError`
    naming the URL when nothing answers, and the error's code and message when refused."""
    url = engine.base_url + path
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {engine.token}")
    if body:
        request.add_header("Content-Type", "application/json")
    try:
        with _opener.open(request, timeout=TIMEOUT_S) as response:
            answer: bytes = response.read()
            return answer
    except urllib.error.HTTPError as error:
        with error:
            raise _refusal(engine, method, url, error.code, error.read()) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            raise ControlError(
                f"no engine answers at {url} (connection refused): is `troupe run` running, "
                "with this configuration?"
            ) from None
        if isinstance(reason, TimeoutError):
            raise ControlError(f"no answer from {url} within {TIMEOUT_S:g} s") from None
        raise ControlError(f"cannot reach {url}: {reason}") from None
    except TimeoutError:
        raise ControlError(f"no answer from {url} within {TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise ControlError(f"{method} {url}: {exc}") from None


def _refusal(engine: Engine, method: str, url: str, status: int, raw: bytes) -> ControlError:
    try:
        envelope = json.loads(raw)["error"]
        code, message = str(envelope["code"]), str(envelope["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "", raw.decode(errors="replace").strip()[:200]
    if status == 401:
        return ControlError(
            f"the engine at {url} refused the API token from {engine.token_source} "
            f"(401 {code}: {message}); the engine's token is {ENV_TOKEN} where it runs, or "
            "the token file in its data_dir"
        )
    return ControlError(f"{method} {url}: {status} {code}: {message}")


# -- what is printed ----------------------------------------------------------------------------


def _status(engine: Engine, *, as_json: bool) -> int:
    state = json.loads(_call(engine, "GET", "state"))
    positions = json.loads(_call(engine, "GET", "positions?curve=0"))
    orders = json.loads(_call(engine, "GET", "orders?status=open&limit=1000"))
    if as_json:
        print(json.dumps({"state": state, "positions": positions, "orders": orders}))
    else:
        print(status_summary(engine.base_url, state, positions, orders))
    return EXIT_OK


def status_summary(
    url: str, state: dict[str, Any], positions: dict[str, Any], orders: dict[str, Any]
) -> str:
    """``troupe status``'s text from the three answers (``GET state``, ``positions``,
    ``orders?status=open``)."""
    intake = "" if state.get("accepting", True) else ", shutting down"
    lines = [
        f"engine    {url}  {state['mode']}, up {_duration(state['uptime_s'])} "
        f"(since {state['started_at']}){intake}",
        f"trading   {state['trading_state']}",
    ]
    account = positions["account"]
    currency = account["currency"]
    lines.append(
        f"account   cash {account['cash']} {currency}  equity {account['equity']}  "
        f"realised {account['realized_pnl']}  unrealised {account['unrealized_pnl']}  "
        f"fees {account['fees']}"
    )
    held = [p for p in positions["positions"] if p["quantity"] != 0]
    lines.append(f"positions {len(held)} open")
    lines.extend(
        f"  {p['instrument']:<16} {p['quantity']:+} @ {p['avg_price']}  "
        f"mark {p['mark_price']}  unrealised {p['unrealized_pnl']}"
        for p in held
    )
    working = orders["orders"]
    lines.append(f"orders    {orders['counts']['open_orders']} open")
    for order in working[:OPEN_ORDERS_SHOWN]:
        price = " ".join(
            f"{label}{order[key]}"
            for label, key in (("", "price"), ("trigger ", "trigger_price"))
            if order.get(key) is not None
        )
        lines.append(
            f"  {order['instrument']:<16} {order['side']} {order['quantity']} "
            f"{order['order_type']}{' ' + price if price else ''}  {order['status']}  "
            f"filled {order['filled_qty']}  {order['strategy']}  {order['client_order_id']}"
        )
    if len(working) > OPEN_ORDERS_SHOWN:
        lines.append(f"  ... and {len(working) - OPEN_ORDERS_SHOWN} more (--json lists them all)")
    return "\n".join(lines)


def _flatten_summary(report: dict[str, Any]) -> str:
    closing = report["closing_orders"]
    sent = ", ".join(f"{o['instrument']} {o['side']} {o['quantity']}" for o in closing)
    return (
        f"kill switch: {len(closing)} closing order{'s' if len(closing) != 1 else ''} sent"
        f"{': ' + sent if sent else ''}; trading state: {report['trading_state']}"
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
