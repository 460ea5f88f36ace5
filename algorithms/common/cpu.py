"""Facts about the CPU a run is on, and the process settings that training throughput needs from it: the allocator
(``keep_freed_memory``) and the torch threads of acting (``torch_threads``). Torch-free at import (the peer benchmark
reads the flags without torch).

Why the allocator setting: glibc serves large blocks (above a threshold that starts at 128 KB and grows to the size
of freed blocks) with fresh ``mmap`` pages, and returns free memory at the top of its heap to the kernel whenever it
exceeds the trim threshold. An update allocates and frees activations of up to ~30 MB dozens of times per epoch, so
its memory keeps being handed back and page-faulted in again. A fixed 32 MB mmap threshold and no trimming keep it
in the process: the IPPO update on smax/5m_vs_6m ran ~13% faster in float32 (1,791 -> 1,560 ms per 4,096-step
update, 2-core Sapphire Rapids, environment variables with the same effect, one run each). The price is that a
process keeps its peak heap until it exits, which a training process does anyway.
"""
from __future__ import annotations

import contextlib
import ctypes
import sys
from pathlib import Path

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's upper limit on 64-bit systems
_allocator_tuned: bool | None = None
# flags that say what a CPU's matmuls can use (printed by the benchmarks)
REPORTED_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx2", "fma")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first CPU's feature flags (empty where /proc/cpuinfo does not exist, e.g. macOS)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def describe_flags() -> str:
    """``avx512f=yes avx512_bf16=no ...`` for ``REPORTED_FLAGS``."""
    flags = cpu_flags()
    return " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in REPORTED_FLAGS)


def keep_freed_memory() -> bool:
    """Linux/glibc: keep freed blocks up to 32 MB in the heap instead of returning them to the kernel (see the module
    docstring). Idempotent; returns whether the setting is in effect (False elsewhere: nothing is changed)."""
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)
                _allocator_tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, 2**30))
            except (OSError, AttributeError):  # not glibc (musl has no mallopt): stays False
                pass
    return _allocator_tuned


@contextlib.contextmanager
def torch_threads(n: int):
    """Torch intra-op threads inside the block. Acting runs on one: its matmuls are too small to split, and a second
    torch thread that spins after each op takes a core from the JAX env step that follows (measured on smax/5m_vs_6m,
    2 cores: collecting took 131-139 µs per joint env step with one thread, 170-191 µs with two)."""
    import torch  # here: this module is imported without torch by the peer benchmark

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
