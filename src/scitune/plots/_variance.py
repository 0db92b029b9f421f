"""Variance figures: one configuration trained again (trial variance), and the study drawn again
(which configuration, and which scientific value, would win a redraw), PLAYBOOK_SPEC §6."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from scitune.plots._style import (
    BLUE,
    GOLD,
    INK,
    MUTED,
    RERUN,
    better_word,
    esc,
    fmt,
    layout,
    params_text,
    short,
)
from scitune.space import Value

if TYPE_CHECKING:
    from scitune.evidence import ConfigVariance, StudyVariance

__all__ = ["scientific_share_figure", "trial_variance_figure", "winner_share_figure"]


def trial_variance_figure(
    variances: Sequence[ConfigVariance],
    *,
    metric: str,
    goal: str,
    params: Mapping[int, Mapping[str, Value]] | None = None,
    limit: int = 20,
) -> go.Figure:
    """Every run of each rerun configuration as a dot, and its mean ± standard error.

    Only configurations with two runs or more are drawn (``scitune reseed`` adds runs), best
    mean first, at most ``limit``. ``params`` (trial number -> the parameters that vary,
    :func:`~scitune.plots.trial_params`) go into the hover labels.

    Example:
        >>> fig = trial_variance_figure(analysis.config_variance, metric="dev_error",
        ...                             goal="minimize")  # doctest: +SKIP
    """
    rows = [v for v in variances if v.n >= 2][:limit]
    rng = np.random.default_rng(0)
    dot_x: list[float] = []
    dot_y: list[float] = []
    dot_text: list[str] = []
    mean_text: list[str] = []
    ticks: list[str] = []
    for i, v in enumerate(rows):
        ticks.append(
            f"trial {v.trial}<br><span style='font-size:10px;color:{MUTED}'>{v.n} runs</span>"
        )
        jitter = rng.uniform(-0.14, 0.14, v.n) if v.n > 1 else np.zeros(1)
        for number, value, dx in zip(v.trial_numbers, v.values, jitter, strict=True):
            dot_x.append(i - 0.12 + float(dx) * 0.6)
            dot_y.append(value)
            run = "the original" if number == v.trial else f"a rerun of trial {v.trial}"
            dot_text.append(f"<b>trial {number}</b> ({run})<br>{esc(metric)} = {fmt(value)}")
        lines = [
            f"<b>trial {v.trial}</b> over {v.n} runs",
            f"mean {esc(metric)} = {fmt(v.mean)} ± {fmt(v.se, 2)} (se)",
            f"sd between runs = {fmt(v.std, 2)}",
        ]
        shown = (params or {}).get(v.trial)
        if shown:
            lines.append(params_text(shown))
        mean_text.append("<br>".join(lines))
    fig = go.Figure(
        [
            go.Scatter(
                x=dot_x,
                y=dot_y,
                mode="markers",
                name="one run (the original trial or a reseed)",
                marker={"color": RERUN, "size": 7, "opacity": 0.55},
                text=dot_text,
                hovertemplate="%{text}<extra></extra>",
            ),
            go.Scatter(
                x=[i + 0.18 for i in range(len(rows))],
                y=[v.mean for v in rows],
                mode="markers",
                name="mean ± standard error",
                marker={"symbol": "diamond", "size": 12, "color": INK},
                error_y={
                    "type": "data",
                    "array": [v.se or 0.0 for v in rows],
                    "color": INK,
                    "thickness": 2,
                    "width": 6,
                },
                text=mean_text,
                hovertemplate="%{text}<extra></extra>",
            ),
        ]
    )
    rerun = sum(v.n >= 2 for v in variances)
    shown_note = f" · the {limit} best of {rerun}" if rerun > limit else ""
    fig.update_layout(
        **layout(
            "Trial variance: the same configuration trained again",
            f"dot: one run, its own seed · bar: mean ± standard error{shown_note}",
        ),
        xaxis={
            "tickmode": "array",
            "tickvals": list(range(len(rows))),
            "ticktext": ticks,
            "range": [-0.6, max(len(rows), 1) - 0.4],
            "showgrid": False,
            "title": {"text": "configuration (original trial)"},
        },
        yaxis={"title": {"text": f"{esc(metric)} ({better_word(goal)})"}},
        legend={"y": -0.26},
        margin={"b": 100},
    )
    return fig


def winner_share_figure(
    study: StudyVariance,
    *,
    params: Mapping[int, Mapping[str, Value]] | None = None,
    limit: int = 10,
) -> go.Figure:
    """How often each configuration wins when the study is drawn again (bootstrap), best first.

    A configuration can only win the redraws that draw it, so each bar is its share of those;
    the bars need not sum to 1. The observed winner is gold.

    Example:
        >>> fig = winner_share_figure(analysis.study_variance)  # doctest: +SKIP
    """
    items = list(study.winner_share.items())[:limit]
    labels = [f"trial {n}" for n, _ in items]
    texts = []
    for n, share in items:
        line = f"<b>trial {n}</b>: wins {share:.0%} of the redraws that draw it"
        shown = (params or {}).get(n)
        texts.append(line + ("<br>" + params_text(shown) if shown else ""))
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=[s for _, s in items],
            marker={"color": [GOLD if n == study.winner else BLUE for n, _ in items]},
            text=[f"{s:.0%}" for _, s in items],
            textposition="outside",
            cliponaxis=False,
            hovertext=texts,
            hovertemplate="%{hovertext}<extra></extra>",
            name="share of redraws won",
        )
    )
    if study.noise_sd is None:
        noise = (
            "scores as observed (nothing reseeded yet): the observed winner wins every redraw "
            "that draws it"
        )
    else:
        noise = f"each drawn score moved by the retrain sd {fmt(study.noise_sd, 3)}"
    fig.update_layout(
        **layout(
            "Study variance: who wins when the study is drawn again?",
            f"{study.samples:,} redraws of the {study.n_trials:,} design trials; {noise}",
        ),
        xaxis={"type": "category", "title": {"text": "configuration (gold: the observed winner)"}},
        yaxis={
            "title": {"text": "wins (share of its redraws)"},
            "range": [0, 1.12],
            "tickformat": ".0%",
        },
        showlegend=False,
    )
    return fig


def scientific_share_figure(study: StudyVariance, name: str) -> go.Figure:
    """How often each value of a scientific hyperparameter holds the winner of a redraw.

    ``name`` is a key of ``study.scientific_share``. The observed winner's value is gold.

    Example:
        >>> fig = scientific_share_figure(analysis.study_variance, "dropout")  # doctest: +SKIP
    """
    shares = dict(study.scientific_share[name])
    own = study.winner_labels.get(name)
    labels = list(shares)
    fig = go.Figure(
        go.Bar(
            x=list(range(len(labels))),
            y=list(shares.values()),
            marker={"color": [GOLD if label == own else BLUE for label in labels]},
            text=[f"{s:.0%}" for s in shares.values()],
            textposition="outside",
            cliponaxis=False,
            hovertext=[
                f"<b>{esc(name)} = {esc(label)}</b>: holds the winner of {s:.0%} of the redraws"
                for label, s in shares.items()
            ],
            hovertemplate="%{hovertext}<extra></extra>",
            name="share of redraws",
        )
    )
    total = sum(shares.values())
    missing = f" · {1 - total:.0%} of winners lack {esc(name)}" if total < 0.995 else ""
    fig.update_layout(
        **layout(
            f"Would a redrawn study pick the same {esc(name)}?",
            f"share of {study.samples:,} redraws whose winner has each value "
            f"(gold: the observed winner's){missing}",
        ),
        xaxis={
            "tickmode": "array",
            "tickvals": list(range(len(labels))),
            "ticktext": [esc(short(label, 24)) for label in labels],
            "title": {"text": esc(name)},
            "range": [-0.6, max(len(labels), 1) - 0.4],
        },
        yaxis={"title": {"text": "share of redraws"}, "range": [0, 1.12], "tickformat": ".0%"},
        showlegend=False,
    )
    return fig
