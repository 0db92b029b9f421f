"""The batch-size probe and perfect-scaling logic on constructed numbers, and both commands
in-process (typer's CliRunner) on a fast toy trainer run as real trial processes."""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scitune.cli import app
from scitune.errors import ScituneError
from scitune.probe import (
    BatchSizeProbe,
    ProbeRow,
    ProbeSettings,
    UserStudy,
    analyze_probe,
    batch_sizes,
    critical_batch_size,
    derive_batch_size_probe,
    largest_scaling_size,
    measured_throughput,
    parse_bytes,
    report_interval,
    scaling_efficiency,
    steps_to_target,
)
from scitune.spec import StudySpec, load_spec
from scitune.storage import open_storage

HERE = Path(__file__).parent
runner = CliRunner()


def codes(probe: BatchSizeProbe) -> list[str]:
    return [f.code for f in probe.findings]


def measured(*pairs: tuple[int, float]) -> list[ProbeRow]:
    return [ProbeRow(b, "measured", t) for b, t in pairs]


# -- settings and measurement ---------------------------------------------------------------


def test_batch_sizes_double_from_start_up_to_max() -> None:
    assert batch_sizes(8, 4096) == [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert batch_sizes(28, 3600) == [28, 56, 112, 224, 448, 896, 1792, 3584]
    assert batch_sizes(5, 5) == [5]


@pytest.mark.parametrize(
    ("warmup", "steps", "interval"),
    [(10, 30, 10), (10, 15, 5), (10, 100, 10), (0, 30, 10), (7, 6, 1)],
)
def test_report_interval_ends_the_warmup_on_a_report(
    warmup: int, steps: int, interval: int
) -> None:
    assert report_interval(warmup, steps) == interval
    assert warmup % interval == 0
    assert steps // interval >= min(3, steps)  # at least ~3 measured reports


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2G", 2 * 2**30),
        ("980M", 980 * 2**20),
        ("1.5GiB", 3 * 2**29),
        ("512k", 2**19),
        ("4096", 4096),
    ],
)
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "2X"])
def test_parse_bytes_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ScituneError, match="--memory-limit must be a size"):
        parse_bytes(text)


def test_settings_are_checked_all_at_once() -> None:
    with pytest.raises(ScituneError) as info:
        ProbeSettings(start=64, max_size=32, steps=0, tolerance=1.5)
    message = str(info.value)
    assert "--max must be >= --start (64), got 32" in message
    assert "--steps must be >= 1" in message and "--tolerance must be in (0, 1]" in message


def test_throughput_is_the_median_of_the_intervals_after_the_warmup() -> None:
    # The report at 10 covers the warm-up (steps 1-10): left out. NaN and 0 are not speeds.
    eps, n, partial = measured_throughput(
        [10, 20, 30, 40, 50], [5.0, 100.0, float("nan"), 120.0, 90.0], warmup=10
    )
    assert (eps, n, partial) == (100.0, 3, False)


def test_an_interval_that_straddles_the_warmup_is_left_out() -> None:
    # Reports every 7 steps with a warm-up of 10: the one at 14 covers steps 8-14.
    assert measured_throughput([7, 14, 21, 28], [1.0, 2.0, 30.0, 40.0], warmup=10) == (
        35.0,
        2,
        False,
    )


def test_without_a_report_after_the_warmup_the_warmup_is_measured_and_flagged() -> None:
    assert measured_throughput([10], [50.0], warmup=10) == (50.0, 1, True)
    assert measured_throughput([], [], warmup=10) == (None, 0, False)
    assert measured_throughput([0], [50.0], warmup=0) == (None, 0, False)  # covers no step


# -- scaling --------------------------------------------------------------------------------


def test_efficiency_is_throughput_gained_per_size_gained() -> None:
    assert scaling_efficiency(64, 1000.0, 128, 2000.0) == 1.0
    assert scaling_efficiency(64, 1000.0, 128, 1000.0) == 0.5
    assert scaling_efficiency(64, 1000.0, 256, 3000.0) == 0.75  # a gap of two doublings


