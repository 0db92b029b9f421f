"""The local runner: trials as separate processes, the runner as the store's single writer.

One loop, no threads: claim a PENDING trial when a worker slot is free, start its process, move
its metrics file into the store every ``ingest_interval``, enforce its timeout, and decide its
state when it exits. A runner that was killed leaves RUNNING trials behind; the next runner
recovers them: whatever reached their metrics files is stored, a trial that had finished
(``result.json`` written) is finished, and one that was cut off is run again under its number.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from scitune._child import MEMORY_LIMIT_ENV
from scitune.errors import EntrypointError
from scitune.execution._entrypoint import child_argv, module_roots
from scitune.execution._ingest import MetricsReader, declared_infeasible, repair_tail
from scitune.execution._process import (
    describe_exit,
    stop_process,
    tail,
    worker_id,
    worker_is_dead,
)
from scitune.scoring import first_non_finite, score
from scitune.storage import FrozenTrial, TrialState
from scitune.study import Study
from scitune.trial import METRICS_ENV, RESULT_FILE, RUNNER_PID_ENV, TRIAL_ENV, TrialContext

__all__ = ["RunObserver", "RunSummary", "Runner", "StateCounts"]

METRICS_FILE = "metrics.jsonl"
CONTEXT_FILE = "trial.json"


@dataclass
class StateCounts:
    pending: int = 0
    running: int = 0
    complete: int = 0
    infeasible: int = 0
    failed: int = 0
    # Design trials an adaptive sampler has not created yet (bayes creates them in batches):
    # counted in the total so that a progress bar does not grow as they appear.
    unscheduled: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.infeasible + self.failed

    @property
    def total(self) -> int:
        return self.finished + self.pending + self.running + self.unscheduled

    @classmethod
    def of(cls, trials: list[FrozenTrial], *, planned: int = 0, runs: int = 1) -> StateCounts:
        """Counts per state. ``planned``: the trials the study will hold (its design times
        ``runs``, the runs per configuration); reruns beyond those (``reseed``) come on top."""
        counts = cls()
        for t in trials:
            name = t.state.value.lower()
            setattr(counts, name, getattr(counts, name) + 1)
        children = Counter(t.parent_number for t in trials if t.parent_number is not None)
        scheduled = sum(
            1 + min(children[t.number], runs - 1) for t in trials if t.parent_number is None
        )
        counts.unscheduled = max(0, planned - scheduled)
        return counts


class RunObserver(Protocol):
    """What a runner tells its user interface (the CLI draws a rich progress bar)."""

    def on_start(self, study: Study, counts: StateCounts) -> None: ...
    def on_update(self, counts: StateCounts, best: FrozenTrial | None) -> None: ...
    def on_trial_finished(self, trial: FrozenTrial) -> None: ...
    def on_message(self, text: str) -> None: ...


@dataclass
class RunSummary:
    counts: StateCounts
    best: FrozenTrial | None
    elapsed_s: float
    interrupted: bool = False
    recovered: int = 0
    requeued: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class _Active:
    trial: FrozenTrial
    proc: subprocess.Popen[bytes]
    reader: MetricsReader
    logs: Sequence[IO[bytes]]
    started: float
    deadline: float | None
    stop_reason: str | None = None


class Runner:
    """Runs a study's pending trials in ``workers`` parallel processes.

    Args:
        study: the study (its trials are created here if the design lacks some; an adaptive
            sampler's trials after its exploration are created when a worker slot is free and
            nothing is pending, so each batch is proposed from the results so far).
        workers: trials run at once.
        observer: progress sink; ``None`` runs silently.
        max_trials: stop claiming after this many trials (``None``: all pending).
        memory_limit: cap each trial process's address space at this many bytes
            (``RLIMIT_AS``, applied by the trial process before it imports the user's code; Linux
            only): an allocation past it fails, and the trial ends FAILED "out of memory". It
            counts virtual memory, shared libraries included, so leave room for them.
    """

    def __init__(
        self,
        study: Study,
        *,
        workers: int = 1,
        observer: RunObserver | None = None,
        max_trials: int | None = None,
        poll_interval: float = 0.05,
        ingest_interval: float = 0.5,
        heartbeat_interval: float = 10.0,
        stale_after: float = 120.0,
        grace_s: float = 5.0,
        cwd: Path | None = None,
        memory_limit: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}.")
        if memory_limit is not None and memory_limit < 1:
            raise ValueError(f"memory_limit must be >= 1 byte, got {memory_limit}.")
        self.study = study
        self.workers = workers
        self.observer = observer
        self.max_trials = max_trials
        self.poll_interval = poll_interval
        self.ingest_interval = ingest_interval
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.grace_s = grace_s
        self.cwd = (cwd or Path.cwd()).resolve()
        self.memory_limit = memory_limit
        self.worker = worker_id()
        self._active: dict[int, _Active] = {}
        self._stopping = False
        self._entrypoint_error: str | None = None
        self._best: FrozenTrial | None = None
        self._problems: list[str] = []
        self._planned = 0  # the trials the study will hold (design x runs), read once per run

    # -- public ------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Recover interrupted trials, create missing ones, run until none is pending.

        Ctrl-C (SIGINT) or SIGTERM stops cleanly: running trials are stopped, what they logged
        is stored, and they go back to PENDING for the next run.

        Raises:
            EntrypointError: the entrypoint cannot be started (every trial would fail).
        """
        start = time.monotonic()
        spec = self.study.spec
        self._roots = module_roots(spec, self.cwd)
        with self._signals():
            recovered, requeued = self._recover()
            self.study.ensure_trials()
            self._refresh_best()
            self._planned = self.study.planned_trials()
            counts = self._counts()
            if self.observer:
                self.observer.on_start(self.study, counts)
            self._loop()
        trials = self.study.trials()
        if self._entrypoint_error:
            raise EntrypointError(self._entrypoint_error)
        return RunSummary(
            counts=StateCounts.of(
                trials, planned=self._planned, runs=self.study.spec.budget.runs
            ),
            best=self._best,
            elapsed_s=time.monotonic() - start,
            interrupted=self._stopping,
            recovered=recovered,
            requeued=requeued,
            problems=self._problems,
        )

    def stop(self) -> None:
        """Ask the loop to stop (what SIGINT does); safe from a signal handler."""
        self._stopping = True

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        claimed = 0
        last_ingest = last_beat = last_update = time.monotonic()
        exhausted = False
        while True:
            while (
                not self._stopping
                and not exhausted
                and len(self._active) < self.workers
                and (self.max_trials is None or claimed < self.max_trials)
            ):
                trial = self.study.storage.claim_trial(
                    self.study.record.id,
                    worker=self.worker,
                    trial_dir=str(self.study.artifacts_dir() / "trial-{number}"),
                )
                if trial is None:
                    # Nothing pending: an adaptive sampler (bayes) proposes its next trials
                    # now, from the results so far, one per free slot; the others have
                    # created every trial already and propose nothing.
                    free = self.workers - len(self._active)
                    if self.max_trials is not None:
                        free = min(free, self.max_trials - claimed)
                    if self.study.ensure_trials(batch=free):
                        continue
                    exhausted = True
                    break
                claimed += 1
                self._launch(trial)
            if not self._active:
                break
            now = time.monotonic()
            for active in list(self._active.values()):
                code = active.proc.poll()
                if code is not None:
                    self._finish(active, code)
                elif active.deadline is not None and now > active.deadline:
                    active.stop_reason = "timeout"
                    self._finish(active, stop_process(active.proc, grace_s=self.grace_s))
            if self._stopping:
                for active in list(self._active.values()):
                    active.stop_reason = active.stop_reason or "interrupted"
                    self._finish(active, stop_process(active.proc, grace_s=self.grace_s))
                continue
            if now - last_ingest >= self.ingest_interval:
                for active in self._active.values():
                    active.reader.poll()
                last_ingest = now
            if now - last_beat >= self.heartbeat_interval:
                self.study.storage.heartbeat([a.trial.id for a in self._active.values()])
                last_beat = now
            if self.observer and now - last_update >= 0.5:
                self.observer.on_update(self._counts(), self._best)
                last_update = now
            time.sleep(self.poll_interval)
        if self.observer:
            self.observer.on_update(self._counts(), self._best)

    def _launch(self, trial: FrozenTrial) -> None:
        spec = self.study.spec
        trial_dir = Path(trial.dir or self.study.artifacts_dir() / f"trial-{trial.number}")
        trial_dir.mkdir(parents=True, exist_ok=True)
        metrics = trial_dir / METRICS_FILE
        repair_tail(metrics)
        with contextlib.suppress(FileNotFoundError):
            (trial_dir / RESULT_FILE).unlink()
        context = TrialContext(
            study=spec.name,
            number=trial.number,
            params=dict(trial.params),
            seed=trial.seed,
            max_train_steps=spec.budget.max_train_steps,
            dir=str(trial_dir),
            metrics_file=str(metrics),
        )
        context_path = trial_dir / CONTEXT_FILE
        context_path.write_text(context.to_json())
        try:
            argv = child_argv(spec, context)
        except EntrypointError as e:
            self.study.storage.requeue_trial(trial.id, "not started: entrypoint error")
            self._entrypoint_error = str(e)
            self._stopping = True
            return
        env = self._child_env(context_path, metrics)
        logs = [open(trial_dir / "stdout.log", "ab"), open(trial_dir / "stderr.log", "ab")]  # noqa: SIM115
        now = datetime.now(UTC)
        header = f"--- scitune: attempt {trial.attempts} at {now:%Y-%m-%d %H:%M:%S}Z\n"
        for log in logs:
            log.write(header.encode())
            log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logs[0],
            stderr=logs[1],
            start_new_session=True,  # Ctrl-C reaches the runner only; it stops trials itself
        )
        timeout = spec.entrypoint.timeout_s
        self._active[trial.id] = _Active(
            trial=trial,
            proc=proc,
            reader=MetricsReader(self.study.storage, trial.id, metrics, trial.ingested_bytes),
            logs=logs,
            started=time.monotonic(),
            deadline=time.monotonic() + timeout if timeout else None,
        )

    def _child_env(self, context_path: Path, metrics: Path) -> dict[str, str]:
        env = dict(os.environ)
        env[TRIAL_ENV] = str(context_path)
        env[METRICS_ENV] = str(metrics)
        env[RUNNER_PID_ENV] = str(os.getpid())
        env["PYTHONUNBUFFERED"] = "1"
        paths = [str(r) for r in self._roots] + [p for p in [env.get("PYTHONPATH")] if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        # N workers on C cores: without this each trial's BLAS/torch would start C threads.
        threads = str(max(1, (os.cpu_count() or 1) // self.workers))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, threads)
        if self.memory_limit is not None:
            env[MEMORY_LIMIT_ENV] = str(self.memory_limit)
            # glibc reserves 64 MiB of address space per thread arena, depending on which
            # threads happen to allocate: under RLIMIT_AS that reservation (not memory) would
            # decide at random whether a trial fits. One arena makes the count reproducible.
            env.setdefault("MALLOC_ARENA_MAX", "1")
        else:
            env.pop(MEMORY_LIMIT_ENV, None)  # never inherited from the runner's environment
        return env

    def _finish(self, active: _Active, code: int) -> None:
        del self._active[active.trial.id]
        for log in active.logs:
            log.close()
        active.reader.poll(final=True)
        self._problems.extend(active.reader.problems)
        trial_dir = active.reader.path.parent
        result = _read_result(trial_dir)
        if result.get("entrypoint_error"):
            self.study.storage.requeue_trial(active.trial.id, "not started: entrypoint error")
            self._entrypoint_error = str(result["entrypoint_error"])
            self._stopping = True
            return
        if active.stop_reason == "interrupted" and not result:
            self.study.storage.requeue_trial(active.trial.id, "interrupted: the runner stopped")
            return
        finished = self._decide(active.trial, code, result, trial_dir, active.stop_reason)
        self._record(finished)

    def _decide(
        self,
        trial: FrozenTrial,
        code: int,
        result: dict[str, Any],
        trial_dir: Path,
        stop_reason: str | None,
    ) -> FrozenTrial:
        storage, spec = self.study.storage, self.study.spec
        stderr = tail(trial_dir / "stderr.log")
        if stop_reason == "timeout":
            limit = spec.entrypoint.timeout_s or 0
            return storage.finish_trial(
                trial.id,
                TrialState.FAILED,
                reason=f"timed out after {_duration(limit)} (entrypoint.timeout)",
                stderr_tail=stderr,
            )
        infeasible = result.get("infeasible") or declared_infeasible(trial_dir / METRICS_FILE)
        if infeasible:
            return storage.finish_trial(trial.id, TrialState.INFEASIBLE, reason=str(infeasible))
        if code != 0:
            reason = str(result.get("error") or describe_exit(code))
            return storage.finish_trial(
                trial.id, TrialState.FAILED, reason=reason, stderr_tail=stderr
            )
        metric = spec.objective.metric
        curves = storage.get_curves(self.study.record.id, trial_ids=[trial.id]).get(trial.id, {})
        curve = curves.get(metric)
        if curve is None or len(curve) == 0:
            seen = ", ".join(sorted(curves)) or "nothing"
            return storage.finish_trial(
                trial.id,
                TrialState.FAILED,
                reason=f"finished without reporting the objective {metric!r} (it reported "
                f"{seen}). Report it: trial.report(step, {metric}=...).",
                stderr_tail=stderr,
            )
        diverged = first_non_finite(curve)
        if diverged is not None:
            step, value = diverged
            return storage.finish_trial(
                trial.id,
                TrialState.INFEASIBLE,
                reason=f"diverged: {metric} was {value} at step {step}",
            )
        sc = score(curve, goal=spec.objective.goal, select=spec.objective.select)
        assert sc is not None  # a non-empty, all-finite curve always scores
        note = "; ".join(self._problems_of(trial_dir)) or None
        return storage.finish_trial(
            trial.id, TrialState.COMPLETE, value=sc.value, value_step=sc.step, reason=note
        )

    def _problems_of(self, trial_dir: Path) -> list[str]:
        return [p for p in self._problems if str(trial_dir) in p][:3]

    def _record(self, finished: FrozenTrial) -> None:
        if finished.state is TrialState.COMPLETE:
            self._refresh_best()
        if self.observer:
            self.observer.on_trial_finished(finished)

    def _counts(self) -> StateCounts:
        runs = self.study.spec.budget.runs
        return StateCounts.of(self.study.trials(), planned=self._planned, runs=runs)

    def _refresh_best(self) -> None:
        best = self.study.best(1)
        self._best = best[0] if best else None

    # -- recovery ----------------------------------------------------------------------------
    def _recover(self) -> tuple[int, int]:
        """Settle RUNNING trials whose runner is gone. Returns (finished, requeued)."""
        storage = self.study.storage
        now = datetime.now(UTC)
        finished = requeued = 0
        for trial in self.study.trials([TrialState.RUNNING]):
            beat = trial.heartbeat_at or trial.started_at
            stale = beat is not None and (now - _aware(beat)).total_seconds() > self.stale_after
            if not (worker_is_dead(trial.worker) or stale):
                continue  # another live runner owns it
            trial_dir = Path(trial.dir) if trial.dir else None
            if trial_dir is None:
                storage.requeue_trial(trial.id, "interrupted: its runner stopped")
                requeued += 1
                continue
            metrics = trial_dir / METRICS_FILE
            MetricsReader(storage, trial.id, metrics, trial.ingested_bytes).poll(final=True)
            result = _read_result(trial_dir)
            if result and not result.get("entrypoint_error"):
                code = int(result["returncode"])
                self._record(self._decide(trial, code, result, trial_dir, None))
                finished += 1
            else:
                storage.requeue_trial(trial.id, f"interrupted: runner {trial.worker} stopped")
                requeued += 1
        if (finished or requeued) and self.observer:
            self.observer.on_message(
                f"Recovered an interrupted run: {finished} trial(s) had finished, "
                f"{requeued} will run again."
            )
        return finished, requeued

    # -- signals -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            if self.observer and not self._stopping:
                self.observer.on_message(
                    "Stopping: running trials are stopped and will run again next time."
                )
            self._stopping = True

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def _read_result(trial_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((trial_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and math.isclose(seconds % 3600, 0):
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and math.isclose(seconds % 60, 0):
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"

