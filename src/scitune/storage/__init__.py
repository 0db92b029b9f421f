"""The trial store: one interface (``Storage``), a written contract, SQL backends."""

from __future__ import annotations

from scitune.storage._base import MetricBatch, Storage
from scitune.storage._records import (
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


def open_storage(url: str) -> Storage:
    """Open (creating and migrating if needed) the store at ``url``.

    ``sqlite:///relative/path.db`` is relative to the current directory.
    """
    from scitune.storage._sql import SqlStorage

    return SqlStorage(url)
