"""Demonstrations: sampled from trained expert runs, stored as portable arrays (.npz, no pickle) with metadata and a
checksum, validated against the consumer's task before any training starts.

Four sampling styles (the DM² ablation, paper Fig. 3), all from one fixed checkpoint per expert team so that no
style mixes policy versions (fixes the reference code's training-buffer demos, §12 #12):

| style                      | who plays                                   | agent i's demonstrations                     |
|----------------------------|---------------------------------------------|----------------------------------------------|
| ``cotrained_concurrent``   | team 0                                       | agent i in episodes 0..E-1 (same episodes)  |
| ``cotrained_nonconcurrent``| team 0, K*E episodes                         | agent i in episodes i*E..(i+1)*E-1 (disjoint)|
| ``indep_concurrent``       | a mixed team: slot i = agent i of team i%T   | agent i in the mixed team's episodes        |
| ``indep_nonconcurrent``    | each team i%T plays its own episodes         | agent i in team i%T's own episodes          |

Index e of the stored arrays is the same joint episode for every agent only in the concurrent styles.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

import envs
from algorithms.common.evaluation import Episodes, play_episodes, win_rate
from algorithms import registry
from algorithms.common.networks import IndependentActorCritic
from algorithms.common.runio import atomic_write_bytes, load_checkpoint
from algorithms.registry import STYLES  # the style names (in the registry: the workflow reads them without torch)

# Display names (no commas: rliable uses "," to pair algorithms)
STYLE_NAMES = {"cotrained_concurrent": "co-trained + concurrent", "cotrained_nonconcurrent": "co-trained + non-concurrent",
               "indep_concurrent": "independent + concurrent", "indep_nonconcurrent": "independent + non-concurrent"}
Style = Literal["cotrained_concurrent", "cotrained_nonconcurrent", "indep_concurrent", "indep_nonconcurrent"]
FORMAT_VERSION = 1
ARRAYS = ("obs", "actions", "alive", "length", "returns", "won")


class DemoError(ValueError):
    pass


@dataclass
class Demonstrations:
    obs: np.ndarray  # [E, T, K, O] float32, agent k's own observations, zero-padded after the episode
    actions: np.ndarray  # [E, T, K] int16 (kept for BC and the state-action ablation)
    alive: np.ndarray  # [E, T, K] bool: a real step at which agent k was alive
    length: np.ndarray  # [E, K] int32, episode length of the episode agent k's column comes from
    returns: np.ndarray  # [E, K] float32
    won: np.ndarray  # [E, K] bool
    metadata: dict = field(default_factory=dict)

    def checksum(self) -> str:
        h = hashlib.sha256()
        for name in ARRAYS:
            a = np.ascontiguousarray(getattr(self, name))
            h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def agent_rows(self, k: int, include_actions: bool = False) -> np.ndarray:
        """Agent k's valid (alive, unpadded) observations [n_k, O] (with its actions [n_k] if asked)."""
        mask = self.alive[:, :, k]
        rows = self.obs[:, :, k][mask]
        return (rows, self.actions[:, :, k][mask]) if include_actions else rows


def save_demos(path: str | Path, demos: Demonstrations) -> None:
    meta = {**demos.metadata, "format_version": FORMAT_VERSION, "checksum": demos.checksum()}
    buf = io.BytesIO()
    np.savez_compressed(buf, **{n: getattr(demos, n) for n in ARRAYS},
                        metadata_json=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8))
    atomic_write_bytes(Path(path), buf.getvalue())


def load_demos(path: str | Path, task: str | None = None, n_agents: int | None = None,
               obs_dim: int | None = None) -> Demonstrations:
    """Load and verify a demo file; with ``task``/``n_agents``/``obs_dim`` also check it fits the consumer."""
    path = Path(path)
    if not path.exists():
        raise DemoError(f"demonstration file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [n for n in (*ARRAYS, "metadata_json") if n not in f.files]
            if missing:
                raise DemoError(f"{path} is not a marlbench demonstration file: arrays {missing} are missing")
            arrays = {n: f[n] for n in ARRAYS}
            meta = json.loads(f["metadata_json"].tobytes().decode())
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, json.JSONDecodeError) as exc:
        if isinstance(exc, DemoError):
            raise
        raise DemoError(f"{path} is corrupted or truncated ({type(exc).__name__}: {exc})") from None
    demos = Demonstrations(**arrays, metadata=meta)
    if meta.get("checksum") != demos.checksum():
        raise DemoError(f"{path}: checksum mismatch (stored {meta.get('checksum')}, computed {demos.checksum()}): "
                        "the file was modified or damaged")
    E, T, K, O = demos.obs.shape
    if task is not None and meta.get("task") != task:
        raise DemoError(f"{path} holds demonstrations of task {meta.get('task')!r}, but the consumer trains {task!r}")
    if n_agents is not None and K != n_agents:
        raise DemoError(f"{path} has {K} agents' demonstrations, but the task has {n_agents} agents")
    if obs_dim is not None and O != obs_dim:
        raise DemoError(f"{path} has observations of size {O}, but the task's observations have size {obs_dim}")
    return demos


