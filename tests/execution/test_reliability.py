"""What a trial does, and what a user slips into, never wedges a study, mixes attempts or loses
data silently (issue 10): process trees, attempts, shrinking files, a vanished store, ways out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scitune.execution import Runner
from scitune.execution._process import pid_alive
from scitune.spec import load_spec
from scitune.storage import AttemptOutcome, TrialState
from scitune.study import Study


def _command_study(workdir: Path, script: str, *, trials: int = 1, extra: str = "") -> Path:
    """A study whose trial is ``sh trial.sh`` (``script`` is the body), one trial per run."""
    (workdir / "trial.sh").write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path = workdir / "cmd.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "cmd"
            goal = "reliability"

            [entrypoint]
            command = ["sh", "trial.sh", "{{learning_rate}}"]
            timeout = "1m"

            [objective]
            metric = "loss"

            [budget]
            trials = {trials}
            max_train_steps = 10

            [nuisance]
            learning_rate = {{ low = 0.01, high = 1.0, scale = "log" }}
            """
        )
        + textwrap.dedent(extra)
    )
    return path


def _run(path: Path, **kwargs: object) -> Study:
    study = Study.open(load_spec(path))
    Runner(study, **kwargs).run()  # type: ignore[arg-type]
    return study


def _wait(condition: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached in {limit}s")


# A Python child that outlives the trial's main process, in a session of its own (setsid): it
# writes its pid, then appends to the metrics file for a minute.
_LINGERER = textwrap.dedent(
    """
    import json, os, sys, time
    open(sys.argv[1], "w").write(str(os.getpid()))
    os.setsid()
    for i in range(600):
        with open(os.environ["SCITUNE_METRICS"], "a") as f:
            f.write(json.dumps({"step": 1000 + i, "metrics": {"loss": 99.0}}) + "\\n")
        time.sleep(0.1)
    """
)


def test_a_child_the_trial_left_running_is_ended_before_the_trial_is_recorded(
    workdir: Path,
) -> None:
    (workdir / "linger.py").write_text(_LINGERER)
    path = _command_study(
        workdir,
        """
        dir=$(dirname "$SCITUNE_METRICS")
        python linger.py "$dir/linger.pid" &
        while [ ! -s "$dir/linger.pid" ]; do sleep 0.05; done
        echo '{"step": 1, "metrics": {"loss": 0.5}}' >> "$SCITUNE_METRICS"
        exit 0
        """,
    )
    study = _run(path)
    (trial,) = study.trials()
    assert trial.state is TrialState.COMPLETE and trial.value == 0.5
    pid = int(Path(trial.dir or "", "attempt-1", "linger.pid").read_text())
    assert not pid_alive(pid)
    assert any("left running" in w for w in trial.warnings), trial.warnings
    curve = study.storage.get_curves(study.record.id)[trial.id]["loss"]
    assert curve.steps.max() < 1000 or len(curve) < 600  # it never wrote for long


def test_runner_killed_alone_leaves_an_orphan_that_the_next_run_ends(workdir: Path) -> None:
    """sh -> python train.py: SIGKILL of the runner alone orphans the grandchild, which goes on
    writing; the next run ends it before re-running the trial, and never mixes its lines in."""
    (workdir / "train.py").write_text(
        textwrap.dedent(
            """
            import json, os, time
            context = json.load(open(os.environ["SCITUNE_TRIAL"]))
            folder = os.path.dirname(os.environ["SCITUNE_METRICS"])
            open(os.path.join(folder, "train.pid"), "w").write(str(os.getpid()))
            slow = context["attempt"] == 1 and float(os.environ.get("SLOW", "1")) > 0
            for step in range(1, 41):
                with open(os.environ["SCITUNE_METRICS"], "a") as f:
                    point = {"loss": 1.0 / step, "attempt": context["attempt"]}
                    f.write(json.dumps({"step": step, "metrics": point}) + "\\n")
                time.sleep(0.25 if slow else 0.0)
            """
        )
    )
    path = _command_study(workdir, "python train.py\n")
    study = Study.open(load_spec(path))
    runner = subprocess.Popen(
        [sys.executable, "-m", "scitune", "run", str(path), "--json"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(lambda: any(t.ingested_bytes > 0 for t in study.trials()))
    finally:
        os.kill(runner.pid, signal.SIGKILL)  # the runner alone, not its group
        runner.communicate()
    (trial,) = study.trials()
    pid_file = Path(trial.dir or "", "attempt-1", "train.pid")
    orphan = int(pid_file.read_text())
    time.sleep(0.3)
    assert pid_alive(orphan), "the grandchild should outlive a runner killed alone"

    resumed = subprocess.run(
        [sys.executable, "-m", "scitune", "run", str(path), "--json"],
        cwd=workdir, capture_output=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert not pid_alive(orphan)
    (trial,) = study.trials()
    assert trial.state is TrialState.COMPLETE and trial.attempts == 2
    curves = study.storage.get_curves(study.record.id)[trial.id]
    assert set(curves["attempt"].values.tolist()) == {2.0}  # nothing of attempt 1 mixed in
    assert curves["loss"].steps.tolist() == list(range(1, 41))
    history = study.storage.get_attempts(study.record.id)[trial.id]
    assert [a.outcome for a in history] == [AttemptOutcome.LOST, AttemptOutcome.COMPLETE]
    assert history[0].reason is not None and "stopped" in history[0].reason


def test_a_metrics_file_rewritten_with_w_is_noticed(workdir: Path) -> None:
    (workdir / "rewrite.py").write_text(
        textwrap.dedent(
            """
            import json, os, time
            for step in range(1, 21):
                with open(os.environ["SCITUNE_METRICS"], "w") as f:  # wrong: "a"
                    f.write(json.dumps({"step": step, "metrics": {"loss": 1.0 / step}}) + "\\n")
                time.sleep(0.06)
            """
        )
    )
    path = _command_study(workdir, "python rewrite.py\n")
    study = Study.open(load_spec(path))
    Runner(study, ingest_interval=0.05).run()
    (trial,) = study.trials()
    assert trial.state is TrialState.COMPLETE
    assert any("append-only" in w for w in trial.warnings), trial.warnings
    curve = study.storage.get_curves(study.record.id)[trial.id]["loss"]
    assert 20 in curve.steps.tolist() and len(curve) >= 2  # re-read, not lost after one line

    from scitune.analysis import StudySnapshot, analyze

    codes = [f.code for f in analyze(StudySnapshot.from_study(study)).findings]
    assert "trials.incomplete_curves" in codes


def test_a_store_deleted_during_a_run_stops_it_with_an_error(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    path = write_study(trials=6, steps=100)
    study = Study.open(load_spec(path))
    runner = subprocess.Popen(
        [sys.executable, "-m", "scitune", "run", str(path), "--workers", "2"],
        cwd=workdir, env={**os.environ, "TOY_DELAY": "0.05"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait(lambda: any(t.state is TrialState.RUNNING for t in study.trials()))
    db = workdir / ".scitune" / "scitune.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 1
    text = err.decode()
    assert "deleted or replaced" in text and "internal error" not in text
    assert "complete" not in out.decode()


def test_retry_failed_runs_failed_trials_again_with_the_same_configuration(
    write_study: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_study(trials=2, extra="")
    (workdir / "toy.py").write_text(
        (workdir / "toy.py")
        .read_text()
        .replace(
            "def main(trial: scitune.Trial) -> None:\n",
            "def main(trial: scitune.Trial) -> None:\n"
            "    if os.environ.get('BROKEN'):\n"
            "        raise RuntimeError('a bug in the training code')\n",
        )
    )
    monkeypatch.setenv("BROKEN", "1")
    study = _run(path)
    failed = study.trials()
    assert [t.state for t in failed] == [TrialState.FAILED] * 2
    monkeypatch.delenv("BROKEN")
    assert Runner(study).run().finished == {}  # FAILED stays FAILED without asking
    summary = Runner(study, retry_failed=True).run()
    assert summary.finished[TrialState.COMPLETE] == 2
    again = study.trials()
    assert [(t.number, t.seed, dict(t.params)) for t in again] == [
        (t.number, t.seed, dict(t.params)) for t in failed
    ]
    assert all(t.state is TrialState.COMPLETE and t.attempts == 2 for t in again)
    history = study.storage.get_attempts(study.record.id)[again[0].id]
    assert history[0].outcome is AttemptOutcome.FAILED
    assert "a bug in the training code" in (history[0].reason or "")
    from typer.testing import CliRunner

    from scitune.cli import app

    rows = json.loads(CliRunner().invoke(app, ["trials", "toy", "--json"]).stdout)
    assert [h["outcome"] for h in rows[0]["history"]] == ["FAILED", "COMPLETE"]
    assert "a bug in the training code" in rows[0]["history"][0]["reason"]
    assert int(rows[0]["history"][1]["info"]["threads"]) >= 1


def test_a_trial_lost_max_attempts_times_is_failed_with_its_history(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    study = Study.open(load_spec(write_study(trials=1, extra="")))
    study.ensure_trials()
    dead = "nohost-that-exists:1"  # another host: only a stale heartbeat tells it is gone
    store = study.storage
    for _ in range(2):
        trial = store.claim_trial(study.record.id, worker=dead, trial_dir=str(workdir / "t"))
        assert trial is not None
        if trial.attempts == 1:
            store.requeue_trial(trial.id, "lost: earlier", outcome=AttemptOutcome.LOST)
    summary = Runner(study, max_attempts=2, stale_after=0.0).run()
    (t,) = study.trials()
    assert t.state is TrialState.FAILED and summary.all_failed
    assert t.reason is not None and "lost 2 times (budget.max_attempts = 2)" in t.reason


def test_python_in_a_command_is_the_interpreter_scitune_runs_in(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = workdir / "bin"
    fake.mkdir()
    for name in ("python", "python3"):
        (fake / name).write_text("#!/bin/sh\necho 'the wrong python' >&2\nexit 9\n")
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    (workdir / "report.py").write_text(
        "import json, os, sys\n"
        "with open(os.environ['SCITUNE_METRICS'], 'a') as f:\n"
        "    f.write(json.dumps({'step': 1, 'metrics': {'loss': 0.25}}) + '\\n')\n"
    )
    for command in ('["python", "report.py"]', '["{python}", "report.py"]'):
        path = workdir / "py.toml"
        path.write_text(
            f'name = "py{len(command)}"\ngoal = "g"\n[entrypoint]\ncommand = {command}\n'
            '[objective]\nmetric = "loss"\n[budget]\ntrials = 1\nmax_train_steps = 1\n'
            "[nuisance]\nx = { low = 0.0, high = 1.0 }\n"
        )
        study = _run(path)
        (trial,) = study.trials()
        assert trial.state is TrialState.COMPLETE, trial.reason


def test_threads_of_each_attempt_are_recorded(
    write_study: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    study = _run(write_study(trials=2), workers=2)
    infos = [a[0].info for a in study.storage.get_attempts(study.record.id).values()]
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert [i["threads"] for i in infos] == [expected, expected]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's value wins, and is recorded
    study = _run(write_study(name="toy2", trials=1))
    ((attempt,),) = study.storage.get_attempts(study.record.id).values()
    assert attempt.info == {"threads": 3, "threads_from": "environment"}


def test_a_trial_that_cannot_be_started_is_failed_with_the_reason(workdir: Path) -> None:
    (workdir / "not_executable.sh").write_text("#!/bin/sh\nexit 0\n")
    path = workdir / "x.toml"
    path.write_text(
        'name = "x"\ngoal = "g"\n[entrypoint]\ncommand = ["./not_executable.sh"]\n'
        '[objective]\nmetric = "loss"\n[budget]\ntrials = 1\nmax_train_steps = 1\n'
        "[nuisance]\nx = { low = 0.0, high = 1.0 }\n"
    )
    (trial,) = _run(path).trials()
    assert trial.state is TrialState.FAILED
    assert trial.reason is not None and "Permission denied" in trial.reason


def test_a_trial_folder_that_cannot_be_made_fails_the_trial(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    study = Study.open(load_spec(write_study(trials=1)))
    folder = study.artifacts_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the study's folder should be")
    summary = Runner(study).run()
    (trial,) = study.trials()
    assert trial.state is TrialState.FAILED and summary.all_failed
    assert trial.reason is not None and "could not prepare the trial's folder" in trial.reason


def test_logs_keep_their_head_and_tail_within_the_limit(workdir: Path) -> None:
    path = _command_study(
        workdir,
        """
        awk 'BEGIN { for (i = 0; i < 200000; i++) printf "line %07d of a chatty trial\\n", i }'
        echo '{"step": 1, "metrics": {"loss": 0.5}}' >> "$SCITUNE_METRICS"
        """,
    )
    study = _run(path, log_limit=100_000)
    (trial,) = study.trials()
    assert trial.state is TrialState.COMPLETE
    text = Path(trial.dir or "", "attempt-1", "stdout.log").read_text()
    assert len(text) < 100_000 + 500  # the limit, the header and the note
    assert "line 0000000 " in text and "line 0199999 " in text
    assert "bytes left out here" in text and "line 0100000 " not in text


def test_run_exits_1_when_every_trial_failed(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    path = write_study(trials=2, modes=("crash",))
    done = subprocess.run(
        [sys.executable, "-m", "scitune", "run", str(path)],
        cwd=workdir, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "every trial" in err and "toy crash" in err and "Traceback" not in err
    again = subprocess.run(
        [sys.executable, "-m", "scitune", "run", str(path), "--json", "--retry-failed"],
        cwd=workdir, capture_output=True, timeout=120,
    )  # fmt: skip
    data = json.loads(again.stdout)
    assert again.returncode == 1 and data["counts"]["failed"] == 2
    assert data["finished_by_this_run"] == {"failed": 2}


def test_the_runner_is_a_subreaper_only_while_it_runs(
    write_study: Callable[..., Path], workdir: Path
) -> None:
    """Orphans of trials become the runner's children during a run; afterwards a long-lived
    caller (a notebook, this test process) must not go on adopting (and keeping) zombies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    flag = ctypes.c_int(-1)
    seen: list[int] = []

    class Spy:
        def on_start(self, study: object, counts: object) -> None:
            libc.prctl(37, ctypes.byref(flag), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
            seen.append(flag.value)

        def on_update(self, counts: object, best: object) -> None: ...
        def on_trial_finished(self, trial: object) -> None: ...
        def on_message(self, text: str) -> None: ...

    Runner(Study.open(load_spec(write_study(trials=1))), observer=Spy()).run()
    libc.prctl(37, ctypes.byref(flag), 0, 0, 0)
    assert seen == [1] and flag.value == 0
