"""``scitune recommend adam``: the playbook's Adam budget rule, as a command."""

from __future__ import annotations

import json
import tomllib

import pytest
from typer.testing import CliRunner

from scitune.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("trials", "tuned"),
    [
        (1, ["learning_rate"]),
        (9, ["learning_rate"]),
        (10, ["learning_rate", "beta1"]),
        (24, ["learning_rate", "beta1"]),
        (25, ["learning_rate", "beta1", "epsilon"]),
        (49, ["learning_rate", "beta1", "epsilon"]),
        (50, ["learning_rate", "beta1", "epsilon", "beta2"]),
    ],
)
def test_adam_budget_rule(trials: int, tuned: list[str]) -> None:
    result = runner.invoke(app, ["recommend", "adam", "--trials", str(trials), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["tune"]) == tuned
    assert set(data["fix"]) == {"learning_rate", "beta1", "epsilon", "beta2"} - set(tuned)


def test_adam_prints_a_snippet_that_parses_as_toml() -> None:
    result = runner.invoke(app, ["recommend", "adam", "--trials", "12"], env={"COLUMNS": "200"})
    snippet = result.stdout[result.stdout.index("[nuisance]") : result.stdout.index("Ranges")]
    parsed = tomllib.loads(snippet)
    assert set(parsed["nuisance"]) == {"learning_rate", "beta1"}
    assert parsed["fixed"] == {"epsilon": 1e-8, "beta2": 0.999}


def test_adam_needs_a_positive_budget() -> None:
    assert runner.invoke(app, ["recommend", "adam", "--trials", "0"]).exit_code == 2
