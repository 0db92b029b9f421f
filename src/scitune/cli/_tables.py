"""Trial rows as rich tables, CSV and JSON objects (one shape for every output)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from scitune.cli._common import fmt_value
from scitune.ranking import Configuration
from scitune.storage import AttemptRecord, FrozenTrial, TrialState
from scitune.study import RankedTrial, Study

STATE_STYLE = {
    TrialState.COMPLETE: "green",
    TrialState.RUNNING: "cyan",
    TrialState.PENDING: "dim",
    TrialState.FAILED: "red",
    TrialState.INFEASIBLE: "yellow",
}


def varied_params(study: Study, trials: list[FrozenTrial]) -> list[str]:
    """Hyperparameters that are searched (scientific, then nuisance), in spec order."""
    names = list(study.spec.scientific_space().names) + list(study.spec.nuisance_space().names)
    seen = {k for t in trials for k in t.params}
    return [n for n in dict.fromkeys(names) if n in seen]


def config_json(config: Configuration | None) -> dict[str, Any] | None:
    """A configuration as JSON: its design trial, runs, mean, spread and rank."""
    if config is None:
        return None
    return {
        "trial": config.trial,
        "params": dict(config.params),
        "rank": config.rank,
        "runs": config.n,
        "run_trials": list(config.trial_numbers),
        "scores": list(config.values),
        "mean": config.mean,
        "std": config.std,
        "se": config.se,
        "single_run": config.single_run,
        "constraint_violations": list(config.violations),
    }


def attempt_json(a: AttemptRecord) -> dict[str, Any]:
    """One run of a trial: who, when, how it ended and why, and what it ran with."""
    return {
        "attempt": a.attempt,
        "worker": a.worker,
        "started_at": a.started_at.isoformat(),
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "outcome": a.outcome.value if a.outcome else None,
        "reason": a.reason,
        "info": dict(a.info),
    }


def trial_json(
    study: Study, ranked: RankedTrial, attempts: Sequence[AttemptRecord] | None = None
) -> dict[str, Any]:
    """A trial as JSON; ``rank`` is its configuration's (on the design trial only), and
    ``config`` the configuration it is a run of (mean over every run); ``history`` its
    attempts when given."""
    t = ranked.trial
    value = t.value
    config = ranked.config
    return {
        "number": t.number,
        "state": t.state.value,
        "params": dict(t.params),
        "seed": t.seed,
        "score": value if value is None or math.isfinite(value) else str(value),
        "score_step": t.value_step,
        "metric": study.spec.objective.metric,
        "rank": ranked.rank,
        "constraint_violations": list(ranked.violations),
        "reason": t.reason,
        "warnings": list(t.warnings),
        "attempts": t.attempts,
        "duration_s": t.duration_s,
        "worker": t.worker,
        "dir": t.dir,
        "stderr_tail": t.stderr_tail,
        "rerun_of": t.parent_number,
        "config": config_json(config),
        **({"history": [attempt_json(a) for a in attempts]} if attempts is not None else {}),
    }


def trials_table(study: Study, ranked: list[RankedTrial], *, title: str | None = None) -> Table:
    trials = [r.trial for r in ranked]
    params = varied_params(study, trials)
    metric = study.spec.objective.metric
    table = Table(title=title, header_style="bold", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("state")
    table.add_column(metric, justify="right")
    table.add_column("step", justify="right")
    table.add_column("rank", justify="right")
    for name in params:
        table.add_column(name, justify="right")
    reruns = any(r.config is not None and r.config.n > 1 for r in ranked)
    if reruns:
        table.add_column(f"{metric} over runs", justify="right")
    notes = [
        "; ".join(r.violations)
        or (r.trial.reason or "")
        or (f"{len(r.trial.warnings)} warning(s): see --json" if r.trial.warnings else "")
        or (f"rerun of #{r.trial.parent_number}" if r.trial.parent_number is not None else "")
        for r in ranked
    ]
    if any(notes):
        table.add_column("note", overflow="fold", max_width=60)
    for r, note in zip(ranked, notes, strict=True):
        t = r.trial
        style = STATE_STYLE[t.state]
        table.add_row(
            str(t.number),
            f"[{style}]{t.state.value.lower()}[/]",
            "" if t.value is None else f"{t.value:.4g}",
            "" if t.value_step is None else str(t.value_step),
            "" if r.rank is None else str(r.rank),
            *[escape(fmt_value(t.params.get(n, ""))) for n in params],
            *([_runs_text(r)] if reruns else []),
            *([escape(note)] if any(notes) else []),
        )
    return table


def _runs_text(r: RankedTrial) -> str:
    """The configuration's mean over runs, on its design trial's row only."""
    if r.config is None or r.trial.parent_number is not None:
        return ""
    return r.config.describe()


def best_table(study: Study, *, k: int) -> Table | None:
    """The best ``k`` configurations, one row each (the design trial's), ranked by the mean
    over their runs."""
    everything = study.ranked()
    ranked = sorted((r for r in everything if r.rank is not None), key=lambda r: r.rank or 0)
    if not ranked:
        return None
    objective = study.spec.objective
    title = (
        f"best {min(k, len(ranked))} configurations by {objective.metric} ({objective.goal}), "
        "mean over runs"
    )
    table = trials_table(study, ranked[:k], title=title)
    breaking = sum(bool(r.violations) for r in everything)
    if breaking:
        table.caption = f"{breaking} complete trial(s) break a constraint and are not ranked"
    return table
