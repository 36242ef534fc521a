"""Annotate one document: every signal the policies can read, computed once from its units."""

from __future__ import annotations

from quality import c4, fineweb, gopher
from quality.text import Units


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
