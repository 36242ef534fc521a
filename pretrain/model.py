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

XLNet's two-stream attention (`two_stream`, decoders) adds a query stream: one row per target,
started from a learned vector plus the target's position, run through the same blocks with
queries from itself and keys and values from the content stream (`two_stream_logits`); the
tied projection reads it. Without the objective's masks a two-stream model runs in the identity
order (content causal; the query of position t + 1 sees tokens <= t): next-token logits, so it
is scored in bits per byte as every decoder; its features (probe, fine-tuning) are the content
stream's with full attention, as XLNet fine-tunes.

Two options change any kind: `emb_dim` (ALBERT's factorized embedding: tables of size E, a
projection E -> d after them and, for the tied output of decoders, d -> E before it; the MLM
head's dense maps d -> E) and `generator_fraction` (ELECTRA, encoders: `self.generator` is a
narrower encoder of the same depth on the very same embedding modules, `self.rtd` the
discriminator head; see `electra_losses`).

Kept from RoBERTa/GPT-2: GELU MLP of width 4d, N(0, 0.02) init with residual projections scaled
by 1/sqrt(2 * layers). Not kept: dropout defaults to 0 (short runs on small data), no token type
embeddings, T5's relative position buckets (absolute positions serve the short sequences here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from pipeline.shard_format import SPECIAL_IDS
from pretrain.objectives import ELECTRA_DISC_WEIGHT
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
    emb_dim: Optional[int] = None  # ALBERT's factorized embedding size E; None: d_model
    generator_fraction: float = 0.0  # ELECTRA: generator width / this width; 0: no generator
    disc_weight: float = ELECTRA_DISC_WEIGHT  # ELECTRA's lambda
    two_stream: bool = False  # XLNet's query stream (decoders, the plm objective)


