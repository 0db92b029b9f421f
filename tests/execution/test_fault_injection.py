"""Fault injection (issue 10): SIGKILL the runner, alone or with its process group, at random
moments, again and again, then run the study to its end. Nothing may be lost, duplicated or
mixed between attempts, no process of a killed attempt may outlive the next runner's recovery,
and no run may end on an internal error.

The trials are ``sh wrapper.sh`` starting ``python trainer.py`` (tests/execution/faults/): a
runner killed alone leaves the trainer orphaned, which the next runner must end.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from scitune.spec import load_spec
from scitune.storage import AttemptOutcome, FrozenTrial, TrialState, open_storage
from scitune.study import Study

FAULTS = Path(__file__).parent / "faults"
SEED = 10
CYCLES = 8
KILL_AFTER_S = (0.3, 2.0)  # after the runner claimed its first trial (its recovery is done)
KILL_MODES = ("runner", "group")
STEPS = 40
ATTEMPT_ENV = "SCITUNE_ATTEMPT"
BEYOND_INT64 = 2**63
_NON_FINITE = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37

# The test reads /proc and uses Linux's process controls, as the runner does.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@dataclass
class Figures:
    """What the test did and found; every count from ``lost`` on must be 0."""

    cycles: int = 0
    trials: int = 0
    attempts: int = 0
    points: int = 0
    kept_before_truncation: int = 0
    orphans_after_kill: int = 0
    orphans_at_restart: int = 0
    lost: int = 0
    duplicated: int = 0
    mixed: int = 0
    unexpected: int = 0
    orphans_after_recovery: int = 0
    left_at_end: int = 0

    def line(self, elapsed_s: float) -> str:
        """The figures in one line, for ``pytest -s``."""
        values = " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))
        return f"fault injection: {values} elapsed_s={elapsed_s:.1f}"


@dataclass(frozen=True)
class Attempt:
    """One run of one trial, as its processes are marked."""

    trial_id: int
    number: int
    attempt: int
    folder: Path | None


# -- the study ----------------------------------------------------------------------------------
def _write_study(folder: Path) -> Path:
    """A study of 6 trials: 3 that follow the protocol, 3 that truncate their metrics file."""
    command = ["sh", str(FAULTS / "wrapper.sh"), "{python}", "{fault}", "{max_train_steps}"]
    path = folder / "study.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "faults"
            goal = "fault injection"

            [entrypoint]
            command = {json.dumps(command)}
            timeout = "2m"

            [objective]
            metric = "loss"
            goal = "minimize"

            [budget]
            trials = 3
            max_train_steps = {STEPS}
            seed = 0
            max_attempts = 100

            [scientific]
            fault = {{ values = ["none", "truncate"] }}

            [nuisance]
            lr = {{ low = 1e-4, high = 1.0, scale = "log" }}
            """
        )
    )
    return path


def _start_runner(folder: Path, study_file: Path, url: str, index: int) -> subprocess.Popen[bytes]:
    """``scitune run`` in its own process group, its output in ``runner-INDEX.out/.err``."""
    with (
        open(folder / f"runner-{index}.out", "wb") as out,
        open(folder / f"runner-{index}.err", "wb") as err,
    ):
        return subprocess.Popen(
            [sys.executable, "-m", "scitune", "run", str(study_file), "--workers", "2",
             "--json", "--storage", url],
            cwd=folder,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )  # fmt: skip


def _kill(proc: subprocess.Popen[bytes], mode: str) -> None:
    """SIGKILL the runner alone, or its whole process group (its trials have their own)."""
    if mode == "runner":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _wait_until_working(study: Study, proc: subprocess.Popen[bytes], limit: float = 90) -> bool:
    """Wait until the runner ``proc`` claimed a trial, so its recovery is done; False if it
    exited first (the study has nothing left to run)."""
    worker = f"{socket.gethostname()}:{proc.pid}"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if any(t.worker == worker for t in study.trials()):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    raise AssertionError(f"runner {worker} claimed no trial in {limit}s")


