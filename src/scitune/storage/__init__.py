"""The trial store: one interface (``Storage``), a written contract, SQL backends."""

from __future__ import annotations

from scitune.storage._base import MetricBatch, Storage
from scitune.storage._records import (
    AttemptOutcome,
    AttemptRecord,
    CheckpointRecord,
    Curve,
    DecisionRecord,
    FrozenTrial,
    NewDecision,
    NewTrial,
    RoundRecord,
    StudyRecord,
    TrialState,
)

__all__ = [
    "AttemptOutcome",
    "AttemptRecord",
    "CheckpointRecord",
    "Curve",
    "DecisionRecord",
    "FrozenTrial",
    "MetricBatch",
    "NewDecision",
    "NewTrial",
    "RoundRecord",
    "Storage",
    "StudyRecord",
    "TrialState",
    "open_storage",
]


def open_storage(url: str, *, create: bool = True) -> Storage:
    """Open (creating and migrating if needed) the store at ``url``.

    ``sqlite:///relative/path.db`` is relative to the current directory.

    Args:
        url: a SQLAlchemy database URL, e.g. ``sqlite:///.scitune/scitune.db``.
        create: ``False`` to only open a store that exists: nothing is written where there is
            none (for readers such as ``status``). In-memory SQLite is always created.

    Raises:
        StoreNotFoundError: ``create=False`` and there is no store at ``url``.
        StorageError: the store cannot be opened or migrated.
    """
    from scitune.storage._sql import SqlStorage

    return SqlStorage(url, create=create)
