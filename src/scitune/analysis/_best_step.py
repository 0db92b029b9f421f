"""Where in training the trials reached their best score (PLAYBOOK_SPEC §8 item 27).

The playbook: if the best step is *always* in the first 10% of training, ``max_train_steps`` is
too high; if it is *consistently* in the last 25%, train longer and re-tune the decay schedule.
"Always" / "consistently" is read as ``best_step_share`` of the ranked trials (ours).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import BestStepSummary, Finding
from scitune.analysis._snapshot import StudySnapshot
from scitune.storage import FrozenTrial

__all__ = ["best_step_summary"]

_SECTION = "§8 How long to train"


def best_step_summary(
    snap: StudySnapshot, cfg: AnalysisConfig, curves: Sequence[Finding] = ()
) -> tuple[BestStepSummary | None, list[Finding]]:
    """Best step / ``max_train_steps`` of every ranked trial, and the §8 verdict.

    The best step is the score's step (``value_step``): the raw best's with ``select = "best"``,
    the smoothed best's with ``select = "smoothed"`` (one lucky evaluation does not move it).
    With ``select = "final"`` (where that is always the last step) it is the step of the
    objective's best value on the curve instead.

    ``curves`` are the curve checks' findings: where ``curves.saturated`` or
    ``curves.still_improving`` advise the other way, the verdict says how the two relate.

    Returns:
        ``(None, [])`` when no ranked trial has a best step; else the summary and one finding:
        ``steps.too_many``, ``steps.too_few`` (both warnings) or ``steps.ok`` (info).
    """
    max_steps = snap.spec.budget.max_train_steps
    pairs = sorted(
        (t.number, step / max_steps)
        for t in snap.ranked()
        if (step := _best_step(snap, t)) is not None
    )
    if not pairs:
        return None, []
    fractions = np.array([f for _, f in pairs])
    early = fractions <= cfg.best_step_early
    late = fractions >= 1.0 - cfg.best_step_late
    summary = BestStepSummary(
        fractions=tuple(pairs), early_share=float(early.mean()), late_share=float(late.mean())
    )
    n = len(pairs)
    median = float(np.median(fractions))
    evidence = {
        "n": n,
        "max_train_steps": max_steps,
        "early_share": summary.early_share,
        "late_share": summary.late_share,
        "median_fraction": median,
        "median_step": round(median * max_steps),
        "latest_best_step": round(float(fractions.max()) * max_steps),
        "best_step_early": cfg.best_step_early,
        "best_step_late": cfg.best_step_late,
        "best_step_share": cfg.best_step_share,
        "defaults": "ours",
        "ours": ["best_step_share"],
    }
    metric = snap.spec.objective.metric
    rule = f"{cfg.best_step_share:.0%} of ranked trials counts as 'always' (ours)"
    findings: list[Finding] = []
    if summary.early_share >= cfg.best_step_share:
        message = (
            f"{metric} reached its best within the first {cfg.best_step_early:.0%} of training "
            f"(step <= {cfg.best_step_early * max_steps:.0f} of {max_steps}) in "
            f"{int(early.sum())} of {n} ranked trials ({summary.early_share:.0%}; {rule}): "
            "max_train_steps is too high."
        )
        action = (
            "Lower max_train_steps in the next study and spend the saved compute on more trials. "
            "Change it between studies, never inside one."
        )
        findings.append(
            Finding("steps.too_many", "warning", message, action, _SECTION, evidence, metric)
        )
    if summary.late_share >= cfg.best_step_share:
        message = (
            f"{metric} reached its best within the last {cfg.best_step_late:.0%} of training "
            f"(step >= {(1 - cfg.best_step_late) * max_steps:.0f} of {max_steps}) in "
            f"{int(late.sum())} of {n} ranked trials ({summary.late_share:.0%}; {rule}): "
            "training is probably too short."
        )
        action = (
            "Train longer in the next study (raise max_train_steps) and re-tune the learning-rate "
            "decay schedule with it. Never tune max_train_steps inside a study: change it "
            "between studies."
        )
        findings.append(
            Finding("steps.too_few", "warning", message, action, _SECTION, evidence, metric)
        )
    if not findings:
        message = (
            f"The best step falls in the first {cfg.best_step_early:.0%} of training for "
            f"{summary.early_share:.0%} and in the last {cfg.best_step_late:.0%} for "
            f"{summary.late_share:.0%} of {n} ranked trials (median {median:.0%} of "
            f"max_train_steps = {max_steps}); neither share reaches {cfg.best_step_share:.0%}, "
            "which counts as 'always' (ours): the training length looks right."
        )
        action = "Keep max_train_steps for the next study."
        findings.append(Finding("steps.ok", "info", message, action, _SECTION, evidence, metric))
    return summary, [_relate(f, curves) for f in findings]


def _relate(finding: Finding, curves: Sequence[Finding]) -> Finding:
    """``finding`` with a sentence on a curve finding that advises the opposite length."""
    by_code = {f.code: f for f in curves}
    other = None
    if finding.code in ("steps.ok", "steps.too_few"):
        other = by_code.get("curves.saturated")
    elif finding.code == "steps.too_many":
        other = by_code.get("curves.still_improving")
    if other is None:
        return finding
    trials = [e["trial"] for e in other.evidence.get("trials", ())]
    listed = ", ".join(f"#{n}" for n in trials)
    evidence: dict[str, Any] = {**finding.evidence, "related": {other.code: trials}}
    message, action = finding.message, finding.action
    if other.code == "curves.saturated":
        tol = other.evidence.get("saturation_tolerance", 0.0)
        step = max(e["reached_step"] for e in other.evidence["trials"])
        message += (
            f" The curves say more: curves.saturated found {listed} within {tol:.0%} of "
            f"their best (smoothed) from step {step} on: on those trials the later steps gain "
            f"less than {tol:.0%}, wherever the best step falls (this rule reads where it falls, "
            "not how much it gains)."
        )
        if finding.code == "steps.ok":
            action = (
                f"Keep max_train_steps, or shorten it towards step {step} (curves.saturated) "
                f"where less than {tol:.0%} is worth less than the compute."
            )
        else:
            action += (
                f" Expect little from it on {listed} (curves.saturated): lengthen training for "
                "the configurations whose best steps are late, and check their curves first."
            )
    else:
        message += (
            f" But curves.still_improving found {listed} still improving at the end of "
            "training: the best configurations may need the steps that most trials do not."
        )
        action += f" Check the curves of {listed} (curves.still_improving) before cutting."
    return Finding(
        finding.code,
        finding.severity,
        message,
        action,
        finding.section,
        evidence,
        finding.subject,
    )


def _best_step(snap: StudySnapshot, trial: FrozenTrial) -> int | None:
    if snap.spec.objective.select != "final":
        return trial.value_step
    curve = snap.curve(trial, snap.spec.objective.metric)
    if curve is None:
        return trial.value_step
    ranked = np.where(np.isfinite(curve.values), snap.sign * curve.values, np.inf)
    if not np.isfinite(ranked).any():
        return trial.value_step
    return int(curve.steps[int(np.argmin(ranked))])
