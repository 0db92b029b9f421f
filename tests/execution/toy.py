"""A toy training entrypoint for runner tests: behaviour chosen by the ``mode`` parameter."""

from __future__ import annotations

import math
import os
import random
import time

import scitune


def main(trial: scitune.Trial) -> None:
    lr = float(trial.params["learning_rate"])
    mode = trial.params.get("mode", "ok")
    delay = float(os.environ.get("TOY_DELAY", "0"))
    # Retrain noise: a per-seed offset, as if the seed changed the run (TOY_NOISE is its sd).
    offset = random.Random(trial.seed).gauss(0.0, float(os.environ.get("TOY_NOISE", "0")))
    if mode == "crash":
        raise ValueError(f"toy crash at lr={lr}")
    if mode == "hang":
        time.sleep(600)
    for step in range(10, trial.max_train_steps + 1, 10):
        # A bowl in log10(lr) with its floor at 1e-2, improving with steps, plus a late bump
        # so that the best step is not always the last one.
        dev = (math.log10(lr) + 2) ** 2 + 1.0 / step + (0.01 if step > 80 else 0.0) + offset
        if mode == "nan" and step >= 50:
            dev = math.nan
        trial.report(step, train_loss=dev / 2, dev_error=dev)
        if mode == "infeasible" and step == 30:
            raise scitune.Infeasible("toy says this configuration diverges")
        if mode == "silent":
            continue
        time.sleep(delay)
    if mode == "exit3":
        raise SystemExit(3)
