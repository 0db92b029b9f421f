"""Training throughput in examples per second, evaluation and warm-up excluded (§1).

The batch-size probe compares throughput across batch sizes, so the number must be honest: on an
accelerator the clock is read only after queued work has finished (the ``synchronize`` hook),
and the first steps (compilation, allocator and cache warm-up) can be left out. torch is imported
only to build a device's synchronize function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from scitune.errors import IntegrationError

if TYPE_CHECKING:
    import torch

__all__ = ["ThroughputMeter", "device_synchronizer"]


def _no_sync() -> None:
    return None


def device_synchronizer(device: torch.device | str | None) -> Callable[[], None]:
    """A function that waits for ``device``'s queued work: CUDA, MPS, XPU; a no-op otherwise.

    Example:
        >>> device_synchronizer("cpu")()  # nothing to wait for
    """
    if device is None:
        return _no_sync
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    if dev.type == "mps":
        return torch.mps.synchronize
    if dev.type == "xpu":
        return lambda: torch.xpu.synchronize(dev)
    return _no_sync


class ThroughputMeter:
    """Counts training steps and examples against the time spent training.

    The meter runs from construction (and from :meth:`reset`); time between :meth:`pause` and
    :meth:`resume` (evaluation, checkpointing, logging) is not counted. Call :meth:`step` after
    each optimizer step with the number of examples it used. The first ``warmup_steps`` steps
    are left out, their time included: measurement starts when the last of them ends.

    The clock is read after ``synchronize()`` at every boundary that matters — pause, the end of
    warm-up, reset, and reading :attr:`seconds` while running — but not at every step, so that
    host and device keep overlapping. Pass ``device`` (``"cuda"``: ``torch.cuda.synchronize``;
    CPU: nothing) or your own ``synchronize``; ``clock`` is injectable for tests.

    Example:
        >>> meter = ThroughputMeter(warmup_steps=1)
        >>> for step in range(10):  # doctest: +SKIP
        ...     train_step(batch)
        ...     meter.step(len(batch))
        >>> with meter.paused():  # doctest: +SKIP
        ...     evaluate(model)
        >>> meter.examples_per_second  # doctest: +SKIP
        51234.5
    """

    def __init__(
        self,
        *,
        warmup_steps: int = 0,
        device: torch.device | str | None = None,
        synchronize: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise IntegrationError(
                f"ThroughputMeter: 'warmup_steps' must be an integer >= 0, got {warmup_steps!r}."
            )
        if device is not None and synchronize is not None:
            raise IntegrationError(
                "ThroughputMeter: pass 'device' or 'synchronize', not both: the device only "
                "chooses the synchronize function."
            )
        self.warmup_steps = warmup_steps
        self._sync = synchronize if synchronize is not None else device_synchronizer(device)
        self._clock = clock
        self._warmup_left = warmup_steps
        self._steps = 0
        self._examples = 0
        self._elapsed = 0.0
        self._running = True
        self._mark = clock()

    @property
    def running(self) -> bool:
        """False between :meth:`pause` and :meth:`resume`."""
        return self._running

    @property
    def steps(self) -> int:
        """Steps counted since the last reset (warm-up steps excluded)."""
        return self._steps

    @property
    def examples(self) -> int:
        """Examples counted since the last reset (warm-up steps' excluded)."""
        return self._examples

    @property
    def seconds(self) -> float:
        """Training time counted since the last reset (or the end of warm-up)."""
        if not self._running:
            return self._elapsed
        self._sync()
        return self._elapsed + (self._clock() - self._mark)

    @property
    def examples_per_second(self) -> float:
        """Examples per second of training time; NaN before any counted step."""
        seconds = self.seconds
        if self._steps == 0 or seconds <= 0:
            return math.nan
        return self._examples / seconds

    @property
    def seconds_per_step(self) -> float:
        """Training time per counted step; NaN before any counted step."""
        if self._steps == 0:
            return math.nan
        return self.seconds / self._steps

    def step(self, examples: int) -> None:
        """Record one finished training step that used ``examples`` examples."""
        if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
            raise IntegrationError(
                f"ThroughputMeter.step: 'examples' must be an integer >= 0 (the batch size), "
                f"got {examples!r}."
            )
        if self._warmup_left > 0:
            self._warmup_left -= 1
            if self._warmup_left == 0:  # warm-up over: measure from here
                self._restart(running=self._running)
            return
        self._steps += 1
        self._examples += examples

    def pause(self) -> None:
        """Stop counting time (before evaluation); a no-op when already paused."""
        if self._running:
            self._sync()
            self._elapsed += self._clock() - self._mark
            self._running = False

    def resume(self) -> None:
        """Count time again (after evaluation); a no-op when already running."""
        if not self._running:
            self._running = True
            self._mark = self._clock()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """``with meter.paused(): evaluate()`` — the block's time is not counted."""
        was_running = self._running
        self.pause()
        try:
            yield
        finally:
            if was_running:
                self.resume()

    def reset(self) -> None:
        """Start a new interval now, running, with zero steps, examples and time.

        Warm-up is not repeated: it covers one-time costs (compilation, allocator growth).
        """
        self._steps = 0
        self._examples = 0
        self._restart(running=True)

    def _restart(self, *, running: bool) -> None:
        self._sync()  # work queued before this point belongs to the previous interval
        self._elapsed = 0.0
        self._running = running
        self._mark = self._clock()
