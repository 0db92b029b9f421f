"""Running the batch-size probe: the user's study, the probe study derived from it, its run.

The probe is a study of its own in the user's store (``<study>-batch-size-probe``), written as a
study file beside the user's: one trial per batch size, run one at a time in increasing order
until a trial fails (out of memory, or anything else). Its trials hold the measurements.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scitune._probe_batch import (
    BatchSizeProbe,
    ProbeRow,
    ProbeSettings,
    Status,
    analyze_probe,
    measured_throughput,
)
from scitune._stability_base import UserStudy, open_user_study
from scitune._toml_out import render_study
from scitune.errors import ScituneError, StudyNotFoundError
from scitune.execution import Runner, RunObserver, StateCounts, attempt_result
from scitune.integrations._torch_memory import is_oom_message
from scitune.ranking import Configuration
from scitune.spec import StudySpec, load_spec
from scitune.storage import FrozenTrial, Storage, TrialState
from scitune.study import Study

__all__ = [
    "ProbeStudy",
    "UserStudy",
    "derive_batch_size_probe",
    "is_oom_trial",
    "open_user_study",
    "read_probe",
    "run_batch_size_probe",
    "trial_size",
]


@dataclass(frozen=True)
class ProbeStudy:
    """The probe as a study file: ``StudySpec.to_dict`` data, a header and per-key notes."""

    data: dict[str, Any]
    header: str
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.data["name"])

    def text(self) -> str:
        return render_study(self.data, header=self.header, notes=self.notes)


def derive_batch_size_probe(
    user: UserStudy, settings: ProbeSettings, *, name: str | None = None
) -> ProbeStudy:
    """The probe study: one trial per batch size, everything else fixed at ``user.params``.

    Its objective is the throughput metric (maximized, final value), so a trial that never
    reports it fails with a message that names it. Constraints are dropped.
    """
    spec, s = user.spec, settings
    suffix = "batch-size-probe"
    name = name or f"{spec.name[: 99 - len(suffix)]}-{suffix}"
    fixed = {k: v for k, v in user.params.items() if k != s.batch_param}
    if s.eval_param:
        fixed[s.eval_param] = s.interval
    limit = f"; host memory limit {_mib(s.memory_limit)}" if s.memory_limit else ""
    data = spec.to_dict()
    for key in ("base", "based_on"):
        data.pop(key, None)
    data.update(
        name=name,
        goal=(
            f"How fast does {spec.name} train at each batch size, and where does throughput "
            f"stop scaling? ({s.steps} measured steps after {s.warmup} warm-up steps{limit})"
        ),
        objective={"metric": s.metric, "goal": "maximize", "select": "final"},
        constraints=[],
        budget={"trials": 1, "max_train_steps": s.warmup + s.steps, "seed": spec.budget.seed},
        search={"sampler": "grid", "design": "per_value"},
        scientific={s.batch_param: {"values": s.sizes}},
        nuisance={},
        fixed=fixed,
    )
    header = (
        "Derived by `scitune probe batch-size` (§1: choose the batch size from throughput).\n"
        f"One trial per batch size, run one at a time until one runs out of memory or fails;\n"
        f"{s.warmup} warm-up + {s.steps} measured steps each. Everything else is fixed at\n"
        f"{user.origin} of study {spec.name!r}."
        + (f"\nHost memory limit (RLIMIT_AS): {_mib(s.memory_limit)}." if s.memory_limit else "")
    )
    notes = {f"scientific.{s.batch_param}": "doubling sizes, probed in order"}
    if s.eval_param:
        notes[f"fixed.{s.eval_param}"] = (
            "set by scitune: the warm-up ends on a report, and evaluation stays rare"
        )
    StudySpec.from_dict(data)  # a bug here should fail before anything is written
    return ProbeStudy(data, header, notes)


class _StopAtFailure:
    """Passes the runner's events on, and stops the runner at the first FAILED trial."""

    def __init__(self, inner: RunObserver | None) -> None:
        self.inner = inner
        self.runner: Runner | None = None
        self.failed: FrozenTrial | None = None

    def on_start(self, study: Study, counts: StateCounts) -> None:
        if self.inner:
            self.inner.on_start(study, counts)

    def on_update(self, counts: StateCounts, best: Configuration | None) -> None:
        if self.inner:
            self.inner.on_update(counts, best)

    def on_trial_finished(self, trial: FrozenTrial) -> None:
        if self.inner:
            self.inner.on_trial_finished(trial)
        if trial.state is TrialState.FAILED and self.failed is None:
            self.failed = trial
            if self.runner is not None:
                self.runner.stop()  # the next size would need even more memory

    def on_message(self, text: str) -> None:
        if self.inner:
            self.inner.on_message(text)


