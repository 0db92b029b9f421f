"""The LR sweep and the warmup sweep, read (§9 items 32 and 34).

Pure functions of :class:`~scitune._stability_curves.TrialRun` records: build the runs by hand
in tests, or from a study with :func:`~scitune._stability_curves.runs_of`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scitune._stability_curves import StabilityConfig, TrialRun, Verdict, assess
from scitune.analysis import Finding

__all__ = [
    "LRPoint",
    "LRSweepResult",
    "WarmupPoint",
    "WarmupResult",
    "lr_sweep_result",
    "warmup_lengths",
    "warmup_result",
]

SECTION = "§9 Stability"


@dataclass(frozen=True)
class LRPoint:
    """One learning rate of a sweep: its trial, score and stability verdict."""

    trial: int
    lr: float
    state: str
    score: float | None
    verdict: Verdict


@dataclass(frozen=True)
class LRSweepResult:
    """lr* (the best learning rate) and the unstable learning rate above it (§9 item 32)."""

    metric: str  # the objective that picks lr*
    loss_metric: str  # the training loss judged for stability
    points: tuple[LRPoint, ...]  # by learning rate
    lr_star: float | None
    lr_star_trial: int | None
    unstable_lr: float | None  # the smallest LR above lr* whose training was unstable
    unstable_trial: int | None
    consistent: bool  # every judged LR above the unstable one was unstable too
    shown: tuple[int, ...]  # trials whose curves to draw: lr* and the LRs nearest 5x, 10x lr*
    findings: tuple[Finding, ...]


def lr_sweep_result(
    runs: Sequence[TrialRun],
    *,
    lr_param: str,
    loss_metric: str,
    metric: str,
    goal: Literal["minimize", "maximize"],
    cfg: StabilityConfig | None = None,
) -> LRSweepResult:
    """Read an LR sweep: lr* by the objective, the unstable LR by the training loss.

    The unstable LR is the smallest learning rate above lr* whose trial diverged, collapsed or
    whose loss went up (:func:`~scitune._stability_curves.assess`); smaller LRs that fail are
    too small, not unstable.
    """
    cfg = cfg or StabilityConfig()
    points = _points(runs, lr_param, loss_metric, cfg)
    sign = 1.0 if goal == "minimize" else -1.0
    ranked = [p for p in points if p.score is not None]
    if not ranked:
        finding = Finding(
            "lr_sweep.nothing_ranked",
            "critical",
            f"No learning rate of the sweep finished with a {metric}: every trial failed or "
            "diverged.",
            "Look at the trials' reasons (scitune trials STUDY); lower the study's learning-rate "
            "range and sweep again.",
            SECTION,
            {"trials": len(points)},
        )
        return LRSweepResult(
            metric, loss_metric, points, None, None, None, None, True, (), (finding,)
        )
    star = min(ranked, key=lambda p: (sign * (p.score or 0.0), p.lr))
    above = [p for p in points if p.lr > star.lr]
    unstable = next((p for p in above if p.verdict.stable is False), None)
    consistent = unstable is None or all(
        p.verdict.stable is not True for p in above if p.lr >= unstable.lr
    )
    shown = _shown(star, above)
    findings = [
        Finding(
            "lr_sweep.lr_star",
            "info",
            f"lr* = {star.lr:.3g} (trial #{star.trial}): the best {metric} of the sweep, "
            f"{star.score:.4g}.",
            "Use lr* as the reference for the stability checks (early probe: 2x lr*).",
            SECTION,
            {"lr_star": star.lr, "trial": star.trial, "score": star.score},
            lr_param,
        )
    ]
    top = max(p.lr for p in points)
    if star.lr >= top:
        findings.append(
            Finding(
                "lr_sweep.lr_star_at_top",
                "warning",
                f"lr* = {star.lr:.3g} is the largest learning rate swept: the best one may lie "
                "above the sweep.",
                "Sweep further up (a larger widening factor) before trusting lr* or the "
                "unstable learning rate.",
                SECTION,
                {"lr_star": star.lr, "top": top},
                lr_param,
            )
        )
    if unstable is None:
        findings.append(
            Finding(
                "lr_sweep.no_instability",
                "warning",
                f"No learning rate above lr* up to {top:.3g} trained unstably: the unstable "
                "learning rate lies above the sweep.",
                "Sweep further up to find where training diverges.",
                SECTION,
                {"top": top, "lr_star": star.lr},
                lr_param,
            )
        )
    else:
        ratio = unstable.lr / star.lr
        evidence = {
            "unstable_lr": unstable.lr,
            "trial": unstable.trial,
            "ratio": ratio,
            "why": unstable.verdict.why,
            "consistent": consistent,
        }
        tail = (
            "every learning rate above it is unstable too"
            if consistent
            else "but some larger learning rates trained stably (noisy: rerun with more seeds)"
        )
        findings.append(
            Finding(
                "lr_sweep.unstable_lr",
                "info",
                f"Training becomes unstable at {unstable.lr:.3g} ({ratio:.3g}x lr*, trial "
                f"#{unstable.trial}: {unstable.verdict.why}); {tail}.",
                "Warmup is swept at 10x this learning rate (scitune stability warmup).",
                SECTION,
                evidence,
                lr_param,
            )
        )
        if ratio <= 10.0 + 1e-9:
            findings.append(
                Finding(
                    "lr_sweep.limited_by_instability",
                    "warning",
                    f"The learning rates just above lr* are unstable (at {ratio:.3g}x lr*): "
                    "instability may be what keeps the best learning rate down.",
                    "Fixing the instability will likely give better training (§9): try "
                    "learning-rate warmup first, then gradient clipping; lower the learning "
                    "rate last.",
                    SECTION,
                    evidence,
                    lr_param,
                )
            )
    return LRSweepResult(
        metric,
        loss_metric,
        points,
        star.lr,
        star.trial,
        unstable.lr if unstable else None,
        unstable.trial if unstable else None,
        consistent,
        shown,
        tuple(findings),
    )


def _points(
    runs: Sequence[TrialRun], lr_param: str, loss_metric: str, cfg: StabilityConfig
) -> tuple[LRPoint, ...]:
    out = []
    for run in runs:
        lr = run.number_param(lr_param)
        if lr is None or lr <= 0:
            continue
        out.append(LRPoint(run.number, lr, run.state, run.score, assess(run, loss_metric, cfg)))
    return tuple(sorted(out, key=lambda p: (p.lr, p.trial)))


def _shown(star: LRPoint, above: Sequence[LRPoint]) -> tuple[int, ...]:
    """lr*'s trial and those nearest 5x and 10x lr* above it (log distance)."""
    shown = [star.trial]
    for factor in (5.0, 10.0):
        if not above:
            break
        near = min(above, key=lambda p: abs(math.log(p.lr / (factor * star.lr))))
        if near.trial not in shown:
            shown.append(near.trial)
    return tuple(shown)


