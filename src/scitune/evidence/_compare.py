"""Compare a candidate with a baseline across retrains: effect, interval, verdict (§6).

The playbook adopts a change only when it is better "accounting for the retrain variance of
both" and when the gain outweighs the complexity it adds; it names no test. scitune uses Welch's
t interval (``scipy.stats.ttest_ind(equal_var=False)``), which does not assume the two sides are
equally noisy, and adopts only when the whole interval clears the declared complexity cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from scitune.errors import EvidenceError

__all__ = ["MAX_SEEDS", "Comparison", "SampleSummary", "compare_samples", "summarize"]

FloatArray = npt.NDArray[np.float64]
Goal = Literal["minimize", "maximize"]
Verdict = Literal["adopt", "not enough evidence", "worse"]

MAX_SEEDS = 1000
"""Ours. Past this many seeds per side a difference is too small to be worth settling."""


@dataclass(frozen=True)
class SampleSummary:
    """One side of a comparison: its finite values and their mean, sd and standard error.

    ``std`` (ddof 1) and ``se`` are ``None`` with a single value: one run says nothing about
    how much a rerun would move.
    """

    label: str
    n: int
    mean: float
    std: float | None
    se: float | None
    values: tuple[float, ...]


@dataclass(frozen=True)
class Comparison:
    """A candidate against a baseline: how much better, how sure, and what to do.

    ``improvement`` is positive when the candidate is better, in metric units, whichever the
    goal. ``ci_low``/``ci_high`` bound it at ``confidence``. ``verdict`` is ``"adopt"`` iff
    ``ci_low > cost``, ``"worse"`` iff ``ci_high < 0``, else ``"not enough evidence"``, when
    ``seeds_needed`` (seeds per side) says how many runs would likely settle it, or ``None``
    when more seeds cannot help (the gain is under its cost) or the verdict is settled.
    ``reasons`` explain the verdict in sentences with the numbers.
    """

    baseline: SampleSummary
    candidate: SampleSummary
    metric: str
    goal: Goal
    improvement: float
    relative_improvement: float | None
    ci_low: float
    ci_high: float
    confidence: float
    method: str  # "welch", "known noise", or "none" (a single run without a noise estimate)
    p_better: float
    cost: float
    verdict: Verdict
    seeds_needed: int | None
    reasons: tuple[str, ...]


def summarize(values: Sequence[float], label: str) -> SampleSummary:
    """Mean, sd (ddof 1) and standard error of the finite ``values``.

    Raises:
        EvidenceError: no finite value.
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    kept = arr[np.isfinite(arr)]
    if kept.size == 0:
        got = "no values" if arr.size == 0 else f"only non-finite values {arr.tolist()}"
        raise EvidenceError(
            f"{label}: a sample needs at least one finite score, got {got}. "
            "Pass the scores of its completed runs."
        )
    n = int(kept.size)
    std = float(np.std(kept, ddof=1)) if n >= 2 else None
    se = std / math.sqrt(n) if std is not None else None
    return SampleSummary(label, n, float(np.mean(kept)), std, se, tuple(float(v) for v in kept))


