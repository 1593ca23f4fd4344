"""The swarmpath-tiny network in torch: stem, position-free experts, head (docs/model-format.md).

Every module here has exactly the ONNX contract's inputs and outputs, so the torch forward used for
training is the same code that is exported.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Stem(nn.Module):
    """Byte embedding plus learned absolute position embedding (GPT-2 style)."""

    def __init__(self, vocab: int, d_model: int, max_context: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_context, d_model)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.01)

    def forward(self, tokens, positions):
        return self.tok(tokens) + self.pos(positions)


class Block(nn.Module):
    """Pre-LN GPT-2 block: x += attn(ln1(x)); x += mlp(ln2(x)). MLP 4*D with exact GELU."""

    def __init__(self, d_model: int, n_heads: int, n_layers_total: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)  # training only; identity in eval mode and absent from the ONNX graph
        self.h = n_heads
        self.dh = d_model // n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.out = nn.Linear(4 * d_model, d_model)
        for lin in (self.qkv, self.fc):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)
        for lin in (self.proj, self.out):
            nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * n_layers_total))
            nn.init.zeros_(lin.bias)

    def forward(self, x, past_k, past_v, bias_past, bias_new):
        """One block over T new positions attending to C cached slots and to each other.

        x [B,T,D]; past_k/past_v [B,H,C,Dh] head-major slots; bias_past [B,1,1,C] and bias_new
        [B,1,T,T] additive (0 or -1e9). Returns (x_out, k_new [B,H,T,Dh], v_new [B,H,T,Dh]).
        The scores against the cache are K·qᵀ (no transpose or copy of the cache) and the cache is
        never concatenated with the new keys: the softmax runs over both score blocks side by side.
        """
        b, t, d = x.shape
        c = past_k.shape[2]
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        qh = (q.reshape(b, t, self.h, self.dh) * (1.0 / math.sqrt(self.dh))).transpose(1, 2)  # B,H,T,Dh
        kn = k.reshape(b, t, self.h, self.dh).transpose(1, 2)  # B,H,T,Dh
        vn = v.reshape(b, t, self.h, self.dh).transpose(1, 2)
        s_past = torch.matmul(past_k, qh.transpose(2, 3)).transpose(2, 3) + bias_past  # B,H,T,C
        s_new = torch.matmul(qh, kn.transpose(2, 3)) + bias_new  # B,H,T,T
        att = torch.softmax(torch.cat([s_past, s_new], dim=3), dim=-1)
        y = torch.matmul(att[..., :c], past_v) + torch.matmul(att[..., c:], vn)
        y = y.transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))
        return x, kn, vn

    def train_forward(self, x, bias):
        """Training fast path: no cache, causal bias [1,1,T,T] precomputed. Same function as forward with C = 0."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        qh = (q.reshape(b, t, self.h, self.dh) * (1.0 / math.sqrt(self.dh))).transpose(1, 2)
        kh = k.reshape(b, t, self.h, self.dh).transpose(1, 2)
        vh = v.reshape(b, t, self.h, self.dh).transpose(1, 2)
        att = torch.softmax(torch.matmul(qh, kh.transpose(2, 3)) + bias, dim=-1)
        y = torch.matmul(att, vh).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))
        return x


def causal_bias(t: int, device=None):
    """Additive causal bias [1,1,T,T] for training (P = 0, no padding)."""
    m = torch.ones(t, t, dtype=torch.bool, device=device).tril()
    return torch.zeros(t, t, device=device).masked_fill(~m, -1e9)[None, None]


class Expert(nn.Module):
    """A stack of blocks with the ONNX expert contract (head-major KV cache slots, one input per layer)."""

    def __init__(self, d_model: int, n_heads: int, layers: int, n_layers_total: int, dropout: float = 0.0):
        super().__init__()
        self.layers = layers
        self.h = n_heads
        self.dh = d_model // n_heads
        self.blocks = nn.ModuleList([Block(d_model, n_heads, n_layers_total, dropout) for _ in range(layers)])

    def forward(self, hidden, mask, *past):
        """The ONNX contract (docs/model-format.md): hidden [B,T,D], mask [B,C+T], then per layer l
        past_key_l and past_value_l [B,H,C,Dh] -> (hidden_out [B,T,D], new_kv [B,L,2,H,T,Dh])."""
        t = hidden.shape[1]
        c = mask.shape[1] - t
        m = mask.to(hidden.dtype)
        causal = torch.ones(t, t, dtype=hidden.dtype, device=hidden.device).tril()
        bias_past = (1.0 - m[:, None, None, :c]) * -1e9  # B,1,1,C
        bias_new = (1.0 - causal[None, None] * m[:, None, None, c:]) * -1e9  # B,1,T,T
        x = hidden
        kvs = []
        for i, blk in enumerate(self.blocks):
            x, k, v = blk(x, past[2 * i], past[2 * i + 1], bias_past, bias_new)
            kvs.append(torch.stack([k, v], dim=1))  # B,2,H,T,Dh
        return x, torch.stack(kvs, dim=1)  # B,L,2,H,T,Dh

    def empty_past(self, b, dtype=torch.float32):
        """The past of a call with no cache (C = 0): 2L tensors [B,H,0,Dh]."""
        return [torch.zeros((b, self.h, 0, self.dh), dtype=dtype) for _ in range(2 * self.layers)]

    def train_forward(self, hidden, bias):
        """Training fast path: no cache, no padding, causal bias precomputed."""
        x = hidden
        for blk in self.blocks:
            x = blk.train_forward(x, bias)
        return x


class Head(nn.Module):
    """Final LayerNorm then an untied linear map to vocabulary logits."""

    def __init__(self, d_model: int, vocab: int):
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.lin = nn.Linear(d_model, vocab)
        nn.init.normal_(self.lin.weight, std=0.02)
        nn.init.zeros_(self.lin.bias)

    def forward(self, hidden):
        return self.lin(self.ln(hidden))


class PathModel(nn.Module):
    """stem -> experts (one per level) -> head; the unit that is trained on one path."""

    def __init__(self, stem, experts, head):
        super().__init__()
        self.stem = stem
        self.experts = nn.ModuleList(experts)
        self.head = head

    def forward(self, tokens):
        """tokens [B,T] int64 -> logits [B,T,V] (positions 0..T-1)."""
        b, t = tokens.shape
        pos = torch.arange(t, device=tokens.device)[None].expand(b, t)
        x = self.stem(tokens, pos)
        bias = causal_bias(t, tokens.device)
        for e in self.experts:
            x = e.train_forward(x, bias)
        return self.head(x)
