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
import selectors
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from scitune._child import MEMORY_LIMIT_ENV
from scitune.errors import EntrypointError, StaleAttemptError, StorageError
from scitune.execution._entrypoint import child_argv, module_roots
from scitune.execution._ingest import MetricsReader, declared_infeasible
from scitune.execution._logs import DEFAULT_LOG_LIMIT, CappedLog
from scitune.execution._process import (
    ATTEMPT_ENV,
    attempt_id,
    attempt_processes,
    describe_exit,
    end_processes,
    reap_orphans,
    stop_process,
    subreaper,
    tail,
    worker_id,
    worker_is_dead,
)
from scitune.ranking import Configuration
from scitune.scoring import first_non_finite, score
from scitune.storage import AttemptOutcome, FrozenTrial, TrialState
from scitune.study import Study
from scitune.trial import METRICS_ENV, RESULT_FILE, RUNNER_PID_ENV, TRIAL_ENV, TrialContext

__all__ = ["RunObserver", "RunSummary", "Runner", "StateCounts", "attempt_result"]

METRICS_FILE = "metrics.jsonl"
CONTEXT_FILE = "trial.json"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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
    def on_update(self, counts: StateCounts, best: Configuration | None) -> None: ...
    def on_trial_finished(self, trial: FrozenTrial) -> None: ...
    def on_message(self, text: str) -> None: ...


@dataclass
class RunSummary:
    """What one ``Runner.run`` did.

    ``counts`` are the study's; ``finished`` counts the trials this run finished, by state,
    and ``first_failure`` is the reason of the first that FAILED.
    """

    counts: StateCounts
    best: Configuration | None
    elapsed_s: float
    interrupted: bool = False
    recovered: int = 0
    requeued: int = 0
    problems: list[str] = field(default_factory=list)
    finished: Counter[TrialState] = field(default_factory=Counter)
    first_failure: str | None = None

    @property
    def all_failed(self) -> bool:
        """Every trial this run finished FAILED (and it finished at least one)."""
        total = sum(self.finished.values())
        return total > 0 and self.finished[TrialState.FAILED] == total


