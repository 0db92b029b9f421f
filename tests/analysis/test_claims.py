"""Every finding's claim, recomputed from the raw curves it was given (hypothesis).

A message may state only what its numbers show. For each check, hypothesis draws curves (decay,
overfitting creep, plateau, noise, maximize or minimize, irregular steps, NaN), runs the check,
and recomputes every claim of every finding that fired with code written here, independently of
the implementation: "within X% from step S" means every later smoothed point is within X% of the
best; "trend worse, t = T" means a least-squares line through those raw points has that t, past
the critical value; "never better than chance" means no evaluation is; "settled" means the
winner's bootstrap share is at or above the threshold; "still falling" means the exact best-of-k
median moved by more than the threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from scipy import stats

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._curves import (
    _NAMES,
    CURVE_CODES,
    MIN_POINTS,
    MIN_WINDOW_POINTS,
    curve_findings,
)
from scitune.analysis._density import density
from scitune.analysis._results import Finding
from scitune.evidence import config_variance, study_variance, variance_findings
from scitune.spec import StudySpec
from scitune.storage import Curve, TrialState
from tests.analysis.curve_helpers import snapshot, study_spec, trial
from tests.analysis.helpers import make_spec, make_trial
from tests.analysis.helpers import snapshot as scored_snapshot

CFG = AnalysisConfig()
MAX = 1000
EPS = 1e-9
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


# --- reference computations, written apart from the implementation ------------------------------


def ref_smooth(x: np.ndarray, y: np.ndarray, width: float) -> np.ndarray:
    """Moving mean over a window ``width`` wide centred on each point, clamped inside the curve."""
    out = np.empty_like(y)
    for i in range(len(x)):
        start = min(max(x[i] - width / 2, x[0]), max(x[-1] - width, x[0]))
        inside = [j for j in range(len(x)) if start <= x[j] <= start + width * (1 + 1e-9)]
        if not inside:  # a gap wider than the window: the next point stands alone
            inside = [next(j for j in range(len(x)) if x[j] >= start)]
        out[i] = sum(y[j] for j in inside) / len(inside)
    return out


def ref_t(x: np.ndarray, y: np.ndarray) -> float:
    """The t-statistic of the slope of a least-squares line (numpy's polyfit covariance)."""
    if len(x) < 3:
        return math.nan
    (slope, _), cov = np.polyfit(x, y, 1, cov="unscaled")
    resid = y - np.polyval([slope, _], x)
    s2 = float(resid @ resid) / (len(x) - 2)
    scale = max(float(np.max(np.abs(y))), 1e-300)
    s2 = max(s2, (1e-12 * scale) ** 2)
    return float(slope / math.sqrt(s2 * cov[0, 0]))


def ref_critical(z: float, points: int) -> float:
    return float(stats.t.isf(stats.norm.sf(z), points - 2))


def finite(c: Curve, sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = np.isfinite(c.values)
    steps = c.steps[ok]
    return steps, steps / MAX, sign * c.values[ok]


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


# --- curves hypothesis draws ------------------------------------------------------------------


@st.composite
def curves(draw: st.DrawFn) -> dict[str, Any]:
    """A dev curve (and maybe a training loss) with a shape from the playbook's pathologies."""
    n = draw(st.integers(MIN_POINTS, 90))
    if draw(st.booleans()):
        steps = np.round(np.linspace(MAX / n, MAX, n)).astype(np.int64)
    else:  # irregular evaluation steps, maybe ending early
        end = draw(st.sampled_from([MAX, MAX, 700, 400]))
        picked = draw(st.lists(st.integers(0, end), min_size=n, max_size=n, unique=True))
        steps = np.array(sorted(picked), dtype=np.int64)
    x = steps / MAX
    floor = draw(st.floats(0.01, 1.0))
    amp = draw(st.floats(0.0, 2.0))
    tau = draw(st.floats(0.005, 0.6))
    creep = draw(st.floats(-0.5, 0.5)) * floor
    creep_from = draw(st.floats(0.0, 1.0))
    noise = draw(st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.15])) * floor
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = floor + amp * np.exp(-x / tau) + creep * np.maximum(x - creep_from, 0)
    y = y + rng.normal(0, noise, n) if noise else y
    if draw(st.booleans()):
        y[rng.integers(0, n)] = np.nan
    maximize = draw(st.booleans())
    dev = Curve(steps, (1.0 - y) if maximize else y)
    out: dict[str, Any] = {"dev": dev, "maximize": maximize}
    if draw(st.booleans()):
        rise = draw(st.floats(-0.2, 3.0))
        train = 2.0 * np.exp(-x / 0.05) + 0.05 + rise * np.maximum(x - 0.5, 0)
        train = train * (1 + rng.normal(0, draw(st.sampled_from([0.0, 0.02])), n))
        out["train"] = Curve(steps, train)
    return out


