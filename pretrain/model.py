"""A compact RoBERTa-style encoder with a masked-language-modelling head, in nanoGPT's shape.

Differences from RoBERTa (Liu et al. 2019), on purpose: pre-norm blocks (LayerNorm before
attention and MLP, one final LayerNorm) train stably without RoBERTa's long warmup; no token
type embeddings (RoBERTa does not use them either). Kept from it: learned absolute positions,
GELU MLP of width 4d, tied input/output embeddings, the MLM head (dense, GELU, LayerNorm,
decoder tied to the token embedding plus a bias).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100  # labels of positions that are not predicted (see objectives.IGNORE_INDEX)


@dataclass
class ModelConfig:
    vocab_size: int = 32000
    max_len: int = 512        # learned positions; sequences may be at most this long
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 128
    dropout: float = 0.0      # RoBERTa used 0.1; 0.0 suits short runs on small data
    pad_id: int = 0
    sop_head: bool = False    # ALBERT's sentence-order classifier on the first position


# Presets. "small" has 8 x 12 d^2 = 25.2M non-embedding parameters (embeddings add
# vocab_size x 512 more, e.g. 16.4M at a 32k vocabulary).
PRESETS = {
    "tiny": dict(n_layer=2, n_head=2, d_model=128),
    "small": dict(n_layer=8, n_head=8, d_model=512),
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(ModelConfig(**PRESETS[name]), **overrides)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_head == 0
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, attn_mask=None):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.resid_drop(self.proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.proj = nn.Linear(4 * cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(cfg.d_model), SelfAttention(cfg)
        self.ln_2, self.mlp = nn.LayerNorm(cfg.d_model), MLP(cfg)

    def forward(self, x, attn_mask=None):
        x = x + self.attn(self.ln_1(x), attn_mask)
        return x + self.mlp(self.ln_2(x))


class MLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> (tied) vocabulary projection, as RoBERTa's LM head."""

    def __init__(self, cfg: ModelConfig, tok_emb: nn.Embedding):
        super().__init__()
        self.dense, self.ln = nn.Linear(cfg.d_model, cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.tok_emb = [tok_emb]  # in a list: tied, not registered a second time
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, h):
        return F.linear(self.ln(F.gelu(self.dense(h))), self.tok_emb[0].weight, self.bias)


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = MLMHead(cfg, self.tok_emb)
        # ALBERT (Lan et al. 2020, section 3.1): SOP is a 2-way classifier on the first token.
        self.sop = nn.Linear(cfg.d_model, 2) if cfg.sop_head else None
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel() + self.pos_emb.weight.numel()
        return n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token, nanoGPT/PaLM style (6N + attention); the head is left out."""
        c = self.cfg
        return 6 * self.num_params() + 12 * c.n_layer * c.d_model * seq_len

    def forward(self, input_ids, labels=None, attention_mask=None, attn_mask=None,
                causal=False, sop_labels=None):
        """Returns (logits, loss).

        attention_mask: (B, T), true/1 at real tokens; None derives it from pad_id, and skips
        masking altogether when a batch has no padding (packed sequences never do).
        attn_mask: (B, T, T) bool, true where query i may attend to key j (prefix LM);
        causal: attend to earlier positions only (causal LM). Both combine with the padding mask.
        With labels, logits are computed only where labels != IGNORE_INDEX (shape (N, vocab),
        as fairseq does) to spare the vocabulary projection of the ~85% unpredicted positions;
        without labels they cover every position, (B, T, vocab).
        sop_labels: (B,) 0/1 or IGNORE_INDEX; adds the sentence-order loss (needs sop_head).
        """
        B, T = input_ids.shape
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.cfg.max_len}")
        if attention_mask is None:
            attention_mask = input_ids != self.cfg.pad_id
            if bool(attention_mask.all()):
                attention_mask = None
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        if causal:
            tril = torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril()
            attn_mask = tril[None]
        if attn_mask is not None:
            mask = attn_mask.bool()[:, None] if mask is None else mask & attn_mask.bool()[:, None]
        pos = torch.arange(T, device=input_ids.device)
        x = self.drop(self.tok_emb(input_ids) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x, mask)
        h = self.ln_f(x)
        if labels is None:
            return self.head(h), None
        predicted = labels != IGNORE_INDEX
        logits = self.head(h[predicted])
        loss = F.cross_entropy(logits.float(), labels[predicted])
        if sop_labels is not None and bool((sop_labels != IGNORE_INDEX).any()):
            if self.sop is None:
                raise ValueError("sop_labels given to a model without sop_head")
            loss = loss + F.cross_entropy(self.sop(h[:, 0]).float(), sop_labels,
                                          ignore_index=IGNORE_INDEX)
        return logits, loss
