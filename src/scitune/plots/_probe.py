"""Figures of the batch-size measurements (§1) and the offline page that holds them.

:func:`throughput_figure` and :func:`step_time_figure` draw a
:class:`~scitune.probe.BatchSizeProbe`, :func:`scaling_figure` a
:class:`~scitune.probe.PerfectScaling`; nothing is recomputed here.
:func:`probe_page` puts facts, a table, findings and figures in one HTML file that works offline
(plotly.js embedded once, no external script).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from scitune.plots._page import standalone_page
from scitune.plots._style import BLUE, GOLD, GREY, RED, esc, fmt, layout, rule
from scitune.probe import BatchSizeProbe, PerfectScaling, ProbeRow

__all__ = ["probe_page", "scaling_figure", "step_time_figure", "throughput_figure"]


def _size_axis(sizes: Sequence[int]) -> dict[str, Any]:
    """A log2-spaced batch-size axis labelled at the probed sizes (powers of two)."""
    return {
        "title": {"text": "batch size"},
        "type": "log",
        "tickvals": list(sizes),
        "ticktext": [str(s) for s in sizes],
    }


def _row_hover(row: ProbeRow) -> str:
    lines = [f"<b>batch {row.batch_size}</b> · {esc(row.status)}"]
    if row.examples_per_second is not None:
        lines.append(f"{fmt(row.examples_per_second)} examples/s")
    if row.seconds_per_step is not None:
        lines.append(f"{fmt(row.seconds_per_step * 1000)} ms per step")
    if row.efficiency is not None:
        lines.append(f"scaling efficiency {row.efficiency:.2f}")
    if row.trial_number is not None:
        lines.append(f"trial {row.trial_number}, median of {row.intervals} interval(s)")
    if row.warmup_included:
        lines.append("warm-up included: understated")
    return "<br>".join(lines)


def _marks(probe: BatchSizeProbe) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes, notes = [], []
    if probe.largest_scaling is not None:
        s, n = rule(
            "x",
            probe.largest_scaling,
            color=GOLD,
            text=f"scales up to {probe.largest_scaling}",
            log=True,
        )
        shapes.append(s)
        notes.append(n)
    if probe.stopped_at is not None:
        what = "out of memory" if probe.stop == "oom" else "failed"
        s, n = rule(
            "x",
            probe.stopped_at.batch_size,
            color=RED,
            text=f"{what} at {probe.stopped_at.batch_size}",
            log=True,
            left=False,
        )
        shapes.append(s)
        notes.append(n)
    return shapes, notes


def throughput_figure(probe: BatchSizeProbe) -> go.Figure:
    """Examples/second by batch size (log-log), against perfect scaling from the smallest."""
    rows = [r for r in probe.rows if r.examples_per_second is not None]
    sizes = [r.batch_size for r in probe.rows]
    fig = go.Figure()
    if rows:
        b0, t0 = rows[0].batch_size, rows[0].examples_per_second or 0.0
        ideal_x = [s for s in sizes if b0 <= s <= rows[-1].batch_size]
        fig.add_trace(
            go.Scatter(
                x=ideal_x,
                y=[t0 * s / b0 for s in ideal_x],
                mode="lines",
                name="perfect scaling (2x per doubling)",
                line={"color": GREY, "dash": "dash"},
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[r.batch_size for r in rows],
                y=[r.examples_per_second for r in rows],
                mode="lines+markers",
                name="measured (median after warm-up)",
                line={"color": BLUE, "width": 2.5},
                marker={
                    "size": 9,
                    "symbol": ["circle" if r.status == "measured" else "circle-open" for r in rows],
                },
                text=[_row_hover(r) for r in rows],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    shapes, notes = _marks(probe)
    fig.update_layout(
        **layout(
            "Training throughput by batch size",
            "Each doubling should (nearly) double examples/s; where the line bends away from "
            f"the dashed one,<br>scaling stops (tolerance {probe.tolerance:g} of the ideal, "
            "ours). Open circles: warm-up included, or an infeasible trial.",
        ),
        xaxis=_size_axis(sizes),
        yaxis={"title": {"text": "examples / second"}, "type": "log", "dtick": "D2"},
        shapes=shapes,
        annotations=notes,
        margin={"l": 64, "r": 24, "t": 96, "b": 64},  # room for a two-line subtitle
    )
    return fig


def step_time_figure(probe: BatchSizeProbe) -> go.Figure:
    """Time per step (batch / throughput) by batch size: flat while scaling is perfect."""
    rows = [r for r in probe.rows if r.seconds_per_step is not None]
    sizes = [r.batch_size for r in probe.rows]
    fig = go.Figure()
    if rows:
        flat = (rows[0].seconds_per_step or 0.0) * 1000
        ideal_x = [s for s in sizes if rows[0].batch_size <= s <= rows[-1].batch_size]
        fig.add_trace(
            go.Scatter(
                x=ideal_x,
                y=[flat] * len(ideal_x),
                mode="lines",
                name="perfect scaling (same time per step)",
                line={"color": GREY, "dash": "dash"},
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[r.batch_size for r in rows],
                y=[(r.seconds_per_step or 0.0) * 1000 for r in rows],
                mode="lines+markers",
                name="measured",
                line={"color": BLUE, "width": 2.5},
                marker={"size": 9},
                text=[_row_hover(r) for r in rows],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    shapes, notes = _marks(probe)
    fig.update_layout(
        **layout(
            "Time per training step by batch size",
            "Training time = time per step x steps: a bigger batch is free while its step takes "
            "no longer;<br>it pays only if it also cuts the steps needed (perfect scaling).",
        ),
        xaxis=_size_axis(sizes),
        yaxis={"title": {"text": "milliseconds per step"}, "type": "log", "dtick": "D2"},
        shapes=shapes,
        annotations=notes,
        margin={"l": 64, "r": 24, "t": 96, "b": 64},  # room for a two-line subtitle
    )
    return fig


def scaling_figure(result: PerfectScaling) -> go.Figure:
    """Steps to the target by batch size (log-log) against the perfect-scaling line."""
    sizes = [p.batch_size for p in result.points]
    reached = [p for p in result.points if p.steps is not None]
    missing = [p for p in result.points if p.steps is None]
    fig = go.Figure()
    if result.reference is not None and reached:
        ref = next(p for p in reached if p.batch_size == result.reference)
        x = [s for s in sizes if s >= ref.batch_size]
        perfect = [(ref.steps or 0) * ref.batch_size / s for s in x]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=perfect,
                mode="lines",
                name="perfect scaling (half the steps per doubling)",
                line={"color": GREY, "dash": "dash"},
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[result.factor * v for v in perfect],
                mode="lines",
                name=f"{result.factor:g}x perfect (ours: still scaling)",
                line={"color": GREY, "dash": "dot", "width": 1},
                hoverinfo="skip",
            )
        )
    target = f"{esc(result.metric)} {'≤' if result.goal == 'minimize' else '≥'} "
    target += fmt(result.target) if result.target is not None else "its target"
    fig.add_trace(
        go.Scatter(
            x=[p.batch_size for p in reached],
            y=[p.steps for p in reached],
            mode="lines+markers",
            name="fastest trial per batch size",
            line={"color": BLUE, "width": 2.5},
            marker={"size": 9},
            text=[
                f"<b>batch {p.batch_size}</b><br>{p.steps} steps to {target}<br>trial "
                f"{p.trial_number}, {p.reached}/{p.trials} trials reached it"
                + (f"<br>{p.ratio:.2f}x perfect scaling" if p.ratio is not None else "")
                + "".join(
                    f"<br>{esc(k)} = {esc(fmt(v) if isinstance(v, float) else v)}"
                    for k, v in p.params.items()
                )
                for p in reached
            ],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    if missing:
        fig.add_trace(
            go.Scatter(
                x=[p.batch_size for p in missing],
                y=[result.max_train_steps] * len(missing),
                mode="markers",
                name="never reached (more than the budget)",
                marker={"size": 11, "symbol": "triangle-up", "color": RED},
                hovertemplate="batch %{x}: not reached within %{y} steps<extra></extra>",
            )
        )
    shapes, notes = [], []
    if result.critical_batch_size is not None:
        s, n = rule(
            "x",
            result.critical_batch_size,
            color=GOLD,
            text=f"critical batch size ≈ {result.critical_batch_size}",
            log=True,
        )
        shapes.append(s)
        notes.append(n)
    fig.update_layout(
        **layout(
            f"Steps to reach {target} by batch size",
            "Each batch size with its own tuned learning rate and the same step budget. Along "
            "the dashed line<br>doubling the batch halves the steps; where the points leave "
            "it, returns diminish (critical batch size).",
        ),
        xaxis=_size_axis(sizes),
        yaxis={"title": {"text": "steps to the target"}, "type": "log", "dtick": "D2"},
        shapes=shapes,
        annotations=notes,
        margin={"l": 64, "r": 24, "t": 96, "b": 64},  # room for a two-line subtitle
    )
    return fig


probe_page = standalone_page
