"""CESMA's centralized VDN expert (App. E.1): one recurrent network over the joint observation with a Q head per agent,
Q_tot = the sum of the heads in the TD targets and the loss, soft target updates, a gradient step every k env steps,
epsilon annealed over episodes, exact resume; CESMA accepts its checkpoints as a centralized expert's. And QMIX's
learner without a mixer, pymarl's IQL: every agent's own double-Q target on the team reward."""
import pytest
import torch

import envs
from algorithms import registry
from algorithms.central_vdn import CentralQAgent, CentralVDN, CentralVDNConfig, train
from algorithms.cesma import load_centralized_expert
from algorithms.common.config import ConfigError, resolve
from algorithms.common.runio import load_checkpoint
from algorithms.qmix import QMIX, QMIXConfig, train as train_qmix
from run_helpers import assert_same_run, train_killed_at_update

SMALL = dict(task="smax/3m", num_envs=4, buffer_episodes=64, batch_episodes=8, eval_interval=400, eval_episodes=8,
             checkpoint_interval=800, total_env_steps=1200, torch_threads=1, env_steps_per_update=20,
             epsilon_anneal_episodes=40)


def _batch(algo, n=3, T=6, lengths=(6, 4, 3), terminated=(False, True, False), seed=1):
    spec, g = algo.spec, torch.Generator().manual_seed(seed)
    K, A = spec.n_agents, spec.n_actions
    b = {"obs": torch.randn(n, T + 1, K, spec.obs_dim, generator=g), "state": torch.randn(n, T + 1, spec.state_dim),
         "avail": torch.ones(n, T + 1, K, A, dtype=torch.bool), "actions": torch.randint(0, A, (n, T, K), generator=g),
         "reward": torch.randn(n, T, generator=g), "terminated": torch.zeros(n, T, dtype=torch.bool),
         "filled": torch.zeros(n, T, dtype=torch.bool)}
    for i, (L, term) in enumerate(zip(lengths, terminated)):
        b["filled"][i, :L], b["terminated"][i, L - 1] = True, term
    b["terminated"][0, 2] = True  # a terminated step is never bootstrapped, wherever it falls
    b["avail"][:, :, :, 2] = False  # never the bootstrap action
    with torch.no_grad():
        for p in algo.target_agent.parameters():  # targets differ from the online network
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return b


def _plain_targets(algo, b, sum_heads: bool):
    """The double-Q targets by a loop: per step, the online network's argmax over available actions, the target
    network's value of it, summed over the heads (VDN) or per agent (IQL)."""
    q, qt = algo._q_values(algo.agent, b), algo._q_values(algo.target_agent, b)
    n, T, K = b["actions"].shape
    y = torch.zeros(n, T) if sum_heads else torch.zeros(n, T, K)
    for i in range(n):
        L = int(b["filled"][i].sum())
        for t in range(L):
            value = torch.zeros(K)
            if t < L - 1 and not b["terminated"][i, t]:  # nor is the last step of an episode (truncated too)
                a_star = q[i, t + 1].masked_fill(~b["avail"][i, t + 1], -1e10).argmax(-1)
                assert (a_star != 2).all()
                value = 0.99 * qt[i, t + 1].gather(-1, a_star.unsqueeze(-1)).squeeze(-1)
            y[i, t] = b["reward"][i, t] + (value.sum() if sum_heads else value)
    return q, y


