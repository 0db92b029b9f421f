"""The hyperparameter tables of a study file: [scientific], [nuisance], [fixed] and their ``when``.

``parse_roles`` reads the three tables (TOML-shaped dicts, or domains built in Python), checks
every rule that spans them (one role per name, conditional parents, what the sampler and design
need) and returns the parsed values plus every problem found, each at its field path.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

from scitune._spec_problems import Loc, Problem, did_you_mean, format_path, kind, sentence, show
from scitune.errors import InvalidSpaceError, SpecError
from scitune.space import ChoiceDomain, Domain, FloatDomain, IntDomain, Value

Role = Literal["scientific", "nuisance", "fixed"]
ROLES: tuple[Role, ...] = get_args(Role)
Sampler = Literal["quasirandom", "random", "grid", "bayes"]
Design = Literal["per_value", "joint"]

#: TOML's integers are 64-bit, and so is the trial store's INTEGER column.
MAX_INT = 2**63 - 1

Entry: TypeAlias = Domain | Value
Conditionals: TypeAlias = dict[str, dict[Value, dict[str, Entry]]]

#: Names that ``entrypoint.command`` fills from the trial itself ({seed}, {dir}, ...): a
#: hyperparameter of the same name would shadow the placeholder, and the trial's own value.
RESERVED_NAMES: Mapping[str, tuple[str, str]] = {
    # name: (what the placeholder holds, a name to use instead)
    "seed": ("the trial's own training seed (drawn from budget.seed)", "init_seed"),
    "dir": ("the trial's own directory", "data_dir"),
    "number": ("the trial's number in the study", "num_layers"),
    "max_train_steps": ("budget.max_train_steps", ""),
    "study": ("the study's name", "study_arm"),
    "python": ("the Python interpreter that runs the trial", "python_version"),
    "args": ("the trial's hyperparameters as command-line flags", "extra_args"),
    "gpus": ("the GPUs given to the trial", "num_gpus"),
    "devices": ("the devices given to the trial", "num_devices"),
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")
_DOMAIN_KEYS = ("low", "high", "scale", "type", "values")
_FLOAT_SCALES = ("linear", "log", "reverse_log")
_INT_SCALES = ("linear", "log")
INTEGER = re.compile(r"[+-]?[0-9]+")
_SPACE_FIELD = re.compile(r"'(low|high|scale|values)' (.*)", re.DOTALL)


def value_key(value: Value) -> tuple[str, Value]:
    """Identity of a value: ``True``, ``1`` and ``"1"`` are three values (as in space.py)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", float(value))
    return ("str", value)


