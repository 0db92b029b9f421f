"""How long to train (§8 item 28): the steps the fastest learning rate needs to fit.

Pure functions of :class:`~scitune._stability_curves.TrialRun` records and analysis results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scitune._stability_curves import TrialRun
from scitune.analysis import Analysis, BestStepSummary, Finding

__all__ = [
    "FitPoint",
    "MaxStepsResult",
    "StepsComparison",
    "max_steps_result",
    "steps_comparison",
]

SECTION_STEPS = "§8 How long to train"


@dataclass(frozen=True)
class FitPoint:
    """One learning rate of the constant-LR sweep: when (if ever) it fit the training set."""

    trial: int
    lr: float
    state: str
    fit_step: int | None  # first logged step with the fit metric at or below the threshold
    lowest: float | None  # the fit metric's lowest logged value


@dataclass(frozen=True)
class StepsComparison:
    """What ``analyze``'s best-step check says about a study, in steps."""

    study: str
    max_train_steps: int
    n: int
    median_step: int
    latest_step: int
    early_share: float
    late_share: float
    verdict: str  # steps.ok / steps.too_many / steps.too_few


@dataclass(frozen=True)
class MaxStepsResult:
    """The initial max_train_steps: the steps the fastest LR needs to fit the training set."""

    fit_metric: str
    threshold: float
    steps: int  # the sweep's max_train_steps
    interval: int | None  # the fit metric's logging interval
    low: float  # the swept range
    high: float
    points: tuple[FitPoint, ...]
    fastest_trial: int | None
    fastest_lr: float | None
    recommended: int | None
    edge: Literal["low", "high"] | None  # the fastest LR sits at this edge of the range
    suggested_bound: float | None  # where to widen the range to
    sweep_best_steps: StepsComparison | None  # analyze's best steps on this sweep
    study_best_steps: StepsComparison | None  # ... and on the user's study, if it has run
    findings: tuple[Finding, ...]


def steps_comparison(analysis: Analysis, max_train_steps: int) -> StepsComparison | None:
    """``analysis.best_steps`` in steps, with the verdict finding's code."""
    summary: BestStepSummary | None = analysis.best_steps
    if summary is None or not summary.fractions:
        return None
    fractions = np.array([f for _, f in summary.fractions])
    verdict = next((f.code for f in analysis.findings if f.code.startswith("steps.")), "steps.ok")
    return StepsComparison(
        analysis.study,
        max_train_steps,
        len(fractions),
        round(float(np.median(fractions)) * max_train_steps),
        round(float(fractions.max()) * max_train_steps),
        summary.early_share,
        summary.late_share,
        verdict,
    )


def max_steps_result(
    runs: Sequence[TrialRun],
    *,
    lr_param: str,
    fit_metric: str,
    threshold: float,
    steps: int,
    low: float,
    high: float,
    margin: float = 0.1,
    sweep_best_steps: StepsComparison | None = None,
    study_best_steps: StepsComparison | None = None,
) -> MaxStepsResult:
    """The fastest learning rate to fit the training set, and the boundary check on it (§8).

    Only COMPLETE trials count: a configuration that diverged later is no baseline. Ties on
    the fit step go to the lower fit metric at that step, then to the smaller learning rate.
    ``margin`` is the boundary band in log coordinates (``AnalysisConfig.boundary_margin``).
    """
    points: list[FitPoint] = []
    intervals: list[int] = []
    value_at: dict[int, float] = {}
    for run in runs:
        lr = run.number_param(lr_param)
        if lr is None:
            continue
        series = run.curves.get(fit_metric)
        fit_step, lowest = None, None
        if series is not None:
            finite = series.finite()
            if finite.values:
                lowest = min(finite.values)
            if len(finite.steps) > 1:
                intervals.append(int(np.median(np.diff(finite.steps))))
            if run.state == "COMPLETE":
                for s, v in zip(finite.steps, finite.values, strict=True):
                    if v <= threshold:
                        fit_step, value_at[run.number] = s, v
                        break
        points.append(FitPoint(run.number, lr, run.state, fit_step, lowest))
    points.sort(key=lambda p: (p.lr, p.trial))
    interval = int(np.median(intervals)) if intervals else None
    fitted = [p for p in points if p.fit_step is not None]
    fastest = min(
        fitted, key=lambda p: (p.fit_step or 0, value_at.get(p.trial, 0.0), p.lr), default=None
    )
    edge: Literal["low", "high"] | None = None
    bound: float | None = None
    if fastest is not None and high > low:
        unit = math.log(fastest.lr / low) / math.log(high / low)
        edge = "low" if unit <= margin else "high" if unit >= 1 - margin else None
        if edge is not None:
            r = math.sqrt(high / low)  # the boundary check's rule: half the range further out
            bound = float(f"{(high * r if edge == 'high' else low / r):.2g}")
    findings = _max_steps_findings(
        points, fastest, fit_metric, threshold, steps, interval, low, high, edge, bound
    )
    findings += _comparison_findings(fastest, sweep_best_steps, study_best_steps)
    return MaxStepsResult(
        fit_metric,
        threshold,
        steps,
        interval,
        low,
        high,
        tuple(points),
        fastest.trial if fastest else None,
        fastest.lr if fastest else None,
        fastest.fit_step if fastest else None,
        edge,
        bound,
        sweep_best_steps,
        study_best_steps,
        tuple(findings),
    )


