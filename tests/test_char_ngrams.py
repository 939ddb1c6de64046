"""The cached char_wb transform gives scikit-learn's numbers exactly."""

from __future__ import annotations

import numpy as np
from conftest import labelled_records
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.classifiers.char_ngrams import CharWbTransform
from pipeline.classifiers.sklearn_backends import CHAR_PARAMS

TEXTS = [r["text"] for r in labelled_records(3)]
VECTORIZER = TfidfVectorizer(**dict(CHAR_PARAMS, min_df=1)).fit(TEXTS)
FAST = CharWbTransform(VECTORIZER)


def same(texts):
    expected = VECTORIZER.transform(texts).toarray()
    got = FAST.transform(texts).toarray()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_known_edge_cases():
    same(TEXTS + ["", "   ", "a", "I", "Über  tab\tsep\u2028x", "THE COUNCIL", "ab" * 40, "x  y\n\nz"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("abcdeilnortu .,'\t\nÉé"), max_size=40), min_size=1, max_size=6))
def test_random_text(texts):
    same(texts)
    same(texts)  # second time from the word cache
