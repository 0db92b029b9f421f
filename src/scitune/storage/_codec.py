"""Exact encodings between Python values and SQL columns: typed parameters, scores, curves.

Pure functions, no database: the SQL backend (``_sql.py``) calls them on the way in and out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.space import Value
from scitune.storage._records import Curve, NewTrial
from scitune.storage._schema import ValueKind

__all__ = [
    "F64",
    "I64",
    "Params",
    "canonical_series",
    "curves_from_chunks",
    "decode_param",
    "decode_params_json",
    "decode_value",
    "dumps",
    "dumps_json",
    "encode_param",
    "encode_params_json",
    "encode_value",
    "merge_chunks",
    "new_trial_row",
    "normalize_params",
]

I64 = np.dtype("<i8")  # steps on disk: little-endian int64
F64 = np.dtype("<f8")  # values on disk: little-endian float64 (NaN and +-inf bit for bit)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Params = dict[str, Value]
Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


def dumps(obj: Mapping[str, Any], what: str) -> str:
    """``obj`` as JSON text (NaN and Infinity allowed, as Python writes them)."""
    try:
        return json.dumps(obj)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the study's {what} must be JSON-serialisable: {e}.") from e


def dumps_json(obj: Mapping[str, Any], what: str) -> str:
    """A JSON document (evidence, findings) as text: NaN and Infinity kept, as Python writes
    them; NumPy scalars and arrays become plain numbers and lists."""
    try:
        return json.dumps(dict(obj), default=_plain)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"{what} must be JSON-serialisable (dicts, lists, numbers, strings, None): {e}. "
            "Convert other values (e.g. to str) first."
        ) from e


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"got {type(obj).__name__} {obj!r}")


def new_trial_row(t: NewTrial) -> tuple[int, str, int, int | None, Params]:
    """``(seed, slot, slot_index, parent_number, params)`` of a new trial, checked and as plain
    Python values (NumPy scalars converted), exactly as they will read back."""
    if isinstance(t.seed, bool) or not isinstance(t.seed, int | np.integer):
        raise ValueError(f"a trial's seed must be an integer, got {t.seed!r}.")
    if not INT64_MIN <= int(t.seed) <= INT64_MAX:
        raise ValueError(f"a trial's seed must fit in a signed 64-bit integer, got {t.seed}.")
    parent = None if t.parent_number is None else int(t.parent_number)
    return int(t.seed), str(t.slot), int(t.slot_index), parent, normalize_params(t.params)


# -- parameters: one kind and one typed column per value ----------------------------------------
def normalize_params(params: Mapping[str, Value]) -> Params:
    """Plain Python bool / int / float / str values (NumPy scalars converted), checked."""
    out: Params = {}
    for name, v in params.items():
        if isinstance(v, bool | np.bool_):  # before int: a bool is an int to Python
            out[name] = bool(v)
        elif isinstance(v, int | np.integer):
            out[name] = int(v)
        elif isinstance(v, float | np.floating):
            out[name] = float(v)
        elif isinstance(v, str):
            out[name] = v
        else:
            raise ValueError(
                f"parameter {name!r} must be a float, int, bool or str, got "
                f"{type(v).__name__} {v!r}."
            )
    return out


def encode_param(trial_id: int, name: str, v: Value) -> dict[str, Any]:
    """A ``trial_params`` row for a value already through :func:`normalize_params`."""
    row: dict[str, Any] = {
        "trial_id": trial_id,
        "name": name,
        "float_value": None,
        "int_value": None,
        "text_value": None,
    }
    if isinstance(v, bool):
        row["kind"], row["int_value"] = "bool", int(v)
    elif isinstance(v, int):  # beyond 64 bits: exact, as text
        row["kind"] = "int"
        if INT64_MIN <= v <= INT64_MAX:
            row["int_value"] = v
        else:
            row["text_value"] = str(v)
    elif isinstance(v, float):  # NaN/+-inf: exact, as text ('nan', 'inf', '-inf')
        row["kind"] = "float"
        if math.isfinite(v):
            row["float_value"] = v
        else:
            row["text_value"] = repr(v)
    else:
        row["kind"], row["text_value"] = "str", v
    return row


def decode_param(kind: str, f: float | None, i: int | None, t: str | None) -> Value:
    """The value a ``trial_params`` row holds, with its type."""
    if kind == "float":
        return float(f) if f is not None else float(t or "nan")
    if kind == "int":
        return int(i) if i is not None else int(t or "0")
    if kind == "bool":
        return bool(i)
    return t or ""


def encode_params_json(params: Mapping[str, Value]) -> str:
    """Parameters as JSON ``{name: [kind, float_value, int_value, text_value]}``: the columns of
    a ``trial_params`` row, so types and non-finite floats survive any JSON reader."""
    rows = {}
    for name, v in normalize_params(params).items():
        row = encode_param(0, name, v)
        rows[name] = [row["kind"], row["float_value"], row["int_value"], row["text_value"]]
    return json.dumps(rows, allow_nan=False)


def decode_params_json(text: str) -> Params:
    """The parameters :func:`encode_params_json` wrote, with their types."""
    return {name: decode_param(*row) for name, row in json.loads(text).items()}


# -- scores: a finite number, or which non-finite one --------------------------------------------
def encode_value(value: float | None) -> tuple[float | None, int | None]:
    """``(value column, value_kind column)``; NULL value unless finite."""
    if value is None:
        return None, None
    v = float(value)
    if math.isnan(v):
        return None, ValueKind.NAN
    if math.isinf(v):
        return None, ValueKind.POS_INF if v > 0 else ValueKind.NEG_INF
    return v, ValueKind.FINITE


def decode_value(value: float | None, kind: int | None) -> float | None:
    if kind is None:
        return None
    if kind == ValueKind.FINITE:
        return None if value is None else float(value)
    if kind == ValueKind.POS_INF:
        return math.inf
    if kind == ValueKind.NEG_INF:
        return -math.inf
    return math.nan


# -- measurement chunks -------------------------------------------------------------------------
def canonical_series(name: str, steps: Any, values: Any) -> tuple[Steps, Values]:
    """One chunk's arrays: 1-D, little-endian, steps strictly increasing (last write wins)."""
    st = np.asarray(steps)
    if (st.dtype.kind not in "iu" and st.size) and (
        not np.all(np.isfinite(st)) or np.any(st != np.round(st))
    ):
        raise ValueError(f"metric {name!r}: steps must be integers, got {st[:5]!r}.")
    st = np.ascontiguousarray(st, dtype=I64)
    va = np.ascontiguousarray(values, dtype=F64)
    if st.ndim != 1 or st.shape != va.shape:
        raise ValueError(
            f"metric {name!r}: steps and values must be 1-D arrays of one length, got shapes "
            f"{st.shape} and {va.shape}."
        )
    if st.shape[0] > 1 and not bool(np.all(st[1:] > st[:-1])):
        st, va = _last_write_wins(st, va)
    return st, va


