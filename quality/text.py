"""Text units every rule reads: words, lines, paragraphs and sentences, split once per document.

The word tokenizer is a single documented regex rather than NLTK's Punkt-based tokenizer that
datatrove uses for English: a word is a run of letters/digits (with inner apostrophes or hyphens,
so "don't" and "well-known" stay whole), and every other run of non-space characters is a
separate punctuation token. This matches NLTK on ordinary prose except for contractions, which
NLTK splits ("do", "n't"); rules that count punctuation tokens out are unaffected by that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

WORD_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]+")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace,
# or at a line break. Good enough for sentence-level objectives and sentence counts.
SENTENCE_END_RE = re.compile(r"(?<=[.!?…][\"'”’)\]])\s+|(?<=[.!?…])\s+|\n+")
PARAGRAPH_SPLIT_RE = re.compile(r"\n\s*\n")
PUNCTUATION_CHARS = frozenset(
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¦§¨©«¬®¯°±´¶·¸»¿×÷‐‑‒–—―‖‘’‚‛“”„‟†‡•…‰′″‹›※‼⁇⁈⁉⁏€™←↑→↓"
)


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def is_symbol_token(token: str) -> bool:
    """True for tokens made only of punctuation/symbol characters."""
    return all(ch in PUNCTUATION_CHARS or not ch.isalnum() for ch in token)


def lines(text: str) -> list[str]:
    return text.splitlines()


def paragraphs(text: str) -> list[str]:
    return [p for p in PARAGRAPH_SPLIT_RE.split(text) if p.strip()]


def sentences(text: str) -> list[str]:
    """Sentences in order; joining them with single spaces recovers the words of `text`."""
    return [s.strip() for s in SENTENCE_END_RE.split(text) if s and s.strip()]


@dataclass(frozen=True)
class Units:
    """A document split into its units once, so that every rule reads the same split."""

    text: str

    @cached_property
    def words(self) -> list[str]:
        return words(self.text)

    @cached_property
    def lines(self) -> list[str]:
        return lines(self.text)

    @cached_property
    def paragraphs(self) -> list[str]:
        return paragraphs(self.text)

    @cached_property
    def sentences(self) -> list[str]:
        return sentences(self.text)
