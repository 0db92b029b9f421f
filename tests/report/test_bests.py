"""The report shows the best trials' raw and smoothed bests side by side, spikes marked."""

from __future__ import annotations

from typing import Any

import pytest

from scitune.analysis import Analysis, StudySnapshot, analyze
from scitune.plots._style import RED
from scitune.report import render_report
from scitune.report._figures import report_figures
from scitune.report._parts import Plot
from tests.analysis.curve_helpers import curve, snapshot, study_spec, trial
from tests.analysis.test_spikes import HORIZON, MNIST_SEED1, STEPS, demo_curve


def study(*curves: list[float], **spec_kw: Any) -> tuple[Analysis, StudySnapshot]:
    spec = study_spec(max_steps=HORIZON, **spec_kw)
    snap = snapshot(
        spec, [trial(i, {"dev_error": curve(v, STEPS)}, spec) for i, v in enumerate(curves)]
    )
    return analyze(snap), snap


def plot(analysis: Analysis, snap: StudySnapshot, name: str) -> Plot:
    sections = report_figures(analysis, snap, analysis.settings)
    (found,) = [p for s in sections for p in s.plots if p.name == name]
    return found


def steady() -> list[float]:
    return [v + 0.01 for v in MNIST_SEED1]  # raw best 0.07: behind the spike's 0.065


def test_the_table_gives_both_bests_and_marks_the_spike() -> None:
    analysis, snap = study(demo_curve(), steady())
    html = plot(analysis, snap, "raw and smoothed best").html
    assert html is not None
    row = html.split("<tr>")[2]  # the header, then trial 0
    assert "<td class='n'>0</td>" in row and "0.065 <span class='muted'>@ 5,000" in row
    assert "0.13, 0.145" in row and "0.098 <span class='muted'>@ 6,250" in row
    assert "<b class='spike'>spike</b>" in row
    assert "spike" not in html.split("<tr>")[3].split("</tr>")[0]  # trial 1: no mark
    assert "moving mean over 5 evaluations" in html
    assert "1 of 2 score on a spike" in html and "#0 (0.065 raw, 0.098 smoothed)" in html


@pytest.mark.parametrize(
    ("spec_kw", "words"),
    [({}, "None of these 2 scores is a spike."), ({"select": "smoothed"}, 'select = "smoothed"')],
)
def test_the_caption_follows_the_data(spec_kw: dict[str, Any], words: str) -> None:
    curves = [MNIST_SEED1, steady()] if not spec_kw else [demo_curve(), steady()]
    analysis, snap = study(*curves, **spec_kw)
    html = plot(analysis, snap, "raw and smoothed best").html
    assert html is not None and words in html and "score on a spike" not in html


def test_the_curves_mark_raw_and_smoothed_bests() -> None:
    analysis, snap = study(demo_curve(), steady())
    fig = plot(analysis, snap, "best curves").figure
    assert fig is not None
    subtitle = str(fig.layout.title.subtitle.text)
    assert "◇ smoothed best (moving mean of 5 evaluations)" in subtitle
    assert "red ring: the score is a spike (#0)" in subtitle
    raw = [t for t in fig.data if t.mode == "markers" and list(t.x) == [5000]]
    assert len(raw) == 1 and raw[0].marker.line.color == RED
    diamonds = [t for t in fig.data if t.mode == "markers" and t.marker.symbol == "diamond"]
    assert sorted(int(t.x[0]) for t in diamonds)[-1] == 6250 and len(diamonds) == 2
    names = [t.name for t in fig.data if t.name]
    spiky = [n for n in names if "spike" in n]
    assert spiky and spiky == [n for n in names if n.startswith("trial 0")]
    panels = plot(analysis, snap, "small multiples").figure
    assert panels is not None
    labels = [a.text for a in panels.layout.annotations]
    assert "#1 · trial 0 · spike" in labels and "#2 · trial 1" in labels


def test_the_summary_says_when_the_best_scores_on_a_spike() -> None:
    analysis, snap = study(demo_curve(), steady())
    page = render_report(analysis, snap)
    assert "trial 0 scores on a spike</b>: 0.065 at step 5,000, smoothed best 0.098" in page
    analysis, snap = study(demo_curve(), MNIST_SEED1)  # the steady one wins: no note
    assert "scores on a spike</b>" not in render_report(analysis, snap)
