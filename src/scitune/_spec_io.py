"""Reading a study file: bytes, UTF-8, TOML -- every failure a SpecError naming the file."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from scitune.errors import SpecError

_TOML_WHERE = re.compile(r"(.*?)\s*\(at line (\d+), column (\d+)\)", re.DOTALL)


def _toml_error(where: str, text: str, exc: tomllib.TOMLDecodeError) -> SpecError:
    message = str(exc)
    match = _TOML_WHERE.fullmatch(message)
    position = ""
    if match:
        message, line, column = match[1], int(match[2]), int(match[3])
        lines = text.split("\n")  # TOML counts "\n" only
        snippet = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        snippet = f" (`{snippet[:60]}`)" if snippet else ""
        position = f"line {line}, column {column}{snippet}: "
    elif message.endswith("(at end of document)"):
        message = message[: -len("(at end of document)")].rstrip()
        position = "end of file: "
    lowered = message.lower()
    if "twice" in lowered or "overwrite" in lowered:
        fix = "Each key and each [table] may appear once: merge the two."
    elif "invalid value" in lowered:
        fix = 'Strings need quotes (optimizer = "adam"); lists are [1, 2]; tables { a = 1 }.'
    elif "expected '=' " in lowered or "after a key" in lowered:
        fix = "Each line is key = value; a table header is [name] on its own line."
    else:
        fix = "Fix the TOML syntax there (https://toml.io)."
    return SpecError(f"{where}: {position}invalid TOML: {message.rstrip('.')}. {fix}")


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The tables of the TOML file at ``path``; raises SpecError for anything unreadable."""
    where = os.fspath(path)
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError as exc:
        raise SpecError(
            f"{where}: no such file. Check the path, or write one with `scitune init`."
        ) from exc
    except IsADirectoryError as exc:
        raise SpecError(
            f"{where}: is a directory, not a study file. Give the path of the .toml file."
        ) from exc
    except PermissionError as exc:
        raise SpecError(
            f"{where}: cannot read the file (permission denied). Check its permissions."
        ) from exc
    except OSError as exc:
        raise SpecError(f"{where}: cannot read the file ({exc.strerror or exc}).") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"{where}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}). Save the file as UTF-8."
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(where, text, exc) from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer past Python's digit limit
        raise SpecError(f"{where}: cannot read the file as TOML ({exc}).") from exc
    return data
