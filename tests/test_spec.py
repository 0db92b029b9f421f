"""The study file: DESIGN.md's example, every rule's error message, warnings, and fuzzing."""

# ruff: noqa: E501 -- DESIGN.md's example is copied verbatim, long comment lines included.

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import re
import string
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scitune._spec_params import RESERVED_NAMES
from scitune.errors import SpecError
from scitune.space import ChoiceDomain, Domain, FloatDomain, IntDomain, Space, Value
from scitune.spec import (
    BudgetSpec,
    ConstraintSpec,
    EntrypointSpec,
    MetricsSpec,
    ObjectiveSpec,
    SearchSpec,
    StudySpec,
    load_spec,
    parse_duration,
)

# Copied verbatim from DESIGN.md ("The study file"): it must parse exactly as written.
DESIGN_EXAMPLE = """\
name = "cnn-dropout"
goal = "Does dropout help the CNN once learning rate and weight decay are tuned?"
storage = "sqlite:///.scitune/scitune.db"      # default; postgresql+psycopg://... later

[entrypoint]
python = "examples.mnist1d.train:main"         # a function taking a scitune.Trial
# command = ["python", "train.py", "--lr", "{learning_rate}"]   # any language; see protocol
timeout = "20m"

[objective]
metric = "dev_error"
goal = "minimize"                               # or "maximize"
select = "best"                                 # "best" over training (default) or "final"

[[constraints]]                                 # satisficing metrics: filter, then rank
metric = "params_millions"
max = 1.0

[budget]
trials = 20                                     # per scientific value when design = "per_value"
max_train_steps = 3000                          # the same for every trial; never tuned inside a study
seed = 0                                        # sampler seed, recorded with the study

[search]
sampler = "quasirandom"                         # quasirandom (default) | random | grid | bayes
design = "per_value"                            # per_value (default) | joint

[scientific]
dropout = { values = [0.0, 0.1, 0.3] }

[nuisance]
learning_rate = { low = 1e-4, high = 0.3, scale = "log" }
weight_decay  = { low = 1e-6, high = 1e-2, scale = "log" }

[nuisance.when.optimizer.adam]                  # conditional on a categorical (scientific or fixed) parent
beta1 = { low = 0.5, high = 0.99, scale = "reverse_log" }

[fixed]
optimizer = "adam"
batch_size = 100
"""

FILE = "study.toml"


def write(tmp_path: Path, text: str, name: str = FILE) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def study(
    *,
    top: str = 'name = "s"',
    entrypoint: str | None = 'python = "train:main"',
    objective: str | None = 'metric = "dev_error"',
    budget: str | None = "trials = 20\nmax_train_steps = 100",
    search: str = "",
    scientific: str = "",
    nuisance: str = "",
    fixed: str = "",
    tail: str = "",
) -> str:
    """A small valid study file; each argument replaces the body of one section."""
    parts = [top]
    for header, body in (
        ("entrypoint", entrypoint),
        ("objective", objective),
        ("budget", budget),
        ("search", search),
        ("scientific", scientific),
        ("nuisance", nuisance),
        ("fixed", fixed),
    ):
        if body is not None and (body or header in ("entrypoint", "objective", "budget")):
            parts.append(f"[{header}]\n{textwrap.dedent(body)}")
    parts.append(textwrap.dedent(tail))
    return "\n".join(parts) + "\n"


def problems_of(tmp_path: Path, text: str) -> tuple[str, ...]:
    """The problems a file raises; each must name the file first."""
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    problems = info.value.problems
    assert problems
    for problem in problems:
        assert problem.startswith(f"{path}: "), problem
        assert problem in str(info.value)
    return problems


def the_problem(tmp_path: Path, text: str, field: str) -> str:
    """The one problem at ``field`` (the dotted path right after the file name)."""
    problems = problems_of(tmp_path, text)
    path = tmp_path / FILE
    found = [p for p in problems if p.startswith(f"{path}: {field}: ")]
    assert found, f"no problem at {field!r} in:\n" + "\n".join(problems)
    return found[0]


# --- the example from DESIGN.md ------------------------------------------------------------------


def test_design_example_parses(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, DESIGN_EXAMPLE))
    assert spec.name == "cnn-dropout"
    assert spec.goal.startswith("Does dropout help")
    assert spec.storage == "sqlite:///.scitune/scitune.db"
    assert spec.entrypoint == EntrypointSpec(python="examples.mnist1d.train:main", timeout_s=1200)
    assert spec.entrypoint.command is None
    assert spec.objective == ObjectiveSpec(metric="dev_error", goal="minimize", select="best")
    assert spec.constraints == (ConstraintSpec(metric="params_millions", max=1.0),)
    assert spec.budget == BudgetSpec(trials=20, max_train_steps=3000, seed=0)
    assert spec.search == SearchSpec(sampler="quasirandom", design="per_value")
    assert spec.source == tmp_path / FILE

    scientific = spec.scientific_space()
    assert scientific.keys == ("dropout",)
    assert scientific.axes[0].domain == ChoiceDomain((0.0, 0.1, 0.3))
    nuisance = spec.nuisance_space()
    assert nuisance.keys == ("learning_rate", "weight_decay", "beta1[optimizer=adam]")
    assert nuisance.axes[0].domain == FloatDomain(1e-4, 0.3, "log")
    assert nuisance.axes[1].domain == FloatDomain(1e-6, 1e-2, "log")
    assert nuisance.axes[2].domain == FloatDomain(0.5, 0.99, "reverse_log")
    assert nuisance.axes[2].condition == ("optimizer", "adam")

    assert spec.context() == {"optimizer": "adam", "batch_size": 100}
    assert spec.fixed_params({"dropout": 0.1}) == {"optimizer": "adam", "batch_size": 100}
    assert spec.role_of("dropout") == "scientific"
    assert spec.role_of("beta1") == "nuisance"
    assert spec.role_of("beta1[optimizer=adam]") == "nuisance"
    assert spec.role_of("batch_size") == "fixed"
    with pytest.raises(KeyError, match="did you mean 'learning_rate'"):
        spec.role_of("learning_rat")
    assert spec.warnings() == []


def test_conditional_axis_decodes_under_the_fixed_parent(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, DESIGN_EXAMPLE))
    points = np.full((1, 3), 0.5)
    configs = spec.nuisance_space().configs_from_unit(points, spec.context())
    assert set(configs[0]) == {"learning_rate", "weight_decay", "beta1"}


def test_round_trip_through_dict_and_json(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, DESIGN_EXAMPLE))
    data = spec.to_dict()
    assert "source" not in data
    assert data["nuisance"]["when"] == {
        "optimizer": {"adam": {"beta1": {"low": 0.5, "high": 0.99, "scale": "reverse_log"}}}
    }
    again = StudySpec.from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert again == spec  # source is not part of equality
    assert again.source is None
    assert hash(again) == hash(spec)
    assert again.to_dict() == data


