"""Facts about the CPU a run is on, and the process settings that training throughput needs from it: the allocator
(``keep_freed_memory``) and the torch threads of acting (``torch_threads``).

Why the allocator setting: glibc's malloc serves blocks above its mmap threshold (128 KB, raised dynamically up to
32 MB) with fresh ``mmap`` pages and gives them back on ``free``. An update allocates and frees activations of up to
~30 MB dozens of times per epoch, so every one of them page-faults its memory in again. Keeping freed memory in the
heap instead (a fixed 32 MB mmap threshold, no trimming) made the IPPO update on smax/5m_vs_6m ~13% faster
(1,791 -> 1,560 ms per 4,096-step update, float32, 2-core Sapphire Rapids; ``workflow/scripts/bench_throughput.py``).
The price is that a process keeps its peak heap until it exits, which a training process does anyway.
"""
from __future__ import annotations

import contextlib
import ctypes
import sys
from pathlib import Path

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's upper limit on 64-bit systems
_allocator_tuned: bool | None = None


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
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                _allocator_tuned = False
    return _allocator_tuned


@contextlib.contextmanager
def torch_threads(n: int):
    """Torch intra-op threads inside the block. Acting runs on one: its matmuls are too small to split, and a second
    torch thread that spins after each op takes a core from the JAX env step that follows (measured on smax/5m_vs_6m,
    2 cores: collecting took 131-139 µs per joint env step with one thread, 170-191 µs with two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
