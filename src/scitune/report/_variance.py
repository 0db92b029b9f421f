"""The report's Trial variance section: configurations trained again, and the study redrawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from scitune.analysis._results import Analysis
from scitune.report._embed import h
from scitune.report._parts import Plot, PlotSection, draw
from scitune.report._sections import num, value_text
from scitune.space import Value

if TYPE_CHECKING:
    from scitune.evidence import ConfigVariance, StudyVariance

__all__ = ["MAX_ROWS", "variance_section"]

MAX_ROWS = 30
"""At most this many rerun configurations in the table (best mean first)."""

_DOT_W, _DOT_H = 180, 22  # the run strip drawn in each table row, in pixels


def variance_section(
    analysis: Analysis, params: Mapping[int, Mapping[str, Value]]
) -> PlotSection | None:
    """Reruns (a table and their runs as dots) and the study bootstrap's winner shares.

    ``None`` when nothing was rerun and there is no bootstrap to show.
    """
    from scitune.plots import trial_variance_figure, winner_share_figure

    rerun = [v for v in analysis.config_variance if v.n >= 2]
    study = analysis.study_variance
    if not rerun and study is None:
        return None
    section = PlotSection(
        "variance",
        "Trial variance",
        "The same configuration trained again with new seeds (scitune reseed) scores "
        "differently every time: two configurations whose means differ by less than a few "
        "standard errors are not told apart. The study redrawn from its own trials (a "
        "bootstrap) shows how much the winner owes to the draw (§6).",
    )
    winners = dict(study.winner_share) if study is not None else {}
    section.plots.append(
        Plot(None, wide=True, html=_table_html(rerun, params, winners, analysis.metric))
    )
    metric, goal = analysis.metric, analysis.direction
    if rerun:
        section.plots.append(
            draw(
                "trial variance",
                partial(trial_variance_figure, rerun, metric=metric, goal=goal, params=params),
            )
        )
    if study is not None and study.winner_share:
        section.plots.append(
            draw("winner shares", partial(winner_share_figure, study, params=params))
        )
        section.plots += _scientific(study)
    return section


def _scientific(study: StudyVariance) -> list[Plot]:
    from scitune.plots import scientific_share_figure

    return [
        draw(f"scientific shares {name}", partial(scientific_share_figure, study, name))
        for name, shares in study.scientific_share.items()
        if shares
    ]


def _table_html(
    rerun: Sequence[ConfigVariance],
    params: Mapping[int, Mapping[str, Value]],
    winners: Mapping[int, float],
    metric: str,
) -> str:
    if not rerun:
        return (
            "<div class='panel'><h3>Configurations with reruns</h3><p class='muted'>No "
            "configuration has been trained again yet, so the retrain noise is unknown: "
            "<code>scitune reseed STUDY --top 3 --seeds 5</code> reruns the best ones.</p></div>"
        )
    shown = rerun[:MAX_ROWS]
    values = [x for v in shown for x in v.values]
    low, high = min(values), max(values)
    rows = []
    for v in shown:
        varying = params.get(v.trial) or v.params
        chips = "".join(
            f"<span class='diff'><b>{h(k)}</b> {h(value_text(x))}</span>"
            for k, x in varying.items()
        )
        share = winners.get(v.trial, 0.0)  # left out of the shares: never won a redraw
        rows.append(
            "<tr>"
            f"<td class='n'>{v.trial}</td>"
            f"<td><div class='diffs'>{chips}</div></td>"
            f"<td class='n'>{v.n}</td>"
            f"<td class='n'>{num(v.mean)} ± {num(v.se, 2)}</td>"
            f"<td class='n'>{num(v.std, 2)}</td>"
            f"<td>{_strip(v, low, high)}</td>"
            + (f"<td class='n'>{share:.0%}</td>" if winners else "")
            + "</tr>"
        )
    more = (
        f"<p class='muted'>The {MAX_ROWS} best of {len(rerun)} rerun configurations.</p>"
        if len(rerun) > MAX_ROWS
        else ""
    )
    columns = ["trial", "parameters", "runs", f"mean {metric} ± se", "sd", "each run"]
    if winners:
        columns.append("wins redraws")
    numeric = ("trial", "runs", "sd", "wins redraws")
    head = "".join(f"<th class='{'n' if c in numeric else ''}'>{h(c)}</th>" for c in columns)
    return (
        "<div class='panel'><h3>Configurations with reruns</h3><div class='tablewrap-x'>"
        f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table></div>{more}<p class='muted'>Each run: one dot per run on a scale shared by "
        f"the rows (from {num(low)} to {num(high)}); the bar spans the mean ± se. Wins "
        "redraws: the share of the study's bootstrap redraws (that draw this configuration) "
        "it wins.</p></div>"
    )


def _strip(v: ConfigVariance, low: float, high: float) -> str:
    """The runs as dots on a shared scale: inline SVG, no script (allowed by the page policy)."""
    span = high - low or 1.0

    def x(value: float) -> float:
        return 6 + (_DOT_W - 12) * (value - low) / span

    mid = _DOT_H / 2
    marks = [
        f"<line x1='6' y1='{mid}' x2='{_DOT_W - 6}' y2='{mid}' stroke='#e4e7eb'/>",
    ]
    if v.se is not None:
        marks.append(
            f"<line x1='{x(v.mean - v.se):.1f}' y1='{mid}' x2='{x(v.mean + v.se):.1f}' "
            f"y2='{mid}' stroke='#1f2933' stroke-width='3'/>"
        )
    marks += [
        f"<circle cx='{x(value):.1f}' cy='{mid}' r='4' fill='#7b3f98' fill-opacity='0.6'/>"
        for value in v.values
    ]
    marks.append(
        f"<rect x='{x(v.mean) - 1:.1f}' y='{mid - 7}' width='2' height='14' fill='#1f2933'/>"
    )
    runs = zip(v.trial_numbers, v.values, strict=True)
    title = ", ".join(f"trial {n}: {num(s)}" for n, s in runs)
    return (
        f"<svg class='strip' width='{_DOT_W}' height='{_DOT_H}' role='img' "
        f"aria-label='{h(title)}'><title>{h(title)}</title>{''.join(marks)}</svg>"
    )
