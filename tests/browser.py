"""A real browser for page tests: Debian's headless Chromium over the DevTools protocol.

:func:`visit` starts ``/usr/bin/chromium`` headless with a throw-away profile and a DevTools
port the browser picks itself (``--remote-debugging-port=0``; it prints the WebSocket address
on stderr), talks to it with aiohttp's WebSocket client, opens one file, waits for its load
event, and returns what a page test needs: a PNG screenshot, the console messages, uncaught
exceptions, every URL the page requested, and the values of JavaScript expressions evaluated
by the test (the page itself needs none). The browser and everything it spawned are stopped
on the way out, whatever happened; no new Python dependency is needed.

:func:`decode_png` turns the screenshot into a numpy array of pixels.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import struct
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
MISSING = (
    f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
    "(apt-get install -y chromium); `make test` installs it and CI must have it"
)

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """Chromium did not start, a DevTools command failed, or the page did not load in time."""


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """A console call by the page (``source="console"``) or a browser log entry about it
    (``network``, ``security``, ``rendering``...); ``level`` is ``error``, ``warning``..."""

    source: str
    level: str
    text: str


@dataclass
class PageVisit:
    """What :func:`visit` saw."""

    png: bytes
    console: list[ConsoleMessage] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Exceptions, and console messages at level ``error`` or ``warning``."""
        noisy = [
            f"{m.source} {m.level}: {m.text}"
            for m in self.console
            if m.level in {"error", "warning"}
        ]
        return self.exceptions + noisy


def visit(
    page: Path,
    *,
    width: int = 1280,
    height: int = 900,
    full_page: bool = False,
    evaluate: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    scratch: Path | None = None,
) -> PageVisit:
    """Open ``page`` (a local file) in headless Chromium with a ``width`` x ``height`` CSS
    pixel viewport at scale 1, wait for its load event, evaluate each expression of
    ``evaluate`` (name → JavaScript, result returned by value), and take a screenshot: the
    viewport, or with ``full_page`` the whole page at ``width``.

    Raises :class:`BrowserError` if Chromium cannot start, the page does not load within
    ``timeout_s`` or an expression throws. Chromium is always stopped before returning or
    raising, and its throw-away profile (made in ``scratch``, by default the system's temporary
    directory) removed.
    """
    return asyncio.run(
        asyncio.wait_for(
            _visit(
                page.resolve(),
                scratch,
                width=width,
                height=height,
                full_page=full_page,
                evaluate=dict(evaluate or {}),
            ),
            timeout=timeout_s,
        )
    )


async def _visit(
    page: Path,
    scratch: Path | None,
    *,
    width: int,
    height: int,
    full_page: bool,
    evaluate: dict[str, str],
) -> PageVisit:
    async with (
        _Chromium(scratch) as browser,
        aiohttp.ClientSession() as http,
        http.ws_connect(browser.ws_url, max_msg_size=0) as ws,
    ):
        devtools = _DevTools(ws)
        try:
            return await _run_page(
                devtools, page, width=width, height=height, full_page=full_page, evaluate=evaluate
            )
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(devtools.send("Browser.close"), 5)
                browser.closing = True
            await devtools.close()


async def _run_page(
    devtools: _DevTools,
    page: Path,
    *,
    width: int,
    height: int,
    full_page: bool,
    evaluate: dict[str, str],
) -> PageVisit:
    target = await devtools.send("Target.createTarget", {"url": "about:blank"})
    attached = await devtools.send(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
    )
    session = attached["sessionId"]
    devtools.watch(session)
    for domain in ("Runtime", "Log", "Page", "Network"):
        await devtools.send(f"{domain}.enable", session=session)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    await devtools.send("Emulation.setDeviceMetricsOverride", metrics, session=session)

    navigated = await devtools.send("Page.navigate", {"url": page.as_uri()}, session=session)
    if "errorText" in navigated:
        raise BrowserError(f"cannot open {page}: {navigated['errorText']}")
    await devtools.loaded.wait()

    values: dict[str, Any] = {}
    for name, expression in evaluate.items():
        result = await devtools.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{name}: {expression!r} threw {result['exceptionDetails']}")
        values[name] = result["result"].get("value")

    if full_page:
        layout = await devtools.send("Page.getLayoutMetrics", session=session)
        tall = max(height, int(layout["cssContentSize"]["height"] + 0.5))
        metrics = {**metrics, "height": tall}
        await devtools.send("Emulation.setDeviceMetricsOverride", metrics, session=session)
    shot = await devtools.send("Page.captureScreenshot", {"format": "png"}, session=session)

    return PageVisit(
        png=base64.b64decode(shot["data"]),
        console=list(devtools.console),
        exceptions=list(devtools.exceptions),
        requests=list(devtools.requests),
        values=values,
    )