def compare_samples(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    metric: str,
    goal: str,
    baseline_label: str = "baseline",
    candidate_label: str = "candidate",
    cost: float = 0.0,
    confidence: float = 0.95,
    noise_sd: float | None = None,
) -> Comparison:
    """Compare the scores of a candidate's runs with a baseline's (one score per seed).

    Args:
        baseline, candidate: final scores, one per run; NaN and inf are dropped (and said so).
        metric: the objective's name, for the reasons.
        goal: ``"minimize"`` or ``"maximize"``.
        cost: the declared complexity cost of the change, in metric units (>= 0): the smallest
            improvement worth adopting. With 0, "adopt" means significantly better.
        confidence: level of the interval, in (0, 1).
        noise_sd: the study's pooled retrain sd (:func:`~scitune.evidence.pooled_sd`), used
            when a side has a single run ("known noise", a normal interval).

    Raises:
        EvidenceError: an empty (or all non-finite) side, an unknown goal, a cost below 0, a
            confidence outside (0, 1) or a negative noise sd.

    Example:
        >>> c = compare_samples(
        ...     [0.112, 0.118, 0.115], [0.101, 0.104, 0.099], metric="dev_error", goal="minimize"
        ... )
        >>> c.verdict, round(c.improvement, 4), c.method
        ('adopt', 0.0137, 'welch')
        >>> compare_samples([0.112, 0.118], [0.111, 0.119], metric="dev_error",
        ...                 goal="minimize").verdict
        'not enough evidence'
    """
    direction = _check(goal, cost, confidence, noise_sd)
    base = summarize(baseline, baseline_label)
    cand = summarize(candidate, candidate_label)
    sign = -1.0 if direction == "minimize" else 1.0
    improvement = sign * (cand.mean - base.mean)
    relative = improvement / abs(base.mean) if base.mean != 0 else None
    reasons = _dropped(baseline, base) + _dropped(candidate, cand)
    better = "lower" if direction == "minimize" else "higher"
    reasons.append(
        f"{_observed(cand, base, improvement, metric)} ({_fmt(cand.mean)} vs {_fmt(base.mean)} "
        f"over {cand.n} vs {base.n} run{'s' if base.n != 1 else ''}; {better} is better)."
    )

    single = min(base.n, cand.n) == 1
    if single and noise_sd is None:
        reasons.append(
            "A side with a single run says nothing about retrain variance: reseed both sides "
            "(`scitune reseed`), or pass the study's pooled retrain sd as noise_sd."
        )
        return Comparison(
            base, cand, metric, direction, improvement, relative, -math.inf, math.inf,
            confidence, "none", math.nan, cost, "not enough evidence", None, tuple(reasons),
        )  # fmt: skip

    if single:
        assert noise_sd is not None
        method = "known noise"
        low, high, p_better, se = _known_noise(improvement, base.n, cand.n, noise_sd, confidence)
        how = f"normal interval with the study's retrain sd {_fmt(noise_sd)} on both sides"
    else:
        method = "welch"
        low, high, p_better, se = _welch(base, cand, direction, improvement, confidence)
        how = "Welch's t interval, each side with its own spread"
    reasons.append(
        f"{_pct(confidence)} confidence interval of the improvement: [{_fmt(low)}, "
        f"{_fmt(high)}] ({how}); probability the candidate is better: {_pct(p_better)}."
    )
    if se == 0:
        reasons.append("Both sides have zero spread, so the interval is a single point.")

    verdict: Verdict
    seeds: int | None = None
    if low > cost:
        verdict = "adopt"
        reasons.append(
            f"The whole interval lies above the declared cost {_fmt(cost)}: adopt."
            if cost > 0
            else "The whole interval lies above 0: the candidate is significantly better; adopt."
        )
    elif high < 0:
        verdict = "worse"
        reasons.append(
            "The whole interval lies below 0: the candidate is worse; keep the baseline."
        )
    else:
        verdict = "not enough evidence"
        reasons.append(
            f"The interval neither clears the declared cost {_fmt(cost)} nor lies below 0: "
            "not enough evidence to adopt."
            if cost > 0
            else "The interval includes 0: not enough evidence either way."
        )
        if cost > 0 and improvement <= cost:
            reasons.append(
                f"The observed gain {_fmt(improvement)} is at or under the declared cost "
                f"{_fmt(cost)} {metric}: even if real, the gain does not pay for its declared "
                "cost. More seeds cannot make it worth adopting; keep the baseline."
            )
        else:
            sd = noise_sd if method == "known noise" else _pooled(base, cand)
            assert sd is not None
            seeds = _seeds_needed(
                abs(improvement - cost), sd, confidence, method, min(base.n, cand.n)
            )
            if seeds is None:
                reasons.append(
                    f"Settling a difference of {_fmt(abs(improvement - cost))} at this noise "
                    f"(sd {_fmt(sd)}) would take more than {MAX_SEEDS} seeds per side: treat the "
                    "two as equivalent and keep the simpler one."
                )
            else:
                reasons.append(
                    f"About {seeds} seeds per side would likely settle it if the observed "
                    f"difference is real (retrain sd {_fmt(sd)})."
                )
    return Comparison(
        base, cand, metric, direction, improvement, relative, low, high, confidence, method,
        p_better, cost, verdict, seeds, tuple(reasons),
    )  # fmt: skip


def _check(goal: str, cost: float, confidence: float, noise_sd: float | None) -> Goal:
    if goal not in ("minimize", "maximize"):
        raise EvidenceError(f"goal must be 'minimize' or 'maximize', got {goal!r}.")
    if not (math.isfinite(cost) and cost >= 0):
        raise EvidenceError(
            f"cost is the smallest improvement worth adopting, in metric units, and must be a "
            f"finite number >= 0, got {cost!r}. Use 0 to adopt any significant gain."
        )
    if not (0 < confidence < 1):
        raise EvidenceError(f"confidence must lie in (0, 1), e.g. 0.95, got {confidence!r}.")
    if noise_sd is not None and not (math.isfinite(noise_sd) and noise_sd >= 0):
        raise EvidenceError(
            f"noise_sd is a retrain standard deviation and must be a finite number >= 0, got "
            f"{noise_sd!r}. Measure it with `scitune reseed`."
        )
    return cast(Goal, goal)


