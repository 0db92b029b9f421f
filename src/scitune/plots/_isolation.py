"""Isolation plots: the best trial per scientific value after the nuisance ones are tuned away
(PLAYBOOK_SPEC §5, item 23)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from scitune.analysis._results import IsolationResult
from scitune.plots._style import (
    BLUE,
    GOLD,
    GREEN,
    INK,
    MUTED,
    ORANGE,
    RERUN,
    better_word,
    esc,
    fmt,
    layout,
    short,
    tesc,
)

if TYPE_CHECKING:
    from scitune.evidence import ConfigVariance

__all__ = ["isolation_figure"]


def isolation_figure(
    result: IsolationResult,
    *,
    metric: str,
    goal: str,
    variance: Iterable[ConfigVariance] = (),
) -> go.Figure:
    """Per value (or bucket) of a scientific hyperparameter: its best score and all ranked ones.

    The best score of each value is a large diamond, the winner a gold star; every ranked score
    of the value is a jittered dot behind it. The title carries the verdict: a "thin" nuisance
    search means the comparison is not yet fair, with the reasons.

    ``variance`` (``analysis.config_variance``) adds, next to the best score of each value whose
    best trial was rerun (``scitune reseed``), the mean of its runs with a ± standard-error bar:
    a single best score is one draw of the retrain noise.

    Example:
        >>> fig = isolation_figure(analysis.isolation[0], metric="dev_error", goal="minimize",
        ...                        variance=analysis.config_variance)  # doctest: +SKIP
    """
    reruns = {v.trial: v for v in variance if v.n >= 2 and v.se is not None}
    rng = np.random.default_rng(0)
    spread_x: list[float] = []
    spread_y: list[float] = []
    spread_se: list[float] = []
    spread_text: list[str] = []
    winner: go.Scatter | None = None
    strips: list[go.Scatter] = []
    best_x: list[float] = []
    best_y: list[float] = []
    best_text: list[str] = []
    annotations: list[dict[str, Any]] = []
    ticks: list[str] = []
    for i, group in enumerate(result.groups):
        label = esc(group.label)
        tick_label = esc(short(group.label, 24))
        counts = f"{group.n_complete}/{group.n_trials} complete"
        if group.n_infeasible:
            counts += f", {group.n_infeasible} infeasible"
        tick = f"{tick_label}<br><span style='font-size:10px;color:{MUTED}'>{counts}</span>"
        if group.best_at_boundary:
            edges = ", ".join(esc(a) for a in group.best_at_boundary)
            tick += (
                f"<br><span style='font-size:10px;color:{ORANGE}'>⚠ best at edge: {edges}</span>"
            )
        ticks.append(tick)
        # One trace per group with a template, not one label per point (10,000 trials).
        strips.append(
            go.Scatter(
                x=i + rng.uniform(-0.22, 0.22, len(group.scores)),
                y=np.asarray(group.scores, dtype=np.float64),
                mode="markers",
                name="every ranked trial",
                legendgroup="strip",
                showlegend=not strips,
                marker={"color": BLUE, "size": 6, "opacity": 0.45},
                hovertemplate=(
                    f"{tesc(group.label)}<br>{tesc(metric)} = %{{y:.4g}}<extra></extra>"
                ),
            )
        )
        if group.best_score is None:
            annotations.append(_note(i, "no ranked trial", MUTED, yref="paper", y=0.5))
            continue
        text = f"<b>{label}</b>: best {esc(metric)} = {fmt(group.best_score)}"
        if group.best_trial is not None:
            text += f"<br>trial {group.best_trial}"
        runs = reruns.get(group.best_trial) if group.best_trial is not None else None
        if runs is not None:
            assert runs.se is not None
            summary = f"{runs.n} runs: mean {fmt(runs.mean)} ± {fmt(runs.se, 2)} (se)"
            text += f" · {summary}"
            spread_x.append(i + 0.32)
            spread_y.append(runs.mean)
            spread_se.append(runs.se)
            spread_text.append(
                f"<b>{label}</b>: trial {runs.trial} over {runs.n} runs<br>"
                f"mean {esc(metric)} = {fmt(runs.mean)} ± {fmt(runs.se, 2)} (se)<br>"
                f"sd {fmt(runs.std, 2)} · best single run {fmt(group.best_score)}"
            )
        if group.best_at_boundary:
            edges = ", ".join(esc(a) for a in group.best_at_boundary)
            text += f"<br>at the edge of: {edges}"
        if group.label == result.best_label:
            winner = go.Scatter(
                x=[i],
                y=[group.best_score],
                mode="markers",
                name=f"winner: {label}",
                marker={
                    "symbol": "star",
                    "size": 22,
                    "color": GOLD,
                    "line": {"width": 1, "color": INK},
                },
                text=[text],
                hovertemplate="%{text}<extra></extra>",
            )
        else:
            best_x.append(i)
            best_y.append(group.best_score)
            best_text.append(text)

    fig = go.Figure(
        [
            *strips,
            go.Scatter(
                x=best_x,
                y=best_y,
                mode="markers",
                name="best per value",
                marker={
                    "symbol": "diamond",
                    "size": 15,
                    "color": BLUE,
                    "line": {"width": 1, "color": INK},
                },
                text=best_text,
                hovertemplate="%{text}<extra></extra>",
            ),
        ]
    )
    if spread_x:
        fig.add_trace(
            go.Scatter(
                x=spread_x,
                y=spread_y,
                mode="markers",
                name="best trial's reruns: mean ± se",
                marker={"symbol": "circle", "size": 9, "color": RERUN},
                error_y={
                    "type": "data",
                    "array": spread_se,
                    "color": RERUN,
                    "thickness": 2,
                    "width": 6,
                },
                text=spread_text,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    if winner is not None:  # last: on top of everything
        fig.add_trace(winner)

    if result.verdict == "fair":
        verdict = f"<span style='color:{GREEN}'>fair comparison</span>"
    else:
        reasons = "; ".join(esc(r) for r in result.reasons) or "too few trials per value"
        verdict = f"<span style='color:{ORANGE}'><b>thin nuisance search</b>: {reasons}</span>"
    fig.update_layout(
        **layout(f"Isolation: {esc(result.name)}", verdict),
        annotations=annotations,
        xaxis={
            "title": {"text": esc(result.name)},
            "tickmode": "array",
            "tickvals": list(range(len(result.groups))),
            "ticktext": ticks,
            "range": [-0.6, len(result.groups) - 0.4],
            "showgrid": False,
            "ticklabeloverflow": "allow",
        },
        yaxis={"title": {"text": f"{esc(metric)} ({better_word(goal)})"}},
        margin={"b": 100},
        legend={"y": -0.26},
    )
    return fig


def _note(x: float, text: str, color: str, *, y: float = 0.0, yref: str = "y") -> dict[str, Any]:
    return {
        "x": x,
        "y": y,
        "xref": "x",
        "yref": yref,
        "text": text,
        "showarrow": False,
        "yshift": 16 if yref == "y" else 0,
        "font": {"size": 10, "color": color},
    }
