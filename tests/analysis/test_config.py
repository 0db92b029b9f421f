"""Analysis settings: every one has a valid range, checked from Python and from the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from scitune.analysis import AnalysisConfig
from scitune.analysis._config import RANGES
from scitune.cli import app
from scitune.errors import ScituneError, SettingsError

runner = CliRunner()
FIELDS = {f.name: f for f in dataclasses.fields(AnalysisConfig)}


def test_every_setting_has_a_range() -> None:
    # A setting added without a range fails here: add its rule to RANGES in _config.py.
    assert sorted(set(FIELDS) - set(RANGES)) == []
    assert sorted(set(RANGES) - set(FIELDS)) == []


def test_every_default_is_in_its_range() -> None:
    config = AnalysisConfig()
    for name, rule in RANGES.items():
        assert rule.holds(getattr(config, name)), (name, rule.describe())


def test_the_brief_example_is_refused_with_the_located_message() -> None:
    with pytest.raises(SettingsError) as info:
        AnalysisConfig(boundary_margin=2)
    assert str(info.value) == (
        "boundary_margin must be in (0, 0.5) (a share of the range at each end), got 2. "
        "Use e.g. 0.1."
    )
    assert info.value.names == ("boundary_margin",)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ScituneError)
    assert "--set" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "good", "bad", "rule"),
    [
        ("boundary_margin", 0.49, 0.5, "in (0, 0.5)"),
        ("boundary_margin", 1e-9, 0.0, "in (0, 0.5)"),
        ("boundary_top_fraction", 1.0, 1.01, "in (0, 1]"),
        ("boundary_min_top", 1, 0, "an integer >= 1"),
        ("infeasible_warn_fraction", 0.0, 1.0, "in [0, 1)"),
        ("near_best_tolerance", 0.0, -0.01, ">= 0"),
        ("bootstrap_samples", 1_000_000, 1_000_001, "an integer in [1, 1000000]"),
        ("seed", 0, -1, "an integer >= 0"),
        ("curve_smoothing", 0.99, 1.0, "in (0, 1)"),
        ("curve_noise_z", 1e-6, 0.0, "> 0"),
        ("late_window", 1.0, 0.0, "in (0, 1]"),
        ("best_step_early", 0.5, 1.0, "in (0, 1)"),
        ("clip_percentile", 100.0, 0.0, "in (0, 100]"),
        ("clip_percentile", 0.1, 100.5, "in (0, 100]"),
        ("clip_aggressive_fraction", 0.0, 1.0, "in [0, 1)"),
        ("grad_spike_factor", 1.01, 1.0, "> 1"),
        ("grad_spike_window", 3, 2, "an integer >= 3"),
        ("isolation_buckets", 1, 0, "an integer >= 1"),
        ("variance_winner_share", 1.0, 0.0, "in (0, 1]"),
        ("reseed_seeds", 1, 0, "an integer >= 1"),
    ],
)
def test_range_ends(name: str, good: float, bad: float, rule: str) -> None:
    assert getattr(AnalysisConfig(**{name: good}), name) == good
    with pytest.raises(SettingsError, match=rf"^{name} must be {re.escape(rule)}"):
        AnalysisConfig(**{name: bad})


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("boundary_margin", math.nan, "got nan"),
        ("curve_noise_z", math.inf, "got inf"),
        ("boundary_margin", "0.1", "must be a number in (0, 0.5)"),
        ("curve_top_k", 2.5, "must be an integer >= 1 (a number of trials), got 2.5. Use e.g. 3."),
        ("curve_top_k", True, "got True"),
        ("seed", 1.0, "must be an integer >= 0"),
        ("train_metric", "", "Use e.g. 'loss'"),
        ("grad_norm_metric", " grad_norm", "without surrounding spaces"),
    ],
)
def test_wrong_types_are_refused(name: str, value: object, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        AnalysisConfig(**{name: value})  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{name} must be ") and fragment in str(info.value)


def test_an_integer_for_a_float_becomes_a_float() -> None:
    config = AnalysisConfig(clip_percentile=95)
    assert config.clip_percentile == 95.0 and isinstance(config.clip_percentile, float)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        AnalysisConfig(boundary_margin=2, curve_top_k=0)
    lines = str(info.value).splitlines()
    assert [line.split(" ")[0] for line in lines] == ["boundary_margin", "curve_top_k"]
    assert info.value.names == ("boundary_margin", "curve_top_k")


def test_replace_and_overrides_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="boundary_margin must be"):
        dataclasses.replace(AnalysisConfig(), boundary_margin=0.7)
    with pytest.raises(SettingsError) as info:
        AnalysisConfig().with_overrides({"boundary_margin": "2"})
    assert "got 2. Use e.g. 0.1." in str(info.value) and "--set" not in str(info.value)
    with pytest.raises(SettingsError, match=r"must be an integer >= 1 .*got '2.5'"):
        AnalysisConfig().with_overrides({"curve_top_k": "2.5"})
    with pytest.raises(SettingsError, match="Did you mean 'boundary_margin'") as unknown:
        AnalysisConfig().with_overrides({"boundary_margn": "0.1"})
    assert "--set" not in str(unknown.value)
    config = AnalysisConfig().with_overrides({"train_metric": "", "boundary_margin": "0.2"})
    assert config.train_metric is None and config.boundary_margin == 0.2


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_boundary_margin_is_accepted_exactly_inside_its_range(x: float) -> None:
    inside = 0.0 < x < 0.5
    try:
        config = AnalysisConfig(boundary_margin=x)
    except SettingsError:
        assert not inside
    else:
        assert inside and config.boundary_margin == x


# --- the CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            "boundary_margin=2",
            "--set boundary_margin=2: boundary_margin must be in (0, 0.5) (a share of the range "
            "at each end), got 2. Use e.g. 0.1.",
        ),
        ("clip_percentile=0", "--set clip_percentile=0: clip_percentile must be in (0, 100]"),
        ("grad_spike_window=1", "--set grad_spike_window=1: grad_spike_window must be an"),
        ("curve_top_k=two", "--set curve_top_k=two: curve_top_k must be an integer >= 1"),
    ],
)
def test_the_cli_refuses_out_of_range_settings_before_any_work(setting: str, expected: str) -> None:
    # The study does not exist: the setting is refused first, and named with its flag.
    result = runner.invoke(
        app, ["analyze", "no-such-study.toml", "--set", setting], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split())


def test_the_cli_json_error_names_the_flag() -> None:
    result = runner.invoke(
        app, ["analyze", "no-such-study.toml", "--set", "boundary_margin=2", "--json"]
    )
    assert result.exit_code == 1
    assert '"--set boundary_margin=2: boundary_margin must be in (0, 0.5)' in result.output


def test_settings_lists_each_valid_range() -> None:
    result = runner.invoke(app, ["analyze", "--settings"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "boundary_margin = 0.1" in text and "Valid: in (0, 0.5)." in text
    assert "grad_spike_window = 5" in text and "Valid: an integer >= 3." in text


def test_the_cli_names_each_bad_setting_with_its_own_flag() -> None:
    result = runner.invoke(
        app,
        ["analyze", "x.toml", "--set", "boundary_margin=2", "--set", "curve_top_k=0", "--json"],
    )
    assert result.exit_code == 1
    message = json.loads(result.stdout)["error"]["message"]
    assert message.splitlines() == [
        "--set boundary_margin=2: boundary_margin must be in (0, 0.5) (a share of the range at "
        "each end), got 2. Use e.g. 0.1.",
        "--set curve_top_k=0: curve_top_k must be an integer >= 1 (a number of trials), got 0. "
        "Use e.g. 3.",
    ]
