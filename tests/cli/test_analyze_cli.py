"""``scitune analyze`` and ``scitune report`` in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scitune.cli import app

HERE = Path(__file__).parent
TOY = HERE.parent / "execution" / "toy.py"  # the runner tests' toy entrypoint
runner = CliRunner()

STUDY = """
name = "toy-analyze"

[entrypoint]
python = "toy:main"

[objective]
metric = "dev_error"

[budget]
trials = 8
max_train_steps = 100

[nuisance]
learning_rate = { low = 1e-4, high = 1e-3, scale = "log" }
"""


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(TOY, tmp_path / "toy.py")
    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "study.toml", "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    return tmp_path / "study.toml"


def test_analyze_json_gives_findings_with_their_evidence(ran: Path) -> None:
    result = runner.invoke(app, ["analyze", "toy-analyze", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["study"] == "toy-analyze" and data["counts"]["COMPLETE"] == 8
    for f in data["findings"]:
        assert {"code", "severity", "message", "action", "section", "evidence"} <= set(f)
    # The toy's optimum (lr = 1e-2) lies above this range: the boundary check must say so.
    edge = [f for f in data["findings"] if f["code"] == "boundary.near_edge"]
    assert edge and edge[0]["evidence"]["edge"] == "high"
    assert data["settings"]["boundary_margin"] == 0.1


def test_analyze_terminal_and_set_overrides(ran: Path) -> None:
    shown = runner.invoke(app, ["analyze", str(ran)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "boundary.near_edge" in shown.stdout
    assert "Expand learning_rate upward" in shown.stdout
    wider = runner.invoke(app, ["analyze", "toy-analyze", "--json", "--set", "boundary_margin=0.3"])
    assert json.loads(wider.stdout)["settings"]["boundary_margin"] == 0.3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--set", "boundary_margn=0.3"], "Did you mean 'boundary_margin'?"),
        (["--set", "boundary_margin=wide"], "must be a number in (0, 0.5)"),
        (["--set", "boundary_margin"], "expected NAME=VALUE"),
    ],
)
def test_bad_settings_are_clear_errors(ran: Path, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["analyze", "toy-analyze", *args], env={"COLUMNS": "300"})
    assert result.exit_code == 1 and fragment in result.output


def test_settings_lists_every_threshold_with_its_default() -> None:
    result = runner.invoke(app, ["analyze", "--settings"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert "boundary_margin = 0.1" in result.stdout and "Ours." in result.stdout


def test_report_writes_one_offline_file(ran: Path) -> None:
    pytest.importorskip("plotly")
    (ran.parent / "out").mkdir()
    result = runner.invoke(app, ["report", "toy-analyze", "-o", "out/r.html", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    html = Path(info["written"]).read_text()
    assert info["bytes"] == len(html.encode())
    assert "toy-analyze" in html and "<script src=" not in html


def test_report_into_a_missing_or_wrong_place_is_refused(ran: Path) -> None:
    pytest.importorskip("plotly")
    def tree() -> list[Path]:  # SQLite's -wal/-shm come and go with connections
        return sorted(p for p in ran.parent.rglob("*") if not p.name.endswith(("-wal", "-shm")))

    before = tree()
    missing = runner.invoke(app, ["report", "toy-analyze", "-o", "nope/deeper/r.html"])
    text = " ".join(missing.output.split())
    assert missing.exit_code == 1, text
    assert "the folder nope/deeper does not exist" in text and "mkdir -p nope/deeper" in text
    assert not (ran.parent / "nope").exists()
    folder = runner.invoke(app, ["report", "toy-analyze", "-o", ".", "--json"])
    assert folder.exit_code == 1
    assert "is a folder" in json.loads(folder.stdout)["error"]["message"]
    assert tree() == before
