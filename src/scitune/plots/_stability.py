"""Figures of the measured choices (§8 how long to train, §9 stability) and their offline page.

Every builder draws a result of :mod:`scitune.stability` (and the trial curves it was read from);
nothing is recomputed here. :func:`stability_page` puts figures and findings in one HTML file
that works offline (plotly.js is embedded once).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from scitune._stability_clip import ClippingResult
from scitune._stability_curves import Series, TrialRun
from scitune._stability_early import EarlyResult
from scitune._stability_steps import MaxStepsResult
from scitune._stability_sweeps import LRSweepResult, WarmupResult
from scitune.plots._downsample import downsample_indices
from scitune.plots._page import standalone_page
from scitune.plots._style import (
    BLUE,
    GOLD,
    GREEN,
    GREY,
    ORANGE,
    PALETTE,
    RED,
    esc,
    fmt,
    layout,
    log_axis,
    rule,
)

__all__ = [
    "clipping_figures",
    "early_figures",
    "lr_sweep_figures",
    "max_steps_figures",
    "stability_page",
    "warmup_figures",
]

_MAX_POINTS = 1500  # per curve: enough for the eye, small enough for the page


def _by_number(runs: Sequence[TrialRun]) -> dict[int, TrialRun]:
    return {r.number: r for r in runs}


def _curve(series: Series | None) -> tuple[list[int], list[float | None]]:
    """Steps and values for a line; non-finite values become gaps."""
    if series is None or not len(series):
        return [], []
    steps = np.asarray(series.steps, dtype=float)
    values = np.asarray(series.values, dtype=float)
    if len(steps) > _MAX_POINTS:
        idx = downsample_indices(steps, values, _MAX_POINTS)
        steps, values = steps[idx], values[idx]
    finite = np.isfinite(values)
    return (
        [int(s) for s in steps],
        [float(v) if ok else None for v, ok in zip(values, finite, strict=True)],
    )


def _log_y(values: Sequence[float | None]) -> dict[str, Any]:
    positive = [v for v in values if v is not None and v > 0]
    if len(positive) < 2 or max(positive) / min(positive) < 20:
        return {}
    axis = log_axis(min(positive), max(positive))
    axis.setdefault("dtick", "D2")  # under two decades: label 2 and 5, not every minor tick
    return axis


def _lr_axis(lrs: Sequence[float]) -> dict[str, Any]:
    return {"title": {"text": "learning rate"}, **log_axis(min(lrs), max(lrs))} if lrs else {}


# --- §8 max steps ------------------------------------------------------------------------------


def max_steps_figures(result: MaxStepsResult, runs: Sequence[TrialRun]) -> list[go.Figure]:
    """The fit metric over training per learning rate, and steps-to-fit against the LR."""
    by = _by_number(runs)
    curves = go.Figure()
    for i, p in enumerate(result.points):
        x, y = _curve(by[p.trial].curves.get(result.fit_metric) if p.trial in by else None)
        fastest = p.trial == result.fastest_trial
        curves.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"lr {fmt(p.lr, 3)}" + (" (fastest)" if fastest else ""),
                line={"color": PALETTE[i % len(PALETTE)], "width": 3 if fastest else 1.4},
                hovertemplate=f"lr {fmt(p.lr, 3)} · trial {p.trial}<br>step %{{x}}"
                f"<br>{esc(result.fit_metric)} = %{{y:.4g}}<extra></extra>",
            )
        )
    shapes, notes = [], []
    s, n = rule("y", result.threshold, color=GREEN, text=f"fit: ≤ {fmt(result.threshold)}")
    shapes.append(s)
    notes.append(n)
    if result.recommended is not None:
        s, n = rule("x", result.recommended, color=GOLD, text=f"step {result.recommended}")
        shapes.append(s)
        notes.append(n)
    curves.update_layout(
        **layout(
            f"{esc(result.fit_metric)} while training, one line per learning rate",
            "Constant learning rate, no regularization. The first step where the fastest line "
            "reaches the fit threshold is the initial max_train_steps (§8).",
        ),
        xaxis={"title": {"text": "step"}},
        yaxis={"title": {"text": esc(result.fit_metric)}},
        shapes=shapes,
        annotations=notes,
    )
    fitted = [p for p in result.points if p.fit_step is not None]
    unfitted = [p for p in result.points if p.fit_step is None]
    steps = go.Figure(
        [
            go.Scatter(
                x=[p.lr for p in fitted],
                y=[p.fit_step for p in fitted],
                mode="markers+lines",
                name="steps to fit",
                marker={"color": BLUE, "size": 9},
                line={"color": BLUE, "width": 1},
                hovertemplate="lr %{x:.3g}<br>fit at step %{y}<extra></extra>",
            ),
            go.Scatter(
                x=[p.lr for p in unfitted],
                y=[result.steps for _ in unfitted],
                mode="markers",
                name="never fit (infeasible: red)",
                marker={
                    "symbol": "x",
                    "size": 11,
                    "color": [RED if p.state == "INFEASIBLE" else GREY for p in unfitted],
                },
                text=[f"trial {p.trial} · {esc(p.state)}" for p in unfitted],
                hovertemplate="lr %{x:.3g}<br>%{text}<extra></extra>",
            ),
        ]
    )
    edge_note = "" if result.edge is None else " The fastest sits at an edge: widen the range."
    steps.update_layout(
        **layout(
            "Steps to fit the training set, by learning rate",
            "Grey/red crosses (at the top) never fit within the sweep's steps." + edge_note,
        ),
        xaxis=_lr_axis([p.lr for p in result.points]),
        yaxis={"title": {"text": "steps"}, "rangemode": "tozero"},
    )
    return [curves, steps]


# --- §9 LR sweep ---------------------------------------------------------------------------------


def lr_sweep_figures(result: LRSweepResult, runs: Sequence[TrialRun]) -> list[go.Figure]:
    """Final training loss against the LR (infeasible marked), and curves just above lr*."""
    ok = [p for p in result.points if p.verdict.stable is not False]
    bad = [p for p in result.points if p.verdict.stable is False]
    finite = [p.verdict.final_loss for p in result.points if p.verdict.final_loss is not None]
    top = max(finite) * 1.15 if finite else 1.0
    scatter = go.Figure(
        [
            go.Scatter(
                x=[p.lr for p in ok],
                y=[p.verdict.final_loss for p in ok],
                mode="markers+lines",
                name="stable",
                marker={"color": BLUE, "size": 9},
                line={"color": BLUE, "width": 1},
                text=[_hover(p.trial, p.score, result.metric, p.verdict.why) for p in ok],
                hovertemplate="lr %{x:.3g}<br>final loss %{y:.4g}<br>%{text}<extra></extra>",
            ),
            go.Scatter(
                x=[p.lr for p in bad],
                y=[
                    p.verdict.final_loss
                    if p.verdict.final_loss is not None and p.state != "INFEASIBLE"
                    else top
                    for p in bad
                ],
                mode="markers",
                name="unstable (infeasible at the top)",
                marker={"symbol": "x", "size": 12, "color": RED},
                text=[_hover(p.trial, p.score, result.metric, p.verdict.why) for p in bad],
                hovertemplate="lr %{x:.3g}<br>%{text}<extra></extra>",
            ),
        ]
    )
    shapes, notes = [], []
    if result.lr_star is not None:
        s, n = rule("x", result.lr_star, color=GREEN, text="lr*", log=True)
        shapes.append(s)
        notes.append(n)
    if result.unstable_lr is not None:
        s, n = rule("x", result.unstable_lr, color=RED, text="unstable", log=True, left=False)
        shapes.append(s)
        notes.append(n)
    scatter.update_layout(
        **layout(
            f"Final {esc(result.loss_metric)} by learning rate",
            f"lr* is the best {esc(result.metric)}; the unstable learning rate is the smallest "
            "above it whose loss diverged or went up (§9).",
        ),
        xaxis=_lr_axis([p.lr for p in result.points]),
        yaxis={"title": {"text": f"final {esc(result.loss_metric)}"}, **_log_y(finite)},
        shapes=shapes,
        annotations=notes,
    )
    by = _by_number(runs)
    points = {p.trial: p for p in result.points}
    curves = go.Figure()
    values: list[float | None] = []
    for i, trial in enumerate(result.shown):
        p = points[trial]
        x, y = _curve(by[trial].curves.get(result.loss_metric) if trial in by else None)
        values += y
        ratio = p.lr / result.lr_star if result.lr_star else math.nan
        label = "lr*" if trial == result.lr_star_trial else f"{ratio:.3g}x lr*"
        curves.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"{label} = {fmt(p.lr, 3)}" + ("" if p.verdict.stable is not False else " ✗"),
                line={"color": (GREEN, ORANGE, RED, *PALETTE)[i], "width": 2},
                hovertemplate=f"{label}<br>step %{{x}}<br>loss %{{y:.4g}}<extra></extra>",
            )
        )
    curves.update_layout(
        **layout(
            f"{esc(result.loss_metric)} just above lr* (the sweep's LRs nearest 5x and 10x)",
            "A loss that goes up, not down, above lr* is instability: fixing it (warmup, "
            "clipping) likely gives better training (§9).",
        ),
        xaxis={"title": {"text": "step"}},
        yaxis={"title": {"text": esc(result.loss_metric)}, **_log_y(values)},
    )
    return [scatter, curves]


def _hover(trial: int, score: float | None, metric: str, why: str) -> str:
    scored = f" · {esc(metric)} {fmt(score)}" if score is not None else ""
    return f"trial {trial}{scored}<br>{esc(why)}"


# --- §9 early instability --------------------------------------------------------------------


def early_figures(
    result: EarlyResult, runs: Sequence[TrialRun], *, loss_metric: str, grad_metric: str
) -> list[go.Figure]:
    """Training loss and gradient norm, every step, at the best LR and at 2x it."""
    by = _by_number(runs)
    figures = []
    for metric, what in ((loss_metric, "training loss"), (grad_metric, "gradient norm")):
        fig = go.Figure()
        values: list[float | None] = []
        for i, p in enumerate(result.points):
            x, y = _curve(by[p.trial].curves.get(metric) if p.trial in by else None)
            values += y
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=f"{p.ratio:.3g}x best = {fmt(p.lr, 3)}"
                    + ("" if p.verdict.stable is not False else " ✗"),
                    line={"color": (BLUE, RED, *PALETTE)[i], "width": 1.4},
                    hovertemplate=f"lr {fmt(p.lr, 3)}<br>step %{{x}}<br>%{{y:.4g}}<extra></extra>",
                )
            )
        fig.update_layout(
            **layout(
                f"{esc(metric)} ({what}) in the first {result.steps} steps",
                f"Evaluated every step. A {what} that spikes or rises early at "
                f"{result.factor:g}x the best learning rate is the sign that warmup is needed "
                "(§9).",
            ),
            xaxis={"title": {"text": "step"}},
            yaxis={"title": {"text": esc(metric)}, **_log_y(values)},
        )
        figures.append(fig)
    return figures


# --- §9 warmup -----------------------------------------------------------------------------------


def warmup_figures(
    result: WarmupResult, runs: Sequence[TrialRun], *, loss_metric: str
) -> list[go.Figure]:
    """Training loss per warmup length (one figure per base LR); the chosen one drawn thick."""
    by = _by_number(runs)
    chosen = dict(result.chosen)
    figures = []
    for lr in sorted({p.base_lr for p in result.points}):
        fig = go.Figure()
        values: list[float | None] = []
        here = [p for p in result.points if p.base_lr == lr]
        for i, p in enumerate(here):
            x, y = _curve(by[p.trial].curves.get(loss_metric) if p.trial in by else None)
            values += y
            pick = chosen.get(lr) == p.warmup
            mark = " (chosen)" if pick else (" ✗" if p.verdict.stable is False else "")
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=f"warmup {p.warmup}{mark}",
                    line={"color": PALETTE[i % len(PALETTE)], "width": 3 if pick else 1.4},
                    text=[esc(p.verdict.why)] * len(x),
                    hovertemplate=f"warmup {p.warmup}<br>step %{{x}}<br>loss %{{y:.4g}}"
                    "<br>%{text}<extra></extra>",
                )
            )
        fig.update_layout(
            **layout(
                f"{esc(loss_metric)} at base LR {fmt(lr, 3)} "
                f"({lr / result.unstable_lr:.3g}x the unstable {fmt(result.unstable_lr, 3)})",
                "A linear warmup of each length, then the constant base rate. The shortest "
                "warmup whose loss goes down and stays down is chosen (§9).",
            ),
            xaxis={"title": {"text": "step"}},
            yaxis={"title": {"text": esc(loss_metric)}, **_log_y(values)},
        )
        figures.append(fig)
    return figures


# --- §9 clipping ---------------------------------------------------------------------------------


def clipping_figures(result: ClippingResult) -> list[go.Figure]:
    """The histogram of the logged unclipped gradient norms with λ (and your threshold)."""
    fig = go.Figure(
        [
            go.Histogram(
                x=list(result.norms),
                nbinsx=min(60, max(10, len(result.norms) // 3)),
                marker={"color": BLUE, "line": {"color": "#ffffff", "width": 0.5}},
                name=f"trial {result.trial}",
                hovertemplate="norm %{x}<br>%{y} logged steps<extra></extra>",
            )
        ]
    )
    shapes, notes = [], []
    s, n = rule("x", result.threshold, color=GOLD, text=f"λ = {fmt(result.threshold)}")
    shapes.append(s)
    notes.append(n)
    if result.user_threshold is not None:
        s, n = rule("x", result.user_threshold, color=RED, text="yours", dash="dot", left=False)
        shapes.append(s)
        notes.append(n)
    fig.update_layout(
        **layout(
            f"Unclipped {esc(result.metric)} of trial {result.trial}",
            f"λ is the {result.percentile:g}th percentile: clip the global norm there; if that "
            "clips more than half of the updates, lower the learning rate instead (§9).",
        ),
        xaxis={"title": {"text": esc(result.metric)}},
        yaxis={"title": {"text": "logged steps"}},
        shapes=shapes,
        annotations=notes,
        bargap=0.02,
    )
    return [fig]


# --- the page ------------------------------------------------------------------------------------


stability_page = standalone_page
