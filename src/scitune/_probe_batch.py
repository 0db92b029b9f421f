"""The batch-size probe's numbers (§1): doubling sizes, throughput after a warm-up, scaling.

Pure functions of measured rows; :mod:`scitune._probe_run` runs the probe and reads its trials.
The playbook gives no numbers for the tolerances: the constants here are scitune's, named and
configurable.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from scitune.analysis import Finding
from scitune.errors import ScituneError

__all__ = [
    "COLLAPSED_EFFICIENCY",
    "DEFAULT_TOLERANCE",
    "EARLY_DOUBLINGS",
    "NOTES",
    "SECTION",
    "BatchSizeProbe",
    "ProbeRow",
    "ProbeSettings",
    "analyze_probe",
    "batch_sizes",
    "finding_json",
    "largest_scaling_size",
    "measured_throughput",
    "parse_bytes",
    "report_interval",
    "scaling_efficiency",
]

DEFAULT_TOLERANCE = 0.8
"""Ours (the playbook: "(nearly) double"): a doubling scales when throughput grows >= 0.8 x 2."""
EARLY_DOUBLINGS = 4
"""Ours: scaling that stops within this many doublings of the smallest size is "early"."""
COLLAPSED_EFFICIENCY = 0.5
"""Ours: a doubling below this efficiency gains (almost) nothing: throughput has flattened."""

SECTION = "§1 Choosing the batch size"


def _info(code: str, message: str, action: str) -> Finding:
    return Finding(code, "info", message, action, SECTION)


NOTES = {
    "accumulation": _info(
        "probe.gradient_accumulation",
        "Gradient accumulation brings no throughput: it runs the same per-example work in more "
        "sequential steps.",
        "Do not use it to stand in for a batch size that does not fit; choose among the sizes "
        "that fit.",
    ),
    "retune": _info(
        "probe.retune",
        "Changing the batch size changes the best optimizer hyperparameters (learning rate, "
        "momentum...) and regularization.",
        "Re-tune them after changing it, then keep the batch size fixed: it is not a knob for "
        "validation performance.",
    ),
    "training_time": _info(
        "probe.training_time",
        "Training time = time per step x steps: a larger batch pays only while it still cuts "
        "the steps needed (perfect scaling, up to the critical batch size).",
        "Measure that with a perfect-scaling study: `scitune probe scaling`.",
    ),
}
"""Reminders every probe carries (§1 items 4, 5 and 7)."""

Status = Literal["measured", "infeasible", "unmeasured", "oom", "failed", "not run"]
Stop = Literal["oom", "failed", "max", "interrupted"]


# -- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeSettings:
    """What the batch-size probe runs: doubling sizes from ``start`` up to ``max_size``.

    Each size runs ``warmup + steps`` training steps; examples/second is the median over the
    report intervals after the warm-up. ``eval_param`` (set to the report interval so that the
    warm-up ends on a report) is passed to the training code unless ``None``; ``metric`` is what
    it reports as examples/second. ``memory_limit`` (bytes) caps each trial's address space.
    """

    start: int = 8
    max_size: int = 4096
    steps: int = 30
    warmup: int = 10
    tolerance: float = DEFAULT_TOLERANCE
    memory_limit: int | None = None
    batch_param: str = "batch_size"
    eval_param: str | None = "eval_every"
    metric: str = "examples_per_second"

    def __post_init__(self) -> None:
        problems = []
        if self.start < 1:
            problems.append(f"--start must be >= 1, got {self.start}")
        if self.max_size < self.start:
            problems.append(f"--max must be >= --start ({self.start}), got {self.max_size}")
        if self.steps < 1:
            problems.append(f"--steps must be >= 1, got {self.steps}")
        if self.warmup < 0:
            problems.append(f"--warmup must be >= 0, got {self.warmup}")
        if not 0 < self.tolerance <= 1:
            problems.append(f"--tolerance must be in (0, 1], got {self.tolerance}")
        if self.memory_limit is not None and self.memory_limit < 1:
            problems.append(f"--memory-limit must be positive, got {self.memory_limit}")
        if problems:
            raise ScituneError("; ".join(problems) + ".")

    @property
    def sizes(self) -> list[int]:
        return batch_sizes(self.start, self.max_size)

    @property
    def interval(self) -> int:
        return report_interval(self.warmup, self.steps)


def batch_sizes(start: int, max_size: int) -> list[int]:
    """Doubling batch sizes from ``start`` up to ``max_size``: ``batch_sizes(8, 100)`` is
    ``[8, 16, 32, 64]``."""
    out = [start]
    while out[-1] * 2 <= max_size:
        out.append(out[-1] * 2)
    return out


def report_interval(warmup: int, steps: int) -> int:
    """Steps between reports: the warm-up ends on a report, and ~3 or more follow it.

    The largest divisor of ``warmup`` that is at most ``steps // 3`` (``steps // 3`` without a
    warm-up): ``report_interval(10, 30)`` is 10, ``report_interval(10, 15)`` is 5.
    """
    most = max(1, steps // 3)
    if warmup == 0:
        return most
    return max(d for d in range(1, min(warmup, most) + 1) if warmup % d == 0)


_BYTES = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """A memory size: ``"2G"``, ``"1.5GiB"``, ``"980M"``, ``"512k"`` or bytes (units of 1024).

    Raises:
        ScituneError: not a positive size.

    Example:
        >>> parse_bytes("2G"), parse_bytes("980M"), parse_bytes("4096")
        (2147483648, 1027604480, 4096)
    """
    match = _BYTES.fullmatch(text)
    value = 0
    if match is not None:
        unit = " kmgt".index(match.group(2).lower() or " ")
        value = int(float(match.group(1)) * 1024**unit)
    if value < 1:
        raise ScituneError(
            f"--memory-limit must be a size such as 2G, 980M or a number of bytes, got {text!r}."
        )
    return value


# -- the batch-size probe: pure analysis --------------------------------------------------------


@dataclass(frozen=True)
class ProbeRow:
    """One batch size of the probe: what happened and what was measured.

    ``status``: measured; infeasible (the trial ran but declared itself infeasible, e.g. its
    loss diverged: measured from what it reported); unmeasured (it ran but reported no
    examples/second); oom; failed; not run (the probe stopped before it). ``efficiency``
    compares with the previous measured size: throughput ratio / size ratio.
    ``warmup_included``: no report came after the warm-up (the trial stopped early, or its code
    reports rarely), so the throughput is the median over intervals that include warm-up steps:
    an understatement.
    """

    batch_size: int
    status: Status
    examples_per_second: float | None = None
    efficiency: float | None = None
    intervals: int = 0
    trial_number: int | None = None
    reason: str | None = None
    peak_memory_bytes: int | None = None
    warmup_included: bool = False

    @property
    def seconds_per_step(self) -> float | None:
        eps = self.examples_per_second
        return self.batch_size / eps if eps else None

    @property
    def ran(self) -> bool:
        """The batch fitted: the trial ran its steps (whatever it concluded)."""
        return self.status in ("measured", "infeasible", "unmeasured")


@dataclass(frozen=True)
class BatchSizeProbe:
    """The probe's result: rows by batch size, the largest size that scales, warnings, notes."""

    rows: tuple[ProbeRow, ...]
    tolerance: float
    largest_scaling: int | None
    stop: Stop
    stopped_at: ProbeRow | None
    memory_limit: int | None = None
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        rows = [{**asdict(r), "seconds_per_step": r.seconds_per_step} for r in self.rows]
        return {
            "largest_scaling_batch_size": self.largest_scaling,
            "tolerance": self.tolerance,
            "stop": self.stop,
            "stopped_at": self.stopped_at.batch_size if self.stopped_at else None,
            "stop_reason": self.stopped_at.reason if self.stopped_at else None,
            "memory_limit_bytes": self.memory_limit,
            "table": rows,
            "findings": [finding_json(f) for f in self.findings],
        }


