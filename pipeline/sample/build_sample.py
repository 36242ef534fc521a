"""Build Sieve's bundled real-text sample corpus (pipeline/sample/sample.jsonl.gz) from Debian packages.

Run by hand by maintainers, never at pipeline run time::

    python -m pipeline.sample.build_sample --workdir /tmp/sieve-sample-src \\
        --out pipeline/sample/sample.jsonl.gz

Needs a Debian bookworm system (apt-get, dpkg-deb, man, col) with network access to the
Debian mirror, and two build-time-only Python packages: ``rdata`` (reads the R data files that
carry the Project Gutenberg novels) and optionally ``lz4`` (else the ``lz4`` command is used).
Neither is a runtime dependency of Sieve.

What it does (all choices deterministic: sorted lists and SHA-1 ranks with a fixed salt):

* ``apt-get update`` into ``WORKDIR/lists`` (English + 12 DDTP languages), so the system's apt
  state is not touched;
* ``apt-get download`` the packages it needs into ``WORKDIR/debs`` and read files out of them
  with ``dpkg-deb``;
* writes one JSON object per line, sorted by id, gzip'ed with mtime=0 so that the same inputs
  give byte-identical output.

Text is only decoded to ``str`` (UTF-8; undecodable bytes are replaced and counted); nothing
else is normalised. The only transformations are structural: R line vectors are joined with
"\\n", deb822 description fields are unfolded (leading space dropped, " ." lines become empty),
and man pages are rendered to plain text with ``man -l | col -bx``.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import warnings
import zlib
from pathlib import Path

SALT = "sieve-sample-v1/"

DDTP_LANGS = ["cs", "de", "es", "fr", "it", "ja", "nl", "pl", "pt_BR", "ru", "sv", "zh_CN"]

# Project Gutenberg novels inside R packages: (package, R object / title, local name, PG id).
JANEAUSTENR_BOOKS = [
    ("prideprejudice", "pride-and-prejudice", 1342),
    ("persuasion", "persuasion", 105),
    ("northangerabbey", "northanger-abbey", 121),
]
TIDYTEXT_BOOKS = [
    ("Pride and Prejudice", "pride-and-prejudice", 1342),
    ("The War of the Worlds", "the-war-of-the-worlds", 36),
]
TOKENIZERS_BOOKS = [("mobydick", "moby-dick", 2701)]

N_PYDOC = 150
PYDOC_MAX_BYTES = 60_000
N_COPYRIGHT_PACKAGES = 450          # binary packages sampled for copyright files
COPYRIGHT_MAX_DEB_BYTES = 500_000   # only download small .debs
N_CHANGELOGS = 40
CHANGELOG_MIN_BYTES, CHANGELOG_MAX_BYTES = 1_000, 40_000
N_EN_DESCRIPTIONS = 500
N_DDTP_PER_LANG = 100
DDTP_MIN_CHARS = 200
MAN_LANGS = ["de", "fr"]
N_MAN_PER_LANG = 30
MAN_MAX_GZ_BYTES = 12_000
# The packages downloaded for the other sources also contribute their copyright files.
OTHER_DOWNLOADED = ["manpages-de", "manpages-fr", "python3.11-doc", "r-cran-janeaustenr",
                    "r-cran-tidytext", "r-cran-tokenizers"]

LIC_PD = "public-domain (Project Gutenberg)"
LIC_COPYRIGHT = "various (licence texts, verbatim redistribution permitted)"
LIC_CHANGELOG = "various (Debian changelog shipped in the package; see its copyright file)"
LIC_DESC = "various (Debian package descriptions, redistributed in Debian main)"
LIC_DDTP = "DDTP translations of Debian package descriptions (redistributed in Debian main)"
LIC_MAN = "GPL-3+ (translations; original man pages under various free licences)"

DECODE_ERRORS: collections.Counter = collections.Counter()


# --------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rank(key: str) -> str:
    return hashlib.sha1((SALT + key).encode("utf-8")).hexdigest()


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        DECODE_ERRORS[source] += text.count("\ufffd")
        return text


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


class Apt:
    """apt-get with its own lists/cache directories under the workdir."""

    def __init__(self, workdir: Path):
        self.lists = workdir / "lists"
        self.cache = workdir / "apt-cache"
        self.debs = workdir / "debs"
        for d in (self.lists / "partial", self.cache / "archives" / "partial", self.debs):
            d.mkdir(parents=True, exist_ok=True)
        self.opts = [
            "-o", f"Dir::State::Lists={self.lists}",
            "-o", f"Dir::Cache={self.cache}",
        ]

    def update(self) -> None:
        langs = ",".join(["en"] + DDTP_LANGS)
        run(["apt-get", "update", "-q", *self.opts, "-o", f"Acquire::Languages={langs}"],
            stdout=subprocess.DEVNULL)

    def download(self, names: list[str]) -> dict[str, Path]:
        have = {p.name.split("_")[0]: p for p in self.debs.glob("*.deb")}
        missing = sorted(n for n in set(names) if n not in have)
        for i in range(0, len(missing), 200):
            run(["apt-get", "download", "-q", *self.opts, *missing[i:i + 200]],
                cwd=self.debs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        have = {p.name.split("_")[0]: p for p in sorted(self.debs.glob("*.deb"))}
        return {n: have[n] for n in names}

    def list_file(self, suffix: str) -> Path:
        hits = sorted(p for p in self.lists.iterdir()
                      if p.name.startswith("deb.debian.org_debian_dists_bookworm_")
                      and re.sub(r"\.(lz4|xz|gz)$", "", p.name).endswith(suffix))
        if not hits:
            raise FileNotFoundError(f"no apt list file ending in {suffix} under {self.lists}")
        return hits[0]


def deb_version(deb: Path) -> str:
    return run(["dpkg-deb", "-f", str(deb), "Version"],
               capture_output=True, text=True).stdout.strip()


def deb_members(deb: Path, want) -> dict[str, bytes]:
    """Regular files of a .deb's data tarball whose path satisfies want(path)."""
    tar_bytes = run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        for m in tf:
            name = m.name[2:] if m.name.startswith("./") else m.name
            if m.isfile() and want(name):
                out[name] = tf.extractfile(m).read()
    return out


