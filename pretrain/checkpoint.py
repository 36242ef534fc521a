"""Run checkpoints: RUN_DIR/checkpoint.pt holds plain tensors and containers only, so it is read
with `torch.load(..., weights_only=True)`, and is written atomically (never half-written)."""

from __future__ import annotations

import os

import torch

from pretrain.model import ModelConfig, Transformer

CHECKPOINT = "checkpoint.pt"


def load_checkpoint(path: str, device: str = "cpu") -> dict:
    """Loads a checkpoint with weights_only=True: it holds only tensors and plain containers."""
    return torch.load(path, map_location=device, weights_only=True)


def model_from_checkpoint(ckpt: dict) -> Transformer:
    model = Transformer(ModelConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model


def save_checkpoint(path: str, checkpoint: dict) -> None:
    torch.save(checkpoint, path + ".tmp")
    os.replace(path + ".tmp", path)  # never leave a half-written checkpoint behind
