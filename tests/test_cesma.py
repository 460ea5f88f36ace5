"""CESMA's multi-agent DAgger (Lin et al. Alg. 1): learner-only rollouts, labels from the joint observation (a
recurrent expert driven along the learners' trajectory), a learner's input is its own observation only, no gradient
crosses learners, the buffers, exact resume, and bad expert checkpoints refused before training. The learning test
trains a real centralized expert first."""
import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import yaml

import envs
from algorithms import registry
from algorithms.cesma import (CESMA, CESMAConfig, CommMLPPolicy, DecentralizedMLPPolicy, EpisodeLabelBuffer, LabelBuffer,
                              SharedRecurrentPolicy, train)
from algorithms.central_ppo import CentralPPOConfig, train as train_central
from algorithms.central_vdn import CentralQAgent, CentralVDNConfig, train as train_vdn
from algorithms.common.config import ConfigError, load_config, resolve
from algorithms.common.networks import CentralizedActorCritic, IndependentActorCritic
from algorithms.common.runio import atomic_torch_save, load_checkpoint
from run_helpers import assert_same_run, train_killed_at_update

TASK = "mpe/spread_3"
SMALL = dict(task=TASK, total_env_steps=600, eval_interval=200, eval_episodes=4, warmup_records=64,
             checkpoint_interval=400, torch_threads=1)


def write_checkpoint(path, algorithm: str, net, task: str = TASK, spec=None, config=None):
    spec = spec or dataclasses.asdict(envs.task_spec(task))
    atomic_torch_save({"algorithm": algorithm, "model": net.state_dict(), "env_steps": 1234, "task": task,
                       "spec": spec, "config": config or {"hidden_size": net.hidden, "actor_gain": 0.01}}, path)
    return path


@pytest.fixture(scope="module")
def expert_path(tmp_path_factory):
    """A centralized controller with random weights (its labels vary with every agent's observation)."""
    spec = envs.task_spec(TASK)
    torch.manual_seed(0)
    net = CentralizedActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, hidden=32, actor_gain=1.0)
    return write_checkpoint(tmp_path_factory.mktemp("expert") / "central.pt", "central_ppo", net)


def test_a_learner_reads_only_its_own_observation():
    K, O, A = 3, 6, 5
    torch.manual_seed(0)
    net = DecentralizedMLPPolicy(K, O, A, hidden=16)
    with torch.no_grad():
        net.head.weight.mul_(100)  # visible logits
    obs, avail = torch.randn(8, K, O), torch.ones(8, K, A, dtype=torch.bool)
    base = net.logits(obs, avail)
    for j in range(K):
        moved = obs.clone()
        moved[:, j] += torch.randn(8, O)
        logits = net.logits(moved, avail)
        for k in range(K):
            if k == j:
                assert not torch.allclose(logits[:, k], base[:, k])
            else:
                torch.testing.assert_close(logits[:, k], base[:, k], rtol=0, atol=0)


def test_no_gradient_crosses_learners(expert_path):
    algo = CESMA(resolve(CESMAConfig, {**SMALL, "expert": str(expert_path)}))
    algo.collect()  # fills the buffer past the warm-up
    batch = algo.buffer.sample(32, torch.Generator().manual_seed(1), per_agent=False)
    _, per_learner, _ = algo.supervised_loss(batch)
    K = algo.spec.n_agents
    for k in range(K):
        algo.policy.zero_grad(set_to_none=False)
        per_learner[k].backward(retain_graph=True)
        for name, p in algo.policy.named_parameters():
            others = [i for i in range(K) if i != k]
            assert p.grad[k].abs().sum() > 0, (name, k)
            assert p.grad[others].abs().sum() == 0, (name, k)
    # the run's own supervised step (its optimiser, with the statistics it has gathered): change only learner 0's
    # labels, and only learner 0's parameters and Adam statistics come out different
    policy0, opt0 = copy.deepcopy(algo.policy.state_dict()), copy.deepcopy(algo.opt.state_dict())
    outcomes = []
    for labels in (batch["label"], torch.cat([(batch["label"][:, :1] + 1) % algo.spec.n_actions,
                                              batch["label"][:, 1:]], 1)):
        algo.policy.load_state_dict(policy0)
        algo.opt.load_state_dict(copy.deepcopy(opt0))  # (loading keeps the given tensors: a step changes them)
        algo.buffer.sample = lambda n, gen, per_agent, labels=labels: {**batch, "label": labels}
        algo.supervised_step()
        params = {n: p.detach().clone() for n, p in algo.policy.named_parameters()}
        moments = {n: {k: v.clone() for k, v in algo.opt.state[p].items() if k != "step"}
                   for n, p in algo.policy.named_parameters()}
        outcomes.append((params, moments))
    (p_a, m_a), (p_b, m_b) = outcomes
    for n in p_a:
        assert not torch.equal(p_a[n][0], p_b[n][0]) and torch.equal(p_a[n][1:], p_b[n][1:]), n
        for k in m_a[n]:
            assert torch.equal(m_a[n][k][1:], m_b[n][k][1:]), (n, k)
    assert registry.arm("cesma").mode.startswith("decentralized")


