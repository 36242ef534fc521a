"""Annotate one document: every signal the policies can read, computed once from its units."""

from __future__ import annotations

import functools

from quality import c4, fineweb, gopher
from quality.text import Units

LANGUAGE_SIGNALS = ("lang", "lang_score")  # recorded by the language identifier (quality.langid)


def text_signals(text: str) -> dict[str, float]:
    """Language-independent signals (no model needed): lengths, Gopher quality and repetition,
    C4 (tfds, and datatrove's settings as FineWeb ran them) and FineWeb values.

    FineWeb's values are read on the text as FineWeb's C4 step leaves it (`c4_fineweb` line
    cleaning), since that filter rewrites the text before FineWeb's own rules see it.
    """
    units = Units(text)
    signals = {
        "chars": float(len(text)),
        "lines": float(len(units.lines)),
    }
    signals.update(gopher.quality_signals(units))
    signals.update(gopher.repetition_signals(units))
    cleaned = c4.clean_lines_many(text, ("tfds", "fineweb"))
    signals.update(c4.c4_signals(units, "tfds", *cleaned["tfds"]))
    fw_clean, fw_stats = cleaned["fineweb"]
    signals.update(c4.c4_signals(units, "fineweb", fw_clean, fw_stats))
    signals.update(fineweb.fineweb_signals(Units(fw_clean), n_words=fw_stats["words"]))
    return signals


@functools.lru_cache(maxsize=2)
def recorded_signals(quality_model: bool = False) -> frozenset[str]:
    """Every signal name the annotate stage records on a document: `text_signals` (the same
    names for every text), the language identifier's and, with a quality model, its score."""
    from quality.classifier import SIGNAL

    names = set(text_signals("A probe text.")) | set(LANGUAGE_SIGNALS)
    return frozenset(names | {SIGNAL} if quality_model else names)
