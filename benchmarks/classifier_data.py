"""Build a real high- versus low-quality training set for the fastText quality classifier.

    python -m benchmarks.classifier_data build --workdir /tmp/sieve-bench --out /tmp/sieve-bench/cls
    python -m quality.train_classifier --positive /tmp/sieve-bench/cls/positive.jsonl.gz \\
        --negative /tmp/sieve-bench/cls/negative.jsonl.gz --out /tmp/sieve-bench/cls/quality.bin --quantize
    python -m benchmarks.classifier_data score --model /tmp/sieve-bench/cls/quality.bin

Sources (DATA.md; all real text, none written for this project):

* positive, clean prose: Project Gutenberg chapters from the bundled sample
  (`pipeline/sample/sample.jsonl.gz`, source `gutenberg`, front matter and the PG licence footer
  cut off), the Python 3.11 documentation sources (`python3.11-doc`, `_sources/**/*.rst.txt`) and
  the Linux kernel documentation (`linux-doc-6.1`, `Documentation/**/*.rst.gz`, translations left
  out);
* negative, low quality: Debian copyright files (this machine's `/usr/share/doc/*/copyright` plus
  the sample's), Debian changelogs (`changelog.Debian.gz`, same places), English package
  descriptions (bookworm `Translation-en`, consecutive descriptions run together like a catalogue
  page) and the OpenJDK 17 javadoc (`openjdk-17-doc`, HTML reduced to its text).

Every document is normalized (`quality.normalize.normalize_text`) and cut into chunks of 2,000 to
5,000 characters at paragraph (else line, else space) boundaries, and documents shorter than that
are run together within their source, so that both classes have the same length distribution and
the classifier cannot win on length alone. Exact duplicate chunks are dropped (`dedup_key`),
each source is capped, and the larger class is cut to the size of the smaller, all by SHA-1 rank
with a fixed salt: the same packages give the same files.

Building needs the Debian mirror (`apt-get update`/`apt-get download` into the workdir, as root);
training and scoring need nothing but the files written here.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.sample.build_sample import deb822, read_list, unfold_description
from quality.normalize import dedup_key, normalize_text
from workflows.sources import html_to_text

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "pipeline" / "sample" / "sample.jsonl.gz"
SALT = "sieve-classifier-data-v1/"

# Chunk lengths: about one web page of text; both classes are cut the same way.
MIN_CHUNK_CHARS = 2_000
MAX_CHUNK_CHARS = 5_000
# Only the first 20,000 characters of a document are used, so that a few huge documents (a
# 400 KB copyright file, a kernel subsystem manual) do not make up most of their source.
MAX_DOC_CHARS = 20_000
# Chunks kept per source, before the classes are balanced.
MAX_CHUNKS_PER_SOURCE = 1_500

POSITIVE_SOURCES = ("gutenberg", "python-docs", "linux-doc")
NEGATIVE_SOURCES = ("debian-copyright", "debian-changelog", "debian-descriptions", "javadoc")
PACKAGES = ("python3.11-doc", "linux-doc-6.1", "openjdk-17-doc")
PG_FOOTER_RE = re.compile(r"End of (the )?Project Gutenberg|\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG",
                          re.IGNORECASE)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rank(key: str) -> str:
    return hashlib.sha1((SALT + key).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- chunking
def _pieces(text: str) -> Iterator[str]:
    """Paragraphs, with any paragraph over MAX_CHUNK_CHARS split at lines, then at spaces."""
    for para in re.split(r"\n\s*\n", text):
        if not para.strip():
            continue
        if len(para) <= MAX_CHUNK_CHARS:
            yield para
            continue
        for line in para.split("\n"):
            while len(line) > MAX_CHUNK_CHARS:
                cut = line.rfind(" ", 0, MAX_CHUNK_CHARS)
                cut = cut if cut > 0 else MAX_CHUNK_CHARS
                yield line[:cut]
                line = line[cut:].lstrip()
            if line.strip():
                yield line


def chunk_documents(texts: Iterable[str]) -> Iterator[str]:
    """Chunks of MIN..MAX characters from the documents of one source, in order.

    Pieces accumulate (joined by a blank line) until the chunk reaches MIN_CHUNK_CHARS; a piece
    that would push it past MAX_CHUNK_CHARS starts the next chunk. Short documents therefore run
    together with the next ones; a final remainder under MIN_CHUNK_CHARS is dropped.
    """
    buf: list[str] = []
    size = 0
    for text in texts:
        for piece in _pieces(text[:MAX_DOC_CHARS]):
            if buf and size + 2 + len(piece) > MAX_CHUNK_CHARS:
                if size >= MIN_CHUNK_CHARS:
                    yield "\n\n".join(buf)
                buf, size = [], 0
            buf.append(piece)
            size += len(piece) + (2 if size else 0)
            if size >= MIN_CHUNK_CHARS:
                yield "\n\n".join(buf)
                buf, size = [], 0


# --------------------------------------------------------------------------- sources
class Workdir:
    """apt-get with its own lists and cache under the workdir (the system's apt state is untouched)."""

    def __init__(self, root: Path):
        self.root = root
        self.lists = root / "lists"
        self.debs = root / "debs"
        for d in (self.lists / "partial", root / "apt-cache" / "archives" / "partial", self.debs):
            d.mkdir(parents=True, exist_ok=True)
        self.opts = ["-o", f"Dir::State::Lists={self.lists}", "-o", f"Dir::Cache={root / 'apt-cache'}"]

    def translation_en(self) -> Path:
        hits = sorted(self.lists.glob("*_debian_dists_bookworm_main_i18n_Translation-en*"))
        if not hits:
            log("apt-get update (lists in the workdir)")
            subprocess.run(["apt-get", "update", "-q", *self.opts, "-o", "Acquire::Languages=en"],
                           check=True, stdout=subprocess.DEVNULL)
            hits = sorted(self.lists.glob("*_debian_dists_bookworm_main_i18n_Translation-en*"))
        return hits[0]

    def extracted(self, package: str) -> Path:
        dest = self.root / "x" / package
        if dest.exists():
            return dest
        debs = sorted(self.debs.glob(f"{package}_*.deb"))
        if not debs:
            log(f"apt-get download {package}")
            self.translation_en()  # the package lists come with the same update
            subprocess.run(["apt-get", "download", "-q", *self.opts, package], cwd=self.debs,
                           check=True, stdout=subprocess.DEVNULL)
            debs = sorted(self.debs.glob(f"{package}_*.deb"))
        dest.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(dest)], check=True)
        return dest


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def _sample(source: str) -> Iterator[dict]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["source"] == source:
                yield rec


