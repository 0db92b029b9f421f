"""refine (ranges around the best trials) and extend (round 2 with extended schedules)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scitune.cli import app
from scitune.extend import _low_share
from scitune.integrations._torch_schedules import lr_schedule
from scitune.project import resolve_ref
from scitune.spec import load_spec
from scitune.study import Study

HERE = Path(__file__).parent
runner = CliRunner()

STUDY = textwrap.dedent(
    """
    name = "toy-sched"

    [entrypoint]
    python = "toy:main"

    [objective]
    metric = "dev_error"

    [budget]
    trials = 8
    max_train_steps = 100

    [nuisance]
    learning_rate = { low = 1e-4, high = 1e-3, scale = "log" }

    [fixed]
    lr_schedule = "linear"
    warmup_steps = 10
    """
)


def cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(HERE / "execution" / "toy.py", tmp_path / "toy.py")
    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    cli("run", "study.toml", "--workers", "2")
    return tmp_path


def test_refine_contains_the_best_trials_and_widens_past_the_edge(ran: Path) -> None:
    out = cli("refine", "toy-sched", "-o", "next.toml", "--trials", "12")
    (change,) = out["changes"]
    assert change["axis"] == "learning_rate"
    # The toy's optimum (1e-2) lies above the explored range: the new range grows past 1e-3.
    assert change["new"]["high"] > 1e-3 and "widened upward" in change["why"]
    trials = cli("trials", "toy-sched")
    best = sorted((t for t in trials if t["rank"]), key=lambda t: t["rank"])[:3]
    for t in best:
        assert change["new"]["low"] <= t["params"]["learning_rate"] <= change["new"]["high"]
    spec = load_spec(ran / "next.toml")
    assert spec.search.sampler == "bayes" and spec.search.history == ("toy-sched",)
    assert spec.budget.trials == 12
    assert "# was [0.0001, 0.001] log" in (ran / "next.toml").read_text()
    # The explored trials stay available: the Bayesian sampler of the new study sees them.
    refined = Study.open(spec)
    history = refined._histories(refined.trials())
    assert sum(len(v) for v in history.values()) == 8
    assert all(o.value is not None and o.prior for v in history.values() for o in v)
    # What they explored inside the new range is not explored again: the new study creates
    # only the rest of its 10 exploration trials before the Bayesian ones.
    inside = sum(
        change["new"]["low"] <= t["params"]["learning_rate"] <= change["new"]["high"]
        for t in trials
    )
    assert inside >= 3
    assert len(refined.ensure_trials()) == max(0, 10 - inside)


def test_extend_keeps_the_linear_decay_length(ran: Path) -> None:
    out = cli("extend", "toy-sched", "--steps", "400", "--top", "2", "--runs", "3", "-o", "r2.toml")
    spec = load_spec(ran / "r2.toml")
    assert spec.budget.max_train_steps == 400 and spec.name == "toy-sched-round2"
    assert (spec.budget.trials, spec.budget.runs) == (1, 3)
    assert spec.scientific_space().names == ("_round1",)
    for config in out["configs"]:
        # Round 1: warmup 10, decay over the other 90 steps; round 2 keeps those 90.
        assert config["changes"] == {"decay_steps": 90}
        assert config["low_lr_share"] < 0.1
        params = spec.fixed_params({"_round1": config["label"]})
        assert params["decay_steps"] == 90 and params["warmup_steps"] == 10
    assert any("unlikely the learning-rate schedule" in w for w in out["warnings"])
    # Each configuration runs 3 times, as one trial and 2 reruns of it: a reference to the
    # round-2 study weighs its best configuration over all 3 seeds.
    summary = cli("run", "r2.toml", "--workers", "2")
    assert summary["counts"]["complete"] == 6
    best = resolve_ref("toy-sched-round2")
    assert len(best.scores) == 3 and len({t.seed for t in best.runs}) == 3
    assert {t.parent_number for t in best.runs} == {None, best.trial.number}
    # Nothing is searched in round 2: no sampling density, no thin nuisance search, no redraw.
    codes = {f["code"] for f in cli("analyze", "toy-sched-round2")["findings"]}
    assert "variance.trial" in codes and "isolation.summary" in codes
    assert not codes & {"density.too_few", "isolation.thin", "variance.study"}
    assert {f["code"] for f in cli("analyze", "toy-sched")["findings"]} & {
        "density.too_few", "density.flattened", "density.more_trials"
    }
    bad = runner.invoke(app, ["extend", "toy-sched", "--steps", "50"], env={"COLUMNS": "300"})
    assert bad.exit_code == 1 and "must exceed round 1's max_train_steps (100)" in bad.output


def test_the_pitfall_is_steps_at_a_too_small_learning_rate() -> None:
    round1 = lr_schedule("cosine", base_lr=0.1, total_steps=1000)
    # Naively training 4x longer on round 1's schedule: 3/4 of the steps at the final rate.
    assert _low_share(round1, 4000) > 0.7
    # The playbook's rule (stretch the cosine) keeps that share small.
    assert _low_share(round1.extended(4000), 4000) < 0.1


SHIFTED_TRAINER = """
import math


def main(trial):
    lr, centre = float(trial.params["learning_rate"]), float(trial.params["centre"])
    # Each scientific value has its own optimum (lr = 10**centre); centre -1 scores worse.
    trial.report(1, dev_error=(math.log10(lr) - centre) ** 2 + (1.0 if centre > -2 else 0.0))
"""

SHIFTED = """
name = "shifted"
[entrypoint]
python = "shifted:main"
[objective]
metric = "dev_error"
[budget]
trials = 10
max_train_steps = 1
[scientific]
centre = { values = [-3.0, -1.0] }
[nuisance]
learning_rate = { low = 1e-5, high = 1.0, scale = "log" }
"""


def test_refine_holds_every_scientific_values_best_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shifted.py").write_text(SHIFTED_TRAINER)
    (tmp_path / "shifted.toml").write_text(SHIFTED)
    monkeypatch.chdir(tmp_path)
    cli("run", "shifted.toml", "--workers", "2")
    (change,) = cli("refine", "shifted", "-o", "next.toml")["changes"]
    trials = [t for t in cli("trials", "shifted") if t["rank"]]
    # The pooled best trials all have centre -3 (the other value scores 1 worse); the range must
    # still hold the best trial of centre -1, or the next study's comparison is unfair.
    for centre in (-3.0, -1.0):
        best = min((t for t in trials if t["params"]["centre"] == centre), key=lambda t: t["score"])
        assert change["new"]["low"] <= best["params"]["learning_rate"] <= change["new"]["high"]
    assert "with centre=-1" in change["why"] and "with centre=-3" in change["why"]
    assert change["new"]["low"] > 1e-5 and change["new"]["high"] < 1.0  # narrowed all the same
