"""Project figures: comparisons as point + interval rows, the rounds on a time axis."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scitune.evidence import compare_samples
from scitune.plots import ComparisonRow, comparisons_figure, rounds_figure
from scitune.plots._style import BLUE, GREEN, GREY, ORANGE, RED
from scitune.report._project import comparison_of
from tests.plots.synthetic import HOSTILE, IMG, XSS, make_project

NOW = datetime.now(UTC)


def comparison(base: list[float], cand: list[float], **kw: Any) -> Any:
    return compare_samples(base, cand, metric="dev_error", goal="minimize", **kw)


def trace(fig: Any, name_start: str) -> Any:
    return next(t for t in fig.data if (t.name or "").startswith(name_start))


def test_each_comparison_is_a_point_with_its_interval() -> None:
    better = comparison([0.112, 0.118, 0.115], [0.101, 0.104, 0.099])
    noise = comparison([0.112, 0.118], [0.111, 0.119])
    worse = comparison([0.101, 0.104, 0.099], [0.112, 0.118, 0.115])
    assert (better.verdict, noise.verdict, worse.verdict) == (
        "adopt",
        "not enough evidence",
        "worse",
    )
    rows = [ComparisonRow("a", better), ComparisonRow("b", noise), ComparisonRow("c", worse)]
    fig = comparisons_figure(rows, title="t")
    adopt = trace(fig, "adopt")
    assert list(adopt.y) == [0] and adopt.marker.color == GREEN
    assert adopt.x[0] == pytest.approx(better.improvement)
    assert adopt.error_x.array[0] == pytest.approx(better.ci_high - better.improvement)
    assert adopt.error_x.arrayminus[0] == pytest.approx(better.improvement - better.ci_low)
    assert list(trace(fig, "not enough evidence").y) == [1]
    assert list(trace(fig, "worse").y) == [2] and trace(fig, "worse").marker.color == RED
    assert list(fig.layout.yaxis.ticktext) == ["a", "b", "c"]
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # the first row on top
    assert fig.layout.shapes[0].x0 == 0  # the "no change" line
    assert "in dev_error" in fig.layout.xaxis.title.text
    assert "95% interval" in adopt.text[0] and "probability the candidate" in adopt.text[0]
    assert all("declared cost" not in (t.name or "") for t in fig.data)


def test_a_declared_cost_is_drawn_on_its_row() -> None:
    small = comparison([0.112, 0.118, 0.115], [0.101, 0.104, 0.099], cost=0.02)
    plain = comparison([0.112, 0.118, 0.115], [0.101, 0.104, 0.099])
    fig = comparisons_figure(
        [ComparisonRow("no cost", plain), ComparisonRow("cost", small)], title="t"
    )
    cost = trace(fig, "declared cost")
    assert [x for x in cost.x if x is not None] == [0.02, 0.02]
    assert [y for y in cost.y if y is not None] == pytest.approx([0.62, 1.38])


def test_forced_adoptions_are_marked() -> None:
    noise = comparison([0.112, 0.118], [0.111, 0.119])
    fig = comparisons_figure(
        [ComparisonRow("kept", noise), ComparisonRow("pushed", noise, forced=True)], title="t"
    )
    tick = list(fig.layout.yaxis.ticktext)
    assert "forced" not in tick[0] and "forced" in tick[1]
    points = trace(fig, "not enough evidence")
    assert list(points.marker.symbol) == ["circle", "diamond"]
    assert list(points.marker.line.color) == ["#ffffff", ORANGE]
    assert "adopted anyway (forced)" in points.text[1]


def test_a_single_run_comparison_has_no_interval() -> None:
    lone = comparison([0.112, 0.118, 0.115], [0.101])
    assert math.isinf(lone.ci_low)
    fig = comparisons_figure([ComparisonRow("one run", lone)], title="t")
    point = trace(fig, "no interval")
    assert list(point.y) == [0] and point.error_x.array is None
    assert "no interval" in point.text[0]
    assert "Infinity" not in str(fig.to_json()) and "NaN" not in str(fig.to_json())


def test_rounds_run_from_opened_to_closed_with_their_decisions() -> None:
    rounds, decisions = make_project("cnn-dropout")
    fig = rounds_figure(rounds, decisions, now=NOW, current={3})
    here, other = trace(fig, "this study's round"), trace(fig, "round")
    assert here.line.color == BLUE and other.line.color == GREY
    assert [y for y in here.y if y is not None] == [2, 2]
    assert [y for y in other.y if y is not None] == [0, 0, 1, 1]
    open_round = rounds[2]
    end = NOW.astimezone().strftime("%Y-%m-%d %H:%M")
    assert here.x[1].startswith(end)  # an open round runs to now
    assert here.x[0] == open_round.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    adopted, rejected = trace(fig, "adopted"), trace(fig, "rejected")
    assert list(adopted.y) == [0, 0, 2] and list(rejected.y) == [1, 1, 2]
    assert list(adopted.marker.line.color).count(ORANGE) == 1  # the forced adoption
    assert list(fig.layout.yaxis.ticktext) == ["round 1", "round 2", "round 3"]


def test_decisions_outside_rounds_get_their_own_row() -> None:
    rounds, decisions = make_project("s")
    loose = [d for d in decisions if d.round_number == 1]
    fig = rounds_figure(rounds[1:], loose, now=NOW)
    assert list(fig.layout.yaxis.ticktext) == ["round 2", "round 3", "no round"]
    assert list(trace(fig, "adopted").y) == [2, 2]


def test_naive_times_are_drawn_as_they_are() -> None:
    rounds, _ = make_project("s")
    naive = [dataclasses.replace(rounds[0], created_at=datetime(2025, 1, 1), closed_at=None)]
    fig = rounds_figure(naive, now=datetime(2025, 1, 1) + timedelta(days=2))
    assert list(fig.data[0].x[:2]) == ["2025-01-01 00:00:00", "2025-01-03 00:00:00"]


def test_hostile_strings_never_reach_a_project_figure_raw() -> None:
    rounds, decisions = make_project("s", hostile=True)
    rows = []
    for d in decisions:
        if "comparison" in d.evidence:
            c = comparison_of(d.evidence)
            assert c is not None
            rows.append(ComparisonRow(f"#{d.id} {XSS}", c, note=d.notes))
    figures = [
        comparisons_figure(rows, title=f"title {IMG}", subtitle=XSS),
        rounds_figure(rounds, decisions, now=NOW),
    ]
    for fig in figures:
        text = str(fig.to_json())
        for raw in HOSTILE:
            assert raw not in text
    assert "&lt;script&gt;" in str(figures[0].to_json())
