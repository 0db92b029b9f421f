"""Inside a trial: the handle user code receives, and the language-neutral file protocol.

Protocol (version 1), for any language:

- ``SCITUNE_TRIAL`` names a JSON file: ``{"protocol": 1, "study": ..., "number": ...,
  "params": {...}, "seed": ..., "max_train_steps": ..., "dir": ..., "metrics_file": ...}``.
- ``SCITUNE_METRICS`` names a file the trial appends JSON lines to, one object per line:
  ``{"step": 100, "metrics": {"train_loss": 0.31}}`` -- a point on each named curve;
  ``{"checkpoint": {"step": 100, "path": "ckpt/100.pt", "metrics": {"dev_error": 0.1}}}``;
  ``{"infeasible": "why"}`` -- the configuration is infeasible (diverged, invalid).
  NaN and infinities may be written as the tokens ``NaN``/``Infinity``/``-Infinity`` or as the
  strings ``"nan"``/``"inf"``/``"-inf"``.

Trials never touch the database: the runner reads this file and is the single writer.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from scitune.errors import NotInTrialError, ProtocolError
from scitune.space import Value

__all__ = ["PROTOCOL_VERSION", "Trial", "TrialContext", "current_trial"]

PROTOCOL_VERSION = 1
TRIAL_ENV = "SCITUNE_TRIAL"
METRICS_ENV = "SCITUNE_METRICS"
RUNNER_PID_ENV = "SCITUNE_RUNNER_PID"
RESULT_FILE = "result.json"  # written by the trial process on a normal end


@dataclass(frozen=True)
class TrialContext:
    """What a trial needs to know about itself; written by the runner as the context file."""

    study: str
    number: int
    params: Mapping[str, Value]
    seed: int
    max_train_steps: int
    dir: str
    metrics_file: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "protocol": PROTOCOL_VERSION,
                "study": self.study,
                "number": self.number,
                "params": dict(self.params),
                "seed": self.seed,
                "max_train_steps": self.max_train_steps,
                "dir": self.dir,
                "metrics_file": self.metrics_file,
            },
            indent=2,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrialContext:
        try:
            raw = json.loads(Path(path).read_text())
            return cls(
                study=str(raw["study"]),
                number=int(raw["number"]),
                params=dict(raw["params"]),
                seed=int(raw["seed"]),
                max_train_steps=int(raw["max_train_steps"]),
                dir=str(raw["dir"]),
                metrics_file=str(raw["metrics_file"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ProtocolError(
                f"{path}: not a valid scitune trial context file ({e}). It is written by "
                "`scitune run`; do not edit it."
            ) from e


class Trial:
    """The live handle a trial's code gets: its configuration, and where to report.

    Example:
        >>> def main(trial: Trial) -> None:  # doctest: +SKIP
        ...     lr = trial.params["learning_rate"]
        ...     for step in range(1, trial.max_train_steps + 1):
        ...         loss = ...
        ...         if step % 100 == 0:
        ...             trial.report(step, train_loss=loss)
    """

    def __init__(self, context: TrialContext) -> None:
        self._context = context
        self._params = MappingProxyType(dict(context.params))
        self._file: IO[str] | None = None

    @property
    def params(self) -> Mapping[str, Value]:
        """Scientific, nuisance and fixed hyperparameters, one read-only dict."""
        return self._params

    @property
    def seed(self) -> int:
        return self._context.seed

    @property
    def max_train_steps(self) -> int:
        return self._context.max_train_steps

    @property
    def dir(self) -> Path:
        """A directory of this trial's own (checkpoints, logs); it survives a resumed run."""
        return Path(self._context.dir)

    @property
    def number(self) -> int:
        return self._context.number

    @property
    def study(self) -> str:
        return self._context.study

    def report(self, step: int, /, **metrics: float) -> None:
        """Record metric values at a training step (call it at regular step intervals).

        Values may be Python or NumPy numbers or 0-d tensors; NaN and infinities are kept.
        """
        step = _check_step(step)
        if not metrics:
            raise ProtocolError("report() needs at least one metric, e.g. report(100, loss=0.3).")
        values = {name: _to_float(name, v) for name, v in metrics.items()}
        self._write({"step": step, "metrics": values})

    def checkpoint(self, step: int, path: str | os.PathLike[str], /, **metrics: float) -> None:
        """Record that a checkpoint of this trial was saved at ``path`` at ``step``."""
        step = _check_step(step)
        values = {name: _to_float(name, v) for name, v in metrics.items()}
        self._write({"checkpoint": {"step": step, "path": os.fspath(path), "metrics": values}})

    def _write(self, record: Mapping[str, Any]) -> None:
        if self._file is None:
            self._file = open(self._context.metrics_file, "a", encoding="utf-8")  # noqa: SIM115
        # One write per line, flushed at once: a crash after report() returns loses nothing.
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"Trial(study={self.study!r}, number={self.number}, params={dict(self.params)!r})"


def _check_step(step: object) -> int:
    """An int step; integral NumPy/torch scalars are accepted, 1.5 or "100" are not."""
    as_int: int | None = None
    if isinstance(step, int) and not isinstance(step, bool):
        as_int = step
    elif not isinstance(step, bool | str):
        with contextlib.suppress(TypeError, ValueError):
            candidate = int(step)  # type: ignore[call-overload]
            as_int = candidate if candidate == step else None
    if as_int is None:
        raise ProtocolError(f"step must be an integer, got {step!r}.")
    if as_int < 0:
        raise ProtocolError(f"step must be >= 0, got {as_int}.")
    return as_int


def _to_float(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise ProtocolError(
            f"metric {name!r} must be a number (or a 0-d array/tensor), got {value!r}."
        ) from e


def parse_number(value: object) -> float:
    """A metric value from a metrics-file line: numbers, NaN/inf tokens or their strings."""
    if isinstance(value, bool):
        raise ProtocolError(f"metric value must be a number, got {value!r}.")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
            return float(lowered)
    if value is None:
        return math.nan
    raise ProtocolError(f"metric value must be a number, got {value!r}.")


_current: Trial | None = None


def current_trial() -> Trial:
    """The trial this process runs, for scripts started by a ``command`` entrypoint.

    Raises:
        NotInTrialError: when the process was not started by ``scitune run``.
    """
    global _current
    if _current is None:
        path = os.environ.get(TRIAL_ENV)
        if not path:
            raise NotInTrialError(
                f"no trial context: ${TRIAL_ENV} is not set. Start this script through "
                "`scitune run STUDY` (entrypoint.command), or pass a Trial to your function."
            )
        _current = Trial(TrialContext.from_file(path))
    return _current


def _set_current(trial: Trial | None) -> None:
    global _current
    _current = trial
