"""Text units every rule reads: words, lines, paragraphs and sentences, split once per document.

Two word splits. `words` is a single documented regex, for sentence-level objectives and other
plain uses: a word is a run of letters/digits (with inner apostrophes or hyphens, so "don't" and
"well-known" stay whole), and every other run of non-space characters is a punctuation token.
`rule_words` is what the Gopher, C4 and FineWeb rules count: the tokens datatrove 0.10.1 counts
for English, i.e. spaCy's rule-based English tokenizer, re-implemented here on the standard
library (see the note above `_build_rule_tokenizer`).
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
# The Gopher repetition rules count lines and paragraphs as datatrove splits them, so that their
# decisions match it: paragraphs of text.strip() split at "\n\n+", lines of the text at "\n+".
GOPHER_PARAGRAPH_SPLIT_RE = re.compile(r"\n{2,}")
GOPHER_LINE_SPLIT_RE = re.compile(r"\n+")
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
    """A document split into its units once: every rule set reads its words, lines, paragraphs,
    sentences and rule words from here, each computed on first use and then shared (the Gopher
    repetition rules' datatrove-style lines and paragraphs too). FineWeb's rules read the Units
    of the text as C4's line cleaning leaves it (`quality.signals.Annotation`)."""

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

    @cached_property
    def gopher_lines(self) -> list[str]:
        """Lines as datatrove's Gopher repetition filter splits them (empty lines dropped)."""
        return GOPHER_LINE_SPLIT_RE.split(self.text)

    @cached_property
    def gopher_paragraphs(self) -> list[str]:
        """Paragraphs as datatrove's Gopher repetition filter splits them."""
        return GOPHER_PARAGRAPH_SPLIT_RE.split(self.text.strip())

    @cached_property
    def rule_words(self) -> list[str]:
        """Tokens as datatrove's English filters count them (`rule_words`)."""
        return rule_words(self.text)

    @cached_property
    def _rule_vocab(self):
        """(distinct rule words in first-seen order, each rule word's index among them)."""
        import numpy as np

        vocab: dict[str, int] = {}
        setdefault = vocab.setdefault
        ids = np.fromiter((setdefault(w, len(vocab)) for w in self.rule_words), dtype=np.int64,
                          count=len(self.rule_words))
        return list(vocab), ids

    @property
    def rule_vocab(self) -> list[str]:
        """Distinct `rule_words`, in first-seen order: per-word tests run once per entry."""
        return self._rule_vocab[0]

    @property
    def rule_word_ids(self):
        """`rule_words` as exact integer ids into `rule_vocab`, a numpy int64 array."""
        return self._rule_vocab[1]

    @cached_property
    def rule_word_lengths(self):
        import numpy as np

        vocab, ids = self._rule_vocab
        return np.fromiter(map(len, vocab), dtype=np.int64, count=len(vocab))[ids]


# ---------------------------------------------------------------------------------------------
# Rule tokens: the word split that datatrove's English filters count.
#
# datatrove (0.10.1) splits English text with spaCy's rule-based tokenizer (`spacy.blank("en")`,
# no model) and drops whitespace tokens; Gopher quality, Gopher repetition and FineWeb count those
# tokens, and C4 counts spaCy "sentencizer" sentences built on them. To decide documents the same
# way without importing spaCy, `rule_words` re-implements that algorithm on the standard library:
#   1. split on whitespace;
#   2. per chunk: a special case (contraction, abbreviation) gives fixed tokens; otherwise
#      punctuation prefixes and suffixes are peeled off one at a time (a suffix regex is searched
#      leftmost, so "..." or "'s" come off whole), stopping when the rest is a special case;
#   3. what is left stays whole if it looks like a URL, e-mail or dotted name ("setup.py",
#      "www.debian.org"), else it is cut at infixes: hyphens between letters ("well-known" ->
#      "well", "-", "known"), "-" "+" "*" "^" between digits ("1998-2017"), "," between letters,
#      ":" "<" ">" "=" "/" between a letter/digit and a letter, "." between lower and upper case.
# The special cases are written here from English usage (contractions with and without the
# apostrophe, titles, months, US states, Latin abbreviations), not taken from spaCy, so rare
# forms may differ; benchmarks/compare_datatrove.py measures the remaining disagreement.
# ---------------------------------------------------------------------------------------------


def _char_class(predicate, upto: int = 0x2000) -> str:
    """A regex character class body of the characters below `upto` that satisfy `predicate`."""
    out, start, prev = [], None, None
    for cp in range(upto + 1):
        ok = cp < upto and predicate(chr(cp))
        if ok and start is None:
            start = prev = cp
        elif ok:
            prev = cp
        elif start is not None:
            out.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
            start = None
    return "".join(out)


def _build_rule_tokenizer():
    import unicodedata as ud

    lower = _char_class(lambda c: ud.category(c) == "Ll")
    upper = _char_class(lambda c: ud.category(c) == "Lu")
    alpha = _char_class(str.isalpha, 0x30000)
    quotes = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉⟦⟧"
    punct = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
    q = re.escape(quotes)
    p = re.escape(punct)
    icons = _char_class(lambda c: ud.category(c) == "So" and c != "°", 0x20000)
    currency = r"US\$|C\$|A\$|[$£€¥฿₽﷼₠-₿]"
    units = ("km²|km³|km|m²|m³|m/s|mph|mbar|dm²|dm³|dm|cm²|cm³|cm|mm²|mm³|mm|ha|µm|nm|yd|in|ft|"
             "kg|mg|µg|lb|oz|km/h|kmh|hPa|Pa|mb|MB|kb|KB|gb|GB|tb|TB|m|g|t|T|G|M|K|%")
    # Prefix alternatives are tried in order at the start of the chunk.
    prefix = re.compile(
        r"^(?:§|%|=|—|–|\+(?![0-9])|…|[,:;!?¿؟¡()\[\]{}<>_#*&。？！，、；：～·।،۔؛٪]|\.\.+|"
        rf"[{q}]|{currency}|[{icons}])")
    # Suffix alternatives are searched leftmost, so the longest matching tail comes off first.
    suffix = re.compile(
        rf"(?:…|[{p}]|\.\.+|[{q}]|[{icons}]|'s|'S|’s|’S|—|–|(?<=[0-9])\+|(?<=°[FfCcKk])\.|"
        rf"(?<=[0-9])(?:{currency})|(?<=[0-9])(?:{units})|(?<=[0-9{lower}%²\-+{p}{q}])\.|"
        rf"(?<=[{upper}][{upper}])\.)$")
    hyphens = r"---|--|——|-|–|—|~"
    infix = re.compile(
        rf"\.\.+|…|[{icons}]|(?<=[0-9])[+\-*^](?=[0-9-])|(?<=[{lower}{q}])\.(?=[{upper}{q}])|"
        rf"(?<=[{alpha}]),(?=[{alpha}])|(?<=[{alpha}0-9])(?:{hyphens})(?=[{alpha}])|"
        rf"(?<=[{alpha}0-9])[:<>=/](?=[{alpha}])")
    host = r"[A-Za-z0-9\u00a1-\uffff]"
    url = re.compile(
        r"^(?:[\w+.\-]{2,}://)?(?:\S+(?::\S*)?@)?"
        r"(?:(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
        r"\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])|"
        rf"(?:(?:{host}[A-Za-z0-9\u00a1-\uffff_-]{{0,62}})?{host}\.)+[{lower}]{{2,63}})"
        r"(?::\d{2,5})?(?:[/?#]\S*)?$")
    return prefix, suffix, infix, url


def _special_cases() -> dict[str, tuple[str, ...]]:
    """English special cases: chunk -> its tokens (written for Sieve; see the note above)."""
    cases: dict[str, tuple[str, ...]] = {}

    def add(orth: str, *parts: str) -> None:
        for form in {orth, orth[:1].upper() + orth[1:]}:
            cased = (form[: len(parts[0])],) + parts[1:]
            cases.setdefault(form, cased if "".join(cased) == form else (form,))

    apostrophes = ("'", "’")
    # verb + n't ("don't" -> "do", "n't"), also written without the apostrophe ("dont").
    for verb in ("are", "ca", "could", "dare", "did", "does", "do", "had", "has", "have", "is",
                 "may", "might", "must", "need", "ought", "sha", "should", "was", "were", "wo",
                 "would", "ai"):
        for a in apostrophes + ("",):
            add(f"{verb}n{a}t", verb, f"n{a}t")
            add(f"{verb}n{a}t{a}ve", verb, f"n{a}t", f"{a}ve")
    # pronoun / wh-word + clitic ("they'll" -> "they", "'ll"); without the apostrophe only
    # where the joined form is not itself a common word ("ill", "its", "well", "were", "shed").
    clitics = {
        "i": ("m", "d", "ll", "ve", "d've", "ll've"),
        "you": ("re", "d", "ll", "ve", "d've", "ll've"),
        "he": ("s", "d", "ll", "d've", "ll've"), "she": ("s", "d", "ll", "d've", "ll've"),
        "it": ("s", "d", "ll", "d've", "ll've"),
        "we": ("re", "d", "ll", "ve", "d've", "ll've"),
        "they": ("re", "d", "ll", "ve", "d've", "ll've"),
        "that": ("s", "d", "ll", "d've", "ll've"),
        "there": ("s", "d", "ll", "re", "ve", "d've", "ll've"),
        "this": ("s", "d", "ll", "d've", "ll've"),
        "these": ("d", "ll", "re", "ve", "d've", "ll've"),
        "those": ("d", "ll", "re", "ve", "d've", "ll've"),
        **{w: ("s", "d", "ll", "re", "ve", "d've", "ll've")
           for w in ("what", "when", "where", "who", "why", "how")},
    }
    no_apostrophe_excluded = {"ill", "its", "well", "were", "shed", "hell", "shell", "whore"}
    for word, forms in clitics.items():
        for form in forms:
            pieces = form.split("'")
            for a in apostrophes + ("",):
                joined = word + a + a.join(pieces)
                if not a and joined in no_apostrophe_excluded:
                    continue
                parts = (word,) + tuple(a + piece for piece in pieces)
                add(joined, *parts)
    for a in apostrophes:
        for mod in ("could", "might", "must", "should", "would"):
            add(f"{mod}{a}ve", mod, f"{a}ve")
    for mod in ("could", "might", "must", "should", "would"):
        add(f"{mod}ve", mod, "ve")
    add("cannot", "can", "not")
    add("gonna", "gon", "na")
    add("gotta", "got", "ta")
    # Abbreviations that keep their period (else "." would come off as a suffix).
    abbreviations = (
        "Mr. Mrs. Ms. Dr. Prof. St. Mt. Jr. Sr. Messrs. Gen. Gov. Sen. Rep. Rev. Adm. Ph.D. "
        "Inc. Ltd. Co. co. Corp. Bros. vs. v.s. e.g. E.g. E.G. i.e. I.e. I.E. a.m. p.m. D.C. Id. "
        "Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec. "
        "Ak. Ala. Ariz. Ark. Calif. Colo. Conn. Del. Fla. Ga. Ia. Ill. Ind. Kan. Kans. Ky. La. "
        "Mass. Md. Mich. Minn. Miss. Mo. Mont. Neb. Nebr. Nev. Okla. Ore. Pa. Tenn. Va. Wash. Wis. "
        "N.C. N.D. N.H. N.J. N.M. N.Y. S.C."
    ).split()
    for abbr in abbreviations:
        cases[abbr] = (abbr,)
    for letter in "abcdefghijklmnopqrstuvwxyzäöü":
        cases[letter + "."] = (letter + ".",)
    for hour in range(1, 13):
        for suffix in ("am", "pm", "a.m.", "p.m."):
            cases[f"{hour}{suffix}"] = (str(hour), suffix)
    emoticons = (":) :-) :)) :( :-( :(( ): )-: (: (-: ;) ;-) (; :D :-D :P :-P :p :-p :* :-* :/ :-/ "
                 ":| :-| :] :[ :o :O :0 :3 :> <3 </3 =) =( =D =] =[ =/ =| ^_^ -_- o.O O.o 0.0 o.0 "
                 "O_O o_O 0_0 XD xD 8) 8-) ._. (= [: [= :')").split()
    for orth in ("goin'", "doin'", "nothin'", "nuthin'", "somethin'", "lovin'", "havin'"):
        add(orth, orth)
    for orth in ("'em", "'d", "'ll", "'re", "'ve", "'cause", "'bout", "''", "'s", "'S", "C++", "and/or", "\\n", "\\t", *emoticons):
        cases[orth] = (orth,)
    return cases


_RT_PREFIX, _RT_SUFFIX, _RT_INFIX, _RT_URL = _build_rule_tokenizer()
_RT_SPECIAL = _special_cases()
_RT_CACHE: dict[str, tuple[str, ...]] = {}
_RT_CACHE_MAX = 500_000


def _split_chunk(chunk: str, special: dict[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """Tokens of one whitespace-free chunk (the spaCy affix algorithm; see the note above)."""
    if special is None:
        fast = _simple_chunk(chunk)
        if fast is not None:
            return fast
        tokens = _split_chunk(chunk, _RT_SPECIAL)
        return _merge_specials(tokens) if len(tokens) > 1 else tokens
    if chunk in special:
        return special[chunk]
    prefixes: list[str] = []
    suffixes: list[str] = []
    string = chunk
    last = -1
    while string and len(string) != last:
        if string in special:
            break
        last = len(string)
        m = _RT_PREFIX.search(string)
        pre_len = m.end() if m else 0
        if pre_len:
            minus_pre = string[pre_len:]
            if minus_pre and minus_pre in special:
                prefixes.append(string[:pre_len])
                string = minus_pre
                break
        m = _RT_SUFFIX.search(string[pre_len:])
        suf_len = (m.end() - m.start()) if m else 0
        if suf_len:
            minus_suf = string[:-suf_len]
            if minus_suf and minus_suf in special:
                suffixes.append(string[-suf_len:])
                string = minus_suf
                break
        if pre_len and suf_len and pre_len + suf_len <= len(string):
            prefixes.append(string[:pre_len])
            suffixes.append(string[-suf_len:])
            string = string[pre_len:-suf_len]
        elif pre_len:
            prefixes.append(string[:pre_len])
            string = string[pre_len:]
        elif suf_len:
            suffixes.append(string[-suf_len:])
            string = string[:-suf_len]
    middle: list[str] = []
    if string:
        if string in special:
            middle.extend(special[string])
        elif _RT_URL.match(string):
            middle.append(string)
        else:
            start = 0
            for m in _RT_INFIX.finditer(string):
                if m.start() == 0:
                    continue
                if m.start() != start:
                    middle.append(string[start:m.start()])
                if m.end() != m.start():
                    middle.append(m.group())
                start = m.end()
            if string[start:]:
                middle.append(string[start:])
    return tuple(prefixes) + tuple(middle) + tuple(reversed(suffixes))


# The commonest chunks, split without the affix loop (`_simple_chunk`): an optional "(" prefix, a
# body of letters only or ASCII digits only (no prefix, suffix, infix or URL rule matches inside
# such a body), and an optional last character that the suffix regex takes off alone after that
# body: one of `_RT_SIMPLE_SUFFIXES`, or "." after a lower-case letter (the `[lower]\.` suffix
# rule) or a digit. Special cases are looked up as the loop looks them up.
_RT_SIMPLE_SUFFIXES = frozenset(",;:!?)")


def _lower_letters() -> frozenset[str]:
    import unicodedata as ud

    return frozenset(chr(cp) for cp in range(0x2000) if ud.category(chr(cp)) == "Ll")


_RT_LOWER = _lower_letters()  # the `lower` class of `_build_rule_tokenizer` (below U+2000)


def _simple_body(body: str) -> bool:
    return body.isalpha() or (body.isascii() and body.isdigit())


def _simple_chunk(chunk: str) -> tuple[str, ...] | None:
    """The tokens of a chunk of the shape above, as `_split_chunk`'s loop gives them; None for any
    other chunk. `tests/quality/test_text.py` checks it against the loop on every distinct chunk of the
    bundled sample and on hostile ones."""
    special = _RT_SPECIAL
    hit = special.get(chunk)
    if hit is not None:
        return hit
    prefix = ()
    body = chunk
    if body[0] == "(":
        body = body[1:]
        if not body or body in special:
            return None
        prefix = ("(",)
    suffix = ()
    last = body[-1]
    if last in _RT_SIMPLE_SUFFIXES or last == ".":
        head = body[:-1]
        if not head or head in special or not _simple_body(head):
            return None
        if last == "." and not (head[-1] in _RT_LOWER or head[-1].isascii() and head[-1].isdigit()):
            return None
        if prefix and chunk[:-1] in special:
            return None
        body, suffix = head, (last,)
    elif not _simple_body(body):
        return None
    tokens = prefix + (special.get(body) or (body,)) + suffix
    return _merge_specials(tokens) if len(tokens) > 1 else tokens


# Special cases that the affix rules would cut into pieces (")" + ":" for "):") are re-joined
# wherever those pieces appear in a row, as spaCy's special-case matcher does.
_RT_MERGE = {pieces: _RT_SPECIAL[orth] for orth in _RT_SPECIAL
             if len(pieces := _split_chunk(orth, {})) > 1}
_RT_MERGE_LENGTHS = sorted({len(k) for k in _RT_MERGE}, reverse=True)


def _merge_specials(tokens: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        for length in _RT_MERGE_LENGTHS:
            if i + length <= n and (hit := _RT_MERGE.get(tokens[i:i + length])) is not None:
                out.extend(hit)
                i += length
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)


def chunk_tokens(chunk: str) -> tuple[str, ...]:
    tokens = _RT_CACHE.get(chunk)
    if tokens is None:
        if len(_RT_CACHE) >= _RT_CACHE_MAX:
            _RT_CACHE.clear()
        tokens = _RT_CACHE[chunk] = _split_chunk(chunk)
    return tokens


def rule_words(text: str) -> list[str]:
    """Word tokens as datatrove's English filters count them (spaCy's rules; see the note above)."""
    out: list[str] = []
    extend = out.extend
    cache = _RT_CACHE
    for chunk in text.split():
        tokens = cache.get(chunk)
        if tokens is None:
            tokens = chunk_tokens(chunk)
        extend(tokens)
    return out


# Unicode Sentence_Terminal characters (PropList.txt, Unicode 15.1): the set datatrove 0.10.1
# calls TERMINAL_PUNCTUATION (FineWeb's line-ending test) and, with a handful of newer code points
# that never occur in English text, the set spaCy's sentencizer ends sentences at.
_STERM_RANGES = (
    "0021 002E 003F 0589 061D-061F 06D4 0700-0702 07F9 0837 0839 083D-083E 0964-0965 104A-104B "
    "1362 1367-1368 166E 1735-1736 17D4-17D6 17D9-17DA 1803 1809 1944-1945 1AA8-1AAB 1B5A-1B5B "
    "1B5E-1B5F 1B7D-1B7E 1C3B-1C3C 1C7E-1C7F 203C-203D 2047-2049 2E2E 2E3C 2E53-2E54 3002 A4FF "
    "A60E-A60F A6F3 A6F7 A876-A877 A8CE-A8CF A92F A9C8-A9C9 AA5D-AA5F AAF0-AAF1 ABEB FE52 "
    "FE56-FE57 FF01 FF0E FF1F FF61 10A56-10A57 10F55-10F59 10F86-10F89 11047-11048 110BE-110C1 "
    "11141-11143 111C5-111C6 111CD 111DE-111DF 11238-11239 1123B-1123C 112A9 1144B-1144C "
    "115C2-115C3 115C9-115D7 11641-11642 1173C-1173E 11944 11946 11A42-11A43 11A9B-11A9C "
    "11C41-11C42 11EF7-11EF8 11F43-11F44 16A6E-16A6F 16AF5 16B37-16B38 16B44 16E98 1BC9F 1DA88"
)


def _expand_ranges(spec: str) -> frozenset[str]:
    chars = set()
    for item in spec.split():
        lo, _, hi = item.partition("-")
        chars.update(chr(cp) for cp in range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(chars)


TERMINAL_PUNCTUATION = _expand_ranges(_STERM_RANGES)
TERMINAL_PUNCTUATION_TUPLE = tuple(sorted(TERMINAL_PUNCTUATION))


def _is_punct_token(token: str) -> bool:
    import unicodedata as ud

    return all(ud.category(ch).startswith("P") for ch in token)


# Per chunk: (tokens, (sentence starts, state) after the chunk when entered without / with a
# pending sentence terminal). The sentencizer is a two-state machine, so a chunk's effect is
# known once for both states and reused.
_SENT_CACHE: dict[str, tuple[int, int, bool, int, bool]] = {}


def _chunk_sentence_effect(chunk: str) -> tuple[int, int, bool, int, bool]:
    effect = _SENT_CACHE.get(chunk)
    if effect is None:
        tokens = chunk_tokens(chunk)
        result = [len(tokens)]
        for seen in (False, True):
            starts = 0
            for token in tokens:
                is_terminal = token in TERMINAL_PUNCTUATION
                if seen and not is_terminal and not _is_punct_token(token):
                    starts += 1
                    seen = False
                elif is_terminal:
                    seen = True
            result += [starts, seen]
        if len(_SENT_CACHE) >= _RT_CACHE_MAX:
            _SENT_CACHE.clear()
        effect = _SENT_CACHE[chunk] = tuple(result)
    return effect


_WS_RUN_RE = re.compile(r"(\s+)")


def line_words_and_sentences(text: str) -> tuple[int, int]:
    """(number of `rule_words`, `sentence_count`) of a text, in one pass."""
    if not text:
        return 0, 0
    chunks = text.split()
    if len(chunks) - 1 + sum(map(len, chunks)) == len(text):
        pieces = chunks  # single spaces only (the usual line): no whitespace tokens
    else:
        pieces = [p for p in _WS_RUN_RE.split(text) if p]
    words = 0
    starts = 1
    seen = False
    get = _SENT_CACHE.get
    for piece in pieces:
        if piece[0].isspace():
            # spaCy: a run of whitespace other than one space is a token of its own (its first
            # space, if any, belongs to the previous token); it is not punctuation.
            if piece != " " and seen and (piece[1:] if piece[0] == " " else piece):
                starts += 1
                seen = False
            continue
        effect = get(piece) or _chunk_sentence_effect(piece)
        words += effect[0]
        if seen:
            starts += effect[3]
            seen = effect[4]
        else:
            starts += effect[1]
            seen = effect[2]
    return words, starts


def sentence_count(text: str) -> int:
    """Sentences as spaCy's sentencizer counts them on `rule_words` tokens (datatrove's C4 count).

    A sentence starts at the first token, and at the first token after a sentence-terminal token
    ("." "!" "?" ...) that is neither punctuation nor terminal; a run of whitespace other than a
    single space is a token of its own there, as in spaCy.
    """
    return line_words_and_sentences(text)[1]