def extract(deb: Path, workdir: Path) -> Path:
    dest = workdir / "x" / deb.name.split("_")[0]
    if not dest.exists():
        dest.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(dest)])
    return dest


def read_list(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".lz4":
        try:
            import lz4.frame
            raw = lz4.frame.decompress(raw)
        except ImportError:
            raw = run(["lz4", "-dc", str(path)], capture_output=True).stdout
    elif path.suffix == ".xz":
        import lzma
        raw = lzma.decompress(raw)
    elif path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def deb822(text: str):
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields, key = {}, None
        for line in block.split("\n"):
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line
            elif line:
                key, _, value = line.partition(":")
                fields[key] = value.strip(" ")
        yield fields


def unfold_description(value: str) -> str:
    """deb822 Description: synopsis line, then extended lines with one leading space dropped."""
    lines = value.split("\n")
    out = [lines[0].strip()]
    for line in lines[1:]:
        line = line[1:] if line[:1] in (" ", "\t") else line
        out.append("" if line.strip() == "." else line)
    return "\n".join(out)


def safe_id(local_id: str) -> str:
    """Debian names may hold '+', which ids do not; they never hold '_', so '+' -> '_' is safe."""
    return local_id.replace("+", "_")


def record(source, local_id, text, url, licence, origin, **meta):
    return {
        "id": f"{source}/{safe_id(local_id)}",
        "text": text,
        "source": source,
        "url": url,
        "meta": {"licence": licence, "origin": origin, **meta},
    }


# --------------------------------------------------------------------------- Gutenberg
HEADING = re.compile(r"^[ \t]*(?:CHAPTER|Chapter)\b")


def split_lines_into_chapters(lines: list[str]) -> list[tuple[str, str]]:
    """[(label, text)]: label '000' is front matter before the first heading."""
    starts = [i for i, line in enumerate(lines) if HEADING.match(line)]
    bounds = [0] + starts + [len(lines)]
    out = []
    for k in range(len(bounds) - 1):
        chunk = lines[bounds[k]:bounds[k + 1]]
        if k == 0 and not "".join(chunk).strip():
            continue
        out.append((f"{k:03d}", "\n".join(chunk)))
    return out


def split_string_into_chapters(text: str) -> list[tuple[str, str]]:
    """Same split for a single-string book; slices of the original string (CRLF kept)."""
    starts = [m.start() for m in re.finditer(r"(?m)^[ \t]*(?:CHAPTER|Chapter)\b", text)]
    bounds = [0] + starts + [len(text)]
    out = []
    for k in range(len(bounds) - 1):
        chunk = text[bounds[k]:bounds[k + 1]]
        if k == 0 and not chunk.strip():
            continue
        out.append((f"{k:03d}", chunk))
    return out


def r_lazyload(db: Path, name: str):
    """Read one object from an R lazy-load database (data/Rdata.rdx + .rdb)."""
    import rdata
    from rdata import conversion, parser
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unknown file type: assumed RDS" for the index
        index = rdata.read_rds(str(db) + ".rdx")
    off, length = (int(v) for v in index["variables"][name])
    with open(str(db) + ".rdb", "rb") as f:
        f.seek(off)
        blob = f.read(length)
    raw = zlib.decompress(blob[4:])  # 4-byte big-endian length, then zlib stream
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return conversion.convert(parser.parse_data(raw, expand_altrep=True))


def gutenberg(apt: Apt, workdir: Path) -> list[dict]:
    import rdata
    debs = apt.download(["r-cran-janeaustenr", "r-cran-tidytext", "r-cran-tokenizers"])
    recs = []
    books_lines = {}

    def add(pkg, obj_path, slug, pg_id, chapters, **meta):
        ver = deb_version(debs[pkg])
        short = pkg.removeprefix("r-cran-")
        for label, text in chapters:
            # A chapter has no URL of its own: the book's page goes in meta, not in `url`
            # (which the pipeline's URL dedup reads, and would fold all chapters into one).
            recs.append(record(
                "gutenberg", f"{short}/{slug}/ch{label}", text, None, LIC_PD,
                f"{pkg}_{ver}:{obj_path}", package=pkg, book=slug, chapter=int(label),
                gutenberg_id=pg_id, ebook_url=f"https://www.gutenberg.org/ebooks/{pg_id}",
                lang="en", **meta))

    root = extract(debs["r-cran-janeaustenr"], workdir) / "usr/lib/R/site-library/janeaustenr"
    for obj, slug, pg in JANEAUSTENR_BOOKS:
        lines = [str(x) for x in r_lazyload(root / "data/Rdata", obj)]
        books_lines[("janeaustenr", slug)] = lines
        extra = {"copy": "janeaustenr"} if slug == "pride-and-prejudice" else {}
        add("r-cran-janeaustenr", f"usr/lib/R/site-library/janeaustenr/data/Rdata.rdb#{obj}",
            slug, pg, split_lines_into_chapters(lines), **extra)

    root = extract(debs["r-cran-tidytext"], workdir) / "usr/lib/R/site-library/tidytext"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        books = rdata.read_rda(str(root / "extdata/books.rda"))["books"]
    for title, slug, pg in TIDYTEXT_BOOKS:
        lines = [str(x) for x in books[books["title"] == title]["text"]]
        books_lines[("tidytext", slug)] = lines
        extra = {"copy": "tidytext"} if slug == "pride-and-prejudice" else {}
        add("r-cran-tidytext", f"usr/lib/R/site-library/tidytext/extdata/books.rda#{title}",
            slug, pg, split_lines_into_chapters(lines), **extra)

    root = extract(debs["r-cran-tokenizers"], workdir) / "usr/lib/R/site-library/tokenizers"
    for obj, slug, pg in TOKENIZERS_BOOKS:
        (text,) = [str(x) for x in r_lazyload(root / "data/Rdata", obj)]
        add("r-cran-tokenizers", f"usr/lib/R/site-library/tokenizers/data/Rdata.rdb#{obj}",
            slug, pg, split_string_into_chapters(text), line_endings="crlf")

    a = books_lines[("janeaustenr", "pride-and-prejudice")]
    b = books_lines[("tidytext", "pride-and-prejudice")]
    same = sum(x == y for x, y in zip(a, b))
    log(f"Pride and Prejudice: janeaustenr {len(a)} lines, tidytext {len(b)} lines, "
        f"{same} identical positions, exact copy: {a == b}")
    return recs


# --------------------------------------------------------------------------- Python docs
def python_docs(apt: Apt, workdir: Path) -> list[dict]:
    deb = apt.download(["python3.11-doc"])["python3.11-doc"]
    ver = deb_version(deb)
    base = extract(deb, workdir) / "usr/share/doc/python3.11/html/_sources"
    pages = sorted(p for p in base.rglob("*.rst.txt")
                   if p.is_file() and p.stat().st_size <= PYDOC_MAX_BYTES)
    pages = sorted(pages, key=lambda p: rank("pydoc/" + p.relative_to(base).as_posix()))
    recs = []
    for p in pages[:N_PYDOC]:
        rel = p.relative_to(base).as_posix()
        page = rel[: -len(".rst.txt")]
        recs.append(record(
            "python-docs", page, decode(p.read_bytes(), "python-docs"),
            f"https://docs.python.org/3.11/{page}.html", "PSF-2.0",
            f"python3.11-doc_{ver}:usr/share/doc/python3.11/html/_sources/{rel}",
            package="python3.11-doc", lang="en"))
    return recs


# --------------------------------------------------------------------------- Debian metadata
def sample_packages(packages: dict[str, dict]) -> list[str]:
    """Whole source packages (all their small binaries) in SHA-1 rank order."""
    by_src = collections.defaultdict(list)
    for name, st in packages.items():
        by_src[st.get("Source", name).split()[0]].append(name)
    chosen = []
    for src in sorted(by_src, key=lambda s: rank("src/" + s)):
        small = [n for n in sorted(by_src[src])
                 if int(packages[n].get("Size", "0")) <= COPYRIGHT_MAX_DEB_BYTES]
        chosen.extend(small)
        if len(chosen) >= N_COPYRIGHT_PACKAGES:
            break
    return sorted(chosen)


def copyright_and_changelogs(apt: Apt, packages: dict[str, dict]) -> list[dict]:
    names = sorted(set(sample_packages(packages)) | set(OTHER_DOWNLOADED))
    debs = apt.download(names)
    recs, changelogs = [], []
    for name in names:
        deb = debs[name]
        ver = deb_version(deb)
        src = packages[name].get("Source", name).split()[0]
        files = deb_members(deb, lambda p: re.fullmatch(
            r"usr/share/doc/[^/]+/(copyright|changelog\.Debian\.gz)", p) is not None)
        for path, data in sorted(files.items()):
            docdir = path.split("/")[3]
            if path.endswith("/copyright"):
                recs.append(record(
                    "debian-copyright", f"{name}/{docdir}", decode(data, "debian-copyright"),
                    None, LIC_COPYRIGHT, f"{name}_{ver}:{path}", package=name,
                    source_package=src))
            else:
                text_bytes = gzip.decompress(data)
                if CHANGELOG_MIN_BYTES <= len(text_bytes) <= CHANGELOG_MAX_BYTES:
                    changelogs.append((rank("chl/" + src), src, name, ver, path, text_bytes))
    seen_src = set()
    for _, src, name, ver, path, text_bytes in sorted(changelogs):
        if src in seen_src:
            continue
        seen_src.add(src)
        recs.append(record(
            "debian-changelog", f"{name}/{path.split('/')[3]}",
            decode(text_bytes, "debian-changelog"), None, LIC_CHANGELOG,
            f"{name}_{ver}:{path}", package=name, source_package=src))
        if len(seen_src) >= N_CHANGELOGS:
            break
    return recs


def english_descriptions(apt: Apt) -> list[dict]:
    path = apt.list_file("_main_i18n_Translation-en")
    stanzas = {st["Package"]: st for st in deb822(read_list(path))}
    recs = []
    for pkg in sorted(stanzas, key=lambda p: rank("en/" + p))[:N_EN_DESCRIPTIONS]:
        st = stanzas[pkg]
        recs.append(record(
            "debian-descriptions", pkg, unfold_description(st["Description-en"]),
            f"https://packages.debian.org/bookworm/{pkg}", LIC_DESC,
            f"debian_bookworm_main_i18n_Translation-en:{pkg}", package=pkg, lang="en",
            description_md5=st.get("Description-md5")))
    return recs


def ddtp(apt: Apt) -> list[dict]:
    recs = []
    for lang in DDTP_LANGS:
        path = apt.list_file(f"_main_i18n_Translation-{lang.replace('_', '%5f')}")
        cands = []
        for st in deb822(read_list(path)):
            text = unfold_description(st[f"Description-{lang}"])
            if len(text) >= DDTP_MIN_CHARS:
                cands.append((rank(f"ddtp/{lang}/{st['Package']}"), st["Package"], text,
                              st.get("Description-md5")))
        for _, pkg, text, md5 in sorted(cands)[:N_DDTP_PER_LANG]:
            recs.append(record(
                "ddtp", f"{lang}/{pkg}", text,
                f"https://packages.debian.org/{lang.lower().replace('_', '-')}/bookworm/{pkg}",
                LIC_DDTP,
                f"debian_bookworm_main_i18n_Translation-{lang}:{pkg}", package=pkg,
                lang=lang, description_md5=md5))
    return recs


def manpages(apt: Apt, workdir: Path) -> list[dict]:
    recs = []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}
    for lang in MAN_LANGS:
        pkg = f"manpages-{lang}"
        deb = apt.download([pkg])[pkg]
        ver = deb_version(deb)
        root = extract(deb, workdir)
        mandir = root / f"usr/share/man/{lang}/man1"
        pages = sorted(p for p in mandir.glob("*.1.gz")
                       if p.is_file() and not p.is_symlink()
                       and p.stat().st_size <= MAN_MAX_GZ_BYTES)
        for p in sorted(pages, key=lambda p: rank(f"man/{lang}/{p.name}"))[:N_MAN_PER_LANG]:
            man = subprocess.run(
                ["man", "-E", "UTF-8", "--nh", "--nj", "-l", str(p)],
                check=True, capture_output=True, env=env)
            plain = run(["col", "-bx"], input=man.stdout, capture_output=True, env=env).stdout
            page = p.name[: -len(".gz")]
            recs.append(record(
                "manpages", f"{lang}/{page}", decode(plain, "manpages"), None, LIC_MAN,
                f"{pkg}_{ver}:usr/share/man/{lang}/man1/{p.name}", package=pkg, lang=lang,
                rendered_with="man -l | col -bx, MANWIDTH=80"))
    return recs


