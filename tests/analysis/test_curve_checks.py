"""Curve checks (§5), best step (§8), gradient norms (§9): each with and without its pathology."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest

from scitune.analysis._best_step import best_step_summary
from scitune.analysis._config import AnalysisConfig
from scitune.analysis._curves import checked_trials, curve_findings
from scitune.analysis._grad_norm import grad_norm_summary
from scitune.analysis._results import BestStepSummary, Finding, GradNormSummary, to_jsonable
from scitune.analysis._snapshot import StudySnapshot
from scitune.spec import StudySpec
from scitune.storage import Curve, TrialState
from tests.analysis.curve_helpers import (
    MAX_STEPS,
    curve,
    fractions,
    snapshot,
    study_spec,
    trial,
)

CFG = AnalysisConfig()
N = 100
X = fractions(N)


def codes_of(
    dev: Curve | np.ndarray, train: Curve | np.ndarray | None = None, **spec_kw: Any
) -> tuple[set[str], dict[str, Finding]]:
    """The curve codes that fire on one trial, and the findings."""
    spec = study_spec(**spec_kw)
    curves = {spec.objective.metric: dev if isinstance(dev, Curve) else curve(dev)}
    if train is not None:
        curves["train_loss"] = train if isinstance(train, Curve) else curve(train)
    checks, findings = curve_findings(snapshot(spec, [trial(0, curves, spec)]), CFG)
    assert [c.trial for c in checks] == [0]
    return set(checks[0].codes), {f.code: f for f in findings}


def noise(seed: int, scale: float, n: int = N) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).normal(0.0, scale, n))


def u_shape() -> np.ndarray:
    return 0.2 + 0.5 * (X - 0.4) ** 2


def falling_train() -> np.ndarray:
    return np.asarray(2.0 * np.exp(-3 * X) + 0.05)


def healthy() -> np.ndarray:
    """Improves until about 70% of training, then flat: nothing to report."""
    return 0.1 + 0.9 * np.exp(-X / 0.1)


def check_finding(f: Finding) -> None:
    """Every finding is complete and its evidence JSON-able."""
    assert f.message and f.action and f.section.startswith("§") and f.subject
    assert f.severity in ("info", "warning", "critical")
    json.dumps(to_jsonable(f.evidence), allow_nan=False)


# --- which trials are checked ----------------------------------------------------------------


def _dropout_study(design: str = "per_value") -> StudySnapshot:
    spec = study_spec(scientific={"dropout": [0.0, 0.1, 0.3]}, design=design)
    # Scores: lower is better. Best three are all dropout=0.0; dropout=0.1 best is #4, 0.3 #5.
    finals = {
        0: (0.0, 0.10),
        1: (0.0, 0.11),
        2: (0.0, 0.12),
        3: (0.1, 0.20),
        4: (0.1, 0.15),
        5: (0.3, 0.30),
        6: (0.3, 0.40),
    }
    trials = [
        trial(
            n,
            {"dev_error": curve(healthy() + v)},
            spec,
            params={"dropout": d, "learning_rate": 0.1},
        )
        for n, (d, v) in finals.items()
    ]
    return snapshot(spec, trials)


def test_checked_trials_are_the_best_k_and_the_best_per_scientific_value() -> None:
    checks = checked_trials(_dropout_study(), CFG)
    assert [c.trial for c in checks] == [0, 1, 2, 4, 5]
    assert checks[0].why == "best 3; best with dropout=0.0"
    assert checks[1].why == "best 3"
    assert checks[3].why == "best with dropout=0.1"
    assert checks[4].why == "best with dropout=0.3"
    assert all(c.codes == () for c in checks)


def test_checked_trials_group_by_params_in_a_joint_design() -> None:
    checks = checked_trials(_dropout_study("joint"), AnalysisConfig(curve_top_k=1))
    assert [(c.trial, c.why) for c in checks] == [
        (0, "best 1; best with dropout=0.0"),
        (4, "best with dropout=0.1"),
        (5, "best with dropout=0.3"),
    ]


def test_no_ranked_trial_means_nothing_to_check() -> None:
    spec = study_spec()
    failed = trial(0, {}, spec, state=TrialState.FAILED)
    assert curve_findings(snapshot(spec, [failed]), CFG) == ([], [])


def test_findings_are_aggregated_per_code_and_codes_filled_per_trial() -> None:
    spec = study_spec()
    trials = [
        trial(0, {"dev_error": curve(u_shape())}, spec),
        trial(1, {"dev_error": curve(u_shape() + 0.01)}, spec),
        trial(2, {"dev_error": curve(healthy() + 0.2)}, spec),
    ]
    checks, findings = curve_findings(snapshot(spec, trials), CFG)
    over = [f for f in findings if f.code == "curves.overfitting"]
    assert len(over) == 1 and [e["trial"] for e in over[0].evidence["trials"]] == [0, 1]
    assert "#0" in over[0].message and "#1" in over[0].message and "2 of 3" in over[0].message
    assert {c.trial: "curves.overfitting" in c.codes for c in checks} == {
        0: True,
        1: True,
        2: False,
    }
    for f in findings:
        check_finding(f)


# --- overfitting -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_noisy_but_flat_dev_curve_is_not_overfitting(seed: int) -> None:
    codes, _ = codes_of(0.3 + noise(seed, 0.3 * 0.03), falling_train())
    assert "curves.overfitting" not in codes
    assert "curves.still_improving" not in codes


def test_clean_u_shaped_dev_curve_is_overfitting() -> None:
    codes, found = codes_of(u_shape(), falling_train())
    assert "curves.overfitting" in codes
    f = found["curves.overfitting"]
    assert f.severity == "warning" and f.subject == "dev_error"
    assert f.section == "§5 Extracting insight"
    assert "#0" in f.message and "while train_loss (smoothed) fell a further" in f.message
    assert "regularization" in f.action and "best checkpoint" in f.action
    ev = f.evidence["trials"][0]
    assert ev["best_step"] == pytest.approx(400, abs=60) and ev["relative_rise"] > 0.5
    assert ev["train_kept_falling"] is True
    assert f.evidence["overfit_tolerance"] == CFG.overfit_tolerance
    assert f.evidence["defaults"] == "ours"
    check_finding(f)


def test_overfitting_action_respects_regularization_as_the_scientific_question() -> None:
    _, found = codes_of(u_shape(), scientific={"dropout": [0.0, 0.5]})
    f = found["curves.overfitting"]
    assert "dropout" in f.action and "scientific" in f.action
    assert f.evidence["scientific_regularizers"] == ["dropout"]


def test_a_small_rise_within_tolerance_is_not_overfitting() -> None:
    codes, _ = codes_of(0.2 + 0.01 * np.maximum(X - 0.6, 0))  # ends 0.4% worse
    assert "curves.overfitting" not in codes


# --- still improving / saturated -------------------------------------------------------------


def test_exponential_decay_reaching_its_floor_at_20_percent_is_saturated() -> None:
    codes, found = codes_of(0.1 + 0.9 * np.exp(-X / 0.02))
    assert "curves.saturated" in codes and "curves.still_improving" not in codes
    f = found["curves.saturated"]
    assert f.severity == "info" and "§8" in f.section and "max_train_steps" in f.action
    assert f.evidence["trials"][0]["reached_fraction"] <= 0.25
    check_finding(f)


def test_curve_still_dropping_linearly_at_the_end_is_still_improving() -> None:
    codes, found = codes_of(1.0 - 0.5 * X + noise(0, 0.005))
    assert "curves.still_improving" in codes and "curves.saturated" not in codes
    f = found["curves.still_improving"]
    assert f.severity == "warning" and "§8" in f.section and "§5" in f.section
    assert f.evidence["trials"][0]["relative_gain"] > CFG.improving_threshold
    assert "compute-bound" in f.action
    check_finding(f)


def test_healthy_curve_gives_curves_ok() -> None:
    codes, found = codes_of(healthy() + noise(1, 0.0005), falling_train())
    assert codes == set()
    assert list(found) == ["curves.skipped", "curves.ok"] and found["curves.ok"].severity == "info"
    check_finding(found["curves.ok"])
    # The one check that could not run: no chance level declared and no evaluation at step 0.
    skipped = found["curves.skipped"].evidence["skipped"]
    assert [e["check"] for e in skipped] == ["curves.no_learning"]
    assert "no declared chance level" in skipped[0]["reason"]


# --- late noise ------------------------------------------------------------------------------


def test_large_late_step_to_step_noise_is_reported() -> None:
    y = healthy() + np.where(X > 0.7, noise(2, 0.02), 0.0)  # ~20% of the level
    codes, found = codes_of(y)
    assert "curves.late_noise" in codes
    f = found["curves.late_noise"]
    assert f.evidence["trials"][0]["noise_ratio"] > CFG.late_noise_threshold
    assert "Polyak" in f.action and "batch" in f.action


def test_small_late_noise_is_not_reported() -> None:
    codes, _ = codes_of(healthy() + noise(2, 0.001))  # ~1% of the level
    assert "curves.late_noise" not in codes


# --- training loss rising --------------------------------------------------------------------


def test_training_loss_rising_at_the_end_is_reported() -> None:
    train = 1.0 * np.exp(-X / 0.1) + 0.1 + np.maximum(X - 0.6, 0) * 1.0  # +0.4 at the end
    codes, found = codes_of(healthy(), train)
    assert "curves.train_loss_rising" in codes
    f = found["curves.train_loss_rising"]
    assert f.severity == "warning" and f.subject == "train_loss"
    assert "bug" in f.action and f.evidence["trials"][0]["relative_rise"] > 1.0
    check_finding(f)


@pytest.mark.parametrize("seed", range(3))
def test_noisy_falling_training_loss_is_not_rising(seed: int) -> None:
    codes, _ = codes_of(healthy(), falling_train() + noise(seed, 0.02))
    assert "curves.train_loss_rising" not in codes


def test_training_loss_that_rose_and_came_back_down_is_not_rising() -> None:
    train = 0.3 + 0.5 * np.exp(-((X - 0.5) ** 2) / 0.01) + 0.1 * (1 - X)
    codes, _ = codes_of(healthy(), train)
    assert "curves.train_loss_rising" not in codes


# --- divergence, NaN, short and irregular curves ---------------------------------------------


def test_nan_and_inf_are_reported_as_divergence_and_do_not_break_other_checks() -> None:
    dev = u_shape()
    dev[[10, 11]] = np.nan
    train = falling_train()
    train[-1] = np.inf
    codes, found = codes_of(dev, train)
    assert {"curves.diverged", "curves.overfitting"} <= codes
    f = found["curves.diverged"]
    assert f.severity == "warning" and "§9" in f.section
    bad = {b["metric"]: b for b in f.evidence["trials"][0]["bad"]}
    assert bad["dev_error"]["first_step"] == 110 and bad["dev_error"]["count"] == 2
    assert bad["train_loss"]["first_value"] == "inf"
    check_finding(f)


@pytest.mark.parametrize(
    "values,steps",
    [
        ([0.5, 0.4, 0.3], [100, 500, 1000]),
        ([0.5], [1000]),
        ([], []),
        ([np.nan] * 10, None),
        ([0.5, np.nan, 0.3, np.nan, 0.2, np.nan], None),
        ([0.5, 0.45, 0.3, 0.31, 0.3, 0.31, 0.29], [1, 2, 3, 500, 501, 990, 1000]),
        ([0.3] * 20, None),
    ],
)
def test_short_sparse_irregular_and_constant_curves_never_crash(
    values: list[float], steps: list[int] | None
) -> None:
    spec = study_spec()
    dev = curve(values, steps) if values else Curve(np.zeros(0, np.int64), np.zeros(0))
    t = trial(0, {"dev_error": dev, "train_loss": dev}, spec, value_step=1000)
    if t[0].value is None:  # nothing finite to score: rank it anyway at a made-up score
        t = (dataclasses.replace(t[0], value=0.5), t[1])
    checks, findings = curve_findings(snapshot(spec, [t]), CFG)
    assert [c.trial for c in checks] == [0]
    for f in findings:
        check_finding(f)


def test_a_trial_without_any_curve_is_skipped_and_no_ok_is_claimed() -> None:
    spec = study_spec()
    t = trial(0, {}, spec, value_step=10)
    t = (dataclasses.replace(t[0], value=0.5), t[1])
    checks, findings = curve_findings(snapshot(spec, [t]), CFG)
    assert checks[0].codes == () and [f.code for f in findings] == ["curves.skipped"]
    skipped = findings[0]
    assert "no dev_error curve" in skipped.message and "log dev_error" in skipped.message
    assert {e["check"] for e in skipped.evidence["skipped"]} >= {
        "curves.overfitting",
        "curves.still_improving",
        "curves.saturated",
        "curves.late_noise",
        "curves.train_loss_rising",
        "curves.no_learning",
    }


# --- maximize (accuracy) ---------------------------------------------------------------------


def test_maximize_accuracy_overfitting_improving_and_saturated() -> None:
    kw: dict[str, Any] = {"metric": "dev_accuracy", "goal": "maximize"}
    codes, found = codes_of(0.9 - 0.5 * (X - 0.4) ** 2, **kw)  # rises, then falls
    assert "curves.overfitting" in codes
    ev = found["curves.overfitting"].evidence["trials"][0]
    assert ev["best_smoothed"] > ev["final_smoothed"]  # in accuracy units
    codes, _ = codes_of(0.5 + 0.4 * X, **kw)
    assert "curves.still_improving" in codes and "curves.overfitting" not in codes
    codes, _ = codes_of(0.9 - 0.8 * np.exp(-X / 0.02), **kw)
    assert "curves.saturated" in codes and "curves.still_improving" not in codes
    codes, _ = codes_of(0.9 - 0.8 * np.exp(-X / 0.15), **kw)  # 1% of 0.9 only at ~67%
    assert codes == set()


# --- best step (§8) --------------------------------------------------------------------------


def _best_at(fracs: list[float], **spec_kw: Any) -> tuple[BestStepSummary | None, list[Finding]]:
    """Trials whose objective is best (0.5, else 1.0) at the given fractions of training."""
    spec = study_spec(**spec_kw)
    trials = []
    for n, f in enumerate(fracs):
        step = max(1, round(f * MAX_STEPS))
        steps = sorted({step, *range(100, MAX_STEPS + 1, 100)})
        values = [0.5 if s == step else 1.0 for s in steps]
        trials.append(trial(n, {"dev_error": curve(values, steps)}, spec))
    return best_step_summary(snapshot(spec, trials), CFG)


def test_best_step_always_early_means_too_many_steps() -> None:
    summary, findings = _best_at([0.05, 0.08, 0.1, 0.02, 0.09])
    assert summary is not None and summary.early_share == 1.0 and summary.late_share == 0.0
    assert [f.code for f in findings] == ["steps.too_many"]
    f = findings[0]
    assert f.severity == "warning" and f.section == "§8 How long to train"
    assert "max_train_steps is too high" in f.message and "more trials" in f.action
    assert f.evidence["best_step_share"] == CFG.best_step_share
    check_finding(f)


def test_best_step_consistently_late_means_too_few_steps() -> None:
    summary, findings = _best_at([0.8, 0.9, 1.0, 0.95, 0.5])  # 4 of 5 = 80% late
    assert summary is not None and summary.late_share == pytest.approx(0.8)
    assert [f.code for f in findings] == ["steps.too_few"]
    assert "decay" in findings[0].action and "between studies" in findings[0].action
    check_finding(findings[0])


def test_best_step_spread_out_is_ok_with_the_median() -> None:
    summary, findings = _best_at([0.3, 0.5, 0.6, 0.9, 0.05])
    assert summary is not None
    assert summary.fractions == ((0, 0.3), (1, 0.5), (2, 0.6), (3, 0.9), (4, 0.05))
    assert [f.code for f in findings] == ["steps.ok"]
    assert findings[0].severity == "info" and findings[0].evidence["median_fraction"] == 0.5
    assert "50%" in findings[0].message


def test_best_step_without_ranked_trials_is_none() -> None:
    spec = study_spec()
    assert best_step_summary(
        snapshot(spec, [trial(0, {}, spec, state=TrialState.FAILED)]), CFG
    ) == (
        None,
        [],
    )


def test_best_step_with_select_final_reads_the_curve() -> None:
    summary, findings = _best_at([0.05, 0.05, 0.05], select="final")
    assert summary is not None and summary.early_share == 1.0
    assert summary.fractions == ((0, 0.05), (1, 0.05), (2, 0.05))
    assert findings[0].code == "steps.too_many"


# --- gradient norms (§9) ---------------------------------------------------------------------


def _grad_study(
    norms: dict[int, np.ndarray], params: dict[int, dict[str, float]] | None = None
) -> tuple[GradNormSummary | None, list[Finding]]:
    spec = study_spec()
    trials = []
    for n, g in norms.items():
        dev = curve(healthy() + 0.01 * n)
        p = {"learning_rate": 0.01, **(params or {}).get(n, {})}
        trials.append(trial(n, {"dev_error": dev, "grad_norm": curve(g)}, spec, params=p))
    snap = snapshot(spec, trials)
    checks = checked_trials(snap, CFG)
    return grad_norm_summary(snap, CFG, checks)


def test_grad_norm_missing_says_what_to_log() -> None:
    spec = study_spec()
    snap = snapshot(spec, [trial(0, {"dev_error": curve(healthy())}, spec)])
    summary, findings = grad_norm_summary(snap, CFG, checked_trials(snap, CFG))
    assert summary is None and [f.code for f in findings] == ["gradnorm.missing"]
    assert findings[0].severity == "info" and "unclipped" in findings[0].action
    check_finding(findings[0])


def test_grad_norm_spikes_are_listed_with_their_steps() -> None:
    g = 1.0 + noise(0, 0.05)
    g[[20, 60]] = 50.0
    summary, findings = _grad_study({0: g, 1: 1.0 + noise(1, 0.05)})
    assert summary is not None
    assert summary.spikes == {0: (210, 610), 1: ()}
    spikes = [f for f in findings if f.code == "gradnorm.spikes"]
    assert (
        len(spikes) == 1 and spikes[0].severity == "warning" and spikes[0].section == "§9 Stability"
    )
    assert "#0" in spikes[0].message and "210, 610" in spikes[0].message
    assert "warmup" in spikes[0].action
    check_finding(spikes[0])


def test_no_spikes_no_spike_finding() -> None:
    _, findings = _grad_study({0: 1.0 + noise(0, 0.2)})
    assert "gradnorm.spikes" not in {f.code for f in findings}


def test_norms_shrinking_as_training_converges_are_not_spikes() -> None:
    # Seen on MNIST-1D: norms fall 100x as the loss goes to 0; against a trial-wide median
    # every early step looked like a spike.
    shrinking = np.geomspace(5.0, 0.005, 100) * (1.0 + noise(4, 0.1))
    _, findings = _grad_study({0: shrinking})
    assert "gradnorm.spikes" not in {f.code for f in findings}


def test_clip_threshold_is_the_percentile_of_the_best_trials_norms() -> None:
    g0 = np.abs(1.0 + noise(3, 0.5))
    g0[5] = np.nan
    g1 = 3 * g0  # the second trial's norms are larger
    summary, findings = _grad_study({0: g0, 1: g1})
    expected = float(np.percentile(g0[np.isfinite(g0)], CFG.clip_percentile))
    assert summary is not None and summary.threshold == pytest.approx(expected)
    assert summary.percentile == 90.0
    assert summary.clipped_fraction[0] == pytest.approx(0.1, abs=0.02)
    assert summary.clipped_fraction[1] > 0.5
    f = next(f for f in findings if f.code == "gradnorm.clip_threshold")
    assert f.severity == "info" and "90th percentile of trial #0" in f.message
    assert f"{expected:.4g}" in f.message and "every 10 steps" in f.message
    assert f.evidence["threshold"] == pytest.approx(expected)
    check_finding(f)


def test_aggressive_clipping_from_a_grad_clip_param() -> None:
    g = 1.0 + noise(4, 0.1)
    _, findings = _grad_study({0: g, 1: g, 2: g}, {0: {"grad_clip": 0.5}, 1: {"grad_clip": 5.0}})
    aggressive = [f for f in findings if f.code == "gradnorm.clip_aggressive"]
    assert len(aggressive) == 1 and aggressive[0].severity == "warning"
    assert [e["trial"] for e in aggressive[0].evidence["trials"]] == [0]
    assert "#0 clips 100%" in aggressive[0].message and "grad_clip = 0.5" in aggressive[0].message
    assert "learning rate" in aggressive[0].action
    check_finding(aggressive[0])


# --- issue 11: findings true to their evidence -----------------------------------------------


def _creep(seed: int, creep: float) -> tuple[Curve, Curve]:
    """Seen by a user: 7,500 steps, dev error evaluated every 250, down to 0.075 by step 2,500,
    then ``creep`` more by the end, while the training loss falls from 1e-3 to 2e-5."""
    steps = np.arange(250, 7501, 250)
    dev = 0.075 + 0.8 * np.exp(-steps / 300) + creep * np.maximum(steps - 2500, 0) / 5000
    # 0.002: about the binomial noise of dev error 0.075 on 20,000 examples
    dev = dev + np.random.default_rng(seed).normal(0, 0.002, steps.size)
    train = np.geomspace(1e-3, 2e-5, steps.size)
    return curve(dev, steps), curve(train, steps)


@pytest.mark.parametrize("seed", range(5))
def test_a_slow_creep_after_the_best_is_overfitting(seed: int) -> None:
    dev, train = _creep(seed, 0.015)  # 0.075 -> 0.09
    codes, found = codes_of(dev, train, max_steps=7500)
    assert "curves.overfitting" in codes
    (e,) = found["curves.overfitting"].evidence["trials"]
    assert 1500 <= e["best_step"] <= 3500 and e["trend_t"] > e["t_critical"]
    assert e["train_kept_falling"] is True


def test_pure_noise_after_the_best_is_never_overfitting() -> None:
    # The same curves without the creep, 200 noise draws: none may read as a trend.
    fired = [
        s
        for s in range(200)
        if "curves.overfitting" in codes_of(*_creep(s, 0.0), max_steps=7500)[0]
    ]
    assert fired == []


def test_flat_noise_never_reads_as_a_trend() -> None:
    for seed in range(200):
        codes, _ = codes_of(0.3 + noise(seed, 0.01), 0.5 + noise(seed + 1000, 0.05))
        assert not codes & {
            "curves.overfitting",
            "curves.still_improving",
            "curves.train_loss_rising",
        }


def test_saturated_is_not_claimed_while_the_curve_still_halves() -> None:
    # Seen on a digits MLP: "within 1% from step 149" while the error went 0.013 -> 0.0056.
    # Evaluated every 50 steps from step 0: the first fall (0.9 -> 0.01) swamped the old
    # noise estimate, whose 4-sigma band then passed for "within 1%".
    steps = np.arange(0, 1501, 50)
    dev = 0.0056 + 0.0074 * np.exp(-(steps - 150).clip(0) / 400) + 0.9 * np.exp(-steps / 20)
    dev = np.round(dev * 360) / 360  # a 360-example dev set: errors in steps of 1/360
    codes, found = codes_of(curve(dev, steps), max_steps=1500)
    assert "curves.saturated" not in codes
    # A curve that really stays within 1% from early on is saturated, and the message says so
    # with the numbers it checked.
    flat = 0.0056 * (1 + 0.005 * np.exp(-steps / 600)) + 0.5 * np.exp(-steps / 20)
    codes, found = codes_of(curve(flat, steps), max_steps=1500)
    assert "curves.saturated" in codes
    f = found["curves.saturated"]
    (e,) = f.evidence["trials"]
    assert f"from step {e['reached_step']}" in f.message
    assert f"within {e['band']:.3g} of its best" in f.message and "1% of the best" in f.message
    assert "smoothed" in f.message and "noise sd" in f.message


def _steps_study(devs: list[np.ndarray]) -> tuple[list[Finding], list[Finding]]:
    spec = study_spec()
    trials = [trial(n, {"dev_error": curve(d)}, spec) for n, d in enumerate(devs)]
    snap = snapshot(spec, trials)
    _, curve_found = curve_findings(snap, CFG)
    _, step_found = best_step_summary(snap, CFG, curve_found)
    return curve_found, step_found


def test_saturated_and_a_late_best_step_say_how_they_relate() -> None:
    # Flat within 1% from 15% of training, but creeping down 0.5% to the end: every best step
    # is in the last 25% (steps.too_few) while the curves say the late steps gain under 1%.
    devs = [0.1 + 0.9 * np.exp(-X / 0.02) - 0.0005 * X + 0.01 * n for n in range(5)]
    curve_found, step_found = _steps_study(devs)
    assert "curves.saturated" in {f.code for f in curve_found}
    (steps,) = step_found
    assert steps.code == "steps.too_few"
    assert "curves.saturated" in steps.message and "less than 1%" in steps.message
    assert steps.evidence["related"]["curves.saturated"] == [0, 1, 2]


def test_steps_ok_next_to_saturated_offers_the_shorter_length() -> None:
    # Flat within 1% from 15% of training; best steps spread from 30% to 90% (steps.ok).
    base = 0.1 + 0.9 * np.exp(-X / 0.02)
    devs = [base + 0.0005 * np.maximum(X - f, 0) for f in (0.3, 0.4, 0.5, 0.6, 0.9)]
    curve_found, step_found = _steps_study(devs)
    assert "curves.saturated" in {f.code for f in curve_found}
    (steps,) = step_found
    assert steps.code == "steps.ok" and "curves.saturated" in steps.message
    assert "shorten it towards step" in steps.action


def test_too_many_steps_next_to_still_improving_says_check_those_curves() -> None:
    best = 1.0 - 0.95 * X  # the best trial: still improving at the end
    early = [0.5 + 0.5 * np.abs(X - 0.05) + 0.01 * n for n in range(4)]  # best at 5%
    curve_found, step_found = _steps_study([best, *early])
    assert "curves.still_improving" in {f.code for f in curve_found}
    (steps,) = step_found
    assert steps.code == "steps.too_many"
    assert "curves.still_improving" in steps.message and "#0" in steps.action


def _sgd_study(*, chance: float | None, evals: int) -> list[Finding]:
    """Plain SGD at learning rates 0.67-67: training loss 80-200, dev error at chance; and two
    trials that learned."""
    data = study_spec().to_dict()
    if chance is not None:
        data["objective"]["chance"] = chance
    spec = StudySpec.from_dict(data)
    eval_steps = np.round(np.linspace(MAX_STEPS / evals, MAX_STEPS, evals)).astype(int)
    train_steps = np.arange(0, MAX_STEPS + 1, 10)
    trials = []
    for n in range(6):
        if n < 2:  # learned
            dev = 0.1 + 0.8 * np.exp(-eval_steps / 200) + 0.01 * n
            loss = 2.3 * np.exp(-train_steps / 200) + 0.05
        else:  # blew up
            dev = 0.898 + 0.001 * (n % 2) * np.ones(evals)
            loss = 2.3 + (80 + 30 * n) * (1 - np.exp(-train_steps / 20))
        curves = {"dev_error": curve(dev, eval_steps), "train_loss": curve(loss, train_steps)}
        trials.append(trial(n, curves, spec, params={"learning_rate": 0.67 * 3**n}))
    return curve_findings(snapshot(spec, trials), CFG)[1]


def test_sgd_that_blew_up_is_flagged_as_diverged_and_not_learning() -> None:
    found = {f.code: f for f in _sgd_study(chance=0.9, evals=4)}
    diverged = found["curves.diverged"]
    assert diverged.severity == "warning"
    assert [e["trial"] for e in diverged.evidence["trials"]] == [2, 3, 4, 5]
    assert "4 of 6 completed trials diverged, 4 of them ranked" in diverged.message
    assert "scores are not results" in diverged.message
    e = diverged.evidence["trials"][0]["loss"]
    assert e["first_value"] == pytest.approx(2.3) and e["end_value"] > 80
    no_learning = found["curves.no_learning"]
    assert no_learning.severity == "warning" and no_learning.subject == "dev_error"
    assert [e["trial"] for e in no_learning.evidence["trials"]] == [2, 3, 4, 5]
    assert "chance = 0.9 as declared in [objective]" in no_learning.message
    assert no_learning.evidence["chance_tolerance"] == CFG.chance_tolerance
    for f in found.values():
        check_finding(f)


def test_four_evaluations_say_which_checks_could_not_run_and_what_to_log() -> None:
    found = {f.code: f for f in _sgd_study(chance=None, evals=4)}
    skipped = found["curves.skipped"]
    assert skipped.severity == "info"
    assert "overfitting, still improving, saturation, late noise" in skipped.message
    assert "4 finite dev_error points, needs 5" in skipped.message
    assert "log dev_error at least every 50 steps (max_train_steps/20)" in skipped.message
    # Without a declared chance level and no early evaluation, no_learning says why it did not run.
    assert "curves.no_learning" not in found
    assert "[objective] chance" in skipped.message and "step 250" in skipped.message
    # The divergence of the training loss is still caught (it is logged every 10 steps).
    assert "curves.diverged" in found
    check_finding(skipped)


def test_chance_estimated_from_an_evaluation_at_step_0() -> None:
    steps = np.arange(0, MAX_STEPS + 1, 50)
    stuck = 0.9 + noise(5, 0.005, steps.size)
    learned = 0.1 + 0.8 * np.exp(-steps / 100)
    spec = study_spec()
    trials = [
        trial(0, {"dev_error": curve(learned, steps)}, spec),
        trial(1, {"dev_error": curve(stuck, steps)}, spec),
    ]
    _, findings = curve_findings(snapshot(spec, trials), CFG)
    f = next(f for f in findings if f.code == "curves.no_learning")
    (e,) = f.evidence["trials"]
    assert e["trial"] == 1 and e["chance"] == pytest.approx(stuck[0])
    assert "estimated from its first evaluation (step 0), ours" in e["chance_source"]
    assert "chance estimated from each trial's first evaluation (ours)" in f.message


def test_chance_for_accuracy_counts_upward() -> None:
    data = study_spec(metric="dev_accuracy", goal="maximize").to_dict()
    data["objective"]["chance"] = 0.1
    spec = StudySpec.from_dict(data)
    at_chance = 0.1 + 0.004 * X  # never above 0.105
    learned = 0.1 + 0.8 * (1 - np.exp(-X / 0.1))
    trials = [
        trial(0, {"dev_accuracy": curve(learned)}, spec),
        trial(1, {"dev_accuracy": curve(at_chance)}, spec),
    ]
    _, findings = curve_findings(snapshot(spec, trials), CFG)
    f = next(f for f in findings if f.code == "curves.no_learning")
    assert [e["trial"] for e in f.evidence["trials"]] == [1]
    assert f.evidence["trials"][0]["bound"] == pytest.approx(0.105)


def test_a_curve_that_stops_early_says_the_late_checks_did_not_run() -> None:
    steps = np.arange(10, 601, 10)  # stops at 60% of training
    codes, found = codes_of(curve(0.1 + 0.9 * np.exp(-steps / 50), steps), falling_train())
    assert not codes & {"curves.saturated", "curves.still_improving", "curves.late_noise"}
    skipped = found["curves.skipped"]
    checks = {e["check"] for e in skipped.evidence["skipped"]}
    assert {"curves.saturated", "curves.still_improving", "curves.late_noise"} <= checks
    assert "dev_error ends at step 600, 60% of training, before the last 25%" in skipped.message
    assert "log dev_error until the last step (1000)" in skipped.message


def test_curves_ok_names_only_the_checks_that_ran() -> None:
    codes, found = codes_of(healthy() + noise(1, 0.0005))  # no training loss logged
    assert codes == set()
    ok = found["curves.ok"]
    assert "training loss rising" not in ok.message and "overfitting on #0" in ok.message
    assert "training loss rising" in found["curves.skipped"].message
