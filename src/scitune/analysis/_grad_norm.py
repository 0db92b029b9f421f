"""Gradient norms of the checked trials: spikes, and what clipping would do (PLAYBOOK_SPEC §9).

The playbook asks to log the *unclipped* global L2 norm of the gradient, to read instability off
its spikes, and to pick a clipping threshold at its 90th percentile; clipping more than half of
the updates is "extremely aggressive": lower the learning rate instead. Norms are sampled at the
logging interval, not at every update, so every share here is an estimate.

Training that already clips (a ``max_grad_norm``-like hyperparameter, or a logged clipping
threshold, ``[metrics] max_grad_norm``) gets advice about its own clip: Hugging Face's Trainer
clips at 1.0 by default and logs the pre-clip norm, where "clip at λ" would read as new advice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import CurveCheck, Finding, GradNormSummary
from scitune.analysis._snapshot import StudySnapshot
from scitune.storage import FrozenTrial

FloatArray = npt.NDArray[np.float64]

__all__ = ["CLIP_PARAMS", "grad_norm_summary"]

CLIP_PARAMS = ("grad_clip", "clip_norm", "max_grad_norm", "gradient_clip", "clip_grad_norm")
"""Parameter names read as a trial's gradient-clipping threshold (any role, in its params)."""
MAX_LISTED = 5
"""Steps listed per trial in a message (the evidence lists all of them)."""

_SECTION = "§9 Stability"
_Norms = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