# --------------------------------------------------------------------------- main
def composition(recs: list[dict]) -> list[tuple[str, int, float]]:
    docs, size = collections.Counter(), collections.Counter()
    for r in recs:
        docs[r["source"]] += 1
        size[r["source"]] += len(r["text"].encode("utf-8"))
    return [(s, docs[s], size[s] / 1e6) for s in sorted(docs)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sieve-sample-src"))
    ap.add_argument("--out", type=Path, default=Path("pipeline/sample/sample.jsonl.gz"))
    ap.add_argument("--no-update", action="store_true",
                    help="reuse WORKDIR/lists from an earlier run instead of apt-get update")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    apt = Apt(workdir)
    if not args.no_update:
        log("apt-get update into " + str(apt.lists))
        apt.update()
    packages = {st["Package"]: st for st in
                deb822(read_list(apt.list_file("_main_binary-amd64_Packages")))}

    recs: list[dict] = []
    for name, fn in [
        ("gutenberg", lambda: gutenberg(apt, workdir)),
        ("python-docs", lambda: python_docs(apt, workdir)),
        ("debian-copyright/changelog", lambda: copyright_and_changelogs(apt, packages)),
        ("debian-descriptions", lambda: english_descriptions(apt)),
        ("ddtp", lambda: ddtp(apt)),
        ("manpages", lambda: manpages(apt, workdir)),
    ]:
        log(f"building {name} ...")
        recs.extend(fn())

    recs.sort(key=lambda r: r["id"])
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    bad = [i for i in ids if not re.fullmatch(r"[A-Za-z0-9/._-]+", i)]
    assert not bad, f"ids with odd characters: {bad[:5]}"

    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for r in recs:
            gz.write((json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buf.getvalue())

    rows = composition(recs)
    print("| source | documents | MB of text |")
    print("|---|---:|---:|")
    for s, n, mb in rows:
        print(f"| {s} | {n} | {mb:.2f} |")
    print(f"| total | {sum(n for _, n, _ in rows)} | {sum(mb for *_, mb in rows):.2f} |")
    print(f"wrote {args.out} ({len(buf.getvalue()) / 1e6:.2f} MB compressed, "
          f"sha256 {hashlib.sha256(buf.getvalue()).hexdigest()[:16]})")
    if DECODE_ERRORS:
        print("undecodable UTF-8 characters replaced: " + ", ".join(
            f"{s}={n}" for s, n in sorted(DECODE_ERRORS.items())))
    else:
        print("undecodable UTF-8 characters replaced: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
