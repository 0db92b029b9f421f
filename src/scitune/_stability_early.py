"""The early-instability probe (§9 item 33): the best LR against 2x it, evaluated every step.

A pure function of :class:`~scitune._stability_curves.TrialRun` records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scitune._stability_curves import StabilityConfig, TrialRun, Verdict, assess
from scitune.analysis import AnalysisConfig, Finding
from scitune.analysis._grad_norm import _trailing_median

__all__ = ["EarlyPoint", "EarlyResult", "early_result"]

SECTION = "§9 Stability"


@dataclass(frozen=True)
class EarlyPoint:
    trial: int
    lr: float
    ratio: float  # lr / best lr
    verdict: Verdict
    grad_spikes: tuple[int, ...]  # steps where the gradient norm jumped


@dataclass(frozen=True)
class EarlyResult:
    """The best LR against a multiple of it, evaluated every step (§9 item 33)."""

    best_lr: float
    factor: float
    steps: int
    points: tuple[EarlyPoint, ...]
    unstable: bool | None  # did the probe (factor x best) show early instability?
    findings: tuple[Finding, ...]


def early_result(
    runs: Sequence[TrialRun],
    *,
    lr_param: str,
    loss_metric: str,
    best_lr: float,
    factor: float,
    steps: int,
    grad_metric: str = "grad_norm",
    cfg: StabilityConfig | None = None,
    analysis_cfg: AnalysisConfig | None = None,
) -> EarlyResult:
    """Did training at ``factor`` x the best LR go wrong early, when the best LR did not?

    Early instability (the loss going up, a divergence, or gradient-norm spikes the best LR
    does not have) is the sign that warmup is needed (§9).
    """
    cfg = cfg or StabilityConfig()
    acfg = analysis_cfg or AnalysisConfig()
    points = []
    for run in runs:
        lr = run.number_param(lr_param)
        if lr is None:
            continue
        verdict = assess(run, loss_metric, cfg)
        spikes = _spikes(run, grad_metric, acfg)
        points.append(EarlyPoint(run.number, lr, lr / best_lr, verdict, spikes))
    points.sort(key=lambda p: p.lr)
    probe = min(points, key=lambda p: abs(math.log(p.ratio / factor)), default=None)
    ref = min(points, key=lambda p: abs(math.log(p.ratio)), default=None)
    findings: list[Finding] = []
    unstable: bool | None = None
    if probe is None or ref is None or probe is ref:
        findings.append(
            Finding(
                "early.missing",
                "critical",
                "The probe lacks the best learning rate or its multiple: nothing to compare.",
                "Rerun the probe.",
                SECTION,
                {"trials": len(points)},
            )
        )
        return EarlyResult(best_lr, factor, steps, tuple(points), None, tuple(findings))
    more_spikes = len(probe.grad_spikes) > len(ref.grad_spikes)
    evidence = {
        "best_lr": best_lr,
        "probe_lr": probe.lr,
        "steps": steps,
        "probe": probe.verdict.why,
        "best": ref.verdict.why,
        "probe_grad_spikes": list(probe.grad_spikes),
        "best_grad_spikes": list(ref.grad_spikes),
    }
    if probe.verdict.stable is None:
        unstable = None
        findings.append(
            Finding(
                "early.inconclusive",
                "warning",
                f"The probe at {probe.lr:.3g} says nothing: {probe.verdict.why}.",
                "Look at the trial (scitune trials STUDY) and rerun.",
                SECTION,
                evidence,
            )
        )
    elif probe.verdict.stable is False or more_spikes:
        unstable = True
        detail = (
            probe.verdict.why
            if probe.verdict.stable is False
            else (
                f"the gradient norm spiked at step(s) {_list(probe.grad_spikes)} "
                f"({len(ref.grad_spikes)} spike(s) at the best LR)"
            )
        )
        findings.append(
            Finding(
                "early.unstable",
                "warning",
                f"At {factor:g}x the best learning rate ({probe.lr:.3g}) training is unstable "
                f"within {steps} steps: {detail}. Early instability is the sign that warmup "
                "is needed.",
                "Sweep warmup lengths (scitune stability warmup); clip gradients if warmup is "
                "not enough; lower the learning rate last.",
                SECTION,
                evidence,
            )
        )
    else:
        unstable = False
        findings.append(
            Finding(
                "early.stable",
                "info",
                f"At {factor:g}x the best learning rate ({probe.lr:.3g}) the first {steps} "
                f"steps are stable ({probe.verdict.why}): no sign that warmup is needed.",
                "Warmup is unlikely to unlock higher learning rates; keep the baseline's schedule.",
                SECTION,
                evidence,
            )
        )
    if ref.verdict.stable is False:
        findings.append(
            Finding(
                "early.best_unstable",
                "warning",
                f"Even the best learning rate ({ref.lr:.3g}) is unstable early: {ref.verdict.why}.",
                "Add warmup to the baseline, or lower its learning rate.",
                SECTION,
                evidence,
            )
        )
    return EarlyResult(best_lr, factor, steps, tuple(points), unstable, tuple(findings))


def _spikes(run: TrialRun, metric: str, acfg: AnalysisConfig) -> tuple[int, ...]:
    """Steps where the gradient norm exceeds the analysis' spike rule (10x the recent median)."""
    series = run.curves.get(metric)
    if series is None or len(series) < 4:
        return ()
    values = np.asarray(series.values, dtype=float)
    values = np.where(np.isnan(values), np.inf, values)
    baseline = _trailing_median(values, acfg.grad_spike_window)
    hit = values > acfg.grad_spike_factor * baseline
    return tuple(s for s, h in zip(series.steps, hit, strict=True) if h)


def _list(steps: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(map(str, steps[:limit]))
    return shown + (f" and {len(steps) - limit} more" if len(steps) > limit else "")
