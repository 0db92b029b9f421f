"""Trial variance from reseeded families, pooled sd, and the study bootstrap."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from scitune.analysis import StudySnapshot
from scitune.errors import EvidenceError
from scitune.evidence import config_variance, pooled_sd, study_variance, variance_findings
from scitune.storage import FrozenTrial, TrialState
from tests.analysis.helpers import make_curve, make_spec, make_trial, snapshot


def rerun(number: int, parent: FrozenTrial, value: float | None, **kw: Any) -> FrozenTrial:
    """A reseed of ``parent``: same configuration, new number and seed."""
    t = make_trial(number, parent.params, value=value, slot=f"reseed:{parent.slot}", **kw)
    return dataclasses.replace(t, parent_number=parent.number, seed=1000 + number)


def cfg(dropout: float, lr: float) -> dict[str, Any]:
    return {"dropout": dropout, "learning_rate": lr, "weight_decay": 1e-4}


def families_snapshot() -> StudySnapshot:
    a = make_trial(0, cfg(0.0, 0.01), value=0.20)
    b = make_trial(1, cfg(0.1, 0.02), value=0.10)
    c = make_trial(2, cfg(0.3, 0.03), value=0.15)
    d = make_trial(3, cfg(0.3, 0.05), state="INFEASIBLE")
    trials = [
        a, b, c, d,
        rerun(4, b, 0.12), rerun(5, b, 0.11), rerun(6, b, None, state="FAILED"),
        rerun(7, c, 0.13), rerun(8, c, 0.14),
        rerun(9, d, 0.30),
    ]  # fmt: skip
    return snapshot(make_spec(), trials)


def test_families_gather_reruns_by_parent_number() -> None:
    fams = config_variance(families_snapshot())
    assert [f.trial for f in fams] == [1, 2, 0, 3]  # best mean first (dev_error: lower)
    b, c, a, d = fams
    assert b.trial_numbers == (1, 4, 5)  # the FAILED rerun does not count
    assert b.values == (0.10, 0.12, 0.11)
    assert b.params == cfg(0.1, 0.02)
    assert (b.n, b.mean) == (3, pytest.approx(0.11))
    assert b.std == pytest.approx(np.std([0.10, 0.12, 0.11], ddof=1))
    assert b.se == pytest.approx(np.std([0.10, 0.12, 0.11], ddof=1) / math.sqrt(3))
    assert c.trial_numbers == (2, 7, 8)
    assert (a.n, a.std, a.se) == (1, None, None)
    # An infeasible original with one complete rerun: the rerun is its only ranked run.
    assert (d.trial_numbers, d.n, d.std) == ((9,), 1, None)


def test_a_configuration_without_any_ranked_run_is_left_out() -> None:
    spec = make_spec()
    t = make_trial(0, cfg(0.0, 0.01), state="INFEASIBLE")
    ok = make_trial(1, cfg(0.1, 0.01), value=0.2)
    fams = config_variance(snapshot(spec, [t, rerun(2, t, None, state="FAILED"), ok]))
    assert [f.trial for f in fams] == [1]


def test_a_configuration_with_a_run_that_breaks_a_constraint_is_not_ranked() -> None:
    """Satisficing first: a run that breaks a constraint takes its configuration out of the
    ranking (as compare and adopt refuse it), rather than being dropped as a lucky outlier."""
    spec = make_spec(constraints=[{"metric": "params_millions", "max": 1.0}])
    a = make_trial(0, cfg(0.0, 0.01), value=0.20)
    b = make_trial(3, cfg(0.1, 0.01), value=0.30)
    r1, r2 = rerun(1, a, 0.22), rerun(2, a, 0.05)
    curves = {t.id: {"params_millions": make_curve([0.5])} for t in (a, r1, b)}
    curves[r2.id] = {"params_millions": make_curve([2.0])}
    snap = snapshot(spec, [a, r1, r2, b], curves)
    (fam,) = config_variance(snap)
    assert fam.trial == 3 and fam.rank == 1
    broken = next(c for c in snap.configurations() if c.trial == 0)
    assert broken.rank is None and broken.trial_numbers == (0, 1, 2)
    assert broken.mean == pytest.approx(0.47 / 3) and broken.violations


def test_maximize_sorts_the_highest_mean_first() -> None:
    spec = make_spec(objective={"metric": "accuracy", "goal": "maximize"})
    a = make_trial(0, cfg(0.0, 0.01), value=0.80)
    b = make_trial(1, cfg(0.1, 0.01), value=0.90)
    fams = config_variance(snapshot(spec, [a, b, rerun(2, a, 0.82)]))
    assert [f.trial for f in fams] == [1, 0]


def test_pooled_sd_matches_a_hand_computation() -> None:
    fams = config_variance(families_snapshot())
    # Family #1: 0.10, 0.12, 0.11 -> s^2 = 1e-4 (2 df); family #2: 0.15, 0.13, 0.14 -> 1e-4.
    assert pooled_sd(fams) == pytest.approx(0.01)
    spec = make_spec()
    a = make_trial(0, cfg(0.0, 0.01), value=1.0)
    b = make_trial(1, cfg(0.1, 0.01), value=2.0)
    trials = [a, rerun(2, a, 3.0), b, rerun(3, b, 2.0), rerun(4, b, 5.0), rerun(5, b, 3.0)]
    fams = config_variance(snapshot(spec, trials))
    # a: 1, 3 -> ss = 2 (1 df); b: 2, 2, 5, 3 -> mean 3, ss = 1+1+4+0 = 6 (3 df).
    assert pooled_sd(fams) == pytest.approx(math.sqrt((2 + 6) / (1 + 3)))


def test_pooled_sd_is_none_without_a_reseeded_configuration() -> None:
    spec = make_spec()
    fams = config_variance(snapshot(spec, [make_trial(0, cfg(0.0, 0.01), value=1.0)]))
    assert pooled_sd(fams) is None
    assert pooled_sd([]) is None


def design_snapshot(values: list[float], *, spec_kw: dict[str, Any] | None = None) -> StudySnapshot:
    """Design trials spread over the three dropout cells (per_value design)."""
    drops = (0.0, 0.1, 0.3)
    trials = [
        make_trial(i, cfg(d, 0.01 * (i + 1)), value=v, slot=f'{{"dropout": {d}}}')
        for i, (v, d) in enumerate(zip(values, drops * len(values), strict=False))
    ]
    return snapshot(make_spec(**(spec_kw or {})), trials)


def test_the_study_bootstrap_is_reproducible_by_seed() -> None:
    rng = np.random.default_rng(3)
    snap = design_snapshot(list(rng.normal(0.2, 0.01, 12)))
    first = study_variance(snap, samples=300, seed=7, noise_sd=0.01)
    assert first == study_variance(snap, samples=300, seed=7, noise_sd=0.01)
    other = study_variance(snap, samples=300, seed=8, noise_sd=0.01)
    assert first is not None and other is not None
    assert first.winner_share != other.winner_share
    assert first.samples == 300 and first.n_trials == 12 and first.noise_sd == 0.01
    assert first.winner == snap.ranked()[0].number
    assert first.top_share == first.winner_share.get(first.winner, 0.0)
    assert list(first.winner_share.values()) == sorted(first.winner_share.values(), reverse=True)
    # Each redraw has one winner, and every cell is in every redraw.
    assert sum(first.scientific_share["dropout"].values()) == pytest.approx(1.0)


def test_without_noise_the_winner_wins_every_redraw_that_draws_it() -> None:
    snap = design_snapshot([0.2, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28])
    sv = study_variance(snap, samples=500)
    assert sv is not None
    assert sv.noise_sd is None
    assert sv.top_share == 1.0
    # The runner-up (#1, another cell) wins the redraws that draw it but miss #0; cells are
    # drawn independently, and #0's cell of three misses it with probability (2/3)^3.
    assert sv.winner_share[1] == pytest.approx((2 / 3) ** 3, abs=0.07)


def test_a_dominant_winner_wins_nearly_every_redraw() -> None:
    values = [0.30 + 0.001 * i for i in range(12)]
    values[4] = 0.05  # dropout=0.1, far beyond the retrain noise
    sv = study_variance(design_snapshot(values), samples=2000, seed=0, noise_sd=0.005)
    assert sv is not None
    assert sv.winner == 4
    assert sv.top_share > 0.99
    assert sv.winner_labels == {"dropout": "0.1"}
    # Its value wins whenever the winner is drawn (1 - (3/4)^4 of redraws) and often otherwise.
    assert sv.scientific_share["dropout"]["0.1"] >= 1 - 0.75**4 - 0.03
    assert set(sv.scientific_share["dropout"]) == {"0", "0.1", "0.3"}


def test_a_lead_within_the_noise_is_a_coin_flip() -> None:
    values = [0.30 + 0.01 * i for i in range(12)]
    values[0], values[1] = 0.100, 0.101  # two cells, 0.001 apart, retrain sd 0.01
    sv = study_variance(design_snapshot(values), samples=2000, seed=0, noise_sd=0.01)
    assert sv is not None
    assert sv.winner == 0
    # Its partner is missing from a third of the redraws; it wins about half of the rest.
    assert 0.5 < sv.top_share < 0.8
    assert 0.5 < sv.winner_share[1] < 0.8
    dropout = sv.scientific_share["dropout"]
    assert 0.3 < dropout["0"] < 0.7 and 0.3 < dropout["0.1"] < 0.7


def test_a_cell_with_one_trial_is_in_every_redraw() -> None:
    # Resampling keeps each cell's trial count: a lone best trial can never be left out.
    spec = make_spec()
    trials = [
        make_trial(0, cfg(0.0, 0.01), value=0.05, slot="a"),
        *(make_trial(i, cfg(0.1, 0.01 * i), value=0.2 + i / 100, slot="b") for i in range(1, 9)),
    ]
    sv = study_variance(snapshot(spec, trials), samples=500)
    assert sv is not None
    assert sv.top_share == 1.0
    assert sv.winner_share == {0: 1.0}


def test_reseeds_and_unranked_trials_never_win() -> None:
    snap = design_snapshot([0.2, 0.21, 0.22, 0.23, 0.24, 0.25])
    best = snap.trials[0]
    lucky = rerun(6, best, 0.01)  # a rerun is not a draw of the study
    broken = make_trial(7, cfg(0.3, 0.1), state="INFEASIBLE", slot=best.slot)
    snap = snapshot(snap.spec, [*snap.trials, lucky, broken])
    sv = study_variance(snap, samples=400, seed=1, noise_sd=0.001)
    assert sv is not None
    assert sv.n_trials == 7
    assert sv.winner == 0
    assert 6 not in sv.winner_share and 7 not in sv.winner_share


def test_continuous_scientific_axes_are_bucketed() -> None:
    spec = make_spec(scientific={"dropout": {"low": 0.0, "high": 0.5}}, search={"design": "joint"})
    trials = [make_trial(i, cfg(0.05 + 0.1 * i, 0.01), value=0.2 - 0.01 * i) for i in range(5)]
    sv = study_variance(snapshot(spec, trials), samples=200, buckets=5)
    assert sv is not None
    shares = sv.scientific_share["dropout"]
    assert list(shares) == ["[0, 0.1)", "[0.1, 0.2)", "[0.2, 0.3)", "[0.3, 0.4)", "[0.4, 0.5]"]
    assert sv.winner == 4 and sv.winner_labels == {"dropout": "[0.4, 0.5]"}
    # The best trial wins every redraw that draws it: 1 - (4/5)^5 of them.
    assert shares["[0.4, 0.5]"] == pytest.approx(1 - 0.8**5, abs=0.07)


def test_nothing_to_bootstrap_gives_none() -> None:
    spec = make_spec()
    assert study_variance(snapshot(spec, [make_trial(0, cfg(0.0, 0.01), value=0.1)])) is None
    failed = [make_trial(i, cfg(0.0, 0.01), state=TrialState.FAILED) for i in range(3)]
    assert study_variance(snapshot(spec, failed)) is None
    with pytest.raises(EvidenceError, match="samples and buckets must be >= 1"):
        study_variance(design_snapshot([0.1, 0.2]), samples=0)
    with pytest.raises(EvidenceError, match="noise_sd must be a finite number >= 0"):
        study_variance(design_snapshot([0.1, 0.2]), noise_sd=-1.0)


def test_a_split_between_two_values_is_reported_as_depending_on_the_draw() -> None:
    # Seen by a user: "best in 54% (0: 46%) ... All at or above 50%: the choice does not hinge
    # on the draw." Two dropout values with equally good trials: the redraws that miss #0 (about
    # 3 in 10) pick dropout=0.1. At the old 50% threshold this read as settled.
    values = [0.100, 0.1001, 0.5, 0.1003, 0.1002, 0.5, 0.1004, 0.1005, 0.5]
    snap = design_snapshot(values)
    sv = study_variance(snap, samples=1000, seed=0)
    assert sv is not None
    share = sv.scientific_share["dropout"]["0"]
    assert 0.5 <= share < 0.9
    (f,) = [
        f for f in variance_findings(snap, config_variance(snap), sv) if f.code == "variance.study"
    ]
    assert f.severity == "warning" and "depends on the draw" in f.message
    assert "does not hinge" not in f.message
    assert f.evidence["judged"] == {"dropout=0": pytest.approx(share)}
    assert f.evidence["variance_winner_share"] == 0.9
