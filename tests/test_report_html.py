"""The HTML report renders in headless Chromium, without console errors, and its chart is drawn.

Skipped when Debian's chromium is not installed (.ci/run installs it when it can).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from sandtrace import cli
from sandtrace.report.findings.chart import CATEGORIES
from tests.conftest import TEST_IMAGES

HOST = os.path.join(TEST_IMAGES, "host.E01")
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
WIDTH, HEIGHT = 1200, 1000


def _chromium(tmp_path, *arguments: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-extensions", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=45)


def read_png(path) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0
    bpp = {2: 3, 6: 4}[colour]
    raw, stride, rows, previous = zlib.decompress(idat), width * bpp, bytearray(), bytearray(width * bpp)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows += line
        previous = line
    return width, height, bpp, bytes(rows)


@pytest.fixture(scope="module")
def html_report(tmp_path_factory):
    if not os.path.exists(HOST):
        pytest.skip("test_images/host.E01 is missing")
    folder = tmp_path_factory.mktemp("html")
    report = folder / "report.html"
    assert cli.main(["extract", HOST, "--carve", "-o", str(folder / "t.jsonl"), "--format", "json_line",
                     "--no-hash", "-q", "--report", str(report)]) == 0
    return report


def test_the_report_is_self_contained(html_report):
    text = html_report.read_text("utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<link" not in text and "@import" not in text


def test_the_dom_holds_the_chart_points_and_the_session_spans(html_report, tmp_path):
    result = _chromium(tmp_path, "--dump-dom", html_report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    overview = re.search(r'<svg[^>]*id="chart-overview".*?</svg>', dom, re.S).group(0)
    assert len(re.findall(r'<circle class="pt"', overview)) >= 20
    assert {m for m in re.findall(r'data-category="(\w+)"', overview)} >= {"launch", "lifecycle", "inside", "feature"}
    assert len(re.findall(r'<rect class="session"', dom)) >= 3
    for marker in ("Uncaught", "console error", "ERROR:CONSOLE"):
        assert marker not in result.stderr


def test_a_screenshot_shows_the_chart_drawn_with_data_points(html_report, tmp_path):
    shot = tmp_path / "shot.png"
    result = _chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars",
                       html_report.as_uri())
    assert shot.exists(), result.stderr[-2000:]
    assert "Uncaught" not in result.stderr
    width, height, bpp, pixels = read_png(shot)
    colours = {name: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for name, _, c in CATEGORIES}

    def count(colour, tolerance=24) -> int:
        hits = 0
        for y in range(0, height):
            row = pixels[y * width * bpp:(y + 1) * width * bpp]
            for x in range(0, width * bpp, bpp):
                if all(abs(row[x + k] - colour[k]) <= tolerance for k in range(3)):
                    hits += 1
        return hits

    # Points are drawn 85% opaque on white/light rows: their colour lies near the category colour.
    drawn = {name: count(colour) for name, colour in colours.items() if name in ("launch", "inside", "feature", "storage")}
    assert all(hits >= 20 for hits in drawn.values()), drawn
