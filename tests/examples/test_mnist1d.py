"""The MNIST-1D reference workload: data split, models, and the trial entrypoint end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from examples.mnist1d import data, train
from examples.mnist1d.models import CNN, MLP, build_model, count_params

import scitune
from scitune.trial import TrialContext

METRICS = {
    "train_loss",
    "train_error",
    "dev_error",
    "dev_loss",
    "grad_norm",
    "lr",
    "examples_per_second",
}


def run_trial(
    tmp_path: Path, params: dict[str, Any], *, steps: int, seed: int = 0
) -> tuple[list[dict[str, Any]], Path]:
    """Run ``train.main`` with a real Trial; return its metrics-file records and its dir."""
    trial_dir = tmp_path / f"trial-{seed}"
    context = TrialContext(
        study="test",
        number=0,
        params=params,
        seed=seed,
        max_train_steps=steps,
        dir=str(trial_dir),
        metrics_file=str(tmp_path / f"metrics-{seed}.jsonl"),
    )
    trial = scitune.Trial(context)
    try:
        train.main(trial)
    finally:
        trial.close()
    return read_records(Path(context.metrics_file)), trial_dir


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def points(records: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    return [(r["step"], r["metrics"]) for r in records if "step" in r]


@pytest.fixture
def no_test_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden() -> data.Split:
        raise AssertionError("the training entrypoint touched the test set")

    monkeypatch.setattr(data, "load_test", forbidden)


# -- data -----------------------------------------------------------------------------------------


def test_split_sizes_dtypes_and_labels() -> None:
    tr, dev = data.load_train_dev()
    test = data.load_test()
    assert (tr.x.shape, dev.x.shape, test.x.shape) == ((3600, 40), (400, 40), (1000, 40))
    assert (len(tr), len(dev), len(test)) == (3600, 400, 1000)
    for split in (tr, dev, test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert set(split.y.tolist()) == set(range(10))


def test_dev_split_is_fixed_and_disjoint_from_train() -> None:
    tr1, dev1 = data.load_train_dev()
    data._arrays.cache_clear()  # the second load reads the cache file back from disk
    tr2, dev2 = data.load_train_dev()
    assert torch.equal(tr1.x, tr2.x) and torch.equal(dev1.y, dev2.y)
    train_rows = {tuple(row) for row in tr1.x.tolist()}
    assert not any(tuple(row) in train_rows for row in dev1.x.tolist())
    # Train and dev together are exactly the generator's 4,000 training examples.
    everything = torch.cat([tr1.x, dev1.x])
    raw = torch.from_numpy(data._arrays()["x"])
    assert torch.equal(everything.sort(dim=0).values, raw.sort(dim=0).values)


def test_cache_is_written_once_and_rebuilt_when_corrupt(data_dir: Path) -> None:
    data.load_train_dev()
    path = data.cache_path()
    assert path.parent == data_dir and path.is_file()
    assert [p.name for p in data_dir.iterdir()] == [path.name]  # no temporary file left behind
    before = dict(data._arrays())

    path.write_bytes(b"not an npz")
    data._arrays.cache_clear()
    np.random.seed(123)
    reference = np.random.rand()
    np.random.seed(123)
    rebuilt = data._arrays()  # regenerates: make_dataset reseeds NumPy's global generator
    assert np.random.rand() == reference, "generating the data changed the caller's RNG stream"
    for name, array in before.items():
        np.testing.assert_array_equal(rebuilt[name], array)
    with np.load(path) as stored:
        np.testing.assert_array_equal(stored["y_test"], before["y_test"])


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert data.cache_dir() == Path("~/.cache/scitune/mnist1d").expanduser()
    monkeypatch.setenv(data.DATA_DIR_ENV, "/somewhere/else")
    assert data.cache_path().parent == Path("/somewhere/else")
    assert "url" not in data.dataset_args()


# -- models ---------------------------------------------------------------------------------------


def test_models_match_the_paper_and_are_configurable() -> None:
    x = torch.zeros(7, 40)
    assert count_params(build_model("cnn")) == 5_210
    assert count_params(build_model("mlp")) == 15_210
    for model in (build_model("cnn"), build_model("mlp"), CNN(channels=8, depth=2), MLP(depth=4)):
        assert model(x).shape == (7, 10)
    assert count_params(build_model("cnn", width=50)) > count_params(build_model("cnn"))
    assert count_params(build_model("mlp", depth=3)) == 15_210 + 100 * 100 + 100
    with pytest.raises(ValueError, match="model must be"):
        build_model("gru")
    with pytest.raises(ValueError, match="depth"):
        CNN(input_size=2)  # the first layer (kernel 5) already leaves nothing
    with pytest.raises(ValueError, match="dropout"):
        MLP(dropout=1.0)


def test_dropout_is_active_in_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("cnn", dropout=0.5)
    x = torch.randn(4, 40)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


# -- the entrypoint -------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_test_data")
def test_main_reports_every_metric_at_regular_steps(tmp_path: Path) -> None:
    records, trial_dir = run_trial(tmp_path, {"model": "cnn", "learning_rate": 0.01}, steps=60)
    reported = points(records)
    assert reported[0] == (0, {"params_millions": pytest.approx(0.00521)})
    curve = reported[1:]
    # Default interval: max(1, 60 // 30) = 2 steps.
    assert [step for step, _ in curve] == list(range(2, 61, 2))
    for _, metrics in curve:
        assert set(metrics) == METRICS
        assert all(math.isfinite(v) for v in metrics.values())
        assert 0.0 <= metrics["dev_error"] <= 1.0 and metrics["lr"] == 0.01
    losses = [m["train_loss"] for _, m in curve]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])

    checkpoints = [r["checkpoint"] for r in records if "checkpoint" in r]
    dev_errors = [c["metrics"]["dev_error"] for c in checkpoints]
    assert checkpoints and dev_errors == sorted(dev_errors, reverse=True)
    assert min(dev_errors) == min(m["dev_error"] for _, m in curve)
    assert [p.name for p in trial_dir.iterdir()] == [train.CHECKPOINT_NAME]  # only the best
    assert Path(checkpoints[-1]["path"]) == trial_dir / train.CHECKPOINT_NAME


@pytest.mark.usefixtures("no_test_data")
def test_interval_and_last_step_and_mlp(tmp_path: Path) -> None:
    params = {"model": "mlp", "eval_every": 10, "optimizer": "nesterov", "learning_rate": 0.05}
    records, _ = run_trial(tmp_path, params, steps=25)
    assert [step for step, _ in points(records)] == [0, 10, 20, 25]


def test_same_seed_same_curve_other_seed_other_curve(tmp_path: Path) -> None:
    def curve(seed: int) -> list[tuple[float, float]]:
        run_dir = tmp_path / str(len(list(tmp_path.iterdir())))
        run_dir.mkdir()
        records, _ = run_trial(run_dir, {"eval_every": 10}, steps=30, seed=seed)
        return [(m["train_loss"], m["dev_loss"]) for s, m in points(records) if s > 0]

    assert curve(1) == curve(1)
    assert curve(1) != curve(2)


@pytest.mark.usefixtures("no_test_data")
def test_divergence_raises_infeasible_after_reporting(tmp_path: Path) -> None:
    with pytest.raises(scitune.Infeasible, match="training loss became") as caught:
        run_trial(tmp_path, {"optimizer": "sgd", "learning_rate": 1e4}, steps=60)
    assert "at step" in caught.value.reason
    last_step, last = points(read_records(tmp_path / "metrics-0.jsonl"))[-1]
    assert last_step > 0 and not math.isfinite(last["train_loss"])


def test_unknown_or_bad_hyperparameters_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="learnig_rate"):
        run_trial(tmp_path, {"learnig_rate": 0.1}, steps=5)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train.TrainConfig.from_params({"optimizer": "rmsprop"})
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        train.TrainConfig.from_params({"batch_size": 12.5})
    assert train.TrainConfig.from_params({"batch_size": 50.0, "weight_decay": 0}).batch_size == 50


def test_learning_rate_schedules() -> None:
    cosine = train.TrainConfig(learning_rate=1.0, lr_schedule="cosine", warmup_steps=10)
    assert cosine.lr_at(5, 110) == pytest.approx(0.5)  # halfway through warmup
    assert cosine.lr_at(11, 110) == pytest.approx(1.0)  # first step after warmup
    assert cosine.lr_at(61, 110) == pytest.approx(0.5)  # halfway through the decay
    linear = train.TrainConfig(learning_rate=1.0, lr_schedule="linear")
    assert 0.0 < linear.lr_at(100, 100) < 0.02
    assert train.TrainConfig(learning_rate=0.3).lr_at(77, 100) == 0.3


def test_evaluate_test_is_the_explicit_final_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"learning_rate": 0.01, "eval_every": 20}
    _, trial_dir = run_trial(tmp_path, params, steps=40)
    calls = []
    real_load_test = data.load_test
    monkeypatch.setattr(data, "load_test", lambda: calls.append(1) or real_load_test())
    result = train.evaluate_test(params, trial_dir / train.CHECKPOINT_NAME)
    assert calls == [1]
    assert result["test_examples"] == 1000
    assert result["test_accuracy"] == pytest.approx(1 - result["test_error"])
    assert 0.0 <= result["test_error"] < 0.9  # 40 steps already beat chance


@pytest.mark.usefixtures("no_test_data")
def test_standalone_command_prints_the_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--steps", "20", "--eval_every", "10", "--dir", str(tmp_path / "run")]
    assert train._cli(argv) == 0
    out = capsys.readouterr().out
    assert "best dev error" in out and "    20 " in out
    assert train._cli([*argv, "--optimizer", "sgd", "--learning_rate", "1e4"]) == 1
    assert "INFEASIBLE" in capsys.readouterr().out