def test_dagger_executes_only_learner_actions_and_labels_come_from_the_joint_observation(expert_path, monkeypatch):
    algo = CESMA(resolve(CESMAConfig, {**SMALL, "expert": str(expert_path)}))
    chosen, executed, labels_seen = [], [], []
    real_actions, real_step, real_labels = algo.learner_actions, algo.env.step, algo.expert_labels

    def learner_actions(obs, avail):
        a = real_actions(obs, avail)
        chosen.append(a.clone())
        return a

    def expert_labels(obs, avail):
        a = real_labels(obs, avail)
        labels_seen.append(a.clone())
        return a

    dones = []

    def step(actions):
        executed.append(torch.as_tensor(np.array(actions)))
        result = real_step(actions)
        dones.append(torch.from_numpy(result.done))
        return result

    monkeypatch.setattr(algo, "learner_actions", learner_actions)
    monkeypatch.setattr(algo, "expert_labels", expert_labels)
    monkeypatch.setattr(algo.env, "step", step)
    obs0 = algo.obs
    algo.collect()
    algo.collect()  # two episodes of MPE: the expert's memory must start afresh at the second
    assert torch.stack(dones).any(1).sum() == 2
    chosen, executed, labels_seen = torch.stack(chosen), torch.stack(executed).long(), torch.stack(labels_seen)
    assert torch.equal(executed, chosen)  # beta = 0: the expert's actions are never executed...
    assert (labels_seen != executed).float().mean() > 0.2  # ...though they often differ from the learners'
    # every stored label is the expert's action on that step's joint observation, its GRU driven by the learners'
    # executed actions along the trajectory and reset where an episode ended
    T, N = executed.shape[:2]
    net = algo.expert
    h = net.initial_hidden(N)
    last = torch.full(executed.shape[1:], -1, dtype=torch.long)
    stored_obs = algo.buffer.obs[: T * N].view(T, N, -1, algo.spec.obs_dim)
    stored_labels = algo.buffer.label[: T * N].view(T, N, -1)
    torch.testing.assert_close(stored_obs[0], torch.from_numpy(obs0.obs))
    for t in range(T):
        logits, _, h = net.step(stored_obs[t], last, torch.ones(*last.shape, algo.spec.n_actions, dtype=torch.bool), h)
        assert torch.equal(logits.argmax(-1), stored_labels[t]), t
        last = executed[t].masked_fill(dones[t][:, None], -1)
        h = h.masked_fill(dones[t].view(1, -1, 1), 0.0)
    # another agent's observation changes an agent's label: the expert reads the joint observation
    moved = stored_obs[0].clone()
    moved[:, 1] += 1.0
    h0 = net.initial_hidden(N)
    none = torch.full(last.shape, -1, dtype=torch.long)
    avail = torch.ones(*last.shape, algo.spec.n_actions, dtype=torch.bool)
    a = net.step(stored_obs[0], none, avail, h0)[0][:, 0]
    b = net.step(moved, none, avail, h0)[0][:, 0]
    assert not torch.allclose(a, b)


SMAX = "smax/3m"


@pytest.fixture(scope="module")
def smax_expert_path(tmp_path_factory):
    """A centralized VDN expert with random weights on 3m."""
    spec = envs.task_spec(SMAX)
    torch.manual_seed(2)
    net = CentralQAgent(spec.n_agents, spec.obs_dim, spec.n_actions, 32)
    return write_checkpoint(tmp_path_factory.mktemp("expert") / "vdn.pt", "central_vdn", net, task=SMAX,
                            config={"hidden_size": 32})


def smax_config(expert, **keys):
    """The shipped config's SMAX learners (the cesma block's smax/* overrides) at a small size."""
    return load_config(CESMAConfig, "config/config.yaml", {
        "task": SMAX, "expert": str(expert), "num_envs": 4, "batch_episodes": 4, "warmup_episodes": 4,
        "capacity_episodes": 10, "total_env_steps": 600, "eval_interval": 300, "eval_episodes": 4,
        "checkpoint_interval": 600, **keys}, section="cesma")