class _Chromium:
    """The browser process, started in its own process group so that stopping the group
    stops its renderer and helper processes too."""

    def __init__(self, scratch: Path | None) -> None:
        self.ws_url = ""
        self.closing = False
        """Set once the browser has acknowledged ``Browser.close``: it gets time to exit."""
        self.profile = Path(tempfile.mkdtemp(prefix="troupe-chromium-", dir=scratch))
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Chromium:
        try:
            self._process = await asyncio.create_subprocess_exec(
                str(CHROMIUM),
                *_FLAGS,
                f"--user-data-dir={self.profile}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            self.ws_url = await self._listening()
        except BaseException:
            await self._stop()
            raise
        self._drain = asyncio.create_task(self._read_stderr())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _listening(self) -> str:
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self._stderr.append(text)
            if match := _LISTENING.search(text):
                return match.group(1)
        tail = "\n".join(self._stderr[-20:])
        raise BrowserError(f"{CHROMIUM} exited before opening its DevTools port:\n{tail}")

    async def _read_stderr(self) -> None:
        # Keep reading, or a chatty browser fills the pipe and stalls.
        assert self._process is not None and self._process.stderr is not None
        while await self._process.stderr.readline():
            pass

    async def _stop(self) -> None:
        """Give a closing browser 10 s to exit, then kill its process group."""
        process = self._process
        if process is not None:
            if self.closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 10)
            # The group outlives its leader when helpers linger; it is ours (start_new_session).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.returncode is None:
                await process.wait()
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError):
                self._drain.cancel()
                await self._drain
        shutil.rmtree(self.profile, ignore_errors=True)


class _DevTools:
    """Commands and events over the browser's DevTools WebSocket (flat sessions)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._session = ""
        self.loaded = asyncio.Event()
        self.console: list[ConsoleMessage] = []
        self.exceptions: list[str] = []
        self.requests: list[str] = []
        self._reader = asyncio.create_task(self._read())

    def watch(self, session: str) -> None:
        """Record the events of this page session."""
        self._session = session

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str = ""
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = reply
        await self._ws.send_str(json.dumps(message))
        return await reply

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()

    async def _read(self) -> None:
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if "id" in message:
                reply = self._pending.pop(message["id"], None)
                if reply is None or reply.done():
                    continue
                if "error" in message:
                    reply.set_exception(BrowserError(f"DevTools: {message['error']}"))
                else:
                    reply.set_result(message.get("result", {}))
            elif message.get("sessionId") == self._session:
                self._event(message["method"], message.get("params", {}))
        closed = BrowserError("the DevTools connection closed")
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(closed)

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params["args"]
            )
            self.console.append(ConsoleMessage("console", params["type"], text))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            thrown = details.get("exception", {}).get("description", "")
            self.exceptions.append(f"{details.get('text', '')} {thrown}".strip())
        elif method == "Log.entryAdded":
            entry = params["entry"]
            text = f"{entry.get('text', '')} {entry.get('url', '')}".strip()
            self.console.append(ConsoleMessage(entry["source"], entry["level"], text))
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])


def decode_png(png: bytes) -> np.ndarray:
    """The pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes) as a
    ``(height, width, channels)`` ``uint8`` array.

    Raises ``ValueError`` if ``png`` is not such a PNG.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG: bad signature")
    position, header, data = 8, b"", bytearray()
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", png[position + 8 + length :][:4])[0]:
            raise ValueError(f"PNG chunk {kind!r} has a bad CRC")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, color type {color}, interlace {interlace}"
        )
    rows = np.frombuffer(zlib.decompress(bytes(data)), dtype=np.uint8)
    rows = rows.reshape(height, width * channels + 1)
    filters = rows[:, 0].astype(np.int32)
    if filters.max(initial=0) > 4:
        raise ValueError(f"PNG has an unknown row filter {filters.max()}")
    return _unfilter(filters, rows[:, 1:].reshape(height, width, channels).astype(np.int32))


def _unfilter(filters: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    # A byte is predicted from its left, upper and upper-left neighbours, which all lie on
    # earlier anti-diagonals (x + y smaller), so one diagonal at a time is decoded in one go.
    height, width, _ = filtered.shape
    out = np.zeros((height + 1, width + 1, filtered.shape[2]), dtype=np.int32)  # zero border
    for diagonal in range(height + width - 1):
        ys = np.arange(max(0, diagonal - width + 1), min(height, diagonal + 1))
        xs = diagonal - ys
        left, up, up_left = out[ys + 1, xs], out[ys, xs + 1], out[ys, xs]
        estimate = left + up - up_left
        far_left, far_up = np.abs(estimate - left), np.abs(estimate - up)
        far_up_left = np.abs(estimate - up_left)
        paeth = np.where(
            (far_left <= far_up) & (far_left <= far_up_left),
            left,
            np.where(far_up <= far_up_left, up, up_left),
        )
        kind = filters[ys][:, None]
        predictor = np.select(
            [kind == 0, kind == 1, kind == 2, kind == 3], [0, left, up, (left + up) >> 1], paeth
        )
        out[ys + 1, xs + 1] = (filtered[ys, xs] + predictor) & 0xFF
    return out[1:, 1:].astype(np.uint8)