@dataclass
class _Active:
    trial: FrozenTrial
    proc: subprocess.Popen[bytes]
    reader: MetricsReader
    logs: Sequence[CappedLog]
    attempt_dir: Path
    mark: str  # the attempt's ATTEMPT_ENV value, on every process it starts
    started: float
    deadline: float | None
    stop_reason: str | None = None
    rule_fired: str | None = None  # why an [[infeasible]] rule stopped it


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
        max_attempts: runs of a trial whose runner was lost (killed, silent past
            ``stale_after``) before the trial is FAILED; default ``budget.max_attempts``.
            Stopping a run on purpose (Ctrl-C) does not count.
        retry_failed: put the study's FAILED trials back to PENDING first (same number,
            configuration and seed; each earlier attempt keeps its reason).
        log_limit: bytes kept of each attempt's stdout and of its stderr (the first and the
            last half).
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
        max_attempts: int | None = None,
        retry_failed: bool = False,
        log_limit: int = DEFAULT_LOG_LIMIT,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}.")
        if memory_limit is not None and memory_limit < 1:
            raise ValueError(f"memory_limit must be >= 1 byte, got {memory_limit}.")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}.")
        if log_limit < 2:
            raise ValueError(f"log_limit must be >= 2 bytes, got {log_limit}.")
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
        self.max_attempts = max_attempts or study.spec.budget.max_attempts
        self.retry_failed = retry_failed
        self.log_limit = log_limit
        self.worker = worker_id()
        self._selector = selectors.DefaultSelector()
        self._finished: Counter[TrialState] = Counter()
        self._first_failure: str | None = None
        self._active: dict[int, _Active] = {}
        self._stopping = False
        self._entrypoint_error: str | None = None
        self._best: Configuration | None = None
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
        # Orphans of a trial become the runner's children while it runs (see _process).
        self._selector = selectors.DefaultSelector()  # the trials' output pipes, per run
        with self._signals(), subreaper():
            try:
                if self.retry_failed:
                    self._retry_failed()
                recovered, requeued = self._recover()
                self.study.ensure_trials()
                self._refresh_best()
                self._planned = self.study.planned_trials()
                counts = self._counts()
                if self.observer:
                    self.observer.on_start(self.study, counts)
                self._loop()
            finally:
                # Normally empty; after an error (the store vanished) no trial outlives us.
                self._abandon_all()
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
            finished=self._finished,
            first_failure=self._first_failure,
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
                    info=self._attempt_info(),
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
                elif active.rule_fired is not None:  # stop it now: no compute past the rule
                    active.stop_reason = "rule"
                    self._finish(active, stop_process(active.proc, grace_s=self.grace_s))
                elif active.deadline is not None and now > active.deadline:
                    active.stop_reason = "timeout"
                    self._finish(active, stop_process(active.proc, grace_s=self.grace_s))
            if self._stopping:
                for active in list(self._active.values()):
                    active.stop_reason = active.stop_reason or "interrupted"
                    self._finish(active, stop_process(active.proc, grace_s=self.grace_s))
                continue
            if now - last_ingest >= self.ingest_interval:
                for active in list(self._active.values()):
                    self._poll(active)
                reap_orphans(keep=self._trial_pids())
                last_ingest = now
            if now - last_beat >= self.heartbeat_interval:
                self.study.storage.heartbeat([a.trial.id for a in self._active.values()])
                last_beat = now
            if self.observer and now - last_update >= 0.5:
                self.observer.on_update(self._counts(), self._best)
                last_update = now
            self._wait_for_output(self.poll_interval)
        if self.observer:
            self.observer.on_update(self._counts(), self._best)

    def _wait_for_output(self, timeout: float) -> None:
        """Sleep up to ``timeout``, copying trials' output to their logs as it comes."""
        if not self._selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in self._selector.select(timeout):
            log: CappedLog = key.data
            if not log.pump():
                self._selector.unregister(key.fd)

    def _poll(self, active: _Active, *, final: bool = False) -> bool:
        """Ingest what the attempt wrote; False if the attempt is no longer the trial's own.

        A point that breaks an ``[[infeasible]]`` rule is noted on ``active`` (the loop then
        stops the trial at once).
        """
        try:
            active.reader.poll(final=final)
        except StaleAttemptError as e:
            self._problems.append(f"trial {active.trial.number}: {e}")
            return False
        if active.rule_fired is None:
            active.rule_fired = self._broken_rule(active.reader.fresh)
        return True

    def _broken_rule(
        self, fresh: Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    ) -> str | None:
        """The reason of the first point (by step) that breaks a rule, if any."""
        first: tuple[int, str] | None = None
        for rule in self.study.spec.infeasible:
            steps, values = fresh.get(rule.metric, (None, None))
            if steps is None or values is None:
                continue
            for step, value in zip(steps.tolist(), values.tolist(), strict=True):
                if rule.fires(step, value):
                    if first is None or step < first[0]:
                        first = (step, f"{rule.metric} = {value:.6g} at step {step} broke the "
                                 f"rule {rule.describe()} ([[infeasible]])")
                    break
        return None if first is None else first[1]

    def _trial_pids(self) -> list[int]:
        return [a.proc.pid for a in self._active.values()]

    def _attempt_info(self) -> dict[str, Any]:
        """What an attempt runs with, recorded in the store: its BLAS/OpenMP threads."""
        user = os.environ.get("OMP_NUM_THREADS")
        if user:
            return {"threads": int(user) if user.isdigit() else user, "threads_from": "environment"}
        return {"threads": self._threads(), "threads_from": f"{os.cpu_count()} cores / workers"}

    def _threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.workers)

    def _launch(self, trial: FrozenTrial) -> None:
        spec = self.study.spec
        trial_dir = Path(trial.dir or self.study.artifacts_dir() / f"trial-{trial.number}")
        attempt_dir = trial_dir / f"attempt-{trial.attempts}"
        metrics = attempt_dir / METRICS_FILE
        context = TrialContext(
            study=spec.name,
            number=trial.number,
            params=dict(trial.params),
            seed=trial.seed,
            max_train_steps=spec.budget.max_train_steps,
            dir=str(trial_dir),
            metrics_file=str(metrics),
            attempt=trial.attempts,
        )
        context_path = attempt_dir / CONTEXT_FILE
        try:
            _fresh_folder(attempt_dir)
            context_path.write_text(context.to_json())
        except OSError as e:
            self._fail_to_start(trial, f"could not prepare the trial's folder {attempt_dir}: {e}")
            return
        try:
            argv = child_argv(spec, context)
        except EntrypointError as e:
            self.study.storage.requeue_trial(trial.id, "not started: entrypoint error")
            self._entrypoint_error = str(e)
            self._stopping = True
            return
        mark = attempt_id(self.study.record.uid, trial.number, trial.attempts)
        env = self._child_env(context_path, metrics, mark)
        now = datetime.now(UTC)
        header = f"--- scitune: attempt {trial.attempts} at {now:%Y-%m-%d %H:%M:%S}Z\n".encode()
        pipes = [os.pipe(), os.pipe()]
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=pipes[0][1],
                stderr=pipes[1][1],
                start_new_session=True,  # Ctrl-C reaches the runner only; it stops trials itself
            )
        except OSError as e:
            for read_end, _ in pipes:
                os.close(read_end)
            self._fail_to_start(trial, f"could not start the trial's process: {e}")
            return
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        logs = [
            CappedLog(attempt_dir / name, read_end, limit=self.log_limit, header=header)
            for name, (read_end, _) in zip(("stdout.log", "stderr.log"), pipes, strict=True)
        ]
        for log in logs:
            self._selector.register(log.fd, selectors.EVENT_READ, log)
        timeout = spec.entrypoint.timeout_s
        reader = MetricsReader(self.study.storage, trial.id, metrics, 0, attempt=trial.attempts)
        self._active[trial.id] = _Active(
            trial=trial,
            proc=proc,
            reader=reader,
            logs=logs,
            attempt_dir=attempt_dir,
            mark=mark,
            started=time.monotonic(),
            deadline=time.monotonic() + timeout if timeout else None,
        )

    def _fail_to_start(self, trial: FrozenTrial, reason: str) -> None:
        self._record(
            self.study.storage.finish_trial(
                trial.id, TrialState.FAILED, reason=reason, attempt=trial.attempts
            )
        )

    def _child_env(self, context_path: Path, metrics: Path, mark: str) -> dict[str, str]:
        env = dict(os.environ)
        env[TRIAL_ENV] = str(context_path)
        env[METRICS_ENV] = str(metrics)
        env[RUNNER_PID_ENV] = str(os.getpid())
        env[ATTEMPT_ENV] = mark
        env["PYTHONUNBUFFERED"] = "1"
        paths = [str(r) for r in self._roots] + [p for p in [env.get("PYTHONPATH")] if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        # N workers on C cores: without this each trial's BLAS/torch would start C threads.
        for var in _THREAD_VARS:
            env.setdefault(var, str(self._threads()))
        if self.memory_limit is not None:
            env[MEMORY_LIMIT_ENV] = str(self.memory_limit)
            # glibc reserves 64 MiB of address space per thread arena, depending on which
            # threads happen to allocate: under RLIMIT_AS that reservation (not memory) would
            # decide at random whether a trial fits. One arena makes the count reproducible.
            env.setdefault("MALLOC_ARENA_MAX", "1")
        else:
            env.pop(MEMORY_LIMIT_ENV, None)  # never inherited from the runner's environment
        return env

    def _end_leftovers(self, active: _Active) -> int:
        """End every process of the attempt still alive once its main process has exited."""
        pids = attempt_processes(
            active.mark, groups=[active.proc.pid], ancestors=[active.proc.pid]
        )
        return end_processes(pids, grace_s=min(self.grace_s, 2.0), keep=self._trial_pids())

    def _close_logs(self, active: _Active) -> None:
        for log in active.logs:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(log.fd)
            log.close()

    def _finish(self, active: _Active, code: int) -> None:
        del self._active[active.trial.id]
        # A child the trial left running would go on writing to the attempt's files.
        leftovers = self._end_leftovers(active)
        self._close_logs(active)
        if not self._poll(active, final=True):
            return  # another runner took the trial over: its attempt is not ours to record
        self._problems.extend(active.reader.problems)
        if leftovers:
            with contextlib.suppress(StorageError):
                self.study.storage.add_trial_warnings(
                    active.trial.id,
                    [
                        f"ended {leftovers} process(es) the trial left running after its main "
                        "process exited"
                    ],
                )
        result = _read_result(active.attempt_dir)
        if result.get("entrypoint_error"):
            self.study.storage.requeue_trial(active.trial.id, "not started: entrypoint error")
            self._entrypoint_error = str(result["entrypoint_error"])
            self._stopping = True
            return
        if active.stop_reason == "interrupted" and not result:
            self.study.storage.requeue_trial(
                active.trial.id, "interrupted: the runner stopped", attempt=active.trial.attempts
            )
            return
        rule = active.rule_fired
        if rule is not None and active.stop_reason == "rule":
            rule += self._saved(active)
        finished = self._decide(
            active.trial, code, result, active.attempt_dir, active.stop_reason, rule
        )
        self._record(finished)

    def _saved(self, active: _Active) -> str:
        """"; stopped at step S of N" (the training the rule saved), from the last step seen."""
        last = max((int(s[-1]) for s, _ in active.reader.fresh.values() if len(s)), default=None)
        if last is None:
            last = max(
                (int(c.steps[-1]) for c in self.study.storage.get_curves(
                    self.study.record.id, trial_ids=[active.trial.id]
                ).get(active.trial.id, {}).values() if len(c)),
                default=None,
            )  # fmt: skip
        total = self.study.spec.budget.max_train_steps
        if last is None or last >= total:
            return "; stopped at once"
        return f"; stopped at step {last} of {total} ({total - last:,} steps not run)"

    def _abandon_all(self) -> None:
        """Stop every running attempt without deciding anything (an error stops the run)."""
        for active in list(self._active.values()):
            del self._active[active.trial.id]
            stop_process(active.proc, grace_s=min(self.grace_s, 2.0))
            self._end_leftovers(active)
            self._close_logs(active)
            with contextlib.suppress(StorageError):
                self.study.storage.requeue_trial(
                    active.trial.id, "interrupted: the runner stopped on an error",
                    attempt=active.trial.attempts,
                )  # fmt: skip
        self._selector.close()

    def _decide(
        self,
        trial: FrozenTrial,
        code: int,
        result: dict[str, Any],
        attempt_dir: Path,
        stop_reason: str | None,
        rule: str | None = None,
    ) -> FrozenTrial:
        """The trial's outcome: FAILED (timeout, crash, no objective), INFEASIBLE (declared,
        a broken ``[[infeasible]]`` rule, a non-finite objective) or COMPLETE with its score."""
        storage, spec = self.study.storage, self.study.spec
        stderr = tail(attempt_dir / "stderr.log")

        def finish(state: TrialState, **fields: Any) -> FrozenTrial:
            return storage.finish_trial(trial.id, state, attempt=trial.attempts, **fields)

        if stop_reason == "timeout":
            limit = spec.entrypoint.timeout_s or 0
            return finish(
                TrialState.FAILED,
                reason=f"timed out after {_duration(limit)} (entrypoint.timeout)",
                stderr_tail=stderr,
            )
        if rule is not None:
            return finish(TrialState.INFEASIBLE, reason=rule)
        infeasible = result.get("infeasible") or declared_infeasible(attempt_dir / METRICS_FILE)
        if infeasible:
            return finish(TrialState.INFEASIBLE, reason=str(infeasible))
        if code != 0:
            reason = str(result.get("error") or describe_exit(code))
            return finish(TrialState.FAILED, reason=reason, stderr_tail=stderr)
        metric = spec.objective.metric
        curves = storage.get_curves(self.study.record.id, trial_ids=[trial.id]).get(trial.id, {})
        curve = curves.get(metric)
        if curve is None or len(curve) == 0:
            seen = ", ".join(sorted(curves)) or "nothing"
            return finish(
                TrialState.FAILED,
                reason=f"finished without reporting the objective {metric!r} (it reported "
                f"{seen}). Report it: trial.report(step, {metric}=...).",
                stderr_tail=stderr,
            )
        diverged = first_non_finite(curve)
        if diverged is not None:
            step, value = diverged
            return finish(
                TrialState.INFEASIBLE, reason=f"diverged: {metric} was {value} at step {step}"
            )
        obj = spec.objective
        sc = score(curve, goal=obj.goal, select=obj.select, smoothing=obj.smoothing)
        assert sc is not None  # a non-empty, all-finite curve always scores
        return finish(TrialState.COMPLETE, value=sc.value, value_step=sc.step)

    def _record(self, finished: FrozenTrial) -> None:
        self._finished[finished.state] += 1
        if finished.state is TrialState.FAILED and self._first_failure is None:
            self._first_failure = f"trial {finished.number}: {finished.reason}"
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
    def _retry_failed(self) -> None:
        again = self.study.storage.retry_failed(self.study.record.id)
        if again and self.observer:
            self.observer.on_message(
                f"Retrying {len(again)} failed trial(s): "
                + ", ".join(f"#{t.number}" for t in again[:10])
                + (", ..." if len(again) > 10 else "")
            )

    def _recover(self) -> tuple[int, int]:
        """Settle RUNNING trials whose runner is gone. Returns (finished, requeued).

        The lost attempt's processes still alive are ended first; then what reached its
        metrics file is stored; a trial that had finished (``result.json``) is decided, the
        others run again as a new attempt, or FAILED after ``max_attempts`` lost ones.
        """
        storage = self.study.storage
        now = datetime.now(UTC)
        finished = requeued = 0
        for trial in self.study.trials([TrialState.RUNNING]):
            beat = trial.heartbeat_at or trial.started_at
            silent = (now - _aware(beat)).total_seconds() if beat is not None else 0.0
            dead = worker_is_dead(trial.worker)
            if not (dead or silent > self.stale_after):
                continue  # another live runner owns it
            why = (
                f"runner {trial.worker} stopped"
                if dead
                else f"runner {trial.worker} silent for {silent:.0f}s"
            )
            mark = attempt_id(self.study.record.uid, trial.number, trial.attempts)
            end_processes(attempt_processes(mark), grace_s=min(self.grace_s, 2.0))
            attempt_dir = _attempt_dir_of(trial)
            if attempt_dir is not None:
                reader = MetricsReader(
                    storage, trial.id, attempt_dir / METRICS_FILE, trial.ingested_bytes,
                    attempt=trial.attempts,
                )  # fmt: skip
                reader.poll(final=True)
                self._problems.extend(reader.problems)
                result = _read_result(attempt_dir)
                if result and not result.get("entrypoint_error"):
                    code = int(result.get("returncode", 1))
                    self._record(self._decide(trial, code, result, attempt_dir, None))
                    finished += 1
                    continue
            lost = self._lost_before(trial) + 1
            if lost >= self.max_attempts:
                self._record(
                    storage.finish_trial(
                        trial.id,
                        TrialState.FAILED,
                        reason=f"lost {lost} times (budget.max_attempts = {self.max_attempts}), "
                        f"last: {why}",
                        attempt=trial.attempts,
                    )
                )
                finished += 1
                continue
            storage.requeue_trial(
                trial.id, f"lost: {why}", outcome=AttemptOutcome.LOST, attempt=trial.attempts
            )
            requeued += 1
        if (finished or requeued) and self.observer:
            self.observer.on_message(
                f"Recovered an interrupted run: {finished} trial(s) had finished, "
                f"{requeued} will run again."
            )
        return finished, requeued

    def _lost_before(self, trial: FrozenTrial) -> int:
        """Attempts of ``trial`` lost since it last FAILED (a retry starts the count again)."""
        history = self.study.storage.get_attempts(self.study.record.id, trial_ids=[trial.id])
        lost = 0
        for a in history.get(trial.id, []):
            if a.outcome is AttemptOutcome.FAILED:
                lost = 0
            elif a.outcome is AttemptOutcome.LOST:
                lost += 1
        return lost

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


def attempt_result(trial: FrozenTrial) -> dict[str, Any]:
    """What the trial's current attempt wrote in ``result.json`` on a normal end (return code,
    error, peak memory); empty if it wrote none."""
    folder = _attempt_dir_of(trial)
    return {} if folder is None else _read_result(folder)


def _read_result(attempt_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((attempt_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _attempt_dir_of(trial: FrozenTrial) -> Path | None:
    """The folder of a trial's current attempt (``None`` if it has none)."""
    if not trial.dir:
        return None
    folder = Path(trial.dir) / f"attempt-{trial.attempts}"
    if folder.is_dir():
        return folder
    legacy = Path(trial.dir)  # written by a scitune before attempts had folders
    return legacy if (legacy / METRICS_FILE).is_file() else None


def _fresh_folder(folder: Path) -> None:
    """Create an attempt's folder; one already there (a store restored from a copy, say) is
    moved aside, so an attempt never reads files it did not write."""
    if folder.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        folder.rename(folder.with_name(f"{folder.name}.stale-{stamp}"))
    folder.mkdir(parents=True)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and math.isclose(seconds % 3600, 0):
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and math.isclose(seconds % 60, 0):
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"