def run_checks(
    drawn: dict[str, Any], cfg: AnalysisConfig = CFG, *, chance: float | None = None
) -> tuple[StudySpec, dict[str, Finding]]:
    kw: dict[str, Any] = {"metric": "dev_accuracy", "goal": "maximize"} if drawn["maximize"] else {}
    spec = study_spec(max_steps=MAX, **kw)
    if chance is not None:
        data = spec.to_dict()
        data["objective"]["chance"] = chance
        spec = StudySpec.from_dict(data)
    curves = {spec.objective.metric: drawn["dev"]}
    if "train" in drawn:
        curves["train_loss"] = drawn["train"]
    t = trial(0, curves, spec)
    assume(t[0].value is not None)
    _, findings = curve_findings(snapshot(spec, [t]), cfg)
    return spec, {f.code: f for f in findings}


# --- the curve checks -------------------------------------------------------------------------


@FAST
@given(curves())
def test_every_curve_claim_holds_on_the_raw_curves(drawn: dict[str, Any]) -> None:
    _, found = run_checks(drawn)
    sign = -1.0 if drawn["maximize"] else 1.0
    steps, x, y = finite(drawn["dev"], sign)
    s = ref_smooth(x, y, CFG.curve_smoothing) if len(x) else y
    lw = CFG.late_window
    for code, f in found.items():
        event(code)  # --hypothesis-show-statistics: how often each claim was checked
        for e in f.evidence.get("trials", ()):
            if code == "curves.overfitting":
                i = int(np.flatnonzero(steps == e["best_step"])[0])
                assert close(s[i], s.min())  # "its best (smoothed)"
                assert close(sign * s[i], e["best_smoothed"])
                assert close(sign * s[-1], e["final_smoothed"])
                rise = (s[-1] - s[i]) / abs(s[i])
                assert close(rise, e["relative_rise"]) and rise > CFG.overfit_tolerance
                t = ref_t(x[i:], y[i:])
                assert e["trend_points"] == len(x) - i
                assert close(t, e["trend_t"], 1e-5)
                assert t > ref_critical(CFG.curve_noise_z, len(x) - i)
                assert f"{rise:.1%} worse" in f.message and f"t = {t:.1f}" in f.message
                assert f"best {sign * s[i]:.4g} at step {e['best_step']}" in f.message
            elif code == "curves.still_improving":
                i0 = int(np.flatnonzero(steps == e["window_start_step"])[0])
                p0 = int(np.flatnonzero(steps == e["before_start_step"])[0])
                assert x[i0] >= 1 - lw and (i0 == 0 or x[i0 - 1] < 1 - lw)
                assert x[p0] >= 1 - 2 * lw and (p0 == 0 or x[p0 - 1] < 1 - 2 * lw)
                before, late = y[p0:i0], y[i0:]
                assert e["before_points"] == len(before) and e["late_points"] == len(late)
                assert close(sign * before.mean(), e["before_mean"])
                assert close(sign * late.mean(), e["late_mean"])
                gain = (before.mean() - late.mean()) / abs(before.mean())
                assert close(gain, e["relative_gain"]) and gain > CFG.improving_threshold
                sd = np.std(np.diff(y[p0:]), ddof=1) / np.sqrt(2)
                assert close(sd, e["noise_sd"])
                z = (before.mean() - late.mean()) / (sd * np.sqrt(1 / len(before) + 1 / len(late)))
                assert z > CFG.improving_z and close(z, e["z"], 1e-5)
                assert y[steps == e["best_step"]][0] == y.min()  # "best point at step"
                assert e["best_step"] >= (1 - lw) * MAX
                assert f"{gain:.1%} better" in f.message and f"z = {z:.1f}" in f.message
            elif code == "curves.saturated":
                first = int(np.flatnonzero(steps == e["reached_step"])[0])
                assert x[-1] > 1 - lw  # the curve reaches the end of training
                assert x[first] < CFG.saturation_fraction
                best = s.min()
                assert close(sign * best, e["best_smoothed"])
                # "from step S to the end every smoothed point is within X% of its best"
                late_y = y[x >= CFG.saturation_fraction]
                sd = np.std(np.diff(late_y), ddof=1) / np.sqrt(2) if len(late_y) >= 3 else 0.0
                d = np.abs(np.diff(y))
                d = d[d > 1e-9 * max(np.abs(y).max(), 1e-300)]
                step = min(
                    d.min() if d.size else 0.0, 0.25 * abs(best) / CFG.saturation_resolution_k
                )
                band = max(
                    CFG.saturation_tolerance * abs(best),
                    CFG.saturation_noise_k * sd,
                    CFG.saturation_resolution_k * step,
                )
                assert close(band, e["band"])
                assert np.all(s[first:] - best <= band + EPS)
                assert f"within {band:.3g} of its best" in f.message
                assert close(sign * s[first:].max(), e["worst_after_smoothed"])
                assert f"from step {e['reached_step']}" in f.message
            elif code == "curves.late_noise":
                late = y[x >= 1 - lw]
                d = np.diff(late)
                ratio = np.median(np.abs(d - np.median(d))) / np.median(np.abs(late))
                assert len(late) >= MIN_WINDOW_POINTS and e["points"] == len(late)
                assert close(ratio, e["noise_ratio"]) and ratio > CFG.late_noise_threshold
                assert f"{ratio:.1%}" in f.message
    if "curves.train_loss_rising" in found:
        f = found["curves.train_loss_rising"]
        (e,) = f.evidence["trials"]
        tsteps, tx, ty = finite(drawn["train"], 1.0)
        ts = ref_smooth(tx, ty, CFG.curve_smoothing)
        i = int(np.flatnonzero(tsteps == e["min_step"])[0])
        assert close(ts[i], ts.min()) and close(ts[-1], e["final_smoothed"])
        rise = (ts[-1] - ts[i]) / abs(ts[i])
        assert rise > CFG.train_rise_threshold and close(rise, e["relative_rise"])
        i0 = int(np.flatnonzero(tsteps == e["window_start_step"])[0])
        assert ts[-1] > ts[i0]  # "and over the last 25% of training"
        t = ref_t(tx[i:], ty[i:])
        assert close(t, e["trend_t"], 1e-5) and t > ref_critical(CFG.curve_noise_z, len(tx) - i)
    if "curves.skipped" in found:
        for item in found["curves.skipped"].evidence["skipped"]:
            reason = item["reason"]
            if "finite dev" in reason and "needs" in reason:
                assert len(x) < MIN_POINTS
            if "in the last" in reason and "needs" in reason:
                assert np.sum(x >= 1 - lw) < MIN_WINDOW_POINTS
            if " ends at step " in reason:
                assert x[-1] <= 1 - lw


