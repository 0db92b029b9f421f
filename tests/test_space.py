"""Search spaces: validation messages, exact transforms, conditional axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scitune.errors import InvalidSpaceError
from scitune.space import Axis, ChoiceDomain, FloatDomain, IntDomain, Space

scales = st.sampled_from(["linear", "log", "reverse_log"])


@st.composite
def float_domains(draw: st.DrawFn) -> FloatDomain:
    scale = draw(scales)
    low = draw(st.floats(1e-8, 1e3) if scale != "linear" else st.floats(-1e3, 1e3))
    width = draw(st.floats(1e-6, 1e3))
    return FloatDomain(low, low + width * max(1.0, abs(low)), scale)


@given(float_domains())
def test_float_transform_is_exact_at_bounds_and_stays_inside(domain: FloatDomain) -> None:
    assert domain.from_unit(0.0) == domain.low
    assert domain.from_unit(1.0) == domain.high
    u = np.linspace(0, 1, 101)
    x = domain.from_unit_array(u)
    assert np.all(x >= domain.low) and np.all(x <= domain.high)
    assert np.all(np.diff(x) >= 0)  # monotone


@given(float_domains(), st.floats(0.0, 1.0))
def test_float_to_unit_inverts_from_unit(domain: FloatDomain, u: float) -> None:
    x = domain.from_unit(u)
    if domain.high - domain.low > 1e-9 * max(abs(domain.low), abs(domain.high), 1.0):
        assert domain.from_unit(domain.to_unit(x)) == pytest.approx(x, rel=1e-6, abs=1e-9)


def test_log_scale_spreads_over_orders_of_magnitude() -> None:
    lr = FloatDomain(1e-4, 1e-1, "log")
    assert lr.from_unit(0.5) == pytest.approx(math.sqrt(1e-4 * 1e-1))
    assert lr.to_unit(1e-3) == pytest.approx(1 / 3)


def test_reverse_log_crowds_towards_high() -> None:
    beta = FloatDomain(0.5, 0.99, "reverse_log")
    x = beta.from_unit_array(np.linspace(0, 1, 1001))
    assert np.mean(x > 0.9) > np.mean(x < 0.6)


@given(st.integers(-50, 50), st.integers(1, 100), st.sampled_from(["linear", "log"]))
def test_int_domain_covers_every_integer_equally(low: int, width: int, scale: str) -> None:
    if scale == "log":
        low = abs(low) + 1
    d = IntDomain(low, low + width, scale)  # type: ignore[arg-type]
    assert d.from_unit(0.0) == d.low and d.from_unit(1.0) == d.high
    values = d.from_unit_array(np.linspace(0, 1, 20001))
    assert set(values.tolist()) == set(range(d.low, d.high + 1))
    if scale == "linear":
        counts = np.bincount(values - d.low)
        assert counts.max() - counts.min() <= 2


def test_choice_domain_slices_are_equal_and_keep_bool_apart_from_int() -> None:
    d = ChoiceDomain((True, 1, "1"))
    idx = d.index_from_unit_array(np.array([0.0, 0.34, 0.67, 1.0]))
    assert idx.tolist() == [0, 1, 2, 2]
    assert d.index(1) == 1 and d.index(True) == 0


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: FloatDomain(0.0, 1.0, "log"), "'low' must be > 0 for scale = 'log', got 0.0"),
        (lambda: FloatDomain(1.0, 1.0), "'low' must be < 'high'"),
        (lambda: FloatDomain(2.0, 1.0), "Swap them"),
        (lambda: FloatDomain(0.0, math.inf), "must be finite"),
        (lambda: FloatDomain(0.0, 1.0, "cubic"), "'scale' must be one of"),  # type: ignore[arg-type]
        (lambda: IntDomain(1, 2.5), "must be an integer"),  # type: ignore[arg-type]
        (lambda: IntDomain(0, 10, "log"), "'low' must be >= 1"),
        (lambda: ChoiceDomain(()), "at least one value"),
        (lambda: ChoiceDomain((1, 1.0)), "must not repeat"),
        (lambda: ChoiceDomain(([1],)), "numbers, strings or booleans"),  # type: ignore[arg-type]
    ],
)
def test_invalid_domains_say_rule_value_and_fix(build: object, fragment: str) -> None:
    with pytest.raises(InvalidSpaceError, match=None) as info:
        build()  # type: ignore[operator]
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def _optimizer_space() -> Space:
    return Space.build(
        {"optimizer": ChoiceDomain(("adam", "nesterov")), "wd": FloatDomain(1e-6, 1e-2, "log")},
        {
            "optimizer": {
                "adam": {"learning_rate": FloatDomain(1e-4, 1e-2, "log")},
                "nesterov": {"learning_rate": FloatDomain(1e-2, 1.0, "log")},
            }
        },
    )


def test_same_name_under_two_parents_is_two_axes() -> None:
    space = _optimizer_space()
    assert space.keys == (
        "optimizer",
        "wd",
        "learning_rate[optimizer=adam]",
        "learning_rate[optimizer=nesterov]",
    )
    configs = space.configs_from_unit(np.random.default_rng(0).random((200, 4)))
    for c in configs:
        assert set(c) == {"optimizer", "wd", "learning_rate"}
        if c["optimizer"] == "adam":
            assert 1e-4 <= c["learning_rate"] <= 1e-2  # type: ignore[operator]
        else:
            assert 1e-2 <= c["learning_rate"] <= 1.0  # type: ignore[operator]


def test_resolve_drops_axes_of_other_parent_values() -> None:
    space = _optimizer_space().resolve({"optimizer": "adam"})
    assert space.keys == ("optimizer", "wd", "learning_rate[optimizer=adam]")
    # Coordinates: the inactive axis is NaN, the active one its unit position.
    full = _optimizer_space()
    u = full.to_unit({"optimizer": "adam", "wd": 1e-4, "learning_rate": 1e-3})
    assert np.isnan(u[3]) and u[2] == pytest.approx(0.5)


def test_grid_expands_conditionals_under_their_parent() -> None:
    space = Space.build(
        {"opt": ChoiceDomain(("adam", "sgd"))},
        {"opt": {"adam": {"beta1": ChoiceDomain((0.8, 0.9))}}},
    )
    assert space.grid() == [
        {"opt": "adam", "beta1": 0.8},
        {"opt": "adam", "beta1": 0.9},
        {"opt": "sgd"},
    ]


@pytest.mark.parametrize(
    ("axes", "fragment"),
    [
        ((Axis("a", ChoiceDomain((1,))), Axis("a", ChoiceDomain((2,)))), "defined twice"),
        (
            (Axis("p", FloatDomain(0, 1)), Axis("x", FloatDomain(0, 1), ("p", 0.5))),
            "a parent must be categorical",
        ),
        (
            (Axis("p", ChoiceDomain(("a",))), Axis("x", FloatDomain(0, 1), ("p", "b"))),
            "takes only ['a']",
        ),
        (
            (Axis("x", FloatDomain(0, 1)), Axis("x", FloatDomain(0, 1), ("p", "a"))),
            "shadows the unconditional",
        ),
    ],
)
def test_invalid_spaces(axes: tuple[Axis, ...], fragment: str) -> None:
    with pytest.raises(InvalidSpaceError) as info:
        Space(axes)
    assert fragment in str(info.value)
