"""Measured choices: how long to train (§8) and how to train stably (§9), each as a study.

Each measurement derives a small study from the user's study, writes it as a study file, runs it
and reads it:

- :func:`derive_max_steps` + :func:`max_steps_result`: a constant-learning-rate sweep without
  regularization; the steps the fastest learning rate needs to fit the training set are the
  initial ``max_train_steps`` (§8 item 28), with the boundary check on that learning rate.
- :func:`derive_lr_sweep` + :func:`lr_sweep_result`: lr* and the unstable learning rate above
  it (§9 item 32).
- :func:`derive_early` + :func:`early_result`: ~500 steps at 2x the best learning rate,
  evaluated every step (§9 item 33).
- :func:`derive_warmup` + :func:`warmup_result`: warmup lengths across orders of magnitude at
  10x the unstable learning rate; the shortest stable one (§9 item 34).
- :func:`clipping_result` (+ :func:`derive_clipping` to measure it): λ at the 90th percentile
  of the logged unclipped gradient norms, and the share of updates it clips (§9 item 35).

Example:
    >>> source = open_source("study.toml")  # doctest: +SKIP
    >>> derived = derive_lr_sweep(source.base)  # doctest: +SKIP
    >>> study, _ = run_derived(derived, source, path=Path("sweep.toml"))  # doctest: +SKIP
    >>> lr_sweep_result(runs_of(StudySnapshot.from_study(study)), lr_param="learning_rate",
    ...                 loss_metric="train_loss", metric="dev_error", goal="minimize")
    ... # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scitune._stability_base import (
    Base,
    Derived,
    ParamNames,
    log_grid,
    lr_range,
    open_user_study,
)
from scitune._stability_clip import ClippingResult, clipped_share, clipping_result
from scitune._stability_curves import (
    Series,
    StabilityConfig,
    TrialRun,
    Verdict,
    assess,
    loss_rise,
    runs_of,
)
from scitune._stability_derive import (
    derive_clipping,
    derive_early,
    derive_lr_sweep,
    derive_max_steps,
    derive_warmup,
)
from scitune._stability_early import EarlyPoint, EarlyResult, early_result
from scitune._stability_steps import (
    FitPoint,
    MaxStepsResult,
    StepsComparison,
    max_steps_result,
    steps_comparison,
)
from scitune._stability_sweeps import (
    LRPoint,
    LRSweepResult,
    WarmupPoint,
    WarmupResult,
    lr_sweep_result,
    warmup_lengths,
    warmup_result,
)
from scitune._toml_out import render_study
from scitune.errors import ScituneError, StudyNotFoundError
from scitune.execution import Runner, RunObserver, RunSummary
from scitune.spec import StudySpec, load_spec
from scitune.storage import Storage
from scitune.study import SOURCE_KEY, Study

__all__ = [
    "Base",
    "ClippingResult",
    "Derived",
    "EarlyPoint",
    "EarlyResult",
    "FitPoint",
    "LRPoint",
    "LRSweepResult",
    "MaxStepsResult",
    "ParamNames",
    "Series",
    "Source",
    "StabilityConfig",
    "StepsComparison",
    "TrialRun",
    "Verdict",
    "WarmupPoint",
    "WarmupResult",
    "assess",
    "clipped_share",
    "clipping_result",
    "derive_clipping",
    "derive_early",
    "derive_lr_sweep",
    "derive_max_steps",
    "derive_warmup",
    "early_result",
    "log_grid",
    "loss_rise",
    "lr_sweep_result",
    "max_steps_result",
    "open_source",
    "run_derived",
    "runs_of",
    "steps_comparison",
    "stored_study",
    "warmup_lengths",
    "warmup_result",
    "write_derived",
]


@dataclass(frozen=True)
class Source:
    """The user's study: its spec, its store, the stored study if it exists, and the base."""

    spec: StudySpec
    storage: Storage
    study: Study | None
    base: Base

    def default_path(self, name: str, suffix: str = ".toml") -> Path:
        """Beside the user's study file (so its entrypoint is found the same way), else here."""
        folder = Path(self.spec.source).parent if self.spec.source is not None else Path()
        return folder / f"{name}{suffix}"


def open_source(
    ref: str, *, storage_url: str | None = None, names: ParamNames | None = None
) -> Source:
    """The user's study by file or name, and the configuration derived studies start from.

    The base configuration is the best trial's when the study has run, else the middle of each
    range. Raises :class:`~scitune.errors.StudyNotFoundError` for an unknown name.
    """
    names = names or ParamNames()
    user = open_user_study(ref, storage_url=storage_url)
    spec, storage, study, params, origin = (
        user.spec, user.storage, user.study, user.params, user.origin
    )
    best = [user.best] if user.best is not None else []
    low, high, where = lr_range(spec, params, names.learning_rate)
    best_lr = None
    if best:
        value = best[0].params.get(names.learning_rate)
        if isinstance(value, int | float) and not isinstance(value, bool):
            best_lr = float(value)
    base = Base(spec, params, origin, low, high, where, best_lr, names)
    return Source(spec, storage, study, base)


def write_derived(derived: Derived, path: Path, *, force: bool = False) -> StudySpec:
    """Validate and write the derived study file; the same file again is fine.

    Raises:
        ScituneError: ``path`` holds a different file and ``force`` is not set.
        SpecError: the derived study is not a valid study (a bug, or an odd user study).
    """
    text = render_study(derived.data, header=derived.header, notes=derived.notes)
    StudySpec.from_dict(derived.data, source=path)
    if path.exists() and path.read_text(encoding="utf-8") != text and not force:
        raise ScituneError(
            f"{path} already exists with different content; pass --force to overwrite it, or "
            "--name to derive a study under a new name."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


def run_derived(
    derived: Derived,
    source: Source,
    *,
    path: Path,
    force: bool = False,
    workers: int = 1,
    observer: RunObserver | None = None,
) -> tuple[Study, RunSummary]:
    """Write the derived study, open it in the user's store and run its pending trials.

    Run again, it resumes: finished trials are kept, so a second call only reads.
    """
    spec = write_derived(derived, path, force=force)
    study = Study.open(spec, source.storage)
    summary = Runner(study, workers=workers, observer=observer).run()
    return study, summary


def stored_study(source: Source, name: str) -> Study | None:
    """A study of the user's store by name, or None."""
    try:
        record = source.storage.get_study(name)
    except StudyNotFoundError:
        return None
    data = {k: v for k, v in record.spec.items() if k != SOURCE_KEY}
    origin = record.spec.get(SOURCE_KEY)
    return Study(
        StudySpec.from_dict(data, source=Path(origin) if origin else None), source.storage, record
    )
