"""A trial's score: the objective over its training curve, and the satisficing constraints.

Pure functions of curves. By default a trial scores the best value its objective reached during
training, at the step it reached it (retrospective checkpoint selection, PLAYBOOK_SPEC §8);
``select = "final"`` takes the last reported value instead, and ``select = "smoothed"`` the best
of a centered moving mean over ``smoothing`` evaluations, so that one lucky evaluation cannot
carry a trial's score. Constraints filter before ranking.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from scitune.storage import Curve

__all__ = [
    "DEFAULT_SMOOTHING",
    "Constraint",
    "Score",
    "better",
    "constraint_violations",
    "first_non_finite",
    "moving_mean",
    "score",
]

Goal = Literal["minimize", "maximize"]
Select = Literal["best", "final", "smoothed"]

DEFAULT_SMOOTHING = 5
"""Evaluations in the centered moving mean of ``select = "smoothed"`` (ours: the point and two
on each side, enough to halve the noise of one evaluation while a trend of ~30 evaluations
keeps its shape)."""


@dataclass(frozen=True)
class Score:
    """The objective value a trial is ranked by, and the training step it came from."""

    value: float
    step: int


class Constraint(Protocol):
    """A satisficing metric: ``min <= value <= max`` (either bound optional)."""

    @property
    def metric(self) -> str: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...


def score(
    curve: Curve,
    *,
    goal: Goal = "minimize",
    select: Select = "best",
    smoothing: int | None = None,
) -> Score | None:
    """The score of one objective curve; ``None`` when it has no finite value to rank by.

    ``select = "smoothed"`` scores the best of :func:`moving_mean` over ``smoothing``
    evaluations (default :data:`DEFAULT_SMOOTHING`; non-finite values left out), at the step of
    the evaluation the best window is centered on; ``smoothing`` is ignored otherwise.

    Example:
        >>> import numpy as np
        >>> c = Curve(np.array([100, 200, 300]), np.array([0.5, 0.2, 0.3]))
        >>> score(c)
        Score(value=0.2, step=200)
        >>> score(c, select="final")
        Score(value=0.3, step=300)
        >>> spiky = Curve(np.arange(100, 600, 100), np.array([0.5, 0.3, 0.1, 0.35, 0.2]))
        >>> score(spiky)  # one lucky evaluation
        Score(value=0.1, step=300)
        >>> s = score(spiky, select="smoothed", smoothing=3)  # mean of 0.1, 0.35, 0.2
        >>> round(s.value, 4), s.step
        (0.2167, 400)

    Raises:
        ValueError: ``smoothing`` is not an odd number >= 1 (a centered window).
    """
    if len(curve) == 0:
        return None
    if select == "final":
        value = float(curve.values[-1])
        return Score(value, int(curve.steps[-1])) if math.isfinite(value) else None
    finite = np.isfinite(curve.values)
    if not finite.any():
        return None
    if select == "smoothed":
        window = DEFAULT_SMOOTHING if smoothing is None else smoothing
        steps, smooth = curve.steps[finite], moving_mean(curve.values[finite], window)
        i = int(np.argmin(smooth) if goal == "minimize" else np.argmax(smooth))
        return Score(float(smooth[i]), int(steps[i]))
    values = np.where(finite, curve.values, np.inf if goal == "minimize" else -np.inf)
    i = int(np.argmin(values) if goal == "minimize" else np.argmax(values))  # first best step
    return Score(float(curve.values[i]), int(curve.steps[i]))


def moving_mean(values: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Centered moving mean over ``window`` points (odd); near the ends, over those that exist.

    Point ``i`` averages ``values[i - h : i + h + 1]`` with ``h = window // 2``, cut at the ends
    of the array (the first point averages ``h + 1`` points, as pandas'
    ``rolling(window, center=True, min_periods=1)`` does).

    Example:
        >>> moving_mean([1.0, 2.0, 6.0, 3.0], 3).tolist()
        [1.5, 3.0, 3.6666666666666665, 4.5]
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(
            f"smoothing must be an odd number of evaluations >= 1 (a centered window), got "
            f"{window!r}. Use e.g. 5."
        )
    y = np.asarray(values, dtype=np.float64)
    h = window // 2
    if not len(y):
        return y.copy()
    # Each window summed on its own (no running sum): a window of one is the value itself.
    padded = np.concatenate((np.full(h, np.nan), y, np.full(h, np.nan)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    out: npt.NDArray[np.float64] = np.nanmean(windows, axis=1)
    return out


def first_non_finite(curve: Curve) -> tuple[int, float] | None:
    """``(step, value)`` of the first NaN or infinity in a curve: where training diverged."""
    bad = np.flatnonzero(~np.isfinite(curve.values))
    if bad.size == 0:
        return None
    return int(curve.steps[bad[0]]), float(curve.values[bad[0]])


def value_at(curve: Curve, step: int | None) -> float | None:
    """The value at ``step``, else the last one before it, else the last one overall."""
    if len(curve) == 0:
        return None
    if step is not None:
        i = int(np.searchsorted(curve.steps, step, side="right")) - 1
        if i >= 0:
            return float(curve.values[i])
    return float(curve.values[-1])


def constraint_violations(
    constraints: Sequence[Constraint], curves: Mapping[str, Curve], step: int | None
) -> list[str]:
    """Why a trial breaks its constraints (empty when it satisfies all of them).

    Each constraint metric is read at the trial's score step (a metric logged once, such as a
    parameter count, counts at any step). A constraint metric never reported is a violation.
    """
    problems = []
    for c in constraints:
        curve = curves.get(c.metric)
        value = value_at(curve, step) if curve is not None else None
        if value is None or math.isnan(value):
            problems.append(f"{c.metric} was not reported")
        elif c.max is not None and value > c.max:
            problems.append(f"{c.metric} = {value:.6g} > max {c.max:.6g}")
        elif c.min is not None and value < c.min:
            problems.append(f"{c.metric} = {value:.6g} < min {c.min:.6g}")
    return problems


def better(a: float, b: float, goal: Goal) -> bool:
    """True when score ``a`` beats ``b`` under ``goal``."""
    return a < b if goal == "minimize" else a > b


def sort_key(goal: Goal) -> float:
    """Sign that turns ``goal`` into ascending order (multiply values by it)."""
    return 1.0 if goal == "minimize" else -1.0


def metrics_needed(objective: str, constraints: Iterable[Constraint]) -> list[str]:
    return list(dict.fromkeys([objective, *(c.metric for c in constraints)]))
