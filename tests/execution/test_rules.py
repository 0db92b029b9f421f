"""``[[infeasible]]`` rules: applied while a trial runs, which is stopped at once."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from scitune.execution import Runner
from scitune.spec import load_spec
from scitune.storage import TrialState
from scitune.study import Study

TRAINER = """
import json, math, os, sys, time
lr = float(sys.argv[1])
for step in range(1, 201):
    loss = 2.0 * math.exp(step * (lr - 0.5) / 20)  # lr > 0.5 diverges without a NaN
    point = {"step": step, "metrics": {"train_loss": loss, "dev_error": 0.5}}
    with open(os.environ["SCITUNE_METRICS"], "a") as f:
        f.write(json.dumps(point) + "\\n")
    time.sleep(0.02)
"""


def _study(tmp_path: Path, rules: str) -> Study:
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAINER))
    path = tmp_path / "rules.toml"
    path.write_text(
        textwrap.dedent(
            """
            name = "rules"
            [entrypoint]
            command = ["python", "train.py", "{lr}"]
            [objective]
            metric = "dev_error"
            [budget]
            trials = 2
            max_train_steps = 200
            [search]
            sampler = "grid"
            [nuisance]
            lr = { values = [0.25, 1.5] }
            """
        )
        + textwrap.dedent(rules)
    )
    return Study.open(load_spec(path))


def test_a_rule_stops_a_diverging_trial_and_marks_it_infeasible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    study = _study(
        tmp_path, '[[infeasible]]\nmetric = "train_loss"\nabove = 10.0\nafter_step = 20\n'
    )
    start = time.monotonic()
    Runner(study, workers=2, ingest_interval=0.1).run()
    took = time.monotonic() - start
    steady, diverging = sorted(study.trials(), key=lambda t: float(t.params["lr"]))
    assert steady.state is TrialState.COMPLETE
    assert diverging.state is TrialState.INFEASIBLE
    reason = diverging.reason or ""
    assert "broke the rule train_loss > 10 from step 20 ([[infeasible]])" in reason
    assert "steps not run" in reason
    curve = study.storage.get_curves(study.record.id)[diverging.id]["train_loss"]
    # exp(step * 1 / 20) * 2 passes 10 at step 33: stopped soon after, far before 200.
    assert 33 <= int(curve.steps[-1]) < 150
    assert float(curve.values[curve.steps.tolist().index(33)]) > 10.0
    assert took < 60


def test_rules_need_one_bound_and_a_metric(tmp_path: Path) -> None:
    from scitune.errors import SpecError

    with pytest.raises(SpecError, match="needs exactly one of above and below, got both"):
        _study(tmp_path, '[[infeasible]]\nmetric = "loss"\nabove = 1.0\nbelow = 0.0\n')
    with pytest.raises(SpecError, match="after_step"):
        _study(tmp_path, '[[infeasible]]\nmetric = "loss"\nabove = 1.0\nafter_step = -1\n')


def test_a_rule_below_the_step_it_starts_at_does_not_fire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    study = _study(
        tmp_path, '[[infeasible]]\nmetric = "train_loss"\nabove = 1.0\nafter_step = 100000\n'
    )
    Runner(study, workers=2).run()
    assert [t.state for t in study.trials()] == [TrialState.COMPLETE] * 2
