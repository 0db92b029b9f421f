"""Builders for analysis tests: specs, trials and curves as plain records, no database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from scitune.analysis import StudySnapshot
from scitune.space import Value
from scitune.spec import StudySpec
from scitune.storage import Curve, FrozenTrial, TrialState

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_spec(**overrides: Any) -> StudySpec:
    """A valid study (dropout scientific, lr and wd nuisance); ``overrides`` replace tables."""
    data: dict[str, Any] = {
        "name": "s",
        "entrypoint": {"python": "train:main"},
        "objective": {"metric": "dev_error"},
        "budget": {"trials": 10, "max_train_steps": 1000},
        "scientific": {"dropout": {"values": [0.0, 0.1, 0.3]}},
        "nuisance": {
            "learning_rate": {"low": 1e-4, "high": 0.3, "scale": "log"},
            "weight_decay": {"low": 1e-6, "high": 1e-2, "scale": "log"},
        },
        "fixed": {"optimizer": "adam"},
    }
    data.update(overrides)
    return StudySpec.from_dict(data)


def make_trial(
    number: int,
    params: Mapping[str, Value],
    *,
    value: float | None = None,
    state: TrialState | str = TrialState.COMPLETE,
    slot: str = "",
    reason: str | None = None,
    value_step: int | None = None,
) -> FrozenTrial:
    """A finished trial; ``value`` is its score (COMPLETE trials only)."""
    state = TrialState(state)
    return FrozenTrial(
        id=number + 1,
        study_id=1,
        number=number,
        state=state,
        params=dict(params),
        seed=number,
        slot=slot,
        slot_index=number,
        parent_number=None,
        created_at=T0,
        value=value if state is TrialState.COMPLETE else None,
        value_step=value_step if value_step is not None else (100 if value is not None else None),
        reason=reason,
    )


def make_curve(values: Sequence[float], steps: Sequence[int] | None = None) -> Curve:
    """A curve at steps 100, 200, ... unless ``steps`` are given."""
    vals = np.asarray(values, dtype=np.float64)
    st = np.asarray(steps if steps is not None else 100 * np.arange(1, len(vals) + 1), np.int64)
    return Curve(st, vals)


def snapshot(
    spec: StudySpec,
    trials: Iterable[FrozenTrial],
    curves: Mapping[int, Mapping[str, Curve]] | None = None,
) -> StudySnapshot:
    """A snapshot with constraint violations computed; ``curves`` keyed by trial id."""
    return StudySnapshot.build(spec, trials, curves or {})
