"""The report and the data dictionary as a person sees them: opened in headless Chromium.

Chromium (Debian's `chromium`) runs as a subprocess. What a page does is read back three ways:

- a probe script, put first in a copy of the page together with a Content-Security-Policy that forbids
  every fetch, records script errors, console errors, unhandled rejections and each fetch the page
  attempts (a policy violation) into an attribute of <html>, which `--dump-dom` prints;
- Chromium's NetLog (`--log-net-log`) of the unmodified page lists every URL request made;
- screenshots at 1366×768 and 390×844 go to test-output/ (gitignored) for a person to look at.

Without /usr/bin/chromium the tests are skipped, unless CI is set: then they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pdfplumber
import pytest
from report_warehouse import sample_data_dir, write_warehouse

from regreen.ideographs import UNIFIED_IDEOGRAPHS
from regreen.project import PROJECT_ROOT, DataDir
from regreen.report import FailedRun, write_docs, write_report

ZONE = ZoneInfo("Asia/Shanghai")

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "test-output"

# Forbids every fetch, so that any the page attempts shows up as a violation the probe records.
STRICT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "img-src data: blob:; font-src data:"
)
PROBE = """
(function () {
  var seen = [];
  function keep(kind, text) {
    seen.push(kind + ": " + text);
    document.documentElement.setAttribute("data-probe", JSON.stringify(seen));
  }
  window.addEventListener("error", function (e) {
    keep("error", e.message || (e.target && (e.target.src || e.target.href)) || "resource failed");
  }, true);
  window.addEventListener("unhandledrejection", function (e) { keep("rejection", String(e.reason)); });
  document.addEventListener("securitypolicyviolation", function (e) {
    keep("fetch blocked", e.violatedDirective + " " + e.blockedURI);
  });
  var consoleError = console.error;
  console.error = function () {
    keep("console", Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    document.documentElement.setAttribute("data-probe", JSON.stringify(seen));
    var sortable = document.querySelector("table.sortable");
    if (sortable) {
      var header = sortable.tHead.rows[0].cells[0];
      header.click();
      header.click();
      var first = sortable.tBodies[0].rows[0].cells[0].textContent;
      document.documentElement.setAttribute("data-sorted-first", first);
    }
    var root = document.documentElement;
    var size = {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, probe: seen};
    if (window.parent !== window) { window.parent.postMessage(size, "*"); }
  });
})();
"""


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if "CI" in os.environ:
        pytest.fail(
            f"CI is set but {CHROMIUM} is missing: the set-up must apt-get install chromium fonts-noto-cjk"
        )
    pytest.skip(
        f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk); browser tests skipped"
    )


def browse(chromium: Path, profile: Path, url: str, *options: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *options,
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def probed_copy(page: Path, into: Path) -> Path:
    """A copy of `page` that runs the probe first, under the strict policy, beside the original."""
    text = page.read_text(encoding="utf-8")
    head = text.index("<head>") + len("<head>")
    policy = f'<meta http-equiv="Content-Security-Policy" content="{STRICT_CSP}">'
    into.write_text(text[:head] + policy + f"<script>{PROBE}</script>" + text[head:], encoding="utf-8")
    return into


def probe_results(dom: str) -> list[str]:
    found = re.search(r'<html[^>]* data-probe="([^"]*)"', dom)
    assert found, "the probe did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests the page made. Chromium's own services (update checks, sign-in) also show
    in the log; they have no initiating origin, whereas a page's requests come from its origin."""
    text = netlog.read_text(encoding="utf-8").rstrip()
    log = json.loads(text if text.endswith("}") else text.rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and event.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


# --- the warehouses ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """Built by the CLI from the sample submissions, with its report written by `write_report`."""
    data_dir = DataDir(sample_data_dir(tmp_path_factory.getbasetemp()))
    write_report(data_dir.warehouse, data_dir.root / "report", ZONE)
    return data_dir


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory, known_warehouse: Path) -> DataDir:
    data_dir = DataDir(tmp_path_factory.mktemp("known"))
    write_warehouse(data_dir.warehouse, known_warehouse)
    write_report(data_dir.warehouse, data_dir.root / "report", ZONE)
    return data_dir


@pytest.fixture(params=["sample", "known"])
def data_dir(request: pytest.FixtureRequest) -> DataDir:
    return request.getfixturevalue(request.param)


# --- the report -------------------------------------------------------------------------------


