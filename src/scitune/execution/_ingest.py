"""Reading a trial's metrics file into the store: incremental, idempotent, never lossy.

The reader remembers the byte offset it has stored; each pass reads only complete lines after
it and commits their points together with the new offset. A crash of the trial or the runner
between two passes loses nothing: the next pass (or the next runner) starts at the stored offset,
and re-reading a line is harmless because the store keeps the last value written per step.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scitune.errors import ProtocolError, TrialStateError
from scitune.storage import CheckpointRecord, Storage
from scitune.trial import (
    MAX_STEP,
    check_metric_name,
    describe_value,
    parse_number,
    storable_text,
)

__all__ = ["MetricsReader", "ParsedLines", "declared_infeasible", "parse_lines"]


MAX_PROBLEMS = 5  # problem messages kept per batch of lines; ParsedLines.skipped counts all
_MAX_READ = 64 * 2**20  # bytes read per pass; a longer line is skipped
_DECLARED = "declared infeasible by the trial"
_MAX_REASON = 2000  # characters of an infeasibility reason kept


@dataclass
class ParsedLines:
    """What a run of lines held: points per metric, checkpoints, infeasibility, problems.

    ``points[name]`` holds two lists of one length (steps, values). ``problems`` keeps the
    first :data:`MAX_PROBLEMS` messages, each ``path:line: reason``; ``skipped`` counts every
    line, value, checkpoint or declaration skipped, so ``skipped - len(problems)`` are unsaid.
    """

    points: dict[str, tuple[list[int], list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: ([], []))
    )
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    infeasible: str | None = None
    problems: list[str] = field(default_factory=list)
    count: int = 0
    skipped: int = 0


def parse_lines(data: bytes, *, first_line: int = 1, path: str = "") -> ParsedLines:
    """Parse complete JSON lines of the protocol (see ``scitune.trial``); never raises.

    Lines end at ``\\n`` (as the reader counts them); blank lines are passed over. Whatever
    the bytes hold, a line that cannot be used is skipped with a problem naming
    ``path:line`` and why, and a bad value skips only that value: the valid metrics of the
    same line are kept. A metric whose value is ``null`` is skipped silently (no value).
    """
    out = ParsedLines()
    for i, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        out.count += 1
        where = f"{path}:{first_line + i}"
        obj, error = _decode(raw)
        if error is not None:
            _skip(out, where, f"{error}; the line is skipped (line: {raw[:120]!r})")
            continue
        try:
            _parse_line(obj, out, where)
        except Exception as e:  # a bug of ours must not stop a study on what a trial wrote
            reason = f"{type(e).__name__}: {str(e)[:80]}"
            _skip(out, where, f"skipped: reading it failed ({reason}), a scitune bug to report")
    return out


def _decode(raw: bytes) -> tuple[object, str | None]:
    """One line's JSON value, or why there is none (``None, reason``)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text (bad byte at column {e.start + 1})"
    try:
        return json.loads(text.removeprefix("\ufeff")), None
    except json.JSONDecodeError as e:
        return None, f"not JSON ({e.msg} at column {e.colno})"
    except ValueError as e:  # an integer of over 4300 digits (sys.get_int_max_str_digits)
        return None, f"not JSON that can be read: {str(e)[:70]}"
    except RecursionError:
        return None, "JSON nested too deeply to read"


def _skip(out: ParsedLines, where: str, reason: str) -> None:
    out.skipped += 1
    if len(out.problems) < MAX_PROBLEMS:
        out.problems.append(f"{where}: {reason}")


def _parse_line(obj: object, out: ParsedLines, where: str) -> None:
    """Add one decoded line to ``out``; what cannot be used is skipped and reported there."""
    if not isinstance(obj, dict):
        _skip(out, where, f"a line must be a JSON object, got {describe_value(obj)}; skipped")
        return
    if "infeasible" in obj:
        try:
            out.infeasible = _infeasible_reason(obj["infeasible"]) or out.infeasible
        except ProtocolError as e:
            _skip(out, where, str(e))
        return
    if "checkpoint" in obj:
        _parse_checkpoint(obj["checkpoint"], out, where)
        return
    metrics = obj.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        _skip(
            out,
            where,
            'a line must be {"step": N, "metrics": {"name": value, ...}}, got '
            f"'metrics': {describe_value(metrics)}; skipped",
        )
        return
    try:
        step = _step(obj.get("step"))
    except ProtocolError as e:
        _skip(out, where, f"{e}; the line's {len(metrics)} metrics are skipped")
        return
    for name, value in _values(metrics, out, where).items():
        steps, values = out.points[name]
        steps.append(step)
        values.append(value)


