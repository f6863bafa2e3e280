"""The backtest's ``report.html``: what the page draws, that it stays small and self-contained,
and that it opens in a real headless Chromium showing the equity curve."""

from __future__ import annotations

import re
import struct
import zlib
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.backtest import svg
from engine.backtest.html_report import (
    EquitySample,
    HtmlReportInput,
    InstrumentPrices,
    PricePoint,
    ReportLimits,
    Table,
    TradeMarker,
    render_html_report,
    with_drawdown,
    write_html_report,
)
from engine.timezones import from_exchange_time
from tests.browser import CHROMIUM, MISSING, BrowserError, decode_png, visit

TZ = "Asia/Kolkata"
START = from_exchange_time("2024-01-01T15:30:00", TZ)
DAY = 86_400 * 10**9
# Up 20 %, down 20 % from the peak, then up to a new high: 60 daily bars.
EQUITY = [100_000 + 1_000 * i for i in range(21)]
EQUITY += [120_000 - 1_600 * i for i in range(1, 16)]
EQUITY += [96_000 + 1_500 * i for i in range(1, 25)]
EQUITY_BLUE = (31, 111, 235)  # the .equity stroke in the page's style


def crafted_report(title: str = "sma_cross on RELIANCE") -> HtmlReportInput:
    closes = [2_500 + 10 * i if i < 30 else 2_800 - 8 * (i - 30) for i in range(len(EQUITY))]
    markers = [
        TradeMarker(START + 5 * DAY, closes[5], "entry", won=True),
        TradeMarker(START + 20 * DAY, closes[20], "exit", won=True, note="SELL 10 @ 2700"),
        TradeMarker(START + 32 * DAY, closes[32], "entry", won=False),
        TradeMarker(START + 40 * DAY, closes[40], "exit", won=False),
    ]
    trades = [
        {"instrument": "RELIANCE", "side": "long", "qty": 10, "pnl": Decimal("1500.00")},
        {"instrument": "RELIANCE", "side": "long", "qty": 10, "pnl": Decimal("-640.00")},
    ]
    return HtmlReportInput(
        title=title,
        timezone=TZ,
        equity=with_drawdown((START + i * DAY, Decimal(e)) for i, e in enumerate(EQUITY)),
        instruments=[
            InstrumentPrices(
                "RELIANCE", [PricePoint(START + i * DAY, c) for i, c in enumerate(closes)], markers
            )
        ],
        headline={"Final equity": "132,000.00", "Max drawdown": "20.00 %"},
        statistics={"Total return": "32.00 %", "Trades": "2"},
        statistics_by_instrument={"RELIANCE": {"Trades": "2", "Win rate": "50.00 %"}},
        statistics_by_exit_reason={"signal": {"Trades": "1"}, "stop": {"Trades": "1"}},
        trades=Table.from_records(trades, ["instrument", "side", "qty", "pnl"], ["pnl"]),
        open_positions=Table(["instrument", "qty"], [["TCS", "5"]]),
    )


