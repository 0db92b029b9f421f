"""The process a trial runs in: ``python -m scitune._child python MODULE:FUNC`` or
``... command -- ARGS...``. It imports only the light ``scitune`` package.

It dies with the runner (``PR_SET_PDEATHSIG`` on Linux), runs the entrypoint, and on a normal
end writes ``result.json`` in the trial directory *after* the metrics file is flushed, so a
runner that restarts can tell a trial that finished from one that was cut off.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from scitune.trial import RESULT_FILE, RUNNER_PID_ENV


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphans after a crash)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _write_result(trial_dir: str, result: dict[str, Any]) -> None:
    path = Path(trial_dir) / RESULT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


def _run_python(target: str) -> int:
    from scitune.errors import Infeasible
    from scitune.trial import Trial, TrialContext, _set_current

    context = TrialContext.from_file(os.environ["SCITUNE_TRIAL"])
    trial = Trial(context)
    _set_current(trial)
    module_name, _, func_name = target.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        if not callable(func):
            raise TypeError(f"{target} is a {type(func).__name__}, not a function")
    except Exception as e:
        # Every trial would fail the same way: tell the runner to stop, not to burn the budget.
        traceback.print_exc()
        message = (
            f"entrypoint.python: cannot load {target!r}: {type(e).__name__}: {e}. "
            "Check the module path (importable from the directory you run scitune in) "
            "and the function name."
        )
        _write_result(context.dir, {"returncode": 3, "entrypoint_error": message})
        return 3
    try:
        func(trial)
    except Infeasible as e:
        trial._write({"infeasible": e.reason})
        trial.close()
        _write_result(context.dir, {"returncode": 0, "infeasible": e.reason})
        return 0
    except SystemExit as e:
        trial.close()
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        _write_result(context.dir, {"returncode": code} if code == 0 else
                      {"returncode": code, "error": f"SystemExit({e.code!r})"})
        return code
    except KeyboardInterrupt:
        trial.close()
        return 130  # stopped from outside: no result, the runner decides
    except BaseException as e:
        traceback.print_exc()
        sys.stderr.flush()
        trial.close()
        _write_result(context.dir, {"returncode": 1, "error": f"{type(e).__name__}: {e}"})
        return 1
    trial.close()
    _write_result(context.dir, {"returncode": 0})
    return 0


def _run_command(args: list[str]) -> int:
    trial_dir = json.loads(Path(os.environ["SCITUNE_TRIAL"]).read_text())["dir"]
    try:
        proc = subprocess.Popen(args, preexec_fn=die_with_parent)
    except OSError as e:
        print(f"scitune: could not start {args[0]!r}: {e}", file=sys.stderr)
        _write_result(trial_dir, {"returncode": 127, "error": f"could not start {args[0]!r}: {e}"})
        return 127
    code = proc.wait()
    if code >= 0:  # a signal death (negative) is the runner's to explain: no result
        _write_result(trial_dir, {"returncode": code})
    return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    die_with_parent()
    expected = os.environ.get(RUNNER_PID_ENV)
    if expected and os.getppid() != int(expected):
        return 1  # the runner died before we could tie our life to it
    if len(argv) >= 2 and argv[0] == "python":
        return _run_python(argv[1])
    if len(argv) >= 3 and argv[0] == "command" and argv[1] == "--":
        return _run_command(argv[2:])
    print("usage: python -m scitune._child (python MOD:FUNC | command -- ARGS...)")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