def gutenberg() -> Iterator[tuple[str, str]]:
    for rec in _sample("gutenberg"):
        if rec["meta"].get("chapter") == 0:  # title page / PG header
            continue
        text = rec["text"]
        m = PG_FOOTER_RE.search(text)
        yield rec["id"], text[: m.start()] if m else text


def python_docs(wd: Workdir) -> Iterator[tuple[str, str]]:
    base = wd.extracted("python3.11-doc") / "usr/share/doc/python3.11/html/_sources"
    for p in sorted(base.rglob("*.rst.txt")):
        yield "python-docs/" + p.relative_to(base).as_posix(), _read(p)


def linux_doc(wd: Workdir) -> Iterator[tuple[str, str]]:
    base = wd.extracted("linux-doc-6.1") / "usr/share/doc/linux-doc-6.1/Documentation"
    for p in sorted(base.rglob("*.rst.gz")):
        rel = p.relative_to(base).as_posix()
        if not rel.startswith("translations/"):
            yield "linux-doc/" + rel, _read(p)


def _doc_files(name: str) -> list[Path]:
    return sorted(Path("/usr/share/doc").glob(f"*/{name}"))


def copyright_files() -> Iterator[tuple[str, str]]:
    for p in _doc_files("copyright"):
        yield f"debian-copyright/local/{p.parent.name}", _read(p)
    for rec in _sample("debian-copyright"):
        yield rec["id"], rec["text"]