def finding_json(f: Finding) -> dict[str, Any]:
    return {**asdict(f), "evidence": dict(f.evidence)}


def measured_throughput(
    steps: Iterable[int], values: Iterable[float], warmup: int
) -> tuple[float | None, int, bool]:
    """Median examples/second over the report intervals that start after the warm-up.

    A report at step ``s`` covers the steps since the previous report; it counts only when that
    previous report (0 for the first) is at or after ``warmup``. Returns the median, how many
    intervals it is the median of, and whether warm-up steps are included: when no interval
    starts after the warm-up, the median of all of them, flagged (``(None, 0, False)`` when
    there is no usable report at all).

    Example:
        >>> measured_throughput([10, 20, 30, 40], [50.0, 400.0, 410.0, 390.0], warmup=10)
        (400.0, 3, False)
        >>> measured_throughput([10], [50.0], warmup=10)
        (50.0, 1, True)
    """
    after: list[float] = []
    every: list[float] = []
    previous = 0
    for step, value in zip(steps, values, strict=True):
        if step > previous and math.isfinite(value) and value > 0:
            every.append(float(value))
            if previous >= warmup:
                after.append(float(value))
        previous = max(previous, int(step))
    if after:
        return statistics.median(after), len(after), False
    if every:
        return statistics.median(every), len(every), True
    return None, 0, False


