"""Scores (best over training or final) and satisficing constraints."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from scitune.scoring import constraint_violations, first_non_finite, moving_mean, score
from scitune.storage import Curve


def curve(values: list[float], steps: list[int] | None = None) -> Curve:
    steps = steps or [100 * (i + 1) for i in range(len(values))]
    return Curve(np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64))


def test_best_is_the_first_step_reaching_the_best_value() -> None:
    c = curve([0.5, 0.2, 0.3, 0.2])
    assert score(c) is not None and (score(c).value, score(c).step) == (0.2, 200)  # type: ignore[union-attr]
    best = score(c, goal="maximize")
    assert best is not None and (best.value, best.step) == (0.5, 100)


def test_final_is_the_last_value() -> None:
    s = score(curve([0.5, 0.2, 0.3]), select="final")
    assert s is not None and (s.value, s.step) == (0.3, 300)


def test_non_finite_values_never_win_and_empty_curves_do_not_score() -> None:
    c = curve([0.5, math.nan, -math.inf, 0.4])
    s = score(c)
    assert s is not None and s.value == 0.4
    assert score(curve([math.nan])) is None
    assert score(curve([])) is None
    assert score(curve([0.1, math.nan]), select="final") is None
    assert first_non_finite(c) == (200, pytest.approx(math.nan, nan_ok=True))


@dataclass
class C:
    metric: str
    min: float | None = None
    max: float | None = None


def test_constraints_read_at_the_score_step_and_report_why() -> None:
    curves = {"params_millions": curve([0.8]), "latency": curve([5.0, 12.0, 20.0])}
    assert constraint_violations([C("params_millions", max=1.0)], curves, 300) == []
    assert constraint_violations([C("latency", max=10.0)], curves, 100) == []
    assert constraint_violations([C("latency", max=10.0)], curves, 200) == [
        "latency = 12 > max 10"
    ]
    assert constraint_violations([C("latency", min=6.0)], curves, 100) == ["latency = 5 < min 6"]
    assert constraint_violations([C("memory", max=1.0)], curves, 100) == [
        "memory was not reported"
    ]


# --- select = "smoothed": the best of a centered moving mean ------------------------------------


def test_smoothed_scores_the_best_window_at_its_centre() -> None:
    c = curve([0.5, 0.3, 0.1, 0.35, 0.2, 0.25, 0.32])  # one lucky 0.1 at step 300
    raw = score(c)
    assert raw is not None and (raw.value, raw.step) == (0.1, 300)
    s = score(c, select="smoothed", smoothing=3)
    # Windows of 3: (0.3, 0.1, 0.35) at 300 = 0.25, (0.1, 0.35, 0.2) at 400 = 0.2167, ...
    assert s is not None and s.step == 400 and s.value == pytest.approx(0.65 / 3)
    wide = score(c, select="smoothed", smoothing=5)
    # The ends average what exists: (0.5, 0.3, 0.1) = 0.3 at 100; (0.3 ... 0.25) = 0.24 at 400.
    assert wide is not None and wide.step == 400 and wide.value == pytest.approx(0.24)


def test_smoothed_with_a_window_of_one_is_best_and_defaults_to_five() -> None:
    c = curve([0.5, 0.3, 0.1, 0.35, 0.2, 0.25, 0.32])
    assert score(c, select="smoothed", smoothing=1) == score(c)
    assert score(c, select="smoothed") == score(c, select="smoothed", smoothing=5)
    assert score(c, select="best", smoothing=3) == score(c)  # only "smoothed" reads it


def test_smoothed_maximize_and_non_finite_values() -> None:
    acc = curve([0.5, 0.7, 0.95, 0.72, 0.74, 0.73])
    s = score(acc, goal="maximize", select="smoothed", smoothing=3)
    assert s is not None and s.step == 400 and s.value == pytest.approx((0.95 + 0.72 + 0.74) / 3)
    # Non-finite values are left out of the windows (the runner makes such a trial infeasible).
    gappy = curve([0.5, math.nan, 0.3, 0.2, math.inf, 0.2])
    s = score(gappy, select="smoothed", smoothing=3)
    assert s is not None and s.step == 600 and s.value == pytest.approx(0.2)
    assert score(curve([math.nan]), select="smoothed") is None
    # A window wider than the curve averages the whole curve at every point: the first wins.
    s = score(curve([0.4, 0.2]), select="smoothed", smoothing=9)
    assert s is not None and (s.value, s.step) == (pytest.approx(0.3), 100)


@pytest.mark.parametrize("window", [0, 2, -1, True])
def test_smoothing_must_be_an_odd_window(window: int) -> None:
    with pytest.raises(ValueError, match="odd number of evaluations >= 1"):
        score(curve([0.5, 0.3, 0.1]), select="smoothed", smoothing=window)


def test_moving_mean_centres_and_cuts_at_the_ends() -> None:
    assert moving_mean([1.0, 2.0, 6.0, 3.0], 3).tolist() == pytest.approx([1.5, 3.0, 11 / 3, 4.5])
    assert moving_mean([4.0, 8.0], 1).tolist() == [4.0, 8.0]
    assert moving_mean([], 5).tolist() == []
