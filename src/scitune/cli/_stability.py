"""``scitune recommend max-steps`` and ``scitune stability ...``: measured choices (§8, §9).

Each command derives a small study from STUDY, writes it beside it as a study file, runs it
(resuming if it ran before), reads it and writes an offline HTML page with the figures.
"""

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
    handle_errors,
    print_json,
    storage_default,
)
from scitune.cli._recommend import recommend_app
from scitune.cli._run import ProgressObserver
from scitune.errors import ScituneError
from scitune.stability import (
    Derived,
    ParamNames,
    Source,
    StabilityConfig,
    TrialRun,
    clipped_share,
    clipping_result,
    derive_clipping,
    derive_early,
    derive_lr_sweep,
    derive_max_steps,
    derive_warmup,
    early_result,
    lr_sweep_result,
    max_steps_result,
    open_source,
    run_derived,
    runs_of,
    steps_comparison,
    warmup_result,
)
from scitune.stability import stored_study as _stored_study
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
    metric = ran.snapshot.train_metric()
    if metric is None:
        raise ScituneError(
            f"study {ran.derived.name!r} logs no training loss (train_loss, loss or "
            "training_loss): the stability checks read it. Report it with trial.report(step, "
            "train_loss=...)."
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


@recommend_app.command("max-steps")
@handle_errors
def max_steps(
    study: StudyArg,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Steps per trial (default: the study's).")
    ] = None,
    trials: Annotated[int, typer.Option(min=2, help="Learning rates swept (log-spaced).")] = 8,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Fit: training error at or below this (default 0: a perfect fit), or the "
            "training loss when no training error is logged (default 0.01, ours)."
        ),
    ] = None,
    fit_metric: Annotated[
        str, typer.Option("--metric", help="The training error metric to fit.")
    ] = "train_error",
    lr_param: LrParam = "learning_rate",
    name: Name = None,
    study_file: StudyFile = None,
    force: Force = False,
    workers: Workers = 1,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """The initial max_train_steps: the steps the fastest learning rate needs to fit (§8).

    Sweeps a constant learning rate over the study's range with regularization switched off;
    the first step at which the fastest trial fits the training set is the answer, unless its
    learning rate sits at an edge of the range. Also prints where analyze puts the best steps.
    """
    cfg = StabilityConfig()
    source = open_source(
        study, storage_url=storage or storage_default(), names=ParamNames(lr_param)
    )
    derived = derive_max_steps(source.base, steps=steps, trials=trials, name=name)
    ran = _run(
        source, derived, study_file=study_file, force=force, workers=workers, as_json=as_json
    )
    metric, limit = fit_metric, cfg.fit_threshold if threshold is None else threshold
    if fit_metric not in ran.snapshot.metric_names():
        metric = _loss_metric(ran)
        limit = cfg.loss_fit_threshold if threshold is None else threshold
    spec = ran.study.spec
    study_cmp = None
    if source.study is not None and source.study.best(1):
        user = analyze(StudySnapshot.from_study(source.study))
        study_cmp = steps_comparison(user, source.spec.budget.max_train_steps)
    values = [float(v) for v in derived.data["nuisance"][lr_param]["values"]]
    result = max_steps_result(
        ran.runs,
        lr_param=lr_param,
        fit_metric=metric,
        threshold=limit,
        steps=spec.budget.max_train_steps,
        low=min(values),
        high=max(values),
        sweep_best_steps=steps_comparison(ran.analysis, spec.budget.max_train_steps),
        study_best_steps=study_cmp,
    )
    facts = {
        "recommended max_train_steps": _cell(result.recommended),
        "fastest learning rate": _cell(result.fastest_lr),
        "fit": f"{metric} <= {limit:g}",
        "swept": f"{len(values)} learning rates in [{min(values):g}, {max(values):g}], "
        f"{spec.budget.max_train_steps} steps",
    }
    figure = _page(
        ran,
        output,
        f"{spec.name}: how long to train",
        lambda p: p.max_steps_figures(result, ran.runs),
        result.findings,
        facts,
    )
    rows = [
        (
            p.trial,
            p.lr,
            p.state,
            p.fit_step,
            p.lowest,
            "fastest" if p.trial == result.fastest_trial else "",
        )
        for p in result.points
    ]
    table = _table(
        f"steps to fit ({metric} <= {limit:g})",
        ("trial", "lr", "state", "fit at step", f"lowest {metric}", ""),
        rows,
    )
    _finish(
        ran,
        as_json=as_json,
        result=result,
        findings=result.findings,
        figure=figure,
        table=table,
        extra={"recommended": result.recommended},
    )


# --- stability lr-sweep -------------------------------------------------------------------------


