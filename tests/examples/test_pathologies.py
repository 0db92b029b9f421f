"""The playbook's checks on real training: MNIST-1D studies that really show each pathology.

Each study in ``examples/mnist1d/pathologies/`` runs for real (the paper's CNN or an MLP, two
trials at a time, 25-55 s each on 2 CPU cores), then ``analyze`` must find what the study was
built to show -- and the healthy control must raise no warning at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scitune.analysis import Analysis, StudySnapshot, analyze
from scitune.execution import Runner
from scitune.spec import load_spec
from scitune.study import Study

PATHOLOGIES = Path(__file__).resolve().parents[2] / "examples" / "mnist1d" / "pathologies"


def run_and_analyze(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Analysis:
    monkeypatch.chdir(tmp_path)  # the study's SQLite file lands here
    study = Study.open(load_spec(PATHOLOGIES / f"{name}.toml"))
    Runner(study, workers=2).run()
    return analyze(StudySnapshot.from_study(study))


def codes(analysis: Analysis, *severities: str) -> set[str]:
    return {f.code for f in analysis.findings if not severities or f.severity in severities}


def test_narrow_range_finds_the_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    analysis = run_and_analyze("narrow", tmp_path, monkeypatch)
    (edge,) = [f for f in analysis.findings if f.code == "boundary.near_edge"]
    assert edge.subject == "learning_rate" and edge.evidence["edge"] == "high"
    assert "upward" in edge.action
    (axis,) = [a for a in analysis.axes if a.key == "learning_rate"]
    assert axis.near_edge == "high"


def test_divergent_range_finds_infeasible_trials_and_the_stability_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis = run_and_analyze("divergent", tmp_path, monkeypatch)
    assert analysis.counts["INFEASIBLE"] >= 2
    assert "infeasible.fraction" in codes(analysis)
    (stability,) = [f for f in analysis.findings if f.code == "infeasible.stability_edge"]
    assert stability.severity == "critical" and stability.evidence["side"] == "high"
    assert "warmup" in stability.action


def test_overfitting_mlp_finds_overfitting_and_too_many_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis = run_and_analyze("overfit", tmp_path, monkeypatch)
    assert {"curves.overfitting", "steps.too_many"} <= codes(analysis, "warning")
    assert analysis.best_steps is not None and analysis.best_steps.early_share >= 0.8


def test_healthy_study_raises_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    analysis = run_and_analyze("healthy", tmp_path, monkeypatch)
    assert analysis.counts["COMPLETE"] == 8
    assert codes(analysis, "warning", "critical") == set()
    assert {"boundary.ok", "steps.ok"} <= codes(analysis, "info")
