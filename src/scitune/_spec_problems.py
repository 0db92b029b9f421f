"""How the study-file parser words its problems: field paths, values as TOML shows them, advice.

A problem is a field path (``("nuisance", "learning_rate", "low")``) and a message that states
the rule, the value received and the fix. :func:`spec_error` turns a list of them into one
:class:`~scitune.errors.SpecError`, every line prefixed with the file and the dotted path.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NoReturn, TypeAlias

from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError, ValidationError

from scitune.errors import SpecError

Loc: TypeAlias = tuple[str | int, ...]
Problem: TypeAlias = tuple[Loc, str]

#: Error type of every problem scitune words itself inside pydantic's machinery.
ERROR_TYPE = "scitune_spec"

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def fail(message: str) -> NoReturn:
    """Raise from inside a pydantic validator; the message reaches the user unchanged."""
    raise PydanticCustomError(ERROR_TYPE, "{message}", {"message": message})


def format_path(loc: Iterable[object]) -> str:
    """``("constraints", 0, "max")`` -> ``constraints[0].max``; odd keys quoted as TOML does."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            if parts:
                parts[-1] += f"[{part}]"
            else:
                parts.append(f"[{part}]")
            continue
        text = str(part)
        parts.append(text if _BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=False))
    return ".".join(parts)


def show(value: object, limit: int = 80) -> str:
    """The value as the user wrote it in TOML, shortened to ``limit`` characters."""
    text = _show(value, depth=0)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: object, depth: int) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 80 else value[:77] + "...", ensure_ascii=False)
    if isinstance(value, int):
        # str() refuses integers past 4300 digits; nobody wants to read those anyway.
        bits = value.bit_length()
        return str(value) if bits <= 200 else f"an integer of {bits} bits"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dt.date | dt.time):
        return f"{value.isoformat()} (a date/time)"
    if isinstance(value, Mapping):
        if depth >= 2 or not value:
            return "a table {...}" if value else "an empty table {}"
        items = list(value.items())
        body = ", ".join(f"{format_path([k])} = {_show(v, depth + 1)}" for k, v in items[:4])
        return "{ " + body + (", ..." if len(items) > 4 else "") + " }"
    if isinstance(value, list | tuple):
        if depth >= 2:
            return "[...]"
        items = list(value)
        body = ", ".join(_show(v, depth + 1) for v in items[:6])
        return "[" + body + (", ..." if len(items) > 6 else "") + "]"
    return f"a {type(value).__name__}"


def kind(value: object) -> str:
    """A short name for the type of a value, in TOML's words."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dt.date | dt.time):
        return "a date/time"
    return f"a {type(value).__name__}"


def did_you_mean(word: object, options: Iterable[str], *, fmt: str = "'{}'") -> str:
    """``"; did you mean 'trials'?"`` for the closest option, or ``""`` when none is close."""
    if not isinstance(word, str):
        return ""
    by_lower = {o.lower(): o for o in options}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {fmt.format(by_lower[match[0]])}?" if match else ""


def sentence(text: str) -> str:
    """``text`` ending as a sentence: a hint that ends in "?" gets no extra full stop."""
    return text if text.endswith((".", "?", "!")) else text + "."


def where_of(source: object, default: str) -> str:
    return str(source) if source is not None else default


def spec_error(where: str, problems: Sequence[Problem]) -> SpecError:
    """One :class:`SpecError` listing every problem, one per line, in file order."""
    lines: list[str] = []
    for loc, message in problems:
        path = format_path(loc)
        line = f"{where}: {path}: {message}" if path else f"{where}: {message}"
        if line not in lines:
            lines.append(line)
    if len(lines) == 1:
        return SpecError(lines[0], problems=tuple(lines))
    header = f"{where}: {len(lines)} problems:"
    return SpecError("\n".join([header, *lines]), problems=tuple(lines))


def validation_error(title: str, problems: Sequence[Problem]) -> ValidationError:
    """Problems as a pydantic ``ValidationError``, so that they survive pydantic's machinery."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError(ERROR_TYPE, "{message}", {"message": message}),
            loc=loc,
            input=None,
        )
        for loc, message in problems
    ]
    return ValidationError.from_exception_data(title, details)


# --- pydantic's errors, reworded ---------------------------------------------------------------


class Vocabulary:
    """What the converter needs to know about the file's sections to give advice.

    Args:
        sections: known keys per section path (``()`` is the top level, ``("budget",)``...).
        choices: allowed strings per field path, for ``literal_error``.
        examples: a line to add per missing field or section path.
    """

    def __init__(
        self,
        sections: Mapping[tuple[str, ...], Sequence[str]],
        choices: Mapping[tuple[str, ...], Sequence[str]],
        examples: Mapping[tuple[str, ...], str],
    ) -> None:
        self.sections = sections
        self.choices = choices
        self.examples = examples

    def label(self, section: tuple[str, ...]) -> str:
        if not section:
            return "at the top level"
        if section == ("constraints",):
            return "in [[constraints]]"
        return f"in [{'.'.join(section)}]"

    def home_of(self, key: str) -> tuple[str, ...] | None:
        for section, keys in self.sections.items():
            if key in keys:
                return section
        return None


