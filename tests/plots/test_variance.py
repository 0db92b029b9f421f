"""Variance figures: error bars only where a configuration was rerun; the bootstrap's shares."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scitune.evidence import ConfigVariance
from scitune.plots import (
    isolation_figure,
    scientific_share_figure,
    trial_params,
    trial_variance_figure,
    winner_share_figure,
)
from scitune.plots._style import GOLD
from tests.plots.synthetic import HOSTILE, Synthetic, make_study

RERUN_TRACE = "best trial's reruns: mean ± se"


@pytest.fixture(scope="module")
def plain() -> Synthetic:
    return make_study(per_value=12)


@pytest.fixture(scope="module")
def rerun() -> Synthetic:
    return make_study(per_value=12, reruns=3)


@pytest.fixture(scope="module")
def hostile() -> Synthetic:
    return make_study(per_value=12, reruns=2, hostile=True)


def has_error_bars(fig: Any) -> bool:
    return any(
        t.error_y is not None and t.error_y.array is not None and len(t.error_y.array)
        for t in fig.data
    )


# -- isolation with reruns ----------------------------------------------------------------------
def test_isolation_without_reruns_has_no_error_bars(plain: Synthetic, rerun: Synthetic) -> None:
    result = plain.analysis.isolation[0]
    assert not has_error_bars(isolation_figure(result, metric=plain.metric, goal="minimize"))
    # Configurations with a single run (the analysis lists every one) draw no bar either.
    singles = [v for v in rerun.analysis.config_variance if v.n == 1]
    assert singles
    fig = isolation_figure(
        rerun.analysis.isolation[0], metric=rerun.metric, goal="minimize", variance=singles
    )
    assert not has_error_bars(fig)
    assert all(t.name != RERUN_TRACE for t in fig.data)


def test_isolation_shows_mean_and_se_of_the_best_trials_reruns(rerun: Synthetic) -> None:
    result = rerun.analysis.isolation[0]
    variance = {v.trial: v for v in rerun.analysis.config_variance}
    fig = isolation_figure(
        result, metric=rerun.metric, goal="minimize", variance=rerun.analysis.config_variance
    )
    bars = next(t for t in fig.data if t.name == RERUN_TRACE)
    groups = [g for g in result.groups if g.best_trial in variance]
    assert len(groups) == len(result.groups) == 3  # the synthetic study reran every value's best
    expected = [variance[g.best_trial] for g in groups if g.best_trial is not None]
    assert list(bars.y) == pytest.approx([v.mean for v in expected])
    assert list(bars.error_y.array) == pytest.approx([v.se for v in expected])
    # Next to the value's best score, not on top of it.
    labels = [g.label for g in result.groups]
    for x, g in zip(bars.x, groups, strict=True):
        assert 0.2 < x - labels.index(g.label) < 0.4
    # The hover says how many runs, on the bar and on the best score itself.
    assert all(f"over {v.n} runs" in text for v, text in zip(expected, bars.text, strict=True))
    winner = next(t for t in fig.data if (t.name or "").startswith("winner"))
    assert "4 runs: mean" in winner.text[0]


def test_isolation_error_bars_only_where_the_best_trial_was_rerun(rerun: Synthetic) -> None:
    result = rerun.analysis.isolation[0]
    first = result.groups[0].best_trial
    only = [v for v in rerun.analysis.config_variance if v.trial == first]
    fig = isolation_figure(result, metric=rerun.metric, goal="minimize", variance=only)
    bars = next(t for t in fig.data if t.name == RERUN_TRACE)
    assert len(bars.x) == 1 and 0.2 < bars.x[0] < 0.4


# -- trial variance -----------------------------------------------------------------------------
def test_trial_variance_draws_every_run_and_the_mean_with_its_se(rerun: Synthetic) -> None:
    variances = rerun.analysis.config_variance
    shown = [v for v in variances if v.n >= 2]
    fig = trial_variance_figure(
        variances, metric=rerun.metric, goal="minimize", params=trial_params(rerun.snapshot)
    )
    dots, means = fig.data
    assert len(dots.y) == sum(v.n for v in shown)
    assert sorted(dots.y) == pytest.approx(sorted(x for v in shown for x in v.values))
    assert list(means.y) == pytest.approx([v.mean for v in shown])
    assert list(means.error_y.array) == pytest.approx([v.se for v in shown])
    assert fig.layout.xaxis.ticktext[0].startswith(f"trial {shown[0].trial}<br>")
    assert "learning_rate = " in means.text[0] and "sd between runs" in means.text[0]
    assert any("a rerun of trial" in t for t in dots.text)


def test_trial_variance_caps_the_configurations(rerun: Synthetic) -> None:
    fig = trial_variance_figure(
        rerun.analysis.config_variance, metric=rerun.metric, goal="minimize", limit=2
    )
    assert len(fig.data[1].y) == 2
    assert "the 2 best of 3" in fig.layout.title.subtitle.text


# -- study variance -----------------------------------------------------------------------------
def test_winner_shares_gold_for_the_observed_winner(rerun: Synthetic) -> None:
    study = rerun.analysis.study_variance
    assert study is not None
    fig = winner_share_figure(study)
    bar = fig.data[0]
    assert list(bar.y) == list(study.winner_share.values())
    assert bar.x[0] == f"trial {study.winner}" and bar.marker.color[0] == GOLD
    assert list(bar.marker.color).count(GOLD) == 1
    assert "retrain sd 0.004" in fig.layout.title.subtitle.text
    quiet = winner_share_figure(dataclasses.replace(study, noise_sd=None))
    assert "wins every redraw that draws it" in quiet.layout.title.subtitle.text


def test_scientific_shares_one_bar_per_value(rerun: Synthetic) -> None:
    study = rerun.analysis.study_variance
    assert study is not None
    fig = scientific_share_figure(study, "dropout")
    assert list(fig.layout.xaxis.ticktext) == ["0", "0.1", "0.3"]
    own = study.winner_labels["dropout"]
    colors = list(fig.data[0].marker.color)
    assert colors[["0", "0.1", "0.3"].index(own)] == GOLD and colors.count(GOLD) == 1
    partial = dataclasses.replace(study, scientific_share={"dropout": {"0": 0.1, "0.1": 0.6}})
    subtitle = scientific_share_figure(partial, "dropout").layout.title.subtitle.text
    assert "30% of winners lack dropout" in subtitle


def test_hostile_strings_never_reach_a_variance_figure_raw(hostile: Synthetic) -> None:
    a = hostile.analysis
    assert a.study_variance is not None
    params = trial_params(hostile.snapshot)
    figures = [
        isolation_figure(
            a.isolation[0], metric=hostile.metric, goal="minimize", variance=a.config_variance
        ),
        trial_variance_figure(
            a.config_variance, metric=hostile.metric, goal="minimize", params=params
        ),
        winner_share_figure(a.study_variance, params=params),
        scientific_share_figure(a.study_variance, "dropout"),
    ]
    for fig in figures:
        text = str(fig.to_json())
        for raw in HOSTILE:
            assert raw not in text


def test_a_configuration_without_se_is_not_drawn_as_rerun() -> None:
    lone = ConfigVariance(1, {}, (1,), (0.5,), 1, 0.5, None, None)
    fig = trial_variance_figure([lone], metric="m", goal="minimize")
    assert len(fig.data[0].y) == 0 and len(fig.data[1].y) == 0
