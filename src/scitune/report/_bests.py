"""The best trials' raw and smoothed bests side by side, spikes marked (``analysis.spikes``)."""

from __future__ import annotations

from collections.abc import Mapping

from scitune.analysis._results import ScoreSpikes
from scitune.report._embed import h
from scitune.report._sections import num

__all__ = ["bests_html"]


def bests_html(spikes: ScoreSpikes, labels: Mapping[int, str], *, metric: str) -> str:
    """A panel with one row per checked trial: rank, raw best at its step, smoothed best at its
    step, the rank it would have by smoothed bests, and whether its score is a spike.

    The caption is computed from ``spikes``: the window, how many rows are spikes, and what
    the study's ``select`` means for the judgement.
    """
    rows = []
    for c in spikes.checked:
        mark = "<b class='spike'>spike</b>" if c.spike else ""
        near = ", ".join(num(v) for _, v in c.neighbours)
        why = labels.get(c.trial, "")
        rows.append(
            f"<tr><td class='n'>{c.trial}</td><td>{h(why)}</td>"
            f"<td class='n'>{c.rank}</td>"
            f"<td class='n'>{num(c.raw_best)} <span class='muted'>@ {c.raw_step:,}</span></td>"
            f"<td class='n'>{h(near)}</td>"
            f"<td class='n'>{num(c.smoothed_best)} "
            f"<span class='muted'>@ {c.smoothed_step:,}</span></td>"
            f"<td class='n'>{c.smoothed_rank}</td><td>{mark}</td></tr>"
        )
    columns = [
        "trial",
        "checked as",
        "rank",
        f"raw best {metric} @ step",
        "neighbours",
        "smoothed best @ step",
        "smoothed rank",
        "",
    ]
    numeric = {0, 2, 3, 4, 5, 6}
    head = "".join(
        f"<th class='{'n' if i in numeric else ''}'>{h(c)}</th>" for i, c in enumerate(columns)
    )
    spiky = [c for c in spikes.checked if c.spike]
    if spikes.select != "best":
        verdict = (
            f'This study scores select = "{h(spikes.select)}": the score is not one raw '
            "evaluation, so no spike is judged."
        )
    elif spiky:
        listed = ", ".join(
            f"#{c.trial} ({num(c.raw_best)} raw, {num(c.smoothed_best)} smoothed)" for c in spiky
        )
        verdict = (
            f"{len(spiky)} of {len(spikes.checked)} score on a spike, one evaluation far from "
            f"its neighbours: {h(listed)}."
        )
    else:
        verdict = f"None of these {len(spikes.checked)} scores is a spike."
    others = [n for n in spikes.spiky if n not in {c.trial for c in spikes.checked}]
    if others:
        verdict += " Lower-ranked trials on a spike: " + ", ".join(f"#{n}" for n in others) + "."
    return (
        "<div class='panel'><h3>Raw and smoothed best</h3><div class='tablewrap-x'>"
        f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table></div><p class='muted'>Raw best: the best single evaluation (what "
        'select = "best" scores). Smoothed best: the best of a centered moving mean over '
        f'{spikes.smoothing} evaluations (what select = "smoothed" scores). Neighbours: the '
        f"evaluations around the raw best. {verdict}</p></div>"
    )
