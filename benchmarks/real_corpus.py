"""Build a large real-text JSONL corpus (50k+ documents, 200+ MB) for benchmarking the pipeline.

    python -m benchmarks.real_corpus --workdir /tmp/sieve-corpus [--min_docs 50000 --min_mb 200]

writes ``WORKDIR/corpus/part-{0,1}.jsonl.gz`` (records split by SHA-1 of the id, each file in
SHA-1 order, so that sources are mixed) and ``WORKDIR/corpus/SUMMARY.json`` (documents and bytes
per source and per file, sha256 of each file, the package versions used). Everything downloaded
goes under ``WORKDIR/raw``; a second run reuses it and gives byte-identical files (sorted file
lists, SHA-1 ranks with a fixed salt, gzip mtime 0), as long as the package versions and this
machine's ``/usr/share/doc`` stay the same.

Sources (all from ``/work/shared/DATA.md``; real text, none written for this project):

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
import bz2
import collections
import gzip
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from benchmarks.classifier_data import html_to_text
from pipeline.sample.build_sample import (
    DECODE_ERRORS, Apt, decode, deb822, deb_version, extract, log, read_list,
    split_lines_into_chapters, split_string_into_chapters, unfold_description)

REPO = Path(__file__).resolve().parent.parent
SALT = "sieve-real-corpus-v1/"
DDTP_LANGS = ["cs", "da", "de", "es", "fi", "fr", "hr", "hu", "it", "ja", "ko", "nl", "pl", "pt",
              "pt_BR", "ru", "sk", "sr", "sv", "tr", "uk", "vi", "zh_CN", "zh_TW"]
MAN_LANGS = ["de", "fr", "es", "pl", "ja", "it", "ru", "pt_BR", "nl"]
MAN_PKGS = {f"manpages-{lang.lower().replace('_', '-')}": lang for lang in MAN_LANGS}
DEBS = ["linux-doc-6.1", "python3.11-doc", "perl-doc", "debian-handbook", "gnome-user-docs",
        *MAN_PKGS, "r-cran-janeaustenr", "r-cran-tidytext", "r-cran-tokenizers"]
GENSIM = "gensim==4.4.0"
GENSIM_DATA = "gensim/test/test_data/"
ENWIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
RDATA = "rdata==1.1.0"
CHANGELOG_MAX_BYTES = 1_000_000

LIC = {
    "ddtp": "Debian package description (DDTP translation), distributed in Debian main",
    "copyright": "copyright notice / licence text (verbatim copying permitted)",
    "changelog": "Debian changelog, under the licence of its package",
    "linux-doc-6.1": "GPL-2", "python3.11-doc": "PSF-2.0", "perl-doc": "GPL-1+ or Artistic",
    "debian-handbook": "GPL-2+ or CC-BY-SA-3.0", "gnome-user-docs": "CC-BY-SA-3.0",
    "manpages": "GPL-3+ (translation); original page under its own free licence",
    "manpages-ja": "licences of the original man pages (JM Project translation)",
    "gutenberg": "public domain (Project Gutenberg)",
    "enwiki": "CC-BY-SA-3.0 / GFDL (Wikipedia)",
    "lee-background": "gensim test data (LGPL-2.1 package); Lee et al. 2005 news corpus",
}


def rank(key: str) -> str:
    return hashlib.sha1((SALT + key).encode("utf-8")).hexdigest()


def rec(id_, text, source, url, **meta):
    return {"id": id_, "text": text, "source": source, "url": url,
            "meta": {k: v for k, v in meta.items() if v is not None}}


def lang_tag(name: str) -> str:
    """Language tag: 'de-DE' -> 'de', 'pt-BR' -> 'pt_BR', 'C' -> 'en', 'sr@latin' -> 'sr_Latn'."""
    name = name.replace("-", "_").replace("@latin", "_Latn")
    if name == "C":
        return "en"
    base = name.split("_")[0]
    return name if base in ("zh", "pt") or name.endswith("_Latn") else base


# --------------------------------------------------------------------------- Debian lists
def ddtp(apt: Apt, per_lang: int, n_en: int):
    for lang in ["en"] + DDTP_LANGS:
        try:
            path = apt.list_file(f"_main_i18n_Translation-{lang.replace('_', '%5f')}")
        except FileNotFoundError as e:
            log(f"warning: {e}; skipping ddtp-{lang}")
            continue
        stanzas = sorted(deb822(read_list(path)), key=lambda st: rank(
            f"ddtp/{lang}/{st['Package']}/{st['Description-md5']}"))
        for st in stanzas[:n_en if lang == "en" else per_lang]:
            pkg, md5 = st["Package"], st["Description-md5"]
            yield rec(f"{lang}/{pkg}/{md5}", unfold_description(st[f"Description-{lang}"]),
                      f"ddtp-{lang}", f"ddtp://{lang}/{pkg}", package=pkg, lang=lang,
                      licence=LIC["ddtp"], description_md5=md5)


def doc_files(roots: dict[str, Path]):
    """copyright and changelog.Debian.gz of this machine, then of the extracted packages."""
    for origin, root in roots.items():
        for p in sorted((root / "usr/share/doc").glob("*/copyright")):
            if p.is_file():
                pkg = p.parent.name
                yield rec(f"copyright/{pkg}", decode(p.read_bytes(), "copyright"), "copyright",
                          f"deb://{pkg}/usr/share/doc/{pkg}/copyright", package=pkg,
                          licence=LIC["copyright"], origin=origin)
        for p in sorted((root / "usr/share/doc").glob("*/changelog.Debian.gz")):
            if p.is_file():
                data = gzip.decompress(p.read_bytes())
                if len(data) <= CHANGELOG_MAX_BYTES:
                    pkg = p.parent.name
                    yield rec(f"changelog/{pkg}", decode(data, "changelog"), "changelog",
                              f"deb://{pkg}/usr/share/doc/{pkg}/changelog.Debian.gz",
                              package=pkg, licence=LIC["changelog"], origin=origin)


# --------------------------------------------------------------------------- documentation
def package_files(pkg: str, root: Path, pattern: str, name: re.Pattern | None = None):
    """(relative path, text) of the regular files of an extracted package matching a glob."""
    for p in sorted(root.glob(pattern)):
        if p.is_file() and not p.is_symlink() and (name is None or name.fullmatch(p.name)):
            data = p.read_bytes()
            yield p.relative_to(root).as_posix(), decode(
                gzip.decompress(data) if p.suffix == ".gz" else data, pkg)


def linux_doc(root: Path):
    """*.rst, *.txt and extension-less (ABI) documents; not the YAML schemas, SVG, scripts."""
    pkg, base = "linux-doc-6.1", "usr/share/doc/linux-doc-6.1/Documentation/"
    text_name = re.compile(r"(?:[^./]+|.*\.rst|.*\.txt)\.gz")
    for rel, text in package_files(pkg, root, f"{base}**/*.gz", text_name):
        doc = rel[len(base):-3]
        m = re.match(r"translations/([a-z]{2}_[A-Z]{2})/", doc)
        yield rec(f"linux-doc/{doc}", text, "linux-doc", f"deb://{pkg}/{rel}", package=pkg,
                  lang=m.group(1) if m else "en", licence=LIC[pkg])


def python_docs(root: Path):
    pkg, base = "python3.11-doc", "usr/share/doc/python3.11/html/_sources/"
    for rel, text in package_files(pkg, root, f"{base}**/*.rst.txt"):
        yield rec(f"python-docs/{rel[len(base):-8]}", text, "python-docs", f"deb://{pkg}/{rel}",
                  package=pkg, lang="en", licence=LIC[pkg])


def perl_docs(root: Path):
    pkg = "perl-doc"
    for rel, text in package_files(pkg, root, "usr/share/perl/*/pod/*.pod"):
        yield rec(f"perl-doc/{Path(rel).stem}", text, "perl-doc", f"deb://{pkg}/{rel}",
                  package=pkg, lang="en", licence=LIC[pkg])


def handbook(root: Path):
    pkg = "debian-handbook"
    for rel, markup in package_files(pkg, root, "usr/share/doc/debian-handbook/html/*/*.html"):
        d, page = rel.split("/")[-2:]
        lang = lang_tag(d)
        yield rec(f"handbook/{d}/{page}", html_to_text(markup), f"handbook-{lang}",
                  f"deb://{pkg}/{rel}", package=pkg, lang=lang, licence=LIC[pkg])


def gnome_docs(root: Path):
    pkg = "gnome-user-docs"
    for rel, markup in package_files(pkg, root, "usr/share/help/*/*/*.page"):
        d, doc, page = rel.split("/")[-3:]
        lang = lang_tag(d)
        yield rec(f"gnome-docs/{d}/{doc}/{page}", html_to_text(markup), f"gnome-docs-{lang}",
                  f"deb://{pkg}/{rel}", package=pkg, lang=lang, licence=LIC[pkg], doc=doc)


# --------------------------------------------------------------------------- man pages
ROFF_CHARS = {"em": "\u2014", "en": "\u2013", "lq": "\u201c", "rq": "\u201d", "oq": "\u2018",
              "cq": "\u2019", "aq": "'", "dq": '"', "bu": "\u2022", "co": "\u00a9", "hy": "-",
              "ti": "~", "ha": "^", "rs": "\\", "mi": "-", "pl": "+", "mu": "\u00d7",
              "<=": "<=", ">=": ">=", "->": "\u2192", "<-": "\u2190", "R": "\u00ae",
              "Fo": "\u00ab", "Fc": "\u00bb"}
ROFF_ESCAPE = re.compile(
    r"\\(?:[fF](?:\[[^\]]*\]|\(..|.)|\((..)|\[([^\]]*)\]|\*(?:\[([^\]]*)\]|\((..)|(.))"
    r"|s[-+]?\d+|[nkgmMYV](?:\[[^\]]*\]|\(..|.)|[hvwlLoxbDNZ]'[^']*'|(.))")
ROFF_SIMPLE = {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "'": "'", "`": "`",
               ".": ".", "t": "\t"}
FONT_MACROS = {"B", "I", "SM", "SB", "BI", "BR", "IB", "IR", "RB", "RI", "SH", "SS"}
BREAK_MACROS = {"PP", "LP", "P", "TP", "IP", "HP", "SH", "SS", "sp", "br"}


def _roff_escape(m: re.Match) -> str:
    name = m.group(1) or m.group(2) or m.group(3) or m.group(4) or m.group(5)
    if name is not None:
        return ROFF_CHARS.get(name, "")
    return ROFF_SIMPLE.get(m.group(6) or "", "")


def roff_to_text(src: str) -> str:
    """Crude rendering: requests and comments dropped, text of font macros kept, escapes mapped."""
    out: list[str] = []
    for line in src.split("\n"):
        if line.startswith(".\\\"") or line.startswith("'\\\""):
            continue
        if line[:1] in (".", "'"):
            parts = line[1:].strip().split(None, 1)
            macro = parts[0] if parts else ""
            if macro in BREAK_MACROS:
                out.append("")
            if macro in FONT_MACROS and len(parts) > 1:
                args = re.findall(r'"([^"]*)"|(\S+)', parts[1])
                sep = " " if macro in ("B", "I", "SM", "SB", "SH", "SS") else ""
                line = sep.join(a or b for a, b in args)
            else:
                continue
        line = ROFF_ESCAPE.sub(_roff_escape, line.split('\\"')[0])
        out.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def manpages(pkg: str, root: Path):
    lang = MAN_PKGS[pkg]
    licence = LIC["manpages-ja"] if lang == "ja" else LIC["manpages"]
    for rel, src in package_files(pkg, root, f"usr/share/man/{lang}/man*/*.gz"):
        section, page = rel.split("/")[-2:]
        yield rec(f"man/{lang}/{section}/{page[:-3]}", roff_to_text(src), f"man-{lang}",
                  f"deb://{pkg}/{rel}", package=pkg, lang=lang, licence=licence)


# --------------------------------------------------------------------------- Gutenberg
def gutenberg_chapters(x: Path) -> list[list]:
    """[package, object path, book slug, [[label, text], ...]] for every novel; needs rdata."""
    import warnings
    import rdata
    from pipeline.sample.build_sample import r_lazyload
    out = []
    lib = "usr/lib/R/site-library"
    db = x / "r-cran-janeaustenr" / lib / "janeaustenr/data/Rdata"
    for obj in ["emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice",
                "sensesensibility"]:
        lines = [str(s) for s in r_lazyload(db, obj)]
        out.append(["r-cran-janeaustenr", f"{lib}/janeaustenr/data/Rdata.rdb#{obj}", obj,
                    split_lines_into_chapters(lines)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        books = rdata.read_rda(str(x / "r-cran-tidytext" / lib / "tidytext/extdata/books.rda"))
    books = books["books"]
    for title in sorted(set(books["title"])):
        lines = [str(s) for s in books[books["title"] == title]["text"]]
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        out.append(["r-cran-tidytext", f"{lib}/tidytext/extdata/books.rda#{title}", slug,
                    split_lines_into_chapters(lines)])
    (text,) = [str(s) for s in r_lazyload(x / "r-cran-tokenizers" / lib / "tokenizers/data/Rdata",
                                          "mobydick")]
    out.append(["r-cran-tokenizers", f"{lib}/tokenizers/data/Rdata.rdb#mobydick", "mobydick",
                split_string_into_chapters(text)])
    return out


def gutenberg(workdir: Path, x: Path):
    try:
        import rdata  # noqa: F401
        books = gutenberg_chapters(x)
    except ImportError:
        venv = workdir / "venv"
        if not (venv / "bin/python").exists():
            log(f"installing {RDATA} into {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin/pip"), "install", "-q", RDATA], check=True)
        dump = workdir / "raw" / "gutenberg.json"
        subprocess.run([str(venv / "bin/python"), "-m", "benchmarks.real_corpus", "--workdir",
                        str(workdir), "--dump_gutenberg", str(dump)], check=True, cwd=REPO)
        books = json.loads(dump.read_text(encoding="utf-8"))
    for pkg, obj_path, slug, chapters in books:
        for label, text in chapters:
            yield rec(f"gutenberg/{pkg.removeprefix('r-cran-')}/{slug}/ch{label}", text,
                      "gutenberg", f"deb://{pkg}/{obj_path}/ch{label}", package=pkg, lang="en",
                      licence=LIC["gutenberg"], book=slug, chapter=int(label))


# --------------------------------------------------------------------------- gensim test data
def gensim_data(raw: Path):
    pip_dir = raw / "pip"
    wheels = sorted(pip_dir.glob("gensim-4.4.0-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", GENSIM,
                        "-d", str(pip_dir)], check=True)
        wheels = sorted(pip_dir.glob("gensim-4.4.0-*.whl"))
    wheel = wheels[0]
    with zipfile.ZipFile(wheel) as zf:
        wiki = bz2.decompress(zf.read(GENSIM_DATA + ENWIKI))
        lee = zf.read(GENSIM_DATA + "lee_background.cor").decode("utf-8")
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    for page in ElementTree.fromstring(wiki).iter(ns + "page"):
        title, page_id = page.findtext(ns + "title"), page.findtext(ns + "id")
        text = page.findtext(f"{ns}revision/{ns}text") or ""
        yield rec(f"enwiki/{page_id}", text, "enwiki",
                  "https://en.wikipedia.org/wiki/" + title.replace(" ", "_"), package=GENSIM,
                  lang="en", licence=LIC["enwiki"], title=title)
    for i, line in enumerate(lee.split("\n"), 1):
        yield rec(f"lee-background/{i:03d}", line, "lee-background",
                  f"pypi://gensim-4.4.0/{GENSIM_DATA}lee_background.cor#L{i}", package=GENSIM,
                  lang="en", licence=LIC["lee-background"])


# --------------------------------------------------------------------------- main
def collect(workdir: Path, args) -> tuple[dict[str, tuple[str, bytes]], dict, collections.Counter]:
    raw = workdir / "raw"
    apt = Apt(raw)
    langs = ",".join(["en"] + DDTP_LANGS)
    if args.update or not any(apt.lists.glob("*_i18n_Translation-en*")):
        log(f"apt-get update into {apt.lists}")
        subprocess.run(["apt-get", "update", "-q", *apt.opts, "-o", f"Acquire::Languages={langs}"],
                       check=True, stdout=subprocess.DEVNULL)
    roots, versions = {}, {}
    for pkg in DEBS:
        try:
            deb = apt.download([pkg])[pkg]
            roots[pkg], versions[pkg] = extract(deb, raw), deb_version(deb)
        except (subprocess.CalledProcessError, KeyError) as e:
            log(f"warning: cannot download {pkg} ({e}); skipping it")
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
        sources.append(("gutenberg", lambda: gutenberg(workdir, raw / "x")))
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
    ap.add_argument("--dump_gutenberg", type=Path, help=argparse.SUPPRESS)  # run inside the venv
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    if args.dump_gutenberg:
        args.dump_gutenberg.write_text(json.dumps(gutenberg_chapters(workdir / "raw" / "x"),
                                                  ensure_ascii=False), encoding="utf-8")
        return 0

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
