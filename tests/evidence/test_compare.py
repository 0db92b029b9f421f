"""compare_samples: Welch intervals checked against scipy, verdicts, costs, single runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from scitune.errors import EvidenceError, ScituneError
from scitune.evidence import compare_samples

BASE = [0.120, 0.124, 0.118, 0.122, 0.121]
NOISE = np.array([0.001, -0.002, 0.002, -0.001, 0.0])  # the same spread for every candidate


def test_welch_interval_and_p_equal_scipy_for_minimize() -> None:
    cand = [0.110, 0.117, 0.113, 0.109]
    c = compare_samples(BASE, cand, metric="dev_error", goal="minimize", confidence=0.9)
    # Lower is better: the improvement is baseline - candidate.
    ref = stats.ttest_ind(BASE, cand, equal_var=False)
    ci = ref.confidence_interval(confidence_level=0.9)
    assert c.method == "welch"
    assert c.improvement == pytest.approx(np.mean(BASE) - np.mean(cand))
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))
    se = math.sqrt(np.var(BASE, ddof=1) / 5 + np.var(cand, ddof=1) / 4)
    assert c.p_better == pytest.approx(stats.t.cdf(c.improvement / se, ref.df))
    assert c.baseline.std == pytest.approx(np.std(BASE, ddof=1))
    assert c.candidate.se == pytest.approx(np.std(cand, ddof=1) / 2)


def test_maximize_turns_the_difference_around() -> None:
    base = [0.80, 0.82, 0.81]
    cand = [0.86, 0.88, 0.87]
    c = compare_samples(base, cand, metric="accuracy", goal="maximize")
    ci = stats.ttest_ind(cand, base, equal_var=False).confidence_interval()
    assert c.improvement == pytest.approx(0.06)
    assert c.relative_improvement == pytest.approx(0.06 / 0.81)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))
    assert c.verdict == "adopt"
    assert c.p_better > 0.99
    flipped = compare_samples(base, cand, metric="accuracy", goal="minimize")
    assert flipped.improvement == pytest.approx(-0.06)
    assert flipped.verdict == "worse"
    assert flipped.seeds_needed is None


def test_clearly_better_is_adopted() -> None:
    cand = list(np.array(BASE) - 0.02)
    c = compare_samples(BASE, cand, metric="dev_error", goal="minimize")
    assert c.verdict == "adopt"
    assert c.ci_low > 0
    assert c.seeds_needed is None
    assert any("adopt" in r for r in c.reasons)


def test_clearly_worse_is_worse() -> None:
    cand = list(np.array(BASE) + 0.02)
    c = compare_samples(BASE, cand, metric="dev_error", goal="minimize")
    assert c.verdict == "worse"
    assert c.ci_high < 0
    assert c.p_better < 0.01
    assert c.seeds_needed is None


def test_overlapping_needs_more_seeds_and_fewer_as_the_effect_grows() -> None:
    base = 0.120 + NOISE
    needed = []
    for delta in (0.0008, 0.0012, 0.0016):
        cand = 0.120 - delta + NOISE[::-1]
        c = compare_samples(base, cand, metric="dev_error", goal="minimize")
        assert c.verdict == "not enough evidence"
        assert c.ci_low <= 0 <= c.ci_high
        assert c.seeds_needed is not None
        needed.append(c.seeds_needed)
        assert any(f"About {c.seeds_needed} seeds per side" in r for r in c.reasons)
    assert 5 < needed[-1] < needed[1] < needed[0] < 1000


def test_seeds_needed_is_where_the_half_width_first_beats_the_gap() -> None:
    base, cand = [1.0, 1.4, 0.9, 1.2], [1.1, 0.8, 0.9, 1.0]
    c = compare_samples(base, cand, metric="loss", goal="minimize")
    assert c.verdict == "not enough evidence"
    n = c.seeds_needed
    assert n is not None
    sd = math.sqrt((3 * np.var(base, ddof=1) + 3 * np.var(cand, ddof=1)) / 6)

    def half(k: int) -> float:
        return float(stats.t.ppf(0.975, 2 * k - 2) * sd * math.sqrt(2 / k))

    assert half(n) < c.improvement <= half(n - 1)


def test_a_small_gain_with_a_cost_is_not_adopted_and_more_seeds_cannot_help() -> None:
    base = 0.120 + NOISE
    cand = 0.115 + NOISE  # 0.005 better, very clearly
    assert compare_samples(base, cand, metric="dev_error", goal="minimize").verdict == "adopt"
    c = compare_samples(base, cand, metric="dev_error", goal="minimize", cost=0.01)
    assert c.verdict == "not enough evidence"
    assert c.seeds_needed is None
    assert c.cost == 0.01
    assert any("even if real, the gain does not pay for its declared cost" in r for r in c.reasons)


def test_a_gain_that_clears_its_cost_is_adopted() -> None:
    base = 0.120 + NOISE
    c = compare_samples(base, 0.100 + NOISE, metric="dev_error", goal="minimize", cost=0.01)
    assert c.ci_low > 0.01
    assert c.verdict == "adopt"
    # Significantly better but not surely above the cost: more seeds may show it pays.
    c = compare_samples(base, 0.1085 + NOISE, metric="dev_error", goal="minimize", cost=0.01)
    assert 0 < c.ci_low <= 0.01
    assert c.verdict == "not enough evidence"
    assert c.seeds_needed is not None


def test_non_finite_values_are_dropped_and_said() -> None:
    c = compare_samples(
        [0.12, math.nan, 0.121, 0.119], [0.10, 0.101, math.inf], metric="dev_error", goal="minimize"
    )
    assert c.baseline.n == 3
    assert c.baseline.values == (0.12, 0.121, 0.119)
    assert c.candidate.n == 2
    dropped = [r for r in c.reasons if r.startswith("Dropped")]
    assert len(dropped) == 2
    assert "'baseline'" in dropped[0]
    assert "'candidate'" in dropped[1]


def test_a_single_run_without_noise_estimate_asks_for_reseeding() -> None:
    c = compare_samples([0.12], [0.10, 0.101, 0.099], metric="dev_error", goal="minimize")
    assert c.verdict == "not enough evidence"
    assert c.seeds_needed is None
    assert c.method == "none"
    assert c.baseline.std is None and c.baseline.se is None
    assert (c.ci_low, c.ci_high) == (-math.inf, math.inf)
    assert any("reseed both sides (`scitune reseed`)" in r for r in c.reasons)


def test_a_single_run_with_the_study_noise_uses_a_normal_interval() -> None:
    sd = 0.004
    c = compare_samples(
        [0.12], [0.10, 0.101, 0.099], metric="dev_error", goal="minimize", noise_sd=sd
    )
    assert c.method == "known noise"
    se = sd * math.sqrt(1 + 1 / 3)
    z = stats.norm.ppf(0.975)
    d = 0.12 - 0.1
    assert (c.ci_low, c.ci_high) == pytest.approx((d - z * se, d + z * se))
    assert c.p_better == pytest.approx(stats.norm.cdf(d / se))
    assert c.verdict == "adopt"
    # Within the noise: seeds per side from the same normal interval.
    c = compare_samples([0.12], [0.117], metric="dev_error", goal="minimize", noise_sd=sd)
    assert c.verdict == "not enough evidence"
    n = c.seeds_needed
    assert n is not None
    assert z * sd * math.sqrt(2 / n) < 0.003 <= z * sd * math.sqrt(2 / (n - 1))


def test_noise_sd_is_ignored_when_both_sides_have_spread() -> None:
    c = compare_samples(BASE, [0.11, 0.112], metric="dev_error", goal="minimize", noise_sd=1.0)
    assert c.method == "welch"


def test_zero_spread_gives_a_point_interval() -> None:
    c = compare_samples([0.2, 0.2], [0.1, 0.1], metric="dev_error", goal="minimize")
    assert (c.ci_low, c.ci_high) == pytest.approx((0.1, 0.1))
    assert c.p_better == 1.0
    assert c.verdict == "adopt"


@pytest.mark.parametrize(
    ("baseline", "candidate", "kwargs", "match"),
    [
        ([], [0.1], {}, "baseline: a sample needs at least one finite score, got no values"),
        ([0.1], [math.nan], {}, "candidate: .*only non-finite values"),
        ([0.1], [0.2], {"goal": "lower"}, "goal must be 'minimize' or 'maximize'"),
        ([0.1], [0.2], {"cost": -0.1}, "cost .* must be a finite number >= 0"),
        ([0.1], [0.2], {"confidence": 95.0}, r"confidence must lie in \(0, 1\)"),
        ([0.1], [0.2], {"noise_sd": math.nan}, "noise_sd .* finite number >= 0"),
    ],
)
def test_bad_input_raises_an_evidence_error(
    baseline: list[float], candidate: list[float], kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"metric": "dev_error", "goal": "minimize", **kwargs}
    with pytest.raises(EvidenceError, match=match) as info:
        compare_samples(baseline, candidate, **args)  # type: ignore[arg-type]
    assert isinstance(info.value, ScituneError)
    assert isinstance(info.value, ValueError)


def test_labels_and_metric_appear_in_the_reasons() -> None:
    c = compare_samples(
        BASE,
        [0.11, 0.112, 0.111],
        metric="dev_error",
        goal="minimize",
        baseline_label="lr=0.01",
        candidate_label="lr=0.03",
    )
    assert c.baseline.label == "lr=0.01"
    assert c.reasons[0].startswith("'lr=0.03' beats 'lr=0.01' by 0.01 dev_error on average")
