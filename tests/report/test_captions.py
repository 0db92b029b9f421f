"""Report captions are computed from the analysis's findings, never fixed text."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from scitune.analysis import Analysis, StudySnapshot, analyze
from scitune.plots._style import fmt
from scitune.report._figures import report_figures
from tests.analysis.test_space_checks import scored_study


def best_of_k_subtitle(analysis: Analysis, snap: StudySnapshot) -> str:
    sections = report_figures(analysis, snap, analysis.settings)
    (plot,) = [p for s in sections for p in s.plots if p.name == "best of k"]
    assert plot.figure is not None
    return str(plot.figure.layout.title.subtitle.text)


def flattened() -> StudySnapshot:
    return scored_study(np.random.default_rng(1).uniform(0.1, 1.0, 60).tolist())


def still_falling() -> StudySnapshot:
    return scored_study([1.0 + 0.001 * i for i in range(39)] + [0.5])


@pytest.mark.parametrize(
    "make, code, words",
    [
        (flattened, "density.flattened", "within"),
        (still_falling, "density.more_trials", "more than"),
    ],
)
def test_best_of_k_subtitle_states_the_analysis_verdict(
    make: Callable[[], StudySnapshot], code: str, words: str
) -> None:
    snap = make()
    analysis = analyze(snap)
    (verdict,) = [f for f in analysis.findings if f.code == code]
    e = verdict.evidence
    text = best_of_k_subtitle(analysis, snap)
    assert f"moved {fmt(e['gain'])} from k = {e['k_half']} to {e['n_finished']}" in text
    assert f"{words} {fmt(e['threshold'])}" in text
    helps = "more trials would likely help" in text
    assert helps == (code == "density.more_trials")
    assert f"n = {e['n_finished']} finished" in text


def test_a_flat_curve_is_never_captioned_as_still_falling() -> None:
    # The old subtitle read "still falling at k = n => more trials would likely help" whatever
    # analyze said.
    snap = flattened()
    text = best_of_k_subtitle(analyze(snap), snap)
    assert "still falling" not in text and "unlikely to change the winner" in text