def test_the_largest_scaling_size_depends_on_the_tolerance() -> None:
    points = [(8, 1000.0), (16, 1900.0), (32, 3300.0), (64, 5000.0), (128, 5500.0)]
    # efficiencies: 0.95, 0.868, 0.758, 0.55
    assert largest_scaling_size(points, 0.8) == 32
    assert largest_scaling_size(points, 0.75) == 64
    assert largest_scaling_size(points, 0.96) == 8
    assert largest_scaling_size([], 0.8) is None


def test_the_first_doubling_below_the_tolerance_ends_the_chain() -> None:
    # Noise may show a good doubling after a bad one; only sizes up to where throughput first
    # stops rising count (§1).
    assert largest_scaling_size([(8, 100.0), (16, 120.0), (32, 240.0)], 0.8) == 8


def test_analyze_probe_fills_efficiencies_across_an_unmeasured_size() -> None:
    rows = [
        ProbeRow(8, "measured", 1000.0),
        ProbeRow(16, "unmeasured"),
        ProbeRow(32, "measured", 3600.0),
        ProbeRow(64, "oom", reason="out of memory: ..."),
    ]
    probe = analyze_probe(rows)
    assert [r.efficiency for r in probe.rows] == [None, None, 0.9, None]
    assert probe.largest_scaling == 32
    assert probe.stop == "oom" and probe.stopped_at is not None
    assert probe.stopped_at.batch_size == 64
    assert "probe.input_bottleneck" not in codes(probe)  # still scaling when memory ran out


def test_stop_reasons() -> None:
    assert analyze_probe(measured((8, 1.0), (16, 2.0))).stop == "max"
    failed = analyze_probe([*measured((8, 1.0)), ProbeRow(16, "failed"), ProbeRow(32, "not run")])
    assert failed.stop == "failed"
    assert analyze_probe([*measured((8, 1.0)), ProbeRow(16, "not run")]).stop == "interrupted"


def test_seconds_per_step_is_batch_over_throughput() -> None:
    assert ProbeRow(64, "measured", 3200.0).seconds_per_step == 0.02
    assert ProbeRow(64, "oom").seconds_per_step is None


def test_bottleneck_warning_when_scaling_stops_early_while_larger_batches_fit() -> None:
    rows = measured((8, 1000.0), (16, 1950.0), (32, 2100.0), (64, 2150.0), (128, 2200.0))
    probe = analyze_probe([*rows, ProbeRow(256, "oom")], memory_limit=2**30)
    assert probe.largest_scaling == 16
    [finding] = [f for f in probe.findings if f.code == "probe.input_bottleneck"]
    assert finding.severity == "warning"
    assert "after 1 doubling(s) from batch 8" in finding.message
    assert "batch 128 still fitted in memory" in finding.message
    assert finding.evidence["scaling_until"] == 16


def test_bottleneck_warning_when_efficiency_collapses_late() -> None:
    # Five good doublings, then a doubling that gains nothing while the next size still fits.
    pairs = [(2**k, 100.0 * 2**k) for k in range(3, 9)] + [(512, 24000.0), (1024, 24500.0)]
    probe = analyze_probe(measured(*pairs))
    assert probe.largest_scaling == 256
    [finding] = [f for f in probe.findings if f.code == "probe.input_bottleneck"]
    assert "flattened" in finding.message


def test_no_bottleneck_warning_when_scaling_ends_late_and_gently() -> None:
    pairs = [(2**k, 100.0 * 2**k) for k in range(3, 9)] + [(512, 40000.0), (1024, 60000.0)]
    probe = analyze_probe(measured(*pairs))  # efficiencies 0.78 and 0.75: gentle, after 5
    assert probe.largest_scaling == 256
    assert "probe.input_bottleneck" not in codes(probe)


def test_no_bottleneck_warning_when_the_next_size_does_not_fit() -> None:
    probe = analyze_probe([*measured((8, 1000.0), (16, 1100.0)), ProbeRow(32, "oom")])
    assert probe.largest_scaling == 8
    assert "probe.input_bottleneck" not in codes(probe)


def test_warmup_measurements_and_too_few_sizes_are_reported() -> None:
    rows = [
        ProbeRow(8, "infeasible", 500.0, warmup_included=True, reason="collapsed"),
        ProbeRow(16, "oom"),
    ]
    probe = analyze_probe(rows)
    assert {"probe.warmup_included", "probe.too_few_sizes"} <= set(codes(probe))


