"""Build a large real-text JSONL corpus (50k+ documents, 200+ MB) for benchmarking the pipeline.

    python -m benchmarks.real_corpus --workdir /tmp/sieve-corpus [--min_docs 50000 --min_mb 200]

writes ``WORKDIR/corpus/part-{0,1}.jsonl.gz`` (records split by SHA-1 of the id, each file in
SHA-1 order, so that sources are mixed) and ``WORKDIR/corpus/SUMMARY.json`` (documents and bytes
per source and per file, sha256 of each file, the package versions used). Everything downloaded
goes under ``WORKDIR/raw``; a second run reuses it and gives byte-identical files (sorted file
lists, SHA-1 ranks with a fixed salt, gzip mtime 0), as long as the package versions and this
machine's ``/usr/share/doc`` stay the same.

Sources (all from ``/work/shared/DATA.md``; real text, none written for this project; the readers
are in ``workflows/sources.py``):

* ``ddtp-<lang>``: Debian translated package descriptions (DDTP, bookworm ``Translation-<lang>``,
  24 languages, at most ``--ddtp_per_lang`` per language by SHA-1 rank); ``ddtp-en``: English
  originals (``Translation-en``). One document per stanza, id ``<lang>/<package>/<md5>``; the
  md5 links a translation to its English original. Licence: that of the package description.
* ``copyright``: ``/usr/share/doc/*/copyright`` of this machine and of the downloaded packages
  (licence texts, many exact and near duplicates); ``changelog``: ``changelog.Debian.gz`` of the
  same (at most 1 MB each).
* ``linux-doc``: ``linux-doc-6.1`` ``Documentation/**/*.{rst,txt}.gz`` and the extension-less
  ABI files, translations included (GPL-2); ``python-docs``: ``python3.11-doc``
  ``_sources/**/*.rst.txt`` (PSF-2.0); ``perl-doc``: ``perl-doc`` pods (GPL-1+ or Artistic).
* ``handbook-<lang>``: ``debian-handbook`` HTML in 26 languages, tags stripped, navigation kept
  (GPL-2+ or CC-BY-SA-3.0); ``gnome-docs-<lang>``: ``gnome-user-docs`` Mallard pages in 42
  languages, tags stripped (CC-BY-SA-3.0).
* ``man-<lang>``: ``manpages-{de,fr,es,pl,it,ru,pt-br,nl}`` (GPL-3+) and ``manpages-ja``
  (licences of the original pages), roff rendered crudely (requests dropped, escapes mapped).
* ``gutenberg``: Project Gutenberg novels inside ``r-cran-janeaustenr``, ``r-cran-tokenizers``,
  ``r-cran-tidytext`` (public domain), one document per chapter; Pride and Prejudice comes
  twice. Reading R data needs the PyPI package ``rdata``: if it is not importable, it is
  installed into ``WORKDIR/venv`` (never the project's venv) and that part runs there.
* ``enwiki`` (CC-BY-SA-3.0/GFDL) and ``lee-background`` (news paragraphs): test data in the
  PyPI wheel ``gensim==4.4.0`` (``pip download --no-deps``), one document per page / line.

Building needs root (``apt-get update``/``download`` with lists and cache in the workdir; the
system's apt state is not touched), ``dpkg-deb`` and ``lz4`` (or the Python ``lz4``), and the
network the first time. A source that cannot be fetched is skipped with a warning.

Record: {"id", "text", "source", "url" (``ddtp://lang/package``, ``deb://package/path``,
``pypi://wheel/path``, Wikipedia URL), "meta": {"package", "lang", "licence", ...}}.
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
from pathlib import Path

from pipeline.sample.build_sample import DECODE_ERRORS, Apt, log
from workflows.sources import (
    MAN_PKGS, ddtp, doc_files, fetch_packages, gensim_data, gnome_docs, gutenberg,
    handbook, linux_doc, manpages, perl_docs, python_docs, update_lists)

DEBS = ["linux-doc-6.1", "python3.11-doc", "perl-doc", "debian-handbook", "gnome-user-docs",
        *MAN_PKGS, "r-cran-janeaustenr", "r-cran-tidytext", "r-cran-tokenizers"]


# --------------------------------------------------------------------------- main
def collect(workdir: Path, args) -> tuple[dict[str, tuple[str, bytes]], dict, collections.Counter]:
    raw = workdir / "raw"
    apt = Apt(raw)
    update_lists(apt, args.update)
    roots, versions = fetch_packages(apt, raw, DEBS)
    sources = [("ddtp", lambda: ddtp(apt, args.ddtp_per_lang, args.en_descriptions)),
               ("copyright+changelog", lambda: doc_files({"system": Path("/"), **roots}))]
    for pkg, fn in [("linux-doc-6.1", linux_doc), ("python3.11-doc", python_docs),
                    ("perl-doc", perl_docs), ("debian-handbook", handbook),
                    ("gnome-user-docs", gnome_docs)]:
        if pkg in roots:
            sources.append((pkg, lambda fn=fn, pkg=pkg: fn(roots[pkg])))
    for pkg in MAN_PKGS:
        if pkg in roots:
            sources.append((pkg, lambda pkg=pkg: manpages(pkg, roots[pkg])))
    if all(p in roots for p in DEBS if p.startswith("r-cran-")):
        sources.append(("gutenberg", lambda: gutenberg(raw, workdir / "venv")))
    sources.append(("gensim", lambda: gensim_data(raw)))

    # id -> (source, JSON line); sources are read in a fixed order, so keeping the first record
    # of an id (e.g. a copyright file both installed here and inside a downloaded .deb) is stable.
    lines: dict[str, tuple[str, bytes]] = {}
    dropped: collections.Counter = collections.Counter()
    for name, fn in sources:
        log(f"reading {name} ...")
        try:
            for r in fn():
                if not r["text"].strip():
                    dropped[r["source"] + " (empty)"] += 1
                elif r["id"] in lines:
                    dropped[r["source"] + " (duplicate id)"] += 1
                else:
                    line = json.dumps(r, ensure_ascii=False) + "\n"
                    lines[r["id"]] = (r["source"], line.encode("utf-8"))
        except (subprocess.CalledProcessError, OSError, KeyError) as e:
            log(f"warning: source {name} failed ({e!r}); skipping the rest of it")
    return lines, versions, dropped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sieve-corpus"))
    ap.add_argument("--min_docs", type=int, default=50_000)
    ap.add_argument("--min_mb", type=float, default=200.0, help="uncompressed JSONL MB (1e6 bytes)")
    ap.add_argument("--ddtp_per_lang", type=int, default=1_400)
    ap.add_argument("--en_descriptions", type=int, default=4_000)
    ap.add_argument("--update", action="store_true", help="apt-get update even if lists exist")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()

    lines, versions, dropped = collect(workdir, args)
    out = workdir / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    by_source = collections.defaultdict(lambda: {"docs": 0, "jsonl_bytes": 0})
    files = []
    keyed = sorted((hashlib.sha1(i.encode()).hexdigest(), i) for i in lines)
    for part in range(2):
        path = out / f"part-{part}.jsonl.gz"
        raw_sha, n, size = hashlib.sha256(), 0, 0
        with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0,
                                                  compresslevel=6) as gz:
            for h, i in keyed:
                if int(h[:2], 16) % 2 != part:
                    continue
                source, line = lines[i]
                gz.write(line)
                raw_sha.update(line)
                n, size = n + 1, size + len(line)
                by_source[source]["docs"] += 1
                by_source[source]["jsonl_bytes"] += len(line)
        files.append({"path": path.name, "docs": n, "jsonl_bytes": size,
                      "gz_bytes": path.stat().st_size,
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "jsonl_sha256": raw_sha.hexdigest()})
    total_docs = sum(f["docs"] for f in files)
    total_bytes = sum(f["jsonl_bytes"] for f in files)
    summary = {"docs": total_docs, "jsonl_bytes": total_bytes, "files": files,
               "sources": dict(sorted(by_source.items())), "dropped": dict(sorted(dropped.items())),
               "utf8_chars_replaced": dict(sorted(DECODE_ERRORS.items())),
               "package_versions": dict(sorted(versions.items()))}
    (out / "SUMMARY.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")

    families = collections.defaultdict(lambda: [0, 0])
    print(f"{'source':<24}{'docs':>9}{'MB':>9}")
    for s, v in sorted(by_source.items()):
        print(f"{s:<24}{v['docs']:>9,}{v['jsonl_bytes'] / 1e6:>9.2f}")
        fam = re.sub(r"-[a-z]{2}(_[A-Za-z]{2,4})?$", "-*", s)
        families[fam][0] += v["docs"]
        families[fam][1] += v["jsonl_bytes"]
    print(f"\n{'family':<24}{'docs':>9}{'MB':>9}")
    for fam, (n, b) in sorted(families.items()):
        print(f"{fam:<24}{n:>9,}{b / 1e6:>9.2f}")
    print(f"{'total':<24}{total_docs:>9,}{total_bytes / 1e6:>9.2f}")
    for f in files:
        print(f"{out / f['path']}: {f['docs']:,} docs, {f['jsonl_bytes'] / 1e6:.2f} MB JSONL, "
              f"{f['gz_bytes'] / 1e6:.2f} MB gz, sha256 {f['sha256']}")
    if dropped:
        print("dropped: " + ", ".join(f"{k}={v}" for k, v in sorted(dropped.items())))
    if total_docs < args.min_docs or total_bytes < args.min_mb * 1e6:
        log(f"error: {total_docs} docs / {total_bytes / 1e6:.1f} MB is below "
            f"--min_docs {args.min_docs} / --min_mb {args.min_mb}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
