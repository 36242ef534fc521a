"""One compact transformer family, in nanoGPT's shape: encoder, decoder and encoder-decoder.

Every kind is a stack of the same pre-norm `Block` (LayerNorm before attention and MLP, one final
LayerNorm; attention through `F.scaled_dot_product_attention`), learned absolute positions and a
token embedding tied to the output projection. What differs is the mask and the head:

    encoder   bidirectional (padding masked); RoBERTa's MLM head (dense, GELU, LayerNorm, tied
              projection + bias) for mlm/wwm/span, ALBERT's SOP classifier on position 0 for sop
    decoder   causal (clm), or a prefix-LM mask (bidirectional prefix, causal rest) passed in as
              a (B, T, T) boolean `attn_mask`; GPT's head: the tied projection of ln_f's output
    encdec    T5: an encoder stack over the corrupted input, a decoder stack whose blocks add
              cross-attention (`Block(cross=True)`: a second attention over the encoder output);
              decoder input = labels shifted right behind `decoder_start_id`; GPT's head

Kept from RoBERTa/GPT-2: GELU MLP of width 4d, N(0, 0.02) init with residual projections scaled
by 1/sqrt(2 * layers). Not kept: dropout defaults to 0 (short runs on small data), no token type
embeddings, T5's relative position buckets (absolute positions serve the short sequences here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from pipeline.shard_format import SPECIAL_IDS
from pretrain.objectives import IGNORE_INDEX  # labels of positions that are not predicted

KINDS = ("encoder", "decoder", "encdec")


@dataclass
class ModelConfig:
    vocab_size: int = 32000
    max_len: int = 512        # learned positions; sequences may be at most this long
    n_layer: int = 2          # blocks of the encoder / decoder (each stack, for encdec)
    n_head: int = 2
    d_model: int = 128
    dropout: float = 0.0      # RoBERTa used 0.1; 0.0 suits short runs on small data
    pad_id: int = SPECIAL_IDS["pad"]  # the manifest's; every Sieve tokenizer's
    kind: str = "encoder"     # one of KINDS
    sop_head: bool = False    # ALBERT's sentence-order classifier on the first position
    decoder_start_id: int = SPECIAL_IDS["bos"]  # encdec: the decoder's first input


# Presets (non-embedding parameters, per stack: 12 d^2 per block). "small" 8 x 12 x 512^2 =
# 25.2M; "base" 12 x 12 x 768^2 = 84.9M, plus 24.6M of embeddings at a 32k vocabulary = 110M,
# the size of BERT-base / GPT-2 small. An encdec model has two stacks, so twice the blocks.
PRESETS = {
    "tiny": dict(n_layer=2, n_head=2, d_model=128),
    "small": dict(n_layer=8, n_head=8, d_model=512),
    "base": dict(n_layer=12, n_head=12, d_model=768),
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(ModelConfig(**PRESETS[name]), **overrides)


class Attention(nn.Module):
    """Multi-head attention; self-attention, or cross-attention when `memory` is given."""

    def __init__(self, cfg: ModelConfig, cross: bool = False):
        super().__init__()
        assert cfg.d_model % cfg.n_head == 0
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        if cross:  # queries from x, keys and values from the memory
            self.q, self.kv = nn.Linear(cfg.d_model, cfg.d_model), nn.Linear(cfg.d_model, 2 * cfg.d_model)
        else:      # one fused projection: one matmul instead of two
            self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask=None, causal=False, memory=None):
        B, T, C = x.shape
        heads = lambda t: t.view(B, t.shape[1], self.n_head, C // self.n_head).transpose(1, 2)
        if memory is None:
            q, k, v = map(heads, self.qkv(x).split(C, dim=2))
        else:
            q, (k, v) = heads(self.q(x)), map(heads, self.kv(memory).split(C, dim=2))
        # is_causal with no mask lets SDPA pick flash attention; masks go the general way.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None,
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
    """Pre-norm block: self-attention, [cross-attention over `memory`], MLP."""

    def __init__(self, cfg: ModelConfig, cross: bool = False):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(cfg.d_model), Attention(cfg)
        self.ln_x, self.xattn = ((nn.LayerNorm(cfg.d_model), Attention(cfg, cross=True)) if cross
                                 else (None, None))
        self.ln_2, self.mlp = nn.LayerNorm(cfg.d_model), MLP(cfg)

    def forward(self, x, mask=None, causal=False, memory=None, memory_mask=None):
        x = x + self.attn(self.ln_1(x), mask, causal)
        if self.xattn is not None:
            x = x + self.xattn(self.ln_x(x), memory_mask, memory=memory)
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


def _padding_mask(ids, pad_id, attention_mask=None):
    """(B, 1, 1, T) bool key mask, or None when nothing is padded (packed rows never are)."""
    if attention_mask is None:
        attention_mask = ids != pad_id
        if bool(attention_mask.all()):
            return None
    return attention_mask.bool()[:, None, None, :]


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.kind not in KINDS:
            raise ValueError(f"unknown model kind {cfg.kind!r}; known: {', '.join(KINDS)}")
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        if cfg.kind == "encdec":  # self.blocks encode; these decode, attending to the encoding
            self.dec_blocks = nn.ModuleList(Block(cfg, cross=True) for _ in range(cfg.n_layer))
            self.ln_dec = nn.LayerNorm(cfg.d_model)
        self.head = MLMHead(cfg, self.tok_emb) if cfg.kind == "encoder" else None
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

    def flops_per_sequence(self, input_len: int, target_len: int | None = None,
                           predicted: float | None = None) -> float:
        """Training FLOPs of one sequence (forward + backward), PaLM appendix B / nanoGPT style:
        6 per parameter use, 12 * layers * d * (keys) per query for attention (masks not
        discounted), plus the tied vocabulary projection where logits are computed.

        input_len: encoder/decoder tokens; target_len: encdec decoder tokens; predicted: positions
        whose logits are computed (default: every position for decoders and encdec, 15% for
        encoders, whose head runs only at masked positions).
        """
        c, L, d = self.cfg, self.cfg.n_layer, self.cfg.d_model
        head = 6 * c.vocab_size * d
        stack = 12 * L * d * d  # parameters of the blocks (biases and norms left out)
        if c.kind == "encdec":
            T = target_len or input_len
            enc = 6 * stack * input_len + 12 * L * d * input_len ** 2
            dec = 6 * (stack + 4 * L * d * d) * T + 12 * L * d * (T ** 2 + T * input_len)
            return float(enc + dec + head * (T if predicted is None else predicted))
        if predicted is None:
            predicted = input_len * (0.15 if c.kind == "encoder" else 1.0)
        if c.kind == "encoder":
            head += 6 * d * d  # the MLM head's dense layer
        return float(6 * stack * input_len + 12 * L * d * input_len ** 2 + head * predicted)

    def _embed(self, ids):
        T = ids.shape[1]
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.cfg.max_len}")
        return self.drop(self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device)))

    def encode(self, input_ids, attention_mask=None, attn_mask=None, causal=False):
        """The last hidden states (B, T, d) after ln_f: the features a probe reads.

        attention_mask: (B, T), true/1 at real tokens; None derives it from pad_id.
        attn_mask: (B, T, T) bool, true where query i may attend to key j (prefix LM);
        causal: attend to earlier positions only. Both combine with the padding mask.
        """
        mask = _padding_mask(input_ids, self.cfg.pad_id, attention_mask)
        if attn_mask is not None or (causal and mask is not None):
            if attn_mask is None:
                T = input_ids.shape[1]
                attn_mask = torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril()[None]
            mask = attn_mask.bool()[:, None] if mask is None else mask & attn_mask.bool()[:, None]
            causal = False
        x = self._embed(input_ids)
        for block in self.blocks:
            x = block(x, mask, causal)
        return self.ln_f(x)

    def logits(self, h):
        return self.head(h) if self.head is not None else F.linear(h, self.tok_emb.weight)

    def forward(self, input_ids, labels=None, attention_mask=None, attn_mask=None,
                causal=False, sop_labels=None, decoder_input_ids=None):
        """Returns (logits, loss); loss is the mean cross-entropy over labels != IGNORE_INDEX.

        Encoders with labels compute logits only where labels != IGNORE_INDEX (shape (N, vocab),
        as fairseq does) to spare the projection of the ~85% unpredicted positions; decoders
        compute every position ((B, T, vocab), static shapes for torch.compile).
        sop_labels: (B,) 0/1 or IGNORE_INDEX; adds the sentence-order loss (needs sop_head).
        encdec: input_ids are the encoder's; labels the decoder's targets, fed shifted right
        unless decoder_input_ids are given.
        """
        if self.cfg.kind == "encdec":
            return self._seq2seq(input_ids, labels, attention_mask, decoder_input_ids)
        h = self.encode(input_ids, attention_mask, attn_mask,
                        causal=causal or (self.cfg.kind == "decoder" and attn_mask is None))
        if labels is None:
            return self.logits(h), None
        if self.cfg.kind == "decoder":
            logits = self.logits(h)
            return logits, F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(),
                                           ignore_index=IGNORE_INDEX)
        predicted = labels != IGNORE_INDEX
        logits = self.logits(h[predicted])
        loss = F.cross_entropy(logits.float(), labels[predicted])
        if sop_labels is not None and bool((sop_labels != IGNORE_INDEX).any()):
            if self.sop is None:
                raise ValueError("sop_labels given to a model without sop_head")
            loss = loss + F.cross_entropy(self.sop(h[:, 0]).float(), sop_labels,
                                          ignore_index=IGNORE_INDEX)
        return logits, loss

    def _seq2seq(self, input_ids, labels, attention_mask, decoder_input_ids):
        memory = self.encode(input_ids, attention_mask)
        memory_mask = _padding_mask(input_ids, self.cfg.pad_id, attention_mask)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("an encdec model needs labels or decoder_input_ids")
            decoder_input_ids = torch.cat(
                [torch.full_like(labels[:, :1], self.cfg.decoder_start_id),
                 labels[:, :-1].clamp(min=0)], dim=1)
        x = self._embed(decoder_input_ids)
        for block in self.dec_blocks:
            x = block(x, None, True, memory, memory_mask)
        logits = self.logits(self.ln_dec(x))
        if labels is None:
            return logits, None
        return logits, F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(),
                                       ignore_index=IGNORE_INDEX)


Encoder = Transformer  # the earlier name (benchmarks/objectives_throughput.py uses it)
