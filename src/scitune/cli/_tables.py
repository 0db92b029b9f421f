"""Trial rows as rich tables, CSV and JSON objects (one shape for every output)."""

from __future__ import annotations

import math
from typing import Any

from rich.markup import escape
from rich.table import Table

from scitune.cli._common import fmt_value
from scitune.storage import FrozenTrial, TrialState
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


def trial_json(study: Study, ranked: RankedTrial) -> dict[str, Any]:
    t = ranked.trial
    value = t.value
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
        "attempts": t.attempts,
        "duration_s": t.duration_s,
        "worker": t.worker,
        "dir": t.dir,
        "stderr_tail": t.stderr_tail,
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
    notes = ["; ".join(r.violations) or (r.trial.reason or "") for r in ranked]
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
            *([escape(note)] if any(notes) else []),
        )
    return table


def best_table(study: Study, *, k: int) -> Table | None:
    everything = study.ranked()
    ranked = sorted((r for r in everything if r.rank is not None), key=lambda r: r.rank or 0)
    if not ranked:
        return None
    objective = study.spec.objective
    title = f"best {min(k, len(ranked))} by {objective.metric} ({objective.goal})"
    table = trials_table(study, ranked[:k], title=title)
    breaking = sum(bool(r.violations) for r in everything)
    if breaking:
        table.caption = f"{breaking} complete trial(s) break a constraint and are not ranked"
    return table
