"""The figure builders draw the analysis records as they are: axes, markers, bands, hover."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from scitune.analysis._results import AxisPoint, AxisResult, IsolationGroup, IsolationResult
from scitune.plots import (
    all_curves_figure,
    axis_figure,
    best_of_k_figure,
    best_step_figure,
    curves_figure,
    curves_overlay_figure,
    downsample,
    downsample_indices,
    grad_norm_figures,
    isolation_figure,
    trial_params,
)
from scitune.plots._style import GREY, ORANGE, RED
from scitune.storage import TrialState
from tests.plots.synthetic import HOSTILE, IMG, Synthetic, make_study


@pytest.fixture(scope="module")
def study() -> Synthetic:
    return make_study(per_value=20)


@pytest.fixture(scope="module")
def hostile() -> Synthetic:
    return make_study(per_value=12, hostile=True)


def axis(study: Synthetic, key: str) -> AxisResult:
    return next(a for a in study.analysis.axes if a.key == key)


def trace(fig: Any, name_start: str) -> Any:
    return next(t for t in fig.data if (t.name or "").startswith(name_start))


def all_text(fig: Any) -> str:
    """Every string plotly would render: the figure's JSON."""
    return str(fig.to_json())


# -- axis plots ---------------------------------------------------------------------------------
def test_log_axis_is_drawn_on_a_log_x_axis_spanning_the_range(study: Synthetic) -> None:
    fig = axis_figure(axis(study, "learning_rate"), metric=study.metric, goal="minimize")
    assert fig.layout.xaxis.type == "log"
    lo, hi = fig.layout.xaxis.range
    assert lo < math.log10(1e-4) < math.log10(0.3) < hi
    assert "log scale" in fig.layout.title.text


def test_reverse_log_is_drawn_linear_and_says_so(study: Synthetic) -> None:
    fig = axis_figure(axis(study, "beta1[optimizer=adam]"), metric=study.metric, goal="minimize")
    assert fig.layout.xaxis.type == "linear"
    assert "reverse-log" in fig.layout.title.text and "linear axis" in fig.layout.title.text


def test_categorical_axis_has_one_tick_per_choice(study: Synthetic) -> None:
    fig = axis_figure(axis(study, "activation"), metric=study.metric, goal="minimize")
    assert list(fig.layout.xaxis.ticktext) == ["relu", "gelu"]
    xs = np.concatenate([np.asarray(t.x, dtype=float) for t in fig.data])
    assert np.all(np.abs(xs - np.round(xs)) < 0.25)  # jittered around a category


def test_infeasible_trials_are_red_crosses_past_the_worst_score(study: Synthetic) -> None:
    result = axis(study, "learning_rate")
    fig = axis_figure(result, metric=study.metric, goal="minimize")
    bad = trace(fig, "infeasible")
    n_infeasible = sum(p.state == "INFEASIBLE" for p in result.points)
    assert n_infeasible and len(bad.x) == n_infeasible
    assert bad.marker.color == RED and "x" in bad.marker.symbol
    worst = max(p.score for p in result.points if p.score is not None)
    assert min(bad.y) > worst
    assert sorted(bad.customdata) == sorted(
        p.trial for p in result.points if p.state == "INFEASIBLE"
    )


def test_infeasible_row_sits_at_the_bottom_when_maximizing(study: Synthetic) -> None:
    result = axis(study, "learning_rate")
    flipped = dataclasses.replace(
        result,
        points=tuple(
            dataclasses.replace(p, score=None if p.score is None else 1 - p.score)
            for p in result.points
        ),
    )
    fig = axis_figure(flipped, metric="accuracy", goal="maximize")
    best = min(p.score for p in flipped.points if p.score is not None)
    assert max(trace(fig, "infeasible").y) < best
    assert "higher is better" in fig.layout.yaxis.title.text


