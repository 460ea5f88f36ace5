"""The stacked per-agent actor-critic: equal to K separate torch modules, and truly independent (no gradient,
clipping or optimiser state crosses agents, nor an agent's actor and critic)."""
import torch
from torch import nn

from algorithms.common.networks import IndependentActorCritic, clip_grad_norm_per_agent

K, O, A, H = 3, 7, 5, 16


def make_net(seed=0):
    torch.manual_seed(seed)
    net = IndependentActorCritic(K, O, A, hidden=H)
    with torch.no_grad():  # non-trivial LayerNorm affines, so the folding is exercised
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def reference_trunk(net, g):
    """Net g of the stacked trunk as ordinary torch modules."""
    t = net.trunk
    ln = lambda m: nn.LayerNorm(m.weight.shape[-1])  # noqa: E731
    mods = dict(input_norm=ln(t.input_norm), norm1=ln(t.norm1), norm2=ln(t.norm2), out_norm=ln(t.out_norm),
                fc1=nn.Linear(*t.fc1.weight.shape[1:]), fc2=nn.Linear(H, H), gru=nn.GRUCell(H, H))
    with torch.no_grad():
        for name in ["input_norm", "norm1", "norm2", "out_norm"]:
            mods[name].weight.copy_(getattr(t, name).weight[g, 0])
            mods[name].bias.copy_(getattr(t, name).bias[g, 0])
        for name in ["fc1", "fc2"]:
            mods[name].weight.copy_(getattr(t, name).weight[g].T)
            mods[name].bias.copy_(getattr(t, name).bias[g, 0])
        mods["gru"].weight_ih.copy_(t.gru.w_ih[g].T)
        mods["gru"].weight_hh.copy_(t.gru.w_hh[g].T)
        mods["gru"].bias_ih.copy_(t.gru.b_ih[g, 0])
        mods["gru"].bias_hh.copy_(t.gru.b_hh[g, 0])

    def step(x, h):
        y = mods["norm1"](torch.relu(mods["fc1"](mods["input_norm"](x))))
        y = mods["norm2"](torch.relu(mods["fc2"](y)))
        h = mods["gru"](y, h)
        return mods["out_norm"](h), h
    return step


