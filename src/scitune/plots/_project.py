"""Project figures: comparisons as intervals (adopted baselines, rejected ideas) and the rounds
on a time axis (PLAYBOOK_SPEC §3, §6)."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from scitune.plots._style import (
    BLUE,
    GREEN,
    GREY,
    INK,
    MUTED,
    ORANGE,
    RED,
    esc,
    fmt,
    layout,
    rule,
    short,
)

if TYPE_CHECKING:
    from scitune.evidence import Comparison, SampleSummary
    from scitune.storage import DecisionRecord, RoundRecord

__all__ = ["ComparisonRow", "comparisons_figure", "rounds_figure"]

VERDICT_COLORS = {"adopt": GREEN, "not enough evidence": MUTED, "worse": RED}


@dataclass(frozen=True)
class ComparisonRow:
    """One comparison to draw as an interval, with what to call it.

    ``label`` and ``note`` are plain text (the figure escapes them): ``label`` names the row
    (``"#3 cnn#12"``), ``note`` is one more hover line (``"lr 0.01 → 0.02"``). ``forced`` marks a
    configuration adopted although the comparison did not say adopt.
    """

    label: str
    comparison: Comparison
    forced: bool = False
    note: str = ""


def comparisons_figure(
    rows: Sequence[ComparisonRow], *, title: str, subtitle: str | None = None
) -> go.Figure:
    """Each comparison's improvement (> 0: the candidate is better) with its interval.

    One row per comparison, top to bottom in the given order: the point is the observed
    improvement, the bar its confidence interval, the colour the verdict. A dashed tick marks a
    declared complexity cost (adopt needs the whole bar right of it); a forced adoption has an
    orange outline and says so. A comparison of single runs has no interval: an open circle.
    ``title`` and ``subtitle`` are plain text.

    Example:
        >>> from scitune.evidence import compare_samples
        >>> c = compare_samples([0.112, 0.118, 0.115], [0.101, 0.104, 0.099],
        ...                     metric="dev_error", goal="minimize")
        >>> fig = comparisons_figure([ComparisonRow("lr 0.02", c)], title="Adopted")
    """
    by_verdict: dict[str, list[int]] = {}
    unbounded: list[int] = []
    for i, row in enumerate(rows):
        c = row.comparison
        if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
            by_verdict.setdefault(c.verdict, []).append(i)
        else:
            unbounded.append(i)
    hover = [_hover(row) for row in rows]
    traces: list[go.Scatter] = []
    for verdict in ("adopt", "not enough evidence", "worse"):
        members = by_verdict.pop(verdict, [])
        if members:
            traces.append(_interval_trace(rows, members, hover, verdict))
    for verdict, members in by_verdict.items():  # a verdict this version does not know
        traces.append(_interval_trace(rows, members, hover, verdict))
    if unbounded:
        traces.append(
            go.Scatter(
                x=[_finite(rows[i].comparison.improvement) for i in unbounded],
                y=unbounded,
                mode="markers",
                name="no interval (a side has one run)",
                marker={
                    "symbol": "circle-open",
                    "size": 11,
                    "color": GREY,
                    "line": {"width": 2, "color": [_outline(rows[i]) for i in unbounded]},
                },
                text=[hover[i] for i in unbounded],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    cost_x: list[float | None] = []
    cost_y: list[float | None] = []
    for i, row in enumerate(rows):
        cost = row.comparison.cost
        if cost > 0 and math.isfinite(cost):
            cost_x += [cost, cost, None]
            cost_y += [i - 0.38, i + 0.38, None]
    if cost_x:
        traces.append(
            go.Scatter(
                x=cost_x,
                y=cost_y,
                mode="lines",
                name="declared cost (adopt needs the whole bar to its right)",
                line={"color": ORANGE, "width": 2, "dash": "dash"},
                hovertemplate="declared cost %{x:.4g}<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    zero, zero_note = rule("x", 0.0, color=INK, text="no change", dash="solid", left=False)
    zero["line"]["width"] = 1
    metrics = {row.comparison.metric for row in rows}
    unit = f"in {esc(next(iter(metrics)))}" if len(metrics) == 1 else "in metric units"
    fig.update_layout(
        **layout(esc(title), esc(subtitle) if subtitle else None),
        shapes=[zero],
        annotations=[zero_note],
        xaxis={"title": {"text": f"improvement {unit} (> 0: the candidate is better)"}},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(rows))),
            "ticktext": [_tick(row) for row in rows],
            "range": [len(rows) - 0.4, -0.6],  # first row on top
            "showgrid": False,
        },
        height=max(280, 150 + 46 * len(rows)),
        legend={"y": -0.2 if len(rows) > 3 else -0.3},
        hovermode="closest",
    )
    return fig


def _interval_trace(
    rows: Sequence[ComparisonRow], members: list[int], hover: list[str], verdict: str
) -> go.Scatter:
    color = VERDICT_COLORS.get(verdict, BLUE)
    comps = [rows[i].comparison for i in members]
    return go.Scatter(
        x=[c.improvement for c in comps],
        y=members,
        mode="markers",
        name=f"{esc(verdict)} (interval: {_confidences(comps)})",
        marker={
            "symbol": ["diamond" if rows[i].forced else "circle" for i in members],
            "size": [13 if rows[i].forced else 10 for i in members],
            "color": color,
            "line": {"width": 2, "color": [_outline(rows[i]) for i in members]},
        },
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [c.ci_high - c.improvement for c in comps],
            "arrayminus": [c.improvement - c.ci_low for c in comps],
            "color": color,
            "thickness": 2.5,
            "width": 7,
        },
        text=[hover[i] for i in members],
        hovertemplate="%{text}<extra></extra>",
    )


def _confidences(comps: Sequence[Comparison]) -> str:
    levels = sorted({c.confidence for c in comps})
    return ", ".join(f"{100 * x:.3g}%" for x in levels)


def _outline(row: ComparisonRow) -> str:
    return ORANGE if row.forced else "#ffffff"


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def _tick(row: ComparisonRow) -> str:
    tick = esc(short(row.label, 36))
    if row.forced:
        tick += f" <span style='color:{ORANGE}'><b>forced</b></span>"
    return tick


def _side(s: SampleSummary) -> str:
    se = f" ± {fmt(s.se, 2)} (se)" if s.se is not None else " (one run)"
    return f"'{esc(s.label)}': mean {fmt(s.mean)}{se} over {s.n} run{'s' if s.n != 1 else ''}"


def _hover(row: ComparisonRow) -> str:
    c = row.comparison
    verdict = esc(c.verdict) + (" · <b>adopted anyway (forced)</b>" if row.forced else "")
    lines = [f"<b>{esc(row.label)}</b>", f"verdict: {verdict}"]
    if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
        lines.append(
            f"improvement {c.improvement:+.4g} [{c.ci_low:+.4g}, {c.ci_high:+.4g}] "
            f"({100 * c.confidence:.3g}% interval, {esc(c.method)})"
        )
    else:
        lines.append(f"improvement {_finite(c.improvement):+.4g}, no interval")
    if math.isfinite(c.p_better):
        lines.append(f"probability the candidate is better: {c.p_better:.0%}")
    lines += [f"candidate {_side(c.candidate)}", f"baseline {_side(c.baseline)}"]
    if c.cost > 0:
        lines.append(f"declared cost {fmt(c.cost)} {esc(c.metric)}")
    if row.note:
        lines.append(esc(short(row.note, 120)))
    return "<br>".join(lines)


def rounds_figure(
    rounds: Sequence[RoundRecord],
    decisions: Sequence[DecisionRecord] = (),
    *,
    now: datetime,
    current: Collection[int] = (),
) -> go.Figure:
    """Each round as a bar from opened to closed (an open one runs to ``now``), with the
    decisions recorded in it as marks: ◆ adopted (orange outline: forced), ✕ rejected.

    Rounds in ``current`` (round numbers, e.g. the ones the report's study belongs to) are
    drawn in blue, the others grey. Decisions outside any round get a row of their own.

    Example:
        >>> fig = rounds_figure(store.list_rounds(), store.list_decisions(),
        ...                     now=datetime.now())  # doctest: +SKIP
    """
    ordered = sorted(rounds, key=lambda r: r.number)
    row_of = {r.number: i for i, r in enumerate(ordered)}
    ticks = [f"round {r.number}" for r in ordered]
    loose = [d for d in decisions if d.round_number not in row_of]
    if loose:
        ticks.append("no round")
    traces: list[go.Scatter] = []
    for kind, color in (("current", BLUE), ("other", GREY)):
        bar_x: list[str | None] = []
        bar_y: list[int | None] = []
        texts: list[str] = []
        for i, r in enumerate(ordered):
            if (r.number in current) != (kind == "current"):
                continue
            end = r.closed_at or now
            state = "closed" if r.closed_at else "open"
            text = (
                f"<b>round {r.number}</b> ({state})<br>{esc(short(r.goal, 80))}"
                f"<br>opened {_when(r.created_at)}"
                + (f" · closed {_when(r.closed_at)}" if r.closed_at else " · still open")
                + (f"<br>decision: {esc(short(r.decision, 80))}" if r.decision else "")
            )
            bar_x += [_iso(r.created_at), _iso(end), None]
            bar_y += [i, i, None]
            texts += [text, text, ""]
        if bar_x:
            traces.append(
                go.Scatter(
                    x=bar_x,
                    y=bar_y,
                    mode="lines+markers",
                    name="this study's round" if kind == "current" else "round",
                    line={"color": color, "width": 12},
                    marker={"size": 12, "color": color, "symbol": "line-ns"},
                    text=texts,
                    hovertemplate="%{text}<extra></extra>",
                    connectgaps=False,
                )
            )
    for kind, symbol, name in (
        ("adopt", "diamond", "adopted (new baseline)"),
        ("reject", "x", "rejected idea"),
    ):
        chosen = [d for d in decisions if d.kind == kind and d.created_at is not None]
        if not chosen:
            continue
        traces.append(
            go.Scatter(
                x=[_iso(d.created_at) for d in chosen],
                y=[row_of.get(d.round_number or -1, len(ordered)) for d in chosen],
                mode="markers",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": 13,
                    "color": GREEN if kind == "adopt" else RED,
                    "line": {
                        "width": 2,
                        "color": [
                            ORANGE if d.evidence.get("forced") else "#ffffff" for d in chosen
                        ],
                    },
                },
                text=[_decision_text(d) for d in chosen],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        **layout(
            "Rounds",
            "each round from opened to closed (an open one runs to now) · marks: decisions",
        ),
        xaxis={"type": "date", "title": {"text": "date"}},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(ticks))),
            "ticktext": ticks,
            "range": [len(ticks) - 0.4, -0.6],
            "showgrid": False,
        },
        height=max(260, 170 + 40 * len(ticks)),
        hovermode="closest",
    )
    return fig


def _decision_text(d: DecisionRecord) -> str:
    what = "adopted" if d.kind == "adopt" else "rejected"
    forced = " (forced)" if d.evidence.get("forced") else ""
    config = f"{d.study}#{d.trial_number}" if d.study else "a configuration"
    score = f"<br>{esc(d.metric)} = {fmt(d.value)}" if d.metric and d.value is not None else ""
    notes = f"<br>{esc(short(d.notes, 80))}" if d.notes else ""
    return f"<b>#{d.id} {what}{forced}</b>: {esc(config)}{score}<br>{_when(d.created_at)}{notes}"


def _iso(moment: datetime | None) -> str | None:
    """A date plotly reads: local wall-clock time, no offset (plotly.js ignores zones)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")
