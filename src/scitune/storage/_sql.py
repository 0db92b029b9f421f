"""The SQL trial store (SQLAlchemy Core): SQLite now, PostgreSQL later.

Every write is one transaction that takes the write lock first (see ``_sql_engine``), so the
read-then-write steps of the contract (the compare-and-swap of ``state_version``, a claim, a
lifecycle check) are atomic across processes. Core, not the ORM, with statements built once
(``_statements``): the hot paths (bookkeeping of a trial, ingesting a batch, reading curves) are
a handful of cached statements each.

Example:
    >>> store = SqlStorage("sqlite:///:memory:")
    >>> study = store.create_study("demo", {"goal": "x"}, {})
    >>> new = [NewTrial({"lr": 0.1}, seed=0)]
    >>> trials = store.add_trials(study.id, new, sampler_state={"position": 1}, expected_version=0)
    >>> [(t.number, t.state.value) for t in trials]
    [(0, 'PENDING')]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa

from scitune.errors import (
    ConcurrentUpdateError,
    StaleAttemptError,
    StorageError,
    StoreVanishedError,
    StudyInUseError,
    StudyNotFoundError,
    TrialNotFoundError,
    TrialStateError,
)
from scitune.storage import _codec as codec
from scitune.storage import _schema as s
from scitune.storage import _statements as q
from scitune.storage._base import MetricBatch, Storage
from scitune.storage._records import (
    AttemptOutcome,
    AttemptRecord,
    CheckpointRecord,
    Curve,
    FrozenTrial,
    NewTrial,
    StudyRecord,
    TrialState,
)
from scitune.storage._sql_engine import (
    WRITE_FLAG,
    Prepared,
    describe_error,
    ensure_schema,
    insert_ignore,
    insert_upsert,
    open_engines,
)
from scitune.storage._sql_rounds import SqlRounds

__all__ = ["SqlStorage"]

_IN_BATCH = 500  # ids per IN (...) list: far below SQLite's limit on bound parameters
_PARAMS_CACHE = 100_000  # trials whose parameters are kept in memory, at most
_MAX_WARNINGS = 20  # per trial: the first ones say what happened; more add nothing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SqlStorage(SqlRounds, Storage):
    """A :class:`Storage` on a SQL database, e.g. ``sqlite:///.scitune/scitune.db``.

    Opening creates the file and its parent folders (``create=False``: raises
    :class:`~scitune.errors.StoreNotFoundError` instead, writing nothing), and migrates the
    schema to the newest revision (Alembic) when needed; a store already at the newest
    revision opens with one query. One instance may be shared by threads (their calls take
    turns); each process opens its own. Rounds and decisions (project-level records) come
    from :class:`SqlRounds`.
    """

    #: Run the hot statements on the DBAPI cursor (``False``: SQLAlchemy's execution path; the
    #: tests run the contract both ways).
    use_prepared: ClassVar[bool] = True

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self._engine = open_engines(url, create=create)
        # One connection, kept open and used by one call at a time: checking a connection out
        # of a pool for every transaction would double the cost of the smallest ones.
        self._lock = threading.Lock()
        self._conn: sa.Connection | None = None
        self._pid = os.getpid()
        # (study_id, metric name) -> metric id. Names are unique per study and never deleted,
        # so an entry stays true; entries are added only after their transaction commits.
        self._metric_ids: dict[tuple[int, str], int] = {}
        # Hot statements run through the driver (``Prepared``) where the paramstyle allows.
        positional = self._engine.dialect.positional
        self._prepared: dict[tuple[int, tuple[str, ...]], Prepared] | None = (
            {} if self.use_prepared and positional else None
        )
        # trial id -> parameters. A trial's parameters are written once, with the trial, and
        # never change, so a claim or a finish need not read them again.
        self._params: dict[int, codec.Params] = {}
        try:
            ensure_schema(self._engine, url, create=create)
        except StorageError:
            self._engine.dispose()
            raise
        # The database file and its identity: a write checks it is still the same file, so a
        # store deleted or replaced under a running process is noticed, not written into the
        # void (SQLite keeps writing to an unlinked file without a word).
        self._file = _sqlite_file(self._engine)
        self._identity = _identity(self._file)

    def __repr__(self) -> str:
        return f"SqlStorage({self.url!r})"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._engine.dispose()

    # -- plumbing --------------------------------------------------------------------------
    @contextmanager
    def _tx(self, doing: str, *, write: bool) -> Iterator[sa.Connection]:
        """One transaction; ``write`` takes the write lock before the first statement."""
        with self._lock:
            try:
                if self._pid != os.getpid():  # forked: the parent's connections are not ours
                    self._conn, self._pid = None, os.getpid()
                    self._engine.dispose(close=False)
                if write and self._file is not None:
                    self._check_identity()
                conn = self._conn
                if conn is None:
                    conn = self._conn = self._engine.connect()
                conn.info[WRITE_FLAG] = write
                with conn.begin():
                    yield conn
            except sa.exc.SQLAlchemyError as e:
                self._drop_connection()
                raise describe_error(self.url, e, doing) from e

    def _check_identity(self) -> None:
        assert self._file is not None
        if _identity(self._file) != self._identity:
            self._drop_connection()
            raise StoreVanishedError(
                f"trial store {self.url}: the database file {self._file} was deleted or "
                "replaced while this process was using it; nothing more is written to it. "
                "Restore the file, or start again on a new store: the trials' metrics files "
                "are still on disk."
            )

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # broken: open a fresh one
                self._conn.close()
            self._conn = None

    def _rows(
        self, conn: sa.Connection, stmt: Any, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """The rows ``stmt`` returns (none for DML without RETURNING)."""
        if self._prepared is None:
            result = conn.execute(stmt, params)
            return result.all() if result.returns_rows else []
        return self._prepare(conn, stmt, params).rows(conn, params)

    def _first(
        self, conn: sa.Connection, stmt: Any, params: Mapping[str, Any]
    ) -> Sequence[Any] | None:
        rows = self._rows(conn, stmt, params)
        return rows[0] if rows else None

    def _scalar(self, conn: sa.Connection, stmt: Any, params: Mapping[str, Any]) -> Any:
        rows = self._rows(conn, stmt, params)
        return rows[0][0] if rows else None

    def _many(self, conn: sa.Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run ``stmt`` once per row of parameters."""
        if self._prepared is None:
            conn.execute(stmt, rows)
            return
        if rows:
            self._prepare(conn, stmt, rows[0]).many(conn, rows)

    def _prepare(self, conn: sa.Connection, stmt: Any, params: Mapping[str, Any]) -> Prepared:
        assert self._prepared is not None
        # Statements are module constants (stable ids); an INSERT is prepared per column set.
        key = (id(stmt), tuple(params) if isinstance(stmt, sa.Insert) else ())
        prepared = self._prepared.get(key)
        if prepared is None:
            keys = key[1]
            prepared = self._prepared[key] = Prepared(stmt, conn.dialect, keys)
        return prepared

    def _params_of(self, conn: sa.Connection, trial_id: int) -> codec.Params:
        params = self._params.get(trial_id)
        if params is None:
            params = {
                name: codec.decode_param(kind, f, i, t)
                for _, name, kind, f, i, t in self._rows(
                    conn, q.PARAMS_OF_TRIAL, {"b_trial_id": trial_id}
                )
            }
            self._remember_params([(trial_id, params)])
        return dict(params)  # a copy: the caller's snapshot

    def _remember_params(self, items: Iterable[tuple[int, codec.Params]]) -> None:
        if len(self._params) > _PARAMS_CACHE:
            self._params.clear()
        self._params.update(items)

    def _require_study(self, conn: sa.Connection, study_id: int) -> None:
        if self._first(conn, q.STUDY_EXISTS, {"b_study_id": study_id}) is None:
            raise StudyNotFoundError(
                f"no study with id {study_id} in {self.url}; list them with list_studies()."
            )

    def _trial_state_error(
        self, conn: sa.Connection, trial_id: int, action: str, attempt: int | None = None
    ) -> Exception:
        row = self._first(conn, q.TRIAL_STATE, {"b_trial_id": trial_id})
        if row is None:
            return TrialNotFoundError(f"no trial with id {trial_id} in {self.url}.")
        number, state, current = row
        if attempt is not None and current != attempt and state == TrialState.RUNNING.value:
            return StaleAttemptError(
                f"cannot {action} trial {number} (id {trial_id}) for its attempt {attempt}: "
                f"attempt {current} runs now (another runner took it over)."
            )
        rule = (
            "A finished trial cannot be changed; add a new trial instead."
            if TrialState(state).finished
            else "Only a RUNNING trial can be finished or requeued; claim it first."
        )
        return TrialStateError(
            f"cannot {action} trial {number} (id {trial_id}): it is {state}. {rule}"
        )

    # -- studies ---------------------------------------------------------------------------
    def create_study(
        self, name: str, spec: Mapping[str, Any], sampler_state: Mapping[str, Any]
    ) -> StudyRecord:
        spec_json = codec.dumps(spec, "spec")
        state_json = codec.dumps(sampler_state, "sampler_state")
        now = _now()
        uid = uuid.uuid4().hex
        row = {
            "name": name,
            "spec": spec_json,
            "sampler_state": state_json,
            "state_version": 0,
            "created_at": now,
            "uid": uid,
        }
        try:
            with self._tx(f"create study {name!r}", write=True) as conn:
                if conn.execute(q.STUDY_BY_NAME, {"b_name": name}).first() is not None:
                    raise StorageError(
                        f"a study named {name!r} already exists in {self.url}. Choose another "
                        "name, or open the existing study with get_study()."
                    )
                study_id = conn.execute(q.INSERT_STUDY, row).scalar_one()
        except StorageError as e:  # a concurrent creator won the race for the unique name
            if isinstance(e.__cause__, sa.exc.IntegrityError):
                raise StorageError(f"a study named {name!r} already exists in {self.url}.") from e
            raise
        return StudyRecord(
            study_id, name, json.loads(spec_json), json.loads(state_json), 0, now, uid
        )

    def get_study(self, name: str) -> StudyRecord:
        with self._tx(f"read study {name!r}", write=False) as conn:
            row = conn.execute(q.STUDY_BY_NAME, {"b_name": name}).first()
            names = [] if row is not None else list(conn.execute(q.STUDY_NAMES).scalars())
        if row is None:
            known = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
            raise StudyNotFoundError(
                f"no study named {name!r} in {self.url}; "
                + (f"the studies there are {known}." if names else "it holds no studies yet.")
            )
        return _study_from_row(row)

    def list_studies(self) -> list[StudyRecord]:
        with self._tx("list studies", write=False) as conn:
            rows = conn.execute(q.ALL_STUDIES).all()
        return [_study_from_row(row) for row in rows]

    def update_study_spec(self, study_id: int, spec: Mapping[str, Any]) -> None:
        spec_json = codec.dumps(spec, "spec")
        with self._tx(f"update the spec of study {study_id}", write=True) as conn:
            done = conn.execute(q.UPDATE_SPEC, {"b_study_id": study_id, "b_spec": spec_json})
            if done.rowcount != 1:
                self._require_study(conn, study_id)

    # -- trials ----------------------------------------------------------------------------
    def add_trials(
        self,
        study_id: int,
        trials: Sequence[NewTrial],
        *,
        sampler_state: Mapping[str, Any],
        expected_version: int,
    ) -> list[FrozenTrial]:
        state_json = codec.dumps(sampler_state, "sampler_state")
        prepared = [codec.new_trial_row(t) for t in trials]
        now = _now()
        swap = {"b_study_id": study_id, "b_expected": expected_version, "b_state": state_json}
        with self._tx(f"add trials to study {study_id}", write=True) as conn:
            swapped = self._first(conn, q.SWAP_SAMPLER_STATE, swap)
            if swapped is None:
                self._require_study(conn, study_id)
                current = conn.execute(q.STATE_VERSION, {"b_study_id": study_id}).scalar()
                raise ConcurrentUpdateError(
                    f"study {study_id} in {self.url}: its sampler state is at version {current}, "
                    f"not the expected {expected_version}; another process added trials first. "
                    "Nothing was written: read the study again and suggest from its new state."
                )
            if not prepared:
                return []
            start = swapped[0]
            rows = [
                {
                    "study_id": study_id, "number": start + i, "state": TrialState.PENDING.value,
                    "seed": seed, "slot": slot, "slot_index": slot_index, "parent_number": parent,
                    "attempts": 0, "created_at": now, "ingested_bytes": 0,
                }
                for i, (seed, slot, slot_index, parent, _) in enumerate(prepared)
            ]  # fmt: skip
            if len(rows) == 1:
                ids = [self._scalar(conn, q.INSERT_TRIAL, rows[0])]
            else:
                ids = list(conn.execute(q.INSERT_TRIALS, rows).scalars())
            param_rows = [
                codec.encode_param(trial_id, name, value)
                for trial_id, (*_, params) in zip(ids, prepared, strict=True)
                for name, value in params.items()
            ]
            if param_rows:
                self._many(conn, q.INSERT_PARAMS, param_rows)
        self._remember_params((i, p[-1]) for i, p in zip(ids, prepared, strict=True))
        return [
            FrozenTrial(
                id=trial_id, study_id=study_id, number=start + i, state=TrialState.PENDING,
                params=dict(params), seed=seed, slot=slot, slot_index=slot_index,
                parent_number=parent, created_at=now,
            )
            for i, (trial_id, (seed, slot, slot_index, parent, params)) in enumerate(
                zip(ids, prepared, strict=True)
            )
        ]  # fmt: skip

    def claim_trial(
        self,
        study_id: int,
        *,
        worker: str,
        trial_dir: str,
        info: Mapping[str, Any] | None = None,
    ) -> FrozenTrial | None:
        now = _now()
        params = {"b_study_id": study_id, "b_worker": worker, "b_dir": trial_dir, "b_now": now}
        info_json = json.dumps(dict(info)) if info else None
        with self._tx(f"claim a trial of study {study_id}", write=True) as conn:
            row = self._first(conn, q.CLAIM, params)
            if row is None:
                self._require_study(conn, study_id)
                return None
            trial = _trial_from_row(row, self._params_of(conn, row[0]))
            if trial.attempts > 1:  # rule 4: the new attempt starts a clean curve
                self._rows(conn, q.CLEAR_CHUNKS, {"b_trial_id": trial.id})
                self._rows(conn, q.CLEAR_CHECKPOINTS, {"b_trial_id": trial.id})
            attempt = {
                "trial_id": trial.id, "attempt": trial.attempts, "worker": worker,
                "started_at": now, "info": info_json,
            }  # fmt: skip
            self._rows(conn, q.INSERT_ATTEMPT, attempt)
            return trial

    def heartbeat(self, trial_ids: Iterable[int]) -> None:
        ids = sorted({int(i) for i in trial_ids})
        if not ids:
            return
        now = _now()
        with self._tx("record a heartbeat", write=True) as conn:
            for batch in _batches(ids):
                conn.execute(q.HEARTBEAT, {"b_ids": batch, "b_now": now})

    def requeue_trial(
        self,
        trial_id: int,
        reason: str,
        *,
        outcome: AttemptOutcome = AttemptOutcome.INTERRUPTED,
        attempt: int | None = None,
    ) -> FrozenTrial:
        if outcome not in (AttemptOutcome.INTERRUPTED, AttemptOutcome.LOST):
            raise ValueError(f"a requeued attempt is INTERRUPTED or LOST, got {outcome!r}.")
        args = {"b_trial_id": trial_id, "b_reason": reason, "b_attempt": attempt}
        with self._tx(f"requeue trial id {trial_id}", write=True) as conn:
            row = self._first(conn, q.REQUEUE, args)
            if row is None:
                raise self._trial_state_error(conn, trial_id, "requeue", attempt)
            trial = _trial_from_row(row, self._params_of(conn, trial_id))
            self._end_attempt(conn, trial, AttemptOutcome(outcome), reason)
            return trial

    def _end_attempt(
        self, conn: sa.Connection, trial: FrozenTrial, outcome: AttemptOutcome, reason: str | None
    ) -> None:
        end = {
            "b_trial_id": trial.id, "b_attempt": trial.attempts, "b_now": _now(),
            "b_outcome": outcome.value, "b_reason": reason,
        }  # fmt: skip
        self._rows(conn, q.END_ATTEMPT, end)

    def retry_failed(
        self, study_id: int, *, numbers: Iterable[int] | None = None
    ) -> list[FrozenTrial]:
        wanted = None if numbers is None else sorted({int(n) for n in numbers})
        with self._tx(f"retry the failed trials of study {study_id}", write=True) as conn:
            self._require_study(conn, study_id)
            if wanted is None:
                ids = list(conn.execute(q.RETRY_FAILED, {"b_study_id": study_id}).scalars())
            else:
                ids = []
                for batch in _batches(wanted):
                    args = {"b_study_id": study_id, "b_numbers": batch}
                    ids.extend(conn.execute(q.RETRY_FAILED_NUMBERS, args).scalars())
        if not ids:
            return []
        chosen = set(ids)
        return [t for t in self.get_trials(study_id) if t.id in chosen]

    def get_attempts(
        self, study_id: int, *, trial_ids: Iterable[int] | None = None
    ) -> dict[int, list[AttemptRecord]]:
        ids = None if trial_ids is None else sorted({int(i) for i in trial_ids})
        args: dict[str, Any] = {"b_study_id": study_id}
        with self._tx(f"read the attempts of study {study_id}", write=False) as conn:
            self._require_study(conn, study_id)
            if ids is None:
                rows = list(conn.execute(q.ATTEMPTS_OF_STUDY, args).all())
            else:
                rows = []
                for batch in _batches(ids):
                    rows.extend(conn.execute(q.ATTEMPTS_OF_TRIALS, {**args, "b_trial_ids": batch}))
        out: dict[int, list[AttemptRecord]] = {}
        for trial_id, attempt, worker, started, ended, outcome, reason, info in rows:
            out.setdefault(trial_id, []).append(
                AttemptRecord(
                    trial_id=trial_id, attempt=attempt, started_at=started, worker=worker,
                    ended_at=ended, outcome=None if outcome is None else AttemptOutcome(outcome),
                    reason=reason, info=json.loads(info) if info else {},
                )
            )  # fmt: skip
        for attempts in out.values():
            attempts.sort(key=lambda a: a.attempt)
        return out

    def add_trial_warnings(self, trial_id: int, warnings: Sequence[str]) -> None:
        if not warnings:
            return
        with self._tx(f"add warnings to trial id {trial_id}", write=True) as conn:
            row = self._first(conn, q.TRIAL_WARNINGS, {"b_trial_id": trial_id})
            if row is None:
                raise TrialNotFoundError(f"no trial with id {trial_id} in {self.url}.")
            if TrialState(row[0]).finished:
                raise self._trial_state_error(conn, trial_id, "add warnings to")
            current: list[str] = json.loads(row[1]) if row[1] else []
            for text in warnings:
                if text not in current and len(current) < _MAX_WARNINGS:
                    current.append(str(text))
            self._rows(
                conn, q.SET_WARNINGS, {"b_trial_id": trial_id, "b_warnings": json.dumps(current)}
            )

    def delete_study(self, study_id: int) -> None:
        with self._tx(f"delete study {study_id}", write=True) as conn:
            row = conn.execute(q.STUDY_NAME, {"b_study_id": study_id}).first()
            if row is None:
                raise StudyNotFoundError(f"no study with id {study_id} in {self.url}.")
            name = row[0]
            decisions = conn.execute(q.DECISIONS_ON_STUDY, {"b_name": name}).all()
            if decisions:
                listed = ", ".join(f"#{i} ({kind})" for i, kind in decisions[:5])
                raise StudyInUseError(
                    f"study {name!r} cannot be deleted: decisions refer to it ({listed}); "
                    "they are the baseline's lineage and the record of rejected ideas, which "
                    "are never rewritten. Keep the study."
                )
            conn.execute(q.DELETE_STUDY, {"b_study_id": study_id})
        self._metric_ids = {k: v for k, v in self._metric_ids.items() if k[0] != study_id}
        self._params.clear()

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
        state = TrialState(state)
        if not state.finished:
            raise TrialStateError(
                f"finish_trial needs COMPLETE, INFEASIBLE or FAILED, got {state.value}. "
                "Use requeue_trial to put a trial back to PENDING."
            )
        number, kind = codec.encode_value(value)
        params = {
            "b_trial_id": trial_id,
            "b_state": state.value,
            "b_now": _now(),
            "b_value": number,
            "b_value_kind": kind,
            "b_value_step": None if value_step is None else int(value_step),
            "b_reason": reason,
            "b_stderr_tail": stderr_tail,
            "b_attempt": attempt,
        }
        with self._tx(f"finish trial id {trial_id}", write=True) as conn:
            row = self._first(conn, q.FINISH, params)
            if row is None:
                raise self._trial_state_error(conn, trial_id, f"finish ({state.value})", attempt)
            if row[-1] is not None and row[-1] > 0:  # more than one batch was ingested
                _compact(conn, trial_id)
            trial = _trial_from_row(row, self._params_of(conn, trial_id))
            self._end_attempt(conn, trial, AttemptOutcome(state.value), reason)
            return trial

    def get_trials(
        self, study_id: int, *, states: Iterable[TrialState] | None = None
    ) -> list[FrozenTrial]:
        args: dict[str, Any] = {"b_study_id": study_id}
        trial_query, param_query = q.TRIALS_OF_STUDY, q.PARAMS_OF_STUDY
        if states is not None:
            args["b_states"] = sorted({TrialState(x).value for x in states})
            trial_query, param_query = q.TRIALS_OF_STUDY_IN_STATES, q.PARAMS_OF_STUDY_IN_STATES
        with self._tx(f"read the trials of study {study_id}", write=False) as conn:
            rows = conn.execute(trial_query, args).all()
            if not rows:
                self._require_study(conn, study_id)
                return []
            params: dict[int, codec.Params] = {}
            for trial_id, name, kind, f, i, t in conn.execute(param_query, args):
                params.setdefault(trial_id, {})[name] = codec.decode_param(kind, f, i, t)
        return [_trial_from_row(row, params.get(row[0], {})) for row in rows]

    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        with self._tx(f"read trial {number} of study {study_id}", write=False) as conn:
            args = {"b_study_id": study_id, "b_number": number}
            found = self._first(conn, q.TRIAL_BY_NUMBER, args)
            if found is None:
                self._require_study(conn, study_id)
                raise TrialNotFoundError(
                    f"study {study_id} in {self.url} has no trial number {number}; "
                    "list its trials with get_trials()."
                )
            return _trial_from_row(found, self._params_of(conn, found[0]))

    # -- measurements ----------------------------------------------------------------------
    def add_measurements(
        self,
        trial_id: int,
        batch: MetricBatch,
        *,
        ingested_bytes: int | None = None,
        attempt: int | None = None,
    ) -> None:
        series = [(name, *codec.canonical_series(name, *xy)) for name, xy in batch.items()]
        series = [x for x in series if x[1].shape[0]]
        new_ids: dict[tuple[int, str], int] = {}
        with self._tx(f"add measurements to trial id {trial_id}", write=True) as conn:
            head = self._first(conn, q.INGEST_HEAD, {"b_trial_id": trial_id})
            if head is None:
                raise TrialNotFoundError(f"no trial with id {trial_id} in {self.url}.")
            study_id, state, last, current = head
            if TrialState(state).finished:
                raise self._trial_state_error(conn, trial_id, "add measurements to")
            if attempt is not None and attempt != current:
                raise StaleAttemptError(
                    f"trial id {trial_id}: points of attempt {attempt} arrived while attempt "
                    f"{current} runs; an earlier attempt's lines never reach a later one. "
                    "Nothing was written."
                )
            if series:
                chunk = 0 if last is None else last + 1
                ids = self._metric_id_map(conn, study_id, [x[0] for x in series], new_ids)
                rows = [
                    {
                        "trial_id": trial_id, "metric_id": ids[name], "chunk": chunk,
                        "steps": steps.tobytes(), "vals": values.tobytes(), "n": len(steps),
                    }
                    for name, steps, values in series
                ]  # fmt: skip
                self._many(conn, q.INSERT_CHUNKS, rows)
            if ingested_bytes is not None:
                ingested = {"b_trial_id": trial_id, "b_ingested": int(ingested_bytes)}
                self._first(conn, q.SET_INGESTED, ingested)
        self._metric_ids.update(new_ids)  # committed: safe to remember

    def _metric_id_map(
        self,
        conn: sa.Connection,
        study_id: int,
        names: Sequence[str],
        new_ids: dict[tuple[int, str], int],
    ) -> dict[str, int]:
        out: dict[str, int] = {}
        missing: list[str] = []
        for name in names:
            found = self._metric_ids.get((study_id, name))
            if found is None:
                missing.append(name)
            else:
                out[name] = found
        if missing:
            conn.execute(
                insert_ignore(conn, s.metrics, ("study_id", "name")),
                [{"study_id": study_id, "name": name} for name in missing],
            )
            for metric_id, name in conn.execute(
                q.METRIC_IDS, {"b_study_id": study_id, "b_names": missing}
            ):
                out[name] = new_ids[(study_id, name)] = metric_id
        return out

    def get_curves(
        self,
        study_id: int,
        *,
        trial_ids: Iterable[int] | None = None,
        metrics: Iterable[str] | None = None,
    ) -> dict[int, dict[str, Curve]]:
        wanted = None if metrics is None else set(metrics)
        ids = None if trial_ids is None else sorted({int(i) for i in trial_ids})
        with self._tx(f"read the curves of study {study_id}", write=False) as conn:
            names = {
                metric_id: name
                for metric_id, name in conn.execute(q.METRICS_OF_STUDY, {"b_study_id": study_id})
                if wanted is None or name in wanted
            }
            if not names:
                self._require_study(conn, study_id)
                return {}
            args: dict[str, Any] = {"b_study_id": study_id, "b_metric_ids": list(names)}
            query = q.CHUNKS[(ids is not None, wanted is not None)]
            if ids is None:
                rows = conn.execute(query, args).all()
            else:
                rows = []
                for batch in _batches(ids):
                    rows.extend(conn.execute(query, {**args, "b_trial_ids": batch}).all())
        return codec.curves_from_chunks(rows, names)

    # -- checkpoints -----------------------------------------------------------------------
    def add_checkpoints(self, trial_id: int, checkpoints: Sequence[CheckpointRecord]) -> None:
        rows: dict[int, dict[str, Any]] = {}  # a later record of the same step replaces
        for c in checkpoints:
            if c.trial_id is not None and c.trial_id != trial_id:
                raise ValueError(
                    f"checkpoint at step {c.step} belongs to trial id {c.trial_id}, not "
                    f"{trial_id}; add it to its own trial."
                )
            metrics = {str(k): float(v) for k, v in c.metrics.items()}
            step = int(c.step)
            rows[step] = {
                "trial_id": trial_id,
                "step": step,
                "path": str(c.path),
                "metrics": json.dumps(metrics),
            }
        with self._tx(f"add checkpoints to trial id {trial_id}", write=True) as conn:
            head = self._first(conn, q.TRIAL_STATE, {"b_trial_id": trial_id})
            if head is None:
                raise TrialNotFoundError(f"no trial with id {trial_id} in {self.url}.")
            if TrialState(head[1]).finished:
                raise self._trial_state_error(conn, trial_id, "add checkpoints to")
            if rows:
                keys, update = ("trial_id", "step"), ("path", "metrics")
                conn.execute(insert_upsert(conn, s.checkpoints, keys, update), list(rows.values()))

    def get_checkpoints(
        self, study_id: int, *, trial_ids: Iterable[int] | None = None
    ) -> list[CheckpointRecord]:
        ids = None if trial_ids is None else sorted({int(i) for i in trial_ids})
        args = {"b_study_id": study_id}
        with self._tx(f"read the checkpoints of study {study_id}", write=False) as conn:
            self._require_study(conn, study_id)
            if ids is None:
                rows = list(conn.execute(q.CHECKPOINTS[False], args).all())
            else:
                rows = []
                for batch in _batches(ids):
                    rows.extend(conn.execute(q.CHECKPOINTS[True], {**args, "b_trial_ids": batch}))
                rows.sort(key=lambda r: (r[0], r[1]))  # by trial number, then step
        return [
            CheckpointRecord(step=step, path=path, metrics=json.loads(m), trial_id=tid)
            for _, step, tid, path, m in rows
        ]


