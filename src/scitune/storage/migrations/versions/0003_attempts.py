"""Attempts: each run of a trial recorded, a study's instance id, a trial's reading warnings.

Additive only: a store at 0002 upgrades in place. Existing studies get a fresh ``uid``; their
trials keep the folders they already ran in.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("studies", sa.Column("uid", sa.String(32), nullable=True))
    op.add_column("trials", sa.Column("warnings", sa.Text(), nullable=True))
    op.create_table(
        "trial_attempts",
        sa.Column(
            "trial_id",
            sa.Integer(),
            sa.ForeignKey("trials.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("info", sa.Text(), nullable=True),
    )
    conn = op.get_bind()
    studies = sa.table("studies", sa.column("id", sa.Integer), sa.column("uid", sa.String))
    for (study_id,) in conn.execute(sa.select(studies.c.id)).all():
        conn.execute(
            sa.update(studies).where(studies.c.id == study_id).values(uid=uuid.uuid4().hex)
        )


def downgrade() -> None:
    op.drop_table("trial_attempts")
    op.drop_column("trials", "warnings")
    op.drop_column("studies", "uid")