@stability_app.command("lr-sweep")
@handle_errors
def lr_sweep(
    study: StudyArg,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Steps per trial (default: the study's).")
    ] = None,
    widen: Annotated[
        float, typer.Option(min=1.0, help="Reach this many times the study's highest LR (ours).")
    ] = StabilityConfig().lr_widen,
    per_decade: Annotated[
        int, typer.Option(min=1, help="Learning rates per decade (3 puts 4.6x and 10x on it).")
    ] = StabilityConfig().per_decade,
    lr_param: LrParam = "learning_rate",
    name: Name = None,
    study_file: StudyFile = None,
    force: Force = False,
    workers: Workers = 1,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """lr* and the unstable learning rate: a constant-LR sweep widened upward (§9).

    lr* is the best learning rate by the study's objective; the unstable learning rate is the
    smallest above it whose training diverged, collapsed or whose loss went up.
    """
    source = open_source(
        study, storage_url=storage or storage_default(), names=ParamNames(lr_param)
    )
    derived = derive_lr_sweep(
        source.base, steps=steps, widen=widen, per_decade=per_decade, name=name
    )
    ran = _run(
        source, derived, study_file=study_file, force=force, workers=workers, as_json=as_json
    )
    loss = _loss_metric(ran)
    objective = ran.study.spec.objective
    result = lr_sweep_result(
        ran.runs, lr_param=lr_param, loss_metric=loss, metric=objective.metric, goal=objective.goal
    )
    facts = {
        "lr*": _cell(result.lr_star),
        "unstable learning rate": _cell(result.unstable_lr),
        "steps per trial": str(ran.study.spec.budget.max_train_steps),
    }
    figure = _page(
        ran,
        output,
        f"{ran.study.spec.name}: lr* and the unstable learning rate",
        lambda p: p.lr_sweep_figures(result, ran.runs),
        result.findings,
        facts,
    )
    rows = [
        (
            p.trial,
            p.lr,
            p.state,
            p.score,
            p.verdict.final_loss,
            _stable(p.verdict.stable)
            + (" lr*" if p.trial == result.lr_star_trial else "")
            + (" <- unstable LR" if p.trial == result.unstable_trial else ""),
        )
        for p in result.points
    ]
    table = _table(
        "learning-rate sweep",
        ("trial", "lr", "state", objective.metric, f"final {loss}", "verdict"),
        rows,
    )
    _finish(
        ran,
        as_json=as_json,
        result=result,
        findings=result.findings,
        figure=figure,
        table=table,
        extra={"lr_star": result.lr_star, "unstable_lr": result.unstable_lr},
    )


# --- stability early ----------------------------------------------------------------------------


@stability_app.command("early")
@handle_errors
def early(
    study: StudyArg,
    steps: Annotated[int, typer.Option(min=2, help="Steps of the probe (§9: ~500).")] = (
        StabilityConfig().early_steps
    ),
    factor: Annotated[
        float, typer.Option(min=1.0, help="Probe at this multiple of the best LR (§9: 2).")
    ] = StabilityConfig().early_factor,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help="The best learning rate (default: the study's best trial's)."),
    ] = None,
    lr_param: LrParam = "learning_rate",
    name: Name = None,
    study_file: StudyFile = None,
    force: Force = False,
    workers: Workers = 1,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """The early-instability probe: the best LR and 2x it, evaluated every step (§9).

    A loss that rises or spikes early at 2x the best learning rate is the sign that warmup is
    needed.
    """
    source = open_source(
        study, storage_url=storage or storage_default(), names=ParamNames(lr_param)
    )
    best = lr or source.base.best_lr
    if best is None:
        raise ScituneError(
            f"study {source.spec.name!r} has no ranked trial yet, so there is no best learning "
            "rate to probe: run it first (scitune run), or pass --lr."
        )
    derived = derive_early(source.base, best_lr=best, factor=factor, steps=steps, name=name)
    ran = _run(
        source, derived, study_file=study_file, force=force, workers=workers, as_json=as_json
    )
    loss = _loss_metric(ran)
    result = early_result(
        ran.runs, lr_param=lr_param, loss_metric=loss, best_lr=best, factor=factor, steps=steps
    )
    facts = {
        "best learning rate": _cell(best),
        "probe": f"{factor:g}x = {factor * best:.3g}, {steps} steps, evaluated every step",
        "early instability": {True: "yes", False: "no", None: "inconclusive"}[result.unstable],
    }
    figure = _page(
        ran,
        output,
        f"{ran.study.spec.name}: early instability at {factor:g}x the best learning rate",
        lambda p: p.early_figures(result, ran.runs, loss_metric=loss, grad_metric="grad_norm"),
        result.findings,
        facts,
    )
    rows = [
        (
            p.trial,
            p.lr,
            f"{p.ratio:.3g}x",
            _stable(p.verdict.stable),
            len(p.grad_spikes),
            p.verdict.why,
        )
        for p in result.points
    ]
    table = _table(
        "early-instability probe", ("trial", "lr", "x best", "verdict", "grad spikes", "why"), rows
    )
    _finish(
        ran,
        as_json=as_json,
        result=result,
        findings=result.findings,
        figure=figure,
        table=table,
        extra={"unstable": result.unstable},
    )


