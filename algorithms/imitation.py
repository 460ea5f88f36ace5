"""Adversarial imitation on a PPO generator: PPO agents whose reward is the team reward, an imitation reward from a
discriminator, or both. The arms of ``algorithms/registry.py`` are settings of generator × discriminator
(``gail_discriminator``) × expert source (``gail_expert``) × reward (``reward``, ``gail_reward_transform``). The
generator is the learner: IPPO's independent networks here (learner ``imitation``), MAPPO's shared actor and
centralised critic in ``algorithms/imitation_ctde.py``, the Multi-Agent Transformer in ``algorithms/imitation_mat.py``;
the reward hook (``ImitationOnPolicy``) is the same on all three, and the shared pieces live in
``algorithms/common/imitation.py``.

- DM² (Wang et al., AAAI 2023): per-agent discriminators on each agent's own observation, trained on that agent's
  state-only demonstrations; r_i = r_env + gail_coef * logit D_i(o_i). Its paper's variants: GAIL-only
  (``reward: gail``), DM² + self-imitation (``gail_expert: self``), BC pretraining then IPPO or DM²
  (``bc_pretrain``), the state-action discriminator (``gail_input: obs_action``).
- MAGAIL (Song et al. 2018) with its three discriminators on (o_k, a_k): per-agent (``per_agent``), joint with one
  logit per agent (``joint``), joint with one team logit (``joint_single``); BCE, reward 2σ(logit) - 1, pure
  imitation by default. The original generator is MACK (ACKTR with centralised critics): here it is IPPO's PPO, or
  MAPPO's (shared actor, centralised critic: ``algorithms/imitation_ctde.py``), or MAT's.
- MILD² (global dependencies): MAT's generator against a transformer discriminator over every agent's observation
  and action (``transformer``), trained with a Wasserstein loss (``gail_loss: wasserstein``) under spectral
  normalisation, reward softplus(d_k); MILD²-GD, its ablation, with per-agent discriminators under the same loss.

Per PPO update: train the discriminator for ``gail_epochs`` steps on expert rows against the current rollout's rows
(living steps only), then reward the rollout's living steps (no imitation reward on padding or after death), then the
generator's PPO update with these rewards. ``gail_terminal`` changes what an agent that no longer acts is: nothing
(``none``, as above), a zero row rewarded on every step to the episode limit (``reference``, the DM² authors' code)
or the absorbing state of Kostrikov et al. 2019 (``absorbing``); both of the latter train the discriminator on those
rows too. Every update logs, over the episodes that ended in it, the imitation reward an agent collected in its
episode (c·r_D with the mixed reward, tails included), the episode length and the fraction of agents that died: the
survival or suicide bias of a reward transform shows there.

Self-imitation (SIL; the reference code's ``gail_sil``): the expert rows come from a bounded priority store of the
agent's own finished training episodes ranked by discounted team return (capacity 1024, the lowest dropped when
full; ties broken by insertion order, seeded: the reference's sampling was unseeded). The ranking key is the team
return, the same for every agent, so one store holds each episode once and agent i's discriminator reads agent i's
rows of it only. Episodes enter the store when collected, before the discriminator trains (as in the reference).

BC pretraining (not in the reference code; DM² paper App. B; recipe assumed, see ``behaviour_cloning``): before any env
interaction each agent's actor minimises the NLL of its demonstrated actions on its demonstrated observations.

    python -m algorithms.imitation --arm dm2 --config config/config.yaml --section ippo,imitation --run-dir RUN \
        task=smax/3m demos=FILE.npz
"""
from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

import envs
from algorithms import registry
from algorithms.common import trainer
from algorithms.common.config import ConfigError, check
from algorithms.common.imitation import (DISC_STATS, AdversarialReward, EpisodeEnds, ImitationError,
                                         SelfImitationStore, agent_pools, assumptions, demo_steps, joint_rows,
                                         one_hot_features, terminal_expert)
from algorithms.configs.imitation import ImitationConfig, resources  # noqa: F401 (torch-free)
from algorithms.demos import Demonstrations, load_demos
from algorithms.ippo import IPPO, PPO_STATS
from algorithms.ippo import acting_policy as ippo_acting_policy

