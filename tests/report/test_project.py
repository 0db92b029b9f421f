"""The report with a project and reruns: rounds, lineage, rejected ideas, trial variance."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest

from scitune.analysis._results import to_jsonable
from scitune.evidence import compare_samples
from scitune.project import config_diff
from scitune.report import ProjectRecords, render_report, write_report
from scitune.report._project import comparison_of
from tests.plots.synthetic import (
    CLOSE,
    HOSTILE,
    IMG,
    QUOTES,
    XSS,
    Synthetic,
    make_project,
    make_study,
)
from tests.report.test_report import ARTIFACTS, browser, expected_plots, open_report


@pytest.fixture(scope="module")
def study() -> Synthetic:
    return make_study(per_value=12, reruns=3)


@pytest.fixture(scope="module")
def project(study: Synthetic) -> ProjectRecords:
    return ProjectRecords(*make_project(study.analysis.study))


@pytest.fixture(scope="module")
def page(study: Synthetic, project: ProjectRecords) -> str:
    return render_report(study.analysis, study.snapshot, project=project)


def section(page: str, anchor: str) -> str:
    found = re.search(rf"<section id='{anchor}'>(.*?)</section>", page, re.S)
    assert found is not None, anchor
    return found.group(1)


FIGURE = re.compile(r'<script type="application/json" id="fig-\d+">(.*?)</script>')


def figures(html: str) -> list[dict[str, object]]:
    return [json.loads(block) for block in FIGURE.findall(html)]


# Trial variance: runs, winner shares, dropout shares. Project: rounds, the lineage's intervals,
# the rejected ideas' intervals.
VARIANCE_PLOTS = 3
PROJECT_PLOTS = 3


# -- records ------------------------------------------------------------------------------------
def test_project_records_are_tuples_of_records() -> None:
    rounds, decisions = make_project("s")
    records = ProjectRecords(list(rounds), list(decisions))  # type: ignore[arg-type]
    assert isinstance(records.rounds, tuple) and isinstance(records.decisions, tuple)
    with pytest.raises(TypeError, match=r"ProjectRecords\.rounds holds RoundRecord.*list_rounds"):
        ProjectRecords((decisions[0],))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ProjectRecords\.decisions holds DecisionRecord"):
        ProjectRecords((), ({"kind": "adopt"},))  # type: ignore[arg-type]


def test_a_stored_comparison_reads_back_as_it_was() -> None:
    for base, cand in (([0.11, 0.12, 0.115], [0.1, 0.104, 0.099]), ([0.11, 0.12], [0.1])):
        c = compare_samples(base, cand, metric="m", goal="minimize", cost=0.001)
        back = comparison_of({"comparison": json.loads(json.dumps(to_jsonable(c)))})
        assert back is not None
        for field in dataclasses.fields(c):
            a, b = getattr(c, field.name), getattr(back, field.name)
            if isinstance(a, float) and math.isnan(a):
                assert math.isnan(b)
            else:
                assert a == b, field.name
    assert comparison_of({}) is None
    assert comparison_of({"comparison": {"verdict": "adopt"}}) is None
    assert comparison_of({"comparison": "adopt"}) is None


def test_config_diff_lists_what_changed_and_what_appeared() -> None:
    assert config_diff({"lr": 0.1, "wd": 0.0}, {"lr": 0.2, "wd": 0.0, "act": "gelu"}) == (
        ("lr", 0.1, 0.2),
        ("act", None, "gelu"),
    )
    assert config_diff({"flag": 1}, {"flag": True}) == (("flag", 1, True),)
    # Labels are not hyperparameters; training length is one, when both sides know it.
    steps = {"lr": 0.1, "_round1": "t3", "max_train_steps": 3000}
    assert config_diff(steps, {"lr": 0.1, "max_train_steps": 9000}) == (
        ("max_train_steps", 3000, 9000),
    )
    assert config_diff(steps, {"lr": 0.1}) == ()


# -- the sections -------------------------------------------------------------------------------
def test_without_project_data_there_is_no_project_section(study: Synthetic) -> None:
    page = render_report(study.analysis, study.snapshot)
    assert "id='project'" not in page and "href='#project'" not in page
    empty = render_report(study.analysis, study.snapshot, project=ProjectRecords())
    assert "id='project'" not in empty


def test_every_plot_is_there(study: Synthetic, page: str) -> None:
    blocks = re.findall(r"<div class='plot' data-fig='(fig-\d+)'", page)
    assert len(blocks) == expected_plots(study) + VARIANCE_PLOTS + PROJECT_PLOTS
    assert "could not draw" not in page
    nav = re.findall(r"<a href='#([a-z-]+)'>", page)
    assert nav.index("isolation") < nav.index("variance") < nav.index("density")
    assert nav.index("stability") < nav.index("project") < nav.index("trials")


def test_rounds_are_listed_newest_first_with_this_studys_round_highlighted(
    study: Synthetic, page: str
) -> None:
    html = section(page, "project")
    rounds = re.findall(r"<li class='(round[a-z ]*)'>.*?<b>Round (\d)</b>", html)
    assert rounds == [("round current", "3"), ("round", "2"), ("round", "1")]
    current = html[html.index("<li class='round current'>") :]
    current = current[: current.index("</li>")]
    assert "this study's round" in current and "still open" in current
    assert f"<span class='chip chip-here'>{study.analysis.study}</span>" in current
    assert "#5 adopted cnn-dropout#7 (forced)" in current
    assert "Find a learning rate that trains the CNN stably" in html
    assert "keep the baseline" in html and "warmup fixed the early divergence" in html
    assert "cnn-lr: 1 warning, 1 info" in html  # the findings it was closed on
    assert re.search(r"opened \d{4}-\d\d-\d\d \d\d:\d\d · closed \d{4}-", html)


def test_lineage_shows_each_adoption_with_its_change_and_evidence(page: str) -> None:
    html = section(page, "project")
    lineage = html[html.index("Baseline lineage") : html.index("Rejected ideas")]
    rows = re.findall(r"<tr><td class='n'>#(\d+)</td>", lineage)
    assert rows == ["1", "2", "5"]  # the adoptions, in order
    assert "first baseline" in lineage
    assert "<span class='diff'><b>learning_rate</b> 0.01 → 0.03</span>" in lineage
    assert "<b>dropout</b> 0 → 0.1" in lineage and "<b>activation</b> relu → gelu" in lineage
    assert "<span class='verdict v-adopt'>adopt</span>" in lineage
    forced_row = lineage[lineage.index("#5</td>") :]
    assert "current baseline" in forced_row and "pill-forced" in forced_row
    assert "declared cost 0.002" in forced_row
    assert "no baseline to compare with" in lineage


def test_rejected_ideas_are_kept_with_their_intervals(page: str) -> None:
    html = section(page, "project")
    rejected = html[html.index("Rejected ideas") :]
    assert re.findall(r"<tr><td class='n'>#(\d+)</td>", rejected) == ["3", "4", "6"]
    assert "<b>weight_decay</b> – → 0.001" in rejected  # versus the baseline of its day
    assert "<b>dropout</b> 0.1 → 0.3" in rejected  # after #5 was adopted
    assert "no interval" in rejected and "v-worse" in rejected
    figs = figures(html)
    assert len(figs) == PROJECT_PLOTS
    lineage_fig, rejected_fig = figs[1], figs[2]
    ticks = lineage_fig["layout"]["yaxis"]["ticktext"]  # type: ignore[index]
    assert ticks[0] == "#2 cnn-lr#11" and "forced" in ticks[1]  # #1 had nothing to compare
    names = [t.get("name", "") for t in lineage_fig["data"]]  # type: ignore[attr-defined]
    assert any(n.startswith("declared cost") for n in names)
    names = [t.get("name", "") for t in rejected_fig["data"]]  # type: ignore[attr-defined]
    assert any(n.startswith("no interval") for n in names)
    assert any(n.startswith("worse") for n in names)


def test_trial_variance_section(study: Synthetic, page: str) -> None:
    html = section(page, "variance")
    rerun = [v for v in study.analysis.config_variance if v.n >= 2]
    rows = re.findall(r"<tr><td class='n'>(\d+)</td>", html)
    assert rows == [str(v.trial) for v in rerun]
    first = rerun[0]
    assert first.se is not None
    assert f"<td class='n'>{first.n}</td>" in html
    assert f"{first.mean:.4g} ± {first.se:.2g}" in html
    assert html.count("<svg class='strip'") == len(rerun)
    assert html.count("<circle ") == sum(v.n for v in rerun)  # each run a dot
    assert "58%" in html  # the winner's share of the redraws
    assert len(figures(html)) == VARIANCE_PLOTS
    # The summary's best card says the best configuration's runs too.
    summary = section(page, "summary")
    best = next(c for c in study.snapshot.configurations() if c.rank == 1)
    assert f"Best configuration: trial {best.trial}" in summary
    assert f"mean over {best.n} runs" in summary if best.n > 1 else "1 run" in summary


def test_isolation_in_the_report_carries_the_error_bars(study: Synthetic, page: str) -> None:
    fig = figures(section(page, "isolation"))[0]
    bars = [t for t in fig["data"] if t.get("error_y")]  # type: ignore[attr-defined]
    assert len(bars) == 1 and len(bars[0]["x"]) == 3


def test_without_reruns_or_bootstrap_there_is_no_variance_section() -> None:
    plain = make_study(per_value=12)
    page = render_report(plain.analysis, plain.snapshot)
    assert "id='variance'" not in page
    fig = figures(section(page, "isolation"))[0]
    assert not any(t.get("error_y") for t in fig["data"])  # type: ignore[attr-defined]


def test_a_bootstrap_without_reruns_says_how_to_measure_the_noise(study: Synthetic) -> None:
    quiet = dataclasses.replace(
        study.analysis,
        config_variance=tuple(v for v in study.analysis.config_variance if v.n == 1),
    )
    html = section(render_report(quiet, study.snapshot), "variance")
    assert "scitune reseed STUDY" in html and "<svg class='strip'" not in html
    assert len(figures(html)) == 2  # winner shares and dropout shares


def test_trials_table_says_which_trial_a_rerun_repeats(study: Synthetic, page: str) -> None:
    block = re.search(r'id="trial-table">(.*?)</script>', page, re.S)
    assert block is not None
    table = json.loads(block.group(1))
    assert table["columns"][-2:] == ["rerun of", "reason"]
    reruns = [r for r in table["rows"] if r[-3] is not None]
    assert len(reruns) == 9 and {r[-3] for r in reruns} == {
        v.trial for v in study.analysis.config_variance if v.n >= 2
    }


# -- escaping -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile() -> tuple[Synthetic, ProjectRecords]:
    s = make_study(per_value=12, reruns=2, hostile=True)
    return s, ProjectRecords(*make_project(s.analysis.study, hostile=True))


def test_hostile_project_strings_appear_only_escaped(
    hostile: tuple[Synthetic, ProjectRecords],
) -> None:
    s, project = hostile
    page = render_report(s.analysis, s.snapshot, project=project)
    for raw in HOSTILE:
        assert raw not in page, raw
    html = section(page, "project")
    assert "Does dropout help? &lt;script&gt;alert(1)&lt;/script&gt;" in html  # round goal
    assert "draft &lt;/script&gt;&lt;script&gt;alert(3)" in html  # round notes
    assert "too much dropout&lt;/script&gt;" in html  # decision notes
    assert "relu → &lt;img src=x onerror=alert(2)&gt;" in html  # a parameter value
    assert "&#x27;drop&quot;&#x27;&gt;&lt;svg" in html  # the comparison's label, in its reasons
    assert page.count("<script") == (expected_plots(s) + VARIANCE_PLOTS + PROJECT_PLOTS + 2 + 3)


# -- in a real browser --------------------------------------------------------------------------
def test_report_with_project_and_reruns_renders_in_chromium(
    tmp_path: Path, hostile: tuple[Synthetic, ProjectRecords]
) -> None:
    browser()
    s, project = hostile
    path = write_report(s.analysis, s.snapshot, tmp_path / "report.html", project=project)
    shot = ARTIFACTS / "report-project.png"
    seen = open_report(path, screenshot=shot)
    assert seen["dialogs"] == []
    assert seen["errors"] == []
    assert seen["requests"] == []
    assert seen["handlers"] == 0
    assert seen["plots"] == expected_plots(s) + VARIANCE_PLOTS + PROJECT_PLOTS
    assert seen["drawn"] == seen["plots"]
    text = seen["text"]
    for raw in (XSS, IMG, CLOSE, QUOTES):
        assert raw in text  # shown as text, never run
    lowered = text.lower()  # headings are upper-cased by the style sheet
    assert "baseline lineage" in lowered and "rejected ideas" in lowered
    assert "trial variance" in lowered
    assert "this study's round" in text
    assert shot.stat().st_size > 100_000


def test_rounds_without_decisions_and_decisions_without_rounds(study: Synthetic) -> None:
    rounds, decisions = make_project(study.analysis.study)
    only_rounds = render_report(
        study.analysis, study.snapshot, project=ProjectRecords(rounds=rounds)
    )
    html = section(only_rounds, "project")
    assert "Nothing adopted yet" in html and "Rejected ideas" not in html
    assert len(figures(html)) == 1 and "could not draw" not in only_rounds
    only_decisions = render_report(
        study.analysis, study.snapshot, project=ProjectRecords(decisions=decisions)
    )
    html = section(only_decisions, "project")
    assert "Rounds, newest first" not in html and "Rejected ideas" in html
    assert len(figures(html)) == 2 and "could not draw" not in only_decisions
