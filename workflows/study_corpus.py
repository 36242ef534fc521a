"""The corpus of the quality-versus-quantity study: a web-like training pool of mixed quality,
held-out evaluation domains, and the positives and negatives of the quality classifier.

    python -m workflows.study_corpus --workdir W [--raw W/raw]   # real corpus (cpu, gpu profiles)
    from_sample(W)                                               # bundled sample (smoke profile)

Layout (``layout(W)``): ``train/part-{0,1}.jsonl.gz`` (the pool the study's arms filter),
``eval/<domain>.jsonl.gz`` (never trained on), ``classifier/{positive,negative}.jsonl.gz``,
``SOURCES.json`` and ``SOURCES.md``. Records are ``{"id", "text", "source", "url", "meta"}`` with
``meta.licence`` and ``meta.origin`` (``<package>_<version>:<path>``).

Deterministic: sorted inputs, SHA-1 ranks with a fixed salt, gzip mtime 0, so the same inputs
give byte-identical files. Every input document ends in exactly one of train, an eval domain, the
positives, or a named left-out reason (``SOURCES.json`` ``accounting``); negatives are a sample of
train, as DCLM draws random pool documents as negatives.

Disjointness holds by construction: whole books, linux-doc directories and Python docs pages are
assigned to one split by the rank of their name; eval candidates that share a paragraph with the
training or classifier text (boilerplate such as a GPL notice) are left out before the caps. It is
checked again on the files written (``check_disjoint``): no eval document's whitespace-normalised
text, and none of its paragraphs of at least ``MIN_PARAGRAPH_CHARS``, occurs inside a training or
classifier document; the build raises ``ContaminationError`` otherwise.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import re
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from pipeline.sample.build_sample import Apt, log
from workflows import sources
from workflows.sources import rank

SALT = "sieve-study-corpus-v1/"
FORMAT = "sieve-study-corpus/1"
SAMPLE = Path(__file__).resolve().parent.parent / "pipeline" / "sample" / "sample.jsonl.gz"
TRAIN_PARTS = 2
# A paragraph this long that recurs verbatim is copied text, not a common phrase (the floor the
# sample's SOURCES.md uses for recurring licence paragraphs).
MIN_PARAGRAPH_CHARS = 200
# Consecutive words that index a paragraph for the containment check; long enough to be rare.
KEY_WORDS = 8
# A capped pool stops being read once this full: lazily read javadoc is not parsed to the end
# for the last few bytes.
FULL_FRACTION = 0.99

# --- smoke build (bundled sample): small, so that the whole study runs in minutes
SAMPLE_EVAL_BOOK = "northanger-abbey"   # every chapter held out of training
SAMPLE_DOCS_EVAL_FRACTION = 0.15        # of python-docs pages, by rank
SAMPLE_EVAL_CAP = 150_000               # bytes of text per eval domain
SAMPLE_POSITIVE_SOURCES = ("gutenberg", "python-docs")

# --- real build: about 33 MB of training text, so that a cpu-profile Beam run takes ~2 minutes
# on 2 cores (the 217 MB benchmark corpus takes 12). Bytes of text per source family, by rank.
TRAIN_CAPS = {
    "linux-doc": 7_000_000, "python-docs": 3_000_000, "perl-doc": 2_000_000,
    "gutenberg": 4_000_000, "ddtp-en": 1_000_000, "ddtp-*": 2_000_000,
    "copyright": 3_500_000, "changelog": 1_500_000, "handbook-*": 3_000_000,
    "javadoc": 3_000_000, "gnome-docs-*": 1_500_000, "man-*": 2_000_000,
}
EVAL_CAP = 350_000                      # bytes of text per eval domain
POSITIVE_CAPS = {"gutenberg": 1_500_000, "linux-doc": 1_500_000, "python-docs": 1_000_000}
# Gutenberg books by slug (janeaustenr's R object names mapped to tidytext's title slugs, so that
# the two copies of Pride and Prejudice are one book and land in one split).
JANEAUSTENR_BOOKS = {"emma": "emma", "mansfieldpark": "mansfield-park",
                     "northangerabbey": "northanger-abbey", "persuasion": "persuasion",
                     "prideprejudice": "pride-and-prejudice",
                     "sensesensibility": "sense-and-sensibility"}
EVAL_BOOKS = ("persuasion", "the-war-of-the-worlds")
POSITIVE_BOOKS = ("great-expectations", "twenty-thousand-leagues-under-the-sea")
LINUX_DOC_EVAL_DIRS = 0.08              # fractions of English linux-doc directories, by rank
LINUX_DOC_POSITIVE_DIRS = 0.12
PYTHON_DOCS_POSITIVE_PAGES = 0.2        # fraction of python-docs pages, by rank
DDTP_PER_LANG, DDTP_EN = 1_400, 4_000   # read per language (benchmarks/real_corpus defaults)
DEBS = ["linux-doc-6.1", "python3.11-doc", "perl-doc", "debian-handbook", "gnome-user-docs",
        *sources.MAN_PKGS, "r-cran-janeaustenr", "r-cran-tidytext", "r-cran-tokenizers",
        sources.OPENJDK_DOC, sources.WEKA]
EVAL_DOMAINS_REAL = {
    "news": "Reuters-21578 stories (Debian weka) and gensim's lee_background.cor paragraphs",
    "novels": "Gutenberg books none of whose chapters are trained on: " + ", ".join(EVAL_BOOKS),
    "wiki": "gensim's shortened enwiki sample, wikitext reduced to text, redirects left out",
    "docs": "linux-doc pages of whole held-out directories",
}


class ContaminationError(RuntimeError):
    """Eval text found inside training or classifier text."""


def layout(workdir: Path | str) -> dict:
    """Paths of the corpus under workdir; ``eval`` maps each domain that exists to its file."""
    w = Path(workdir)
    domains = sorted(p.name[:-len(".jsonl.gz")] for p in (w / "eval").glob("*.jsonl.gz"))
    return {"train": [w / "train" / f"part-{i}.jsonl.gz" for i in range(TRAIN_PARTS)],
            "eval": {d: w / "eval" / f"{d}.jsonl.gz" for d in domains},
            "positive": w / "classifier" / "positive.jsonl.gz",
            "negative": w / "classifier" / "negative.jsonl.gz",
            "sources_json": w / "SOURCES.json", "sources_md": w / "SOURCES.md",
            "probe": w / "probe" if (w / "probe").is_dir() else None}


# --------------------------------------------------------------------------- pure helpers
def text_bytes(r: dict) -> int:
    return len(r["text"].encode("utf-8"))


def fraction(key: str) -> float:
    """A stable pseudo-random number in [0, 1) for key."""
    return int(rank(key, SALT)[:12], 16) / 16 ** 12


def by_rank(records: Iterable[dict], key=lambda r: r["id"]) -> list[dict]:
    return sorted(records, key=lambda r: (rank(key(r), SALT), r["id"]))


def fill(ordered: Iterable[dict], cap: int) -> list[dict]:
    """Whole documents in the given order, skipping those that would pass cap bytes of text,
    until the cap is FULL_FRACTION full (licence files and wiki pages are heavy-tailed, so
    stopping at the first that does not fit would leave caps half empty)."""
    out, total = [], 0
    for r in ordered:
        if total >= FULL_FRACTION * cap:
            break
        n = text_bytes(r)
        if total + n <= cap:
            out.append(r)
            total += n
    return out


def family(source: str) -> str:
    """Sources folded over their language tag ('handbook-de' -> 'handbook-*'); ddtp-en apart."""
    return source if source == "ddtp-en" else re.sub(r"-[a-z]{2}(_[A-Za-z]{2,4})?$", "-*", source)


def _norm(text: str) -> str:
    return " ".join(text.split())


def overlaps(eval_docs: Iterable[dict], other_docs: Iterable[dict],
             min_chars: int = MIN_PARAGRAPH_CHARS) -> list[tuple[str, str, str]]:
    """(eval id, other id, 'text' or 'paragraph') for every eval document whose whitespace-
    normalised text, or one of whose blank-line paragraphs of at least min_chars, occurs inside
    an other document (normalised the same way). A unit's first and last words may be cut in
    the other text, so its interior is searched, found through its first KEY_WORDS words;
    units shorter than KEY_WORDS + 2 words are compared as whole texts."""
    index: dict[tuple, list[tuple[str, str, str]]] = collections.defaultdict(list)
    whole: dict[str, list[str]] = collections.defaultdict(list)
    for d in eval_docs:
        units = [("text", _norm(d["text"]))]
        units += [("paragraph", p) for p in map(_norm, re.split(r"\n\s*\n", d["text"]))
                  if len(p) >= min_chars]
        for kind, unit in units:
            words = unit.split(" ")
            if len(words) < KEY_WORDS + 2:
                if kind == "text" and unit:
                    whole[unit].append(d["id"])
                continue
            index[tuple(words[1:1 + KEY_WORDS])].append((d["id"], kind, " ".join(words[1:-1])))
    starts = {k[0] for k in index}
    hits = set()
    for o in other_docs:
        text = _norm(o["text"])
        hits.update((e, o["id"], "text") for e in whole.get(text, ()))
        words = text.split(" ")
        for i in range(len(words) - KEY_WORDS + 1):
            if words[i] in starts:
                for eid, kind, probe in index.get(tuple(words[i:i + KEY_WORDS]), ()):
                    if probe in text:
                        hits.add((eid, o["id"], kind))
    return sorted(hits)


# --------------------------------------------------------------------------- files
def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write_jsonl_gz(path: Path, records: list[dict]) -> dict:
    """Write records in the given order (gzip mtime 0, no name); docs, bytes and sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw_sha, size, text = hashlib.sha256(), 0, 0
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0,
                                              compresslevel=6) as gz:
        for r in records:
            line = (json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8")
            gz.write(line)
            raw_sha.update(line)
            size, text = size + len(line), text + text_bytes(r)
    return {"docs": len(records), "text_bytes": text, "jsonl_bytes": size,
            "gz_bytes": path.stat().st_size, "jsonl_sha256": raw_sha.hexdigest(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def check_disjoint(paths: dict) -> dict:
    """Read the written eval, train and classifier files back and raise ContaminationError if any
    eval text or paragraph occurs in a train or classifier document; returns what was checked."""
    eval_docs = [r for p in paths["eval"].values() for r in read_jsonl_gz(p)]
    others = [r for p in [*paths["train"], paths["positive"], paths["negative"]]
              for r in read_jsonl_gz(p)]
    hits = overlaps(eval_docs, others)
    if hits:
        raise ContaminationError(f"{len(hits)} eval texts found in train/classifier files, e.g. "
                                 + "; ".join(f"{e} in {o} ({k})" for e, o, k in hits[:10]))
    return {"eval_docs": len(eval_docs), "other_docs": len(others), "overlaps": 0,
            "min_paragraph_chars": MIN_PARAGRAPH_CHARS}


# --------------------------------------------------------------------------- assignment
class Assignment:
    """Where every input document went: a split ('train', 'eval/<domain>', 'positive') or a
    left-out reason, counted per source."""

    def __init__(self):
        self.splits: dict[str, list[dict]] = collections.defaultdict(list)
        self.counts: collections.Counter = collections.Counter()  # (source, place) -> docs

    def put(self, split: str, records: Iterable[dict], counted: bool = True) -> None:
        """counted=False: the documents are already counted where they went (smoke positives)."""
        for r in records:
            self.splits[split].append(r)
            if counted:
                self.counts[r["source"], split] += 1

    def leave_out(self, reason: str, records: Iterable[dict]) -> None:
        for r in records:
            self.counts[r["source"], "left out: " + reason] += 1

    def capped(self, split: str, pool: list[dict], cap: int, what: str,
               key=lambda r: r["id"]) -> None:
        """Up to cap bytes of the pool, by rank of key, go to split; the rest is left out."""
        taken = fill(by_rank(pool, key), cap)
        ids = {r["id"] for r in taken}
        self.put(split, taken)
        self.leave_out(f"beyond the {what} cap", [r for r in pool if r["id"] not in ids])

    def decontaminate(self, pools: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """Eval pools less the documents sharing text with what train and positives hold."""
        bad = {e for e, _, _ in overlaps([r for p in pools.values() for r in p],
                                         [*self.splits["train"], *self.splits["positive"]])}
        out = {}
        for domain, pool in pools.items():
            self.leave_out("shares text with train or classifier documents",
                           [r for r in pool if r["id"] in bad])
            out[domain] = [r for r in pool if r["id"] not in bad]
        return out


def _finish(workdir: Path, a: Assignment, settings: dict, versions: dict, build: str,
            domains: dict[str, str], notes: list[str]) -> dict:
    """Negatives, files, the disjointness check, SOURCES.json and SOURCES.md."""
    positive_ids = {r["id"] for r in a.splits["positive"]}
    pool = [r for r in a.splits["train"] if r["id"] not in positive_ids]
    negatives = by_rank(pool, key=lambda r: "negative/" + r["id"])[:len(positive_ids)]
    paths = layout(workdir)
    for p in [*paths["train"], *(workdir / "eval").glob("*.jsonl.gz")]:
        p.unlink(missing_ok=True)  # a rebuild with fewer domains or parts leaves nothing stale
    files = {}
    keyed = sorted((hashlib.sha1(r["id"].encode()).hexdigest(), r) for r in a.splits["train"])
    for i, p in enumerate(paths["train"]):
        files[p] = write_jsonl_gz(p, [r for h, r in keyed if int(h[:2], 16) % TRAIN_PARTS == i])
    for domain in sorted(domains):
        p = workdir / "eval" / f"{domain}.jsonl.gz"
        files[p] = write_jsonl_gz(p, sorted(a.splits["eval/" + domain], key=lambda r: r["id"]))
    files[paths["positive"]] = write_jsonl_gz(paths["positive"], sorted(
        a.splits["positive"], key=lambda r: r["id"]))
    files[paths["negative"]] = write_jsonl_gz(paths["negative"], sorted(
        negatives, key=lambda r: r["id"]))
    paths = layout(workdir)
    checked = check_disjoint(paths)

    split_records = {"train": a.splits["train"],
                     **{f"eval/{d}": a.splits["eval/" + d] for d in sorted(domains)},
                     "classifier/positive": a.splits["positive"],
                     "classifier/negative": negatives}
    splits = {}
    for name, recs in split_records.items():
        per = collections.defaultdict(lambda: {"docs": 0, "text_bytes": 0, "licences": set()})
        for r in recs:
            s = per[r["source"]]
            s["docs"] += 1
            s["text_bytes"] += text_bytes(r)
            s["licences"].add(r["meta"].get("licence", "unknown"))
        splits[name] = {"docs": len(recs), "text_bytes": sum(map(text_bytes, recs)),
                        "sources": {k: {**v, "licences": sorted(v["licences"])}
                                    for k, v in sorted(per.items())}}
    accounting = collections.defaultdict(dict)
    for (source, place), n in sorted(a.counts.items()):
        accounting[source][place] = n
    summary = {"format": FORMAT, "build": build, "eval_domains": domains, "splits": splits,
               "files": {p.relative_to(workdir).as_posix(): v for p, v in files.items()},
               "accounting": dict(accounting), "disjointness": checked,
               "package_versions": dict(sorted(versions.items())), "settings": settings,
               "notes": notes}
    paths["sources_json"].write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    paths["sources_md"].write_text(sources_md(summary), encoding="utf-8")
    return paths


def sources_md(summary: dict) -> str:
    """SOURCES.json for a person: a table per split, where everything went, how it is disjoint."""
    out = [f"# Study corpus ({summary['build']} build)", "",
           "Built by `workflows/study_corpus.py`; the numbers and sha256 of every file are in "
           "`SOURCES.json`. Sizes are bytes of UTF-8 text (MB = 10^6).", ""]
    out += [f"- {n}" for n in summary["notes"]] + [""]
    out += ["## Evaluation domains (never trained on)", ""]
    out += [f"- `{d}`: {what}" for d, what in summary["eval_domains"].items()] + [""]
    for name, s in summary["splits"].items():
        out += [f"## {name}: {s['docs']:,} documents, {s['text_bytes'] / 1e6:.2f} MB", "",
                "| source | docs | MB | licence |", "|---|---:|---:|---|"]
        out += [f"| {src} | {v['docs']:,} | {v['text_bytes'] / 1e6:.2f} | "
                f"{'; '.join(v['licences'])} |" for src, v in s["sources"].items()]
        out.append("")
    out += ["## Where every input document went", "", "| source | place | docs |", "|---|---|---:|"]
    out += [f"| {src} | {place} | {n:,} |" for src, places in summary["accounting"].items()
            for place, n in places.items()]
    d = summary["disjointness"]
    out += ["", "## Disjointness", "",
            "By construction: whole books, linux-doc directories and Python docs pages go to one "
            "split by the SHA-1 rank of their name (both copies of Pride and Prejudice are one "
            "book); eval candidates sharing text with train or positives are left out before the "
            "eval caps. Checked on the files written: none of the "
            f"{d['eval_docs']:,} eval documents, nor any of their paragraphs of at least "
            f"{d['min_paragraph_chars']} characters (whitespace-normalised), occurs inside any of "
            f"the {d['other_docs']:,} train and classifier documents.", ""]
    if summary["package_versions"]:
        out += ["## Package versions", ""]
        out += [f"- {k} {v}" for k, v in summary["package_versions"].items()] + [""]
    return "\n".join(out)


# --------------------------------------------------------------------------- smoke build
def from_sample(workdir: Path | str, max_train_docs: int | None = None,
                sample: Path = SAMPLE) -> dict:
    """The smoke corpus from the bundled sample (no network); returns layout(workdir)."""
    workdir = Path(workdir)
    records = read_jsonl_gz(sample)
    a = Assignment()
    novels = [r for r in records if r["meta"].get("book") == SAMPLE_EVAL_BOOK]
    docs = [r for r in records if r["source"] == "python-docs"
            and fraction("docs/" + r["id"]) < SAMPLE_DOCS_EVAL_FRACTION]
    held = {r["id"] for r in novels + docs}
    train = by_rank(r for r in records if r["id"] not in held)
    if max_train_docs is not None:
        a.leave_out("beyond max_train_docs", train[max_train_docs:])
        train = train[:max_train_docs]
    a.put("train", train)
    a.put("positive", [r for r in train if r["source"] in SAMPLE_POSITIVE_SOURCES], counted=False)
    pools = a.decontaminate({"novels": novels, "docs": docs})
    for domain, pool in pools.items():
        a.capped("eval/" + domain, pool, SAMPLE_EVAL_CAP, "eval")
    settings = {"salt": SALT, "sample": sample.name,
                "sample_sha256": hashlib.sha256(sample.read_bytes()).hexdigest(),
                "eval_book": SAMPLE_EVAL_BOOK, "docs_eval_fraction": SAMPLE_DOCS_EVAL_FRACTION,
                "eval_cap_bytes": SAMPLE_EVAL_CAP, "max_train_docs": max_train_docs,
                "positive_sources": list(SAMPLE_POSITIVE_SOURCES)}
    domains = {"novels": f"every chapter of {SAMPLE_EVAL_BOOK} (none of it in train)",
               "docs": f"a stable-hash {SAMPLE_DOCS_EVAL_FRACTION:.0%} of python-docs pages"}
    notes = ["Smoke corpus from `pipeline/sample/sample.jsonl.gz` (see pipeline/sample/"
             "SOURCES.md for its sources and licences); no network.",
             "Positives are the gutenberg and python-docs training documents, so they are not "
             "disjoint from train: fine for a smoke run, not for a measurement. Negatives are a "
             "same-sized stable-hash sample of the other training documents.",
             f"Eval domains are capped at {SAMPLE_EVAL_CAP:,} bytes of text, whole documents by "
             "rank; the rest of the held-out book and pages is left out, never trained on."]
    return _finish(workdir, a, settings, {}, "sample", domains, notes)


# --------------------------------------------------------------------------- real build
def _origin(r: dict, versions: dict) -> str:
    """``<package>_<version>:<path>`` of a record read by workflows.sources."""
    url, meta = r["url"], r["meta"]
    if url.startswith("deb://"):
        pkg, path = url[len("deb://"):].split("/", 1)
        pkg = meta.get("origin", pkg)   # copyright/changelog: the package whose tree held it
        return f"system:/{path}" if pkg == "system" else f"{pkg}_{versions[pkg]}:{path}"
    if url.startswith("ddtp://"):
        lang, pkg = url[len("ddtp://"):].split("/", 1)
        return f"debian bookworm main i18n/Translation-{lang}:{pkg}"
    if url.startswith("pypi://"):
        return sources.GENSIM + ":" + url.split("/", 3)[3]
    return f"{sources.GENSIM}:{sources.GENSIM_DATA}{sources.ENWIKI}#{r['id']}"


def _read(raw: Path, a: Assignment) -> tuple[list[dict], dict, dict]:
    """All records but javadoc's (read lazily later), with meta.origin; packages and versions."""
    apt = Apt(raw)
    sources.update_lists(apt)
    roots, versions = sources.fetch_packages(apt, raw, DEBS)
    missing = [p for p in DEBS if p not in roots]
    if missing:
        raise RuntimeError(f"packages not available: {missing}")
    readers = [lambda: sources.ddtp(apt, DDTP_PER_LANG, DDTP_EN),
               lambda: sources.doc_files({"system": Path("/"), **roots}),
               lambda: sources.linux_doc(roots["linux-doc-6.1"]),
               lambda: sources.python_docs(roots["python3.11-doc"]),
               lambda: sources.perl_docs(roots["perl-doc"]),
               lambda: sources.handbook(roots["debian-handbook"]),
               lambda: sources.gnome_docs(roots["gnome-user-docs"]),
               *[lambda p=p: sources.manpages(p, roots[p]) for p in sources.MAN_PKGS],
               lambda: sources.gutenberg(raw, raw.parent / "venv"),
               lambda: sources.gensim_data(raw),
               lambda: sources.reuters(roots[sources.WEKA])]
    versions[sources.GENSIM.split("==")[0]] = sources.GENSIM.split("==")[1]
    records, seen = [], set()
    for read in readers:
        for r in read():
            if not r["text"].strip():
                a.leave_out("empty text", [r])
            elif r["id"] in seen:  # e.g. a copyright file installed here and inside a .deb
                a.leave_out("duplicate id", [r])
            else:
                seen.add(r["id"])
                r["meta"]["origin"] = _origin(r, versions)
                records.append(r)
    return records, roots, versions


def build(workdir: Path | str, raw: Path | str | None = None) -> dict:
    """The real corpus from DATA.md's sources (downloads into raw, default W/raw, the first
    time; needs root for apt-get); returns layout(workdir)."""
    workdir = Path(workdir).resolve()
    raw = Path(raw).resolve() if raw else workdir / "raw"
    a = Assignment()
    records, roots, versions = _read(raw, a)
    groups = collections.defaultdict(list)
    for r in records:
        groups[_place(r)].append(r)
    a.leave_out("wiki redirect page", groups.pop("redirect", []))
    for r in groups["eval/wiki"]:
        r["text"] = sources.wikitext_to_text(r["text"])
    a.leave_out("wiki page empty once reduced", [r for r in groups["eval/wiki"] if not r["text"]])
    groups["eval/wiki"] = [r for r in groups["eval/wiki"] if r["text"]]
    for src, cap in POSITIVE_CAPS.items():
        a.capped("positive", groups.pop("positive/" + src, []), cap, "positive")
    pools = collections.defaultdict(list)
    for r in groups.pop("train"):
        pools[family(r["source"])].append(r)
    unknown = set(pools) - set(TRAIN_CAPS) - {"javadoc"}
    if unknown:
        raise RuntimeError(f"sources without a train cap: {sorted(unknown)}")
    for fam, pool in sorted(pools.items()):
        # Copies of one licence text rank together, so the pool keeps its real duplicates.
        key = (lambda r: "text/" + _norm(r["text"])) if fam == "copyright" else (lambda r: r["id"])
        a.capped("train", pool, TRAIN_CAPS[fam], "train", key)
    pages = sorted(sources.javadoc_pages(roots[sources.OPENJDK_DOC]),
                   key=lambda p: rank("javadoc/" + p, SALT))
    taken = fill(({**r, "meta": {**r["meta"], "origin": _origin(r, versions)}}
                        for r in sources.javadoc(roots[sources.OPENJDK_DOC], pages)),
                       TRAIN_CAPS["javadoc"])
    a.put("train", taken)
    a.counts["javadoc", "left out: beyond the train cap"] += len(pages) - len(taken)
    evals = a.decontaminate({d: groups.pop("eval/" + d, []) for d in EVAL_DOMAINS_REAL})
    for domain, pool in evals.items():
        a.capped("eval/" + domain, pool, EVAL_CAP, "eval")
    assert not groups, f"records without a place: {sorted(groups)}"
    settings = {"salt": SALT, "train_caps_bytes": TRAIN_CAPS, "eval_cap_bytes": EVAL_CAP,
                "positive_caps_bytes": POSITIVE_CAPS, "eval_books": list(EVAL_BOOKS),
                "positive_books": list(POSITIVE_BOOKS),
                "linux_doc_eval_dirs": LINUX_DOC_EVAL_DIRS,
                "linux_doc_positive_dirs": LINUX_DOC_POSITIVE_DIRS,
                "python_docs_positive_pages": PYTHON_DOCS_POSITIVE_PAGES,
                "ddtp_per_lang": DDTP_PER_LANG, "ddtp_en": DDTP_EN, "raw": str(raw),
                "min_paragraph_chars": MIN_PARAGRAPH_CHARS}
    notes = ["Real text from /work/shared/DATA.md's Debian and PyPI sources, read by "
             "`workflows/sources.py`; nothing in it was written for this project.",
             "Train: sources sampled by SHA-1 rank to the per-family caps in SOURCES.json "
             "`settings.train_caps_bytes`; HTML (handbook, javadoc, GNOME) reduced to text with "
             "navigation and template text kept; copyright files keep their real duplicates.",
             "Positives (classifier): clean prose kept out of train and eval: Gutenberg books "
             + ", ".join(POSITIVE_BOOKS) + ", whole linux-doc directories and Python docs pages "
             "held out for it. Negatives: a same-sized random (stable-hash) sample of train, as "
             "DCLM does.",
             f"Eval domains are capped at {EVAL_CAP:,} bytes of text, whole documents by rank; "
             "what is held out beyond the cap is left out, never trained on."]
    _copy_probe(roots[sources.WEKA], workdir / "probe")
    notes.append("probe/: weka's Reuters{Grain,Corn}-{train,test}.arff as shipped, for the "
                 "downstream probe (frozen features, `pretrain.evaluate.probe`); their stories "
                 "are also the news domain's held-out text, never trained on.")
    return _finish(workdir, a, settings, versions, "real", EVAL_DOMAINS_REAL, notes)


def _copy_probe(weka_root: Path, out: Path) -> None:
    """The Reuters grain/corn ARFF files of the downstream probe, byte for byte."""
    out.mkdir(parents=True, exist_ok=True)
    for task in ("Grain", "Corn"):
        for split in ("train", "test"):
            name = f"Reuters{task}-{split}.arff"
            shutil.copyfile(weka_root / "usr/share/doc/weka/examples" / name, out / name)


def _place(r: dict) -> str:
    """The pool a real-build record belongs to, decided by the rank of its book, directory or
    page: 'eval/<domain>', 'positive/<source>', 'redirect' or 'train'."""
    src, rid = r["source"], r["id"]
    if src in ("reuters", "lee-background"):
        return "eval/news"
    if src == "enwiki":
        return "redirect" if r["text"].lstrip().upper().startswith("#REDIRECT") else "eval/wiki"
    if src == "gutenberg":
        book = JANEAUSTENR_BOOKS.get(r["meta"]["book"], r["meta"]["book"])
        return ("eval/novels" if book in EVAL_BOOKS else
                "positive/gutenberg" if book in POSITIVE_BOOKS else "train")
    if src == "linux-doc" and r["meta"]["lang"] == "en":
        doc = rid[len("linux-doc/"):]
        f = fraction("linux-doc-dir/" + (doc.rsplit("/", 1)[0] if "/" in doc else ""))
        return ("eval/docs" if f < LINUX_DOC_EVAL_DIRS else
                "positive/linux-doc" if f < LINUX_DOC_EVAL_DIRS + LINUX_DOC_POSITIVE_DIRS
                else "train")
    if src == "python-docs" and fraction("python-docs/" + rid) < PYTHON_DOCS_POSITIVE_PAGES:
        return "positive/python-docs"
    return "train"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--raw", type=Path, help="download cache (default WORKDIR/raw)")
    args = ap.parse_args(argv)
    t0 = time.time()
    paths = build(args.workdir, args.raw)
    summary = json.loads(paths["sources_json"].read_text(encoding="utf-8"))
    print(f"{'split':<22}{'source':<20}{'docs':>8}{'MB':>8}")
    for name, s in summary["splits"].items():
        for src, v in s["sources"].items():
            print(f"{name:<22}{src:<20}{v['docs']:>8,}{v['text_bytes'] / 1e6:>8.2f}")
        print(f"{name:<22}{'total':<20}{s['docs']:>8,}{s['text_bytes'] / 1e6:>8.2f}")
    print(f"disjointness: {summary['disjointness']}")
    log(f"wrote {args.workdir} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