# ------------------------------------------------------------------------------------------------ experts
def checkpoint_path(run_dir: str | Path, step: int | Literal["final"]) -> Path:
    run_dir = Path(run_dir)
    path = run_dir / ("final_model.pt" if step == "final" else f"checkpoints/step_{step}.pt")
    if not path.exists():
        have = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt"))
        raise DemoError(f"expert checkpoint {path} does not exist; {run_dir} has: {have or 'no snapshots'}")
    return path


def load_expert(path: Path):
    """The acting network of an expert checkpoint, as its learner (registry) reads it: per-agent actors, a shared
    actor, or Q-values as scores (QMIX: sample it epsilon-greedy)."""
    ckpt = load_checkpoint(path)
    try:
        entry = registry.learner(ckpt["algorithm"])
    except ValueError as exc:
        raise DemoError(f"{path}: {exc}") from None
    if not entry.expert:
        raise DemoError(f"{path}: learner {entry.name} cannot act as an expert; experts: "
                        f"{', '.join(registry.expert_learners())}")
    return entry.load().acting_policy(ckpt).eval(), ckpt


def compose_team(nets: list[IndependentActorCritic]) -> IndependentActorCritic:
    """A team whose agent i is agent i of nets[i % len(nets)] (actor and critic), e.g. agents of independently
    trained teams playing together."""
    team = IndependentActorCritic(nets[0].n_agents, nets[0].input_dim - nets[0].n_actions, nets[0].n_actions,
                                  nets[0].hidden, 0.01)
    K = team.n_agents
    with torch.no_grad():
        for name, p in team.named_parameters():
            sources = [dict(n.named_parameters())[name] for n in nets]
            for i in range(K):
                src = sources[i % len(nets)]
                p[i] = src[i]
                if name.startswith("trunk."):
                    p[K + i] = src[K + i]
    return team.eval()


def policy_act(net: IndependentActorCritic, mode: str, epsilon: float, generator: torch.Generator):
    """act() for play_episodes: "stochastic" samples the policy; "epsilon_greedy" takes the argmax, or with
    probability epsilon a uniformly random available action; "greedy" the argmax."""
    def act(obs, last_action, avail, h):
        logits, _, h = net.step(obs, last_action, avail, h)
        if mode == "greedy":
            return logits.argmax(-1), h
        if mode == "stochastic":
            flat = torch.softmax(logits, -1).reshape(-1, logits.shape[-1])
            return torch.multinomial(flat, 1, generator=generator).view(logits.shape[:-1]), h
        greedy = logits.argmax(-1)
        uniform = torch.multinomial(avail.float().reshape(-1, avail.shape[-1]), 1, generator=generator)
        explore = torch.rand(greedy.shape, generator=generator) < epsilon
        return torch.where(explore, uniform.view(greedy.shape), greedy), h
    return act


def _play(net, task: str, episodes: int, seed: int, mode: str, epsilon: float, reward_scale) -> Episodes:
    opts = {} if reward_scale is None else {"reward_scale": reward_scale}
    env = envs.make(task, num_envs=episodes, seed=seed, **opts)
    gen = torch.Generator().manual_seed(seed)
    return play_episodes(env, policy_act(net, mode, epsilon, gen), net.initial_hidden(episodes), record=mode != "greedy")


