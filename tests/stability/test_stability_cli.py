"""The measured-choice commands in-process (typer's CliRunner), on a fast toy trainer.

Each command derives a study, writes it, runs it (real trial processes), reads it and writes an
offline HTML page; ``--json`` carries the result.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scitune.cli import app
from scitune.spec import load_spec

HERE = Path(__file__).parent
runner = CliRunner()

STUDY = """
name = "toy"
goal = "stability tools"

[entrypoint]
python = "toy_stability:main"

[objective]
metric = "dev_error"

[budget]
trials = 3
max_train_steps = 1000

[nuisance]
learning_rate = { low = 1e-3, high = 0.1, scale = "log" }
weight_decay = { low = 1e-5, high = 1e-2, scale = "log" }

[fixed]
lr_schedule = "constant"
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(HERE / "toy_stability.py", tmp_path / "toy_stability.py")
    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "study.toml"


def invoke(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "img", "iframe"):
            self.sources.append(dict(attrs).get("src") or dict(attrs).get("href"))


def assert_offline_page(path: Path) -> None:
    """One HTML file that loads nothing: every script is inline, plotly.js included."""
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in text
    parser = _Scripts()
    parser.feed(text)
    assert parser.sources and all(src is None for src in parser.sources)
    assert text.count("plotly.js v") >= 1  # the bundle itself is inlined


def test_max_steps_recommends_the_fastest_fit_and_resumes(toy: Path) -> None:
    data = invoke("recommend", "max-steps", str(toy), "--steps", "600", "--trials", "3", "-w", "2")
    # Toy: progress min(lr, 1)/step; train error 0 after ~45 units: lr 0.1 fits at step 450.
    assert data["recommended"] == 450
    result = data["result"]
    assert result["fastest_lr"] == 0.1 and result["edge"] == "high"
    codes = [f["code"] for f in result["findings"]]
    assert "max_steps.lr_at_edge" in codes and "max_steps.best_steps" in codes
    assert result["sweep_best_steps"]["study"] == "toy-max-steps"
    assert result["study_best_steps"] is None  # the user's study has not run
    assert any("weight_decay: searched (nuisance) -> 0" in c for c in data["changes"])
    written = load_spec(data["study_file"])
    assert written.fixed["weight_decay"] == 0.0 and written.search.sampler == "grid"
    assert tomllib.loads(Path(data["study_file"]).read_text())["name"] == "toy-max-steps"
    assert_offline_page(Path(data["figure"]))
    again = invoke("recommend", "max-steps", str(toy), "--steps", "600", "--trials", "3")
    assert again["recommended"] == 450 and again["counts"]["COMPLETE"] == 3


def test_a_changed_sweep_needs_a_new_name_or_force(toy: Path) -> None:
    invoke("recommend", "max-steps", str(toy), "--steps", "100", "--trials", "2")
    clash = runner.invoke(
        app, ["recommend", "max-steps", str(toy), "--steps", "200", "--trials", "2", "--json"]
    )
    assert clash.exit_code == 1 and "--force" in json.loads(clash.stdout)["error"]["message"]
    data = invoke(
        "recommend", "max-steps", str(toy), "--steps", "200", "--trials", "2", "--name", "longer"
    )
    assert data["study"] == "longer" and Path(data["study_file"]).name == "longer.toml"


def test_lr_sweep_then_warmup_reads_the_unstable_lr_from_it(toy: Path) -> None:
    data = invoke(
        "stability", "lr-sweep", str(toy), "--steps", "100", "--per-decade", "2", "-w", "2"
    )
    # Toy: a constant LR above 1.2 diverges at once; the best dev error is at the fastest
    # stable LR. Sweep 1e-3 .. 10 at 2 per decade.
    assert data["lr_star"] == 1.0 and data["unstable_lr"] == 3.16
    above = [p for p in data["result"]["points"] if p["lr"] >= 3.16]
    assert len(above) == 2 and all(p["verdict"]["stable"] is False for p in above)
    assert_offline_page(Path(data["figure"]))

    warm = invoke("stability", "warmup", str(toy), "--factor", "1", "-w", "2")
    assert warm["unstable_lr"] == 3.16
    # 10% of 1000 steps caps the sweep at [10, 100]; the toy needs the ramp of 100.
    assert warm["chosen"] == [[3.16, 100]]
    codes = [f["code"] for f in warm["result"]["findings"]]
    assert codes == ["warmup.chosen", "warmup.long"]
    spec = load_spec(warm["study_file"])
    assert spec.budget.max_train_steps == 300  # 100 of warmup, then 2x 100 at the base rate


def test_early_probe_and_clipping_after_the_study_has_run(toy: Path) -> None:
    assert runner.invoke(app, ["run", str(toy), "-w", "2", "--json"]).exit_code == 0
    early = invoke("stability", "early", str(toy), "--steps", "60")
    assert early["unstable"] is False
    spec = load_spec(early["study_file"])
    assert spec.fixed["eval_every"] == 1 and spec.budget.max_train_steps == 60
    assert_offline_page(Path(early["figure"]))

    clip = invoke("stability", "clipping", str(toy), "--threshold", "0.01")
    result = clip["result"]
    assert clip["threshold"] == result["threshold"] > 0
    assert result["user_fraction"] == 1.0  # every norm is above 0.01
    (share,) = clip["measured"].values()
    assert 0.0 <= share <= 1.0
    assert "clipping.aggressive" in [f["code"] for f in result["findings"]]
    assert load_spec(clip["study_file"]).fixed["grad_clip"] == pytest.approx(
        clip["threshold"], rel=0.01
    )
    assert_offline_page(Path(clip["figure"]))


def test_commands_that_need_results_say_what_to_run_first(toy: Path) -> None:
    result = runner.invoke(app, ["stability", "early", str(toy), "--json"])
    assert result.exit_code == 1 and "--lr" in json.loads(result.stdout)["error"]["message"]
    result = runner.invoke(app, ["stability", "warmup", str(toy), "--json"])
    assert result.exit_code == 1
    assert "stability lr-sweep" in json.loads(result.stdout)["error"]["message"]
    result = runner.invoke(app, ["stability", "clipping", str(toy), "--json"])
    assert result.exit_code == 1 and "run it first" in json.loads(result.stdout)["error"]["message"]


def test_terminal_output_names_the_study_file_the_changes_and_the_figure(toy: Path) -> None:
    result = runner.invoke(
        app,
        ["recommend", "max-steps", str(toy), "--steps", "100", "--trials", "2"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "toy-max-steps.toml" in result.output and "weight_decay" in result.output
    assert "max_steps" in result.output and "toy-max-steps.html" in result.output
