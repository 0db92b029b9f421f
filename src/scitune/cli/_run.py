"""``scitune run STUDY``: run the pending trials with a live progress bar; resume if interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scitune.cli._common import (
    JSON_HELP,
    console,
    err_console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.cli._tables import best_table, config_json
from scitune.errors import ScituneError, SpecError
from scitune.execution import Runner, RunSummary, StateCounts
from scitune.project import Project
from scitune.ranking import Configuration
from scitune.spec import load_spec
from scitune.storage import FrozenTrial, TrialState, open_storage
from scitune.study import Study


class ProgressObserver:
    """Draws the runner's events: done / running / failed / infeasible and the best score."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[states]}"),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        self.task: Any = None
        self.goal = "minimize"
        self.metric = ""

    def on_start(self, study: Study, counts: StateCounts) -> None:
        self.metric = study.spec.objective.metric
        self.goal = study.spec.objective.goal
        self.progress.start()
        self.task = self.progress.add_task(
            study.name, total=counts.total, completed=counts.finished, states="", best=""
        )
        self.on_update(counts, None)

    def on_update(self, counts: StateCounts, best: Configuration | None) -> None:
        if self.task is None:
            return
        states = (
            f"[cyan]{counts.running} running[/] [green]{counts.complete} ok[/] "
            f"[red]{counts.failed} failed[/] [yellow]{counts.infeasible} infeasible[/]"
        )
        best_text = ""
        if best is not None:
            best_text = f"best {self.metric} {best.describe()} (#{best.trial})"
        self.progress.update(
            self.task, total=counts.total, completed=counts.finished, states=states, best=best_text
        )

    def on_trial_finished(self, trial: FrozenTrial) -> None:
        if trial.state is TrialState.FAILED:
            self.progress.console.print(
                f"[red]trial {trial.number} failed:[/] {escape(trial.reason or '')}"
            )
        elif trial.state is TrialState.INFEASIBLE:
            self.progress.console.print(
                f"[yellow]trial {trial.number} infeasible:[/] {escape(trial.reason or '')}"
            )

    def on_message(self, text: str) -> None:
        self.progress.console.print(escape(text))

    def close(self) -> None:
        self.progress.stop()


@handle_errors
def run(
    study: Annotated[str, typer.Argument(help="Study file (study.toml).")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Trials run at once.")] = 1,
    backend: Annotated[str, typer.Option(help="Executor: local (processes) or ray.")] = "local",
    max_trials: Annotated[
        int | None, typer.Option(min=1, help="Run at most this many trials, then stop.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Storage URL (default: $SCITUNE_STORAGE, else the study file's `storage`).",
        ),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Run the FAILED trials again first (same numbers, configurations and seeds; "
            "each earlier attempt keeps its reason). INFEASIBLE trials stay as they are.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Run the study's pending trials; run it again to resume an interrupted study.

    Exits 1 when every trial it ran failed (the first reason is printed), 130 when stopped.
    """
    if backend != "local":
        raise ScituneError(
            f"--backend {backend!r} is not available in this version; use --backend local."
        )
    path = Path(study)
    if not path.is_file():
        raise SpecError(
            f"{study}: no such study file. `scitune run` needs the study file (TOML); "
            "create one with `scitune init`."
        )
    spec = load_spec(path)
    if not as_json:
        for warning in spec.warnings():
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    # The same precedence as every command that loads a study: flag, environment, file.
    url = storage or storage_default()
    st = Study.open(spec, open_storage(url) if url else None)
    round_number = Project(st.storage).open_round()
    if round_number is not None:  # a study run during a round belongs to it
        st.storage.attach_study(round_number, st.record.id)
    observer = None if as_json else ProgressObserver()
    try:
        summary = Runner(
            st,
            workers=workers,
            observer=observer,
            max_trials=max_trials,
            retry_failed=retry_failed,
        ).run()
    finally:
        if observer is not None:
            observer.close()
    _report(st, summary, as_json)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.all_failed:
        if not as_json:
            err_console.print(
                f"[bold red]error:[/] every trial this run finished failed; the first: "
                f"{escape(summary.first_failure or '')}. Fix the cause, then `scitune run "
                f"{escape(study)} --retry-failed`.",
                highlight=False,
            )
        raise typer.Exit(1)


def _report(study: Study, summary: RunSummary, as_json: bool) -> None:
    c = summary.counts
    if as_json:
        print_json(
            {
                "study": study.name,
                "interrupted": summary.interrupted,
                "elapsed_s": round(summary.elapsed_s, 3),
                "counts": {
                    "pending": c.pending,
                    "running": c.running,
                    "complete": c.complete,
                    "infeasible": c.infeasible,
                    "failed": c.failed,
                },
                "recovered": summary.recovered,
                "requeued": summary.requeued,
                "finished_by_this_run": {
                    state.value.lower(): n for state, n in summary.finished.items()
                },
                "first_failure": summary.first_failure,
                "best": [config_json(c) for c in study.best(1)],
                "problems": summary.problems,
            }
        )
        return
    if summary.interrupted:
        err_console.print(
            f"[yellow]Interrupted.[/] {c.finished} trial(s) finished, {c.pending} pending. "
            f"Run `scitune run {escape(str(study.spec.source or study.name))}` again to resume."
        )
    for problem in summary.problems[:5]:
        err_console.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False)
    console.print(
        f"{study.name}: {c.complete} complete, {c.infeasible} infeasible, {c.failed} failed, "
        f"{c.pending} pending in {summary.elapsed_s:.1f}s"
    )
    table = best_table(study, k=5)
    if table is not None:
        console.print(table)