def test_shared_recurrent_learners_read_their_own_inputs_only():
    spec = envs.task_spec(SMAX)
    K, A = spec.n_agents, spec.n_actions
    torch.manual_seed(0)
    net = SharedRecurrentPolicy(K, spec.obs_dim, A, hidden=16)
    B, T = 4, 5
    obs, last = torch.randn(B, T, K, spec.obs_dim), torch.randint(-1, A, (B, T, K))
    avail = torch.ones(B, T, K, A, dtype=torch.bool)
    base = net.episode_logits(obs, last, avail)
    for j in range(K):
        moved_obs, moved_last = obs.clone(), last.clone()
        moved_obs[:, 0, j] += 1.0  # agent j's first observation and its later last action: only j's logits move
        moved_last[:, 2, j] = (moved_last[:, 2, j] + 2) % A
        for logits in (net.episode_logits(moved_obs, last, avail), net.episode_logits(obs, moved_last, avail)):
            for k in range(K):
                if k == j:
                    assert not torch.allclose(logits[:, :, k], base[:, :, k])
                else:
                    torch.testing.assert_close(logits[:, :, k], base[:, :, k], rtol=0, atol=0)
    h = net.initial_hidden(B)  # stepping equals the whole-episode pass
    for t in range(T):
        logits, _, h = net.step(obs[:, t], last[:, t], avail[:, t], h)
        torch.testing.assert_close(logits, base[:, t], atol=1e-5, rtol=1e-5)


def test_smax_dagger_stores_whole_episodes_labelled_from_the_joint_observation(smax_expert_path, monkeypatch):
    algo = CESMA(smax_config(smax_expert_path))
    assert algo.cfg.network == "shared_rnn" and algo.cfg.acting == "greedy" and algo.cfg.k == 20
    chosen, executed, seen = [], [], []
    real_actions, real_step = algo.learner_actions, algo.env.step
    monkeypatch.setattr(algo, "learner_actions", lambda obs, avail: seen.append(obs.clone()) or
                        chosen.append(real_actions(obs, avail)) or chosen[-1])
    monkeypatch.setattr(algo.env, "step", lambda a: executed.append(torch.as_tensor(np.array(a)).long()) or
                        real_step(a))
    steps = algo.collect()["steps"]
    assert torch.equal(torch.stack(executed), torch.stack(chosen))  # the expert's actions are never executed
    buf, N = algo.buffer, algo.cfg.num_envs
    assert buf.size == N and int(buf.filled[:N].sum()) == steps
    # every episode stored from its start; its labels: the expert's greedy actions on the joint observation, its GRU
    # run from a fresh memory along the learners' executed actions; greedy learners acted on their own history
    # (replayed on all N envs at once, as collected: the same matrix shapes, so the same rounding)
    expert, learners, K = algo.expert, algo.policy, algo.spec.n_agents
    seen, executed = torch.stack(seen), torch.stack(executed)  # [T', N, ...]: every env's steps, past its end too
    lengths = buf.filled[:N].sum(1)
    h, last, hl = expert.initial_hidden(N), torch.full((N, K), -1), learners.initial_hidden(N)
    for t in range(seen.shape[0]):
        inside = t < lengths  # [N]: the envs whose stored episode holds step t
        avail = torch.where(inside[:, None, None], buf.avail[:N, t], True)
        q, _, h = expert.step(seen[t], last, avail, h)
        logits, _, hl = learners.step(seen[t], last, avail, hl)
        for i in torch.nonzero(inside).flatten().tolist():
            torch.testing.assert_close(buf.obs[i, t].float(), seen[t, i], atol=1e-2, rtol=1e-3)  # (float16)
            assert torch.equal(buf.action[i, t].long(), executed[t, i])
            assert torch.equal(q.argmax(-1)[i], buf.label[i, t].long()), (i, t)
            alive = buf.alive[i, t]
            assert torch.equal(logits.argmax(-1)[i][alive], executed[t, i][alive]), (i, t)
        last = executed[t]
    for i in range(N):
        L = int(lengths[i])
        assert not buf.alive[i, L:].any() and not buf.filled[i, L:].any()
    assert (buf.label[:N] != buf.action[:N])[buf.alive[:N]].float().mean() > 0.2  # the random expert disagrees


def test_episode_buffer_shared_and_per_agent_sampling():
    buf = EpisodeLabelBuffer(6, T=5, K=3, obs_dim=1, n_actions=2)
    for i in range(8):  # 8 episodes into 6 places: the oldest two are gone; episode i lasts 1 + i % 5 steps
        L = 1 + i % 5
        ep = {"obs": torch.full((1, 5, 3, 1), float(i)), "action": torch.zeros(1, 5, 3, dtype=torch.long),
              "label": torch.zeros(1, 5, 3, dtype=torch.long), "alive": torch.zeros(1, 5, 3, dtype=torch.bool),
              "avail": torch.ones(1, 5, 3, 2, dtype=torch.bool), "filled": torch.zeros(1, 5, dtype=torch.bool)}
        ep["filled"][0, :L], ep["alive"][0, :L] = True, True
        buf.insert(ep)
    assert buf.size == 6 and sorted(buf.obs[:, 0, 0, 0].tolist()) == list(range(2, 8))
    shared = buf.sample(64, torch.Generator().manual_seed(0), per_agent=False)
    first = shared["obs"][:, 0, :, 0]
    assert torch.equal(first[:, 0], first[:, 1]) and torch.equal(first[:, 0], first[:, 2])
    # cut to the longest episode drawn; each drawn episode's own steps alive, its padding not
    lengths = 1 + first[:, 0].long() % 5
    assert shared["obs"].shape[1] == int(lengths.max())
    assert torch.equal(shared["alive"][:, :, 0].sum(1), lengths)
    own = buf.sample(64, torch.Generator().manual_seed(0), per_agent=True)["obs"][:, 0, :, 0]
    assert not torch.equal(own[:, 0], own[:, 1])


