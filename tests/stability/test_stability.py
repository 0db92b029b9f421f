"""The measured choices' logic on constructed trials: no training, no database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

import scitune.stability
from scitune._stability_base import Base, base_config, log_grid, lr_range
from scitune.analysis import Analysis, Finding, GradNormSummary
from scitune.errors import ScituneError
from scitune.spec import StudySpec
from scitune.stability import (
    Series,
    StabilityConfig,
    TrialRun,
    assess,
    clipped_share,
    clipping_result,
    derive_early,
    derive_lr_sweep,
    derive_max_steps,
    derive_warmup,
    early_result,
    loss_rise,
    lr_sweep_result,
    max_steps_result,
    warmup_lengths,
    warmup_result,
)

FALLING = [2.3, 1.5, 1.0, 0.7, 0.5, 0.4]
RISING = [2.3, 1.2, 0.8, 1.1, 1.6, 2.1]  # went down, then back up: "goes up, not down"


def run(
    number: int,
    *,
    state: str = "COMPLETE",
    score: float | None = None,
    loss: Sequence[float] = FALLING,
    every: int = 10,
    reason: str | None = None,
    curves: dict[str, Sequence[float]] | None = None,
    **params: Any,
) -> TrialRun:
    series = {"train_loss": _series(loss, every)}
    for name, values in (curves or {}).items():
        series[name] = _series(values, every)
    return TrialRun(number, params, state, reason, score, series)


def _series(values: Sequence[float], every: int) -> Series:
    return Series(tuple(every * (i + 1) for i in range(len(values))), tuple(values))


# --- reading one curve ----------------------------------------------------------------------------


def test_a_falling_loss_is_stable_and_a_loss_that_comes_back_up_is_not() -> None:
    cfg = StabilityConfig()
    assert assess(run(0), "train_loss", cfg).stable is True
    rising = assess(run(1, loss=RISING), "train_loss", cfg)
    assert rising.stable is False and "went up" in rising.why
    assert rising.rise is not None and rising.rise > 0.5


def test_infeasible_nan_flat_and_failed_trials() -> None:
    cfg = StabilityConfig()
    infeasible = assess(run(0, state="INFEASIBLE", reason="loss became nan"), "train_loss", cfg)
    assert infeasible.stable is False and "loss became nan" in infeasible.why
    nan = assess(run(1, loss=[2.3, 1.0, math.nan]), "train_loss", cfg)
    assert nan.stable is False and "non-finite at step 30" in nan.why
    flat = assess(run(2, loss=[2.30, 2.31, 2.30, 2.32]), "train_loss", cfg)
    assert flat.stable is False and "did not go down" in flat.why
    assert assess(run(3, state="FAILED"), "train_loss", cfg).stable is None


def test_small_wiggles_near_convergence_are_not_a_rise() -> None:
    # Progress 2.2; a give-back of 0.05 is ~2% of it: noise, not instability.
    wiggly = [2.3, 1.0, 0.3, 0.1, 0.15, 0.12, 0.1]
    assert assess(run(0, loss=wiggly), "train_loss", StabilityConfig()).stable is True


def test_loss_rise_is_a_share_of_the_progress_made_before_it() -> None:
    import numpy as np

    share, at = loss_rise(np.array([2.0, 1.0, 1.5, 0.5]), 0.05)
    assert (share, at) == (0.5, 2)
    # Before any progress the floor (5% of the first value) keeps a tiny rise small.
    share, _ = loss_rise(np.array([2.0, 2.001, 1.0]), 0.05)
    assert share == pytest.approx(0.01)


def test_per_step_curves_are_smoothed_before_judging() -> None:
    # Noisy per-step losses that fall overall: the moving mean over len // 50 points is judged.
    noisy = [2.3 * math.exp(-i / 150) * (1.4 if i % 2 else 0.6) for i in range(500)]
    verdict = assess(run(0, loss=noisy, every=1), "train_loss", StabilityConfig())
    assert verdict.stable is True, verdict.why


# --- grids ----------------------------------------------------------------------------------------


def test_log_grid_per_decade_puts_10x_on_the_grid() -> None:
    values = log_grid(1e-3, 10.0, per_decade=3)
    assert values[0] == 1e-3 and values[-1] == 10.0 and len(values) == 13
    for v in values[:-3]:
        assert any(math.isclose(w, 10 * v, rel_tol=1e-9) for w in values)
    assert log_grid(1e-4, 1e-1, n=4) == [1e-4, 1e-3, 1e-2, 1e-1]
    with pytest.raises(ScituneError):
        log_grid(1.0, 0.1, n=3)


def test_warmup_lengths_span_orders_of_magnitude_within_10_percent() -> None:
    assert warmup_lengths(7500) == [10, 100, 750]
    assert warmup_lengths(100_000) == [10, 100, 1000, 10000]
    assert warmup_lengths(3000) == [10, 100, 300]
    assert warmup_lengths(1500) == [10, 100]  # 150 is under 2x 100: not worth a trial
    assert warmup_lengths(50) == []


# --- lr* and the unstable learning rate ---------------------------------------------------------


def sweep(states: dict[float, tuple[str, float | None]], **kw: Any) -> list[TrialRun]:
    out = []
    for i, (lr, (state, score)) in enumerate(sorted(states.items())):
        loss = RISING if state == "RISING" else FALLING
        out.append(
            run(
                i,
                state="COMPLETE" if state == "RISING" else state,
                score=score,
                loss=loss,
                learning_rate=lr,
                **kw,
            )
        )
    return out


def read_sweep(runs: list[TrialRun]) -> Any:
    return lr_sweep_result(
        runs,
        lr_param="learning_rate",
        loss_metric="train_loss",
        metric="dev_error",
        goal="minimize",
    )


def test_lr_star_and_the_smallest_unstable_lr_above_it() -> None:
    runs = sweep(
        {
            1e-4: ("INFEASIBLE", None),  # too small (collapsed): not instability
            1e-3: ("COMPLETE", 0.20),
            1e-2: ("COMPLETE", 0.08),
            2e-2: ("COMPLETE", 0.10),
            5e-2: ("RISING", 0.30),
            1e-1: ("INFEASIBLE", None),
            1.0: ("INFEASIBLE", None),
        }
    )
    result = read_sweep(runs)
    assert result.lr_star == 1e-2 and result.unstable_lr == 5e-2
    assert result.consistent
    codes = {f.code for f in result.findings}
    assert {"lr_sweep.lr_star", "lr_sweep.unstable_lr", "lr_sweep.limited_by_instability"} <= codes
    # The curves drawn: lr*, then the sweep's LRs nearest 5x (5e-2) and 10x (1e-1).
    by_lr = {r.number: r.params["learning_rate"] for r in runs}
    assert [by_lr[t] for t in result.shown] == [1e-2, 5e-2, 1e-1]


def test_unstable_far_above_lr_star_is_not_limiting_and_inconsistency_is_said() -> None:
    runs = sweep(
        {
            1e-3: ("COMPLETE", 0.1),
            1e-2: ("COMPLETE", 0.2),
            1e-1: ("INFEASIBLE", None),
            1.0: ("COMPLETE", 0.5),  # a stable point above the unstable one: noise
        }
    )
    result = read_sweep(runs)
    assert result.lr_star == 1e-3 and result.unstable_lr == 1e-1
    assert not result.consistent
    codes = {f.code for f in result.findings}
    assert "lr_sweep.limited_by_instability" not in codes  # 100x lr*: not what limits lr*


def test_no_instability_and_lr_star_at_the_top_are_warnings() -> None:
    result = read_sweep(sweep({1e-3: ("COMPLETE", 0.3), 1e-2: ("COMPLETE", 0.1)}))
    assert result.unstable_lr is None
    codes = {f.code: f.severity for f in result.findings}
    assert codes["lr_sweep.no_instability"] == "warning"
    assert codes["lr_sweep.lr_star_at_top"] == "warning"


def test_nothing_ranked_is_critical() -> None:
    result = read_sweep(sweep({1e-1: ("INFEASIBLE", None), 1.0: ("FAILED", None)}))
    assert result.lr_star is None and result.findings[0].code == "lr_sweep.nothing_ranked"


# --- max steps ------------------------------------------------------------------------------------


def fit_run(number: int, lr: float, errors: Sequence[float], state: str = "COMPLETE") -> TrialRun:
    return run(number, state=state, every=100, curves={"train_error": errors}, learning_rate=lr)


def read_max_steps(runs: list[TrialRun], **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        lr_param="learning_rate",
        fit_metric="train_error",
        threshold=0.0,
        steps=500,
        low=1e-3,
        high=1e-1,
    )
    args.update(kw)
    return max_steps_result(runs, **args)


def test_the_fastest_fit_is_the_recommendation() -> None:
    runs = [
        fit_run(0, 1e-3, [0.8, 0.6, 0.4, 0.3, 0.2]),  # never fits
        fit_run(1, 1e-2, [0.5, 0.2, 0.0, 0.0, 0.0]),  # fits at 300
        fit_run(2, 3e-2, [0.4, 0.1, 0.05, 0.0, 0.0]),  # fits at 400
        fit_run(3, 1e-1, [0.3, 0.0, 0.0, 0.0, 0.0], state="INFEASIBLE"),  # diverged later
    ]
    result = read_max_steps(runs)
    assert (result.recommended, result.fastest_lr, result.edge) == (300, 1e-2, None)
    assert result.interval == 100
    (rec,) = [f for f in result.findings if f.code == "max_steps.recommended"]
    assert rec.severity == "info" and "300" in rec.message


def test_a_fastest_lr_at_the_edge_is_not_trusted() -> None:
    runs = [fit_run(0, 1e-3, [0.5, 0.4]), fit_run(1, 1e-1, [0.2, 0.0])]
    result = read_max_steps(runs)
    assert result.edge == "high" and result.suggested_bound == 1.0
    codes = {f.code: f.severity for f in result.findings}
    assert codes["max_steps.lr_at_edge"] == "warning"
    assert codes["max_steps.recommended"] == "warning"


def test_no_fit_says_so_and_the_threshold_is_configurable() -> None:
    runs = [fit_run(0, 1e-2, [0.5, 0.2, 0.1]), fit_run(1, 3e-2, [0.4, 0.3, 0.25])]
    assert read_max_steps(runs).findings[0].code == "max_steps.no_fit"
    loose = read_max_steps(runs, threshold=0.2)
    assert loose.recommended == 200 and loose.fastest_lr == 1e-2


def test_ties_go_to_the_lower_metric_then_the_smaller_lr() -> None:
    runs = [
        fit_run(0, 1e-2, [0.4, 0.1]),
        fit_run(1, 2e-2, [0.3, 0.05]),
        fit_run(2, 3e-2, [0.3, 0.1]),
    ]
    assert read_max_steps(runs, threshold=0.1).fastest_lr == 2e-2


# --- warmup ---------------------------------------------------------------------------------------


def warmup_runs(stable: dict[tuple[float, int], bool]) -> list[TrialRun]:
    return [
        run(
            i,
            state="COMPLETE" if ok else "INFEASIBLE",
            reason=None if ok else "loss became nan",
            learning_rate=lr,
            warmup_steps=w,
        )
        for i, ((lr, w), ok) in enumerate(stable.items())
    ]


def read_warmup(runs: list[TrialRun], max_train_steps: int = 10_000) -> Any:
    return warmup_result(
        runs,
        lr_param="learning_rate",
        warmup_param="warmup_steps",
        loss_metric="train_loss",
        unstable_lr=0.1,
        max_train_steps=max_train_steps,
        steps=3000,
    )


def test_the_shortest_stable_warmup_is_chosen_per_base_lr() -> None:
    runs = warmup_runs(
        {
            (1.0, 10): False,
            (1.0, 100): True,
            (1.0, 1000): True,
            (10.0, 10): False,
            (10.0, 100): False,
            (10.0, 1000): False,
        }
    )
    result = read_warmup(runs)
    assert result.chosen == ((1.0, 100), (10.0, None))
    codes = [f.code for f in result.findings]
    assert codes == ["warmup.chosen", "warmup.none_stable"]  # 100 is 1%: no length warning


def test_a_warmup_over_5_percent_of_training_asks_for_more_steps() -> None:
    runs = warmup_runs({(1.0, 10): False, (1.0, 100): False, (1.0, 600): True})
    result = read_warmup(runs)
    (long,) = [f for f in result.findings if f.code == "warmup.long"]
    assert long.severity == "warning" and "10600" in long.action
    # Exactly 5% is not over 5%.
    runs = warmup_runs({(1.0, 10): False, (1.0, 500): True})
    assert "warmup.long" not in {f.code for f in read_warmup(runs).findings}


# --- the early probe ------------------------------------------------------------------------------


def test_early_instability_at_2x_the_best_lr() -> None:
    runs = [
        run(0, every=1, learning_rate=0.01, loss=FALLING),
        run(1, every=1, learning_rate=0.02, loss=RISING),
    ]
    result = early_result(
        runs,
        lr_param="learning_rate",
        loss_metric="train_loss",
        best_lr=0.01,
        factor=2.0,
        steps=6,
    )
    assert result.unstable is True and result.findings[0].code == "early.unstable"


def test_gradient_spikes_only_at_2x_count_as_early_instability() -> None:
    calm = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.0]
    spiky = [1.0, 1.1, 0.9, 1.0, 1.05, 30.0, 1.0, 1.0]
    runs = [
        run(0, learning_rate=0.01, curves={"grad_norm": calm}),
        run(1, learning_rate=0.02, curves={"grad_norm": spiky}),
    ]
    result = early_result(
        runs,
        lr_param="learning_rate",
        loss_metric="train_loss",
        best_lr=0.01,
        factor=2.0,
        steps=80,
    )
    assert result.points[1].grad_spikes == (60,)
    assert result.unstable is True
    both_calm = [runs[0], run(1, learning_rate=0.02, curves={"grad_norm": calm})]
    result = early_result(
        both_calm,
        lr_param="learning_rate",
        loss_metric="train_loss",
        best_lr=0.01,
        factor=2.0,
        steps=80,
    )
    assert result.unstable is False and result.findings[0].code == "early.stable"


# --- clipping -------------------------------------------------------------------------------------


def grad_analysis(clipped: dict[int, float], extra: Sequence[Finding] = ()) -> Analysis:
    summary = GradNormSummary("grad_norm", 2.0, 90.0, clipped, {})
    finding = Finding(
        "gradnorm.clip_threshold", "info", "", "", "§9", {"trial": 3, "logging_interval": 10}
    )
    return Analysis("s", "", "dev_error", "minimize", {}, (finding, *extra), grad_norm=summary)


def test_clipping_threshold_fraction_and_the_aggressive_rule() -> None:
    norms = [1.0] * 8 + [3.0, 4.0]
    result = clipping_result(grad_analysis({3: 0.1}), norms, user_threshold=0.5)
    assert result is not None
    assert result.threshold == 2.0 and result.trial == 3 and result.interval == 10
    assert result.user_fraction == 1.0
    assert {f.code for f in result.findings} == {"clipping.threshold", "clipping.aggressive"}
    gentle = clipping_result(grad_analysis({3: 0.1}), norms, user_threshold=2.5)
    assert gentle is not None and gentle.user_fraction == pytest.approx(0.2)
    assert "clipping.aggressive" not in {f.code for f in gentle.findings}


def test_measured_clipping_over_half_means_lower_the_lr() -> None:
    result = clipping_result(grad_analysis({3: 0.1}), [1.0, 2.0], measured={7: 0.62})
    assert result is not None
    (heavy,) = [f for f in result.findings if f.code == "clipping.aggressive"]
    assert "Lower the learning rate" in heavy.action and "62%" in heavy.message
    own = Finding(
        "gradnorm.clip_aggressive",
        "warning",
        "",
        "",
        "§9",
        {"trials": [{"trial": 4, "param": "grad_clip", "threshold": 1.0, "fraction": 0.7}]},
    )
    result = clipping_result(grad_analysis({3: 0.1}, [own]), [1.0, 2.0])
    assert result is not None and "clipping.aggressive" in {f.code for f in result.findings}


def test_clipped_share_weights_intervals_by_their_length() -> None:
    trial = TrialRun(
        0, {}, "COMPLETE", curves={"clipped_share": Series((100, 200, 250), (0.5, 0.0, 1.0))}
    )
    assert clipped_share(trial) == pytest.approx((50 + 0 + 50) / 250)
    flags = TrialRun(0, {}, "COMPLETE", curves={"clipped": Series((1, 2, 3, 4), (1, 0, 0, 0))})
    assert clipped_share(flags) == 0.25
    assert clipped_share(TrialRun(0, {}, "COMPLETE")) is None
    assert clipping_result(Analysis("s", "", "m", "minimize", {}, ()), []) is None


# --- the derived studies --------------------------------------------------------------------------


def user_spec(**fixed: Any) -> StudySpec:
    return StudySpec.from_dict(
        {
            "name": "cnn",
            "entrypoint": {"python": "train:main"},
            "objective": {"metric": "dev_error"},
            "budget": {"trials": 10, "max_train_steps": 3000, "seed": 4},
            "scientific": {"dropout": {"values": [0.0, 0.1, 0.3]}},
            "nuisance": {
                "learning_rate": {"low": 1e-4, "high": 0.1, "scale": "log"},
                "weight_decay": {"low": 1e-6, "high": 1e-2, "scale": "log"},
            },
            "fixed": {"optimizer": "adam", "lr_schedule": "cosine", **fixed},
        }
    )


def make_base(spec: StudySpec, best: dict[str, Any] | None = None) -> Base:
    params, origin = base_config(spec, best, 7 if best else None)
    low, high, where = lr_range(spec, params, "learning_rate")
    return Base(spec, params, origin, low, high, where, None)


def test_max_steps_study_sweeps_lr_at_constant_rate_without_regularization() -> None:
    base = make_base(user_spec(warmup_steps=200))
    derived = derive_max_steps(base, steps=800, trials=4)
    spec = StudySpec.from_dict(derived.data)
    assert spec.name == "cnn-max-steps" and spec.search.sampler == "grid"
    assert spec.budget.trials == 4 and spec.budget.max_train_steps == 800
    assert spec.budget.seed == 4
    assert spec.nuisance["learning_rate"].values == (1e-4, 1e-3, 1e-2, 1e-1)  # type: ignore[union-attr]
    assert dict(spec.scientific) == {}
    fixed = dict(spec.fixed)
    assert fixed["dropout"] == 0.0 and fixed["weight_decay"] == 0.0
    assert fixed["lr_schedule"] == "constant" and fixed["warmup_steps"] == 0
    assert fixed["optimizer"] == "adam"
    changed = "\n".join(derived.changes)
    assert "weight_decay" in changed and "dropout" in changed and "lr_schedule" in changed


def test_derived_studies_start_from_the_best_trial_and_add_only_what_they_need() -> None:
    best = {
        "dropout": 0.1,
        "learning_rate": 0.003,
        "weight_decay": 1e-4,
        "optimizer": "adam",
        "lr_schedule": "cosine",
    }
    base = make_base(user_spec(), best)
    assert base.origin == "the best trial (#7)"
    sweep = StudySpec.from_dict(derive_lr_sweep(base, steps=100, widen=100).data)
    values = sweep.nuisance["learning_rate"].values  # type: ignore[union-attr]
    assert values[0] == 1e-4 and values[-1] == 10.0
    assert sweep.fixed["weight_decay"] == 1e-4  # stability sweeps keep the regularization
    assert "warmup_steps" not in sweep.fixed  # the study has none: none is added
    early = derive_early(base, best_lr=0.003, steps=500)
    spec = StudySpec.from_dict(early.data)
    assert spec.nuisance["learning_rate"].values == (0.003, 0.006)  # type: ignore[union-attr]
    assert spec.fixed["eval_every"] == 1
    assert any("added" in line for line in early.changes)


def test_warmup_study_is_capped_at_10_percent_and_runs_3x_the_longest_warmup() -> None:
    base = make_base(user_spec())
    derived, max_steps, lengths = derive_warmup(base, unstable_lr=0.05, factors=(10, 100))
    spec = StudySpec.from_dict(derived.data)
    assert (max_steps, lengths) == (3000, [10, 100, 300])
    assert spec.budget.max_train_steps == 900 and spec.budget.trials == 6
    assert spec.nuisance["learning_rate"].values == (0.5, 5.0)  # type: ignore[union-attr]
    with pytest.raises(ScituneError, match="10%"):
        derive_warmup(base, unstable_lr=0.05, warmups=(10, 1000))


def test_a_fixed_learning_rate_is_swept_around_its_value() -> None:
    spec = StudySpec.from_dict(
        {
            "name": "f",
            "entrypoint": {"python": "train:main"},
            "objective": {"metric": "dev_error"},
            "budget": {"trials": 1, "max_train_steps": 100},
            "fixed": {"learning_rate": 0.01},
        }
    )
    params, _ = base_config(spec, None)
    assert lr_range(spec, params, "learning_rate")[:2] == (0.001, 0.1)
    with pytest.raises(ScituneError, match="--lr-param"):
        lr_range(spec, params, "lr")


def test_public_surface_is_pinned() -> None:
    assert set(scitune.stability.__all__) == {
        "Base", "ClippingResult", "Derived", "EarlyPoint", "EarlyResult", "FitPoint", "LRPoint",
        "LRSweepResult", "MaxStepsResult", "ParamNames", "Series", "Source", "StabilityConfig",
        "StepsComparison", "TrialRun", "Verdict", "WarmupPoint", "WarmupResult", "assess",
        "clipped_share", "clipping_result", "derive_clipping", "derive_early", "derive_lr_sweep",
        "derive_max_steps", "derive_warmup", "early_result", "log_grid", "loss_rise",
        "lr_sweep_result", "max_steps_result", "open_source", "run_derived", "runs_of",
        "steps_comparison", "stored_study", "warmup_lengths", "warmup_result", "write_derived",
    }  # fmt: skip
    for name in scitune.stability.__all__:
        assert getattr(scitune.stability, name) is not None
