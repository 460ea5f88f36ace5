"""The Multi-Agent Transformer (Wen et al. 2022; the official code's structure: ``../shared/reference/
cesma_mild2_magail.md`` §3), a baseline trained on the env reward and the generator of MILD².

Tokens are agents. The encoder reads every agent's observation (MAT's ``encode_state=False``) and gives each agent a
representation and a value; the decoder reads the joint action shifted by one agent (agent 1's slot holds a start
flag, agent m's slot the one-hot action of agent m-1) with causal masks, and its m-th output gives agent m's action
distribution given every observation and the actions of agents 1..m-1. Acting decodes agents one after another
(agent m's action is sampled, then written into slot m+1), batched over envs; training re-evaluates the stored joint
actions in one teacher-forced pass. Its acting is centralized and sequential: no agent can act alone.

Training is the shared on-policy core's (``algorithms/common/ppo.py``), as IPPO's and MAPPO's: the same rollouts,
GAE, per-agent clipped ratios, clipped Huber value loss on normalised values (MAT's ValueNorm), entropy bonus; one
Adam for the whole model, its gradient clipped as one (MAT's). MAT's defaults are the ``mat`` config block. Assumed,
where the harness's shared core differs from MAT's code (listed in every run's ``config.yaml``): advantages
normalised per agent over its own decisions (MAT: over all agents' entries together); each loss averaged per agent
and then over agents (MAT: over all entries; the same where agents live equally long); a dead agent's steps carry
no advantage and its critic learns the team's reward tail after its death (MAT bootstraps them with the critic's
values as any step); value statistics updated once per rollout (MAT: at every minibatch; with beta 0.99999 nearly
the same).

    python -m algorithms.mat --config config/config.yaml --section ippo,mat --run-dir RUN task=smax/3m seed=0
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from algorithms import registry
from algorithms.common import trainer
from algorithms.common.networks import (CategoricalPolicy, ValueNorm, denormalized_value, gumbel_max,
                                        normalized_targets)
from algorithms.common.ppo import OnPolicyLearner
from algorithms.common.transformer import DecodeBlock, EncodeBlock, mat_head, mat_linear
from algorithms.configs.mat import MATConfig, resources  # noqa: F401 (torch-free)

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry


class MATPolicy(CategoricalPolicy, nn.Module):
    """MAT's encoder-decoder as a policy of the on-policy core. It has no recurrence: its "hidden state" is a zero
    placeholder of the rollout's layout [1, B, width], passed through unchanged. ``last_action`` and the global state
    are not inputs (MAT's encoder reads the observations). Values are normalised (MAT's ValueNorm) unless
    ``value_norm`` is False."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, width: int = 64, n_block: int = 1,
                 n_head: int = 1, value_norm: bool = True):
        super().__init__()
        self.n_agents, self.n_actions, self.width = n_agents, n_actions, width
        self.obs_embed = nn.Sequential(nn.LayerNorm(obs_dim), mat_linear(obs_dim, width, activated=True), nn.GELU())
        self.encoder_ln = nn.LayerNorm(width)
        self.encoder = nn.ModuleList(EncodeBlock(width, n_head) for _ in range(n_block))
        self.value_head = mat_head(width, 1)
        # the action stream: one-hot over (start flag, actions), embedded without a bias (MAT's)
        self.action_embed = nn.Sequential(mat_linear(n_actions + 1, width, activated=True, bias=False), nn.GELU())
        self.decoder_ln = nn.LayerNorm(width)
        self.decoder = nn.ModuleList(DecodeBlock(width, n_head) for _ in range(n_block))
        self.policy_head = mat_head(width, n_actions)
        self.value_norm = ValueNorm() if value_norm else None

    # ---------------------------------------------------------------- the two halves
    def encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, K, O] -> each agent's representation [B, K, D] and its value [B, K] (normalised space)."""
        x = self.encoder_ln(self.obs_embed(obs))
        for block in self.encoder:
            x = block(x)
        return x, self.value_head(x).squeeze(-1).float()

    def decode(self, tokens: torch.Tensor, rep: torch.Tensor) -> torch.Tensor:
        """tokens [B, k, A+1] (the shifted action stream of agents 1..k) and rep [B, k, D] -> logits [B, k, A]. By the
        causal masks output m depends on tokens 1..m only, so a prefix of the stream decodes its own agents exactly."""
        x = self.decoder_ln(self.action_embed(tokens))
        for block in self.decoder:
            x = block(x, rep)
        return self.policy_head(x).float()

    def action_stream(self, previous: torch.Tensor) -> torch.Tensor:
        """The actions of agents 1..j [B, j] -> the decoder's input for agents 1..j+1 [B, j+1, A+1]: the start flag
        (slot 0), then each action's one-hot in slots 1..A. A fresh contiguous tensor."""
        start = F.one_hot(torch.zeros(previous.shape[0], 1, dtype=torch.long), self.n_actions + 1)
        return torch.cat([start, F.one_hot(previous + 1, self.n_actions + 1)], 1).float()

    def shifted(self, actions: torch.Tensor) -> torch.Tensor:
        """Joint actions [B, K] -> the decoder's input [B, K, A+1]: the start flag, then agents 1..K-1's one-hots."""
        return self.action_stream(actions[:, :-1])

    def decode_sequentially(self, rep: torch.Tensor, avail: torch.Tensor, uniform: torch.Tensor | None):
        """Acting: agent m's action from its output given agents 1..m-1's chosen actions, one agent at a time
        (sampled with the Gumbel noise of ``uniform`` [B, K, A], or greedy without it). -> actions [B, K],
        their log-probs [B, K]. The stream and the prefix of ``rep`` are fresh contiguous tensors at every pass:
        under bfloat16 a matmul over a strided slice rounds differently from the training pass's, and the stored
        log-probs must be the ones training recomputes."""
        B, K = rep.shape[:2]
        actions = torch.zeros(B, 0, dtype=torch.long)  # the agents decided so far
        logps = []
        for m in range(K):
            logits = self.decode(self.action_stream(actions), rep[:, :m + 1].contiguous())[:, m]
            logits = logits.masked_fill(~avail[:, m], -1e10)
            action = logits.argmax(-1) if uniform is None else gumbel_max(logits, uniform[:, m])
            logps.append(torch.log_softmax(logits, -1).gather(-1, action.unsqueeze(-1)).squeeze(-1))
            actions = torch.cat([actions, action[:, None]], 1)
        return actions, torch.stack(logps, 1)

    # ---------------------------------------------------------------- the on-policy core's interface
    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(1, batch, self.width)

    def inputs(self, obs: torch.Tensor, last_action: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """obs [..., K, O] -> [K, ..., O]: agents first, the core's layout of training inputs (minibatches select
        along the sequence axis behind them). MAT's encoder normalises its input itself (its first LayerNorm)."""
        return obs.movedim(-2, 0)

    def acting_weights(self):
        return None  # nothing to fold: acting runs the modules themselves

    def _sample(self, ready, obs, last_action, avail, h, state, uniform):
        rep, value = self.encode(obs)
        action, logp = self.decode_sequentially(rep, avail, uniform)
        return action, logp, denormalized_value(self.value_norm, value), h

    def _greedy(self, ready, obs, last_action, avail, h):
        return self.decode_sequentially(self.encode(obs)[0], avail, None)[0], h

    def _value(self, ready, obs, last_action, avail, h, state):
        return denormalized_value(self.value_norm, self.encode(obs)[1])

    def evaluate(self, inputs, actions, avail, h0, reset):
        """Training: the stored joint actions re-evaluated by teacher forcing, every (step, env) a sample of K
        tokens. inputs [K, L, B, O] (from ``inputs``), actions [L, B, K], avail [L, B, K, A] -> log-prob, entropy,
        normalised value [L, B, K]."""
        inputs = inputs.movedim(0, -2)
        *lead, K, O = inputs.shape
        rep, value = self.encode(inputs.reshape(-1, K, O))
        logits = self.decode(self.shifted(actions.reshape(-1, K)), rep)
        logp_all = torch.log_softmax(logits.masked_fill(~avail.reshape(-1, K, self.n_actions), -1e10), -1)
        logp = logp_all.gather(-1, actions.reshape(-1, K, 1)).squeeze(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        return logp.view(*lead, K), entropy.view(*lead, K), value.view(*lead, K)

    @staticmethod
    def reduce_agents(per_agent_loss: torch.Tensor) -> torch.Tensor:
        return per_agent_loss.mean()  # one network for all agents

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        return nn.utils.clip_grad_norm_(self.parameters(), max_norm)  # MAT clips the whole model as one

    def value_targets(self, returns, old_values, mask):
        return normalized_targets(self.value_norm, returns, old_values, mask)  # as MAPPO's


class MAT(OnPolicyLearner):
    name = LEARNER.name
    physical_only = True  # on a task with a communication channel: its physical view (it sees every observation)
    run_metadata = {"assumed": ["advantages normalised per agent over its own decisions (the PPO core's; MAT: over "
                                "all agents' entries)",
                                "losses averaged per agent, then over agents (the PPO core's; MAT: over all entries)",
                                "dead agents' steps: no advantage, the critic learns the reward tail (the PPO core's; "
                                "MAT: bootstrapped with the critic's values)",
                                "value statistics updated once per rollout (MAT: at every minibatch)"]}

    def make_policy(self):
        spec, cfg = self.spec, self.cfg
        return MATPolicy(spec.n_agents, spec.obs_dim, spec.n_actions, cfg.hidden_size, cfg.n_block, cfg.n_head,
                         cfg.value_handling == "normalized")


def acting_policy(ckpt: dict) -> MATPolicy:
    """The acting network of a checkpoint of this learner (encoder and decoder)."""
    spec, cfg = ckpt["spec"], ckpt["config"]
    net = MATPolicy(spec["n_agents"], spec["obs_dim"], spec["n_actions"], cfg["hidden_size"], cfg["n_block"],
                    cfg["n_head"], cfg.get("value_handling", "normalized") == "normalized")
    net.load_state_dict(ckpt["model"])
    return net


def train(cfg: MATConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, MAT, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
