"""Readers of the real text that DATA.md lists: Debian packages, apt lists and PyPI test data.

Each reader yields records ``{"id", "text", "source", "url", "meta": {"package", "lang",
"licence", ...}}`` in a fixed order (sorted file lists), from packages that ``Apt`` downloaded and
``extract`` unpacked under a raw directory. Used by ``benchmarks/real_corpus.py`` (the benchmark
corpus) and ``workflows/study_corpus.py`` (the quality-versus-quantity study's corpus).

``python -m workflows.sources --dump_gutenberg OUT --x RAW/x`` is run by ``gutenberg`` inside a
side virtual environment that has ``rdata`` (never the project's own).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import html
import html.parser
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from pipeline.sample.build_sample import (
    Apt, decode, deb822, deb_version, extract, log, read_list, split_lines_into_chapters,
    split_string_into_chapters, unfold_description)

REPO = Path(__file__).resolve().parent.parent
SALT = "sieve-real-corpus-v1/"
DDTP_LANGS = ["cs", "da", "de", "es", "fi", "fr", "hr", "hu", "it", "ja", "ko", "nl", "pl", "pt",
              "pt_BR", "ru", "sk", "sr", "sv", "tr", "uk", "vi", "zh_CN", "zh_TW"]
MAN_LANGS = ["de", "fr", "es", "pl", "ja", "it", "ru", "pt_BR", "nl"]
MAN_PKGS = {f"manpages-{lang.lower().replace('_', '-')}": lang for lang in MAN_LANGS}
GENSIM = "gensim==4.4.0"
GENSIM_DATA = "gensim/test/test_data/"
ENWIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
RDATA = "rdata==1.1.0"
CHANGELOG_MAX_BYTES = 1_000_000
OPENJDK_DOC = "openjdk-17-doc"
WEKA = "weka"

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
    "openjdk-17-doc": "GPL-2 with Classpath exception (OpenJDK API documentation)",
    "weka": "Reuters-21578 (free for research use), as shipped in Debian weka's examples",
}


def rank(key: str, salt: str = SALT) -> str:
    """SHA-1 of salt + key: a stable pseudo-random order."""
    return hashlib.sha1((salt + key).encode("utf-8")).hexdigest()


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


# --------------------------------------------------------------------------- packages
def fetch_packages(apt: Apt, raw: Path, packages: list[str]) -> tuple[dict[str, Path], dict]:
    """{package: extracted root} and {package: version}; a package that cannot be had is skipped."""
    roots, versions = {}, {}
    for pkg in packages:
        try:
            deb = apt.download([pkg])[pkg]
            roots[pkg], versions[pkg] = extract(deb, raw), deb_version(deb)
        except (subprocess.CalledProcessError, KeyError) as e:
            log(f"warning: cannot download {pkg} ({e}); skipping it")
    return roots, versions


def update_lists(apt: Apt, force: bool = False) -> None:
    """``apt-get update`` into the workdir's lists (English + DDTP languages) unless done."""
    if force or not any(apt.lists.glob("*_i18n_Translation-en*")):
        log(f"apt-get update into {apt.lists}")
        langs = ",".join(["en"] + DDTP_LANGS)
        subprocess.run(["apt-get", "update", "-q", *apt.opts, "-o", f"Acquire::Languages={langs}"],
                       check=True, stdout=subprocess.DEVNULL)


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


def gutenberg(raw: Path, venv: Path):
    """Chapters of the Gutenberg novels; without ``rdata`` here, read in ``venv`` (made if
    missing)."""
    try:
        import rdata  # noqa: F401
        books = gutenberg_chapters(raw / "x")
    except ImportError:
        if not (venv / "bin/python").exists():
            log(f"installing {RDATA} into {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin/pip"), "install", "-q", RDATA], check=True)
        dump = raw / "gutenberg.json"
        subprocess.run([str(venv / "bin/python"), "-m", "workflows.sources", "--x", str(raw / "x"),
                        "--dump_gutenberg", str(dump)], check=True, cwd=REPO)
        books = json.loads(dump.read_text(encoding="utf-8"))
    for pkg, obj_path, slug, chapters in books:
        for label, text in chapters:
            yield rec(f"gutenberg/{pkg.removeprefix('r-cran-')}/{slug}/ch{label}", text,
                      "gutenberg", f"deb://{pkg}/{obj_path}/ch{label}", package=pkg, lang="en",
                      licence=LIC["gutenberg"], book=slug, chapter=int(label))