LEARNER = registry.learner_of_module(__spec__.name)  # this module's registry entry
# per update, over the episodes that ended in it: the imitation reward an agent collected in its episode (mean over
# agents; gail_coef * r_D with the mixed reward, terminal tails included), the episode length, the fraction of agents
# that died
EPISODE_STATS = ["episode_imitation_reward", "episode_length", "episode_deaths"]


def behaviour_cloning(net, demos: Demonstrations, steps: np.ndarray, cfg: "ImitationConfig",
                      gen: torch.Generator) -> dict:
    """Pretrain each agent's actor by maximum likelihood of its demonstrated actions. Recipe (assumed; the paper
    specifies none): the first ``demo_episodes`` episodes (cut at ``demo_max_transitions`` joint transitions when
    set), ``bc_holdout`` of them held out; Adam(bc_lr) on the actors
    only (critics are untouched: their gradient is zero), ``bc_epochs`` passes of ``bc_batch_episodes`` whole
    episodes; the GRU unrolled over each episode from a zero state, with the demonstrated last action as input
    (none at t=0); NLL on living, unpadded steps only, averaged per agent and summed over agents (independent agents);
    every action allowed (demonstrations do not store action masks). ``steps`` [E, T]: the demonstrated steps kept
    (``demo_steps``). Returns held-out NLL and accuracy."""
    E = int(steps.any(1).sum())  # the steps kept are a prefix of the episodes (the last one may be cut)
    obs = torch.as_tensor(demos.obs[:E]).float().transpose(0, 1)  # [T, E, K, O]
    actions = torch.as_tensor(demos.actions[:E].astype("int64")).transpose(0, 1)  # [T, E, K]
    alive = torch.as_tensor(demos.alive[:E] & steps[:E, :, None]).transpose(0, 1)  # the steps it learns from
    last = torch.cat([torch.full_like(actions[:1], -1), actions[:-1]])
    T, _, K = actions.shape
    perm = torch.randperm(E, generator=gen)
    n_hold = max(1, round(E * cfg.bc_holdout))
    hold, train_idx = perm[:n_hold], perm[n_hold:]
    check(len(train_idx) > 0, f"bc: demo_episodes {E} leaves no training episodes after holding out {n_hold}")
    opt = torch.optim.Adam(net.parameters(), lr=cfg.bc_lr, eps=cfg.adam_eps)
    reset = torch.zeros(T, 1, dtype=torch.bool)
    reset[0] = True

    def nll(idx):
        B = len(idx)
        inputs = net.inputs(obs[:, idx], last[:, idx])
        avail = torch.ones(T, B, K, net.n_actions, dtype=torch.bool)
        logits, _ = net.sequence(inputs, avail, net.initial_hidden(B), reset.expand(T, B))
        mask = alive[:, idx].float()
        ce = F.cross_entropy(logits.reshape(-1, net.n_actions), actions[:, idx].reshape(-1), reduction="none")
        per_agent = (ce.view(T, B, K) * mask).sum((0, 1)) / mask.sum((0, 1)).clamp(min=1)
        correct = ((logits.argmax(-1) == actions[:, idx]).float() * mask).sum() / mask.sum().clamp(min=1)
        return per_agent, correct

    for _ in range(cfg.bc_epochs):
        order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        for batch in order.split(cfg.bc_batch_episodes):
            per_agent, _ = nll(batch)
            opt.zero_grad(set_to_none=True)
            per_agent.sum().backward()
            net.clip_grad_norm(cfg.max_grad_norm)
            opt.step()
    with torch.no_grad():
        hold_nll, hold_acc = nll(hold)
    return {"bc_epochs": cfg.bc_epochs, "bc_episodes": E, "bc_transitions": int(steps.sum()),
            "bc_holdout_nll": float(hold_nll.mean()), "bc_holdout_accuracy": float(hold_acc)}