# --- stability warmup ---------------------------------------------------------------------------


@stability_app.command("warmup")
@handle_errors
def warmup(
    study: StudyArg,
    unstable_lr: Annotated[
        float | None,
        typer.Option(
            "--unstable-lr",
            help="The unstable learning rate (default: from the stored lr-sweep study).",
        ),
    ] = None,
    factor: Annotated[
        list[float] | None,
        typer.Option(help="Base LR = this x the unstable LR (§9: 10; 100 optional). Repeatable."),
    ] = None,
    warmups: Annotated[
        list[int] | None,
        typer.Option(
            "--warmup", min=1, help="Warmup lengths (default: 10, 100, ... up to 10%). Repeatable."
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", min=1, help="max_train_steps (default: the study's)."),
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option(help="The lr-sweep study to read the unstable LR from (default: derived)."),
    ] = None,
    lr_param: LrParam = "learning_rate",
    name: Name = None,
    study_file: StudyFile = None,
    force: Force = False,
    workers: Workers = 1,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """A warmup sweep at 10x the unstable learning rate; the shortest stable warmup (§9).

    Warmup lengths span orders of magnitude and never exceed 10% of max_train_steps; a chosen
    warmup over 5% asks for more training steps.
    """
    names = ParamNames(lr_param)
    source = open_source(study, storage_url=storage or storage_default(), names=names)
    found = unstable_lr or _unstable_from_sweep(source, sweep, lr_param)
    derived, max_train_steps, lengths = derive_warmup(
        source.base,
        unstable_lr=found,
        max_train_steps=max_steps,
        factors=factor or (),
        warmups=warmups or (),
        name=name,
    )
    ran = _run(
        source, derived, study_file=study_file, force=force, workers=workers, as_json=as_json
    )
    loss = _loss_metric(ran)
    result = warmup_result(
        ran.runs,
        lr_param=lr_param,
        warmup_param=names.warmup,
        loss_metric=loss,
        unstable_lr=found,
        max_train_steps=max_train_steps,
        steps=ran.study.spec.budget.max_train_steps,
    )
    facts = {
        "unstable learning rate": _cell(found),
        "warmups tried": ", ".join(map(str, lengths)),
        "chosen": "; ".join(
            f"base LR {lr:.3g}: {w if w else 'none stable'}" for lr, w in result.chosen
        ),
        "max_train_steps": str(max_train_steps),
    }
    figure = _page(
        ran,
        output,
        f"{ran.study.spec.name}: warmup at a multiple of the unstable learning rate {found:.3g}",
        lambda p: p.warmup_figures(result, ran.runs, loss_metric=loss),
        result.findings,
        facts,
    )
    chosen = dict(result.chosen)
    rows = [
        (
            p.trial,
            p.base_lr,
            p.warmup,
            _stable(p.verdict.stable) + (" <- chosen" if chosen.get(p.base_lr) == p.warmup else ""),
            p.verdict.why,
        )
        for p in result.points
    ]
    table = _table("warmup sweep", ("trial", "base lr", "warmup", "verdict", "why"), rows)
    _finish(
        ran,
        as_json=as_json,
        result=result,
        findings=result.findings,
        figure=figure,
        table=table,
        extra={"unstable_lr": found, "chosen": [list(c) for c in result.chosen]},
    )


def _unstable_from_sweep(source: Source, name: str | None, lr_param: str) -> float:
    from scitune._stability_base import derived_name

    sweep_name = name or derived_name(source.spec, "lr-sweep")
    study = _stored_study(source, sweep_name)
    hint = (
        f"Run `scitune stability lr-sweep {source.spec.source or source.spec.name}` first, or "
        "pass --unstable-lr."
    )
    if study is None:
        raise ScituneError(f"no LR sweep {sweep_name!r} in {source.storage.url}. {hint}")
    snap = StudySnapshot.from_study(study)
    loss = snap.train_metric()
    if loss is None:
        raise ScituneError(f"the LR sweep {sweep_name!r} logs no training loss. {hint}")
    result = lr_sweep_result(
        runs_of(snap),
        lr_param=lr_param,
        loss_metric=loss,
        metric=study.spec.objective.metric,
        goal=study.spec.objective.goal,
    )
    if result.unstable_lr is None:
        raise ScituneError(
            f"the LR sweep {sweep_name!r} found no unstable learning rate (up to "
            f"{max(p.lr for p in result.points):.3g}): sweep higher (--widen) or pass "
            "--unstable-lr."
        )
    return result.unstable_lr


# --- stability clipping -------------------------------------------------------------------------


@stability_app.command("clipping")
@handle_errors
def clipping(
    study: StudyArg,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, help="Also report the share of norms above this threshold."),
    ] = None,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure/--no-measure",
            help="Rerun the best configuration clipped at λ to measure the share of updates "
            "clipped (needs a grad_clip hyperparameter in the training code).",
        ),
    ] = True,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Steps of the measuring run (default: the study's).")
    ] = None,
    lr_param: LrParam = "learning_rate",
    name: Name = None,
    study_file: StudyFile = None,
    force: Force = False,
    workers: Workers = 1,
    output: Output = None,
    storage: Storage = None,
    as_json: AsJson = False,
) -> None:
    """λ = the 90th percentile of the best trials' unclipped gradient norms (§9).

    The share of updates clipped at λ is measured by rerunning the best configuration with
    clipping on; more than half clipped means: lower the learning rate instead.
    """
    source = open_source(
        study, storage_url=storage or storage_default(), names=ParamNames(lr_param)
    )
    if source.study is None or not source.study.best(1):
        raise ScituneError(
            f"study {source.spec.name!r} has no ranked trial yet: run it first (scitune run); "
            "clipping is read from its logged gradient norms."
        )
    snap = StudySnapshot.from_study(source.study)
    analysis = analyze(snap)
    if analysis.grad_norm is None:
        missing = next((f for f in analysis.findings if f.code == "gradnorm.missing"), None)
        raise ScituneError(missing.message + " " + missing.action if missing else "no norms")
    ref = next(f for f in analysis.findings if f.code == "gradnorm.clip_threshold")
    trial = next(t for t in snap.trials if t.number == int(ref.evidence["trial"]))
    curve = snap.curve(trial, analysis.grad_norm.metric)
    norms = [float(v) for v in curve.values] if curve is not None else []
    measured: dict[int, float] = {}
    ran = None
    if measure:
        derived = derive_clipping(
            source.base, threshold=analysis.grad_norm.threshold, steps=steps, name=name
        )
        ran = _run(
            source, derived, study_file=study_file, force=force, workers=workers, as_json=as_json
        )
        for run in ran.runs:
            share = clipped_share(run)
            if share is not None:
                measured[run.number] = share
        if not measured:
            console.print(
                "[yellow]warning:[/] the measuring run logged neither clipped_share nor "
                "clipped: does the training code read grad_clip?"
            )
    result = clipping_result(analysis, norms, user_threshold=threshold, measured=measured)
    assert result is not None
    facts = {"λ": _cell(result.threshold), "from trial": f"#{result.trial} of {source.spec.name}"}
    if measured:
        facts["measured share clipped"] = ", ".join(f"{v:.1%}" for v in measured.values())
    scores: dict[str, float | None] = {"best_trial": source.study.best(1)[0].value}
    if ran is not None and ran.study.best(1):
        scores["clipped_run"] = ran.study.best(1)[0].value
        facts[f"{source.spec.objective.metric}, clipped run / best trial"] = (
            f"{_cell(scores['clipped_run'])} / {_cell(scores['best_trial'])}"
        )
    base_path = ran.study_file if ran else source.default_path(f"{source.spec.name}-clipping")
    try:
        import scitune.plots._stability as plots
    except ImportError as e:
        raise ScituneError(f"the figures need plotly ({e}): pip install 'scitune[plots]'.") from e
    figure = output or base_path.with_suffix(".html")
    figure.write_text(
        plots.stability_page(
            f"{source.spec.name}: gradient clipping",
            plots.clipping_figures(result),
            findings=result.findings,
            facts=facts,
        ),
        encoding="utf-8",
    )
    if as_json:
        print_json(
            {
                "source": source.spec.name,
                "study": ran.derived.name if ran else None,
                "study_file": str(ran.study_file) if ran else None,
                "figure": str(figure),
                "threshold": result.threshold,
                "measured": {str(k): v for k, v in measured.items()},
                "scores": scores,
                "result": to_jsonable(result),
            }
        )
        return
    for f in result.findings:
        console.print(_finding_panel(f))
    console.print(f"Figures: {escape(str(figure))} (offline HTML).")