@FAST
@given(curves())
def test_curves_ok_is_claimed_only_when_nothing_fired_and_something_ran(
    drawn: dict[str, Any],
) -> None:
    _, found = run_checks(drawn)
    if "curves.ok" in found:
        assert set(found) <= {"curves.ok", "curves.skipped"}
        ran = found["curves.ok"].evidence["ran"]
        assert any(ran[code] for code in CURVE_CODES)
        for code, trials in ran.items():
            assert f"{_NAMES[code]} on #0" in found["curves.ok"].message or not trials


# --- divergence and no learning ---------------------------------------------------------------


@st.composite
def runs(draw: st.DrawFn) -> dict[str, Any]:
    """A dev error curve and a training loss: learning, flat at chance, or exploding."""
    n = draw(st.integers(2, 30))
    start = draw(st.sampled_from([0, 0, 10, 300]))
    steps = np.unique(np.round(np.linspace(start, MAX, n)).astype(np.int64))
    x = steps / MAX
    chance = 0.9
    learn = draw(st.floats(0.0, 1.0))
    dev = chance - learn * 0.8 * (1 - np.exp(-x / 0.1))
    dev = dev + np.random.default_rng(draw(st.integers(0, 999))).normal(0, 0.01, len(x))
    blow = draw(st.sampled_from([0.0, 0.5, 2.0, 5.0, 100.0]))
    train = 2.3 * np.exp(-x / 0.2) + blow * x
    return {"dev": Curve(steps, dev), "train": Curve(steps, train)}


