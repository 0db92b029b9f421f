"""PyTorch helpers: gradient norms, OOM detection, throughput, learning-rate schedules."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from itertools import pairwise

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import scitune.integrations.torch as sit  # noqa: E402
from scitune.errors import IntegrationError, ScituneError  # noqa: E402
from scitune.integrations.torch import (  # noqa: E402
    LRSchedule,
    ThroughputMeter,
    apply_lr,
    clip_grad_norm,
    grad_norm,
    is_oom,
    is_oom_message,
    lr_schedule,
    make_scheduler,
)

LINUX = sys.platform.startswith("linux")


def test_public_names_are_pinned() -> None:
    assert set(sit.__all__) == {
        "OOM_MESSAGES", "SCHEDULE_KINDS", "LRSchedule", "Parameters", "ScheduleKind",
        "ThroughputMeter", "address_space_bytes", "apply_lr", "clip_grad_norm",
        "device_synchronizer", "grad_norm", "host_memory_limit", "is_oom", "is_oom_message",
        "lr_schedule", "make_scheduler",
    }  # fmt: skip
    assert issubclass(IntegrationError, ScituneError) and issubclass(IntegrationError, ValueError)


# -- gradient norm ------------------------------------------------------------------------------


class TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(2, 1)
        self.second = nn.Linear(1, 1)
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)


def with_grads() -> TwoLayers:
    """first.weight grad [[3, 4]], first.bias [12]; second.* have none: norm sqrt(169) = 13."""
    model = TwoLayers()
    model.first.weight.grad = torch.tensor([[3.0, 4.0]])
    model.first.bias.grad = torch.tensor([12.0])
    return model


def test_grad_norm_is_the_global_l2_norm_skipping_params_without_grad() -> None:
    model = with_grads()
    assert model.second.weight.grad is None and model.frozen.grad is None
    assert grad_norm(model) == 13.0
    assert grad_norm(model.parameters()) == 13.0  # a generator, consumed once
    assert grad_norm([model.first.bias]) == 12.0
    assert grad_norm(model.first.weight) == 5.0  # one tensor
    assert grad_norm(model, norm_type=math.inf) == 12.0
    assert grad_norm(nn.Linear(2, 2)) == 0.0  # no gradient at all


def test_grad_norm_matches_a_hand_computation_and_clip_grad_norm_after_backward() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3))
    loss = nn.functional.cross_entropy(model(torch.randn(16, 7)), torch.randint(0, 3, (16,)))
    loss.backward()  # type: ignore[no-untyped-call]
    grads = [p.grad.double() for p in model.parameters() if p.grad is not None]
    by_hand = math.sqrt(math.fsum(float((g**2).sum()) for g in grads))
    norm = grad_norm(model)
    assert norm == pytest.approx(by_hand, rel=1e-6)
    assert clip_grad_norm(model, 1e9) == (norm, False)  # the same arithmetic, bit for bit


def test_clip_grad_norm_returns_the_unclipped_norm_and_whether_it_clipped() -> None:
    model = with_grads()
    assert clip_grad_norm(model, 100.0) == (13.0, False)
    assert model.first.bias.grad is not None and float(model.first.bias.grad) == 12.0
    norm, clipped = clip_grad_norm(model, 6.5)
    assert (norm, clipped) == (13.0, True)
    assert grad_norm(model) == pytest.approx(6.5, rel=1e-5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_gradients_propagate(bad: float) -> None:
    model = with_grads()
    assert model.first.weight.grad is not None
    model.first.weight.grad[0, 0] = bad
    norm = grad_norm(model)
    assert math.isnan(norm) if math.isnan(bad) else norm == math.inf
    clipped_norm, clipped = clip_grad_norm(model, 1.0)
    assert not math.isfinite(clipped_norm) and clipped is False


@pytest.mark.parametrize("max_norm", [0.0, -1.0, float("nan"), True, "1"])
def test_clip_grad_norm_rejects_a_bad_threshold(max_norm: object) -> None:
    with pytest.raises(IntegrationError, match="'max_norm' must be a number > 0"):
        clip_grad_norm(with_grads(), max_norm)  # type: ignore[arg-type]


# -- out of memory ------------------------------------------------------------------------------

CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 1073741824 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.mark.parametrize(
    "exc",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be reported later"),
        RuntimeError("MPS backend out of memory (MPS allocated: 9.05 GB, other allocations: 0)"),
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        RuntimeError(CPU_OOM),
        MemoryError(),
    ],
    ids=["torch-oom", "cuda-driver", "mps", "cublas", "cpu-allocator", "python"],
)
def test_is_oom_recognises_allocation_failures(exc: BaseException) -> None:
    assert is_oom(exc)
    assert is_oom_message(f"Traceback ...\n{type(exc).__name__}: {exc}")


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)"),
        ValueError("CUDA out of memory"),  # only RuntimeErrors carry the allocators' messages
        KeyboardInterrupt(),
    ],
)
def test_is_oom_rejects_other_errors(exc: BaseException) -> None:
    assert not is_oom(exc)


def test_is_oom_follows_the_exception_chain_without_looping() -> None:
    try:
        try:
            raise RuntimeError(CPU_OOM)
        except RuntimeError as oom:
            raise ValueError("the training step failed") from oom
    except ValueError as wrapped:
        assert is_oom(wrapped)
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert not is_oom(first)


def test_is_oom_message_reads_a_memory_error_traceback() -> None:
    assert is_oom_message("Traceback (most recent call last):\n  ...\nMemoryError\n")
    assert not is_oom_message("ValueError: no MemoryErrors here")


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is enforced on Linux only")
def test_host_memory_limit_turns_a_large_allocation_into_a_recognised_oom() -> None:
    # In a child process: the limit must never touch the test runner.
    out = _run_python(
        """
        import json, resource, torch
        from scitune.integrations.torch import address_space_bytes, host_memory_limit, is_oom

        before = resource.getrlimit(resource.RLIMIT_AS)
        limit = address_space_bytes() + 256 * 2**20
        error = None
        with host_memory_limit(limit):
            inside = resource.getrlimit(resource.RLIMIT_AS)[0]
            try:
                torch.empty(2**30, dtype=torch.uint8)  # 1 GiB > 256 MiB of headroom
            except BaseException as e:
                error = e
        after = resource.getrlimit(resource.RLIMIT_AS)
        torch.empty(2**30, dtype=torch.uint8)  # fine again once the limit is lifted
        print(json.dumps({"oom": is_oom(error), "type": type(error).__name__,
                          "message": str(error), "limit": limit, "inside": inside,
                          "restored": after == before}))
        """
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["oom"] is True, result
    assert result["inside"] == result["limit"] and result["restored"] is True


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is enforced on Linux only")
def test_an_uncaught_oom_under_the_limit_is_recognised_in_stderr() -> None:
    out = _run_python(
        """
        import torch
        from scitune.integrations.torch import address_space_bytes, host_memory_limit

        with host_memory_limit(address_space_bytes() + 256 * 2**20):
            torch.zeros(2**28)  # 1 GiB of float32
        """
    )
    assert out.returncode == 1 and is_oom_message(out.stderr), out.stderr


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is enforced on Linux only")
def test_host_memory_limit_refuses_a_limit_below_current_usage() -> None:
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(IntegrationError, match="current address space"):  # noqa: SIM117
        with sit.host_memory_limit(sit.address_space_bytes() // 2):
            pass
    with pytest.raises(IntegrationError, match="must be an integer"):  # noqa: SIM117
        with sit.host_memory_limit(1e12):  # type: ignore[arg-type]
            pass
    assert resource.getrlimit(resource.RLIMIT_AS) == before  # checked before any setrlimit


# -- throughput ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingSync:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_meter_counts_examples_over_training_time() -> None:
    clock = FakeClock()
    meter = ThroughputMeter(clock=clock)
    assert math.isnan(meter.examples_per_second) and math.isnan(meter.seconds_per_step)
    for _ in range(4):
        clock.advance(0.5)
        meter.step(100)
    assert (meter.steps, meter.examples, meter.seconds) == (4, 400, 2.0)
    assert meter.examples_per_second == 200.0 and meter.seconds_per_step == 0.5


def test_meter_excludes_paused_time() -> None:
    clock = FakeClock()
    meter = ThroughputMeter(clock=clock)
    clock.advance(1.0)
    meter.step(10)
    meter.pause()
    clock.advance(100.0)  # evaluation
    meter.pause()  # idempotent
    assert not meter.running and meter.seconds == 1.0
    meter.resume()
    clock.advance(1.0)
    meter.step(10)
    with meter.paused():
        clock.advance(50.0)
    assert meter.running
    assert meter.seconds == 2.0 and meter.examples_per_second == 10.0


def test_meter_leaves_out_warmup_steps_and_reset_starts_a_new_interval() -> None:
    clock = FakeClock()
    meter = ThroughputMeter(warmup_steps=2, clock=clock)
    for _ in range(2):  # slow first steps (compilation, allocator growth)
        clock.advance(10.0)
        meter.step(32)
    assert (meter.steps, meter.examples, meter.seconds) == (0, 0, 0.0)
    for _ in range(3):
        clock.advance(1.0)
        meter.step(32)
    assert meter.examples_per_second == 32.0 and meter.seconds_per_step == 1.0
    meter.pause()
    clock.advance(5.0)
    meter.reset()  # running again, counts cleared, warm-up not repeated
    assert meter.running and (meter.steps, meter.examples, meter.seconds) == (0, 0, 0.0)
    clock.advance(2.0)
    meter.step(64)
    assert meter.examples_per_second == 32.0


def test_meter_synchronizes_at_boundaries_only() -> None:
    clock, sync = FakeClock(), CountingSync()
    meter = ThroughputMeter(warmup_steps=1, synchronize=sync, clock=clock)
    meter.step(8)  # end of warm-up: queued warm-up work must not leak into the measurement
    assert sync.calls == 1
    for _ in range(5):
        meter.step(8)
    assert sync.calls == 1  # host and device keep overlapping between boundaries
    meter.pause()
    assert sync.calls == 2
    _ = meter.seconds  # paused: nothing queued since the pause was timed
    meter.resume()
    _ = meter.seconds
    meter.reset()
    assert sync.calls == 4


def test_meter_synchronizes_cuda_and_nothing_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    sit.device_synchronizer("cpu")()
    sit.device_synchronizer(None)()
    assert calls == []
    ThroughputMeter(device="cuda:0").pause()
    assert calls == [torch.device("cuda:0")]


def test_meter_rejects_bad_arguments() -> None:
    with pytest.raises(IntegrationError, match="'warmup_steps' must be an integer >= 0"):
        ThroughputMeter(warmup_steps=-1)
    with pytest.raises(IntegrationError, match="not both"):
        ThroughputMeter(device="cpu", synchronize=lambda: None)
    with pytest.raises(IntegrationError, match="'examples' must be an integer >= 0"):
        ThroughputMeter().step(1.5)  # type: ignore[arg-type]


# -- learning-rate schedules --------------------------------------------------------------------


def test_constant_schedule_ramps_up_then_stays() -> None:
    schedule = lr_schedule("constant", base_lr=0.1, total_steps=100, warmup_steps=4)
    assert [schedule(s) for s in range(4)] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert {schedule(s) for s in range(4, 150)} == {0.1}
    assert {lr_schedule("constant", base_lr=0.1, total_steps=10)(s) for s in range(20)} == {0.1}


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_decays_hit_base_at_warmup_end_the_mean_at_midpoint_and_final_at_the_end(
    kind: sit.ScheduleKind,
) -> None:
    base, final = 1.0, 0.1
    schedule = lr_schedule(kind, base_lr=base, total_steps=110, warmup_steps=10, final_lr=final)
    assert schedule(0) == 0.1  # base / warmup_steps, never a wasted update at 0
    assert schedule(9) == base and schedule(10) == base  # warmup end, decay start
    assert schedule(60) == pytest.approx((base + final) / 2)  # halfway through the decay
    assert schedule(110) == final and schedule(500) == final  # at and past total_steps
    assert final < schedule(109) < 0.12  # the last update keeps a small rate
    warmup = [schedule(s) for s in range(10)]
    decay = [schedule(s) for s in range(10, 111)]
    assert all(a < b for a, b in pairwise(warmup))
    assert all(a > b for a, b in pairwise(decay))


def test_cosine_and_linear_have_their_shapes() -> None:
    linear = lr_schedule("linear", base_lr=1.0, total_steps=100)
    cosine = lr_schedule("cosine", base_lr=1.0, total_steps=100)
    assert linear(25) == 0.75 and linear(75) == 0.25
    assert cosine(25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert cosine(25) > linear(25) and cosine(75) < linear(75)


def old_mnist1d_lr_at(kind: str, lr: float, warmup: int, step: int, total: int) -> float:
    """The MNIST-1D example's closed form before it used lr_schedule (1-based step)."""
    if step <= warmup:
        return lr * step / warmup
    progress = (step - 1 - warmup) / max(1, total - warmup)
    if kind == "linear":
        return lr * (1.0 - progress)
    if kind == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return lr


