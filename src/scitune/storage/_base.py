"""The storage contract. Every backend implements :class:`Storage` and passes one test suite.

Contract (tests/storage/contract.py checks each point against every backend):

1. Snapshots: every record returned (``StudyRecord``, ``FrozenTrial``, ``Curve``,
   ``RoundRecord``, ``DecisionRecord``) is a copy that never changes afterwards; reading again
   gives the current state.
2. Studies: names are unique (``create_study`` of an existing name raises ``StorageError``);
   ``get_study`` of an unknown name raises ``StudyNotFoundError``.
3. Sequence positions are allocated atomically: ``add_trials`` stores the trials *and* the new
   sampler state in one transaction, only if the study's ``state_version`` still equals
   ``expected_version``; otherwise it raises ``ConcurrentUpdateError`` and writes nothing.
   Trial numbers are dense, per study, from 0, in the order given.
4. Claims are atomic: two processes calling ``claim_trial`` never get the same trial. The lowest
   numbered PENDING trial is claimed; it becomes RUNNING with ``worker``, ``started_at`` and
   ``heartbeat_at`` set, ``attempts`` increased by one, ``ingested_bytes`` and ``warnings``
   reset, and ``dir`` set unless an earlier attempt set it (a trial keeps its folder). The claim
   records the new attempt (``get_attempts``); from the second attempt on it also drops the
   measurements and checkpoints of the earlier ones, in the same transaction: a trial's curve is
   always exactly one attempt's.
5. Lifecycle: PENDING -> RUNNING -> COMPLETE | INFEASIBLE | FAILED, RUNNING -> PENDING
   (``requeue_trial``: an attempt INTERRUPTED on purpose or LOST with its runner), and
   FAILED -> PENDING (``retry_failed``, asked for explicitly). Otherwise a finished trial cannot
   be changed: ``finish_trial``, ``requeue_trial``, ``add_measurements`` or
   ``add_trial_warnings`` on it raise ``TrialStateError``. Finishing or requeueing a trial ends
   its current attempt with that outcome and reason; attempts are never deleted but with their
   trial.
6. Measurements are logically rows ``(trial, metric, step, value)``, unique per
   ``(trial, metric, step)``; a later write of the same step replaces the earlier one (so
   re-ingesting a metrics file is idempotent). NaN, +inf and -inf read back exactly. A batch and
   the metrics-file offset it came from (``ingested_bytes``) are committed together, so a crash
   never loses or doubles a line. A batch that names an ``attempt`` other than the trial's
   current one raises ``StaleAttemptError`` and writes nothing. ``get_curves`` returns each
   curve sorted by step.
7. Parameters read back with their types: int stays int, float float, bool bool, str str.
8. Rounds are numbered from 1 in creation order; at most one is open at a time
   (``create_round`` while one is open raises ``TrialStateError``); a closed round cannot be
   changed. ``attach_study`` is idempotent.
9. Decisions are append-only: never changed or deleted. The baseline is the newest ``adopt``
   decision; rejected ideas stay in the record.
10. ``delete_study`` removes a study with its trials, attempts, curves, checkpoints and round
    memberships, in one transaction; a study that a decision names raises ``StudyInUseError``
    and nothing is removed.
11. A store whose database file is deleted or replaced while it is open raises
    ``StoreVanishedError`` at the next write (file-based backends).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

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

__all__ = ["MetricBatch", "Storage"]

# metric name -> (steps, values); values may hold NaN and +-inf.
MetricBatch = Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


class Storage(abc.ABC):
    """Where studies, trials, measurements and checkpoints live. See the module docstring."""

    url: str

    # -- studies ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_study(
        self, name: str, spec: Mapping[str, Any], sampler_state: Mapping[str, Any]
    ) -> StudyRecord:
        """Create a study; raises ``StorageError`` if the name is taken."""

    @abc.abstractmethod
    def get_study(self, name: str) -> StudyRecord:
        """The study called ``name``; raises ``StudyNotFoundError``."""

    @abc.abstractmethod
    def list_studies(self) -> list[StudyRecord]:
        """Every study, oldest first."""

    @abc.abstractmethod
    def update_study_spec(self, study_id: int, spec: Mapping[str, Any]) -> None:
        """Replace the stored spec (e.g. a larger trial budget); trials are untouched."""

    # -- trials ----------------------------------------------------------------------------
    @abc.abstractmethod
    def add_trials(
        self,
        study_id: int,
        trials: Sequence[NewTrial],
        *,
        sampler_state: Mapping[str, Any],
        expected_version: int,
    ) -> list[FrozenTrial]:
        """Store PENDING trials and the sampler state they advanced to, atomically (rule 3)."""

    @abc.abstractmethod
    def delete_study(self, study_id: int) -> None:
        """Remove a study and everything of it (rule 10); ``StudyInUseError`` if decided on."""

    @abc.abstractmethod
    def claim_trial(
        self,
        study_id: int,
        *,
        worker: str,
        trial_dir: str,
        info: Mapping[str, Any] | None = None,
    ) -> FrozenTrial | None:
        """Atomically take the lowest-numbered PENDING trial (rule 4); ``None`` if none is left.

        ``trial_dir`` may contain ``{number}``, replaced by the claimed trial's number.
        ``info`` (JSON-able: threads, devices) is recorded with the new attempt.
        """

    @abc.abstractmethod
    def heartbeat(self, trial_ids: Iterable[int]) -> None:
        """Record that the worker running these trials is alive (sets ``heartbeat_at``)."""

    @abc.abstractmethod
    def requeue_trial(
        self,
        trial_id: int,
        reason: str,
        *,
        outcome: AttemptOutcome = AttemptOutcome.INTERRUPTED,
        attempt: int | None = None,
    ) -> FrozenTrial:
        """RUNNING -> PENDING: the attempt was INTERRUPTED or LOST; the trial runs again.

        With ``attempt``, only while that attempt is current (else ``StaleAttemptError``).
        """

    @abc.abstractmethod
    def retry_failed(
        self, study_id: int, *, numbers: Iterable[int] | None = None
    ) -> list[FrozenTrial]:
        """FAILED -> PENDING (all, or those ``numbers``): same number, configuration and seed.

        Each earlier attempt keeps its outcome and reason. Returns the trials put back.
        """

    @abc.abstractmethod
    def get_attempts(
        self, study_id: int, *, trial_ids: Iterable[int] | None = None
    ) -> dict[int, list[AttemptRecord]]:
        """``{trial_id: [attempt, ...]}``, oldest first, for trials that ran at least once."""

    @abc.abstractmethod
    def add_trial_warnings(self, trial_id: int, warnings: Sequence[str]) -> None:
        """Note what went wrong reading an unfinished trial's files (kept once each, capped)."""

    @abc.abstractmethod
    def finish_trial(
        self,
        trial_id: int,
        state: TrialState,
        *,
        value: float | None = None,
        value_step: int | None = None,
        reason: str | None = None,
        stderr_tail: str | None = None,
        attempt: int | None = None,
    ) -> FrozenTrial:
        """RUNNING -> COMPLETE | INFEASIBLE | FAILED; sets ``finished_at``.

        With ``attempt``, only while that attempt is current (else ``StaleAttemptError``).
        """

    @abc.abstractmethod
    def get_trials(
        self, study_id: int, *, states: Iterable[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """Trials of a study, by number; only those in ``states`` when given."""

    @abc.abstractmethod
    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        """One trial by number; raises ``TrialNotFoundError``."""

    # -- measurements ----------------------------------------------------------------------
    @abc.abstractmethod
    def add_measurements(
        self,
        trial_id: int,
        batch: MetricBatch,
        *,
        ingested_bytes: int | None = None,
        attempt: int | None = None,
    ) -> None:
        """Append a batch of points (rule 6); store ``ingested_bytes`` in the same transaction.

        With ``attempt``, only while that attempt is the trial's current one.
        """

    @abc.abstractmethod
    def get_curves(
        self,
        study_id: int,
        *,
        trial_ids: Iterable[int] | None = None,
        metrics: Iterable[str] | None = None,
    ) -> dict[int, dict[str, Curve]]:
        """``{trial_id: {metric: Curve}}`` for the study (optionally some trials / metrics)."""

    # -- checkpoints -----------------------------------------------------------------------
    @abc.abstractmethod
    def add_checkpoints(self, trial_id: int, checkpoints: Sequence[CheckpointRecord]) -> None:
        """Record checkpoints a trial saved; one per (trial, step), a later one replaces."""

    @abc.abstractmethod
    def get_checkpoints(
        self, study_id: int, *, trial_ids: Iterable[int] | None = None
    ) -> list[CheckpointRecord]:
        """Checkpoints of a study's trials, by trial then step."""

    # -- rounds (project level) ------------------------------------------------------------
    @abc.abstractmethod
    def create_round(self, goal: str) -> RoundRecord:
        """Open round N+1 with ``goal``; raises ``TrialStateError`` if a round is open."""

    @abc.abstractmethod
    def get_round(self, number: int) -> RoundRecord:
        """Round ``number``; raises ``RoundNotFoundError`` (a ``LookupError``) if there is none."""

    @abc.abstractmethod
    def list_rounds(self) -> list[RoundRecord]:
        """Every round, oldest first."""

    @abc.abstractmethod
    def attach_study(self, round_number: int, study_id: int) -> None:
        """Record that a study belongs to an open round (idempotent)."""

    @abc.abstractmethod
    def close_round(
        self,
        number: int,
        *,
        decision: str,
        notes: str = "",
        findings: Mapping[str, Any] | None = None,
    ) -> RoundRecord:
        """Close an open round with its decision, notes and a snapshot of its findings."""

    # -- decisions: the baseline's lineage and the rejected ideas ---------------------------
    @abc.abstractmethod
    def add_decision(self, decision: NewDecision) -> DecisionRecord:
        """Append an adopt or reject decision (rule 9)."""

    @abc.abstractmethod
    def list_decisions(self) -> list[DecisionRecord]:
        """Every decision, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