def test_smax_run_exact_resume(smax_expert_path, tmp_path, monkeypatch):
    cfg = smax_config(smax_expert_path, buffer="per_agent", k=5)
    rows = train(cfg, tmp_path / "a", progress=False)
    assert rows[-1]["supervised_steps"] > 10 and rows[-1]["buffer_size"] == 10  # the buffer wrapped
    assert "network: shared_rnn" in (tmp_path / "a" / "config.yaml").read_text()
    net = SharedRecurrentPolicy.__name__
    assert type(registry.learner("cesma").load().acting_policy(
        load_checkpoint(tmp_path / "a" / "final_model.pt"))).__name__ == net
    train_killed_at_update(monkeypatch, CESMA, 4, train, cfg, tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_beta_mixture_executes_expert_actions(expert_path):
    algo = CESMA(resolve(CESMAConfig, {**SMALL, "expert": str(expert_path), "beta_start": 1.0}))
    labels = []
    real_labels = algo.expert_labels
    algo.expert_labels = lambda obs, avail: labels.append(real_labels(obs, avail)) or labels[-1]
    real_step, executed = algo.env.step, []
    algo.env.step = lambda a: executed.append(torch.as_tensor(np.array(a)).long()) or real_step(a)
    algo.collect()
    assert torch.equal(torch.stack(executed), torch.stack(labels))  # beta 1: the expert acts


def test_buffers_shared_and_per_agent():
    buf = LabelBuffer(10, 3, 2, 4)
    for i in range(3):  # 12 records into 10 places: the oldest two are gone
        obs = torch.arange(4 * i, 4 * i + 4).float().view(4, 1, 1).expand(4, 3, 2)
        buf.insert(obs, torch.zeros(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.bool),
                   torch.ones(4, 3, 4, dtype=torch.bool))
    assert buf.size == 10 and sorted(buf.obs[:, 0, 0].tolist()) == list(range(2, 12))
    shared = buf.sample(64, torch.Generator().manual_seed(0), per_agent=False)["obs"][..., 0]
    assert torch.equal(shared[:, 0], shared[:, 1]) and torch.equal(shared[:, 0], shared[:, 2])
    own = buf.sample(64, torch.Generator().manual_seed(0), per_agent=True)["obs"][..., 0]
    assert not torch.equal(own[:, 0], own[:, 1])


def test_run_outputs_and_exact_resume(expert_path, tmp_path, monkeypatch):
    cfg = resolve(CESMAConfig, {**SMALL, "expert": str(expert_path), "buffer": "per_agent"})
    rows = train(cfg, tmp_path / "a", progress=False)
    assert [r["env_steps"] for r in rows] == [0, 200, 400, 600]
    # warm from the 8th joint step of the 8 envs (64 records) on: 8 supervised steps (k = 1) after each of 68 steps
    assert rows[-1]["supervised_steps"] == 68 * 8 and rows[-1]["buffer_size"] == 600
    resolved = (tmp_path / "a" / "config.yaml").read_text()
    assert "arm: cesma_per_agent_buffer" in resolved and "trained_env_steps: 1234" in resolved
    assert "assumed:\n- num_envs\n- capacity" in resolved
    final = load_checkpoint(tmp_path / "a" / "final_model.pt")
    assert final["algorithm"] == "cesma"
    # the expert's own greedy score, on fixed episodes: the same for another seed of the same expert
    greedy = yaml.safe_load(resolved)["expert"]["greedy"]
    assert greedy["episodes"] == 128 and -200 < greedy["test_return"] < 0
    assert math.isnan(greedy["test_win_rate"])  # MPE has no win condition: NaN, not a 0 that reads as a failure
    other = CESMA(resolve(CESMAConfig, {**SMALL, "expert": str(expert_path), "seed": 5}))
    again = other.run_metadata["expert"]["greedy"]
    assert math.isnan(again.pop("test_win_rate")) and again == {k: v for k, v in greedy.items() if k != "test_win_rate"}
    train_killed_at_update(monkeypatch, CESMA, 2, train, cfg, tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_exact_resume_mid_episode_with_k_and_a_wrapped_buffer(tmp_path, monkeypatch):
    """SMAX episodes end at different steps, so the resume point falls inside episodes (the expert's memory and
    the last actions are part of it); k = 3 and a buffer that wraps around."""
    spec = envs.task_spec("smax/3m")
    torch.manual_seed(1)
    net = CentralizedActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, hidden=16, actor_gain=1.0)
    expert = write_checkpoint(tmp_path / "smax_expert.pt", "central_ppo", net, task="smax/3m")
    cfg = resolve(CESMAConfig, dict(task="smax/3m", expert=str(expert), total_env_steps=1440, eval_interval=480,
                                    eval_episodes=4, warmup_records=64, capacity=1000, k=3, acting="greedy",
                                    torch_threads=1, checkpoint_interval=960))
    rows = train(cfg, tmp_path / "a", progress=False)
    # warm after 8 joint steps of the 8 envs (64 records); then one supervised step per 3 env steps, exactly
    assert rows[-1]["supervised_steps"] == (1440 - 56) // 3 and rows[-1]["buffer_size"] == 1000
    killed = {}
    real_state = CESMA.training_state

    def remember(self):  # the resume point the kill leaves: some envs are inside an episode
        state = real_state(self)
        killed.update(hidden=state["expert_hidden"], last=state["last_action"])
        return state

    monkeypatch.setattr(CESMA, "training_state", remember)
    train_killed_at_update(monkeypatch, CESMA, 2, train, cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(CESMA, "training_state", real_state)
    assert killed["hidden"].abs().sum() > 0 and (killed["last"] >= 0).any()
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b", models=False)
    # a run resumed against an expert whose weights changed since it started is refused
    train_killed_at_update(monkeypatch, CESMA, 2, train, cfg, tmp_path / "c", progress=False)
    with torch.no_grad():
        net.actor_head.weight.add_(1.0)
    write_checkpoint(expert, "central_ppo", net, task="smax/3m")
    with pytest.raises(ConfigError, match="is not the checkpoint this run started with"):
        train(cfg, tmp_path / "c", progress=False)


def test_bad_expert_checkpoints_fail_before_training(expert_path, tmp_path):
    def refused(match, **keys):
        with pytest.raises(ConfigError, match=match):
            train(resolve(CESMAConfig, {**SMALL, **keys}), tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()  # nothing written

    refused("needs a centralized expert's checkpoint")
    refused("does not exist", expert=str(tmp_path / "missing.pt"))
    refused("is a folder; give a run's checkpoints/step_<N>.pt or final_model.pt", expert=str(tmp_path))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    refused(r"is not a learner's model checkpoint \(missing: \['algorithm'", expert=str(tmp_path / "other.pt"))
    spec = envs.task_spec(TASK)
    ippo = IndependentActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, hidden=8)
    refused(r"checkpoint of IPPO \(decentralized execution\), but CESMA's expert must be centralized.*: a run of "
            "central_ppo",
            expert=str(write_checkpoint(tmp_path / "ippo.pt", "ippo", ippo)))
    other = envs.task_spec("smax/3m")
    central = CentralizedActorCritic(other.n_agents, other.obs_dim, other.n_actions, hidden=8)
    refused("was trained on smax/3m, but this run is on mpe/spread_3",
            expert=str(write_checkpoint(tmp_path / "smax.pt", "central_ppo", central, task="smax/3m")))
    four = {**dataclasses.asdict(spec), "n_agents": 4}
    refused(r"acts for \{'n_agents': 4, 'obs_dim': 18, 'n_actions': 5\}, but mpe/spread_3 here has \{'n_agents': 3",
            expert=str(write_checkpoint(tmp_path / "four.pt", "central_ppo",
                                        CentralizedActorCritic(4, spec.obs_dim, spec.n_actions, hidden=8), spec=four)))
    narrow = CentralizedActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, hidden=8)
    refused("does not load as a centralized PPO network",
            expert=str(write_checkpoint(tmp_path / "narrow.pt", "central_ppo", narrow, config={"hidden_size": 16,
                                                                                              "actor_gain": 0.01})))
    with pytest.raises(ConfigError, match="downweighted_action 7 is not an action of mpe/spread_3"):
        resolve(CESMAConfig, {**SMALL, "expert": str(expert_path), "downweighted_action": 7})


def test_decentralized_learners_reach_a_trained_expert(tmp_path):
    """The learning test: a centralized PPO expert trained for 200k steps, then 40k steps of DAgger. The learners'
    greedy return (64 test episodes) must come within 15% of the expert-to-random gap of the expert's own greedy return
    (its run's last evaluation, 64 episodes of other seeds), and far above random."""
    expert_cfg = resolve(CentralPPOConfig, dict(
        task=TASK, seed=3, total_env_steps=200_000, num_envs=64, rollout_length=64, hidden_size=128,
        eval_interval=100_000, eval_episodes=64, checkpoint_interval=200_000, torch_threads=2, precision="float32",
        compile="never"))
    expert_rows = train_central(expert_cfg, tmp_path / "expert", progress=False)
    expert_return = expert_rows[-1]["test_return"]
    rows = train(resolve(CESMAConfig, dict(task=TASK, seed=0, total_env_steps=40_000, eval_interval=20_000,
                                           eval_episodes=64, expert=str(tmp_path / "expert" / "final_model.pt"))),
                 tmp_path / "cesma", progress=False)
    random_return = -52.61  # config/config.yaml scores: a uniformly random policy on mpe/spread_3
    learner_return = rows[-1]["test_return"]
    gap = expert_return - random_return
    assert gap > 6, f"the expert did not learn: {expert_return:.1f}"  # (measured: -40.3, a gap of 12.3)
    assert learner_return >= expert_return - 0.15 * gap, (learner_return, expert_return, rows[-1])
    assert rows[-1]["label_accuracy"] > 0.6


def test_smax_learners_reach_a_trained_vdn_expert(tmp_path):
    """The learning test on SMAX: the centralized VDN expert (the shipped config, App. E.1) trained for 200k steps of
    3m, then 30k steps of DAgger into the shared recurrent learners (the shipped smax/* settings). The expert must
    win at least 30% of its greedy episodes (measured: 0.55 of 128; random play wins none), and the learners' greedy
    win rate (128 test episodes) must reach 80% of the expert's at one of their evaluations (measured: 0.59, 0.78,
    0.69 at 10k, 20k, 30k on 32 episodes)."""
    expert_cfg = load_config(CentralVDNConfig, "config/config.yaml", {
        "task": SMAX, "total_env_steps": 200_000, "eval_interval": 100_000, "checkpoint_interval": 200_000,
        "torch_threads": 1}, section="qmix,central_vdn")
    train_vdn(expert_cfg, tmp_path / "expert", progress=False)
    cfg = load_config(CESMAConfig, "config/config.yaml", {
        "task": SMAX, "total_env_steps": 30_000, "eval_interval": 10_000, "eval_episodes": 128,
        "expert": str(tmp_path / "expert" / "final_model.pt")}, section="cesma")
    rows = train(cfg, tmp_path / "cesma", progress=False)
    expert_win = yaml.safe_load((tmp_path / "cesma" / "config.yaml").read_text())["expert"]["greedy"]["test_win_rate"]
    assert expert_win >= 0.3, f"the expert did not learn 3m: greedy win rate {expert_win}"
    learners = [r["test_win_rate"] for r in rows[1:]]
    assert max(learners) >= 0.8 * expert_win, (learners, expert_win)


# ------------------------------------------------------------------------- communication (Alg. 2)
COMM_SMALL = dict(total_env_steps=600, eval_interval=200, eval_episodes=4, warmup_records=64, checkpoint_interval=400,
                  torch_threads=1, hidden_size=16)


def comm_expert(tmp_path, task: str):
    """A centralized controller with random weights on the task's physical view (as central_ppo trains it)."""
    spec = envs.task_spec(task, physical_only=True)
    torch.manual_seed(0)
    net = CentralizedActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, hidden=32, actor_gain=1.0)
    return write_checkpoint(tmp_path / f"{task.replace('/', '_')}.pt", "central_ppo", net, task=task,
                            spec=dataclasses.asdict(spec))


