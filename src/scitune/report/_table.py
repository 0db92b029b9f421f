"""The trial table's data: one row per trial, rendered and sorted in the browser."""

from __future__ import annotations

import math
from typing import Any

from scitune.analysis._snapshot import StudySnapshot
from scitune.plots._trials import trial_params

__all__ = ["STDERR_BUDGET", "STDERR_CHARS", "table_data"]

STDERR_CHARS = 1500
"""The last characters of a failed trial's stderr shown in the table."""
STDERR_BUDGET = 1_000_000
"""At most this many stderr characters in one report (a study where everything crashed)."""


def table_data(snapshot: StudySnapshot, metric: str) -> dict[str, Any]:
    """Columns and rows (plain values, not HTML: the page sets them as text).

    A study with reruns (``scitune reseed``) gets a "rerun of" column: the trial repeated.
    """
    params = trial_params(snapshot)
    names: list[str] = []
    for p in params.values():
        for name in p:
            if name not in names:
                names.append(name)
    ranks = {t.number: i + 1 for i, t in enumerate(snapshot.ranked())}
    reruns = any(t.parent_number is not None for t in snapshot.trials)
    rows: list[list[Any]] = []
    budget = STDERR_BUDGET
    omitted = 0
    for t in sorted(snapshot.trials, key=lambda t: t.number):
        value = t.value if t.value is not None and math.isfinite(t.value) else None
        stderr = t.stderr_tail
        if stderr:
            stderr = stderr[-STDERR_CHARS:]
            if len(stderr) > budget:
                stderr, omitted = None, omitted + 1
            else:
                budget -= len(stderr)
        violated = snapshot.violations.get(t.id) or ()
        reason = t.reason or ""
        if violated:
            reason = (reason + "; " if reason else "") + "breaks " + ", ".join(violated)
        p = params.get(t.number, {})
        rows.append(
            [
                t.number,
                t.state.value,
                value,
                t.value_step,
                ranks.get(t.number),
                *[p.get(name) for name in names],
                *([t.parent_number] if reruns else []),
                reason,
                stderr,
            ]
        )
    return {
        "columns": [
            "trial",
            "state",
            metric,
            "step",
            "rank",
            *names,
            *(["rerun of"] if reruns else []),
            "reason",
        ],
        "params": len(names),
        "rows": rows,
        "stderr_omitted": omitted,
    }
