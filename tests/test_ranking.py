"""One ranking (configurations by their mean over runs), and one winner in every view."""

from __future__ import annotations

import datetime as dt
import doctest
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import scitune.ranking
from scitune.analysis import StudySnapshot, analyze
from scitune.cli import app
from scitune.project import resolve_ref
from scitune.ranking import rank_configurations
from scitune.spec import load_spec
from scitune.storage import FrozenTrial, TrialState
from scitune.study import Study

runner = CliRunner()


def test_the_docstring_example_runs() -> None:
    assert doctest.testmod(scitune.ranking).failed == 0


def _trial(number: int, value: float | None, parent: int | None = None) -> FrozenTrial:
    state = TrialState.COMPLETE if value is not None else TrialState.FAILED
    return FrozenTrial(
        number, 1, number, state, {"x": parent if parent is not None else number}, 0, "", 0,
        parent, dt.datetime.now(dt.UTC), value=value,
    )  # fmt: skip


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),  # design score
            st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=4),  # its reruns
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["minimize", "maximize"]),
)
def test_every_mean_uses_every_run_and_ranks_follow_the_means(
    families: list[tuple[float | None, list[float]]], goal: str
) -> None:
    trials, number = [], len(families)
    for root, (value, reruns) in enumerate(families):
        trials.append(_trial(root, value))
        for v in reruns:
            trials.append(_trial(number, v, parent=root))
            number += 1
    configs = rank_configurations(trials, goal=goal)  # type: ignore[arg-type]
    by_root = {c.trial: c for c in configs}
    for root, (value, reruns) in enumerate(families):
        runs = ([value] if value is not None else []) + reruns
        if not runs:
            assert root not in by_root
            continue
        c = by_root[root]
        assert c.n == len(runs) and c.mean == pytest.approx(math.fsum(runs) / len(runs))
        assert c.single_run == (len(runs) == 1) and (c.se is None) == (len(runs) == 1)
    assert [c.rank for c in configs] == list(range(1, len(configs) + 1))
    sign = 1.0 if goal == "minimize" else -1.0
    keys = [(sign * c.mean, c.trial) for c in configs]
    assert keys == sorted(keys)
    assert {c.trial for c in configs} <= set(range(len(families)))  # a rerun is never a row


STUDY = """
name = "one-winner"
goal = "the same winner everywhere"

[entrypoint]
python = "nowhere:main"

[objective]
metric = "dev_error"

[budget]
trials = 3
max_train_steps = 100

[nuisance]
lr = { low = 0.001, high = 1.0, scale = "log" }
"""


def _finish(study: Study, values: dict[int, float]) -> None:
    """Claim and finish trials with a curve whose best is the given value."""
    store = study.storage
    while (t := store.claim_trial(study.record.id, worker="w", trial_dir="d/{number}")) is not None:
        value = values[t.number]
        steps = np.arange(10, 101, 10, dtype=np.int64)
        curve = value + 0.5 * (1 - steps / 100) ** 2  # falls to its best at the last step
        store.add_measurements(t.id, {"dev_error": (steps, curve), "train_loss": (steps, curve)})
        store.finish_trial(t.id, TrialState.COMPLETE, value=float(curve.min()), value_step=100)


@pytest.fixture
def lucky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Study:
    """#7, a rerun of #2, scores 0.05, the best single run; the best configuration is #1
    (0.15 over 3 runs); #0 has the best design score (0.10) but a mean of 0.17."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(textwrap.dedent(STUDY))
    study = Study.open(load_spec(tmp_path / "study.toml"))
    study.ensure_trials()
    _finish(study, {0: 0.10, 1: 0.15, 2: 0.30})
    study.reseed(top=3, seeds=2)
    _finish(study, {3: 0.20, 4: 0.21, 5: 0.14, 6: 0.16, 7: 0.05, 8: 0.25})
    return study


def test_every_view_names_the_same_configuration(lucky: Study) -> None:
    assert [t.parent_number for t in lucky.trials()][3:] == [0, 0, 1, 1, 2, 2]
    best = lucky.best(1)[0]
    assert (best.trial, best.n) == (1, 3) and best.mean == pytest.approx(0.15)

    status = json.loads(runner.invoke(app, ["status", "one-winner", "--json"]).stdout)
    assert status["best"][0]["trial"] == 1 and status["best"][0]["runs"] == 3
    rows = json.loads(runner.invoke(app, ["trials", "one-winner", "--json"]).stdout)
    ranks = {r["number"]: r["rank"] for r in rows}
    assert ranks[1] == 1 and ranks[7] is None and ranks[0] == 2
    assert rows[7]["config"]["trial"] == 2 and rows[7]["config"]["runs"] == 3
    table = runner.invoke(app, ["status", "one-winner"], env={"COLUMNS": "200"}).stdout
    assert "best 3 configurations" in table and "0.15 ± " in table

    assert resolve_ref("one-winner").trial.number == 1  # compare STUDY and adopt STUDY

    snap = StudySnapshot.from_study(lucky)
    analysis = analyze(snap)
    study_var = next(f for f in analysis.findings if f.code == "variance.study")
    assert study_var.evidence["winner"] == 1

    pytest.importorskip("plotly")
    out = Path("r.html")
    assert runner.invoke(app, ["report", "one-winner", "-o", str(out)]).exit_code == 0
    page = out.read_text()
    assert "Best configuration: trial 1" in page and "mean over 3 runs" in page
