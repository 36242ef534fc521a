"""Formatting for the report: HTML escaping, numbers, bytes, shares, a rule's bounds and tables."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def esc(value) -> str:
    """HTML-escape anything, also replacing characters that HTML or UTF-8 cannot carry."""
    return html.escape(_UNSAFE.sub("\ufffd", str(value)), quote=True)


def fmt_int(n) -> str:
    return f"{int(n):,}"


def fmt_bytes(n) -> str:
    n = float(n)
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def fmt_num(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return esc(v)
    if not math.isfinite(v):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return fmt_int(v)
    return f"{v:.4g}"


def pct(part, whole) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "–"


def threshold_text(rule: Mapping) -> str:
    if rule.get("allowed") is not None:
        return "in {" + ", ".join(str(a) for a in rule["allowed"]) + "}"
    lo, hi = rule.get("min"), rule.get("max")
    if lo is not None and hi is not None:
        return f"{fmt_num(lo)} ≤ x ≤ {fmt_num(hi)}"
    if lo is not None:
        return f"≥ {fmt_num(lo)}"
    if hi is not None:
        return f"≤ {fmt_num(hi)}"
    return "(no bound)"


_NUMERIC = re.compile(r"^[-+]?[\d.,]+( ?[a-zA-Z%]+)?$")  # "1,234", "12.5%", "3.20 MB"


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are already-escaped HTML. Cells starting with a digit or sign are right-aligned."""
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{c}</td>' if _NUMERIC.match(c) else f"<td>{c}</td>"
            for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)