def test_failed_trials_are_counted_not_drawn(study: Synthetic) -> None:
    result = axis(study, "weight_decay")
    failed = {p.trial for p in result.points if p.state == "FAILED"}
    assert failed
    fig = axis_figure(result, metric=study.metric, goal="minimize")
    drawn = {n for t in fig.data for n in (t.customdata or ())}
    assert not failed & drawn
    assert f"{len(failed)} failed (not shown)" in fig.layout.title.subtitle.text


def test_constraint_breakers_are_grey_and_not_ranked(study: Synthetic) -> None:
    result = axis(study, "weight_decay")
    fig = axis_figure(result, metric=study.metric, goal="minimize")
    grey = trace(fig, "breaks a constraint")
    expected = {p.trial for p in result.points if p.score is not None and not p.ranked}
    assert expected and set(grey.customdata) == expected
    assert grey.marker.color == GREY


def test_boundary_band_is_shaded_in_sampler_coordinates(study: Synthetic) -> None:
    result = axis(study, "learning_rate")  # near_edge="high", margin=0.1, log scale
    fig = axis_figure(result, metric=study.metric, goal="minimize")
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 2
    low, high = sorted(rects, key=lambda s: s.x0)
    ratio = (0.3 / 1e-4) ** 0.1  # 10% of the range in log coordinates
    assert low.x0 == pytest.approx(1e-4) and low.x1 == pytest.approx(1e-4 * ratio)
    assert high.x0 == pytest.approx(0.3 / ratio) and high.x1 == pytest.approx(0.3)
    assert high.fillcolor == ORANGE and high.opacity > low.opacity
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "high edge" in notes and "expand upward" in notes


def test_no_band_without_margin_or_on_categories(study: Synthetic) -> None:
    plain = dataclasses.replace(axis(study, "weight_decay"), margin=0.0)
    assert not [
        s for s in axis_figure(plain, metric="m", goal="minimize").layout.shapes if s.type == "rect"
    ]
    choice = axis_figure(axis(study, "activation"), metric="m", goal="minimize")
    assert not [s for s in choice.layout.shapes if s.type == "rect"]


def test_hover_shows_trial_number_params_and_score(study: Synthetic) -> None:
    params = trial_params(study.snapshot)
    fig = axis_figure(
        axis(study, "learning_rate"), metric=study.metric, goal="minimize", params=params
    )
    ranked = trace(fig, "ranked")
    number, text = ranked.customdata[0], ranked.text[0]
    assert f"trial {number}" in text
    for name in ("learning_rate", "weight_decay", "dropout", "activation", "beta1"):
        assert f"{name} = " in text
    assert "batch_size" not in text  # fixed: listed once in the report, not per point
    assert f"{study.metric} = " in text


def test_the_best_trial_is_a_star(study: Synthetic) -> None:
    fig = axis_figure(axis(study, "dropout"), metric=study.metric, goal="minimize")
    best = trace(fig, "best")
    assert best.marker.symbol == "star"
    assert best.customdata[0] == study.snapshot.ranked()[0].number


def test_user_strings_are_escaped_in_axis_plots(hostile: Synthetic) -> None:
    params = trial_params(hostile.snapshot)
    for result in hostile.analysis.axes:
        fig = axis_figure(result, metric=hostile.metric, goal="minimize", params=params)
        text = all_text(fig)
        for raw in HOSTILE:
            assert raw not in text
    fig = axis_figure(
        axis(hostile, "activation"), metric=hostile.metric, goal="minimize", params=params
    )
    # Long tick labels are cut (escaped after cutting); the hover label has the full value.
    assert "&lt;img src=x onerror=…" in list(fig.layout.xaxis.ticktext)
    assert any("&lt;img src=x onerror=alert(2)&gt;" in t for t in trace(fig, "ranked").text)


