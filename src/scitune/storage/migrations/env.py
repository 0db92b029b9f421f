"""Alembic environment of the trial store.

scitune runs migrations itself (``SqlStorage`` passes its open connection in
``config.attributes["connection"]``), so no ``alembic.ini`` is needed. A developer can still run
``alembic -x url=sqlite:///path.db revision --autogenerate -m "..."`` with
``script_location = scitune/storage/migrations`` to write the next migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from scitune.storage._schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    # Inside the caller's transaction this is a no-op: the caller commits or rolls back.
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("pass the database with -x url=sqlite:///path.db")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