def test_python_construction_equals_the_file(tmp_path: Path) -> None:
    built = StudySpec(
        name="cnn-dropout",
        goal="Does dropout help the CNN once learning rate and weight decay are tuned?",
        entrypoint=EntrypointSpec(python="examples.mnist1d.train:main", timeout_s=20 * 60),
        objective=ObjectiveSpec(metric="dev_error"),
        constraints=(ConstraintSpec(metric="params_millions", max=1.0),),
        budget=BudgetSpec(trials=20, max_train_steps=3000),
        scientific={"dropout": ChoiceDomain((0.0, 0.1, 0.3))},
        nuisance={
            "learning_rate": FloatDomain(1e-4, 0.3, "log"),
            "weight_decay": FloatDomain(1e-6, 1e-2, "log"),
        },
        nuisance_when={"optimizer": {"adam": {"beta1": FloatDomain(0.5, 0.99, "reverse_log")}}},
        fixed={"optimizer": "adam", "batch_size": 100},
    )
    assert built == load_spec(write(tmp_path, DESIGN_EXAMPLE))
    # The file's shape is accepted from Python too.
    as_tables = StudySpec(**StudySpec.from_dict(built.to_dict()).to_dict())
    assert as_tables == built


def test_python_construction_gives_the_same_errors(tmp_path: Path) -> None:
    text = study(
        budget="trials = 0\nmax_train_steps = 100",
        nuisance='lr = { low = 0, high = 0.1, scale = "log" }',
        fixed="lr = 0.1",
    )
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as from_file:
        load_spec(path)
    kwargs: dict[str, Any] = {
        "name": "s",
        "entrypoint": {"python": "train:main"},
        "objective": {"metric": "dev_error"},
        "budget": {"trials": 0, "max_train_steps": 100},
        "nuisance": {"lr": {"low": 0, "high": 0.1, "scale": "log"}},
        "fixed": {"lr": 0.1},
    }
    with pytest.raises(SpecError) as from_python:
        StudySpec(**kwargs)
    with pytest.raises(SpecError) as from_dict:
        StudySpec.from_dict(kwargs, source=path)
    in_file = [p.removeprefix(f"{path}: ") for p in from_file.value.problems]
    in_python = [p.removeprefix("StudySpec: ") for p in from_python.value.problems]
    assert in_python == in_file
    assert from_dict.value.problems == from_file.value.problems
    assert len(in_file) == 3


def test_sections_built_alone_raise_spec_error() -> None:
    with pytest.raises(SpecError, match=r"EntrypointSpec: entrypoint: set exactly one"):
        EntrypointSpec()
    with pytest.raises(SpecError, match=r"budget\.trials: must be >= 1, got 0"):
        BudgetSpec(trials=0, max_train_steps=1)
    with pytest.raises(SpecError, match=r"budget\.runs: must be >= 1, got 0"):
        BudgetSpec(trials=1, max_train_steps=1, runs=0)
    with pytest.raises(SpecError, match=r"constraints: .*needs min, max or both"):
        ConstraintSpec(metric="m")
    with pytest.raises(SpecError, match=r'search\.sampler: must be one of .*"grid"'):
        SearchSpec(sampler="gird")  # type: ignore[arg-type]


def test_every_problem_is_collected(tmp_path: Path) -> None:
    text = study(
        top='name = "bad name"',
        entrypoint='python = "train.py"',
        objective='metric = "m"\ngoal = "minimise"',
        budget="trails = 20\nmax_train_steps = 0",
        scientific="dropout = { low = 0.0, high = 0.5 }",
        nuisance='lr = { low = 0, high = 1, scale = "log" }',
    )
    problems = problems_of(tmp_path, text)
    fields = [p.split(": ")[1] for p in problems]
    assert fields == [
        "name",
        "entrypoint.python",
        "objective.goal",
        "budget.trials",
        "budget.max_train_steps",
        "budget.trails",
        "scientific.dropout",
        "nuisance.lr.low",
    ]


# --- one test per rule: file, path, rule, value received, fix -------------------------------------


def test_bad_scale(tmp_path: Path) -> None:
    text = study(nuisance='lr = { low = 1e-4, high = 0.1, scale = "logg" }')
    problem = the_problem(tmp_path, text, "nuisance.lr.scale")
    assert '"linear", "log", "reverse_log"' in problem
    assert 'got "logg"' in problem
    assert 'did you mean "log"?' in problem


def test_int_range_refuses_reverse_log(tmp_path: Path) -> None:
    text = study(nuisance='layers = { low = 1, high = 8, type = "int", scale = "reverse_log" }')
    problem = the_problem(tmp_path, text, "nuisance.layers.scale")
    assert '"linear", "log" for an integer range' in problem


def test_log_scale_needs_a_positive_low(tmp_path: Path) -> None:
    text = study(nuisance='learning_rate = { low = 0, high = 0.1, scale = "log" }')
    problem = the_problem(tmp_path, text, "nuisance.learning_rate.low")
    assert "must be > 0" in problem
    assert "got 0." in problem
    assert "1e-5" in problem


def test_low_must_be_below_high(tmp_path: Path) -> None:
    problem = the_problem(
        tmp_path, study(nuisance="wd = { low = 0.5, high = 0.1 }"), "nuisance.wd.low"
    )
    assert "must be < 'high'" in problem
    assert "low=0.5, high=0.1" in problem
    assert "Swap them" in problem


def test_int_range_with_float_bounds(tmp_path: Path) -> None:
    text = study(nuisance='layers = { low = 1.0, high = 8.5, type = "int" }')
    problems = problems_of(tmp_path, text)
    assert any("nuisance.layers.low: must be an integer" in p and "Write 1." in p for p in problems)
    assert any("nuisance.layers.high: must be an integer" in p and "got 8.5" in p for p in problems)


def test_unknown_type(tmp_path: Path) -> None:
    text = study(nuisance='layers = { low = 1, high = 8, type = "integer" }')
    problem = the_problem(tmp_path, text, "nuisance.layers.type")
    assert 'must be "float" or "int", got "integer"' in problem


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        (
            study(budget="trails = 20\nmax_train_steps = 10"),
            "budget.trails",
            "unknown field 'trails' in [budget]; did you mean 'trials'?",
        ),
        (
            study(tail="[nusiance]\nlr = { low = 0.1, high = 1.0 }"),
            "nusiance",
            "unknown section [nusiance]; did you mean [nuisance]?",
        ),
        (
            study(nuisance='lr = { low = 0.1, high = 1.0, scael = "log" }'),
            "nuisance.lr.scael",
            "unknown field 'scael' in nuisance.lr; did you mean 'scale'?",
        ),
        (
            study(entrypoint='python = "t:main"\ntimout = "1h"'),
            "entrypoint.timout",
            "did you mean 'timeout'?",
        ),
        (
            study(top='name = "s"\nmax_train_steps = 10'),
            "max_train_steps",
            "'max_train_steps' belongs in [budget]",
        ),
        (
            study(entrypoint='python = "t:main"\nname = "x"'),
            "entrypoint.name",
            "'name' belongs at the top level",
        ),
        (
            study(nuisance="model.depth = { values = [1, 2] }"),
            "nuisance.model.depth",
            'quote the whole name, "model.depth"',
        ),
    ],
)
def test_unknown_keys(tmp_path: Path, text: str, field: str, expected: str) -> None:
    assert expected in the_problem(tmp_path, text, field)


