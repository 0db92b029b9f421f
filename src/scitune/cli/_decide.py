"""Decisions on evidence: ``compare``, ``adopt``, ``reject`` and ``baseline show|history``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scitune.analysis import StudySnapshot
from scitune.analysis._results import to_jsonable
from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    fmt_value,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.errors import ScituneError
from scitune.evidence import Comparison, compare_samples, config_variance, pooled_sd
from scitune.project import (
    STEPS,
    ConfigRef,
    Project,
    config_diff,
    decision_setting,
    resolve_ref,
)
from scitune.space import Value
from scitune.storage import DecisionRecord, NewDecision

REF_HELP = "STUDY (its best configuration), STUDY#N (trial N's configuration) or 'baseline'."
COST_HELP = (
    "The change's complexity cost, in objective units: the smallest improvement worth adopting "
    "it for (default 0)."
)
StorageOpt = Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)]
VERDICT_STYLE = {"adopt": "bold green", "not enough evidence": "yellow", "worse": "bold red"}

baseline_app = typer.Typer(help="The adopted configuration and its lineage.", no_args_is_help=True)


def run_comparison(
    baseline: str, candidate: str, *, cost: float, confidence: float, storage: str | None
) -> tuple[ConfigRef, ConfigRef, Comparison]:
    """Both configurations with their runs, and the verdict (constraints before the metric)."""
    base = resolve_ref(baseline, storage_url=storage)
    cand = resolve_ref(candidate, storage_url=storage)
    b_obj, c_obj = base.study.spec.objective, cand.study.spec.objective
    if (b_obj.metric, b_obj.goal) != (c_obj.metric, c_obj.goal):
        raise ScituneError(
            f"{base.label} is scored by {b_obj.metric} ({b_obj.goal}) and {cand.label} by "
            f"{c_obj.metric} ({c_obj.goal}): only configurations with the same objective compare."
        )
    for ref in (base, cand):
        if not ref.scores:
            raise ScituneError(f"{ref.label} has no complete run with a score to compare.")
    families = config_variance(StudySnapshot.from_study(base.study))
    if cand.study.name != base.study.name:
        families += config_variance(StudySnapshot.from_study(cand.study))
    result = compare_samples(
        base.scores,
        cand.scores,
        metric=b_obj.metric,
        goal=b_obj.goal,
        baseline_label=base.label,
        candidate_label=cand.label,
        cost=cost,
        confidence=confidence,
        noise_sd=pooled_sd(families),
    )
    if cand.violations:  # satisficing first: a constraint breaker never wins
        result = _replace(
            result,
            verdict="worse",
            seeds_needed=None,
            reasons=(f"{cand.label} breaks a constraint ({'; '.join(cand.violations)}).",),
        )
    return base, cand, result


def _replace(result: Comparison, **changes: Any) -> Comparison:
    import dataclasses

    return dataclasses.replace(result, **changes)


def comparison_panel(result: Comparison) -> Panel:
    b, c = result.baseline, result.candidate
    body = Text()
    for side in (b, c):
        spread = "" if side.se is None else f" ± {side.se:.3g} (se)"
        sd = "" if side.std is None else f", sd {side.std:.3g}"
        body.append(f"{side.label}: {result.metric} {side.mean:.4g}{spread}, {side.n} run(s){sd}\n")
    pct = f"{result.confidence:.0%}"
    better = "unknown" if math.isnan(result.p_better) else f"{result.p_better:.0%}"
    body.append(
        f"improvement {result.improvement:+.4g} ({pct} interval {result.ci_low:+.4g} .. "
        f"{result.ci_high:+.4g}, {result.method}); P(candidate better) = {better}"
    )
    if result.cost:
        body.append(f"; declared cost {result.cost:.4g}")
    for reason in result.reasons:
        body.append(f"\n• {reason}")
    return Panel(
        body,
        title=Text(f"verdict: {result.verdict}", style=VERDICT_STYLE[result.verdict]),
        title_align="left",
        subtitle=Text("§6 Adopting a change", style="dim"),
        subtitle_align="right",
    )


@handle_errors
def compare(
    baseline: Annotated[str, typer.Argument(help=REF_HELP)],
    candidate: Annotated[str, typer.Argument(help=REF_HELP)],
    cost: Annotated[float, typer.Option(min=0.0, help=COST_HELP)] = 0.0,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval level.")] = 0.95,
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Is the candidate better than the baseline, beyond the variance between retrains?

    Each side is a configuration with its runs (`scitune reseed` adds runs). The verdict is
    adopt (the whole interval beats the declared cost), not enough evidence (with how many runs
    would likely settle it) or worse.
    """
    base, cand, result = run_comparison(
        baseline, candidate, cost=cost, confidence=confidence, storage=storage or storage_default()
    )
    if as_json:
        print_json(to_jsonable(result))
        return
    console.print(comparison_panel(result))
    changed = _diff(base.setting, cand.setting)
    if changed:
        console.print(Text(f"what differs: {changed}", style="dim"))


