"""Lucky evaluations (``score.spike``): a score that is one evaluation far from its neighbours."""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scitune.analysis import AnalysisConfig, StudySnapshot, analyze
from scitune.analysis._curves import checked_trials
from scitune.analysis._results import Finding, ScoreSpikes, to_jsonable
from scitune.analysis._spikes import read_spike, score_spikes
from scitune.execution import Runner
from scitune.scoring import moving_mean
from scitune.spec import load_spec
from scitune.storage import Curve
from scitune.study import Study
from tests.analysis.curve_helpers import curve, snapshot, study_spec, trial

CFG = AnalysisConfig()
HORIZON = 7500
STEPS = list(range(250, HORIZON + 1, 250))  # 30 evaluations, as the MNIST-1D demo logs them

# MNIST-1D's CNN at learning rate 0.031 (Adam, constant), dev error every 250 steps: a real,
# noisy curve (seed 0). Its best (0.0825 at step 6000) is noise, not a spike.
MNIST_SEED0 = [
    0.31, 0.1625, 0.1425, 0.12, 0.155, 0.14, 0.1875, 0.1325, 0.1375, 0.1425,
    0.1275, 0.1175, 0.12, 0.1275, 0.1425, 0.12, 0.12, 0.1025, 0.105, 0.155,
    0.1125, 0.1125, 0.095, 0.0825, 0.105, 0.1025, 0.105, 0.1225, 0.1475, 0.1075,
]  # fmt: skip
# The same learning rate, seeds 1 and 2: as noisy, also without a spike.
MNIST_SEED1 = [
    0.185, 0.1175, 0.1, 0.095, 0.135, 0.1075, 0.085, 0.0825, 0.0925, 0.0975,
    0.1, 0.12, 0.1025, 0.0825, 0.0775, 0.1125, 0.06, 0.0925, 0.115, 0.0975,
    0.075, 0.0925, 0.12, 0.085, 0.0825, 0.07, 0.1075, 0.0975, 0.1225, 0.08,
]  # fmt: skip
MNIST_SEED2 = [
    0.17, 0.1275, 0.1325, 0.1, 0.12, 0.075, 0.13, 0.0675, 0.09, 0.0625,
    0.0775, 0.0925, 0.0875, 0.0775, 0.1125, 0.1, 0.065, 0.1175, 0.0975, 0.1,
    0.085, 0.08, 0.08, 0.07, 0.0975, 0.0925, 0.0675, 0.1125, 0.0975, 0.085,
]  # fmt: skip


def demo_curve() -> list[float]:
    """Seed 0 with the demo's lucky evaluation: 0.065 at step 5000 between 0.13 and 0.145."""
    values = list(MNIST_SEED0)
    values[18:21] = [0.13, 0.065, 0.145]
    return values


def analyse(
    *curves_: list[float] | np.ndarray, cfg: AnalysisConfig = CFG, **spec_kw: Any
) -> tuple[ScoreSpikes | None, list[Finding]]:
    """Spike findings for trials #0, #1, ... with these dev curves (at :data:`STEPS`)."""
    spec = study_spec(max_steps=HORIZON, **spec_kw)
    metric = spec.objective.metric
    trials = [trial(i, {metric: curve(v, STEPS)}, spec) for i, v in enumerate(curves_)]
    snap = snapshot(spec, trials)
    return score_spikes(snap, cfg, checked_trials(snap, cfg))


def spikes_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.code == "score.spike"]


def check_finding(f: Finding) -> None:
    assert f.message and f.action and f.section.startswith("§") and f.subject
    json.dumps(to_jsonable(f.evidence), allow_nan=False)


# --- the verdict on one curve --------------------------------------------------------------------


def test_a_clean_curve_has_no_spike() -> None:
    x = np.arange(1, 31) / 30
    summary, findings = analyse(0.08 + 0.8 * np.exp(-x / 0.1) + 0.2 * (x - 0.6) ** 2)
    assert findings == []
    assert summary is not None and summary.spiky == ()
    (check,) = summary.checked
    assert not check.spike and check.noise is not None  # judged: its best is inside the curve
    assert 0 < check.raw_step < HORIZON