# ELECTRA's generator heads are 64 wide, as the reference's get_generator_config
# (num_attention_heads = max(1, hidden_size // 64)); its width and loss weight: pretrain.objectives.
ELECTRA_HEAD_DIM = 64


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

    def forward(self, x, mask=None, causal=False, memory=None, kv_len=None):
        """kv_len: keys and values from the first kv_len rows of x only (queries from all):
        XLNet's query stream, appended after the content stream, reads the content."""
        B, T, C = x.shape
        heads = lambda t: t.view(B, t.shape[1], self.n_head, C // self.n_head).transpose(1, 2)
        if memory is None:
            q, k, v = map(heads, self.qkv(x).split(C, dim=2))
            if kv_len is not None:
                k, v = k[:, :, :kv_len], v[:, :, :kv_len]
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

    def forward(self, x, mask=None, causal=False, memory=None, memory_mask=None, kv_len=None):
        x = x + self.attn(self.ln_1(x), mask, causal, kv_len=kv_len)
        if self.xattn is not None:
            x = x + self.xattn(self.ln_x(x), memory_mask, memory=memory)
        return x + self.mlp(self.ln_2(x))


class MLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> (tied) vocabulary projection, as RoBERTa's LM head."""

    def __init__(self, cfg: ModelConfig, tok_emb: nn.Embedding):
        super().__init__()
        e = cfg.emb_dim or cfg.d_model  # ALBERT: the head maps back to the embedding size
        self.dense, self.ln = nn.Linear(cfg.d_model, e), nn.LayerNorm(e)
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
        e = cfg.emb_dim or cfg.d_model
        self.tok_emb = nn.Embedding(cfg.vocab_size, e)
        self.pos_emb = nn.Embedding(cfg.max_len, e)
        # ALBERT (Lan et al. 2020, section 3.1): embeddings of size E projected to the hidden
        # size (V x E + E x H parameters instead of V x H); decoders map back before the tied
        # output projection. Not named *proj: the depth-scaled init is for residual projections.
        self.emb_in = nn.Linear(e, cfg.d_model) if e != cfg.d_model else None
        self.emb_out = (nn.Linear(cfg.d_model, e) if e != cfg.d_model and cfg.kind != "encoder"
                        else None)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        if cfg.kind == "encdec":  # self.blocks encode; these decode, attending to the encoding
            self.dec_blocks = nn.ModuleList(Block(cfg, cross=True) for _ in range(cfg.n_layer))
            self.ln_dec = nn.LayerNorm(cfg.d_model)
        self.generator, self.rtd = None, None
        if cfg.generator_fraction:  # ELECTRA: a small MLM generator and a discriminator head
            if cfg.kind != "encoder":
                raise ValueError("an ELECTRA generator needs an encoder")
            width = max(1, int(round(cfg.d_model * cfg.generator_fraction)))
            heads = max(1, width // ELECTRA_HEAD_DIM)
            self.generator = Transformer(replace(
                cfg, d_model=width - width % heads, n_head=heads, emb_dim=e,
                generator_fraction=0.0, sop_head=False))
            # Embeddings tied (ELECTRA section 3.2): the generator uses these very modules.
            self.generator.tok_emb, self.generator.pos_emb = self.tok_emb, self.pos_emb
            self.generator.head.tok_emb = [self.tok_emb]
            # get_discriminator_output: dense (hidden, GELU), then one logit per token.
            self.register_buffer("special_ids", torch.tensor(
                sorted(set(SPECIAL_IDS.values()) | {cfg.pad_id})), persistent=False)
            self.rtd = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(),
                                     nn.Linear(cfg.d_model, 1))
        self.head = (MLMHead(cfg, self.tok_emb) if cfg.kind == "encoder" and self.rtd is None
                     else None)
        self.query_emb = None
        if cfg.two_stream:  # XLNet: the query stream's first layer, w (section 2.2)
            if cfg.kind != "decoder":
                raise ValueError("two-stream attention needs a decoder")
            self.query_emb = nn.Parameter(torch.empty(e))
        # ALBERT (Lan et al. 2020, section 3.1): SOP is a 2-way classifier on the first token.
        self.sop = nn.Linear(cfg.d_model, 2) if cfg.sop_head else None
        self.apply(self._init_weights)
        if self.query_emb is not None:  # as the embeddings: N(0, 0.02)
            nn.init.normal_(self.query_emb, mean=0.0, std=0.02)
        for name, p in self.named_parameters():
            # GPT-2: scale residual projections by depth (an ELECTRA generator has the same)
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def causal_features(self) -> bool:
        """Whether features are read under causal attention (a decoder) rather than
        bidirectionally; either way the probe and fine-tuning pool the mean over text tokens."""
        return self.cfg.kind == "decoder" and not self.cfg.two_stream

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

        A factorized embedding (emb_dim E != d) adds its projection E x d at every input token
        and, for decoders, d x E before the head; the head's vocabulary projection is then V x E.
        An ELECTRA model adds its generator (an encoder over the same input, MLM head at the
        masked positions) and runs the discriminator head (d x d + d x 1) at every position.
        A two-stream model (XLNet) runs target_len query rows (default: input_len, the identity
        order) through every block beside the input_len content rows, attending to the content
        keys, and computes logits at the query rows.
        """
        c, L, d = self.cfg, self.cfg.n_layer, self.cfg.d_model
        e = c.emb_dim or d
        head = 6 * c.vocab_size * e + (6 * d * e if self.emb_out is not None else 0)
        stack = 12 * L * d * d  # parameters of the blocks (biases and norms left out)
        embed = 6 * e * d if self.emb_in is not None else 0  # per input token
        if c.kind == "encdec":
            T = target_len or input_len
            enc = (6 * stack + embed) * input_len + 12 * L * d * input_len ** 2
            dec = (6 * (stack + 4 * L * d * d) + embed) * T + 12 * L * d * (T ** 2 + T * input_len)
            return float(enc + dec + head * (T if predicted is None else predicted))
        if c.two_stream:
            queries = input_len if target_len is None else target_len
            rows = input_len + queries
            body = (6 * stack + embed) * rows + 12 * L * d * rows * input_len
            return float(body + head * (queries if predicted is None else predicted))
        body = (6 * stack + embed) * input_len + 12 * L * d * input_len ** 2
        if self.generator is not None:
            return float(body + 6 * (d * d + d) * input_len
                         + self.generator.flops_per_sequence(input_len, predicted=predicted))
        if predicted is None:
            predicted = input_len * (0.15 if c.kind == "encoder" else 1.0)
        if c.kind == "encoder":
            head += 6 * d * e  # the MLM head's dense layer
        return float(body + head * predicted)

    def _embed(self, ids):
        T = ids.shape[1]
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.cfg.max_len}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))
        return self.drop(self.emb_in(x) if self.emb_in is not None else x)

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
        if self.head is not None:
            return self.head(h)
        if self.rtd is not None:  # ELECTRA's discriminator: one replaced-token logit per token
            return self.rtd(h).squeeze(-1)
        return F.linear(self.emb_out(h) if self.emb_out is not None else h, self.tok_emb.weight)

    def two_stream_logits(self, input_ids, attn_mask=None, query_mask=None,
                          target_positions=None, attention_mask=None):
        """XLNet's two-stream attention (Yang et al. 2019, section 2.2): (B, P, vocab) logits of
        the query stream at `target_positions` (B, P).

        The content stream h starts from the token and position embeddings and attends by
        `attn_mask` (B, T, T); the query stream g starts from the learned vector w plus the
        target's position embedding (the position is how a query knows what it predicts, where
        XLNet's relative encodings carry it) and attends to the content by `query_mask`
        (B, P, T). Both streams go through the same blocks: the rows are concatenated, queries
        taken from all of them and keys and values from the content rows only, so no content
        row ever reads a query row. The `plm` objective gives the three arrays; without them the
        identity order: content causal, the query at position t + 1 reading tokens <= t, so
        logits[:, t] predict token t + 1 as a causal LM's do. `attention_mask` (B, T) marks
        real tokens in the identity order (default: not pad_id).
        """
        B, T = input_ids.shape
        if query_mask is None:
            if attn_mask is not None or target_positions is not None:
                raise ValueError("two-stream attention takes attn_mask, query_mask and "
                                 "target_positions together, or none of them")
            dev = input_ids.device
            causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()[None]
            real = (input_ids != self.cfg.pad_id if attention_mask is None
                    else attention_mask.bool())[:, None, :]
            attn_mask = causal & (real | torch.eye(T, dtype=torch.bool, device=dev)[None])
            query_mask = causal & real
            query_mask[:, :, 0] = True  # never an empty row (column 0 is always visible)
            target_positions = torch.arange(1, T + 1, device=dev).clamp(
                max=self.cfg.max_len - 1).expand(B, T)
        elif attn_mask is None or target_positions is None:
            raise ValueError("two-stream attention needs attn_mask and target_positions "
                             "with query_mask")
        h = self._embed(input_ids)
        g = self.query_emb + self.pos_emb(target_positions)
        g = self.drop(self.emb_in(g) if self.emb_in is not None else g)
        x = torch.cat([h, g], dim=1)
        mask = torch.cat([attn_mask.bool(), query_mask.bool()], dim=1)[:, None]
        for block in self.blocks:
            x = block(x, mask, kv_len=T)
        return self.logits(self.ln_f(x[:, T:]))

    def electra_losses(self, input_ids, labels, sample_u, attention_mask=None) -> dict:
        """ELECTRA (Clark et al. 2020, section 2): the generator's MLM loss at the masked
        positions; its samples replace them (no gradient flows through sampling); the
        discriminator classifies every real token of the result as original or replaced.

        Sampling is inverse-CDF with sample_u (B, T) uniforms from the objective, so the
        replacements are a function of (seed, epoch, sequence index) and the generator's
        weights, never of a device RNG. Special tokens are never sampled. A sample equal to the
        original counts as original, as in ELECTRA. Returns the losses, the total
        (mlm + disc_weight * disc) and the discriminator's accuracy.
        """
        predicted = labels != IGNORE_INDEX
        gen = self.generator
        gen_logits = gen.logits(gen.encode(input_ids, attention_mask)[predicted]).float()
        mlm = F.cross_entropy(gen_logits, labels[predicted]) if bool(predicted.any()) \
            else gen_logits.sum() * 0.0
        with torch.no_grad():
            probs = torch.softmax(gen_logits, dim=-1)
            probs[:, self.special_ids.to(probs.device)] = 0.0
            cdf = probs.cumsum(dim=-1)
            u = sample_u[predicted].to(cdf.dtype)[:, None] * cdf[:, -1:]
            sampled = torch.searchsorted(cdf, u).clamp(max=cdf.shape[-1] - 1)[:, 0]
            fake = input_ids.clone()
            fake[predicted] = sampled
            original = torch.where(predicted, labels, input_ids)
            replaced = (fake != original).float()
            real = (fake != self.cfg.pad_id) if attention_mask is None else attention_mask.bool()
        disc_logits = self.logits(self.encode(fake, attention_mask)).float()
        disc = F.binary_cross_entropy_with_logits(disc_logits[real], replaced[real])
        accuracy = ((disc_logits[real] > 0).float() == replaced[real]).float().mean()
        return {"loss": mlm + self.cfg.disc_weight * disc, "generator_mlm": mlm,
                "discriminator": disc, "discriminator_accuracy": accuracy.detach(),
                "replaced_share": replaced[real].mean(), "logits": disc_logits}

    def forward(self, input_ids, labels=None, attention_mask=None, attn_mask=None,
                causal=False, sop_labels=None, decoder_input_ids=None, sample_u=None,
                query_mask=None, target_positions=None):
        """Returns (logits, loss); loss is the mean cross-entropy over labels != IGNORE_INDEX.

        Encoders with labels compute logits only where labels != IGNORE_INDEX (shape (N, vocab),
        as fairseq does) to spare the projection of the ~85% unpredicted positions; decoders
        compute every position ((B, T, vocab), static shapes for torch.compile).
        sop_labels: (B,) 0/1 or IGNORE_INDEX; adds the sentence-order loss (needs sop_head).
        encdec: input_ids are the encoder's; labels the decoder's targets, fed shifted right
        unless decoder_input_ids are given.
        ELECTRA (generator_fraction > 0): labels and sample_u from the `electra` objective;
        logits are the discriminator's (B, T) and the loss `electra_losses`' total.
        Two-stream (XLNet): attn_mask, query_mask and target_positions from the `plm` objective,
        labels (B, P); without them the identity order (`two_stream_logits`).
        """
        if self.cfg.kind == "encdec":
            return self._seq2seq(input_ids, labels, attention_mask, decoder_input_ids)
        if self.cfg.two_stream:
            logits = self.two_stream_logits(input_ids, attn_mask, query_mask, target_positions,
                                            attention_mask)
            if labels is None:
                return logits, None
            return logits, F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(),
                                           ignore_index=IGNORE_INDEX)
        if self.generator is not None and labels is not None:
            if sample_u is None:
                raise ValueError("an ELECTRA model trains on the electra objective's sample_u")
            out = self.electra_losses(input_ids, labels, sample_u, attention_mask)
            return out["logits"], out["loss"]
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
