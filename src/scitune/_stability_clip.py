"""Where to clip gradients (§9 item 35), from the logged unclipped norms and a measured run.

Pure functions of ``analyze``'s results and :class:`~scitune._stability_curves.TrialRun`
records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scitune._stability_curves import TrialRun
from scitune.analysis import Analysis, Finding

__all__ = ["ClippingResult", "clipped_share", "clipping_result"]

SECTION_CLIP = "§9 Stability"


@dataclass(frozen=True)
class ClippingResult:
    """λ at the 90th percentile of the logged unclipped norms, and how much it would clip."""

    metric: str
    threshold: float  # λ
    percentile: float
    trial: int  # whose norms λ comes from
    norms: tuple[float, ...]  # that trial's finite logged norms (the histogram)
    interval: int | None
    clipped_fraction: Mapping[int, float]  # per checked trial: logged norms above λ
    user_threshold: float | None
    user_fraction: float | None  # share of the logged norms above the user's threshold
    measured: Mapping[int, float]  # trial -> share of updates clipped (a run with clipping)
    findings: tuple[Finding, ...]


def clipped_share(run: TrialRun) -> float | None:
    """The share of all updates clipped, from ``clipped_share`` per interval or ``clipped``.

    ``clipped_share`` (the interval's share) is weighted by each interval's length; ``clipped``
    (whether the logged step clipped) is a sample unless the trial logs every step.
    """
    shares = run.curves.get("clipped_share")
    if shares is not None and len(shares.finite()):
        finite = shares.finite()
        lengths = np.diff(np.asarray((0, *finite.steps)))
        return float(np.sum(np.asarray(finite.values) * lengths) / max(1, np.sum(lengths)))
    flags = run.curves.get("clipped")
    if flags is not None and len(flags.finite()):
        return float(np.mean(flags.finite().values))
    return None


def clipping_result(
    analysis: Analysis,
    norms: Sequence[float],
    *,
    user_threshold: float | None = None,
    measured: Mapping[int, float] | None = None,
    aggressive: float = 0.5,
) -> ClippingResult | None:
    """Clipping advice from ``analyze``'s gradient-norm summary; ``None`` without norms.

    ``norms`` are the reference trial's logged norms (``analysis.grad_norm``'s trial);
    ``measured`` the share of updates a run with clipping at λ really clipped.
    """
    summary = analysis.grad_norm
    if summary is None:
        return None
    finding = next(f for f in analysis.findings if f.code == "gradnorm.clip_threshold")
    ref = int(finding.evidence["trial"])
    interval = finding.evidence.get("logging_interval")
    lam = summary.threshold
    finite = np.asarray([v for v in norms if math.isfinite(v)], dtype=float)
    user_fraction = (
        float(np.mean(finite > user_threshold))
        if user_threshold is not None and finite.size
        else None
    )
    measured = dict(measured or {})
    findings = [
        Finding(
            "clipping.threshold",
            "info",
            f"λ = {lam:.4g}: the {summary.percentile:g}th percentile of trial #{ref}'s "
            f"{finite.size} logged unclipped gradient norms; it clips "
            f"{summary.clipped_fraction.get(ref, 0.0):.0%} of them"
            + (f" (logged every {interval} steps: an estimate)" if interval else "")
            + ".",
            f"If training is unstable, clip the global gradient norm at {lam:.4g} "
            "(grad_clip); keep logging the unclipped norm.",
            SECTION_CLIP,
            {
                "threshold": lam,
                "trial": ref,
                "logged": int(finite.size),
                "clipped_fraction": dict(summary.clipped_fraction),
            },
        )
    ]
    heavy: dict[str, float] = {}
    if user_fraction is not None and user_threshold is not None and user_fraction > aggressive:
        heavy[f"your threshold {user_threshold:g}"] = user_fraction
    heavy |= {f"measured, trial #{n}": f for n, f in measured.items() if f > aggressive}
    for f in analysis.findings:
        if f.code == "gradnorm.clip_aggressive":
            for e in f.evidence.get("trials", []):
                heavy[f"trial #{e['trial']} at {e['param']} = {e['threshold']:g}"] = e["fraction"]
    if heavy:
        listed = "; ".join(f"{k}: {v:.0%}" for k, v in heavy.items())
        findings.append(
            Finding(
                "clipping.aggressive",
                "warning",
                f"Clipping would touch more than {aggressive:.0%} of the updates ({listed}): "
                "that is extremely aggressive (§9).",
                "Lower the learning rate instead of clipping this hard.",
                SECTION_CLIP,
                {"fractions": heavy, "limit": aggressive},
            )
        )
    for n, share in measured.items():
        findings.append(
            Finding(
                "clipping.measured",
                "info",
                f"Run with clipping at λ = {lam:.4g} (trial #{n}): {share:.1%} of its updates "
                "were clipped.",
                "Keep λ if that share is small and training is stable; above "
                f"{aggressive:.0%}, lower the learning rate instead.",
                SECTION_CLIP,
                {"trial": n, "share": share, "threshold": lam},
            )
        )
    return ClippingResult(
        summary.metric,
        lam,
        summary.percentile,
        ref,
        tuple(float(v) for v in finite),
        int(interval) if isinstance(interval, int) else None,
        dict(summary.clipped_fraction),
        user_threshold,
        user_fraction,
        measured,
        tuple(findings),
    )