@pytest.mark.parametrize("kind", ["constant", "linear", "cosine"])
def test_schedule_reproduces_the_example_training_code_bit_for_bit(
    kind: sit.ScheduleKind,
) -> None:
    for warmup in (0, 1, 7, 30, 250):
        for total in (1, 2, 9, 100, 241):
            schedule = lr_schedule(kind, base_lr=0.0137, total_steps=total, warmup_steps=warmup)
            for step in range(1, total + 1):
                assert schedule(step - 1) == old_mnist1d_lr_at(kind, 0.0137, warmup, step, total)


def test_warmup_longer_than_a_truncated_run_stays_in_warmup() -> None:
    schedule = lr_schedule("cosine", base_lr=1.0, total_steps=5, warmup_steps=100)
    assert [schedule(s) for s in range(5)] == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_decay_steps_hold_base_lr_before_the_decay() -> None:
    schedule = lr_schedule("linear", base_lr=1.0, total_steps=100, warmup_steps=10, decay_steps=40)
    assert schedule.decay_start == 60
    assert {schedule(s) for s in range(9, 61)} == {1.0}
    assert schedule(80) == 0.5 and schedule(100) == 0.0


def test_extended_follows_the_playbook_rules() -> None:
    linear = lr_schedule("linear", base_lr=1.0, total_steps=1000, warmup_steps=100, final_lr=0.1)
    longer = linear.extended(3000)
    assert longer.decay_steps == 900 and longer.decay_start == 2100  # decay length kept
    assert {longer(s) for s in range(99, 2101)} == {1.0}  # the constant phase grew
    assert all(longer(s + 2000) == linear(s) for s in range(100, 1001))
    cosine = lr_schedule("cosine", base_lr=1.0, total_steps=1000, warmup_steps=100)
    stretched = cosine.extended(1900)
    assert stretched.base_lr == 1.0 and stretched.warmup_steps == 100
    assert stretched(1000) == pytest.approx(0.5) and stretched(1900) == 0.0
    held = lr_schedule("cosine", base_lr=1.0, total_steps=100, decay_steps=50).extended(150)
    assert held.decay_start == 50 and held.decay_steps == 100
    assert lr_schedule("constant", base_lr=1.0, total_steps=10).extended(20).total_steps == 20
    with pytest.raises(IntegrationError, match=">= the current 1000"):
        linear.extended(500)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "step"}, "'kind' must be one of 'constant', 'linear', 'cosine', got 'step'"),
        ({"base_lr": 0.0}, "'base_lr' must be a finite number > 0, got 0.0"),
        ({"base_lr": math.inf}, "'base_lr' must be a finite number > 0"),
        ({"total_steps": 0}, "'total_steps' must be an integer >= 1, got 0"),
        ({"total_steps": 10.0}, "'total_steps' must be an integer >= 1, got 10.0"),
        ({"warmup_steps": -1}, "'warmup_steps' must be an integer >= 0, got -1"),
        ({"final_lr": 2.0}, r"'final_lr' must be in \[0, base_lr = 1.0\]"),
        ({"final_lr": -0.1}, r"'final_lr' must be in \[0, base_lr"),
        ({"decay_steps": 0}, "'decay_steps' must be an integer >= 1 or None"),
        ({"warmup_steps": 60, "decay_steps": 50}, "warmup_steps \\+ decay_steps must be <="),
        ({"kind": "constant", "final_lr": 0.1}, "a constant schedule has no decay"),
        ({"kind": "constant", "decay_steps": 5}, "a constant schedule has no decay"),
    ],
)
def test_schedule_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"kind": "linear", "base_lr": 1.0, "total_steps": 100} | kwargs
    with pytest.raises(IntegrationError, match=message) as info:
        lr_schedule(**args)  # type: ignore[arg-type]
    assert str(info.value).startswith("lr_schedule: ")
    with pytest.raises(IntegrationError, match="the step must be >= 0"):
        lr_schedule("constant", base_lr=1.0, total_steps=10)(-1)


