"""``scitune probe batch-size`` and ``scitune probe scaling``: the batch size, measured (§1)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from scitune.cli._analyze import _finding_panel
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
from scitune.errors import ScituneError
from scitune.execution import Runner
from scitune.probe import (
    CRITICAL_FACTOR,
    DEFAULT_TOLERANCE,
    BatchSizeProbe,
    PerfectScaling,
    ProbeSettings,
    derive_batch_size_probe,
    open_user_study,
    parse_bytes,
    perfect_scaling,
    run_batch_size_probe,
)
from scitune.spec import load_spec
from scitune.storage import TrialState, open_storage
from scitune.study import Study

probe_app = typer.Typer(
    help="Choose the batch size from measurements (§1): throughput by batch size, and the "
    "steps each batch size needs (perfect scaling)."
)

Storage = Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="The HTML page to write (default: beside the study)."),
]
BatchParam = Annotated[str, typer.Option("--batch-param", help="The batch-size hyperparameter.")]


def _plots() -> ModuleType:
    try:
        import scitune.plots._probe as plots
    except ImportError as e:  # plotly is an extra
        raise ScituneError(
            f"the figures need plotly ({e}). Install it: pip install 'scitune[plots]'."
        ) from e
    return plots


def _cell(value: object, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(escape(v) for v in row))
    return table


# --- probe batch-size ---------------------------------------------------------------------------

_PROBE_COLUMNS = ("batch", "examples/s", "ms/step", "efficiency", "peak MiB", "status", "trial")


def _probe_rows(result: BatchSizeProbe) -> list[list[str]]:
    rows = []
    for r in result.rows:
        status: str = r.status
        if r.warmup_included:
            status += " (warm-up included)"
        if r.batch_size == result.largest_scaling:
            status += " <- largest that scales"
        rows.append(
            [
                str(r.batch_size),
                _cell(r.examples_per_second),
                _cell(r.seconds_per_step * 1000 if r.seconds_per_step else None, 3),
                _cell(r.efficiency, 2),
                _cell(r.peak_memory_bytes / 2**20 if r.peak_memory_bytes else None, 4),
                status,
                _cell(r.trial_number),
            ]
        )
    return rows


def _reasons(result: BatchSizeProbe) -> list[str]:
    """Why each size that was not simply measured ended as it did (first line, shortened)."""
    out = []
    for r in result.rows:
        if r.reason and (r.status != "measured" or r.warmup_included):
            first = r.reason.strip().splitlines()[0]
            out.append(f"batch {r.batch_size} ({r.status}): {first[:220]}")
    return out


def _stop_text(result: BatchSizeProbe, settings: ProbeSettings) -> str:
    at = result.stopped_at
    if result.stop == "oom" and at is not None:
        return f"out of memory at batch {at.batch_size}"
    if result.stop == "failed" and at is not None:
        return f"batch {at.batch_size} failed"
    if result.stop == "interrupted":
        return "interrupted: run the command again to go on"
    return f"reached --max {settings.max_size} without running out of memory"


@probe_app.command("batch-size")
@handle_errors
def batch_size(
    study: Annotated[str, typer.Argument(help="Your study (file or name).")],
    start: Annotated[int, typer.Option(min=1, help="The smallest batch size.")] = 8,
    max_size: Annotated[
        int, typer.Option("--max", min=1, help="Stop doubling past this batch size.")
    ] = 4096,
    steps: Annotated[
        int, typer.Option(min=1, help="Measured steps per batch size, after the warm-up.")
    ] = 30,
    warmup: Annotated[
        int, typer.Option(min=0, help="Steps left out of the measurement at the start.")
    ] = 10,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            help="Cap each trial's address space (RLIMIT_AS, Linux), e.g. 2G or 980M, so a CPU "
            "run reaches the out-of-memory path. Counts virtual memory: libraries included.",
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=1.0,
            help="A doubling scales when throughput grows by at least this share of 2x (ours).",
        ),
    ] = DEFAULT_TOLERANCE,
    batch_param: BatchParam = "batch_size",
    eval_param: Annotated[
        str,
        typer.Option(
            "--eval-param",
            help="Hyperparameter scitune sets to the report interval so the warm-up ends on a "
            "report ('' to set none).",
        ),
    ] = "eval_every",
    metric: Annotated[
        str, typer.Option("--metric", help="The examples/second metric the trials report.")
    ] = "examples_per_second",
    name: Annotated[
        str | None, typer.Option(help="The probe study's name (default <study>-batch-size-probe).")
    ] = None,
    study_file: Annotated[
        Path | None,
        typer.Option(
            "--study-file", help="Where to write the probe study (default: beside STUDY)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite a different probe study file.")] = False,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """Throughput at doubling batch sizes until out of memory; where it stops scaling (§1).

    Writes a probe study (one trial per batch size, everything else fixed at your best trial's
    values, or at the middle of each range before anything has run), runs it one trial at a time
    until a trial runs out of memory or fails, and measures examples/second after the warm-up.
    Run again, it resumes, or only reads a finished probe.
    """
    settings = ProbeSettings(
        start=start,
        max_size=max_size,
        steps=steps,
        warmup=warmup,
        tolerance=tolerance,
        memory_limit=parse_bytes(memory_limit) if memory_limit else None,
        batch_param=batch_param,
        eval_param=eval_param or None,
        metric=metric,
    )
    user = open_user_study(study, storage_url=storage or storage_default())
    probe = derive_batch_size_probe(user, settings, name=name)
    path = study_file or user.default_path(probe.name)
    if not as_json:
        limit = f", memory limit {memory_limit}" if memory_limit else ""
        console.print(
            f"[bold]{escape(probe.name)}[/]: batch sizes {settings.sizes}, {warmup} warm-up + "
            f"{steps} measured steps each{escape(limit)}; everything else fixed at "
            f"{escape(user.origin)} of {escape(user.spec.name)}. Written to {escape(str(path))}"
        )
    observer = None if as_json else ProgressObserver()
    try:
        st, result, interrupted = run_batch_size_probe(
            user, probe, settings, path=path, force=force, observer=observer
        )
    finally:
        if observer is not None:
            observer.close()
    if interrupted:
        err_console.print("[yellow]Interrupted.[/] Run the same command again to go on.")
        raise typer.Exit(130)
    figure = _write_probe_page(
        result, settings, st, user.origin, output or path.with_suffix(".html")
    )
    if as_json:
        print_json(
            {
                "study": st.name,
                "source": user.spec.name,
                "base": user.origin,
                "study_file": str(path),
                "figure": str(figure),
                "settings": {
                    "start": start,
                    "max": max_size,
                    "steps": steps,
                    "warmup": warmup,
                    "report_interval": settings.interval,
                    "memory_limit_bytes": settings.memory_limit,
                    "tolerance": tolerance,
                    "batch_param": batch_param,
                    "metric": metric,
                },
                **result.to_dict(),
            }
        )
        return
    console.print(
        _table(f"{st.name}: throughput by batch size", _PROBE_COLUMNS, _probe_rows(result))
    )
    for line in _reasons(result):
        console.print(f"  [dim]{escape(line)}[/]")
    largest = result.largest_scaling
    console.print(
        f"Largest batch size that still scales: [bold]{_cell(largest)}[/] (each doubling up "
        f"to it gained >= {tolerance:g} of 2x throughput; tolerance is ours, --tolerance). "
        f"Stopped: {escape(_stop_text(result, settings))}."
    )
    for f in result.findings:
        console.print(_finding_panel(f))
    console.print(
        f"Figures: {escape(str(figure))} (offline HTML). Trials: `scitune trials {st.name}`."
    )


def _write_probe_page(
    result: BatchSizeProbe, settings: ProbeSettings, study: Study, origin: str, path: Path
) -> Path:
    plots = _plots()
    facts = {
        "largest batch size that still scales": _cell(result.largest_scaling),
        "stopped": _stop_text(result, settings),
        "tolerance (ours)": f"{settings.tolerance:g} of 2x per doubling",
        "measurement": f"median examples/s over the report intervals after {settings.warmup} "
        f"warm-up steps ({settings.steps} measured steps, one report every {settings.interval})",
        "configuration": f"{origin}; probe study {study.name}",
    }
    if settings.memory_limit:
        facts["memory limit"] = (
            f"{settings.memory_limit / 2**20:,.0f} MiB address space (RLIMIT_AS)"
        )
    text = plots.probe_page(
        f"{study.name}: throughput by batch size",
        [plots.throughput_figure(result), plots.step_time_figure(result)],
        facts=facts,
        table=(_PROBE_COLUMNS, _probe_rows(result)),
        findings=result.findings,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- probe scaling ------------------------------------------------------------------------------


def _scaling_rows(result: PerfectScaling) -> list[list[str]]:
    rows = []
    for p in result.points:
        mark = "  <- critical batch size" if p.batch_size == result.critical_batch_size else ""
        params = ", ".join(f"{k}={_cell(v, 3)}" for k, v in p.params.items())
        rows.append(
            [
                str(p.batch_size),
                _cell(p.steps) if p.steps is not None else f"> {result.max_train_steps}",
                _cell(p.perfect, 3),
                (_cell(p.ratio, 2) + "x") if p.ratio is not None else "–",
                f"{p.reached}/{p.trials}",
                _cell(p.trial_number),
                params + mark,
            ]
        )
    return rows


_SCALING_COLUMNS = ("batch", "steps", "perfect", "vs perfect", "reached", "trial", "best values")


@probe_app.command("scaling")
@handle_errors
def scaling(
    study: Annotated[str, typer.Argument(help="A perfect-scaling study (file or name).")],
    target: Annotated[
        float | None,
        typer.Option(
            help="The value of --metric to reach (e.g. 0.2 dev error). Without it, trials must "
            "report steps_to_target themselves."
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="The metric to reach (default: the objective).")
    ] = None,
    factor: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="A batch size still scales while its steps are within this factor of perfect "
            "scaling (ours).",
        ),
    ] = CRITICAL_FACTOR,
    batch_param: BatchParam = "batch_size",
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Trials run at once (pending ones).")
    ] = 1,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """Steps to a target by batch size, against perfect scaling; the critical batch size (§1).

    Runs the study's pending trials first (a study file that has not run yet runs now). Each
    batch size's fastest trial to the target counts; perfect scaling halves the steps per
    doubling from the smallest batch size; the critical batch size is the largest one up to
    which every size stayed within --factor of it.
    """
    url = storage or storage_default()
    path = Path(study)
    if path.suffix == ".toml" or path.is_file():
        spec = load_spec(path)
        st = Study.open(spec, open_storage(url or spec.storage))
    else:
        st = Study.load(study, storage_url=url)
    _run_pending(st, workers=workers, as_json=as_json)
    result = perfect_scaling(
        st, target=target, metric=metric, batch_param=batch_param, factor=factor
    )
    default = Path(f"{st.name}-scaling.html")
    if st.spec.source is not None:
        default = Path(st.spec.source).parent / default
    figure = _write_scaling_page(result, st, output or default)
    if as_json:
        print_json({"study": st.name, "figure": str(figure), **result.to_dict()})
        return
    shown = f"{result.metric} {'<=' if result.goal == 'minimize' else '>='} {_cell(result.target)}"
    console.print(_table(f"{st.name}: steps to {shown}", _SCALING_COLUMNS, _scaling_rows(result)))
    console.print(
        f"Critical batch size (largest within {factor:g}x of perfect scaling from batch "
        f"{_cell(result.reference)}; factor is ours, --factor): "
        f"[bold]{_cell(result.critical_batch_size)}[/]."
    )
    for f in result.findings:
        console.print(_finding_panel(f))
    console.print(f"Figure: {escape(str(figure))} (offline HTML).")


def _run_pending(study: Study, *, workers: int, as_json: bool) -> None:
    """Run what the study still lacks; nothing (not even a progress bar) when it is complete."""
    trials = [t for t in study.trials() if t.parent_number is None]
    unfinished = [t for t in trials if t.state in (TrialState.PENDING, TrialState.RUNNING)]
    if trials and not unfinished and len(trials) >= study.planned_trials():
        return
    observer = None if as_json else ProgressObserver()
    try:
        summary = Runner(study, workers=workers, observer=observer).run()
    finally:
        if observer is not None:
            observer.close()
    if summary.interrupted:
        raise typer.Exit(130)


def _write_scaling_page(result: PerfectScaling, study: Study, path: Path) -> Path:
    plots = _plots()
    target = _cell(result.target) if result.target is not None else "reported by the trials"
    facts: dict[str, Any] = {
        "critical batch size": _cell(result.critical_batch_size),
        "target": f"{result.metric} {'<=' if result.goal == 'minimize' else '>='} {target}",
        "perfect scaling from": f"batch {_cell(result.reference)}",
        "factor (ours)": f"within {result.factor:g}x of perfect scaling",
        "step budget": f"{result.max_train_steps} steps per trial (budget.max_train_steps)",
    }
    text = plots.probe_page(
        f"{study.name}: steps to the target by batch size",
        [plots.scaling_figure(result)],
        facts=facts,
        table=(_SCALING_COLUMNS, _scaling_rows(result)),
        findings=result.findings,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