def test_comm_learners_read_their_own_observation_and_act_on_both_heads():
    spec = envs.task_spec("mpe/reference_3")
    torch.manual_seed(0)
    net = CommMLPPolicy(spec.n_agents, spec.obs_dim, spec.n_actions, spec.comm, hidden=16)
    with torch.no_grad():
        net.physical_head.weight.mul_(100)
        net.message_head.weight.mul_(100)
    obs, avail = torch.randn(8, 3, spec.obs_dim), torch.ones(8, 3, spec.n_actions, dtype=torch.bool)
    base = net.logits(obs, avail)
    for j in range(3):
        moved = obs.clone()
        moved[:, j] += torch.randn(8, spec.obs_dim)
        logits = net.logits(moved, avail)
        for k in range(3):
            assert torch.equal(logits[:, k], base[:, k]) != (k == j)
    # the flat policy is the product of the heads: its argmax is (argmax physical, argmax message), it sums to 1
    physical, message = net.heads(obs)
    flat = spec.comm.join_action(physical.argmax(-1), message.argmax(-1))
    assert torch.equal(base.argmax(-1), flat)
    torch.testing.assert_close(base.exp().sum(-1), torch.ones(8, 3))
    # speaker-listener: the speaker cannot move (its flat action is its message), the listener is silent
    spec = envs.task_spec("mpe/speaker_listener")
    net = CommMLPPolicy(2, spec.obs_dim, spec.n_actions, spec.comm, hidden=16)
    avail = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    obs = torch.randn(4, 2, spec.obs_dim)
    lp, (physical, message) = net.logits(obs, avail.expand(4, 2, 5)), net.heads(obs)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(4, 2))
    torch.testing.assert_close(lp[:, 0, :3], torch.log_softmax(message[:, 0], -1))
    torch.testing.assert_close(lp[:, 1], torch.log_softmax(physical[:, 1], -1))
    # routing: agent k hears its senders' messages in agent order
    spec = envs.task_spec("mpe/reference_3")
    net = CommMLPPolicy(3, spec.obs_dim, spec.n_actions, spec.comm)
    sent = torch.eye(10)[:3].expand(2, 3, 10)  # agent i says word i
    heard = net.route(sent).view(2, 3, 2, 10).argmax(-1)
    assert heard[0].tolist() == [[1, 2], [0, 2], [0, 1]]


