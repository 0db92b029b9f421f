"""``scitune status [STUDY]`` and ``scitune trials STUDY``."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.cli._tables import best_table, config_json, trial_json, trials_table, varied_params
from scitune.errors import ScituneError
from scitune.execution import StateCounts
from scitune.storage import open_storage
from scitune.study import DEFAULT_STORAGE, Study

StorageOpt = Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)]


def _counts_json(c: StateCounts) -> dict[str, int]:
    return {
        "pending": c.pending,
        "running": c.running,
        "complete": c.complete,
        "infeasible": c.infeasible,
        "failed": c.failed,
        "total": c.total,
    }


@handle_errors
def status(
    study: Annotated[str | None, typer.Argument(help="Study file or study name.")] = None,
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Progress of one study, or of every study in the store."""
    url = storage or storage_default()
    if study is None:
        store = open_storage(url or DEFAULT_STORAGE, create=False)
        rows = []
        for record in store.list_studies():
            try:
                st = Study.from_record(store, record)
                planned, runs = st.planned_trials(), st.spec.budget.runs
            except ScituneError:  # a spec this version cannot read: count what exists
                planned, runs = 0, 1
            counts = StateCounts.of(store.get_trials(record.id), planned=planned, runs=runs)
            rows.append((record, counts))
        if as_json:
            print_json(
                [{"study": r.name, "counts": _counts_json(c)} for r, c in rows]
            )
            return
        if not rows:
            console.print(f"No studies in {store.url} yet. Start one with `scitune run STUDY`.")
            return
        table = Table(header_style="bold")
        for col in ("study", "done", "pending", "running", "complete", "infeasible", "failed"):
            table.add_column(col, justify="left" if col == "study" else "right")
        for r, c in rows:
            table.add_row(
                r.name,
                f"{c.finished}/{c.total}",
                str(c.pending),
                str(c.running),
                str(c.complete),
                str(c.infeasible),
                str(c.failed),
            )
        console.print(table)
        return
    st = Study.load(study, storage_url=url)
    trials = st.trials()
    counts = StateCounts.of(trials, planned=st.planned_trials(), runs=st.spec.budget.runs)
    if as_json:
        print_json(
            {
                "study": st.name,
                "goal": st.spec.goal,
                "objective": {
                    "metric": st.spec.objective.metric,
                    "goal": st.spec.objective.goal,
                    "select": st.spec.objective.select,
                },
                "planned": st.planned_trials(),
                "based_on": st.spec.based_on,
                "counts": _counts_json(counts),
                "best": [config_json(c) for c in st.best(5)],
            }
        )
        return
    console.print(f"[bold]{st.name}[/]  {escape(st.spec.goal)}")
    if st.spec.based_on is not None:
        console.print(f"fixed values from baseline #{st.spec.based_on} (base = 'baseline')")
    console.print(
        f"{counts.finished}/{counts.total} finished: "
        f"[green]{counts.complete} complete[/], [yellow]{counts.infeasible} infeasible[/], "
        f"[red]{counts.failed} failed[/], {counts.running} running, {counts.pending} pending"
    )
    best = best_table(st, k=5)
    if best is not None:
        console.print(best)


@handle_errors
def trials(
    study: Annotated[str, typer.Argument(help="Study file or study name.")],
    fmt: Annotated[
        Literal["table", "csv", "json"], typer.Option("--format", help="Output format.")
    ] = "table",
    storage: StorageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """One row per trial: parameters, state, score (and why it failed or was infeasible)."""
    st = Study.load(study, storage_url=storage or storage_default())
    ranked = st.ranked()
    if as_json or fmt == "json":
        history = st.storage.get_attempts(st.record.id)
        print_json([trial_json(st, r, history.get(r.trial.id, [])) for r in ranked])
    elif fmt == "csv":
        params = varied_params(st, [r.trial for r in ranked])
        fixed = sorted({k for r in ranked for k in r.trial.params} - set(params))
        out = io.StringIO()
        writer = csv.writer(out)
        head = ["number", "state", "score", "score_step", "rank", "seed", *params, *fixed]
        writer.writerow([*head, "reason"])
        for r in ranked:
            t = r.trial
            writer.writerow(
                [t.number, t.state.value, t.value, t.value_step, r.rank, t.seed]
                + [json.dumps(t.params.get(p)) if isinstance(t.params.get(p), bool) else
                   t.params.get(p) for p in params + fixed]
                + ["; ".join(r.violations) or (t.reason or "")]
            )
        typer.echo(out.getvalue(), nl=False)
    else:
        console.print(trials_table(st, ranked, title=f"{st.name}: {len(ranked)} trials"))
