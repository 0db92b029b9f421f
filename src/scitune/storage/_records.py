"""Frozen records that the store hands out: snapshots that never change after they are returned."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.space import Value

__all__ = [
    "AttemptOutcome",
    "AttemptRecord",
    "CheckpointRecord",
    "Curve",
    "DecisionRecord",
    "FrozenTrial",
    "NewDecision",
    "NewTrial",
    "RoundRecord",
    "StudyRecord",
    "TrialState",
]


class TrialState(enum.StrEnum):
    """PENDING -> RUNNING -> COMPLETE | INFEASIBLE | FAILED; RUNNING -> PENDING on requeue.

    INFEASIBLE (diverged, NaN, declared infeasible) is a result about the configuration;
    FAILED (crash, timeout) is a result about the run. They are never merged.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    INFEASIBLE = "INFEASIBLE"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.INFEASIBLE, TrialState.FAILED)


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: its spec (the study file as a JSON-able dict) and sampler state.

    ``state_version`` increases with every change of ``sampler_state``; writers pass the version
    they read so that two processes can never allocate the same sequence positions.
    """

    id: int
    name: str
    spec: Mapping[str, Any]
    sampler_state: Mapping[str, Any]
    state_version: int
    created_at: datetime
    uid: str = ""  # this study instance's random id (its files' folder is named after it)


@dataclass(frozen=True)
class NewTrial:
    """A configuration a sampler proposed, before the store gives it a number.

    ``slot`` names the design cell (the scientific values, JSON) and ``slot_index`` the position
    in that cell's sequence; paired trials share ``slot_index`` (and seed) across cells.
    """

    params: Mapping[str, Value]
    seed: int
    slot: str = ""
    slot_index: int = 0
    parent_number: int | None = None


@dataclass(frozen=True)
class FrozenTrial:
    """One trial as stored at the moment it was read."""

    id: int
    study_id: int
    number: int
    state: TrialState
    params: Mapping[str, Value]
    seed: int
    slot: str
    slot_index: int
    parent_number: int | None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    worker: str | None = None
    dir: str | None = None
    attempts: int = 0
    value: float | None = None
    value_step: int | None = None
    reason: str | None = None
    stderr_tail: str | None = None
    ingested_bytes: int = 0
    # What went wrong reading the trial's files (skipped lines, a metrics file that shrank):
    # its curve may be incomplete.
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class AttemptOutcome(enum.StrEnum):
    """How one run of a trial ended. A finished trial's last attempt carries its state."""

    COMPLETE = "COMPLETE"
    INFEASIBLE = "INFEASIBLE"
    FAILED = "FAILED"
    #: stopped on purpose (Ctrl-C, SIGTERM): runs again, and does not count as a lost attempt
    INTERRUPTED = "INTERRUPTED"
    #: its runner died or went silent: runs again, up to ``budget.max_attempts`` times
    LOST = "LOST"


@dataclass(frozen=True)
class AttemptRecord:
    """One run of a trial: who ran it, when, how it ended and why (``None`` while it runs)."""

    trial_id: int
    attempt: int
    started_at: datetime
    worker: str | None = None
    ended_at: datetime | None = None
    outcome: AttemptOutcome | None = None
    reason: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Curve:
    """One metric of one trial: steps ascending and unique, values float64 (NaN/inf kept)."""

    steps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.steps.shape != self.values.shape:
            raise ValueError(
                f"steps and values must have one shape, got {self.steps.shape} and "
                f"{self.values.shape}."
            )

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Curve):
            return NotImplemented
        return bool(
            np.array_equal(self.steps, other.steps)
            and np.array_equal(self.values, other.values, equal_nan=True)
        )


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint a trial saved: where, at which step, with the metrics it had then."""

    step: int
    path: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    trial_id: int | None = None


@dataclass(frozen=True)
class RoundRecord:
    """One incremental-tuning round: a goal, its studies, and (once closed) the decision."""

    number: int
    goal: str
    state: str  # "open" | "closed"
    created_at: datetime
    studies: tuple[str, ...] = ()
    closed_at: datetime | None = None
    decision: str | None = None
    notes: str | None = None
    findings: Mapping[str, Any] | None = None  # analyze --json of each study, at closing


@dataclass(frozen=True)
class NewDecision:
    """A configuration adopted as the baseline, or an idea rejected, with its evidence."""

    kind: str  # "adopt" | "reject"
    params: Mapping[str, Value]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    study: str | None = None
    trial_number: int | None = None
    metric: str | None = None
    value: float | None = None  # the configuration's score (mean over its seeds)
    round_number: int | None = None
    notes: str = ""


@dataclass(frozen=True)
class DecisionRecord(NewDecision):
    """A stored decision; adopt decisions in order are the baseline's lineage."""

    id: int = 0
    created_at: datetime | None = None
