"""What every command shares: error handling, JSON output, the store to read."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from scitune.errors import ScituneError, StoreNotFoundError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)

JSON_HELP = "Print machine-readable JSON on stdout instead of tables."
STORAGE_HELP = (
    "Storage URL, for a STUDY given by name (default: $SCITUNE_STORAGE or the study file's)."
)


def storage_default() -> str | None:
    return os.environ.get("SCITUNE_STORAGE") or None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")
    sys.stdout.flush()


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print scitune errors as one clear message (exit 1), never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except StoreNotFoundError as e:
            hint = "--storage or $SCITUNE_STORAGE chooses the store."
            _report(as_json, type(e).__name__, f"{e} {hint}")
        except ScituneError as e:
            _report(as_json, type(e).__name__, str(e))
        except Exception as e:  # a bug of ours: still no traceback unless asked for
            if os.environ.get("SCITUNE_DEBUG"):
                traceback.print_exc()
            _report(
                as_json,
                "InternalError",
                f"internal error: {type(e).__name__}: {e}. This is a scitune bug; rerun with "
                "SCITUNE_DEBUG=1 for the traceback and report it.",
            )
        raise typer.Exit(1)

    return wrapper


def _report(as_json: bool, kind: str, message: str) -> None:
    if as_json:
        print_json({"error": {"type": kind, "message": message}})
    else:
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
