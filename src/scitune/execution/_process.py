"""Starting, watching and stopping trial processes (POSIX process groups)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["describe_exit", "pid_alive", "stop_process", "tail", "worker_id"]


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