def test_a_name_has_one_role(tmp_path: Path) -> None:
    text = study(nuisance="lr = { low = 0.1, high = 1.0 }", fixed="lr = 0.1")
    problem = the_problem(tmp_path, text, "fixed.lr")
    assert "'lr' is already in [nuisance]; a hyperparameter has one role" in problem


def test_a_conditional_name_has_one_role(tmp_path: Path) -> None:
    text = study(
        scientific='opt = { values = ["adam", "sgd"] }',
        nuisance="lr = { low = 0.1, high = 1.0 }",
        tail="""
        [nuisance.when.opt.adam]
        lr = { low = 0.1, high = 1.0 }
        [fixed.when.opt.sgd]
        lr = 0.1
        """,
    )
    problems = problems_of(tmp_path, text)
    assert any("nuisance.when.opt.adam.lr: 'lr' is also an unconditional" in p for p in problems)
    assert any("fixed.when.opt.sgd.lr: 'lr' is already in [nuisance]" in p for p in problems)


@pytest.mark.parametrize("section", ["entrypoint", "objective", "budget"])
def test_missing_required_section(tmp_path: Path, section: str) -> None:
    problem = the_problem(tmp_path, study(**{section: None}), section)  # type: ignore[arg-type]
    assert f"missing required section [{section}]; add [{section}] with" in problem