def _last_write_wins(steps: Steps, values: Values) -> tuple[Steps, Values]:
    # np.unique keeps the first occurrence of each step (a stable sort); reversed, that is the
    # last one written.
    unique, first = np.unique(steps[::-1], return_index=True)
    return unique.astype(I64, copy=False), values[::-1][first]


def merge_chunks(chunks: Sequence[tuple[bytes, bytes]]) -> tuple[Steps, Values]:
    """One curve from a (trial, metric)'s chunks in write order; later chunks win a step.

    Every chunk is stored sorted and unique (:func:`canonical_series`), so one chunk is read
    as it is, without a copy.
    """
    if len(chunks) == 1:
        return np.frombuffer(chunks[0][0], I64), np.frombuffer(chunks[0][1], F64)
    steps = np.concatenate([np.frombuffer(a, I64) for a, _ in chunks])
    values = np.concatenate([np.frombuffer(b, F64) for _, b in chunks])
    return _last_write_wins(steps, values)


def curves_from_chunks(
    rows: Sequence[Sequence[Any]], names: Mapping[int, str]
) -> dict[int, dict[str, Curve]]:
    """``{trial_id: {metric: Curve}}`` from rows ``(trial_id, metric_id, steps, vals)``.

    ``rows`` come ordered by trial, metric and chunk. The arrays are read-only.
    """
    out: dict[int, dict[str, Curve]] = {}
    key: tuple[int, int] | None = None
    group: list[tuple[bytes, bytes]] = []

    def flush() -> None:
        if key is None:
            return
        steps, values = merge_chunks(group)
        steps.flags.writeable = False
        values.flags.writeable = False
        out.setdefault(key[0], {})[names[key[1]]] = Curve(steps, values)

    for trial_id, metric_id, steps_blob, vals_blob in rows:
        if (trial_id, metric_id) != key:
            flush()
            key, group = (trial_id, metric_id), []
        group.append((steps_blob, vals_blob))
    flush()
    return out