def test_every_probe_reminds_of_accumulation_and_retuning() -> None:
    found = codes(analyze_probe(measured((8, 1.0), (16, 2.0))))
    assert {"probe.gradient_accumulation", "probe.retune", "probe.training_time"} <= set(found)


def test_a_non_oom_failure_under_a_memory_limit_is_explained() -> None:
    rows = [*measured((8, 1.0), (16, 2.0)), ProbeRow(32, "failed", reason="killed by SIGSEGV")]
    assert "probe.failed_under_limit" in codes(analyze_probe(rows, memory_limit=2**30))
    assert "probe.failed_under_limit" not in codes(analyze_probe(rows))


def test_probe_result_is_json_serializable() -> None:
    probe = analyze_probe([*measured((8, 100.0), (16, 190.0)), ProbeRow(32, "oom", reason="x")])
    data = json.loads(json.dumps(probe.to_dict()))
    assert data["largest_scaling_batch_size"] == 16
    assert data["stop"] == "oom" and data["stopped_at"] == 32 and data["stop_reason"] == "x"
    assert data["table"][1]["seconds_per_step"] == pytest.approx(16 / 190)


# -- perfect scaling ------------------------------------------------------------------------


def test_steps_to_target() -> None:
    assert steps_to_target([100, 200, 300], [0.4, 0.2, 0.1], 0.2) == 200
    assert steps_to_target([100, 200], [float("nan"), 0.5], 0.4) is None
    assert steps_to_target([100, 200, 300], [0.4, 0.8, 0.9], 0.75, goal="maximize") == 200


def test_critical_batch_size_on_constructed_numbers() -> None:
    points = [(32, 800), (64, 420), (128, 260), (256, 240), (512, 230)]
    # perfect from 32: 400, 200, 100, 50 -> ratios 1.05, 1.3, 2.4, 4.6
    assert critical_batch_size(points, 1.5) == (32, 128)
    assert critical_batch_size(points, 1.1) == (32, 64)
    assert critical_batch_size(points, 3.0) == (32, 256)


def test_critical_batch_size_starts_at_the_smallest_size_that_reached_the_target() -> None:
    assert critical_batch_size([(16, None), (32, 800), (64, 400), (128, None)]) == (32, 64)
    assert critical_batch_size([(16, None), (32, None)]) == (None, None)


# -- deriving the probe study ---------------------------------------------------------------

STUDY = """
name = "toy"
goal = "the toy"

[entrypoint]
python = "toy_probe:main"

[objective]
metric = "dev_error"

[[constraints]]
metric = "params_millions"
max = 1.0

[budget]
trials = 2
max_train_steps = 100

[nuisance]
learning_rate = { low = 1e-4, high = 1e-2, scale = "log" }

[fixed]
batch_size = 32
bytes_per_example = 0
"""


def test_the_probe_study_fixes_everything_but_the_batch_size(tmp_path: Path) -> None:
    spec = StudySpec.from_dict(tomllib.loads(STUDY), source=tmp_path / "s.toml")
    params = {"learning_rate": 1e-3, "batch_size": 32, "bytes_per_example": 0}
    store = open_storage(f"sqlite:///{tmp_path}/s.db")
    user = UserStudy(spec, store, None, params, "the middle of each range (nothing has run)")
    probe = derive_batch_size_probe(user, ProbeSettings(start=8, max_size=64, steps=30, warmup=10))
    data = probe.data
    assert probe.name == "toy-batch-size-probe"
    assert data["scientific"] == {"batch_size": {"values": [8, 16, 32, 64]}}
    assert data["nuisance"] == {} and data["constraints"] == []
    assert data["fixed"] == {"learning_rate": 1e-3, "bytes_per_example": 0, "eval_every": 10}
    assert data["budget"] == {"trials": 1, "max_train_steps": 40, "seed": 0}
    assert data["objective"] == {
        "metric": "examples_per_second",
        "goal": "maximize",
        "select": "final",
    }
    assert "the middle of each range" in probe.header
    text = probe.text()
    path = tmp_path / "probe.toml"
    path.write_text(text)
    assert load_spec(path).name == "toy-batch-size-probe"  # the file is a valid study


# -- the commands, in-process ---------------------------------------------------------------


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(HERE / "toy_probe.py", tmp_path / "toy_probe.py")
    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCITUNE_STORAGE", raising=False)
    return tmp_path / "study.toml"