def test_the_report_runs_without_errors_and_fetches_nothing(
    chromium: Path, data_dir: DataDir, tmp_path: Path
) -> None:
    page = probed_copy(data_dir.root / "report" / "index.html", data_dir.root / "report" / "probed.html")
    dom = browse(
        chromium, tmp_path / "profile", page.as_uri(), "--virtual-time-budget=3000", "--dump-dom"
    ).stdout
    assert probe_results(dom) == []
    # The sorting script works: two clicks on 编号 sort the projects by code, last first.
    assert re.search(r'data-sorted-first="2025-03"', dom)


def test_no_request_leaves_the_machine(chromium: Path, data_dir: DataDir, tmp_path: Path) -> None:
    netlog = tmp_path / "netlog.json"
    for page in ("index.html", "quality.html"):
        url = (data_dir.root / "report" / page).as_uri()
        browse(chromium, tmp_path / "profile", url, f"--log-net-log={netlog}", "--dump-dom")
        assert [u for u in page_requests(netlog) if not u.startswith(("file:", "data:"))] == []


def test_the_burnup_shows_the_district_figure_of_the_latest_month(
    chromium: Path, data_dir: DataDir, tmp_path: Path
) -> None:
    url = (data_dir.root / "report" / "index.html").as_uri()
    dom = browse(chromium, tmp_path / "profile", url, "--dump-dom").stdout
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        month, restored = con.execute(
            "select report_month, restored_mu from marts.district_progress_monthly "
            "order by report_month desc limit 1"
        ).fetchone()
    label = re.search(
        r'<text id="burnup-latest"[^>]*data-month="([^"]+)" data-mu="([^"]+)">([^<]+)</text>', dom
    )
    assert label, "the chart has no label for its latest month"
    assert label.group(1) == f"{month:%Y-%m}"
    assert Decimal(label.group(2)) == restored
    assert label.group(3) == f"{restored:,.1f} 亩"


def _width_at(chromium: Path, page: Path, width: int, profile: Path) -> dict[str, object]:
    """The probe's measurements of `page` in a frame `width` pixels wide (a headless window is at least
    500 px wide, a frame can be as narrow as a phone)."""
    frame = page.with_name(f"frame-{width}.html")
    frame.write_text(
        f'<!doctype html><html><body style="margin:0"><iframe src="{page.name}" '
        f'style="width:{width}px;height:844px;border:0"></iframe><script>'
        'window.addEventListener("message", function (e) {'
        'document.documentElement.setAttribute("data-frame", JSON.stringify(e.data)); });'
        "</script></body></html>",
        encoding="utf-8",
    )
    dom = browse(chromium, profile, frame.as_uri(), "--virtual-time-budget=3000", "--dump-dom").stdout
    found = re.search(r'data-frame="([^"]*)"', dom)
    assert found, "the framed page did not report back"
    return json.loads(found.group(1).replace("&quot;", '"'))


def test_printed_the_burnup_and_the_map_each_stay_on_the_page_of_their_heading(
    chromium: Path, sample: DataDir, tmp_path: Path
) -> None:
    # Officials print the report: a chart cut by a page break, or its heading left at the foot of the
    # page before, was how the map came out on A4 (its heading on page 1, the map on page 2).
    printed = tmp_path / "report.pdf"
    url = (sample.root / "report" / "index.html").as_uri()
    browse(chromium, tmp_path / "profile", url, f"--print-to-pdf={printed}", "--no-pdf-header-footer")
    with pdfplumber.open(printed) as document:
        pages = [(page.extract_text() or "").translate(UNIFIED_IDEOGRAPHS) for page in document.pages]
    assert len(pages) >= 3

    def pages_of(text: str) -> list[int]:
        return [number for number, words in enumerate(pages) if text in words]

    # A heading's words also stand in the contents at the top: its own page is the last that has them.
    assert pages_of("全区累计修复进度")[-1:] == pages_of("实际累计 actual")  # the heading, the legend
    assert pages_of("图斑分布")[-1:] == pages_of("N 北")  # the map's heading, its north arrow


