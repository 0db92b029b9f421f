"""Trial rows as rich tables, CSV and JSON objects (one shape for every output)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RunStats:
    """A configuration's scores over its runs (the trial and its reruns)."""

    n: int
    mean: float
    std: float | None
    se: float | None


def run_stats(ranked: list[RankedTrial]) -> dict[int, RunStats]:
    """Original trial number -> stats over its ranked runs (configurations rerun at least once)."""
    scores: dict[int, list[float]] = {}
    has_reruns = {r.trial.parent_number for r in ranked if r.trial.parent_number is not None}
    for r in ranked:
        t = r.trial
        root = t.parent_number if t.parent_number is not None else t.number
        if root in has_reruns and r.rank is not None and t.value is not None:
            scores.setdefault(root, []).append(t.value)
    out = {}
    for root, values in scores.items():
        n = len(values)
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if n >= 2 else None
        out[root] = RunStats(n, mean, std, std / math.sqrt(n) if std is not None else None)
    return out


def trial_json(
    study: Study, ranked: RankedTrial, stats: dict[int, RunStats] | None = None
) -> dict[str, Any]:
    t = ranked.trial
    value = t.value
    config = (stats or {}).get(t.number)
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
        "config_runs": None if config is None else config.n,
        "config_mean": None if config is None else config.mean,
        "config_std": None if config is None else config.std,
        "config_se": None if config is None else config.se,
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
    stats = run_stats(ranked)
    if stats:
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
            *([_stats_text(stats.get(t.number))] if stats else []),
            *([escape(note)] if any(notes) else []),
        )
    return table


def _stats_text(stats: RunStats | None) -> str:
    if stats is None:
        return ""
    if stats.se is None:
        return f"{stats.mean:.4g} (1 run)"
    return f"{stats.mean:.4g} ± {stats.se:.2g} ({stats.n} runs)"


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
