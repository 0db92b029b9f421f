"""Deriving the measurement studies of §8 and §9 from a user's study (pure: spec in, dict out).

Every derived study is a small grid: the user's configuration (their best trial's, or the middle
of each range when nothing has run yet) with every hyperparameter fixed except the one or two
the measurement sweeps. Only hyperparameters the study already has are switched off or reset
(``weight_decay = 0``, ``lr_schedule = "constant"``...): scitune never passes a name the
training code might not know, except the one a measurement needs (``eval_every`` for the
early-instability probe, ``warmup_steps``, ``grad_clip``), which it names in its output.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scitune.errors import ScituneError, StudyNotFoundError
from scitune.space import ChoiceDomain, FloatDomain, IntDomain, Value
from scitune.spec import StudySpec, load_spec
from scitune.storage import FrozenTrial, Storage, open_storage
from scitune.study import SOURCE_KEY, Study

__all__ = [
    "CONSTANT_LR",
    "REGULARIZERS",
    "Base",
    "Derived",
    "ParamNames",
    "base_config",
    "derive",
    "derived_name",
    "log_grid",
    "lr_range",
    "round_lr",
    "switch_off",
]


@dataclass(frozen=True)
class ParamNames:
    """The hyperparameter names the measurements set; MNIST-1D's example uses all of them."""

    learning_rate: str = "learning_rate"
    schedule: str = "lr_schedule"
    warmup: str = "warmup_steps"
    eval_every: str = "eval_every"
    grad_clip: str = "grad_clip"


REGULARIZERS: Mapping[str, Value] = {
    "weight_decay": 0.0,
    "dropout": 0.0,
    "label_smoothing": 0.0,
    "mixup": 0.0,
    "cutmix": 0.0,
    "drop_path": 0.0,
    "stochastic_depth": 0.0,
    "augment": False,
    "augmentation": False,
    "data_augmentation": False,
}
"""Regularization and augmentation, and the value that switches each off (§8: none of them)."""

CONSTANT_LR = "constant"


@dataclass(frozen=True)
class Base:
    """Where a derived study starts: the user's study and one full configuration of it."""

    spec: StudySpec
    params: Mapping[str, Value]
    origin: str  # "the best trial (#7)" or "the middle of each range (nothing has run yet)"
    lr_low: float
    lr_high: float
    lr_where: str  # "nuisance.learning_rate [0.0001, 0.1] log", "fixed at 0.01 (x/÷ 10)"
    best_lr: float | None  # the best trial's learning rate; None before the study has run
    names: ParamNames = field(default_factory=ParamNames)


@dataclass(frozen=True)
class Derived:
    """A derived study as ``StudySpec.to_dict`` data, with what was changed and why."""

    data: dict[str, Any]
    header: str
    changes: tuple[str, ...]  # one line per hyperparameter set or switched off
    notes: Mapping[str, str] = field(default_factory=dict)  # dotted key -> comment in the file

    @property
    def name(self) -> str:
        return str(self.data["name"])


def base_config(
    spec: StudySpec, best_params: Mapping[str, Value] | None, best_number: int | None = None
) -> tuple[dict[str, Value], str]:
    """One full configuration: the best trial's, else each axis at the middle of its range.

    The middle is taken in the sampler's coordinates (the geometric mean on a log scale); a
    categorical takes its first value. Conditional axes count only where their parent is set.
    """
    if best_params is not None:
        return dict(best_params), f"the best trial (#{best_number})"
    config: dict[str, Value] = {}
    context = spec.context()
    for space in (spec.scientific_space(), spec.nuisance_space()):
        for axis in space.axes:
            if axis.is_active({**context, **config}):
                config[axis.name] = _middle(axis.domain)
    return {**config, **spec.fixed_params(config)}, "the middle of each range (nothing has run)"


def _middle(domain: FloatDomain | IntDomain | ChoiceDomain) -> Value:
    if isinstance(domain, ChoiceDomain):
        return domain.values[0]
    value = domain.from_unit(0.5)
    return round_lr(value) if isinstance(value, float) else value