def literal_alg2_gradients(algo, batch) -> list[dict]:
    """Alg. 2 line by line: for each agent i, its action loss (what it heard as a fixed input) plus its communication
    loss (the mean over the others j of j's action loss, only i's recomputed message live), differentiated with
    respect to agent i's parameters only (slice i of every stacked tensor)."""
    policy, comm, K = algo.policy, algo.comm, algo.spec.n_agents
    P = comm.physical_obs_dim
    _, message_logits = policy.heads(batch["prev_obs"])
    messages = torch.softmax(message_logits, -1) * (policy.speaks[:, None] & ~batch["first"][:, None, None])
    alive = batch["alive"].float()

    def action_loss(j, heard):
        logits, _ = policy.heads(torch.cat([batch["obs"][..., :P], heard], -1))
        ce = torch.nn.functional.cross_entropy(logits[:, j], batch["label"][:, j], reduction="none")
        return (ce * alive[:, j]).sum() / alive[:, j].sum()

    grads = []
    for i in range(K):
        only_i_live = torch.stack([messages[:, k] if k == i else messages[:, k].detach() for k in range(K)], 1)
        loss = action_loss(i, policy.route(messages).detach())
        if comm.speaks[i] and algo.cfg.comm_loss:
            loss = loss + sum(action_loss(j, policy.route(only_i_live)) for j in range(K) if j != i) / (K - 1)
        params = dict(policy.named_parameters())
        g = torch.autograd.grad(loss, list(params.values()), allow_unused=True, retain_graph=True)
        grads.append({n: (torch.zeros_like(p) if gi is None else gi)[i] for (n, p), gi in zip(params.items(), g)})
    return grads


