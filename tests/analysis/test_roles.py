"""Metric roles: declared in ``[metrics]`` wins, guessing is the fallback, summaries never win;
and the clipping advice knows when training already clips (PLAYBOOK_SPEC §9)."""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
import pytest

from scitune.analysis import AnalysisConfig, Finding, analyze
from scitune.analysis._curves import checked_trials, curve_findings
from scitune.analysis._grad_norm import grad_norm_summary
from scitune.analysis._roles import GUESSES, MIN_CURVE_POINTS, Role
from scitune.analysis._snapshot import StudySnapshot
from scitune.space import Value
from scitune.spec import MetricsSpec, StudySpec
from scitune.storage import Curve
from tests.analysis.curve_helpers import curve, snapshot, study_spec, trial

N = 100


def spec_with(metrics: dict[str, str] | None = None, **fixed: Value) -> StudySpec:
    """The curve tests' study, with a ``[metrics]`` table and ``[fixed]`` values."""
    data = study_spec().to_dict()
    if metrics:
        data["metrics"] = metrics
    data["fixed"] = dict(fixed)
    return StudySpec.from_dict(data)


def falling(n: int = N, start: float = 2.0) -> np.ndarray:
    return np.asarray(start * np.exp(-np.linspace(0.0, 3.0, n)) + 0.1)


def dev() -> Curve:
    return curve(falling(start=0.5))


def one_point(value: float = 0.7) -> Curve:
    """What Hugging Face's Trainer logs as ``train_loss``: one average, at the last step."""
    return curve([value], steps=[1000])


def snap_of(
    spec: StudySpec,
    per_trial: dict[int, dict[str, Curve]],
    params: dict[int, dict[str, Value]] | None = None,
) -> StudySnapshot:
    trials = []
    for n, curves in per_trial.items():
        p: dict[str, Value] = {
            "learning_rate": 0.01,
            **dict(spec.fixed),
            **(params or {}).get(n, {}),
        }
        trials.append(trial(n, {"dev_error": dev(), **curves}, spec, params=p))
    return snapshot(spec, trials)


def codes(findings: list[Finding]) -> dict[str, Finding]:
    return {f.code: f for f in findings}


# --- which metric plays which role ------------------------------------------------------------


def test_the_roles_are_the_study_files_metrics_fields() -> None:
    assert set(get_args(Role)) == set(GUESSES) == set(MetricsSpec.model_fields)


def test_a_declared_role_wins_over_every_guess() -> None:
    spec = spec_with({"train_loss": "nll", "grad_norm": "gnorm", "learning_rate": "step_size"})
    curves = {"train_loss": curve(falling()), "nll": curve(falling(start=3.0))}
    curves |= {"grad_norm": curve(np.ones(N)), "gnorm": curve(np.ones(N)), "lr": curve(np.ones(N))}
    curves["step_size"] = curve(np.ones(N))
    snap = snap_of(spec, {0: curves})
    assert snap.metric_for("train_loss") == "nll"
    assert snap.metric_for("grad_norm") == "gnorm"
    assert snap.metric_for("learning_rate") == "step_size"
    # The checks read the declared curves too.
    cfg = AnalysisConfig()
    _, found = curve_findings(snap, cfg)
    assert found and all(f.evidence["train_metric"] == "nll" for f in found)
    summary, _ = grad_norm_summary(snap, cfg, checked_trials(snap, cfg))
    assert summary is not None and summary.metric == "gnorm"


def test_an_analysis_setting_overrides_the_declaration() -> None:
    snap = snap_of(spec_with({"train_loss": "nll"}), {0: {"nll": curve(falling())}})
    assert snap.metric_for("train_loss", "loss") == "loss"
    assert snap.train_metric("loss") == "loss"  # the older spelling asks the same function


def test_a_declared_metric_nobody_logs_is_named_not_replaced() -> None:
    spec = spec_with({"grad_norm": "gnorm"})
    snap = snap_of(spec, {0: {"grad_norm": curve(np.ones(N))}})
    cfg = AnalysisConfig()
    summary, found = grad_norm_summary(snap, cfg, checked_trials(snap, cfg))
    assert summary is None
    missing = codes(found)["gradnorm.missing"]
    assert missing.evidence["metric"] == "gnorm" and "'gnorm'" in missing.message


@pytest.mark.parametrize("points", range(1, MIN_CURVE_POINTS))
def test_a_summary_never_beats_a_real_curve(points: int) -> None:
    summary = curve(np.full(points, 0.7), steps=list(range(1000 - points + 1, 1001)))
    snap = snap_of(spec_with(), {0: {"train_loss": summary, "loss": curve(falling())}})
    assert snap.metric_for("train_loss") == "loss"


def test_guessing_keeps_its_order_between_real_curves() -> None:
    both = {"loss": curve(falling()), "train_loss": curve(falling(MIN_CURVE_POINTS))}
    assert snap_of(spec_with(), {0: both}).metric_for("train_loss") == "train_loss"


def test_a_summary_counts_as_a_curve_if_any_trial_logged_it_as_one() -> None:
    snap = snap_of(
        spec_with(),
        {
            0: {"train_loss": one_point(), "loss": curve(falling())},
            1: {"train_loss": curve(falling())},
        },
    )
    assert snap.metric_for("train_loss") == "train_loss"


def test_a_summary_alone_is_still_better_than_nothing() -> None:
    snap = snap_of(spec_with(), {0: {"train_loss": one_point()}})
    assert snap.metric_for("train_loss") == "train_loss"
    assert snap.metric_for("grad_norm") is None