def grad_norm_summary(
    snap: StudySnapshot, cfg: AnalysisConfig, checks: Sequence[CurveCheck]
) -> tuple[GradNormSummary | None, list[Finding]]:
    """Spikes and clipping advice from the gradient-norm metric on the checked trials.

    The metric is ``cfg.grad_norm_metric``, else the study's ``[metrics] grad_norm``, else
    ``grad_norm``. The clipping threshold is ``np.percentile`` (``cfg.clip_percentile``) of the
    finite logged norms of the first checked trial that logs any (the checks come best first);
    where that trial's training already clips, the advice is about its clip.

    Returns:
        ``(None, [gradnorm.missing])`` when no checked trial logs the metric; else the summary
        and findings ``gradnorm.spikes`` (warning), ``gradnorm.clip_threshold`` (info),
        ``gradnorm.clip_aggressive`` (warning).
    """
    metric = snap.metric_for("grad_norm", cfg.grad_norm_metric) or "grad_norm"
    by_number = {t.number: t for t in snap.trials}
    norms: dict[int, _Norms] = {}
    for check in checks:
        trial = by_number.get(check.trial)
        curve = snap.curve(trial, metric) if trial is not None else None
        if curve is not None:
            keep = ~np.isnan(curve.values)  # +inf is kept: it is the largest spike there is
            if keep.any():
                norms[check.trial] = (curve.steps[keep], curve.values[keep])
    ref = next((n for n, (_, v) in norms.items() if np.isfinite(v).any()), None)
    if ref is None:
        return None, [_missing(snap, metric, [c.trial for c in checks])]

    steps, values = norms[ref]
    lam = float(np.percentile(values[np.isfinite(values)], cfg.clip_percentile))
    clipped = {n: float(np.mean(v > lam)) for n, (_, v) in norms.items()}
    spikes: dict[int, tuple[int, ...]] = {}
    spike_items: list[dict[str, Any]] = []
    for n, (s, v) in norms.items():
        baseline = _trailing_median(v, cfg.grad_spike_window)
        hit = v > cfg.grad_spike_factor * baseline  # NaN baseline (no history yet) never hits
        spikes[n] = tuple(int(x) for x in s[hit])
        if spikes[n]:
            median = float(np.nanmedian(baseline[hit]))
            spike_items.append(
                {"trial": n, "median": median, "max": str(v[hit].max()), "steps": spikes[n]}
            )
    summary = GradNormSummary(metric, lam, cfg.clip_percentile, clipped, spikes)
    own = {n: c for n in norms if (c := _clip_of(snap, by_number[n])) is not None}

    findings: list[Finding] = []
    if spike_items:
        listed = "; ".join(
            f"#{e['trial']} at step {_steps(e['steps'])} (max {e['max']}, recent median "
            f"{e['median']:.3g})"
            for e in spike_items
        )
        message = (
            f"{metric} jumps above {cfg.grad_spike_factor:g}x the median of its previous "
            f"{cfg.grad_spike_window} logged values in "
            f"{len(spike_items)} of {len(norms)} checked trials: {listed} (factor ours)."
        )
        action = (
            "Training is unstable at these steps: add or lengthen learning-rate warmup, or clip "
            f"gradients (for example at {lam:.4g}, see gradnorm.clip_threshold); lower the "
            "learning rate last."
        )
        if ref in own:
            action = (
                "Training is unstable at these steps: add or lengthen learning-rate warmup "
                f"(training already clips at {own[ref][0]:g}, see gradnorm.clip_threshold); "
                "lower the learning rate last."
            )
        evidence = {"metric": metric, "grad_spike_factor": cfg.grad_spike_factor}
        evidence |= {"grad_spike_window": cfg.grad_spike_window}
        evidence |= {"defaults": "ours", "trials": spike_items}
        findings.append(
            Finding("gradnorm.spikes", "warning", message, action, _SECTION, evidence, metric)
        )

    interval = int(np.median(np.diff(steps))) if len(steps) > 1 else None
    every = f"every {interval} steps" if interval else "at the logging interval"
    others = ", ".join(f"#{n}: {f:.0%}" for n, f in clipped.items() if n != ref)
    message = (
        f"Clipping at λ = {lam:.4g}, the {_ordinal(cfg.clip_percentile)} percentile of trial "
        f"#{ref}'s logged unclipped gradient norms, would clip {clipped[ref]:.0%} of its logged "
        f"steps{f' ({others} in the other checked trials)' if others else ''}. The norms are "
        f"sampled {every}, not at every update: the shares are estimates."
    )
    action = (
        f"If training is unstable, clip the global gradient norm at {lam:.4g} (§9: clip at the "
        "90th percentile of unclipped norms); if that clips more than half the updates, lower "
        "the learning rate instead."
    )
    evidence = {"metric": metric, "threshold": lam, "percentile": cfg.clip_percentile}
    evidence |= {"trial": ref, "logged": len(values), "logging_interval": interval}
    evidence["clipped_fraction"] = [{"trial": n, "fraction": f} for n, f in clipped.items()]
    if ref in own:
        message, action = _already_clips(ref, own, norms, lam, metric, every, cfg)
        evidence |= {"clip": own[ref][0], "clip_source": own[ref][1]}
        evidence["clipped_at_clip"] = [
            {"trial": n, "clip": c, "fraction": float(np.mean(norms[n][1] > c))}
            for n, (c, _) in own.items()
        ]
    findings.append(
        Finding("gradnorm.clip_threshold", "info", message, action, _SECTION, evidence, metric)
    )

    aggressive = [
        e for n, (_, v) in norms.items() if (e := _own_clipping(n, own.get(n), v, cfg)) is not None
    ]
    if aggressive:
        listed = "; ".join(
            f"#{e['trial']} clips {e['fraction']:.0%} of its logged steps at "
            f"{e['param']} = {e['threshold']:g}"
            for e in aggressive
        )
        message = (
            f"{listed}. Clipping more than {cfg.clip_aggressive_fraction:.0%} of the updates is "
            "extremely aggressive (§9)."
        )
        action = (
            "Lower the learning rate instead of clipping this hard; keep clipping as a guard "
            f"against rare spikes (the {_ordinal(cfg.clip_percentile)} percentile, {lam:.4g}). "
            f"This assumes {metric} is logged before clipping."
        )
        evidence = {"metric": metric, "clip_aggressive_fraction": cfg.clip_aggressive_fraction}
        evidence["trials"] = aggressive
        findings.append(
            Finding(
                "gradnorm.clip_aggressive", "warning", message, action, _SECTION, evidence, metric
            )
        )
    return summary, findings


def _clip_of(snap: StudySnapshot, trial: FrozenTrial) -> tuple[float, str] | None:
    """The threshold ``trial`` already clips at and the name it was read from, if it clips.

    A clipping hyperparameter (:data:`CLIP_PARAMS`) first, else the last positive value of the
    ``max_grad_norm`` role's logged metric. Zero or less means "no clipping" (as in Hugging
    Face's ``max_grad_norm = 0``).
    """
    for name in CLIP_PARAMS:
        threshold = trial.params.get(name)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            continue
        if np.isfinite(threshold) and threshold > 0:
            return float(threshold), name
    metric = snap.metric_for("max_grad_norm")
    curve = snap.curve(trial, metric) if metric else None
    if curve is not None:
        good = curve.values[np.isfinite(curve.values) & (curve.values > 0)]
        if good.size:
            return float(good[-1]), f"logged {metric}"
    return None


