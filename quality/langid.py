"""Language identification with fastText's `lid.176.ftz` (bundled; see quality/models/README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quality.rules import Rule

MODEL_PATH = Path(__file__).resolve().parent / "models" / "lid.176.ftz"
# FineWeb keeps English documents whose fastText language score is at least 0.65
# (datatrove LanguageFilter default `language_threshold=0.65`).
MIN_LANGUAGE_SCORE = 0.65
# fastText scores the whole document as one line; very long documents add no information and
# cost time, so only the first characters are scored (CCNet scores whole paragraphs; FineWeb the
# whole text). 100k characters is far above where the label stops changing in practice.
MAX_CHARS_SCORED = 100_000
SIGNALS = ("lang", "lang_score")  # what the annotate stage records from `LanguageIdentifier.predict`
SOURCE = "FineWeb; datatrove LanguageFilter(language_threshold=0.65)"


def language_rules(languages: Sequence[str] = ("en",), min_score: float | None = None) -> tuple[Rule, ...]:
    """Keep the given languages at a fastText score of at least `min_score` (FineWeb's 0.65)."""
    score = MIN_LANGUAGE_SCORE if min_score is None else min_score
    return (Rule("lang", "lang", allowed=tuple(languages), source=SOURCE),
            Rule("lang_score", "lang_score", min=score, source=SOURCE))


class LanguageIdentifier:
    """Labels texts with (language code, score). Loads the model lazily, once per process."""

    def __init__(self, model_path: str | Path = MODEL_PATH):
        self.model_path = str(model_path)
        self._model = None

    def _load(self):
        if self._model is None:
            import fasttext  # fasttext-community; imported here so quality/ imports stay light

            self._model = fasttext.load_model(self.model_path)
        return self._model

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        model = self._load()
        prepared = [t[:MAX_CHARS_SCORED].replace("\n", " ") for t in texts]
        labels, scores = model.predict(prepared, k=1)
        out = []
        for label, score in zip(labels, scores):
            lang = label[0].removeprefix("__label__") if label else "unknown"
            out.append((lang, float(np.asarray(score).reshape(-1)[0]) if len(score) else 0.0))
        return out
