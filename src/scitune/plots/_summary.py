"""Study-level figures: best-of-k (the playbook's figure 3), where the best step falls, and
gradient norms against a clipping threshold (PLAYBOOK_SPEC §5, §8, §9)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from scitune.analysis._results import BestOfK, BestStepSummary, Finding, GradNormSummary
from scitune.analysis._snapshot import StudySnapshot
from scitune.plots._style import (
    BLUE,
    GREEN,
    ORANGE,
    PALETTE,
    RED,
    better_word,
    esc,
    fmt,
    layout,
    log_axis,
    rule,
)
from scitune.plots._trials import by_number

__all__ = ["best_of_k_figure", "best_step_figure", "grad_norm_figures"]


def best_of_k_figure(
    bok: BestOfK, *, metric: str, goal: str, verdict: Finding | None = None
) -> go.Figure:
    """The best score among k trials drawn from the study, median and interquartile band.

    ``verdict`` is the analysis's ``density.more_trials`` or ``density.flattened`` finding: the
    subtitle states what it measured (the move of the median from k = n/2 to n against its
    threshold), never a fixed reading. Without one, the subtitle says how to read the curve.

    Example:
        >>> fig = best_of_k_figure(analysis.best_of_k, metric="dev_error",
        ...                        goal="minimize", verdict=finding)  # doctest: +SKIP
    """
    # Thousands of k values draw no better than a few hundred spread on the log axis.
    keep = _spread(len(bok.k), 300)
    k = [bok.k[i] for i in keep]
    median = [bok.median[i] for i in keep]
    q25 = [bok.q25[i] for i in keep]
    q75 = [bok.q75[i] for i in keep]
    fig = go.Figure(
        [
            go.Scatter(
                x=k + k[::-1],
                y=q75 + q25[::-1],
                fill="toself",
                mode="lines",
                fillcolor="rgba(47,109,181,0.18)",
                line={"width": 0},
                name="interquartile range",
                hoverinfo="skip",
            ),
            go.Scatter(
                x=k,
                y=median,
                mode="lines+markers" if len(k) <= 30 else "lines",
                name="median best of k",
                line={"color": BLUE, "width": 2.4},
                marker={"size": 5},
                customdata=np.column_stack([q25, q75]) if k else None,
                hovertemplate=(
                    "k = %{x}<br>median best = %{y:.4g}"
                    "<br>IQR %{customdata[0]:.4g} – %{customdata[1]:.4g}<extra></extra>"
                ),
            ),
        ]
    )
    shape, note = rule(
        "y", bok.observed_best, color="#b07c00", text=f"best observed: {fmt(bok.observed_best)}"
    )
    note["yanchor"] = "top" if goal == "minimize" else "bottom"
    fig.update_layout(
        **layout(
            "Best of k: would more trials change the winner?",
            f"best {esc(metric)} among k trials drawn from the n = {bok.n} finished ones "
            f"(bootstrap; a trial without a score never wins) · {_best_of_k_reading(verdict)}",
        ),
        xaxis=_k_axis(k),
        yaxis={"title": {"text": f"{esc(metric)} ({better_word(goal)})"}},
        hovermode="x",
        shapes=[shape],
        annotations=[note],
    )
    return fig


def _best_of_k_reading(verdict: Finding | None) -> str:
    """The subtitle's verdict, computed from the density finding's evidence (plotly text)."""
    if verdict is None or verdict.code not in ("density.more_trials", "density.flattened"):
        return "a curve still moving at k = n says more trials would change the winner"
    e = verdict.evidence
    half, n = e.get("k_half"), e.get("n_finished")
    gain, threshold = e.get("gain"), e.get("threshold")
    if half is None or n is None or threshold is None:  # evidence from elsewhere: its words
        return esc(verdict.message)
    if gain is None:
        return (
            f"no median best at k = {half} (most draws hold no scored trial) ⇒ more trials "
            "would likely help"
        )
    if verdict.code == "density.more_trials":
        return (
            f"the median best moved {fmt(gain)} from k = {half} to {n}, more than "
            f"{fmt(threshold)} ⇒ more trials would likely help"
        )
    return (
        f"the median best moved {fmt(gain)} from k = {half} to {n}, within {fmt(threshold)} "
        "⇒ flat: more trials of this search are unlikely to change the winner"
    )


def _spread(n: int, most: int) -> list[int]:
    """At most about ``most`` indices of ``range(n)``, log-spaced (dense at small k), ends kept."""
    if n <= most:
        return list(range(n))
    picked = np.unique(np.geomspace(1, n, most).round().astype(int) - 1)
    return sorted({0, n - 1, *(int(i) for i in picked)})


def _k_axis(k: list[int]) -> dict[str, Any]:
    """Log k axis ticked at round numbers and at n, from 1 to n exactly (no stray minor labels)."""
    title = {"text": "k (trials)"}
    if not k or max(k) < 30:
        return {"title": title, "type": "linear"}
    n = max(k)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t < 0.8 * n]
    pad = 0.02 * math.log10(n)
    return {
        "title": title,
        "type": "log",
        "range": [-pad, math.log10(n) + pad],
        "tickvals": [*ticks, n],
        "ticktext": [f"{t:,}" for t in ticks] + [f"n = {n:,}"],
        "minor": {"showgrid": False},
    }


def best_step_figure(
    summary: BestStepSummary, *, early: float = 0.1, late: float = 0.25
) -> go.Figure:
    """Histogram of where each trial reached its best score, as a share of max_train_steps.

    The first ``early`` and last ``late`` of training are shaded: nearly always early means
    ``max_train_steps`` is too high; consistently late means train longer and re-tune the decay
    (PLAYBOOK_SPEC §8, item 27).

    Example:
        >>> fig = best_step_figure(analysis.best_steps)  # doctest: +SKIP
    """
    fractions = [f for _, f in summary.fractions]
    numbers = [n for n, _ in summary.fractions]
    width = 0.05
    fig = go.Figure(
        go.Histogram(
            # A best step at the very last step (fraction 1.0) belongs to the last bin, which
            # plotly would otherwise start at 1.0, outside the axis.
            x=[min(f, 1.0 - 1e-9) for f in fractions],
            xbins={"start": 0.0, "end": 1.0, "size": width},
            marker={"color": BLUE, "line": {"color": "white", "width": 1}},
            name="trials",
            hovertemplate="best step at %{x} of training: %{y} trials<extra></extra>",
            customdata=numbers,
        )
    )
    for x0, x1, color, text in (
        (0.0, early, ORANGE, f"first {early:.0%}:<br>steps too many?"),
        (1.0 - late, 1.0, GREEN, f"last {late:.0%}:<br>train longer?"),
    ):
        fig.add_vrect(
            x0=x0,
            x1=x1,
            fillcolor=color,
            opacity=0.12,
            line_width=0,
            layer="below",
            annotation={"text": text, "font": {"size": 10, "color": color}},
            annotation_position="top left" if x0 == 0.0 else "top right",
        )
    fig.update_layout(
        **layout(
            "Where in training did each trial reach its best score?",
            f"{len(fractions)} trials · {summary.early_share:.0%} in the first {early:.0%} · "
            f"{summary.late_share:.0%} in the last {late:.0%}",
        ),
        xaxis={
            "title": {"text": "best step / max_train_steps"},
            "range": [0, 1],
            "tickformat": ".0%",
        },
        yaxis={"title": {"text": "trials"}, **_count_ticks(fractions)},
        bargap=0.02,
        showlegend=False,
    )
    return fig


def _count_ticks(fractions: list[float]) -> dict[str, Any]:
    """Whole-number ticks for small counts (plotly would label 0.5 trials)."""
    counts, _ = np.histogram(fractions, bins=np.linspace(0.0, 1.0, 21))
    return {"dtick": 1, "tick0": 0} if counts.size and counts.max() <= 8 else {}


def grad_norm_figures(
    snapshot: StudySnapshot, summary: GradNormSummary
) -> tuple[go.Figure, go.Figure]:
    """Gradient norm over training for the checked trials, and a histogram of the norms.

    Both carry the clipping threshold at ``summary.percentile`` (the playbook's 90th): clipping
    more than half of the updates is extremely aggressive, lower the learning rate instead
    (PLAYBOOK_SPEC §9, item 35). Spikes the analysis found are marked.

    Example:
        >>> over, hist = grad_norm_figures(snapshot, analysis.grad_norm)  # doctest: +SKIP
    """
    trials = by_number(snapshot)
    metric = summary.metric
    over = go.Figure()
    logged: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    for i, (number, share) in enumerate(summary.clipped_fraction.items()):
        trial = trials.get(number)
        curve = snapshot.curve(trial, metric) if trial is not None else None
        if curve is None or not len(curve):
            continue
        color = PALETTE[i % len(PALETTE)]
        y = np.where(np.isfinite(curve.values), curve.values, np.nan)
        logged.append(y[np.isfinite(y)])
        over.add_trace(
            go.Scatter(
                x=curve.steps,
                y=y,
                mode="lines",
                name=f"trial {number} (clips {share:.0%})",
                line={"color": color, "width": 1.4},
                legendgroup=str(number),
                hovertemplate=f"trial {number}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
        spikes = [s for s in summary.spikes.get(number, ()) if s in set(curve.steps.tolist())]
        if spikes:
            at = np.searchsorted(curve.steps, spikes)
            over.add_trace(
                go.Scatter(
                    x=spikes,
                    y=y[at],
                    mode="markers",
                    name=f"spikes, trial {number}",
                    marker={
                        "color": color,
                        "symbol": "triangle-up",
                        "size": 10,
                        "line": {"color": RED, "width": 1.5},
                    },
                    legendgroup=str(number),
                    hovertemplate=f"spike in trial {number}<br>step %{{x}}: %{{y:.4g}}"
                    "<extra></extra>",
                )
            )
    threshold = summary.threshold
    label = f"clip at p{summary.percentile:g} = {fmt(threshold)}"
    values = np.concatenate(logged) if logged else np.empty(0)
    # Spikes of 10x or more flatten a linear axis: log then, in both figures.
    log_y = bool(values.size and values.min() > 0 and values.max() / values.min() > 10)
    marks = [rule("y", threshold, color=RED, text=label, log=log_y)]
    over.update_layout(
        shapes=[s for s, _ in marks if math.isfinite(threshold)],
        annotations=[a for _, a in marks if math.isfinite(threshold)],
        **layout(
            f"Gradient norm ({esc(metric)}) during training",
            "unclipped global L2 norm · dashed: the clipping threshold · ▲ spikes",
        ),
        xaxis={"title": {"text": "step"}},
        yaxis={
            "title": {"text": esc(metric)},
            **(log_axis(float(values.min()), float(values.max())) if log_y else {}),
        },
        hovermode="closest",
    )
    hist = _norm_histogram(values, threshold, label, log_x=log_y)
    return over, hist


def _norm_histogram(
    values: np.ndarray[Any, np.dtype[np.float64]], threshold: float, label: str, *, log_x: bool
) -> go.Figure:
    fig = go.Figure()
    above = float(np.mean(values > threshold)) if values.size else 0.0
    if values.size:
        if log_x:
            edges = np.geomspace(values.min(), values.max(), 41)
        else:
            edges = np.linspace(values.min(), values.max() or 1.0, 41)
        counts, edges = np.histogram(values, bins=edges)
        # A filled step line: bars of equal visual width on a log axis.
        x = np.repeat(edges, 2)[1:-1]
        y = np.repeat(counts, 2)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                fill="tozeroy",
                fillcolor="rgba(47,109,181,0.35)",
                line={"color": BLUE, "width": 1.2},
                name="logged norms",
                hovertemplate="norm %{x:.4g}: %{y} steps<extra></extra>",
            )
        )
    if math.isfinite(threshold):
        shape, note = rule("x", threshold, color=RED, text=label, log=log_x, left=False)
        fig.update_layout(shapes=[shape], annotations=[note])
    fig.update_layout(
        **layout(
            "Gradient norms logged, with the clipping threshold",
            f"{values.size} logged steps · {above:.0%} above the threshold",
        ),
        xaxis={
            "title": {"text": "gradient norm"},
            **(log_axis(float(values.min()), float(values.max())) if log_x else {}),
        },
        yaxis={"title": {"text": "steps"}},
        showlegend=False,
    )
    return fig
