"""The rules that span the role tables: one role per name, conditional parents, design and sampler.

``parse_roles`` reads [scientific], [nuisance] and [fixed] (with their ``when`` sub-tables) and
returns what parsed plus every problem found, so that one run reports them all.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import get_args

from scitune._spec_params import (
    INTEGER,
    ROLES,
    Design,
    Entry,
    ParsedRoles,
    Role,
    Sampler,
    check_name,
    key_str,
    parse_entry,
    value_key,
)
from scitune._spec_problems import Loc, Problem, did_you_mean, kind, sentence, show
from scitune.errors import InvalidSpaceError
from scitune.space import ChoiceDomain, Domain, FloatDomain, IntDomain, Space, Value

#: Hyperparameters a study may search (scientific and nuisance, conditional ones included). The
#: quasi-random sampler's scrambled Halton sequence keeps permutations of every prime base up to
#: the d-th prime: about 120 MB and 0.7 s for 1,000 axes, 12 GB for 10,000.
MAX_SEARCHED = 1000


@dataclass(frozen=True)
class _Searched:
    """A domain the sampler will search, remembered with its path for the design/grid rules."""

    role: Role
    loc: Loc
    domain: Domain
    active: bool


@dataclass(frozen=True)
class _Parent:
    values: tuple[Value, ...]
    fixed: bool


def parse_roles(
    tables: Mapping[Role, object],
    extra_when: Mapping[Role, object],
    search: object,
) -> tuple[ParsedRoles, list[Problem]]:
    """Parse the role tables; ``extra_when`` holds conditionals given apart (from Python).

    Args:
        tables: ``{"scientific": {...}, ...}`` as in the file, ``when`` inside; None if absent.
        extra_when: ``{"nuisance": {parent: {value: {name: domain}}}}``, from ``nuisance_when=``.
        search: the raw [search] table, for the rules on ``design`` and ``sampler``.
    """
    parsed = ParsedRoles()
    problems: list[Problem] = []
    declared: dict[str, Role] = {}
    failed: set[str] = set()
    raw_when: dict[Role, object] = {}
    searched: list[_Searched] = []

    for role in ROLES:
        table = tables.get(role)
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            problems.append(
                (
                    (role,),
                    f"[{role}] must be a table of hyperparameters (a [{role}] header followed "
                    f"by name = ... lines), got {show(table)}.",
                )
            )
            continue
        for name, entry in table.items():
            if name == "when":
                raw_when[role] = entry
                continue
            loc: Loc = (role, _loc_part(name))
            problem = check_name(name, loc)
            if problem is None and name in declared:
                problem = (
                    loc,
                    f"'{name}' is already in [{declared[name]}]; a hyperparameter has one role "
                    "(scientific, nuisance or fixed). Keep it in one table.",
                )
            if problem:
                problems.append(problem)
                continue
            declared[name] = role
            value, entry_problems = parse_entry(role, entry, loc)
            problems.extend(entry_problems)
            if value is None:
                failed.add(name)
            else:
                parsed.params[role][name] = value
                if isinstance(value, FloatDomain | IntDomain | ChoiceDomain):
                    searched.append(_Searched(role, loc, value, True))
        extra = extra_when.get(role)
        if extra is not None:
            if role in raw_when:
                problems.append(
                    (
                        (f"{role}_when",),
                        f'conditionals given twice, in {role}["when"] and in {role}_when; '
                        "give them in one place.",
                    )
                )
            else:
                raw_when[role] = extra

    conditional_names = _conditional_names(raw_when.values())
    owner: dict[str, tuple[Role, str]] = {}
    for role in ROLES:
        if role not in raw_when:
            continue
        _parse_when(
            role,
            raw_when[role],
            parsed=parsed,
            problems=problems,
            declared=declared,
            failed=failed,
            conditional_names=conditional_names,
            owner=owner,
            searched=searched,
        )
    problems.extend(_search_rules(search, searched))
    if not problems:
        problems.extend(_build_check(parsed))
    return parsed, problems


def _loc_part(key: object) -> str:
    if isinstance(key, bool | int | float):
        return key_str(key)
    return str(key)


def _conditional_names(whens: Iterable[object]) -> set[str]:
    names: set[str] = set()
    for when in whens:
        if not isinstance(when, Mapping):
            continue
        for by_value in when.values():
            if not isinstance(by_value, Mapping):
                continue
            for sub in by_value.values():
                if isinstance(sub, Mapping):
                    names.update(k for k in sub if isinstance(k, str))
    return names


def _parse_when(
    role: Role,
    when: object,
    *,
    parsed: ParsedRoles,
    problems: list[Problem],
    declared: Mapping[str, Role],
    failed: set[str],
    conditional_names: set[str],
    owner: dict[str, tuple[Role, str]],
    searched: list[_Searched],
) -> None:
    wloc: Loc = (role, "when")
    if not isinstance(when, Mapping):
        problems.append(
            (
                wloc,
                f"must be a table of conditionals, [{role}.when.<parent>.<value>] headers such "
                f'as [{role}.when.optimizer.adam] ("when" is reserved), got {show(when)}.',
            )
        )
        return
    for parent, by_value in when.items():
        ploc: Loc = (*wloc, _loc_part(parent))
        parent_info, problem = _parent(parent, ploc, parsed, declared, failed, conditional_names)
        if problem:
            problems.append(problem)
        if not isinstance(by_value, Mapping):
            problems.append(
                (
                    ploc,
                    f"must hold one table per value of '{parent}', e.g. "
                    f"[{role}.when.{parent}.<value>], got {show(by_value)}.",
                )
            )
            continue
        assert isinstance(parent, str) or parent_info is None
        seen: dict[tuple[str, Value], object] = {}
        for key, sub in by_value.items():
            vloc: Loc = (*ploc, _loc_part(key))
            value: Value | None = None
            if parent_info is not None and isinstance(parent, str):
                value, problem = _match(role, key, vloc, parent, parent_info)
                if problem:
                    problems.append(problem)
                elif value is not None and value_key(value) in seen:
                    problems.append(
                        (
                            vloc,
                            f"{show(key)} and {show(seen[value_key(value)])} both mean "
                            f"{parent} = {show(value)}; merge the two tables.",
                        )
                    )
                    value = None
                elif value is not None:
                    seen[value_key(value)] = key
            if not isinstance(sub, Mapping):
                problems.append(
                    (vloc, f"must be a table of hyperparameters (name = ...), got {show(sub)}.")
                )
                continue
            active = (
                parent_info is None
                or not parent_info.fixed
                or (value is not None and value_key(value) == value_key(parent_info.values[0]))
            )
            entries: dict[str, Entry] = {}
            for name, entry in sub.items():
                loc: Loc = (*vloc, _loc_part(name))
                name_problem = check_name(name, loc)
                if name_problem is None and isinstance(parent, str):
                    assert isinstance(name, str)
                    name_problem = _name_clash(name, loc, role, parent, declared, owner)
                if name_problem:
                    problems.append(name_problem)
                    continue
                assert isinstance(name, str)
                parsed_entry, entry_problems = parse_entry(role, entry, loc)
                problems.extend(entry_problems)
                if parsed_entry is None:
                    continue
                entries[name] = parsed_entry
                if isinstance(parsed_entry, FloatDomain | IntDomain | ChoiceDomain):
                    searched.append(_Searched(role, loc, parsed_entry, active))
            if value is None or not isinstance(parent, str):
                continue
            by_parent = parsed.when[role].setdefault(parent, {})
            clash = next(
                (k for k in by_parent if k == value and value_key(k) != value_key(value)), None
            )
            if clash is not None:
                problems.append(
                    (
                        vloc,
                        f"conditionals under both {show(clash)} and {show(value)} of '{parent}' "
                        "cannot be told apart (to Python, true == 1); rename one of the values.",
                    )
                )
                continue
            by_parent.setdefault(value, {}).update(entries)


def _parent(
    parent: object,
    loc: Loc,
    parsed: ParsedRoles,
    declared: Mapping[str, Role],
    failed: set[str],
    conditional_names: set[str],
) -> tuple[_Parent | None, Problem | None]:
    if not isinstance(parent, str):
        return None, (loc, f"a parent must be named by a string, got {show(parent)}.")
    rule = (
        "a conditional's parent must be a scientific hyperparameter with values = [...] "
        "or a [fixed] value"
    )
    scientific = parsed.params["scientific"].get(parent)
    if scientific is not None:
        if isinstance(scientific, ChoiceDomain):
            return _Parent(scientific.values, fixed=False), None
        return None, (
            loc,
            f"'{parent}' is a range in [scientific], but a conditional's parent must be "
            "categorical: a scientific hyperparameter with values = [...] or a [fixed] value. "
            f"Give scientific.{parent} values = [...] to hang conditionals under its values.",
        )
    if parent in parsed.params["fixed"]:
        fixed = parsed.params["fixed"][parent]
        assert isinstance(fixed, bool | int | float | str)
        return _Parent((fixed,), fixed=True), None
    if parent in failed:
        return None, None  # its own problem is already reported
    if declared.get(parent) == "nuisance":
        return None, (
            loc,
            f"'{parent}' is a nuisance hyperparameter; {rule} (the playbook: a choice such as "
            f"the optimizer is scientific or fixed). Move {parent} to [scientific] or [fixed].",
        )
    if parent in conditional_names:
        return None, (
            loc,
            f"'{parent}' is itself conditional, and conditionals do not nest; {rule}.",
        )
    hint = did_you_mean(parent, list(declared))
    return None, (
        loc,
        sentence(f"no hyperparameter '{parent}' to hang conditionals under{hint}")
        + f" Declare it in [scientific] as {{ values = [...] }} or in [fixed]; {rule}.",
    )


def _key_matches(key: str, value: Value) -> bool:
    if isinstance(value, bool):
        return key == ("true" if value else "false")
    if isinstance(value, str):
        return key == value
    try:
        number = float(key)
    except ValueError:
        return False
    return math.isfinite(number) and number == value


def _convert(key: str, like: Value) -> Value | None:
    """``key`` read as a value of the same type as ``like``; None when it cannot be one."""
    if isinstance(like, bool):
        return {"true": True, "false": False}.get(key)
    if isinstance(like, str):
        return key
    if isinstance(like, int):
        if not INTEGER.fullmatch(key):
            return None
        try:
            return int(key)
        except ValueError:  # past Python's digit limit
            return None
    try:
        number = float(key)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _match(
    role: Role, key: object, loc: Loc, parent: str, info: _Parent
) -> tuple[Value | None, Problem | None]:
    """The parent value a ``when`` key names (TOML keys are strings: "2" names 2)."""
    if isinstance(key, str):
        candidates = [v for v in info.values if _key_matches(key, v)]
    elif isinstance(key, bool | int | float):
        candidates = [v for v in info.values if value_key(v) == value_key(key)]
    else:
        return None, (loc, f"must be named by a value of '{parent}', got {kind(key)}.")
    if len(candidates) == 1:
        return candidates[0], None
    if len(candidates) > 1:
        listed = " and ".join(show(v) for v in candidates)
        return None, (
            loc,
            f"{show(key)} matches {listed} of '{parent}'; give the values distinct spellings.",
        )
    if info.fixed:
        like = info.values[0]
        converted = _convert(key, like) if isinstance(key, str) else None
        if converted is None and not isinstance(key, str):
            same_kind = isinstance(key, bool | int | float | str) and (
                value_key(key)[0] == value_key(like)[0]
            )
            converted = key if same_kind and isinstance(key, bool | int | float) else None
        if converted is not None:
            return converted, None  # a valid value, not the fixed one: inactive (a warning)
        return None, (
            loc,
            f"{show(key)} can never equal {parent} = {show(like)} ({kind(like)}, set in "
            f"[fixed]). Name the table after a value {parent} could take, e.g. "
            f"[{role}.when.{parent}.{key_str(like)}].",
        )
    options = [key_str(v) for v in info.values]
    listed = ", ".join(show(v) for v in info.values)
    hint = did_you_mean(key, options, fmt='"{}"')
    message = sentence(f"{show(key)} is not one of {parent}'s values [{listed}]{hint}") + (
        f" Name the table after one of them, e.g. "
        f"[{role}.when.{parent}.{_header_key(info.values[0])}]."
    )
    return None, (loc, message)


def _header_key(value: Value) -> str:
    text = key_str(value)
    return text if text.replace("_", "").replace("-", "").isalnum() else f'"{text}"'


def _name_clash(
    name: str,
    loc: Loc,
    role: Role,
    parent: str,
    declared: Mapping[str, Role],
    owner: dict[str, tuple[Role, str]],
) -> Problem | None:
    if name in declared:
        other = declared[name]
        if other == role:
            return loc, (
                f"'{name}' is also an unconditional hyperparameter in [{role}]; a name is either "
                f"conditional or not. Rename one, or remove {role}.{name}."
            )
        return loc, (
            f"'{name}' is already in [{other}]; a hyperparameter has one role "
            "(scientific, nuisance or fixed). Keep it in one table."
        )
    previous = owner.setdefault(name, (role, parent))
    if previous[0] != role:
        return loc, (
            f"'{name}' is already a conditional hyperparameter in [{previous[0]}]; a "
            "hyperparameter has one role. Keep it in one table."
        )
    if previous[1] != parent:
        return loc, (
            f"'{name}' hangs under both '{previous[1]}' and '{parent}'; both could be active "
            "at once. Give one of them another name."
        )
    return None


def _setting(search: object, key: str, options: tuple[str, ...], default: str) -> str | None:
    """A [search] setting when it is valid (its own problems are pydantic's to report)."""
    if search is None:
        return default
    value = search.get(key, default) if isinstance(search, Mapping) else getattr(search, key, None)
    return value if isinstance(value, str) and value in options else None


def _example_values(domain: Domain) -> str:
    if isinstance(domain, ChoiceDomain):
        return show(list(domain.values))
    points = [domain.from_unit(u) for u in (0.0, 0.5, 1.0)]
    if isinstance(domain, IntDomain):
        return "[" + ", ".join(str(int(p)) for p in dict.fromkeys(points)) + "]"
    return "[" + ", ".join(f"{p:.3g}" for p in points) + "]"


def _search_rules(search: object, searched: list[_Searched]) -> list[Problem]:
    problems = _too_many(searched)
    design = _setting(search, "design", get_args(Design), "per_value")
    sampler = _setting(search, "sampler", get_args(Sampler), "quasirandom")
    for item in searched:
        if isinstance(item.domain, ChoiceDomain):
            continue
        example = _example_values(item.domain)
        if design == "per_value" and item.role == "scientific":
            problems.append(
                (
                    item.loc,
                    'is a range, but design = "per_value" (the default) runs a separate study '
                    "per scientific value and needs a list of them. Give it values = [...] "
                    f'(e.g. values = {example}) or set design = "joint" in [search].',
                )
            )
        if sampler == "grid" and item.role != "fixed" and item.active:
            problems.append(
                (
                    item.loc,
                    'is a range, but sampler = "grid" needs a finite list of values on every '
                    f"searched hyperparameter. Give it values = [...] (e.g. values = {example}) "
                    'or use sampler = "quasirandom" in [search].',
                )
            )
    return problems


def _too_many(searched: list[_Searched]) -> list[Problem]:
    active = [item for item in searched if item.active]
    if len(active) <= MAX_SEARCHED:
        return []
    counts = Counter(item.role for item in active)
    listed = ", ".join(f"{n:,} {role}" for role, n in counts.items())
    first_over = active[MAX_SEARCHED]
    return [
        (
            (first_over.role,),
            f"a study searches at most {MAX_SEARCHED:,} hyperparameters (scientific and "
            f"nuisance, conditional ones included), got {len(active):,} ({listed}); the "
            "quasi-random sampler's memory grows with the square of that number. Move the "
            "ones that matter least to [fixed], or split the question into several studies.",
        )
    ]


def _build_check(parsed: ParsedRoles) -> list[Problem]:
    """space.py has the last word on spaces; anything it refuses is reported, not raised."""
    problems: list[Problem] = []
    for role in ("scientific", "nuisance"):
        try:
            Space.build(parsed.domains(role), parsed.domain_when(role))
        except InvalidSpaceError as exc:
            problems.append(((role,), str(exc)))
    return problems
