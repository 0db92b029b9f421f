"""Opening a SQL trial store: the engine, SQLite's settings and locking, schema migrations.

On SQLite every connection runs in WAL mode with ``synchronous=NORMAL`` (a commit survives a
crash of the process and the file never corrupts; only a power cut can lose the last commits), a
30 s busy timeout and foreign keys on. Transactions opened on the *writer* engine start with
``BEGIN IMMEDIATE``, which takes the database's write lock before the first read, so a
read-then-write (a compare-and-swap, a claim) is atomic across processes. Reads use a plain,
deferred ``BEGIN`` and see one consistent snapshot.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from scitune.errors import StorageError, StoreNotFoundError
from scitune.storage._schema import HEAD_REVISION

__all__ = [
    "WRITE_FLAG",
    "Prepared",
    "describe_error",
    "ensure_schema",
    "insert_ignore",
    "insert_upsert",
    "open_engines",
]

# Set ``connection.info[WRITE_FLAG] = True`` before ``begin()`` for a transaction that writes:
# on SQLite it then takes the write lock first.
WRITE_FLAG = "scitune_write"


def open_engines(url: str, *, create: bool = True) -> Engine:
    """The engine for ``url``; SQLite parent folders are created, settings applied.

    A relative SQLite path is relative to the current directory, fixed when the store opens.
    With ``create=False`` a SQLite file that does not exist raises :class:`StoreNotFoundError`
    before anything is written (SQLite would create the file on the first connection).
    """
    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise StorageError(
            f"storage URL {url!r} is not a database URL: {e}. "
            "Use e.g. 'sqlite:///.scitune/scitune.db'."
        ) from e
    sqlite = sa_url.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {}
    if sqlite:
        # The store's connection is used by one thread at a time (a lock), not always the same.
        kwargs["connect_args"] = {"check_same_thread": False}
        if _in_memory(sa_url):
            # One shared connection, or every connection would see its own empty database.
            kwargs["poolclass"] = sa.StaticPool
        else:
            path = Path(os.path.abspath(sa_url.database or ""))
            if not create:
                # Before any connection: SQLite creates a missing file, and its WAL switch
                # writes into an empty one.
                if not path.exists():
                    raise StoreNotFoundError(_no_store(url, f"{path} does not exist"))
                if path.is_file() and path.stat().st_size == 0:
                    raise StoreNotFoundError(_no_store(url, f"{path} is empty"))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(
                    f"cannot create the folder of the trial store {url}: {e}. "
                    "Choose a writable location for the storage URL."
                ) from e
            sa_url = sa_url.set(database=str(path))
    try:
        engine = sa.create_engine(sa_url, **kwargs)
    except (sa.exc.SQLAlchemyError, ImportError) as e:
        raise StorageError(
            f"cannot open the trial store {url}: {e}. Check the URL and that its database "
            "driver is installed."
        ) from e
    if sqlite:
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _in_memory(sa_url: sa.URL) -> bool:
    return (sa_url.database or "") in ("", ":memory:") or sa_url.query.get("mode") == "memory"


def _no_store(url: str, why: str) -> str:
    return (
        f"no trial store at {url}: {why}. Run a study first to create it, or open an existing "
        "store."
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, decides when a transaction begins (_sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 30000")  # first: the WAL switch may wait for a lock
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    statement = "BEGIN IMMEDIATE" if conn.info.get(WRITE_FLAG) else "BEGIN"
    try:
        # Straight to the driver: through SQLAlchemy's execution path this costs ~4x as much.
        conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]
    except sqlite3.Error as e:
        raise sa.exc.OperationalError(statement, None, e) from e


def describe_error(url: str, e: sa.exc.SQLAlchemyError, doing: str) -> StorageError:
    """A :class:`StorageError` that says what failed, where, and what to do about it."""
    text = str(getattr(e, "orig", None) or e)
    if "not a database" in text:
        hint = (
            "The file exists but is not a SQLite database (or is encrypted or damaged). "
            "Point the storage URL at a new file or at a scitune database."
        )
    elif "locked" in text or "busy" in text:
        hint = (
            "Another process held the database's write lock for more than 30 s. Retry; "
            "if it persists, look for a stuck process using the same file."
        )
    elif "readonly" in text or "unable to open" in text:
        hint = "Check that the file and its folder exist and are writable by this user."
    else:
        hint = "Check that the URL points at a reachable scitune database."
    return StorageError(f"trial store {url}: could not {doing}: {text}. {hint}")


def ensure_schema(engine: Engine, url: str, *, create: bool = True) -> None:
    """Create or migrate the schema; a store already at the newest revision costs one query.

    With ``create=False`` an empty database (no scitune schema, no other table) raises
    :class:`StoreNotFoundError` instead of receiving the schema; an older one is still migrated.
    In-memory SQLite always receives the schema.
    """
    if engine.dialect.name == "sqlite" and _in_memory(engine.url):
        create = True
    version_table = sa.table("alembic_version", sa.column("version_num"))
    try:
        with engine.connect() as conn:
            conn.info[WRITE_FLAG] = False
            version = conn.execute(sa.select(version_table.c.version_num)).scalar()
        if version == HEAD_REVISION:
            return
    except sa.exc.DBAPIError:
        pass  # no version table yet (or a real problem, which the path below reports)
    try:
        with engine.connect() as conn:
            conn.info[WRITE_FLAG] = True  # one process migrates, the others wait for it
            try:
                with conn.begin():
                    _upgrade(conn, url, create=create)
            finally:
                conn.info[WRITE_FLAG] = False
    except sa.exc.SQLAlchemyError as e:
        raise describe_error(url, e, "create or migrate its schema") from e


def _upgrade(conn: sa.Connection, url: str, *, create: bool) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = MigrationContext.configure(conn).get_current_revision()
    if current == HEAD_REVISION:
        return  # another process migrated while this one waited for the lock
    config = Config()
    location = str(Path(__file__).with_name("migrations"))
    config.set_main_option("script_location", location.replace("%", "%%"))
    if current is None:
        tables = sa.inspect(conn).get_table_names()
        if tables:
            raise StorageError(
                f"trial store {url}: the database has tables ({', '.join(sorted(tables)[:5])}) "
                "but is not a scitune store. Point the storage URL at a new file."
            )
        if not create:
            raise StoreNotFoundError(_no_store(url, "the database is empty"))
    else:
        known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
        if current not in known:
            raise StorageError(
                f"trial store {url}: schema revision {current!r} is unknown to this version "
                f"of scitune (newest known: {HEAD_REVISION!r}). It was written by a newer "
                "scitune, or is not a scitune store: upgrade scitune or use another file."
            )
    # env.py runs the migrations inside this connection's transaction; the caller commits.
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    raise StorageError(f"the {conn.dialect.name} backend is not supported yet; use SQLite.")


def insert_ignore(conn: sa.Connection, table: sa.Table, keys: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``."""
    return _dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))