def test_a_lucky_evaluation_is_a_spike_and_the_finding_gives_its_numbers() -> None:
    summary, findings = analyse(demo_curve())
    (f,) = spikes_of(findings)
    check_finding(f)
    assert f.severity == "warning" and f.subject == "trial 0"
    assert f.message.startswith(
        "#0 scores 0.065 at step 5000, but its neighbours read 0.13 (step 4750) and 0.145 "
        "(step 5250) and its smoothed best is 0.098 (step 6250; a moving mean over 5 "
        "evaluations): the score stands 0.065 below its nearest neighbour, 4.0 times the "
        "curve's noise (sd 0.01606), and the spike makes it 0.033 better than the smoothed "
        "best. A spike stands more than 3.5 sd clear of the evaluation on each side"
    )
    assert "Ranked by" not in f.message  # one ranked trial: no rank to compare
    e = f.evidence
    assert (e["raw_best"], e["raw_step"]) == (0.065, 5000)
    assert e["neighbours"] == [{"step": 4750, "value": 0.13}, {"step": 5250, "value": 0.145}]
    assert e["gap"] == pytest.approx(0.065) and e["noise_sd"] == pytest.approx(0.0161, abs=1e-4)
    assert e["gap_in_sd"] > e["spike_z"] == 3.5 and e["spike_neighbours"] == 1
    assert e["smoothed_best"] == pytest.approx(0.098) and e["smoothed_step"] == 6250
    assert e["spike_gain"] == pytest.approx(0.033)
    assert "ours" in e["defaults"] and 'select = "smoothed"' in f.action
    assert summary is not None and summary.spiky == (0,)


@pytest.mark.parametrize("values", [MNIST_SEED0, MNIST_SEED1, MNIST_SEED2])
def test_a_noisy_curve_whose_best_is_noise_has_no_spike(values: list[float]) -> None:
    summary, findings = analyse(values)
    assert findings == []
    assert summary is not None and not summary.checked[0].spike


@pytest.mark.parametrize("seed", range(5))
def test_synthetic_noise_without_a_spike_is_not_one(seed: int) -> None:
    x = np.arange(1, 31) / 30
    noise = np.random.default_rng(seed).normal(0.0, 0.015, 30)
    _, findings = analyse(0.1 + 0.5 * np.exp(-x / 0.1) + noise)
    assert spikes_of(findings) == []


def test_maximize_mirrors_the_rule() -> None:
    accuracy = [1.0 - v for v in demo_curve()]
    summary, findings = analyse(accuracy, metric="dev_accuracy", goal="maximize")
    (f,) = spikes_of(findings)
    assert f.message.startswith("#0 scores 0.935 at step 5000, but its neighbours read 0.87")
    assert "stands 0.065 above its nearest neighbour" in f.message
    assert summary is not None and summary.checked[0].smoothed_best == pytest.approx(0.902)
    # The lucky dip of an error curve is an unlucky one in accuracy: never a score, no spike.
    _, findings = analyse(demo_curve(), metric="dev_accuracy", goal="maximize")
    assert spikes_of(findings) == []


