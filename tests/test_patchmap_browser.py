"""The report's patch map in headless Chromium at a desktop's and a phone's width: all 182 patches drawn.

Uses the browser set-up of test_report_browser (Debian's chromium, skipped without it unless CI is set)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from report_warehouse import sample_data_dir
from test_report_browser import SCREENSHOTS, browse, chromium, png_size  # noqa: F401 (chromium is the shared fixture)

from regreen.report import write_report

# Posted to the framing page once the report has loaded: what the map looks like on screen.
MEASURE = """
<script>
window.addEventListener("load", function () {
  var map = document.querySelector("svg.patch-map");
  var patches = map ? map.querySelectorAll("path.patch") : [];
  var shown = 0;
  patches.forEach(function (p) { var r = p.getBoundingClientRect(); if (r.width > 0 && r.height > 0) shown++; });
  var box = map ? map.getBoundingClientRect() : {width: 0, height: 0};
  window.parent.postMessage({
    patches: patches.length, shown: shown, mapWidth: box.width, mapHeight: box.height,
    innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
    firstTitle: patches.length ? patches[0].querySelector("title").textContent : null
  }, "*");
});
</script>
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = sample_data_dir(tmp_path_factory.getbasetemp())
    index = write_report(data_dir / "regreen.duckdb", data_dir / "report-map", ZoneInfo("Asia/Shanghai"))
    measured = index.with_name("measured.html")
    text = index.read_text(encoding="utf-8")
    measured.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    return measured


@pytest.mark.parametrize("width", [1366, 390])
def test_the_map_draws_all_182_patches(chromium: Path, report: Path, width: int, tmp_path: Path) -> None:  # noqa: F811
    frame = report.with_name(f"map-frame-{width}.html")
    frame.write_text(
        f'<!doctype html><html><body style="margin:0"><iframe src="{report.name}" '
        f'style="width:{width}px;height:900px;border:0"></iframe><script>'
        'window.addEventListener("message", function (e) {'
        'document.documentElement.setAttribute("data-map", JSON.stringify(e.data)); });'
        "</script></body></html>",
        encoding="utf-8",
    )
    dom = browse(
        chromium, tmp_path / "profile", frame.as_uri(), "--virtual-time-budget=3000", "--dump-dom"
    ).stdout
    found = re.search(r'data-map="([^"]*)"', dom)
    assert found, "the framed report did not report back"
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["innerWidth"] == width
    assert measured["patches"] == 182 and measured["shown"] == 182
    # The map fills the page's width on a desktop; on a phone it keeps a legible size and scrolls in its
    # own box, as the burn-up chart does, while the page itself does not scroll sideways.
    assert 600 <= measured["mapWidth"] <= 1000
    assert measured["scrollWidth"] <= width
    assert measured["firstTitle"].startswith("2023-01-001 · 2023-01 百崎乡莲埭村废弃矿山生态治理项目 · ")


@pytest.mark.parametrize(("width", "height"), [(1366, 2000), (390, 3000)])
def test_map_screenshots_for_a_person_to_look_at(
    chromium: Path,  # noqa: F811 (the shared fixture, imported above)
    report: Path,
    width: int,
    height: int,
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / f"report-map-{width}.png"
    shot.unlink(missing_ok=True)
    profile = report.parent / f"chromium-map-{width}"
    browse(
        chromium,
        profile,
        report.as_uri(),
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--screenshot={shot}",
    )
    assert png_size(shot) == (width, height)
