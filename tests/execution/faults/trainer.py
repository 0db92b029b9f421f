"""The trainer of the fault-injection test: ``python trainer.py FAULT STEPS``.

It writes up to ``STEPS`` points of the metrics ``loss`` and ``attempt`` (the attempt number, so
a curve mixing two attempts shows), with short sleeps. It saves a checkpoint in the trial's
folder (kept across attempts) every 20 steps, and a new attempt resumes from it, as real
training does: the final attempt then writes fewer steps than an earlier one may have, and
points of the earlier one left in the store would show. Among the points are lines to skip:
garbage bytes, a bad value next to good ones, a step beyond int64; a step is reported twice
(the last value counts) and ``null``, NaN and an infinity appear. With ``FAULT`` = ``truncate``
it opens its metrics file with "w" once, two steps before its end, against the protocol.

Its pid and attempt go to ``pids.txt`` in the attempt's folder so the test finds every process.
Orphaned (its runner was killed), it lingers after its last step, as a stuck data-loader worker
would, until the next runner ends it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STEP_SLEEP_S = 0.05
CHECKPOINT_EVERY = 20
TRUNCATE_BEFORE_END = 2  # steps written after a "truncate" trial rewrote its file: few, so that
# the file ends shorter than what the runner had read, which is how it notices
TRUNCATE_PAUSE_S = 1.0  # lets the runner store what came before, so that it sees the file shrink
LINGER_S = 60.0  # an orphan's life after its last step, if nobody ends it
GARBAGE = b"\xff\xfe\x00 {not json\n"
BEYOND_INT64 = 2**63


def loss(number: int, attempt: int, step: int) -> float:
    """The value a trial reports: distinct per trial, attempt and step."""
    return 1.0 / (step + 1) + attempt / 1000 + number / 1e6


def lines_for(number: int, attempt: int, step: int) -> bytes:
    """What the trainer writes at ``step``: valid lines and, every few steps, bad ones."""
    good = {"loss": loss(number, attempt, step), "attempt": attempt}
    out = []
    if step % 10 == 2:  # reported twice, the second time next to a bad value and a null
        out.append({"step": step, "metrics": {**good, "loss": -1.0}})
        good = {**good, "bad": "not a number", "acc": None}
    if step % 10 == 7:  # non-finite values are data, stored exactly
        good = {**good, "spike": float("nan") if step < 20 else "-inf"}
    if step % 10 == 8:
        out.append({"step": BEYOND_INT64, "metrics": {"loss": -2.0, "attempt": attempt}})
    out.append({"step": step, "metrics": good})
    text = b"".join(json.dumps(line).encode() + b"\n" for line in out)
    return GARBAGE + text if step % 10 == 5 else text


def save_checkpoint(path: Path, step: int) -> None:
    """Record where a later attempt resumes (written whole: a kill never leaves half a file)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"step": step}))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    fault, steps = argv[0], int(argv[1])
    context = json.loads(Path(os.environ["SCITUNE_TRIAL"]).read_text())
    number, attempt = int(context["number"]), int(context["attempt"])
    checkpoint = Path(context["dir"], "checkpoint.json")
    first = json.loads(checkpoint.read_text())["step"] if checkpoint.exists() else 0
    path = Path(os.environ["SCITUNE_METRICS"])
    with open(path.parent / "pids.txt", "a") as f:
        f.write(f"{os.getpid()} trainer {attempt}\n")
    parent = os.getppid()
    out = open(path, "ab")  # noqa: SIM115 - reopened with "w" below
    for step in range(first, steps):
        if fault == "truncate" and step == steps - TRUNCATE_BEFORE_END:
            out.close()
            time.sleep(TRUNCATE_PAUSE_S)
            out = open(path, "wb")  # noqa: SIM115 - the fault under test
        out.write(lines_for(number, attempt, step))
        out.flush()
        if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < steps:
            save_checkpoint(checkpoint, step + 1)
        time.sleep(STEP_SLEEP_S)
    out.close()
    if os.getppid() != parent:  # orphaned: wait to be ended
        deadline = time.monotonic() + LINGER_S
        while time.monotonic() < deadline:
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
