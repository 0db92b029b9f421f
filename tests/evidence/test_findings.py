"""The §6 variance findings: measured, unmeasured, inseparable best two, study bootstrap."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from scitune.analysis import AnalysisConfig, Finding, StudySnapshot
from scitune.analysis._results import to_jsonable
from scitune.evidence import (
    VarianceSettings,
    config_variance,
    study_variance,
    variance_findings,
)
from scitune.storage import FrozenTrial
from tests.analysis.helpers import make_spec, make_trial, snapshot
from tests.evidence.test_variance import cfg, design_snapshot, rerun


def codes(
    snap: StudySnapshot, *, noise_sd: float | None = None, settings: object = None
) -> dict[str, Finding]:
    sv = study_variance(snap, samples=500, seed=0, noise_sd=noise_sd)
    return {f.code: f for f in variance_findings(snap, config_variance(snap), sv, settings)}


def reseeded(gap: float) -> StudySnapshot:
    """Two reseeded configurations ``gap`` apart (sd 0.01 each), plus a poor third."""
    a = make_trial(0, cfg(0.0, 0.01), value=0.10)
    b = make_trial(1, cfg(0.1, 0.01), value=0.10 + gap)
    c = make_trial(2, cfg(0.3, 0.01), value=0.50)
    trials: list[FrozenTrial] = [
        a, b, c,
        rerun(3, a, 0.11), rerun(4, a, 0.12),
        rerun(5, b, 0.11 + gap), rerun(6, b, 0.12 + gap),
    ]  # fmt: skip
    return snapshot(make_spec(), trials)


def test_no_reseed_asks_for_one() -> None:
    found = codes(design_snapshot([0.2, 0.21, 0.22]))
    f = found["variance.unmeasured"]
    assert f.severity == "info"
    assert "`scitune reseed s --top 3 --seeds 3`" in f.action
    assert f.section == "§6 Adopting a change"
    assert "variance.trial" not in found


def test_nothing_ranked_says_nothing() -> None:
    snap = snapshot(make_spec(), [make_trial(0, cfg(0.0, 0.1), state="INFEASIBLE")])
    assert variance_findings(snap, config_variance(snap), None) == []


def test_measured_variance_gives_the_noise_floor() -> None:
    snap = reseeded(0.2)
    f = codes(snap)["variance.trial"]
    # Both families: 0.10, 0.11, 0.12 -> sd 0.01 exactly.
    assert f.evidence["pooled_sd"] == pytest.approx(0.01)
    assert f.evidence["runs"] == 6
    floor = 2 * math.sqrt(2) * 0.01 / math.sqrt(3)
    assert f.evidence["noise_floor"]["3"] == pytest.approx(floor)
    message = f.message
    assert message.startswith("Retrain sd of dev_error is 0.01 (pooled over 2 configurations, 6")
    assert "differences under ~2·sqrt(2)·sd/sqrt(n) are noise" in message
    assert "variance.unmeasured" not in codes(snap)


def test_the_best_two_within_noise_are_not_separable() -> None:
    close = codes(reseeded(0.005))
    f = close["variance.best_not_separable"]
    assert f.severity == "warning"
    assert f.subject == "#0 vs #1"
    se = 0.01 / math.sqrt(3)
    assert f.evidence["combined_se"] == pytest.approx(math.sqrt(2) * se)
    assert "variance.best_not_separable" not in codes(reseeded(0.05))


def clear_winner() -> list[float]:
    """#0 far ahead of its dropout=0 cell (3, 6, 9), which is far ahead of the other cells."""
    values = [0.30 + 0.01 * i for i in range(12)]
    for i in (3, 6, 9):
        values[i] = 0.1 + 0.001 * i
    values[0] = 0.05
    return values


def test_study_bootstrap_warns_below_the_share_and_informs_above() -> None:
    values = [0.30 + 0.01 * i for i in range(12)]
    values[0], values[1] = 0.100, 0.101  # two cells within the noise
    tied = codes(design_snapshot(values), noise_sd=0.01)["variance.study"]
    assert tied.severity == "warning"
    assert "(ours)" in tied.message and "depends on the draw" in tied.message
    clear = codes(design_snapshot(clear_winner()), noise_sd=0.01)["variance.study"]
    assert clear.severity == "info"
    assert "the winner #0 wins" in clear.message and "does not hinge" in clear.message
    assert clear.evidence["judged"]["dropout=0"] >= 0.9


def test_one_lucky_trial_does_not_settle_its_scientific_value() -> None:
    # Only #0 is good in the dropout=0 cell: a redraw without it picks another value 3 times in
    # 10. At the old 50% threshold this read "does not hinge on the draw".
    values = [0.30 + 0.01 * i for i in range(12)]
    values[0] = 0.1
    f = codes(design_snapshot(values), noise_sd=0.01)["variance.study"]
    share = f.evidence["judged"]["dropout=0"]
    assert 0.5 < share < 0.9
    assert f.severity == "warning" and f"dropout=0 {share:.0%}" in f.message


def test_settings_come_from_any_config_like_object() -> None:
    values = clear_winner()
    values[0] = 0.07  # #0 wins about 99% of the redraws that include it
    snap = design_snapshot(values)
    strict = SimpleNamespace(variance_winner_share=0.999, reseed_top=5)
    found = codes(snap, noise_sd=0.01, settings=strict)
    assert found["variance.study"].severity == "warning"
    assert "--top 5 --seeds 3" in found["variance.unmeasured"].action
    # An AnalysisConfig without these names keeps the defaults.
    plain = codes(snap, noise_sd=0.01, settings=AnalysisConfig())
    assert plain["variance.study"].severity == "info"
    assert VarianceSettings().variance_winner_share == 0.9
    assert AnalysisConfig().variance_winner_share == VarianceSettings().variance_winner_share


def test_findings_are_json_able() -> None:
    found = variance_findings(
        reseeded(0.005), config_variance(reseeded(0.005)), None, VarianceSettings()
    )
    json.dumps(to_jsonable(found))
