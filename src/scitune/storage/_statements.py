"""The SQL statements of the store, built once (SQLAlchemy Core, any dialect).

Building a Core statement costs more than running it on SQLite (~70 us against ~5 us), so the
hot paths (bookkeeping of a trial, ingesting a batch) execute these prebuilt statements with
bound parameters; SQLAlchemy compiles each once per dialect and caches it. Parameter names carry
a ``b_`` prefix because a bound parameter may not share a column's name in SET or VALUES.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scitune.storage import _schema as s
from scitune.storage._records import TrialState

_T = s.trials.c
_C = s.measurement_chunks.c
_P = s.trial_params.c
_K = s.checkpoints.c
_A = s.trial_attempts.c
_PENDING, _RUNNING = TrialState.PENDING.value, TrialState.RUNNING.value
_FAILED = TrialState.FAILED.value


def _b(name: str, type_: Any = None) -> sa.BindParameter[Any]:
    return sa.bindparam(f"b_{name}", type_=type_)


def _many(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(f"b_{name}", expanding=True)


TRIAL_COLUMNS = (
    _T.id, _T.study_id, _T.number, _T.state, _T.seed, _T.slot, _T.slot_index,
    _T.parent_number, _T.created_at, _T.started_at, _T.finished_at, _T.heartbeat_at,
    _T.worker, _T.dir, _T.attempts, _T.value, _T.value_kind, _T.value_step, _T.reason,
    _T.stderr_tail, _T.ingested_bytes, _T.warnings,
)  # fmt: skip
PARAM_COLUMNS = (_P.trial_id, _P.name, _P.kind, _P.float_value, _P.int_value, _P.text_value)
STUDY_COLUMNS = tuple(s.studies.c)

# -- studies -----------------------------------------------------------------------------------
STUDY_EXISTS = sa.select(s.studies.c.id).where(s.studies.c.id == _b("study_id"))
STUDY_NAME = sa.select(s.studies.c.name).where(s.studies.c.id == _b("study_id"))
STUDY_BY_NAME = sa.select(*STUDY_COLUMNS).where(s.studies.c.name == _b("name"))
STUDY_NAMES = sa.select(s.studies.c.name).order_by(s.studies.c.id).limit(11)
ALL_STUDIES = sa.select(*STUDY_COLUMNS).order_by(s.studies.c.id)
INSERT_STUDY = sa.insert(s.studies).returning(s.studies.c.id)
UPDATE_SPEC = sa.update(s.studies).where(s.studies.c.id == _b("study_id")).values(spec=_b("spec"))
STATE_VERSION = sa.select(s.studies.c.state_version).where(s.studies.c.id == _b("study_id"))
# The compare-and-swap of rule 3: it changes a row only if nobody advanced the state first,
# and returns the study's next trial number (no row: the swap failed).
# Subqueries take bound parameters, not correlation: SQLite renders RETURNING columns without
# their table names, so a correlated ``trials.study_id = studies.id`` would read ``id`` wrongly.
_NEXT_NUMBER = (
    sa.select(sa.func.coalesce(sa.func.max(_T.number) + 1, 0))
    .where(_T.study_id == _b("study_id"))
    .scalar_subquery()
)
SWAP_SAMPLER_STATE = (
    sa.update(s.studies)
    .where(s.studies.c.id == _b("study_id"), s.studies.c.state_version == _b("expected"))
    .values(sampler_state=_b("state"), state_version=s.studies.c.state_version + 1)
    .returning(_NEXT_NUMBER)
)

# -- trials ------------------------------------------------------------------------------------
INSERT_TRIAL = sa.insert(s.trials).returning(_T.id)
INSERT_TRIALS = sa.insert(s.trials).returning(_T.id, sort_by_parameter_order=True)
INSERT_PARAMS = sa.insert(s.trial_params)
PARAMS_OF_TRIAL = sa.select(*PARAM_COLUMNS).where(_P.trial_id == _b("trial_id"))
TRIAL_STATE = sa.select(_T.number, _T.state, _T.attempts).where(_T.id == _b("trial_id"))
TRIAL_BY_NUMBER = sa.select(*TRIAL_COLUMNS).where(
    _T.study_id == _b("study_id"), _T.number == _b("number")
)
TRIALS_OF_STUDY = sa.select(*TRIAL_COLUMNS).where(_T.study_id == _b("study_id")).order_by(_T.number)
TRIALS_OF_STUDY_IN_STATES = TRIALS_OF_STUDY.where(_T.state.in_(_many("states")))
PARAMS_OF_STUDY = (
    sa.select(*PARAM_COLUMNS)
    .select_from(s.trial_params.join(s.trials, _T.id == _P.trial_id))
    .where(_T.study_id == _b("study_id"))
)
PARAMS_OF_STUDY_IN_STATES = PARAMS_OF_STUDY.where(_T.state.in_(_many("states")))

# Rule 4 in one statement: take the lowest-numbered PENDING trial. SQLite runs it under the
# write lock (BEGIN IMMEDIATE); on PostgreSQL the row lock with SKIP LOCKED lets claimers pass
# each other instead of queueing.
_NEXT_PENDING = (
    sa.select(_T.id)
    .where(_T.study_id == _b("study_id"), _T.state == _PENDING)
    .order_by(_T.number)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
CLAIM = (
    sa.update(s.trials)
    .where(_T.id == _NEXT_PENDING, _T.state == _PENDING)
    .values(
        state=TrialState.RUNNING.value,
        worker=_b("worker"),
        # A trial keeps its folder across attempts (a script may resume from its checkpoints).
        dir=sa.func.coalesce(
            _T.dir, sa.func.replace(_b("dir", sa.Text), "{number}", sa.cast(_T.number, sa.Text))
        ),
        started_at=_b("now"),
        heartbeat_at=_b("now"),
        attempts=_T.attempts + 1,
        # Each attempt writes a metrics file of its own, read from its start.
        ingested_bytes=0,
        warnings=None,
    )
    .returning(*TRIAL_COLUMNS)
)
INSERT_ATTEMPT = sa.insert(s.trial_attempts)
END_ATTEMPT = (
    sa.update(s.trial_attempts)
    .where(_A.trial_id == _b("trial_id"), _A.attempt == _b("attempt"), _A.ended_at.is_(None))
    .values(ended_at=_b("now"), outcome=_b("outcome"), reason=_b("reason"))
)
ATTEMPTS_OF_STUDY = (
    sa.select(_A.trial_id, _A.attempt, _A.worker, _A.started_at, _A.ended_at, _A.outcome,
              _A.reason, _A.info)
    .select_from(s.trial_attempts.join(s.trials, _T.id == _A.trial_id))
    .where(_T.study_id == _b("study_id"))
    .order_by(_T.number, _A.attempt)
)  # fmt: skip
ATTEMPTS_OF_TRIALS = ATTEMPTS_OF_STUDY.where(_A.trial_id.in_(_many("trial_ids")))
# A new attempt starts a clean curve: nothing an earlier attempt wrote is mixed into it.
CLEAR_CHUNKS = sa.delete(s.measurement_chunks).where(_C.trial_id == _b("trial_id"))
CLEAR_CHECKPOINTS = sa.delete(s.checkpoints).where(_K.trial_id == _b("trial_id"))
RETRY_FAILED = (
    sa.update(s.trials)
    .where(_T.study_id == _b("study_id"), _T.state == _FAILED)
    .values(
        state=_PENDING, worker=None, started_at=None, heartbeat_at=None, finished_at=None,
        value=None, value_kind=None, value_step=None, stderr_tail=None, ingested_bytes=0,
        reason=sa.func.coalesce(sa.literal("retry after: ") + _T.reason, "retry"),
    )
    .returning(_T.id)
)  # fmt: skip
RETRY_FAILED_NUMBERS = RETRY_FAILED.where(_T.number.in_(_many("numbers")))
TRIAL_WARNINGS = sa.select(_T.state, _T.warnings).where(_T.id == _b("trial_id"))
SET_WARNINGS = (
    sa.update(s.trials).where(_T.id == _b("trial_id")).values(warnings=_b("warnings"))
)
DELETE_STUDY = sa.delete(s.studies).where(s.studies.c.id == _b("study_id"))
DECISIONS_ON_STUDY = sa.select(s.decisions.c.id, s.decisions.c.kind).where(
    s.decisions.c.study == _b("name")
)
HEARTBEAT = (
    sa.update(s.trials)
    .where(_T.id.in_(_many("ids")), _T.state == _RUNNING)
    .values(heartbeat_at=_b("now"))
)
# ``b_attempt`` NULL: any attempt; else only while that attempt is the trial's current one.
_THIS_ATTEMPT = sa.or_(_b("attempt", sa.Integer).is_(None), _T.attempts == _b("attempt"))
REQUEUE = (
    sa.update(s.trials)
    .where(_T.id == _b("trial_id"), _T.state == _RUNNING, _THIS_ATTEMPT)
    .values(
        state=_PENDING,
        reason=_b("reason"),
        worker=None,
        started_at=None,
        heartbeat_at=None,
        # The next run may write a fresh metrics file; ingesting it from its start is safe
        # because re-ingesting a line is idempotent (rule 6).
        ingested_bytes=0,
    )
    .returning(*TRIAL_COLUMNS)
)
_LAST_CHUNK = (
    sa.select(sa.func.max(_C.chunk)).where(_C.trial_id == _b("trial_id")).scalar_subquery()
)
FINISH = (
    sa.update(s.trials)
    .where(_T.id == _b("trial_id"), _T.state == _RUNNING, _THIS_ATTEMPT)
    .values(
        state=_b("state"),
        finished_at=_b("now"),
        value=_b("value"),
        value_kind=_b("value_kind"),
        value_step=_b("value_step"),
        reason=_b("reason"),
        stderr_tail=_b("stderr_tail"),
    )
    .returning(*TRIAL_COLUMNS, _LAST_CHUNK)
)

# -- measurements ------------------------------------------------------------------------------
INGEST_HEAD = sa.select(_T.study_id, _T.state, _LAST_CHUNK, _T.attempts).where(
    _T.id == _b("trial_id")
)
INSERT_CHUNKS = sa.insert(s.measurement_chunks)
SET_INGESTED = (
    sa.update(s.trials).where(_T.id == _b("trial_id")).values(ingested_bytes=_b("ingested"))
)
METRIC_IDS = sa.select(s.metrics.c.id, s.metrics.c.name).where(
    s.metrics.c.study_id == _b("study_id"), s.metrics.c.name.in_(_many("names"))
)
METRICS_OF_STUDY = sa.select(s.metrics.c.id, s.metrics.c.name).where(
    s.metrics.c.study_id == _b("study_id")
)
_CHUNKS = (
    sa.select(_C.trial_id, _C.metric_id, _C.steps, _C.vals)
    .select_from(s.trials.join(s.measurement_chunks, _C.trial_id == _T.id))
    .where(_T.study_id == _b("study_id"))
    .order_by(_C.trial_id, _C.metric_id, _C.chunk)
)
CHUNKS = {  # (filtered by trial, filtered by metric) -> statement
    (False, False): _CHUNKS,
    (True, False): _CHUNKS.where(_C.trial_id.in_(_many("trial_ids"))),
    (False, True): _CHUNKS.where(_C.metric_id.in_(_many("metric_ids"))),
    (True, True): _CHUNKS.where(
        _C.trial_id.in_(_many("trial_ids")), _C.metric_id.in_(_many("metric_ids"))
    ),
}
_SPLIT_METRICS = (
    sa.select(_C.metric_id)
    .where(_C.trial_id == _b("trial_id"))
    .group_by(_C.metric_id)
    .having(sa.func.count() > 1)
)
SPLIT_CHUNKS = (
    sa.select(_C.metric_id, _C.steps, _C.vals)
    .where(_C.trial_id == _b("trial_id"), _C.metric_id.in_(_SPLIT_METRICS))
    .order_by(_C.metric_id, _C.chunk)
)
DELETE_CHUNKS = sa.delete(s.measurement_chunks).where(
    _C.trial_id == _b("trial_id"), _C.metric_id.in_(_many("metric_ids"))
)

# -- checkpoints -------------------------------------------------------------------------------
_CHECKPOINTS = (
    sa.select(_T.number, _K.step, _K.trial_id, _K.path, _K.metrics)
    .select_from(s.trials.join(s.checkpoints, _K.trial_id == _T.id))
    .where(_T.study_id == _b("study_id"))
    .order_by(_T.number, _K.step)
)
CHECKPOINTS = {
    False: _CHECKPOINTS,
    True: _CHECKPOINTS.where(_K.trial_id.in_(_many("trial_ids"))),
}

# -- rounds and decisions (project level) ------------------------------------------------------
ROUND_OPEN, ROUND_CLOSED = "open", "closed"
_R = s.rounds.c
_RS = s.round_studies.c
_D = s.decisions.c
ROUND_COLUMNS = tuple(s.rounds.c)
DECISION_COLUMNS = tuple(s.decisions.c)
OPEN_ROUND = sa.select(_R.number, _R.goal).where(_R.state == ROUND_OPEN).order_by(_R.number)
NEXT_ROUND_NUMBER = sa.select(sa.func.coalesce(sa.func.max(_R.number), 0) + 1)
LAST_ROUND_NUMBER = sa.select(sa.func.max(_R.number))
INSERT_ROUND = sa.insert(s.rounds)
ROUND_BY_NUMBER = sa.select(*ROUND_COLUMNS).where(_R.number == _b("number"))
ALL_ROUNDS = sa.select(*ROUND_COLUMNS).order_by(_R.number)
CLOSE_ROUND = (
    sa.update(s.rounds)
    .where(_R.number == _b("number"), _R.state == ROUND_OPEN)
    .values(
        state=ROUND_CLOSED,
        closed_at=_b("now"),
        decision=_b("decision"),
        notes=_b("notes"),
        findings=_b("findings"),
    )
)
_ROUND_STUDY_NAMES = (
    sa.select(_RS.round_number, s.studies.c.name)
    .select_from(s.round_studies.join(s.studies, s.studies.c.id == _RS.study_id))
    .order_by(_RS.round_number, _RS.position)
)
ROUND_STUDY_NAMES = {  # all rounds' studies, or one round's (True)
    False: _ROUND_STUDY_NAMES,
    True: _ROUND_STUDY_NAMES.where(_RS.round_number == _b("number")),
}
ATTACHED = sa.select(_RS.position).where(
    _RS.round_number == _b("number"), _RS.study_id == _b("study_id")
)
NEXT_POSITION = sa.select(sa.func.coalesce(sa.func.max(_RS.position) + 1, 0)).where(
    _RS.round_number == _b("number")
)
INSERT_ROUND_STUDY = sa.insert(s.round_studies)
INSERT_DECISION = sa.insert(s.decisions).returning(_D.id)
ALL_DECISIONS = sa.select(*DECISION_COLUMNS).order_by(_D.id)