def lr_range(spec: StudySpec, config: Mapping[str, Value], name: str) -> tuple[float, float, str]:
    """The study's learning-rate range: the searched range, or x/÷ 10 around a fixed value.

    Raises:
        ScituneError: the study has no hyperparameter ``name`` (or it is not a positive number).
    """
    context = {**spec.context(), **config}
    for role, space in (
        ("nuisance", spec.nuisance_space()),
        ("scientific", spec.scientific_space()),
    ):
        for axis in space.axes:
            if axis.name != name or not axis.is_active(context):
                continue
            d = axis.domain
            if isinstance(d, FloatDomain | IntDomain) and d.low > 0:
                return float(d.low), float(d.high), f"{role}.{axis.key} [{d.low:g}, {d.high:g}]"
            if isinstance(d, ChoiceDomain) and d.numeric:
                values = [float(v) for v in d.values if isinstance(v, int | float) and v > 0]
                if len(values) >= 2:
                    return min(values), max(values), f"{role}.{axis.key} values {list(d.values)}"
    value = config.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        v = float(value)
        return v / 10, v * 10, f"fixed at {v:g}: swept from {v / 10:g} to {v * 10:g} (ours: x/÷ 10)"
    known = sorted(config)
    raise ScituneError(
        f"study {spec.name!r} has no positive learning rate named {name!r} (its "
        f"hyperparameters: {', '.join(known) or 'none'}). Pass the name your code reads with "
        "--lr-param NAME."
    )


def round_lr(x: float) -> float:
    """3 significant digits: what a study file shows (and what a person would type)."""
    return float(f"{x:.3g}")


def log_grid(
    low: float, high: float, *, n: int | None = None, per_decade: int | None = None
) -> list[float]:
    """Log-spaced values from ``low``: ``n`` of them up to ``high``, or ``per_decade`` per decade.

    With ``per_decade`` the grid is anchored at ``low`` and steps by exactly 10^(1/per_decade),
    so any value on it times 10 (or 10^(k/per_decade)) is on it too; it stops at the last value
    not above ``high`` (with a little slack for rounding). Values have 3 significant digits.
    """
    if not 0 < low < high:
        raise ScituneError(f"a log grid needs 0 < low < high, got low={low:g}, high={high:g}.")
    if n is not None:
        if n < 2:
            raise ScituneError(f"a sweep needs at least 2 values, got {n}.")
        ratio = (high / low) ** (1 / (n - 1))
        return _unique([round_lr(low * ratio**k) for k in range(n)])
    if per_decade is None or per_decade < 1:
        raise ScituneError(f"per_decade must be >= 1, got {per_decade}.")
    count = math.floor(per_decade * math.log10(high / low) + 1e-6) + 1
    return _unique([round_lr(low * 10 ** (k / per_decade)) for k in range(count)])


def _unique(values: list[float]) -> list[float]:
    return sorted(set(values))


def switch_off(
    config: Mapping[str, Value],
    overrides: Mapping[str, Value],
    spec: StudySpec | None = None,
) -> tuple[dict[str, Value], list[str]]:
    """The overrides that apply to hyperparameters ``config`` has, and a line for each change.

    A value's type is kept (an integer stays an integer); names the config lacks are skipped.
    With ``spec``, a hyperparameter the study searched is reported as changed even where the
    base configuration already had the new value ("dropout: searched (scientific) -> 0").
    """
    out: dict[str, Value] = {}
    lines: list[str] = []
    for name, value in overrides.items():
        if name not in config:
            continue
        old = config[name]
        new: Value = value
        if isinstance(old, int) and not isinstance(old, bool) and isinstance(value, float):
            new = int(value)
        out[name] = new
        role = _role(spec, name)
        if role in ("scientific", "nuisance"):
            lines.append(f"{name}: searched ({role}) -> {_show(new)}")
        elif old != new or type(old) is not type(new):
            lines.append(f"{name}: {_show(old)} -> {_show(new)}")
    return out, lines