def invoke(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "img", "iframe"):
            self.sources.append(dict(attrs).get("src") or dict(attrs).get("href"))


def assert_offline_page(path: Path, figures: int) -> None:
    """One HTML file that loads nothing: one inlined plotly.js, no external source."""
    from plotly.offline import get_plotlyjs

    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count(get_plotlyjs()) == 1
    assert text.count("Plotly.newPlot") == figures
    parser = _Sources()
    parser.feed(text)
    assert parser.sources and all(src is None for src in parser.sources)


def row(data: dict[str, Any], size: int) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in data["table"] if r["batch_size"] == size)
    return found


def test_probe_command_measures_and_picks_the_largest_scaling_size(toy: Path) -> None:
    data = invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "256")
    assert data["study"] == "toy-batch-size-probe" and data["stop"] == "max"
    assert data["base"] == "the middle of each range (nothing has run)"
    # The toy's step costs 1 ms + 10 us per example: efficiencies 0.93, 0.87, 0.80, 0.72, 0.64.
    assert data["largest_scaling_batch_size"] == 64
    assert row(data, 64)["examples_per_second"] == pytest.approx(64 / (1e-3 + 64e-5))
    assert row(data, 64)["intervals"] == 3  # the warm-up report is left out
    assert row(data, 128)["efficiency"] == pytest.approx(1.64 / 2.28)
    assert all(r["status"] == "measured" for r in data["table"])
    assert Path(data["study_file"]) == toy.parent / "toy-batch-size-probe.toml"
    assert_offline_page(Path(data["figure"]), figures=2)
    # The probe is a study in the store: status lists it, with one trial per size.
    status = invoke("status", "toy-batch-size-probe")
    assert status["counts"]["complete"] == 6
    # A looser tolerance, run again: the finished probe is only read, not run again.
    again = invoke(
        "probe", "batch-size", str(toy), "--start", "8", "--max", "256", "--tolerance", "0.7"
    )
    assert again["largest_scaling_batch_size"] == 128
    assert invoke("status", "toy-batch-size-probe")["counts"]["total"] == 6


def test_probe_command_stops_at_a_failure(toy: Path) -> None:
    text = toy.read_text().replace("bytes_per_example = 0", 'bytes_per_example = 0\nmode = "crash"')
    toy.write_text(text + "crash_at = 32\n")
    data = invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "128")
    assert data["stop"] == "failed" and data["stopped_at"] == 32
    assert "toy crash at batch 32" in data["stop_reason"]
    assert [r["status"] for r in data["table"]] == [
        "measured",
        "measured",
        "failed",
        "not run",
        "not run",
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_probe_command_stops_at_out_of_memory_under_a_memory_limit(toy: Path) -> None:
    # 2 MiB of "activations" per example: batch 256 needs 512 MiB more address space than the
    # trial process's ~150 MiB, past the 450 MiB limit; batch 64 (128 MiB) fits.
    toy.write_text(toy.read_text().replace("bytes_per_example = 0", "bytes_per_example = 2097152"))
    data = invoke(
        "probe", "batch-size", str(toy), "--start", "16", "--max", "1024", "--memory-limit", "450M"
    )
    assert data["stop"] == "oom"
    assert data["stopped_at"] in (128, 256)
    assert data["stop_reason"].startswith("out of memory (address space limit 450 MiB")
    assert "MemoryError" in data["stop_reason"]
    assert row(data, 64)["status"] == "measured"
    assert 0 < row(data, 64)["peak_memory_bytes"] < 450 * 2**20
    assert data["memory_limit_bytes"] == 450 * 2**20
    assert row(data, 1024)["status"] == "not run"
    # The trial itself is FAILED in the store, its reason saying out of memory.
    trials = runner.invoke(app, ["trials", "toy-batch-size-probe", "--json"])
    failed = [t for t in json.loads(trials.stdout) if t["state"] == "FAILED"]
    assert len(failed) == 1 and "out of memory" in failed[0]["reason"]


def test_a_memory_limit_is_never_inherited_from_the_environment(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 kB would kill any Python process: the runner sets the variable only when asked.
    monkeypatch.setenv("SCITUNE_MEMORY_LIMIT", "1000")
    data = invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "16")
    assert data["stop"] == "max" and data["memory_limit_bytes"] is None


def test_probe_command_names_a_missing_throughput_metric(toy: Path) -> None:
    toy.write_text(
        toy.read_text().replace("bytes_per_example = 0", 'bytes_per_example = 0\nmode = "silent"')
    )
    data = invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "64")
    assert data["stop"] == "failed" and data["stopped_at"] == 8
    assert "examples_per_second" in data["stop_reason"]


