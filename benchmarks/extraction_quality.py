"""HTML main-text extraction quality and speed, per extractor (`pipeline.web.EXTRACTORS`), run by hand.

Figures for the extraction step alone (`pipeline.web.extract`), not for the whole job.

Reference text: the Python documentation (Debian `python3.11-doc`) ships each page as HTML with
navigation, sidebars and footers, and beside it the page's reStructuredText source
(`_sources/<page>.rst.txt`). Both are reduced to lower-case word tokens (rst markup removed:
directive and role names, option lines, link targets); the extracted text is scored against the
source as bags of tokens: precision (extracted tokens that are in the source), recall (source
tokens that were extracted) and F1, micro-averaged over pages. The Debian handbook
(`debian-handbook`, 26 languages) ships HTML only: for it the table gives pages/s and the share of
the page's visible text kept, with no reference.

    apt-get download python3.11-doc debian-handbook && dpkg-deb -x python3.11-doc_*.deb d && dpkg-deb -x debian-handbook_*.deb d
    python -m benchmarks.extraction_quality --python_docs d/usr/share/doc/python3.11/html \\
        --handbook d/usr/share/doc/debian-handbook/html
    python -m benchmarks.extraction_quality --quick    # the pages in tests/data/html; seconds
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import time
from pathlib import Path

from pipeline import web

QUICK_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "html"
_WORD = re.compile(r"\w+", re.UNICODE)
# reStructuredText markup that is not page text: directive lines' names and options, roles'
# names, link targets and substitution definitions.
_RST_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::", re.M)
_RST_OPTION = re.compile(r"^\s+:[\w-]+:.*$", re.M)
_RST_ROLE = re.compile(r":[\w:-]+:`")
_RST_TARGET = re.compile(r"^\s*\.\. _[^:]+:.*$", re.M)
_TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.S | re.I)


def tokens(text: str) -> collections.Counter:
    return collections.Counter(w.lower() for w in _WORD.findall(text))


def rst_tokens(source: str) -> collections.Counter:
    for pattern in (_RST_TARGET, _RST_OPTION, _RST_DIRECTIVE):
        source = pattern.sub(" ", source)
    return tokens(_RST_ROLE.sub("`", source))


def python_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(page.html, its source) for the Python docs layout, or `X.html` beside `X.rst.txt`."""
    pairs = []
    for html in sorted(root.rglob("*.html")):
        rel = html.relative_to(root).with_suffix(".rst.txt")
        for ref in (root / "_sources" / rel, html.with_suffix(".rst.txt")):
            if ref.exists():
                pairs.append((html, ref))
                break
    return pairs


def score(extractor: str, pairs: list[tuple[Path, Path]]) -> dict:
    pages = [(h.read_text(encoding="utf-8", errors="replace"), r.read_text(encoding="utf-8", errors="replace"))
             for h, r in pairs]
    hit = got = want = 0
    start = time.perf_counter()
    extracted = [web.extract(html, extractor)[0] for html, _ in pages]
    seconds = time.perf_counter() - start
    for text, (_, ref) in zip(extracted, pages):
        t, r = tokens(text), rst_tokens(ref)
        hit += sum((t & r).values())
        got += sum(t.values())
        want += sum(r.values())
    p, r = hit / max(got, 1), hit / max(want, 1)
    return {"site": "python-docs", "extractor": extractor, "pages": len(pages),
            "precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / max(p + r, 1e-12), 4), "pages_per_s": round(len(pages) / seconds, 1)}


def handbook(extractor: str, root: Path, limit: int) -> dict:
    files = sorted(root.rglob("*.html"))[:limit]
    pages = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    start = time.perf_counter()
    extracted = [web.extract(html, extractor)[0] for html in pages]
    seconds = time.perf_counter() - start
    kept = sum(sum(tokens(t).values()) for t in extracted)
    visible = sum(sum(tokens(_TAGS.sub(" ", h)).values()) for h in pages)
    return {"site": "debian-handbook", "extractor": extractor, "pages": len(pages),
            "kept_token_share": round(kept / max(visible, 1), 4),
            "empty_pages": sum(not t.strip() for t in extracted),
            "pages_per_s": round(len(pages) / seconds, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python_docs", type=Path, help="python3.11-doc's usr/share/doc/python3.11/html")
    ap.add_argument("--handbook", type=Path, help="debian-handbook's usr/share/doc/debian-handbook/html")
    ap.add_argument("--handbook_pages", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="the pages in tests/data/html only")
    args = ap.parse_args(argv)
    root = QUICK_DIR if args.quick else args.python_docs
    if root is None:
        ap.error("--python_docs or --quick")
    pairs = python_pairs(root)
    for extractor in web.EXTRACTORS:
        print(json.dumps(score(extractor, pairs)), flush=True)
        if args.handbook and not args.quick:
            print(json.dumps(handbook(extractor, args.handbook, args.handbook_pages)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
