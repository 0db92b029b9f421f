"""Perfect scaling (§1): steps to a target by batch size, and the critical batch size.

A perfect-scaling study gives each batch size its own tuned learning rate (``per_value``
design) and the same *step* budget; :func:`perfect_scaling` reads the steps each batch size's
fastest trial needed to reach the target, against perfect scaling (half the steps per doubling).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scitune._probe_batch import NOTES, SECTION, _info, finding_json
from scitune._probe_run import trial_size
from scitune.analysis import Finding
from scitune.errors import ScituneError
from scitune.space import Value
from scitune.storage import FrozenTrial, TrialState
from scitune.study import Study

__all__ = [
    "CRITICAL_FACTOR",
    "EDGE_SHARE",
    "PerfectScaling",
    "ScalingPoint",
    "critical_batch_size",
    "perfect_scaling",
    "steps_to_target",
]

CRITICAL_FACTOR = 1.5
"""Ours: a batch size still scales while its steps are within 1.5x the perfect-scaling steps."""
EDGE_SHARE = 0.1
"""Ours: a best value in the outer 10% of its range (sampler coordinates) is "at the edge"."""


@dataclass(frozen=True)
class ScalingPoint:
    """One batch size: the fewest steps to the target among its trials, and the best trial.

    ``perfect`` is the perfect-scaling prediction from the reference (smallest) batch size,
    ``ratio`` = steps / perfect. ``at_edge`` names the best trial's nuisance values in the outer
    10% of their range: the tuned learning rate may lie outside, and the steps be overstated.
    """

    batch_size: int
    steps: int | None
    trial_number: int | None = None
    params: Mapping[str, Value] = field(default_factory=dict)
    trials: int = 0
    reached: int = 0
    perfect: float | None = None
    ratio: float | None = None
    at_edge: tuple[str, ...] = ()


@dataclass(frozen=True)
class PerfectScaling:
    """Steps to the target by batch size, against perfect scaling; the critical batch size."""

    points: tuple[ScalingPoint, ...]
    metric: str
    target: float | None
    goal: str
    factor: float
    max_train_steps: int
    reference: int | None
    critical_batch_size: int | None
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "target": self.target,
            "goal": self.goal,
            "factor": self.factor,
            "max_train_steps": self.max_train_steps,
            "reference_batch_size": self.reference,
            "critical_batch_size": self.critical_batch_size,
            "points": [{**asdict(p), "params": dict(p.params)} for p in self.points],
            "findings": [finding_json(f) for f in self.findings],
        }


def steps_to_target(
    steps: Iterable[int], values: Iterable[float], target: float, goal: str = "minimize"
) -> int | None:
    """The first step at which the metric reaches ``target`` (``<=`` when minimizing).

    Example:
        >>> steps_to_target([100, 200, 300], [0.4, 0.2, 0.1], 0.25)
        200
    """
    for step, value in zip(steps, values, strict=True):
        if math.isfinite(value) and (value <= target if goal == "minimize" else value >= target):
            return int(step)
    return None


def critical_batch_size(
    points: Sequence[tuple[int, int | None]], factor: float = CRITICAL_FACTOR
) -> tuple[int | None, int | None]:
    """``(reference, critical)``: the smallest batch size that reached the target, and the
    largest one up to which every size needed at most ``factor`` x the perfect-scaling steps.

    Perfect scaling from the reference ``(b0, s0)`` predicts ``s0 * b0 / b`` steps at ``b``;
    the first size above ``factor`` times that (or that never reached the target) ends it.

    Example:
        >>> critical_batch_size([(32, 800), (64, 420), (128, 260), (256, 240), (512, 230)])
        (32, 128)
    """
    ordered = sorted(points)
    start = next((i for i, (_, s) in enumerate(ordered) if s is not None), None)
    if start is None:
        return None, None
    b0, s0 = ordered[start]
    assert s0 is not None
    critical = b0
    for b, s in ordered[start + 1 :]:
        if s is None or s > factor * s0 * b0 / b:
            break
        critical = b
    return b0, critical


def perfect_scaling(
    study: Study,
    *,
    target: float | None,
    metric: str | None = None,
    batch_param: str = "batch_size",
    factor: float = CRITICAL_FACTOR,
    reported: str = "steps_to_target",
) -> PerfectScaling:
    """Read a perfect-scaling study: steps to ``target`` per batch size, best trial of each.

    With ``target``, the steps are the first step where ``metric`` (default: the objective)
    reaches it; without, each trial's own ``reported`` metric (its smallest value) is used.

    Raises:
        ScituneError: the study does not vary ``batch_param``, or there is no target and its
            trials report no ``reported`` metric.
    """
    spec = study.spec
    metric = metric or spec.objective.metric
    goal = spec.objective.goal
    if factor <= 1:
        raise ScituneError(f"--factor must be > 1 (a share of perfect scaling), got {factor}.")
    trials = [t for t in study.trials([TrialState.COMPLETE])]
    sizes = sorted({trial_size(t, batch_param) for t in study.trials()} - {0})
    if len(sizes) < 2:
        raise ScituneError(
            f"study {study.name!r} does not vary {batch_param!r} (values: {sizes}): a "
            "perfect-scaling study has it among [scientific] values, e.g. "
            f"{batch_param} = {{ values = [32, 64, 128, 256] }}. Pass --batch-param otherwise."
        )
    wanted = [metric] if target is not None else [reported]
    curves = study.storage.get_curves(study.record.id, metrics=wanted)
    if target is None and not any(reported in c for c in curves.values()):
        raise ScituneError(
            f"no --target given and the trials of {study.name!r} report no {reported!r}: pass "
            f"the {metric} to reach, e.g. --target 0.2."
        )
    space = spec.nuisance_space()
    points: list[ScalingPoint] = []
    for size in sizes:
        mine = [t for t in trials if trial_size(t, batch_param) == size]
        best: tuple[int, FrozenTrial] | None = None
        reached = 0
        for t in mine:
            curve = curves.get(t.id, {}).get(wanted[0])
            if curve is None:
                continue
            if target is not None:
                s = steps_to_target(curve.steps.tolist(), curve.values.tolist(), target, goal)
            else:
                finite = [v for v in curve.values.tolist() if math.isfinite(v) and v > 0]
                s = int(min(finite)) if finite else None
            if s is None:
                continue
            reached += 1
            if best is None or (s, t.number) < (best[0], best[1].number):
                best = (s, t)
        nuisance = {k: best[1].params[k] for k in space.names if best and k in best[1].params}
        edge = _at_edge(space.to_unit(best[1].params), space.keys) if best else ()
        points.append(
            ScalingPoint(
                size,
                best[0] if best else None,
                best[1].number if best else None,
                nuisance,
                len(mine),
                reached,
                at_edge=edge,
            )
        )
    reference, critical = critical_batch_size([(p.batch_size, p.steps) for p in points], factor)
    ref = next((p for p in points if p.batch_size == reference), None)
    if ref is not None and ref.steps is not None:
        points = [
            replace(
                p,
                perfect=ref.steps * ref.batch_size / p.batch_size,
                ratio=p.steps / (ref.steps * ref.batch_size / p.batch_size) if p.steps else None,
            )
            for p in points
        ]
    return PerfectScaling(
        tuple(points),
        metric if target is not None else reported,
        target,
        goal,
        factor,
        spec.budget.max_train_steps,
        reference,
        critical,
        tuple(_scaling_findings(points, spec.budget.max_train_steps)),
    )


def _at_edge(unit: Any, keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        k
        for k, u in zip(keys, unit.tolist(), strict=True)
        if math.isfinite(u) and (u < EDGE_SHARE or u > 1 - EDGE_SHARE)
    )


def _scaling_findings(points: Sequence[ScalingPoint], max_steps: int) -> list[Finding]:
    out = []
    missing = [p.batch_size for p in points if p.steps is None]
    if missing:
        out.append(
            Finding(
                "scaling.target_not_reached",
                "warning",
                f"Batch size(s) {missing} never reached the target within {max_steps} steps "
                "(drawn at the budget, as lower bounds).",
                "Give them more steps or trials, or choose a nearer target.",
                SECTION,
                {"batch_sizes": missing, "max_train_steps": max_steps},
            )
        )
    edge = {p.batch_size: list(p.at_edge) for p in points if p.at_edge}
    if edge:
        out.append(
            Finding(
                "scaling.best_at_edge",
                "warning",
                f"The fastest trial of batch size(s) {sorted(edge)} sits in the outer "
                f"{EDGE_SHARE:.0%} of its range ({edge}): its best learning rate may lie "
                "outside, and its steps be overstated.",
                "Widen that range for those batch sizes and run the study again.",
                SECTION,
                {"axes": {str(k): v for k, v in edge.items()}, "edge_share": EDGE_SHARE},
            )
        )
    few = [p.batch_size for p in points if p.trials < 3]
    if few:
        out.append(
            _info(
                "scaling.few_trials",
                f"Batch size(s) {few} have fewer than 3 finished trials; each needs its own "
                "tuned learning rate, which one or two trials rarely find.",
                "Raise budget.trials if the curve looks irregular.",
            )
        )
    out.append(
        _info(
            "scaling.step_budget",
            "Every trial had the same step budget (budget.max_train_steps), not an epoch "
            "budget: with a fixed number of epochs a larger batch gets fewer steps, so an "
            "epoch budget can only show perfect scaling, never where it ends.",
            "Compare batch sizes on step budgets, as here.",
        )
    )
    out.append(NOTES["retune"])
    return out
