"""The SQL schema of the trial store (SQLAlchemy Core), the one migrations must reproduce.

Choices that make the store exact and fast:

- Parameters are typed (``kind`` + one value column), never strings: an int reads back as an
  int, a bool as a bool.
- A trial's score keeps NaN and +-inf: ``value`` holds finite numbers only and ``value_kind``
  says which of finite / +inf / -inf / NaN it is (SQLite turns a NaN into NULL).
- Decisions keep their parameters typed too (JSON of the same kind + value encoding) and their
  score like a trial's (``value`` + ``value_kind``). Free-form JSON (evidence, findings) is
  written with NaN and Infinity allowed, as Python writes them, so they read back exactly.
- Measurements are stored as chunks: per (trial, metric) a series of blobs of little-endian
  int64 steps and float64 values, one chunk per ingested batch, compacted to one chunk when the
  trial finishes. Logically they are rows (trial, metric, step, value), unique per
  (trial, metric, step) with the last write winning; physically they read back at memory speed,
  and NaN/+-inf survive bit for bit.

A change here needs a new migration in ``migrations/versions`` and a new ``HEAD_REVISION``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "HEAD_REVISION",
    "UTCDateTime",
    "ValueKind",
    "checkpoints",
    "decisions",
    "measurement_chunks",
    "metadata",
    "metrics",
    "round_studies",
    "rounds",
    "studies",
    "trial_attempts",
    "trial_params",
    "trials",
]

# The newest migration; opening a store at this revision skips Alembic entirely.
HEAD_REVISION = "0003"


class ValueKind:
    """Codes of ``trials.value_kind``: which number a score is (``value`` is NULL unless finite)."""

    FINITE = 0
    POS_INF = 1
    NEG_INF = 2
    NAN = 3


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, got {value!r}.")
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = sa.MetaData()

studies = sa.Table(
    "studies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("sampler_state", sa.Text, nullable=False),
    sa.Column("state_version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # A random id of this study instance (revision 0003): its files live in a folder named
    # after it, so a store deleted and made again never reads the old study's files.
    sa.Column("uid", sa.String(32), nullable=True),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("slot", sa.Text, nullable=False),
    sa.Column("slot_index", sa.Integer, nullable=False),
    sa.Column("parent_number", sa.Integer, nullable=True),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("dir", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("value_kind", sa.SmallInteger, nullable=True),
    sa.Column("value_step", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("stderr_tail", sa.Text, nullable=True),
    sa.Column("ingested_bytes", sa.BigInteger, nullable=False),
    # JSON list of what went wrong reading the trial's files (revision 0003): skipped lines, a
    # metrics file that shrank. The curve may be incomplete; analysis says so.
    sa.Column("warnings", sa.Text, nullable=True),
    sa.UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
    sa.Index("ix_trials_study_state_number", "study_id", "state", "number"),
)

# One row per run of a trial (revision 0003): who ran it, how it ended and why. The trial row
# holds the current attempt; this table is its history (interrupted, lost, failed, retried).
trial_attempts = sa.Table(
    "trial_attempts",
    metadata,
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("attempt", sa.Integer, primary_key=True, autoincrement=False),  # 1, 2, ...
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    # NULL while it runs; then a TrialState value, or 'interrupted' (stopped on purpose) or
    # 'lost' (its runner died or went silent).
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("info", sa.Text, nullable=True),  # JSON: threads, process ids, devices
)

trial_params = sa.Table(
    "trial_params",
    metadata,
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(255), primary_key=True),
    # 'float' | 'int' | 'bool' | 'str'. Non-finite floats and ints beyond 64 bits are kept
    # exactly in text_value (float_value / int_value NULL).
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("float_value", sa.Double, nullable=True),
    sa.Column("int_value", sa.BigInteger, nullable=True),
    sa.Column("text_value", sa.Text, nullable=True),
    sqlite_with_rowid=False,  # small rows looked up by key: one b-tree instead of two
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.UniqueConstraint("study_id", "name", name="uq_metrics_study_name"),
)

measurement_chunks = sa.Table(
    "measurement_chunks",
    metadata,
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "metric_id",
        sa.Integer,
        sa.ForeignKey("metrics.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Per trial, increasing with every batch: a later chunk overrides an earlier one's steps.
    sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("steps", sa.LargeBinary, nullable=False),  # int64, little-endian
    sa.Column("vals", sa.LargeBinary, nullable=False),  # float64, little-endian
    sa.Column("n", sa.Integer, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON; NaN/Infinity allowed
)

# -- project level: tuning rounds and the decisions that change the baseline (revision 0002) ----
rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),  # 1, 2, ...
    sa.Column("goal", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # 'open' | 'closed'
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("decision", sa.Text, nullable=True),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("findings", sa.Text, nullable=True),  # JSON; NaN/Infinity allowed
    # At most one open round, enforced by the database too (PostgreSQL has no BEGIN IMMEDIATE).
    sa.Index(
        "uq_rounds_one_open",
        "state",
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    ),
)

round_studies = sa.Table(
    "round_studies",
    metadata,
    sa.Column(
        "round_number",
        sa.Integer,
        sa.ForeignKey("rounds.number", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("studies.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, nullable=False),  # attach order within the round, from 0
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # 'adopt' | 'reject'
    sa.Column("created_at", UTCDateTime, nullable=False),
    # JSON {name: [kind, float_value, int_value, text_value]}, the columns of trial_params.
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),  # JSON; NaN/Infinity allowed
    sa.Column("study", sa.String(255), nullable=True),  # a name, not a key: decisions outlive it
    sa.Column("trial_number", sa.Integer, nullable=True),
    sa.Column("metric", sa.String(255), nullable=True),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("value_kind", sa.SmallInteger, nullable=True),
    sa.Column("round_number", sa.Integer, sa.ForeignKey("rounds.number"), nullable=True),
    sa.Column("notes", sa.Text, nullable=False),
)
