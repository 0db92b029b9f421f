"""Every error and warning scitune raises, under one root.

Each subclass also inherits the builtin it refines, so ``except ValueError`` keeps working for
callers who do not know scitune. Messages state the rule, the value received, the fix, and where
the bad value came from (file and field path).
"""

from __future__ import annotations

__all__ = [
    "ConcurrentUpdateError",
    "EntrypointError",
    "EvidenceError",
    "Infeasible",
    "IntegrationError",
    "InvalidSpaceError",
    "NotInTrialError",
    "ProtocolError",
    "RoundNotFoundError",
    "ScituneError",
    "ScituneWarning",
    "SettingsError",
    "SpecError",
    "StaleAttemptError",
    "StorageError",
    "StoreNotFoundError",
    "StoreVanishedError",
    "StudyInUseError",
    "StudyNotFoundError",
    "TrialNotFoundError",
    "TrialStateError",
]


class ScituneError(Exception):
    """Root of every error scitune raises on purpose."""


class InvalidSpaceError(ScituneError, ValueError):
    """A hyperparameter's bounds, scale, type or values break a rule."""


class SpecError(ScituneError, ValueError):
    """A study file (or the same model built from Python) is malformed.

    ``str(error)`` lists every problem found, one per line, each with file and field path.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class SettingsError(ScituneError, ValueError):
    """An analysis setting is unknown, of the wrong type, or outside its valid range.

    ``names`` are the settings at fault, so that a caller can say where they came from.
    """

    def __init__(self, message: str, *, names: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.names = names


class StorageError(ScituneError, RuntimeError):
    """The trial store could not be opened, migrated, read or written."""


class StoreNotFoundError(StorageError, FileNotFoundError):
    """No trial store exists at that location, and the caller asked not to create one."""


class StudyNotFoundError(StorageError, LookupError):
    """No study of that name (or file) exists."""


class TrialNotFoundError(StorageError, LookupError):
    """No trial with that number (or id) exists."""


class RoundNotFoundError(StorageError, LookupError):
    """No tuning round with that number exists."""


class TrialStateError(StorageError):
    """A state change the trial lifecycle forbids (e.g. modifying a finished trial)."""


class StaleAttemptError(TrialStateError):
    """Points from an earlier attempt of a trial arrived after a later attempt started."""


class StudyInUseError(StorageError, ValueError):
    """A study cannot be deleted: a decision (the baseline's lineage) refers to it."""


class StoreVanishedError(StorageError):
    """The store's database file was deleted or replaced while this process was using it."""


class ConcurrentUpdateError(StorageError):
    """Another process changed the same record first; retry with fresh state."""


class EntrypointError(ScituneError, ValueError):
    """The study's entrypoint cannot be imported, called or formatted."""


class EvidenceError(ScituneError, ValueError):
    """Samples that cannot be compared or summarised (an empty side, a bad confidence or cost)."""


class IntegrationError(ScituneError, ValueError):
    """A framework helper (``scitune.integrations``) got an argument it cannot use.

    For example a learning-rate schedule with ``total_steps = 0``, a clipping threshold that is
    not positive, or a host memory limit below what the process already uses.
    """


class ProtocolError(ScituneError, ValueError):
    """A trial's context or metrics file breaks the trial protocol."""


class NotInTrialError(ScituneError, RuntimeError):
    """``scitune.current_trial()`` was called outside a trial started by scitune."""


class Infeasible(ScituneError):
    """Raise inside a trial to mark it INFEASIBLE (diverged, invalid config), not FAILED.

    Example:
        >>> import math
        >>> loss = float("nan")
        >>> if math.isnan(loss):
        ...     raise Infeasible("training loss became NaN at step 120")  # doctest: +SKIP
    """

    def __init__(self, reason: str = "declared infeasible by the trial") -> None:
        super().__init__(reason)
        self.reason = reason


class ScituneWarning(UserWarning):
    """Advice that does not stop the study (e.g. batch size tuned as a nuisance parameter)."""
