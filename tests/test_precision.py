"""precision: auto chooses bfloat16 only with native support and a clear measured speed-up; the choice is recorded in
the run's config.yaml and kept by a resumed run; bfloat16 and float32 agree up to rounding; the allocator setting."""
import json
import platform

import pandas as pd
import pytest
import torch
import yaml

from algorithms.common import cpu, precision
from algorithms.common.config import ConfigError, resolve
from algorithms.ippo import IPPO, IPPOConfig, train
from run_helpers import train_killed_at_update

SMALL = dict(task="smax/3m", num_envs=16, rollout_length=32, chunk_length=16, ppo_epochs=2, eval_interval=512,
             eval_episodes=8, checkpoint_interval=1024, total_env_steps=1536, torch_threads=1, compile="never")
KEY = ("test", 1)


def a_pass():  # a stand-in training pass: a matmul forward and backward
    w = torch.randn(64, 64, requires_grad=True)
    (torch.randn(256, 64) @ w).sum().backward()


def test_explicit_precision_is_taken_as_given():
    for p in ("float32", "bfloat16"):
        choice = precision.choose(p, a_pass, KEY)
        assert (choice.precision, choice.requested, choice.reason) == (p, p, "set in the config")


def test_auto_without_native_bfloat16_is_float32_without_probing(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx2"})  # Ice Lake: AVX-512, no BF16
    monkeypatch.setattr(precision, "probe", lambda *a, **k: pytest.fail("probed without native bfloat16"))
    choice = precision.choose("auto", a_pass, KEY)
    assert choice.precision == "float32" and "no native bfloat16" in choice.reason


@pytest.mark.parametrize("f32_us, bf16_us, expected", [(300.0, 100.0, "bfloat16"), (300.0, 290.0, "float32"),
                                                      (100.0, 300.0, "float32")])
def test_auto_with_native_bfloat16_follows_the_probe(monkeypatch, f32_us, bf16_us, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(precision, "probe", lambda key, training_pass: (f32_us, bf16_us))
    choice = precision.choose("auto", a_pass, KEY)
    assert choice.precision == expected and "avx512_bf16" in choice.reason
    assert choice.record()["float32_us"] == f32_us and choice.record()["requested"] == "auto"


def test_the_probe_times_the_pass_in_both_precisions_once_per_key(monkeypatch):
    dtypes = []

    def recording_pass():
        dtypes.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else torch.float32)
        a_pass()

    monkeypatch.setattr(precision, "_PROBES", {})

    f32, bf16 = precision.probe(("probe test", 1), recording_pass, repeats=1)
    assert 0 < f32 < 1e6 and 0 < bf16 < 1e6
    assert dtypes.count(torch.float32) == dtypes.count(torch.bfloat16) == 3  # a warm-up and one per round
    assert precision.probe(("probe test", 1), recording_pass) == (f32, bf16) and len(dtypes) == 6  # cached


def test_probing_leaves_the_run_unchanged(monkeypatch):
    """A learner that probes leaves torch's global random state where one that does not leaves it (what is built
    after the policy, e.g. an imitation learner's discriminator, is initialised from it), and keeps no gradients."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"amx_bf16"})
    monkeypatch.setattr(precision, "_PROBES", {})
    probed = IPPO(resolve(IPPOConfig, {**SMALL, "precision": "auto"}))
    after_probe = torch.get_rng_state()
    assert probed.precision.float32_us > 0  # it did probe
    IPPO(resolve(IPPOConfig, {**SMALL, "precision": "float32"}))
    assert torch.equal(after_probe, torch.get_rng_state())
    assert all(p.grad is None for p in probed.net.parameters())


def test_a_probe_is_measured_once_per_host_and_network(tmp_path, monkeypatch):
    monkeypatch.setenv("MARLBENCH_PRECISION_CACHE", str(tmp_path / "probes.json"))
    monkeypatch.setattr(precision, "_PROBES", {})
    runs = []

    def counting_pass():
        runs.append(1)
        a_pass()

    first = precision.probe(("cache test", 1), counting_pass, repeats=1)
    n = len(runs)
    monkeypatch.setattr(precision, "_PROBES", {})  # a new process: only the file remains
    assert precision.probe(("cache test", 1), counting_pass) == first and len(runs) == n
    precision.probe(("cache test", 2), counting_pass, repeats=1)  # another network shape is measured
    assert len(runs) == 2 * n and len(json.loads((tmp_path / "probes.json").read_text())) == 2


def test_bad_precision_is_refused_naming_the_choices():
    with pytest.raises(ConfigError, match=r"precision: 'fp16' is not allowed.*auto"):
        resolve(IPPOConfig, {"precision": "fp16"})
    with pytest.raises(ValueError, match="'half' is not one of auto, float32, bfloat16"):
        precision.choose("half", a_pass, KEY)


def test_a_run_records_its_choice_and_a_resumed_run_keeps_it(tmp_path, monkeypatch):
    """The run starts in bfloat16 (as a probe chose); at resume the probe would say float32, but the run finishes
    as it started, exactly like an uninterrupted bfloat16 run."""
    cfg = resolve(IPPOConfig, {**SMALL, "precision": "auto"})
    as_started = precision.Choice("bfloat16", "auto", "test: the probe found bfloat16 faster", 300.0, 100.0)
    monkeypatch.setattr("algorithms.common.ppo.choose", lambda requested, training_pass, key: as_started)
    train(cfg, tmp_path / "whole", progress=False)
    recorded = yaml.safe_load((tmp_path / "whole" / "config.yaml").read_text())
    assert recorded["config"]["precision"] == "auto"
    assert recorded["precision"] == {"precision": "bfloat16", "requested": "auto", "float32_us": 300.0,
                                     "bfloat16_us": 100.0, "reason": "test: the probe found bfloat16 faster"}

    train_killed_at_update(monkeypatch, IPPO, 2, train, cfg, tmp_path / "resumed", progress=False)
    monkeypatch.setattr("algorithms.common.ppo.choose",
                        lambda requested, training_pass, key: precision.Choice("float32", "auto", "test: changed"))
    train(cfg, tmp_path / "resumed", progress=False)
    assert yaml.safe_load((tmp_path / "resumed" / "config.yaml").read_text())["precision"]["precision"] == "bfloat16"
    timing = ["wall_time", "steps_per_s"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / "metrics.csv").drop(columns=timing),
                                  pd.read_csv(tmp_path / "resumed" / "metrics.csv").drop(columns=timing))


def test_bfloat16_and_float32_agree_up_to_rounding():
    """The same rollout and weights through the training pass in both precisions: log-probabilities, entropies and
    values differ by bfloat16 rounding only (8 bits of mantissa: ~0.4% relative per product)."""
    algo = IPPO(resolve(IPPOConfig, {**SMALL, "precision": "float32"}))
    algo.collect()
    buf, net = algo.buf, algo.net
    inputs, h0 = net.inputs(buf.obs, buf.last_action), buf.hidden[0]  # one sequence per env: [K, T, N, in]
    out = {}
    for p in ("float32", "bfloat16"):
        with precision.autocast(p):
            out[p] = net.evaluate(inputs, buf.actions, buf.avail, h0, buf.starts)
    (logp32, ent32, v32), (logp16, ent16, v16) = out["float32"], out["bfloat16"]
    assert logp16.dtype == v16.dtype == torch.float32
    alive = buf.alive
    assert (logp16 - logp32)[alive].abs().max() < 0.05
    assert (ent16 - ent32)[alive].abs().max() < 0.05
    assert (v16 - v32).abs().max() < 0.02 * v32.abs().max() + 1e-3
    assert not torch.equal(logp16, logp32)  # bfloat16 really ran


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_stays_in_the_heap_with_glibc():
    assert cpu.keep_freed_memory() is True
    assert cpu.keep_freed_memory() is True  # idempotent


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n\nprocessor\t: 1\n")
    assert cpu.cpu_flags(info) == {"fpu", "avx2", "avx512f", "avx512_bf16", "amx_bf16"}
    assert cpu.cpu_flags(tmp_path / "missing") == set()
