"""``scitune recommend max-steps`` and ``scitune stability ...``: measured choices (§8, §9).

Each command derives a small study from STUDY, writes it beside it as a study file, runs it
(resuming if it ran before), reads it and writes an offline HTML page with the figures.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from scitune.analysis import StudySnapshot, analyze
from scitune.analysis._results import to_jsonable
from scitune.cli._analyze import _finding_panel
from scitune.cli._common import (
    console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.cli._stability_common import (
    AsJson,
    Force,
    LrParam,
    Name,
    Output,
    Storage,
    StudyArg,
    StudyFile,
    Workers,
    _cell,
    _finish,
    _loss_metric,
    _page,
    _run,
    _stable,
    _table,
    stability_app,
)
from scitune.errors import ScituneError
from scitune.stability import (
    ParamNames,
    Source,
    StabilityConfig,
    clipped_share,
    clipping_result,
    derive_clipping,
    derive_early,
    derive_lr_sweep,
    derive_warmup,
    early_result,
    lr_sweep_result,
    open_source,
    runs_of,
    warmup_result,
)
from scitune.stability import stored_study as _stored_study

__all__ = ["clipping", "early", "lr_sweep", "stability_app", "warmup"]


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
    grad = ran.snapshot.metric_for("grad_norm") or "grad_norm"
    result = early_result(
        ran.runs,
        lr_param=lr_param,
        loss_metric=loss,
        best_lr=best,
        factor=factor,
        steps=steps,
        grad_metric=grad,
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
        lambda p: p.early_figures(result, ran.runs, loss_metric=loss, grad_metric=grad),
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
    loss = snap.metric_for("train_loss")
    if loss is None or loss not in snap.metric_names():
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
    scores: dict[str, float | None] = {"best_trial": source.study.best(1)[0].mean}
    if ran is not None and ran.study.best(1):
        scores["clipped_run"] = ran.study.best(1)[0].mean
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
