"""The storage contract on a SQLite file, and what only SQLite has (WAL, migrations, files)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import scitune.storage._sql as sql_module
from scitune.errors import StorageError
from scitune.storage import NewDecision, NewTrial, Storage, TrialState, open_storage
from scitune.storage._schema import HEAD_REVISION, metadata
from scitune.storage._sql import SqlStorage
from tests.storage.contract import StorageContract, add, running

MIGRATIONS = Path(sql_module.__file__).with_name("migrations")


class TestSqlite(StorageContract):
    @pytest.fixture
    def storage_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/store/scitune.db"


class _CorePathStorage(SqlStorage):
    use_prepared = False


class TestSqliteCorePath(StorageContract):
    """The same contract through SQLAlchemy's execution path (what PostgreSQL will use)."""

    @pytest.fixture
    def storage_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/scitune.db"

    @pytest.fixture
    def storage(self, storage_url: str) -> Iterator[Storage]:
        storage = _CorePathStorage(storage_url)
        yield storage
        storage.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "scitune.db"


def test_wal_and_connection_settings(db: Path) -> None:
    store = SqlStorage(f"sqlite:///{db}")
    store.create_study("s", {}, {})
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file
    with store._engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("busy_timeout") == 30000
        assert pragma("foreign_keys") == 1
    store.close()


def test_migrated_schema_equals_metadata(db: Path) -> None:
    SqlStorage(f"sqlite:///{db}").close()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == HEAD_REVISION
    engine.dispose()


