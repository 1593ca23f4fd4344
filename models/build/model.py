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

    def forward(self, x, past_k, past_v, bias):
        """x [B,T,D]; past_k/past_v [B,P,H,Dh] or None; bias additive [B,1,T,P+T] or None (causal only).

        Returns (x_out, k_new [B,T,H,Dh], v_new [B,T,H,Dh]).
        """
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.reshape(b, t, self.h, self.dh)
        k = k.reshape(b, t, self.h, self.dh)
        v = v.reshape(b, t, self.h, self.dh)
        if past_k is not None:
            k_all = torch.cat([past_k, k], dim=1)
            v_all = torch.cat([past_v, v], dim=1)
        else:
            k_all, v_all = k, v
        qh = (q * (1.0 / math.sqrt(self.dh))).transpose(1, 2).contiguous()  # B,H,T,Dh
        kh = k_all.transpose(1, 2).contiguous()  # B,H,S,Dh
        vh = v_all.transpose(1, 2).contiguous()  # B,H,S,Dh
        scores = torch.matmul(qh, kh.transpose(2, 3))
        scores = scores + bias
        att = torch.softmax(scores, dim=-1)
        y = torch.matmul(att, vh).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))
        return x, k, v


def causal_bias(t: int, device=None):
    """Additive causal bias [1,1,T,T] for training (P = 0, no padding)."""
    m = torch.ones(t, t, dtype=torch.bool, device=device).tril()
    return torch.zeros(t, t, device=device).masked_fill(~m, -1e9)[None, None]


class Expert(nn.Module):
    """A stack of blocks with the ONNX expert contract (position-major KV cache)."""

    def __init__(self, d_model: int, n_heads: int, layers: int, n_layers_total: int, dropout: float = 0.0):
        super().__init__()
        self.layers = layers
        self.h = n_heads
        self.dh = d_model // n_heads
        self.blocks = nn.ModuleList([Block(d_model, n_heads, n_layers_total, dropout) for _ in range(layers)])

    def forward(self, hidden, past_kv, mask):
        """hidden [B,T,D], past_kv [B,P,L,2,H,Dh], mask [B,P+T] -> (hidden_out [B,T,D], new_kv [B,T,L,2,H,Dh])."""
        t = hidden.shape[1]
        s = mask.shape[1]
        p = s - t
        qpos = torch.arange(t, device=hidden.device) + p
        kpos = torch.arange(s, device=hidden.device)
        allowed = (kpos[None, :] <= qpos[:, None]).to(hidden.dtype)  # T,S
        keep = allowed[None, None] * mask[:, None, None, :].to(hidden.dtype)  # B,1,T,S
        bias = (1.0 - keep) * -1e9
        x = hidden
        kvs = []
        for i, blk in enumerate(self.blocks):
            x, k, v = blk(x, past_kv[:, :, i, 0], past_kv[:, :, i, 1], bias)
            kvs.append(torch.stack([k, v], dim=2))  # B,T,2,H,Dh
        new_kv = torch.stack(kvs, dim=2)  # B,T,L,2,H,Dh
        return x, new_kv

    def train_forward(self, hidden, bias):
        """Training fast path: P = 0, no padding, causal bias precomputed."""
        x = hidden
        for blk in self.blocks:
            x, _, _ = blk(x, None, None, bias)
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