class _Svgs(HTMLParser):
    """The ``<svg>`` of each section, with its ``data-*`` attributes and its shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.svgs: dict[str, dict[str, str]] = {}
        self.shapes: dict[str, list[dict[str, str]]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "section":
            self.section = attributes["id"]
        elif tag == "svg":
            self.svgs.setdefault(self.section, attributes)
        elif tag in {"polyline", "polygon"}:
            self.shapes.setdefault(self.section, []).append({"tag": tag, **attributes})


def parse(page: str) -> _Svgs:
    parser = _Svgs()
    parser.feed(page)
    return parser


def equity_line(parsed: _Svgs) -> tuple[list[tuple[float, float]], dict[str, str]]:
    (line,) = [s for s in parsed.shapes["equity"] if s.get("class") == "equity"]
    pairs = [p.split(",") for p in line["points"].split()]
    return [(float(x), float(y)) for x, y in pairs], parsed.svgs["equity"]


# --- downsampling -----------------------------------------------------------------------------


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=400),
    st.integers(4, 60),
)
def test_downsampling_keeps_each_buckets_min_and_max_within_the_cap(
    values: list[float], cap: int
) -> None:
    # Act
    kept = svg.downsample_min_max(values, cap)

    # Assert
    assert kept == sorted(set(kept))
    assert len(kept) <= cap
    if len(values) <= cap:
        assert kept == list(range(len(values)))
        return
    assert kept[0] == 0
    assert kept[-1] == len(values) - 1
    drawn = {values[i] for i in kept}
    for lo, hi in svg.bucket_bounds(len(values), cap):
        assert min(values[lo:hi]) in drawn
        assert max(values[lo:hi]) in drawn
    assert min(values) in drawn
    assert max(values) in drawn


def test_downsampling_refuses_a_cap_too_small_to_draw() -> None:
    with pytest.raises(ValueError, match="cap of 3 points"):
        svg.downsample_min_max([1.0] * 10, 3)


def test_a_100k_bar_run_gives_a_small_page_that_keeps_spikes_and_the_deepest_drawdown() -> None:
    # Arrange: a noisy climb with one spike up and one crash, 100,000 bars
    rng = np.random.default_rng(7)
    equity = 100_000 + np.cumsum(rng.normal(5, 100, 100_000))
    equity[31_337] += 50_000
    equity[77_777] -= 60_000
    points = with_drawdown((START + i * 60 * 10**9, float(e)) for i, e in enumerate(equity))
    data = HtmlReportInput("big", TZ, points)

    # Act
    page = render_html_report(data, limits=ReportLimits(max_points=2_000))

    # Assert
    assert len(page.encode()) < 200_000
    parsed = parse(page)
    line, attributes = equity_line(parsed)
    assert len(line) <= 2_000
    top, height = (float(v) for v in attributes["data-plot"].split()[1::2])
    lo, hi = (float(v) for v in attributes["data-value"].split())
    values = [hi - (y - top) / height * (hi - lo) for _, y in line]
    tolerance = (hi - lo) / height * 0.05 + 1e-6
    assert max(values) == pytest.approx(equity.max(), abs=tolerance)
    assert min(values) == pytest.approx(equity.min(), abs=tolerance)
    deepest = max(float(p.drawdown) for p in points) * 100
    assert f"Drawdown: deepest {-deepest:.2f} %" in page


# --- the page's text --------------------------------------------------------------------------


def test_every_text_is_escaped() -> None:
    # Arrange: hostile text in every field a user's config or data can reach
    evil = '<script>alert("x")</script> & <b>'
    data = HtmlReportInput(
        title=evil,
        timezone=TZ,
        equity=[EquitySample(START, 100, 0), EquitySample(START + DAY, 101, 0)],
        instruments=[
            InstrumentPrices(
                evil,
                [PricePoint(START, 1), PricePoint(START + DAY, 2)],
                [TradeMarker(START, 1, "entry", won=True, note=evil)],
            )
        ],
        headline={evil: evil},
        statistics={evil: evil},
        statistics_by_instrument={evil: {evil: evil}},
        statistics_by_exit_reason={evil: {evil: evil}},
        trades=Table([evil], [[evil]]),
        open_positions=Table([evil], [[evil]]),
        subtitle=evil,
    )

    # Act
    page = render_html_report(data)

    # Assert
    assert "<script" not in page
    assert "<b>" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;") >= 14


def test_the_page_is_self_contained_and_script_free() -> None:
    page = render_html_report(crafted_report())

    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert not re.search(r"\b(src|href)=", page)
    assert "@import" not in page
    assert "url(" not in page


def test_same_input_same_bytes(tmp_path: Path) -> None:
    # Act
    write_html_report(tmp_path / "a.html", crafted_report())
    write_html_report(tmp_path / "b.html", crafted_report())

    # Assert
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_the_equity_polyline_goes_through_every_point_of_the_curve() -> None:
    # Act
    parsed = parse(render_html_report(crafted_report()))

    # Assert: map the polyline back through the chart's ranges
    line, attributes = equity_line(parsed)
    left, top, width, height = (float(v) for v in attributes["data-plot"].split())
    t0, t1 = (int(v) for v in attributes["data-time"].split())
    lo, hi = (float(v) for v in attributes["data-value"].split())
    assert len(line) == len(EQUITY)
    for i, (x, y) in enumerate(line):
        ts = t0 + (x - left) / width * (t1 - t0)
        value = hi - (y - top) / height * (hi - lo)
        assert ts == pytest.approx(START + i * DAY, abs=0.05 / width * (t1 - t0))
        assert value == pytest.approx(EQUITY[i], abs=0.05 / height * (hi - lo))
    assert lo <= min(EQUITY) and hi >= max(EQUITY)


def test_the_drawdown_is_drawn_below_zero_in_percent() -> None:
    page = render_html_report(crafted_report())

    parsed = parse(page)
    attributes = parsed.svgs["drawdown"]
    lo, hi = (float(v) for v in attributes["data-value"].split())
    assert hi == 0
    assert lo <= -20
    assert "Drawdown: deepest -20.00 %" in page
    classes = {s.get("class") for s in parsed.shapes["drawdown"]}
    assert classes == {"drawdown", "drawdown-area"}


def test_trades_are_marked_on_price_as_entries_and_exits_won_or_lost() -> None:
    parsed = parse(render_html_report(crafted_report()))

    markers = [s["class"] for s in parsed.shapes["prices"] if s["class"].startswith("m ")]
    assert markers == ["m win", "m win", "m loss", "m loss"]
    assert "SELL 10 @ 2700" in render_html_report(crafted_report())


def test_many_instruments_and_trades_are_capped_with_a_note() -> None:
    # Arrange
    prices = [PricePoint(START, 1), PricePoint(START + DAY, 2)]
    data = HtmlReportInput(
        "many",
        TZ,
        [EquitySample(START, 1, 0)],
        instruments=[InstrumentPrices(f"SYM{i}", prices) for i in range(30)],
        trades=Table(["n"], [[str(i)] for i in range(1_000)]),
    )

    # Act
    page = render_html_report(data, limits=ReportLimits(max_price_charts=5, max_trade_rows=100))

    # Assert
    assert page.count("<h3>SYM") == 5
    assert "Price charts for the first 5 of 30 instruments" in page
    assert "The first 100 of 1,000 trades" in page
    assert "<td>100</td>" not in page


def test_an_unknown_time_zone_is_named() -> None:
    data = HtmlReportInput("x", "Mars/Olympus", [EquitySample(START, 1, 0)])

    with pytest.raises(ValueError, match="Mars/Olympus"):
        render_html_report(data)


def test_time_ticks_fall_on_round_local_times() -> None:
    # Act: two months of daily bars, and one trading day of minutes
    months = svg.time_ticks(START, START + 60 * DAY, TZ)
    day_open = from_exchange_time("2024-03-04T09:15:00", TZ)
    hours = svg.time_ticks(day_open, day_open + 375 * 60 * 10**9, TZ)

    # Assert
    assert [label for _, label in months] == [
        "2024-01-15",
        "2024-01-29",
        "2024-02-12",
        "2024-02-26",
    ]
    assert months[0][0] == from_exchange_time("2024-01-15T00:00:00", TZ)
    assert [label for _, label in hours] == ["10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]


# --- the browser helper's PNG decoder ---------------------------------------------------------


def encode_png(pixels: np.ndarray) -> bytes:
    """An RGB PNG of ``pixels`` whose rows cycle through all five filter types."""
    height, width, _ = pixels.shape
    image = pixels.astype(np.int32)
    padded = np.zeros((height + 1, width + 1, 3), dtype=np.int32)
    padded[1:, 1:] = image
    raw = bytearray()
    for y in range(height):
        kind = y % 5
        left, up, up_left = padded[y + 1, :-1], padded[y, 1:], padded[y, :-1]
        estimate = left + up - up_left
        pa, pb, pc = np.abs(estimate - left), np.abs(estimate - up), np.abs(estimate - up_left)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
        predictor = [np.zeros_like(left), left, up, (left + up) >> 1, paeth][kind]
        raw += bytes([kind]) + ((image[y] - predictor) & 0xFF).astype(np.uint8).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def test_the_png_decoder_undoes_every_row_filter() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (23, 17, 3), dtype=np.uint8)

    assert np.array_equal(decode_png(encode_png(pixels)), pixels)


# --- in a real browser ------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)


def running_with(argument: str) -> list[int]:
    """Ids of the processes whose command line mentions ``argument``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if argument.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # ended while we looked
    return found


