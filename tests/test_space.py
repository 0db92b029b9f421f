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


# --- bounds: every accepted range samples finite values inside it --------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)


@given(finite_floats, finite_floats)
def test_linear_range_is_accepted_exactly_when_its_width_is_a_float(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    if not low < high:
        return
    if not math.isfinite(high - low):
        with pytest.raises(InvalidSpaceError, match="too wide: high - low overflows"):
            FloatDomain(low, high)
        return
    x = FloatDomain(low, high).from_unit_array(np.linspace(0, 1, 11))
    assert np.all(np.isfinite(x)) and x[0] == low and x[-1] == high
    assert np.all((x >= low) & (x <= high))


@given(st.floats(min_value=5e-324, allow_infinity=False), st.floats(min_value=5e-324))
def test_reverse_log_range_needs_a_finite_mirror(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    if not low < high or not math.isfinite(high):
        return
    if not math.isfinite(low + high):
        with pytest.raises(InvalidSpaceError, match="low \\+ high overflows"):
            FloatDomain(low, high, "reverse_log")
        return
    x = FloatDomain(low, high, "reverse_log").from_unit_array(np.linspace(0, 1, 11))
    assert np.all(np.isfinite(x)) and np.all((x >= low) & (x <= high))


def test_log_range_may_span_every_positive_float() -> None:
    d = FloatDomain(5e-324, 1.7e308, "log")
    x = d.from_unit_array(np.linspace(0, 1, 101))
    assert np.all(np.isfinite(x)) and x[0] == 5e-324 and x[-1] == 1.7e308
    assert np.all(np.diff(x) > 0)


def test_too_wide_range_says_why_and_the_fix() -> None:
    with pytest.raises(InvalidSpaceError) as info:
        FloatDomain(-1e308, 1e308)
    message = str(info.value)
    assert "got low=-1e+308, high=1e+308" in message
    assert "Narrow it" in message and "1.798e+308" in message


@pytest.mark.parametrize("bound", [10**400, -(10**400)])
def test_integer_bound_past_float_range_is_a_space_error(bound: int) -> None:
    with pytest.raises(InvalidSpaceError, match="must be finite, got an integer of 1329 bits"):
        FloatDomain(min(bound, 0), max(bound, 0) or 1)


@pytest.mark.parametrize(
    ("low", "high", "side"),
    [
        (0, 2**53 + 1, "high"),
        (-(2**63) + 1, 0, "low"),
        (1, 2**63 - 1, "high"),
        (0, 10**400, "high"),
    ],
)
def test_int_bounds_stay_within_2_to_the_53(low: int, high: int, side: str) -> None:
    with pytest.raises(InvalidSpaceError) as info:
        IntDomain(low, high)
    message = str(info.value)
    assert message.startswith(f"'{side}' must be between -2**53 and 2**53 (9007199254740992)")
    assert "Use smaller bounds" in message
    assert len(message) < 400  # a 400-digit integer is not printed


@given(
    st.integers(-(2**53), 2**53 - 1),
    st.integers(1, 2**53),
    st.sampled_from(["linear", "log"]),
)
def test_int_range_at_any_accepted_bounds_samples_exact_in_range_integers(
    low: int, width: int, scale: str
) -> None:
    if scale == "log":
        low = abs(low) + 1
    high = min(low + width, 2**53)
    if not low < high:
        return
    d = IntDomain(low, high, scale)  # type: ignore[arg-type]
    assert d.from_unit(0.0) == low and d.from_unit(1.0) == high
    x = d.from_unit_array(np.linspace(0, 1, 101))
    assert np.all((x >= low) & (x <= high)) and np.all(np.diff(x) >= 0)


# --- grid_size: the grid's length, counted without listing it ------------------------------------


@st.composite
def finite_spaces(draw: st.DrawFn) -> Space:
    plain = {
        f"p{i}": ChoiceDomain(tuple(range(draw(st.integers(1, 3)))))
        for i in range(draw(st.integers(0, 4)))
    }
    conditional: dict[str, dict[object, dict[str, ChoiceDomain]]] = {}
    for i, (parent, domain) in enumerate(plain.items()):
        if draw(st.booleans()):
            value = draw(st.sampled_from(domain.values))
            conditional[parent] = {
                value: {
                    f"c{i}_{j}": ChoiceDomain(tuple(range(draw(st.integers(1, 3)))))
                    for j in range(draw(st.integers(1, 2)))
                }
            }
    return Space.build(plain, conditional)  # type: ignore[arg-type]


@given(finite_spaces())
def test_grid_size_is_the_grids_length(space: Space) -> None:
    assert space.grid_size() == len(space.grid())


def test_grid_size_under_a_parent_outside_the_space() -> None:
    space = Space.build(
        {"lr": ChoiceDomain((0.1, 0.01))},
        {
            "opt": {
                "adam": {"b1": ChoiceDomain((0.9, 0.99)), "b2": ChoiceDomain((0.99, 0.999))},
                "sgd": {"momentum": ChoiceDomain((0.0, 0.9, 0.99))},
            }
        },
    )
    assert space.grid_size({"opt": "adam"}) == 2 * 4
    assert space.grid_size({"opt": "sgd"}) == 2 * 3
    assert space.grid_size({"opt": "rmsprop"}) == 2
    assert space.grid_size() == 2 * 4  # unknown parent: the largest of its values


def test_grid_size_counts_huge_grids_without_listing_them() -> None:
    space = Space.build({f"x{i}": ChoiceDomain(tuple(range(10))) for i in range(400)})
    assert space.grid_size() == 10**400
    with pytest.raises(InvalidSpaceError, match="a grid needs finite values"):
        Space.build({"x": FloatDomain(0, 1)}).grid_size()
