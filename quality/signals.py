"""Annotate one document: every signal the policies can read, computed once from its units."""

from __future__ import annotations

from quality import gopher
from quality.text import Units


def text_signals(text: str) -> dict[str, float]:
    """Language-independent signals (no model needed): lengths and the Gopher quality values."""
    units = Units(text)
    signals = {
        "chars": float(len(text)),
        "lines": float(len(units.lines)),
    }
    signals.update(gopher.quality_signals(units))
    return signals