# --------------------------------------------------------------------------- evaluation text
def javadoc_pages(root: Path) -> list[str]:
    """Paths (under ``api/``) of the openjdk-17-doc javadoc HTML pages, sorted."""
    base = root / "usr/share/doc/openjdk-17-doc/api"
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*.html")
                  if p.is_file() and not p.is_symlink())


def javadoc(root: Path, pages: list[str]):
    """Javadoc pages reduced to text with their navigation and template text kept, in the
    given order (parsing all 10,000 takes minutes, so callers pass only what they need)."""
    pkg = OPENJDK_DOC
    rel_base = "usr/share/doc/openjdk-17-doc/api/"
    for page in pages:
        text = decode((root / rel_base / page).read_bytes(), pkg)
        yield rec(f"javadoc/{page}", html_to_text(text), "javadoc",
                  f"deb://{pkg}/{rel_base}{page}", package=pkg, lang="en", licence=LIC[pkg])


def reuters(root: Path):
    """Reuters-21578 stories of weka's Reuters{Corn,Grain}-{train,test}.arff, each text once
    (the Corn and Grain files hold the same stories with different labels)."""
    from pretrain.evaluate import read_arff  # here, not above: the rdata side venv has no torch
    pkg, base = WEKA, "usr/share/doc/weka/examples/"
    seen = set()
    for task in ("Corn", "Grain"):
        for split in ("train", "test"):
            rel = f"{base}Reuters{task}-{split}.arff"
            for i, (text, _label) in enumerate(read_arff(str(root / rel))):
                text = html.unescape(text).strip()
                if text in seen:
                    continue
                seen.add(text)
                yield rec(f"reuters/{task.lower()}-{split}/{i:04d}", text, "reuters",
                          f"deb://{pkg}/{rel}#{i}", package=pkg, lang="en", licence=LIC[pkg])


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


# --------------------------------------------------------------------------- HTML
class _HTMLText(html.parser.HTMLParser):
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd",
             "section", "table", "ul", "ol", "header", "footer", "nav", "main", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n" if tag in ("p", "div", "section", "table") else "\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Text of an HTML/XML page: tags dropped (script and style with their content), block
    elements as line breaks; navigation and template text kept."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip()
             for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- wikitext
WIKI_NOISE = re.compile(r"<!--.*?-->|<ref[^>]*/>|<ref[^>]*>.*?</ref>|__[A-Z]+__", re.S)
WIKI_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
WIKI_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.S)
WIKI_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
# Namespaces whose links are media, categories or other wikis: dropped with their captions.
WIKI_DROP_LINK = re.compile(
    r"\s*:?\s*(?:File|Image|Category|[a-z]{2,3}(?:-[a-z]+)?|simple)\s*:", re.I)
WIKI_EXTERNAL = re.compile(r"\[(?:https?|ftp)://[^\s\]]*\s*([^\]]*)\]")


def _sub_until_stable(pattern: re.Pattern, repl, text: str) -> str:
    while True:
        text, n = pattern.subn(repl, text)
        if not n:
            return text


def _wiki_link(m: re.Match) -> str:
    inner = m.group(1)
    return "" if WIKI_DROP_LINK.match(inner) else inner.split("|")[-1]


def wikitext_to_text(src: str) -> str:
    """Plain text of a MediaWiki page: templates, tables, references, media and category links
    dropped; links reduced to their label; headings, lists and bold/italic marks unwrapped."""
    text = WIKI_NOISE.sub("", src)
    text = _sub_until_stable(WIKI_TEMPLATE, "", text)
    text = _sub_until_stable(WIKI_TABLE, "", text)
    text = _sub_until_stable(WIKI_LINK, _wiki_link, text)  # innermost first: captions' links
    text = WIKI_EXTERNAL.sub(r"\1", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"(?m)^(=+)\s*(.*?)\s*\1\s*$", r"\2", text)
    text = re.sub(r"(?m)^[*#:;]+\s*", "", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Dump the Gutenberg chapters as JSON (needs rdata).")
    ap.add_argument("--x", type=Path, required=True, help="directory of the extracted packages")
    ap.add_argument("--dump_gutenberg", type=Path, required=True)
    args = ap.parse_args(argv)
    args.dump_gutenberg.write_text(json.dumps(gutenberg_chapters(args.x), ensure_ascii=False),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