@pytest.mark.parametrize("task,comm_loss", [("mpe/speaker_listener", True), ("mpe/speaker_listener", False),
                                            ("mpe/reference_3", True)])
def test_comm_loss_reaches_the_sender_and_no_other_gradient_crosses_agents(tmp_path, task, comm_loss):
    algo = CESMA(resolve(CESMAConfig, {**COMM_SMALL, "task": task, "expert": str(comm_expert(tmp_path, task)),
                                       "comm_loss": comm_loss, "message_relaxation": "softmax"}))
    algo.collect()
    batch = algo.buffer.sample(32, torch.Generator().manual_seed(1), per_agent=False)
    assert batch["first"].any() and not batch["first"].all()
    # some agent-steps not alive (MPE agents never die; SMAX's do): their action losses count for nothing
    batch["alive"] = torch.rand(batch["alive"].shape, generator=torch.Generator().manual_seed(2)) > 0.2
    loss, _, _ = algo.supervised_loss(batch)
    algo.policy.zero_grad(set_to_none=False)
    loss.backward()
    expected = literal_alg2_gradients(algo, batch)
    grads = {n: torch.zeros_like(p) if p.grad is None else p.grad for n, p in algo.policy.named_parameters()}
    for name, grad in grads.items():
        for i in range(algo.spec.n_agents):
            torch.testing.assert_close(grad[i], expected[i][name], rtol=1e-5, atol=1e-7, msg=f"{name} {i}")
    speaker_message = grads["message_head.weight"][0]
    if comm_loss:  # the receivers' losses reach the speaker's message head: its only training signal
        assert speaker_message.abs().sum() > 0
    else:
        assert speaker_message.abs().sum() == 0
    if task == "mpe/speaker_listener":  # the speaker cannot move: its physical head learns nothing; the listener
        assert grads["physical_head.weight"][0].abs().sum() == 0  # is silent: no message gradient
        assert grads["message_head.weight"][1].abs().sum() == 0


