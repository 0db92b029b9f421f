"""Scores (best over training or final) and satisficing constraints."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from scitune.scoring import constraint_violations, first_non_finite, score
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
