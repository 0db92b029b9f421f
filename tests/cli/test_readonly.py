"""Commands that only read say so when there is no store, and leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scitune.cli import app

runner = CliRunner()

STUDY = """
name = "never-run"

[entrypoint]
python = "toy:main"

[objective]
metric = "dev_error"

[budget]
trials = 2
max_train_steps = 10

[nuisance]
learning_rate = { low = 1e-4, high = 1e-3, scale = "log" }
"""

READERS = [
    ["status"],
    ["status", "never-run"],
    ["trials", "never-run"],
    ["analyze", "never-run"],
    ["report", "never-run"],
    ["compare", "baseline", "never-run#0"],
    ["compare", "never-run#0", "never-run#1"],
    ["baseline", "show"],
    ["baseline", "history"],
    ["round", "list"],
    ["round", "show"],
    ["round", "show", "1"],
]
STORES = ["default", "flag", "environment"]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _invoke(args: list[str], store: str, root: Path) -> tuple[int, str]:
    """Run ``args`` on a store that does not exist: the default one, or one named elsewhere."""
    missing = f"sqlite:///{root / 'missing' / 'folder' / 'scitune.db'}"
    env = {"SCITUNE_STORAGE": missing} if store == "environment" else {}
    flag = ["--storage", missing] if store == "flag" else []
    result = runner.invoke(app, [*args, *flag], env=env)
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCITUNE_STORAGE", raising=False)
    return tmp_path


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_reader_on_a_missing_store_fails_and_creates_nothing(
    empty: Path, args: list[str], store: str
) -> None:
    if args[0] == "report":
        pytest.importorskip("plotly")
    code, output = _invoke(args, store, empty)
    assert code == 1, output
    assert "no trial store at sqlite:///" in output
    assert "--storage or $SCITUNE_STORAGE" in output  # the CLI names the way to another store
    assert "internal error" not in output
    assert _tree(empty) == []  # no .scitune, no db file, no -wal/-shm, no report


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("command", ["status", "trials", "analyze", "report"])
def test_reader_of_a_study_file_never_run_says_to_run_it(
    empty: Path, command: str, store: str
) -> None:
    if command == "report":
        pytest.importorskip("plotly")
    (empty / "study.toml").write_text(STUDY)
    code, output = _invoke([command, "study.toml"], store, empty)
    assert code == 1, output
    assert "study 'never-run' (from study.toml) has not been run yet" in output
    assert "there is no trial store at sqlite:///" in output
    assert "`scitune run study.toml`" in output
    assert _tree(empty) == ["study.toml"]


def test_json_error_names_the_missing_store(empty: Path) -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "StoreNotFoundError"
    assert str(empty / ".scitune" / "scitune.db") in error["message"]
    assert _tree(empty) == []
