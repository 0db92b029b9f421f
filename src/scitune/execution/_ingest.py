"""Reading a trial's metrics file into the store: incremental, idempotent, never lossy.

The reader remembers the byte offset it has stored; each pass reads only complete lines after
it and commits their points together with the new offset. A crash of the trial or the runner
between two passes loses nothing: the next pass (or the next runner) starts at the stored offset,
and re-reading a line is harmless because the store keeps the last value written per step.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scitune.errors import ProtocolError
from scitune.storage import CheckpointRecord, Storage
from scitune.trial import parse_number

__all__ = ["MetricsReader", "ParsedLines", "parse_lines", "repair_tail"]


@dataclass
class ParsedLines:
    """What a run of lines held: points per metric, checkpoints, infeasibility, problems."""

    points: dict[str, tuple[list[int], list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: ([], []))
    )
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    infeasible: str | None = None
    problems: list[str] = field(default_factory=list)
    count: int = 0


def parse_lines(data: bytes, *, first_line: int = 1, path: str = "") -> ParsedLines:
    """Parse complete JSON lines of the protocol (see ``scitune.trial``)."""
    out = ParsedLines()
    for i, raw in enumerate(data.splitlines()):
        if not raw.strip():
            continue
        out.count += 1
        try:
            _parse_line(json.loads(raw), out)
        except (ValueError, ProtocolError, TypeError, KeyError) as e:
            if len(out.problems) < 5:
                out.problems.append(f"{path}:{first_line + i}: {e} (line: {raw[:120]!r})")
    return out


def _parse_line(obj: object, out: ParsedLines) -> None:
    if not isinstance(obj, dict):
        raise ProtocolError("a line must be a JSON object")
    if "infeasible" in obj:
        out.infeasible = str(obj["infeasible"]) or "declared infeasible by the trial"
        return
    if "checkpoint" in obj:
        c = obj["checkpoint"]
        raw_metrics = c.get("metrics") or {}
        if not isinstance(raw_metrics, dict):
            raise ProtocolError("checkpoint 'metrics' must be an object")
        values = {str(k): parse_number(v) for k, v in raw_metrics.items()}
        out.checkpoints.append(CheckpointRecord(_step(c.get("step")), str(c["path"]), values))
        return
    step = _step(obj.get("step"))
    metrics = obj.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise ProtocolError('expected {"step": N, "metrics": {"name": value, ...}}')
    for name, value in metrics.items():
        series = out.points[str(name)]
        series[0].append(step)
        series[1].append(parse_number(value))


def _step(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ProtocolError(f"'step' must be an integer, got {value!r}")
    if value < 0:
        raise ProtocolError(f"'step' must be >= 0, got {value!r}")
    return int(value)


class MetricsReader:
    """Incrementally moves one trial's metrics file into the store (the single writer)."""

    def __init__(self, storage: Storage, trial_id: int, path: Path, offset: int = 0) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.path = path
        self.offset = offset
        self.lines_read = 0
        self.problems: list[str] = []

    def poll(self, *, final: bool = False) -> int:
        """Store the complete lines written since the last poll; returns how many.

        With ``final`` (the trial's process has exited) a last line without a newline counts
        too if it parses; a torn half-line is left on disk and reported.
        """
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n") + 1
        if final and end < len(data):
            tail = data[end:]
            try:
                json.loads(tail)
                end = len(data)
            except ValueError:
                self.problems.append(
                    f"{self.path}: ignored an incomplete last line ({len(tail)} bytes)"
                )
        if end == 0:
            return 0
        parsed = parse_lines(data[:end], first_line=self.lines_read + 1, path=str(self.path))
        self.problems.extend(parsed.problems)
        if parsed.checkpoints:
            self.storage.add_checkpoints(self.trial_id, parsed.checkpoints)
        batch = {
            name: (np.asarray(s, dtype=np.int64), np.asarray(v, dtype=np.float64))
            for name, (s, v) in parsed.points.items()
        }
        self.storage.add_measurements(self.trial_id, batch, ingested_bytes=self.offset + end)
        self.offset += end
        self.lines_read += data[:end].count(b"\n") + (0 if data[:end].endswith(b"\n") else 1)
        return parsed.count


def declared_infeasible(path: Path) -> str | None:
    """The reason of the last ``{"infeasible": ...}`` line in a metrics file, if any."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    reason = None
    for raw in data.splitlines():
        if b'"infeasible"' in raw:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict) and "infeasible" in obj:
                reason = str(obj["infeasible"]) or "declared infeasible by the trial"
    return reason


def repair_tail(path: Path) -> None:
    """Before a re-run appends to a file: end it on a line boundary.

    A torn last line (the process died mid-write) is cut off; a complete JSON object that only
    lacks its newline gets one.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        end = data.rfind(b"\n") + 1
        try:
            json.loads(data[end:])
            f.write(b"\n")
        except ValueError:
            f.truncate(end)
        f.flush()
        os.fsync(f.fileno())
