"""A trial's score: the objective over its training curve, and the satisficing constraints.

Pure functions of curves. By default a trial scores the best value its objective reached during
training, at the step it reached it (retrospective checkpoint selection, PLAYBOOK_SPEC §8);
``select = "final"`` takes the last reported value instead. Constraints filter before ranking.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from scitune.storage import Curve

__all__ = ["Constraint", "Score", "better", "constraint_violations", "first_non_finite", "score"]

Goal = Literal["minimize", "maximize"]
Select = Literal["best", "final"]


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


def score(curve: Curve, *, goal: Goal = "minimize", select: Select = "best") -> Score | None:
    """The score of one objective curve; ``None`` when it has no finite value to rank by.

    Example:
        >>> import numpy as np
        >>> c = Curve(np.array([100, 200, 300]), np.array([0.5, 0.2, 0.3]))
        >>> score(c)
        Score(value=0.2, step=200)
        >>> score(c, select="final")
        Score(value=0.3, step=300)
    """
    if len(curve) == 0:
        return None
    if select == "final":
        value = float(curve.values[-1])
        return Score(value, int(curve.steps[-1])) if math.isfinite(value) else None
    finite = np.isfinite(curve.values)
    if not finite.any():
        return None
    values = np.where(finite, curve.values, np.inf if goal == "minimize" else -np.inf)
    i = int(np.argmin(values) if goal == "minimize" else np.argmax(values))  # first best step
    return Score(float(curve.values[i]), int(curve.steps[i]))


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