def insert_upsert(
    conn: sa.Connection, table: sa.Table, keys: Sequence[str], update: Sequence[str]
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET`` the ``update`` columns."""
    stmt = _dialect_insert(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
    )


class Prepared:
    """A Core statement compiled once for one dialect and run straight on the DBAPI cursor.

    SQLAlchemy's execution path costs ~25 us a statement; SQLite itself runs a small one in
    ~5 us. The hot statements (claim, finish, add a trial, ingest a batch) therefore run here:
    SQLAlchemy still writes the SQL for the dialect and converts each value with the column's
    own type (e.g. aware datetimes); the transaction is still SQLAlchemy's. Positional
    paramstyles (SQLite) only, and no expanding ``IN`` parameters.
    """

    __slots__ = ("_dbapi_error", "_fill", "_results", "_template", "sql")

    def __init__(self, stmt: Any, dialect: sa.Dialect, keys: Sequence[str] = ()) -> None:
        # An INSERT without .values() is written for the columns the parameters name.
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) or None)
        binds = compiled.binds
        if not compiled.positional or any(b.expanding for b in binds.values()):
            raise ValueError("Prepared needs a positional paramstyle and no expanding binds")
        self.sql: str = compiled.string
        # Literal values are converted once into the template; each call fills in the rest.
        self._template: list[Any] = []
        self._fill: list[tuple[int, str, Any]] = []  # (position, parameter name, converter)
        for position, name in enumerate(compiled.positiontup or ()):
            bind = binds[name]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                self._template.append(None)
                self._fill.append((position, name, convert))
            else:
                value = bind.value
                self._template.append(value if convert is None else convert(value))
        columns: Sequence[Any] = (
            stmt.column_descriptions
            if isinstance(stmt, sa.Select)
            else stmt.returning_column_descriptions
        )
        self._results: list[tuple[int, Any]] = []  # (column, converter) where one is needed
        for i, column in enumerate(columns):
            convert = column["type"].dialect_impl(dialect).result_processor(dialect, None)
            if convert is not None:
                self._results.append((i, convert))
        self._dbapi_error = dialect.loaded_dbapi.Error

    def _bind(self, params: Mapping[str, Any]) -> list[Any]:
        out = self._template.copy()
        for position, name, convert in self._fill:
            value = params[name]
            out[position] = value if convert is None or value is None else convert(value)
        return out

    def rows(self, conn: sa.Connection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Run once; the rows it returns (none for a statement without RETURNING)."""
        args = self._bind(params)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, args)
            raw: Sequence[Any] = cursor.fetchall() if cursor.description else []
        except self._dbapi_error as e:
            raise sa.exc.DBAPIError.instance(self.sql, args, e, self._dbapi_error) from e
        finally:
            cursor.close()
        if not raw or not self._results:
            return raw
        out = []
        for row in raw:
            values = list(row)
            for i, convert in self._results:
                if values[i] is not None:
                    values[i] = convert(values[i])
            out.append(tuple(values))
        return out

    def many(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per parameter set (``executemany``)."""
        args = [self._bind(r) for r in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, args)
        except self._dbapi_error as e:
            raise sa.exc.DBAPIError.instance(self.sql, args, e, self._dbapi_error) from e
        finally:
            cursor.close()
