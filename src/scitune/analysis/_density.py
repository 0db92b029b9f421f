"""Sampling density: how many trials land near the best, and the best-of-k bootstrap (figure 3).

The playbook gives no rule for "enough trials" (§4, §5); it shows the bootstrap of the best score
among k trials against k. When the curve is still falling at k = n, more trials of the same
search would likely still change the winner.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.analysis._axes import fmt
from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import BestOfK, Finding
from scitune.analysis._snapshot import StudySnapshot

__all__ = ["best_of_k_quantiles", "density"]

SECTION = "§4 Quasi-random search (figure 3); §5 Extracting insight"
_MIN_RANKED = 4  # ours: below this a bootstrap of the best says nothing
_CHUNK = 1 << 22  # bootstrap values held at once (32 MiB of float64): bounds memory, not results
_QUANTILES = (0.25, 0.5, 0.75)
_ZERO = 1e-12  # numerical guard: a best this close to 0 gives no scale for a relative tolerance

FloatArray = npt.NDArray[np.float64]


def density(snap: StudySnapshot, cfg: AnalysisConfig) -> tuple[BestOfK | None, list[Finding]]:
    """The near-best count and the best-of-k curve with its verdict.

    Returns ``(None, findings)`` when fewer than 4 trials are ranked.
    """
    ranked = [t for t in snap.ranked() if t.value is not None and math.isfinite(t.value)]
    findings: list[Finding] = []
    if ranked:
        findings.append(_near_best(snap, [float(t.value or 0.0) for t in ranked], cfg))
    if len(ranked) < _MIN_RANKED:
        findings.append(_too_few(len(ranked)))
        return None, findings
    ids = {t.id for t in ranked}
    finished = snap.finished()
    # Non-ranked finished trials (infeasible, failed, breaking a constraint) draw "no score".
    population = np.array(
        [snap.sign * t.value if t.id in ids and t.value is not None else np.inf for t in finished]
    )
    q = best_of_k_quantiles(population, cfg.bootstrap_samples, cfg.seed)
    if snap.sign < 0:  # back to the metric's units: the 25th of sign*score is the 75th of score
        q = -q[::-1]
    result = BestOfK(
        k=tuple(range(1, population.size + 1)),
        median=tuple(q[1].tolist()),
        q25=tuple(q[0].tolist()),
        q75=tuple(q[2].tolist()),
        observed_best=float(ranked[0].value or 0.0),
        n=int(population.size),
    )
    scores = np.array([t.value for t in ranked], dtype=np.float64)
    findings.append(_verdict(snap, result, scores, cfg))
    return result, findings


def best_of_k_quantiles(population: FloatArray, samples: int, seed: int) -> FloatArray:
    """Quartiles of ``min`` over k draws with replacement, for every k = 1..n: shape ``(3, n)``.

    ``population`` holds lower-is-better values, ``inf`` for a trial without a score. Row b of
    the conceptual ``(samples, n)`` index matrix is one bootstrap sequence; its running minimum
    gives the best of its first k draws for every k at once. Columns are processed in chunks
    carrying the running minimum, so memory stays bounded for any n. A quantile that falls on
    draws without a score is NaN.
    """
    population = np.asarray(population, dtype=np.float64)
    n = population.size
    out = np.empty((3, n), dtype=np.float64)
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    running = np.full((samples, 1), np.inf)
    width = max(1, _CHUNK // max(samples, 1))
    for start in range(0, n, width):
        stop = min(n, start + width)
        draws = population[rng.integers(0, n, size=(samples, stop - start))]
        np.minimum(draws[:, :1], running, out=draws[:, :1])
        np.minimum.accumulate(draws, axis=1, out=draws)
        running = draws[:, -1:].copy()
        with np.errstate(invalid="ignore"):  # inf - inf while interpolating: no score, NaN
            out[:, start:stop] = np.quantile(draws, _QUANTILES, axis=0)
    out[~np.isfinite(out)] = np.nan
    return out


def _near_best(snap: StudySnapshot, scores: list[float], cfg: AnalysisConfig) -> Finding:
    best = scores[0]
    # Relative to |best|; a best of (almost) exactly 0 has no scale, so the tolerance is absolute.
    absolute = abs(best) < _ZERO
    tol = cfg.near_best_tolerance * (1.0 if absolute else abs(best))
    near = sum(snap.sign * (s - best) <= tol for s in scores)
    metric = snap.spec.objective.metric
    bound = best + snap.sign * tol
    kind = f"{fmt(tol)} (absolute: the best is 0)" if absolute else f"{cfg.near_best_tolerance:.0%}"
    message = (
        f"{near} of {len(scores)} ranked trials scored within {kind} of the best {metric} "
        f"{fmt(best)} ({'<=' if snap.sign > 0 else '>='} {fmt(bound)})."
    )
    if near <= 1:
        action = (
            "Only the best trial is in the good region: it is sampled thinly, so its exact "
            "setting is luck. Look at the axis plots; more trials or a narrower range would help."
        )
    else:
        action = "Look at the axis plots to see where the near-best trials sit."
    return Finding(
        "density.near_best",
        "info",
        message,
        action,
        SECTION,
        {
            "n_near_best": near,
            "n_ranked": len(scores),
            "best": best,
            "bound": bound,
            "near_best_tolerance": cfg.near_best_tolerance,
            "tolerance_kind": "absolute" if absolute else "relative",
            "defaults": "ours",
        },
    )


def _too_few(n_ranked: int) -> Finding:
    return Finding(
        "density.too_few",
        "warning",
        f"Only {n_ranked} ranked trial{'s' if n_ranked != 1 else ''}: too few to judge "
        "sampling density or whether more trials would change the winner.",
        "Raise budget.trials and run the study again: the sequence continues, nothing is redrawn.",
        SECTION,
        {"n_ranked": n_ranked, "min_ranked": _MIN_RANKED, "defaults": "ours"},
    )


def _verdict(
    snap: StudySnapshot, curve: BestOfK, scores: FloatArray, cfg: AnalysisConfig
) -> Finding:
    n = curve.n
    half = math.ceil(n / 2)
    med_n, med_half = curve.median[n - 1], curve.median[half - 1]
    q25, q75 = np.quantile(scores, [0.25, 0.75])
    iqr = float(q75 - q25)
    threshold = cfg.more_trials_gain * iqr
    # A NaN median at n/2 means most draws of n/2 trials had no score at all: still improving.
    gain = abs(med_n - med_half) if math.isfinite(med_n) and math.isfinite(med_half) else None
    more = gain is None or gain > threshold
    metric = snap.spec.objective.metric
    evidence: dict[str, Any] = {
        "n_finished": n,
        "n_ranked": int(scores.size),
        "k_half": half,
        "median_best_at_n": _json(med_n),
        "median_best_at_half": _json(med_half),
        "gain": gain,
        "score_iqr": iqr,
        "threshold": threshold,
        "more_trials_gain": cfg.more_trials_gain,
        "bootstrap_samples": cfg.bootstrap_samples,
        "seed": cfg.seed,
        "defaults": "ours",
    }
    moved = (
        f"from {half} to {n} trials the median best {metric} moved from {fmt(_json(med_half))} "
        f"to {fmt(_json(med_n))}"
    )
    versus = f"{cfg.more_trials_gain:g} x the interquartile range of scores ({fmt(iqr)})"
    if gain is None:  # no median to compare: most draws of k trials hold no scored trial
        undefined = half if not math.isfinite(med_half) else n
        text = (
            f"The best-of-k curve has not settled: most draws of {undefined} of the {n} finished "
            f"trials hold no ranked trial, so the median best {metric} at k = {undefined} is "
            "undefined. More trials would likely change the winner."
        )
    else:
        text = (
            f"The best-of-k curve has not flattened: {moved}, more than {versus}. More trials "
            "would likely change the winner."
        )
    if more:
        return Finding(
            "density.more_trials",
            "warning",
            text,
            "Raise budget.trials (e.g. double it) and run the study again: the sequence "
            "continues, nothing is redrawn.",
            SECTION,
            evidence,
        )
    return Finding(
        "density.flattened",
        "info",
        f"The best-of-k curve has flattened: {moved}, within {versus}. More trials of this "
        "search are unlikely to change the winner.",
        "No more trials needed for this search space; the variance between reruns of the best "
        "trial matters more now (§6).",
        SECTION,
        evidence,
    )


def _json(x: float) -> float | None:
    return x if math.isfinite(x) else None