@FAST
@given(runs(), st.sampled_from([None, 0.9]))
def test_divergence_and_no_learning_claims_hold(
    drawn: dict[str, Any], chance: float | None
) -> None:
    spec = study_spec(max_steps=MAX)
    if chance is not None:
        data = spec.to_dict()
        data["objective"]["chance"] = chance
        spec = StudySpec.from_dict(data)
    t = trial(0, {"dev_error": drawn["dev"], "train_loss": drawn["train"]}, spec)
    _, findings = curve_findings(snapshot(spec, [t]), CFG)
    found = {f.code: f for f in findings}
    for code in found:
        event(code)
    if "curves.diverged" in found:
        f = found["curves.diverged"]
        (e,) = f.evidence["trials"]
        tsteps, _, ty = finite(drawn["train"], 1.0)
        tail = ty[tsteps >= tsteps[-1] - CFG.curve_smoothing * MAX]
        end = float(np.median(tail))
        assert end - ty[0] > CFG.diverged_loss_rise * abs(ty[0])
        assert close(e["loss"]["end_value"], end) and e["loss"]["first_step"] == tsteps[0]
        assert f.severity == "warning" and "scores are not results" in f.message
    if "curves.no_learning" in found:
        f = found["curves.no_learning"]
        (e,) = f.evidence["trials"]
        steps, _, y = finite(drawn["dev"], 1.0)
        ref = chance if chance is not None else float(y[0])
        if chance is None:
            assert steps[0] <= CFG.chance_first_eval * MAX
            assert "estimated" in e["chance_source"]
        # "never got better than chance by more than 5% of it": no evaluation is.
        assert np.all(ref - y <= CFG.chance_tolerance * abs(ref) + EPS)
        assert close(e["chance"], ref) and close(e["best"], float(y.min()))
        assert "1 of 1 completed trials" in f.message
    skipped = found.get("curves.skipped")
    reasons = [s for s in skipped.evidence["skipped"]] if skipped else []
    if chance is None and drawn["dev"].steps[0] > CFG.chance_first_eval * MAX:
        assert "curves.no_learning" not in found
        assert any(s["check"] == "curves.no_learning" for s in reasons)


# --- variance.study ---------------------------------------------------------------------------


@st.composite
def designs(draw: st.DrawFn) -> list[float]:
    n = draw(st.integers(3, 12))
    return draw(st.lists(st.floats(0.05, 0.5), min_size=n, max_size=n))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(designs(), st.sampled_from([None, 0.005, 0.02]), st.sampled_from([0.5, 0.9]))