@handle_errors
def adopt(
    ref: Annotated[str, typer.Argument(help=REF_HELP)],
    notes: Annotated[str, typer.Option(help="Why, in a sentence (kept in the history).")] = "",
    cost: Annotated[float, typer.Option(min=0.0, help=COST_HELP)] = 0.0,
    force: Annotated[
        bool, typer.Option(help="Adopt even without evidence (recorded as forced).")
    ] = False,
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Make a configuration the baseline, with the evidence that it beats the current one."""
    url = storage or storage_default()
    cand = resolve_ref(ref, storage_url=url)
    if cand.violations:
        raise ScituneError(
            f"{cand.label} breaks a constraint ({'; '.join(cand.violations)}): a configuration "
            "that breaks a constraint is never adopted."
        )
    project = Project(cand.study.storage)
    current = project.baseline()
    evidence: dict[str, Any] = {"runs": len(cand.scores), "scores": list(cand.scores)}
    if current is not None:
        _, _, result = run_comparison(
            BASELINE_REF, ref, cost=cost, confidence=0.95, storage=url
        )
        evidence["comparison"] = to_jsonable(result)
        if result.verdict != "adopt" and not force:
            raise ScituneError(
                f"{cand.label} is not adopted: {result.verdict} against the baseline "
                f"({' '.join(result.reasons)}) Pass --force to adopt it anyway (recorded as "
                "forced), or gather more runs with `scitune reseed`."
            )
        evidence["forced"] = result.verdict != "adopt"
    record = _record(project, "adopt", cand, evidence, notes)
    if as_json:
        print_json(to_jsonable(record))
        return
    console.print(
        f"Adopted {escape(cand.label)} as baseline #{record.id} "
        f"({record.metric} {fmt_value(record.value)} over {len(cand.scores)} run(s))."
    )
    if current is not None:
        changed = _diff(decision_setting(current), cand.setting)
        console.print(f"Changed from the previous baseline: {changed}")


@handle_errors
def reject(
    ref: Annotated[str, typer.Argument(help=REF_HELP)],
    reason: Annotated[str, typer.Option(help="Why it was not adopted (kept in the record).")],
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Record an idea that did not work, with its evidence: rejected ideas stay in the record."""
    url = storage or storage_default()
    cand = resolve_ref(ref, storage_url=url)
    project = Project(cand.study.storage)
    evidence: dict[str, Any] = {"runs": len(cand.scores), "scores": list(cand.scores)}
    if project.baseline() is not None:
        _, _, result = run_comparison(BASELINE_REF, ref, cost=0.0, confidence=0.95, storage=url)
        evidence["comparison"] = to_jsonable(result)
    record = _record(project, "reject", cand, evidence, reason)
    if as_json:
        print_json(to_jsonable(record))
        return
    console.print(f"Recorded {escape(cand.label)} as rejected (#{record.id}): {escape(reason)}")


BASELINE_REF = "baseline"


def _record(
    project: Project, kind: str, cand: ConfigRef, evidence: dict[str, Any], notes: str
) -> DecisionRecord:
    """Append a decision about ``cand`` to the record, in the open round if there is one."""
    return project.storage.add_decision(
        NewDecision(
            kind=kind,
            params=dict(cand.params),
            evidence={**evidence, STEPS: cand.study.spec.budget.max_train_steps},
            study=cand.study.name,
            trial_number=cand.trial.number,
            metric=cand.study.spec.objective.metric,
            value=cand.mean,
            round_number=project.open_round(),
            notes=notes,
        )
    )


def _project(storage: str | None) -> Project:
    from scitune.storage import open_storage
    from scitune.study import DEFAULT_STORAGE

    # Only `baseline show|history` read it: they never create a store.
    return Project(open_storage(storage or storage_default() or DEFAULT_STORAGE, create=False))


@baseline_app.command("show")
@handle_errors
def baseline_show(
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """The adopted configuration, where it came from and on what evidence."""
    base = _project(storage).baseline()
    if as_json:
        print_json(None if base is None else to_jsonable(base))
        return
    if base is None:
        console.print("No baseline yet. Adopt one with `scitune adopt STUDY#N`.")
        return
    console.print(
        f"[bold]baseline #{base.id}[/]: {escape(str(base.study))}#{base.trial_number}, "
        f"{base.metric} {fmt_value(base.value)}, adopted {base.created_at:%Y-%m-%d %H:%M}"
        + (f" in round {base.round_number}" if base.round_number else "")
    )
    table = Table(show_header=False, box=None)
    for name, value in base.params.items():
        table.add_row(escape(name), escape(fmt_value(value)))
    console.print(table)
    if base.notes:
        console.print(f"notes: {escape(base.notes)}")


@baseline_app.command("history")
@handle_errors
def baseline_history(
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Every decision: what was adopted or rejected, when, what changed, on what evidence."""
    decisions = _project(storage).decisions()
    if as_json:
        print_json([to_jsonable(d) for d in decisions])
        return
    if not decisions:
        console.print("No decisions yet.")
        return
    table = Table(header_style="bold")
    for col in ("#", "when", "decision", "configuration", "score", "evidence", "what changed"):
        table.add_column(col)
    previous: DecisionRecord | None = None
    for d in decisions:
        table.add_row(
            str(d.id),
            f"{d.created_at:%Y-%m-%d %H:%M}" if d.created_at else "",
            "[green]adopt[/]" if d.kind == "adopt" else "[red]reject[/]",
            escape(f"{d.study}#{d.trial_number}"),
            fmt_value(d.value),
            escape(_evidence_text(d.evidence)),
            escape(
                _diff(decision_setting(previous), decision_setting(d))
                if previous
                else "first baseline"
            ),
        )
        if d.kind == "adopt":
            previous = d
    console.print(table)


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    comparison = evidence.get("comparison")
    forced = " (forced)" if evidence.get("forced") else ""
    if not isinstance(comparison, Mapping):
        return f"{evidence.get('runs', '?')} run(s), no comparison{forced}"
    lo, hi = comparison.get("ci_low"), comparison.get("ci_high")
    return (
        f"{comparison.get('verdict')}{forced}: {comparison.get('improvement'):+.3g} "
        f"[{lo:+.3g}, {hi:+.3g}]"
        if isinstance(lo, float) and isinstance(hi, float)
        else f"{comparison.get('verdict')}{forced}"
    )


def _diff(old: Mapping[str, Value], new: Mapping[str, Value]) -> str:
    """``name old -> new`` for every hyperparameter that differs."""
    def show(v: Value | None) -> str:
        return fmt_value(v) if v is not None else "-"

    return ", ".join(f"{n} {show(a)} → {show(b)}" for n, a, b in config_diff(old, new)) or "nothing"