def _names(loc: Loc) -> tuple[str, ...]:
    return tuple(p for p in loc if isinstance(p, str))


def problem_from_pydantic(err: ErrorDetails, vocab: Vocabulary, prefix: Loc = ()) -> Problem:
    """Reword one of pydantic's errors as a problem: rule, value received, fix."""
    loc: Loc = prefix + tuple(err["loc"])
    kind_ = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    got = f"got {show(value)}"
    names = _names(loc)
    if kind_ == ERROR_TYPE:
        return loc, str(ctx.get("message", err["msg"]))
    if kind_ in ("extra_forbidden", "invalid_key"):
        return unknown_field(loc, value, vocab)
    if kind_ == "missing":
        return _missing(loc, vocab)
    example = vocab.examples.get(names)
    fix = f" Write e.g. {example}." if example else ""
    if kind_ in ("model_type", "model_attributes_type", "dict_type"):
        if len(names) == 1 and names in vocab.sections and len(loc) == 1:
            section = names[0]
            return loc, (
                f"[{section}] must be a table (a [{section}] header followed by key = value "
                f"lines), {got}."
            )
        return loc, f"must be a table, {got}.{fix}"
    if kind_ in ("tuple_type", "list_type", "iterable_type"):
        if names == ("constraints",):
            return loc, (
                "must be an array of tables: give each constraint its own [[constraints]] "
                f"header (double brackets), {got}."
            )
        return loc, f"must be a list, {got}.{fix}"
    if kind_ in ("int_type", "int_parsing", "int_from_float"):
        return loc, f"must be an integer, {got}.{fix}"
    if kind_ in ("float_type", "float_parsing"):
        return loc, f"must be a number, {got}.{fix}"
    if kind_ == "finite_number":
        return loc, f"must be a finite number, {got}.{fix}"
    if kind_ in ("string_type", "string_unicode"):
        return loc, f"must be a string (in quotes), {got}.{fix}"
    if kind_ == "literal_error":
        options = list(vocab.choices.get(names, ()))
        if options:
            listed = ", ".join(f'"{o}"' for o in options)
            hint = did_you_mean(value, options, fmt='"{}"')
            return loc, sentence(f"must be one of {listed}, {got}{hint}")
        return loc, f"must be {ctx.get('expected', 'one of the allowed values')}, {got}."
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind_ in bounds:
        op, key = bounds[kind_]
        return loc, f"must be {op} {ctx.get(key)}, {got}.{fix}"
    if kind_ in ("string_too_short", "too_short"):
        return loc, f"must not be empty, {got}.{fix}"
    if kind_ == "string_too_long":
        return loc, f"must be at most {ctx.get('max_length')} characters, {got}."
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    message = message[:1].lower() + message[1:]
    return loc, f"{message.rstrip('.')}, {got}."


def unknown_field(loc: Loc, value: object, vocab: Vocabulary) -> Problem:
    key = loc[-1] if loc else ""
    section = _names(loc[:-1])
    where = vocab.label(section)
    if not isinstance(key, str):
        return loc, f"field names must be strings, got {show(key)} {where}."
    known = vocab.sections.get(section, ())
    hint = did_you_mean(key, known)
    is_table = isinstance(value, Mapping)
    if not section and is_table:
        tables = [k for k in known if k not in ("name", "goal", "storage")]
        hint = did_you_mean(key, tables, fmt="[{}]")
        message = f"unknown section [{key}]{hint}"
    else:
        message = f"unknown field '{key}' {where}{hint}"
    if not hint:
        home = vocab.home_of(key)
        if home == () and section:
            message += (
                f"; '{key}' belongs at the top level: put it before the first [section] header"
            )
        elif home is not None and home != section:
            message += f"; '{key}' belongs {vocab.label(home)}"
        elif known:
            message += ". Known fields: " + ", ".join(known)
    return loc, sentence(message)


def _missing(loc: Loc, vocab: Vocabulary) -> Problem:
    names = _names(loc)
    example = vocab.examples.get(names, "")
    if len(names) == 1 and names in vocab.sections:
        return loc, f"missing required section [{names[0]}]; add {example}."
    field = names[-1] if names else "?"
    where = vocab.label(names[:-1])
    add = f"; add e.g. {example}" if example else ""
    return loc, f"missing required field '{field}' {where}{add}."
