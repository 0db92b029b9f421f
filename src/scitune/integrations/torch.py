"""PyTorch helpers for what the playbook asks a training loop to measure and do.

- :func:`grad_norm`, :func:`clip_grad_norm`: the global L2 norm of the unclipped gradient, to log
  at every reporting step, and clipping that returns it (§9, items 32 and 35).
- :class:`ThroughputMeter`: examples per second with evaluation and warm-up excluded, and the
  device synchronized before the clock is read (§1, the batch-size probe).
- :func:`is_oom`, :func:`is_oom_message`, :func:`host_memory_limit`: recognise an allocation
  failure, and cap the host's memory so the out-of-memory path can be reached on a CPU (§1).
- :func:`lr_schedule` (:class:`LRSchedule`), :func:`apply_lr`, :func:`make_scheduler`: warmup
  then constant, linear or cosine decay, as a pure function of the step (§9 item 34, §11 item 42),
  with the playbook's rules for extending it to a longer run (:meth:`LRSchedule.extended`).

Importing this module imports torch (``pip install 'scitune[torch]'``); ``import scitune`` does
not.

Example:
    >>> from scitune.integrations.torch import grad_norm, lr_schedule, ThroughputMeter
    >>> schedule = lr_schedule("linear", base_lr=1e-3, total_steps=1000, warmup_steps=50)
    >>> meter = ThroughputMeter()
    >>> for step in range(1000):  # doctest: +SKIP
    ...     apply_lr(optimizer, schedule(step))
    ...     loss = loss_fn(model(x), y); optimizer.zero_grad(); loss.backward()
    ...     norm = grad_norm(model)  # before clipping or the optimizer step
    ...     optimizer.step(); meter.step(len(x))
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401  (fail here, with the fix, when torch is missing)
except ImportError as e:  # pragma: no cover - torch is installed wherever the tests run
    raise ImportError(
        "scitune.integrations.torch needs PyTorch: pip install 'scitune[torch]'."
    ) from e

from scitune.integrations._torch_grads import Parameters, clip_grad_norm, grad_norm
from scitune.integrations._torch_memory import (
    OOM_MESSAGES,
    address_space_bytes,
    host_memory_limit,
    is_oom,
    is_oom_message,
)
from scitune.integrations._torch_schedules import (
    SCHEDULE_KINDS,
    LRSchedule,
    ScheduleKind,
    apply_lr,
    lr_schedule,
    make_scheduler,
)
from scitune.integrations._torch_throughput import ThroughputMeter, device_synchronizer

__all__ = [
    "OOM_MESSAGES",
    "SCHEDULE_KINDS",
    "LRSchedule",
    "Parameters",
    "ScheduleKind",
    "ThroughputMeter",
    "address_space_bytes",
    "apply_lr",
    "clip_grad_norm",
    "device_synchronizer",
    "grad_norm",
    "host_memory_limit",
    "is_oom",
    "is_oom_message",
    "lr_schedule",
    "make_scheduler",
]