def test_probe_command_refuses_a_probe_measured_with_other_settings(toy: Path) -> None:
    invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "16")
    error = invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "32", code=1)
    assert "already exists with different content" in error["error"]["message"]
    other = invoke("probe", "batch-size", str(toy), "--start", "8", "--max", "32", "--name", "p2")
    assert other["study"] == "p2" and len(other["table"]) == 3


SCALING = """
name = "toy-scaling"

[entrypoint]
python = "toy_probe:main"

[objective]
metric = "dev_error"

[budget]
trials = 3
max_train_steps = 3000

[search]
design = "per_value"

[scientific]
batch_size = { values = [32, 64, 128, 256, 512] }

[nuisance]
learning_rate = { low = 1e-3, high = 1e-1, scale = "log" }

[fixed]
mode = "scaling"
eval_every = 10
"""


def test_scaling_command_runs_the_study_and_finds_the_critical_batch_size(toy: Path) -> None:
    study = toy.parent / "scaling.toml"
    study.write_text(SCALING)
    data = invoke("probe", "scaling", str(study), "--target", "0.1", "--workers", "2")
    points = {p["batch_size"]: p for p in data["points"]}
    assert data["reference_batch_size"] == 32
    # Progress per step grows as b / (1 + b/128): ratios to perfect scaling 1.2, 1.6, 2.4, 4
    assert points[64]["ratio"] == pytest.approx(1.2, abs=0.05)
    assert points[128]["ratio"] == pytest.approx(1.6, abs=0.07)
    assert data["critical_batch_size"] == 64
    # Each batch size's fastest trial has the learning rate nearest 1e-2 (the same for all).
    assert len({p["params"]["learning_rate"] for p in data["points"]}) == 1
    assert all(p["trials"] == 3 and p["reached"] >= 1 for p in data["points"])
    assert "scaling.step_budget" in [f["code"] for f in data["findings"]]
    assert_offline_page(Path(data["figure"]), figures=1)
    wider = invoke("probe", "scaling", "toy-scaling", "--target", "0.1", "--factor", "2")
    assert wider["critical_batch_size"] == 128


def test_scaling_command_needs_a_target_or_reported_steps(toy: Path) -> None:
    study = toy.parent / "scaling.toml"
    study.write_text(SCALING)
    error = invoke("probe", "scaling", str(study), code=1)
    assert "--target" in error["error"]["message"]


def test_scaling_command_needs_varying_batch_sizes(toy: Path) -> None:
    invoke("run", str(toy))
    error = invoke("probe", "scaling", "toy", "--target", "0.1", code=1)
    assert "does not vary 'batch_size'" in error["error"]["message"]


def test_figures_draw_unreached_sizes_as_lower_bounds_and_pages_escape_text() -> None:
    from scitune.plots._probe import probe_page, scaling_figure, throughput_figure
    from scitune.probe import PerfectScaling, ScalingPoint

    result = PerfectScaling(
        points=(
            ScalingPoint(32, 800, 0, {"learning_rate": 0.01}, 3, 2),
            ScalingPoint(64, None, None, {}, 3, 0),
        ),
        metric="dev_error",
        target=0.2,
        goal="minimize",
        factor=1.5,
        max_train_steps=1000,
        reference=32,
        critical_batch_size=32,
    )
    fig = scaling_figure(result)
    [bound] = [t for t in fig.data if t.name == "never reached (more than the budget)"]
    assert list(bound.x) == [64] and list(bound.y) == [1000]
    probe = analyze_probe([*measured((8, 100.0), (16, 150.0)), ProbeRow(32, "oom")])
    page = probe_page(
        "<b>study</b>",
        [throughput_figure(probe)],
        facts={"note": "<script>alert(1)</script>"},
        table=(["batch"], [["<i>8</i>"]]),
        findings=probe.findings,
    )
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "&lt;i&gt;8&lt;/i&gt;" in page and "<title>scitune · &lt;b&gt;study" in page
