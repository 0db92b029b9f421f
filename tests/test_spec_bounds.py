"""The study file's limits: planned trials, searched hyperparameters, ranges, reserved names.

Each limit is checked when the file is loaded, with a located message (file, field path, the
rule, the value, the fix), instead of a MemoryError or a silently useless study later.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scitune._spec_params import RESERVED_NAMES
from scitune._spec_roles import MAX_SEARCHED
from scitune.cli import app
from scitune.errors import SpecError
from scitune.spec import MAX_GRID, MAX_TRIALS, StudySpec, load_spec

FILE = "study.toml"
HEAD = """\
name = "s"
[entrypoint]
command = ["python", "train.py", "--seed", "{seed}"]
[objective]
metric = "loss"
"""


def tables(**sections: Any) -> dict[str, Any]:
    """A valid study as tables; ``sections`` replace or add whole sections."""
    data: dict[str, Any] = {
        "name": "s",
        "entrypoint": {"command": ["python", "train.py"]},
        "objective": {"metric": "loss"},
        "budget": {"trials": 20, "max_train_steps": 100},
    }
    data.update(sections)
    return data


def problems(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(SpecError) as info:
        StudySpec.from_dict(data, source=Path(FILE))
    return info.value.problems


def the_problem(data: dict[str, Any], field: str) -> str:
    found = [p for p in problems(data) if p.startswith(f"{FILE}: {field}: ")]
    assert len(found) == 1, problems(data)
    return found[0]


def binary(prefix: str, n: int) -> dict[str, Any]:
    return {f"{prefix}{i}": {"values": [0, 1]} for i in range(n)}


def budget(trials: int, runs: int = 1) -> dict[str, Any]:
    return {"trials": trials, "max_train_steps": 100, "runs": runs}


# --- the budget: at most MAX_TRIALS trials in the whole study -----------------------------------


@pytest.mark.parametrize("field", ["trials", "runs"])
@given(value=st.integers(MAX_TRIALS + 1, 10**30))
def test_a_count_past_a_whole_study_is_refused(field: str, value: int) -> None:
    counts = {"trials": 1, "runs": 1, field: value}
    problem = the_problem(tables(budget=budget(**counts)), f"budget.{field}")
    assert f"must be at most 1,000,000 (a study holds at most 1,000,000 trials), got {value}" in (
        problem
    )
    assert f"Plan fewer, e.g. {field} = " in problem


def test_a_billion_billion_trials_is_refused_at_load_not_by_a_memory_error() -> None:
    problem = the_problem(tables(budget=budget(10**18)), "budget.trials")
    assert "got 1000000000000000000" in problem


@settings(max_examples=200, deadline=None)
@given(
    n_values=st.lists(st.integers(1, 12), max_size=6),
    trials=st.integers(1, MAX_TRIALS),
    runs=st.integers(1, 50),
)
def test_per_value_study_is_accepted_exactly_when_cells_x_trials_x_runs_fit(
    n_values: list[int], trials: int, runs: int
) -> None:
    scientific = {f"s{i}": {"values": list(range(n))} for i, n in enumerate(n_values)}
    data = tables(budget=budget(trials, runs), scientific=scientific)
    cells = math.prod(n_values)
    if cells * trials * runs <= MAX_TRIALS:
        assert StudySpec.from_dict(data).budget.trials == trials
        return
    (problem,) = problems(data)
    assert f"the study would plan {cells * trials * runs:,} trials: " in problem
    assert "more than the 1,000,000 a study may hold" in problem


def test_the_limit_is_inclusive_and_the_message_gives_the_largest_budget() -> None:
    scientific = binary("s", 2)  # 4 cells
    assert StudySpec.from_dict(tables(budget=budget(125_000, 2), scientific=scientific))
    problem = the_problem(tables(budget=budget(125_001, 2), scientific=scientific), "budget.trials")
    assert problem == (
        f"{FILE}: budget.trials: the study would plan 1,000,008 trials: 4 design cells (one per "
        "combination of scientific values) x 125,001 trials x 2 runs, more than the 1,000,000 a "
        "study may hold. Lower budget.trials to at most 125,000."
    )


def test_too_many_runs_is_blamed_on_runs() -> None:
    data = tables(budget=budget(1, 600_000), scientific=binary("s", 1))
    problem = the_problem(data, "budget.runs")
    assert "2 design cells (one per combination of scientific values) x 1 trial x 600,000 runs" in (
        problem
    )
    assert problem.endswith("Lower budget.runs to at most 500,000.")


def test_too_many_cells_is_blamed_on_the_scientific_values_and_is_not_listed() -> None:
    # 2**60 cells: listing them would never end, counting them is instant.
    problem = the_problem(tables(budget=budget(1), scientific=binary("s", 60)), "scientific")
    assert "the study would plan about 10^18 trials: about 10^18 design cells" in problem
    assert 'Give the scientific hyperparameters fewer values, or set design = "joint"' in problem


def test_a_joint_study_is_one_cell() -> None:
    data = tables(budget=budget(MAX_TRIALS), scientific=binary("s", 30), search={"design": "joint"})
    assert StudySpec.from_dict(data).budget.trials == MAX_TRIALS
    data["budget"] = budget(MAX_TRIALS, 2)
    problem = the_problem(data, "budget.trials")
    assert "1 design cell x 1,000,000 trials x 2 runs" in problem
    assert problem.endswith("Lower budget.trials to at most 500,000.")


def test_cells_count_conditional_scientific_values() -> None:
    scientific = {
        "opt": {"values": ["adam", "sgd"]},
        "when": {"opt": {"adam": {"beta1": {"values": [0.9, 0.99, 0.999]}}}},
    }
    # adam x 3 beta1 + sgd = 4 cells.
    assert StudySpec.from_dict(tables(budget=budget(250_000), scientific=scientific))
    problem = the_problem(tables(budget=budget(250_001), scientific=scientific), "budget.trials")
    assert "4 design cells" in problem


# --- the grid sampler lists its whole grid: at most MAX_GRID configurations --------------------


def test_a_grid_past_its_limit_is_refused_before_it_is_listed() -> None:
    search = {"sampler": "grid"}
    ten = {"values": list(range(10))}
    fits = tables(search=search, nuisance={f"n{i}": ten for i in range(5)})
    assert StudySpec.from_dict(fits).search.sampler == "grid"  # 10**5 == MAX_GRID
    over = tables(search=search, nuisance={f"n{i}": ten for i in range(30)})
    problem = the_problem(over, "search.sampler")
    assert "about 10^30 per design cell here, more than the 100,000 a grid may hold" in problem
    assert 'use sampler = "quasirandom"' in problem


def test_a_joint_grid_counts_the_scientific_values_too() -> None:
    data = tables(
        search={"sampler": "grid", "design": "joint"},
        scientific=binary("s", 9),
        nuisance=binary("n", 8),
    )
    assert f"{2**17:,} here, more than the {MAX_GRID:,}" in the_problem(data, "search.sampler")
    data["nuisance"] = binary("n", 7)
    assert StudySpec.from_dict(data)


def test_a_per_value_grid_is_bounded_by_its_largest_cell() -> None:
    nuisance = {
        "lr": {"values": list(range(10))},
        "when": {
            "opt": {
                "adam": binary("b", 4),  # 10 x 16 = 160 configurations in the adam cell
                "sgd": binary("m", 1),
            }
        },
    }
    data = tables(
        search={"sampler": "grid"},
        scientific={"opt": {"values": ["adam", "sgd"]}},
        nuisance=nuisance,
    )
    assert StudySpec.from_dict(data)
    nuisance["when"]["opt"]["adam"] = binary("b", 14)  # 10 x 2**14 = 163,840
    assert "163,840 per design cell" in the_problem(data, "search.sampler")


# --- searched hyperparameters: at most MAX_SEARCHED --------------------------------------------


def test_the_searched_hyperparameters_are_bounded() -> None:
    ranges = {f"x{i}": {"low": 0.0, "high": 1.0} for i in range(MAX_SEARCHED)}
    assert len(StudySpec.from_dict(tables(nuisance=ranges)).nuisance_space()) == MAX_SEARCHED
    ranges["one_more"] = {"low": 0.0, "high": 1.0}
    problem = the_problem(tables(nuisance=ranges), "nuisance")
    assert "a study searches at most 1,000 hyperparameters" in problem
    assert "got 1,001 (1,001 nuisance)" in problem
    assert "Move the ones that matter least to [fixed]" in problem


def test_scientific_and_conditional_axes_count_but_inactive_ones_do_not() -> None:
    nuisance: dict[str, Any] = {f"x{i}": {"low": 0.0, "high": 1.0} for i in range(MAX_SEARCHED - 2)}
    nuisance["when"] = {"opt": {"adam": binary("a", 1), "sgd": binary("b", 5)}}
    data = tables(
        search={"design": "joint"},
        scientific=binary("s", 1),
        nuisance=nuisance,
        fixed={"opt": "adam"},
    )
    # 1 scientific + 998 nuisance + 1 under adam = 1,000; the 5 under sgd are never searched.
    assert StudySpec.from_dict(data)
    data["scientific"] = binary("s", 2)
    assert "got 1,001 (2 scientific, 999 nuisance)" in the_problem(data, "nuisance")


def test_ten_thousand_hyperparameters_are_one_clear_problem(tmp_path: Path) -> None:
    lines = [f"p{i} = {{ low = 0.0, high = 1.0 }}" for i in range(10_000)]
    path = tmp_path / FILE
    path.write_text(
        HEAD + "[budget]\ntrials = 3\nmax_train_steps = 10\n[nuisance]\n" + "\n".join(lines)
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems == (
        f"{path}: nuisance: a study searches at most 1,000 hyperparameters (scientific and "
        "nuisance, conditional ones included), got 10,000 (10,000 nuisance); the quasi-random "
        "sampler's memory grows with the square of that number. Move the ones that matter "
        "least to [fixed], or split the question into several studies.",
    )


# --- ranges whose sampler coordinates overflow a float -----------------------------------------


@pytest.mark.parametrize(
    ("domain", "field", "fragment"),
    [
        ({"low": -1e308, "high": 1e308}, "nuisance.x", "the range is too wide: high - low"),
        (
            {"low": 1e308, "high": 1.5e308, "scale": "reverse_log"},
            "nuisance.x",
            'too wide for scale = "reverse_log": low + high overflows',
        ),
        ({"low": 0, "high": 2**53 + 1, "type": "int"}, "nuisance.x.high", "-2**53 and 2**53"),
        ({"low": -(2**63) + 1, "high": 0, "type": "int"}, "nuisance.x.low", "-2**53 and 2**53"),
        ({"low": 0, "high": 2**63, "type": "int"}, "nuisance.x.high", "must fit in 64 bits"),
        ({"low": 0, "high": float("inf")}, "nuisance.x.high", "must be a finite number"),
        ({"low": float("nan"), "high": 1.0}, "nuisance.x.low", "must be a finite number"),
    ],
)
def test_ranges_past_floats_and_int64_are_refused(
    domain: dict[str, Any], field: str, fragment: str
) -> None:
    assert fragment in the_problem(tables(nuisance={"x": domain}), field)


def test_extreme_but_representable_ranges_are_accepted_and_sample_inside() -> None:
    spec = StudySpec.from_dict(
        tables(
            search={"design": "joint"},
            nuisance={
                "a": {"low": -8e307, "high": 8e307},
                "b": {"low": 5e-324, "high": 1.7e308, "scale": "log"},
                "c": {"low": -(2**53), "high": 2**53, "type": "int"},
            },
        )
    )
    space = spec.nuisance_space()
    for u in (0.0, 0.3, 1.0):
        config = space.configs_from_unit([[u, u, u]])[0]
        for axis in space.axes:
            value = config[axis.name]
            assert axis.domain.contains(value) and math.isfinite(value)  # type: ignore[arg-type]


# --- names that entrypoint.command fills from the trial itself ----------------------------------

ROLE_PATHS = {
    "scientific": lambda name: ({"scientific": {name: {"values": [1, 2]}}}, f"scientific.{name}"),
    "nuisance": lambda name: ({"nuisance": {name: {"low": 1, "high": 9}}}, f"nuisance.{name}"),
    "fixed": lambda name: ({"fixed": {name: 3}}, f"fixed.{name}"),
    "conditional": lambda name: (
        {
            "fixed": {"opt": "adam"},
            "nuisance": {"when": {"opt": {"adam": {name: {"low": 0.5, "high": 0.9}}}}},
        },
        f"nuisance.when.opt.adam.{name}",
    ),
}


@pytest.mark.parametrize("role", list(ROLE_PATHS))
@pytest.mark.parametrize(
    "name",
    ["seed", "dir", "number", "max_train_steps", "study", "python", "args", "gpus", "devices"],
)
def test_a_placeholder_name_is_reserved_in_every_role(role: str, name: str) -> None:
    sections, field = ROLE_PATHS[role](name)
    data = tables(search={"design": "joint"}, **sections)
    problem = the_problem(data, field)
    assert f"'{name}' is reserved: {{{name}}} in entrypoint.command is " in problem
    assert "a hyperparameter of that name would shadow it" in problem
    if name == "max_train_steps":
        assert "Set budget.max_train_steps instead" in problem
    else:
        assert f'Rename it, e.g. "{RESERVED_NAMES[name][1]}".' in problem
        renamed = tables(search={"design": "joint"}, **ROLE_PATHS[role](RESERVED_NAMES[name][1])[0])
        assert StudySpec.from_dict(renamed)


def test_every_reserved_name_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / FILE
    path.write_text(
        HEAD
        + textwrap.dedent(
            """\
            [budget]
            trials = 3
            max_train_steps = 10
            [nuisance]
            seed = { low = 0, high = 9, type = "int" }
            lr = { low = 1e-4, high = 1e-1, scale = "log" }
            [fixed]
            dir = "data"
            gpus = 2
            """
        )
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    located = [p.split(": ")[1] for p in info.value.problems]
    assert located == ["nuisance.seed", "fixed.dir", "fixed.gpus"]


# --- the CLI: the located message and exit 1, never a traceback ---------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[budget]\ntrials = 1000000000000000000\nmax_train_steps = 10\n", "budget.trials"),
        (
            "[budget]\ntrials = 3\nmax_train_steps = 10\n"
            "[nuisance]\nx = { low = -1e308, high = 1e308 }\n",
            "nuisance.x",
        ),
        (
            "[budget]\ntrials = 3\nmax_train_steps = 10\n[fixed]\nseed = 1\n",
            "fixed.seed",
        ),
    ],
)
def test_scitune_run_prints_the_located_problem_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, field: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / FILE).write_text(HEAD + body)
    result = CliRunner().invoke(app, ["run", FILE], env={"COLUMNS": "500"})
    assert result.exit_code == 1, result.output
    assert f"error: {FILE}: {field}: " in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (tmp_path / ".scitune").exists()  # refused before any store was made
