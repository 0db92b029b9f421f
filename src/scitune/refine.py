"""``refine``: from an explored study, the next study's ranges around its best region (§7).

After exploration the playbook switches to Bayesian optimization on a space that comfortably
contains the best trials. Each nuisance range becomes the span of the best trials, padded on both
sides, in the sampler's coordinates (log for log scales); where the boundary check found the best
trials at an edge, the range grows past that edge instead. Scientific and fixed values stay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scitune.analysis import Analysis, AxisPoint, AxisResult
from scitune.design import cell_label
from scitune.space import Axis, FloatDomain, IntDomain
from scitune.spec import StudySpec

__all__ = ["RangeChange", "refine_spec"]

PADDING = 0.25  # ours: each side grows by this share of the best trials' span
MIN_WIDTH = 0.2  # ours: a refined range spans at least this share of the old one (unit coords)
TOP_FRACTION = 0.2  # ours: the best this share of ranked trials (at least TOP_MIN) define it
TOP_MIN = 3


@dataclass(frozen=True)
class RangeChange:
    """One nuisance range, before and after, and why."""

    key: str
    path: str  # dotted path in the study file: nuisance.lr, nuisance.when.optimizer.adam.beta1
    old: Mapping[str, Any]
    new: Mapping[str, Any]
    why: str

    @property
    def changed(self) -> bool:
        return dict(self.old) != dict(self.new)


def refine_spec(
    spec: StudySpec,
    analysis: Analysis,
    *,
    name: str | None = None,
    trials: int | None = None,
    cells: Mapping[int, str] | None = None,
) -> tuple[dict[str, Any], list[RangeChange]]:
    """The refined study (as ``StudySpec.to_dict`` data) and every range it changed.

    ``trials``: the new study's budget per design cell (default: the explored study's).
    ``cells``: each trial's design cell (trial number -> slot). With a per_value design the new
    range holds every scientific value's best region, not only the pooled best trials': each
    value's optimum must lie inside for the next comparison to be fair (§5 isolation).
    """
    data = spec.to_dict()
    axes = {a.key: a for a in spec.nuisance_space().axes}
    groups = cells if spec.search.design == "per_value" else None
    changes = []
    for result in analysis.axes:
        axis = axes.get(result.key)
        if result.role != "nuisance" or axis is None or result.kind == "choice":
            continue
        change = _refine_axis(axis, result, analysis, groups)
        if change is not None:
            _put(data, change.path, change.new)
            changes.append(change)
    data["name"] = name or f"{spec.name}-refined"
    data["search"] = {**data["search"], "sampler": "bayes", "history": [spec.name]}
    if trials is not None:
        data["budget"] = {**data["budget"], "trials": trials}
    data.pop("based_on", None)
    return data, changes


def _refine_axis(
    axis: Axis, result: AxisResult, analysis: Analysis, cells: Mapping[int, str] | None
) -> RangeChange | None:
    domain = axis.domain
    assert isinstance(domain, FloatDomain | IntDomain)
    sign = 1.0 if analysis.direction == "minimize" else -1.0
    ranked = sorted(
        (p for p in result.points if p.ranked and p.score is not None),
        key=lambda p: sign * (p.score or 0.0),
    )
    if not ranked:
        return None
    grouped: dict[str, list[AxisPoint]] = {}
    for p in ranked:
        grouped.setdefault(cells.get(p.trial, "") if cells else "", []).append(p)
    lows, highs, spans = [], [], []
    for slot, points in grouped.items():
        top = points[: max(TOP_MIN, math.ceil(TOP_FRACTION * len(points)))]
        lo_u, hi_u = min(p.unit for p in top), max(p.unit for p in top)
        pad = max(PADDING * (hi_u - lo_u), (MIN_WIDTH - (hi_u - lo_u)) / 2)
        lows.append(max(0.0, lo_u - pad))
        highs.append(min(1.0, hi_u + pad))
        who = f"the best {len(top)} trials"
        if len(grouped) > 1:
            who += f" with {cell_label(slot)}"
        best = top[0]
        spans.append(
            f"{who} span {_fmt(domain, top, min)} .. {_fmt(domain, top, max)} "
            f"(best {_short(best.value)})"
        )
    low, high = _value(domain, min(lows), down=True), _value(domain, max(highs), down=False)
    padded = (
        f"each padded by {PADDING:.0%} of its span on each side (ours); the range holds them all"
        if len(grouped) > 1
        else f"padded by {PADDING:.0%} of that span on each side (ours)"
    )
    reasons = ["; ".join(spans) + "; " + padded]
    for edge, bound in _suggested_bounds(analysis, result.key).items():
        if edge == "high" and bound > high:
            high = bound
            reasons.append("widened upward past the old edge: best trials sat at it")
        if edge == "low" and bound < low:
            low = bound
            reasons.append("widened downward past the old edge: best trials sat at it")
    if isinstance(domain, IntDomain):
        low, high = int(low), int(high)
    if not low < high:  # rounding collapsed a very narrow region: keep one step around it
        return None
    old = _dump(domain, domain.low, domain.high)
    new = _dump(domain, low, high)
    if new == old:
        # Said, not skipped: a range the best trials fill is itself a finding.
        reasons = ["kept: " + "; ".join(spans) + ", which padded is the whole range"]
    return RangeChange(result.key, _path(axis), old, new, "; ".join(reasons))


def _value(domain: FloatDomain | IntDomain, u: float, *, down: bool) -> float:
    """The domain's value at ``u``, rounded outward to 2 significant digits."""
    if u <= 0.0:
        return domain.low
    if u >= 1.0:
        return domain.high
    x = float(domain.from_unit(u))
    if isinstance(domain, IntDomain):
        return float(math.floor(x) if down else math.ceil(x))
    if x == 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(abs(x))) - 1)
    rounded = (math.floor if down else math.ceil)(x / step) * step
    rounded = float(f"{rounded:.12g}")
    return min(max(rounded, domain.low), domain.high) if 0 < u < 1 else rounded