def changelogs() -> Iterator[tuple[str, str]]:
    for p in _doc_files("changelog.Debian.gz"):
        yield f"debian-changelog/local/{p.parent.name}", _read(p)
    for rec in _sample("debian-changelog"):
        yield rec["id"], rec["text"]


def descriptions(wd: Workdir) -> Iterator[tuple[str, str]]:
    stanzas = list(deb822(read_list(wd.translation_en())))
    # In rank order, so that neighbours in a chunk are unrelated packages, not one source's
    # alphabetical run of near-identical binaries.
    for st in sorted(stanzas, key=lambda s: rank("desc/" + s["Package"])):
        yield "debian-descriptions/" + st["Package"], unfold_description(st["Description-en"])


def javadoc(wd: Workdir) -> Iterator[tuple[str, str]]:
    base = wd.extracted("openjdk-17-doc") / "usr/share/doc/openjdk-17-doc/api"
    pages = sorted(base.rglob("*.html"), key=lambda p: rank("javadoc/" + p.relative_to(base).as_posix()))
    # Only as many pages as can fill the source's cap (about 3 chunks a page), since parsing all
    # 10,000 pages takes minutes.
    for p in pages[: MAX_CHUNKS_PER_SOURCE]:
        yield "javadoc/" + p.relative_to(base).as_posix(), html_to_text(_read(p))


# --------------------------------------------------------------------------- build
def source_chunks(name: str, docs: Iterable[tuple[str, str]]) -> list[dict]:
    """Chunks of one source, normalized, exact duplicates dropped, capped by rank."""
    docs = sorted(docs)  # stable order whatever the file system
    texts = (normalize_text(text) for _, text in docs)
    seen, chunks = set(), []
    for i, chunk in enumerate(chunk_documents(texts)):
        key = dedup_key(chunk)
        if key not in seen:
            seen.add(key)
            chunks.append({"id": f"{name}/{i:06d}", "text": chunk, "source": name})
    chunks.sort(key=lambda r: rank(r["id"]))
    log(f"{name}: {len(docs):,} documents -> {len(chunks):,} distinct chunks, "
        f"{min(len(chunks), MAX_CHUNKS_PER_SOURCE):,} kept")
    return chunks[:MAX_CHUNKS_PER_SOURCE]


def write_jsonl_gz(path: Path, records: list[dict]) -> None:
    records = sorted(records, key=lambda r: r["id"])
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        for r in records:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))


def build(workdir: Path, out: Path) -> dict:
    wd = Workdir(workdir)
    sources = {
        "gutenberg": gutenberg(), "python-docs": python_docs(wd), "linux-doc": linux_doc(wd),
        "debian-copyright": copyright_files(), "debian-changelog": changelogs(),
        "debian-descriptions": descriptions(wd), "javadoc": javadoc(wd),
    }
    chunks = {name: source_chunks(name, docs) for name, docs in sources.items()}
    # A chunk text in both classes (none expected) would be noise: drop it from both.
    keys = {name: {dedup_key(c["text"]) for c in cs} for name, cs in chunks.items()}
    pos_keys = set().union(*(keys[s] for s in POSITIVE_SOURCES))
    neg_keys = set().union(*(keys[s] for s in NEGATIVE_SOURCES))
    both = pos_keys & neg_keys
    classes = {}
    for label, names in (("positive", POSITIVE_SOURCES), ("negative", NEGATIVE_SOURCES)):
        recs = [c for s in names for c in chunks[s] if dedup_key(c["text"]) not in both]
        # A second rank (not the one that capped each source) so that every source loses the
        # same share when the larger class is cut.
        classes[label] = sorted(recs, key=lambda r: rank("balance/" + r["id"]))
    n = min(len(v) for v in classes.values())
    out.mkdir(parents=True, exist_ok=True)
    composition = {}
    for label, recs in classes.items():
        kept = recs[:n]
        write_jsonl_gz(out / f"{label}.jsonl.gz", kept)
        counts = collections.Counter(r["source"] for r in kept)
        chars = collections.Counter()
        for r in kept:
            chars[r["source"]] += len(r["text"])
        composition[label] = {s: {"chunks": counts[s], "mean_chars": round(chars[s] / counts[s])}
                              for s in sorted(counts)}
    (out / "composition.json").write_text(json.dumps(composition, indent=2) + "\n")
    return composition