# -- isolation ----------------------------------------------------------------------------------
def test_isolation_marks_the_winner_and_gives_the_verdict(study: Synthetic) -> None:
    result = study.analysis.isolation[0]
    fig = isolation_figure(result, metric=study.metric, goal="minimize")
    winner = trace(fig, "winner")
    labels = [g.label for g in result.groups]
    assert winner.x[0] == labels.index(result.best_label or "")
    assert winner.marker.symbol == "star"
    best = trace(fig, "best per value")
    assert len(best.x) == len(result.groups) - 1
    strips = [t for t in fig.data if t.name == "every ranked trial"]
    assert [len(t.y) for t in strips] == [len(g.scores) for g in result.groups]
    assert sum(bool(t.showlegend is not False) for t in strips) == 1
    subtitle = fig.layout.title.subtitle.text
    assert "thin nuisance search" in subtitle and result.reasons[0] in subtitle
    assert any("best at edge" in t for t in fig.layout.xaxis.ticktext)


def test_isolation_fair_verdict_and_empty_group() -> None:
    groups = (
        IsolationGroup("a", "a", None, None, 3, 3, 0, 1, 0.2, (0.2, 0.3, 0.4)),
        IsolationGroup("b", "b", None, None, 3, 0, 3, None, None, ()),
    )
    fig = isolation_figure(
        IsolationResult("opt", groups, "fair", best_label="a"), metric="m", goal="minimize"
    )
    assert "fair comparison" in fig.layout.title.subtitle.text
    assert any("no ranked trial" in a.text for a in fig.layout.annotations)


# -- curves -------------------------------------------------------------------------------------
def test_best_curves_show_dev_and_train_with_the_best_step(study: Synthetic) -> None:
    top = [t.number for t in study.snapshot.ranked()[:3]]
    fig = curves_figure(
        study.snapshot,
        top,
        metric=study.metric,
        train_metric="train_loss",
        labels={top[0]: "best 1"},
    )
    assert fig.layout.yaxis2 is not None  # two rows
    dev = [t for t in fig.data if t.mode == "lines" and t.yaxis == "y"]
    train = [t for t in fig.data if t.mode == "lines" and t.yaxis == "y2"]
    assert len(dev) == len(train) == 3
    assert [d.line.color for d in dev] == [t.line.color for t in train]
    assert len(dev[0].x) == 100  # whole: every logged step
    assert "best 1" in dev[0].name
    marks = [t for t in fig.data if t.mode == "markers"]
    best = study.snapshot.ranked()[0]
    assert marks[0].x[0] == best.value_step and marks[0].y[0] == pytest.approx(best.value)


def test_small_multiples_cap_the_panels_best_first(study: Synthetic) -> None:
    fig = all_curves_figure(study.snapshot, metric=study.metric, max_panels=12, max_points=30)
    assert len(fig.data) == 12
    assert all(len(t.x) <= 34 for t in fig.data)
    assert "not shown" in fig.layout.title.subtitle.text
    first = fig.layout.annotations[0].text
    assert f"trial {study.snapshot.ranked()[0].number}" in first and "#1" in first
    everything = all_curves_figure(study.snapshot, metric=study.metric)
    assert len(everything.data) == len(study.snapshot.trials)


def test_overlay_keeps_the_best_whole_and_downsamples_the_rest(study: Synthetic) -> None:
    fig = curves_overlay_figure(study.snapshot, metric=study.metric, keep_whole=3, max_points=20)
    whole = [t for t in fig.data if (t.name or "").startswith("rank ")]
    assert len(whole) == 3 and all(len(t.x) == 100 for t in whole)
    background = [t for t in fig.data if t not in whole]
    ranked = len(study.snapshot.ranked())
    infeasible = sum(t.state is TrialState.INFEASIBLE for t in study.snapshot.trials)
    gaps = sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in background)
    assert gaps == ranked - 3 + infeasible  # one NaN gap after each curve
    points = sum(len(t.x) for t in background) - gaps
    assert points <= (ranked - 3 + infeasible) * 24
    capped = curves_overlay_figure(study.snapshot, metric=study.metric, max_curves=10)
    assert "evenly spaced by rank" in capped.layout.title.subtitle.text


