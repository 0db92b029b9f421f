"""``scitune delete``: asks, removes a study with its trials, curves and files, keeps others,
and refuses a study that a decision names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scitune.cli import app
from scitune.study import Study

HERE = Path(__file__).parent
TOY = HERE.parent / "execution" / "toy.py"
runner = CliRunner()

STUDY = """
name = "{name}"
goal = "delete test"

[entrypoint]
python = "toy:main"

[objective]
metric = "dev_error"

[budget]
trials = 2
max_train_steps = 30

[nuisance]
learning_rate = {{ low = 1e-3, high = 1.0, scale = "log" }}
"""


@pytest.fixture
def two_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    shutil.copy(TOY, tmp_path / "toy.py")
    monkeypatch.chdir(tmp_path)
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.toml"
        path.write_text(STUDY.format(name=name))
        assert runner.invoke(app, ["run", str(path), "--json"]).exit_code == 0
        paths.append(path)
    return paths[0], paths[1]


def test_delete_asks_then_removes_the_study_and_its_files(two_studies: tuple[Path, Path]) -> None:
    a, _ = two_studies
    folder = Study.load(str(a)).artifacts_dir()
    assert (folder / "trial-0" / "attempt-1" / "metrics.jsonl").is_file()
    refused = runner.invoke(app, ["delete", "a"], input="n\n")
    assert refused.exit_code == 1 and folder.is_dir()  # said no: nothing removed
    done = runner.invoke(app, ["delete", "a"], input="y\n")
    assert done.exit_code == 0, done.output
    assert "Deleted study a: 2 trial(s)" in done.output
    assert not folder.exists()
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert [s["study"] for s in status] == ["b"]
    kept = Study.load("b")
    assert len(kept.trials()) == 2 and kept.artifacts_dir().is_dir()
    # The name is free again; the new study's files are its own, never the old ones.
    again = runner.invoke(app, ["run", str(a), "--json"])
    assert again.exit_code == 0
    assert Study.load("a").artifacts_dir() != folder


def test_delete_for_scripts_needs_yes_with_json(two_studies: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["delete", "b", "--json"])
    assert result.exit_code == 1 and "needs --yes" in result.stdout
    result = runner.invoke(app, ["delete", "b", "--json", "--yes"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["trials"] == 2


def test_delete_refuses_a_study_a_decision_names(two_studies: tuple[Path, Path]) -> None:
    adopted = runner.invoke(app, ["adopt", "a#0", "--force", "--notes", "first baseline"])
    assert adopted.exit_code == 0, adopted.output
    result = runner.invoke(app, ["delete", "a", "--yes"])
    assert result.exit_code == 1
    assert "decisions refer to it" in result.output
    assert len(Study.load("a").trials()) == 2


def test_delete_of_an_unknown_study_is_a_clear_error(two_studies: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["delete", "nope", "--yes"])
    assert result.exit_code == 1 and "no study file or study named 'nope'" in result.output