def test_missing_required_field(tmp_path: Path) -> None:
    problem = the_problem(tmp_path, study(budget="trials = 3"), "budget.max_train_steps")
    assert "missing required field 'max_train_steps' in [budget]; add e.g." in problem
    assert "missing required field 'name'" in the_problem(tmp_path, study(top=""), "name")


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        ('"20 parsecs"', 'must be a duration such as "90s", "20m", "1h30m"'),
        ("0", "must be > 0, got 0"),
        ('"-5s"', "must be a duration such as"),
        ("-5", "must be > 0, got -5"),
        ("inf", "must be a finite number of seconds, got inf"),
        ("true", "must be a duration such as"),
        ("[1]", "got a list"),
    ],
)
def test_bad_timeout(tmp_path: Path, timeout: str, expected: str) -> None:
    text = study(entrypoint=f'python = "t:main"\ntimeout = {timeout}')
    assert expected in the_problem(tmp_path, text, "entrypoint.timeout")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("20m", 1200.0), ("1h30m", 5400.0), ("2h", 7200.0), ("1h 30m 15s", 5415.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_numbers_and_errors() -> None:
    assert parse_duration(45) == 45.0
    assert parse_duration(1.5) == 1.5
    assert parse_duration("90") == 90.0
    assert parse_duration("1.5h") == 5400.0
    for bad in ("", "h", "1x", "1h30", "-1", "nan", "1" * 400):
        with pytest.raises(SpecError, match="invalid duration"):
            parse_duration(bad)
    with pytest.raises(SpecError):
        parse_duration(True)


def test_timeout_in_the_file(tmp_path: Path) -> None:
    for text, seconds in (('"1h30m"', 5400.0), ("90", 90.0), ("2.5", 2.5)):
        spec = load_spec(write(tmp_path, study(entrypoint=f'python = "t:main"\ntimeout = {text}')))
        assert spec.entrypoint.timeout_s == seconds
        assert spec.to_dict()["entrypoint"]["timeout"] == seconds


def test_entrypoint_needs_exactly_one_way_to_run(tmp_path: Path) -> None:
    both = study(entrypoint='python = "t:main"\ncommand = ["python", "t.py"]')
    problem = the_problem(tmp_path, both, "entrypoint")
    assert "set exactly one of python or command, got both" in problem
    neither = study(entrypoint='timeout = "1h"')
    assert "got neither" in the_problem(tmp_path, neither, "entrypoint")


def test_entrypoint_python_and_command_forms(tmp_path: Path) -> None:
    problem = the_problem(tmp_path, study(entrypoint='python = "train.py"'), "entrypoint.python")
    assert '"module.path:function"' in problem
    assert 'command = ["python", "train.py"]' in problem
    assert '"train:main"' in the_problem(
        tmp_path, study(entrypoint='python = "train"'), "entrypoint.python"
    )
    spec = load_spec(write(tmp_path, study(entrypoint="command = \"python t.py --lr '{lr}'\"")))
    assert spec.entrypoint.command == ("python", "t.py", "--lr", "{lr}")
    spec = load_spec(write(tmp_path, study(entrypoint='command = ["./run", "{lr}"]')))
    assert spec.entrypoint.command == ("./run", "{lr}")
    assert "must be a string" in the_problem(
        tmp_path, study(entrypoint='command = ["python", 3]'), "entrypoint.command[1]"
    )
    assert "must not be empty" in the_problem(
        tmp_path, study(entrypoint="command = []"), "entrypoint.command"
    )
    assert "No closing quotation" in the_problem(
        tmp_path, study(entrypoint='command = "python \'t.py"'), "entrypoint.command"
    )


def test_per_value_design_needs_scientific_values(tmp_path: Path) -> None:
    text = study(scientific="dropout = { low = 0.0, high = 0.5 }")
    problem = the_problem(tmp_path, text, "scientific.dropout")
    assert 'design = "per_value"' in problem
    assert 'set design = "joint" in [search]' in problem
    assert "values = [0, 0.25, 0.5]" in problem
    joint = study(search='design = "joint"', scientific="dropout = { low = 0.0, high = 0.5 }")
    spec = load_spec(write(tmp_path, joint))
    assert spec.scientific_space().keys == ("dropout",)


def test_grid_needs_finite_axes(tmp_path: Path) -> None:
    text = study(
        search='sampler = "grid"',
        scientific="dropout = { values = [0.0, 0.1] }",
        nuisance='lr = { low = 1e-3, high = 0.1, scale = "log" }',
    )
    problem = the_problem(tmp_path, text, "nuisance.lr")
    assert 'sampler = "grid" needs a finite list of values' in problem
    assert 'use sampler = "quasirandom"' in problem
    finite = study(
        search='sampler = "grid"',
        scientific="dropout = { values = [0.0, 0.1] }",
        nuisance="lr = { values = [0.1, 0.01] }",
    )
    assert load_spec(write(tmp_path, finite)).search.sampler == "grid"


def test_grid_ignores_inactive_conditionals(tmp_path: Path) -> None:
    text = study(
        search='sampler = "grid"',
        fixed='optimizer = "adam"',
        tail="[nuisance.when.optimizer.sgd]\nmomentum = { low = 0.8, high = 0.99 }",
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.nuisance_space().keys == ()
    assert any("so this table (momentum) never applies" in w for w in spec.warnings())


def test_conditional_parent_must_be_categorical(tmp_path: Path) -> None:
    text = study(
        search='design = "joint"',
        scientific="width = { low = 1.0, high = 8.0 }",
        tail="[nuisance.when.width.2]\nlr = { low = 0.1, high = 1.0 }",
    )
    problem = the_problem(tmp_path, text, "nuisance.when.width")
    assert "'width' is a range in [scientific]" in problem
    assert "must be categorical" in problem


def test_conditional_parent_must_be_scientific_or_fixed(tmp_path: Path) -> None:
    text = study(
        nuisance='optimizer = { values = ["adam", "sgd"] }',
        tail="[nuisance.when.optimizer.adam]\nbeta1 = { low = 0.8, high = 0.99 }",
    )
    problem = the_problem(tmp_path, text, "nuisance.when.optimizer")
    assert "'optimizer' is a nuisance hyperparameter" in problem
    assert "Move optimizer to [scientific] or [fixed]" in problem


def test_conditional_parent_must_exist(tmp_path: Path) -> None:
    text = study(
        fixed='optimizer = "adam"',
        tail="[nuisance.when.optimiser.adam]\nbeta1 = { low = 0.8, high = 0.99 }",
    )
    problem = the_problem(tmp_path, text, "nuisance.when.optimiser")
    assert "no hyperparameter 'optimiser'" in problem
    assert "did you mean 'optimizer'?" in problem


def test_conditionals_do_not_nest(tmp_path: Path) -> None:
    text = study(
        scientific='opt = { values = ["adam", "sgd"] }',
        tail="""
        [fixed.when.opt.adam]
        variant = "amsgrad"
        [nuisance.when.variant.amsgrad]
        beta1 = { low = 0.8, high = 0.99 }
        """,
    )
    assert "is itself conditional" in the_problem(tmp_path, text, "nuisance.when.variant")


def test_conditional_value_must_be_one_of_the_parents(tmp_path: Path) -> None:
    text = study(
        scientific='optimizer = { values = ["adam", "sgd"] }',
        tail="[nuisance.when.optimizer.adamw]\nbeta1 = { low = 0.8, high = 0.99 }",
    )
    problem = the_problem(tmp_path, text, "nuisance.when.optimizer.adamw")
    assert '"adamw" is not one of optimizer\'s values ["adam", "sgd"]' in problem
    assert 'did you mean "adam"?' in problem


def test_numeric_and_boolean_when_keys_match_the_parents_values(tmp_path: Path) -> None:
    text = study(
        scientific="""
        num_layers = { values = [1, 2, 4] }
        dropout = { values = [0.0, 0.5] }
        residual = { values = [true, false] }
        """,
        tail="""
        [nuisance.when.num_layers.2]
        width = { low = 8, high = 64, type = "int", scale = "log" }
        [nuisance.when.dropout."0.5"]
        keep = { values = ["a", "b"] }
        [fixed.when.residual.true]
        norm = "layer"
        """,
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.nuisance_space().keys == ("width[num_layers=2]", "keep[dropout=0.5]")
    assert spec.nuisance_when["num_layers"] == {2: {"width": IntDomain(8, 64, "log")}}
    assert list(spec.nuisance_when["dropout"]) == [0.5]
    assert spec.fixed_params({"residual": True}) == {"norm": "layer"}
    assert spec.fixed_params({"residual": False}) == {}
    assert spec.fixed_params({"residual": 1}) == {}  # true is not 1
    assert StudySpec.from_dict(spec.to_dict()) == spec
    wrong = text.replace("num_layers.2]", "num_layers.3]")
    problem = the_problem(tmp_path, wrong, "nuisance.when.num_layers.3")
    assert "3" in problem
    assert "not one of num_layers's values [1, 2, 4]" in problem


def test_unquoted_float_key_gets_a_hint(tmp_path: Path) -> None:
    text = study(
        scientific="dropout = { values = [0.0, 0.5] }",
        tail="[nuisance.when.dropout.0.5]\nkeep = { values = [1, 2] }",
    )
    problems = problems_of(tmp_path, text)
    assert any('[nuisance.when.dropout."0.1"]' in p for p in problems)


def test_fixed_parent_with_another_value_is_inactive_but_warned(tmp_path: Path) -> None:
    text = study(
        fixed='optimizer = "adam"\nlayers = 2',
        tail="""
        [nuisance.when.optimizer.sgd]
        momentum = { low = 0.8, high = 0.99 }
        [fixed.when.layers.3]
        width = 64
        """,
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.nuisance_space().keys == ()
    assert spec.fixed_params({}) == {"optimizer": "adam", "layers": 2}
    warnings = spec.warnings()
    assert any(
        'nuisance.when.optimizer.sgd: optimizer is fixed to "adam", so this table (momentum) never applies'
        in w
        for w in warnings
    )
    assert any("fixed.when.layers.3: layers is fixed to 2" in w for w in warnings)
    bad = text.replace("layers.3]", "layers.three]")
    assert "can never equal layers = 2" in the_problem(tmp_path, bad, "fixed.when.layers.three")


def test_conditional_fixed_values_follow_their_parent(tmp_path: Path) -> None:
    text = study(
        scientific='optimizer = { values = ["adam", "sgd"] }',
        fixed="batch_size = 128",
        tail="""
        [fixed.when.optimizer.adam]
        beta2 = 0.999
        [fixed.when.optimizer.sgd]
        momentum = 0.9
        [nuisance.when.optimizer.sgd]
        nesterov = { values = [true, false] }
        """,
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.fixed_params({"optimizer": "adam"}) == {"batch_size": 128, "beta2": 0.999}
    assert spec.fixed_params({"optimizer": "sgd"}) == {"batch_size": 128, "momentum": 0.9}
    assert spec.role_of("momentum") == "fixed"
    assert spec.scientific_space().keys == ("optimizer",)
    assert spec.nuisance_space().keys == ("nesterov[optimizer=sgd]",)


def test_when_is_reserved(tmp_path: Path) -> None:
    text = study(
        fixed='optimizer = "adam"',
        tail="[nuisance.when.optimizer.adam]\nwhen = { values = [1, 2] }",
    )
    problem = the_problem(tmp_path, text, "nuisance.when.optimizer.adam.when")
    assert '"when" is reserved' in problem
    assert "must be a table of conditionals" in the_problem(
        tmp_path, study(fixed="when = 3"), "fixed.when"
    )


@pytest.mark.parametrize(
    ("section", "body", "field", "expected"),
    [
        ("fixed", "layers = [64, 64]", "fixed.layers", "[fixed] holds single values"),
        ("fixed", "bad = nan", "fixed.bad", "must be a finite number, got nan"),
        ("fixed", "day = 2024-01-01", "fixed.day", "Write it as a string in quotes"),
        ("nuisance", "wd = 0.1", "nuisance.wd", "a single value belongs in [fixed]"),
        ("nuisance", "act = [1, 2]", "nuisance.act", "write { values = [1, 2] }"),
        ("nuisance", "act = { values = [] }", "nuisance.act.values", "at least one value"),
        ("nuisance", "act = { values = [1, 1.0] }", "nuisance.act.values", "must not repeat"),
        ("nuisance", "act = { values = 3 }", "nuisance.act.values", "must be a list"),
        ("nuisance", "a = { values = [[1]] }", "nuisance.a.values[0]", "got a list"),
        ("nuisance", "a = { values = [1], low = 1 }", "nuisance.a", "not both"),
        ("nuisance", "a = { low = 1.0 }", "nuisance.a", "missing 'high'"),
        ("nuisance", "a = { low = true, high = 2 }", "nuisance.a.low", "must be a number"),
        ("nuisance", "a = { low = 0, high = inf }", "nuisance.a.high", "finite"),
        ("nuisance", "a = {}", "nuisance", "must be a hyperparameter domain"),
        ("nuisance", '"learning rate" = { low = 1, high = 2 }', "nuisance", "1-100 letters"),
        ("search", 'sampler = "bayesian"', "search.sampler", 'did you mean "bayes"?'),
        ("search", 'design = "paired"', "search.design", '"per_value", "joint"'),
        ("objective", 'metric = "m"\nselect = "last"', "objective.select", '"best", "final"'),
        ("objective", 'metric = "m"\nchance = "high"', "objective.chance", "chance = 0.9"),
        ("objective", 'metric = "m"\nchance = nan', "objective.chance", "a finite number"),
        ("objective", 'metric = "m"\nchance = true', "objective.chance", "got true"),
        ("budget", "trials = 2.5\nmax_train_steps = 1", "budget.trials", "must be an integer"),
        ("budget", 'trials = "20"\nmax_train_steps = 1', "budget.trials", 'got "20"'),
        ("budget", "trials = 1\nmax_train_steps = 1\nseed = -1", "budget.seed", "must be >= 0"),
    ],
)
def test_value_rules(tmp_path: Path, section: str, body: str, field: str, expected: str) -> None:
    text = study(**{section: body})
    problems = problems_of(tmp_path, text)
    path = tmp_path / FILE
    assert any(p.startswith(f"{path}: {field}") and expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("top", "field", "expected"),
    [
        ('name = "my study"', "name", 'Use e.g. name = "my-study"'),
        ('name = ".."', "name", "starting with a letter or digit"),
        ('name = ""', "name", 'got ""'),
        (f'name = "{"x" * 101}"', "name", "1-100"),
        ('name = "s"\nstorage = "scitune.db"', "storage", "must be a database URL"),
        ('name = "s"\ngoal = 3', "goal", "must be a string"),
    ],
)
def test_top_level_rules(tmp_path: Path, top: str, field: str, expected: str) -> None:
    assert expected in the_problem(tmp_path, study(top=top), field)


def test_constraints(tmp_path: Path) -> None:
    bad = study(tail='[[constraints]]\nmetric = "p"\nmin = 2\nmax = 1')
    assert "min must be <= max" in the_problem(tmp_path, bad, "constraints[0]")
    none = study(tail='[[constraints]]\nmetric = "p"')
    assert "needs min, max or both" in the_problem(tmp_path, none, "constraints[0]")
    table = study(tail='[constraints]\nmetric = "p"')
    assert "[[constraints]]" in the_problem(tmp_path, table, "constraints")
    ok = load_spec(write(tmp_path, study(tail='[[constraints]]\nmetric = "p"\nmin = 0\nmax = 0')))
    assert ok.constraints == (ConstraintSpec(metric="p", min=0.0, max=0.0),)


# --- the file itself ------------------------------------------------------------------------------


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    text = study(fixed="optimizer = adam")
    path = write(tmp_path, text)
    line = text.splitlines().index("optimizer = adam") + 1
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}, column 13 (`optimizer = adam`): invalid TOML")
    assert 'Strings need quotes (optimizer = "adam")' in message


def test_toml_duplicate_table(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"invalid TOML: .*merge the two"):
        load_spec(write(tmp_path, study(tail="[budget]\nseed = 1")))


def test_missing_file_directory_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.toml: no such file"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(study(top='name = "s"\ngoal = "caf\xe9"').encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1\.toml: line 2: not UTF-8 text \(byte 0xe9"):
        load_spec(latin1)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + study().encode())
    assert load_spec(bom).name == "s"
    assert load_spec(str(bom)).name == "s"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "cannot read the file (permission"),
        (OSError(errno.EIO, "Input/output error"), "cannot read the file (Input/output error)"),
    ],
)
def test_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, expected: str
) -> None:
    path = write(tmp_path, study())

    def refuse(self: Path) -> bytes:
        raise error

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(SpecError, match=re.escape(f"{path}: {expected}")):
        load_spec(path)


