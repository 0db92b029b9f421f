"""What the measured-choice commands share: options, running a derived study, the page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from scitune.analysis import Analysis, Finding, StudySnapshot, analyze
from scitune.analysis._results import to_jsonable
from scitune.cli._analyze import _finding_panel
from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    print_json,
)
from scitune.cli._run import ProgressObserver
from scitune.errors import ScituneError
from scitune.stability import (
    Derived,
    Source,
    TrialRun,
    run_derived,
    runs_of,
)
from scitune.study import Study

stability_app = typer.Typer(
    help="Find the unstable learning rate, probe early instability, sweep warmup, pick a "
    "clipping threshold (§9)."
)

StudyArg = Annotated[str, typer.Argument(help="Your study (file or name).")]
LrParam = Annotated[str, typer.Option("--lr-param", help="The learning-rate hyperparameter.")]
Name = Annotated[str | None, typer.Option(help="Name of the derived study (default: derived).")]
StudyFile = Annotated[
    Path | None,
    typer.Option("--study-file", help="Where to write the derived study (default: beside STUDY)."),
]
Force = Annotated[bool, typer.Option(help="Overwrite a different derived study file.")]
Workers = Annotated[int, typer.Option("--workers", "-w", min=1, help="Trials run at once.")]
Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="The HTML page to write (default: beside the study)."),
]
Storage = Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


@dataclass
class _Ran:
    source: Source
    derived: Derived
    study: Study
    snapshot: StudySnapshot
    analysis: Analysis
    runs: tuple[TrialRun, ...]
    study_file: Path


def _run(
    source: Source,
    derived: Derived,
    *,
    study_file: Path | None,
    force: bool,
    workers: int,
    as_json: bool,
) -> _Ran:
    path = study_file or source.default_path(derived.name)
    if not as_json:
        console.print(
            f"[bold]{escape(derived.name)}[/]: derived from {escape(source.spec.name)} "
            f"({escape(source.base.origin)}), written to {escape(str(path))}"
        )
        for line in derived.changes:
            console.print(f"  [dim]{escape(line)}[/]")
    observer = None if as_json else ProgressObserver()
    try:
        study, summary = run_derived(
            derived, source, path=path, force=force, workers=workers, observer=observer
        )
    finally:
        if observer is not None:
            observer.close()
    if summary.interrupted:
        raise typer.Exit(130)
    snapshot = StudySnapshot.from_study(study)
    return _Ran(source, derived, study, snapshot, analyze(snapshot), runs_of(snapshot), path)


def _loss_metric(ran: _Ran) -> str:
    metric = ran.snapshot.metric_for("train_loss")
    if metric is None:
        raise ScituneError(
            f"study {ran.derived.name!r} logs no training loss (train_loss, loss or "
            "training_loss): the stability checks read it. Report it with trial.report(step, "
            'train_loss=...), or name the metric in the study file: [metrics] train_loss = "...".'
        )
    if metric not in ran.snapshot.metric_names():
        raise ScituneError(
            f"study {ran.derived.name!r} logs no {metric!r}, the training loss its study file "
            "names ([metrics] train_loss): the stability checks read it. Report it with "
            f"trial.report(step, {metric}=...), or name the metric the training code logs."
        )
    return metric


def _page(
    ran: _Ran,
    output: Path | None,
    title: str,
    build: Callable[[Any], list[Any]],
    findings: Sequence[Finding],
    facts: dict[str, str],
) -> Path:
    try:
        import scitune.plots._stability as plots
    except ImportError as e:  # plotly is an extra
        raise ScituneError(
            f"the figures need plotly ({e}). Install it: pip install 'scitune[plots]'."
        ) from e
    path = output or ran.study_file.with_suffix(".html")
    text = plots.stability_page(title, build(plots), findings=findings, facts=facts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _finish(
    ran: _Ran,
    *,
    as_json: bool,
    result: Any,
    findings: Sequence[Finding],
    figure: Path,
    table: Table | None,
    extra: dict[str, Any] | None = None,
) -> None:
    c = ran.analysis.counts
    if as_json:
        print_json(
            {
                "source": ran.source.spec.name,
                "base": ran.source.base.origin,
                "study": ran.derived.name,
                "study_file": str(ran.study_file),
                "figure": str(figure),
                "changes": list(ran.derived.changes),
                "counts": dict(c),
                **(extra or {}),
                "result": to_jsonable(result),
            }
        )
        return
    console.print(
        f"{escape(ran.derived.name)}: {c['COMPLETE']} complete, {c['INFEASIBLE']} infeasible, "
        f"{c['FAILED']} failed"
    )
    if table is not None:
        console.print(table)
    for f in findings:
        console.print(_finding_panel(f))
    console.print(f"Figures: {escape(str(figure))} (offline HTML).")


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    return table


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _stable(flag: bool | None) -> str:
    return {True: "stable", False: "UNSTABLE", None: "?"}[flag]


# --- recommend max-steps ------------------------------------------------------------------------


