"""compile: always (and auto in bfloat16) computes the PPO loss and its gradients as the eager code does (up to
float rounding), and falls back to eager, saying why, where compiling fails."""
import pytest
import torch

from algorithms.common import compiled, precision
from algorithms.common.config import resolve
from algorithms.common.ppo import ppo_loss
from algorithms.common.rollout import hidden_at_sequence_starts, to_sequences
from algorithms.ippo import IPPO, IPPOConfig, train

SMALL = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
             eval_episodes=8, checkpoint_interval=1024, total_env_steps=1024, torch_threads=1, precision="float32")


def one_batch(algo):
    """The full batch of sequences of one collected rollout, as the update builds it (advantages etc. from the
    behaviour values: their exact values do not matter here, only that both paths get the same)."""
    buf, L = algo.buf, algo.cfg.chunk_length
    mask = (buf.valid.unsqueeze(-1) & buf.alive).float()
    seq = {name: to_sequences(x, L) for name, x in dict(
        obs=buf.obs, last_action=buf.last_action, avail=buf.avail, actions=buf.actions, logp=buf.logp,
        values=buf.values, adv=torch.randn_like(buf.values), ret=buf.values + torch.randn_like(buf.values),
        mask=mask, value_mask=torch.ones_like(mask), starts=buf.starts).items()}
    seq["inputs"] = algo.net.inputs(seq.pop("obs"), seq.pop("last_action"))
    return seq, hidden_at_sequence_starts(buf.hidden, L)


def loss_and_grads(fn, algo, b, h0):
    algo.net.zero_grad(set_to_none=True)
    loss, stats = fn(algo.net, b, h0, 0.2, 10.0, 0.5, 0.01)
    loss.backward()
    return loss.detach(), stats, {n: p.grad.clone() for n, p in algo.net.named_parameters()}


# (relative tolerance of the loss and statistics, of the gradients) per precision: float32 differs by the order of
# summation only; in bfloat16 the compiled graph also rounds its products' operands at other points than eager
TOLERANCE = {"float32": (1e-4, 1e-3), "bfloat16": (2e-2, 5e-2)}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_compiled_loss_equals_eager(dtype):
    torch.manual_seed(0)
    algo = IPPO(resolve(IPPOConfig, {**SMALL, "precision": dtype, "compile": "always"}))
    algo.collect()
    b, h0 = one_batch(algo)
    with precision.autocast(dtype):
        eager = loss_and_grads(ppo_loss, algo, b, h0)
        maybe = compiled.MaybeCompiled(ppo_loss, enabled=True)
        fast = loss_and_grads(maybe, algo, b, h0)
    if maybe.status.startswith("eager (compile failed"):  # a machine without a working compiler: eager, exactly
        assert maybe.compiled is None
        torch.testing.assert_close(fast[0], eager[0], rtol=0, atol=0)
        return
    assert maybe.status.startswith("compiled in")
    rtol, grad_rtol = TOLERANCE[dtype]
    torch.testing.assert_close(fast[0], eager[0], rtol=rtol, atol=1e-5)
    torch.testing.assert_close(fast[1], eager[1], rtol=rtol, atol=1e-4)
    for name, g in eager[2].items():
        torch.testing.assert_close(fast[2][name], g, rtol=grad_rtol, atol=grad_rtol * g.abs().max().item(),
                                   msg=f"gradient of {name}")


def test_a_failing_compile_falls_back_to_eager_and_says_why(monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(compiled.torch, "compile", broken_compile)
    calls = []
    maybe = compiled.MaybeCompiled(lambda x: calls.append(x) or x + 1, enabled=True)
    assert maybe(1) == 2 and maybe(2) == 3 and calls == [1, 2]
    assert maybe.status == "eager (compile failed: RuntimeError: InvalidCxxCompiler: No working C++ compiler found)"
    assert compiled.MaybeCompiled(lambda x: x, enabled=False).status == "eager (off)"


def test_a_compiled_run_trains_and_logs_what_ran(tmp_path):
    rows = train(resolve(IPPOConfig, {**SMALL, "compile": "always"}), tmp_path / "run", progress=False)
    assert [r["env_steps"] for r in rows] == [0, 512, 1024]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "minibatch loss: compiled in" in log or "minibatch loss: eager (compile failed" in log


def test_auto_compiles_where_the_run_computes_in_bfloat16_only():
    for p, status in [("float32", "eager (off)"), ("bfloat16", "pending")]:
        algo = IPPO(resolve(IPPOConfig, {**SMALL, "precision": p, "compile": "auto"}))
        assert algo.batch_loss.status == status, p
    assert IPPO(resolve(IPPOConfig, {**SMALL, "compile": "never", "precision": "bfloat16"})).batch_loss.status == \
        "eager (off)"


def test_compiling_later_calls_is_guarded_too_and_the_backward_compiles_inside_the_call(monkeypatch):
    """A new input shape recompiles on a later call: a failure there falls back as well. And every compiled call
    compiles its backward graph at once (torch's default is lazily, at ``loss.backward()``, outside the guard)."""
    backward_now = []

    def compile_that_fails_on_the_second_shape(fn, **kwargs):
        def run(x):
            backward_now.append(torch._functorch.config.force_non_lazy_backward_lowering)
            if x > 1:
                raise RuntimeError("BackendCompilerFailed: backward")
            return fn(x)
        return run

    monkeypatch.setattr(compiled.torch, "compile", compile_that_fails_on_the_second_shape)
    maybe = compiled.MaybeCompiled(lambda x: x * 10, enabled=True)
    assert maybe(1) == 10 and maybe.status.startswith("compiled in")
    assert maybe(2) == 20 and maybe.status == "eager (compile failed: RuntimeError: BackendCompilerFailed: backward)"
    assert maybe(3) == 30 and backward_now == [True, True]