def test_a_curve_heading_to_its_best_is_not_a_spike() -> None:
    # Flat, then a fall that steepens into the best, then a jump back up: the left side's trend
    # leads there (its line continued misses the best by 0.01, under half the 0.05 gap).
    values = [0.3] * 14 + [0.3, 0.29, 0.27, 0.24, 0.2, 0.15] + [0.25, 0.251] * 5
    read = read_spike(curve(values, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and read.raw_step == 5000 and read.heading and not read.spike
    assert read.gap is not None and read.noise is not None and read.gap > 3.5 * read.noise
    values[18] = 0.3  # no fall into it: the same point is now a spike
    read = read_spike(curve(values, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and not read.heading and read.spike
    # A fast descent to a sharp minimum, then overfitting: a V, not a spike.
    x = np.arange(1, 31) / 30
    v_shape = np.where(x <= 0.1, 0.9 - 8 * x, 0.1 + 0.5 * (x - 0.1))
    read = read_spike(curve(v_shape, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and read.raw_step == 750 and not read.spike


def test_a_best_at_either_end_is_not_judged() -> None:
    steeper = 2.0 - 0.01 * np.arange(30) ** 1.5  # the fall steepens to the last evaluation
    read = read_spike(curve(steeper, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and read.raw_step == HORIZON
    assert read.noise is None and not read.spike
    rising = steeper[::-1]  # worse from the start: the first evaluation is the best
    read = read_spike(curve(rising, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and read.raw_step == 250 and read.noise is None and not read.spike


def test_the_noise_never_drops_below_the_curves_resolution() -> None:
    flat = [0.07] * 30  # settled: no noise at all between evaluations around the best...
    flat[5] = 0.0725  # ...though earlier it moved by one example of 400, its resolution
    flat[20] = 0.0675  # one example better, once
    read = read_spike(curve(flat, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and read.noise == pytest.approx(0.0025) and not read.spike
    flat[20] = 0.045  # ten examples better, once: a spike
    read = read_spike(curve(flat, STEPS), goal="minimize", max_train_steps=HORIZON, cfg=CFG)
    assert read is not None and read.spike


def test_the_settings_decide() -> None:
    _, findings = analyse(demo_curve(), cfg=AnalysisConfig(spike_z=4.5))
    assert spikes_of(findings) == []  # 4.0 sd is not more than 4.5
    # Two evaluations away sit 0.1025 and 0.1125, within 3.5 sd of the best: with two
    # neighbours on each side, it no longer stands clear of all of them.
    _, findings = analyse(demo_curve(), cfg=AnalysisConfig(spike_neighbours=2))
    assert spikes_of(findings) == []


def test_a_smoothed_objective_is_not_judged_but_both_bests_are_kept() -> None:
    summary, findings = analyse(demo_curve(), select="smoothed")
    assert findings == []
    assert summary is not None and summary.select == "smoothed" and summary.smoothing == 5
    (check,) = summary.checked
    assert not check.spike and check.noise is None
    assert (check.raw_best, check.raw_step) == (0.065, 5000)
    assert check.smoothed_best == pytest.approx(0.098)


# --- ranks ---------------------------------------------------------------------------------------


def test_the_message_says_where_the_smoothed_best_would_rank() -> None:
    steady = [v - 0.03 for v in MNIST_SEED1]  # no spike; raw best 0.03, smoothed about 0.06
    summary, findings = analyse(demo_curve(), steady)
    (f,) = spikes_of(findings)
    assert f.subject == "trial 0"
    assert summary is not None
    by_trial = {c.trial: c for c in summary.checked}
    assert by_trial[1].rank == 1 and by_trial[0].rank == 2  # raw 0.03 beats 0.065
    assert by_trial[0].smoothed_rank == 2
    assert "Ranked by smoothed bests, it would still rank 2nd of 2." in f.message
    # Raw 0.065 beats 0.07, but smoothed 0.098 loses to 0.095: the spike decided the winner.
    _, findings = analyse(demo_curve(), [v + 0.01 for v in MNIST_SEED1])
    (f,) = spikes_of(findings)
    assert "Ranked by smoothed bests, it would rank 2nd of 2, not 1st." in f.message


def test_spikes_below_the_checked_trials_are_flagged() -> None:
    better = [[v - d for v in MNIST_SEED2] for d in (0.04, 0.03, 0.02)]
    summary, findings = analyse(*better, demo_curve())
    assert spikes_of(findings) == []  # the checked best three are clean
    (others,) = [f for f in findings if f.code == "score.spike_others"]
    check_finding(others)
    assert others.severity == "info" and "#3 (rank 4: 0.065 at step 5000" in others.message
    assert summary is not None and summary.spiky == (3,)
    assert [c.trial for c in summary.checked] == [0, 1, 2]


def test_analyze_runs_the_check_and_the_record_is_json() -> None:
    spec = study_spec(max_steps=HORIZON)
    snap = snapshot(spec, [trial(0, {"dev_error": curve(demo_curve(), STEPS)}, spec)])
    result = analyze(snap)
    assert "score.spike" in {f.code for f in result.findings}
    assert result.spikes is not None and result.spikes.spiky == (0,)
    data = result.to_json()
    assert data["spikes"]["checked"][0]["raw_best"] == 0.065
    json.dumps(data, allow_nan=False)


# --- the property: whenever it fires, what it says holds on the raw curve -----------------------

_CLAIM = re.compile(
    r"#0 scores (?P<raw>\S+) at step (?P<step>\d+), but its neighbours? reads? "
    r"(?P<neighbours>.+?) and its smoothed best is (?P<smoothed>\S+) \(step (?P<sstep>\d+);"
    r".*? the score stands (?P<gap>\S+) (?P<side>below|above) its nearest neighbour, "
    r"(?P<ratio>\S+) times the curve's noise \(sd (?P<sd>\S+)\)"
)


def _close(stated: float, actual: float) -> bool:
    """``actual`` printed with 4 significant digits reads ``stated``."""
    return abs(stated - actual) <= 5e-4 * abs(actual) + 1e-12


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.lists(st.floats(0.05, 1.0), min_size=5, max_size=40),
    spike_at=st.integers(0, 39),
    depth=st.floats(0.0, 1.0),
    goal=st.sampled_from(["minimize", "maximize"]),
)
def test_whenever_a_spike_is_reported_its_claim_holds_on_the_raw_curve(
    base: list[float], spike_at: int, depth: float, goal: str
) -> None:
    values = np.asarray(base)
    sign = 1.0 if goal == "minimize" else -1.0
    values[spike_at % len(values)] -= sign * depth  # often a spike, sometimes a deep one
    steps = np.arange(1, len(values) + 1) * (HORIZON // len(values))
    spec = study_spec(max_steps=HORIZON, goal=goal)
    snap = snapshot(spec, [trial(0, {"dev_error": Curve(steps, values)}, spec)])
    _, findings = score_spikes(snap, CFG, checked_trials(snap, CFG))
    for f in spikes_of(findings):
        m = _CLAIM.match(f.message)
        assert m, f.message
        at = {int(s): v for s, v in zip(steps, values, strict=True)}
        raw, step = float(m["raw"]), int(m["step"])
        assert _close(raw, at[step])
        assert sign * at[step] == min(sign * values)  # the score is the curve's best
        i = int(np.flatnonzero(steps == step)[0])
        stated = re.findall(r"(\S+) \(step (\d+)\)", m["neighbours"])
        around = [int(steps[j]) for j in (i - 1, i + 1) if 0 <= j < len(steps)]
        assert [int(s) for _, s in stated] == around
        gap = float(m["gap"])
        assert m["side"] == ("below" if goal == "minimize" else "above")
        for v, s in stated:
            assert _close(float(v), at[int(s)])
            # The best stands clear of every neighbour by at least the stated amount.
            assert sign * (at[int(s)] - at[step]) >= gap - 5e-4 * abs(gap) - 1e-12
        assert float(m["ratio"]) >= CFG.spike_z - 0.05
        assert gap / float(m["sd"]) > CFG.spike_z * (1 - 1e-3)
        smooth = sign * moving_mean(sign * values, 5)
        assert _close(float(m["smoothed"]), float((sign * smooth).min() * sign))


# --- end to end: a trial that reports a spiky curve, run for real ------------------------------

TRAINER = """
import math


def main(trial):
    for i in range(30):
        dev = 0.1 + 0.4 * math.exp(-i / 4) + 0.01 * math.sin(2.3 * i)
        if trial.params["mode"] == "spiky" and i == 20:
            dev -= 0.08  # one lucky evaluation
        trial.report(10 * (i + 1), dev_error=dev)
"""


def _run(tmp_path: Path, select: str) -> tuple[Study, Any]:
    (tmp_path / "spiky_toy.py").write_text(TRAINER)
    path = tmp_path / f"{select}.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "spikes-{select}"
            [entrypoint]
            python = "spiky_toy:main"
            [objective]
            metric = "dev_error"
            select = "{select}"
            [budget]
            trials = 1
            max_train_steps = 300
            [scientific]
            mode = {{ values = ["clean", "spiky"] }}
            [nuisance]
            learning_rate = {{ low = 1e-3, high = 1e-1, scale = "log" }}
            """
        )
    )
    study = Study.open(load_spec(path))
    Runner(study, workers=1).run()
    return study, analyze(StudySnapshot.from_study(study))


def test_a_real_trial_with_a_lucky_evaluation_is_flagged_and_smoothed_scoring_cures_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    values = np.array([0.1 + 0.4 * np.exp(-i / 4) + 0.01 * np.sin(2.3 * i) for i in range(30)])
    values[20] -= 0.08  # what TRAINER reports for mode = "spiky"
    study, result = _run(tmp_path, "best")
    spiky = {t.params["mode"]: t for t in study.trials()}["spiky"]
    assert (spiky.value, spiky.value_step) == (pytest.approx(values[20]), 210)
    (f,) = spikes_of(list(result.findings))
    assert f.subject == f"trial {spiky.number}" and f.evidence["raw_step"] == 210
    assert result.spikes is not None and result.spikes.spiky == (spiky.number,)
    # Scored on its smoothed curve, the same trial is no longer crowned by its lucky point.
    study, result = _run(tmp_path, "smoothed")
    spiky = {t.params["mode"]: t for t in study.trials()}["spiky"]
    smooth = moving_mean(values, 5)
    assert spiky.value == pytest.approx(smooth.min())
    assert spiky.value_step == 10 * (int(np.argmin(smooth)) + 1)
    assert spikes_of(list(result.findings)) == []
    assert result.spikes is not None and result.spikes.select == "smoothed"


def test_read_spike_needs_a_finite_value() -> None:
    empty = Curve(np.array([100, 200]), np.array([np.nan, np.inf]))
    assert read_spike(empty, goal="minimize", max_train_steps=200, cfg=CFG) is None
    short = curve([0.5, 0.1, 0.5], [100, 200, 300])
    read = read_spike(short, goal="minimize", max_train_steps=300, cfg=CFG)
    assert read is not None and read.noise is None and not read.spike  # too short to judge
    assert dataclasses.asdict(read)["raw_best"] == 0.1
