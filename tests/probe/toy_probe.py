"""A fast stand-in for training with a known throughput curve and a real memory footprint.

A step costs ``overhead + cost * batch_size`` seconds (simulated, never slept), so throughput
grows with the batch while the overhead dominates and flattens after; the first report (the
warm-up) is three times slower. The "activations" are a real array of ``bytes_per_example`` per
example, so a host memory limit makes large batches fail with a MemoryError, as training does.
``mode`` = "crash" fails at batch sizes of ``crash_at`` and above; "silent" reports no
throughput; "stop_early" declares itself infeasible at the first report; "scaling" trains a
perfect-scaling study: progress per step grows as ``b / (1 + b / 128)`` (perfect scaling at
small batches, diminishing returns past 128) times a bowl in log10(lr) peaking at 1e-2.
"""

from __future__ import annotations

import math

import numpy as np

import scitune


def main(trial: scitune.Trial) -> None:
    p = trial.params
    batch = int(p["batch_size"])
    every = int(p.get("eval_every", 10))
    overhead, cost = float(p.get("overhead", 1e-3)), float(p.get("cost", 1e-5))
    mode = str(p.get("mode", "ok"))
    if mode == "crash" and batch >= int(p.get("crash_at", 64)):
        raise ValueError(f"toy crash at batch {batch}")
    if mode == "scaling":
        _scaling(trial, batch, float(p["learning_rate"]), every)
        return
    activations = np.empty(batch * int(p.get("bytes_per_example", 0)), dtype=np.uint8)
    for step in range(1, trial.max_train_steps + 1):
        if step % every and step != trial.max_train_steps:
            continue
        seconds = overhead + cost * batch
        speed = batch / seconds / (3.0 if step <= every else 1.0)
        metrics = {"dev_error": 1.0 / (step * batch) ** 0.5, "params_millions": 0.001}
        if mode != "silent":
            metrics["examples_per_second"] = speed
        trial.report(step, **metrics)
        if mode == "stop_early":
            raise scitune.Infeasible("toy stops at its first report")
    del activations


def _scaling(trial: scitune.Trial, batch: int, lr: float, every: int) -> None:
    rate = math.exp(-((math.log10(lr) + 2) ** 2)) * batch / (1 + batch / 128)
    for step in range(every, trial.max_train_steps + 1, every):
        trial.report(step, dev_error=1.0 / (1.0 + rate * step / 2000))
