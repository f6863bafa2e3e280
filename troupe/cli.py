"""The ``troupe`` command: ``troupe run`` starts the engine, ``troupe bench NAME`` measures it.

Exit codes: 0 on success, 2 on a usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from types import FrameType
from typing import Any

import msgspec
import structlog

from engine.actor import Actor, handles
from engine.context import Context
from engine.messages.runtime import TOPIC_ENGINE, HeartbeatEmitted
from engine.spec import ActorSpec, SupervisorSpec
from engine.threaded import ThreadedRuntime

EXIT_OK = 0
EXIT_USAGE = 2

BENCHMARKS: dict[str, str] = {"runtime": "bench.runtime"}
"""Benchmark name -> module with ``main(argv: list[str]) -> int``; imported only when run."""

HEARTBEAT_INTERVAL_NS = 1_000_000_000


class _Beat(msgspec.Struct, frozen=True):
    """The heartbeat actor's own timer message."""


class Heartbeat(Actor):
    """Publishes :class:`HeartbeatEmitted` every second and logs it."""

    def __init__(self) -> None:
        self.beats = 0

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.schedule_periodic(HEARTBEAT_INTERVAL_NS, _Beat(), first_delay_ns=0)

    @handles(_Beat)
    def on_beat(self, _beat: _Beat) -> None:
        self.beats += 1
        now = self.ctx.now_ns()
        self.ctx.publish(TOPIC_ENGINE, HeartbeatEmitted(ts_event=now, ts_init=now, beat=self.beats))
        self.ctx.log.info("heartbeat", beat=self.beats)


def default_tree() -> SupervisorSpec:
    """The tree ``troupe run`` starts until configuration exists: one heartbeat."""
    return SupervisorSpec(name="root", children=[ActorSpec(name="heartbeat", factory=Heartbeat)])


def _configure_logging() -> None:
    """Human-readable logs on stderr, coloured only on a terminal."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def run_engine(_args: argparse.Namespace) -> int:
    """Start the runtime with the default tree; stop it cleanly on SIGINT or SIGTERM."""
    _configure_logging()
    log = structlog.get_logger("troupe.cli")
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # No logging here: the handler may interrupt the main thread inside a log write.
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    runtime = ThreadedRuntime()
    try:
        runtime.start(default_tree())
        log.info("engine started", actors=len(runtime.describe().actors))
        while not stop.wait(0.5):
            pass
        log.info("stopping", signal=received[0] if received else None)
    finally:
        runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("engine stopped")
    return EXIT_OK


def run_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    module_name = BENCHMARKS.get(args.name)
    if module_name is None:
        parser.error(
            f"unknown benchmark {args.name!r}; choose from: {', '.join(sorted(BENCHMARKS))}"
        )
    module: Any = importlib.import_module(module_name)
    argv = [flag for flag, on in (("--json", args.json), ("--quick", args.quick)) if on]
    code: int = module.main(argv)
    return code


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser and the ``bench`` sub-parser (for its usage errors)."""
    parser = argparse.ArgumentParser(
        prog="troupe", description="troupe: an actor-based intraday trading engine."
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    verbs.add_parser(
        "run",
        help="start the engine until SIGINT or SIGTERM",
        description="Start the engine (for now: a heartbeat actor) until SIGINT or SIGTERM.",
    )
    bench = verbs.add_parser(
        "bench",
        help="run a benchmark",
        description=f"Run a benchmark and print its figures. NAME: {', '.join(BENCHMARKS)}.",
    )
    bench.add_argument("name", metavar="NAME", help=f"one of: {', '.join(BENCHMARKS)}")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, a few seconds")
    return parser, bench


def main(argv: list[str] | None = None) -> int:
    parser, bench = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "bench":
        return run_bench(args, bench)
    return run_engine(args)


if __name__ == "__main__":
    sys.exit(main())
