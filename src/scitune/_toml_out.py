"""Writing a study back as a TOML file (``refine``, ``extend``): the same shape users write.

Hyperparameters are inline tables (``lr = { low = 1e-4, high = 0.3, scale = "log" }``), tables
appear in the study file's usual order, and a comment can be attached above any key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["render_study"]

_TABLES = ("entrypoint", "objective", "budget", "search", "metrics")
_ROLES = ("scientific", "nuisance", "fixed")


def render_study(
    data: Mapping[str, Any], *, header: str = "", notes: Mapping[str, str] | None = None
) -> str:
    """TOML text for a study dict (``StudySpec.to_dict`` shape).

    ``notes`` maps a dotted key (``nuisance.learning_rate``) to a comment written above it.
    """
    notes = notes or {}
    out: list[str] = [f"# {line}".rstrip() for line in header.splitlines()]
    if out:
        out.append("")
    for key, value in data.items():
        if key in _TABLES or key in _ROLES or key == "constraints":
            continue
        out += [*_note(notes, key), f"{key} = {_value(value)}"]
    for table in _TABLES:
        if data.get(table):
            out += ["", f"[{table}]"]
            out += [f"{k} = {_value(v)}" for k, v in data[table].items()]
    for constraint in data.get("constraints", []):
        out += ["", "[[constraints]]"] + [f"{k} = {_value(v)}" for k, v in constraint.items()]
    for role in _ROLES:
        entries: dict[str, Any] = dict(data.get(role) or {})
        when = entries.pop("when", {})
        if entries:
            out += ["", f"[{role}]"]
            for name, entry in entries.items():
                out += [*_note(notes, f"{role}.{name}"), f"{_key(name)} = {_value(entry)}"]
        for parent, by_value in when.items():
            for parent_value, sub in by_value.items():
                out += ["", f"[{role}.when.{_key(parent)}.{_key(str(parent_value))}]"]
                for name, entry in sub.items():
                    path = f"{role}.when.{parent}.{parent_value}.{name}"
                    out += [*_note(notes, path), f"{_key(name)} = {_value(entry)}"]
    return "\n".join(out).strip() + "\n"


def _note(notes: Mapping[str, str], path: str) -> list[str]:
    return [f"# {line}" for line in notes[path].splitlines()] if path in notes else []


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)


def _value(value: Any) -> str:
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
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to a study file")