def test_comm_records_hold_the_step_before_and_physical_labels(tmp_path, monkeypatch):
    task = "mpe/reference"
    algo = CESMA(resolve(CESMAConfig, {**COMM_SMALL, "task": task, "expert": str(comm_expert(tmp_path, task))}))
    executed, seen = [], []
    real_step = algo.env.step
    monkeypatch.setattr(algo.env, "step", lambda a: (executed.append(torch.as_tensor(np.array(a))), real_step(a))[1])
    real_labels = algo.expert_labels
    monkeypatch.setattr(algo, "expert_labels", lambda o, av: (seen.append(o.clone()), real_labels(o, av))[1])
    algo.collect()
    T, N, P = len(executed), algo.cfg.num_envs, algo.comm.physical_obs_dim
    obs = algo.buffer.obs[:T * N].view(T, N, 2, -1)
    prev, first = algo.buffer.prev_obs[:T * N].view(T, N, 2, -1), algo.buffer.first[:T * N].view(T, N)
    assert first[0].all() and not first[1:].any()  # one MPE episode per collect
    torch.testing.assert_close(prev[1:], obs[:-1])
    # the messages heard at t + 1 are the ones executed at t (MPE delivers them), the labels are physical actions
    # of the expert reading the joint physical observation
    words = algo.comm.split_action(torch.stack(executed))[1]
    torch.testing.assert_close(obs[1:, :, 0, P:], torch.nn.functional.one_hot(words[:-1, :, 1], 10).float())
    assert all(torch.equal(o, obs[t]) for t, o in enumerate(seen))  # queried with the whole observation...
    assert algo.expert.input_dim == 2 * (P + 5)  # ...of which it reads the physical part (and physical last actions)
    assert int(algo.buffer.label.max()) < 5
    with torch.no_grad():  # another agent's physical observation changes an agent's label
        algo.expert_hidden = algo.expert.initial_hidden(N)
        algo.last_action = torch.full((N, 2), -1)
        a = algo.expert_labels(obs[0], None)
        moved = obs[0].clone()
        moved[:, 1, :P] += 3.0
        algo.expert_hidden = algo.expert.initial_hidden(N)
        b = algo.expert_labels(moved, None)
    assert not torch.equal(a[:, 0], b[:, 0])


def test_comm_run_exact_resume_and_bad_comm_settings(tmp_path, monkeypatch):
    task = "mpe/speaker_listener"
    expert = str(comm_expert(tmp_path, task))
    cfg = resolve(CESMAConfig, {**COMM_SMALL, "task": task, "expert": expert})
    rows = train(cfg, tmp_path / "a", progress=False)
    assert np.isfinite(rows[-1]["comm_loss"]) and rows[-1]["supervised_steps"] > 0
    train_killed_at_update(monkeypatch, CESMA, 2, train, cfg, tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")
    for keys, match in [({"network": "shared_rnn"}, "network 'shared_rnn' has no message head"),
                        ({"buffer": "per_agent"}, "buffer 'per_agent'.*buffer shared only"),
                        ({"task": "mpe/spread_3", "comm_loss": False}, "mpe/spread_3 has no communication channel")]:
        with pytest.raises(ConfigError, match=match):
            resolve(CESMAConfig, {**COMM_SMALL, "task": task, "expert": expert, **keys})
    # an expert of the task's flat actions (not its physical view) is refused, naming both
    spec = envs.task_spec(task)
    flat = CentralizedActorCritic(spec.n_agents, spec.obs_dim, spec.n_actions, hidden=8)
    path = write_checkpoint(tmp_path / "flat.pt", "central_ppo", flat, task=task)
    with pytest.raises(ConfigError, match="acts for .*'obs_dim': 11.* but mpe/speaker_listener here has .*'obs_dim': 8"):
        train(resolve(CESMAConfig, {**COMM_SMALL, "task": task, "expert": str(path)}), tmp_path / "c", progress=False)


def test_the_listener_reaches_the_expert_only_when_the_communication_loss_trains_the_speaker(tmp_path):
    """The learning test of Alg. 2 on speaker-listener: a centralized PPO expert trained 200k steps on the task's
    physical view, then 50k steps of DAgger with and without the communication loss (the shipped config). Only the
    speaker sees the goal and it cannot move, so its messages are the listener's only way to it, and the only signal
    that trains them is the communication loss. With it the learners' final greedy return (mean of the last 3
    evaluations of 64 episodes) must come within a quarter of the expert-to-random gap of the expert's greedy return
    and beat the learners without it by 1.5 (measured on 2026-12-03: expert -8.1, with -8.6, without -16.2)."""
    task = "mpe/speaker_listener"
    expert_cfg = resolve(CentralPPOConfig, dict(
        task=task, seed=3, total_env_steps=200_000, num_envs=64, rollout_length=64, hidden_size=128,
        eval_interval=50_000, eval_episodes=64, checkpoint_interval=200_000, torch_threads=2, precision="float32",
        compile="never"))
    train_central(expert_cfg, tmp_path / "expert", progress=False)
    finals = {}
    for comm_loss in (True, False):
        cfg = load_config(CESMAConfig, "config/config.yaml", {
            "task": task, "total_env_steps": 50_000, "eval_interval": 10_000, "eval_episodes": 64,
            "comm_loss": comm_loss, "expert": str(tmp_path / "expert" / "final_model.pt")}, section="cesma")
        rows = train(cfg, tmp_path / f"cesma_{comm_loss}", progress=False)
        finals[comm_loss] = float(np.mean([r["test_return"] for r in rows[-3:]]))
    expert = yaml.safe_load((tmp_path / "cesma_True" / "config.yaml").read_text())["expert"]["greedy"]["test_return"]
    random_return = -39.66  # config/config.yaml scores: a uniformly random policy on mpe/speaker_listener
    assert expert > random_return + 20, f"the expert did not learn: {expert:.1f}"
    assert finals[True] >= expert - 0.25 * (expert - random_return), (finals, expert)
    assert finals[True] >= finals[False] + 1.5, (finals, expert)