def derived_name(spec: StudySpec, suffix: str) -> str:
    """``<study>-<suffix>``, cut so the whole name stays within the 100 characters allowed."""
    return f"{spec.name[: 99 - len(suffix)]}-{suffix}"


def derive(
    base: Base,
    *,
    name: str,
    goal: str,
    steps: int,
    sweep: Mapping[str, Sequence[Value]],
    fixed: Mapping[str, Value],
    header: str,
    changes: Sequence[str],
) -> Derived:
    """A grid study: ``sweep``'s values crossed, everything else fixed at ``base.params``.

    ``fixed`` overrides (or adds to) the base configuration; a sweep of one value is fixed.
    """
    data = base.spec.to_dict()
    for key in ("base", "based_on"):
        data.pop(key, None)
    swept = {k: list(v) for k, v in sweep.items() if len(v) > 1}
    single = {k: v[0] for k, v in sweep.items() if len(v) == 1}
    params = {k: v for k, v in base.params.items() if k not in swept}
    params.update(fixed)
    params.update(single)
    trials = math.prod(len(v) for v in swept.values()) if swept else 1
    data.update(
        name=name,
        goal=goal,
        budget={"trials": trials, "max_train_steps": steps, "seed": base.spec.budget.seed},
        search={"sampler": "grid", "design": "per_value"},
        scientific={},
        nuisance={k: {"values": v} for k, v in swept.items()},
        fixed=params,
    )
    notes = {f"nuisance.{k}": "swept by scitune" for k in swept}
    for line in changes:
        key = line.split(":", 1)[0]
        if key in params:
            notes[f"fixed.{key}"] = f"set by scitune ({line})"
    text = textwrap.fill(" ".join(header.split()), width=96)  # one paragraph, wrapped
    return Derived(data, text, tuple(changes), notes)


def _role(spec: StudySpec | None, name: str) -> str | None:
    if spec is None:
        return None
    try:
        return spec.role_of(name)
    except KeyError:
        return None


def _show(value: Value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


@dataclass(frozen=True)
class UserStudy:
    """The study a measurement starts from: its spec and store, and one full configuration."""

    spec: StudySpec
    storage: Storage
    study: Study | None
    params: Mapping[str, Value]
    origin: str  # "the best trial (#7)" or "the middle of each range (nothing has run)"
    best: FrozenTrial | None = None  # the best trial, when the study has run

    def default_path(self, name: str, suffix: str = ".toml") -> Path:
        """Beside the user's study file (so its entrypoint is found the same way), else here."""
        folder = Path(self.spec.source).parent if self.spec.source is not None else Path()
        return folder / f"{name}{suffix}"


def open_user_study(ref: str, *, storage_url: str | None = None) -> UserStudy:
    """The user's study by file or name; its best trial's values, else each range's middle.

    Raises:
        StudyNotFoundError: ``ref`` is neither a study file nor a stored study's name.
    """
    path = Path(ref)
    study: Study | None
    try:
        study = Study.load(ref, storage_url=storage_url)
    except StudyNotFoundError:
        if not (path.suffix == ".toml" or path.is_file()):
            raise
        study = None
    if study is not None:
        spec, storage = study.spec, study.storage
        if spec.base == "baseline":  # the stored spec holds the baseline's fixed values
            data = {k: v for k, v in study.record.spec.items() if k != SOURCE_KEY}
            spec = StudySpec.from_dict(data, source=spec.source)
    else:
        spec = load_spec(path)
        storage = open_storage(storage_url or spec.storage)
        if spec.base == "baseline":
            from scitune.study import _from_baseline

            spec = _from_baseline(spec, storage, None)
    best = study.best_trial() if study is not None else None
    params, origin = base_config(
        spec, best.params if best else None, best.number if best else None
    )
    return UserStudy(spec, storage, study, params, origin, best)
