"""scikit-learn's ``char_wb`` TF-IDF transform, the same numbers at a fraction of the time.

``char_wb`` n-grams never cross a word: a sentence's counts are the sum of its words' counts.
Words repeat (Zipf), so each distinct word's vocabulary indices are computed once and kept
in a bounded cache; a sentence then costs a lower(), a split() and a cache look-up per word
instead of a Python loop over every n-gram. Profiled on blog sentences, the character
n-grams were 70% of tfidf prediction time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

CACHE_WORDS = 200_000


class CharWbTransform:
    """``transform`` equals ``TfidfVectorizer(analyzer="char_wb", lowercase=True, norm="l2",
    sublinear_tf=..., vocabulary=..., idf_=...).transform`` (tested), for fitted vectorizers
    with no preprocessor, accent stripping or custom analyzer."""

    def __init__(self, vectorizer):
        assert vectorizer.analyzer == "char_wb" and vectorizer.lowercase and vectorizer.norm == "l2"
        assert vectorizer.preprocessor is None and not vectorizer.strip_accents
        self.vocabulary = getattr(vectorizer, "vocabulary_", None) or vectorizer.vocabulary
        self.min_n, self.max_n = vectorizer.ngram_range
        self.sublinear = vectorizer.sublinear_tf
        self.idf = vectorizer.idf_ if vectorizer.use_idf else None
        self.n_features = len(self.vocabulary)
        self.dtype = vectorizer.dtype
        self._cache: dict[str, list[int]] = {}

    def _word(self, word: str) -> list[int]:
        """Vocabulary indices of the word's n-grams (repeats kept), as sklearn's _char_wb_ngrams."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        padded = f" {word} "
        length = len(padded)
        vocabulary = self.vocabulary
        found = []
        for n in range(self.min_n, self.max_n + 1):
            if length <= n:  # a short word counts once, whole, and ends the word
                index = vocabulary.get(padded)
                if index is not None:
                    found.append(index)
                break
            for start in range(length - n + 1):
                index = vocabulary.get(padded[start : start + n])
                if index is not None:
                    found.append(index)
        if len(self._cache) >= CACHE_WORDS:
            self._cache.clear()
        self._cache[word] = found
        return found

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indices: list[int] = []
        indptr = [0]
        word = self._word
        for text in texts:
            for token in text.lower().split():
                indices.extend(word(token))
            indptr.append(len(indices))
        matrix = sparse.csr_matrix(
            (np.ones(len(indices), dtype=self.dtype), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(texts), self.n_features),
        )
        matrix.sum_duplicates()
        matrix = matrix.astype(np.float64)
        if self.sublinear:
            np.log(matrix.data, matrix.data)
            matrix.data += 1.0
        if self.idf is not None:
            matrix.data *= self.idf[matrix.indices]
        counts = np.diff(matrix.indptr)
        row_of = np.repeat(np.arange(len(texts)), counts)
        norms = np.sqrt(np.bincount(row_of, weights=matrix.data ** 2, minlength=len(texts)))
        norms[norms == 0] = 1.0  # an empty row stays empty, as sklearn's normalize leaves it
        matrix.data /= norms[row_of]
        return matrix