def test_q_tot_is_the_sum_of_the_heads_in_targets_and_loss():
    algo = CentralVDN(resolve(CentralVDNConfig, SMALL))
    b = _batch(algo)
    q, expected = _plain_targets(algo, b, sum_heads=True)
    y = algo.td_targets(b, q)
    mask = b["filled"]
    torch.testing.assert_close(y[mask], expected[mask], atol=1e-4, rtol=1e-4)
    chosen = q[:, :-1].gather(-1, b["actions"].unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(algo.mixer(chosen, b["state"][:, :-1]), chosen.sum(-1), rtol=0, atol=0)
    # the loss the optimiser steps on: the masked mean over steps of (sum of heads - y)^2
    algo.buffer.sample = lambda n, gen: b
    loss = ((chosen.sum(-1) - y)[mask] ** 2).mean()
    assert algo._train_step()["td_loss"] == pytest.approx(float(loss.detach()), rel=1e-5)


def test_every_head_reads_the_joint_observation_and_last_actions():
    spec = envs.task_spec("smax/3m")
    torch.manual_seed(0)
    net = CentralQAgent(spec.n_agents, spec.obs_dim, spec.n_actions, 32)
    B, K = 5, spec.n_agents
    obs, last = torch.randn(B, K, spec.obs_dim), torch.randint(0, spec.n_actions, (B, K))
    h = net.initial_hidden(B)
    assert h.shape == (1, B, 32)
    base, _ = net(obs, last, h)
    for j in range(K):
        moved = obs.clone()
        moved[:, j] += 1.0
        q, _ = net(moved, last, h)
        assert all(not torch.allclose(q[:, k], base[:, k]) for k in range(K))  # every head sees agent j
        other = last.clone()
        other[:, j] = (other[:, j] + 1) % spec.n_actions
        q, _ = net(obs, other, h)
        assert all(not torch.allclose(q[:, k], base[:, k]) for k in range(K))
    # stepping equals the whole-episode pass
    T = 4
    seq_obs, seq_last = torch.randn(B, T, K, spec.obs_dim), torch.randint(-1, spec.n_actions, (B, T, K))
    whole = net.episodes(seq_obs, seq_last)
    for t in range(T):
        q, h = net(seq_obs[:, t], seq_last[:, t], h)
        torch.testing.assert_close(q, whole[:, t], atol=1e-5, rtol=1e-5)


def test_cadence_soft_targets_and_epsilon_by_episodes():
    algo = CentralVDN(resolve(CentralVDNConfig, SMALL))
    assert isinstance(algo.opt, torch.optim.Adam) and algo.opt.defaults["weight_decay"] == 1e-4

    def gradient_steps():
        return int(algo.opt.state[next(algo.agent.parameters())].get("step", 0))

    target0 = {k: v.clone() for k, v in algo.target_agent.state_dict().items()}
    first = algo.collect()["steps"]  # 4 episodes: the buffer does not hold a batch of 8 yet
    algo.update()
    assert gradient_steps() == 0 and all(torch.equal(v, target0[k]) for k, v in algo.target_agent.state_dict().items())
    second = algo.collect()["steps"]
    algo.update()  # one gradient step per 20 env steps, counted over every collect
    assert gradient_steps() == int(second / 20 + (first / 20 - int(first / 20)))
    assert gradient_steps() >= 1
    # the target network follows the online one by tau after every gradient step
    before = {k: v.clone() for k, v in algo.target_agent.state_dict().items()}
    online_before = {k: v.clone() for k, v in algo.agent.state_dict().items()}
    algo.update_credit = 1.0  # exactly one step owed
    algo.update()
    online = algo.agent.state_dict()
    for k, v in algo.target_agent.state_dict().items():
        assert not torch.equal(online[k], online_before[k])
        torch.testing.assert_close(v, before[k] + 1e-3 * (online[k] - before[k]), atol=1e-7, rtol=1e-6)
    algo.episodes = 20  # half of epsilon_anneal_episodes 40
    assert algo.epsilon() == pytest.approx(1.0 - 0.5 * 0.95)


def test_central_vdn_run_exact_resume_and_cesma_takes_it_as_expert(tmp_path, monkeypatch):
    cfg = resolve(CentralVDNConfig, SMALL)
    rows = train(cfg, tmp_path / "a", progress=False)
    assert rows[-1]["env_steps"] >= 1200 and rows[-1]["td_loss"] == rows[-1]["td_loss"]
    train_killed_at_update(monkeypatch, CentralVDN, 6, train, cfg, tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert "resumed at" in (tmp_path / "b" / "train.log").read_text()
    assert_same_run(tmp_path / "a", tmp_path / "b")
    # a centralized expert for CESMA: loaded, checked, acting greedily with its own hidden layout [1, N, H]
    spec = envs.task_spec("smax/3m")
    net, ckpt = load_centralized_expert(tmp_path / "a" / "final_model.pt", "smax/3m", spec)
    assert ckpt["algorithm"] == "central_vdn" and net.initial_hidden(4).shape == (1, 4, 64)
    # QMIX's checkpoint is not a centralized controller: refused, naming what it is and what is needed
    train_qmix(resolve(QMIXConfig, {**SMALL, "env_steps_per_update": 0, "epsilon_anneal_episodes": 0,
                                    "total_env_steps": 400, "eval_interval": 400}), tmp_path / "q", progress=False)
    with pytest.raises(ConfigError, match=r"checkpoint of QMIX \(CTDE execution\).*central_vdn"):
        load_centralized_expert(tmp_path / "q" / "final_model.pt", "smax/3m", spec)
    assert load_checkpoint(tmp_path / "a" / "final_model.pt")["config"]["mixer"] == "sum"
    assert registry.learner("central_vdn").execution == "centralized"


def test_central_vdn_config_checks():
    with pytest.raises(ConfigError, match="mixer must be sum.*got monotonic"):
        resolve(CentralVDNConfig, {**SMALL, "mixer": "monotonic"})
    with pytest.raises(ConfigError, match="set one gradient-step cadence: env_steps_per_update 20 or "
                                          "updates_per_episode 0.5"):
        resolve(CentralVDNConfig, {**SMALL, "updates_per_episode": 0.5})
    with pytest.raises(ConfigError, match="set one gradient-step cadence: env_steps_per_update 0 or "
                                          "updates_per_episode 0.0"):  # neither: it would never train
        resolve(CentralVDNConfig, {**SMALL, "env_steps_per_update": 0})
    # the settings a run never reads go to the workflow at their defaults (changing them reruns nothing)
    assert set(resolve(CentralVDNConfig, SMALL).unused_keys()) == {
        "mixing_embed_dim", "hypernet_embed", "rms_alpha", "rms_eps", "target_update_episodes", "epsilon_anneal_steps"}


def test_iql_targets_are_each_agents_own():
    cfg = resolve(QMIXConfig, {**SMALL, "mixer": "none", "env_steps_per_update": 0, "epsilon_anneal_episodes": 0})
    algo = QMIX(cfg)
    assert not list(algo.mixer.parameters())
    b = _batch(algo)
    q, expected = _plain_targets(algo, b, sum_heads=False)
    y = algo.td_targets(b, q)
    assert y.shape == expected.shape
    mask = b["filled"]
    torch.testing.assert_close(y[mask], expected[mask], atol=1e-4, rtol=1e-4)
    algo.buffer.sample = lambda n, gen: b
    chosen = q[:, :-1].gather(-1, b["actions"].unsqueeze(-1)).squeeze(-1)
    loss = ((chosen - y)[mask] ** 2).mean()  # every living step of every agent weighs the same
    assert algo._train_step()["td_loss"] == pytest.approx(float(loss.detach()), rel=1e-5)
    iql = registry.arm("iql")
    assert iql.learner == "qmix" and iql.settings == {"mixer": "none"} and iql.mode.startswith("decentralized")