# --- the warmup sweep (§9 item 34) ---------------------------------------------------------------


@dataclass(frozen=True)
class WarmupPoint:
    trial: int
    base_lr: float
    warmup: int
    verdict: Verdict


@dataclass(frozen=True)
class WarmupResult:
    """The shortest stable warmup per base learning rate (§9 item 34)."""

    unstable_lr: float
    max_train_steps: int
    steps: int  # each trial's length: the longest warmup and 2x it at the base LR
    points: tuple[WarmupPoint, ...]
    chosen: tuple[tuple[float, int | None], ...]  # (base lr, shortest stable warmup or None)
    findings: tuple[Finding, ...]


def warmup_result(
    runs: Sequence[TrialRun],
    *,
    lr_param: str,
    warmup_param: str,
    loss_metric: str,
    unstable_lr: float,
    max_train_steps: int,
    steps: int,
    cfg: StabilityConfig | None = None,
) -> WarmupResult:
    """The shortest warmup that trains stably at each base learning rate, with §9's warnings."""
    cfg = cfg or StabilityConfig()
    points = []
    for run in runs:
        lr, warmup = run.number_param(lr_param), run.number_param(warmup_param)
        if lr is None or warmup is None:
            continue
        points.append(WarmupPoint(run.number, lr, int(warmup), assess(run, loss_metric, cfg)))
    points.sort(key=lambda p: (p.base_lr, p.warmup))
    chosen: list[tuple[float, int | None]] = []
    findings: list[Finding] = []
    for lr in sorted({p.base_lr for p in points}):
        here = [p for p in points if p.base_lr == lr]
        stable = [p for p in here if p.verdict.stable is True]
        pick = min(stable, key=lambda p: p.warmup) if stable else None
        chosen.append((lr, pick.warmup if pick else None))
        tried = ", ".join(f"{p.warmup}" for p in here)
        evidence = {
            "base_lr": lr,
            "unstable_lr": unstable_lr,
            "factor": lr / unstable_lr,
            "warmups": [p.warmup for p in here],
            "stable": [p.warmup for p in stable],
            "max_train_steps": max_train_steps,
        }
        if pick is None:
            findings.append(
                Finding(
                    "warmup.none_stable",
                    "warning",
                    f"No warmup ({tried} steps) made base LR {lr:.3g} ({lr / unstable_lr:.3g}x "
                    f"the unstable {unstable_lr:.3g}) train stably.",
                    "Try gradient clipping (scitune stability clipping), or warmup at a smaller "
                    "multiple of the unstable learning rate; change the optimizer or the "
                    "architecture next, and lower the learning rate last (§9).",
                    SECTION,
                    evidence,
                    warmup_param,
                )
            )
            continue
        share = pick.warmup / max_train_steps
        findings.append(
            Finding(
                "warmup.chosen",
                "info",
                f"The shortest stable warmup at base LR {lr:.3g} ({lr / unstable_lr:.3g}x the "
                f"unstable {unstable_lr:.3g}) is {pick.warmup} steps ({share:.1%} of "
                f"max_train_steps = {max_train_steps}); tried {tried}.",
                f"Prepend a linear warmup of {pick.warmup} steps to the baseline's schedule "
                f"and compare with the baseline by its best checkpoint; train "
                f"{max_train_steps} + {pick.warmup} = {max_train_steps + pick.warmup} steps.",
                SECTION,
                {**evidence, "chosen": pick.warmup, "share": share},
                warmup_param,
            )
        )
        if share > cfg.warmup_warn_share:
            findings.append(
                Finding(
                    "warmup.long",
                    "warning",
                    f"The warmup of {pick.warmup} steps is {share:.1%} of max_train_steps "
                    f"(more than {cfg.warmup_warn_share:.0%}).",
                    "A warmup this long needs more training: raise max_train_steps (at least "
                    f"to {max_train_steps + pick.warmup}) (§9).",
                    SECTION,
                    {**evidence, "chosen": pick.warmup, "share": share},
                    warmup_param,
                )
            )
    return WarmupResult(
        unstable_lr, max_train_steps, steps, tuple(points), tuple(chosen), tuple(findings)
    )


def warmup_lengths(max_train_steps: int, cfg: StabilityConfig | None = None) -> list[int]:
    """Warmup lengths across orders of magnitude (10, 100, 1000...), none over 10% of training.

    When 10% of max_train_steps is more than twice the largest power of ten below it, that 10%
    is tried too (rounded down to 2 significant digits), so the longest allowed warmup is there.

    Example:
        >>> warmup_lengths(7500), warmup_lengths(100_000)
        ([10, 100, 750], [10, 100, 1000, 10000])
    """
    cfg = cfg or StabilityConfig()
    cap = int(cfg.warmup_max_share * max_train_steps)
    out = [10**k for k in range(1, 12) if 10**k <= cap]
    if cap >= 10 and (not out or cap >= 2 * out[-1]):
        digits = 10 ** max(0, len(str(cap)) - 2)
        out.append(cap // digits * digits)
    return out