def test_variance_study_says_settled_only_at_or_above_the_share(
    values: list[float], noise: float | None, share: float
) -> None:
    drops = (0.0, 0.1, 0.3)
    trials = [
        make_trial(
            i,
            {"dropout": drops[i % 3], "learning_rate": 0.01 * (i + 1), "weight_decay": 1e-4},
            value=v,
            slot=f'{{"dropout": {drops[i % 3]}}}',
        )
        for i, v in enumerate(values)
    ]
    snap = scored_snapshot(make_spec(), trials)
    sv = study_variance(snap, samples=300, seed=0, noise_sd=noise)
    assert sv is not None
    cfg = AnalysisConfig(variance_winner_share=share)
    (f,) = [f for f in variance_findings(snap, config_variance(snap), sv, cfg) if "study" in f.code]
    # Recompute the winner's shares by counting the redraws again, with the same draws.
    rng = np.random.default_rng(0)
    ranked = snap.ranked()
    rank = {t.number: i for i, t in enumerate(ranked)}
    cells: dict[str, list[int]] = {}
    for t in snap.trials:
        cells.setdefault(t.slot, []).append(rank[t.number])
    drawn = np.concatenate(
        [np.asarray(r)[rng.integers(0, len(r), (300, len(r)))] for r in cells.values()], axis=1
    )
    if noise:
        keys = np.array([t.value for t in ranked])[drawn] + rng.normal(0, noise, drawn.shape)
        best = drawn[np.arange(300), np.argmin(keys, axis=1)]
    else:
        best = drawn.min(axis=1)
    winner_value = ranked[0].params["dropout"]
    value_share = float(np.mean([ranked[b].params["dropout"] == winner_value for b in best]))
    judged = {f"dropout={winner_value:g}": value_share}
    if noise:
        with_winner = (drawn == 0).any(axis=1)
        judged[f"#{ranked[0].number}"] = float(np.mean(best[with_winner] == 0))
    assert f.evidence["judged"] == pytest.approx(judged)
    settled = "does not hinge on the draw" in f.message
    assert settled == all(v >= share for v in judged.values())
    assert (f.severity == "info") == settled
    for label, v in judged.items():
        shown = f"{v:.0%}" if (v < share) == (round(v, 2) < share) else f"{v:.1%}"
        said = f"the winner {label} wins {shown}" if label.startswith("#") else f"{label} is best"
        assert said in f.message and shown in f.message
        if v < share:
            assert f"{label} {shown}" in f.message.rsplit("Below", 1)[-1]


# --- density / best of k ----------------------------------------------------------------------


def exact_median_best(population: np.ndarray, k: int, q: float) -> float:
    """The q-quantile of the best (min) of k draws with replacement, exactly (no bootstrap)."""
    values = np.sort(population)
    cdf_one = np.arange(1, len(values) + 1) / len(values)  # P(a draw <= values[j])
    cdf_min = 1 - (1 - cdf_one) ** k
    return float(values[int(np.searchsorted(cdf_min, q))])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=4, max_size=60),
    st.integers(0, 10),
)
def test_best_of_k_verdict_matches_the_exact_curve(scores: list[float], unscored: int) -> None:
    spec = make_spec()
    trials = [make_trial(i, {"learning_rate": 0.01}, value=v) for i, v in enumerate(scores)]
    trials += [
        make_trial(len(scores) + j, {"learning_rate": 0.3}, state="INFEASIBLE")
        for j in range(unscored)
    ]
    snap = scored_snapshot(spec, trials)
    bok, findings = density(snap, CFG)
    assert bok is not None
    (f,) = [f for f in findings if f.code in ("density.more_trials", "density.flattened")]
    e = f.evidence
    n, half = len(scores) + unscored, math.ceil((len(scores) + unscored) / 2)
    assert (e["n_finished"], e["k_half"]) == (n, half)
    iqr = float(np.subtract(*np.quantile(scores, [0.75, 0.25])))
    assert close(e["score_iqr"], iqr) and close(e["threshold"], CFG.more_trials_gain * iqr)
    population = np.array(scores + [np.inf] * unscored)
    for k, key in ((n, "median_best_at_n"), (half, "median_best_at_half")):
        low = exact_median_best(population, k, 0.5 - 0.08)
        high = exact_median_best(population, k, 0.5 + 0.08)
        if e[key] is None:  # the median draw holds no scored trial
            assert not math.isfinite(high)
        else:
            assert low - EPS <= e[key] <= high + EPS
    if e["gain"] is None:
        assert f.code == "density.more_trials" and "undefined" in f.message
        return
    assert close(e["gain"], abs(e["median_best_at_n"] - e["median_best_at_half"]))
    assert (f.code == "density.more_trials") == (e["gain"] > e["threshold"])
    word = "more than" if f.code == "density.more_trials" else "within"
    assert f"{word} {CFG.more_trials_gain:g} x the interquartile range" in f.message


def test_the_reference_smoother_is_the_documented_window() -> None:
    # The property tests lean on ref_smooth: pin it on a hand-computed case.
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ref_smooth(x, y, 0.2).tolist() == pytest.approx([2.0, 2.0, 3.0, 4.0, 4.0])


def test_a_failed_trial_never_reaches_the_claims() -> None:
    spec = study_spec()
    t = trial(0, {}, spec, state=TrialState.FAILED)
    assert curve_findings(snapshot(spec, [t]), CFG) == ([], [])
