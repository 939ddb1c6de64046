"""Reference and scikit-learn backends: majority, lexicon, tfidf, embed.

scikit-learn parts are stored as plain arrays (safetensors) and JSON vocabularies and rebuilt
on load, so no pickle is ever written or read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ..actors.context import load_tracker, save_tracker
from ..errors import PipelineError
from ..lexicon import Lexicon
from ..records import NEUTRAL, STANCES, TARGETS, Record
from .base import Classifier, Probabilities, ProgressFn, register


def stance_labels(records: list[Record]) -> np.ndarray:
    return np.array([STANCES.index(r["stance"]) for r in records])


def target_labels(records: list[Record]) -> np.ndarray:
    return np.array([[1 if t in r.get("targets", []) else 0 for t in TARGETS] for r in records]).reshape(
        len(records), len(TARGETS)
    )


def _tracker_from_settings(settings: dict[str, Any]):
    """The document actor tracker when the backend uses actor features, else None."""
    if not settings.get("actor_features"):
        return None
    from ..actors.context import tracker_from_settings

    return tracker_from_settings(settings)


def _actor_block(records: list[Record], tracker, weight: float) -> np.ndarray:
    from ..actors.context import annotate_documents, feature_matrix

    missing = [r for r in records if "actors" not in r]
    if missing:
        annotate_documents(missing, tracker)
    return feature_matrix(records) * weight


def _lexicon_from_settings(settings: dict[str, Any]) -> Lexicon:
    if settings.get("lexicon_data"):
        return Lexicon.from_dict(settings["lexicon_data"])
    return Lexicon.load(settings["lexicon"]) if settings.get("lexicon") else Lexicon.load()


def _save_lexicon(folder: Path, lexicon: Lexicon | None) -> list[str]:
    """A copy of the lexicon inside the model folder, so the model never depends on labels/."""
    if lexicon is None:
        return []
    (folder / "lexicon.json").write_text(json.dumps(lexicon.to_dict()), encoding="utf-8")
    return ["lexicon.json"]


def _load_lexicon(folder: Path) -> Lexicon | None:
    path = folder / "lexicon.json"
    return Lexicon.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None


# ---------------------------------------------------------------------------------------------


@register
class MajorityClassifier(Classifier):
    """Predicts the training class frequencies for every sentence: the floor to beat."""

    name = "majority"
    calibrates = False

    def fit(self, records, *, seed=0, progress=None):
        counts = np.bincount(stance_labels(records), minlength=len(STANCES)).astype(float)
        self.stance_prior = counts / counts.sum()
        opinion = [r for r in records if r["stance"] != NEUTRAL]
        self.target_prior = target_labels(opinion).mean(0) if opinion else np.zeros(len(TARGETS))
        return self

    def predict_proba(self, records):
        n = len(records)
        return Probabilities(np.tile(self.stance_prior, (n, 1)), np.tile(self.target_prior, (n, 1)))

    def save_parts(self, folder: Path) -> list[str]:
        save_file({"stance_prior": self.stance_prior, "target_prior": self.target_prior},
                  str(folder / "weights.safetensors"))
        return ["weights.safetensors"]

    @classmethod
    def load_parts(cls, folder, settings):
        model = cls(settings=settings)
        arrays = load_file(str(folder / "weights.safetensors"))
        model.stance_prior, model.target_prior = arrays["stance_prior"], arrays["target_prior"]
        return model


@register
class LexiconClassifier(Classifier):
    """Rules from labels/actors.toml: a target is named by an alias; stance from cue words.

    Nothing is learned; fit only records the lexicon so the model folder is self-contained.
    """

    name = "lexicon"

    @classmethod
    def default_settings(cls):
        return {"lexicon": None, "actor_features": True, "gazetteer": None}

    def fit(self, records, *, seed=0, progress=None):
        self.lexicon = _lexicon_from_settings(self.settings)
        self.tracker = _tracker_from_settings(self.settings)
        return self

    def predict_proba(self, records):
        stance = np.zeros((len(records), len(STANCES)))
        targets = np.zeros((len(records), len(TARGETS)))
        tracker = getattr(self, "tracker", None)
        if tracker is not None:
            _actor_block(records, tracker, 1.0)  # gives every record its document context
        for i, record in enumerate(records):
            cues = self.lexicon.cue_counts(record["text"])
            mentions = self.lexicon.mentions(record["text"])
            if tracker is not None:
                # The actors in play: named here, referred to, or carried from before.
                in_play = set(record["actors"]["in_play"])
                mentions = {t: [(0, 0)] if t in in_play else [] for t in TARGETS}
            blame, defend = cues["blame"], cues["defend"]
            if cues["negators"] and blame and not defend:
                # "not to blame", "no fault of": a negated blame cue reads as defence.
                blame, defend = blame - 1, defend + 1
            score = np.array([blame, defend, 0.6]) * 1.5
            stance[i] = np.exp(score) / np.exp(score).sum()
            targets[i] = [0.9 if mentions[t] else 0.05 for t in TARGETS]
        return Probabilities(stance, targets)

    def save_parts(self, folder):
        return _save_lexicon(folder, self.lexicon) + save_tracker(folder, self.tracker)

    @classmethod
    def load_parts(cls, folder, settings):
        model = cls(settings=settings)
        model.lexicon = _load_lexicon(folder)
        model.tracker = load_tracker(folder, settings)
        return model


# ---------------------------------------------------------------------------------------------
# logistic-regression heads shared by tfidf and embed


def _fit_lr(x, y, *, c: float, seed: int) -> LogisticRegression:
    # newton-cg converges in a handful of iterations here: about 10x faster than lbfgs on
    # the tfidf features, with the same predictions (measured on the seed labels).
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed, solver="newton-cg")
    return model.fit(x, y)


class LinearHeads:
    """A multiclass stance head and one binary head per target (targets learned from the
    non-neutral sentences only: who is blamed or defended, given that someone is)."""

    def fit(self, x, records: list[Record], *, c: float, seed: int, stance_width: int | None = None) -> LinearHeads:
        """``stance_width``: the stance head reads only the first columns (the sentence's own
        features), the target heads all of them (document context decides who, not whether)."""
        y = stance_labels(records)
        present = np.unique(y)
        width = x.shape[1] if stance_width is None else stance_width
        self.stance_coef = np.zeros((len(STANCES), x.shape[1]))
        self.stance_bias = np.full(len(STANCES), -30.0)
        if len(present) == 1:
            self.stance_bias[present[0]] = 0.0
        else:
            model = _fit_lr(x[:, :width], y, c=c, seed=seed)
            coef = model.coef_ if len(present) > 2 else np.vstack([-model.coef_[0], model.coef_[0]]) / 2
            bias = model.intercept_ if len(present) > 2 else np.array([-model.intercept_[0], model.intercept_[0]]) / 2
            self.stance_coef[np.ix_(present, np.arange(width))] = coef
            self.stance_bias[present] = bias
        opinion = np.array([r["stance"] != NEUTRAL for r in records])
        ty = target_labels(records)[opinion]
        tx = x[opinion]
        self.target_coef = np.zeros((len(TARGETS), x.shape[1]))
        self.target_bias = np.full(len(TARGETS), -10.0)
        for j in range(len(TARGETS)):
            column = ty[:, j] if len(ty) else np.zeros(0)
            if column.sum() == 0:
                continue
            if column.sum() == len(column):
                self.target_bias[j] = 10.0
                continue
            model = _fit_lr(tx, column, c=c, seed=seed)
            self.target_coef[j] = model.coef_[0]
            self.target_bias[j] = model.intercept_[0]
        return self

    def predict_proba(self, x) -> Probabilities:
        logits = np.asarray(x @ self.stance_coef.T) + self.stance_bias
        logits -= logits.max(1, keepdims=True)
        stance = np.exp(logits)
        stance /= stance.sum(1, keepdims=True)
        targets = 1.0 / (1.0 + np.exp(-(np.asarray(x @ self.target_coef.T) + self.target_bias)))
        return Probabilities(stance, targets)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"stance_coef": self.stance_coef, "stance_bias": self.stance_bias,
                "target_coef": self.target_coef, "target_bias": self.target_bias}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LinearHeads:
        heads = cls()
        for key, value in arrays.items():
            setattr(heads, key, value)
        return heads


def _vectorizer_state(vectorizer: TfidfVectorizer) -> tuple[dict[str, int], np.ndarray]:
    return {k: int(v) for k, v in vectorizer.vocabulary_.items()}, vectorizer.idf_


def _rebuild_vectorizer(params: dict[str, Any], vocabulary: dict[str, int], idf: np.ndarray) -> TfidfVectorizer:
    vectorizer = TfidfVectorizer(**params, vocabulary=vocabulary)
    vectorizer.idf_ = idf
    return vectorizer


WORD_PARAMS = {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": True, "min_df": 1,
               "token_pattern": r"(?u)\b\w[\w'’]*\b"}
CHAR_PARAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "lowercase": True, "min_df": 2}


@register
class TfidfClassifier(Classifier):
    """Word 1-2 and character 2-5 n-grams (+ lexicon actor/cue features) into logistic
    regression, class-balanced. The CPU-only baseline."""

    name = "tfidf"

    @classmethod
    def default_settings(cls):
        return {"C": 4.0, "lexicon_features": True, "lexicon_weight": 0.5, "lexicon": None,
                "actor_features": True, "actor_weight": 1.0, "gazetteer": None}

    def _features(self, records):
        texts = [r["text"] for r in records]
        blocks = [self.word.transform(texts), self._char_transform().transform(texts)]
        if self.lexicon is not None:
            lex = np.array(self.lexicon.record_features(records)) * self.settings["lexicon_weight"]
            blocks.append(sparse.csr_matrix(lex))
        if getattr(self, "tracker", None) is not None:
            blocks.append(sparse.csr_matrix(_actor_block(records, self.tracker, self.settings["actor_weight"])))
        return sparse.hstack(blocks).tocsr()

    def _char_transform(self):
        """The character n-gram block through ``char_ngrams.CharWbTransform`` (same numbers,
        a per-word cache); rebuilt when ``self.char`` is refitted."""
        from .char_ngrams import CharWbTransform

        cached = self.__dict__.get("_char_fast")
        if cached is None or cached[0] is not self.char:
            cached = self.__dict__["_char_fast"] = (self.char, CharWbTransform(self.char))
        return cached[1]

    def fit(self, records, *, seed=0, progress=None):
        texts = [r["text"] for r in records]
        char_params = dict(CHAR_PARAMS, min_df=1 if len(texts) < 50 else 2)
        try:
            self.word = TfidfVectorizer(**WORD_PARAMS).fit(texts)
            self.char = TfidfVectorizer(**char_params).fit(texts)
        except ValueError as exc:  # "empty vocabulary": only blank or punctuation sentences
            raise PipelineError(f"tfidf: the {len(texts)} training sentence(s) hold no words to learn from "
                                f"({exc})") from None
        self.lexicon = _lexicon_from_settings(self.settings) if self.settings["lexicon_features"] else None
        self.tracker = _tracker_from_settings(self.settings)
        x = self._features(records)
        self.heads = LinearHeads().fit(x, records, c=self.settings["C"], seed=seed, stance_width=self._stance_width(x))
        return self

    def _stance_width(self, x) -> int:
        if self.tracker is None or self.settings.get("actor_stance", False):
            return x.shape[1]
        from ..actors.context import feature_names

        return x.shape[1] - len(feature_names())

    def predict_proba(self, records):
        if not records:
            return Probabilities.concatenate([])
        return self.heads.predict_proba(self._features(records))

    def save_parts(self, folder):
        word_vocab, word_idf = _vectorizer_state(self.word)
        char_vocab, char_idf = _vectorizer_state(self.char)
        save_file({**self.heads.arrays(), "word_idf": word_idf, "char_idf": char_idf},
                  str(folder / "weights.safetensors"))
        vocab = {"word": word_vocab, "char": char_vocab, "char_min_df": self.char.min_df}
        (folder / "vocabulary.json").write_text(json.dumps(vocab), encoding="utf-8")
        names = ["weights.safetensors", "vocabulary.json"]
        names += _save_lexicon(folder, self.lexicon)
        names += save_tracker(folder, self.tracker)
        return names

    @classmethod
    def load_parts(cls, folder, settings):
        model = cls(settings=settings)
        arrays = load_file(str(folder / "weights.safetensors"))
        vocab = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        model.word = _rebuild_vectorizer(WORD_PARAMS, vocab["word"], arrays.pop("word_idf"))
        model.char = _rebuild_vectorizer(dict(CHAR_PARAMS, min_df=vocab["char_min_df"]), vocab["char"],
                                         arrays.pop("char_idf"))
        model.heads = LinearHeads.from_arrays(arrays)
        model.lexicon = _load_lexicon(folder) if settings.get("lexicon_features", True) else None
        model.tracker = load_tracker(folder, settings)
        return model


_EMBEDDING_CACHE: dict[str, dict[str, np.ndarray]] = {}
_EMBEDDING_CACHE_LIMIT = 200_000


@register
class EmbedClassifier(Classifier):
    """Frozen encoder embeddings (mean-pooled) + lexicon features into logistic regression."""

    name = "embed"

    @classmethod
    def default_settings(cls):
        return {"C": 2.0, "base_model": None, "batch_size": 64, "lexicon_features": True,
                "lexicon_weight": 0.3, "lexicon": None, "actor_features": True, "actor_weight": 0.5,
                "gazetteer": None}

    def _load_encoder(self, folder: Path | None = None):
        from ..encoder import load_encoder, resolve_base_model, set_threads

        set_threads()
        source = folder if folder is not None else resolve_base_model(self.settings.get("base_model"))
        self.tokenizer, self.encoder = load_encoder(source)
        self.encoder.eval()
        self._source = str(Path(source).resolve())

    def _embed(self, texts: list[str], *, remember: bool) -> np.ndarray:
        """Embeddings, reusing those of training texts already encoded by the same frozen encoder.

        Cross-validation fits one model per fold on mostly the same sentences; the encoder is
        frozen, so each text needs encoding once. Only training texts are remembered (bounded),
        so streaming prediction does not grow memory.
        """
        from ..encoder import embed_texts

        cache = _EMBEDDING_CACHE.setdefault(self._source, {})
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            fresh = embed_texts(self.tokenizer, self.encoder, missing, batch_size=self.settings["batch_size"])
            if remember and len(cache) + len(missing) <= _EMBEDDING_CACHE_LIMIT:
                cache.update(zip(missing, fresh, strict=True))
            else:
                lookup = dict(zip(missing, fresh, strict=True))
                return np.stack([cache[t] if t in cache else lookup[t] for t in texts])
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, self.encoder.config.hidden_size))

    def _features(self, records: list[Record], *, remember: bool = False) -> np.ndarray:
        texts = [r["text"] for r in records]
        x = self._embed(texts, remember=remember)
        if self.lexicon is not None:
            x = np.hstack([x, np.array(self.lexicon.record_features(records)) * self.settings["lexicon_weight"]])
        if getattr(self, "tracker", None) is not None:
            x = np.hstack([x, _actor_block(records, self.tracker, self.settings["actor_weight"])])
        return x

    def fit(self, records, *, seed=0, progress: ProgressFn | None = None):
        if not hasattr(self, "encoder"):
            self._load_encoder()
        self.lexicon = _lexicon_from_settings(self.settings) if self.settings["lexicon_features"] else None
        self.tracker = _tracker_from_settings(self.settings)
        if progress:
            progress(f"embed: encoding {len(records)} sentences")
        features = self._features(records, remember=True)
        self.heads = LinearHeads().fit(features, records, c=self.settings["C"], seed=seed,
                                       stance_width=TfidfClassifier._stance_width(self, features))
        return self

    def predict_proba(self, records):
        if not records:
            return Probabilities.concatenate([])
        return self.heads.predict_proba(self._features(records))

    def save_parts(self, folder):
        from ..encoder import save_encoder

        save_file(self.heads.arrays(), str(folder / "heads.safetensors"))
        save_encoder(self.tokenizer, self.encoder, folder / "encoder")
        names = ["heads.safetensors"]
        names += _save_lexicon(folder, self.lexicon)
        names += save_tracker(folder, self.tracker)
        return names

    @classmethod
    def load_parts(cls, folder, settings):
        model = cls(settings=settings)
        model._load_encoder(folder / "encoder")
        model.heads = LinearHeads.from_arrays(load_file(str(folder / "heads.safetensors")))
        model.lexicon = _load_lexicon(folder) if settings.get("lexicon_features", True) else None
        model.tracker = load_tracker(folder, settings)
        return model