def scaling_efficiency(
    size: int, throughput: float, next_size: int, next_throughput: float
) -> float:
    """Throughput gained per size gained: 1.0 is perfect scaling (double the batch, double the
    examples/second), 0.5 means a doubling brought nothing.

    Example:
        >>> scaling_efficiency(64, 1000.0, 128, 1800.0)
        0.9
    """
    return (next_throughput / throughput) / (next_size / size)


def largest_scaling_size(
    points: Sequence[tuple[int, float]], tolerance: float = DEFAULT_TOLERANCE
) -> int | None:
    """The largest batch size reached by doublings that each scaled (efficiency >= tolerance).

    ``points`` are ``(batch size, examples/s)``; the first doubling below the tolerance ends
    the chain (§1: only consider batch sizes up to where throughput stops rising).

    Example:
        >>> largest_scaling_size([(8, 100.0), (16, 190.0), (32, 300.0), (64, 600.0)])
        16
    """
    ordered = sorted(points)
    if not ordered:
        return None
    chosen = ordered[0][0]
    for (b1, t1), (b2, t2) in itertools.pairwise(ordered):
        if scaling_efficiency(b1, t1, b2, t2) < tolerance:
            break
        chosen = b2
    return chosen


def analyze_probe(
    rows: Sequence[ProbeRow],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    memory_limit: int | None = None,
    early_doublings: int = EARLY_DOUBLINGS,
    collapsed: float = COLLAPSED_EFFICIENCY,
) -> BatchSizeProbe:
    """Efficiencies, the largest size that scales, why the probe stopped, and the warnings."""
    ordered = sorted(rows, key=lambda r: r.batch_size)
    out: list[ProbeRow] = []
    previous: ProbeRow | None = None
    for row in ordered:
        eps = row.examples_per_second
        if eps is not None and previous is not None and previous.examples_per_second:
            eff = scaling_efficiency(
                previous.batch_size, previous.examples_per_second, row.batch_size, eps
            )
            row = replace(row, efficiency=eff)
        out.append(row)
        if eps is not None:
            previous = row
    measured = [r for r in out if r.examples_per_second is not None]
    largest = largest_scaling_size(
        [(r.batch_size, r.examples_per_second) for r in measured if r.examples_per_second],
        tolerance,
    )
    stopped = next((r for r in out if r.status in ("oom", "failed")), None)
    stop: Stop
    if stopped is not None:
        stop = stopped.status  # type: ignore[assignment]  # "oom" | "failed"
    elif any(r.status == "not run" for r in out):
        stop = "interrupted"
    else:
        stop = "max"
    findings = _probe_findings(
        out, largest, tolerance, memory_limit, early_doublings=early_doublings, collapsed=collapsed
    )
    if stop == "failed" and stopped is not None and memory_limit is not None:
        findings.append(
            Finding(
                "probe.failed_under_limit",
                "warning",
                f"Batch {stopped.batch_size} failed without an out-of-memory message under the "
                "memory limit; a crash in native code after a failed allocation looks like this.",
                "Read its stderr (`scitune trials`) before treating it as a bug; the sizes "
                "below it are the ones that fit.",
                SECTION,
                {"batch_size": stopped.batch_size, "reason": stopped.reason},
            )
        )
    partial = [r for r in out if r.warmup_included]
    if partial:
        findings.append(
            Finding(
                "probe.warmup_included",
                "warning",
                f"Batch size(s) {[r.batch_size for r in partial]} reported no examples/second "
                "after the warm-up, so their throughput includes warm-up steps: understated, and "
                "the doubling that follows each looks better than it is.",
                "See why the trials stopped early (`scitune trials`): give them more steps or fix "
                "what ended them, and report examples/second at every evaluation.",
                SECTION,
                {str(r.batch_size): r.reason for r in partial},
            )
        )
    findings += [NOTES["accumulation"], NOTES["retune"], NOTES["training_time"]]
    return BatchSizeProbe(
        tuple(out), tolerance, largest, stop, stopped, memory_limit, tuple(findings)
    )