def _values(raw: dict[object, object], out: ParsedLines, where: str) -> dict[str, float]:
    """The storable ``name: value`` pairs of a ``metrics`` object; the rest is reported."""
    values: dict[str, float] = {}
    for name, value in raw.items():
        if value is None:  # no value at this step
            continue
        try:
            name = check_metric_name(name)
        except ProtocolError as e:
            _skip(out, where, f"a value skipped: {e}")
            continue
        try:
            values[name] = parse_number(value)
        except ProtocolError as e:
            _skip(out, where, f"metric {describe_value(name)} skipped: {e}")
    return values


def _parse_checkpoint(record: object, out: ParsedLines, where: str) -> None:
    shape = 'a checkpoint must be {"step": N, "path": "...", "metrics": {...}}'
    if not isinstance(record, dict):
        _skip(out, where, f"{shape}, got {describe_value(record)}; skipped")
        return
    try:
        step = _step(record.get("step"))
    except ProtocolError as e:
        _skip(out, where, f"checkpoint: {e}; the checkpoint is skipped")
        return
    path = record.get("path")
    if not isinstance(path, str) or not path or not storable_text(path):
        _skip(
            out,
            where,
            "checkpoint: 'path' must be a non-empty string without NUL characters, got "
            f"{describe_value(path)}; the checkpoint is skipped",
        )
        return
    raw = record.get("metrics")
    values: dict[str, float] = {}
    if isinstance(raw, dict):
        values = _values(raw, out, where)
    elif raw is not None:
        _skip(
            out,
            where,
            f"checkpoint: 'metrics' must be an object, got {describe_value(raw)}; the "
            "checkpoint is kept without metrics",
        )
    out.checkpoints.append(CheckpointRecord(step, path, values))


def _step(value: object) -> int:
    """A step as JSON holds it: an int, or an integral float, from 0 to 2**63-1 (int64).

    Raises:
        ProtocolError: anything else (booleans, strings, 1.5, NaN, 1e300, -1, null).
    """
    step = int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(step, bool) or not isinstance(step, int):
        raise ProtocolError(f"'step' must be an integer, got {describe_value(value)}")
    if not 0 <= step <= MAX_STEP:
        raise ProtocolError(
            f"'step' must be from 0 to 2**63-1 (int64), got {describe_value(value)}"
        )
    return step


def _infeasible_reason(value: object) -> str | None:
    """What ``{"infeasible": value}`` declares: a reason, or ``None`` for nothing.

    A non-empty string is the reason; ``true`` declares it without one; ``false``, ``null``,
    ``""``, ``0`` (any falsy value) declare nothing.

    Raises:
        ProtocolError: any other value (a non-zero number, a non-empty array or object).
    """
    if isinstance(value, str):
        reason = value.replace("\x00", "").strip()
        if len(reason) > _MAX_REASON:
            reason = reason[:_MAX_REASON] + "..."
        # An unpaired surrogate (from a \\ud800 escape) cannot be stored as text.
        return reason.encode("utf-8", "replace").decode("utf-8") or None
    if value is True:
        return _DECLARED
    if not value:
        return None
    raise ProtocolError(
        "'infeasible' must be a reason (a string) or true, got "
        f"{describe_value(value)}; nothing is declared"
    )


