"""The ``troupe`` command.

Exit codes (also in the README): 0 success; 1 a failure while running (the port is taken...);
2 a usage or configuration error (nothing was started); 4 the shutdown did not finish within
``shutdown.timeout_s``; 130 a second SIGINT/SIGTERM forced the exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from engine.config.load import ConfigError, load_config
from engine.config.render import effective_toml, starter_toml
from engine.config.secrets import load_secrets
from troupe import control_commands

EXIT_OK = 0
EXIT_USAGE = 2

BENCHMARKS: dict[str, str] = {
    "runtime": "bench.runtime",
    "web": "bench.web",
    "market": "bench.market",
    "strategies": "bench.strategies",
    "pipeline": "bench.pipeline",
    "backtest": "bench.backtest",
    "crash": "bench.crash",
}
"""Benchmark name -> module with ``main(argv: list[str]) -> int``; imported only when run."""


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="a TOML configuration file; repeat to merge several, later ones win",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="troupe",
        description="troupe: an actor-based intraday trading engine.",
        epilog="Exit codes: 0 ok, 1 failure while running, 2 usage or configuration error, "
        "4 shutdown timed out, 130 forced by a second signal.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    run = verbs.add_parser(
        "run",
        help="start the engine and its API until SIGINT or SIGTERM",
        description="Start the engine (paper trading by default) and its HTTP API and live "
        "view. Stops gracefully on SIGINT or SIGTERM; a second signal forces the exit.",
    )
    _config_option(run)
    run.add_argument("--host", help="address to listen on (overrides web.host)")
    run.add_argument("--port", type=_port, help="TCP port (overrides web.port)")
    control_commands.add_parsers(verbs, config_option=_config_option, port=_port)

    check = verbs.add_parser(
        "check-config",
        help="print the effective configuration, secrets redacted",
        description="Merge the files and the environment, check everything, print the "
        "result as TOML with secrets redacted. Exit 2 with one line per problem.",
    )
    _config_option(check)

    new = verbs.add_parser(
        "new-config",
        help="write a commented starter configuration file",
        description="Write every key with its default and its documentation.",
    )
    new.add_argument("path", nargs="?", default="-", help="file to write, or - for stdout")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    verbs.add_parser(
        "trades-to-ohlcv",
        help="aggregate a CSV of trades into OHLCV bars",
        description="Read trades (ts,price,size) and write bars "
        "(start,open,high,low,close,volume,trades,vwap) with the engine's own aggregation. "
        "Run `troupe trades-to-ohlcv --help` for its options.",
        add_help=False,
    )

    verbs.add_parser(
        "backtest",
        help="run strategies over CSV files of bars through the engine's actors",
        description="A configured run (-c FILE) or the one-instrument form. Run "
        "`troupe backtest --help` for its options.",
        add_help=False,
    )
    verbs.add_parser(
        "list-strategies",
        help="list the built-in strategies, their rules and parameters",
        description="Print each built-in strategy with its exact rule and its parameters "
        "(type and default).",
    )
    new_strategy = verbs.add_parser(
        "new-strategy",
        help="write a strategy template and its test",
        description="Write NAME.py (a working strategy to edit) and test_NAME.py.",
    )
    new_strategy.add_argument("name", metavar="NAME", help="module name, e.g. my_breakout")
    new_strategy.add_argument("--dir", default=".", help="folder to write into (default: .)")
    new_strategy.add_argument("--force", action="store_true", help="overwrite existing files")

    bench = verbs.add_parser(
        "bench",
        help="run a benchmark",
        description=f"Run a benchmark and print its figures. NAME: {', '.join(BENCHMARKS)}.",
    )
    bench.add_argument("name", metavar="NAME", help=f"one of: {', '.join(BENCHMARKS)}")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, a few seconds")
    bench.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="the benchmark's own options (troupe bench NAME --help), e.g. crash --kills 100",
    )
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer within [1, 65535], got {text!r}"
        ) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected an integer within [1, 65535], got {port}")
    return port


def check_config(files: list[str]) -> int:
    from troupe.strategies import plan_strategies  # noqa: PLC0415 (TA-Lib loads only here)

    try:
        config = load_config(files)
        secrets = load_secrets()
        plan_strategies(config.strategies, config.market.instruments, config.bars.intervals)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(effective_toml(config, secrets))
    return EXIT_OK


def new_config(path: str, force: bool) -> int:
    text = starter_toml()
    if path == "-":
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(path)
    if target.exists() and not force:
        print(f"{target}: exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK


def run_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    module_name = BENCHMARKS.get(args.name)
    if module_name is None:
        parser.error(
            f"unknown benchmark {args.name!r}; choose from: {', '.join(sorted(BENCHMARKS))}"
        )
    module: Any = importlib.import_module(module_name)
    argv = [flag for flag, on in (("--json", args.json), ("--quick", args.quick)) if on]
    argv += args.options
    code: int = module.main(argv)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["backtest"]:
        from troupe.backtest_cli import main as backtest  # noqa: PLC0415

        return backtest(argv[1:])
    if argv[:1] == ["trades-to-ohlcv"]:
        # Its own parser, so its --help lists its options (and it stays usable on its own).
        from troupe.trades_to_ohlcv import main as trades_to_ohlcv  # noqa: PLC0415

        return trades_to_ohlcv(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "bench":
        return run_bench(args, parser)
    if args.verb == "check-config":
        return check_config(args.config)
    if args.verb == "new-config":
        return new_config(args.path, args.force)
    if args.verb in control_commands.VERBS:
        return control_commands.run(args.verb, args, os.environ)
    if args.verb in ("list-strategies", "new-strategy"):
        from troupe import strategy_commands  # noqa: PLC0415 (TA-Lib loads only here)

        if args.verb == "list-strategies":
            return strategy_commands.list_strategies()
        return strategy_commands.new_strategy(args.name, args.dir, args.force)
    # The web stack loads only for `run`: check-config and new-config stay quick.
    from troupe.service import run_service  # noqa: PLC0415

    return run_service(args.config, host=args.host, port=args.port, env=os.environ)


def entry_point() -> int:
    """``troupe``: :func:`main`, quiet when its reader goes away (``troupe ... | head``)."""
    try:
        return main()
    except BrokenPipeError:
        # The reader stopped reading: not an error of ours. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(entry_point())
