"""Project level: tuning rounds, the studies of each round, and adopt / reject decisions.

Only new tables: a store at 0001 upgrades in place and keeps its studies and trials.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rounds",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("findings", sa.Text(), nullable=True),
    )
    op.create_index(
        "uq_rounds_one_open",
        "rounds",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "round_studies",
        sa.Column(
            "round_number",
            sa.Integer(),
            sa.ForeignKey("rounds.number", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "study_id",
            sa.Integer(),
            sa.ForeignKey("studies.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("study", sa.String(255), nullable=True),
        sa.Column("trial_number", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(255), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("value_kind", sa.SmallInteger(), nullable=True),
        sa.Column("round_number", sa.Integer(), sa.ForeignKey("rounds.number"), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("round_studies")
    op.drop_index("uq_rounds_one_open", table_name="rounds")
    op.drop_table("rounds")