def _running_attempts(study: Study) -> list[Attempt]:
    """The attempts the store shows RUNNING (those of a runner just killed)."""
    out = []
    for t in study.trials([TrialState.RUNNING]):
        folder = Path(t.dir, f"attempt-{t.attempts}") if t.dir else None
        out.append(Attempt(t.id, t.number, t.attempts, folder))
    return out


def _attempt_settled(study: Study, attempt: Attempt) -> bool:
    """Whether the store shows the attempt ended (LOST, or decided when it had finished)."""
    history = study.storage.get_attempts(study.record.id, trial_ids=[attempt.trial_id])
    ended = [a for a in history.get(attempt.trial_id, []) if a.attempt == attempt.attempt]
    return bool(ended) and ended[0].outcome is not None


# -- processes ----------------------------------------------------------------------------------
def _state(pid: int) -> str | None:
    """The state letter in ``/proc/PID/stat`` (``Z``: a zombie); ``None``: no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0].decode()
    except (OSError, IndexError):
        return None


def _mark_of(pid: int) -> str | None:
    """The ``SCITUNE_ATTEMPT`` mark of a live (not zombie) process, if it has one."""
    if _state(pid) in (None, "Z", "X"):
        return None
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{ATTEMPT_ENV}=".encode()
    for entry in environ:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def _marked_processes(prefix: str) -> dict[int, str]:
    """Every live process on the machine whose mark starts with ``prefix``: ``{pid: mark}``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            mark = _mark_of(int(entry.name))
            if mark is not None and mark.startswith(prefix):
                found[int(entry.name)] = mark
    return found


def _recorded_pids(attempt: Attempt, role: str | None = None) -> list[int]:
    """The pids the attempt's shell and trainer wrote to its ``pids.txt`` (lines ``PID ROLE
    ATTEMPT``; ``role``: only those)."""
    try:
        text = "" if attempt.folder is None else (attempt.folder / "pids.txt").read_text()
    except OSError:
        return []
    rows = [line.split() for line in text.splitlines()]
    return [int(r[0]) for r in rows if len(r) == 3 and r[0].isdigit() and role in (None, r[1])]


