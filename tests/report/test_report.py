"""The report is one offline file, escapes every user string, and renders in a real browser."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from scitune.report import render_report, write_report
from scitune.report._embed import script_json
from tests.plots.synthetic import CLOSE, HOSTILE, IMG, XSS, Synthetic, make_study

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def study() -> Synthetic:
    return make_study(per_value=20)


@pytest.fixture(scope="module")
def hostile() -> Synthetic:
    return make_study(per_value=12, hostile=True)


@pytest.fixture(scope="module")
def page_html(study: Synthetic) -> str:
    return render_report(study.analysis, study.snapshot)


def expected_plots(s: Synthetic) -> int:
    """Axis plots, isolation, best-of-k, best curves, overlay, small multiples, best step, 2 x
    gradient norm."""
    return len(s.analysis.axes) + len(s.analysis.isolation) + 1 + 3 + 1 + 2


# -- the file -----------------------------------------------------------------------------------
def test_plotly_js_is_embedded_exactly_once(page_html: str) -> None:
    from plotly.offline import get_plotlyjs

    assert page_html.count(get_plotlyjs()) == 1
    assert page_html.count("Plotly.newPlot(") == 1  # one loop draws every figure


def test_nothing_is_loaded_from_elsewhere(page_html: str) -> None:
    from plotly.offline import get_plotlyjs

    # plotly.js mentions URLs in its strings (links it never loads): check the page around it;
    # the browser test below is the proof that no request is made.
    lowered = page_html.replace(get_plotlyjs(), "").lower()
    assert "<script src" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", lowered)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page_html)
    assert policy and "default-src &#x27;none&#x27;" in policy.group(1)
    assert "connect-src &#x27;none&#x27;" in policy.group(1)


def test_figures_are_json_data_blocks(study: Synthetic, page_html: str) -> None:
    divs = re.findall(r"<div class='plot' data-fig='(fig-\d+)'", page_html)
    assert len(divs) == expected_plots(study)
    for element_id in divs:
        block = re.search(
            rf'<script type="application/json" id="{element_id}">(.*?)</script>', page_html, re.S
        )
        assert block is not None
        fig = json.loads(block.group(1))
        assert fig["data"] and "layout" in fig


def test_trial_hover_labels_are_stored_once(study: Synthetic, page_html: str) -> None:
    block = re.search(
        r'<script type="application/json" id="trial-hover">(.*?)</script>', page_html, re.S
    )
    assert block is not None
    hover = json.loads(block.group(1))
    shown = {t.number for t in study.snapshot.trials if t.state.value != "FAILED"}
    assert {int(k) for k in hover} == shown
    best = study.snapshot.ranked()[0]
    assert f"trial {best.number}" in hover[str(best.number)]
    embedded = script_json(json.dumps(hover[str(best.number)], ensure_ascii=False))
    assert page_html.count(embedded) == 1


def test_size_is_reasonable(page_html: str) -> None:
    from plotly.offline import get_plotlyjs

    assert len(page_html.encode()) - len(get_plotlyjs()) < 1_500_000


def test_write_report_creates_the_folder(tmp_path: Path, study: Synthetic) -> None:
    out = write_report(
        study.analysis,
        study.snapshot,
        tmp_path / "a" / "b" / "report.html",
        config_settings={"boundary_margin": 0.2},
    )
    assert out == tmp_path / "a" / "b" / "report.html" and out.stat().st_size > 1_000_000
    text = out.read_text()
    assert "boundary_margin" in text and "changed" in text  # not the default 0.1
    assert not list(out.parent.glob("*.tmp"))


def test_sections_are_all_there(page_html: str, study: Synthetic) -> None:
    for anchor in (
        "summary",
        "findings",
        "search-space",
        "isolation",
        "density",
        "curves",
        "train-length",
        "stability",
        "trials",
        "settings",
    ):
        assert f"id='{anchor}'" in page_html, anchor
    for finding in study.analysis.findings:
        assert finding.code in page_html
    assert "Fixed hyperparameters are caveats" in page_html


# -- escaping -----------------------------------------------------------------------------------
def test_script_json_cannot_close_the_script_element() -> None:
    text = json.dumps({"a": CLOSE, "b": "<!-- x -->", "c": "a & b \u2028"})
    safe = script_json(text)
    assert "</" not in safe and "<!--" not in safe and "\u2028" not in safe
    assert json.loads(safe) == json.loads(text)


def test_hostile_strings_appear_only_escaped(hostile: Synthetic) -> None:
    page = render_report(hostile.analysis, hostile.snapshot)
    for raw in (*HOSTILE, "onerror=alert", "onload=alert"):
        if raw.startswith("on"):
            # Allowed only as inert text: inside JSON strings or escaped HTML text.
            for m in re.finditer(raw, page):
                before = page[max(0, m.start() - 40) : m.start()]
                assert "<img" not in before and "<svg" not in before
            continue
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the goal, as text
    # Only the page's own script elements: one JSON block per figure, the hover labels and the
    # trial table (never executed), then the prelude, plotly.js and the page script.
    assert page.count("<script") == expected_plots(hostile) + 2 + 3


# -- in a real browser --------------------------------------------------------------------------
def browser() -> Any:
    # On CI a missing browser is a failure, never a silent skip: the report is only tested there.
    give_up = pytest.fail if os.environ.get("CI") else pytest.skip
    if not Path(CHROMIUM).exists():
        give_up(f"{CHROMIUM} is missing (scripts/system-deps.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        give_up("playwright is missing (pip install -e '.[dev]' installs it)")
    return sync_playwright


def open_report(path: Path, *, screenshot: Path | None = None) -> dict[str, Any]:
    sync_playwright = browser()
    seen: dict[str, Any] = {"dialogs": [], "errors": [], "requests": []}
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))

            def route(r: Any) -> None:
                if r.request.url == path.as_uri():
                    r.continue_()
                else:
                    seen["requests"].append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-plots=done]", timeout=120_000)
            seen["plots"] = page.locator("div.plot").count()
            seen["drawn"] = page.evaluate(
                "Array.from(document.querySelectorAll('div.plot'))"
                ".filter(d => d.querySelector('.main-svg')).length"
            )
            seen["handlers"] = page.evaluate(
                "document.querySelectorAll('[onerror],[onload],img,iframe,object').length"
            )
            seen["text"] = page.inner_text("body")
            seen["hover"] = page.evaluate(
                "document.querySelector('div.plot').data.find(t => t.text).text[0]"
            )
            rows = page.locator("#trials-table tbody tr")
            seen["rows"] = rows.count()
            seen["first_rank"] = rows.first.locator("td").nth(4).inner_text()
            page.locator("#trials-table th", has_text="state").click()
            seen["first_state_sorted"] = rows.first.locator("td").nth(1).inner_text()
            page.locator("#trials-table th", has_text="state").click()
            seen["first_state_desc"] = rows.first.locator("td").nth(1).inner_text()
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            chromium.close()
    return seen


def test_hostile_report_renders_and_runs_nothing(tmp_path: Path, hostile: Synthetic) -> None:
    browser()
    path = write_report(hostile.analysis, hostile.snapshot, tmp_path / "report.html")
    seen = open_report(path, screenshot=ARTIFACTS / "report.png")
    assert seen["dialogs"] == []
    assert seen["errors"] == []
    assert seen["requests"] == []
    assert seen["handlers"] == 0
    assert seen["plots"] == expected_plots(hostile)
    assert seen["drawn"] == seen["plots"]
    # The hostile strings are there, as text.
    assert XSS in seen["text"] and IMG in seen["text"]
    assert "trial " in seen["hover"]
    assert seen["rows"] == len(hostile.snapshot.trials)
    assert seen["first_rank"] == "1"
    assert seen["first_state_sorted"] == "COMPLETE"
    assert seen["first_state_desc"] == "INFEASIBLE"
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_big_table_shows_500_rows_first(tmp_path: Path) -> None:
    browser()
    big = make_study(per_value=200, steps=400)
    path = write_report(big.analysis, big.snapshot, tmp_path / "big.html")
    seen = open_report(path)
    assert seen["errors"] == [] and seen["requests"] == []
    assert seen["rows"] == 500
    assert f"showing 500 of {len(big.snapshot.trials):,} trials" in seen["text"]
    assert seen["drawn"] == seen["plots"]


@pytest.mark.filterwarnings("error")
def test_a_study_without_results_still_renders(study: Synthetic) -> None:
    import dataclasses

    from scitune.analysis import StudySnapshot, analyze
    from scitune.storage import TrialState

    empty = StudySnapshot.build(study.snapshot.spec, [], {})
    page = render_report(analyze(empty), empty)
    assert "id='trials'" in page and "could not draw" not in page
    crashed = StudySnapshot.build(
        study.snapshot.spec,
        [
            dataclasses.replace(t, state=TrialState.FAILED, value=None, value_step=None)
            for t in study.snapshot.trials
        ],
        study.snapshot.curves,
    )
    page = render_report(analyze(crashed), crashed)
    assert "failed.trials" in page and "could not draw" not in page
