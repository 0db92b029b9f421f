"""Snapshot builders for the curve, best-step and gradient-norm tests (no database)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from scitune.analysis._snapshot import StudySnapshot
from scitune.scoring import score
from scitune.space import Value
from scitune.spec import StudySpec
from scitune.storage import Curve, FrozenTrial, TrialState

MAX_STEPS = 1000


def study_spec(
    *,
    metric: str = "dev_error",
    goal: str = "minimize",
    select: str = "best",
    max_steps: int = MAX_STEPS,
    scientific: Mapping[str, Sequence[Value]] | None = None,
    design: str = "per_value",
) -> StudySpec:
    """A valid study: ``learning_rate`` nuisance, the given scientific values (if any)."""
    data: dict[str, Any] = {
        "name": "curves",
        "entrypoint": {"python": "pkg.train:main"},
        "objective": {"metric": metric, "goal": goal, "select": select},
        "budget": {"trials": 4, "max_train_steps": max_steps},
        "search": {"design": design},
        "nuisance": {"learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"}},
    }
    if scientific:
        data["scientific"] = {name: {"values": list(v)} for name, v in scientific.items()}
    return StudySpec.from_dict(data)


def curve(values: Sequence[float] | np.ndarray, steps: Sequence[int] | None = None) -> Curve:
    """A curve at steps ``MAX_STEPS / n, 2 * MAX_STEPS / n, ...`` unless ``steps`` are given."""
    y = np.asarray(values, dtype=np.float64)
    if steps is None:
        s = np.round(np.linspace(MAX_STEPS / len(y), MAX_STEPS, len(y))).astype(np.int64)
    else:
        s = np.asarray(steps, dtype=np.int64)
    return Curve(s, y)


def fractions(n: int) -> np.ndarray:
    """Training progress (step / max_train_steps) of the points of :func:`curve`."""
    return np.linspace(1.0 / n, 1.0, n)


def trial(
    number: int,
    curves: Mapping[str, Curve],
    spec: StudySpec,
    *,
    params: Mapping[str, Value] | None = None,
    state: TrialState = TrialState.COMPLETE,
    value_step: int | None = None,
) -> tuple[FrozenTrial, dict[str, Curve]]:
    """A trial scored from its objective curve, as the runner would (or at ``value_step``)."""
    params = dict(params or {"learning_rate": 0.01})
    sci = {n: params[n] for n in spec.scientific_space().names if n in params}
    s = None
    objective = curves.get(spec.objective.metric)
    if objective is not None and state is TrialState.COMPLETE:
        s = score(objective, goal=spec.objective.goal, select=spec.objective.select)
    value = None if s is None else s.value
    step = value_step if value_step is not None else (None if s is None else s.step)
    frozen = FrozenTrial(
        id=number + 1,
        study_id=1,
        number=number,
        state=state,
        params=params,
        seed=number,
        slot=json.dumps(sci, sort_keys=True) if sci else "{}",
        slot_index=number,
        parent_number=None,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        value=value,
        value_step=step,
    )
    return frozen, dict(curves)


def snapshot(
    spec: StudySpec, trials: Sequence[tuple[FrozenTrial, dict[str, Curve]]]
) -> StudySnapshot:
    """A snapshot of ``trials`` (as built by :func:`trial`)."""
    return StudySnapshot.build(spec, [t for t, _ in trials], {t.id: c for t, c in trials})