def test_apply_lr_sets_every_group() -> None:
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    optimizer = torch.optim.SGD([{"params": a.parameters()}, {"params": b.parameters()}], lr=1.0)
    apply_lr(optimizer, 0.25)
    assert [g["lr"] for g in optimizer.param_groups] == [0.25, 0.25]
    with pytest.raises(IntegrationError, match="finite and >= 0"):
        apply_lr(optimizer, math.nan)


def test_make_scheduler_follows_the_schedule_and_keeps_group_ratios() -> None:
    schedule = lr_schedule("cosine", base_lr=0.1, total_steps=20, warmup_steps=5)
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    optimizer = torch.optim.SGD(
        [{"params": a.parameters()}, {"params": b.parameters(), "lr": 0.05}], lr=0.1
    )
    scheduler = make_scheduler(optimizer, schedule)
    for step in range(20):
        lrs = [g["lr"] for g in optimizer.param_groups]
        assert lrs[0] == pytest.approx(schedule(step), rel=1e-12)
        assert lrs[1] == pytest.approx(schedule(step) / 2, rel=1e-12)
        optimizer.step()
        scheduler.step()
    with pytest.raises(IntegrationError, match="must be an LRSchedule"):
        make_scheduler(optimizer, lambda step: 0.1)  # type: ignore[arg-type]


def test_schedule_is_a_recorded_value() -> None:
    schedule = lr_schedule("linear", base_lr=1e-3, total_steps=500, warmup_steps=20)
    assert schedule == LRSchedule("linear", 1e-3, 500, 20)
    assert schedule.decay_length == 480 and schedule.decay_start == 20