def key_str(value: Value) -> str:
    """A parent value as a TOML key: ``[nuisance.when.num_layers.2]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def domain_to_dict(domain: Domain) -> dict[str, Any]:
    """A domain as the study file writes it."""
    if isinstance(domain, ChoiceDomain):
        return {"values": list(domain.values)}
    if isinstance(domain, IntDomain):
        return {"low": domain.low, "high": domain.high, "scale": domain.scale, "type": "int"}
    return {"low": domain.low, "high": domain.high, "scale": domain.scale}


@dataclass
class ParsedRoles:
    """The three role tables, parsed; entries whose parsing failed are left out."""

    params: dict[Role, dict[str, Entry]] = field(
        default_factory=lambda: {role: {} for role in ROLES}
    )
    when: dict[Role, Conditionals] = field(default_factory=lambda: {role: {} for role in ROLES})

    def domains(self, role: Role) -> dict[str, Domain]:
        return _only_domains(self.params[role])

    def domain_when(self, role: Role) -> dict[str, dict[Value, dict[str, Domain]]]:
        return {
            parent: {value: _only_domains(sub) for value, sub in by_value.items()}
            for parent, by_value in self.when[role].items()
        }

    def values(self, role: Role) -> dict[str, Value]:
        return _only_values(self.params[role])

    def value_when(self, role: Role) -> dict[str, dict[Value, dict[str, Value]]]:
        return {
            parent: {value: _only_values(sub) for value, sub in by_value.items()}
            for parent, by_value in self.when[role].items()
        }


def _only_domains(entries: Mapping[str, Entry]) -> dict[str, Domain]:
    out: dict[str, Domain] = {}
    for name, entry in entries.items():
        if isinstance(entry, FloatDomain | IntDomain | ChoiceDomain):
            out[name] = entry
    return out


def _only_values(entries: Mapping[str, Entry]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for name, entry in entries.items():
        if not isinstance(entry, FloatDomain | IntDomain | ChoiceDomain):
            out[name] = entry
    return out


# --- single entries ------------------------------------------------------------------------------


def check_name(name: object, loc: Loc) -> Problem | None:
    if not isinstance(name, str):
        return loc, f"hyperparameter names must be strings, got {show(name)}."
    if name == "when":
        return loc, (
            '"when" is reserved for conditional tables such as [nuisance.when.optimizer.adam]; '
            "give the hyperparameter another name."
        )
    if name in RESERVED_NAMES:
        holds, instead = RESERVED_NAMES[name]
        fix = (
            "Set budget.max_train_steps instead: the playbook keeps it the same for every trial "
            "of a study."
            if name == "max_train_steps"
            else f'Rename it, e.g. "{instead}".'
        )
        return loc, (
            f"'{name}' is reserved: {{{name}}} in entrypoint.command is {holds}, and a "
            f"hyperparameter of that name would shadow it. {fix}"
        )
    if not _NAME.fullmatch(name):
        hint = ""
        if name.isdigit():
            hint = (
                ' A float in a table header needs quotes: [nuisance.when.dropout."0.1"], '
                "not [nuisance.when.dropout.0.1]."
            )
        return loc, (
            "a hyperparameter name must be 1-100 letters, digits, '_', '.' or '-', starting "
            f"with a letter or '_', got {show(name)}.{hint}"
        )
    return None


def check_value(value: object, loc: Loc, *, in_values: bool = False) -> Problem | None:
    """A plain value (a [fixed] one, or one of ``values = [...]``): number, string or boolean."""
    if isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            return loc, f"must fit in 64 bits (|x| <= 2**63 - 1), got {show(value)}."
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return loc, f"must be a finite number, got {show(value)}."
    what = kind(value)
    if in_values:
        return loc, f"values must be numbers, strings or booleans, got {what}: {show(value)}."
    fix = ""
    if isinstance(value, Mapping):
        fix = (
            " A range or a list of values is searched: put it in [scientific] or [nuisance]; "
            "[fixed] holds single values."
        )
    elif isinstance(value, list | tuple):
        fix = (
            " To compare or tune several values, put { values = [...] } in [scientific] or "
            "[nuisance]; [fixed] holds single values."
        )
    elif isinstance(value, dt.date | dt.time):
        fix = " Write it as a string in quotes."
    return loc, f"must be a number, string or boolean, got {what}: {show(value)}.{fix}"


def _number(value: object, loc: Loc, *, integer: bool) -> tuple[float | int | None, Problem | None]:
    if integer:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                return None, (loc, f"must fit in 64 bits (|x| <= 2**63 - 1), got {show(value)}.")
            return value, None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            fix = f" Write {int(value)}."
        else:
            fix = ' Use whole-number bounds, or drop type = "int" for a float range.'
        return None, (loc, f'must be an integer for type = "int", got {show(value)}.{fix}')
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, (loc, f"must be a number, got {show(value)}.")
    if isinstance(value, int) and abs(value) > MAX_INT:
        return None, (loc, f"must fit in 64 bits (|x| <= 2**63 - 1), got {show(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        return None, (loc, f"must be a finite number, got {show(value)}.")
    return value, None


def _space_problem(loc: Loc, exc: InvalidSpaceError) -> Problem:
    """space.py says "'low' must be ..."; the field goes into the path."""
    # TOML quotes strings with double quotes; space.py's messages use Python's.
    message = re.sub(r"(scale|type) = '(\w+)'", r'\1 = "\2"', str(exc))
    match = _SPACE_FIELD.fullmatch(message)
    if match:
        return (*loc, match[1]), match[2]
    return loc, message


def parse_domain(entry: object, loc: Loc) -> tuple[Domain | None, list[Problem]]:
    """``{low, high, scale[, type]}`` or ``{values}`` (or a domain object) -> a domain."""
    if isinstance(entry, FloatDomain | IntDomain | ChoiceDomain):
        return entry, []
    if not isinstance(entry, Mapping):
        if isinstance(entry, list | tuple):
            fix = f"write {{ values = {show(list(entry))} }}"
        else:
            fix = "a single value belongs in [fixed]"
        return None, [
            (
                loc,
                "must be a hyperparameter domain, { low = ..., high = ... } or "
                f"{{ values = [...] }}, got {kind(entry)}: {show(entry)}; {fix}.",
            )
        ]
    problems: list[Problem] = []
    for key, sub in entry.items():
        if key in _DOMAIN_KEYS:
            continue
        message = f"unknown field '{key}' in {format_path(loc)}" + did_you_mean(key, _DOMAIN_KEYS)
        if isinstance(sub, Mapping):
            message += (
                f"; a dotted key ({format_path(loc[-1:])}.{key} = ...) makes a nested table: "
                f'quote the whole name, "{loc[-1]}.{key}" = {{ ... }}'
            )
        problems.append(((*loc, str(key)), sentence(message)))
    if "values" in entry:
        return _parse_choice(entry, loc, problems)
    if "low" in entry or "high" in entry:
        return _parse_range(entry, loc, problems)
    if not problems:
        problems.append(
            (
                loc,
                "must be a hyperparameter domain: { low = ..., high = ..., scale = ... } for a "
                f"range or {{ values = [...] }} for a list, got {show(entry)}.",
            )
        )
    return None, problems


def _parse_choice(
    entry: Mapping[Any, Any], loc: Loc, problems: list[Problem]
) -> tuple[Domain | None, list[Problem]]:
    mixed = [k for k in ("low", "high", "scale", "type") if k in entry]
    if mixed:
        problems.append(
            (
                loc,
                f"give either values = [...] or a range (low, high), not both; got values and "
                f"{', '.join(mixed)}. Remove {', '.join(mixed)} or values.",
            )
        )
    values = entry["values"]
    if not isinstance(values, list | tuple):
        problems.append(
            (
                (*loc, "values"),
                f"must be a list, e.g. values = [0.0, 0.1, 0.3], got {show(values)}.",
            )
        )
        return None, problems
    for i, value in enumerate(values):
        problem = check_value(value, (*loc, "values", i), in_values=True)
        if problem:
            problems.append(problem)
    if problems:
        return None, problems
    try:
        return ChoiceDomain(tuple(values)), problems
    except InvalidSpaceError as exc:
        return None, [_space_problem(loc, exc)]


def _parse_range(
    entry: Mapping[Any, Any], loc: Loc, problems: list[Problem]
) -> tuple[Domain | None, list[Problem]]:
    type_ = entry.get("type", "float")
    if type_ not in ("float", "int"):
        hint = did_you_mean(type_, ["float", "int"], fmt='"{}"')
        problems.append(
            ((*loc, "type"), sentence(f'must be "float" or "int", got {show(type_)}{hint}'))
        )
        return None, problems
    integer = type_ == "int"
    scales = _INT_SCALES if integer else _FLOAT_SCALES
    scale = entry.get("scale", "linear")
    if scale not in scales:
        listed = ", ".join(f'"{s}"' for s in scales)
        what = "an integer range" if integer else "a float range"
        hint = did_you_mean(scale, scales, fmt='"{}"')
        message = sentence(f"must be one of {listed} for {what}, got {show(scale)}{hint}")
        problems.append(((*loc, "scale"), message))
    bounds: dict[str, float | int] = {}
    for side in ("low", "high"):
        if side not in entry:
            other = "high" if side == "low" else "low"
            problems.append(
                (
                    loc,
                    f"missing '{side}': a range needs both low and high (got only {other}), "
                    'e.g. { low = 1e-4, high = 0.1, scale = "log" }.',
                )
            )
            continue
        number, problem = _number(entry[side], (*loc, side), integer=integer)
        if problem:
            problems.append(problem)
        elif number is not None:
            bounds[side] = number
    if problems:
        return None, problems
    try:
        if integer:
            return IntDomain(int(bounds["low"]), int(bounds["high"]), scale), problems
        return FloatDomain(bounds["low"], bounds["high"], scale), problems
    except InvalidSpaceError as exc:
        return None, [_space_problem(loc, exc)]


def parse_entry(role: Role, entry: object, loc: Loc) -> tuple[Entry | None, list[Problem]]:
    if role == "fixed":
        problem = check_value(entry, loc)
        if problem:
            return None, [problem]
        assert isinstance(entry, bool | int | float | str)
        return entry, []
    return parse_domain(entry, loc)


# --- durations -----------------------------------------------------------------------------------

_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(
    rf"(?:{_DURATION_PART}\s*d(?:ays?)?)?\s*"
    rf"(?:{_DURATION_PART}\s*h(?:ours?|rs?)?)?\s*"
    rf"(?:{_DURATION_PART}\s*m(?:in(?:utes?|s)?)?)?\s*"
    rf"(?:{_DURATION_PART}\s*s(?:ec(?:onds?|s)?)?)?",
    re.IGNORECASE,
)
_DURATION_RULE = 'a duration such as "90s", "20m", "1h30m", "2h" or a number of seconds'


def seconds_in(text: object) -> float:
    """Seconds in ``text``; raises ValueError with the reason."""
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise ValueError(f"must be {_DURATION_RULE}, got {kind(text)}: {show(text)}.")
    if isinstance(text, str):
        stripped = text.strip()
        try:
            seconds = float(stripped)
        except ValueError:
            match = _DURATION.fullmatch(stripped) if len(stripped) <= 64 else None
            if not match or not any(match.groups()):
                raise ValueError(f"must be {_DURATION_RULE}, got {show(text)}.") from None
            days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
            seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        try:
            seconds = float(text)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"must be a finite number of seconds, got {show(text)}.")
    return seconds


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration: ``"90s"``, ``"20m"``, ``"1h30m"``, ``"2h"``, ``"1d"`` or a number.

    Raises:
        SpecError: ``text`` is not a duration, or is negative or infinite.

    Example:
        >>> parse_duration("1h30m"), parse_duration("20m"), parse_duration(45)
        (5400.0, 1200.0, 45.0)
    """
    try:
        seconds = seconds_in(text)
    except ValueError as exc:
        raise SpecError(f"invalid duration: {exc}") from None
    if seconds < 0:
        raise SpecError(f"invalid duration: must be >= 0, got {show(text)}.")
    return seconds
