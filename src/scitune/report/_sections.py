"""The report's text sections as HTML: summary, findings, settings. Every user string escaped."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scitune.analysis._results import SEVERITY_ORDER, Analysis, Finding, to_jsonable
from scitune.analysis._snapshot import StudySnapshot
from scitune.evidence import ConfigVariance, pooled_sd, separation
from scitune.ranking import Configuration
from scitune.report._embed import h
from scitune.space import ChoiceDomain, Domain, FloatDomain, IntDomain, Value

__all__ = ["findings_html", "settings_html", "summary_html"]

_STATES = ("COMPLETE", "INFEASIBLE", "FAILED", "RUNNING", "PENDING")


def num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def value_text(v: Value) -> str:
    return num(v) if isinstance(v, float) else str(v)


def summary_html(
    analysis: Analysis, snapshot: StudySnapshot, variance: Iterable[ConfigVariance] = ()
) -> str:
    """Goal, objective, trial counts, the best configuration (with its reruns' mean), budget."""
    spec = snapshot.spec
    objective = spec.objective
    counts = dict(analysis.counts)
    total = sum(counts.values())
    ranked = snapshot.ranked()
    cards = [
        _card(
            "objective",
            f"{h(analysis.metric)}",
            f"{h(analysis.direction)} · {h(objective.select)} value over training"
            + (
                f" (moving mean of {objective.smoothing} evaluations)"
                if objective.smoothing
                else ""
            ),
        ),
        _card(
            "trials",
            f"{total:,}",
            " · ".join(
                f"<span class='st st-{s.lower()}'>{counts[s]:,} {s.lower()}</span>"
                for s in _STATES
                if counts.get(s)
            )
            + (f" · {len(ranked):,} ranked" if len(ranked) != counts.get("COMPLETE", 0) else ""),
        ),
    ]
    best_block = ""
    configs = [c for c in snapshot.configurations() if c.rank is not None]
    if configs:
        best = configs[0]
        runs = "1 run (no retrain spread measured)" if best.single_run else f"{best.n} runs"
        detail = f"trial {best.trial} · mean over {runs}"
        if best.std is not None:
            detail += f" · sd {num(best.std, 2)}"
        detail += _spike_note(analysis, best.trial)
        value = num(best.mean) + ("" if best.se is None else f" ± {num(best.se, 2)}")
        cards.append(_card("best configuration", value, detail))
        rows = "".join(
            f"<tr><th>{h(k)}</th><td>{h(value_text(v))}</td></tr>" for k, v in best.params.items()
        )
        best_block = (
            f"<div class='panel'><h3>Best configuration: trial {best.trial}</h3>"
            f"<p class='muted'>{h(certainty_text(configs, variance, analysis))}</p>"
            f"<table class='kv'>{rows}</table></div>"
        )
    budget = spec.budget
    cards.append(
        _card(
            "budget",
            f"{budget.max_train_steps:,} steps",
            f"{budget.trials:,} trials"
            + (" per scientific value" if spec.search.design == "per_value" else "")
            + f" · {h(spec.search.sampler)} sampler, {h(spec.search.design)} design",
        )
    )
    goal = (
        f"<p class='goal'>{h(analysis.goal)}</p>"
        if analysis.goal
        else "<p class='goal muted'>No goal stated in the study file.</p>"
    )
    return (
        f"<section id='summary'><h2>Summary</h2>{goal}"
        f"<div class='cards'>{''.join(cards)}</div>"
        f"<div class='two'>{_roles_html(snapshot)}{best_block}</div></section>"
    )


def _spike_note(analysis: Analysis, trial: int) -> str:
    """`` · score on a spike ...`` when ``trial``'s score is one lucky evaluation (score.spike)."""
    checked = analysis.spikes.checked if analysis.spikes is not None else ()
    check = next((c for c in checked if c.trial == trial and c.spike), None)
    if check is None:
        return ""
    return (
        f" · <b>trial {trial} scores on a spike</b>: {num(check.raw_best)} at step "
        f"{check.raw_step:,}, smoothed best {num(check.smoothed_best)} at step "
        f"{check.smoothed_step:,}"
    )


def certainty_text(
    configs: Sequence[Configuration], variance: Iterable[ConfigVariance], analysis: Analysis
) -> str:
    """How sure the winner is: separable from the runner-up by the retrain spread, or not."""
    if len(configs) < 2:
        return "The only ranked configuration: nothing to separate it from."
    first, second = configs[0], configs[1]
    sd = pooled_sd(list(variance))
    if sd is None:
        return (
            f"Not known whether it beats the runner-up, trial {second.trial} "
            f"({num(second.mean)}): no configuration has been rerun, so the retrain spread is "
            "unmeasured (reseed the best few)."
        )
    gap, combined = separation(first, second, sd)
    limit = next(
        (f.evidence.get("variance_separable_se") for f in analysis.findings
         if f.code == "variance.best_not_separable"),
        None,
    )  # fmt: skip
    if limit is not None:
        return (
            f"Not separable from the runner-up, trial {second.trial} ({num(second.mean)}): "
            f"the gap {num(gap, 2)} is under {num(float(limit), 2)} combined standard errors "
            f"({num(combined, 2)} each)."
        )
    spread = f"{gap / combined:.1f} combined standard errors" if combined > 0 else "no spread"
    return (
        f"Ahead of the runner-up, trial {second.trial} ({num(second.mean)}), by {num(gap, 2)}: "
        f"{spread} of the retrain spread."
    )


def _card(label: str, value: str, detail: str) -> str:
    return (
        f"<div class='card'><div class='label'>{h(label)}</div>"
        f"<div class='value'>{value}</div><div class='detail'>{detail}</div></div>"
    )


def _domain_text(domain: Domain) -> str:
    if isinstance(domain, ChoiceDomain):
        return "{" + ", ".join(value_text(v) for v in domain.values) + "}"
    if isinstance(domain, FloatDomain | IntDomain):
        scale = "" if domain.scale == "linear" else f", {domain.scale.replace('_', '-')}"
        kind = ", int" if isinstance(domain, IntDomain) else ""
        return f"[{num(domain.low)}, {num(domain.high)}]{kind}{scale}"
    return str(domain)


def _roles_html(snapshot: StudySnapshot) -> str:
    spec = snapshot.spec
    rows: list[str] = []

    def row(role: str, name: str, what: str, when: str = "") -> None:
        cond = f" <span class='muted'>when {h(when)}</span>" if when else ""
        rows.append(
            f"<tr><td><span class='role role-{role}'>{role}</span></td>"
            f"<th>{h(name)}{cond}</th><td>{h(what)}</td></tr>"
        )

    for role, params, when in (
        ("scientific", spec.scientific, spec.scientific_when),
        ("nuisance", spec.nuisance, spec.nuisance_when),
    ):
        for name, domain in params.items():
            row(role, name, _domain_text(domain))
        for parent, by_value in when.items():
            for value, sub in by_value.items():
                for name, domain in sub.items():
                    row(role, name, _domain_text(domain), f"{parent} = {value_text(value)}")
    for name, fixed in spec.fixed.items():
        row("fixed", name, value_text(fixed))
    for parent, fixed_by_value in spec.fixed_when.items():
        for pvalue, fixed_sub in fixed_by_value.items():
            for name, fixed in fixed_sub.items():
                row("fixed", name, value_text(fixed), f"{parent} = {value_text(pvalue)}")
    constraints = "".join(
        f"<li>{h(c.metric)}"
        + (f" ≥ {num(c.min)}" if c.min is not None else "")
        + (f" ≤ {num(c.max)}" if c.max is not None else "")
        + "</li>"
        for c in spec.constraints
    )
    caveat = ""
    if spec.fixed or spec.fixed_when:
        caveat = (
            "<p class='caveat'><b>Fixed hyperparameters are caveats:</b> every conclusion of "
            "this study holds for these values only.</p>"
        )
    return (
        "<div class='panel'><h3>Hyperparameters</h3>"
        f"<table class='roles'>{''.join(rows)}</table>{caveat}"
        + (
            f"<p class='muted'>Constraints (filter before ranking):</p><ul>{constraints}</ul>"
            if constraints
            else ""
        )
        + "</div>"
    )


def findings_html(findings: tuple[Finding, ...]) -> str:
    """Warnings and critical findings as full cards; info ones one line each, expandable."""
    ordered = sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 9))
    serious = [f for f in ordered if f.severity in ("critical", "warning")]
    info = [f for f in ordered if f not in serious]
    if not serious:
        body = (
            "<p class='ok'>No warning: nothing in this study contradicts the playbook's "
            "checklist. Read the plots below before adopting the winner.</p>"
        )
    else:
        body = "".join(_finding_html(f) for f in serious)
    if info:
        body += (
            "<div class='infos'><h3>Also checked</h3>"
            + "".join(_info_html(f) for f in info)
            + "</div>"
        )
    return f"<section id='findings'><h2>Findings {_tally(ordered)}</h2>{body}</section>"


