"""Project-level records on SQL: tuning rounds and the adopt / reject decisions (rules 8 and 9).

A mixin of :class:`~scitune.storage._sql.SqlStorage`, kept apart because these records belong
to the project, not to a study; it uses only the store's URL and its transactions. None of this
is a hot path, so every statement runs through SQLAlchemy's execution path.

Example:
    >>> from scitune.storage._sql import SqlStorage
    >>> store = SqlStorage("sqlite:///:memory:")
    >>> store.create_round("does dropout help?").number
    1
    >>> store.close_round(1, decision="keep dropout 0.1").state
    'closed'
"""

from __future__ import annotations

import abc
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from scitune.errors import RoundNotFoundError, StorageError, StudyNotFoundError, TrialStateError
from scitune.storage import _codec as codec
from scitune.storage import _statements as q
from scitune.storage._records import DecisionRecord, NewDecision, RoundRecord

__all__ = ["DECISION_KINDS", "SqlRounds"]

DECISION_KINDS = ("adopt", "reject")


class SqlRounds(abc.ABC):
    """Rounds and decisions for a SQL store that provides ``url`` and ``_tx``."""

    url: str

    @abc.abstractmethod
    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sa.Connection]:
        """One transaction; ``write`` takes the write lock before the first statement."""

    # -- rounds ----------------------------------------------------------------------------
    def create_round(self, goal: str) -> RoundRecord:
        goal = str(goal)
        now = _now()
        try:
            with self._tx("open a round", write=True) as conn:
                self._refuse_if_open(conn)
                number = conn.execute(q.NEXT_ROUND_NUMBER).scalar_one()
                row = {
                    "number": number, "goal": goal, "state": q.ROUND_OPEN, "created_at": now,
                    "closed_at": None, "decision": None, "notes": None, "findings": None,
                }  # fmt: skip
                conn.execute(q.INSERT_ROUND, row)
        except StorageError as e:
            # Without a write lock (PostgreSQL) two openers can both pass the check; the unique
            # index on the open round (or the number) stops the second.
            if isinstance(e.__cause__, sa.exc.IntegrityError):
                with self._tx("read the open round", write=False) as conn:
                    self._refuse_if_open(conn)
                raise TrialStateError(
                    f"could not open a round in {self.url}: another process opened one at the "
                    "same time. Read the rounds again with list_rounds()."
                ) from e
            raise
        return RoundRecord(number=number, goal=goal, state=q.ROUND_OPEN, created_at=now)

    def get_round(self, number: int) -> RoundRecord:
        with self._tx(f"read round {number}", write=False) as conn:
            row = conn.execute(q.ROUND_BY_NUMBER, {"b_number": number}).first()
            if row is None:
                raise self._round_not_found(conn, number)
            names = conn.execute(q.ROUND_STUDY_NAMES[True], {"b_number": number}).all()
        return _round_from_row(row, tuple(name for _, name in names))

    def list_rounds(self) -> list[RoundRecord]:
        with self._tx("list rounds", write=False) as conn:
            rows = conn.execute(q.ALL_ROUNDS).all()
            names: dict[int, list[str]] = {}
            for number, name in conn.execute(q.ROUND_STUDY_NAMES[False]):
                names.setdefault(number, []).append(name)
        return [_round_from_row(row, tuple(names.get(row[0], ()))) for row in rows]

    def attach_study(self, round_number: int, study_id: int) -> None:
        args = {"b_number": round_number, "b_study_id": study_id}
        with self._tx(f"attach study {study_id} to round {round_number}", write=True) as conn:
            row = conn.execute(q.ROUND_BY_NUMBER, args).first()
            if row is None:
                raise self._round_not_found(conn, round_number)
            if conn.execute(q.STUDY_EXISTS, args).first() is None:
                raise StudyNotFoundError(
                    f"no study with id {study_id} in {self.url}; list them with list_studies()."
                )
            if conn.execute(q.ATTACHED, args).first() is not None:
                return  # already attached: nothing changes, even in a closed round
            if row.state != q.ROUND_OPEN:
                raise _closed_error(row, f"attach study {study_id} to")
            position = conn.execute(q.NEXT_POSITION, args).scalar_one()
            conn.execute(
                q.INSERT_ROUND_STUDY,
                {"round_number": round_number, "study_id": study_id, "position": position},
            )

    def close_round(
        self,
        number: int,
        *,
        decision: str,
        notes: str = "",
        findings: Mapping[str, Any] | None = None,
    ) -> RoundRecord:
        findings_json = (
            None if findings is None else codec.dumps_json(findings, f"round {number}'s findings")
        )
        now = _now()
        args = {
            "b_number": number, "b_now": now, "b_decision": str(decision), "b_notes": str(notes),
            "b_findings": findings_json,
        }  # fmt: skip
        with self._tx(f"close round {number}", write=True) as conn:
            row = conn.execute(q.ROUND_BY_NUMBER, args).first()
            if row is None:
                raise self._round_not_found(conn, number)
            if row.state != q.ROUND_OPEN:
                raise _closed_error(row, "close")
            if conn.execute(q.CLOSE_ROUND, args).rowcount != 1:  # closed meanwhile (no lock)
                raise _closed_error(conn.execute(q.ROUND_BY_NUMBER, args).one(), "close")
            row = conn.execute(q.ROUND_BY_NUMBER, args).one()
            names = conn.execute(q.ROUND_STUDY_NAMES[True], args).all()
        return _round_from_row(row, tuple(name for _, name in names))

    def _refuse_if_open(self, conn: sa.Connection) -> None:
        found = conn.execute(q.OPEN_ROUND).first()
        if found is not None:
            number, goal = found
            raise TrialStateError(
                f"round {number} ({goal!r}) is still open in {self.url}; only one round can be "
                f"open at a time. Close it first with `scitune round close` "
                f"(close_round({number}, decision=...)), then open the next one."
            )

    def _round_not_found(self, conn: sa.Connection, number: int) -> RoundNotFoundError:
        last = conn.execute(q.LAST_ROUND_NUMBER).scalar()
        known = (
            "it holds no rounds yet; open one with create_round()."
            if last is None
            else f"its rounds are numbered 1 to {last}."
        )
        return RoundNotFoundError(f"no round {number} in {self.url}; {known}")

    # -- decisions -------------------------------------------------------------------------
    def add_decision(self, decision: NewDecision) -> DecisionRecord:
        d = decision
        if d.kind not in DECISION_KINDS:
            raise ValueError(
                f"a decision's kind must be 'adopt' or 'reject', got {d.kind!r}. Record an "
                "adopted baseline with 'adopt' and a rejected idea with 'reject'."
            )
        value, value_kind = codec.encode_value(d.value)
        now = _now()
        row: dict[str, Any] = {
            "kind": d.kind,
            "created_at": now,
            "params": codec.encode_params_json(d.params),
            "evidence": codec.dumps_json(d.evidence, "a decision's evidence"),
            "study": None if d.study is None else str(d.study),
            "trial_number": None if d.trial_number is None else int(d.trial_number),
            "metric": None if d.metric is None else str(d.metric),
            "value": value,
            "value_kind": value_kind,
            "round_number": None if d.round_number is None else int(d.round_number),
            "notes": str(d.notes),
        }
        round_number = row["round_number"]
        with self._tx(f"add a decision ({d.kind})", write=True) as conn:
            if round_number is not None:
                args = {"b_number": round_number}
                if conn.execute(q.ROUND_BY_NUMBER, args).first() is None:
                    raise self._round_not_found(conn, round_number)
            decision_id = conn.execute(q.INSERT_DECISION, row).scalar_one()
        # Built from the stored text, so it equals what list_decisions() reads back.
        stored = {"id": decision_id, **row}
        return _decision_from_row([stored[c.name] for c in q.DECISION_COLUMNS])

    def list_decisions(self) -> list[DecisionRecord]:
        with self._tx("list decisions", write=False) as conn:
            rows = conn.execute(q.ALL_DECISIONS).all()
        return [_decision_from_row(row) for row in rows]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _closed_error(row: Any, action: str) -> TrialStateError:
    return TrialStateError(
        f"cannot {action} round {row.number}: it was closed at {row.closed_at:%Y-%m-%d %H:%M} "
        f"UTC with decision {row.decision!r}, and a closed round cannot be changed. Open the "
        "next round with create_round()."
    )


def _round_from_row(row: Sequence[Any], studies: tuple[str, ...]) -> RoundRecord:
    number, goal, state, created_at, closed_at, decision, notes, findings = row
    return RoundRecord(
        number=number, goal=goal, state=state, created_at=created_at, studies=studies,
        closed_at=closed_at, decision=decision, notes=notes,
        findings=None if findings is None else json.loads(findings),
    )  # fmt: skip


def _decision_from_row(row: Sequence[Any]) -> DecisionRecord:
    (
        decision_id, kind, created_at, params, evidence, study, trial_number, metric, value,
        value_kind, round_number, notes,
    ) = row  # fmt: skip
    return DecisionRecord(
        kind=kind, params=codec.decode_params_json(params), evidence=json.loads(evidence),
        study=study, trial_number=trial_number, metric=metric,
        value=codec.decode_value(value, value_kind), round_number=round_number, notes=notes,
        id=decision_id, created_at=created_at,
    )  # fmt: skip