# -- study-level figures ------------------------------------------------------------------------
def test_best_of_k_has_median_band_and_observed_best(study: Synthetic) -> None:
    bok = study.analysis.best_of_k
    assert bok is not None
    fig = best_of_k_figure(bok, metric=study.metric, goal="minimize")
    band, median = fig.data
    assert band.fill == "toself" and len(band.x) == 2 * len(bok.k)
    assert list(median.x) == list(bok.k) and list(median.y) == list(bok.median)
    assert fig.layout.shapes[0].y0 == pytest.approx(bok.observed_best)


def test_best_step_histogram_shades_both_zones(study: Synthetic) -> None:
    summary = study.analysis.best_steps
    assert summary is not None
    fig = best_step_figure(summary)
    zones = sorted((s.x0, s.x1) for s in fig.layout.shapes)
    assert zones == [(0.0, 0.1), (0.75, 1.0)]
    assert len(fig.data[0].x) == len(summary.fractions)


def test_grad_norm_figures_carry_the_threshold(study: Synthetic) -> None:
    summary = study.analysis.grad_norm
    assert summary is not None
    over, hist = grad_norm_figures(study.snapshot, summary)
    lines = [t for t in over.data if t.mode == "lines"]
    assert len(lines) == len(summary.clipped_fraction)
    assert over.layout.shapes[0].y0 == pytest.approx(summary.threshold)
    assert hist.layout.shapes[0].x0 == pytest.approx(summary.threshold)
    counts = np.asarray(hist.data[0].y)[::2]
    assert counts.sum() == sum(
        len(study.snapshot.curves[t.id]["grad_norm"])
        for t in study.snapshot.trials
        if t.number in summary.clipped_fraction
    )


def test_spikes_are_marked() -> None:
    study = make_study(per_value=12)
    summary = study.analysis.grad_norm
    assert summary is not None
    number = next(iter(summary.clipped_fraction))
    trial = next(t for t in study.snapshot.trials if t.number == number)
    step = int(study.snapshot.curves[trial.id]["grad_norm"].steps[10])
    spiky = dataclasses.replace(summary, spikes={number: (step,)})
    over, _ = grad_norm_figures(study.snapshot, spiky)
    marks = [t for t in over.data if t.mode == "markers"]
    assert len(marks) == 1 and list(marks[0].x) == [step]


def test_hostile_strings_never_reach_a_figure_raw(hostile: Synthetic) -> None:
    snap, a, metric = hostile.snapshot, hostile.analysis, hostile.metric
    assert a.best_of_k is not None and a.best_steps is not None and a.grad_norm is not None
    figures = [
        isolation_figure(a.isolation[0], metric=metric, goal="minimize"),
        curves_figure(
            snap,
            [c.trial for c in a.curve_checks],
            metric=metric,
            train_metric="train_loss",
            labels={c.trial: IMG for c in a.curve_checks},
        ),
        all_curves_figure(snap, metric=metric),
        curves_overlay_figure(snap, metric=metric),
        best_of_k_figure(a.best_of_k, metric=metric, goal="minimize"),
        best_step_figure(a.best_steps),
        *grad_norm_figures(snap, a.grad_norm),
    ]
    for fig in figures:
        text = all_text(fig)
        for raw in HOSTILE:
            assert raw not in text


# -- downsampling -------------------------------------------------------------------------------
def test_downsampling_keeps_endpoints_and_extremes() -> None:
    rng = np.random.default_rng(1)
    x = np.arange(10_000, dtype=np.int64)
    y = rng.normal(size=x.size).cumsum()
    idx = downsample_indices(x, y, 100)
    assert idx[0] == 0 and idx[-1] == x.size - 1
    assert int(np.argmin(y)) in idx and int(np.argmax(y)) in idx
    assert len(idx) <= 104 and np.all(np.diff(idx) > 0)