def _max_steps_findings(
    points: Sequence[FitPoint],
    fastest: FitPoint | None,
    metric: str,
    threshold: float,
    steps: int,
    interval: int | None,
    low: float,
    high: float,
    edge: str | None,
    bound: float | None,
) -> list[Finding]:
    every = f"logged every {interval} steps" if interval else "logged"
    if fastest is None:
        lowest = min(
            (p for p in points if p.lowest is not None), key=lambda p: p.lowest or 0.0, default=None
        )
        near = f" (lowest {metric}: {lowest.lowest:.4g}, at lr {lowest.lr:.3g})" if lowest else ""
        return [
            Finding(
                "max_steps.no_fit",
                "warning",
                f"No learning rate fit the training set ({metric} <= {threshold:g}) within "
                f"{steps} steps{near}.",
                f"Sweep again with more steps (--steps {2 * steps}) or a looser --threshold; "
                "a model that cannot fit its training set at any learning rate may be too "
                "small.",
                SECTION_STEPS,
                {"steps": steps, "threshold": threshold, "metric": metric},
            )
        ]
    assert fastest.fit_step is not None
    evidence = {
        "recommended": fastest.fit_step,
        "trial": fastest.trial,
        "lr": fastest.lr,
        "metric": metric,
        "threshold": threshold,
        "logging_interval": interval,
        "fitted": sum(p.fit_step is not None for p in points),
        "swept": len(points),
    }
    out = [
        Finding(
            "max_steps.recommended",
            "info" if edge is None else "warning",
            f"The fastest learning rate, {fastest.lr:.3g} (trial #{fastest.trial}), fits the "
            f"training set ({metric} <= {threshold:g}) at step {fastest.fit_step} ({metric} "
            f"{every}): the initial max_train_steps is {fastest.fit_step}."
            + ("" if edge is None else " Not to be trusted yet: see max_steps.lr_at_edge."),
            f"Set max_train_steps = {fastest.fit_step} in the next studies; raise it later if "
            "the gradient noise grows (§8).",
            SECTION_STEPS,
            evidence,
        )
    ]
    if edge is not None:
        side = "largest" if edge == "high" else "smallest"
        out.append(
            Finding(
                "max_steps.lr_at_edge",
                "warning",
                f"The fastest learning rate {fastest.lr:.3g} is the {side} of the range "
                f"[{low:.3g}, {high:.3g}]: a learning rate beyond it may fit faster, so "
                f"{fastest.fit_step} steps is an upper bound, not the answer.",
                f"Widen the learning-rate range {'up' if edge == 'high' else 'down'} to "
                f"{bound:g} and sweep again (--name a new study).",
                SECTION_STEPS,
                {**evidence, "edge": edge, "suggested_bound": bound},
            )
        )
    return out


def _comparison_findings(
    fastest: FitPoint | None, sweep: StepsComparison | None, study: StepsComparison | None
) -> list[Finding]:
    out = []
    for which, cmp in (("this sweep", sweep), ("the study", study)):
        if cmp is None:
            continue
        fit = f" (the training set is fit at step {fastest.fit_step})" if fastest else ""
        out.append(
            Finding(
                "max_steps.best_steps",
                "info",
                f"In {which} ({cmp.study}) the objective was best at step {cmp.median_step} "
                f"(median; latest {cmp.latest_step}) of {cmp.max_train_steps} over {cmp.n} "
                f"ranked trials{fit}; analyze says {cmp.verdict}.",
                "Compare both numbers: a best step far before the fit step is overfitting "
                "(the study's regularization will move it); best steps always in the last "
                "25% say train longer.",
                SECTION_STEPS,
                {
                    "study": cmp.study,
                    "median_step": cmp.median_step,
                    "latest_step": cmp.latest_step,
                    "max_train_steps": cmp.max_train_steps,
                    "verdict": cmp.verdict,
                    "fit_step": fastest.fit_step if fastest else None,
                },
            )
        )
    return out