def _already_clips(
    ref: int,
    own: dict[int, tuple[float, str]],
    norms: dict[int, _Norms],
    lam: float,
    metric: str,
    every: str,
    cfg: AnalysisConfig,
) -> tuple[str, str]:
    """``gradnorm.clip_threshold``'s message and action when the reference trial clips."""
    clip, source = own[ref]
    share = float(np.mean(norms[ref][1] > clip))
    others = ", ".join(
        f"#{n}: {float(np.mean(norms[n][1] > c)):.0%} at {c:g}"
        for n, (c, _) in own.items()
        if n != ref
    )
    pct = _ordinal(cfg.clip_percentile)
    message = (
        f"Training already clips at {clip:g} ({source} of trial #{ref}); the {pct} percentile of "
        f"its logged (pre-clip) {metric} is {lam:.4g}, so {share:.0%} of its logged updates are "
        f"clipped{f' ({others} in the other checked trials)' if others else ''}. The norms are "
        f"sampled {every}, not at every update: the shares are estimates."
    )
    assumes = f" This assumes {metric} is logged before clipping."
    if share > cfg.clip_aggressive_fraction:
        action = (
            f"Clipping more than {cfg.clip_aggressive_fraction:.0%} of the updates is extremely "
            f"aggressive (§9): lower the learning rate, or raise the clip towards {lam:.4g} (the "
            f"{pct} percentile), so that it catches spikes only."
        )
    elif clip < lam:
        action = (
            f"The clip is below the {pct} percentile ({lam:.4g}): it clips more updates than "
            "§9's threshold would, but not more than "
            f"{cfg.clip_aggressive_fraction:.0%}. Keep it if training is stable, or raise it "
            f"towards {lam:.4g}."
        )
    else:
        action = (
            f"The clip is at or above the {pct} percentile ({lam:.4g}): it only catches rare "
            "spikes, as §9 intends. No change needed."
        )
    return message, action + assumes


def _own_clipping(
    number: int,
    clip: tuple[float, str] | None,
    values: npt.NDArray[np.float64],
    cfg: AnalysisConfig,
) -> dict[str, Any] | None:
    """The share of a trial's logged norms above its own clipping threshold, if too large."""
    if clip is None:
        return None
    threshold, name = clip
    fraction = float(np.mean(values > threshold))
    if fraction <= cfg.clip_aggressive_fraction:
        return None
    return {
        "trial": number,
        "param": name,
        "threshold": threshold,
        "fraction": fraction,
        "logged": len(values),
    }


def _missing(snap: StudySnapshot, metric: str, checked: list[int]) -> Finding:
    anywhere = any(metric in per for per in snap.curves.values())
    where = "none of the checked trials" if anywhere else "no trial"
    message = (
        f"{metric!r} is logged by {where}: scitune cannot look for gradient spikes or suggest a "
        "clipping threshold."
    )
    action = (
        "Log the unclipped global L2 norm of the gradient at regular step intervals, e.g. "
        f"trial.report(step, {metric}=...), to get instability and clipping advice (§9); "
        'or name the metric the study logs in the study file: [metrics] grad_norm = "...".'
    )
    evidence = {"metric": metric, "logged_by_any_trial": anywhere, "checked": checked}
    return Finding("gradnorm.missing", "info", message, action, _SECTION, evidence, metric)


def _steps(steps: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, steps[:MAX_LISTED]))
    return shown + (f" and {len(steps) - MAX_LISTED} more" if len(steps) > MAX_LISTED else "")


def _ordinal(p: float) -> str:
    n = int(p) if float(p).is_integer() else None
    if n is None:
        return f"{p:g}th"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _trailing_median(values: FloatArray, window: int) -> FloatArray:
    """Median of the ``window`` values before each one (NaN until there are at least 3).

    Norms shrink as training converges, so a spike is judged against recent history, not the
    whole run: a trial-wide median would flag every early step.
    """
    out = np.full(values.shape, np.nan)
    for i in range(3, len(values)):
        history = values[max(0, i - window) : i]
        history = history[np.isfinite(history)]
        if history.size >= 3:
            out[i] = np.median(history)
    return out
