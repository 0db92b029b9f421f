"""``scitune recommend max-steps``: the initial max_train_steps from a constant-LR sweep (§8)."""

from __future__ import annotations

from typing import Annotated

import typer

from scitune.analysis import StudySnapshot, analyze
from scitune.cli._common import (
    handle_errors,
    storage_default,
)
from scitune.cli._recommend import recommend_app
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
    _table,
)
from scitune.stability import (
    ParamNames,
    StabilityConfig,
    derive_max_steps,
    max_steps_result,
    open_source,
    steps_comparison,
)


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


