"""Axis results and the search-space boundary check (§5: "is the search space big enough?").

Every searched hyperparameter that varied becomes an :class:`AxisResult` (the axis plot's data).
Numeric nuisance axes are checked for a best region at an edge of the range, in the sampler's
transformed coordinates (log for a log scale), since that is where "near" is uniform.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import AxisPoint, AxisResult, Finding
from scitune.analysis._snapshot import StudySnapshot
from scitune.design import cell_label
from scitune.space import Axis, ChoiceDomain, FloatDomain, IntDomain, Space, Value
from scitune.storage import TrialState

__all__ = ["axis_results", "edge_of", "fmt", "ranked_points", "suggest_bound"]

Edge = Literal["low", "high"]
Role = Literal["scientific", "nuisance"]
_EDGES: tuple[Edge, Edge] = ("low", "high")
SECTION = "§5 Extracting insight"
_OURS = "ours"


def axis_results(
    snap: StudySnapshot, cfg: AnalysisConfig
) -> tuple[list[AxisResult], list[Finding]]:
    """One result per searched axis that varied, and the boundary findings on nuisance axes.

    Scientific axes come first, then nuisance ones, each in the study file's order; conditional
    axes are separate results under their namespaced key (``beta1[optimizer=adam]``).
    """
    spec = snap.spec
    context = spec.context()
    results: list[AxisResult] = []
    findings: list[Finding] = []
    checked: list[str] = []
    spaces: tuple[tuple[Role, Space], ...] = (
        ("scientific", spec.scientific_space()),
        ("nuisance", spec.nuisance_space()),
    )
    for role, space in spaces:
        for axis in space.axes:
            points = _points(snap, axis, context)
            if len({p.unit for p in points}) < 2:
                continue  # a single value is not an axis to plot or check
            result = _result(axis, role, points)
            if role == "nuisance" and result.kind != "choice":
                result, found = _boundary(snap, result, cfg)
                findings.extend(found)
                if any(p.ranked for p in points):
                    checked.append(axis.key)
            results.append(result)
    if checked and not findings:
        findings.append(_ok(checked, cfg))
    return results, findings


# --- shared with the other space checks ---------------------------------------------------------


def ranked_points(snap: StudySnapshot, points: Sequence[AxisPoint]) -> list[AxisPoint]:
    """Ranked points, best first (ties: lower trial number), like :meth:`StudySnapshot.ranked`."""
    return sorted(
        (p for p in points if p.ranked and p.score is not None),
        key=lambda p: (snap.sign * (p.score or 0.0), p.trial),
    )


def edge_of(axis: AxisResult, point: AxisPoint, margin: float) -> Edge | None:
    """The edge band of a numeric axis that ``point`` lies in, if any.

    An integer at ``low`` or ``high`` is always at the edge: each integer owns a slice of the
    unit interval, so on a short range its centre can lie further in than ``margin``.
    """
    if axis.kind == "choice":
        return None
    is_int = axis.kind == "int"
    if point.unit <= margin or (is_int and point.value == axis.low):
        return "low"
    if point.unit >= 1.0 - margin or (is_int and point.value == axis.high):
        return "high"
    return None


def suggest_bound(axis: AxisResult, edge: Edge) -> float | int | None:
    """A bound half the range further out in transformed coordinates; ``None``: cannot move.

    Floats are rounded outward to 2 significant digits. A linear range starting at or above 0
    stops at 0 (most such hyperparameters cannot be negative).
    """
    assert axis.low is not None and axis.high is not None
    low, high, up = axis.low, axis.high, edge == "high"
    new: float
    if axis.scale == "log":
        r = math.sqrt(high / low)
        new = high * r if up else low / r
    elif axis.scale == "reverse_log":
        # x = low + high - m with m log-uniform on [low, high]; u = 1 - log-position of m.
        r = math.sqrt(high / low)
        new = low + high - (low / r if up else high * r)
        if new <= 0:
            return None
    else:
        span = (high - low + (1 if axis.kind == "int" else 0)) / 2
        new = high + span if up else low - span
        if not up and low >= 0:
            new = max(new, 0.0)
    if axis.kind == "int":
        out: float | int = math.ceil(new) if up else math.floor(new)
        if axis.scale == "log":
            out = max(out, 1)
    else:
        out = _round_out(new, up)
        if not up and low >= 0 and axis.scale == "linear":
            out = max(out, 0.0)
    return None if out == (high if up else low) else out


def fmt(x: float | int | Value | None) -> str:
    """A number for a message: 3 significant digits, integers whole."""
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


# --- building results ---------------------------------------------------------------------------


def _points(snap: StudySnapshot, axis: Axis, context: Mapping[str, Value]) -> tuple[AxisPoint, ...]:
    out = []
    for t in snap.trials:
        if axis.name not in t.params or not axis.is_active({**context, **t.params}):
            continue
        value = t.params[axis.name]
        try:
            unit = axis.domain.to_unit(value)
        except ValueError:
            continue  # a value the current spec no longer allows: not on this axis
        complete = t.state is TrialState.COMPLETE
        score = t.value if complete and t.value is not None and math.isfinite(t.value) else None
        ranked = snap.is_ranked(t) and score is not None
        out.append(AxisPoint(t.number, value, unit, score, t.state.value, ranked))
    return tuple(out)


def _result(axis: Axis, role: Role, points: tuple[AxisPoint, ...]) -> AxisResult:
    d = axis.domain
    if isinstance(d, ChoiceDomain):
        return AxisResult(axis.key, axis.name, role, "choice", None, None, None, d.values, points)
    kind: Literal["float", "int"] = "int" if isinstance(d, IntDomain) else "float"
    assert isinstance(d, FloatDomain | IntDomain)
    return AxisResult(
        axis.key, axis.name, role, kind, d.scale, float(d.low), float(d.high), None, points
    )


# --- the boundary check ---------------------------------------------------------------------------


def _boundary(
    snap: StudySnapshot, result: AxisResult, cfg: AnalysisConfig
) -> tuple[AxisResult, list[Finding]]:
    margin = cfg.boundary_margin
    ranked = ranked_points(snap, result.points)
    result = dataclasses.replace(result, margin=margin)
    if not ranked:
        return result, []
    n = len(ranked)
    top = ranked[: min(n, max(cfg.boundary_min_top, math.ceil(cfg.boundary_top_fraction * n)))]
    in_band = {e: sum(edge_of(result, p, margin) == e for p in top) for e in _EDGES}
    best_edge = edge_of(result, top[0], margin)
    # The single best trial decides first; otherwise the edge holding most of the top trials.
    edge = best_edge
    need = cfg.boundary_majority * len(top)
    majority: list[Edge] = [e for e in _EDGES if in_band[e] and in_band[e] >= need]
    if edge is None and majority:
        most: Edge = max(majority, key=lambda e: in_band[e])
        edge = most
    findings: list[Finding] = []
    if edge is not None:
        result = dataclasses.replace(result, near_edge=edge)
        findings.append(_near_edge(snap, result, edge, top, in_band[edge], n, cfg))
    findings.extend(_cells(snap, result, ranked, cfg))
    return result, findings


def _range_text(axis: AxisResult) -> str:
    return f"[{fmt(_num(axis, axis.low))}, {fmt(_num(axis, axis.high))}] ({axis.scale} scale)"


def _num(axis: AxisResult, x: float | None) -> float | int | None:
    return int(x) if axis.kind == "int" and x is not None else x


def _expand(axis: AxisResult, edge: Edge, why: str) -> tuple[str, float | int | None]:
    """The action that moves the flagged bound out, and the suggested bound."""
    bound = suggest_bound(axis, edge)
    field = "high" if edge == "high" else "low"
    if bound is None:
        current = fmt(_num(axis, axis.high if edge == "high" else axis.low))
        return (
            f"{axis.key} cannot move further {'up' if edge == 'high' else 'down'} from "
            f"{field} = {current} on this scale: check whether {current} itself is the best "
            f"setting (then fix it), or change the scale; {why}",
            None,
        )
    direction = "upward" if edge == "high" else "downward"
    return (
        f"Expand {axis.key} {direction}, e.g. {field} = {fmt(bound)}, and run a new study; {why}",
        bound,
    )


def _near_edge(
    snap: StudySnapshot,
    axis: AxisResult,
    edge: Edge,
    top: list[AxisPoint],
    count: int,
    n_ranked: int,
    cfg: AnalysisConfig,
) -> Finding:
    best = top[0]
    side = "upper" if edge == "high" else "lower"
    message = (
        f"The best trials of {axis.key} sit at the {side} edge of its range: best "
        f"{fmt(best.value)} (trial {best.trial}) in {_range_text(axis)}, {count} of the best "
        f"{len(top)} within {cfg.boundary_margin:.0%} of that edge."
    )
    action, bound = _expand(
        axis, edge, "a boundary optimum means the true best may lie outside the range."
    )
    evidence = {
        "axis": axis.key,
        "edge": edge,
        "best_trial": best.trial,
        "best_value": best.value,
        "best_unit": best.unit,
        "best_score": best.score,
        "metric": snap.spec.objective.metric,
        "top_checked": len(top),
        "top_in_band": count,
        "n_ranked": n_ranked,
        "low": _num(axis, axis.low),
        "high": _num(axis, axis.high),
        "scale": axis.scale,
        "suggested_bound": bound,
        **_thresholds(cfg),
    }
    return Finding(
        "boundary.near_edge", "warning", message, action, SECTION, evidence, subject=axis.key
    )


def _cells(
    snap: StudySnapshot, axis: AxisResult, ranked: list[AxisPoint], cfg: AnalysisConfig
) -> list[Finding]:
    """Each per_value cell's best trial, flagged where the pooled check missed that edge.

    The pooled best trials can come from one scientific value only; the comparison is fair
    only if every value's own optimum lies inside the range.
    """
    if snap.spec.search.design != "per_value":
        return []
    slot_of = {t.number: t.slot for t in snap.trials}
    best_of_cell: dict[str, AxisPoint] = {}
    for p in ranked:  # best first: the first point seen per cell is its best
        best_of_cell.setdefault(slot_of.get(p.trial, ""), p)
    if len(best_of_cell) < 2:
        return []
    findings = []
    for slot, best in best_of_cell.items():
        edge = edge_of(axis, best, cfg.boundary_margin)
        if edge is None or edge == axis.near_edge:
            continue
        label = cell_label(slot)
        side = "upper" if edge == "high" else "lower"
        action, bound = _expand(
            axis,
            edge,
            "each scientific value's optimum must lie inside the range for a fair "
            "comparison (§5 isolation).",
        )
        findings.append(
            Finding(
                "boundary.cell_near_edge",
                "warning",
                f"With {label}, the best trial (trial {best.trial}) has {axis.key} = "
                f"{fmt(best.value)}, at the {side} edge of {_range_text(axis)}; the best trials "
                "of the study as a whole are not at that edge.",
                action,
                SECTION,
                {
                    "axis": axis.key,
                    "cell": slot,
                    "edge": edge,
                    "best_trial": best.trial,
                    "best_value": best.value,
                    "best_unit": best.unit,
                    "best_score": best.score,
                    "low": _num(axis, axis.low),
                    "high": _num(axis, axis.high),
                    "scale": axis.scale,
                    "suggested_bound": bound,
                    **_thresholds(cfg),
                },
                subject=f"{axis.key} ({label})",
            )
        )
    return findings


def _ok(checked: list[str], cfg: AnalysisConfig) -> Finding:
    return Finding(
        "boundary.ok",
        "info",
        f"No nuisance axis has its best trials at an edge: checked {', '.join(checked)} (the "
        f"best {cfg.boundary_top_fraction:.0%} of ranked trials, at least "
        f"{cfg.boundary_min_top}, against a band of {cfg.boundary_margin:.0%} at each end).",
        "Nothing to do: the nuisance ranges appear to contain their optima.",
        SECTION,
        {"axes": checked, **_thresholds(cfg)},
    )


def _thresholds(cfg: AnalysisConfig) -> dict[str, Any]:
    return {
        "boundary_margin": cfg.boundary_margin,
        "boundary_top_fraction": cfg.boundary_top_fraction,
        "boundary_min_top": cfg.boundary_min_top,
        "boundary_majority": cfg.boundary_majority,
        "coordinates": "the sampler's transformed coordinates (unit interval)",
        "defaults": _OURS,
    }


def _round_out(x: float, up: bool) -> float:
    """``x`` rounded away from the range to 2 significant digits, so the bound really moves."""
    if x == 0 or not math.isfinite(x):
        return x
    step = 10.0 ** (math.floor(math.log10(abs(x))) - 1)
    # The tolerance keeps an exact 2-digit value (0.3) from being pushed one step further.
    q = math.ceil(x / step - 1e-9) if up else math.floor(x / step + 1e-9)
    return float(f"{q * step:.2g}")
