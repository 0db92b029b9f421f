"""``open_storage(url, create=False)``: open a store that exists, write nothing where none does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scitune.errors import StorageError, StoreNotFoundError
from scitune.storage import open_storage


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_missing_file_raises_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "folder" / "scitune.db"
    url = f"sqlite:///{db}"
    with pytest.raises(StoreNotFoundError) as info:
        open_storage(url, create=False)
    assert isinstance(info.value, StorageError) and isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert url in message and str(db) in message and "Run a study first" in message
    assert "--storage" not in message  # the library names no CLI flag
    assert _tree(tmp_path) == []


def test_relative_missing_file_names_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreNotFoundError, match=r"\.scitune/scitune\.db does not exist"):
        open_storage("sqlite:///.scitune/scitune.db", create=False)
    assert _tree(tmp_path) == []


def test_empty_file_is_no_store_and_stays_empty(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    with pytest.raises(StoreNotFoundError, match="is empty"):
        open_storage(f"sqlite:///{db}", create=False)
    assert db.stat().st_size == 0  # not even the WAL switch wrote to it
    assert _tree(tmp_path) == ["empty.db"]


def test_database_without_tables_gets_no_schema(tmp_path: Path) -> None:
    db = tmp_path / "blank.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # a real SQLite file, but no table in it
    with pytest.raises(StoreNotFoundError, match="the database is empty"):
        open_storage(f"sqlite:///{db}", create=False)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_existing_store_opens_and_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    store = open_storage(url)
    store.create_study("kept", {"goal": "x"}, {})
    store.close()
    reader = open_storage(url, create=False)
    assert [s.name for s in reader.list_studies()] == ["kept"]
    reader.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_store_is_always_created(url: str) -> None:
    store = open_storage(url, create=False)
    assert store.list_studies() == []
    store.close()
