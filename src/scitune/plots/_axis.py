"""Axis plots: every trial's score against one hyperparameter (PLAYBOOK_SPEC §5, items 19-21)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

from scitune.analysis._results import AxisPoint, AxisResult
from scitune.plots._style import (
    BLUE,
    GOLD,
    GREY,
    INK,
    MUTED,
    ORANGE,
    RED,
    better_word,
    esc,
    fmt_value,
    layout,
    log_axis,
    short,
    trial_text,
)
from scitune.space import FloatDomain, Value

__all__ = ["HOVER_META", "axis_figure"]

HOVER_META = "scitune:trial-hover"
"""``meta`` of traces whose ``text`` is one trial's hover label per point (``customdata``: the
trial numbers); the report stores each label once and rebuilds ``text`` in the browser."""

_JITTER = 0.18  # half-width of the jitter around a category, in category units


@dataclass(frozen=True)
class _Scale:
    """Where scores sit on the y axis: linear, or log10 when they span orders of magnitude."""

    log: bool

    def to_axis(self, y: float) -> float:
        return math.log10(y) if self.log else y

    def from_axis(self, y: float) -> float:
        return 10.0**y if self.log else y


def axis_figure(
    axis: AxisResult,
    *,
    metric: str,
    goal: str,
    params: Mapping[int, Mapping[str, Value]] | None = None,
) -> go.Figure:
    """Score against one hyperparameter's value, for every finished trial.

    Log-scaled axes get a log x axis (``reverse_log`` is drawn on a linear axis and the subtitle
    says so); categorical ones are categories with jitter. Infeasible trials are red crosses on a
    row past the worst score; trials that break a constraint are grey; failed ones are counted in
    the subtitle, not drawn. The outer ``axis.margin`` of the range is shaded, strongly on the
    side named by ``axis.near_edge``.

    Args:
        axis: one :class:`AxisResult` from the analysis.
        metric: the objective's name (y-axis title).
        goal: ``"minimize"`` or ``"maximize"``: where the worst end (and the infeasible row) is.
        params: trial number -> parameters shown on hover (see :func:`trial_params`).

    Example:
        >>> fig = axis_figure(result.axes[0], metric="dev_error", goal="minimize")  # doctest: +SKIP
    """
    points = axis.points
    ranked = [p for p in points if p.ranked and p.score is not None]
    violating = [p for p in points if not p.ranked and p.score is not None]
    infeasible = [p for p in points if p.state == "INFEASIBLE"]
    failed = sum(p.state == "FAILED" for p in points)
    unscored = sum(p.state == "COMPLETE" and p.score is None for p in points)
    scores = [p.score for p in (*ranked, *violating) if p.score is not None]
    scale = _Scale(log=_wants_log(scores))
    positions = _Positions(axis)

    fig = go.Figure()

    def add(group: Sequence[AxisPoint], name: str, marker: dict[str, Any], y: list[float]) -> None:
        if not group:
            return
        fig.add_trace(
            go.Scatter(
                x=positions.of(group),
                y=np.asarray(y, dtype=np.float64),
                mode="markers",
                name=name,
                marker=marker,
                text=[_hover(p, metric, params) for p in group],
                customdata=[p.trial for p in group],
                hovertemplate="%{text}<extra></extra>",
                meta=HOVER_META,
            )
        )

    size, opacity = _marker_scale(len(points))
    add(
        ranked,
        f"ranked ({len(ranked)})",
        {
            "color": BLUE,
            "size": size,
            "opacity": opacity,
            "line": {"width": 0.5 if size >= 7 else 0, "color": "white"},
        },
        [p.score for p in ranked if p.score is not None],
    )
    add(
        violating,
        f"breaks a constraint ({len(violating)})",
        {"color": GREY, "size": size, "opacity": opacity, "symbol": "circle-open"},
        [p.score for p in violating if p.score is not None],
    )
    if ranked:
        sign = 1.0 if goal == "minimize" else -1.0
        best = min(ranked, key=lambda p: (sign * (p.score or 0.0), p.trial))
        add(
            [best],
            f"best (trial {best.trial})",
            {"color": GOLD, "size": 17, "symbol": "star", "line": {"width": 1, "color": INK}},
            [best.score or 0.0],
        )
    shapes, annotations = _boundary_band(axis)
    if infeasible:
        y_row, y_rule = _infeasible_row(scores, goal, scale)
        add(
            infeasible,
            f"infeasible ({len(infeasible)})",
            {
                "color": RED,
                "size": size + 1,
                "opacity": min(1.0, opacity + 0.2),
                "symbol": "x-thin",
                "line": {"width": 2 if size >= 7 else 1.2, "color": RED},
            },
            [y_row] * len(infeasible),
        )
        if scores:
            shapes.append(_hrule(y_rule))
        annotations.append(
            {
                "text": "infeasible",
                "xref": "paper",
                "x": 1.0,
                "xanchor": "left",
                "xshift": 4,
                "yref": "y",
                "y": scale.to_axis(y_row),
                "showarrow": False,
                "font": {"size": 10, "color": RED},
            }
        )

    counts = [f"{len(ranked) + len(violating) + len(infeasible)} trials"]
    if infeasible:
        counts.append(f"{len(infeasible)} infeasible")
    if violating:
        counts.append(f"{len(violating)} break a constraint")
    if failed:
        counts.append(f"{failed} failed (not shown)")
    if unscored:
        counts.append(f"{unscored} without a finite score (not shown)")
    if axis.margin > 0 and positions.numeric:
        counts.append(f"shaded: outer {axis.margin:.0%}")
    title = f"{esc(axis.key)} <span style='color:{MUTED};font-weight:normal'>· {axis.role}"
    if axis.scale == "reverse_log" and axis.kind != "choice":
        title += ", reverse-log range on a linear axis"
    elif axis.scale and axis.kind != "choice":
        title += f", {axis.scale} scale"
    if axis.cell:
        title += f", cell {esc(axis.cell)}"
    title += "</span>"
    subtitle = " · ".join(counts)
    fig.update_layout(
        **layout(title, subtitle),
        shapes=shapes,
        annotations=annotations,
        xaxis=positions.xaxis(axis),
        yaxis={
            "title": {"text": f"{esc(metric)} ({better_word(goal)})"},
            **(log_axis(min(scores), max(scores)) if scale.log else {"type": "linear"}),
        },
        showlegend=True,
        margin={"r": 70 if infeasible else 24},
    )
    return fig


def _marker_scale(n: int) -> tuple[int, float]:
    """Smaller, lighter markers as trials multiply, so that density stays visible."""
    if n <= 300:
        return 8, 0.72
    if n <= 2000:
        return 6, 0.5
    return 4, 0.35


def _hover(p: AxisPoint, metric: str, params: Mapping[int, Mapping[str, Value]] | None) -> str:
    shown = params.get(p.trial) if params is not None else None
    if shown is None:
        shown = {"value": p.value}
    return trial_text(p.trial, p.state, p.score, metric, shown)


def _wants_log(scores: Sequence[float]) -> bool:
    """Scores spanning more than two orders of magnitude (losses) read better on a log axis."""
    if len(scores) < 2 or min(scores) <= 0:
        return False
    return max(scores) / min(scores) > 100.0


def _infeasible_row(scores: Sequence[float], goal: str, scale: _Scale) -> tuple[float, float]:
    """The y of the infeasible row, just past the worst score, and of the rule above it."""
    if not scores:
        return 0.0, 0.0
    lo, hi = scale.to_axis(min(scores)), scale.to_axis(max(scores))
    span = hi - lo or abs(hi) * 0.1 or 1.0
    if goal == "minimize":
        return scale.from_axis(hi + 0.12 * span), scale.from_axis(hi + 0.06 * span)
    return scale.from_axis(lo - 0.12 * span), scale.from_axis(lo - 0.06 * span)


def _hrule(y: float) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": y,
        "y1": y,
        "line": {"color": RED, "width": 1, "dash": "dot"},
        "opacity": 0.5,
    }


class _Positions:
    """x positions: values for numeric axes, jittered category indices for categorical ones."""

    def __init__(self, axis: AxisResult) -> None:
        self.numeric = axis.kind != "choice"
        choices: list[Value] = list(axis.choices or ())
        for p in axis.points:
            if not self.numeric and p.value not in choices:
                choices.append(p.value)
        self.choices = choices
        self._rng = np.random.default_rng(0)

    def of(self, group: Sequence[AxisPoint]) -> npt.NDArray[np.float64]:
        """x of each point (an array: plotly embeds it as binary, not as JSON numbers)."""
        if self.numeric:
            return np.array([float(p.value) for p in group])
        index = {_key(c): i for i, c in enumerate(self.choices)}
        at = np.array([index[_key(p.value)] for p in group], dtype=np.float64)
        if len(group) > 1:
            at += self._rng.uniform(-_JITTER, _JITTER, len(group))
        return at

    def xaxis(self, axis: AxisResult) -> dict[str, Any]:
        title = {"text": esc(axis.name)}
        if not self.numeric:
            return {
                "title": title,
                "tickmode": "array",
                "tickvals": list(range(len(self.choices))),
                "ticktext": [esc(short(fmt_value(c))) for c in self.choices],
                "ticklabeloverflow": "allow",
                "range": [-0.5, len(self.choices) - 0.5],
                "showgrid": False,
            }
        out: dict[str, Any] = {"title": title}
        lo, hi = _edges(axis)
        if lo is None or hi is None:
            return out
        if axis.scale == "log":
            a, b = math.log10(lo), math.log10(hi)
            pad = 0.02 * (b - a)
            out.update(log_axis(lo, hi), range=[a - pad, b + pad])
        else:
            pad = 0.02 * (hi - lo)
            out.update(type="linear", range=[lo - pad, hi + pad])
        return out


def _key(value: Value) -> tuple[str, Value]:
    # 1, 1.0 and True are equal in Python but different choices.
    return (type(value).__name__, value)


def _edges(axis: AxisResult) -> tuple[float | None, float | None]:
    """The continuous extent of an axis (integers own +-0.5 around each value)."""
    if axis.low is None or axis.high is None:
        return None, None
    if axis.kind == "int":
        return axis.low - 0.5, axis.high + 0.5
    return axis.low, axis.high


def _boundary_band(axis: AxisResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shaded rectangles over the outer ``margin`` of the range, in the sampler's transform."""
    lo, hi = _edges(axis)
    if axis.kind == "choice" or lo is None or hi is None or axis.margin <= 0 or lo >= hi:
        return [], []
    scale = axis.scale or "linear"
    domain = FloatDomain(lo, hi, scale if lo > 0 or scale == "linear" else "linear")
    inner_lo = domain.from_unit(min(axis.margin, 0.5))
    inner_hi = domain.from_unit(1.0 - min(axis.margin, 0.5))
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for side, x0, x1 in (("low", lo, inner_lo), ("high", inner_hi, hi)):
        strong = axis.near_edge == side
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": ORANGE if strong else GREY,
                "opacity": 0.2 if strong else 0.1,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        if strong:
            x = x1 if side == "high" else x0
            where = "upward" if side == "high" else "downward"
            arrow = "▶" if side == "high" else "◀"
            text = f"<b>best trials at the {side} edge: expand {where}</b>"
            annotations.append(
                {
                    "text": f"{text} {arrow}" if side == "high" else f"{arrow} {text}",
                    "xref": "x",
                    "x": math.log10(x) if axis.scale == "log" else x,
                    "xanchor": "right" if side == "high" else "left",
                    "yref": "paper",
                    "y": 1.0,
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 11, "color": ORANGE},
                }
            )
    return shapes, annotations
