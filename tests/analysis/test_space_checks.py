"""Search-space checks: boundary, infeasible trials, sampling density, isolation.

Every check runs on a constructed study with and without its pathology (no false positives).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from scitune.analysis import AnalysisConfig, AxisResult, Finding, StudySnapshot
from scitune.analysis._axes import axis_results, suggest_bound
from scitune.analysis._density import best_of_k_quantiles, density
from scitune.analysis._infeasible import infeasible_findings
from scitune.analysis._isolation import isolation_results
from scitune.space import FloatDomain, Value
from scitune.spec import StudySpec
from scitune.storage import FrozenTrial, TrialState

from .helpers import make_spec, make_trial, snapshot

CFG = AnalysisConfig()
LR = FloatDomain(1e-4, 0.3, "log")
WD = FloatDomain(1e-6, 1e-2, "log")
DROPOUTS = (0.0, 0.1, 0.3)
JOINT = {"design": "joint"}


def spread(n: int) -> list[float]:
    """n unit coordinates evenly spread: (i + 0.5) / n."""
    return [(i + 0.5) / n for i in range(n)]


def wd_unit(i: int, n: int) -> float:
    return ((7 * i) % n + 0.5) / n  # a permutation, so lr and wd are not aligned


def lr_study(
    score: Callable[[float, float], float],
    *,
    n: int = 20,
    infeasible: Callable[[int, float], bool] = lambda i, u: False,
    spec: StudySpec | None = None,
) -> StudySnapshot:
    """n trials spread over lr x wd (joint design); ``score(lr_unit, wd_unit)``."""
    spec = spec or make_spec(search=JOINT)
    trials = []
    for i, u in enumerate(spread(n)):
        w = wd_unit(i, n)
        params: dict[str, Value] = {
            "dropout": DROPOUTS[i % 3],
            "learning_rate": LR.from_unit(u),
            "weight_decay": WD.from_unit(w),
            "optimizer": "adam",
        }
        if infeasible(i, u):
            trials.append(make_trial(i, params, state="INFEASIBLE", reason=f"diverged at {i}00"))
        else:
            trials.append(make_trial(i, params, value=score(u, w)))
    return snapshot(spec, trials)


def bowl(center: float) -> Callable[[float, float], float]:
    return lambda u, w: 0.05 + (u - center) ** 2 + 0.3 * (w - 0.5) ** 2


def codes(findings: Sequence[Finding]) -> list[str]:
    check_jsonable(findings)
    return [f.code for f in findings]


def check_jsonable(findings: Sequence[Finding]) -> None:
    for f in findings:
        json.dumps(dict(f.evidence), allow_nan=False)
        assert f.severity in ("info", "warning", "critical")
        assert f.section.startswith("§") and f.action and f.message


def only(findings: Sequence[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, codes(findings)
    return found[0]


def axis(results: Sequence[AxisResult], key: str) -> AxisResult:
    return next(a for a in results if a.key == key)


# --- boundary -------------------------------------------------------------------------------------


def test_optimum_in_the_middle_of_a_log_range_raises_no_boundary_finding() -> None:
    axes, findings = axis_results(lr_study(bowl(0.5)), CFG)
    assert codes(findings) == ["boundary.ok"]
    assert findings[0].severity == "info"
    assert findings[0].evidence["axes"] == ["learning_rate", "weight_decay"]
    assert findings[0].evidence["defaults"] == "ours"
    assert [a.key for a in axes] == ["dropout", "learning_rate", "weight_decay"]
    lr = axis(axes, "learning_rate")
    assert lr.near_edge is None and lr.margin == CFG.boundary_margin
    assert lr.role == "nuisance" and lr.kind == "float" and lr.scale == "log"
    assert len(lr.points) == 20 and all(p.ranked and p.score is not None for p in lr.points)
    assert lr.points[0].unit == pytest.approx(0.025)
    dropout = axis(axes, "dropout")
    assert dropout.kind == "choice" and dropout.choices == DROPOUTS and dropout.margin == 0.0


def test_best_at_the_top_of_the_range_suggests_a_higher_bound() -> None:
    axes, findings = axis_results(lr_study(bowl(1.0)), CFG)
    f = only(findings, "boundary.near_edge")
    assert "boundary.ok" not in codes(findings)
    assert f.subject == "learning_rate" and f.severity == "warning"
    assert f.evidence["edge"] == "high" and f.evidence["top_checked"] == 4
    assert f.evidence["top_in_band"] == 2  # units 0.925 and 0.975 are in the top 10%
    # Half the range further up in log coordinates: 0.3 * sqrt(0.3 / 1e-4) = 16.4 -> 17.
    assert f.evidence["suggested_bound"] == 17.0
    assert "upper edge" in f.message and "high = 17" in f.action
    assert axis(axes, "learning_rate").near_edge == "high"
    assert axis(axes, "weight_decay").near_edge is None


def test_a_majority_of_the_best_trials_at_an_edge_flags_it() -> None:
    # The best 3 of 10 are checked: the best at u=0.5, the next two in the lowest 10%.
    units = [0.5, 0.02, 0.05, 0.08, 0.3, 0.7, 0.9 - 1e-6, 0.6, 0.4, 0.35]
    scores = [0.1, 0.11, 0.12, 0.13, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    spec = make_spec(search=JOINT)
    trials = [
        make_trial(
            i, {"dropout": 0.0, "learning_rate": LR.from_unit(u), "weight_decay": 1e-4}, value=s
        )
        for i, (u, s) in enumerate(zip(units, scores, strict=True))
    ]
    _, findings = axis_results(snapshot(spec, trials), CFG)
    f = only(findings, "boundary.near_edge")
    assert f.evidence["edge"] == "low" and f.evidence["top_in_band"] == 2
    assert f.evidence["top_checked"] == 3
    assert "downward" in f.action and f.evidence["suggested_bound"] == pytest.approx(1.8e-6)
    # With a stricter majority the same trials pass.
    _, findings = axis_results(snapshot(spec, trials), AnalysisConfig(boundary_majority=0.8))
    assert "boundary.near_edge" not in codes(findings)


def test_maximize_reads_the_best_trials_from_the_top() -> None:
    spec = make_spec(search=JOINT, objective={"metric": "accuracy", "goal": "maximize"})
    snap = lr_study(lambda u, w: -bowl(0.0)(u, w), spec=spec)
    _, findings = axis_results(snap, CFG)
    assert only(findings, "boundary.near_edge").evidence["edge"] == "low"


def test_an_integer_at_its_bound_is_at_the_edge() -> None:
    spec = make_spec(search=JOINT, nuisance={"layers": {"low": 1, "high": 4, "type": "int"}})
    trials = [
        make_trial(i, {"dropout": 0.0, "layers": layers}, value=1.0 / layers)
        for i, layers in enumerate([1, 2, 3, 4, 1, 2, 3, 4])
    ]
    axes, findings = axis_results(snapshot(spec, trials), CFG)
    f = only(findings, "boundary.near_edge")
    assert f.evidence["edge"] == "high" and f.evidence["suggested_bound"] == 6
    assert axis(axes, "layers").kind == "int" and axis(axes, "layers").points[3].unit == 0.875


def test_conditional_axes_are_checked_separately() -> None:
    spec = make_spec(
        scientific={"optimizer": {"values": ["adam", "sgd"]}},
        fixed={},
        nuisance={
            "when": {
                "optimizer": {
                    "adam": {"learning_rate": {"low": 1e-4, "high": 0.1, "scale": "log"}},
                    "sgd": {"learning_rate": {"low": 1e-3, "high": 1.0, "scale": "log"}},
                }
            }
        },
    )
    adam, sgd = FloatDomain(1e-4, 0.1, "log"), FloatDomain(1e-3, 1.0, "log")
    trials = []
    for i, u in enumerate(spread(10)):
        trials.append(
            make_trial(
                2 * i,
                {"optimizer": "adam", "learning_rate": adam.from_unit(u)},
                value=1.0 - u,  # best at the top
                slot='{"optimizer": "adam"}',
            )
        )
        trials.append(
            make_trial(
                2 * i + 1,
                {"optimizer": "sgd", "learning_rate": sgd.from_unit(u)},
                value=0.5 + (u - 0.5) ** 2,  # best in the middle
                slot='{"optimizer": "sgd"}',
            )
        )
    axes, findings = axis_results(snapshot(spec, trials), CFG)
    assert [a.key for a in axes] == [
        "optimizer",
        "learning_rate[optimizer=adam]",
        "learning_rate[optimizer=sgd]",
    ]
    f = only(findings, "boundary.near_edge")
    assert f.subject == "learning_rate[optimizer=adam]"
    assert axis(axes, "learning_rate[optimizer=adam]").near_edge == "high"
    assert axis(axes, "learning_rate[optimizer=sgd]").near_edge is None
    assert all(len(a.points) == 10 for a in axes[1:])  # each only where it is active
    assert "boundary.cell_near_edge" not in codes(findings)


def per_value_study(cell_centers: dict[float, tuple[float, float]], n: int = 10) -> StudySnapshot:
    """per_value design: each dropout value has n trials, a bowl at (center, offset)."""
    spec = make_spec(scientific={"dropout": {"values": list(cell_centers)}})
    trials = []
    number = 0
    for i, u in enumerate(spread(n)):
        w = 0.35 + 0.3 * (i % 2)  # varies, never near an edge: only lr is under test
        for d, (center, offset) in cell_centers.items():
            params = {
                "dropout": d,
                "learning_rate": LR.from_unit(u),
                "weight_decay": WD.from_unit(w),
            }
            score = offset + bowl(center)(u, w)
            slot = json.dumps({"dropout": d})
            trials.append(make_trial(number, params, value=score, slot=slot))
            number += 1
    return snapshot(spec, trials)


def test_a_per_value_cell_with_its_best_at_an_edge_is_flagged() -> None:
    snap = per_value_study({0.0: (0.5, 0.0), 0.3: (0.0, 0.5)})
    axes, findings = axis_results(snap, CFG)
    assert "boundary.near_edge" not in codes(findings)  # the pooled best are all dropout=0.0
    f = only(findings, "boundary.cell_near_edge")
    assert f.subject == "learning_rate (dropout=0.3)"
    assert f.evidence["edge"] == "low" and f.evidence["cell"] == '{"dropout": 0.3}'
    assert "low = 1.8e-06" in f.action
    assert axis(axes, "learning_rate").near_edge is None
    assert "boundary.ok" not in codes(findings)


def test_healthy_per_value_cells_raise_no_cell_finding() -> None:
    snap = per_value_study({0.0: (0.5, 0.0), 0.1: (0.45, 0.01), 0.3: (0.55, 0.02)})
    _, findings = axis_results(snap, CFG)
    assert codes(findings) == ["boundary.ok"]


@pytest.mark.parametrize(
    ("domain", "edge", "expected"),
    [
        ({"low": 1e-4, "high": 0.3, "scale": "log"}, "high", 17.0),
        ({"low": 0.0, "high": 0.5, "scale": "linear"}, "high", 0.75),
        ({"low": 0.0, "high": 0.5, "scale": "linear"}, "low", None),  # cannot go below 0
        ({"low": 0.1, "high": 0.5, "scale": "linear"}, "low", 0.0),
        ({"low": 0.5, "high": 0.99, "scale": "reverse_log"}, "low", 0.096),
    ],
)
def test_suggested_bounds(domain: dict[str, Any], edge: str, expected: float | None) -> None:
    spec = make_spec(search=JOINT, nuisance={"x": domain})
    d = spec.nuisance_space().axes[0].domain
    trials = [
        make_trial(i, {"dropout": 0.0, "x": d.from_unit(u)}, value=u)
        for i, u in enumerate([0.2, 0.8])
    ]
    axes, _ = axis_results(snapshot(spec, trials), CFG)
    bound = suggest_bound(axis(axes, "x"), edge)  # type: ignore[arg-type]
    assert bound == (pytest.approx(expected) if expected is not None else None)


# --- infeasible and failed trials ---------------------------------------------------------------


def test_infeasible_share_above_the_threshold_warns_with_reasons() -> None:
    snap = lr_study(bowl(0.5), infeasible=lambda i, u: i in (1, 5, 9, 13, 17))
    axes, _ = axis_results(snap, CFG)
    findings = infeasible_findings(snap, CFG, axes)
    f = only(findings, "infeasible.fraction")
    assert f.severity == "warning" and f.evidence["fraction"] == 0.25
    # "diverged at 100", "diverged at 500"... are one reason with 5 trials.
    assert f.evidence["reasons"] == [
        {"reason": "diverged at N", "count": 5, "example": "diverged at 100"}
    ]
    assert "5 of 20" in f.message and "(5)" in f.message


def test_a_few_infeasible_trials_are_info_and_none_says_nothing() -> None:
    snap = lr_study(bowl(0.5), infeasible=lambda i, u: i in (4, 11))
    axes, _ = axis_results(snap, CFG)
    assert codes(infeasible_findings(snap, CFG, axes)) == ["infeasible.fraction"]
    assert infeasible_findings(snap, CFG, axes)[0].severity == "info"
    clean = lr_study(bowl(0.5))
    assert infeasible_findings(clean, CFG, axis_results(clean, CFG)[0]) == []


def test_failed_trials_are_reported_apart_from_infeasible_ones() -> None:
    spec = make_spec(search=JOINT)
    params = {"dropout": 0.0, "learning_rate": 0.01, "weight_decay": 1e-4}
    trials = [make_trial(i, params, value=0.1 * i) for i in range(8)]
    trials += [make_trial(8, params, state="FAILED", reason="timed out after 20m")]
    trials += [make_trial(9, params, state="FAILED", reason="exit code 1")]
    trials += [make_trial(10, params, state="INFEASIBLE", reason="loss is nan")]
    trials += [make_trial(11, params, state="RUNNING")]
    snap = snapshot(spec, trials)
    findings = infeasible_findings(snap, CFG, axis_results(snap, CFG)[0])
    failed = only(findings, "failed.trials")
    assert failed.severity == "warning" and failed.evidence["n_failed"] == 2
    assert "scitune trials s" in failed.action
    fraction = only(findings, "infeasible.fraction")
    assert fraction.evidence["n_with_result"] == 9  # 8 complete + 1 infeasible; FAILED excluded
    assert fraction.severity == "info"


def test_best_trial_at_the_edge_of_divergence_is_a_stability_problem() -> None:
    # Every trial above u=0.8 diverges; the best sits just below it.
    snap = lr_study(lambda u, w: (u - 0.78) ** 2 + 0.01 * w, infeasible=lambda i, u: u > 0.8)
    axes, _ = axis_results(snap, CFG)
    findings = infeasible_findings(snap, CFG, axes)
    f = only(findings, "infeasible.stability_edge")
    assert f.severity == "critical" and f.subject == "learning_rate"
    assert f.evidence["side"] == "high" and f.evidence["n_beyond"] == 4
    assert f.evidence["best_trial"] == 15 and f.evidence["gap_unit"] == pytest.approx(0.05)
    assert "edge of divergence" in f.message and "warmup" in f.action
    assert "§9" in f.section
    assert "infeasible.region" not in codes(findings)  # the stronger finding says it


def test_best_trials_reaching_divergence_in_a_coarse_search_is_a_stability_problem() -> None:
    # Seen on MNIST-1D with plain SGD: 8 points cannot land within 10% of the edge, but the
    # completed trial nearest the infeasible region is one of the best 3.
    snap = lr_study(bowl(0.55), n=8, infeasible=lambda i, u: u > 0.8)
    findings = infeasible_findings(snap, CFG, axis_results(snap, CFG)[0])
    f = only(findings, "infeasible.stability_edge")
    assert f.evidence["best_trial"] == 5 and f.evidence["top_checked"] == 3
    assert "nearest that edge" in f.message
    # The same region with the best trials far from it is no stability problem.
    far = lr_study(bowl(0.3), n=8, infeasible=lambda i, u: u > 0.8)
    far_findings = infeasible_findings(far, CFG, axis_results(far, CFG)[0])
    assert "infeasible.stability_edge" not in codes(far_findings)
    assert "infeasible.region" in codes(far_findings)


def test_an_infeasible_region_away_from_the_best_is_info() -> None:
    snap = lr_study(bowl(0.3), infeasible=lambda i, u: u > 0.8)
    findings = infeasible_findings(snap, CFG, axis_results(snap, CFG)[0])
    assert "infeasible.stability_edge" not in codes(findings)
    f = only(findings, "infeasible.region")
    assert f.severity == "info" and f.subject == "learning_rate"
    assert f.message.startswith("All 4 infeasible trials have learning_rate >= ")
    assert "no feasible trial above it" in f.message


def test_scattered_infeasible_trials_show_no_pattern() -> None:
    snap = lr_study(bowl(0.9), infeasible=lambda i, u: i in (2, 7, 12, 17))
    findings = infeasible_findings(snap, CFG, axis_results(snap, CFG)[0])
    assert codes(findings) == ["infeasible.fraction"]


# --- sampling density ----------------------------------------------------------------------------


def scored_study(
    scores: Sequence[float | None], *, goal: str = "minimize", infeasible: int = 0
) -> StudySnapshot:
    spec = make_spec(search=JOINT, objective={"metric": "dev_error", "goal": goal})
    trials: list[FrozenTrial] = []
    n = len(scores) + infeasible
    units = spread(n)
    for i in range(n):
        params = {"dropout": 0.0, "learning_rate": LR.from_unit(units[i]), "weight_decay": 1e-4}
        if i < len(scores):
            trials.append(make_trial(i, params, value=scores[i]))
        else:
            trials.append(make_trial(i, params, state="INFEASIBLE", reason="nan"))
    return snapshot(spec, trials)


def test_a_flattened_best_of_k_says_more_trials_would_not_help() -> None:
    rng = np.random.default_rng(1)
    best_of_k, findings = density(scored_study(rng.uniform(0.1, 1.0, 60).tolist()), CFG)
    f = only(findings, "density.flattened")
    assert f.severity == "info" and f.evidence["k_half"] == 30
    assert f.evidence["gain"] < f.evidence["threshold"]
    assert best_of_k is not None and best_of_k.n == 60


def test_a_rare_outlier_best_means_more_trials_would_change_the_winner() -> None:
    scores = [1.0 + 0.001 * i for i in range(39)] + [0.5]
    _, findings = density(scored_study(scores), CFG)
    f = only(findings, "density.more_trials")
    assert f.severity == "warning" and "budget.trials" in f.action
    assert f.evidence["gain"] > f.evidence["threshold"]


def test_too_few_ranked_trials() -> None:
    best_of_k, findings = density(scored_study([0.3, 0.2, 0.4], infeasible=5), CFG)
    assert best_of_k is None
    assert codes(findings) == ["density.near_best", "density.too_few"]
    assert only(findings, "density.too_few").severity == "warning"
    best_of_k, findings = density(scored_study([], infeasible=3), CFG)
    assert best_of_k is None and codes(findings) == ["density.too_few"]


def test_near_best_counts_trials_within_the_tolerance() -> None:
    _, findings = density(scored_study([1.04, 2.0, 1.0, 3.0, 1.02, 1.06]), CFG)
    f = only(findings, "density.near_best")
    assert f.evidence["n_near_best"] == 3 and f.evidence["tolerance_kind"] == "relative"
    assert "3 of 6" in f.message
    _, findings = density(scored_study([0.0, 0.04, 0.06, 1.0]), CFG)  # best 0: absolute
    f = only(findings, "density.near_best")
    assert f.evidence["n_near_best"] == 2 and f.evidence["tolerance_kind"] == "absolute"


def test_best_of_k_shapes_order_and_seed() -> None:
    snap = scored_study(np.linspace(0.1, 1.0, 25).tolist(), infeasible=5)
    a, _ = density(snap, CFG)
    b, _ = density(snap, CFG)
    c, _ = density(snap, AnalysisConfig(seed=1))
    assert a is not None and c is not None
    assert a == b and a != c  # reproducible by seed
    assert a.k == tuple(range(1, 31)) and a.n == 30  # every finished trial, infeasible too
    assert len(a.median) == len(a.q25) == len(a.q75) == 30
    assert a.observed_best == pytest.approx(0.1)
    med = np.array(a.median)
    assert np.all(np.diff(med) <= 1e-12)  # the best of more trials is never worse
    assert np.all(np.array(a.q25) <= med) and np.all(med <= np.array(a.q75))
    assert a.median[-1] == pytest.approx(0.1, abs=0.05)


def test_best_of_k_for_maximize_rises() -> None:
    best_of_k, _ = density(scored_study(np.linspace(0.1, 1.0, 20).tolist(), goal="maximize"), CFG)
    assert best_of_k is not None and best_of_k.observed_best == pytest.approx(1.0)
    med = np.array(best_of_k.median)
    assert np.all(np.diff(med) >= -1e-12)
    assert np.all(np.array(best_of_k.q25) <= med) and np.all(med <= np.array(best_of_k.q75))


def test_draws_without_a_score_count_as_the_worst() -> None:
    # 4 ranked trials among 20: one draw usually has no score; 20 draws usually have one.
    best_of_k, findings = density(scored_study([0.1, 0.2, 0.3, 0.4], infeasible=16), CFG)
    assert best_of_k is not None
    assert math.isnan(best_of_k.median[0]) and math.isnan(best_of_k.q75[0])
    assert math.isfinite(best_of_k.median[-1])
    # Half the draws of 10 trials still lack a score at the 75th percentile: not flattened.
    assert "density.more_trials" in codes(findings)


def test_bootstrap_quantiles_match_a_direct_computation() -> None:
    pop = np.array([3.0, 1.0, np.inf, 2.0, 5.0])
    q = best_of_k_quantiles(pop, 200, seed=7)
    rng = np.random.default_rng(7)
    direct = np.minimum.accumulate(pop[rng.integers(0, 5, size=(200, 5))], axis=1)
    with np.errstate(invalid="ignore"):
        expected = np.quantile(direct, [0.25, 0.5, 0.75], axis=0)
    expected[~np.isfinite(expected)] = np.nan
    np.testing.assert_array_equal(q, expected)


# --- isolation -----------------------------------------------------------------------------------


def test_a_fair_isolation_names_the_best_value() -> None:
    snap = per_value_study({0.0: (0.5, 0.02), 0.1: (0.5, 0.0), 0.3: (0.45, 0.05)}, n=6)
    axes, _ = axis_results(snap, CFG)
    results, findings = isolation_results(snap, CFG, axes)
    assert [r.name for r in results] == ["dropout"]
    r = results[0]
    assert r.verdict == "fair" and r.reasons == () and r.best_label == "0.1"
    assert [g.label for g in r.groups] == ["0", "0.1", "0.3"]
    assert [g.n_complete for g in r.groups] == [6, 6, 6]
    assert all(len(g.scores) == 6 and g.best_at_boundary == () for g in r.groups)
    f = only(findings, "isolation.summary")
    assert codes(findings) == ["isolation.summary"]
    assert f.message.startswith("dropout: 0.1 best (dev_error ")
    assert "trial-to-trial variance" in f.message
    assert f.evidence["gap_to_second"] == pytest.approx(0.02)


def test_a_thin_isolation_says_why() -> None:
    snap = per_value_study({0.0: (0.5, 0.0), 0.1: (0.0, 0.01), 0.3: (0.5, 0.02)}, n=6)
    # Keep only 2 trials of dropout=0.3; add a value that was never tried.
    trials = [t for t in snap.trials if t.params["dropout"] != 0.3 or t.number < 6]
    spec = make_spec(scientific={"dropout": {"values": [0.0, 0.1, 0.3, 0.5]}})
    snap = snapshot(spec, trials)
    axes, _ = axis_results(snap, CFG)
    results, findings = isolation_results(snap, CFG, axes)
    r = results[0]
    assert r.verdict == "thin"
    by_label = {g.label: g for g in r.groups}
    assert by_label["0.1"].best_at_boundary == ("learning_rate",)
    assert by_label["0.3"].n_complete == 2
    assert by_label["0.5"].n_trials == 0 and by_label["0.5"].best_trial is None
    best_01 = by_label["0.1"].best_trial
    assert r.reasons == (
        f"0.1: its best trial (trial {best_01}) sits at the edge of learning_rate",
        "0.3: 2 complete trials (fewer than 5)",
        "0.5: 0 complete trials (fewer than 5)",
        "0.5: no ranked trial",
    )
    f = only(findings, "isolation.thin")
    assert f.severity == "warning" and f.subject == "dropout"
    assert "0.5: no ranked trial" in only(findings, "isolation.summary").message


def test_a_continuous_scientific_axis_is_bucketed() -> None:
    spec = make_spec(search=JOINT, scientific={"dropout": {"low": 0.0, "high": 0.5}})
    trials = [
        make_trial(
            i,
            {
                "dropout": 0.5 * u,
                "learning_rate": LR.from_unit(wd_unit(i, 40)),
                "weight_decay": 1e-4,
            },
            value=abs(u - 0.3),
        )
        for i, u in enumerate(spread(40))
    ]
    snap = snapshot(spec, trials)
    results, _ = isolation_results(snap, CFG, axis_results(snap, CFG)[0])
    r = results[0]
    assert [g.label for g in r.groups] == [
        "[0, 0.1)",
        "[0.1, 0.2)",
        "[0.2, 0.3)",
        "[0.3, 0.4)",
        "[0.4, 0.5]",
    ]
    assert all(g.n_trials == 8 and g.value is None for g in r.groups)
    assert r.groups[1].low == pytest.approx(0.1) and r.groups[1].high == pytest.approx(0.2)
    assert r.best_label in ("[0.1, 0.2)", "[0.2, 0.3)")


def test_infeasible_states_are_counted_per_group() -> None:
    snap = per_value_study({0.0: (0.5, 0.0), 0.1: (0.5, 0.01)}, n=6)
    trials = [
        t if t.number != 1 else make_trial(1, t.params, state=TrialState.INFEASIBLE, slot=t.slot)
        for t in snap.trials
    ]
    snap = snapshot(snap.spec, trials)
    results, _ = isolation_results(snap, CFG, axis_results(snap, CFG)[0])
    groups = {g.label: g for g in results[0].groups}
    assert groups["0.1"].n_infeasible == 1 and groups["0.1"].n_complete == 5
    assert results[0].verdict == "fair"  # 5 complete trials are enough (isolation_min_trials)


def test_a_single_scored_value_has_nothing_to_compare_with() -> None:
    snap = per_value_study({0.0: (0.5, 0.0), 0.1: (0.5, 0.01)}, n=6)
    trials = [
        t
        if t.params["dropout"] == 0.0
        else make_trial(t.number, t.params, state="INFEASIBLE", slot=t.slot, reason="nan")
        for t in snap.trials
    ]
    snap = snapshot(snap.spec, trials)
    results, findings = isolation_results(snap, CFG, axis_results(snap, CFG)[0])
    assert results[0].best_label == "0" and results[0].verdict == "thin"
    summary = only(findings, "isolation.summary")
    assert summary.evidence["gap_to_second"] is None
    assert "nothing to compare" in summary.action