def _suggested_bounds(analysis: Analysis, key: str) -> dict[str, float]:
    """The bound the boundary check suggests per edge, pooled or for any scientific value."""
    out: dict[str, float] = {}
    for f in analysis.findings:
        if f.code not in ("boundary.near_edge", "boundary.cell_near_edge"):
            continue
        if f.evidence.get("axis", f.subject) != key:
            continue
        edge, bound = f.evidence.get("edge"), f.evidence.get("suggested_bound")
        if edge not in ("low", "high") or not isinstance(bound, int | float):
            continue
        wider = min if edge == "low" else max
        out[str(edge)] = wider(float(bound), out.get(str(edge), float(bound)))
    return out


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _fmt(domain: FloatDomain | IntDomain, points: list[Any], pick: Any) -> str:
    value = pick(p.value for p in points)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _dump(domain: FloatDomain | IntDomain, low: float, high: float) -> dict[str, Any]:
    if isinstance(domain, IntDomain):
        out: dict[str, Any] = {"low": int(low), "high": int(high), "type": "int"}
        if domain.scale != "linear":
            out["scale"] = domain.scale
        return out
    out = {"low": low, "high": high}
    if domain.scale != "linear":
        out["scale"] = domain.scale
    return out


def _path(axis: Axis) -> str:
    if axis.condition is None:
        return f"nuisance.{axis.name}"
    parent, value = axis.condition
    label = str(value).lower() if isinstance(value, bool) else str(value)
    return f"nuisance.when.{parent}.{label}.{axis.name}"


def _put(data: dict[str, Any], path: str, entry: Mapping[str, Any]) -> None:
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    # Keep the entry's other keys (type) and order; replace the bounds.
    node[leaf] = {**node.get(leaf, {}), **entry}