def test_source_and_python_only_fields_are_not_file_fields(tmp_path: Path) -> None:
    text = study(top='name = "s"\nsource = "x.toml"\nnuisance_when = {}')
    problems = problems_of(tmp_path, text)
    assert any("source: unknown field 'source'" in p for p in problems)
    assert any("nuisance_when: unknown section [nuisance_when]" in p for p in problems)


def test_from_dict_refuses_non_tables() -> None:
    for data in ([1, 2], None, "name", 3):
        with pytest.raises(SpecError, match="a study must be a table of fields"):
            StudySpec.from_dict(data)  # type: ignore[arg-type]


def test_spec_is_frozen(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, DESIGN_EXAMPLE))
    with pytest.raises(ValueError):
        spec.name = "other"


# --- warnings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["batch_size", "Batch-Size", "batchsize", "train_batch_size"])
def test_batch_size_warning(tmp_path: Path, name: str) -> None:
    text = study(nuisance=f"{name} = {{ values = [32, 64] }}\nlr = {{ low = 0.01, high = 0.1 }}")
    warnings = load_spec(write(tmp_path, text)).warnings()
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{tmp_path / FILE}: nuisance.{name}: ")
    assert "the playbook says batch size is not a knob for validation performance" in warnings[0]
    assert "`scitune probe batch-size`" in warnings[0]


def _adam_study(trials: int, tuned: list[str], *, design: str = "per_value") -> str:
    ranges = {
        "learning_rate": '{ low = 1e-4, high = 1e-1, scale = "log" }',
        "beta1": '{ low = 0.8, high = 0.99, scale = "reverse_log" }',
        "epsilon": '{ low = 1e-10, high = 1e-6, scale = "log" }',
        "beta2": '{ low = 0.9, high = 0.9999, scale = "reverse_log" }',
    }
    return study(
        budget=f"trials = {trials}\nmax_train_steps = 100",
        search=f'design = "{design}"',
        scientific="dropout = { values = [0.0, 0.1] }",
        nuisance="\n".join(f"{name} = {ranges[name]}" for name in tuned),
        fixed='optimizer = "nadam"',
    )


