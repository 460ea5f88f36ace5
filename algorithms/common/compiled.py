"""``torch.compile`` where it works, eager where it does not, and the same numbers either way (up to rounding).

The PPO update spends most of its time outside matrix products (elementwise gates, normalisations, the loss), in
many small passes over memory; compiling the minibatch loss (forward and backward, ``algorithms/common/ppo.py``)
fuses them. Where that pays, and what it costs, is measured in the README ("Throughput, precision and
compilation"). Compiling needs a C++ compiler; where there is none, or compilation fails for any other reason, the
call falls back to the eager function, says why once (the run's log), and stays eager.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import torch
import torch._functorch.config

log = logging.getLogger(__name__)


class MaybeCompiled:
    """``fn``, compiled (static shapes) when ``enabled``, else as it is. ``status`` says what runs: "eager (off)",
    "compiled in N s" (the first call: forward and backward), or "eager (compile failed: ...)".

    The backward graph is compiled inside the call too (not lazily at ``loss.backward()``, torch's default), so
    that a failure anywhere in compiling, also when a new input shape recompiles later, is caught here."""

    def __init__(self, fn: Callable, enabled: bool):
        self.fn, self.enabled = fn, enabled
        if enabled:
            # Compile in this process, not in a pool of worker processes: a job's memory and CPUs are what its
            # trainer declares (Slurm counts workers against the job), and on 2 cores a pool gains little.
            import torch._inductor.config

            torch._inductor.config.compile_threads = 1
        self.compiled = torch.compile(fn, dynamic=False) if enabled else None
        self.status = "pending" if enabled else "eager (off)"

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.fn(*args, **kwargs)
        t = time.perf_counter()
        try:
            with torch._functorch.config.patch(force_non_lazy_backward_lowering=True):
                out = self.compiled(*args, **kwargs)
        except Exception as exc:  # no C++ compiler, an unsupported op, ...: the eager function computes the same
            self.compiled = None
            self.status = f"eager (compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            log.warning("torch.compile of %s failed, running eager: %s", self.fn.__name__, self.status)
            return self.fn(*args, **kwargs)
        if self.status == "pending":
            self.status = f"compiled in {time.perf_counter() - t:.0f} s"
            log.info("%s: %s", self.fn.__name__, self.status)
        return out
