"""Text normalization before any signal is computed: Unicode NFC, control characters, whitespace.

Indentation inside lines is kept (code blocks in documentation depend on it); trailing spaces are
removed, line breaks are unified to "\n", and runs of three or more line breaks become two so
that paragraph splitting sees one blank line.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# C0/C1 control characters other than tab and newline, plus zero-width and BOM characters.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
# Unicode spaces (NBSP, thin spaces, ideographic space, ...) become a plain space.
_SPACE_RE = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_TRAILING_SPACE_RE = re.compile(r"[ \t]+\n")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_ALL_WHITESPACE_RE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL_RE.sub("", text)
    text = _SPACE_RE.sub(" ", text)
    text = _TRAILING_SPACE_RE.sub("\n", text + "\n")
    text = _MANY_NEWLINES_RE.sub("\n\n", text)
    return text.strip("\n").rstrip()


def dedup_key(text: str) -> str:
    """Exact-duplicate key: a hash of the normalized text, case-folded, whitespace collapsed.

    Two documents that differ only in case, spacing or line wrapping get the same key.
    """
    folded = _ALL_WHITESPACE_RE.sub(" ", text.casefold()).strip()
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()
