"""CESMA's centralized VDN expert on SMAX (Lin et al., App. E.1; ``../shared/reference/cesma_mild2_magail.md`` §1.5):
pymarl's recurrent agent network (FC -> GRU -> FC, width 64) run once over the joint observation (every agent's
observation and one-hot last action, concatenated), with one Q head per agent; Q_tot = sum of the heads (VDN), trained
as a double DQN on whole episodes with Adam (2e-4, weight decay 1e-4), soft target updates (tau 1e-3), a gradient step
every 20 env steps, epsilon 1 -> 0.05 over 3000 episodes (the ``central_vdn`` config block).

Everything else is QMIX's learner (``algorithms/qmix.py``: episode replay buffer, double-Q targets, gradient clip 10,
batch 32 episodes, epsilon-greedy collection, evaluation, checkpoints, exact resume); this module changes its agent
network only. Its acting is centralized: no agent can run it alone (the registry labels it so). The paper chose the best
of several expert seeds; the workflow trains the seeds of its ``experts`` block.

    python -m algorithms.central_vdn --config config/config.yaml --section qmix,central_vdn --run-dir RUN \
        task=smax/3s5z seed=0
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from algorithms import registry
from algorithms.common import trainer
from algorithms.configs.central_vdn import CentralVDNConfig, resources  # noqa: F401 (torch-free)
from algorithms.qmix import QMIX, QMIXPolicy

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class CentralQAgent(nn.Module):
    """One recurrent Q-network for the team: joint observation and joint last action in, K heads of Q-values out.
    Its hidden state is [1, B, H] (the GRU's layout: one network per env)."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.n_agents, self.n_actions, self.hidden = n_agents, n_actions, hidden
        self.fc1 = nn.Linear(n_agents * (obs_dim + n_actions), hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.fc2 = nn.Linear(hidden, n_agents * n_actions)

    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(1, batch, self.hidden)

    def embed(self, obs: torch.Tensor, last_action: torch.Tensor) -> torch.Tensor:
        """obs [..., K, O], last_action [..., K] (-1 = none) -> fc1 features [..., H] of the joint input."""
        onehot = F.one_hot((last_action + 1).long(), self.n_actions + 1)[..., 1:].to(obs.dtype)
        return F.relu(self.fc1(torch.cat([obs, onehot], -1).flatten(-2)))

    def forward(self, obs, last_action, h):
        """One step: obs [B, K, O], last_action [B, K], hidden [1, B, H] -> (Q-values [B, K, A], hidden)."""
        out, h = self.rnn(self.embed(obs, last_action).unsqueeze(1), h)
        return self.fc2(out[:, 0]).view(obs.shape[0], self.n_agents, self.n_actions), h

    def episodes(self, obs, last_action):
        """Whole episodes from a zero hidden state: obs [B, T, K, O], last_action [B, T, K] -> Q [B, T, K, A]."""
        B, T = obs.shape[:2]
        out, _ = self.rnn(self.embed(obs, last_action))
        return self.fc2(out).view(B, T, self.n_agents, self.n_actions)


class CentralVDN(QMIX):
    name = LEARNER.name
    run_metadata: dict = {}
    physical_only = True  # on a task with a communication channel: its physical view (no one to talk to)

    def make_agent(self) -> nn.Module:
        spec = self.spec
        return CentralQAgent(spec.n_agents, spec.obs_dim, spec.n_actions, self.cfg.hidden_size)

    def __init__(self, cfg: CentralVDNConfig):
        super().__init__(cfg)
        self.run_metadata = {**self.run_metadata, "assumed": [
            "joint input: every agent's observation and one-hot last action concatenated (pymarl's agent inputs; "
            "the paper says 'the concatenation of all agents' observations')",
            f"replay buffer of {cfg.buffer_episodes} episodes, gradient clip {cfg.max_grad_norm}, gamma "
            f"{cfg.gamma} (pymarl's defaults: 5000, 10, 0.99)"]}


def acting_policy(ckpt: dict) -> QMIXPolicy:
    """The acting network of a checkpoint of this learner: the joint Q-network's heads over available actions, as
    scores (greedy or epsilon-greedy; it has no stochastic policy)."""
    spec, cfg = ckpt["spec"], ckpt["config"]
    agent = CentralQAgent(spec["n_agents"], spec["obs_dim"], spec["n_actions"], cfg["hidden_size"])
    agent.load_state_dict(ckpt["model"])
    return QMIXPolicy(agent)


def train(cfg: CentralVDNConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, CentralVDN, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
