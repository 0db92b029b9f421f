"""The study file: one scoped question, its hyperparameters by role, its sampler and budget.

A study file is TOML (see DESIGN.md); the same model can be built from Python, with the same
checks. Every problem names the file, the field path, the rule, the value received and the fix,
and all of them are reported at once in one :class:`~scitune.errors.SpecError`.

Example:
    >>> spec = StudySpec(
    ...     name="cnn-dropout",
    ...     entrypoint=EntrypointSpec(python="examples.mnist1d.train:main", timeout_s=1200),
    ...     objective=ObjectiveSpec(metric="dev_error"),
    ...     budget=BudgetSpec(trials=20, max_train_steps=3000),
    ...     scientific={"dropout": ChoiceDomain((0.0, 0.1, 0.3))},
    ...     nuisance={"learning_rate": FloatDomain(1e-4, 0.3, "log")},
    ...     nuisance_when={"optimizer": {"adam": {"beta1": FloatDomain(0.5, 0.99, "reverse_log")}}},
    ...     fixed={"optimizer": "adam", "batch_size": 100},
    ... )
    >>> spec.nuisance_space().keys
    ('learning_rate', 'beta1[optimizer=adam]')
    >>> StudySpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SkipValidation,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scitune._spec_advice import study_warnings
from scitune._spec_io import read_toml
from scitune._spec_params import (
    MAX_INT,
    ROLES,
    Design,
    Role,
    Sampler,
    domain_to_dict,
    key_str,
    parse_duration,
    seconds_in,
    value_key,
)
from scitune._spec_problems import (
    Problem,
    Vocabulary,
    did_you_mean,
    fail,
    kind,
    problem_from_pydantic,
    show,
    spec_error,
    unknown_field,
    validation_error,
    where_of,
)
from scitune._spec_roles import parse_roles
from scitune.errors import SpecError
from scitune.scoring import DEFAULT_SMOOTHING
from scitune.space import ChoiceDomain, Domain, FloatDomain, IntDomain, Space, Value

__all__ = [
    "DEFAULT_STORAGE",
    "BudgetSpec",
    "ConstraintSpec",
    "EntrypointSpec",
    "InfeasibleRule",
    "MetricsSpec",
    "ObjectiveSpec",
    "SearchSpec",
    "StudySpec",
    "load_spec",
    "parse_duration",
]

DEFAULT_STORAGE = "sqlite:///.scitune/scitune.db"

Goal = Literal["minimize", "maximize"]
Select = Literal["best", "final", "smoothed"]

_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_PYTHON_REF = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)
_STORAGE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://.*", re.DOTALL)
_VOCABULARY = Vocabulary(
    sections={
        (): (
            "name",
            "goal",
            "storage",
            "base",
            "based_on",
            "entrypoint",
            "objective",
            "constraints",
            "infeasible",
            "budget",
            "search",
            "metrics",
            "scientific",
            "nuisance",
            "fixed",
        ),
        ("entrypoint",): ("python", "command", "timeout"),
        ("objective",): ("metric", "goal", "select", "chance", "smoothing"),
        ("constraints",): ("metric", "min", "max"),
        ("infeasible",): ("metric", "above", "below", "after_step"),
        ("budget",): ("trials", "max_train_steps", "seed", "runs", "max_attempts"),
        ("search",): ("sampler", "design", "history"),
        ("metrics",): ("train_loss", "grad_norm", "learning_rate", "max_grad_norm"),
    },
    choices={
        ("objective", "goal"): get_args(Goal),
        ("objective", "select"): get_args(Select),
        ("search", "sampler"): get_args(Sampler),
        ("search", "design"): get_args(Design),
    },
    examples={
        ("name",): 'name = "cnn-dropout"',
        ("goal",): 'goal = "Does dropout help once the learning rate is tuned?"',
        ("storage",): 'storage = "sqlite:///.scitune/scitune.db"',
        ("entrypoint",): (
            '[entrypoint] with python = "package.module:main" (a function taking a '
            'scitune.Trial) or command = ["python", "train.py"]'
        ),
        ("entrypoint", "python"): 'python = "examples.mnist1d.train:main"',
        ("entrypoint", "command"): 'command = ["python", "train.py", "--lr", "{learning_rate}"]',
        ("entrypoint", "timeout"): 'timeout = "20m"',
        ("objective",): '[objective] with metric = "dev_error"',
        ("objective", "metric"): 'metric = "dev_error"',
        ("objective", "chance"): "chance = 0.9",
        ("objective", "smoothing"): "smoothing = 5",
        ("constraints", "metric"): 'metric = "params_millions"',
        ("constraints", "min"): "min = 0.0",
        ("constraints", "max"): "max = 1.0",
        ("infeasible", "metric"): 'metric = "train_loss"',
        ("infeasible", "above"): "above = 10.0",
        ("infeasible", "below"): "below = 0.0",
        ("infeasible", "after_step"): "after_step = 200",
        ("budget",): "[budget] with trials = 20 and max_train_steps = 3000",
        ("budget", "trials"): "trials = 20",
        ("budget", "max_train_steps"): "max_train_steps = 3000",
        ("budget", "seed"): "seed = 0",
        ("budget", "runs"): "runs = 3",
        ("budget", "max_attempts"): "max_attempts = 3",
        ("metrics",): '[metrics] with e.g. train_loss = "loss"',
        ("metrics", "train_loss"): 'train_loss = "loss"',
        ("metrics", "grad_norm"): 'grad_norm = "grad_norm"',
        ("metrics", "learning_rate"): 'learning_rate = "lr"',
        ("metrics", "max_grad_norm"): 'max_grad_norm = "max_grad_norm"',
    },
)
_ORDER = {key: i for i, key in enumerate(_VOCABULARY.sections[()])}

#: Trials a study may plan: design cells x budget.trials x budget.runs. Each is a row in the
#: store, a process and a directory, and is proposed in memory before it runs; a million is far
#: past any training budget (the playbook's studies hold tens to hundreds).
MAX_TRIALS = 1_000_000
#: Configurations a grid may list per design cell: the grid sampler lists all of them.
MAX_GRID = 100_000

_Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_Count = Annotated[int, Field(strict=True, ge=1, le=MAX_INT)]
_TrialCount = Annotated[int, Field(strict=True, ge=1)]


def _check_metric(value: str) -> str:
    if not value.strip() or value != value.strip():
        fail(
            "must name a metric the trial reports, without surrounding spaces, e.g. "
            f'metric = "dev_error", got {show(value)}.'
        )
    return value


def _spec_error_from(exc: ValidationError, where: str, prefix: tuple[str, ...] = ()) -> SpecError:
    problems = [problem_from_pydantic(err, _VOCABULARY, prefix) for err in exc.errors()]
    return spec_error(where, _in_file_order(problems))


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    def rank(problem: Problem) -> int:
        loc = problem[0]
        return _ORDER.get(str(loc[0]), len(_ORDER)) if loc else -1

    return sorted(problems, key=rank)


class _SpecModel(BaseModel):
    """Frozen, unknown keys refused; invalid input raises SpecError (not pydantic's error)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    _section: ClassVar[tuple[str, ...]] = ()

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            where = where_of(data.get("source"), type(self).__name__)
            raise _spec_error_from(exc, where, self._section) from None

    # Nested models are validated by pydantic-core directly, not through this __init__ (it
    # would wrap their problems into one "Value error"): mark it as pydantic's own.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class EntrypointSpec(_SpecModel):
    """How a trial runs: a Python function (``module:function``) or a command line.

    ``timeout`` in the study file (``"20m"``, ``"1h30m"``, seconds) becomes ``timeout_s``.
    """

    _section = ("entrypoint",)

    python: str | None = None
    command: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    timeout_s: float | None = Field(
        default=None, validation_alias=AliasChoices("timeout", "timeout_s")
    )

    @field_validator("python")
    @classmethod
    def _check_python(cls, value: str | None) -> str | None:
        if value is None or _PYTHON_REF.fullmatch(value):
            return value
        hint = ""
        if value.endswith(".py") or "/" in value:
            hint = f' For a script, use command = ["python", {show(value)}] instead.'
        elif ":" not in value:
            hint = f" Name the function after a colon, e.g. {show(value + ':main')}."
        fail(
            'must name a function as "module.path:function" (a function taking a '
            f"scitune.Trial), got {show(value)}.{hint}"
        )

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            fail(
                f"cannot split the command line ({exc}), got {show(value)}. Write it as a "
                'list, e.g. command = ["python", "train.py", "--lr", "{learning_rate}"].'
            )

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _parse_timeout(cls, value: object) -> object:
        if value is None:
            return None
        try:
            seconds = seconds_in(value)
        except ValueError as exc:
            fail(f"{exc} Omit timeout for no limit.")
        if seconds <= 0:
            fail(f'must be > 0, got {show(value)}. Omit timeout for no limit, or e.g. "20m".')
        return seconds

    @model_validator(mode="after")
    def _one_way_to_run(self) -> EntrypointSpec:
        if (self.python is None) != (self.command is None):
            return self
        if self.python is None:
            fail(
                'set exactly one of python = "module:function" or command = [...], got '
                'neither. Add e.g. python = "examples.mnist1d.train:main".'
            )
        fail(
            "set exactly one of python or command, got both "
            f"(python = {show(self.python)}, command = {show(list(self.command or ()))}). "
            "Remove one of them."
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.python is not None:
            out["python"] = self.python
        if self.command is not None:
            out["command"] = list(self.command)
        if self.timeout_s is not None:
            out["timeout"] = self.timeout_s
        return out


class ObjectiveSpec(_SpecModel):
    """The single metric that ranks trials; ``select`` picks its best, its final value, or the
    best of its smoothed curve (a centered moving mean over ``smoothing`` evaluations)."""

    _section = ("objective",)

    metric: str
    goal: Goal = "minimize"
    select: Select = "best"
    chance: float | None = None
    """The objective's value at chance (0.9: the error rate of guessing among 10 balanced
    classes); a trial never better than it has not learned (``curves.no_learning``)."""

    smoothing: Annotated[int, Field(strict=True, ge=1, le=MAX_INT)] | None = None
    """Evaluations in the centered moving mean that ``select = "smoothed"`` scores (odd;
    default 5, ours); ``None`` for the other selections, which do not read it."""

    _check_metric = field_validator("metric")(_check_metric)

    @model_validator(mode="before")
    @classmethod
    def _default_smoothing(cls, data: Any) -> Any:
        # Filled in here, not left None: a study that writes the default and one that omits it
        # are the same study (the objective is search-defining, compared as stored).
        smoothed = isinstance(data, Mapping) and data.get("select") == "smoothed"
        if smoothed and data.get("smoothing") is None:
            return {**data, "smoothing": DEFAULT_SMOOTHING}
        return data

    @field_validator("smoothing")
    @classmethod
    def _check_smoothing(cls, value: int | None, info: ValidationInfo) -> int | None:
        select = info.data.get("select")
        if value is None or select is None:  # select itself was refused: said once, there
            return value
        if select != "smoothed":
            fail(
                f'is only read by select = "smoothed", got select = {show(select)}. Remove '
                'smoothing, or set select = "smoothed" to score the best of the smoothed curve.'
            )
        if value % 2 == 0:
            fail(
                "must be an odd number of evaluations (the moving mean is centered on one), "
                f"got {value}. Use {value - 1} or {value + 1}."
            )
        return value

    @field_validator("chance", mode="before")
    @classmethod
    def _check_chance(cls, value: object) -> object:
        if value is None:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
        fail(
            "must be the objective's value at chance, a finite number, e.g. chance = 0.9 for "
            f"the error rate of 10 balanced classes, got {show(value)}. Omit it to estimate "
            "the chance level from each trial's evaluation at step 0, where it has one."
        )


class ConstraintSpec(_SpecModel):
    """A satisficing metric: trials outside ``[min, max]`` are filtered out before ranking."""

    _section = ("constraints",)

    metric: str
    min: _Number | None = None
    max: _Number | None = None

    _check_metric = field_validator("metric")(_check_metric)

    @model_validator(mode="after")
    def _bounds(self) -> ConstraintSpec:
        if self.min is None and self.max is None:
            fail(
                f"a constraint on {show(self.metric)} needs min, max or both, got neither. "
                "Add e.g. max = 1.0."
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            fail(
                f"min must be <= max, got min = {show(self.min)}, max = {show(self.max)}. "
                "Swap them."
            )
        return self


class InfeasibleRule(_SpecModel):
    """A rule that marks a trial INFEASIBLE while it runs, and stops it at once.

    ``[[infeasible]] metric = "train_loss", above = 10.0, after_step = 200``: the first point of
    ``metric`` beyond the bound at or after ``after_step`` ends the trial (its configuration
    diverged), so no compute is spent past it.
    """

    _section = ("infeasible",)

    metric: str
    above: _Number | None = None
    below: _Number | None = None
    after_step: Annotated[int, Field(strict=True, ge=0, le=MAX_INT)] = 0

    _check_metric = field_validator("metric")(_check_metric)

    @model_validator(mode="after")
    def _one_bound(self) -> InfeasibleRule:
        if (self.above is None) == (self.below is None):
            fail(
                f"a rule on {show(self.metric)} needs exactly one of above and below, got "
                f"{'both' if self.above is not None else 'neither'}. Add e.g. above = 10.0 "
                "(a second rule can bound the other side)."
            )
        return self

    def fires(self, step: int, value: float) -> bool:
        """Whether the point ``(step, value)`` breaks this rule (NaN never does: the runner
        already makes a NaN objective INFEASIBLE)."""
        if step < self.after_step:
            return False
        if self.above is not None:
            return value > self.above
        return self.below is not None and value < self.below

    def describe(self) -> str:
        bound = f"> {self.above:g}" if self.above is not None else f"< {self.below:g}"
        after = f" from step {self.after_step}" if self.after_step else ""
        return f"{self.metric} {bound}{after}"


class BudgetSpec(_SpecModel):
    """Trials (per scientific value when ``design = "per_value"``), steps per trial, seed."""

    _section = ("budget",)

    trials: _TrialCount
    max_train_steps: _Count
    seed: Annotated[int, Field(strict=True, ge=0, le=MAX_INT)] = 0
    runs: _TrialCount = 1
    """Runs per configuration: each design trial is queued with ``runs - 1`` reruns (new seeds,
    linked to it as ``scitune reseed`` links them), for studies of fixed configurations
    (``scitune extend``) whose comparisons need the retrain spread."""
    max_attempts: Annotated[int, Field(strict=True, ge=1, le=100)] = 3
    """Runs of a trial whose runner was lost (killed, machine down, silent) before the trial
    is FAILED with that history; stopping a run on purpose (Ctrl-C) does not count. Ours."""

    @field_validator("trials", "runs")
    @classmethod
    def _at_most_a_study(cls, value: int, info: ValidationInfo) -> int:
        if value > MAX_TRIALS:
            example = "trials = 20" if info.field_name == "trials" else "runs = 3"
            fail(
                f"must be at most {MAX_TRIALS:,} (a study holds at most {MAX_TRIALS:,} trials), "
                f"got {show(value)}. Plan fewer, e.g. {example}."
            )
        return value


class SearchSpec(_SpecModel):
    """How configurations are proposed (``sampler``) and how scientific values share them."""

    _section = ("search",)

    sampler: Sampler = "quasirandom"
    design: Design = "per_value"
    history: tuple[str, ...] = ()
    """Studies whose finished trials a Bayesian sampler learns from too (``scitune refine``
    writes the explored study here); trials outside this study's space are left out."""


class MetricsSpec(_SpecModel):
    """Which logged metric plays which role when a study is read; an unset role is guessed.

    ``[metrics]`` in the study file, e.g. ``train_loss = "loss"`` for Hugging Face's Trainer
    (whose ``train_loss`` is one end-of-training average). It changes how trials are read, not
    the trials: it is not search-defining, and a stored study takes a new one.
    """

    _section = ("metrics",)

    train_loss: str | None = None
    """The training loss curve (default: the first of train_loss, loss, training_loss)."""
    grad_norm: str | None = None
    """The logged global L2 norm of the gradient, before clipping (default: grad_norm)."""
    learning_rate: str | None = None
    """The logged learning rate, for schedules and warmup (default: lr, learning_rate)."""
    max_grad_norm: str | None = None
    """A logged gradient-clipping threshold, if training clips (default: max_grad_norm,
    clip_norm; a hyperparameter of that name is read too)."""

    @field_validator("train_loss", "grad_norm", "learning_rate", "max_grad_norm")
    @classmethod
    def _check_role(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or (value.strip() and value == value.strip()):
            return value
        example = _VOCABULARY.examples.get(("metrics", str(info.field_name)), 'train_loss = "loss"')
        fail(
            "must name a metric the trial reports, without surrounding spaces, e.g. "
            f"{example}, got {show(value)}. Omit it to let scitune guess by name."
        )


class StudySpec(_SpecModel):
    """A study file, validated. Build it with :func:`load_spec`, :meth:`from_dict` or directly.

    ``scientific`` and ``nuisance`` map names to domains, ``fixed`` to plain values; the
    ``*_when`` fields hold conditional ones as ``{parent: {parent value: {name: ...}}}`` (in the
    file and in :meth:`to_dict` they sit under the role's ``when`` key). Treat the mappings as
    read-only: the spec is a frozen value.
    """

    name: str
    goal: str = ""
    storage: str = DEFAULT_STORAGE
    base: Literal["baseline"] | None = None
    """``"baseline"``: fixed values not given default to the adopted baseline's."""
    based_on: int | None = None
    """The baseline decision the fixed values came from (set when the study is created)."""
    entrypoint: EntrypointSpec
    objective: ObjectiveSpec
    constraints: tuple[ConstraintSpec, ...] = ()
    infeasible: tuple[InfeasibleRule, ...] = ()
    """Rules applied while a trial runs: the first point that breaks one stops the trial and
    marks it INFEASIBLE (``[[infeasible]]``)."""
    budget: BudgetSpec
    search: SearchSpec = SearchSpec()
    metrics: MetricsSpec = MetricsSpec()
    """Metric roles (training loss, gradient norm...) declared rather than guessed by name."""
    scientific: Annotated[Mapping[str, Domain], SkipValidation] = Field(default_factory=dict)
    nuisance: Annotated[Mapping[str, Domain], SkipValidation] = Field(default_factory=dict)
    fixed: Annotated[Mapping[str, Value], SkipValidation] = Field(default_factory=dict)
    scientific_when: Annotated[
        Mapping[str, Mapping[Value, Mapping[str, Domain]]], SkipValidation
    ] = Field(default_factory=dict)
    nuisance_when: Annotated[Mapping[str, Mapping[Value, Mapping[str, Domain]]], SkipValidation] = (
        Field(default_factory=dict)
    )
    fixed_when: Annotated[Mapping[str, Mapping[Value, Mapping[str, Value]]], SkipValidation] = (
        Field(default_factory=dict)
    )
    source: Path | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if _STUDY_NAME.fullmatch(value):
            return value
        cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-._")[:100] or "my-study"
        fail(
            "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
            f"(it names a directory), got {show(value)}. Use e.g. name = {show(cleaned)}."
        )

    @field_validator("storage")
    @classmethod
    def _check_storage(cls, value: str) -> str:
        if _STORAGE_URL.fullmatch(value):
            return value
        fail(
            f'must be a database URL such as "{DEFAULT_STORAGE}" (the default), got {show(value)}.'
        )

    @model_validator(mode="wrap")
    @classmethod
    def _validate_study(
        cls, data: Any, handler: ModelWrapValidatorHandler[StudySpec], info: ValidationInfo
    ) -> StudySpec:
        # The role tables need rules across fields (parents, roles, design), and every problem
        # is wanted at once: they are parsed here, beside pydantic's checks of the rest.
        if isinstance(data, StudySpec):
            return data
        if not isinstance(data, Mapping):
            raise validation_error(
                cls.__name__,
                [((), f"a study must be a table of fields, got {kind(data)}: {show(data)}.")],
            )
        context = info.context if isinstance(info.context, Mapping) else {}
        data = dict(data)
        problems: list[Problem] = []
        if context.get("study_file"):
            for key in ("source", *(f"{role}_when" for role in ROLES)):
                if key in data:
                    problems.append(unknown_field((key,), data.pop(key), _VOCABULARY))
            data["source"] = context.get("source")
        tables = {role: data.pop(role, None) for role in ROLES}
        extra_when = {role: data.pop(f"{role}_when", None) for role in ROLES}
        parsed, role_problems = parse_roles(tables, extra_when, data.get("search"))
        problems.extend(role_problems)
        for role in ("scientific", "nuisance"):
            data[role] = parsed.domains(role)
            data[f"{role}_when"] = parsed.domain_when(role)
        data["fixed"] = parsed.values("fixed")
        data["fixed_when"] = parsed.value_when("fixed")
        model: StudySpec | None = None
        try:
            model = handler(data)
        except ValidationError as exc:
            problems.extend(problem_from_pydantic(err, _VOCABULARY) for err in exc.errors())
        if model is not None and not problems:
            problems.extend(_size_problems(model))
        if problems or model is None:
            raise validation_error(cls.__name__, _in_file_order(problems))
        return model

    # --- construction and serialisation ----------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: Path | None = None) -> StudySpec:
        """Validate a study given as the file's tables (``tomllib`` output, or :meth:`to_dict`).

        Raises:
            SpecError: every problem found, one per line, each naming ``source`` and the path.
        """
        where = where_of(source, cls.__name__)
        try:
            return cls.model_validate(data, context={"study_file": True, "source": source})
        except ValidationError as exc:
            raise _spec_error_from(exc, where) from None
        except SpecError:
            raise
        except Exception as exc:  # the promise: nothing but SpecError for any input
            raise SpecError(
                f"{where}: scitune could not validate this study (internal error "
                f"{type(exc).__name__}: {exc}). Please report it with the file."
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """The study as JSON-able tables, shaped like the file; ``from_dict`` reads it back."""
        out: dict[str, Any] = {
            "name": self.name,
            "goal": self.goal,
            "storage": self.storage,
            **({"base": self.base} if self.base else {}),
            **({"based_on": self.based_on} if self.based_on is not None else {}),
            "entrypoint": self.entrypoint.to_dict(),
            "objective": self.objective.model_dump(mode="json", exclude_none=True),
            "constraints": [c.model_dump(mode="json", exclude_none=True) for c in self.constraints],
            "budget": self.budget.model_dump(mode="json"),
            "search": self.search.model_dump(
                mode="json", exclude={"history"} if not self.search.history else None
            ),
        }
        if self.infeasible:  # only when declared, like [metrics]
            out["infeasible"] = [
                r.model_dump(mode="json", exclude_none=True) for r in self.infeasible
            ]
        # Only when declared: studies stored before [metrics] existed keep their stored form.
        roles = self.metrics.model_dump(mode="json", exclude_none=True)
        if roles:
            out["metrics"] = roles
        for role in ROLES:
            table: dict[str, Any] = {
                name: _dump_entry(entry) for name, entry in self._params(role).items()
            }
            when = self._when(role)
            if when:
                table["when"] = {
                    parent: {
                        key_str(value): {name: _dump_entry(e) for name, e in sub.items()}
                        for value, sub in by_value.items()
                    }
                    for parent, by_value in when.items()
                }
            out[role] = table
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StudySpec):
            return NotImplemented
        return self._canonical() == other._canonical()

    def __hash__(self) -> int:
        return hash(self._canonical())

    def _canonical(self) -> str:
        # JSON keeps 1, 1.0 and true apart, and the order of axes, which both matter.
        return json.dumps(self.to_dict())

    # --- what the rest of scitune asks ------------------------------------------------------------

    def scientific_space(self) -> Space:
        """The scientific axes, conditional ones included (inactive ones under [fixed] dropped).

        Conditional axes under a fixed parent stay conditional (``x[optimizer=adam]``): decode
        with ``space.configs_from_unit(points, spec.context())``.
        """
        return Space.build(self.scientific, self.scientific_when).resolve(self.context())

    def nuisance_space(self) -> Space:
        """The nuisance axes, conditional ones included, keys namespaced by their parent.

        Example: ``beta1[optimizer=adam]``. Decode with the scientific values and
        :meth:`context` as ``context`` so that conditions on them can be evaluated.
        """
        return Space.build(self.nuisance, self.nuisance_when).resolve(self.context())

    def context(self) -> dict[str, Value]:
        """The unconditional fixed values, against which conditionals on [fixed] are resolved."""
        return dict(self.fixed)

    def fixed_params(self, config: Mapping[str, Value]) -> dict[str, Value]:
        """Fixed values plus the conditional fixed values active for ``config``.

        Args:
            config: the scientific and nuisance values of a trial (fixed parents come from
                [fixed] itself).
        """
        view = {**config, **self.fixed}
        out = dict(self.fixed)
        for parent, by_value in self.fixed_when.items():
            if parent not in view:
                continue
            current = value_key(view[parent])
            for value, params in by_value.items():
                if value_key(value) == current:
                    out.update(params)
        return out

    def role_of(self, name: str) -> Literal["scientific", "nuisance", "fixed"]:
        """The role of a hyperparameter, by name or axis key (``beta1[optimizer=adam]``).

        Raises:
            KeyError: no hyperparameter of that name in this study.
        """
        base = name.split("[", 1)[0]
        for role in ROLES:
            if base in self._params(role) or base in self._conditional_names(role):
                return role
        known = [n for role in ROLES for n in (*self._params(role), *self._conditional_names(role))]
        raise KeyError(
            f"'{name}' is not a hyperparameter of study '{self.name}'{did_you_mean(base, known)}"
        )

    def warnings(self) -> list[str]:
        """Advice from the playbook that does not stop the study (batch size, Adam budget...)."""
        return study_warnings(self)

    def _params(self, role: Role) -> Mapping[str, Domain | Value]:
        return {"scientific": self.scientific, "nuisance": self.nuisance, "fixed": self.fixed}[role]

    def _when(self, role: Role) -> Mapping[str, Mapping[Value, Mapping[str, Domain | Value]]]:
        return {
            "scientific": self.scientific_when,
            "nuisance": self.nuisance_when,
            "fixed": self.fixed_when,
        }[role]

    def _conditional_names(self, role: Role) -> Iterator[str]:
        for by_value in self._when(role).values():
            for sub in by_value.values():
                yield from sub


def _size_problems(spec: StudySpec) -> list[Problem]:
    """The study's size within bounds: its planned trials, and a grid's configurations."""
    problems: list[Problem] = []
    context = spec.context()
    budget = spec.budget
    per_value = spec.search.design == "per_value"
    scientific, nuisance = spec.scientific_space(), spec.nuisance_space()
    # Ranges where a grid is needed are already reported (parse_roles' design and grid rules).
    cells = scientific.grid_size(context) if per_value and scientific.is_finite() else 1
    planned = cells * budget.trials * budget.runs
    if planned > MAX_TRIALS:
        loc: tuple[str, ...] = ("budget", "trials")
        fix = f"Lower budget.trials to at most {MAX_TRIALS // (cells * budget.runs):,}"
        if cells > MAX_TRIALS:
            loc = ("scientific",)
            fix = 'Give the scientific hyperparameters fewer values, or set design = "joint"'
        elif cells * budget.runs > MAX_TRIALS:
            loc, fix = ("budget", "runs"), f"Lower budget.runs to at most {MAX_TRIALS // cells:,}"
        why = " (one per combination of scientific values)" if per_value else ""
        problems.append(
            (
                loc,
                f"the study would plan {_count(planned)} trials: {_count(cells, 'design cell')}"
                f"{why} x {_count(budget.trials, 'trial')} x {_count(budget.runs, 'run')}, more "
                f"than the {MAX_TRIALS:,} a study may hold. {fix}.",
            )
        )
    if spec.search.sampler == "grid":
        searched = nuisance if per_value else Space(scientific.axes + nuisance.axes)
        points = searched.grid_size(context) if searched.is_finite() else 0
        if points > MAX_GRID:
            per_cell = " per design cell" if per_value else ""
            problems.append(
                (
                    ("search", "sampler"),
                    f'sampler = "grid" lists every combination of the searched values, '
                    f"{_count(points)}{per_cell} here, more than the {MAX_GRID:,} a grid may "
                    'hold. Give fewer values, or use sampler = "quasirandom" (the playbook keeps '
                    "grids to one or two hyperparameters).",
                )
            )
    return problems


def _count(n: int, unit: str = "") -> str:
    """``1,024``, ``about 10^60`` (a huge count), or with a unit: ``1 trial``, ``3 trials``."""
    text = f"{n:,}" if n < 10**15 else f"about 10^{math.floor(math.log10(n))}"
    return f"{text} {unit}{'s' if n != 1 else ''}" if unit else text


def _dump_entry(entry: Domain | Value) -> Any:
    if isinstance(entry, FloatDomain | IntDomain | ChoiceDomain):
        return domain_to_dict(entry)
    return entry


def load_spec(path: str | os.PathLike[str]) -> StudySpec:
    """Read and validate a study file.

    Raises:
        SpecError: the file is missing, unreadable, not UTF-8 or not TOML, or breaks any rule
            of the study file (all of them listed, one per line, with the field path).

    Example:
        >>> load_spec("study.toml")  # doctest: +SKIP
    """
    return StudySpec.from_dict(read_toml(path), source=Path(path))
