"""Turning a study's entrypoint into the argv of a trial's process."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scitune.errors import EntrypointError
from scitune.trial import TrialContext

if TYPE_CHECKING:
    from scitune.spec import StudySpec

__all__ = ["child_argv", "format_command", "module_roots"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


def module_roots(spec: StudySpec, cwd: Path) -> list[Path]:
    """Directories to put on the trial's ``PYTHONPATH`` so ``entrypoint.python`` imports.

    Looks in the directory scitune runs in, then in the study file's directory and its parents,
    for the entrypoint's top-level package; an installed package needs none.

    Raises:
        EntrypointError: the module is found nowhere.
    """
    target = spec.entrypoint.python
    if not target:
        return []
    top = target.partition(":")[0].split(".")[0]
    candidates = [cwd]
    if spec.source is not None:
        folder = Path(spec.source).resolve().parent
        candidates += [folder, *folder.parents]
    for root in candidates:
        if (root / top).is_dir() or (root / f"{top}.py").is_file():
            return [root]
    saved = list(sys.path)
    try:
        if importlib.util.find_spec(top) is not None:
            return []
    except (ImportError, ValueError):
        pass
    finally:
        sys.path[:] = saved
    where = f" or above {Path(spec.source).parent}" if spec.source else ""
    raise EntrypointError(
        f"entrypoint.python: cannot find the module {top!r} of {target!r} in {cwd}{where}, "
        "nor installed. Run scitune from the directory that contains it, or install your "
        "package (pip install -e .)."
    )


#: Words that, as a command's first word, mean "the Python scitune runs in": a trial started
#: from a virtual environment's scitune runs in that environment, whatever PATH says.
PYTHON_WORDS = ("python", "python3")


def format_command(args: tuple[str, ...], context: TrialContext) -> list[str]:
    """Fill ``{name}`` placeholders from the trial's params, seed, max_train_steps, dir, number.

    ``{python}``, and ``python``/``python3`` as the first word, are the interpreter scitune
    runs in (``sys.executable``).

    Raises:
        EntrypointError: a placeholder names nothing the trial has.
    """
    # The trial's own values win over a parameter of the same name (the spec refuses those).
    values: dict[str, object] = {
        **context.params,
        "python": sys.executable,
        "seed": context.seed,
        "max_train_steps": context.max_train_steps,
        "dir": context.dir,
        "number": context.number,
        "study": context.study,
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise EntrypointError(
                f"entrypoint.command: placeholder {{{name}}} names no hyperparameter of trial "
                f"{context.number}; it has {sorted(values)}. Fix the name, or use a value that "
                "every trial has."
            )
        return str(values[name])

    argv = [_PLACEHOLDER.sub(fill, arg) for arg in args]
    if argv and argv[0] in PYTHON_WORDS:
        argv[0] = sys.executable
    return argv


def child_argv(spec: StudySpec, context: TrialContext) -> list[str]:
    base = [sys.executable, "-m", "scitune._child"]
    if spec.entrypoint.python:
        return [*base, "python", spec.entrypoint.python]
    command = spec.entrypoint.command
    if not command:
        raise EntrypointError("entrypoint: set either python = 'module:function' or command.")
    return [*base, "command", "--", *format_command(tuple(command), context)]
