"""Choosing the batch size from measurements (§1): the throughput probe and perfect scaling.

- **Batch-size probe**: the user's configuration run for a few steps at doubling batch sizes,
  one at a time, until one runs out of memory or fails (:func:`derive_batch_size_probe`,
  :func:`run_batch_size_probe`); examples/second measured after a warm-up, the scaling
  efficiency of each doubling and the largest batch size that still scales
  (:func:`analyze_probe`). The probe is itself a study in the store: its trials hold the
  measurements.
- **Perfect scaling**: the steps each batch size needs to reach a target, each with its own tuned
  learning rate, against the perfect-scaling line (half the steps per doubling), and the
  critical batch size where returns diminish (:func:`perfect_scaling`,
  :func:`critical_batch_size`).

The playbook gives no numbers for the tolerances: :data:`DEFAULT_TOLERANCE`,
:data:`EARLY_DOUBLINGS`, :data:`COLLAPSED_EFFICIENCY` and :data:`CRITICAL_FACTOR` are scitune's
choices, named and configurable.

Example:
    >>> rows = [ProbeRow(8, "measured", 1000.0), ProbeRow(16, "measured", 1900.0),
    ...         ProbeRow(32, "measured", 2300.0), ProbeRow(64, "oom")]
    >>> probe = analyze_probe(rows)
    >>> probe.largest_scaling, probe.stop, [r.efficiency for r in probe.rows[:3]]
    (16, 'oom', [None, 0.95, 0.6052631578947368])
    >>> critical_batch_size([(32, 800), (64, 420), (128, 260), (256, 240)])
    (32, 128)
"""

from __future__ import annotations

from scitune._probe_batch import (
    COLLAPSED_EFFICIENCY,
    DEFAULT_TOLERANCE,
    EARLY_DOUBLINGS,
    NOTES,
    BatchSizeProbe,
    ProbeRow,
    ProbeSettings,
    analyze_probe,
    batch_sizes,
    largest_scaling_size,
    measured_throughput,
    parse_bytes,
    report_interval,
    scaling_efficiency,
)
from scitune._probe_run import (
    ProbeStudy,
    UserStudy,
    derive_batch_size_probe,
    is_oom_trial,
    open_user_study,
    read_probe,
    run_batch_size_probe,
)
from scitune._probe_scaling import (
    CRITICAL_FACTOR,
    EDGE_SHARE,
    PerfectScaling,
    ScalingPoint,
    critical_batch_size,
    perfect_scaling,
    steps_to_target,
)

__all__ = [
    "COLLAPSED_EFFICIENCY",
    "CRITICAL_FACTOR",
    "DEFAULT_TOLERANCE",
    "EARLY_DOUBLINGS",
    "EDGE_SHARE",
    "NOTES",
    "BatchSizeProbe",
    "PerfectScaling",
    "ProbeRow",
    "ProbeSettings",
    "ProbeStudy",
    "ScalingPoint",
    "UserStudy",
    "analyze_probe",
    "batch_sizes",
    "critical_batch_size",
    "derive_batch_size_probe",
    "is_oom_trial",
    "largest_scaling_size",
    "measured_throughput",
    "open_user_study",
    "parse_bytes",
    "perfect_scaling",
    "read_probe",
    "report_interval",
    "run_batch_size_probe",
    "scaling_efficiency",
    "steps_to_target",
]
