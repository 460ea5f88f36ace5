"""Training throughput of JaxMARL's own IPPO-RNN SMAX baseline (``baselines/IPPO/ippo_rnn_smax.py``), run from
JaxMARL's repository code, as a peer number for ``bench_throughput.py``: joint env steps per second with learning
included, compile time excluded.

    python workflow/scripts/bench_jaxmarl_peer.py --jaxmarl-repo PATH [--commit REV] [--map 5m_vs_6m] \
        [--updates 10] [--repeats 3] [--seed 0] [--deps-dir /tmp/jaxmarl_peer_deps] [--install-deps]

``--jaxmarl-repo`` is either a checked-out JaxMARL work tree (its files are used as they are) or a bare git dir, from
which ``baselines/IPPO/ippo_rnn_smax.py`` and ``baselines/IPPO/config/ippo_rnn_smax.yaml`` at ``--commit`` (default
HEAD) are extracted with ``git show`` into a temporary folder. Nothing of JaxMARL's code is copied into this repository:
the baseline module is imported from there and its ``make_train`` is called.

What is run: the baseline's default config from its yaml (128 envs x 128 steps, 4 epochs x 4 minibatches, width 128,
LR 0.004, ...) with ``MAP_NAME`` set to ``--map``, ``SEED`` to ``--seed``, wandb disabled and ``TOTAL_TIMESTEPS =
updates * NUM_ENVS * NUM_STEPS``. ``jax.jit(train).lower(rng).compile()`` is timed on its own, then the compiled train
function is called ``--repeats`` times, each timed to ``jax.block_until_ready``. JAX runs with its default CPU
settings (no XLA_FLAGS or thread settings are set here).

Stand-ins and extra packages (this process only; nothing is added to our pyproject):

* ``wandb`` is never imported: a minimal stand-in module (``init``/``log``/``finish`` no-ops) is put into
  ``sys.modules`` before the baseline is imported. The baseline still sends its per-update metrics to the host through
  ``jax.experimental.io_callback`` (as in a real run); only the ``wandb.log`` at the end of it does nothing.
* ``hydra`` and ``omegaconf`` are imported at the baseline's top level but used only by its ``main()`` (the
  ``@hydra.main`` decorator and ``OmegaConf.to_container``), which this script does not call; where they are not
  installed, stand-ins (an identity decorator, an empty ``OmegaConf``) are used. The yaml is read with PyYAML; its
  ``${oc.env:WANDB_ENTITY}`` entry stays an unused literal.
* ``distrax`` (the policy's ``Categorical``; in JaxMARL's ``algs`` extra, not a dependency of the ``jaxmarl`` package)
  is real and needed. ``--deps-dir`` is put first on ``sys.path``; ``--install-deps`` installs it there with
  ``pip install --no-deps --target DIR distrax tfp-nightly six decorator gast dm-tree`` (``--no-deps`` so that jax,
  numpy etc. are not installed a second time over the ones in this environment).

The last line is ``steps_per_s=<median over the repeats>``."""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from algorithms.common.cpu import describe_flags  # noqa: E402  (torch-free)

BASELINE = "baselines/IPPO/ippo_rnn_smax.py"
BASELINE_YAML = "baselines/IPPO/config/ippo_rnn_smax.yaml"
# distrax and what it needs beyond this environment; --no-deps keeps pip from re-installing jax/numpy in the target
DEPS = ["distrax", "tfp-nightly", "six", "decorator", "gast", "dm-tree"]


def git(repo: Path, *args: str, bare: bool) -> str:
    where = ["--git-dir", str(repo)] if bare else ["-C", str(repo)]
    return subprocess.run(["git", *where, *args], check=True, capture_output=True, text=True).stdout


def baseline_sources(repo: Path, commit: str, tmp: Path) -> tuple[Path, Path, str]:
    """The baseline module and yaml paths, and a description of the code's revision.

    A work tree is used in place (its HEAD, marked dirty if it has local changes); from a git dir the two files at
    ``commit`` are extracted into ``tmp``."""
    if (repo / BASELINE).is_file():
        rev = "unknown (work tree, not a git checkout)"
        try:
            # only the folder's own checkout counts, not a repository that happens to contain it
            if Path(git(repo, "rev-parse", "--show-toplevel", bare=False).strip()).resolve() == repo:
                rev = git(repo, "rev-parse", "HEAD", bare=False).strip()
                dirty = git(repo, "status", "--porcelain", bare=False).strip()
                rev += " (work tree, dirty)" if dirty else " (work tree)"
        except (subprocess.CalledProcessError, FileNotFoundError):
            pass
        return repo / BASELINE, repo / BASELINE_YAML, rev
    rev = git(repo, "rev-parse", f"{commit}^{{commit}}", bare=True).strip()
    paths = []
    for rel in (BASELINE, BASELINE_YAML):
        out = tmp / Path(rel).name
        out.write_text(git(repo, "show", f"{rev}:{rel}", bare=True))
        paths.append(out)
    return paths[0], paths[1], f"{rev} (git dir {repo})"


