"""Isolation: the best trial per scientific value once the nuisance ones are tuned away (§5).

A comparison of scientific values is only fair when each value's nuisance search was good
enough: enough complete trials, a ranked one, and a best trial that is not pressed against a
nuisance range's edge (then its true optimum may lie outside, and the gap may be an artefact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scitune.analysis._axes import edge_of, fmt, ranked_points
from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import (
    AxisPoint,
    AxisResult,
    Finding,
    IsolationGroup,
    IsolationResult,
)
from scitune.analysis._snapshot import StudySnapshot
from scitune.space import FloatDomain, IntDomain
from scitune.storage import TrialState

__all__ = ["isolation_results"]

SECTION = "§5 Extracting insight"
SUMMARY_SECTION = "§5 Extracting insight; §6 Adopting a change"


def isolation_results(
    snap: StudySnapshot,
    cfg: AnalysisConfig,
    axes: Sequence[AxisResult],
    *,
    searched: bool = True,
) -> tuple[list[IsolationResult], list[Finding]]:
    """One isolation result per scientific axis that varied, with thin/summary findings.

    ``searched`` False (no nuisance search: fixed configurations) means nothing can be thin.

    ``axes`` from :func:`axis_results`. Unconditional scientific axes come first. A choice axis
    gets a group per value (values never tried included); a continuous one (joint design)
    ``isolation_buckets`` equal-width buckets in the sampler's coordinates.
    """
    conditional = {a.key for a in snap.spec.scientific_space().axes if a.condition is not None}
    scientific = sorted(
        (a for a in axes if a.role == "scientific"), key=lambda a: a.key in conditional
    )
    nuisance = [a for a in axes if a.role == "nuisance" and a.kind != "choice"]
    on_axis = {a.key: {p.trial: p for p in a.points} for a in nuisance}
    results: list[IsolationResult] = []
    findings: list[Finding] = []
    for axis in scientific:
        groups = [
            _group(snap, label, value, low, high, points, nuisance, on_axis, cfg)
            for label, value, low, high, points in _split(snap, axis, cfg)
        ]
        reasons = tuple(r for g in groups for r in _thin_reasons(g, cfg)) if searched else ()
        best = _winner(snap, groups)
        result = IsolationResult(
            name=axis.key,
            groups=tuple(groups),
            verdict="thin" if reasons else "fair",
            reasons=reasons,
            best_label=best.label if best else None,
        )
        results.append(result)
        if reasons:
            findings.append(_thin(result, cfg))
        if best is not None:
            findings.append(_summary(snap, result, best))
    return results, findings


_Split = tuple[str, Any, float | None, float | None, list[AxisPoint]]


def _split(snap: StudySnapshot, axis: AxisResult, cfg: AnalysisConfig) -> list[_Split]:
    """``(label, value, low, high, points)`` per value or per bucket."""
    if axis.choices is not None:
        n = len(axis.choices)
        # A choice's unit is the centre of its slice: the same float for the same value.
        return [
            (fmt(v), v, None, None, [p for p in axis.points if p.unit == (i + 0.5) / n])
            for i, v in enumerate(axis.choices)
        ]
    domain = next(a.domain for a in snap.spec.scientific_space().axes if a.key == axis.key)
    assert isinstance(domain, FloatDomain | IntDomain)
    b = max(1, cfg.isolation_buckets)
    buckets: list[list[AxisPoint]] = [[] for _ in range(b)]
    for p in axis.points:
        buckets[min(int(p.unit * b), b - 1)].append(p)
    out: list[_Split] = []
    for i, points in enumerate(buckets):
        low, high = _value_at(domain, i / b), _value_at(domain, (i + 1) / b)
        close = "]" if i == b - 1 else ")"
        out.append((f"[{fmt(low)}, {fmt(high)}{close}", None, low, high, points))
    return out


def _value_at(domain: FloatDomain | IntDomain, u: float) -> float:
    """The value at unit coordinate ``u``; for integers the continuous edge between slices."""
    if isinstance(domain, FloatDomain):
        return domain.from_unit(u)
    if domain.scale == "log":
        lo, hi = math.log(domain.low - 0.5), math.log(domain.high + 0.5)
        return math.exp(lo + u * (hi - lo))
    return domain.low - 0.5 + u * (domain.high - domain.low + 1)


def _group(
    snap: StudySnapshot,
    label: str,
    value: Any,
    low: float | None,
    high: float | None,
    points: list[AxisPoint],
    nuisance: list[AxisResult],
    on_axis: dict[str, dict[int, AxisPoint]],
    cfg: AnalysisConfig,
) -> IsolationGroup:
    ranked = ranked_points(snap, points)
    # The value's best is its best configuration (mean over its runs), as everywhere else.
    mean_of = {c.trial: c.mean for c in snap.configurations() if c.rank is not None}
    best = min(
        (p for p in ranked if p.trial in mean_of),
        key=lambda p: (snap.sign * mean_of[p.trial], p.trial),
        default=None,
    )
    at_edge: list[str] = []
    if best is not None:
        for axis in nuisance:
            p = on_axis[axis.key].get(best.trial)
            if p is not None and edge_of(axis, p, cfg.boundary_margin) is not None:
                at_edge.append(axis.key)
    return IsolationGroup(
        label=label,
        value=value,
        low=low,
        high=high,
        n_trials=len(points),
        n_complete=sum(p.state == TrialState.COMPLETE.value for p in points),
        n_infeasible=sum(p.state == TrialState.INFEASIBLE.value for p in points),
        best_trial=best.trial if best else None,
        best_score=mean_of[best.trial] if best else None,
        scores=tuple(p.score for p in ranked if p.score is not None),
        best_at_boundary=tuple(at_edge),
    )


def _thin_reasons(g: IsolationGroup, cfg: AnalysisConfig) -> list[str]:
    reasons = []
    if g.n_complete < cfg.isolation_min_trials:
        reasons.append(
            f"{g.label}: {g.n_complete} complete trials (fewer than {cfg.isolation_min_trials})"
        )
    if g.best_trial is None:
        reasons.append(f"{g.label}: no ranked trial")
    elif g.best_at_boundary:
        reasons.append(
            f"{g.label}: its best trial (trial {g.best_trial}) sits at the edge of "
            f"{', '.join(g.best_at_boundary)}"
        )
    return reasons


def _winner(snap: StudySnapshot, groups: list[IsolationGroup]) -> IsolationGroup | None:
    scored = [g for g in groups if g.best_score is not None]
    if not scored:
        return None
    return min(scored, key=lambda g: (snap.sign * (g.best_score or 0.0), g.best_trial or 0))


def _groups_evidence(result: IsolationResult) -> list[dict[str, Any]]:
    return [
        {
            "label": g.label,
            "n_trials": g.n_trials,
            "n_complete": g.n_complete,
            "n_ranked": len(g.scores),
            "best_trial": g.best_trial,
            "best_score": g.best_score,
            "best_at_boundary": list(g.best_at_boundary),
        }
        for g in result.groups
    ]


def _thin(result: IsolationResult, cfg: AnalysisConfig) -> Finding:
    return Finding(
        "isolation.thin",
        "warning",
        f"The comparison of {result.name} values may be unfair; the nuisance search was too "
        f"thin: {'; '.join(result.reasons)}.",
        "Give every value enough trials (raise budget.trials) and nuisance ranges whose optima "
        "lie inside (expand the flagged ranges), then compare the best trials again.",
        SECTION,
        {
            "groups": _groups_evidence(result),
            "isolation_min_trials": cfg.isolation_min_trials,
            "isolation_buckets": cfg.isolation_buckets,
            "boundary_margin": cfg.boundary_margin,
            "defaults": "ours",
        },
        subject=result.name,
    )


def _summary(snap: StudySnapshot, result: IsolationResult, best: IsolationGroup) -> Finding:
    metric = snap.spec.objective.metric
    others = [
        f"{g.label}: {fmt(g.best_score) if g.best_score is not None else 'no ranked trial'}"
        for g in result.groups
        if g is not best
    ]
    parts = [f"{best.label} best ({metric} {fmt(best.best_score)})", *others]
    scored = sorted(
        (g for g in result.groups if g.best_score is not None),
        key=lambda g: snap.sign * (g.best_score or 0.0),
    )
    gap = abs((scored[1].best_score or 0.0) - (best.best_score or 0.0)) if len(scored) > 1 else None
    if gap is None:
        action = (
            f"Only {best.label} has a ranked trial, so there is nothing to compare yet: fill the "
            "other values' nuisance searches first (raise budget.trials)."
        )
    else:
        action = (
            f"Before adopting {result.name} = {best.label}, check that its lead over "
            f"{scored[1].label} ({fmt(gap)}) exceeds trial-to-trial variance: re-run each "
            "value's best configuration with a few other seeds (`scitune reseed`, §6) and "
            "`scitune compare` them."
        )
    return Finding(
        "isolation.summary",
        "info",
        f"{result.name}: {'; '.join(parts)}. Differences smaller than trial-to-trial variance "
        "are not evidence: `scitune reseed` measures it and `scitune compare` weighs a gap "
        "against it.",
        action,
        SUMMARY_SECTION,
        {
            "best_label": best.label,
            "best_trial": best.best_trial,
            "best_score": best.best_score,
            "gap_to_second": gap,
            "verdict": result.verdict,
            "groups": _groups_evidence(result),
        },
        subject=result.name,
    )
