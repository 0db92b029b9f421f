"""The local runner with real subprocess trials and a real SQLite file."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from scitune.errors import EntrypointError
from scitune.execution import Runner
from scitune.spec import load_spec
from scitune.storage import TrialState
from scitune.study import Study


def run_study(path: Path, workers: int = 2) -> Study:
    study = Study.open(load_spec(path))
    Runner(study, workers=workers, ingest_interval=0.05).run()
    return study


def test_every_trial_completes_with_best_over_training_score(
    write_study: Callable[..., Path],
) -> None:
    study = run_study(write_study(trials=4))
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    curves = study.storage.get_curves(study.record.id)
    for t in trials:
        dev = curves[t.id]["dev_error"]
        assert list(dev.steps) == list(range(10, 101, 10))
        i = int(np.argmin(dev.values))
        assert (t.value, t.value_step) == (pytest.approx(dev.values[i]), dev.steps[i])
        assert t.value_step == 80  # the toy's late bump: best is not the last step
        assert t.attempts == 1 and t.duration_s is not None
        assert Path(t.dir or "", "attempt-1", "metrics.jsonl").is_file()


def test_select_final_scores_the_last_value(write_study: Callable[..., Path]) -> None:
    path = write_study(trials=2, extra="")
    text = path.read_text().replace('goal = "minimize"', 'goal = "minimize"\nselect = "final"')
    path.write_text(text)
    study = run_study(path)
    assert all(t.value_step == 100 for t in study.trials())


def test_failures_infeasible_and_divergence_are_told_apart(
    write_study: Callable[..., Path],
) -> None:
    study = run_study(
        write_study(trials=2, modes=("ok", "crash", "infeasible", "nan", "silent", "exit3"))
    )
    by_mode: dict[str, list] = {}
    for t in study.trials():
        by_mode.setdefault(str(t.params["mode"]), []).append(t)
    assert all(t.state is TrialState.COMPLETE for t in by_mode["ok"])
    for t in by_mode["crash"]:
        assert t.state is TrialState.FAILED
        assert "ValueError: toy crash" in (t.reason or "")
        assert "Traceback" in (t.stderr_tail or "")
    for t in by_mode["infeasible"]:
        assert t.state is TrialState.INFEASIBLE
        assert t.reason == "toy says this configuration diverges"
    for t in by_mode["nan"]:
        assert t.state is TrialState.INFEASIBLE
        assert t.reason == "diverged: dev_error was nan at step 50"
    for t in by_mode["exit3"]:
        assert t.state is TrialState.FAILED and "SystemExit(3)" in (t.reason or "")
    # NaN is stored as NaN, not dropped and not zero.
    nan_trial = by_mode["nan"][0]
    curve = study.storage.get_curves(study.record.id, trial_ids=[nan_trial.id])[nan_trial.id]
    assert math.isnan(curve["dev_error"].values[-1]) and len(curve["dev_error"]) == 10


def test_missing_objective_fails_with_a_message_naming_it(
    write_study: Callable[..., Path],
) -> None:
    path = write_study(trials=1)
    path.write_text(path.read_text().replace('metric = "dev_error"', 'metric = "dev_acc"'))
    study = run_study(path)
    (t,) = study.trials()
    assert t.state is TrialState.FAILED
    assert "without reporting the objective 'dev_acc'" in (t.reason or "")
    assert "dev_error, train_loss" in (t.reason or "")


def test_timeout_fails_the_trial_and_kills_it(write_study: Callable[..., Path]) -> None:
    study = Study.open(load_spec(write_study(trials=1, modes=("hang",), timeout="1s")))
    Runner(study, workers=1, grace_s=1.0).run()
    (t,) = study.trials()
    assert t.state is TrialState.FAILED
    assert t.reason == "timed out after 1s (entrypoint.timeout)"
    assert (t.duration_s or 0) < 10


def test_broken_entrypoint_stops_the_run_and_keeps_trials_pending(
    write_study: Callable[..., Path],
) -> None:
    path = write_study(trials=3)
    path.write_text(path.read_text().replace("toy:main", "toy:mian"))
    study = Study.open(load_spec(path))
    with pytest.raises(EntrypointError, match="cannot load 'toy:mian'"):
        Runner(study, workers=2).run()
    assert {t.state for t in study.trials()} == {TrialState.PENDING}


def test_unknown_module_is_reported_before_any_trial_starts(
    write_study: Callable[..., Path],
) -> None:
    path = write_study(trials=1)
    path.write_text(path.read_text().replace("toy:main", "nosuchpkg.train:main"))
    study = Study.open(load_spec(path))
    with pytest.raises(EntrypointError, match="cannot find the module 'nosuchpkg'"):
        Runner(study).run()


def test_larger_budget_adds_trials_and_keeps_old_ones(write_study: Callable[..., Path]) -> None:
    path = write_study(trials=2)
    first = run_study(path).trials()
    path.write_text(path.read_text().replace("trials = 2", "trials = 3"))
    second = run_study(path).trials()
    assert len(second) == 3
    assert [t.finished_at for t in second[:2]] == [t.finished_at for t in first]
    # The third trial is the next point of the same sequence, not a redraw.
    fresh = Study.open(load_spec(path).model_copy())  # same study, same store
    assert [t.params for t in fresh.trials()] == [t.params for t in second]


def test_changing_the_search_space_under_the_same_name_is_refused(
    write_study: Callable[..., Path],
) -> None:
    path = write_study(trials=1)
    run_study(path)
    path.write_text(path.read_text().replace("high = 1.0", "high = 10.0"))
    from scitune.errors import SpecError

    with pytest.raises(SpecError, match="already exists with different nuisance"):
        Study.open(load_spec(path))


def test_metrics_file_and_store_agree(write_study: Callable[..., Path]) -> None:
    study = run_study(write_study(trials=2))
    for t in study.trials():
        metrics = Path(t.dir or "", f"attempt-{t.attempts}", "metrics.jsonl")
        lines = [json.loads(x) for x in metrics.read_text().splitlines()]
        curves = study.storage.get_curves(study.record.id, trial_ids=[t.id])[t.id]
        for line in lines:
            for name, value in line["metrics"].items():
                i = list(curves[name].steps).index(line["step"])
                assert curves[name].values[i] == pytest.approx(value)
