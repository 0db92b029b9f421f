"""The report's Project section: the rounds, the baseline's lineage and the rejected ideas.

The records come from the caller (:class:`ProjectRecords`): the report never opens a store.
Every string in them is the user's (goals, notes, decisions, parameter values) and is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

from scitune.evidence import Comparison, SampleSummary
from scitune.project import config_diff, decision_setting
from scitune.report._embed import h
from scitune.report._parts import Plot, PlotSection, draw
from scitune.report._sections import num, value_text
from scitune.space import Value
from scitune.storage import DecisionRecord, RoundRecord

__all__ = ["ProjectRecords", "comparison_of", "project_section"]


@dataclass(frozen=True)
class ProjectRecords:
    """The project around a study: its rounds and decisions, oldest first (as the store lists
    them). Read by the caller; passed to :func:`~scitune.report.write_report`.

    Raises:
        TypeError: an item is not a ``RoundRecord`` (``rounds``) or ``DecisionRecord``
            (``decisions``).

    Example:
        >>> from scitune.storage import open_storage
        >>> store = open_storage("sqlite:///.scitune/studies.db")  # doctest: +SKIP
        >>> project = ProjectRecords(
        ...     tuple(store.list_rounds()), tuple(store.list_decisions())
        ... )  # doctest: +SKIP
    """

    rounds: tuple[RoundRecord, ...] = ()
    decisions: tuple[DecisionRecord, ...] = ()

    def __post_init__(self) -> None:
        for name, kind, hint in (
            ("rounds", RoundRecord, "storage.list_rounds()"),
            ("decisions", DecisionRecord, "storage.list_decisions()"),
        ):
            items = tuple(getattr(self, name))
            for item in items:
                if not isinstance(item, kind):
                    raise TypeError(
                        f"ProjectRecords.{name} holds {kind.__name__} values, got "
                        f"{type(item).__name__}: {item!r}. Pass {hint}."
                    )
            object.__setattr__(self, name, items)


def project_section(project: ProjectRecords, *, study: str, now: datetime) -> PlotSection | None:
    """Rounds (timeline and list), the baseline's lineage and the rejected ideas, each with
    their comparisons drawn as intervals. ``None`` when the project has no record at all."""
    from scitune.plots import ComparisonRow, comparisons_figure, rounds_figure

    if not project.rounds and not project.decisions:
        return None
    section = PlotSection(
        "project",
        "Project",
        "The rounds of tuning this study belongs to, each with one goal (§3), and the "
        "decisions taken on evidence (§6): the baseline's lineage and the ideas that did not "
        "make it. Improvements are positive when the candidate beats the baseline of the day; "
        "the bars are confidence intervals that account for the retrain variance of both.",
    )
    current = {r.number for r in project.rounds if study in r.studies}
    if project.rounds:
        section.plots.append(Plot(None, wide=True, html=_rounds_html(project, study, current)))
        rounds, decisions = project.rounds, project.decisions
        section.plots.append(
            draw(
                "rounds timeline",
                lambda: rounds_figure(rounds, decisions, now=now, current=current),
                wide=True,
            )
        )
    entries = _entries(project.decisions)
    for kind, title, empty in (
        ("adopt", "Baseline lineage", "Nothing adopted yet: `scitune adopt STUDY#N`."),
        ("reject", "Rejected ideas", ""),
    ):
        chosen = [e for e in entries if e.decision.kind == kind]
        if not chosen and not empty:
            continue
        section.plots.append(Plot(None, wide=True, html=_decisions_html(title, chosen, empty)))
        rows = [
            ComparisonRow(e.label, e.comparison, forced=e.forced, note=e.diff_text)
            for e in chosen
            if e.comparison is not None
        ]
        if rows:
            figure_title = (
                "Each adoption against the baseline it replaced"
                if kind == "adopt"
                else "Each rejected idea against the baseline of its day"
            )
            build = partial(
                comparisons_figure,
                rows,
                title=figure_title,
                subtitle="point: the observed improvement · bar: its confidence interval · "
                "colour: the verdict",
            )
            section.plots.append(draw(f"{title.lower()} intervals", build, wide=True))
    return section


# -- decisions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    decision: DecisionRecord
    previous: DecisionRecord | None  # the baseline of the day (None: there was none)
    comparison: Comparison | None
    forced: bool
    label: str
    diff: tuple[tuple[str, Value | None, Value | None], ...]
    diff_text: str


def _entries(decisions: Sequence[DecisionRecord]) -> list[_Entry]:
    """Each decision with the baseline it was weighed against (the last adoption before it)."""
    out: list[_Entry] = []
    baseline: DecisionRecord | None = None
    for d in decisions:
        diff = (
            config_diff(decision_setting(baseline), decision_setting(d))
            if baseline is not None
            else ()
        )
        out.append(
            _Entry(
                decision=d,
                previous=baseline,
                comparison=comparison_of(d.evidence),
                forced=bool(d.evidence.get("forced")),
                label=f"#{d.id} {_config(d)}",
                diff=diff,
                diff_text=(
                    ", ".join(f"{n} {_value(a)} → {_value(b)}" for n, a, b in diff)
                    if baseline is not None
                    else "first baseline"
                ),
            )
        )
        if d.kind == "adopt":
            baseline = d
    return out


def comparison_of(evidence: Mapping[str, Any]) -> Comparison | None:
    """The :class:`~scitune.evidence.Comparison` stored in a decision's evidence (as JSON:
    non-finite numbers as strings), or ``None`` when there is none or it cannot be read."""
    raw = evidence.get("comparison")
    if not isinstance(raw, Mapping):
        return None
    try:
        seeds = raw.get("seeds_needed")
        return Comparison(
            baseline=_summary(raw["baseline"]),
            candidate=_summary(raw["candidate"]),
            metric=str(raw.get("metric", "")),
            goal=cast(Any, str(raw.get("goal", "minimize"))),
            improvement=_float(raw["improvement"]),
            relative_improvement=_optional(raw.get("relative_improvement")),
            ci_low=_float(raw["ci_low"]),
            ci_high=_float(raw["ci_high"]),
            confidence=_float(raw.get("confidence", 0.95)),
            method=str(raw.get("method", "")),
            p_better=_float(raw.get("p_better", math.nan)),
            cost=_float(raw.get("cost", 0.0)),
            verdict=cast(Any, str(raw["verdict"])),
            seeds_needed=seeds if isinstance(seeds, int) else None,
            reasons=tuple(str(r) for r in raw.get("reasons", ()) or ()),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _summary(raw: Any) -> SampleSummary:
    if not isinstance(raw, Mapping):
        raise TypeError("a comparison side is a mapping")
    return SampleSummary(
        label=str(raw.get("label", "")),
        n=int(raw["n"]),
        mean=_float(raw["mean"]),
        std=_optional(raw.get("std")),
        se=_optional(raw.get("se")),
        values=tuple(_float(v) for v in raw.get("values", ()) or ()),
    )


def _float(x: Any) -> float:
    """A number as JSON stores it: a number, or ``"inf"``/``"-inf"``/``"nan"`` as text."""
    if isinstance(x, bool) or not isinstance(x, int | float | str):
        raise TypeError(f"not a number: {x!r}")
    return float(x)


def _optional(x: Any) -> float | None:
    return None if x is None else _float(x)


def _config(d: DecisionRecord) -> str:
    if d.study is None:
        return "a configuration"
    return f"{d.study}#{d.trial_number}" if d.trial_number is not None else d.study


def _value(v: Value | None) -> str:
    return "–" if v is None else value_text(v)


# -- HTML -----------------------------------------------------------------------------------------
def _when(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def _rounds_html(project: ProjectRecords, study: str, current: set[int]) -> str:
    by_round: dict[int | None, list[DecisionRecord]] = {}
    for d in project.decisions:
        by_round.setdefault(d.round_number, []).append(d)
    items = []
    for r in sorted(project.rounds, key=lambda r: r.number, reverse=True):  # newest first
        here = r.number in current
        state = "closed" if r.state == "closed" else "open"
        tags = f"<span class='pill pill-{state}'>{state}</span>"
        if here:
            tags += "<span class='pill pill-here'>this study's round</span>"
        dates = f"opened {h(_when(r.created_at))}"
        dates += f" · closed {h(_when(r.closed_at))}" if r.closed_at else " · still open"
        studies = (
            "".join(
                f"<span class='chip{' chip-here' if s == study else ''}'>{h(s)}</span>"
                for s in r.studies
            )
            or "<span class='muted'>no study attached</span>"
        )
        lines = [
            f"<div class='round-head'><b>Round {r.number}</b>{tags}"
            f"<span class='muted dates'>{dates}</span></div>",
            f"<p class='round-goal'>{h(r.goal)}</p>",
            f"<div class='round-row'><span class='k'>studies</span>{studies}</div>",
        ]
        if r.decision:
            lines.append(
                f"<div class='round-row'><span class='k'>decision</span>{h(r.decision)}</div>"
            )
        taken = by_round.get(r.number, [])
        if taken:
            marks = "".join(
                f"<span class='chip chip-{'adopt' if d.kind == 'adopt' else 'reject'}'>"
                f"#{d.id} {'adopted' if d.kind == 'adopt' else 'rejected'} {h(_config(d))}"
                f"{' (forced)' if d.evidence.get('forced') else ''}</span>"
                for d in taken
            )
            lines.append(f"<div class='round-row'><span class='k'>recorded</span>{marks}</div>")
        if r.findings:
            lines.append(_closing_findings(r.findings))
        if r.notes:
            lines.append(f"<div class='notes'>{h(r.notes)}</div>")
        cls = "round current" if here else "round"
        items.append(f"<li class='{cls}'>{''.join(lines)}</li>")
    return (
        "<div class='panel'><h3>Rounds, newest first</h3>"
        f"<ol class='rounds'>{''.join(items)}</ol></div>"
    )


def _closing_findings(findings: Mapping[str, Any]) -> str:
    """Per study, the serious findings it was closed on (``round close`` keeps them)."""
    parts = []
    for name, data in findings.items():
        listed = data.get("findings", []) if isinstance(data, Mapping) else []
        counts: dict[str, int] = {}
        for f in listed:
            if isinstance(f, Mapping):
                sev = str(f.get("severity", "info"))
                counts[sev] = counts.get(sev, 0) + 1
        tally = ", ".join(
            f"{counts[s]} {s}" for s in ("critical", "warning", "info") if counts.get(s)
        )
        parts.append(f"<span class='chip'>{h(name)}: {h(tally or 'no finding')}</span>")
    return (
        f"<div class='round-row'><span class='k'>findings at closing</span>{''.join(parts)}</div>"
    )


def _decisions_html(title: str, entries: Sequence[_Entry], empty: str) -> str:
    if not entries:
        return f"<div class='panel'><h3>{h(title)}</h3><p class='muted'>{h(empty)}</p></div>"
    adopts = [e for e in entries if e.decision.kind == "adopt"]
    latest = adopts[-1].decision.id if adopts else None
    rows = []
    for e in entries:
        d = e.decision
        tag = ""
        if d.kind == "adopt" and d.id == latest:
            tag = " <span class='pill pill-here'>current baseline</span>"
        if e.forced:
            tag += " <span class='pill pill-forced'>forced</span>"
        score = f"{h(d.metric)} = {num(d.value)}" if d.metric and d.value is not None else "–"
        runs = d.evidence.get("runs")
        if isinstance(runs, int):
            score += f"<div class='muted'>{runs} run{'s' if runs != 1 else ''}</div>"
        where = f"round {d.round_number}" if d.round_number is not None else "–"
        rows.append(
            "<tr>"
            f"<td class='n'>#{d.id}</td>"
            f"<td class='when'>{h(_when(d.created_at))}<div class='muted'>{h(where)}</div></td>"
            f"<td>{h(_config(d))}{tag}</td>"
            f"<td class='n'>{score}</td>"
            f"<td>{_diff_html(e)}</td>"
            f"<td>{_evidence_html(e)}</td>"
            f"<td class='notes-cell'>{h(d.notes) if d.notes else ''}</td>"
            "</tr>"
        )
    changed = "what changed" if title.startswith("Baseline") else "versus the baseline of the day"
    head = "".join(
        f"<th>{h(c)}</th>"
        for c in ("#", "when", "configuration", "score", changed, "evidence", "notes")
    )
    return (
        f"<div class='panel'><h3>{h(title)}</h3><div class='tablewrap-x'>"
        f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div></div>"
    )


def _diff_html(e: _Entry) -> str:
    every = "".join(
        f"<tr><th>{h(k)}</th><td>{h(value_text(v))}</td></tr>" for k, v in e.decision.params.items()
    )
    full = (
        f"<details class='raw'><summary>all parameters</summary><table class='kv'>{every}"
        "</table></details>"
        if every
        else ""
    )
    if e.previous is None:
        lead = (
            "<span class='muted'>first baseline</span>"
            if e.decision.kind == "adopt"
            else "<span class='muted'>no baseline yet</span>"
        )
    elif not e.diff:
        lead = "<span class='muted'>same parameters</span>"
    else:
        lead = "".join(
            f"<span class='diff'><b>{h(n)}</b> {h(_value(a))} → {h(_value(b))}</span>"
            for n, a, b in e.diff
        )
    return f"<div class='diffs'>{lead}</div>{full}"


def _evidence_html(e: _Entry) -> str:
    c = e.comparison
    if c is None:
        why = "no comparison"
        if e.forced:
            why += " (forced)"
        elif e.previous is None:
            why += " (no baseline to compare with)"
        return f"<span class='muted'>{h(why)}</span>"
    verdict = c.verdict.replace(" ", "-")
    lines = [f"<span class='verdict v-{h(verdict)}'>{h(c.verdict)}</span>"]
    if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
        lines.append(
            f" {c.improvement:+.3g} <span class='muted'>[{c.ci_low:+.3g}, {c.ci_high:+.3g}] "
            f"at {100 * c.confidence:.3g}%</span>"
        )
    else:
        lines.append(f" {c.improvement:+.3g} <span class='muted'>no interval</span>")
    if math.isfinite(c.p_better):
        lines.append(f"<div class='muted'>P(better) {c.p_better:.0%}</div>")
    if c.cost > 0:
        lines.append(f"<div class='muted'>declared cost {num(c.cost)}</div>")
    if c.reasons:
        reasons = "".join(f"<li>{h(r)}</li>" for r in c.reasons)
        lines.append(f"<details class='raw'><summary>why</summary><ul>{reasons}</ul></details>")
    return "".join(lines)
