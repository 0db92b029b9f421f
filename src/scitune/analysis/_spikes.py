"""Lucky evaluations: a score that is one evaluation far better than its neighbours (§5, §8).

A trial is scored by the best value of its objective over training (retrospective checkpoint
selection, §8). On a noisy curve that best can be one lucky evaluation: a trial crowned at dev
error 0.065 whose neighbours read 0.13 and 0.145 is not a better model, and ranking by that
point ranks luck. For every ranked trial this check asks whether the evaluation its score comes
from is a *spike*. In "lower is better" units (mirrored for a maximized objective), it is one
when both hold:

1. it stands more than ``spike_z`` standard deviations of the curve's noise below every
   evaluation within ``spike_neighbours`` on either side;
2. the curve is not simply heading there: the straight line through the two evaluations
   before it, and the one through the two after it (where a side has two), continued to its
   step, still stand more than half that gap above it. The bottom of a sharp V (a fast descent,
   then overfitting) or of a fall that steepens into it is where the curve's trend goes, not a
   spike.

A best at the first or the last evaluation is not judged: with one side only, a lucky point
cannot be told from a curve still moving that way (a decaying learning rate often steepens the
fall at the very end, and a curve moves fastest right after it starts).

The noise is one evaluation's standard deviation, read from step-to-step differences: their
mean absolute deviation from their median (a steady trend is not noise) times sqrt(pi)/2,
leaving out the two differences that touch the scored evaluation (a spike must not widen its
own yardstick). It is the larger of the curve's late noise, over the last ``late_window`` of
training (widened to the last :data:`NOISE_POINTS` evaluations where the second half of training
has them, so the early descent never counts), and the noise around the scored evaluation (the
:data:`NOISE_POINTS` evaluations centred on it: under a decaying learning rate the late curve is
calmer than the middle, where a best may sit), and never less than the curve's resolution, its
smallest non-zero step-to-step change away from the best (one example of a 400-example dev set
moves an error rate by 0.0025). A curve that moves nowhere else gives no yardstick: no spike.

Only ``select = "best"`` is judged: ``"smoothed"`` already scores a moving mean, and ``"final"``
the last evaluation whatever it is. The smoothed best shown beside each raw best is what
``select = "smoothed"`` scores (the study's ``smoothing``, else 5 evaluations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import CurveCheck, Finding, ScoreSpikes, SpikeCheck
from scitune.analysis._snapshot import StudySnapshot
from scitune.scoring import DEFAULT_SMOOTHING, moving_mean
from scitune.storage import Curve

__all__ = ["MIN_POINTS", "NOISE_POINTS", "SpikeRead", "read_spike", "score_spikes"]

FloatArray = npt.NDArray[np.float64]

MIN_POINTS = 5
"""Fewer finite evaluations than this: the curve is too short to judge."""
NOISE_POINTS = 15
"""Ours. The noise is read from at least this many evaluations, late and around the best. The
last 25% of a 30-evaluation curve (eight points) leaves the estimate loose: on pure noise, 5.0%
of trials would then read as a spike, against 3.6% with 15 (simulated, 10,000 curves of 30
evaluations, ``spike_z = 3.5``)."""

_SECTION = "§5 Extracting insight; §8 How long to train (retrospective checkpoint selection)"


@dataclass(frozen=True)
class SpikeRead:
    """One curve read for spikes, in the objective's own units (see the module docstring)."""

    raw_best: float
    raw_step: int
    smoothed_best: float
    smoothed_step: int
    neighbours: tuple[tuple[int, float], ...]  # (step, value) around the raw best
    noise: float | None  # the curve's noise sd; None: not judged (too short, or not "best")
    gap: float | None  # how far the raw best stands clear of its nearest neighbour (>= 0)
    heading: bool  # a side's straight-line continuation comes within half the gap of it
    spike: bool


