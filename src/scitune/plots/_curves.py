"""Training curves: the best few trials in full, every trial as small multiples, and an overlay
of all of them (PLAYBOOK_SPEC §5, items 22 and 24)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

from scitune.analysis._results import SpikeCheck
from scitune.analysis._snapshot import StudySnapshot
from scitune.plots._downsample import downsample_indices
from scitune.plots._style import (
    BLUE,
    GREY,
    PALETTE,
    RED,
    better_word,
    esc,
    fmt,
    layout,
    log_axis,
    tesc,
)
from scitune.plots._trials import by_number
from scitune.storage import Curve, FrozenTrial, TrialState

__all__ = ["all_curves_figure", "curves_figure", "curves_overlay_figure"]

FloatArray = npt.NDArray[np.float64]
AnyFloats = npt.NDArray[np.floating[Any]]


def curves_figure(
    snapshot: StudySnapshot,
    trial_numbers: Sequence[int],
    *,
    metric: str,
    train_metric: str | None,
    labels: Mapping[int, str] | None = None,
    bests: Mapping[int, SpikeCheck] | None = None,
    smoothing: int | None = None,
) -> go.Figure:
    """Dev and training curves of a few trials, whole, on two rows that share the step axis.

    Each trial keeps one colour in both rows; its best step (the retrospective checkpoint its
    score comes from) is a dot on the objective curve. ``labels`` (trial number -> why it was
    chosen, e.g. ``"best 1"``) name the legend entries. ``bests`` (the analysis's
    :class:`~scitune.analysis.SpikeCheck` records) add each trial's smoothed best as a diamond
    beside its raw best, and ring in red a raw best that is a spike (a lucky evaluation);
    ``smoothing`` is the window of those smoothed bests, for the subtitle.

    Example:
        >>> fig = curves_figure(snapshot, [12, 7, 3], metric="dev_error",
        ...                     train_metric="train_loss")  # doctest: +SKIP
    """
    from plotly.subplots import make_subplots

    trials = by_number(snapshot)
    rows = 2 if train_metric else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.07)
    train_values: list[FloatArray] = []
    dev_values: list[AnyFloats] = []
    horizon = snapshot.spec.budget.max_train_steps
    for i, number in enumerate(trial_numbers):
        trial = trials.get(number)
        if trial is None:
            continue
        color = PALETTE[i % len(PALETTE)]
        why = labels.get(number) if labels else None
        check = bests.get(number) if bests else None
        name = f"trial {number}" + (f" · {esc(why)}" if why else "")
        name += " · spike" if check is not None and check.spike else ""
        dev = snapshot.curve(trial, metric)
        if dev is not None and len(dev):
            dev_values.append(_late(dev.steps, dev.values, horizon))
            fig.add_trace(_line(dev, name, color, number, metric, group=str(number)), row=1, col=1)
            best = _best_point(trial, dev)
            if check is not None:
                for trace in _raw_and_smoothed(check, color, metric):
                    fig.add_trace(trace, row=1, col=1)
            elif best is not None:
                fig.add_trace(
                    go.Scatter(
                        x=[best[0]],
                        y=[best[1]],
                        mode="markers",
                        marker={
                            "color": color,
                            "size": 10,
                            "line": {"color": "white", "width": 1.5},
                        },
                        legendgroup=str(number),
                        showlegend=False,
                        hovertemplate=(
                            f"trial {number}: best {tesc(metric)} = {fmt(best[1])}"
                            f" at step {best[0]}<extra></extra>"
                        ),
                    ),
                    row=1,
                    col=1,
                )
        if train_metric:
            train = snapshot.curve(trial, train_metric)
            if train is not None and len(train):
                train_values.append(train.values)
                fig.add_trace(
                    _line(
                        train,
                        name,
                        color,
                        number,
                        train_metric,
                        group=str(number),
                        show=dev is None,
                        dash="solid",
                        width=1.4,
                    ),
                    row=2,
                    col=1,
                )
    goal = snapshot.spec.objective.goal
    subtitle = "● best step (the checkpoint the score comes from) · y zoomed past the first 10%"
    shown = [bests[n] for n in trial_numbers if bests and n in bests and n in trials]
    if shown:
        spiky = [f"#{c.trial}" for c in shown if c.spike]
        mean = f" (moving mean of {smoothing} evaluations)" if smoothing else ""
        subtitle = (
            f"● raw best · ◇ smoothed best{mean}"
            + (f" · red ring: the score is a spike ({', '.join(spiky)})" if spiky else "")
            + " · y zoomed past the first 10%"
        )
    if train_metric:
        subtitle = f"top: {esc(metric)} · bottom: {esc(train_metric)} · " + subtitle
    fig.update_layout(
        **layout("Training curves of the best trials", subtitle),
        height=560 if rows == 2 else 420,
        hovermode="closest",
    )
    fig.update_yaxes(title_text=f"{esc(metric)} ({better_word(goal)})", row=1, col=1)
    y_range = _robust_range(dev_values, goal)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range), row=1, col=1)
    if train_metric:
        fig.update_yaxes(title_text=esc(train_metric), row=2, col=1)
        if _spans_decades(train_values):
            data = np.concatenate(train_values)
            data = data[np.isfinite(data)]
            fig.update_yaxes(log_axis(float(data.min()), float(data.max())), row=2, col=1)
    fig.update_xaxes(title_text="step", row=rows, col=1)
    return fig


def all_curves_figure(
    snapshot: StudySnapshot,
    *,
    metric: str,
    max_panels: int = 100,
    max_points: int = 150,
    cols: int = 10,
    flagged: Collection[int] = (),
) -> go.Figure:
    """Small multiples: one panel per trial's objective curve, best trials first, shared axes.

    ``flagged`` trials (those whose score is a spike, ``analysis.spikes.spiky``) have their
    rank marked "spike" in their panel's label.

    Large studies are capped at the ``max_panels`` best (the subtitle says how many are left
    out); each curve is downsampled to about ``max_points`` points. The shared y range ignores
    the worst 1% of values so a diverged run does not flatten the others.

    Example:
        >>> fig = all_curves_figure(snapshot, metric="dev_error", max_panels=50)  # doctest: +SKIP
    """
    from plotly.subplots import make_subplots

    ordered = _display_order(snapshot)
    with_curve = [(t, c) for t in ordered if (c := snapshot.curve(t, metric)) is not None]
    shown = with_curve[: max(max_panels, 1)]
    n = len(shown)
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_xaxes="all",
        shared_yaxes="all",
        horizontal_spacing=0.012,
        vertical_spacing=min(0.3, 18 / max(1.0, 78.0 * rows - 18)),
    )
    ranks = {t.number: i + 1 for i, t in enumerate(snapshot.ranked())}
    horizon = snapshot.spec.budget.max_train_steps
    traces: list[go.Scatter] = []
    annotations: list[dict[str, Any]] = []
    values: list[AnyFloats] = []
    for i, (trial, curve) in enumerate(shown):
        idx = downsample_indices(curve.steps, curve.values, max_points)
        y = np.where(np.isfinite(curve.values[idx]), curve.values[idx], np.nan)
        values.append(_late(curve.steps[idx], y, horizon))
        color, label = _panel_style(trial, ranks.get(trial.number))
        label += " · spike" if trial.number in flagged else ""
        axis_id = "" if i == 0 else str(i + 1)
        traces.append(
            go.Scatter(
                x=curve.steps[idx],
                y=y,
                mode="lines",
                line={"color": color, "width": 1.3},
                showlegend=False,
                xaxis=f"x{axis_id}",
                yaxis=f"y{axis_id}",
                hovertemplate=f"trial {trial.number}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
        annotations.append(
            {
                "text": label,
                "xref": f"x{axis_id} domain",
                "yref": f"y{axis_id} domain",
                "x": 0.0,
                "y": 1.0,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 9, "color": color},
            }
        )
    fig.add_traces(traces)
    y_range = _robust_range(values, snapshot.spec.objective.goal)
    skipped = len(with_curve) - n
    subtitle = "best first; number: rank among ranked trials"
    if skipped:
        subtitle = f"the {n} best of {len(with_curve)} trials ({skipped} not shown) · " + subtitle
    subtitle += " · red: infeasible · grey: failed or breaks a constraint"
    marked = sum(t.number in flagged for t, _ in shown)
    if marked:
        subtitle += f" · spike: the score is one lucky evaluation ({marked} shown)"
    fig.update_layout(
        **layout(f"{esc(metric)} of every trial", subtitle),
        annotations=annotations,
        height=max(260, 120 + 78 * rows),
        margin={"l": 56, "r": 16, "t": 78, "b": 40},
    )
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=True, nticks=4)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    fig.update_xaxes(showticklabels=True, ticks="outside", nticks=3, tickangle=0, row=rows, col=1)
    fig.update_yaxes(showticklabels=True, ticks="outside", row=rows, col=1)
    return fig


def curves_overlay_figure(
    snapshot: StudySnapshot,
    *,
    metric: str,
    keep_whole: int = 5,
    max_curves: int = 1000,
    max_points: int = 60,
) -> go.Figure:
    """Every trial's objective curve on one plot, coloured by rank; the best ``keep_whole`` whole.

    The other curves are downsampled (MinMax-LTTB) to about ``max_points`` points and drawn as
    one line per rank quintile (and one for infeasible trials), so that 10,000 trials stay a
    light figure. Beyond ``max_curves``, an evenly spaced sample by rank is drawn and the
    subtitle says so.

    Example:
        >>> fig = curves_overlay_figure(snapshot, metric="dev_error")  # doctest: +SKIP
    """
    ranked = snapshot.ranked()
    best = ranked[:keep_whole]
    rest = ranked[keep_whole:]
    infeasible = [t for t in snapshot.trials if t.state is TrialState.INFEASIBLE]
    total = len(rest) + len(infeasible)
    if total > max_curves:
        rest = _evenly(rest, max(1, max_curves * len(rest) // total))
        infeasible = _evenly(infeasible, max(0, max_curves - len(rest)))
    horizon = snapshot.spec.budget.max_train_steps
    fig = go.Figure()
    rank = {t.number: i + 1 for i, t in enumerate(ranked)}
    quintiles = np.array_split(np.arange(len(rest)), 5) if rest else []
    shades = ("#1d4e89", "#3f77b8", "#7ea6d6", "#b5cbe6", "#d7e2f0")
    all_values: list[AnyFloats] = []
    for q, members in enumerate(quintiles):
        if not len(members):
            continue
        lo, hi = rank[rest[int(members[0])].number], rank[rest[int(members[-1])].number]
        x, y = _joined([rest[int(i)] for i in members], snapshot, metric, max_points)
        all_values.append(_late(x, y, horizon))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"ranks {lo:,}–{hi:,}",
                line={"color": shades[q], "width": 1},
                opacity=0.55,
                hoverinfo="skip",
                connectgaps=False,
            )
        )
    if infeasible:
        x, y = _joined(infeasible, snapshot, metric, max_points)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name="infeasible",
                line={"color": RED, "width": 1},
                opacity=0.35,
                hoverinfo="skip",
            )
        )
    for i, trial in enumerate(best):
        curve = snapshot.curve(trial, metric)
        if curve is None or not len(curve):
            continue
        all_values.append(_late(curve.steps, curve.values, horizon))
        fig.add_trace(
            _line(
                curve,
                f"rank {i + 1}: trial {trial.number}",
                PALETTE[i % len(PALETTE)],
                trial.number,
                metric,
                width=2.2,
            )
        )
    # Traces drawn later sit on top: the best ones were added last on purpose.
    shown = len(rest) + len(infeasible) + len(best)
    population = len(ranked) + sum(t.state is TrialState.INFEASIBLE for t in snapshot.trials)
    subtitle = f"best {len(best)} whole and in colour; the rest downsampled, darker = better rank"
    if shown < population:
        subtitle = f"{shown} of {population} trials (evenly spaced by rank) · " + subtitle
    goal = snapshot.spec.objective.goal
    y_range = _robust_range(all_values, goal)
    fig.update_layout(
        **layout(f"{esc(metric)} of all trials", subtitle),
        xaxis={"title": {"text": "step"}},
        yaxis={
            "title": {"text": f"{esc(metric)} ({better_word(goal)})"},
            **({"range": list(y_range)} if y_range else {}),
        },
        height=480,
        hovermode="closest",
    )
    return fig


# -- helpers ------------------------------------------------------------------------------------
def _line(
    curve: Curve,
    name: str,
    color: str,
    number: int,
    metric: str,
    *,
    group: str | None = None,
    show: bool = True,
    dash: str = "solid",
    width: float = 1.8,
) -> go.Scatter:
    y = np.where(np.isfinite(curve.values), curve.values, np.nan)
    return go.Scatter(
        x=curve.steps,
        y=y,
        mode="lines",
        name=name,
        line={"color": color, "width": width, "dash": dash},
        legendgroup=group,
        showlegend=show,
        hovertemplate=f"trial {number} · {tesc(metric)}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
    )


def _raw_and_smoothed(check: SpikeCheck, color: str, metric: str) -> list[go.Scatter]:
    """The raw best (ringed red when a spike) and the smoothed best of one trial."""
    spike = " (a spike: a lucky evaluation)" if check.spike else ""
    raw = go.Scatter(
        x=[check.raw_step],
        y=[check.raw_best],
        mode="markers",
        marker={
            "color": color,
            "size": 12 if check.spike else 10,
            "line": {"color": RED if check.spike else "white", "width": 3 if check.spike else 1.5},
        },
        legendgroup=str(check.trial),
        showlegend=False,
        hovertemplate=(
            f"trial {check.trial}: raw best {tesc(metric)} = {fmt(check.raw_best)} at step "
            f"{check.raw_step}{spike}<extra></extra>"
        ),
    )
    smoothed = go.Scatter(
        x=[check.smoothed_step],
        y=[check.smoothed_best],
        mode="markers",
        marker={
            "color": "white",
            "symbol": "diamond",
            "size": 10,
            "line": {"color": color, "width": 2},
        },
        legendgroup=str(check.trial),
        showlegend=False,
        hovertemplate=(
            f"trial {check.trial}: smoothed best {tesc(metric)} = {fmt(check.smoothed_best)} "
            f"at step {check.smoothed_step}<extra></extra>"
        ),
    )
    return [raw, smoothed]


def _best_point(trial: FrozenTrial, curve: Curve) -> tuple[int, float] | None:
    if trial.value_step is not None and trial.value is not None and math.isfinite(trial.value):
        return trial.value_step, trial.value
    return None


def _joined(
    trials: Sequence[FrozenTrial], snapshot: StudySnapshot, metric: str, max_points: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Many downsampled curves as one line, separated by NaN gaps (one trace, not thousands)."""
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    gap = np.array([np.nan])
    for trial in trials:
        curve = snapshot.curve(trial, metric)
        if curve is None or not len(curve):
            continue
        idx = downsample_indices(curve.steps, curve.values, max_points)
        y = curve.values[idx]
        xs += [curve.steps[idx].astype(np.float64), gap]
        ys += [np.where(np.isfinite(y), y, np.nan), gap]
    if not xs:
        return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.float32)
    # float32 halves what the report embeds; a drawn step or metric needs no more precision.
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def _evenly(items: Sequence[FrozenTrial], n: int) -> list[FrozenTrial]:
    if n <= 0 or not items:
        return []
    if n >= len(items):
        return list(items)
    idx = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [items[int(i)] for i in idx]


