"""Near-dedup quality: pair precision and recall by true Jaccard, on real documents with
controlled edits.

    python -m benchmarks.dedup_quality                 # about 2 minutes on 2 cores
    python -m benchmarks.dedup_quality --write-set /tmp/sieve-bench/neardup.jsonl.gz

The labelled set: every document of the bundled sample (`pipeline/sample/sample.jsonl.gz`: kernel,
Python and Perl docs, Gutenberg chapters, licences, changelogs, translations; all real text) is in
the corpus, and each one with at least `--min-words` words is also the base of one edited copy.
The copy gets one kind of edit (or a mix of two): word substitutions, inserted sentences (taken
from other documents), deleted sentences, boilerplate header and footer lines, reordered
paragraphs, or truncation. Its strength is set by bisection so that the pair's true Jaccard (of
the word 5-gram shingle sets, `quality.minhash.text_jaccard`) lands near a target drawn
uniformly from 0.3..1.0, plus extra targets in 0.75..0.95 where the S-curve is steep.

Scored with Sieve's `pipeline.dedup.NearDedup` on Beam (default 14 bands x 8 rows), without
and with the exact-Jaccard check (threshold 0.8):
- recall by true-Jaccard bucket: the share of (base, copy) pairs that end in one cluster; below
  0.8 the same share is a false-positive rate at the 0.8 label threshold;
- precision: of every duplicate -> keeper decision, the share whose exact Jaccard is >= 0.8
  ("keeper pairs"), and of every pair of documents in one cluster, the same share ("all pairs":
  transitivity puts A and C in one cluster when A~B~C, which this counts against precision).
Both count the sample's own near duplicates (licence texts, the two Pride and Prejudice copies),
labelled by their exact Jaccard like everything else.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality import minhash as mh  # noqa: E402
from quality.normalize import normalize_text  # noqa: E402
from quality.text import paragraphs, sentences  # noqa: E402

SAMPLE = ROOT / "pipeline" / "sample" / "sample.jsonl.gz"
LABEL_THRESHOLD = 0.8  # a pair is a true near duplicate at exact Jaccard >= 0.8
BUCKETS = (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
# Lines of the kind that frame scraped pages, written for this benchmark.
BOILERPLATE = (
    "Home | About us | Products | Blog | Contact",
    "Skip to main content",
    "This website uses cookies to improve your experience. Accept all cookies or manage your preferences.",
    "Subscribe to our newsletter and never miss an update.",
    "Share this page on Facebook, Twitter and LinkedIn",
    "Copyright 2024 Example Media Group. All rights reserved.",
    "Privacy policy | Terms of service | Accessibility statement",
    "Related articles you might also like",
    "Log in or register to post comments",
    "Powered by a content management system. Theme by a design studio.",
)
EDITS = ("substitute", "insert", "delete", "boilerplate", "reorder", "truncate", "mixed")


def load_sample() -> list[dict]:
    docs = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append({"id": rec["id"], "text": normalize_text(rec["text"]),
                         "source": rec.get("source", "sample")})
    return docs


# ----------------------------------------------------------------------------------------------
# Edits: each is f(text, strength in [0, 1], rng, pool) -> text; strength 0 leaves the text be
# ----------------------------------------------------------------------------------------------

def substitute(text, x, rng, pool):
    """Replace a share of the words (up to 35%) by words drawn from the whole corpus."""
    out = []
    for tok in text.split(" "):
        out.append(rng.choice(pool["words"]) if tok.strip() and rng.random() < 0.35 * x else tok)
    return " ".join(out)


def insert(text, x, rng, pool):
    """Insert sentences from other documents (up to 1.5 x the document's sentence count)."""
    sents = sentences(text)
    for _ in range(round(1.5 * x * len(sents))):
        sents.insert(rng.randrange(len(sents) + 1), rng.choice(pool["sentences"]))
    return " ".join(sents)


def delete(text, x, rng, pool):
    """Delete up to 85% of the sentences."""
    sents = sentences(text)
    keep = [s for s in sents if rng.random() >= 0.85 * x]
    return " ".join(keep or sents[:1])


def boilerplate(text, x, rng, pool):
    """A header and a footer of boilerplate lines, together up to 1.5 x the document's words."""
    target = 1.5 * x * len(text.split())
    head, foot, n = [], [], 0
    while n < target:
        line = rng.choice(BOILERPLATE)
        (head if rng.random() < 0.5 else foot).append(line)
        n += len(line.split())
    return "\n".join(head + [text] + foot)


def reorder(text, x, rng, pool):
    """Move a share of the paragraphs (lines when there is one paragraph) to random places."""
    parts, sep = paragraphs(text), "\n\n"
    if len(parts) < 3:
        parts, sep = text.split("\n"), "\n"
    if len(parts) < 3:
        parts, sep = sentences(text), " "
    for _ in range(round(x * len(parts))):
        p = parts.pop(rng.randrange(len(parts)))
        parts.insert(rng.randrange(len(parts) + 1), p)
    return sep.join(parts)


def truncate(text, x, rng, pool):
    """Keep the first (1 - 0.85 x) of the words."""
    words = text.split(" ")
    return " ".join(words[:max(1, round(len(words) * (1 - 0.85 * x)))])


def mixed(text, x, rng, pool):
    a, b = rng.sample([substitute, insert, delete, boilerplate, truncate], 2)
    return b(a(text, x / 2, rng, pool), x / 2, rng, pool)


EDIT_FNS = {f.__name__: f for f in (substitute, insert, delete, boilerplate, reorder, truncate, mixed)}


def make_copy(text: str, kind: str, target: float, seed: int, pool: dict) -> tuple[str, float, float]:
    """(edited text, its true Jaccard with `text`, strength) with the Jaccard near `target`:
    bisection on the strength, the edit's randomness fixed by `seed` so that it is monotone-ish."""
    base = mh.shingle_hashes(text)
    edit = EDIT_FNS[kind]

    def at(x):
        t = edit(text, x, random.Random(seed), pool)
        return t, mh.jaccard(base, mh.shingle_hashes(t))

    lo, hi = 0.0, 1.0
    best = (*at(1.0), 1.0)
    for _ in range(12):
        mid = (lo + hi) / 2
        t, j = at(mid)
        if abs(j - target) < abs(best[1] - target):
            best = (t, j, mid)
        if j > target:
            lo = mid
        else:
            hi = mid
    return best


def build_set(docs: list[dict], min_words: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(corpus documents, labelled pairs): the sample plus one edited copy per long document."""
    rng = random.Random(seed)
    all_sents = [s for d in docs for s in sentences(d["text"]) if 5 <= len(s.split()) <= 40]
    pool = {"words": [w for d in docs[::7] for w in d["text"].split() if w.isalpha()],
            "sentences": all_sents}
    bases = [d for d in docs if len(mh.shingle_words(d["text"])) >= min_words]
    corpus = [dict(d) for d in docs]
    pairs = []
    for i, base in enumerate(bases):
        target = rng.uniform(0.3, 1.0) if i % 3 else rng.uniform(0.75, 0.95)
        kind = EDITS[i % len(EDITS)]
        text, j, strength = make_copy(base["text"], kind, target, seed * 1_000_003 + i, pool)
        copy_id = f"zz-copy/{i:05d}"
        corpus.append({"id": copy_id, "text": text, "source": "edited-copy"})
        pairs.append({"a": base["id"], "b": copy_id, "edit": kind, "target": round(target, 4),
                      "strength": round(strength, 4), "jaccard": j})
    return corpus, pairs


# ----------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------

def run_near_dedup(corpus: list[dict], exact_check: bool, runner: str) -> dict[str, str]:
    """doc id -> keeper id for every duplicate, from Sieve's NearDedup on Beam."""
    import apache_beam as beam

    from pipeline.dedup import NearDedup

    docs = [{**d, "url": None, "meta": {}, "signals": {}, "bytes": len(d["text"].encode())}
            for d in corpus]
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline(runner=runner) as p:
            out = (p | beam.Create(docs, reshuffle=False)
                   | NearDedup(exact_check=exact_check, threshold=LABEL_THRESHOLD))
            (out["duplicate"] | beam.Map(lambda r: json.dumps([r["id"], r["duplicate_of"]]))
             | beam.io.WriteToText(f"{tmp}/dups", shard_name_template="", num_shards=1))
        path = Path(tmp) / "dups"
        lines = path.read_text().splitlines() if path.exists() else []
    return dict(json.loads(x) for x in lines)


def wilson_low(k: int, n: int, z: float = 1.96) -> float:
    if n == 0:
        return float("nan")
    p = k / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def bucket_of(j: float) -> str:
    for lo, hi in zip(BUCKETS, BUCKETS[1:]):
        if j < hi or hi == 1.0:
            return f"{lo:.2f}-{hi:.2f}"
    return "1.00"


def score(corpus, pairs, keeper_of) -> dict:
    cluster = lambda i: keeper_of.get(i, i)  # noqa: E731
    rows = {}
    for p in pairs:
        if p["jaccard"] < BUCKETS[0]:
            continue
        b = rows.setdefault(bucket_of(p["jaccard"]), [0, 0])
        b[0] += 1
        b[1] += cluster(p["a"]) == cluster(p["b"])
    hashes = {d["id"]: mh.shingle_hashes(d["text"]) for d in corpus}
    keeper_ok = sum(mh.jaccard(hashes[d], hashes[k]) >= LABEL_THRESHOLD for d, k in keeper_of.items())
    members = {}
    for d, k in keeper_of.items():
        members.setdefault(k, [k]).append(d)
    all_pairs = all_ok = 0
    for ids in members.values():
        for x, y in itertools.combinations(sorted(ids), 2):
            all_pairs += 1
            all_ok += mh.jaccard(hashes[x], hashes[y]) >= LABEL_THRESHOLD
    return {"buckets": rows, "keeper_pairs": (keeper_ok, len(keeper_of)),
            "all_pairs": (all_ok, all_pairs), "clusters": len(members),
            "largest": max((len(v) for v in members.values()), default=0)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min-words", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runner", default="FnApiRunner")
    ap.add_argument("--write-set", default=None, help="write the corpus and pairs (jsonl.gz) here")
    args = ap.parse_args(argv)

    t0 = time.time()
    corpus, pairs = build_set(load_sample(), args.min_words, args.seed)
    t_build = time.time() - t0
    if args.write_set:
        with gzip.open(args.write_set, "wt", encoding="utf-8") as f:
            for d in corpus:
                f.write(json.dumps({"kind": "doc", **d}) + "\n")
            for p in pairs:
                f.write(json.dumps({"kind": "pair", **p}) + "\n")
    print(f"labelled set: {len(corpus)} documents, {len(pairs)} edited pairs "
          f"(built in {t_build:.1f} s); edits: "
          + ", ".join(f"{k} {sum(p['edit'] == k for p in pairs)}" for k in EDITS))
    results = {}
    for check in (False, True):
        t = time.time()
        keeper_of = run_near_dedup(corpus, check, args.runner)
        results[check] = (score(corpus, pairs, keeper_of), time.time() - t)
        print(f"NearDedup 14x8, exact check {'on' if check else 'off'}: {len(keeper_of)} duplicates, "
              f"{results[check][0]['clusters']} clusters (largest {results[check][0]['largest']}), "
              f"{results[check][1]:.1f} s")

    print("\n| true Jaccard | pairs | LSH P(candidate) at bucket centre | found, check off | found, check on |")
    print("|---|--:|--:|--:|--:|")
    for b in sorted(results[False][0]["buckets"]):
        n, off = results[False][0]["buckets"][b]
        on = results[True][0]["buckets"].get(b, [n, 0])[1]
        lo, hi = map(float, b.split("-"))
        curve = mh.collision_probability((lo + hi) / 2, mh.DEFAULT_BANDS, mh.DEFAULT_ROWS)
        print(f"| {b} | {n} | {curve:.3f} | {off / n:.3f} ({off}) | {on / n:.3f} ({on}) |")
    for name in ("keeper_pairs", "all_pairs"):
        cells = []
        for check in (False, True):
            ok, n = results[check][0][name]
            cells.append(f"{ok / n:.4f} ({ok}/{n}; 95% lower {wilson_low(ok, n):.4f})" if n else "n/a")
        print(f"\nprecision, {name.replace('_', ' ')} (exact Jaccard >= {LABEL_THRESHOLD}): "
              f"check off {cells[0]}; check on {cells[1]}")
    for lo, hi in ((0.8, 0.85), (0.85, 1.01)):
        for check in (False, True):
            sel = [v for k, v in results[check][0]["buckets"].items()
                   if lo <= float(k.split("-")[0]) < hi]
            n, found = sum(v[0] for v in sel), sum(v[1] for v in sel)
            print(f"recall {lo}..{min(hi, 1.0)}, check {'on' if check else 'off'}: "
                  f"{found / n:.4f} ({found}/{n})")


if __name__ == "__main__":
    main()
