"""Sequences/s of each load-time objective in one thread (one DataLoader worker), and of `mlm`
against Hugging Face's DataCollatorForLanguageModeling on the same token arrays.

    pip install transformers            # for the comparison only; never a Sieve dependency
    python -m benchmarks.objectives_throughput [--shards out] [--lengths 128 512]
    python -m benchmarks.objectives_throughput --quick     # seconds; what tests/benchmarks/test_benchmarks.py runs

Each measurement takes the same list of numpy rows (one packed sequence each) and produces a
batch of torch tensors, as a worker hands it to the training loop: Sieve stacks the rows and
applies the objective; the collator gets the rows as torch tensors (its fastest input, no
`tokenizer.pad`) and builds the batch and the masks. Both run with torch.set_num_threads(1).
With --shards, the loader's own rate (read tars + pack + mlm) is measured too. The last line
puts next to these the sequences/s a small encoder (the `small` preset, 25M non-embedding
parameters) consumes on one H100, from its training FLOPs per token
(`Transformer.flops_per_sequence`, MLM head at the masked positions) at an assumed MFU. Without
`transformers` installed the comparison is skipped with a note.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pipeline import shard_format
from pretrain import data, objectives
from pretrain.model import Transformer, preset

SPECIAL_IDS = shard_format.SPECIAL_IDS
H100_BF16_DENSE_FLOPS = 989e12   # NVIDIA H100 SXM datasheet, dense BF16
ASSUMED_MFU = 0.4                # a well-tuned small-model run; nanoGPT reports ~0.3-0.5


def synthetic_rows(n: int, length: int, vocab: int, seed: int = 0) -> list[np.ndarray]:
    """Packed-looking rows: bos first, ordinary ids, an eos every ~100 tokens."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(SPECIAL_IDS), vocab, size=(n, length))
    rows[:, 0] = SPECIAL_IDS["bos"]
    rows[rng.random((n, length)) < 0.01] = SPECIAL_IDS["eos"]
    starts = rng.random((n, length)) < 0.05
    return list(rows), list(starts)


def rate(fn, batches, repeat: int = 3) -> float:
    """Best-of-`repeat` sequences/s over the batches."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = 0
        for batch in batches:
            fn(batch)
            n += len(batch[0])
        best = max(best, n / (time.perf_counter() - t0))
    return best


def sieve_fn(name: str, vocab: int, word_starts: np.ndarray):
    spec = objectives.OBJECTIVES[name]
    kw = {"vocab_size": vocab, "special_ids": SPECIAL_IDS}
    if spec.needs_word_starts:
        kw["word_starts"] = word_starts

    def run(batch):
        rows, starts, index = batch
        tokens = np.stack(rows)
        if name == "sop":  # rows as doc_sentences packing makes them: one document each
            tokens = tokens.copy()
            tokens[tokens == SPECIAL_IDS["eos"]] = 7
        out = spec.fn(tokens, np.stack(starts), seed=0, epoch=0, index=index, **kw)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
    return run


def hf_collator(vocab: int):
    from tokenizers import Tokenizer, models
    from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast

    names = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"] + [f"t{i}" for i in range(5, vocab)]
    tok = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="<unk>"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", mask_token="<mask>")
    assert fast.mask_token_id == SPECIAL_IDS["mask"] and fast.pad_token_id == 0
    collator = DataCollatorForLanguageModeling(tokenizer=fast, mlm_probability=0.15,
                                               return_tensors="pt")
    return collator


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    p.add_argument("--sequences", type=int, default=65536, help="per length, at 128 tokens "
                   "(scaled down for longer rows)")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--shards", default=None, help="a pipeline output to time the loader on")
    p.add_argument("--no_hf", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="one short length, few sequences, a small vocabulary: checks that it runs")
    args = p.parse_args(argv)
    if args.quick:
        args.lengths, args.sequences, args.batch_size, args.vocab = [64], 512, 64, 2000
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    word_starts = rng.random(args.vocab) < 0.6
    word_starts[:5] = False
    collator = None
    if not args.no_hf:
        try:
            collator = hf_collator(args.vocab)
        except ImportError as e:
            print(f"(no Hugging Face comparison: {e}; pip install transformers)")

    print("| objective | " + " | ".join(f"seq/s @{L}" for L in args.lengths) + " |")
    print("|---|" + "--:|" * len(args.lengths))
    results = {}
    for L in args.lengths:
        n = max(args.batch_size, args.sequences * 128 // L)
        rows, starts = synthetic_rows(n, L, args.vocab)
        B = args.batch_size
        batches = [(rows[i:i + B], starts[i:i + B], np.arange(i, i + len(rows[i:i + B])))
                   for i in range(0, n, B)]
        for name in objectives.OBJECTIVES:
            results[name, L] = rate(sieve_fn(name, args.vocab, word_starts), batches)
        if collator is not None:
            tensor_rows = [torch.from_numpy(r) for r in rows]
            hf_batches = [(tensor_rows[i:i + B],) for i in range(0, n, B)]
            results["hf", L] = rate(lambda b: collator(b[0]), hf_batches)
    for name in list(objectives.OBJECTIVES) + (["hf"] if collator else []):
        label = "HF DataCollatorForLanguageModeling (mlm)" if name == "hf" else f"`{name}`"
        print(f"| {label} | " + " | ".join(f"{results[name, L]:,.0f}" for L in args.lengths) + " |")
    if collator:
        print("| `mlm` / HF | " + " | ".join(f"{results['mlm', L] / results['hf', L]:.1f}x"
                                            for L in args.lengths) + " |")

    if args.shards:
        for L in args.lengths:
            loader = data.make_loader(args.shards, L, args.batch_size, seed=0, epoch=0)
            t0, n = time.perf_counter(), 0
            for batch in loader:
                n += batch["input_ids"].shape[0]
            print(f"loader (read + pack + mlm, 1 process) on {args.shards} @{L}: "
                  f"{n / (time.perf_counter() - t0):,.0f} seq/s ({n} sequences)")

    model = Transformer(preset("small", vocab_size=args.vocab, kind="encoder"))
    for L in args.lengths:
        flops = model.flops_per_sequence(L) / L
        seqs = H100_BF16_DENSE_FLOPS * ASSUMED_MFU / flops / L
        print(f"small model on one H100 at {ASSUMED_MFU:.0%} MFU, length {L}: consumes about "
              f"{seqs:,.0f} seq/s ({flops / 1e6:.0f} MFLOPs/token)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