def _alive(mark: str, pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` still running as a process of the attempt (a reused pid is not)."""
    return [pid for pid in pids if _mark_of(pid) == mark]


def _leftovers(uid: str, attempts: Iterable[Attempt]) -> list[int]:
    """Processes of ``attempts`` still running: found by their mark or by their pid files."""
    left: set[int] = set()
    marked = _marked_processes(f"{uid}/")
    for a in attempts:
        mark = f"{uid}/{a.number}/{a.attempt}"
        left.update(pid for pid, m in marked.items() if m == mark)
        left.update(_alive(mark, _recorded_pids(a)))
    return sorted(left)


def _end_our_processes(uid: str, runners: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGKILL the runners and every process of this study still running (after a failure),
    by pid."""
    for proc in runners:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    for pid in _marked_processes(f"{uid}/"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# -- what the files hold -------------------------------------------------------------------------
def _number(value: object) -> float | None:
    """A metric value by the protocol's rules; ``None`` for one to skip (null, bad values)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _NON_FINITE:
        return float(value.strip().lower())
    return None


def _file_curves(path: Path) -> dict[str, dict[int, float]]:
    """Last value per (metric, step) of a metrics file, read by the protocol independently of
    scitune's reader: a line that is not UTF-8 JSON, not an object with a ``metrics`` object, or
    whose step is not an integer from 0 to 2**63-1 is skipped, and so is a bad value."""
    curves: dict[str, dict[int, float]] = {}
    for raw in path.read_bytes().split(b"\n"):
        try:
            line = json.loads(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError is one
            continue
        if not isinstance(line, dict) or not isinstance(line.get("metrics"), dict):
            continue
        step = line.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < BEYOND_INT64:
            continue
        for name, value in line["metrics"].items():
            number = _number(value)
            if number is not None:
                curves.setdefault(name, {})[step] = number
    return curves


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _check_trial(study: Study, trial: FrozenTrial, figures: Figures) -> Iterator[str]:
    """Compare a finished trial's stored curves with its final attempt's file; count into
    ``figures`` and yield what is wrong."""
    n = trial.number
    if trial.state is not TrialState.COMPLETE:
        yield f"trial {n}: {trial.state.value}, {trial.reason}"
        return
    history = study.storage.get_attempts(study.record.id, trial_ids=[trial.id])[trial.id]
    # Every kill loses the attempts it cuts off; the last one completes.
    outcomes = [AttemptOutcome.LOST] * (trial.attempts - 1) + [AttemptOutcome.COMPLETE]
    if [(a.attempt, a.outcome) for a in history] != list(enumerate(outcomes, start=1)):
        yield f"trial {n}: attempts {[(a.attempt, a.outcome, a.reason) for a in history]}"
    figures.attempts += len(history)
    if any("scitune bug" in w for w in trial.warnings):
        yield f"trial {n}: internal error while reading: {trial.warnings}"
    expected = _file_curves(Path(trial.dir or "", f"attempt-{trial.attempts}", "metrics.jsonl"))
    if set(expected.get("attempt", {}).values()) != {float(trial.attempts)}:
        yield f"trial {n}: its final file is not attempt {trial.attempts}'s"
    stored = study.storage.get_curves(study.record.id, trial_ids=[trial.id]).get(trial.id, {})
    truncated = trial.params["fault"] == "truncate"
    if truncated and not any("shrank" in w for w in trial.warnings):
        yield f"trial {n}: truncated its file, yet no warning says so: {trial.warnings}"
    points = {name: dict(zip(c.steps.tolist(), c.values.tolist(), strict=True))
              for name, c in stored.items()}  # fmt: skip
    # A step stored twice would collapse in ``points``: the difference counts duplicates.
    figures.duplicated += sum(len(c) - len(points[name]) for name, c in stored.items())
    figures.mixed += sum(v != trial.attempts for v in points.get("attempt", {}).values())
    for name, curve in expected.items():
        for step, value in curve.items():
            figures.points += 1
            if step not in points.get(name, {}) or not _same(points[name][step], value):
                figures.lost += 1
    for name, curve in points.items():
        extra = [s for s in curve if s not in expected.get(name, {})]
        # A trial that truncated its file keeps the points stored before it did (nothing
        # tells the store they were taken back): they are no longer in the file, so for that
        # trial the test asserts the warning and that they are the final attempt's (``mixed``)
        # instead of their values.
        if truncated:
            figures.kept_before_truncation += len(extra)
        else:
            figures.unexpected += len(extra)


def _internal_errors(folder: Path) -> list[str]:
    """Runner stderr files that show an internal error or a traceback."""
    bad = []
    for err in sorted(folder.glob("runner-*.err")):
        text = err.read_text(errors="replace")
        if "internal error" in text or "Traceback" in text:
            bad.append(f"{err.name}: {text[-2000:]}")
    return bad


# -- the test -----------------------------------------------------------------------------------
class _Campaign:
    """The runs of one study under fault injection, and what they showed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = f"sqlite:///{folder / 'store' / 'scitune.db'}"
        (folder / "store").mkdir()
        self.study_file = _write_study(folder)
        self.study = Study.open(load_spec(self.study_file), open_storage(self.url))
        self.uid = self.study.record.uid
        self.figures = Figures()
        self.problems: list[str] = []
        self.runners: list[subprocess.Popen[bytes]] = []
        self.pending: list[Attempt] = []  # of killed runners, until a runner recovered them

    def start_runner(self) -> subprocess.Popen[bytes]:
        """Start the next run, counting the processes of killed attempts it must end."""
        self.figures.orphans_at_restart += len(_leftovers(self.uid, self.pending))
        proc = _start_runner(self.folder, self.study_file, self.url, len(self.runners))
        self.runners.append(proc)
        return proc

    def check_recovered(self) -> None:
        """The attempts of the killed runners have ended in the store, and none of their
        processes is left."""
        for a in self.pending:
            if not _attempt_settled(self.study, a):
                self.problems.append(f"trial {a.number} attempt {a.attempt} not recovered")
        stray = _leftovers(self.uid, self.pending)
        self.figures.orphans_after_recovery += len(stray)
        if stray:
            self.problems.append(f"processes of killed attempts left after recovery: {stray}")
        self.pending.clear()

    def kill_cycles(self, cycles: int, rng: random.Random) -> None:
        """Start a runner, let it recover and work, SIGKILL it at a random moment; again."""
        for cycle in range(cycles):
            proc = self.start_runner()
            if not _wait_until_working(self.study, proc):
                return  # it had nothing to run: the study is complete
            self.check_recovered()
            time.sleep(rng.uniform(*KILL_AFTER_S))  # short: the moment is what is random
            if proc.poll() is not None:
                return  # it finished the study first
            _kill(proc, KILL_MODES[cycle % len(KILL_MODES)])
            self.figures.cycles += 1
            killed = _running_attempts(self.study)
            for a in killed:
                trainers = _recorded_pids(a, "trainer")
                alive = _alive(f"{self.uid}/{a.number}/{a.attempt}", trainers)
                self.figures.orphans_after_kill += len(alive)
            self.pending.extend(killed)

    def run_to_the_end(self) -> None:
        """Run the study to its end (unless the last runner did), then check its recovery."""
        last = self.runners[-1] if self.runners else None
        if last is None or last.returncode != 0:
            last = self.start_runner()
        last.wait(timeout=90)
        assert last.returncode == 0, _internal_errors(self.folder) or last.returncode
        self.check_recovered()
        # Each run ended killed (-9) or done (0), never on an error of its own.
        self.problems += [
            f"runner {i} exited {p.returncode}"
            for i, p in enumerate(self.runners)
            if p.returncode not in (0, -signal.SIGKILL)
        ]
        summary = json.loads((self.folder / f"runner-{len(self.runners) - 1}.out").read_text())
        self.problems += [p for p in summary["problems"] if "scitune bug" in p]

    def verify(self) -> None:
        """Every trial against its final attempt's file; no error shown; no process left."""
        trials = self.study.trials()
        self.figures.trials = len(trials)
        for trial in trials:
            self.problems.extend(_check_trial(self.study, trial, self.figures))
        self.problems.extend(_internal_errors(self.folder))
        every = [
            Attempt(t.id, t.number, k, Path(t.dir or "", f"attempt-{k}"))
            for t in trials
            for k in range(1, t.attempts + 1)
        ]
        left = sorted(set(_marked_processes(f"{self.uid}/")) | set(_leftovers(self.uid, every)))
        self.figures.left_at_end = len(left)
        if left:
            self.problems.append(f"processes of the study left at the end: {left}")

    def end_processes(self) -> None:
        """SIGKILL what is still running (after a failure), by pid."""
        _end_our_processes(self.uid, self.runners)


def test_runners_killed_at_random_moments_lose_mix_and_leave_nothing(tmp_path: Path) -> None:
    assert shutil.which("sh"), "the trials run under sh"
    start = time.monotonic()
    campaign = _Campaign(tmp_path)
    try:
        campaign.kill_cycles(CYCLES, random.Random(SEED))
        campaign.run_to_the_end()
        campaign.verify()
    finally:
        campaign.end_processes()
    figures = campaign.figures
    print(figures.line(time.monotonic() - start))

    assert campaign.problems == []
    assert figures.trials == 6 and figures.points > 0
    assert figures.cycles >= 2  # both kinds of kill happened
    # Orphaned trainers of killed runners were seen alive, after the kill and still when the
    # next runner started: its recovery had processes to end, and ended them.
    assert figures.orphans_after_kill >= 1 and figures.orphans_at_restart >= 1
    assert (figures.lost, figures.duplicated, figures.mixed, figures.unexpected) == (0, 0, 0, 0)
    assert (figures.orphans_after_recovery, figures.left_at_end) == (0, 0)
