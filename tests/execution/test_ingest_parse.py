"""Reading what a trial wrote: whatever the bytes, parsing keeps every valid point and never raises.

One bad value used to stop the runner, and every later run on the same bytes (issue 10).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scitune.execution._ingest import (
    MAX_PROBLEMS,
    MetricsReader,
    ParsedLines,
    declared_infeasible,
    parse_lines,
)
from scitune.storage import CheckpointRecord, NewTrial, Storage, open_storage
from scitune.trial import MAX_STEP, check_metric_name

PATH = "runs/study/trial-7/metrics.jsonl"  # problems name it: the trial's directory is in it
GOOD = {"good": ([5], [1.0])}


def parse(*lines: object) -> ParsedLines:
    """Each line as given (bytes or str) or as JSON (anything else), one per line."""
    data = b""
    for line in lines:
        if isinstance(line, str):
            line = line.encode()
        elif not isinstance(line, bytes):
            line = json.dumps(line).encode()
        data += line + b"\n"
    return parse_lines(data, path=PATH)


def only_problem(parsed: ParsedLines, line: int = 1) -> str:
    assert len(parsed.problems) == 1 and parsed.skipped == 1, parsed.problems
    assert parsed.problems[0].startswith(f"{PATH}:{line}: ")
    return parsed.problems[0]


# -- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.25", 0.25),
        ("7", 7.0),
        ("-0.0", -0.0),
        ("NaN", math.nan),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("1e400", math.inf),  # JSON's number, as Python reads it
        ('"nan"', math.nan),
        ('" INF "', math.inf),
        ('"-inf"', -math.inf),
        ('"+Infinity"', math.inf),
        ('"-infinity"', -math.inf),
        (str(2**1023), float(2**1023)),
    ],
)
def test_numbers_and_non_finite_spellings_are_kept(text: str, expected: float) -> None:
    parsed = parse(f'{{"step": 5, "metrics": {{"x": {text}}}}}')
    assert parsed.points["x"][0] == [5]
    (value,) = parsed.points["x"][1]
    assert type(value) is float
    assert repr(value) == repr(expected)  # NaN, and the sign of zero, exactly
    assert not parsed.problems and parsed.skipped == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('"abc"', "got 'abc'"),
        ('"0.5"', "got '0.5'"),  # a number in a string is a string
        ("true", "got true"),
        ("false", "got false"),
        ("[1, 2]", "got an array of 2 items"),
        ("{}", "got an object with 0 keys"),
        (str(10**400), "must fit a 64-bit float (|x| < 1.8e308), got an integer of 1329 bits"),
    ],
)
def test_a_bad_value_skips_only_itself(text: str, fragment: str) -> None:
    parsed = parse(f'{{"step": 5, "metrics": {{"good": 1.0, "bad": {text}}}}}')
    assert dict(parsed.points) == GOOD
    problem = only_problem(parsed)
    assert "metric 'bad' skipped: a metric value must" in problem and fragment in problem


def test_null_is_no_value_and_is_skipped_silently() -> None:
    parsed = parse('{"step": 5, "metrics": {"good": 1.0, "absent": null}}')
    assert dict(parsed.points) == GOOD
    assert not parsed.problems and parsed.skipped == 0
    all_null = parse('{"step": 5, "metrics": {"absent": null}}')
    assert dict(all_null.points) == {} and all_null.skipped == 0


# -- steps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "step"),
    [("0", 0), ("100", 100), ("100.0", 100), ("-0.0", 0), (str(MAX_STEP), MAX_STEP)],
)
def test_integral_steps_in_int64_are_kept(text: str, step: int) -> None:
    parsed = parse(f'{{"step": {text}, "metrics": {{"good": 1.0}}}}')
    assert parsed.points["good"] == ([step], [1.0])
    assert type(parsed.points["good"][0][0]) is int and not parsed.problems


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-1", "'step' must be from 0 to 2**63-1 (int64), got -1"),
        (str(MAX_STEP + 1), "'step' must be from 0 to 2**63-1 (int64), got 9223372036854775808"),
        ("1e300", "'step' must be from 0 to 2**63-1 (int64), got 1e+300"),
        (str(10**400), "'step' must be from 0 to 2**63-1 (int64), got an integer of 1329 bits"),
        ("1.5", "'step' must be an integer, got 1.5"),
        ("NaN", "'step' must be an integer, got nan"),
        ("-Infinity", "'step' must be an integer, got -inf"),
        ("true", "'step' must be an integer, got true"),
        ('"100"', "'step' must be an integer, got '100'"),
        ("null", "'step' must be an integer, got null"),
        ("[1]", "'step' must be an integer, got an array of 1 items"),
    ],
)
def test_a_bad_step_skips_the_line_s_points(text: str, fragment: str) -> None:
    parsed = parse(f'{{"step": {text}, "metrics": {{"a": 1.0, "b": 2.0}}}}')
    assert dict(parsed.points) == {}
    assert only_problem(parsed) == f"{PATH}:1: {fragment}; the line's 2 metrics are skipped"


def test_a_missing_step_or_metrics_object_skips_the_line() -> None:
    parsed = parse('{"metrics": {"a": 1}}', '{"step": 1}', '{"step": 1, "metrics": {}}')
    assert dict(parsed.points) == {}
    assert parsed.skipped == 3
    assert parsed.problems[0] == f"{PATH}:1: 'step' must be an integer, got null; " + (
        "the line's 1 metrics are skipped"
    )
    assert parsed.problems[1].startswith(f'{PATH}:2: a line must be {{"step": N, "metrics"')
    assert parsed.problems[1].endswith("got 'metrics': null; skipped")
    assert parsed.problems[2].endswith("got 'metrics': an object with 0 keys; skipped")


# -- metric names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "a metric name must be a non-empty string, got ''"),
        ("x" * 256, "a metric name must have at most 255 characters, got 256"),
        ("a\u0000b", "a metric name cannot hold NUL characters or unpaired surrogates"),
        # A lone surrogate, as a \ud800 escape decodes: not storable as UTF-8 text.
        ("\ud800", "a metric name cannot hold NUL characters or unpaired surrogates"),
    ],
)
def test_a_bad_metric_name_skips_its_value(name: str, fragment: str) -> None:
    parsed = parse({"step": 5, "metrics": {"good": 1.0, name: 2.0}})
    assert dict(parsed.points) == GOOD
    problem = only_problem(parsed)
    assert f"{PATH}:1: a value skipped: {fragment}" in problem


def test_names_up_to_255_characters_of_any_script_are_kept() -> None:
    names = ["x" * 255, "λ_loss", "dev error (%)", "日本語"]
    parsed = parse({"step": 5, "metrics": dict.fromkeys(names, 1.0)})
    assert sorted(parsed.points) == sorted(names) and not parsed.problems


def test_a_duplicate_key_keeps_the_last_value_as_json_does() -> None:
    parsed = parse('{"step": 1, "step": 2, "metrics": {"a": 1, "a": "abc", "a": 3}}')
    assert dict(parsed.points) == {"a": ([2], [3.0])} and not parsed.problems


# -- infeasible ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "reason", "problem"),
    [
        (['{"infeasible": "diverged at step 40"}'], "diverged at step 40", None),
        (['{"infeasible": true}'], "declared infeasible by the trial", None),
        (['{"infeasible": false}'], None, None),
        (['{"infeasible": null}'], None, None),
        (['{"infeasible": ""}'], None, None),
        (['{"infeasible": "   "}'], None, None),
        (['{"infeasible": 0}'], None, None),
        (['{"infeasible": "a"}', '{"infeasible": "b"}'], "b", None),  # the last one says
        (['{"infeasible": "a"}', '{"infeasible": false}'], "a", None),  # false withdraws nothing
        (['{"infeasible": "nul\\u0000 \\ud800"}'], "nul ?", None),  # storable text
        (['{"infeasible": 1}'], None, "'infeasible' must be a reason (a string) or true, got 1"),
        (['{"infeasible": ["x"]}'], None, "got an array of 1 items; nothing is declared"),
        (['{"\\u0069nfeasible": "escaped key"}'], "escaped key", None),
    ],
)
def test_infeasible_lines_and_declared_infeasible_follow_one_rule(
    tmp_path: Path, lines: list[str], reason: str | None, problem: str | None
) -> None:
    parsed = parse(*lines)
    assert parsed.infeasible == reason
    if problem is None:
        assert not parsed.problems
    else:
        assert problem in only_problem(parsed)
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    assert declared_infeasible(path) == reason


def test_a_long_infeasible_reason_is_cut() -> None:
    parsed = parse({"infeasible": "x" * 10_000})
    assert parsed.infeasible is not None and len(parsed.infeasible) == 2003


def test_declared_infeasible_never_raises_on_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(
        b"\xff\xfe infeasible\n"
        + b'{"infeasible": ' + b"[" * 100_000 + b"\n"
        + b'{"infeasible": "out of memory"}\n'
        + b'{"infeasible": ' + b"1" * 5000 + b"}\n"
        + b'{"infeasible": {"deep": true}}\n'
    )  # fmt: skip
    assert declared_infeasible(path) == "out of memory"
    assert declared_infeasible(tmp_path / "missing.jsonl") is None
    assert declared_infeasible(tmp_path) is None  # a directory: unreadable, not an error


# -- checkpoints ---------------------------------------------------------------------------------


def test_a_checkpoint_keeps_its_valid_metrics() -> None:
    line = {"checkpoint": {"step": 10.0, "path": "ckpt/10.pt", "metrics": {"dev": 0.1, "n": None}}}
    parsed = parse(line, '{"checkpoint": {"step": 20, "path": "c", "metrics": {"dev": "abc"}}}')
    assert parsed.checkpoints == [
        CheckpointRecord(10, "ckpt/10.pt", {"dev": 0.1}),
        CheckpointRecord(20, "c", {}),
    ]
    assert "metric 'dev' skipped: a metric value must be" in only_problem(parsed, line=2)


@pytest.mark.parametrize(
    ("checkpoint", "fragment"),
    [
        ("5", 'a checkpoint must be {"step": N, "path": "...", "metrics": {...}}, got 5; skipped'),
        ('"c.pt"', "a checkpoint must be"),
        ('{"path": "c.pt"}', "checkpoint: 'step' must be an integer, got null; the checkpoint"),
        ('{"step": -3, "path": "c.pt"}', "checkpoint: 'step' must be from 0 to 2**63-1"),
        ('{"step": 1}', "checkpoint: 'path' must be a non-empty string without NUL"),
        (
            '{"step": 1, "path": 5}',
            "'path' must be a non-empty string without NUL characters, got 5",
        ),
        ('{"step": 1, "path": ""}', "'path' must be a non-empty string"),
        ('{"step": 1, "path": "a\\u0000b"}', "'path' must be a non-empty string without NUL"),
    ],
)
def test_a_bad_checkpoint_is_a_problem_not_a_crash(checkpoint: str, fragment: str) -> None:
    parsed = parse(f'{{"checkpoint": {checkpoint}}}', '{"step": 5, "metrics": {"good": 1}}')
    assert parsed.checkpoints == [] and dict(parsed.points) == GOOD
    assert fragment in only_problem(parsed)


def test_checkpoint_metrics_that_are_not_an_object_leave_the_checkpoint_without_them() -> None:
    parsed = parse('{"checkpoint": {"step": 1, "path": "c.pt", "metrics": [0.1]}}')
    assert parsed.checkpoints == [CheckpointRecord(1, "c.pt", {})]
    assert "'metrics' must be an object, got an array of 1 items; the checkpoint is kept" in (
        only_problem(parsed)
    )


# -- lines that are not usable at all ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"not json", "not JSON (Expecting value at column 1); the line is skipped"),
        (b'{"step": 1, "metrics": {"a": 1}', "not JSON (Expecting ',' delimiter at column 32)"),
        (b'\xff\xfe{"step": 1}', "not UTF-8 text (bad byte at column 1)"),
        (b"\x00\x01\x02\x9f garbage", "not UTF-8 text (bad byte at column 4)"),
        (b"\x00\x01\x02", "not JSON (Expecting value at column 1)"),
        (b"[" * 100_000, "JSON nested too deeply to read"),
        (b'{"a":' * 100_000, "JSON nested too deeply to read"),
        (b"1" * 5000, "not JSON that can be read: Exceeds the limit (4300 digits)"),
        (b"[1, 2]", "a line must be a JSON object, got an array of 2 items; skipped"),
        (b"42", "a line must be a JSON object, got 42; skipped"),
        (b'"text"', "a line must be a JSON object, got 'text'; skipped"),
        (b"null", "a line must be a JSON object, got null; skipped"),
    ],
)
def test_an_unusable_line_is_skipped_with_its_number_and_the_next_is_read(
    line: bytes, fragment: str
) -> None:
    parsed = parse(
        '{"step": 4, "metrics": {"good": 0.5}}', line, '{"step": 5, "metrics": {"good": 1}}'
    )
    assert dict(parsed.points) == {"good": ([4, 5], [0.5, 1.0])}
    assert parsed.count == 3
    assert fragment in only_problem(parsed, line=2)


def test_a_huge_line_is_one_problem() -> None:
    line = json.dumps({"step": 1, "metrics": {"x" * 5_000_000: 1.0}})
    parsed = parse(line, '{"step": 5, "metrics": {"good": 1}}')
    assert dict(parsed.points) == GOOD
    problem = only_problem(parsed)
    assert "got 5000000" in problem and len(problem) < 400


def test_line_numbers_count_newlines_only_and_start_at_first_line() -> None:
    data = b'\xef\xbb\xbf{"step": 1, "metrics": {"a": 1}}\r\n\n  \r\n'
    data += b'{"step": 2, "metrics": {"a": "?"}}\n'
    parsed = parse_lines(data, first_line=41, path=PATH)
    assert parsed.points["a"] == ([1], [1.0])  # a byte-order mark and CRLF endings are fine
    assert parsed.count == 2
    assert only_problem(parsed, line=44)


def test_problems_keep_the_first_few_and_count_them_all() -> None:
    bad = b'{"step": 1, "metrics": {"a": "?", "b": "?"}}\n' * 1000
    parsed = parse_lines(bad + b'{"step": 2, "metrics": {"a": 1}}\n', path=PATH)
    assert parsed.points["a"] == ([2], [1.0])
    assert len(parsed.problems) == MAX_PROBLEMS and parsed.skipped == 2000
    assert [p.split(":")[1] for p in parsed.problems] == ["1", "1", "2", "2", "3"]


# -- any bytes at all ----------------------------------------------------------------------------

NON_FINITE = ["nan", "NaN", " inf", "-Infinity", "+INF", "infinity", "-inf ", "+infinity"]
ACCEPTED_SPELLINGS = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()  # NaN and infinities included
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
edge_steps = st.sampled_from(
    [-1, 0, MAX_STEP, MAX_STEP + 1, 2.0**63, 1e300, -0.0, 1.5, math.nan, math.inf, True, "1", None]
)
hostile_metrics = st.dictionaries(st.text(max_size=8), st.floats() | json_values) | json_values
protocol_shaped = st.one_of(  # hostile values where the protocol looks, to reach every rule
    st.fixed_dictionaries({"step": edge_steps | json_values, "metrics": hostile_metrics}),
    st.fixed_dictionaries(
        {
            "checkpoint": st.fixed_dictionaries(
                {
                    "step": edge_steps | json_values,
                    "path": st.text() | json_values,
                    "metrics": hostile_metrics,
                }
            )
            | json_values
        }
    ),
    st.fixed_dictionaries({"infeasible": st.text() | json_values}),
)


@st.composite
def hostile_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "shaped", "deep"]))
    if kind == "bytes":
        line = draw(st.binary(max_size=200))
    elif kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=200_000))
        line = draw(st.sampled_from([b"[", b'{"a":', b'{"step": 1, "metrics": {"a": ['])) * depth
    else:
        value = draw(json_values if kind == "json" else protocol_shaped)
        ascii_only = draw(st.booleans())
        # Unpaired surrogates: escaped with ensure_ascii, invalid UTF-8 bytes without it.
        line = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    return line.replace(b"VALID-", b"valid-")  # only valid lines use that prefix


valid_values = (
    st.floats()
    | st.integers(min_value=-(2**1023), max_value=2**1023)
    | st.sampled_from(NON_FINITE)
    | st.none()
)
bad_values = (
    st.booleans()
    | st.text().filter(lambda s: s.strip().lower() not in ACCEPTED_SPELLINGS)
    | st.lists(json_values, max_size=2)
    | st.dictionaries(st.text(max_size=4), json_values, max_size=2)
    | st.integers(min_value=2**1024, max_value=10**400)
)
valid_steps = st.integers(min_value=0, max_value=MAX_STEP) | st.integers(0, 2**53).map(float)


@st.composite
def valid_lines(draw: st.DrawFn) -> dict[str, Any]:
    """A line with valid points (and maybe a bad value or name beside them), names filled later."""
    return {
        "kind": draw(st.sampled_from(["point", "checkpoint"])),
        "step": draw(valid_steps),
        "values": draw(st.lists(valid_values, min_size=1, max_size=4)),
        "bad": draw(st.lists(bad_values, max_size=2)),
        "bad_names": draw(st.lists(st.sampled_from(["", "VALID-" + "x" * 300]), max_size=1)),
        "crlf": draw(st.booleans()),
    }


def as_float(value: float | int | str) -> float:
    return float(value.strip().lower()) if isinstance(value, str) else float(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            valid_lines().map(lambda v: ("valid", v)), hostile_lines().map(lambda b: ("hostile", b))
        ),
        max_size=12,
    )
)
def test_any_bytes_parse_without_raising_and_keep_every_valid_point_once(
    lines: list[tuple[str, Any]],
) -> None:
    data = b""
    expected_points: Counter[tuple[str, int, str]] = Counter()
    expected_checkpoints: list[CheckpointRecord] = []
    for i, (kind, line) in enumerate(lines):
        if kind == "hostile":
            data += line + b"\n"
            continue
        step = int(line["step"])
        metrics: dict[str, object] = {f"VALID-{i}-{j}": v for j, v in enumerate(line["values"])}
        kept = {name: as_float(v) for name, v in metrics.items() if v is not None}
        metrics.update({f"BAD-{i}-{j}": v for j, v in enumerate(line["bad"])})
        metrics.update(dict.fromkeys(line["bad_names"], 1.0))
        if line["kind"] == "point":
            obj: dict[str, object] = {"step": line["step"], "metrics": metrics}
            expected_points.update((name, step, repr(v)) for name, v in kept.items())
        else:
            path = f"VALID-ckpt-{i}"
            obj = {"checkpoint": {"step": line["step"], "path": path, "metrics": metrics}}
            expected_checkpoints.append(CheckpointRecord(step, path, kept))
        data += json.dumps(obj).encode() + (b"\r\n" if line["crlf"] else b"\n")

    parsed = parse_lines(data, path=PATH)

    got_points: Counter[tuple[str, int, str]] = Counter()
    for name, (steps, values) in parsed.points.items():
        assert len(steps) == len(values) and check_metric_name(name) == name
        assert all(type(s) is int and 0 <= s <= MAX_STEP for s in steps)
        assert all(type(v) is float for v in values)
        if name.startswith("VALID-"):
            got_points.update((name, s, repr(v)) for s, v in zip(steps, values, strict=True))
    assert got_points == expected_points
    got_checkpoints = [c for c in parsed.checkpoints if c.path.startswith("VALID-")]
    assert [(c.step, c.path) for c in got_checkpoints] == [
        (c.step, c.path) for c in expected_checkpoints
    ]
    for got, want in zip(got_checkpoints, expected_checkpoints, strict=True):
        assert {k: repr(v) for k, v in got.metrics.items()} == {
            k: repr(v) for k, v in want.metrics.items()
        }
    assert not any(name.startswith("BAD-") for name in parsed.points)
    assert len(parsed.problems) <= MAX_PROBLEMS and parsed.skipped >= len(parsed.problems)
    assert all(p.startswith(f"{PATH}:") and "scitune bug" not in p for p in parsed.problems)
    assert parsed.count == sum(1 for raw in data.split(b"\n") if raw.strip())
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp, "metrics.jsonl")
        file.write_bytes(data)
        assert declared_infeasible(file) == parsed.infeasible


# -- through the real store ----------------------------------------------------------------------


def test_hostile_lines_leave_every_valid_point_in_the_store_once(tmp_path: Path) -> None:
    storage, trial_id = _claimed(tmp_path)
    study = storage.get_study("s")
    trial = storage.get_trials(study.id)[0]
    assert trial.id == trial_id
    long_name = "n" * 255
    lines = [
        b'{"step": 1, "metrics": {"loss": 0.5, "acc": "abc", "grad": NaN}}',
        b'{"step": 1e300, "metrics": {"loss": 0.1}}',
        b'{"step": 2, "metrics": {"loss": 0.4, "acc": true, "grad": "inf", "skip": null}}',
        b'{"step": 3, "metrics": {"loss": ' + str(10**400).encode() + b', "acc": [1, 2]}}',
        b'{"step": 3, "metrics": {"acc": {}, "\\u03bb": -Infinity, "'
        + long_name.encode()
        + b'": 1}}',
        b'{"checkpoint": 5}',
        b'{"checkpoint": {"step": 3, "path": "ckpt/3.pt", "metrics": {"loss": 0.3, "x": "y"}}}',
        b"\xff\xfe\x00 binary \x80",
        b"[" * 100_000,
        b'{"step": 9223372036854775808, "metrics": {"loss": 0.0}}',
        b'{"step": 4, "metrics": {"loss": 0.25, "": 1, "' + b"x" * 256 + b'": 2}}',
        b'{"step": 5.0, "metrics": {"loss": 0.2}}',
    ]
    path = tmp_path / "trial-0" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"\n".join(lines) + b"\n")

    reader = MetricsReader(storage, trial.id, path, 0)
    reader.poll(final=True)
    reader.poll(final=True)  # again: nothing new, nothing raised
    MetricsReader(storage, trial.id, path, 0).poll(final=True)  # a re-read changes nothing

    curves = storage.get_curves(study.id, trial_ids=[trial.id])[trial.id]
    assert sorted(curves) == sorted(["loss", "grad", "λ", long_name])
    assert curves["loss"].steps.tolist() == [1, 2, 4, 5]
    assert curves["loss"].values.tolist() == [0.5, 0.4, 0.25, 0.2]
    assert curves["grad"].steps.tolist() == [1, 2] and math.isnan(curves["grad"].values[0])
    assert curves["grad"].values[1] == math.inf
    assert (curves["λ"].steps.tolist(), curves["λ"].values.tolist()) == ([3], [-math.inf])
    assert curves[long_name].values.tolist() == [1.0]
    (checkpoint,) = storage.get_checkpoints(study.id)
    assert (checkpoint.step, checkpoint.path, checkpoint.metrics) == (3, "ckpt/3.pt", {"loss": 0.3})
    assert reader.problems and all(str(path) in p for p in reader.problems)


def _claimed(tmp_path: Path) -> tuple[Storage, int]:
    storage = open_storage("sqlite:///" + str(tmp_path / "s.db"))
    study = storage.create_study("s", {"goal": "g"}, {"position": 0})
    storage.add_trials(
        study.id, [NewTrial({"lr": 0.1}, seed=1)], sampler_state={"position": 1}, expected_version=0
    )
    trial = storage.claim_trial(study.id, worker="w", trial_dir=str(tmp_path / "trial-0"))
    assert trial is not None
    return storage, trial.id


def test_a_file_warning_is_never_crowded_out_by_bad_lines(tmp_path: Path) -> None:
    storage, trial_id = _claimed(tmp_path)
    path = tmp_path / "m.jsonl"
    reader = MetricsReader(storage, trial_id, path, 0)
    for step in range(1, 6):
        with path.open("ab") as f:
            f.write(b"garbage\n" * 5 + b'{"step": %d, "metrics": {"loss": 1}}\n' % step)
        reader.poll()
    path.write_bytes(b'{"step": 9, "metrics": {"loss": 0.5}}\n')  # rewritten with "w"
    reader.poll(final=True)
    (trial,) = storage.get_trials(1)
    assert any("shrank" in w for w in trial.warnings), trial.warnings
    assert sum(":" in w and "garbage" in w for w in trial.warnings) <= MAX_PROBLEMS
    assert any("25 lines, values or checkpoints skipped" in w for w in trial.warnings)


def test_line_numbers_count_from_the_start_of_the_file_after_a_resume(tmp_path: Path) -> None:
    storage, trial_id = _claimed(tmp_path)
    path = tmp_path / "m.jsonl"
    good = b"".join(b'{"step": %d, "metrics": {"loss": 1}}\n' % s for s in range(1, 11))
    path.write_bytes(good + b"garbage\n")
    reader = MetricsReader(storage, trial_id, path, len(good))  # a runner died after 10 lines
    reader.poll(final=True)
    assert reader.problems[0].startswith(f"{path}:11:"), reader.problems
