"""The transformer blocks over agents (algorithms/common/transformer.py): dot-product and L2 attention (tied query
and key weights, scores that fall with distance, the formula against a plain loop), causal masks."""
import math

import pytest
import torch

from algorithms.common.transformer import Attention, DecodeBlock


def perturbed(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module


def test_l2_attention_ties_query_and_key_weights_and_matches_its_formula():
    D, H, B, K = 8, 2, 3, 4
    attn = perturbed(Attention(D, H, causal=False, kind="l2"))
    assert attn.key is None and not any("key" in name for name, _ in attn.named_parameters())
    x, ctx = torch.randn(B, K, D), torch.randn(B, K, D)
    out = attn(x, ctx)
    d_h = D // H
    w_q, b_q = attn.query.weight, attn.query.bias
    w_v, b_v = attn.value.weight, attn.value.bias
    expected = torch.zeros(B, K, D)
    for b in range(B):
        for i in range(K):
            heads = []
            for h in range(H):
                rows = slice(h * d_h, (h + 1) * d_h)
                q_i = x[b, i] @ w_q[rows].T + b_q[rows]
                scores = torch.stack([-((q_i - (ctx[b, j] @ w_q[rows].T + b_q[rows])) ** 2).sum() / math.sqrt(d_h)
                                      for j in range(K)])
                weights = torch.softmax(scores, 0)
                heads.append(sum(weights[j] * (ctx[b, j] @ w_v[rows].T + b_v[rows]) for j in range(K)))
            expected[b, i] = attn.proj(torch.cat(heads))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_l2_scores_fall_with_distance():
    attn = perturbed(Attention(6, 1, causal=False, kind="l2"))
    q = torch.randn(1, 1, 1, 6)
    directions = torch.randn(1, 1, 5, 6)
    distances = torch.tensor([0.0, 0.5, 1.0, 2.0, 4.0])
    keys = q + distances.view(1, 1, 5, 1) * directions / directions.norm(dim=-1, keepdim=True)
    scores = attn.scores(q, keys)[0, 0, 0]
    assert torch.all(scores[1:] < scores[:-1]) and abs(float(scores[0])) < 1e-5  # a key at the query scores 0
    torch.testing.assert_close(scores, -distances ** 2 / math.sqrt(6), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["dot", "l2"])
def test_causal_blocks_read_earlier_tokens_only(kind):
    block = perturbed(DecodeBlock(8, 2, causal=True, attention=kind))
    x, rep = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    out = block(x, rep)
    x2 = x.clone()
    x2[:, 3] += torch.randn(2, 8)  # token 3 of the stream changes: outputs 0..2 do not, 3 and 4 do
    out2 = block(x2, rep)
    torch.testing.assert_close(out2[:, :3], out[:, :3], rtol=0, atol=0)
    assert not torch.allclose(out2[:, 3:], out[:, 3:], atol=1e-4)
    unmasked = perturbed(DecodeBlock(8, 2, causal=False, attention=kind))
    assert not torch.allclose(unmasked(x2, rep)[:, 0], unmasked(x, rep)[:, 0], atol=1e-4)  # without masks: every token


def test_decoder_queries_come_from_the_encoder_and_the_residual_is_its_output():
    """MAT's order: output m reads the encoder's token m only (queries and residual), the action stream up to m. In
    the usual order (queries from the stream, keys from the encoder) output m would read encoder tokens 0..m."""
    block = perturbed(DecodeBlock(8, 2, causal=True))
    x, rep = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    out = block(x, rep)
    rep2 = rep.clone()
    rep2[:, 1] += torch.randn(2, 8)
    out2 = block(x, rep2)
    assert not torch.allclose(out2[:, 1], out[:, 1], atol=1e-4)
    for m in (0, 2, 3, 4):
        torch.testing.assert_close(out2[:, m], out[:, m], rtol=0, atol=0)


def test_l2_scores_in_bfloat16_keep_a_key_at_the_query_at_zero():
    q = 30.0 * torch.randn(1, 1, 3, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = Attention.scores(q.bfloat16(), q.bfloat16())
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores.diagonal(dim1=-2, dim2=-1), torch.zeros(1, 1, 3), rtol=0, atol=0)