def _display_order(snapshot: StudySnapshot) -> list[FrozenTrial]:
    """Ranked best first, then complete but unranked, infeasible, failed, unfinished."""
    ranked = snapshot.ranked()
    seen = {t.number for t in ranked}
    order = {
        TrialState.COMPLETE: 0,
        TrialState.INFEASIBLE: 1,
        TrialState.FAILED: 2,
        TrialState.RUNNING: 3,
        TrialState.PENDING: 4,
    }
    rest = sorted(
        (t for t in snapshot.trials if t.number not in seen),
        key=lambda t: (order[t.state], t.number),
    )
    return [*ranked, *rest]


def _panel_style(trial: FrozenTrial, rank: int | None) -> tuple[str, str]:
    if rank is not None:
        return BLUE, f"#{rank} · trial {trial.number}"
    if trial.state is TrialState.INFEASIBLE:
        return RED, f"trial {trial.number} ×"
    return GREY, f"trial {trial.number}"


def _late(steps: npt.ArrayLike, values: AnyFloats, horizon: int) -> AnyFloats:
    """Values past the first 10% of training (the fast initial drop would set the y range)."""
    late = np.asarray(steps) >= 0.1 * horizon
    return values[late] if late.any() else values


def _robust_range(values: Sequence[AnyFloats], goal: str) -> tuple[float, float] | None:
    """The y range without the worst 1% of finite values (a diverged run flattens the rest)."""
    if not values:
        return None
    data = np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
    data = data[np.isfinite(data)]
    if not data.size:
        return None
    if goal == "minimize":
        lo, hi = float(np.min(data)), float(np.quantile(data, 0.99))
    else:
        lo, hi = float(np.quantile(data, 0.01)), float(np.max(data))
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _spans_decades(values: Sequence[FloatArray]) -> bool:
    if not values:
        return False
    data = np.concatenate(values)
    data = data[np.isfinite(data)]
    return bool(data.size and data.min() > 0 and data.max() / data.min() > 30.0)