class ImitationOnPolicy:
    """The imitation reward hook on an on-policy generator: a mixin listed before an ``OnPolicyLearner`` subclass
    (``class X(ImitationOnPolicy, IPPO)``), which supplies the networks, collection and PPO update. ``update`` trains
    the discriminator and swaps the rollout's rewards between collection and advantages."""

    def __init__(self, cfg: ImitationConfig):
        # Demonstrations first: a wrong file fails before envs are built or anything is trained.
        spec = envs.task_spec(cfg.task, physical_only=self.physical_only)  # the view the generator acts on
        demos = None
        if cfg.needs_demos:
            demos = load_demos(cfg.demos, task=cfg.task, n_agents=spec.n_agents, obs_dim=spec.obs_dim)
            n_demo = demos.obs.shape[0]
            check(cfg.demo_episodes <= n_demo,
                  f"demo_episodes {cfg.demo_episodes} exceeds the {n_demo} episodes in {cfg.demos}")
        super().__init__(cfg)
        self.update_stats = PPO_STATS + (DISC_STATS[cfg.gail_loss] + EPISODE_STATS if cfg.uses_discriminator else [])
        self.run_metadata = dict(self.run_metadata)  # the generator's own facts (MAT's assumptions), then these
        if demos is not None:  # recorded in the run's config.yaml: which demonstrations, of what quality
            self.run_metadata["demonstrations"] = {k: v for k, v in demos.metadata.items()
                                                   if k not in ("expert_greedy_win_rates",)}
        self.features = one_hot_features(spec.n_actions, cfg.gail_input == "obs_action",
                                         absorbing=cfg.gail_terminal == "absorbing")
        self.episode_imitation = torch.zeros(cfg.num_envs, spec.n_agents)  # per env: the running episode's sums
        # the demonstrated steps every expert source reads (discriminator rows, BC): the same, under the same cap
        steps = demo_steps(demos, cfg.demo_episodes, cfg.demo_max_transitions) if demos is not None else None
        if cfg.uses_discriminator:
            self.imitation = AdversarialReward(cfg, spec, self.gen)
            assumed = assumptions(cfg)
            if assumed:
                self.run_metadata["assumed"] = list(self.run_metadata.get("assumed", [])) + assumed
            if cfg.gail_expert == "demos":
                try:
                    if cfg.gail_terminal != "none":
                        self.expert = terminal_expert(demos, steps, self.features, self.imitation.terminal,
                                                      self.imitation.disc.joint, spec.episode_limit,
                                                      cfg.gail_terminal)
                    elif cfg.gail_discriminator == "per_agent":
                        self.expert = agent_pools(demos, steps, self.features)
                    else:
                        self.expert = joint_rows(demos, steps, self.features)
                except ImitationError as exc:
                    raise ConfigError(f"demos: {exc}") from None
                # how many joint transitions the discriminator's expert rows come from (below a cap: all there were)
                self.run_metadata["demonstrations"]["expert_transitions"] = int(steps.sum())
            else:
                self.sil = SelfImitationStore(cfg.sil_capacity)
                self.partial = [[] for _ in range(cfg.num_envs)]  # per env: the unfinished episode's pieces
                self.update_stats = self.update_stats + ["sil_episodes", "sil_min_return"]
        if cfg.bc_pretrain:
            self.run_metadata["behaviour_cloning"] = behaviour_cloning(self.net, demos, steps, cfg, self.gen)

    @property
    def disc(self):
        return self.imitation.disc

    def _store_finished_episodes(self, x: torch.Tensor) -> None:
        """Self-imitation: cut this rollout into each env's episodes (pieces of an episode that began in an earlier
        rollout were kept) and push every finished one into the priority store."""
        buf, gamma = self.buf, self.cfg.sil_gamma
        for n in range(self.cfg.num_envs):
            ends = torch.nonzero(buf.dones[:, n] & buf.valid[:, n]).flatten().tolist()
            start = 0
            for end in ends + [None]:
                seg = slice(start, self.T if end is None else end + 1)
                valid = buf.valid[seg, n]
                if valid.any():  # clone: the rollout storage is overwritten by the next collect
                    self.partial[n].append((x[seg, n][valid].clone(), buf.alive[seg, n][valid].clone(),
                                            buf.rewards[seg, n][valid].clone()))
                if end is not None:
                    xs, alive, rewards = (torch.cat(p) for p in zip(*self.partial[n]))
                    discounted = float((rewards * gamma ** torch.arange(len(rewards))).sum())
                    self.sil.push(discounted, [xs[alive[:, k], k] for k in range(self.spec.n_agents)])
                    self.partial[n] = []
                    start = end + 1

    def update(self) -> dict:
        cfg, buf, K = self.cfg, self.buf, self.spec.n_agents
        team = buf.rewards.unsqueeze(-1).expand(-1, -1, K)
        if not cfg.uses_discriminator:  # BC-pretrained IPPO
            return self.ppo_update(team)
        # THE REWARD HOOK: between collection and advantages
        decided = buf.valid.unsqueeze(-1) & buf.alive  # [T, N, K]
        x = self.features(buf.obs, buf.actions)  # [T, N, K, in]
        extra = {}
        if cfg.gail_expert == "self":
            self._store_finished_episodes(x)
            extra = {"sil_episodes": len(self.sil),
                     "sil_min_return": self.sil.heap[0][0] if len(self.sil) else float("nan")}
        expert = self.expert if cfg.gail_expert == "demos" else (self.sil.pools() if len(self.sil) else None)
        if expert is None:  # self-imitation before any episode has finished: nothing to imitate yet
            stats = self.ppo_update(team if cfg.reward == "mixed" else torch.zeros_like(team))
            return {**stats, **{k: float("nan") for k in DISC_STATS[cfg.gail_loss]},
                    **self._episode_stats(torch.zeros_like(team)), **extra}
        ends = (None if cfg.gail_terminal == "none"
                else EpisodeEnds.of(buf, self.spec.episode_limit, cfg.gamma, cfg.gail_terminal))
        r_d, dstats = self.imitation(x, decided, expert, ends)
        imitation = cfg.gail_coef * r_d if cfg.reward == "mixed" else r_d
        rewards = team + imitation if cfg.reward == "mixed" else imitation
        stats = self.ppo_update(rewards)
        return {**stats, **dstats, **self._episode_stats(imitation), **extra}

    def _episode_stats(self, imitation: torch.Tensor) -> dict:
        """EPISODE_STATS of the episodes that ended in this rollout; ``imitation`` [T, N, K] the imitation part of
        every step's reward. An episode that began in an earlier rollout carries its sums over (training state)."""
        buf = self.buf
        sums, lengths, deaths = [], [], []
        for t in range(self.T):
            self.episode_imitation += imitation[t] * buf.valid[t].unsqueeze(-1)
            ended = buf.dones[t] & buf.valid[t]
            if ended.any():
                sums.append(self.episode_imitation[ended].mean(-1))
                lengths.append(buf.episode_length[t][ended].float())
                # dead before the last step, and on a lost battle everyone left (killed by the last step)
                lost = (buf.terminated[t] & ~buf.won[t]).unsqueeze(-1)
                deaths.append((~buf.alive[t] | lost)[ended].float().mean(-1))
                self.episode_imitation[ended] = 0.0
        if not sums:
            return {k: float("nan") for k in EPISODE_STATS}
        return {k: float(torch.cat(v).mean()) for k, v in zip(EPISODE_STATS, (sums, lengths, deaths))}

    def model_state(self) -> dict:
        """The generator's snapshot and, with it, the discriminator of the same step (the rewards it gave can be
        recomputed from any snapshot: the reward histograms)."""
        state = super().model_state()
        if self.cfg.uses_discriminator:
            state["discriminator"] = self.imitation.disc.state_dict()
        return state

    def training_state(self) -> dict:
        state = super().training_state()
        if self.cfg.uses_discriminator:
            state.update(self.imitation.state_dict(), episode_imitation=self.episode_imitation.clone())
            if self.cfg.gail_expert == "self":
                state.update(sil=self.sil.state_dict(), sil_partial=self.partial)
        return state

    def load_training_state(self, state: dict) -> None:
        super().load_training_state(state)
        if self.cfg.uses_discriminator:
            self.imitation.load_state_dict(state)
            if "episode_imitation" in state:  # checkpoints written before these sums were kept start them at zero
                self.episode_imitation = state["episode_imitation"]
            if self.cfg.gail_expert == "self":
                self.sil.load_state_dict(state["sil"])
                self.partial = state["sil_partial"]


class AdversarialImitation(ImitationOnPolicy, IPPO):
    """The hook on IPPO's generator: independent actors and critics (decentralized)."""

    name = LEARNER.name


acting_policy = ippo_acting_policy  # its checkpoints hold IPPO's networks


def train(cfg: ImitationConfig, run_dir, progress: bool = True, restart_if_changed: bool = False,
          arm: str | None = None) -> list[dict]:
    return trainer.train(cfg, run_dir, progress, restart_if_changed, AdversarialImitation, arm=arm)


def main(argv: list[str] | None = None) -> int:
    return trainer.main(argv, LEARNER.name, __doc__)


if __name__ == "__main__":
    sys.exit(main())
