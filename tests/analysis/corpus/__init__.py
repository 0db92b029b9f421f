"""A validation corpus of real training curves, and the loader that turns one into a snapshot.

``data/*.json.gz`` holds one study each, exported by :mod:`tests.analysis.corpus.generate` after
a real run (the study files are in ``studies/``): the spec as stored, every trial and every
logged point of every curve (nothing downsampled), without the models. ``labels.toml`` says
what the curves show, judged by eye from their plots; ``tests/analysis/test_corpus.py`` runs
every check on every study against those labels and :mod:`tests.analysis.corpus.score` prints
each check's precision and recall.

Format (``"format": 1``)::

    {"format": 1, "study": name, "spec": {...}, "generated": {...},
     "trials": [{"number", "state", "params", "seed", "slot", "slot_index", "value",
                 "value_step", "parent_number", "reason", "warnings"}, ...],
     "curves": {"<trial number>": {"<metric>": {"steps": [...], "values": [...]}}}}

Values are JSON numbers, non-finite ones the strings ``"nan"``, ``"inf"``, ``"-inf"``.

Example:
    >>> from tests.analysis.corpus import load_snapshot, study_files
    >>> snapshot = load_snapshot(study_files()[0])  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from scitune.analysis import StudySnapshot
from scitune.spec import StudySpec
from scitune.storage import Curve, FrozenTrial, TrialState

__all__ = [
    "DATA",
    "FORMAT",
    "HERE",
    "LABELS",
    "STUDIES",
    "dump_study",
    "load_snapshot",
    "read_study",
    "study_files",
]

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
STUDIES = HERE / "studies"
LABELS = HERE / "labels.toml"
FORMAT = 1
_T0 = datetime(2024, 1, 1, tzinfo=UTC)  # trials' timestamps are not part of the corpus
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def study_files() -> list[Path]:
    """Every exported study, by file name."""
    return sorted(DATA.glob("*.json.gz"))


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)  # "nan", "inf", "-inf"


def _float(x: float | str) -> float:
    return _NON_FINITE[x] if isinstance(x, str) else float(x)


def dump_study(
    path: Path,
    *,
    spec: Mapping[str, Any],
    trials: Sequence[FrozenTrial],
    curves: Mapping[int, Mapping[str, Curve]],
    generated: Mapping[str, Any],
) -> None:
    """Write one study in the corpus format (``curves`` keyed by trial id, as the store gives)."""
    data = {
        "format": FORMAT,
        "study": spec["name"],
        "spec": dict(spec),
        "generated": dict(generated),
        "trials": [
            {
                "number": t.number,
                "state": t.state.value,
                "params": dict(t.params),
                "seed": t.seed,
                "slot": t.slot,
                "slot_index": t.slot_index,
                "value": None if t.value is None else _number(t.value),
                "value_step": t.value_step,
                "parent_number": t.parent_number,
                "reason": t.reason,
                "warnings": list(t.warnings),
            }
            for t in trials
        ],
        "curves": {
            str(t.number): {
                metric: {
                    "steps": [int(s) for s in c.steps],
                    "values": [_number(float(v)) for v in c.values],
                }
                for metric, c in sorted(curves.get(t.id, {}).items())
            }
            for t in trials
        },
    }
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    # mtime=0: the same curves give the same bytes (a regenerated corpus diffs only where it moved)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(text.encode())


def read_study(path: Path) -> dict[str, Any]:
    """The raw record of one exported study."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: corpus format {data.get('format')!r}, expected {FORMAT}.")
    return data


def load_snapshot(path: Path) -> StudySnapshot:
    """Rebuild the :class:`StudySnapshot` the analysis read when the study was exported.

    Trial ids are ``number + 1`` (the store's own ids are not part of the corpus).
    """
    data = read_study(path)
    spec = StudySpec.from_dict(data["spec"])
    trials = []
    curves: dict[int, dict[str, Curve]] = {}
    for t in data["trials"]:
        trial_id = t["number"] + 1
        trials.append(
            FrozenTrial(
                id=trial_id,
                study_id=1,
                number=t["number"],
                state=TrialState(t["state"]),
                params=t["params"],
                seed=t["seed"],
                slot=t["slot"],
                slot_index=t["slot_index"],
                parent_number=t["parent_number"],
                created_at=_T0,
                value=None if t["value"] is None else _float(t["value"]),
                value_step=t["value_step"],
                reason=t["reason"],
                warnings=tuple(t["warnings"]),
            )
        )
        curves[trial_id] = {
            metric: Curve(
                np.asarray(c["steps"], dtype=np.int64),
                np.asarray([_float(v) for v in c["values"]], dtype=np.float64),
            )
            for metric, c in data["curves"].get(str(t["number"]), {}).items()
        }
    return StudySnapshot.build(spec, trials, curves)