@pytest.mark.parametrize("width", [1366, 390])
def test_the_page_fits_the_screen_and_only_tables_scroll_sideways(
    chromium: Path, sample: DataDir, width: int, tmp_path: Path
) -> None:
    page = probed_copy(sample.root / "report" / "index.html", sample.root / "report" / "probed.html")
    measured = _width_at(chromium, page, width, tmp_path / "profile")
    assert measured["probe"] == []
    assert measured["innerWidth"] == width
    assert measured["scrollWidth"] <= width


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_screenshots_for_a_person_to_look_at(
    chromium: Path, sample: DataDir, width: int, height: int
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / f"report-{width}x{height}.png"
    shot.unlink(missing_ok=True)
    url = (sample.root / "report" / "index.html").as_uri()
    profile = sample.root / "work" / f"chromium-{width}"
    browse(
        chromium, profile, url, "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={shot}"
    )
    shutil.rmtree(profile, ignore_errors=True)
    assert png_size(shot) == (width, height)


# --- the red banner of a run that did not publish -----------------------------------------------

FAILED_RUN = FailedRun(
    "20261128T161757Z-b67397",
    datetime(2026, 11, 28, 16, 20, 5, tzinfo=UTC),
    "checks_failed",
    "1 项错误级检查未通过 / 1 error-level check failed: plan_figures: 2023 面积 (994 ≠ 993)",
)
BANNER_PROBE = """
window.addEventListener("load", function () {
  var banner = document.getElementById("failed-run");
  var box = banner.getBoundingClientRect();
  var first = document.body.firstElementChild;
  document.documentElement.setAttribute("data-banner", JSON.stringify({
    top: box.top, height: box.height, first: first.id,
    background: getComputedStyle(banner).backgroundColor, color: getComputedStyle(banner).color,
    text: banner.innerText, cards: document.querySelectorAll(".card").length
  }));
});
"""


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory, known_warehouse: Path) -> DataDir:
    """The known warehouse's report after a run that failed its checks."""
    data_dir = DataDir(tmp_path_factory.mktemp("failed"))
    write_warehouse(data_dir.warehouse, known_warehouse)
    write_report(data_dir.warehouse, data_dir.root / "report", ZONE, FAILED_RUN)
    return data_dir


def test_a_run_that_did_not_publish_is_a_red_banner_at_the_top(chromium: Path, failed: DataDir) -> None:
    page = failed.root / "report" / "index.html"
    probed = page.with_name("banner.html")
    text = page.read_text(encoding="utf-8")
    head = text.index("<head>") + len("<head>")
    probed.write_text(text[:head] + f"<script>{BANNER_PROBE}</script>" + text[head:], encoding="utf-8")
    dom = browse(chromium, failed.root / "work" / "chromium-banner", probed.as_uri(), "--dump-dom").stdout
    found = re.search(r'data-banner="([^"]*)"', dom)
    assert found, "the banner probe did not run"
    banner = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert banner["first"] == "failed-run" and banner["top"] == 0 and banner["height"] > 40
    assert banner["background"] == "rgb(184, 50, 50)" and banner["color"] == "rgb(255, 255, 255)"
    said = " ".join(banner["text"].split())
    assert "最近一次运行未发布（检查未通过）/ The latest run did not publish (checks failed)" in said
    # The run, when it ended in 泉州 (16:20 UTC is 00:20 the next day), why, and how old the data are.
    assert "运行 run 20261128T161757Z-b67397 · 2026-11-29 00:20 Asia/Shanghai" in said
    assert "plan_figures: 2023 面积 (994 ≠ 993)" in said
    assert "数据截至 2025-06" in said and "data as of 2025-06" in said
    assert banner["cards"] == 6  # the last good figures stay below it
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "report-failed-run-1366x768.png"
    shot.unlink(missing_ok=True)
    profile = failed.root / "work" / "chromium-shot"
    browse(
        chromium,
        profile,
        page.as_uri(),
        "--hide-scrollbars",
        "--window-size=1366,768",
        f"--screenshot={shot}",
    )
    assert png_size(shot) == (1366, 768)


# --- the data dictionary -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_page(sample: DataDir) -> Path:
    return write_docs(sample)


def test_the_data_dictionary_renders_offline(chromium: Path, docs_page: Path, tmp_path: Path) -> None:
    page = probed_copy(docs_page, docs_page.with_name("probed.html"))
    dom = browse(
        chromium, tmp_path / "profile", page.as_uri(), "--virtual-time-budget=5000", "--dump-dom"
    ).stdout
    # dbt's page asks for a local placeholder image (file:) and nothing else; no script error at all.
    problems = [p for p in probe_results(dom) if not p.startswith("fetch blocked: img-src file")]
    assert problems == []
    # Its script ran: the project tree lists the marts.
    assert 'class="filename-normal ng-binding">dim_project<' in dom
    netlog = tmp_path / "netlog.json"
    browse(chromium, tmp_path / "profile", docs_page.as_uri(), f"--log-net-log={netlog}", "--dump-dom")
    assert [u for u in page_requests(netlog) if not u.startswith(("file:", "data:", "blob:"))] == []