@pytest.mark.parametrize(
    ("trials", "tuned", "too_many"),
    [
        (9, ["learning_rate"], []),
        (9, ["learning_rate", "beta1"], ["beta1"]),
        (10, ["learning_rate", "beta1"], []),
        (24, ["learning_rate", "beta1", "epsilon"], ["epsilon"]),
        (25, ["learning_rate", "beta1", "epsilon"], []),
        (25, ["learning_rate", "beta1", "epsilon", "beta2"], ["beta2"]),
        (49, ["learning_rate", "beta2"], ["beta2"]),
        (50, ["learning_rate", "beta1", "epsilon", "beta2"], []),
        (5, ["learning_rate", "beta1", "epsilon", "beta2"], ["beta1", "epsilon", "beta2"]),
    ],
)
def test_adam_budget_rule(
    tmp_path: Path, trials: int, tuned: list[str], too_many: list[str]
) -> None:
    warnings = load_spec(write(tmp_path, _adam_study(trials, tuned))).warnings()
    if not too_many:
        assert warnings == []
        return
    assert len(warnings) == 1
    warning = warnings[0]
    assert f"Adam budget rule: {trials} trials per scientific value" in warning
    assert f"but {', '.join(too_many)} {'is' if len(too_many) == 1 else 'are'} tuned too" in warning
    assert "well past 25 (scitune's choice: 50+)" in warning
    for name in too_many:
        assert f"{name} = " in warning  # a value to fix it at


def test_adam_budget_counts_trials_per_value_in_a_joint_study(tmp_path: Path) -> None:
    text = _adam_study(18, ["learning_rate", "beta1"], design="joint")
    [warning] = load_spec(write(tmp_path, text)).warnings()
    assert "9 trials per scientific value (18 shared by 2)" in warning
    assert "raise budget.trials to 20" in warning


def test_adam_budget_ignores_other_optimizers_conditionals(tmp_path: Path) -> None:
    text = study(
        budget="trials = 5\nmax_train_steps = 100",
        scientific='optimizer = { values = ["Adam", "sgd"] }',
        nuisance='lr = { low = 1e-4, high = 1e-1, scale = "log" }',
        tail="""
        [nuisance.when.optimizer.sgd]
        b1 = { low = 0.8, high = 0.99 }
        [nuisance.when.optimizer.Adam]
        eps = { low = 1e-10, high = 1e-6, scale = "log" }
        """,
    )
    [warning] = load_spec(write(tmp_path, text)).warnings()
    assert "but eps is tuned too" in warning
    no_adam = text.replace('"Adam", "sgd"', '"rmsprop", "sgd"').replace(".Adam]", ".rmsprop]")
    assert load_spec(write(tmp_path, no_adam)).warnings() == []


def test_other_warnings(tmp_path: Path) -> None:
    text = study(
        nuisance="""
        lr = { low = 0.01, high = 0.1 }
        train_steps = { values = [100, 200] }
        act = { values = ["relu"] }
        """
    )
    warnings = load_spec(write(tmp_path, text)).warnings()
    assert any(
        "nuisance.train_steps: the playbook says the number of training" in w for w in warnings
    )
    assert any('nuisance.act: has a single value "relu"' in w for w in warnings)


def test_clean_spec_has_no_warnings(tmp_path: Path) -> None:
    assert (
        load_spec(write(tmp_path, study(nuisance="lr = { low = 0.01, high = 0.1 }"))).warnings()
        == []
    )


# --- properties -----------------------------------------------------------------------------------


