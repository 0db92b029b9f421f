"""Kill the runner at any moment, run it again: nothing lost, nothing duplicated."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scitune.execution import Runner
from scitune.spec import load_spec
from scitune.storage import FrozenTrial, TrialState
from scitune.study import Study


def _start(path: Path, workdir: Path, delay: str = "0.05") -> subprocess.Popen[bytes]:
    env = {**os.environ, "TOY_DELAY": delay}
    return subprocess.Popen(
        [sys.executable, "-m", "scitune", "run", str(path), "--workers", "2", "--json"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(study: Study, condition: Callable[[list[FrozenTrial]], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition(study.trials()):
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not reached in {limit}s: {study.trials()}")


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"SCITUNE_RUNNER_PID={pid}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _file_model(path: Path) -> dict[str, dict[int, float]]:
    """Last value per (metric, step) in a metrics file: what the store must hold."""
    model: dict[str, dict[int, float]] = {}
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        for name, value in obj.get("metrics", {}).items():
            model.setdefault(name, {})[obj["step"]] = value
    return model


def _assert_store_holds_every_line(study: Study) -> None:
    curves = study.storage.get_curves(study.record.id)
    for t in study.trials():
        model = _file_model(Path(t.dir or "", f"attempt-{t.attempts}", "metrics.jsonl"))
        assert set(model) == set(curves[t.id])
        for name, points in model.items():
            curve = curves[t.id][name]
            assert list(curve.steps) == sorted(points)
            np.testing.assert_array_equal(curve.values, [points[s] for s in sorted(points)])


def test_sigkill_mid_study_then_resume(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    path = write_study(trials=5, steps=100)
    study = Study.open(load_spec(path))
    proc = _start(path, workdir)
    try:
        _wait_for(
            study,
            lambda ts: sum(t.state is TrialState.COMPLETE for t in ts) >= 2
            and sum(t.state is TrialState.RUNNING and t.ingested_bytes > 0 for t in ts) >= 1,
            limit=90,
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {t.number: t for t in study.trials() if t.state.finished}
    interrupted = [t.number for t in study.trials() if t.state is TrialState.RUNNING]
    assert before and interrupted

    # The trials die with their runner: no orphan keeps writing.
    deadline = time.monotonic() + 5
    while _children_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children_of(proc.pid) == []

    resumed = _start(path, workdir, delay="0")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["requeued"] + summary["recovered"] == len(interrupted)

    after = study.trials()
    assert [t.number for t in after] == list(range(5))
    assert all(t.state is TrialState.COMPLETE for t in after)
    for number, t in before.items():  # finished trials untouched
        assert (after[number].finished_at, after[number].value) == (t.finished_at, t.value)
        assert after[number].attempts == 1
    # An interrupted trial is run again (attempt 2), unless it had finished its work when the
    # runner died (its result file written, under load a real possibility): then it is kept.
    attempts = sorted(after[number].attempts for number in interrupted)
    assert attempts == [1] * summary["recovered"] + [2] * summary["requeued"]
    _assert_store_holds_every_line(study)


def test_a_trial_that_finished_while_its_runner_died_is_kept_not_rerun(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    study = Study.open(load_spec(write_study(trials=1)))
    study.ensure_trials()
    dead_worker = f"{socket.gethostname()}:{2**22 + 12345}"
    trial = study.storage.claim_trial(
        study.record.id, worker=dead_worker, trial_dir=str(workdir / "t-{number}")
    )
    assert trial is not None and trial.dir is not None
    trial_dir = Path(trial.dir, "attempt-1")
    trial_dir.mkdir(parents=True)
    lines = [{"step": s, "metrics": {"dev_error": 1.0 / s}} for s in (10, 20, 30)]
    (trial_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (trial_dir / "result.json").write_text('{"returncode": 0}')

    summary = Runner(study).run()

    (t,) = study.trials()
    assert summary.recovered == 1 and summary.requeued == 0
    assert t.state is TrialState.COMPLETE and t.attempts == 1
    assert (t.value, t.value_step) == (1.0 / 30, 30)


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    path = write_study(trials=4, steps=100)
    study = Study.open(load_spec(path))
    proc = _start(path, workdir, delay="0.2")
    _wait_for(study, lambda ts: any(t.state is TrialState.RUNNING for t in ts), limit=60)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert json.loads(out)["interrupted"] is True
    states = {t.state for t in study.trials()}
    assert TrialState.RUNNING not in states and TrialState.FAILED not in states
    assert _children_of(proc.pid) == []

    again = _start(path, workdir, delay="0")
    again.communicate(timeout=120)
    assert again.returncode == 0
    assert all(t.state is TrialState.COMPLETE for t in study.trials())
    _assert_store_holds_every_line(study)


def test_two_runners_on_one_study_never_run_a_trial_twice(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    path = write_study(trials=8, steps=50)
    a, b = _start(path, workdir, delay="0.02"), _start(path, workdir, delay="0.02")
    for proc in (a, b):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    study = Study.open(load_spec(path))
    trials = study.trials()
    assert len(trials) == 8
    assert all(t.state is TrialState.COMPLETE and t.attempts == 1 for t in trials)
    assert len({t.worker for t in trials}) == 2  # both runners did work
