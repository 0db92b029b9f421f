"""Search spaces: typed hyperparameter domains, their unit-cube transforms, conditional axes.

A sampler works in the unit cube ``[0, 1]^d``; each domain maps a coordinate to a value and back.
The transforms are exact at the bounds (``0 -> low``, ``1 -> high``) and never leave the range.

Conditional axes exist only under one value of a categorical parent. ``learning_rate`` under
``optimizer=adam`` and ``learning_rate`` under ``optimizer=nesterov`` are two axes with two keys
(``learning_rate[optimizer=adam]``, ``learning_rate[optimizer=nesterov]``); a trial still sees a
plain ``params["learning_rate"]``.

Example:
    >>> lr = FloatDomain(1e-4, 1e-1, "log")
    >>> lr.from_unit(0.0), lr.from_unit(1.0)
    (0.0001, 0.1)
    >>> round(lr.from_unit(0.5), 6)
    0.003162
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from scitune.errors import InvalidSpaceError

__all__ = [
    "Axis",
    "ChoiceDomain",
    "Domain",
    "FloatDomain",
    "IntDomain",
    "Scale",
    "Space",
    "Value",
]

Value: TypeAlias = float | int | str | bool
Scale = Literal["linear", "log", "reverse_log"]
FloatArray: TypeAlias = npt.NDArray[np.float64]

#: Integer bounds stay within 2**53 of zero: the transforms run in float64, which past that
#: cannot tell neighbouring integers apart (and rounds 2**63 - 1 up, out of int64).
MAX_INT_BOUND = 2**53
_MAX_FLOAT = float(np.finfo(np.float64).max)


def _as_float(value: Value) -> float:
    if isinstance(value, str):
        raise InvalidSpaceError(f"expected a number for a range, got the string {value!r}.")
    return float(value)


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpaceError(f"'{name}' must be a number, got {value!r}.")
    try:
        number = float(value)
    except OverflowError:  # an int past float's range
        number = math.inf
    if not math.isfinite(number):
        raise InvalidSpaceError(f"'{name}' must be finite, got {_shown(value)}.")
    return number


def _shown(value: object) -> str:
    # repr() refuses integers past 4300 digits; nobody wants to read those anyway.
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)


@dataclass(frozen=True)
class FloatDomain:
    """A real interval ``[low, high]`` sampled uniformly in ``scale`` coordinates.

    ``log`` spreads samples evenly over orders of magnitude (learning rates, weight decay).
    ``reverse_log`` crowds them towards ``high`` (Adam's beta1/beta2): ``low + high - x`` is
    log-uniform, the definition Vizier uses.
    """

    low: float
    high: float
    scale: Scale = "linear"

    def __post_init__(self) -> None:
        low = _check_number("low", self.low)
        high = _check_number("high", self.high)
        if self.scale not in ("linear", "log", "reverse_log"):
            raise InvalidSpaceError(
                f"'scale' must be one of 'linear', 'log', 'reverse_log' for a float range, "
                f"got {self.scale!r}."
            )
        if not low < high:
            raise InvalidSpaceError(
                f"'low' must be < 'high', got low={self.low!r}, high={self.high!r}. "
                "Swap them, or move a single value to [fixed]."
            )
        if self.scale != "linear" and low <= 0:
            raise InvalidSpaceError(
                f"'low' must be > 0 for scale = {self.scale!r}, got {self.low!r}. "
                "Use a positive lower bound such as 1e-5, or scale = 'linear'."
            )
        # The sampler works in scale coordinates: linear ones span high - low, reverse_log ones
        # mirror x as low + high - x. Past float's range every sample would be a bound or inf.
        # (log coordinates, log(high) - log(low), are finite for any positive floats.)
        if self.scale == "linear" and not math.isfinite(high - low):
            raise InvalidSpaceError(
                f"the range is too wide: high - low overflows a 64-bit float, got low={low!r}, "
                f"high={high!r}. Narrow it (high - low must stay below {_MAX_FLOAT:.4g})."
            )
        if self.scale == "reverse_log" and not math.isfinite(low + high):
            raise InvalidSpaceError(
                f"the range is too wide for scale = 'reverse_log': low + high overflows a 64-bit "
                f"float, got low={low!r}, high={high!r}. Lower the bounds (low + high must stay "
                f"below {_MAX_FLOAT:.4g})."
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def from_unit(self, u: float) -> float:
        return float(self.from_unit_array(np.asarray([u], dtype=np.float64))[0])

    def from_unit_array(self, u: FloatArray) -> FloatArray:
        u = np.clip(u, 0.0, 1.0)
        if self.scale == "linear":
            x = self.low + u * (self.high - self.low)
        else:
            log_low, log_high = math.log(self.low), math.log(self.high)
            if self.scale == "log":
                x = np.exp(log_low + u * (log_high - log_low))
            else:
                x = self.low + self.high - np.exp(log_low + (1.0 - u) * (log_high - log_low))
        # Exact at the bounds: floating point must not turn u=1 into high*(1+eps).
        x = np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, x))
        return np.clip(x, self.low, self.high)

    def to_unit(self, value: Value) -> float:
        x = min(max(_as_float(value), self.low), self.high)
        if self.scale == "linear":
            return (x - self.low) / (self.high - self.low)
        log_low, log_high = math.log(self.low), math.log(self.high)
        if self.scale == "log":
            return (math.log(x) - log_low) / (log_high - log_low)
        mirrored = max(self.low + self.high - x, self.low)
        return 1.0 - (math.log(mirrored) - log_low) / (log_high - log_low)

    def contains(self, value: Value) -> bool:
        return (
            not isinstance(value, bool | str)
            and isinstance(value, int | float)
            and self.low <= value <= self.high
        )


@dataclass(frozen=True)
class IntDomain:
    """Integers ``low..high`` inclusive, each equally likely (``linear``) or log-spread (``log``).

    Every integer owns an equal slice of the unit interval (``log``: an equal slice of
    ``[log(low - 0.5), log(high + 0.5)]``), so the end points are as likely as the middle.
    """

    low: int
    high: int
    scale: Literal["linear", "log"] = "linear"

    def __post_init__(self) -> None:
        for name, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidSpaceError(
                    f"'{name}' must be an integer for type = 'int', got {value!r}."
                )
            if abs(value) > MAX_INT_BOUND:
                raise InvalidSpaceError(
                    f"'{name}' must be between -2**53 and 2**53 ({MAX_INT_BOUND}) for "
                    "type = 'int': the sampler maps integers through 64-bit floats, which skip "
                    f"integers past that, got {_shown(value)}. Use smaller bounds, or a float "
                    "range (no type = 'int')."
                )
        if self.scale not in ("linear", "log"):
            raise InvalidSpaceError(
                f"'scale' must be 'linear' or 'log' for an integer range, got {self.scale!r}."
            )
        if not self.low < self.high:
            raise InvalidSpaceError(
                f"'low' must be < 'high', got low={self.low!r}, high={self.high!r}. "
                "Swap them, or move a single value to [fixed]."
            )
        if self.scale == "log" and self.low < 1:
            raise InvalidSpaceError(
                f"'low' must be >= 1 for an integer range with scale = 'log', got {self.low!r}."
            )

    def _edges(self) -> tuple[float, float]:
        if self.scale == "linear":
            return self.low - 0.5, self.high + 0.5
        return math.log(self.low - 0.5), math.log(self.high + 0.5)

    def from_unit(self, u: float) -> int:
        return int(self.from_unit_array(np.asarray([u], dtype=np.float64))[0])

    def from_unit_array(self, u: FloatArray) -> npt.NDArray[np.int64]:
        lo, hi = self._edges()
        x = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        if self.scale == "log":
            x = np.exp(x)
        # Exact at the bounds: exp(log(high + 0.5)) can miss high by more than 0.5 past 1e14.
        x = np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, x))
        return np.clip(np.rint(x), self.low, self.high).astype(np.int64)

    def to_unit(self, value: Value) -> float:
        lo, hi = self._edges()
        x = min(max(_as_float(value), self.low), self.high)
        t = math.log(x) if self.scale == "log" else x
        return (t - lo) / (hi - lo)

    def contains(self, value: Value) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return self.low <= value <= self.high


@dataclass(frozen=True)
class ChoiceDomain:
    """A finite list of values (numbers, strings or booleans), each an equal slice of [0, 1]."""

    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        values = tuple(self.values)
        if not values:
            raise InvalidSpaceError("'values' must list at least one value, got [].")
        for v in values:
            if not isinstance(v, bool | int | float | str):
                raise InvalidSpaceError(
                    f"'values' may hold numbers, strings or booleans, got {v!r} "
                    f"({type(v).__name__})."
                )
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidSpaceError(f"'values' must be finite numbers, got {v!r}.")
        keys = [_value_key(v) for v in values]
        if len(set(keys)) != len(keys):
            dup = next(v for v, k in zip(values, keys, strict=True) if keys.count(k) > 1)
            raise InvalidSpaceError(f"'values' must not repeat, got {dup!r} twice.")
        object.__setattr__(self, "values", values)

    @property
    def numeric(self) -> bool:
        """True when every value is a number: the values are ordered, an axis can be plotted."""
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)

    def index_from_unit_array(self, u: FloatArray) -> npt.NDArray[np.int64]:
        n = len(self.values)
        return np.minimum((np.clip(u, 0.0, 1.0) * n).astype(np.int64), n - 1)

    def from_unit(self, u: float) -> Value:
        return self.values[int(self.index_from_unit_array(np.asarray([u]))[0])]

    def to_unit(self, value: Value) -> float:
        """The centre of the value's slice; raises if the value is not one of ``values``."""
        return (self.index(value) + 0.5) / len(self.values)

    def index(self, value: Value) -> int:
        key = _value_key(value)
        for i, v in enumerate(self.values):
            if _value_key(v) == key:
                return i
        raise InvalidSpaceError(f"{value!r} is not one of {list(self.values)!r}.")

    def contains(self, value: Value) -> bool:
        key = _value_key(value)
        return any(_value_key(v) == key for v in self.values)


Domain: TypeAlias = FloatDomain | IntDomain | ChoiceDomain


def _value_key(value: Value) -> tuple[str, Value]:
    # True == 1 == 1.0 in Python; a categorical must keep them apart.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", float(value))
    return ("str", value)


@dataclass(frozen=True)
class Axis:
    """One searchable dimension: a name, its domain, and the parent value it exists under."""

    name: str
    domain: Domain
    condition: tuple[str, Value] | None = None

    @property
    def key(self) -> str:
        """Unique name of the axis: ``lr`` or ``lr[optimizer=adam]`` for a conditional one."""
        if self.condition is None:
            return self.name
        parent, value = self.condition
        return f"{self.name}[{parent}={value}]"

    def is_active(self, config: Mapping[str, Value]) -> bool:
        if self.condition is None:
            return True
        parent, value = self.condition
        return parent in config and _value_key(config[parent]) == _value_key(value)


@dataclass(frozen=True)
class Space:
    """An ordered set of axes; conditional ones hang under an unconditional categorical parent.

    Build it with :meth:`build` or directly from axes; either way it checks itself: unique keys,
    parents that exist and are categorical, parent values that the parent can take, no nesting.
    """

    axes: tuple[Axis, ...] = ()

    def __post_init__(self) -> None:
        axes = tuple(self.axes)
        object.__setattr__(self, "axes", axes)
        plain = {a.name: a for a in axes if a.condition is None}
        seen: set[str] = set()
        owner: dict[str, str] = {}
        for axis in axes:
            if axis.key in seen:
                raise InvalidSpaceError(f"axis {axis.key!r} is defined twice.")
            seen.add(axis.key)
            if axis.condition is None:
                continue
            parent, value = axis.condition
            if axis.name in plain:
                raise InvalidSpaceError(
                    f"{axis.key!r} shadows the unconditional hyperparameter {axis.name!r}; "
                    "a name is either conditional or not."
                )
            if owner.setdefault(axis.name, parent) != parent:
                raise InvalidSpaceError(
                    f"{axis.name!r} is conditional on both {owner[axis.name]!r} and {parent!r}; "
                    "both could be active at once. Give one of them another name."
                )
            parent_axis = plain.get(parent)
            if parent_axis is not None:
                if not isinstance(parent_axis.domain, ChoiceDomain):
                    raise InvalidSpaceError(
                        f"{axis.key!r} hangs under {parent!r}, which is a range; a parent must be "
                        "categorical ({values = [...]})."
                    )
                if not parent_axis.domain.contains(value):
                    raise InvalidSpaceError(
                        f"{axis.key!r} hangs under {parent}={value!r}, but {parent!r} takes only "
                        f"{list(parent_axis.domain.values)!r}."
                    )

    def __len__(self) -> int:
        return len(self.axes)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        """Distinct hyperparameter names, in axis order."""
        return tuple(dict.fromkeys(a.name for a in self.axes))

    def resolve(self, context: Mapping[str, Value]) -> Space:
        """Drop conditional axes whose parent is set in ``context`` to another value.

        Axes whose parent is in ``context`` and matches stay (keeping their namespaced key);
        axes whose parent is not in ``context`` are kept for the sampler to switch per config.
        """
        kept = []
        for axis in self.axes:
            if (
                axis.condition is not None
                and axis.condition[0] in context
                and not axis.is_active(context)
            ):
                continue
            kept.append(axis)
        return Space(tuple(kept))

    def configs_from_unit(
        self, points: FloatArray, context: Mapping[str, Value] | None = None
    ) -> list[dict[str, Value]]:
        """Map rows of ``points`` (shape ``(n, len(self))``) to configurations.

        Unconditional axes are decoded first; a conditional axis contributes only when its parent
        (decoded, or given in ``context``) has its value. Inactive coordinates are ignored.
        """
        points = np.asarray(points, dtype=np.float64)
        n = points.shape[0] if points.ndim == 2 else 0
        points = points.reshape(n, len(self.axes))
        columns: dict[str, list[Value]] = {}
        for j, axis in enumerate(self.axes):
            columns[axis.key] = _decode_column(axis.domain, points[:, j])
        base = dict(context or {})
        configs: list[dict[str, Value]] = []
        for i in range(n):
            view = dict(base)  # what a condition may look at: context plus decoded parents
            config: dict[str, Value] = {}
            for axis in self.axes:
                if axis.condition is None:
                    config[axis.name] = view[axis.name] = columns[axis.key][i]
            for axis in self.axes:
                if axis.condition is not None and axis.is_active(view):
                    config[axis.name] = columns[axis.key][i]
            configs.append(config)
        return configs

    def to_unit(self, config: Mapping[str, Value]) -> FloatArray:
        """Coordinates of ``config`` in this space; NaN for axes inactive or absent in it."""
        out = np.full(len(self.axes), np.nan)
        for j, axis in enumerate(self.axes):
            if axis.name in config and axis.is_active(config):
                out[j] = axis.domain.to_unit(config[axis.name])
        return out

    def active_axes(self, config: Mapping[str, Value]) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if a.is_active(config))

    def is_finite(self) -> bool:
        """True when every axis is categorical, so the space can be enumerated (grid)."""
        return all(isinstance(a.domain, ChoiceDomain) for a in self.axes)

    def grid(self) -> list[dict[str, Value]]:
        """Every combination of a finite space, conditional axes expanded under their parents."""
        self._require_finite()
        configs: list[dict[str, Value]] = [{}]
        for stage in (False, True):
            for axis in self.axes:
                if (axis.condition is not None) != stage:
                    continue
                assert isinstance(axis.domain, ChoiceDomain)
                expanded: list[dict[str, Value]] = []
                for config in configs:
                    if axis.is_active(config):
                        expanded.extend({**config, axis.name: v} for v in axis.domain.values)
                    else:
                        expanded.append(config)
                configs = expanded
        return configs

    def grid_size(self, context: Mapping[str, Value] | None = None) -> int:
        """How many configurations a grid of this finite space holds, counted without listing.

        A conditional axis multiplies the count under its parent's value: under each value of a
        parent in the space, under the value ``context`` gives, and for a parent given by neither,
        under the value that gives most (so that the count bounds every context).

        Example:
            >>> s = Space.build(
            ...     {"optimizer": ChoiceDomain(("adam", "sgd")), "lr": ChoiceDomain((0.1, 0.01))},
            ...     {"optimizer": {"adam": {"beta1": ChoiceDomain((0.9, 0.99, 0.999))}}},
            ... )
            >>> s.grid_size(), len(s.grid())
            (8, 8)
        """
        self._require_finite()
        view = context or {}
        # Per parent: the product of its conditional axes' sizes under each of its values.
        under: dict[str, dict[tuple[str, Value], int]] = {}
        for axis in self.axes:
            if axis.condition is not None:
                assert isinstance(axis.domain, ChoiceDomain)
                parent, value = axis.condition
                by_value = under.setdefault(parent, {})
                key = _value_key(value)
                by_value[key] = by_value.get(key, 1) * len(axis.domain.values)
        size = 1
        for axis in self.axes:
            if axis.condition is None:
                assert isinstance(axis.domain, ChoiceDomain)
                by_value = under.pop(axis.name, {})
                size *= sum(by_value.get(_value_key(v), 1) for v in axis.domain.values)
        for parent, by_value in under.items():
            if parent in view:
                size *= by_value.get(_value_key(view[parent]), 1)
            else:
                size *= max(by_value.values())
        return size

    def _require_finite(self) -> None:
        if not self.is_finite():
            ranged = [a.key for a in self.axes if not isinstance(a.domain, ChoiceDomain)]
            raise InvalidSpaceError(
                f"a grid needs finite values on every axis; {ranged} are ranges. "
                "Give them {values = [...]} or use sampler = 'quasirandom'."
            )

    @classmethod
    def build(
        cls,
        params: Mapping[str, Domain],
        conditional: Mapping[str, Mapping[Value, Mapping[str, Domain]]] | None = None,
    ) -> Space:
        """Build a space from plain domains and ``{parent: {value: {name: domain}}}``.

        Example:
            >>> s = Space.build(
            ...     {"optimizer": ChoiceDomain(("adam", "sgd"))},
            ...     {"optimizer": {"adam": {"beta1": FloatDomain(0.5, 0.99, "reverse_log")}}},
            ... )
            >>> s.keys
            ('optimizer', 'beta1[optimizer=adam]')
        """
        axes = [Axis(name, domain) for name, domain in params.items()]
        for parent, by_value in (conditional or {}).items():
            for value, sub in by_value.items():
                axes.extend(Axis(name, domain, (parent, value)) for name, domain in sub.items())
        return cls(tuple(axes))


def _decode_column(domain: Domain, u: FloatArray) -> list[Value]:
    if isinstance(domain, ChoiceDomain):
        return [domain.values[i] for i in domain.index_from_unit_array(u)]
    decoded: list[Value] = domain.from_unit_array(u).tolist()
    return decoded
