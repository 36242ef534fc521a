"""The registry of signal sets: each rule set's signal function, beside the rules that read it.

Annotate computes every signal once, from one split of the text into units (`quality.text.Units`);
select only reads them. `SIGNAL_SETS` lists, in the order the annotate stage records them, each
set's name, the function that computes its signals and the rules that read them, so that:

- the annotate stage (`text_signals`, called by `pipeline.stages.Annotate`) computes exactly the
  sets listed here;
- policy validation (`recorded_signals`, read by `pipeline.graph.check_policy_inputs`) knows every
  name a run records, and which set a missing one would need (`needs`);
- the presets (`quality.policy.preset`) take their rules from here, and a newcomer finds any rule
  by its name (`find_rule`).

Sets recorded outside this function: the language identifier's (`quality.langid`), the URL's
(`quality.url`; with `--url_blocklist`, the blocklist's) and, with `--quality_model`, the fastText
quality classifier's (`quality.classifier`).
A new rule set is one entry here: its function, its rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from quality import c4, classifier, fineweb, gopher, langid, url
from quality.rules import Rule
from quality.text import Units


class Annotation:
    """One document while it is annotated: its text, its units and the line-cleaned texts that
    the C4 and FineWeb sets read, each computed once, when the first set asks for it."""

    def __init__(self, text: str):
        self.text = text
        self.units = Units(text)
        self._cleaned = None
        self._fineweb_units = None

    @property
    def cleaned(self) -> dict[str, tuple[str, dict]]:
        """C4's line cleaning in both settings a set reads (tfds and FineWeb's), in one pass."""
        if self._cleaned is None:
            self._cleaned = c4.clean_lines_many(self.text, ("tfds", "fineweb"), self.units.lines)
        return self._cleaned

    @property
    def fineweb_units(self) -> Units:
        """FineWeb's rules read the text as FineWeb's C4 step leaves it (`c4_lines_fineweb`)."""
        if self._fineweb_units is None:
            self._fineweb_units = Units(self.cleaned["fineweb"][0])
        return self._fineweb_units


def _lengths(a: Annotation) -> dict[str, float]:
    return {"chars": float(len(a.text)), "lines": float(len(a.units.lines))}


def _fineweb(a: Annotation) -> dict[str, float]:
    return fineweb.fineweb_signals(a.fineweb_units, n_words=a.cleaned["fineweb"][1]["words"])


@dataclass(frozen=True)
class SignalSet:
    """A named set of signals and the rules that read them.

    `compute` maps a document's `Annotation` to its signals (the same names for every text);
    None when a model outside `text_signals` records them, which `names` then lists.
    `needs` names the option that makes a run record them, when not every run does.
    """

    name: str
    compute: Callable[[Annotation], dict[str, float]] | None
    rules: tuple[Rule, ...] = ()
    names: tuple[str, ...] = ()
    needs: str | None = None
    source: str = ""


SIGNAL_SETS: tuple[SignalSet, ...] = (
    SignalSet("lengths", _lengths, source="characters and lines of the normalized text"),
    SignalSet("gopher_quality", lambda a: gopher.quality_signals(a.units), gopher.QUALITY_RULES,
              source=gopher.SOURCE),
    SignalSet("gopher_repetition", lambda a: gopher.repetition_signals(a.units),
              gopher.REPETITION_RULES, source=gopher.REP_SOURCE),
    SignalSet("c4", lambda a: c4.c4_signals(a.units, "tfds", *a.cleaned["tfds"]), c4.RULES,
              source="tensorflow_datasets c4_utils"),
    SignalSet("c4_fineweb", lambda a: c4.c4_signals(a.units, "fineweb", *a.cleaned["fineweb"]),
              c4.FINEWEB_RULES, source="datatrove C4QualityFilter, FineWeb's settings"),
    SignalSet("fineweb", _fineweb, fineweb.RULES, source="datatrove FineWebQualityFilter"),
    SignalSet("lang", None, langid.language_rules(), names=langid.SIGNALS, source=langid.SOURCE),
    # From the document's URL (documents without one have none): quality.url.
    SignalSet("url", None, names=url.SIGNALS, source=url.SOURCE),
    SignalSet("url_blocklist", None, (url.BLOCKLIST_RULE,), names=(url.BLOCKED,),
              needs="--url_blocklist", source=url.SOURCE),
    # No preset rule: a policy keeps a top fraction of its score (YAML `top_fraction`).
    SignalSet("fasttext_quality", None, names=(classifier.SIGNAL,), needs="--quality_model",
              source="fastText classifier trained by quality.train_classifier"),
)
_BY_NAME = {s.name: s for s in SIGNAL_SETS}
LANGUAGE_SIGNALS = langid.SIGNALS  # recorded by the language identifier (quality.langid)


def signal_set(name: str) -> SignalSet:
    if name not in _BY_NAME:
        raise KeyError(f"unknown signal set {name!r}; known: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def rules(name: str) -> tuple[Rule, ...]:
    """The rules of one signal set, in its reference order."""
    return signal_set(name).rules


def text_signals(text: str) -> dict[str, float]:
    """Every signal no model is needed for: lengths, Gopher quality and repetition, C4 (tfds,
    and datatrove's settings as FineWeb ran them) and FineWeb values, in `SIGNAL_SETS` order."""
    a = Annotation(text)
    out: dict[str, float] = {}
    for s in SIGNAL_SETS:
        if s.compute is not None:
            out.update(s.compute(a))
    return out


@functools.lru_cache(maxsize=None)
def set_names(name: str) -> frozenset[str]:
    """The signal names one set records (computed sets: the names on a probe text)."""
    s = signal_set(name)
    return frozenset(s.compute(Annotation("A probe text.")) if s.compute else s.names)


def recorded_signals(quality_model: bool = False, url_blocklist: bool = False) -> frozenset[str]:
    """Every signal name the annotate stage records on a document; the quality classifier's
    only with a quality model, the blocklist's only with a blocklist."""
    given = {"--quality_model": quality_model, "--url_blocklist": url_blocklist}
    return frozenset().union(*(set_names(s.name) for s in SIGNAL_SETS
                               if s.needs is None or given.get(s.needs)))


def needs(signal: str) -> str | None:
    """The option a run needs to record `signal` (None when every run records it, or none does)."""
    for s in SIGNAL_SETS:
        if signal in set_names(s.name):
            return s.needs
    return None


def find_rule(name: str) -> tuple[SignalSet, Rule]:
    """A registered rule by its name (= its drop reason), with the set it belongs to."""
    for s in SIGNAL_SETS:
        for r in s.rules:
            if r.name == name:
                return s, r
    raise KeyError(f"no registered rule is named {name!r}")