def toml_key(key: str) -> str:
    return toml_string(key)


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(data: dict[str, Any]) -> str:
    """A TOML document with the same tables (every table written inline)."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in data.items())


names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
    lambda s: s[0] != "_" and s != "when" and s not in RESERVED_NAMES
)


@st.composite
def domains(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["float", "log", "rlog", "int", "intlog", "choice"]))
    if kind == "float":
        low = draw(st.floats(-1e6, 1e6))
        return FloatDomain(low, low + draw(st.floats(1e-3, 1e6)))
    if kind in ("log", "rlog"):
        low = draw(st.floats(1e-8, 10.0))
        return FloatDomain(
            low, low * draw(st.floats(1.01, 1e4)), "log" if kind == "log" else "reverse_log"
        )
    if kind in ("int", "intlog"):
        low = draw(st.integers(1, 1000))
        return IntDomain(
            low, low + draw(st.integers(1, 1000)), "linear" if kind == "int" else "log"
        )
    values = draw(
        st.lists(
            st.one_of(st.integers(-100, 100), st.floats(-10, 10), st.booleans(), names),
            min_size=1,
            max_size=5,
            unique_by=lambda v: (type(v) is bool, float(v) if not isinstance(v, str) else v),
        )
    )
    return ChoiceDomain(tuple(values))


@st.composite
def valid_specs(draw: st.DrawFn) -> StudySpec:
    pool = draw(st.lists(names, min_size=4, max_size=12, unique=True))
    sci, nui, fix, cond = (pool[i::4] for i in range(4))
    parent_values = draw(
        st.lists(
            st.text(string.ascii_letters, min_size=1, max_size=5),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    scientific = {n: draw(domains()) for n in sci[1:]}
    scientific[sci[0]] = ChoiceDomain(tuple(parent_values))
    nuisance_when: dict[str, dict[Value, dict[str, Domain]]] = {
        sci[0]: {parent_values[0]: {n: draw(domains()) for n in cond}}
    }
    fixed = {
        n: draw(
            st.one_of(
                st.integers(-(2**63) + 1, 2**63 - 1),
                st.floats(allow_nan=False, allow_infinity=False),
                st.booleans(),
                st.text(max_size=10),
            )
        )
        for n in fix
    }
    return StudySpec(
        name=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)),
        goal=draw(st.text(max_size=30)),
        entrypoint=draw(
            st.sampled_from(
                [
                    EntrypointSpec(python="m.n:main", timeout_s=90),
                    EntrypointSpec(command=("run", "{x}")),
                ]
            )
        ),
        objective=ObjectiveSpec(
            metric="loss", goal=draw(st.sampled_from(["minimize", "maximize"]))
        ),
        constraints=(ConstraintSpec(metric="p", min=draw(st.floats(-1, 0))),),
        budget=BudgetSpec(
            trials=draw(st.integers(1, 100)),
            max_train_steps=7,
            seed=draw(st.integers(0, 2**63 - 1)),
        ),
        search=SearchSpec(
            design="joint", sampler=draw(st.sampled_from(["quasirandom", "random", "bayes"]))
        ),
        scientific=scientific,
        nuisance={n: draw(domains()) for n in nui},
        nuisance_when=nuisance_when,
        fixed=fixed,
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=valid_specs())
def test_round_trip_property(tmp_path: Path, spec: StudySpec) -> None:
    data = spec.to_dict()
    json_text = json.dumps(data, allow_nan=False)
    assert StudySpec.from_dict(json.loads(json_text)) == spec
    assert load_spec(write(tmp_path, to_toml(data))) == spec
    assert isinstance(spec.scientific_space(), Space)
    assert isinstance(spec.warnings(), list)


# --- fuzzing: load_spec raises SpecError or returns a StudySpec, nothing else ---------------------

KEYS = [
    "name", "goal", "storage", "entrypoint", "objective", "constraints", "budget", "search",
    "scientific", "nuisance", "fixed", "when", "python", "command", "timeout", "metric", "min",
    "max", "select", "trials", "max_train_steps", "seed", "sampler", "design", "low", "high",
    "scale", "type", "values", "optimizer", "adam", "2", "lr", "source", "nuisance_when",
]  # fmt: skip
SCALARS = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["log", "int", "adam", "20m", "t:main", "grid", "joint", "linear", "1h"]),
    st.datetimes(),
    st.dates(),
    st.times(),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children, max_size=5
        ),
    ),
    max_leaves=25,
)


def assert_spec_or_spec_error(path: Path) -> None:
    try:
        result = load_spec(path)
    except SpecError as exc:
        assert "internal error" not in str(exc), str(exc)
        assert all(p.startswith(str(path)) for p in exc.problems), exc.problems
    else:
        assert isinstance(result, StudySpec)
        result.warnings()
        result.to_dict()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), TREES, max_size=8)
)
def test_fuzz_random_documents(tmp_path: Path, doc: dict[str, Any]) -> None:
    assert_spec_or_spec_error(write(tmp_path, to_toml(doc)))


def _design_tables() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(DESIGN_EXAMPLE)


@st.composite
def mutated_tables(draw: st.DrawFn) -> dict[str, Any]:
    """The DESIGN example with a few values replaced, removed or added at random paths."""
    data = _design_tables()
    for _ in range(draw(st.integers(1, 4))):
        node: Any = data
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict):
                break
            node = node[key]
        if not isinstance(node, dict):
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or not node:
            node[draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)))] = draw(TREES)
        elif action == "delete":
            del node[draw(st.sampled_from(sorted(node)))]
        else:
            node[draw(st.sampled_from(sorted(node)))] = draw(TREES)
    return data


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated_tables())
def test_fuzz_mutated_design_example(tmp_path: Path, data: dict[str, Any]) -> None:
    assert_spec_or_spec_error(write(tmp_path, to_toml(data)))


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """The DESIGN example's text with lines dropped, repeated or edited character by character."""
    lines = DESIGN_EXAMPLE.splitlines()
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "insert", "delete_char", "swap"]))
        if action == "drop" and len(lines) > 1:
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(max_size=5)) + lines[i][at:]
        elif action == "delete_char" and lines[i]:
            at = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:at] + lines[i][at + 1 :]
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=mutated_text())
def test_fuzz_mutated_design_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / FILE
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assert_spec_or_spec_error(path)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.one_of(
        st.binary(max_size=200), st.binary(max_size=20).map(lambda b: DESIGN_EXAMPLE.encode() + b)
    )
)
def test_fuzz_random_bytes(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / FILE
    path.write_bytes(raw)
    assert_spec_or_spec_error(path)


PY_VALUES = st.recursive(
    st.one_of(SCALARS, st.none(), st.just(object()), st.sets(st.integers(), max_size=2)),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(tuple),
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.integers(), st.booleans()), children, max_size=4
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(PY_VALUES, mutated_tables()))
def test_fuzz_from_dict_with_python_objects(data: Any) -> None:
    try:
        result = StudySpec.from_dict(data)
    except SpecError as exc:
        assert "internal error" not in str(exc), str(exc)
    else:
        assert isinstance(result, StudySpec)


def test_deep_nesting_and_huge_numbers(tmp_path: Path) -> None:
    deep = study(fixed="x = " + "[" * 5000 + "]" * 5000)
    assert_spec_or_spec_error(write(tmp_path, deep))
    huge = study(budget="trials = " + "9" * 5000 + "\nmax_train_steps = 1")
    assert_spec_or_spec_error(write(tmp_path, huge))
    big = study(budget=f"trials = 1\nmax_train_steps = {2**63}")
    assert "must be <= 9223372036854775807" in the_problem(tmp_path, big, "budget.max_train_steps")
    many = study(budget=f"trials = {2**63}\nmax_train_steps = 1")
    assert "must be at most 1,000,000" in the_problem(tmp_path, many, "budget.trials")
    nested = study(tail="[nuisance.when.a.b.c.d.e.f]\ng = 1")
    assert_spec_or_spec_error(write(tmp_path, nested))


def test_messages_render_odd_values_briefly(tmp_path: Path) -> None:
    text = study(fixed="x = { " + ", ".join(f"k{i} = {i}" for i in range(50)) + " }")
    problem = the_problem(tmp_path, text, "fixed.x")
    assert len(problem) < 400
    assert re.search(r"\.\.\.", problem)


# --- [metrics]: which logged metric plays which role ---------------------------------------------

ROLES_TEXT = """
[metrics]
train_loss = "loss"
grad_norm = "grad_norm"
learning_rate = "lr"
max_grad_norm = "clip"
"""


def test_metrics_table_parses_and_round_trips(tmp_path: Path) -> None:
    from scitune._toml_out import render_study

    spec = load_spec(write(tmp_path, study(tail=ROLES_TEXT)))
    roles = {"train_loss": "loss", "grad_norm": "grad_norm", "learning_rate": "lr"}
    roles["max_grad_norm"] = "clip"
    assert spec.metrics == MetricsSpec(**roles)
    assert spec.to_dict()["metrics"] == roles
    assert StudySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert load_spec(write(tmp_path, render_study(spec.to_dict()), "again.toml")) == spec
    partial = load_spec(write(tmp_path, study(tail='[metrics]\ntrain_loss = "loss"')))
    assert partial.metrics.grad_norm is None
    assert partial.to_dict()["metrics"] == {"train_loss": "loss"}


def test_without_metrics_the_stored_form_is_unchanged(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, study()))
    assert spec.metrics == MetricsSpec() and "metrics" not in spec.to_dict()
    assert spec != load_spec(write(tmp_path, study(tail=ROLES_TEXT), "roles.toml"))


