"""The matmul precision a run uses. ``precision: auto`` (the PPO family's default) picks bfloat16 only where the CPU
computes it natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo) and a short probe, a few forward and backward passes
of the run's own network over a batch of its update's shape, finds bfloat16 autocast at least ``MIN_SPEEDUP`` times
faster than float32; everywhere else float32. Without native support bfloat16 is emulated and slower (3x on Ice
Lake), so it is not even probed. A probe is measured once per host and network shape and then reused (``probe``),
so the runs of one host choose alike. The choice, its reason and the probe's timings go into the run's config.yaml;
a resumed run keeps the choice it started with, so a resume stays exact. Learners run on the CPU; this module only
decides for the CPU.

Under bfloat16, autocast runs the matrix products in bfloat16 while weights, optimiser state, the heads and the
elementwise math stay float32 (``algorithms/common/networks.py``).
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Hashable

import torch

from algorithms.common.cpu import cpu_flags

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU flags of hardware bfloat16 dot products
# bfloat16 must win clearly: a near tie is not worth its rounding. (Stability from one run to the next on a host
# comes from the probe cache, not from this margin: a timing has noise.)
MIN_SPEEDUP = 1.1
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class Choice:
    """What a run computes in, and why (written to the run's config.yaml)."""

    precision: str  # float32 | bfloat16
    requested: str  # auto | float32 | bfloat16
    reason: str
    float32_us: float | None = None  # the probe: one forward and backward training pass, best of the repeats
    bfloat16_us: float | None = None

    def record(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items() if v is not None}


def native_bf16_flags() -> list[str]:
    return [f for f in NATIVE_BF16_FLAGS if f in cpu_flags()]


def _probe_cache() -> Path | None:
    """Where measured probes are kept, per host: ``MARLBENCH_PRECISION_CACHE`` (``off``: nowhere), default
    ~/.cache/marlbench/precision_probes.json. Delete the file to probe again."""
    where = os.environ.get("MARLBENCH_PRECISION_CACHE", "~/.cache/marlbench/precision_probes.json")
    return None if where.lower() == "off" else Path(where).expanduser()


_PROBES: dict[str, tuple[float, float]] = {}  # this process's probes (and those read from the cache)


def _best_us(training_pass: Callable[[], None], dtype: torch.dtype | None, repeats: int) -> float:
    ctx = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    best = float("inf")
    with ctx:
        for _ in range(repeats):
            t = time.perf_counter()
            training_pass()
            best = min(best, time.perf_counter() - t)
    return best * 1e6


def probe(key: Hashable, training_pass: Callable[[], None], repeats: int = 2) -> tuple[float, float]:
    """(float32 µs, bfloat16 µs): the best time of ``training_pass`` (one forward and backward pass of the run's own
    network over a batch of its update's shape) in each precision, after a warm-up pass in each, interleaved so both
    see the same machine state. Measured once per host, torch version and ``key`` (the network and its shapes), then
    read from the probe cache: every run of that network on that host gets the same answer, so the seeds of an arm,
    and a rerun, compute alike."""
    ident = json.dumps([socket.gethostname(), torch.__version__, [str(k) for k in key]])
    cache = _probe_cache()
    if ident not in _PROBES and cache is not None and cache.exists():
        try:
            _PROBES.update({k: tuple(v) for k, v in json.loads(cache.read_text()).items()})
        except (OSError, ValueError):  # unreadable: probe again and rewrite it
            pass
    if ident not in _PROBES:
        _best_us(training_pass, None, 1)  # warm-up in each precision
        _best_us(training_pass, torch.bfloat16, 1)
        f32 = bf16 = float("inf")
        for _ in range(2):
            f32 = min(f32, _best_us(training_pass, None, repeats))
            bf16 = min(bf16, _best_us(training_pass, torch.bfloat16, repeats))
        _PROBES[ident] = (f32, bf16)
        if cache is not None:  # atomic; concurrent writers may drop each other's entries, which are then re-probed
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
            tmp.write_text(json.dumps(_PROBES, indent=1))
            os.replace(tmp, cache)
    return _PROBES[ident]


def choose(requested: str, training_pass: Callable[[], None], key: Hashable) -> Choice:
    """Resolve a config's ``precision`` for a run whose update is ``training_pass`` (see ``probe``; ``key`` names
    the network and its shapes)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is not one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return Choice(requested, requested, "set in the config")
    flags = native_bf16_flags()
    if not flags:
        return Choice("float32", "auto", f"the CPU has no native bfloat16 ({' / '.join(NATIVE_BF16_FLAGS)} absent)")
    f32, bf16 = probe(key, training_pass)
    speedup = f32 / bf16
    if speedup >= MIN_SPEEDUP:
        return Choice("bfloat16", "auto", f"native bfloat16 ({', '.join(flags)}) and the probe's training pass ran "
                      f"{speedup:.2f}x faster than in float32 (>= {MIN_SPEEDUP})", f32, bf16)
    return Choice("float32", "auto", f"native bfloat16 ({', '.join(flags)}) but the probe's training pass ran only "
                  f"{speedup:.2f}x faster than in float32 (< {MIN_SPEEDUP})", f32, bf16)


def autocast(precision: str):
    """The context a learner's acting and learning run in: bfloat16 autocast, or nothing (float32)."""
    if precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
