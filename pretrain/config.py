"""What a pretraining run is asked to do (`TrainConfig`) and what follows from it alone: the model
kind an objective trains and the autocast context of the precision asked for.

Imports run one way: objectives -> config -> model -> data -> evaluate -> train (`pretrain.checkpoint` beside
them, for whoever loads or saves a run).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Optional

import torch

from pretrain import objectives

EVAL_TOKENS = 262_144     # default cap on held-out tokens per evaluation (whole documents)

@dataclass
class TrainConfig:
    shards: str
    out: Optional[str] = None         # default: <shards>/pretrain
    model: str = "tiny"
    model_kind: Optional[str] = None  # default: the objective's (objectives.OBJECTIVES[...].kind)
    dropout: Optional[float] = None   # default: the preset's (0.0)
    embedding_dim: Optional[int] = None  # ALBERT's factorized embedding size; default: d_model
    generator_fraction: Optional[float] = None  # electra: generator width share (default 0.25)
    init: Optional[str] = None        # start from this checkpoint's weights (not its optimizer)
    seq_len: int = 128
    batch_size: int = 16              # sequences per micro-batch per process
    grad_accum: int = 1               # micro-batches per optimizer step
    steps: int = 2000                 # also the horizon of the lr schedule
    tokens: Optional[int] = None      # token budget: sets steps (packed input tokens)
    flops: Optional[float] = None     # compute budget: sets steps (training FLOPs, model-counted)
    stop_at_step: Optional[int] = None  # stop (and checkpoint) here, keeping the schedule
    max_minutes: float = 2.0
    lr: Optional[float] = None        # default: DEFAULT_LR[model]
    warmup_steps: Optional[int] = None
    seed: int = 0
    num_workers: int = 0
    partitions: int = 1               # canonical partitions of each epoch (pretrain.data); 1: one stream
    device: str = "cpu"
    precision: str = "auto"           # auto (bf16 on cuda, fp32 elsewhere), bf16, fp32
    compile: bool = False
    objective: str = "mlm"
    objective_params: dict = field(default_factory=dict)
    packing: Optional[str] = None     # default: the objective's required packing, else stream
    log_every: int = 10
    checkpoint_every: int = 0         # 0: only when the run stops
    eval_every: int = 0               # 0: only at the end
    eval_shards: Optional[str] = None  # held-out pipeline output (same tokenizer)
    holdout_shards: int = 1           # else: the last N shards are held out (if there are more)
    train_shards: Optional[list] = None  # train on these shard names only (none held out)
    eval_tokens: int = EVAL_TOKENS
    probe_data: Optional[str] = None  # directory of Reuters*.arff: run the probe at the end
    tensorboard: bool = True          # RUN_DIR/tb, when torch.utils.tensorboard imports
    resume: bool = False


def model_kind(cfg: TrainConfig) -> str:
    kind = objectives.OBJECTIVES[cfg.objective].kind
    if cfg.model_kind not in (None, kind):
        raise ValueError(f"objective {cfg.objective!r} trains a {kind} model, not "
                         f"{cfg.model_kind!r}")
    return kind


def autocast_for(cfg: TrainConfig, device: str):
    """A context factory: bf16 autocast (default on cuda) or nothing (fp32)."""
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.startswith("cuda"))
    if cfg.precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {cfg.precision!r}")
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    return ((lambda: torch.autocast(device_type, dtype=torch.bfloat16)) if bf16
            else contextlib.nullcontext)