class MetricsReader:
    """Incrementally moves one attempt's metrics file into the store (the single writer).

    Each pass reads the complete lines after the stored offset and commits their points with
    the new offset, in one transaction. The protocol's file is append-only: one that shrinks
    below the stored offset, is replaced (another inode) or deleted is read again from its start
    and the trial gets a warning that its curve may be incomplete. What a line holds never stops
    the reader (see :func:`parse_lines`); problems become the trial's warnings.

    Args:
        attempt: the attempt the file belongs to; the store refuses its points once another
            attempt of the trial has started (``StaleAttemptError``).
    """

    def __init__(
        self,
        storage: Storage,
        trial_id: int,
        path: Path,
        offset: int = 0,
        *,
        attempt: int | None = None,
    ) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.path = path
        self.offset = offset
        self.attempt = attempt
        # Lines before ``offset`` (a reader resumed after a runner died): counted at the first
        # read, so problems name the line's number in the file, not from the offset.
        self.lines_read: int | None = 0 if offset == 0 else None
        self.problems: list[str] = []
        self.skipped = 0  # lines, values, checkpoints skipped in all
        self._line_warnings = 0  # line problems recorded on the trial so far
        # The points the last poll stored, by metric: what rules applied while a trial runs read.
        self.fresh: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._inode: int | None = None
        self._lost_file = False

    def poll(self, *, final: bool = False) -> int:
        """Store the complete lines written since the last poll; returns how many.

        With ``final`` (the attempt's processes have ended) a last line without a newline
        counts too if it parses; a torn half-line is reported.
        """
        self.fresh = {}
        data = self._read()
        if data is None:
            return 0
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) >= _MAX_READ:
            return self._skip_long_line(final=final)
        if final and end < len(data):
            tail = data[end:]
            try:
                json.loads(tail)
                end = len(data)
            except (ValueError, RecursionError):
                self._problem(
                    f"{self.path}: ignored an incomplete last line ({len(tail):,} bytes)"
                )
        if end == 0:
            return 0
        chunk = data[:end]
        parsed = parse_lines(chunk, first_line=self._line_number(), path=str(self.path))
        self.skipped += parsed.skipped
        batch = {
            name: (np.asarray(s, dtype=np.int64), np.asarray(v, dtype=np.float64))
            for name, (s, v) in parsed.points.items()
        }
        if parsed.checkpoints:
            self.storage.add_checkpoints(self.trial_id, parsed.checkpoints)
        self.storage.add_measurements(
            self.trial_id, batch, ingested_bytes=self.offset + end, attempt=self.attempt
        )
        self.fresh = batch
        self.offset += end
        self.lines_read = self._line_number() - 1 + chunk.count(b"\n")
        self.lines_read += 0 if chunk.endswith(b"\n") else 1
        for problem in parsed.problems:
            self._problem(problem, line=True)
        if final and self.skipped > self._line_warnings:
            self._problem(f"{self.path}: {self.skipped:,} lines, values or checkpoints skipped")
        return parsed.count

    def _line_number(self) -> int:
        """The number of the next line to read (1-based)."""
        if self.lines_read is None:
            try:
                with open(self.path, "rb") as f:
                    head = f.read(self.offset)
            except OSError:
                head = b""
            self.lines_read = head.count(b"\n")
        return self.lines_read + 1

    def _read(self) -> bytes | None:
        """The bytes after the offset (at most one pass's worth), after checking the file is
        the one read so far; ``None`` when there is no file."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            if self.offset > 0 and not self._lost_file:
                self._lost_file = True
                self._problem(
                    f"{self.path}: the metrics file was deleted after {self.offset:,} bytes "
                    "were stored; the points stored are kept, the curve may be incomplete"
                )
                self.offset, self.lines_read, self._inode = 0, 0, None
            return None
        except OSError as e:
            self._problem(f"{self.path}: cannot read the metrics file: {e}")
            return None
        with f:
            st = os.fstat(f.fileno())
            replaced = self._inode is not None and st.st_ino != self._inode
            if replaced or st.st_size < self.offset:
                what = "was replaced" if replaced else f"shrank to {st.st_size:,} bytes"
                self._problem(
                    f"{self.path}: the metrics file {what} after {self.offset:,} bytes were "
                    "stored (the protocol's file is append-only: open it with 'a'); read "
                    "again from its start, the curve may be incomplete"
                )
                self.offset, self.lines_read = 0, 0
            self._inode = st.st_ino
            self._lost_file = False
            f.seek(self.offset)
            return f.read(_MAX_READ)

    def _skip_long_line(self, *, final: bool) -> int:
        """Move past a line longer than one pass reads, without reading it into memory."""
        with open(self.path, "rb") as f:
            f.seek(self.offset + _MAX_READ)
            position = self.offset + _MAX_READ
            while block := f.read(1 << 20):
                newline = block.find(b"\n")
                if newline >= 0:
                    position += newline + 1
                    break
                position += len(block)
            else:
                if not final:
                    return 0  # the line is still being written
        self.skipped += 1
        number = self._line_number()
        self._problem(
            f"{self.path}:{number}: skipped a line of {position - self.offset:,} "
            f"bytes (longer than {_MAX_READ:,})",
            line=True,
        )
        self.storage.add_measurements(
            self.trial_id, {}, ingested_bytes=position, attempt=self.attempt
        )
        self.offset = position
        self.lines_read = number
        return 0

    def _problem(self, text: str, *, line: bool = False) -> None:
        """Note a problem for the run's summary and, within budget, on the trial itself.

        Problems with single lines are recorded on the trial up to :data:`MAX_PROBLEMS` (then
        a count at the end): the store keeps a few warnings per trial, and one about the file
        itself (shrank, replaced, deleted) must never be crowded out by bad lines.
        """
        self.problems.append(text)
        if line:
            if self._line_warnings >= MAX_PROBLEMS:
                return
            self._line_warnings += 1
        with contextlib.suppress(TrialStateError):  # finished already: the run's summary has it
            self.storage.add_trial_warnings(self.trial_id, [text])


def declared_infeasible(path: Path) -> str | None:
    """The reason of the last line declaring the trial infeasible, by :func:`parse_lines`' rules.

    ``None`` if no line does, or the file cannot be read; never raises on what it holds.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    reason = None
    for raw in data.split(b"\n"):
        if b"infeasible" not in raw and b"\\u" not in raw:  # the key, or an escape spelling it
            continue
        obj, error = _decode(raw)
        if error is None and isinstance(obj, dict) and "infeasible" in obj:
            with contextlib.suppress(ProtocolError):
                reason = _infeasible_reason(obj["infeasible"]) or reason
    return reason