def _tally(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return " ".join(
        f"<span class='sev sev-{s}'>{counts[s]} {s}</span>"
        for s in ("critical", "warning", "info")
        if counts.get(s)
    )


# Context every finding of a check repeats (thresholds are listed under Analysis settings).
_QUIET_KEYS = {"defaults", "ours", "coordinates", "metric", "train_metric"}


def _chips(f: Finding) -> str:
    """The evidence's scalars as chips; lists, tables and the thresholds used (listed under
    Analysis settings) stay in the full evidence below."""
    from scitune.analysis._config import AnalysisConfig

    quiet = _QUIET_KEYS | set(AnalysisConfig.describe())
    chips = []
    for key, value in f.evidence.items():
        if key in quiet or value is None or isinstance(value, Mapping):
            continue
        if isinstance(value, list | tuple) and not all(
            isinstance(v, int | float | str) for v in value
        ):
            continue
        chips.append(f"<span class='ev'><b>{h(key)}</b> {h(_compact(value))}</span>")
    return "".join(chips)


def _evidence_html(f: Finding) -> str:
    chips = _chips(f)
    full = ""
    if f.evidence:
        text = json.dumps(to_jsonable(f.evidence), ensure_ascii=False, indent=1)
        full = f"<details class='raw'><summary>all evidence</summary><pre>{h(text)}</pre></details>"
    return f"<div class='evidence'>{chips}{full}</div>" if chips or full else ""


def _finding_html(f: Finding) -> str:
    severity = f.severity if f.severity in SEVERITY_ORDER else "info"
    subject = f" <span class='subject'>{h(f.subject)}</span>" if f.subject else ""
    return (
        f"<article class='finding f-{severity}'>"
        f"<header><span class='sev sev-{severity}'>{h(f.severity)}</span>"
        f"<code>{h(f.code)}</code>{subject}<span class='cite'>{h(f.section)}</span></header>"
        f"<p class='msg'>{h(f.message)}</p>"
        f"<p class='action'><span>What to do</span>{h(f.action)}</p>"
        f"{_evidence_html(f)}</article>"
    )


def _info_html(f: Finding) -> str:
    return (
        "<details class='info'><summary>"
        f"<code>{h(f.code)}</code> <span>{h(f.message)}</span></summary>"
        f"<p class='action'><span>What to do</span>{h(f.action)}</p>"
        f"<p class='cite'>{h(f.section)}</p>{_evidence_html(f)}</details>"
    )


def _compact(value: Any, limit: int = 120) -> str:
    value = to_jsonable(value)
    if isinstance(value, float):
        text = num(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, float | int) for v in value):
        shown = ", ".join(num(v) if isinstance(v, float) else str(v) for v in value[:8])
        text = f"[{shown}{', …' if len(value) > 8 else ''}]"
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def settings_html(settings: Mapping[str, Any]) -> str:
    if not settings:
        return ""
    from scitune.analysis._config import AnalysisConfig

    described = AnalysisConfig.describe()
    rows = []
    for name, value in settings.items():
        default, doc = described.get(name, (None, ""))
        changed = name in described and value != default
        mark = " <span class='changed'>changed</span>" if changed else ""
        rows.append(
            f"<tr><th>{h(name)}{mark}</th><td>{h(_compact(value))}</td>"
            f"<td class='muted'>{h(doc)}</td></tr>"
        )
    return (
        "<section id='settings'><details><summary><h2>Analysis settings</h2></summary>"
        "<p class='muted'>Every threshold the playbook leaves open is a named default "
        '("Ours") and can be changed with <code>scitune analyze --set NAME=VALUE</code>.</p>'
        f"<table class='settings'>{''.join(rows)}</table></details></section>"
    )
