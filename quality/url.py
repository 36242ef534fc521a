"""URL signals (domain, top-level domain) and a URL blocklist, from a document's URL alone.

RefinedWeb (Penedo et al. 2023, section G.1) and FineWeb (datatrove `URLFilter`) filter URLs
first, against a blocklist of domains (UT1's lists) and of full URLs: a listed domain blocks
itself and every subdomain. Sieve records `url.blocklisted` (0 or 1) when a run is given a
blocklist file (`--url_blocklist`), and the rule `url_blocklist` drops the 1s; the domain and TLD
are recorded on every document with a URL, for the report and for policies (`allowed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from quality.rules import Rule

DOMAIN, TLD, BLOCKED = "url.domain", "url.tld", "url.blocklisted"
SIGNALS = (DOMAIN, TLD)
SOURCE = "RefinedWeb (Penedo et al. 2023) section G.1; datatrove URLFilter (FineWeb)"
BLOCKLIST_RULE = Rule("url_blocklist", BLOCKED, max=0, source=SOURCE)


def host(url: str) -> str | None:
    """The URL's host, lower-case, without port, credentials or a trailing dot."""
    try:
        name = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def url_signals(url: str | None) -> dict[str, str]:
    name = host(url) if url else None
    if not name:
        return {}
    return {DOMAIN: name.removeprefix("www."), TLD: name.rsplit(".", 1)[-1]}


def _normal_url(url: str) -> str:
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or ""
    return f"{(parts.hostname or '').rstrip('.')}{path}" + (f"?{parts.query}" if parts.query else "")


class Blocklist:
    """Domains (one per line: `example.com` blocks it and `*.example.com`) and URLs (a line with
    a scheme or a path: blocked as written, scheme, fragment and a trailing slash ignored).
    Blank lines and lines starting with `#` are skipped."""

    def __init__(self, lines: Iterable[str]):
        self.domains: set[str] = set()
        self.urls: set[str] = set()
        for line in lines:
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if "/" in entry:
                self.urls.add(_normal_url(entry if "://" in entry else "http://" + entry).lower())
            else:
                self.domains.add(entry.lower().rstrip(".").removeprefix("*."))

    @classmethod
    def read(cls, path: str) -> "Blocklist":
        with open(path, encoding="utf-8") as f:
            return cls(f)

    def blocked(self, url: str) -> bool:
        name = host(url)
        if not name:
            return False
        labels = name.split(".")
        if any(".".join(labels[i:]) in self.domains for i in range(len(labels))):
            return True
        return _normal_url(url).lower() in self.urls
