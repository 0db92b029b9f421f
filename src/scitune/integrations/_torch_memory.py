"""Out-of-memory detection, and a host memory cap that makes the OOM path reachable on CPU (§1).

The batch-size probe doubles the batch until memory runs out. On a GPU that is a CUDA OOM; on a
CPU machine with plenty of RAM it may never happen, so :func:`host_memory_limit` caps the
process's address space to play the part of a small device. Nothing here imports torch: an
exception can only be torch's if torch is already loaded, and scitune's own commands can match a
failed trial's stderr with :func:`is_oom_message`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from scitune.errors import IntegrationError

__all__ = ["OOM_MESSAGES", "address_space_bytes", "host_memory_limit", "is_oom", "is_oom_message"]

OOM_MESSAGES = (
    "CUDA out of memory",  # torch.OutOfMemoryError from the caching allocator
    "CUDA error: out of memory",  # raised by the driver outside the caching allocator
    "CUBLAS_STATUS_ALLOC_FAILED",  # cuBLAS could not allocate its workspace
    "HIP out of memory",  # ROCm
    "MPS backend out of memory",  # Apple silicon
    "XPU out of memory",  # Intel GPUs
    "DefaultCPUAllocator: can't allocate memory",  # CPU tensors, e.g. under host_memory_limit
)
"""Substrings of the messages frameworks raise when an allocation fails."""

# A traceback's last line when Python itself could not allocate.
_MEMORY_ERROR_LINE = re.compile(r"^(?:builtins\.)?MemoryError\b", re.MULTILINE)


def is_oom_message(text: str) -> bool:
    """Whether an error message or a stderr tail reports an out-of-memory failure.

    Use it on a failed subprocess's output. A process killed by the kernel's OOM killer prints
    nothing: look for exit status -9 / 137 instead.

    Example:
        >>> is_oom_message("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB")
        True
        >>> is_oom_message("RuntimeError: shape mismatch")
        False
    """
    return any(m in text for m in OOM_MESSAGES) or bool(_MEMORY_ERROR_LINE.search(text))


def _is_oom_one(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # a torch exception implies torch is loaded
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if isinstance(oom_type, type) and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in OOM_MESSAGES)


def is_oom(exc: BaseException) -> bool:
    """Whether an exception means an allocation failed (the batch does not fit).

    True for ``torch.OutOfMemoryError`` (CUDA), the ``RuntimeError`` messages in
    :data:`OOM_MESSAGES` (CUDA driver, cuBLAS, ROCm, MPS, XPU, and the CPU allocator's "can't
    allocate memory"), and Python's ``MemoryError``, also when raised from (``__cause__``) or
    during the handling of (``__context__``) one of those. After catching one on CUDA, drop the
    references to the step's tensors and call ``torch.cuda.empty_cache()`` before going on.

    Example:
        >>> is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to ..."))
        True
        >>> is_oom(ValueError("bad batch"))
        False
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _is_oom_one(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def address_space_bytes() -> int:
    """The process's current virtual address space (Linux ``/proc/self/statm``), in bytes.

    This is what ``RLIMIT_AS`` counts: choose a :func:`host_memory_limit` relative to it.

    Raises:
        IntegrationError: not on Linux.
    """
    if not sys.platform.startswith("linux"):
        raise IntegrationError(
            f"address_space_bytes reads /proc/self/statm and needs Linux, not {sys.platform}."
        )
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def host_memory_limit(limit_bytes: int) -> Iterator[None]:
    """Cap this process's address space at ``limit_bytes`` inside the block (``RLIMIT_AS``).

    Allocations past the cap fail (torch raises "DefaultCPUAllocator: can't allocate memory",
    Python ``MemoryError``), which :func:`is_oom` recognises: a CPU machine can then exercise
    the out-of-memory path of a batch-size probe. The previous soft limit is restored on exit.

    Caveats: ``RLIMIT_AS`` counts *virtual* memory — every mapping, shared libraries and thread
    stacks included, often far more than resident memory (importing torch maps hundreds of MB) —
    so choose the limit relative to current usage, ``address_space_bytes() + headroom``, never as
    an absolute RAM size. It applies to the whole process (every thread) and is inherited by
    child processes started inside the block. A tighter limit already in place is kept. An
    allocation can fail anywhere, not just in the training step, so use it in a process
    dedicated to the probe. Linux only (macOS does not enforce ``RLIMIT_AS``; Windows has no
    ``resource`` module).

    Raises:
        IntegrationError: not on Linux, ``limit_bytes`` not above the current address space, or
            above the hard limit (which an unprivileged process cannot raise).

    Example:
        >>> with host_memory_limit(address_space_bytes() + 512 * 2**20):  # doctest: +SKIP
        ...     torch.empty(2**31, dtype=torch.uint8)  # 2 GiB: raises "can't allocate memory"
    """
    if not sys.platform.startswith("linux"):
        raise IntegrationError(
            f"host_memory_limit needs Linux, not {sys.platform}: RLIMIT_AS is not enforced on "
            "macOS and does not exist on Windows. Probe on a Linux machine or a GPU."
        )
    import resource

    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int):
        raise IntegrationError(
            f"host_memory_limit: 'limit_bytes' must be an integer, got {limit_bytes!r}."
        )
    current = address_space_bytes()
    if limit_bytes <= current:
        raise IntegrationError(
            f"host_memory_limit: 'limit_bytes' must exceed the process's current address space "
            f"({current:,} bytes), got {limit_bytes:,}: every allocation would fail. Pass "
            "address_space_bytes() plus the headroom the probe may use."
        )
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and limit_bytes > hard:
        raise IntegrationError(
            f"host_memory_limit: 'limit_bytes' ({limit_bytes:,}) is above the hard limit "
            f"({hard:,}), which only a privileged process can raise. Pass at most {hard:,}."
        )
    # Never loosen a tighter cap already in place (an outer block, or the shell's ulimit -v).
    tightened = limit_bytes if soft == resource.RLIM_INFINITY else min(limit_bytes, soft)
    resource.setrlimit(resource.RLIMIT_AS, (tightened, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