# --------------------------------------------------------------------------- score
def score_heldout(model: str, data: Path, holdout: float) -> dict:
    """Per source of the built set: held-out chunks (the CLI's split), mean P(hq), share right at 0.5."""
    from quality.classifier import QualityClassifier, holdout_position

    clf = QualityClassifier(model)
    out = {}
    for label, want_hq in (("positive", True), ("negative", False)):
        by_source = collections.defaultdict(list)
        with gzip.open(data / f"{label}.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if holdout_position(rec["text"]) < holdout:
                    by_source[rec["source"]].append(rec["text"])
        for source in sorted(by_source):
            scores = clf.score(by_source[source])
            right = sum((s >= 0.5) == want_hq for s in scores)
            out[source] = {"class": label, "n": len(scores), "mean": sum(scores) / len(scores),
                           "right": right / len(scores)}
    return out


def score_sample(model: str) -> dict:
    """Mean P(hq) and share >= 0.5 per source of the bundled sample (whole documents)."""
    from quality.classifier import QualityClassifier

    by_source = collections.defaultdict(list)
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            by_source[rec["source"]].append(normalize_text(rec["text"]))
    clf = QualityClassifier(model)
    out = {}
    for source in sorted(by_source):
        scores = clf.score(by_source[source])
        out[source] = {"n": len(scores), "mean": sum(scores) / len(scores),
                       "share_ge_0.5": sum(s >= 0.5 for s in scores) / len(scores)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.classifier_data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="download the sources and write positive/negative JSONL")
    b.add_argument("--workdir", type=Path, default=Path("/tmp/sieve-bench"))
    b.add_argument("--out", type=Path, default=Path("/tmp/sieve-bench/cls"))
    s = sub.add_parser("score", help="score held-out chunks and the bundled sample per source")
    s.add_argument("--model", required=True)
    s.add_argument("--data", type=Path, default=Path("/tmp/sieve-bench/cls"),
                   help="the build's --out, for the per-source held-out breakdown")
    s.add_argument("--holdout", type=float, default=0.1, help="as given to train_classifier")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        comp = build(args.workdir, args.out)
        for label, per_source in comp.items():
            total = sum(v["chunks"] for v in per_source.values())
            print(f"{label}: {total:,} chunks -> {args.out / (label + '.jsonl.gz')}")
            for source, v in per_source.items():
                print(f"  {source:<22} {v['chunks']:>6,} chunks, mean {v['mean_chars']:,} chars")
    else:
        if (args.data / "positive.jsonl.gz").exists():
            print(f"{'held-out source':<22} {'class':<8} {'n':>5} {'mean P(hq)':>10} {'right@0.5':>9}")
            for source, v in score_heldout(args.model, args.data, args.holdout).items():
                print(f"{source:<22} {v['class']:<8} {v['n']:>5} {v['mean']:>10.3f} {v['right']:>9.1%}")
        print(f"{'sample source':<22} {'docs':>5} {'mean P(hq)':>10} {'P>=0.5':>7}")
        for source, v in score_sample(args.model).items():
            print(f"{source:<22} {v['n']:>5} {v['mean']:>10.3f} {v['share_ge_0.5']:>7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