def read_spike(
    curve: Curve,
    *,
    goal: str,
    max_train_steps: int,
    cfg: AnalysisConfig,
    smoothing: int = DEFAULT_SMOOTHING,
    judge: bool = True,
) -> SpikeRead | None:
    """Whether ``curve``'s best evaluation is a spike; ``None`` without a finite value.

    Example:
        >>> import numpy as np
        >>> settled = [0.2, 0.21, 0.19, 0.2, 0.21, 0.2, 0.19, 0.2, 0.21]
        >>> values = np.array([0.5, 0.3, 0.22, *settled, 0.08, *settled[::-1]])
        >>> c = Curve(np.arange(1, 23) * 100, values)
        >>> r = read_spike(c, goal="minimize", max_train_steps=2200, cfg=AnalysisConfig())
        >>> r.spike, r.raw_best, r.raw_step, r.neighbours, round(r.gap / r.noise, 1)
        (True, 0.08, 1300, ((1200, 0.21), (1400, 0.21)), 13.0)
    """
    ok = np.isfinite(curve.values)
    steps, values = curve.steps[ok], curve.values[ok].astype(np.float64)
    n = len(values)
    if n == 0:
        return None
    sign = 1.0 if goal == "minimize" else -1.0
    y = sign * values
    b = int(np.argmin(y))  # the first best, as the score takes it
    smooth = moving_mean(y, smoothing)
    s = int(np.argmin(smooth))
    k = cfg.spike_neighbours
    around = [j for j in range(b - k, b + k + 1) if j != b and 0 <= j < n]
    read: dict[str, Any] = dict(
        raw_best=float(values[b]),
        raw_step=int(steps[b]),
        smoothed_best=sign * float(smooth[s]),
        smoothed_step=int(steps[s]),
        neighbours=tuple((int(steps[j]), float(values[j])) for j in around),
    )
    if not judge or n < MIN_POINTS or b == 0 or b == n - 1:
        return SpikeRead(**read, noise=None, gap=None, heading=False, spike=False)
    noise = _noise(steps, y, b, max_train_steps, cfg.late_window)
    gap = float(min(y[j] for j in around) - y[b])
    continuations = []
    if b >= 2:
        continuations.append(2.0 * y[b - 1] - y[b - 2])
    if b <= n - 3:
        continuations.append(2.0 * y[b + 1] - y[b + 2])
    heading = any(c - y[b] <= gap / 2.0 for c in continuations)
    # A curve that never moves but at its best has no noise to measure a spike against.
    spike = noise > 0 and gap > cfg.spike_z * noise and not heading
    return SpikeRead(**read, noise=noise, gap=gap, heading=heading, spike=spike)


def _noise(
    steps: npt.NDArray[np.int64], y: FloatArray, best: int, horizon: int, late_window: float
) -> float:
    """One evaluation's noise sd: the larger of late and around the best, floored at resolution."""
    n = len(y)
    late = int(np.count_nonzero(steps >= (1.0 - late_window) * horizon))
    second_half = int(np.count_nonzero(steps >= 0.5 * horizon))
    start = n - max(late, min(second_half, NOISE_POINTS), min(n, MIN_POINTS))
    half = NOISE_POINTS // 2
    local = _sd(y, max(0, best - half), min(n, best + half + 1), best)
    moves = np.abs(np.diff(y))
    left = np.arange(n - 1)
    moves = moves[(moves > 0) & (left != best) & (left + 1 != best)]
    resolution = float(moves.min()) if moves.size else 0.0
    return max(_sd(y, start, n, best), local, resolution)


def _sd(y: FloatArray, lo: int, hi: int, best: int) -> float:
    """Noise sd of ``y[lo:hi]`` from its step-to-step differences, those touching ``best`` out."""
    d = np.diff(y[lo:hi])
    left = np.arange(lo, lo + len(d))  # d[i] joins evaluations left[i] and left[i] + 1
    d = d[(left != best) & (left + 1 != best)]
    if not d.size:
        return 0.0
    # For normal noise, E|d - median d| = sigma * sqrt(2) * sqrt(2 / pi) = sigma * 2 / sqrt(pi).
    return float(np.mean(np.abs(d - np.median(d)))) * math.sqrt(math.pi) / 2.0


def score_spikes(
    snap: StudySnapshot, cfg: AnalysisConfig, checks: Sequence[CurveCheck]
) -> tuple[ScoreSpikes | None, list[Finding]]:
    """Every ranked trial read for a spike; a ``score.spike`` warning per checked trial on one.

    ``checks`` are the curve-checked trials (the best few and the best of each scientific
    value: those that decide winners); their raw and smoothed bests are kept for renderers.
    Spikes among the other ranked trials are flagged in ``spiky`` and listed in one
    ``score.spike_others`` info finding.

    Returns:
        ``(None, [])`` without ranked trials; else the summary and the findings.
    """
    ranked = snap.ranked()
    if not ranked:
        return None, []
    spec = snap.spec
    metric, goal, select = spec.objective.metric, spec.objective.goal, spec.objective.select
    smoothing = spec.objective.smoothing or DEFAULT_SMOOTHING
    horizon = spec.budget.max_train_steps
    reads: dict[int, SpikeRead] = {}
    for t in ranked:
        curve = snap.curve(t, metric)
        if curve is None:
            continue
        read = read_spike(
            curve,
            goal=goal,
            max_train_steps=horizon,
            cfg=cfg,
            smoothing=smoothing,
            judge=select == "best",
        )
        if read is not None:
            reads[t.number] = read
    rank = {t.number: i + 1 for i, t in enumerate(ranked)}
    by_smoothed = sorted(reads, key=lambda n: (snap.sign * reads[n].smoothed_best, n))
    smoothed_rank = {n: i + 1 for i, n in enumerate(by_smoothed)}
    records = {
        n: SpikeCheck(
            trial=n,
            rank=rank[n],
            raw_best=r.raw_best,
            raw_step=r.raw_step,
            smoothed_best=r.smoothed_best,
            smoothed_step=r.smoothed_step,
            smoothed_rank=smoothed_rank[n],
            neighbours=r.neighbours,
            noise=r.noise,
            spike=r.spike,
        )
        for n, r in reads.items()
    }
    checked = [records[c.trial] for c in checks if c.trial in records]
    spiky = tuple(t.number for t in ranked if t.number in reads and reads[t.number].spike)
    summary = ScoreSpikes(select, smoothing, tuple(checked), spiky)
    base: dict[str, Any] = dict(metric=metric, goal=goal, ranked=len(reads), smoothing=smoothing)
    base.update(spike_z=cfg.spike_z, spike_neighbours=cfg.spike_neighbours)
    base.update(late_window=cfg.late_window, noise_points=NOISE_POINTS, defaults="ours")
    base["ours"] = ["spike_z", "spike_neighbours", "smoothing", "noise_points"]
    findings = [_finding(c, reads[c.trial], base) for c in checked if c.spike]
    seen = {c.trial for c in checked}
    others = [records[n] for n in spiky if n not in seen]
    if others:
        findings.append(_others(others, base))
    return summary, findings


