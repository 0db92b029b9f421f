"""The measured choices on real training: the paper's CNN on MNIST-1D, on CPU, short runs.

Each test derives its study from a small user study, runs it (two trials at a time), and checks
what the playbook says should be there: Adam's learning rate has a divergence point a little
above the best one, and the steps to fit the training set sit where ``analyze`` puts the best
steps of the same sweep.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from scitune.analysis import StudySnapshot, analyze
from scitune.stability import (
    derive_lr_sweep,
    derive_max_steps,
    lr_sweep_result,
    max_steps_result,
    open_source,
    run_derived,
    runs_of,
    steps_comparison,
)

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest.importorskip("torch")
pytest.importorskip("mnist1d")

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory where `examples` imports (a link to the repository's), with its own data."""
    from examples.mnist1d import data

    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    cache = tmp_path / "mnist1d-data"
    monkeypatch.setenv(data.DATA_DIR_ENV, str(cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: one thread per trial
    monkeypatch.chdir(tmp_path)
    data._arrays.cache_clear()
    data.load_train_dev()  # generate once here, not in every trial at the same time
    return tmp_path


def write_study(folder: Path, *, low: float, high: float) -> Path:
    path, db = folder / "cnn.toml", folder / "scitune.db"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "cnn"
            storage = "sqlite:///{db}"

            [entrypoint]
            python = "examples.mnist1d.train:main"
            timeout = "5m"

            [objective]
            metric = "dev_error"

            [budget]
            trials = 4
            max_train_steps = 2000

            [nuisance]
            learning_rate = {{ low = {low}, high = {high}, scale = "log" }}
            weight_decay = {{ low = 1e-5, high = 1e-3, scale = "log" }}

            [fixed]
            model = "cnn"
            optimizer = "adam"
            lr_schedule = "constant"
            """
        )
    )
    return path


def test_lr_sweep_finds_where_adam_diverges(workdir: Path) -> None:
    source = open_source(str(write_study(workdir, low=0.01, high=0.03)))
    # 0.01 .. 0.3 at 3 per decade: 0.01, 0.0215, 0.0464, 0.1, 0.215; 300 steps each.
    derived = derive_lr_sweep(source.base, steps=300, widen=10)
    study, _ = run_derived(derived, source, path=workdir / "sweep.toml", workers=2)
    snap = StudySnapshot.from_study(study)
    result = lr_sweep_result(
        runs_of(snap),
        lr_param="learning_rate",
        loss_metric="train_loss",
        metric="dev_error",
        goal="minimize",
    )
    seen = [(p.lr, p.state, p.score, p.verdict.why) for p in result.points]
    assert [p.lr for p in result.points] == [0.01, 0.0215, 0.0464, 0.1, 0.215], seen
    assert result.lr_star is not None and 0.01 <= result.lr_star <= 0.0464
    # Measured (300 steps, 2 CPU cores): at 0.1 the loss comes back up early (it gave back 21%
    # of its progress by step 50, just over our 20%) and at 0.215 the CNN collapses to chance:
    # the divergence point. The unstable LR is one of the two, within 10x lr*, and every LR
    # above it is unstable too.
    assert result.unstable_lr in (0.1, 0.215), seen
    assert result.consistent, seen
    diverged = result.points[-1]
    assert diverged.state == "INFEASIBLE", seen
    assert "collapsed" in diverged.verdict.why or "nan" in diverged.verdict.why
    assert all(p.verdict.stable is True for p in result.points if p.lr <= result.lr_star), seen
    codes = {f.code for f in result.findings}
    assert {"lr_sweep.lr_star", "lr_sweep.unstable_lr"} <= codes
    # The analysis of the same study sees the stability edge too.
    analysis = analyze(snap)
    assert analysis.counts["INFEASIBLE"] >= 1


def test_max_steps_compared_with_the_best_step_analysis(workdir: Path) -> None:
    source = open_source(str(write_study(workdir, low=0.003, high=0.1)))
    derived = derive_max_steps(source.base, steps=400, trials=4)
    assert derived.data["fixed"]["weight_decay"] == 0.0  # regularization off (§8)
    study, _ = run_derived(derived, source, path=workdir / "fit.toml", workers=2)
    snap = StudySnapshot.from_study(study)
    analysis = analyze(snap)
    best_steps = steps_comparison(analysis, 400)
    assert best_steps is not None and best_steps.n >= 3
    # 400 steps do not fit MNIST-1D perfectly: a 30% training error stands in for "fit".
    result = max_steps_result(
        runs_of(snap),
        lr_param="learning_rate",
        fit_metric="train_error",
        threshold=0.3,
        steps=400,
        low=0.003,
        high=0.1,
        sweep_best_steps=best_steps,
    )
    assert result.recommended is not None and 0 < result.recommended <= 400
    assert result.fastest_lr is not None and result.edge is None  # not at an edge
    # The comparison the playbook asks for: without regularization the dev error is still
    # falling when the (loose) fit is reached, so the best steps come at or after it.
    fastest = next(t for t in snap.trials if t.number == result.fastest_trial)
    assert fastest.value_step is not None and fastest.value_step >= result.recommended
    assert best_steps.latest_step >= result.recommended
    codes = {f.code for f in result.findings}
    assert {"max_steps.recommended", "max_steps.best_steps"} <= codes


def test_grad_clip_clips_and_still_reports_the_unclipped_norm(workdir: Path) -> None:
    from examples.mnist1d.train import TrainConfig, run_standalone

    params = {"learning_rate": 0.01, "eval_every": 20}
    clipped, reason, _ = run_standalone({**params, "grad_clip": 0.5}, steps=60, directory="c")
    plain, _, _ = run_standalone(params, steps=60, directory="p")
    assert reason is None
    logged = [p for p in clipped if "grad_norm" in p]
    assert [p["step"] for p in logged] == [20, 40, 60]
    for point in logged:  # the norm before clipping, and whether that step was clipped
        assert point["clipped"] == float(point["grad_norm"] > 0.5)
        assert 0.0 <= point["clipped_share"] <= 1.0
    assert any(p["clipped_share"] > 0 for p in logged)
    assert not any("clipped" in p for p in plain)  # only reported when clipping is on
    loss = [p["train_loss"] for p in clipped if "train_loss" in p]
    assert loss != [p["train_loss"] for p in plain if "train_loss" in p]  # clipping acted
    with pytest.raises(ValueError, match="grad_clip"):
        TrainConfig.from_params({"grad_clip": 0.0})