def _welch(
    base: SampleSummary, cand: SampleSummary, goal: Goal, improvement: float, confidence: float
) -> tuple[float, float, float, float]:
    """``(low, high, p_better, se)`` of the improvement from Welch's t-test."""
    from scipy import stats

    assert base.std is not None and cand.std is not None
    se = math.sqrt(base.std**2 / base.n + cand.std**2 / cand.n)
    if se == 0:
        return improvement, improvement, _step(improvement), 0.0
    # The first sample minus the second is the improvement: baseline - candidate when lower is
    # better, candidate - baseline when higher is.
    first, second = (base, cand) if goal == "minimize" else (cand, base)
    res = stats.ttest_ind(first.values, second.values, equal_var=False)
    ci = res.confidence_interval(confidence_level=confidence)
    p_better = float(stats.t.cdf(improvement / se, res.df))
    return float(ci.low), float(ci.high), p_better, se


def _known_noise(
    improvement: float, n_base: int, n_cand: int, sd: float, confidence: float
) -> tuple[float, float, float, float]:
    """``(low, high, p_better, se)`` from a normal approximation with a known retrain sd."""
    from scipy import stats

    se = sd * math.sqrt(1 / n_base + 1 / n_cand)
    if se == 0:
        return improvement, improvement, _step(improvement), 0.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p_better = float(stats.norm.cdf(improvement / se))
    return improvement - z * se, improvement + z * se, p_better, se


def _seeds_needed(gap: float, sd: float, confidence: float, method: str, have: int) -> int | None:
    """Seeds per side at which the interval's half-width (same method, spread ``sd``) < ``gap``.

    ``None`` when even :data:`MAX_SEEDS` would not do; at least one more than the smaller side
    has, since the current runs did not settle it.
    """
    from scipy import stats

    if gap <= 0:
        return None
    if sd == 0:
        return have + 1
    n = np.arange(1 if method == "known noise" else 2, MAX_SEEDS + 1)
    q = 0.5 + confidence / 2
    factor = stats.norm.ppf(q) if method == "known noise" else stats.t.ppf(q, 2 * n - 2)
    half = np.asarray(factor, dtype=np.float64) * sd * np.sqrt(2.0 / n)
    enough = np.flatnonzero(half < gap)
    if enough.size == 0:
        return None
    return max(int(n[enough[0]]), have + 1)


def _pooled(base: SampleSummary, cand: SampleSummary) -> float | None:
    """The two sides' sd pooled (df-weighted), the spread a balanced rerun would see."""
    if base.std is None or cand.std is None:
        return None
    dof = base.n + cand.n - 2
    return math.sqrt(((base.n - 1) * base.std**2 + (cand.n - 1) * cand.std**2) / dof)


def _step(improvement: float) -> float:
    return 1.0 if improvement > 0 else 0.0 if improvement < 0 else 0.5


def _dropped(raw: Sequence[float], kept: SampleSummary) -> list[str]:
    lost = len(raw) - kept.n
    if not lost:
        return []
    return [
        f"Dropped {lost} non-finite value{'s' if lost != 1 else ''} (NaN or inf) of "
        f"{_side(kept)}: {kept.n} run{'s remain' if kept.n != 1 else ' remains'}."
    ]


def _observed(cand: SampleSummary, base: SampleSummary, improvement: float, metric: str) -> str:
    if improvement > 0:
        return f"{_side(cand)} beats {_side(base)} by {_fmt(improvement)} {metric} on average"
    if improvement < 0:
        return f"{_side(cand)} trails {_side(base)} by {_fmt(-improvement)} {metric} on average"
    return f"{_side(cand)} and {_side(base)} have the same mean {metric}"


def _side(s: SampleSummary) -> str:
    return f"'{s.label}'"


def _pct(p: float) -> str:
    """A share as a percentage that never rounds a near-certainty to 100% (or 0%)."""
    if 0.99 < p < 1:
        return "> 99%"
    if 0 < p < 0.01:
        return "< 1%"
    return f"{100 * p:.3g}%"


def _fmt(x: float) -> str:
    return f"{x:.3g}"