def test_the_objective_is_never_guessed_as_the_training_loss() -> None:
    data = study_spec().to_dict()
    data["objective"]["metric"] = "loss"
    spec = StudySpec.from_dict(data)
    t = trial(0, {"loss": curve(falling()), "training_loss": curve(falling())}, spec)
    assert snapshot(spec, [t]).metric_for("train_loss") == "training_loss"


def test_hugging_face_trainer_metrics() -> None:
    # The Trainer logs `loss` and `grad_norm` every logging step, `learning_rate` as it goes,
    # and one `train_loss` (the average over training) at the end.
    spec = spec_with(max_grad_norm=1.0)
    per_trial = {
        n: {
            "loss": curve(falling(start=2.0 + n)),
            "train_loss": one_point(0.9 + n),
            "grad_norm": curve(18.0 + np.sin(np.arange(N))),
            "learning_rate": curve(np.linspace(1e-3, 0.0, N)),
        }
        for n in range(3)
    }
    snap = snap_of(spec, per_trial)
    assert snap.metric_for("train_loss") == "loss"
    assert snap.metric_for("grad_norm") == "grad_norm"
    assert snap.metric_for("learning_rate") == "learning_rate"
    result = analyze(snap)
    found = {f.code: f for f in result.findings}
    judged = [f for f in result.findings if f.code.startswith("curves.")]
    assert judged and all(f.evidence["train_metric"] == "loss" for f in judged)
    clip = found["gradnorm.clip_threshold"]
    assert "Training already clips at 1 (max_grad_norm of trial #0)" in clip.message
    assert "100% of its logged updates are clipped" in clip.message
    assert "lower the learning rate, or raise the clip" in clip.action
    assert found["gradnorm.clip_aggressive"].evidence["trials"][0]["param"] == "max_grad_norm"


def test_the_report_plots_the_curve_the_checks_read() -> None:
    pytest.importorskip("plotly")
    from scitune.report._figures import report_figures

    per_trial = {
        n: {"loss": curve(falling(start=2.0 + n)), "train_loss": one_point()} for n in range(3)
    }
    snap = snap_of(spec_with(), per_trial)
    result = analyze(snap)
    sections = report_figures(result, snap, result.settings)
    (best,) = [p for s in sections for p in s.plots if p.name == "best curves"]
    assert best.figure is not None
    assert best.figure.layout.yaxis2.title.text == "loss"


# --- clipping already in place ----------------------------------------------------------------


def clip_finding(
    norms: np.ndarray, *, metrics: dict[str, str] | None = None, **kw: Any
) -> tuple[Finding, dict[str, Finding]]:
    params = kw.pop("params", None)
    extra = kw.pop("curves", {})
    snap = snap_of(spec_with(metrics), {0: {"grad_norm": curve(norms), **extra}}, params)
    cfg = AnalysisConfig()
    _, found = grad_norm_summary(snap, cfg, checked_trials(snap, cfg))
    by_code = codes(found)
    return by_code["gradnorm.clip_threshold"], by_code


def norms() -> np.ndarray:
    """Norms whose 90th percentile is close to 18.6."""
    return np.linspace(10.0, 19.55, N)


@pytest.mark.parametrize("name", ["max_grad_norm", "grad_clip", "clip_norm"])
def test_a_clipping_hyperparameter_is_read(name: str) -> None:
    f, by_code = clip_finding(norms(), params={0: {name: 1.0}})
    lam = float(np.percentile(norms(), 90))
    assert f.message.startswith(f"Training already clips at 1 ({name} of trial #0)")
    assert f"is {lam:.4g}, so 100% of its logged updates are clipped" in f.message
    assert "lower the learning rate, or raise the clip towards" in f.action
    assert f.evidence["clip"] == 1.0 and f.evidence["clip_source"] == name
    assert f.evidence["threshold"] == pytest.approx(lam)
    assert "gradnorm.clip_aggressive" in by_code


def test_a_logged_clip_metric_is_read_by_its_conventional_name() -> None:
    clip = curve(np.full(N, 1.0))
    f, by_code = clip_finding(norms(), curves={"max_grad_norm": clip})
    assert "Training already clips at 1 (logged max_grad_norm of trial #0)" in f.message
    assert by_code["gradnorm.clip_aggressive"].evidence["trials"][0]["threshold"] == 1.0


def test_a_declared_clip_metric_is_read() -> None:
    f, _ = clip_finding(
        norms(), metrics={"max_grad_norm": "clip"}, curves={"clip": one_point(15.0)}
    )
    assert "Training already clips at 15 (logged clip of trial #0)" in f.message
    # 15 is below λ ≈ 18.6: more clipped than the 90th percentile would, but under half.
    assert "Keep it if training is stable, or raise it towards" in f.action
    share = float(np.mean(norms() > 15.0))
    assert 0.1 < share < 0.5 and f"{share:.0%} of its logged updates" in f.message


def test_a_clip_above_the_percentile_needs_no_change() -> None:
    f, by_code = clip_finding(norms(), params={0: {"max_grad_norm": 100.0}})
    assert "0% of its logged updates are clipped" in f.message
    assert "No change needed" in f.action
    assert "gradnorm.clip_aggressive" not in by_code


@pytest.mark.parametrize("off", [0, 0.0, -1.0, float("nan"), True, "1.0"])
def test_no_clip_when_the_clip_is_off_or_not_a_number(off: Value) -> None:
    f, by_code = clip_finding(norms(), params={0: {"max_grad_norm": off}})
    assert f.message.startswith("Clipping at λ = ") and "already clips" not in f.message
    assert "clip" not in f.evidence
    assert "gradnorm.clip_aggressive" not in by_code
