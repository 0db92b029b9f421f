"""Starting, watching and stopping trial processes, and every process they start.

An attempt of a trial is a tree of processes: the trial's main process (its own session and
process group), and whatever it starts -- a shell wrapper's ``python train.py``, data-loader
workers, a child that called ``setsid`` to leave the group. None of them may outlive the
attempt: an orphan would keep writing to the attempt's files while the next attempt runs, or
hold a GPU. Linux gives three handles, used together:

- **A mark in the environment.** Every process of an attempt inherits ``SCITUNE_ATTEMPT=<id>``
  (the study instance, the trial, the attempt), and keeps it across ``setsid``, double forks
  and the death of its parents. :func:`attempt_processes` finds them by reading
  ``/proc/PID/environ``, after the runner itself died too (the next runner's recovery).
- **The process group** (``start_new_session``), for the processes that are still in it.
- **A child subreaper** (:func:`subreaper`): orphans of a running attempt are
  re-parented to the runner instead of init, so they stay its descendants (a process that
  cleared its environment is still found while the runner lives), and the runner reaps them.

What cannot be guaranteed: a process that both clears its environment (``env -i``) and
escapes its group, after the runner died, is not found (a cgroup per attempt would be needed;
not used, since it needs a delegated cgroup that a user's shell rarely has). On other systems
than Linux only the process group is used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "ATTEMPT_ENV",
    "attempt_processes",
    "describe_exit",
    "end_processes",
    "pid_alive",
    "reap_orphans",
    "stop_process",
    "subreaper",
    "tail",
    "worker_id",
]

#: The environment variable that marks every process of one attempt of one trial.
ATTEMPT_ENV = "SCITUNE_ATTEMPT"
_LINUX = sys.platform.startswith("linux")
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def attempt_id(study_uid: str, trial_number: int, attempt: int) -> str:
    """The value of :data:`ATTEMPT_ENV` for one attempt: unique per study instance."""
    return f"{study_uid}/{trial_number}/{attempt}"


@contextlib.contextmanager
def subreaper() -> Iterator[bool]:
    """While inside, orphaned descendants of this process become its children (Linux); the
    flag is put back as it was on leaving, so a long-lived caller (a notebook, a server, a
    test runner) does not go on adopting processes. Yields whether it is in effect."""
    if not _LINUX:
        yield False
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        before = ctypes.c_int(0)
        libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
        ok = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        yield False
        return
    try:
        yield bool(ok)
    finally:
        if ok and not before.value:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, process group, state) of a process, from ``/proc/PID/stat``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        return int(fields[1]), int(fields[2]), fields[0].decode()
    except (OSError, ValueError, IndexError):
        return None


def _has_mark(pid: int, mark: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return mark in f.read().split(b"\0")
    except OSError:
        return False


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def attempt_processes(
    attempt: str, *, groups: Iterable[int] = (), ancestors: Iterable[int] = ()
) -> list[int]:
    """Live processes of an attempt: marked with it, in one of ``groups``, or descended from
    one of ``ancestors`` (e.g. the attempt's main process). Zombies and this process excluded.
    """
    if not _LINUX:
        return []
    mark = f"{ATTEMPT_ENV}={attempt}".encode()
    groups, ancestors = set(groups), set(ancestors)
    me = os.getpid()
    parents: dict[int, int] = {}
    found: set[int] = set()
    for pid in _pids():
        if pid == me:
            continue
        info = _stat(pid)
        if info is None or info[2] in ("Z", "X"):
            continue
        parents[pid] = info[0]
        if info[1] in groups or _has_mark(pid, mark):
            found.add(pid)
    if ancestors:
        for pid in parents:
            seen, up = 0, parents.get(pid)
            while up is not None and up > 1 and seen < 64:
                if up in ancestors or up in found:
                    found.add(pid)
                    break
                up, seen = parents.get(up), seen + 1
    return sorted(found)


def end_processes(pids: Iterable[int], *, grace_s: float, keep: Iterable[int] = ()) -> int:
    """SIGTERM ``pids``, SIGKILL those still alive after ``grace_s``; returns how many lived.

    ``keep``: this process's own ``subprocess`` children, which it must not reap here (their
    ``Popen`` reads their exit status).
    """
    keep = set(keep)
    alive = [pid for pid in pids if pid_alive(pid)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = alive
    while left and time.monotonic() < deadline:
        reap_orphans(keep)
        time.sleep(0.02)
        left = [pid for pid in left if pid_alive(pid)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while left and time.monotonic() < deadline:
        reap_orphans(keep)
        time.sleep(0.01)
        left = [pid for pid in left if pid_alive(pid)]
    return len(alive)


def reap_orphans(keep: Iterable[int] = ()) -> None:
    """Collect exited children this process adopted as a subreaper (not those in ``keep``,
    the trial processes whose exit codes ``subprocess`` still has to read)."""
    if not _LINUX:
        return
    keep = set(keep)
    me = os.getpid()
    for pid in _pids():
        if pid in keep:
            continue
        info = _stat(pid)
        if info is not None and info[0] == me and info[2] == "Z":
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)


def worker_id() -> str:
    """``host:pid`` of this runner, stored on the trials it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_dead(worker: str | None) -> bool:
    """True when ``worker`` is a runner on this host whose process no longer exists."""
    if not worker or ":" not in worker:
        return True
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return False  # only a stale heartbeat can tell
    try:
        return int(pid) == os.getpid() or not pid_alive(int(pid))
    except ValueError:
        return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def stop_process(proc: subprocess.Popen[bytes], *, grace_s: float) -> int:
    """SIGTERM the trial's process group, SIGKILL it after ``grace_s``; returns the exit code."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                return code
            time.sleep(0.05)
    return proc.wait()


def describe_exit(code: int) -> str:
    if code < 0 or code > 128:
        signum = -code if code < 0 else code - 128
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        hint = " (often: out of memory)" if signum == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exited with code {code}"


def tail(path: Path, n_bytes: int = 4000) -> str | None:
    """The last ``n_bytes`` of a log file, decoded leniently; ``None`` if empty or missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return text.strip() or None
