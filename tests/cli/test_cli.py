"""The CLI in-process (typer's CliRunner) and once as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scitune.cli import app
from scitune.spec import load_spec

HERE = Path(__file__).parent
TOY = HERE.parent / "execution" / "toy.py"  # the runner tests' toy entrypoint
REPO = HERE.parent.parent
runner = CliRunner()

TOY_STUDY = """
name = "cli-toy"
goal = "cli test"

[entrypoint]
python = "toy:main"

[objective]
metric = "dev_error"

[[constraints]]
metric = "train_loss"
max = 0.5

[budget]
trials = 4
max_train_steps = 50

[scientific]
mode = { values = ["ok", "crash"] }

[nuisance]
learning_rate = { low = 1e-4, high = 1.0, scale = "log" }
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(TOY, tmp_path / "toy.py")
    (tmp_path / "study.toml").write_text(TOY_STUDY)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "study.toml"


def test_run_then_trials_status_in_every_format(toy: Path) -> None:
    result = runner.invoke(app, ["run", str(toy), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"] == {
        "pending": 0, "running": 0, "complete": 4, "infeasible": 0, "failed": 4
    }

    rows = json.loads(runner.invoke(app, ["trials", "cli-toy", "--json"]).stdout)
    assert len(rows) == 8
    for row in rows:
        assert {"number", "state", "params", "seed", "score", "score_step", "reason"} <= set(row)
    ok = [r for r in rows if r["state"] == "COMPLETE"]
    failed = [r for r in rows if r["state"] == "FAILED"]
    assert all("toy crash" in r["reason"] for r in failed)
    # The constraint filters before ranking: train_loss = dev/2 > 0.5 breaks it.
    for r in ok:
        assert (r["rank"] is None) == bool(r["constraint_violations"])
    ranked = sorted((r for r in ok if r["rank"]), key=lambda r: r["rank"])
    assert [r["score"] for r in ranked] == sorted(r["score"] for r in ranked)

    text = runner.invoke(app, ["trials", str(toy), "--format", "csv"]).stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 8
    assert {"number", "state", "score", "mode", "learning_rate"} <= set(table[0])

    shown = runner.invoke(app, ["trials", str(toy)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "learning_rate" in shown.stdout

    status = json.loads(runner.invoke(app, ["status", "cli-toy", "--json"]).stdout)
    assert status["counts"]["total"] == 8 and status["planned"] == 8
    listing = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert listing == [{"study": "cli-toy", "counts": status["counts"]}]
    human = runner.invoke(app, ["status", str(toy)])
    assert human.exit_code == 0 and "4 complete" in human.stdout


def test_run_stores_where_the_flag_or_environment_says(toy: Path) -> None:
    other = f"sqlite:///{toy.parent / 'other.db'}"
    env = {"SCITUNE_STORAGE": other}
    result = runner.invoke(app, ["run", str(toy), "--max-trials", "1", "--json"], env=env)
    assert result.exit_code == 0, result.output
    # The study went to the environment's store, not to the file's default one.
    assert json.loads(runner.invoke(app, ["status", "--json"], env=env).stdout)[0]["study"] == (
        "cli-toy"
    )
    assert not (toy.parent / ".scitune" / "scitune.db").exists()
    third = f"sqlite:///{toy.parent / 'third.db'}"
    flagged = runner.invoke(
        app, ["run", str(toy), "--max-trials", "1", "--storage", third, "--json"], env=env
    )
    assert flagged.exit_code == 0, flagged.output
    listing = runner.invoke(app, ["status", "--storage", third, "--json"]).stdout
    assert [s["study"] for s in json.loads(listing)] == ["cli-toy"]


def test_init_writes_a_study_that_parses_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert load_spec(tmp_path / "study.toml").name == "my-study"
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 1 and "--force" in again.output
    assert runner.invoke(app, ["init", "m.toml", "--example", "mnist1d"]).exit_code == 0
    spec = load_spec(tmp_path / "m.toml")
    assert spec.entrypoint.python == "examples.mnist1d.train:main"
    # The template is the example's own study file.
    assert (tmp_path / "m.toml").read_text() == (REPO / "examples/mnist1d/study.toml").read_text()


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["run", "missing.toml"], 1, "missing.toml: no such study file"),
        (["trials", "nope"], 1, "no study file or study named 'nope'"),
        (["status", "nope"], 1, "no study file or study named 'nope'"),
        (["run", "bad.toml"], 1, "bad.toml"),
        (["run", "typo.toml"], 1, "unknown field 'trails' in [budget]; did you mean 'trials'?"),
        (["run", "study.toml", "--workers", "0"], 2, "workers"),
        (["run", "study.toml", "--backend", "ray"], 1, "not available"),
        (["frobnicate"], 2, "No such command"),
    ],
)
def test_errors_are_messages_with_the_right_exit_code(
    toy: Path, args: list[str], code: int, fragment: str
) -> None:
    Path("bad.toml").write_text("name = 'x'\n[budget\ntrials = 3\n")
    Path("typo.toml").write_text(TOY_STUDY.replace("trials = 4", "trails = 4"))
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_json_errors_are_json(toy: Path) -> None:
    result = runner.invoke(app, ["trials", "nope", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["type"] == "StoreNotFoundError"  # none run yet


def test_end_to_end_subprocess_with_a_non_python_trial(tmp_path: Path) -> None:
    """The README's shell example, through the installed ``scitune`` command."""
    shutil.copytree(REPO / "examples" / "shell", tmp_path / "examples" / "shell")
    exe = shutil.which("scitune") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "scitune"]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [*cmd, "run", "examples/shell/study.toml", "--workers", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "shell-toy" in done.stdout
    rows = json.loads(
        subprocess.run(
            [*cmd, "trials", "shell-toy", "--json"], cwd=tmp_path, capture_output=True,
            text=True, timeout=60,
        ).stdout
    )
    states = {r["state"] for r in rows}
    assert len(rows) == 8 and states <= {"COMPLETE", "INFEASIBLE"}
    for r in rows:
        if r["params"]["learning_rate"] > 0.5:
            assert r["state"] == "INFEASIBLE" and r["reason"] == "lr too high"
        else:
            assert r["state"] == "COMPLETE" and r["score_step"] == 500
