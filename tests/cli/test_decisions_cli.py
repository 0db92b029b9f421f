"""Reseed, compare, adopt/reject, baseline and rounds: the decisions workflow in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scitune.cli import app

HERE = Path(__file__).parent
TOY = HERE.parent / "execution" / "toy.py"  # the runner tests' toy entrypoint
runner = CliRunner()
WIDE = {"COLUMNS": "300"}

GRID = """
name = "lr-grid"

[entrypoint]
python = "toy:main"

[objective]
metric = "dev_error"

[[constraints]]
metric = "train_loss"
max = 0.6

[budget]
trials = 4
max_train_steps = 50

[search]
sampler = "grid"

[nuisance]
learning_rate = { values = [0.001, 0.01, 0.0105, 0.3] }
"""


def cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(TOY, tmp_path / "toy.py")
    (tmp_path / "grid.toml").write_text(GRID)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOY_NOISE", "0.01")  # retrain noise: each seed shifts the curve
    return tmp_path


def test_a_full_round(project: Path) -> None:
    assert cli("round", "start", "--goal", "Which learning rate?")["number"] == 1
    again = runner.invoke(app, ["round", "start", "--goal", "x"], env=WIDE)
    assert again.exit_code == 1 and "round 1 ('Which learning rate?') is still open" in again.output

    cli("run", "grid.toml", "--workers", "2")
    assert cli("round", "show")["studies"] == ["lr-grid"]  # run attaches to the open round

    queued = cli("reseed", "lr-grid", "--top", "3", "--seeds", "3", "--workers", "2")["queued"]
    assert len(queued) == 9 and {q["parent"] for q in queued} == {0, 1, 2}
    assert cli("reseed", "lr-grid", "--top", "3", "--seeds", "3")["queued"] == []  # idempotent
    rows = {r["number"]: r for r in cli("trials", "lr-grid")}
    assert rows[1]["config"]["runs"] == 4 and rows[1]["config"]["se"] > 0
    assert {rows[n]["rerun_of"] for n in range(4, 13)} == {0, 1, 2}
    assert len({rows[n]["seed"] for n in rows}) == len(rows)  # every run its own seed

    nearby = cli("compare", "lr-grid#1", "lr-grid#2")
    assert nearby["verdict"] == "not enough evidence"
    assert nearby["ci_low"] < 0 < nearby["ci_high"]
    far = cli("compare", "lr-grid#0", "lr-grid#1")
    assert far["verdict"] == "adopt" and far["ci_low"] > 0 and far["p_better"] > 0.99
    costly = cli("compare", "lr-grid#0", "lr-grid#1", "--cost", "5")
    assert costly["verdict"] == "not enough evidence" and costly["seeds_needed"] is None

    first = cli("adopt", "lr-grid#0", "--notes", "start")
    assert first["kind"] == "adopt" and first["round_number"] == 1
    second = cli("adopt", "lr-grid#1")
    assert second["evidence"]["comparison"]["verdict"] == "adopt"
    refused = runner.invoke(app, ["adopt", "lr-grid#2"], env=WIDE)
    assert refused.exit_code == 1 and "not enough evidence" in refused.output
    assert "--force" in refused.output
    cli("reject", "lr-grid#2", "--reason", "within noise of 1e-2")

    closed = cli("round", "close", "--decision", "adopt lr=1e-2", "--notes", "1.05e-2 equal")
    assert closed["state"] == "closed" and "lr-grid" in closed["findings"]
    assert cli("baseline", "show")["trial_number"] == 1
    history = cli("baseline", "history")
    assert [(d["kind"], d["trial_number"]) for d in history] == [
        ("adopt", 0),
        ("adopt", 1),
        ("reject", 2),
    ]
    shown = runner.invoke(app, ["baseline", "history"], env=WIDE)
    assert "learning_rate 0.001 → 0.01" in shown.stdout

    # The analysis reads the reruns: trial variance is measured now.
    codes = {f["code"] for f in cli("analyze", "lr-grid")["findings"]}
    assert "variance.trial" in codes and "variance.unmeasured" not in codes


def test_a_constraint_breaker_never_wins(project: Path) -> None:
    cli("run", "grid.toml", "--workers", "2")
    # lr = 0.3 trains badly: train_loss > 0.6 breaks the constraint.
    rows = {r["number"]: r for r in cli("trials", "lr-grid")}
    assert rows[3]["constraint_violations"] and rows[3]["rank"] is None
    cli("adopt", "lr-grid#1")
    verdict = cli("compare", "baseline", "lr-grid#3")
    assert verdict["verdict"] == "worse" and "constraint" in verdict["reasons"][0]
    refused = runner.invoke(app, ["adopt", "lr-grid#3", "--force"], env=WIDE)
    assert refused.exit_code == 1 and "never adopted" in refused.output


def test_a_study_can_start_from_the_baseline(project: Path) -> None:
    (project / "next.toml").write_text(
        GRID.replace('name = "lr-grid"', 'name = "modes"\nbase = "baseline"')
        .replace('[search]\nsampler = "grid"\n', "")
        .replace(
            "[nuisance]\nlearning_rate = { values = [0.001, 0.01, 0.0105, 0.3] }",
            '[scientific]\nmode = { values = ["ok", "silent"] }',
        )
    )
    early = runner.invoke(app, ["run", "next.toml"], env=WIDE)
    assert early.exit_code == 1 and "no baseline has been adopted" in early.output
    cli("run", "grid.toml", "--workers", "2")
    cli("adopt", "lr-grid#1")
    cli("run", "next.toml", "--workers", "2")
    rows = cli("trials", "modes")
    assert {r["params"]["learning_rate"] for r in rows} == {0.01}  # inherited, fixed
    assert cli("status", "modes")["based_on"] == 1
