"""``scitune reseed STUDY --top K --seeds N``: rerun the best configurations with new seeds."""

from __future__ import annotations

from typing import Annotated

import typer

from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    err_console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.cli._run import ProgressObserver
from scitune.execution import Runner
from scitune.storage import TrialState
from scitune.study import Study


@handle_errors
def reseed(
    study: Annotated[str, typer.Argument(help="Study file or study name.")],
    top: Annotated[int, typer.Option(min=1, help="How many of the best configurations.")] = 3,
    seeds: Annotated[int, typer.Option(min=1, help="Reruns per configuration (new seeds).")] = 3,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Trials at once.")] = 1,
    run_now: Annotated[
        bool, typer.Option("--run/--no-run", help="Run the reruns now, or only queue them.")
    ] = True,
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Rerun the K best configurations with N new seeds to measure trial-to-trial variance.

    The playbook adopts a change only when it beats the variance between retrains (§6). Reruns
    are linked to the trial they repeat; `scitune trials`, `analyze` and the report show each
    configuration's mean, standard deviation and standard error.
    """
    st = Study.load(study, storage_url=storage or storage_default())
    queued = st.reseed(top=top, seeds=seeds)
    if not as_json:
        parents = sorted({t.parent_number for t in queued if t.parent_number is not None})
        console.print(
            f"Queued {len(queued)} rerun(s) of trial(s) {', '.join(map(str, parents)) or '-'}."
            if queued
            else "Every selected configuration already has its reruns."
        )
    summary = None
    pending = st.trials([TrialState.PENDING])
    if run_now and pending:  # also reruns queued earlier and not run yet
        observer = None if as_json else ProgressObserver()
        try:
            summary = Runner(st, workers=workers, observer=observer).run()
        finally:
            if observer is not None:
                observer.close()
    if as_json:
        print_json(
            {
                "study": st.name,
                "queued": [
                    {"number": t.number, "parent": t.parent_number, "seed": t.seed} for t in queued
                ],
                "ran": summary is not None,
                "interrupted": bool(summary and summary.interrupted),
            }
        )
    elif summary is not None and summary.interrupted:
        err_console.print("Interrupted: run `scitune run` (or reseed again) to finish the reruns.")
    if summary is not None and summary.interrupted:
        raise typer.Exit(130)
