"""Offline lexical retrieval: BM25 (bm25s) fused by reciprocal rank with an LSA embedding — the one copy.

`HybridIndex(texts)` ranks documents for a query: BM25 over the texts' tokens (bm25s), fused by
reciprocal rank (k = 60) with the cosine ranking of a TF-IDF + TruncatedSVD (latent semantic
analysis) embedding fitted on the same texts (scikit-learn; `embedding=False` turns it off).
The default tokens are bm25s's (English stop words, no stemming); `tokenizer=multilingual_tokens`
also reads Chinese, Japanese and Korean, as overlapping character bigrams (CJK text has no spaces,
so bm25s's word regex would make a whole sentence one token).

Used by Manalyzer's paper corpus (`maslab.tools.papers`) and LAD's local web (`maslab.tools.local_web`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from maslab.errors import ConfigError

__all__ = ["RRF_K", "HybridIndex", "multilingual_tokens", "reciprocal_rank_fusion"]

RRF_K = 60
Tokenizer = Callable[[str], list[str]]


def _require(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"the Python package {module!r} is missing: pip install 'maslab[{extra}]'") from None


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[int]:
    """Items ordered by Σ 1/(k + rank) over the rankings (rank 1 = first); ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_CJK_RUN = re.compile(rf"[{_CJK}]+")


def multilingual_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without English stop words; CJK runs as overlapping character bigrams
    (a one-character run stays a unigram): "Paul Revere's 骑行" → paul, revere, 骑行."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if _CJK_RUN.fullmatch(tok):
            out.extend([tok] if len(tok) == 1 else [tok[i:i + 2] for i in range(len(tok) - 1)])
        elif len(tok) > 1 and tok not in ENGLISH_STOP_WORDS:
            out.append(tok)
    return out


class HybridIndex:
    """BM25 over `texts`, fused by reciprocal rank with an LSA embedding (see the module docstring)."""

    def __init__(self, texts: Sequence[str], *, tokenizer: Tokenizer | None = None, embedding: bool = True,
                 svd_dims: int = 64, extra: str = "manalyzer") -> None:
        self._bm25s = _require("bm25s", extra)
        self.tokenizer = tokenizer
        self.size = len(texts)
        self._bm25 = self._bm25s.BM25()
        if tokenizer is None:
            corpus: Any = self._bm25s.tokenize(list(texts), stopwords="en", show_progress=False)
        else:
            corpus = [tokenizer(t) or [""] for t in texts]
        self._bm25.index(corpus, show_progress=False)
        self._vocab = set(self._bm25.vocab_dict) if tokenizer is not None else None
        self._embed = _SvdEmbedding(texts, svd_dims, tokenizer) if embedding and len(texts) >= 3 else None

    def __len__(self) -> int:
        return self.size

    def bm25_rank(self, query: str) -> list[int]:
        """Indices of the texts sharing a token with `query`, by BM25 score, best first."""
        if self.tokenizer is None:
            tokens = self._bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
            tokens = tokens[0] if tokens else []
        else:
            tokens = [t for t in self.tokenizer(query) if self._vocab is not None and t in self._vocab]
        if not tokens:
            return []
        docs, scores = self._bm25.retrieve([tokens], k=self.size, show_progress=False)
        return [int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def rank(self, query: str) -> list[int]:
        """Indices of the texts related to `query`, best first (BM25, fused with the embedding)."""
        bm25 = self.bm25_rank(query)
        if self._embed is None:
            return bm25
        return reciprocal_rank_fusion([bm25, self._embed.rank(query)])


class _SvdEmbedding:
    """TF-IDF + TruncatedSVD (latent semantic) vectors, cosine-ranked."""

    def __init__(self, texts: Sequence[str], dims: int, tokenizer: Tokenizer | None) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        self._tfidf = (TfidfVectorizer(stop_words="english", sublinear_tf=True) if tokenizer is None
                       else TfidfVectorizer(analyzer=tokenizer, sublinear_tf=True))
        matrix = self._tfidf.fit_transform(list(texts))
        components = max(1, min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1))
        self._svd = TruncatedSVD(n_components=components, random_state=0)
        self._docs = normalize(self._svd.fit_transform(matrix))
        self._normalize = normalize

    def rank(self, query: str) -> list[int]:
        vec = self._normalize(self._svd.transform(self._tfidf.transform([query])))
        sims = (self._docs @ vec.T).ravel()
        order = sorted(range(len(sims)), key=lambda i: -sims[i])
        return [i for i in order if sims[i] > 0]
