"""A fast stand-in for training, with the behaviours the stability tools must read.

Progress grows with the (effective) learning rate, capped at 1 per step: the loss falls and the
training error reaches 0 after ~45 units of progress. A learning rate above what the network
tolerates at that step (1 + step / 5: warmup helps) blows the loss up to NaN: INFEASIBLE.
The gradient norm falls with progress; with ``grad_clip`` the steps above it are counted.
"""

from __future__ import annotations

import math

import scitune


def main(trial: scitune.Trial) -> None:
    p = trial.params
    lr = float(p["learning_rate"])
    warmup = int(p.get("warmup_steps", 0))
    every = int(p.get("eval_every", 10))
    clip = p.get("grad_clip")
    drag = 1.0 + 5.0 * float(p.get("weight_decay", 0.0)) + float(p.get("dropout", 0.0))
    progress, loss_sum, n, clipped, diverging = 0.0, 0.0, 0, 0, 0.0
    for step in range(1, trial.max_train_steps + 1):
        lr_now = lr * min(1.0, step / warmup) if warmup else lr
        if lr_now > 1.0 + step / 5.0:
            diverging = diverging * 3.0 + 1.0
        progress += min(lr_now, 1.0) / drag
        loss = 2.3 * math.exp(-progress / 20.0) + diverging
        norm = 5.0 / (1.0 + progress / 10.0) * (1.0 + 0.3 * math.sin(step)) + diverging
        loss_sum, n = loss_sum + loss, n + 1
        if clip is not None:
            clipped += norm > float(clip)
        if not math.isfinite(loss) or diverging > 1e6:
            trial.report(step, train_loss=math.nan, grad_norm=norm)
            raise scitune.Infeasible(f"training loss became nan at step {step}")
        if step % every and step != trial.max_train_steps:
            continue
        train_error = max(0.0, 0.9 * math.exp(-progress / 10.0) - 0.01)
        metrics = {
            "train_loss": loss_sum / n,
            "train_error": round(train_error, 4),
            "dev_error": 0.1 + 0.8 * math.exp(-progress / 10.0) + 0.0001 * step,
            "grad_norm": norm,
            "lr": lr_now,
        }
        if clip is not None:
            metrics["clipped_share"] = clipped / n
            metrics["clipped"] = float(norm > float(clip))
        trial.report(step, **metrics)
        loss_sum, n, clipped = 0.0, 0, 0