def test_head_revision_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def _store_at_0001(db: Path) -> None:
    """A store as scitune wrote it before rounds existed: schema revision 0001, with data."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    created = "2025-01-02 03:04:05.678901"  # how SQLAlchemy writes a UTC datetime to SQLite
    steps = np.array([1, 2, 3], dtype="<i8").tobytes()
    vals = np.array([0.5, np.nan, np.inf], dtype="<f8").tobytes()
    with sqlite3.connect(db) as raw:
        raw.executescript(f"""
            INSERT INTO studies VALUES (1, 'old', '{{"goal": "g"}}', '{{"position": 2}}', 1,
                                        '{created}');
            INSERT INTO trials (id, study_id, number, state, seed, slot, slot_index, attempts,
                                created_at, started_at, finished_at, value, value_kind,
                                value_step, ingested_bytes)
                VALUES (1, 1, 0, 'COMPLETE', 7, '', 0, 1, '{created}', '{created}',
                        '{created}', NULL, 3, 2, 120),
                       (2, 1, 1, 'PENDING', 8, '', 1, 0, '{created}', NULL, NULL, NULL, NULL,
                        NULL, 0);
            INSERT INTO trial_params VALUES (1, 'lr', 'float', 0.1, NULL, NULL),
                                            (1, 'layers', 'int', NULL, 3, NULL),
                                            (1, 'bn', 'bool', NULL, 1, NULL),
                                            (2, 'lr', 'float', NULL, NULL, 'inf');
            INSERT INTO metrics VALUES (1, 1, 'loss');
        """)
        raw.execute("INSERT INTO measurement_chunks VALUES (1, 1, 0, ?, ?, 3)", (steps, vals))
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
        assert "studies" in tables and "rounds" not in tables


def test_store_at_0001_upgrades_in_place(db: Path) -> None:
    _store_at_0001(db)
    store = SqlStorage(f"sqlite:///{db}")  # migrates to the head revision on open
    study = store.get_study("old")
    assert (study.id, study.spec, study.sampler_state, study.state_version) == (
        1, {"goal": "g"}, {"position": 2}, 1,
    )  # fmt: skip
    assert study.created_at.utcoffset() is not None
    assert len(study.uid) == 32  # revision 0003 gave the old study an instance id
    done, pending = store.get_trials(study.id)
    assert (done.state, done.seed, done.value_step, done.ingested_bytes) == (
        TrialState.COMPLETE, 7, 2, 120,
    )  # fmt: skip
    assert done.value is not None and math.isnan(done.value)
    assert done.params == {"lr": 0.1, "layers": 3, "bn": True}
    assert type(done.params["bn"]) is bool and pending.params == {"lr": math.inf}
    curve = store.get_curves(study.id)[done.id]["loss"]
    assert curve.steps.tolist() == [1, 2, 3] and curve.values[0] == 0.5
    assert np.isnan(curve.values[1]) and curve.values[2] == np.inf
    # The new tables are there and work with the old data.
    store.create_round("after the upgrade")
    store.attach_study(1, study.id)
    store.add_decision(NewDecision("adopt", dict(done.params), study="old", round_number=1))
    assert store.get_round(1).studies == ("old",)
    new = [NewTrial({}, seed=1)]
    (added,) = store.add_trials(study.id, new, sampler_state={}, expected_version=1)
    assert added.number == 2
    # Attempts (0003) work on old trials: the pending one keeps no stale folder.
    claimed = store.claim_trial(study.id, worker="w", trial_dir="t/{number}")
    assert claimed is not None and (claimed.number, claimed.dir, claimed.attempts) == (1, "t/1", 1)
    store.finish_trial(claimed.id, TrialState.FAILED, reason="boom")
    assert store.get_attempts(study.id)[claimed.id][0].reason == "boom"
    store.close()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert {"rounds", "round_studies", "decisions"} <= set(sa.inspect(conn).get_table_names())
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == HEAD_REVISION
        assert compare_metadata(context, metadata) == []
    engine.dispose()
    again = SqlStorage(f"sqlite:///{db}")
    assert [d.study for d in again.list_decisions()] == ["old"]
    again.close()


def test_one_open_round_is_enforced_by_the_database(db: Path) -> None:
    """Backends without a write lock (PostgreSQL) rely on the unique index, not on the check."""
    store = SqlStorage(f"sqlite:///{db}")
    store.create_round("g")
    store.close()
    insert = "INSERT INTO rounds (number, goal, state, created_at) VALUES (?, 'x', ?, '2025-01-01')"
    with sqlite3.connect(db) as raw, pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        raw.execute(insert, (2, "open"))
    with sqlite3.connect(db) as raw:  # closed rounds are not limited
        raw.execute(insert, (2, "closed"))
        raw.execute(insert, (3, "closed"))


def test_bad_decisions_write_nothing(db: Path) -> None:
    store = SqlStorage(f"sqlite:///{db}")
    with pytest.raises(ValueError, match="'adopt' or 'reject', got 'keep'"):
        store.add_decision(NewDecision("keep", {"lr": 0.1}))
    with pytest.raises(ValueError, match="must be a float, int, bool or str"):
        store.add_decision(NewDecision("adopt", {"lr": [0.1]}))  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="evidence must be JSON-serialisable"):
        store.add_decision(NewDecision("reject", {}, evidence={"when": object()}))
    store.create_round("g")
    with pytest.raises(ValueError, match="findings must be JSON-serialisable"):
        store.close_round(1, decision="d", findings={"x": {1, 2}})
    assert store.list_decisions() == [] and store.get_round(1).state == "open"
    # NumPy values in evidence are plain numbers once stored.
    added = store.add_decision(
        NewDecision("adopt", {"lr": np.float64(0.1)}, evidence={"n": np.int64(3), "a": np.ones(2)})
    )
    assert added.evidence == {"n": 3, "a": [1.0, 1.0]} and type(added.params["lr"]) is float
    store.close()


def test_schema_drift_is_detected(db: Path) -> None:
    """The comparison above would notice a column the migrations do not create."""
    SqlStorage(f"sqlite:///{db}").close()
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["trials"].append_column(sa.Column("extra", sa.Integer))
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), changed) != []
    engine.dispose()


def test_reopen_keeps_data_and_skips_alembic(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {"a": 1}, {})
    trial = running(store, study, lr=0.5)
    store.add_measurements(trial.id, {"loss": (np.array([1, 2]), np.array([0.5, np.nan]))})

    def no_migration(*args: object, **kwargs: object) -> None:
        raise AssertionError("a store at the newest revision must open without Alembic")

    monkeypatch.setattr("alembic.command.upgrade", no_migration)
    again = SqlStorage(f"sqlite:///{db}")
    assert again.get_study("s") == store.get_study("s")
    assert again.get_study("s").spec == study.spec
    assert again.get_trial(study.id, 0).params == {"lr": 0.5, "i": 0}
    curve = again.get_curves(study.id)[trial.id]["loss"]
    assert curve.steps.tolist() == [1, 2] and np.isnan(curve.values[1])
    again.close()
    store.close()


def test_relative_path_is_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_storage("sqlite:///.scitune/deep/er/scitune.db")
    store.create_study("s", {}, {})
    monkeypatch.chdir("/")  # the path was fixed when the store opened
    assert [s.name for s in store.list_studies()] == ["s"]
    store.close()
    assert (tmp_path / ".scitune/deep/er/scitune.db").is_file()


def test_in_memory_store() -> None:
    store = open_storage("sqlite://")
    study = store.create_study("s", {}, {})
    assert [t.number for t in add(store, study, 2)] == [0, 1]
    store.close()


def test_file_that_is_not_a_database(db: Path) -> None:
    db.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StorageError, match="not a SQLite database") as info:
        SqlStorage(f"sqlite:///{db}")
    assert str(db) in str(info.value)


def test_database_of_something_else(db: Path) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
    with pytest.raises(StorageError, match="not a scitune store"):
        SqlStorage(f"sqlite:///{db}")


def test_database_from_a_newer_scitune(db: Path) -> None:
    SqlStorage(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StorageError, match="newer scitune"):
        SqlStorage(f"sqlite:///{db}")


def test_bad_url() -> None:
    with pytest.raises(StorageError, match="not a database URL"):
        open_storage("not a url")


def test_numpy_scalars_and_extreme_parameters(db: Path) -> None:
    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {}, {})
    params = {
        "f": np.float64(0.5), "i": np.int64(3), "b": np.bool_(True), "huge": 2**80,
        "nan": float("nan"), "inf": float("inf"),
    }  # fmt: skip
    new = NewTrial(params, seed=2**63 - 1, slot_index=np.int64(4), parent_number=np.int64(0))
    (added,) = store.add_trials(study.id, [new], sampler_state={}, expected_version=0)
    got = store.get_trial(study.id, 0)
    assert dataclasses.replace(got, params={}) == dataclasses.replace(added, params={})
    assert (got.seed, got.slot_index, got.parent_number) == (2**63 - 1, 4, 0)
    assert type(added.slot_index) is int and type(got.slot_index) is int
    p = got.params
    assert (type(p["f"]), type(p["i"]), type(p["b"]), type(p["huge"])) == (float, int, bool, int)
    assert (p["f"], p["i"], p["b"], p["huge"], p["inf"]) == (0.5, 3, True, 2**80, float("inf"))
    assert isinstance(p["nan"], float) and p["nan"] != p["nan"]
    with pytest.raises(ValueError, match="64-bit"):
        store.add_trials(study.id, [NewTrial({}, seed=2**64)], sampler_state={}, expected_version=1)
    with pytest.raises(ValueError, match="must be a float, int, bool or str"):
        store.add_trials(
            study.id, [NewTrial({"x": [1]}, seed=0)], sampler_state={}, expected_version=1
        )
    assert store.get_study("s").state_version == 1
    store.close()


def test_requeue_resets_the_ingest_offset(db: Path) -> None:
    """A rerun may write a new metrics file; reading it from the start is safe (idempotent)."""
    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {}, {})
    trial = running(store, study)
    store.add_measurements(trial.id, {"loss": (np.array([1]), np.array([1.0]))}, ingested_bytes=50)
    back = store.requeue_trial(trial.id, "interrupted")
    assert back.ingested_bytes == 0 and back.worker is None and back.started_at is None
    assert len(store.get_curves(study.id)[trial.id]["loss"]) == 1  # nothing is lost
    store.close()


def test_finish_compacts_chunks(db: Path) -> None:
    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {}, {})
    trial = running(store, study)
    for k in range(5):
        steps = np.arange(k * 10, k * 10 + 20)  # overlapping batches
        store.add_measurements(trial.id, {"loss": (steps, steps * 1.0 + k), "lr": (steps, steps)})
    before = store.get_curves(study.id)
    store.finish_trial(trial.id, TrialState.COMPLETE)
    assert store.get_curves(study.id) == before
    with sqlite3.connect(db) as raw:
        rows = raw.execute("SELECT metric_id, chunk, n FROM measurement_chunks").fetchall()
    assert sorted(rows) == [(1, 0, 60), (2, 0, 60)]
    store.close()


def test_storage_is_usable_from_threads(db: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {}, {})
    add(store, study, 40)

    def claim_all() -> list[int]:
        out = []
        while (t := store.claim_trial(study.id, worker="t", trial_dir="d")) is not None:
            out.append(t.number)
        return out

    with ThreadPoolExecutor(4) as pool:
        claimed = [n for part in pool.map(lambda _: claim_all(), range(4)) for n in part]
    assert sorted(claimed) == list(range(40))
    store.close()


def test_a_store_deleted_under_a_writer_is_noticed(db: Path) -> None:
    from scitune.errors import StoreVanishedError

    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {}, {})
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreVanishedError, match="deleted or replaced"):
        store.add_trials(study.id, [NewTrial({}, seed=1)], sampler_state={}, expected_version=0)
    store.close()


def test_a_store_replaced_under_a_writer_is_noticed(db: Path, tmp_path: Path) -> None:
    from scitune.errors import StoreVanishedError

    store = SqlStorage(f"sqlite:///{db}")
    study = store.create_study("s", {}, {})
    other_path = tmp_path / "other.db"
    SqlStorage(f"sqlite:///{other_path}").close()
    other_path.replace(db)  # another database now sits at the same path
    with pytest.raises(StoreVanishedError):
        store.create_study("t", {}, {})
    with pytest.raises(StoreVanishedError):  # and stays refused
        store.add_trials(study.id, [], sampler_state={}, expected_version=0)
    store.close()