def sample_demonstrations(expert_runs: list[str | Path], step: int | Literal["final"], style: Style, episodes: int,
                          seed: int, mode: str = "stochastic", epsilon: float = 0.0,
                          greedy_eval_episodes: int = 128) -> Demonstrations:
    """Sample ``episodes`` demonstration episodes per agent in the given style from the experts' checkpoints at
    ``step``. ``expert_runs[0]`` is the co-trained team; the indep styles use team i % len(expert_runs)."""
    if style not in STYLES:
        raise DemoError(f"unknown demonstration style {style!r}; allowed: {', '.join(STYLES)}")
    if mode not in ("stochastic", "epsilon_greedy"):
        raise DemoError(f"unknown sampling mode {mode!r}; allowed: stochastic, epsilon_greedy")
    loaded = [load_expert(checkpoint_path(r, step)) for r in expert_runs]
    nets, ckpts = [n for n, _ in loaded], [c for _, c in loaded]
    task, algorithm = ckpts[0]["task"], ckpts[0]["algorithm"]
    if any(c["task"] != task for c in ckpts):
        raise DemoError(f"expert runs are of different tasks: {[c['task'] for c in ckpts]}")
    if any(c["algorithm"] != algorithm for c in ckpts):
        raise DemoError(f"expert runs are of different algorithms: {[c['algorithm'] for c in ckpts]}")
    if not registry.learner(algorithm).stochastic_policy and mode == "stochastic":
        raise DemoError(f"{registry.display(algorithm)} experts have no stochastic policy: sample them with mode "
                        "epsilon_greedy (DM²'s "
                        "paper sampled QMIX with epsilon 0 on 5m_vs_6m and 3s_vs_4z, 0.1 on the other maps)")
    if style == "indep_concurrent" and not all(isinstance(n, IndependentActorCritic) for n in nets):
        raise DemoError(f"style indep_concurrent mixes agents of different teams, which needs per-agent networks "
                        f"(IPPO-family experts); {algorithm} shares one network across agents")
    scale = ckpts[0]["config"].get("reward_scale")
    K = nets[0].n_agents
    indep = style.startswith("indep")
    if indep and len(nets) < 2:
        raise DemoError(f"style {style} needs independently trained teams: give at least 2 expert runs")
    # The teams whose play is recorded, and whose greedy win rate is the demonstrators' quality line.
    if style == "indep_concurrent":
        demonstrators = [compose_team(nets)]
    else:
        demonstrators = nets if indep else nets[:1]
    greedy_play = [_play(n, task, greedy_eval_episodes, seed + 7, "greedy", 0.0, scale) for n in demonstrators]
    has_win = envs.task_spec(task).has_win
    greedy = [win_rate(p.won, has_win) for p in greedy_play]

    def columns(ep: Episodes, picks: list[tuple[int, slice]]) -> dict:
        """Agent k's column from episodes ep[sl] for each (k, sl)."""
        out = {n: [] for n in ARRAYS}
        for k, sl in picks:
            out["obs"].append(ep.obs[sl, :, k])
            out["actions"].append(ep.actions[sl, :, k])
            out["alive"].append(ep.alive[sl, :, k])
            out["length"].append(ep.length[sl])
            out["returns"].append(ep.returns[sl])
            out["won"].append(ep.won[sl])
        return {n: np.stack(v, axis=2 if n in ("obs", "actions", "alive") else 1) for n, v in out.items()}

    E = episodes
    if style in ("cotrained_concurrent", "indep_concurrent"):
        ep = _play(demonstrators[0], task, E, seed, mode, epsilon, scale)
        arrays = columns(ep, [(k, slice(0, E)) for k in range(K)])
        played = [ep]
    elif style == "cotrained_nonconcurrent":
        ep = _play(nets[0], task, K * E, seed, mode, epsilon, scale)
        arrays = columns(ep, [(k, slice(k * E, (k + 1) * E)) for k in range(K)])
        played = [ep]
    else:  # indep_nonconcurrent: each team plays alone; agent k's column comes from team k % T
        played = [_play(n, task, E, seed + 1000 * t, mode, epsilon, scale) for t, n in enumerate(nets)]
        per_agent = [columns(played[k % len(nets)], [(k, slice(0, E))]) for k in range(K)]
        arrays = {n: np.concatenate([a[n] for a in per_agent], axis=2 if n in ("obs", "actions", "alive") else 1)
                  for n in ARRAYS}
    meta = {
        "task": task, "n_agents": K, "obs_dim": int(arrays["obs"].shape[-1]), "episode_limit": int(arrays["obs"].shape[1]),
        "expert_algorithm": algorithm, "expert_network": type(nets[0]).__name__,
        "expert_runs": [str(r) for r in expert_runs], "expert_seeds": [c["config"]["seed"] for c in ckpts],
        "checkpoint_step": step, "checkpoint_env_steps": [int(c["env_steps"]) for c in ckpts],
        "style": style, "concurrent": style.endswith("_concurrent"), "cotrained": not indep,
        "sampling_mode": mode, "epsilon": epsilon if mode == "epsilon_greedy" else None, "sampling_seed": seed,
        "episodes_per_agent": E,
        "sampled_win_rate": win_rate(np.concatenate([p.won for p in played]), has_win),
        "sampled_return": float(np.mean([p.returns.mean() for p in played])),
        "expert_greedy_win_rate": float(np.mean(greedy)), "expert_greedy_win_rates": greedy,
        "expert_greedy_return": float(np.mean([p.returns.mean() for p in greedy_play])),
        "greedy_eval_episodes": greedy_eval_episodes,
    }
    return Demonstrations(**arrays, metadata=meta)