def test_equals_separate_torch_modules():
    net = make_net()
    B = 4
    obs = torch.randn(B, K, O)
    last = torch.randint(-1, A, (B, K))
    avail = torch.ones(B, K, A, dtype=torch.bool)
    avail[0, 0, 2] = False
    h = torch.randn(2 * K, B, H)
    logits, value, h_new = net.step(obs, last, avail, h)
    onehot = torch.nn.functional.one_hot(last + 1, A + 1)[..., 1:].float()
    x = torch.cat([obs, onehot], -1)
    for k in range(K):
        fa, ha = reference_trunk(net, k)(x[:, k], h[k])
        fc, hc = reference_trunk(net, K + k)(x[:, k], h[K + k])
        ref_logits = fa @ net.actor_head.weight[k] + net.actor_head.bias[k, 0]
        ref_value = fc @ net.critic_head.weight[k] + net.critic_head.bias[k, 0]
        torch.testing.assert_close(h_new[k], ha, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h_new[K + k], hc, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(value[:, k], ref_value[:, 0], atol=1e-5, rtol=1e-5)
        ok = avail[:, k]
        torch.testing.assert_close(logits[:, k][ok], ref_logits[ok], atol=1e-5, rtol=1e-5)
    assert logits[0, 0, 2] < -1e9  # unavailable action masked


def test_sequence_equals_stepping_with_resets():
    net = make_net()
    L, B = 6, 3
    obs = torch.randn(L, B, K, O)
    last = torch.randint(-1, A, (L, B, K))
    avail = torch.ones(L, B, K, A, dtype=torch.bool)
    reset = torch.zeros(L, B, dtype=torch.bool)
    reset[3, 1] = True
    h0 = torch.randn(2 * K, B, H)
    logits, value = net.sequence(net.inputs(obs, last), avail, h0, reset)
    h = h0
    for t in range(L):
        h = h * (~reset[t]).float().view(1, B, 1)
        lt, vt, h = net.step(obs[t], last[t], avail[t], h)
        torch.testing.assert_close(logits[t], lt, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(value[t], vt, atol=1e-5, rtol=1e-5)


def agent_loss(net, k, obs, last, avail, h):
    logits, value, _ = net.step(obs, last, avail, h)
    return logits[:, k].logsumexp(-1).sum() + value[:, k].pow(2).sum()


def test_no_gradient_crosses_agents():
    net = make_net()
    B = 5
    obs, last = torch.randn(B, K, O), torch.randint(-1, A, (B, K))
    avail, h = torch.ones(B, K, A, dtype=torch.bool), torch.randn(2 * K, B, H)
    for j in range(K):
        net.zero_grad()
        agent_loss(net, j, obs, last, avail, h).backward()
        for i in range(K):
            total = sum(float(g.abs().sum()) for g in _agent_grads(net, i))
            if i == j:
                assert total > 0
            else:
                assert total == 0.0, f"agent {j}'s loss reached agent {i}'s parameters"


def _agent_grads(net, i):
    Kn = net.n_agents
    for name, p in net.named_parameters():
        if p.grad is None:
            continue
        if name.startswith("trunk."):
            yield p.grad[i]
            yield p.grad[Kn + i]
        else:
            yield p.grad[i]


def test_actor_loss_does_not_reach_critic():
    net = make_net()
    B = 5
    logits, value, _ = net.step(torch.randn(B, K, O), torch.randint(-1, A, (B, K)),
                                torch.ones(B, K, A, dtype=torch.bool), torch.randn(2 * K, B, H))
    logits.logsumexp(-1).sum().backward()
    for name, p in net.named_parameters():
        if name.startswith("trunk."):
            assert p.grad[K:].abs().sum() == 0, name
    assert net.critic_head.weight.grad is None or net.critic_head.weight.grad.abs().sum() == 0


def test_separate_optimiser_state_and_clipping():
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    B = 5
    obs, last = torch.randn(B, K, O), torch.randint(-1, A, (B, K))
    avail, h = torch.ones(B, K, A, dtype=torch.bool), torch.randn(2 * K, B, H)
    # agent 0's loss blown up 1e6x: its clipped step must not change agent 1's update
    for scale in (1.0, 1e6):
        net2 = make_net()
        opt2 = torch.optim.Adam(net2.parameters(), lr=1e-3)
        loss = scale * agent_loss(net2, 0, obs, last, avail, h) + agent_loss(net2, 1, obs, last, avail, h)
        loss.backward()
        norms = clip_grad_norm_per_agent(net2, 10.0)
        opt2.step()
        if scale == 1.0:
            base = [p.detach().clone() for p in net2.parameters()]
            base_state = [opt2.state[p]["exp_avg"].clone() for p in net2.parameters()]
        else:
            for (name, p), b, s in zip(net2.named_parameters(), base, base_state):
                idx = [1] + ([K + 1] if name.startswith("trunk.") else [])
                for i in idx:
                    torch.testing.assert_close(p.detach()[i], b[i], msg=f"{name}[{i}] moved with agent 0's loss")
                    torch.testing.assert_close(opt2.state[p]["exp_avg"][i], s[i])
            assert norms[0] > 10.0  # agent 0's actor was clipped, agent 1 untouched
    # an agent without loss keeps zero optimiser moments
    net.zero_grad()
    agent_loss(net, 0, obs, last, avail, h).backward()
    opt.step()
    for name, p in net.named_parameters():
        state = opt.state[p]["exp_avg"]
        assert state[2].abs().sum() == 0, name


def test_bfloat16_autocast_keeps_heads_in_float32():
    net = make_net()
    B = 64
    obs, last = torch.randn(B, K, O), torch.randint(-1, A, (B, K))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, value, _ = net.step(obs, last, torch.ones(B, K, A, dtype=torch.bool), torch.randn(2 * K, B, H))
    assert logits.dtype == torch.float32 and value.dtype == torch.float32
    # values near 15 are not quantised to bf16's ~0.06 grid
    assert len(set((value + 15).flatten().tolist())) == value.numel()


def test_acting_with_weights_held_ready_is_the_same_computation():
    """``acting()`` folds (and under autocast casts) the weights once for a rollout instead of at every step: the
    outputs are bit-identical to folding at every step, in float32 and in bfloat16, for IPPO's and MAPPO's nets."""
    from algorithms.common.networks import SharedActorCentralCritic

    torch.manual_seed(1)
    B, S = 6, 9
    nets = [make_net(), SharedActorCentralCritic(K, O, S, A, hidden=H)]
    with torch.no_grad():
        for p in nets[1].parameters():
            p.add_(0.1 * torch.randn_like(p))
    obs, last = torch.randn(B, K, O), torch.randint(-1, A, (B, K))
    avail, h, state = torch.rand(B, K, A) > 0.3, torch.randn(2 * K, B, H), torch.randn(B, S)
    avail[..., 0] = True
    for net in nets:
        for bf16 in (False, True):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                each_step = net.step(obs, last, avail, h, state)
                with net.acting():
                    ready = net.step(obs, last, avail, h, state)
                assert net._ready is None  # released on exit
            for x, y in zip(each_step, ready):
                assert torch.equal(x, y), (type(net).__name__, bf16)


def test_sampling_follows_the_policy_and_never_picks_an_unavailable_action():
    """``act`` samples by Gumbel-max from the generator's uniforms: the frequencies match softmax(logits) over the
    available actions, and an unavailable action is never drawn."""
    torch.manual_seed(3)
    net = make_net()
    B = 4000
    obs, last = torch.randn(1, K, O).expand(B, K, O), torch.zeros(B, K, dtype=torch.long)
    avail = torch.ones(B, K, A, dtype=torch.bool)
    avail[:, :, 1] = False
    h = torch.zeros(2 * K, B, H)
    with torch.no_grad():
        net.actor_head.bias.copy_(torch.randn_like(net.actor_head.bias))  # a policy far from uniform
        logits, _, _ = net.step(obs[:1], last[:1], avail[:1], h[:, :1])
        action, logp, _, _ = net.act(obs, last, avail, h, None, torch.Generator().manual_seed(0))
    probs = torch.softmax(logits[0], -1)  # [K, A]
    assert not (action == 1).any()
    freq = torch.stack([torch.bincount(action[:, k], minlength=A).float() / B for k in range(K)])
    assert (freq - probs).abs().max() < 0.03, (freq, probs)  # 4000 draws: a std of at most 0.008 per frequency
    torch.testing.assert_close(logp, torch.log(probs).gather(-1, action.T).T.expand_as(logp))
