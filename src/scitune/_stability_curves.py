"""What the stability tools read from a trial, and whether its training loss went up (§9).

The playbook calls a learning rate unstable when training diverges or when "the loss goes up, not
down". Diverged (NaN, collapsed: an INFEASIBLE trial) is clear; "goes up" needs a number, which
the playbook does not give: :class:`StabilityConfig` names ours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scitune.analysis import StudySnapshot
from scitune.space import Value
from scitune.storage import Curve, TrialState

__all__ = ["Series", "StabilityConfig", "TrialRun", "Verdict", "assess", "loss_rise", "runs_of"]

_COMPLETE = TrialState.COMPLETE.value
_INFEASIBLE = TrialState.INFEASIBLE.value


@dataclass(frozen=True)
class StabilityConfig:
    """Every threshold of the stability tools. "§" marks the playbook's own numbers."""

    rise_share: float = 0.2
    """Ours. The loss 'went up' when, at some logged step, it sat above the lowest value it had
    reached by more than this share of the progress made until then (first value - lowest)."""
    min_progress: float = 0.05
    """Ours. Progress counts as at least this share of the first value, so noise before the loss
    has moved never reads as a rise."""
    smoothing_points: int = 50
    """Ours. A curve with more points is judged on moving means over len // this many points
    (per-step losses are noisy; interval means are not smoothed)."""
    fit_threshold: float = 0.0
    """§8: 'perfectly fit' the training set: training error 0 (configurable)."""
    loss_fit_threshold: float = 0.01
    """Ours. When no training error is logged, a training loss at or below this counts as fit."""
    lr_widen: float = 100.0
    """Ours. The LR sweep reaches this many times the study's highest learning rate."""
    per_decade: int = 3
    """Ours. LR sweep values per decade: 3 puts 4.6x and 10x lr* on the grid (§9: 5x, 10x)."""
    early_factor: float = 2.0
    """§9: the early-instability probe runs at 2x the best learning rate."""
    early_steps: int = 500
    """§9: for about 500 steps, evaluating every step."""
    base_lr_factor: float = 10.0
    """§9: warmup is swept at a base learning rate 10x the unstable one (100x optional)."""
    warmup_max_share: float = 0.1
    """§9: a warmup never longer than 10% of max_train_steps."""
    warmup_warn_share: float = 0.05
    """§9: a warmup longer than 5% of max_train_steps asks for more training steps."""
    post_warmup_factor: float = 2.0
    """§9: after the warmup, train at the constant rate for 2x warmup_steps."""


@dataclass(frozen=True)
class Series:
    """A logged metric: steps ascending, values as logged (NaN and inf kept)."""

    steps: tuple[int, ...]
    values: tuple[float, ...]

    @classmethod
    def of(cls, curve: Curve) -> Series:
        return cls(tuple(int(s) for s in curve.steps), tuple(float(v) for v in curve.values))

    def finite(self) -> Series:
        keep = [(s, v) for s, v in zip(self.steps, self.values, strict=True) if math.isfinite(v)]
        return Series(tuple(s for s, _ in keep), tuple(v for _, v in keep))

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class TrialRun:
    """One trial of a derived study: its parameters, outcome and curves."""

    number: int
    params: Mapping[str, Value]
    state: str
    reason: str | None = None
    score: float | None = None  # the objective, for ranked trials
    curves: Mapping[str, Series] = field(default_factory=dict)

    def number_param(self, name: str) -> float | None:
        value = self.params.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)


@dataclass(frozen=True)
class Verdict:
    """Whether a trial trained stably. ``stable`` is None when the trial says nothing (FAILED)."""

    stable: bool | None
    why: str
    rise: float | None = None  # the largest rise, as a share of the progress before it
    rise_step: int | None = None
    final_loss: float | None = None
    min_loss: float | None = None


def runs_of(snap: StudySnapshot) -> tuple[TrialRun, ...]:
    """The design's trials of a snapshot as :class:`TrialRun` records, in trial order."""
    out = []
    for t in sorted(snap.design().trials, key=lambda t: t.number):
        curves = {name: Series.of(c) for name, c in snap.curves.get(t.id, {}).items()}
        score = t.value if snap.is_ranked(t) and t.value is not None else None
        out.append(TrialRun(t.number, dict(t.params), t.state.value, t.reason, score, curves))
    return tuple(out)


def assess(run: TrialRun, metric: str, cfg: StabilityConfig) -> Verdict:
    """Did ``run``'s training loss (``metric``) go down and stay down?

    Unstable: the trial is INFEASIBLE (diverged or collapsed), its loss became NaN or infinite,
    it ended no lower than it started, or it rose by more than ``cfg.rise_share`` of the
    progress it had made (:func:`loss_rise`).
    """
    series = run.curves.get(metric, Series((), ()))
    finite = series.finite()
    final = finite.values[-1] if finite.values else None
    lowest = min(finite.values) if finite.values else None
    if run.state == _INFEASIBLE:
        why = f"infeasible: {run.reason or 'no reason recorded'}"
        return Verdict(False, why, final_loss=final, min_loss=lowest)
    if run.state != _COMPLETE:
        return Verdict(None, f"{run.state.lower()}: says nothing about stability", None)
    if len(finite) < 2:
        return Verdict(None, f"{metric} logged fewer than 2 times", final_loss=final)
    if len(finite) < len(series):
        bad = next(
            s for s, v in zip(series.steps, series.values, strict=True) if not math.isfinite(v)
        )
        return Verdict(False, f"{metric} became non-finite at step {bad}", None, bad, final, lowest)
    window = max(1, len(finite) // cfg.smoothing_points)
    smooth = _moving_mean(np.asarray(finite.values), window)
    steps = finite.steps[window - 1 :]
    rise, at = loss_rise(smooth, cfg.min_progress)
    rise_step = steps[at]
    if smooth[-1] >= smooth[0]:
        why = f"{metric} did not go down: {smooth[0]:.3g} at first, {smooth[-1]:.3g} at the end"
        return Verdict(False, why, rise, rise_step, final, lowest)
    if rise > cfg.rise_share:
        why = (
            f"{metric} went up: at step {rise_step} it had given back {rise:.0%} of the progress "
            f"made until then (more than {cfg.rise_share:.0%}, ours)"
        )
        return Verdict(False, why, rise, rise_step, final, lowest)
    why = f"{metric} went down ({smooth[0]:.3g} -> {smooth[-1]:.3g}; largest rise {rise:.0%})"
    return Verdict(True, why, rise, rise_step, final, lowest)


def loss_rise(values: np.ndarray, min_progress: float) -> tuple[float, int]:
    """The largest rise above the running minimum, as a share of the progress made before it.

    Progress at a step is (first value - lowest value so far), at least ``min_progress`` times
    the first value. Returns the share and the index where it happened.

    Example:
        >>> loss_rise(np.array([2.0, 1.0, 1.5, 0.5]), 0.05)
        (0.5, 2)
    """
    first = float(values[0])
    lowest = np.minimum.accumulate(values)
    progress = np.maximum(first - lowest, max(min_progress * abs(first), 1e-12))
    share = (values - lowest) / progress
    at = int(np.argmax(share))
    return float(share[at]), at


def _moving_mean(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1:
        return values.astype(float)
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")