@pytest.mark.parametrize(
    ("tail", "field", "expected"),
    [
        (
            '[metrics]\ntrain_los = "loss"',
            "metrics.train_los",
            "unknown field 'train_los' in [metrics]; did you mean 'train_loss'?",
        ),
        ('[metrics]\ngradnorm = "g"', "metrics.gradnorm", "did you mean 'grad_norm'?"),
        ('[metrics]\nmetric = "loss"', "metrics.metric", "'metric' belongs in [objective]"),
        ('[metrics]\nwhat = "loss"', "metrics.what", "Known fields: train_loss, grad_norm"),
        (
            "[metrics]\ntrain_loss = 3",
            "metrics.train_loss",
            'must be a string (in quotes), got 3. Write e.g. train_loss = "loss".',
        ),
        (
            '[metrics]\nlearning_rate = " lr"',
            "metrics.learning_rate",
            'without surrounding spaces, e.g. learning_rate = "lr", got " lr". Omit it',
        ),
        ('[metrics]\ngrad_norm = ""', "metrics.grad_norm", 'got "". Omit it to let scitune'),
        ('[metric]\ntrain_loss = "loss"', "metric", "unknown section [metric]; did you mean [metrics]?"),
    ],
)
def test_metrics_problems_are_located(tmp_path: Path, tail: str, field: str, expected: str) -> None:
    assert expected in the_problem(tmp_path, study(tail=tail), field)


def test_metrics_must_be_a_table(tmp_path: Path) -> None:
    text = study(top='name = "s"\nmetrics = "loss"')
    assert "[metrics] must be a table" in the_problem(tmp_path, text, "metrics")


def test_metrics_from_python_gives_the_same_errors() -> None:
    with pytest.raises(SpecError, match=r"metrics\.train_loss: must name a metric"):
        MetricsSpec(train_loss="")
    with pytest.raises(SpecError, match="did you mean 'max_grad_norm'"):
        MetricsSpec(max_grad_nrom="clip")


def test_changing_metrics_rereads_the_study_and_keeps_its_trials(tmp_path: Path) -> None:
    from scitune.study import Study

    url = f"sqlite:///{tmp_path / 'store.db'}"
    top = f'name = "s"\nstorage = "{url}"'
    path = write(tmp_path, study(top=top, nuisance="lr = { low = 0.1, high = 1.0 }"))
    first = Study.open(load_spec(path))
    path.write_text(path.read_text() + ROLES_TEXT)
    again = Study.open(load_spec(path))  # not search-defining: accepted, and stored
    assert again.record.id == first.record.id
    assert Study.load("s", storage_url=url).spec.metrics.train_loss == "loss"
    path.write_text(path.read_text().replace('metric = "dev_error"', 'metric = "dev_loss"'))
    with pytest.raises(SpecError, match="already exists with different objective"):
        Study.open(load_spec(path))


def test_objective_chance_is_read_kept_and_left_out_when_unset(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, study(objective='metric = "dev_error"\nchance = 0.9')))
    assert spec.objective.chance == 0.9
    assert spec.to_dict()["objective"]["chance"] == 0.9
    assert StudySpec.from_dict(spec.to_dict()) == spec
    plain = load_spec(write(tmp_path, study(), name="plain.toml"))
    # Studies stored before the field existed keep their stored objective (no "chance": null).
    assert plain.objective.chance is None and "chance" not in plain.to_dict()["objective"]
    whole = load_spec(write(tmp_path, study(objective='metric = "m"\nchance = 1'), "i.toml"))
    assert whole.objective.chance == 1.0


# --- [objective] select = "smoothed" and its window ----------------------------------------------


def test_select_smoothed_defaults_its_window_and_round_trips(tmp_path: Path) -> None:
    smoothed = 'metric = "dev_error"\nselect = "smoothed"'
    spec = load_spec(write(tmp_path, study(objective=smoothed)))
    assert spec.objective.select == "smoothed" and spec.objective.smoothing == 5
    assert spec.to_dict()["objective"]["smoothing"] == 5
    assert StudySpec.from_dict(spec.to_dict()) == spec
    explicit = load_spec(write(tmp_path, study(objective=smoothed + "\nsmoothing = 5"), "e.toml"))
    assert explicit == spec  # writing the default is the same study
    seven = load_spec(write(tmp_path, study(objective=smoothed + "\nsmoothing = 7"), "7.toml"))
    assert seven.objective.smoothing == 7 and seven != spec
    assert ObjectiveSpec(metric="m", select="smoothed").smoothing == 5
    # The other selections never read a window, and never store one: studies stored before
    # the field existed keep comparing equal.
    plain = load_spec(write(tmp_path, study(), name="plain.toml"))
    assert plain.objective.smoothing is None and "smoothing" not in plain.to_dict()["objective"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'select = "smoothed"\nsmoothing = 4',
            "must be an odd number of evaluations (the moving mean is centered on one), got 4. "
            "Use 3 or 5.",
        ),
        (
            "smoothing = 3",
            'is only read by select = "smoothed", got select = "best". Remove smoothing, or set '
            'select = "smoothed"',
        ),
        ('select = "final"\nsmoothing = 3', 'got select = "final"'),
        ('select = "smoothed"\nsmoothing = 0', "must be >= 1, got 0"),
        ('select = "smoothed"\nsmoothing = 2.5', "must be an integer"),
        ('select = "smoothed"\nsmoothing = "5"', 'got "5"'),
    ],
)
def test_smoothing_rules(tmp_path: Path, body: str, expected: str) -> None:
    text = study(objective=f'metric = "dev_error"\n{body}')
    assert expected in the_problem(tmp_path, text, "objective.smoothing")


def test_select_names_smoothed(tmp_path: Path) -> None:
    text = study(objective='metric = "m"\nselect = "smooth"')
    problem = the_problem(tmp_path, text, "objective.select")
    assert '"best", "final", "smoothed"' in problem
    with pytest.raises(SpecError, match=r"objective\.smoothing: must be an odd number"):
        ObjectiveSpec(metric="m", select="smoothed", smoothing=6)


def test_the_smoothing_window_is_search_defining(tmp_path: Path) -> None:
    from scitune.study import Study  # as the test above: the spec tests need no store

    url = f"sqlite:///{tmp_path / 's.db'}"
    objective = 'metric = "dev_error"\nselect = "smoothed"\nsmoothing = 5'
    path = write(tmp_path, study(top=f'name = "s"\nstorage = "{url}"', objective=objective))
    first = Study.open(load_spec(path))
    assert Study.open(load_spec(path)).record.id == first.record.id
    path.write_text(path.read_text().replace("smoothing = 5", "smoothing = 3"))
    with pytest.raises(SpecError, match="already exists with different objective"):
        Study.open(load_spec(path))


def test_declaring_a_chance_level_later_keeps_the_study(tmp_path: Path) -> None:
    """The chance level informs the analysis only: adding it to a study that ran is allowed."""
    from scitune.study import Study

    text = (
        'name = "c"\nstorage = "sqlite:///' + str(tmp_path / "s.db") + '"\n'
        '[entrypoint]\npython = "a:b"\n[objective]\nmetric = "dev_error"\n{chance}'
        "[budget]\ntrials = 2\nmax_train_steps = 10\n[nuisance]\nx = {{ low = 0.0, high = 1.0 }}\n"
    )
    path = tmp_path / "c.toml"
    path.write_text(text.format(chance=""))
    Study.open(load_spec(path)).ensure_trials()
    path.write_text(text.format(chance="chance = 0.9\n"))
    assert Study.open(load_spec(path)).spec.objective.chance == 0.9