def install_stand_ins() -> list[str]:
    """Put stand-ins for wandb (always) and for hydra/omegaconf (where missing) into sys.modules; returns their
    names."""
    wandb = types.ModuleType("wandb")
    wandb.init = lambda *a, **k: None
    wandb.log = lambda *a, **k: None
    wandb.finish = lambda *a, **k: None
    sys.modules["wandb"] = wandb
    stubbed = ["wandb"]
    if importlib.util.find_spec("hydra") is None:
        hydra = types.ModuleType("hydra")
        hydra.main = lambda *a, **k: (lambda fn: fn)  # only main() is decorated, and main() is never called
        sys.modules["hydra"] = hydra
        stubbed.append("hydra")
    if importlib.util.find_spec("omegaconf") is None:
        omegaconf = types.ModuleType("omegaconf")
        omegaconf.OmegaConf = type("OmegaConf", (), {})  # used only inside main()
        sys.modules["omegaconf"] = omegaconf
        stubbed.append("omegaconf")
    return stubbed


def ensure_distrax(deps_dir: Path, install: bool) -> None:
    sys.path.insert(0, str(deps_dir))
    if importlib.util.find_spec("distrax") is not None:
        return
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(deps_dir), *DEPS]
    if not install:
        sys.exit("distrax is not importable; install it (outside our pyproject) with --install-deps, i.e.\n  "
                 + " ".join(cmd))
    subprocess.run(cmd, check=True)
    importlib.invalidate_caches()


def load_module(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("jaxmarl_ippo_rnn_smax", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peer_config(yaml_path: Path, map_name: str, seed: int, updates: int) -> dict:
    """The baseline's yaml defaults with only the map, seed, run length and wandb mode changed."""
    config = yaml.safe_load(yaml_path.read_text())
    config.update(MAP_NAME=map_name, SEED=seed, NUM_SEEDS=1, WANDB_MODE="disabled",
                  TOTAL_TIMESTEPS=updates * config["NUM_ENVS"] * config["NUM_STEPS"])
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jaxmarl-repo", type=Path, required=True, help="JaxMARL work tree, or a (bare) git dir")
    parser.add_argument("--commit", default="HEAD", help="revision to extract when --jaxmarl-repo is a git dir")
    parser.add_argument("--map", default="5m_vs_6m", help="SMAX map (overrides the yaml's MAP_NAME)")
    parser.add_argument("--updates", type=int, default=10, help="PPO updates per train call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of the compiled train function")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deps-dir", type=Path, default=Path(tempfile.gettempdir()) / "jaxmarl_peer_deps",
                        help="folder put first on sys.path for distrax (and where --install-deps puts it)")
    parser.add_argument("--install-deps", action="store_true", help="pip-install distrax into --deps-dir if missing")
    args = parser.parse_args(argv)

    ensure_distrax(args.deps_dir, args.install_deps)
    stubbed = install_stand_ins()
    # imported only now, after sys.path and the stand-ins are in place
    import distrax
    import jax
    import jaxmarl

    with tempfile.TemporaryDirectory(prefix="jaxmarl_peer_") as tmp:
        module_path, yaml_path, rev = baseline_sources(args.jaxmarl_repo.resolve(), args.commit, Path(tmp))
        baseline = load_module(module_path)
        config = peer_config(yaml_path, args.map, args.seed, args.updates)
        train = baseline.make_train(config)  # fills in NUM_ACTORS, NUM_UPDATES, MINIBATCH_SIZE (printed below)
        steps = config["NUM_UPDATES"] * config["NUM_ENVS"] * config["NUM_STEPS"]

        print(f"cpu flags: {describe_flags()}")
        print(f"os.cpu_count()={os.cpu_count()} jax={jax.__version__} backend={jax.default_backend()} "
              f"devices={jax.devices()} jaxmarl={jaxmarl.__version__} distrax={distrax.__version__}")
        print(f"baseline={BASELINE} commit={rev}")
        print(f"stand-ins: {', '.join(stubbed)}; deps dir: {args.deps_dir}")
        print("config: " + " ".join(f"{k}={v}" for k, v in config.items()))

        rng = jax.random.PRNGKey(config["SEED"])
        t = time.perf_counter()
        compiled = jax.jit(train).lower(rng).compile()  # tracing + XLA compile, kept out of the timed calls
        compile_s = time.perf_counter() - t
        print(f"compile_s={compile_s:.1f}")

        rates = []
        for i in range(args.repeats):
            t = time.perf_counter()
            jax.block_until_ready(compiled(rng))
            dt = time.perf_counter() - t
            rates.append(steps / dt)
            print(f"repeat {i}: {dt:.2f} s for {steps} joint env steps ({config['NUM_UPDATES']} updates) "
                  f"-> {rates[-1]:,.0f} steps/s")
    print(f"best={max(rates):.0f} median={statistics.median(rates):.0f} steps/s")
    print(f"steps_per_s={statistics.median(rates):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
