"""Dedup science that is not MinHash: URL keys, sub-document units (CCNet paragraphs, C4's
three-sentence spans) and the cluster-size buckets of the report.

Plain functions on plain data (stdlib, xxhash); `pipeline/dedup/` is the Beam wiring around
them and `quality.minhash` the near-duplicate science.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import xxhash

from quality.text import PARAGRAPH_SPLIT_RE, SENTENCE_END_RE


# ----------------------------------------------------------------------------------------------
# Sub-document units: paragraphs (CCNet) and three-sentence spans (C4)
# ----------------------------------------------------------------------------------------------

_DIGIT_RE = re.compile(r"\d")
_NON_WORD_RE = re.compile(r"[^\w\s]|_")
_SPACES_RE = re.compile(r"\s+")
C4_SPAN_SENTENCES = 3  # C4: "discarded all but one of any three-sentence span occurring more than once"


def ccnet_normalize(text: str) -> str:
    """CCNet's dedup normalization (cc_net `text_normalizer.normalize`, accent and punctuation
    removal on): lower case, accents stripped, every digit 0, punctuation removed, whitespace
    collapsed. Paragraphs equal after it are the same paragraph."""
    text = text.strip().lower()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = _DIGIT_RE.sub("0", text)
    text = _NON_WORD_RE.sub("", text)
    return _SPACES_RE.sub(" ", text).strip()


def unit_hash(unit: str) -> bytes:
    """16-byte hash of a unit's CCNet-normalized form (CCNet keeps the first 8 bytes of sha1; a
    wider hash keeps collisions negligible for billions of paragraphs)."""
    return xxhash.xxh3_128_digest(ccnet_normalize(unit).encode("utf-8"))


def _spans_between(text: str, separator) -> list[tuple[int, int]]:
    """(start, end) offsets of the non-blank pieces of `text` between matches of `separator`."""
    spans, start = [], 0
    for m in separator.finditer(text):
        if text[start:m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the paragraphs of `text` (`quality.text.paragraphs`:
    blank-line separated, blank ones left out)."""
    return _spans_between(text, PARAGRAPH_SPLIT_RE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text` (the `quality.text.sentences` split)."""
    return _spans_between(text, SENTENCE_END_RE)


def dedup_units(text: str, unit: str = "paragraph") -> list[tuple[bytes, tuple[int, int]]]:
    """The units sub-document dedup compares, as (hash, span to remove when it repeats).

    `paragraph`: every paragraph, hashed after `ccnet_normalize` (paragraphs normalized to
    nothing, e.g. only punctuation, are not units). `sentence_span`: every window of
    `C4_SPAN_SENTENCES` consecutive sentences; its span runs from the first to the last sentence."""
    if unit == "paragraph":
        spans = paragraph_spans(text)
        units = [(text[s:e], (s, e)) for s, e in spans]
    elif unit == "sentence_span":
        spans = sentence_spans(text)
        k = C4_SPAN_SENTENCES
        units = [("\n".join(text[s:e] for s, e in spans[i:i + k]), (spans[i][0], spans[i + k - 1][1]))
                 for i in range(len(spans) - k + 1)]
    else:
        raise ValueError(f"unknown dedup unit {unit!r}: paragraph or sentence_span")
    return [(unit_hash(u), span) for u, span in units if ccnet_normalize(u)]


def remove_spans(text: str, spans: Iterable[tuple[int, int]]) -> tuple[str, int]:
    """`text` without the given character spans (overlaps merged), and the UTF-8 bytes removed.

    The blank-line separators around a removed paragraph collapse so that the result stays
    normalized (no leading, trailing or tripled line breaks)."""
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    if not merged:
        return text, 0
    pieces, pos = [], 0
    for s, e in merged:
        pieces.append(text[pos:s])
        pos = e
    pieces.append(text[pos:])
    out = re.sub(r"\n{3,}", "\n\n", "".join(pieces)).strip()
    out = re.sub(r"[ \t]+\n", "\n", out)
    return out, len(text.encode("utf-8")) - len(out.encode("utf-8"))


# ----------------------------------------------------------------------------------------------
# URLs
# ----------------------------------------------------------------------------------------------

def url_key(url: str | None) -> str | None:
    """A URL's dedup key: scheme and host lower-cased, default port, fragment and a trailing
    slash removed; path and query kept as given. None for a missing or blank URL."""
    if not url or not url.strip():
        return None
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port if parts.port not in (None, 80, 443) else None
    except ValueError:  # an unparsable URL (bad port, bracket) is its own key
        return url.strip()
    host = (parts.hostname or "").lower()
    netloc = host + (f":{port}" if port else "")
    path = parts.path.rstrip("/") or ""
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, ""))


# ----------------------------------------------------------------------------------------------
# Cluster-size histogram
# ----------------------------------------------------------------------------------------------

EXACT_SIZE_BUCKETS = 10  # cluster sizes listed one by one; larger ones by powers of two


def cluster_size_bucket(size: int) -> str:
    """A cluster size's histogram label: "2" .. "10", then "11-15", "16-31", "32-63", ..."""
    if size <= EXACT_SIZE_BUCKETS:
        return str(size)
    lo = 1 << (size.bit_length() - 1)
    return f"{max(lo, EXACT_SIZE_BUCKETS + 1)}-{2 * lo - 1}"


def cluster_bucket_order(label: str) -> int:
    """Sort key of a `cluster_size_bucket` label: its smallest size."""
    return int(str(label).split("-")[0])
