"""Decisions on real training: the retrain spread of the paper's CNN, and what beats it.

``examples/mnist1d/variance.toml`` trains the CNN at three learning rates (1e-3, the paper's
1e-2, and a nearby 1.2e-2), each rerun with four new seeds (15 runs, ~50 s on 2 CPU cores).
The nearby change must come out as "not enough evidence", the tenfold one as "adopt".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scitune.analysis import StudySnapshot, analyze
from scitune.evidence import compare_samples
from scitune.execution import Runner
from scitune.project import resolve_ref
from scitune.spec import load_spec
from scitune.study import Study

STUDY = Path(__file__).resolve().parents[2] / "examples" / "mnist1d" / "variance.toml"


def test_retrain_spread_and_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    study = Study.open(load_spec(STUDY))
    Runner(study, workers=2).run()
    assert len(study.reseed(top=3, seeds=4)) == 12
    Runner(study, workers=2).run()

    def verdict(a: int, b: int) -> str:
        base = resolve_ref(f"{study.name}#{a}")
        cand = resolve_ref(f"{study.name}#{b}")
        assert len(base.scores) == len(cand.scores) == 5
        return compare_samples(
            base.scores, cand.scores, metric="dev_error", goal="minimize"
        ).verdict

    assert verdict(1, 2) == "not enough evidence"  # lr 1e-2 vs 1.2e-2: inside the spread
    assert verdict(0, 1) == "adopt"  # lr 1e-3 -> 1e-2: clearly better

    analysis = analyze(StudySnapshot.from_study(study))
    spread = {v.trial: v for v in analysis.config_variance}
    assert spread[1].n == 5 and spread[1].std is not None and spread[1].std > 0
    assert "variance.trial" in {f.code for f in analysis.findings}

    # The final evaluation reads each run's best checkpoint once, on the test set.
    from examples.mnist1d.evaluate import best_checkpoint, evaluate
    from examples.mnist1d.train import evaluate_test

    final = evaluate(f"{study.name}#1")
    runs = resolve_ref(f"{study.name}#1").runs
    assert [r["trial"] for r in final["runs"]] == [t.number for t in runs]
    accuracies = [r["test_accuracy"] for r in final["runs"]]
    assert len(accuracies) == 5 and 0.8 < final["test_accuracy_mean"] < 1.0
    assert final["test_accuracy_sd"] is not None and final["test_accuracy_sd"] > 0
    first = study.storage.get_trial(study.record.id, final["runs"][0]["trial"])
    assert evaluate_test(first.params, best_checkpoint(study, first))["test_accuracy"] == (
        accuracies[0]
    )