@needs_chromium
def test_the_report_opens_in_chromium_and_shows_the_equity_curve(tmp_path: Path) -> None:
    # Arrange
    page = tmp_path / "report.html"
    write_html_report(page, crafted_report())

    # Act
    seen = visit(
        page,
        scratch=tmp_path,
        width=1280,
        height=900,
        evaluate={
            "equity": "(() => { const r = document.querySelector('#equity svg')"
            ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()",
            "title": "document.title",
        },
    )

    # Assert: no errors, nothing fetched but the page itself, no browser process left
    assert not running_with(str(tmp_path))
    assert list(tmp_path.iterdir()) == [page]  # the profile is gone too
    assert seen.problems == []
    assert seen.requests == [page.resolve().as_uri()]
    assert seen.values["title"] == "sma_cross on RELIANCE"
    pixels = decode_png(seen.png)
    assert pixels.shape[:2] == (900, 1280)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2])[:, :3], axis=0)) > 50

    # Assert: the equity line is drawn where the curve's points are
    left, top, width, height = seen.values["equity"]
    parsed = parse(page.read_text())
    line, attributes = equity_line(parsed)
    view_width, view_height = (float(v) for v in attributes["viewbox"].split()[2:])
    scale_x, scale_y = width / view_width, height / view_height
    rgb = pixels[..., :3].astype(np.int32)
    blue = np.abs(rgb - np.array(EQUITY_BLUE)).sum(axis=2) < 90
    chart = blue[int(top) : int(top + height), int(left) : int(left + width)]
    assert chart.sum() > 800
    assert blue.sum() - chart.sum() < 0.05 * chart.sum()  # the blue is the equity line's
    for i in (0, 20, 35, len(EQUITY) - 1):  # start, peak, trough, end
        x, y = line[i]
        px, py = round(left + x * scale_x), round(top + y * scale_y)
        near = blue[py - 4 : py + 5, max(px - 4, 0) : px + 5]
        assert near.any(), f"no equity line near point {i} at ({px}, {py})"


@needs_chromium
def test_a_full_page_screenshot_covers_the_whole_report(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html_report(page, crafted_report())

    seen = visit(page, width=1280, height=600, full_page=True, scratch=tmp_path)

    pixels = decode_png(seen.png)
    assert pixels.shape[1] == 1280
    assert pixels.shape[0] > 1500  # equity, drawdown, statistics, prices, trades
    assert seen.problems == []


@needs_chromium
def test_a_page_that_cannot_load_fails_and_leaves_no_browser_behind(tmp_path: Path) -> None:
    with pytest.raises(BrowserError, match=r"missing\.html"):
        visit(tmp_path / "missing.html", scratch=tmp_path)

    assert not running_with(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