def _probe_findings(
    rows: Sequence[ProbeRow],
    largest: int | None,
    tolerance: float,
    memory_limit: int | None,
    *,
    early_doublings: int,
    collapsed: float,
) -> list[Finding]:
    measured = [r for r in rows if r.examples_per_second is not None]
    if largest is None or len(measured) < 2:
        return [
            Finding(
                "probe.too_few_sizes",
                "warning",
                f"Only {len(measured)} batch size(s) measured: no scaling can be judged.",
                "Start lower (--start), raise the memory limit, or fix what made the trials "
                "fail (`scitune trials`).",
                SECTION,
                {"measured": [r.batch_size for r in measured]},
            )
        ]
    if largest == measured[-1].batch_size:
        return []  # throughput still scaled at the largest size measured
    breaking = next(r for r in measured if r.batch_size > largest)
    # A slowdown right before running out of memory may be memory pressure (an allocator
    # thrashing near the limit); only a size past the break that still fitted rules that out.
    fitted_beyond = [r for r in rows if r.batch_size > breaking.batch_size and r.ran]
    doublings = math.log2(largest / measured[0].batch_size)
    flat = [r.efficiency for r in measured if r.efficiency is not None and r.efficiency < collapsed]
    if not fitted_beyond or (doublings >= early_doublings and not flat):
        return []
    biggest = fitted_beyond[-1]
    share = None
    if memory_limit and biggest.peak_memory_bytes:
        share = biggest.peak_memory_bytes / memory_limit
    when = (
        f"after {doublings:g} doubling(s) from batch {measured[0].batch_size}"
        if doublings < early_doublings
        else f"and flattened (a doubling at efficiency {min(flat):.2f})"
    )
    return [
        Finding(
            "probe.input_bottleneck",
            "warning",
            f"Throughput stopped scaling {when}: batch {breaking.batch_size} reached "
            f"{breaking.efficiency or 0:.2f} of the ideal (tolerance {tolerance:g}), while "
            f"batch {biggest.batch_size} still fitted in memory, so memory is not what limits "
            "it. Probably an input-pipeline or per-step overhead bottleneck (data loading, "
            "host-to-device copies, synchronization, Python work per step), or, on a CPU, "
            "cores already saturated at small batches.",
            "Profile a training step (§10: the input pipeline, prefetching) before choosing a "
            "batch size: larger batches bring no speed-up until the bottleneck is removed.",
            SECTION,
            {
                "scaling_until": largest,
                "doublings": doublings,
                "efficiency": breaking.efficiency,
                "tolerance": tolerance,
                "largest_fitting": biggest.batch_size,
                "peak_memory_share_of_limit": share,
                "early_doublings": early_doublings,
                "collapsed_efficiency": collapsed,
                "ours": ["tolerance", "early_doublings", "collapsed_efficiency"],
            },
        )
    ]