def _finding(c: SpikeCheck, r: SpikeRead, base: dict[str, Any]) -> Finding:
    assert r.noise is not None and r.gap is not None  # judged: a spike
    below = "below" if base["goal"] == "minimize" else "above"
    gain = abs(c.smoothed_best - c.raw_best)
    n = base["ranked"]
    after = (
        f"it would still rank {_ordinal(c.smoothed_rank)} of {n}"
        if c.smoothed_rank == c.rank
        else f"it would rank {_ordinal(c.smoothed_rank)} of {n}, not {_ordinal(c.rank)}"
    )
    ranks = f" Ranked by smoothed bests, {after}." if n > 1 else ""
    k = base["spike_neighbours"]
    side = "the evaluation" if k == 1 else f"the {k} evaluations"
    message = (
        f"#{c.trial} scores {_g(c.raw_best)} at step {c.raw_step}, but {_neighbours(c)} and "
        f"its smoothed best is {_g(c.smoothed_best)} (step {c.smoothed_step}; a moving mean "
        f"over {base['smoothing']} evaluations): the score stands {_g(r.gap)} {below} its "
        f"nearest neighbour, {r.gap / r.noise:.1f} times the curve's noise (sd "
        f"{_g(r.noise)}), and the spike makes it {_g(gain)} better than the smoothed best."
        f"{ranks} A spike stands more than {base['spike_z']:g} sd clear of {side} on each "
        "side, where the curve's trend does not lead (ours)."
    )
    action = (
        f"Do not read #{c.trial}'s score as its configuration's quality: rerun it with new "
        "seeds (scitune reseed), cut the evaluation noise (more dev data, learning-rate decay, "
        'weight averaging), or score the next study with [objective] select = "smoothed" '
        f"(smoothing = {base['smoothing']})."
    )
    evidence = {
        **base,
        "trial": c.trial,
        "rank": c.rank,
        "raw_best": c.raw_best,
        "raw_step": c.raw_step,
        "neighbours": [{"step": s, "value": v} for s, v in c.neighbours],
        "gap": r.gap,
        "noise_sd": r.noise,
        "gap_in_sd": r.gap / r.noise,
        "smoothed_best": c.smoothed_best,
        "smoothed_step": c.smoothed_step,
        "spike_gain": gain,
        "smoothed_rank": c.smoothed_rank,
    }
    return Finding(
        "score.spike", "warning", message, action, _SECTION, evidence, f"trial {c.trial}"
    )


def _others(others: list[SpikeCheck], base: dict[str, Any]) -> Finding:
    items = "; ".join(
        f"#{c.trial} (rank {c.rank}: {_g(c.raw_best)} at step {c.raw_step}, smoothed best "
        f"{_g(c.smoothed_best)})"
        for c in others
    )
    message = (
        f"{len(others)} more ranked trial(s) score on a spike: {items}; a spike stands more "
        f"than {base['spike_z']:g} sd of its curve's noise clear of its neighbours (ours)."
    )
    action = "Their ranks owe something to luck: compare them on their smoothed bests."
    evidence = {
        **base,
        "trials": [
            {"trial": c.trial, "rank": c.rank, "raw_best": c.raw_best, "raw_step": c.raw_step}
            | {"smoothed_best": c.smoothed_best, "smoothed_rank": c.smoothed_rank}
            for c in others
        ],
    }
    return Finding(
        "score.spike_others", "info", message, action, _SECTION, evidence, base["metric"]
    )


def _neighbours(c: SpikeCheck) -> str:
    parts = [f"{_g(v)} (step {s})" for s, v in c.neighbours]
    if len(parts) == 1:
        return f"its neighbour reads {parts[0]}"
    return f"its neighbours read {', '.join(parts[:-1])} and {parts[-1]}"


def _g(x: float) -> str:
    return f"{x:.4g}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
