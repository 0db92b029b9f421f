"""The in-trial API and the file protocol (what a trial writes, what the runner reads)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import scitune
from scitune.errors import NotInTrialError, ProtocolError
from scitune.execution._ingest import parse_lines
from scitune.trial import Trial, TrialContext, _set_current


def make_trial(tmp_path: Path, **params: object) -> Trial:
    ctx = TrialContext(
        study="s",
        number=3,
        params=params,  # type: ignore[arg-type]
        seed=11,
        max_train_steps=500,
        dir=str(tmp_path),
        metrics_file=str(tmp_path / "metrics.jsonl"),
    )
    return Trial(ctx)


def test_report_appends_protocol_lines_that_parse_back(tmp_path: Path) -> None:
    trial = make_trial(tmp_path, learning_rate=0.1)
    trial.report(100, train_loss=np.float32(0.5), dev_error=0.25)
    trial.report(200, train_loss=float("nan"), grad_norm=float("inf"))
    trial.checkpoint(200, tmp_path / "ckpt.pt", dev_error=0.2)
    trial.close()
    data = (tmp_path / "metrics.jsonl").read_bytes()
    assert data.count(b"\n") == 3
    parsed = parse_lines(data)
    assert parsed.points["train_loss"][0] == [100, 200]
    assert math.isnan(parsed.points["train_loss"][1][1])
    assert parsed.points["grad_norm"][1] == [math.inf]
    assert parsed.checkpoints[0].step == 200 and parsed.checkpoints[0].metrics == {"dev_error": 0.2}
    assert not parsed.problems


def test_params_are_read_only_and_context_is_exposed(tmp_path: Path) -> None:
    trial = make_trial(tmp_path, learning_rate=0.1)
    assert trial.params["learning_rate"] == 0.1
    with pytest.raises(TypeError):
        trial.params["learning_rate"] = 1.0  # type: ignore[index]
    assert (trial.seed, trial.max_train_steps, trial.dir, trial.number) == (11, 500, tmp_path, 3)


@pytest.mark.parametrize(
    ("step", "metrics", "fragment"),
    [
        (1.5, {"loss": 1.0}, "step must be an integer"),
        (-1, {"loss": 1.0}, "step must be >= 0"),
        (1, {}, "at least one metric"),
        (1, {"loss": "low"}, "metric 'loss' must be a number"),
        # The metrics file's rules, refused where the mistake is made:
        (2**63, {"loss": 1.0}, r"step must be at most 2\*\*63-1"),
        (1, {"loss": None}, "metric 'loss' is None; .* Leave the metric out"),
        (1, {"loss": True}, "metric 'loss' must be a number, got the boolean True"),
        (1, {"loss": np.bool_(False)}, "metric 'loss' must be a number, got the boolean"),
        (1, {"loss": "0.5"}, "metric 'loss' must be a number .* got '0.5'"),
        (1, {"loss": 10**400}, "metric 'loss' must be a number .* fits a 64-bit float"),
        (1, {"": 1.0}, "a metric name must be a non-empty string"),
        (1, {"x" * 256: 1.0}, "a metric name must have at most 255 characters"),
    ],
)
def test_bad_reports_raise_protocol_errors(
    tmp_path: Path, step: object, metrics: dict[str, object], fragment: str
) -> None:
    trial = make_trial(tmp_path)
    with pytest.raises(ProtocolError, match=fragment):
        trial.report(step, **metrics)  # type: ignore[arg-type]


def test_what_report_accepts_the_reader_keeps(tmp_path: Path) -> None:
    trial = make_trial(tmp_path)
    values = {
        "f32": np.float32(0.5),
        "i64": np.int64(3),
        "arr": np.array(1.5),
        "big": 2**1000,
        "nan": "NaN",
        "neg_inf": "-inf",
        "x" * 255: 1.0,
    }
    trial.report(2**63 - 1, **values)  # type: ignore[arg-type]
    trial.close()
    parsed = parse_lines((tmp_path / "metrics.jsonl").read_bytes())
    assert not parsed.problems and sorted(parsed.points) == sorted(values)
    assert parsed.points["big"] == ([2**63 - 1], [float(2**1000)])
    assert parsed.points["neg_inf"][1] == [-math.inf] and math.isnan(parsed.points["nan"][1][0])


def test_parse_lines_accepts_other_languages_spellings_of_nan_and_inf() -> None:
    lines = b'{"step": 1, "metrics": {"a": "nan", "b": "-inf", "c": NaN, "d": Infinity}}\n'
    parsed = parse_lines(lines)
    assert math.isnan(parsed.points["a"][1][0]) and parsed.points["b"][1] == [-math.inf]
    assert math.isnan(parsed.points["c"][1][0]) and parsed.points["d"][1] == [math.inf]


def test_parse_lines_reports_bad_lines_with_their_number_and_keeps_good_ones() -> None:
    data = b'{"step": 1, "metrics": {"a": 1}}\nnot json\n{"step": "x", "metrics": {"a": 2}}\n'
    parsed = parse_lines(data, path="m.jsonl")
    assert parsed.points["a"] == ([1], [1.0])
    assert parsed.problems[0].startswith("m.jsonl:2:")
    assert parsed.problems[1].startswith("m.jsonl:3:")


def test_infeasible_line(tmp_path: Path) -> None:
    assert parse_lines(b'{"infeasible": "diverged"}\n').infeasible == "diverged"


def test_current_trial_outside_a_run_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_current(None)
    monkeypatch.delenv("SCITUNE_TRIAL", raising=False)
    with pytest.raises(NotInTrialError, match="scitune run"):
        scitune.current_trial()


def test_current_trial_reads_the_context_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set_current(None)
    ctx = make_trial(tmp_path, lr=0.5)._context
    (tmp_path / "trial.json").write_text(ctx.to_json())
    monkeypatch.setenv("SCITUNE_TRIAL", str(tmp_path / "trial.json"))
    try:
        trial = scitune.current_trial()
        assert trial.params == {"lr": 0.5} and trial is scitune.current_trial()
        assert json.loads((tmp_path / "trial.json").read_text())["protocol"] == 1
    finally:
        _set_current(None)


def test_bad_context_file_is_a_protocol_error(tmp_path: Path) -> None:
    (tmp_path / "trial.json").write_text("{}")
    with pytest.raises(ProtocolError, match="not a valid scitune trial context"):
        TrialContext.from_file(tmp_path / "trial.json")
