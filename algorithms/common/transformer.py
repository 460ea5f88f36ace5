"""Transformer blocks over agents (token = agent), as the Multi-Agent Transformer builds them (Wen et al. 2022; the
official code's structure: ``../shared/reference/cesma_mild2_magail.md`` §3.1): post-LayerNorm encoder and decoder
blocks, MLPs Linear-GELU-Linear, attention with separate query, key, value and output projections. MAT's generator
(``algorithms/mat.py``) uses them; the MILD² discriminator (``algorithms/common/imitation.py``) reuses the same blocks.

Initialisation is MAT's: orthogonal weights, zero biases, gain sqrt(2) for a layer followed by an activation and 0.01
for every other layer (the attention projections included).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def mat_linear(in_dim: int, out_dim: int, activated: bool = False, bias: bool = True) -> nn.Linear:
    """A Linear layer with MAT's initialisation (``activated``: an activation follows it)."""
    layer = nn.Linear(in_dim, out_dim, bias=bias)
    nn.init.orthogonal_(layer.weight, gain=math.sqrt(2) if activated else 0.01)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class Attention(nn.Module):
    """Multi-head attention of ``query_in`` tokens over ``context`` tokens (both [B, K, D]); with ``causal`` token i
    attends to tokens j <= i only. ``kind``:
    - ``dot``: scaled dot product, softmax_j(q_i . k_j / sqrt(d_h)) (MAT's);
    - ``l2``: L2 attention with tied query and key weights (Kim et al. 2021, in ViTGAN's form, which MILD² cites):
      softmax_j(-||q_i - k_j||^2 / sqrt(d_h)) with q = query_in W_q and k = context W_q, the same W_q; unlike the
      dot product it is Lipschitz on unbounded inputs. There is no key projection."""

    def __init__(self, dim: int, n_head: int, causal: bool, kind: str = "dot"):
        super().__init__()
        if dim % n_head:
            raise ValueError(f"width {dim} is not divisible by n_head {n_head}")
        if kind not in ("dot", "l2"):
            raise ValueError(f"unknown attention {kind!r}; allowed: dot, l2")
        self.n_head, self.causal, self.kind = n_head, causal, kind
        self.query = mat_linear(dim, dim)
        self.key = mat_linear(dim, dim) if kind == "dot" else None
        self.value, self.proj = mat_linear(dim, dim), mat_linear(dim, dim)

    @staticmethod
    def scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """L2 attention logits [B, H, Kq, Kc] of projected queries and keys [B, H, K, d_h]: the differences formed
        directly, in float32 (tokens are agents, so few; the expanded |q|^2 - 2 q.k + |k|^2 cancels badly in
        bfloat16)."""
        diff = q.float().unsqueeze(-2) - k.float().unsqueeze(-3)
        return -diff.pow(2).sum(-1) / math.sqrt(q.shape[-1])

    def forward(self, query_in: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        B, K, D = query_in.shape
        heads = lambda x: x.view(B, x.shape[1], self.n_head, D // self.n_head).transpose(1, 2)  # noqa: E731
        q, v = heads(self.query(query_in)), heads(self.value(context))
        if self.kind == "dot":
            y = F.scaled_dot_product_attention(q, heads(self.key(context)), v, is_causal=self.causal)
        else:
            logits = self.scores(q, heads(self.query(context)))  # the keys through the queries' weights: tied
            if self.causal:
                future = torch.ones(K, context.shape[1], dtype=torch.bool, device=logits.device).triu(1)
                logits = logits.masked_fill(future, float("-inf"))
            y = torch.softmax(logits, -1).to(v.dtype) @ v
        return self.proj(y.transpose(1, 2).reshape(B, K, D))


def mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(mat_linear(dim, dim, activated=True), nn.GELU(), mat_linear(dim, dim))


def mat_head(width: int, out_dim: int) -> nn.Sequential:
    """MAT's output head: Linear-GELU-LayerNorm-Linear."""
    return nn.Sequential(mat_linear(width, width, activated=True), nn.GELU(), nn.LayerNorm(width),
                         mat_linear(width, out_dim))


class EncodeBlock(nn.Module):
    """x = LN(x + SelfAttention(x)); x = LN(x + MLP(x)); unmasked: every token sees every token."""

    def __init__(self, dim: int, n_head: int, attention: str = "dot"):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, n_head, causal=False, kind=attention)
        self.mlp = mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.attn(x, x))
        return self.ln2(x + self.mlp(x))


class DecodeBlock(nn.Module):
    """MAT's decoder block over an action stream ``x`` given the encoder's output ``rep``:
    x = LN(x + MaskedSelfAttention(x)); x = LN(rep + MaskedAttention(query = rep, keys and values = x));
    x = LN(x + MLP(x)). The second attention takes its queries from the encoder's output and its residual on it
    (MAT's order, the reverse of the usual cross-attention). ``causal=False`` removes both masks (MILD²'s
    discriminator, which sees the whole joint action)."""

    def __init__(self, dim: int, n_head: int, causal: bool = True, attention: str = "dot"):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1 = Attention(dim, n_head, causal, attention)
        self.attn2 = Attention(dim, n_head, causal, attention)
        self.mlp = mlp(dim)

    def forward(self, x: torch.Tensor, rep: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.attn1(x, x))
        x = self.ln2(rep + self.attn2(rep, x))
        return self.ln3(x + self.mlp(x))
