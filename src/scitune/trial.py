"""Inside a trial: the handle user code receives, and the language-neutral file protocol.

Protocol (version 1), for any language:

- ``SCITUNE_TRIAL`` names a JSON file: ``{"protocol": 1, "study": ..., "number": ...,
  "params": {...}, "seed": ..., "max_train_steps": ..., "dir": ..., "metrics_file": ...,
  "attempt": ...}``. ``dir`` is the trial's own folder (kept across attempts); the context and
  metrics files live in a folder of the attempt's own.
- ``SCITUNE_METRICS`` names a file the trial appends JSON lines to (append-only: never
  truncated nor rewritten), one object per line:
  ``{"step": 100, "metrics": {"train_loss": 0.31}}`` -- a point on each named curve;
  ``{"checkpoint": {"step": 100, "path": "ckpt/100.pt", "metrics": {"dev_error": 0.1}}}``;
  ``{"infeasible": "why"}`` -- the configuration is infeasible (diverged, invalid);
  ``{"infeasible": true}`` says so without a reason.
  Steps are integers from 0 to 2**63-1. Metric names are non-empty strings of at most 255
  characters. A value is a number; NaN and infinities may be written as the tokens
  ``NaN``/``Infinity``/``-Infinity`` or as the strings ``"nan"``/``"inf"``/``"-inf"``;
  ``null`` means "no value at this step" and is skipped. The runner skips (and reports) a line
  or a value that breaks these rules and keeps the rest: what a trial writes never stops a study.

Trials never touch the database: the runner reads this file and is the single writer.
"""

from __future__ import annotations

import contextlib
import json
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
MAX_STEP = 2**63 - 1  # steps are stored as int64
MAX_METRIC_NAME_LENGTH = 255  # the store's metric name column is String(255)


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
    attempt: int = 1  # which run of this trial (1, 2, ...); each has its own metrics file

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
                "attempt": self.attempt,
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
                attempt=int(raw.get("attempt", 1)),
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
    def attempt(self) -> int:
        """Which run of this trial this is: 1, then 2, ... after an interruption or a retry."""
        return self._context.attempt

    @property
    def study(self) -> str:
        return self._context.study

    def report(self, step: int, /, **metrics: float) -> None:
        """Record metric values at a training step (call it at regular step intervals).

        Values may be Python or NumPy numbers or 0-d tensors; NaN and infinities are kept.
        The rules are the metrics file's (see the module docstring), checked here so that a
        mistake raises at the call: ``None``, booleans and strings other than the NaN/inf
        spellings are refused. Leave a metric out of a call for a step where it has no value.

        Raises:
            ProtocolError: a step that is not an integer in 0..2**63-1, no metric, a metric
                name that is empty or longer than 255 characters, or a value that is not a
                number.
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
    if as_int > MAX_STEP:
        raise ProtocolError(f"step must be at most 2**63-1 (a 64-bit integer), got {as_int}.")
    return as_int


def _to_float(name: str, value: object) -> float:
    """One value given to report()/checkpoint(), by the file's rules (``parse_number``)."""
    check_metric_name(name)
    if value is None:
        raise ProtocolError(
            f"metric {name!r} is None; a reported value must be a number. Leave the metric out "
            "of this call for a step where it has no value."
        )
    if isinstance(value, bool) or str(getattr(value, "dtype", "")) in ("bool", "torch.bool"):
        raise ProtocolError(
            f"metric {name!r} must be a number, got the boolean {value!r}. Report float(x) "
            "if you mean 0 or 1."
        )
    if isinstance(value, str):
        try:
            return parse_number(value)
        except ProtocolError as e:
            raise ProtocolError(
                f"metric {name!r} must be a number (or a 0-d array/tensor), got "
                f"{describe_value(value)}; the only strings accepted are NaN and infinity "
                'spellings such as "nan" and "-inf".'
            ) from e
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as e:
        raise ProtocolError(
            f"metric {name!r} must be a number (or a 0-d array/tensor) that fits a 64-bit "
            f"float, got {describe_value(value)}."
        ) from e


_NON_FINITE = frozenset(("nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"))


def parse_number(value: object) -> float:
    """A metric value as a decoded metrics-file line holds it, as a float.

    Accepted: ints and floats (NaN and infinities included, as the JSON tokens ``NaN``,
    ``Infinity`` and ``-Infinity`` decode), and the strings ``"nan"``, ``"inf"``, ``"+inf"``,
    ``"-inf"``, ``"infinity"``, ``"+infinity"``, ``"-infinity"`` in any case, spaces around
    allowed. ``null`` is not a number: a caller for which it means "no value" (the reader
    does) checks for ``None`` before calling.

    Raises:
        ProtocolError: for anything else -- ``None``, booleans, other strings, lists, dicts,
            and ints too large for a 64-bit float. Nothing else is raised, whatever the value.
    """
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ProtocolError(
                f"a metric value must fit a 64-bit float (|x| < 1.8e308), got "
                f"{describe_value(value)}."
            ) from None
    if isinstance(value, str) and value.strip().lower() in _NON_FINITE:
        return float(value.strip().lower())
    raise ProtocolError(
        'a metric value must be a number, NaN or an infinity (or the strings "nan", "inf", '
        f'"-inf"), got {describe_value(value)}.'
    )


def check_metric_name(name: object) -> str:
    """``name`` if the store can keep it as a metric name; ProtocolError (only) otherwise.

    A name is a non-empty string of at most 255 characters, without NUL characters or
    unpaired surrogates (which a database cannot store as text).
    """
    if not isinstance(name, str) or not name:
        raise ProtocolError(
            f"a metric name must be a non-empty string, got {describe_value(name)}."
        )
    if len(name) > MAX_METRIC_NAME_LENGTH:
        raise ProtocolError(
            f"a metric name must have at most {MAX_METRIC_NAME_LENGTH} characters, got "
            f"{len(name)}: {describe_value(name)}. Use a shorter name."
        )
    if not storable_text(name):
        raise ProtocolError(
            f"a metric name cannot hold NUL characters or unpaired surrogates, got "
            f"{describe_value(name)}."
        )
    return name


def storable_text(text: str) -> bool:
    """Whether a database can store ``text`` as it is: no NUL, valid as UTF-8."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def describe_value(value: object) -> str:
    """A short description of a decoded JSON value for a message; never raises, never long.

    Values a trial wrote can be megabytes long or nested a thousand deep, so this never
    calls ``repr`` on a container or on a whole long string.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        bits = value.bit_length()
        return repr(value) if bits <= 128 else f"an integer of {bits} bits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        limit = 60
        shown = repr(value[:limit])
        return shown if len(value) <= limit else f"{shown}... ({len(value)} characters)"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"


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
