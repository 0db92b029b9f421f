"""A trial's standard output and error, copied to its attempt's log files within a cap.

A trial that prints a progress line per step can write hundreds of megabytes. The runner reads
each stream from a pipe and keeps what a person reads when something went wrong: the first
``head`` bytes (the set-up, the first error) go to the file as they come; past them only the
last ``tail`` bytes are kept, in memory, and written when the stream ends, after a line that
says how much was left out. While the trial runs the file holds the head; the runner's loop
waits on the pipes (``selectors``), so a chatty trial is never slowed by a full pipe.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["DEFAULT_LOG_LIMIT", "CappedLog"]

#: Bytes kept of each stream of each attempt (half head, half tail). Ours: enough for any
#: traceback and the progress of a long run, small enough for thousands of trials.
DEFAULT_LOG_LIMIT = 20 * 2**20
_READ = 1 << 16


class CappedLog:
    """Copies one pipe (non-blocking) to ``path``: the first ``limit / 2`` bytes, and the last
    ``limit / 2`` bytes once the stream ends."""

    def __init__(
        self, path: Path, fd: int, *, limit: int = DEFAULT_LOG_LIMIT, header: bytes = b""
    ) -> None:
        if limit < 2:
            raise ValueError(f"a log limit must be at least 2 bytes, got {limit}.")
        self.path = path
        self.fd = fd
        self.head_left = limit // 2
        self.tail_limit = limit - limit // 2
        self.tail = bytearray()
        self.omitted = 0
        self.closed = False
        os.set_blocking(fd, False)
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()
        if header:
            self._file.write(header)
            self._file.flush()

    def pump(self) -> bool:
        """Move what the pipe holds now; False once it reached its end (or broke)."""
        while True:
            try:
                data = os.read(self.fd, _READ)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._take(data)

    def _take(self, data: bytes) -> None:
        if self.head_left > 0:
            head, data = data[: self.head_left], data[self.head_left :]
            self._file.write(head)
            self._file.flush()
            self.head_left -= len(head)
        if data:
            self.tail += data
            extra = len(self.tail) - self.tail_limit
            if extra > 0:
                del self.tail[:extra]
                self.omitted += extra

    def close(self) -> None:
        """Drain what is left, write the kept tail, close the pipe and the file."""
        if self.closed:
            return
        self.pump()
        self.closed = True
        with_tail = bytes(self.tail)
        if self.omitted:
            self._file.write(
                f"\n[scitune: {self.omitted:,} bytes left out here: a log keeps its first and "
                f"last {self.tail_limit:,} bytes]\n".encode()
            )
        self._file.write(with_tail)
        self._file.close()
        os.close(self.fd)
