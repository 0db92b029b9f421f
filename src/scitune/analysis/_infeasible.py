"""Infeasible and failed trials: how many, why, where in the space, and the stability pattern.

INFEASIBLE (diverged, NaN, declared) is a result about the configuration; FAILED (crash,
timeout) is a result about the run and says nothing about the configuration, so it is reported
apart and left out of the infeasible share and of the regions (§5, PLAYBOOK_SPEC items 19-20).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from scitune.analysis._axes import edge_of, fmt, ranked_points
from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import AxisPoint, AxisResult, Finding
from scitune.analysis._snapshot import StudySnapshot
from scitune.storage import FrozenTrial, TrialState

__all__ = ["infeasible_findings"]

SECTION = "§5 Extracting insight"
STABILITY_SECTION = "§5 Extracting insight; §9 Stability"
_TOP_REASONS = 3  # how many distinct reasons a message lists (presentation, not a threshold)
_MIN_BEYOND = 2  # one infeasible trial past the last feasible one is an anecdote, two a region
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b", re.IGNORECASE)
_COMPLETE = TrialState.COMPLETE.value
_INFEASIBLE = TrialState.INFEASIBLE.value


def infeasible_findings(
    snap: StudySnapshot, cfg: AnalysisConfig, axes: Sequence[AxisResult]
) -> list[Finding]:
    """Findings on infeasible and failed trials; ``axes`` from :func:`axis_results`.

    Codes: ``infeasible.fraction``, ``failed.trials``, ``trials.incomplete_curves``,
    ``infeasible.region``, ``infeasible.stability_edge``.
    """
    finished = snap.finished()
    infeasible = [t for t in finished if t.state is TrialState.INFEASIBLE]
    failed = [t for t in finished if t.state is TrialState.FAILED]
    findings: list[Finding] = []
    if infeasible:
        findings.append(_fraction(infeasible, len(finished) - len(failed), len(failed), cfg))
    if failed:
        findings.append(_failed(snap, failed, len(finished)))
    warned = [t for t in snap.trials if t.warnings]
    if warned:
        findings.append(_incomplete(snap, warned))
    if infeasible:
        for axis in axes:
            findings.extend(_regions(snap, axis, cfg))
    return findings


# --- counts and reasons -------------------------------------------------------------------------


def _reasons(trials: Sequence[FrozenTrial]) -> list[tuple[str, int, str]]:
    """``(pattern, count, example)``, most common first; numbers in reasons become ``N``.

    "diverged: dev_error was nan at step 340" and "... at step 120" are one reason.
    """
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for t in trials:
        text = (t.reason or "no reason recorded").strip()
        pattern = _NUMBER.sub("N", text)
        counts[pattern] += 1
        example.setdefault(pattern, text)
    return [(p, c, example[p]) for p, c in counts.most_common(_TOP_REASONS)]


def _reason_text(reasons: list[tuple[str, int, str]]) -> str:
    return "; ".join(f"{example!r} ({count})" for _, count, example in reasons)


def _fraction(
    infeasible: list[FrozenTrial], n_results: int, n_failed: int, cfg: AnalysisConfig
) -> Finding:
    n = len(infeasible)
    share = n / n_results if n_results else 1.0
    reasons = _reasons(infeasible)
    warn = share > cfg.infeasible_warn_fraction
    level = f"{'above' if warn else 'within'} the {cfg.infeasible_warn_fraction:.0%} warning level"
    message = (
        f"{n} of {n_results} trials with a result ({share:.0%}) were infeasible, {level}. "
        f"Most common reasons: {_reason_text(reasons)}."
    )
    if warn:
        action = (
            "Look at where they sit (the axis plots, red X): narrow the ranges away from them, "
            "or fix the instability that causes them (§9); infeasible trials spend the budget "
            "without informing the search."
        )
    else:
        action = "Nothing to do unless they cluster at one end of an axis (see the axis plots)."
    evidence = {
        "n_infeasible": n,
        "n_with_result": n_results,
        "n_failed_excluded": n_failed,
        "fraction": share,
        "reasons": [{"reason": p, "count": c, "example": e} for p, c, e in reasons],
        "infeasible_warn_fraction": cfg.infeasible_warn_fraction,
        "trials": [t.number for t in infeasible],
        "defaults": "ours",
    }
    return Finding(
        "infeasible.fraction", "warning" if warn else "info", message, action, SECTION, evidence
    )


def _failed(snap: StudySnapshot, failed: list[FrozenTrial], n_finished: int) -> Finding:
    reasons = _reasons(failed)
    name = snap.spec.name
    return Finding(
        "failed.trials",
        "warning",
        f"{len(failed)} of {n_finished} finished trials failed (crashed or timed out). "
        f"Most common reasons: {_reason_text(reasons)}.",
        f"Crashes and timeouts are not results: see `scitune trials {name}` and the trials' "
        "stderr, fix the cause (or raise entrypoint.timeout), then `scitune run STUDY "
        "--retry-failed` runs the failed trials again, with the same configurations and seeds.",
        SECTION,
        {
            "n_failed": len(failed),
            "n_finished": n_finished,
            "reasons": [{"reason": p, "count": c, "example": e} for p, c, e in reasons],
            "trials": [t.number for t in failed],
        },
    )


def _incomplete(snap: StudySnapshot, warned: list[FrozenTrial]) -> Finding:
    """Trials whose files could not be read whole: their curves may miss points."""
    numbers = [t.number for t in warned]
    shown = ", ".join(f"#{n}" for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
    first = warned[0]
    return Finding(
        "trials.incomplete_curves",
        "warning",
        f"{len(warned)} trial(s) ({shown}) had problems reading their metrics files, so their "
        f"curves may miss points. First, on #{first.number}: {first.warnings[0]}",
        "Read each trial's warnings (`scitune trials STUDY --json`). A metrics file must only "
        "be appended to (open it with 'a', never 'w'), one JSON object per line with numeric "
        "values; fix the training code and retrain the trials whose scores matter.",
        SECTION,
        {
            "trials": numbers,
            "warnings": {str(t.number): list(t.warnings) for t in warned[:20]},
        },
    )


# --- where they sit -----------------------------------------------------------------------------


def _regions(snap: StudySnapshot, axis: AxisResult, cfg: AnalysisConfig) -> list[Finding]:
    """The one-sided region of an ordered axis where every trial is infeasible.

    Above (below) the highest (lowest) feasible trial, at least 2 infeasible trials make
    a region. It is reported when it holds at least ``boundary_majority`` of the axis's
    infeasible trials (a few stray infeasible trials at an end are chance, not a region), and is
    the stability pattern whenever the best trial sits within ``boundary_margin`` of it or is
    the completed trial nearest to it.
    """
    if axis.kind == "choice" and not _numeric(axis):
        return []
    results = [p for p in axis.points if p.state in (_COMPLETE, _INFEASIBLE)]
    bad = [p for p in results if p.state == _INFEASIBLE]
    good = [p for p in results if p.state == _COMPLETE]
    if not bad or not good:
        return []
    ranked = ranked_points(snap, axis.points)
    best = ranked[0] if ranked else None
    n = len(ranked)
    top = ranked[: min(n, max(cfg.boundary_min_top, math.ceil(cfg.boundary_top_fraction * n)))]
    findings = []
    for side in ("high", "low"):
        if side == "high":
            limit = max(p.unit for p in good)
            tail = sorted((p for p in bad if p.unit > limit), key=lambda p: p.unit)
        else:
            limit = min(p.unit for p in good)
            tail = sorted((p for p in bad if p.unit < limit), key=lambda p: -p.unit)
        if len(tail) < _MIN_BEYOND:
            continue
        edge = tail[0]  # the infeasible trial nearest the feasible side
        gap = None if best is None else abs(edge.unit - best.unit)
        # The best trials reach the edge of divergence when the best is close to it, or when
        # the completed trial nearest to it (nothing lies between them: a coarse search cannot
        # get closer) is one of the best -- the same best trials the boundary check reads.
        nearest = next((p for p in top if p.unit == limit), None)
        if best is not None and gap is not None and (gap <= cfg.boundary_margin or nearest):
            at_edge = best if gap <= cfg.boundary_margin or nearest is None else nearest
            findings.append(_stability(snap, axis, side, tail, edge, at_edge, len(top), cfg))
        elif len(tail) >= cfg.boundary_majority * len(bad):
            findings.append(_region(axis, side, tail, edge, len(bad), cfg))
    return findings


def _numeric(axis: AxisResult) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in (axis.choices or ()))


def _bound_text(axis: AxisResult, side: str, edge: AxisPoint) -> str:
    return f"{axis.key} {'>=' if side == 'high' else '<='} {fmt(edge.value)}"


def _region(
    axis: AxisResult,
    side: str,
    tail: list[AxisPoint],
    edge: AxisPoint,
    n_bad: int,
    cfg: AnalysisConfig,
) -> Finding:
    where = _bound_text(axis, side, edge)
    beyond = "above" if side == "high" else "below"
    if len(tail) == n_bad:
        message = f"All {n_bad} infeasible trials have {where}; no feasible trial {beyond} it."
    else:
        message = (
            f"All {len(tail)} trials with {where} are infeasible ({len(tail)} of the {n_bad} "
            f"infeasible trials on this axis); no feasible trial {beyond} it."
        )
    direction = "high" if side == "high" else "low"
    return Finding(
        "infeasible.region",
        "info",
        message,
        f"Trials with {where} are wasted: move {axis.key}'s {direction} bound inside the feasible "
        "region in the next study, unless the optimum is near it (then see §9 Stability).",
        SECTION,
        _evidence(axis, side, tail, edge, n_bad, cfg),
        subject=axis.key,
    )


def _stability(
    snap: StudySnapshot,
    axis: AxisResult,
    side: str,
    tail: list[AxisPoint],
    edge: AxisPoint,
    best: AxisPoint,
    n_top: int,
    cfg: AnalysisConfig,
) -> Finding:
    where = _bound_text(axis, side, edge)
    gap = abs(edge.unit - best.unit)
    closeness = (
        f"within {cfg.boundary_margin:.0%} of that edge"
        if gap <= cfg.boundary_margin
        else f"one of the best {n_top}, is the completed trial nearest that edge"
    )
    message = (
        f"Every trial with {where} is infeasible ({len(tail)} trials), and trial {best.trial} "
        f"({axis.key} = {fmt(best.value)}, {snap.spec.objective.metric} {fmt(best.score)}), "
        f"{closeness}: the best {axis.name} runs into the edge of divergence; the optimum is "
        "limited by training instability."
    )
    n_bad = sum(p.state == _INFEASIBLE for p in axis.points)
    evidence = _evidence(axis, side, tail, edge, n_bad, cfg)
    evidence.update(
        best_trial=best.trial,
        best_value=best.value,
        best_unit=best.unit,
        best_score=best.score,
        gap_unit=gap,
        top_checked=n_top,
        best_at_range_edge=edge_of(axis, best, cfg.boundary_margin),
    )
    return Finding(
        "infeasible.stability_edge",
        "critical",
        message,
        "Fix the instability before trusting the optimum (§9): learning-rate warmup, gradient "
        "clipping, then re-run; lowering the learning rate is the last resort.",
        STABILITY_SECTION,
        evidence,
        subject=axis.key,
    )


def _evidence(
    axis: AxisResult,
    side: str,
    tail: list[AxisPoint],
    edge: AxisPoint,
    n_bad: int,
    cfg: AnalysisConfig,
) -> dict[str, Any]:
    return {
        "axis": axis.key,
        "side": side,
        "threshold_value": edge.value,
        "threshold_unit": edge.unit,
        "trials": [p.trial for p in tail],
        "n_beyond": len(tail),
        "n_infeasible_on_axis": n_bad,
        "boundary_margin": cfg.boundary_margin,
        "boundary_majority": cfg.boundary_majority,
        "min_beyond": _MIN_BEYOND,
        "coordinates": "the sampler's transformed coordinates (unit interval)",
        "defaults": "ours",
    }