def _sqlite_file(engine: sa.Engine) -> str | None:
    """The path of a SQLite database file; ``None`` for memory or another backend."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or engine.url.query.get("mode") == "memory":
        return None
    return database


def _identity(path: str | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _batches(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _IN_BATCH):
        yield list(ids[i : i + _IN_BATCH])


def _study_from_row(row: Sequence[Any]) -> StudyRecord:
    study_id, name, spec, state, version, created_at, uid = row
    return StudyRecord(
        study_id, name, json.loads(spec), json.loads(state), version, created_at, uid or ""
    )


def _trial_from_row(row: Sequence[Any], params: codec.Params) -> FrozenTrial:
    (
        trial_id, study_id, number, state, seed, slot, slot_index, parent_number, created_at,
        started_at, finished_at, heartbeat_at, worker, trial_dir, attempts, value, value_kind,
        value_step, reason, stderr_tail, ingested_bytes, warnings,
    ) = row[:22]  # FINISH returns one more column (the last chunk number)  # fmt: skip
    return FrozenTrial(
        id=trial_id, study_id=study_id, number=number, state=TrialState(state), params=params,
        seed=seed, slot=slot, slot_index=slot_index, parent_number=parent_number,
        created_at=created_at, started_at=started_at, finished_at=finished_at,
        heartbeat_at=heartbeat_at, worker=worker, dir=trial_dir, attempts=attempts,
        value=codec.decode_value(value, value_kind), value_step=value_step, reason=reason,
        stderr_tail=stderr_tail, ingested_bytes=ingested_bytes,
        warnings=tuple(json.loads(warnings)) if warnings else (),
    )  # fmt: skip


def _compact(conn: sa.Connection, trial_id: int) -> None:
    """Rewrite each metric of a finishing trial that has several chunks as one chunk."""
    groups: dict[int, list[tuple[bytes, bytes]]] = {}
    for metric_id, steps_blob, vals_blob in conn.execute(q.SPLIT_CHUNKS, {"b_trial_id": trial_id}):
        groups.setdefault(metric_id, []).append((steps_blob, vals_blob))
    if not groups:
        return
    conn.execute(q.DELETE_CHUNKS, {"b_trial_id": trial_id, "b_metric_ids": list(groups)})
    merged = []
    for metric_id, chunks in groups.items():
        steps, values = codec.merge_chunks(chunks)
        merged.append(
            {
                "trial_id": trial_id,
                "metric_id": metric_id,
                "chunk": 0,
                "steps": steps.tobytes(),
                "vals": values.tobytes(),
                "n": len(steps),
            }
        )
    conn.execute(q.INSERT_CHUNKS, merged)
