"""The process a trial runs in: ``python -m scitune._child python MODULE:FUNC`` or
``... command -- ARGS...``. It imports only the light ``scitune`` package.

It dies with the runner (``PR_SET_PDEATHSIG`` on Linux), runs the entrypoint, and on a normal
end writes ``result.json`` in the trial directory *after* the metrics file is flushed, so a
runner that restarts can tell a trial that finished from one that was cut off.

A host memory limit (``$SCITUNE_MEMORY_LIMIT``, bytes; the batch-size probe's
``--memory-limit``) is applied as ``RLIMIT_AS`` before the user's code is imported, so an
allocation past it fails inside the trial, which then ends FAILED with an "out of memory" reason.
``RLIMIT_AS`` counts *virtual* memory: every mapping, shared libraries and thread stacks included
(importing torch alone maps ~600 MiB), so the limit must leave room for them, not just for the
tensors. ``result.json`` also records the trial's peak address space and peak resident memory
(Linux), so a limit can be chosen from measurements.
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

from scitune.integrations._torch_memory import is_oom  # light: never imports torch
from scitune.trial import RESULT_FILE, RUNNER_PID_ENV, TRIAL_ENV

MEMORY_LIMIT_ENV = "SCITUNE_MEMORY_LIMIT"


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphans after a crash)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def apply_memory_limit() -> int | None:
    """Cap this process's address space at ``$SCITUNE_MEMORY_LIMIT`` bytes (``RLIMIT_AS``).

    Inherited by the processes it starts (a ``command`` entrypoint). A tighter limit already in
    place (``ulimit -v``) is kept. Returns the limit applied, or ``None`` when none is asked for.

    Raises:
        ValueError: the variable is not a positive integer, or the platform cannot limit memory.
    """
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"${MEMORY_LIMIT_ENV} must be a positive number of bytes, got {text!r}")
    try:
        import resource
    except ImportError:  # Windows
        raise ValueError(
            f"${MEMORY_LIMIT_ENV} needs RLIMIT_AS, which {sys.platform} lacks"
        ) from None
    limit = int(text)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    for bound in (soft, hard):
        if bound != resource.RLIM_INFINITY:
            limit = min(limit, bound)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _memory_peaks() -> dict[str, int]:
    """Peak address space (``VmPeak``, what ``RLIMIT_AS`` counts) and peak RSS, in bytes."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmPeak", "VmHWM"):
                name = "peak_address_space_bytes" if key == "VmPeak" else "peak_rss_bytes"
                out[name] = int(rest.split()[0]) * 1024
    return out


def _oom_error(exc: BaseException, limit: int | None) -> str | None:
    """An "out of memory" reason when ``exc`` is an allocation failure, else ``None``."""
    if not is_oom(exc):
        return None
    where = f" (address space limit {limit / 2**20:,.0f} MiB, ${MEMORY_LIMIT_ENV})" if limit else ""
    return f"out of memory{where}: {type(exc).__name__}: {exc}"


def _write_result(result: dict[str, Any], *, peaks: bool = True) -> None:
    """``result.json`` in the attempt's folder (the one holding the context file)."""
    if peaks:  # this process ran the trial's code (not so for a command entrypoint)
        result = {**result, **_memory_peaks()}
    path = Path(os.environ[TRIAL_ENV]).parent / RESULT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


def _run_python(target: str, memory_limit: int | None = None) -> int:
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
        _write_result({"returncode": 3, "entrypoint_error": message})
        return 3
    try:
        func(trial)
    except Infeasible as e:
        trial._write({"infeasible": e.reason})
        trial.close()
        _write_result({"returncode": 0, "infeasible": e.reason})
        return 0
    except SystemExit as e:
        trial.close()
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        _write_result({"returncode": code} if code == 0 else
                      {"returncode": code, "error": f"SystemExit({e.code!r})"})
        return code
    except KeyboardInterrupt:
        trial.close()
        return 130  # stopped from outside: no result, the runner decides
    except BaseException as e:
        traceback.print_exc()
        sys.stderr.flush()
        trial.close()
        oom = _oom_error(e, memory_limit)
        result: dict[str, Any] = {"returncode": 1, "error": oom or f"{type(e).__name__}: {e}"}
        if oom:
            result["oom"] = True
        _write_result(result)
        return 1
    trial.close()
    _write_result({"returncode": 0})
    return 0


def _run_command(args: list[str]) -> int:
    try:
        proc = subprocess.Popen(args, preexec_fn=die_with_parent)
    except OSError as e:
        print(f"scitune: could not start {args[0]!r}: {e}", file=sys.stderr)
        error = f"could not start {args[0]!r}: {e}"
        _write_result({"returncode": 127, "error": error}, peaks=False)
        return 127
    code = proc.wait()
    if code >= 0:  # a signal death (negative) is the runner's to explain: no result
        _write_result({"returncode": code}, peaks=False)
    return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    die_with_parent()
    expected = os.environ.get(RUNNER_PID_ENV)
    if expected and os.getppid() != int(expected):
        return 1  # the runner died before we could tie our life to it
    try:
        memory_limit = apply_memory_limit()  # before any of the user's code is imported
    except (ValueError, OSError) as e:
        print(f"scitune: cannot apply the memory limit: {e}", file=sys.stderr)
        return 2
    if len(argv) >= 2 and argv[0] == "python":
        return _run_python(argv[1], memory_limit)
    if len(argv) >= 3 and argv[0] == "command" and argv[1] == "--":
        return _run_command(argv[2:])
    print("usage: python -m scitune._child (python MOD:FUNC | command -- ARGS...)")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