def test_downsampling_keeps_where_a_run_diverged() -> None:
    x = np.arange(1000)
    y = np.linspace(1.0, 0.1, 1000)
    y[600] = np.inf
    y[601:] = np.nan
    xs, ys = downsample(x, y, 50)
    assert 600 in xs and math.isinf(ys[list(xs).index(600)])
    assert xs[-1] == 999
    assert int(np.argmin(np.where(np.isfinite(y), y, np.nan)[:600])) in xs


def test_short_or_empty_curves_are_kept_whole() -> None:
    assert list(downsample_indices(np.arange(5), np.ones(5), 10)) == [0, 1, 2, 3, 4]
    assert len(downsample_indices(np.arange(0), np.ones(0), 10)) == 0
    all_nan = downsample_indices(np.arange(100), np.full(100, np.nan), 10)
    assert all_nan[0] == 0 and all_nan[-1] == 99
    with pytest.raises(ValueError, match="n_out"):
        downsample_indices(np.arange(10), np.ones(10), 2)


def test_points_of_an_axis_keep_their_state() -> None:
    # A hand-made axis with every state, to pin the legend and subtitle.
    points = (
        AxisPoint(1, 0.1, 0.1, 0.5, "COMPLETE", True),
        AxisPoint(2, 0.2, 0.2, 0.4, "COMPLETE", False),
        AxisPoint(3, 0.3, 0.3, None, "INFEASIBLE", False),
        AxisPoint(4, 0.4, 0.4, None, "FAILED", False),
        AxisPoint(5, 0.5, 0.5, None, "PENDING", False),
    )
    result = AxisResult(
        "x", "x", "nuisance", "float", "linear", 0.0, 1.0, None, points, near_edge="low", margin=0.2
    )
    fig = axis_figure(result, metric="m", goal="minimize")
    names = [t.name for t in fig.data]
    assert names == ["ranked (1)", "breaks a constraint (1)", "best (trial 1)", "infeasible (1)"]
    assert "4 trials" not in fig.layout.title.subtitle.text
    assert "3 trials" in fig.layout.title.subtitle.text
    low = min((s for s in fig.layout.shapes if s.type == "rect"), key=lambda s: s.x0)
    assert low.fillcolor == ORANGE and low.x1 == pytest.approx(0.2)


# -- the package ----------------------------------------------------------------------------------
def test_public_surface_is_pinned() -> None:
    import scitune.plots
    import scitune.report

    assert set(scitune.plots.__all__) == {
        "ComparisonRow",
        "all_curves_figure",
        "axis_figure",
        "best_of_k_figure",
        "best_step_figure",
        "comparisons_figure",
        "curves_figure",
        "curves_overlay_figure",
        "downsample",
        "downsample_indices",
        "grad_norm_figures",
        "isolation_figure",
        "rounds_figure",
        "scientific_share_figure",
        "trial_params",
        "trial_variance_figure",
        "winner_share_figure",
    }
    assert set(scitune.report.__all__) == {"ProjectRecords", "render_report", "write_report"}


def test_analysis_and_cli_do_not_load_plotly() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import sys, json, scitune, scitune.analysis, scitune.cli; "
        "print(json.dumps([m for m in ('plotly', 'tsdownsample') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_a_metric_named_like_a_template_variable_is_shown_as_is(study: Synthetic) -> None:
    top = [t.number for t in study.snapshot.ranked()[:1]]
    fig = curves_figure(study.snapshot, top, metric="%{x}", train_metric=None)
    # The figure has no such metric (no curve), so check the escaping helper directly too.
    from scitune.plots._style import tesc

    assert tesc("%{x}<b>") == "%&#123;x}&lt;b&gt;"
    assert fig.layout.yaxis.title.text.startswith("%{x}")  # titles are not templates