def run_batch_size_probe(
    user: UserStudy,
    probe: ProbeStudy,
    settings: ProbeSettings,
    *,
    path: Path,
    force: bool = False,
    observer: RunObserver | None = None,
) -> tuple[Study, BatchSizeProbe, bool]:
    """Write the probe study, run its sizes in order until a failure, and read the result.

    Run again, it resumes an interrupted probe, and only reads a finished one (a failure ends
    it). Returns the study, the result and whether the run was interrupted (Ctrl-C).

    Raises:
        ScituneError: ``path`` holds a different study file (without ``force``), or the stored
            probe was measured with other settings.
    """
    if settings.memory_limit is not None and not sys.platform.startswith("linux"):
        raise ScituneError(
            f"--memory-limit uses RLIMIT_AS, which {sys.platform} does not enforce: probe on "
            "Linux, or on an accelerator (its out-of-memory error ends the probe)."
        )
    text = probe.text()
    if path.exists() and path.read_text(encoding="utf-8") != text and not force:
        raise ScituneError(
            f"{path} already exists with different content; pass --force to overwrite it, or "
            "--name to probe under a new name."
        )
    _check_same_probe(user.storage, probe)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    study = Study.open(load_spec(path), user.storage)
    interrupted = False
    finished = study.trials([TrialState.FAILED])
    if not finished:
        stopper = _StopAtFailure(observer)
        # One trial at a time: trials running side by side would share the cores (and the
        # memory), so neither throughput nor the out-of-memory point would be the batch size's.
        runner = Runner(study, workers=1, observer=stopper, memory_limit=settings.memory_limit)
        stopper.runner = runner
        summary = runner.run()
        interrupted = summary.interrupted and stopper.failed is None
    return study, read_probe(study, settings), interrupted


def _check_same_probe(storage: Storage, probe: ProbeStudy) -> None:
    try:
        record = storage.get_study(probe.name)
    except StudyNotFoundError:
        return
    if record.spec.get("goal") != probe.data["goal"] and storage.get_trials(
        record.id, states=[TrialState.COMPLETE, TrialState.INFEASIBLE, TrialState.FAILED]
    ):
        stored = record.spec.get("goal")
        raise ScituneError(
            f"probe study {probe.name!r} was measured with other settings ({stored!r}); pass "
            "--name to probe again under a new name."
        )


def read_probe(study: Study, settings: ProbeSettings) -> BatchSizeProbe:
    """The probe's rows from its trials (each trial's stored curve, state and reason)."""
    trials = [t for t in study.trials() if t.parent_number is None]
    curves = study.storage.get_curves(study.record.id, metrics=[settings.metric])
    rows = []
    for trial in sorted(trials, key=lambda t: trial_size(t, settings.batch_param)):
        curve = curves.get(trial.id, {}).get(settings.metric)
        eps, n, partial = (None, 0, False)
        if curve is not None:
            eps, n, partial = measured_throughput(
                curve.steps.tolist(), curve.values.tolist(), settings.warmup
            )
        result = attempt_result(trial)
        peak = result.get("peak_address_space_bytes")
        rows.append(
            ProbeRow(
                batch_size=trial_size(trial, settings.batch_param),
                status=_status(trial, eps, result),
                examples_per_second=eps,
                intervals=n,
                warmup_included=partial,
                trial_number=trial.number,
                reason=_row_reason(trial, eps, settings),
                peak_memory_bytes=int(peak) if isinstance(peak, int | float) else None,
            )
        )
    return analyze_probe(rows, tolerance=settings.tolerance, memory_limit=settings.memory_limit)


def trial_size(trial: FrozenTrial, param: str) -> int:
    value = trial.params.get(param)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _status(trial: FrozenTrial, eps: float | None, result: Mapping[str, Any]) -> Status:
    if trial.state in (TrialState.PENDING, TrialState.RUNNING):
        return "not run"
    if trial.state is TrialState.FAILED:
        return "oom" if is_oom_trial(trial, result) else "failed"
    if eps is None:
        return "unmeasured"
    return "infeasible" if trial.state is TrialState.INFEASIBLE else "measured"


def is_oom_trial(trial: FrozenTrial, result: Mapping[str, Any] | None = None) -> bool:
    """A FAILED trial that ran out of memory: its reason or stderr says so (the same messages
    as ``integrations.torch.is_oom``), or it was SIGKILLed (the kernel's OOM killer)."""
    text = f"{trial.reason or ''}\n{trial.stderr_tail or ''}"
    if (result or {}).get("oom") or is_oom_message(text) or "out of memory" in text:
        return True
    return "killed by SIGKILL" in (trial.reason or "")


def _row_reason(trial: FrozenTrial, eps: float | None, settings: ProbeSettings) -> str | None:
    if trial.state in (TrialState.FAILED, TrialState.INFEASIBLE):
        return trial.reason
    if trial.state is TrialState.COMPLETE and eps is None:
        return (
            f"no {settings.metric} reported: report it at every evaluation "
            f"(trial.report(step, {settings.metric}=...))"
        )
    return None


def _mib(n: int | None) -> str:
    return f"{(n or 0) / 2**20:,.0f} MiB"
