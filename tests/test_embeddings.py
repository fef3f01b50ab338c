"""Embedders: the offline MiniLM, an OpenAI-compatible endpoint (with a transient fault) and the disk cache."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from maslab.routers.embeddings import (
    CachedEmbedder,
    Embedder,
    EmbeddingError,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    embedder_from_spec,
)


def fake_vector(text: str, dim: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255.0 for b in digest[:dim]]


class CountingEmbedder:
    name = "counting"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen.append(list(texts))
        return np.asarray([fake_vector(t) for t in texts], dtype=np.float64)


# --------------------------------------------------------------------------- fake /embeddings server


class FakeEmbeddingsServer:
    """A local OpenAI-style /embeddings endpoint; `fail_with` lists status codes for the first requests."""

    def __init__(self, fail_with: list[int] | None = None) -> None:
        self.fail_with = list(fail_with or [])
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.auth.append(self.headers.get("Authorization"))
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": "not found"})
                if outer.fail_with:
                    return self._send(outer.fail_with.pop(0), {"error": "injected fault"})
                data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)}
                        for i, t in enumerate(body["input"])]
                data.reverse()  # servers may answer out of order; `index` says where each belongs
                self._send(200, {"object": "list", "data": data, "model": body["model"]})

            def _send(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeEmbeddingsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_openai_embedder_batches_and_retries_a_503(monkeypatch):
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test-123")
    texts = [f"text number {i}" for i in range(250)]
    with FakeEmbeddingsServer(fail_with=[503]) as srv:
        emb = OpenAIEmbedder(srv.api_base, "gte-test", api_key_env="TEST_EMBED_KEY", backoff_min=0.01, backoff_max=0.05)
        out = emb.embed(texts)
        emb.close()
    assert out.shape == (250, 8) and out.dtype == np.float64
    np.testing.assert_allclose(out, np.asarray([fake_vector(t) for t in texts]))
    # the first batch failed once and was resent; then batches of 100, 100, 50
    assert [len(r["input"]) for r in srv.requests] == [100, 100, 100, 50]
    assert srv.requests[0] == srv.requests[1]
    assert {r["model"] for r in srv.requests} == {"gte-test"}
    assert set(srv.auth) == {"Bearer sk-test-123"}
    assert emb.retries == 1
    assert emb.describe() == {"kind": "openai", "api_base": srv.api_base, "model": "gte-test",
                              "api_key_env": "TEST_EMBED_KEY"}


def test_openai_embedder_gives_up_clearly():
    with FakeEmbeddingsServer(fail_with=[400]) as srv:
        emb = OpenAIEmbedder(srv.api_base, "gte-test", backoff_min=0.01)
        with pytest.raises(EmbeddingError, match="HTTP 400"):
            emb.embed(["a"])
        assert len(srv.requests) == 1  # a client error is not retried
        assert srv.auth == [None]
    with FakeEmbeddingsServer(fail_with=[503] * 5) as srv:
        emb = OpenAIEmbedder(srv.api_base, "gte-test", max_attempts=3, backoff_min=0.01, backoff_max=0.02)
        with pytest.raises(EmbeddingError, match="after 3 attempts"):
            emb.embed(["a", "b"])
        assert len(srv.requests) == 3
    with pytest.raises(EmbeddingError, match="MISSING_KEY_VAR"):
        OpenAIEmbedder("http://127.0.0.1:9/v1", "m", api_key_env="MISSING_KEY_VAR").embed(["a"])


# --------------------------------------------------------------------------- cache


def test_cached_embedder_embeds_each_text_once(tmp_path):
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, tmp_path / "emb.sqlite")
    first = cache.embed(["a", "b", "a"])
    assert inner.seen == [["a", "b"]]
    np.testing.assert_array_equal(first[0], first[2])
    second = cache.embed(["b", "c", "a"])
    assert inner.seen[-1] == ["c"]
    np.testing.assert_array_equal(second[0], first[1])
    assert cache.hits == 2 and cache.misses == 3  # duplicates inside one call are embedded once
    cache.close()

    reopened = CachedEmbedder(CountingEmbedder(), tmp_path / "emb.sqlite")
    again = reopened.embed(["a", "b", "c"])
    assert reopened.inner.seen == []  # everything came from disk
    np.testing.assert_array_equal(again, np.asarray([fake_vector(t) for t in "abc"]))

    other = CountingEmbedder()
    other.name = "another-model"
    CachedEmbedder(other, tmp_path / "emb.sqlite").embed(["a"])
    assert other.seen == [["a"]]  # the model name is part of the key
    assert isinstance(reopened, Embedder)


# --------------------------------------------------------------------------- MiniLM, offline


def test_minilm_loads_offline_and_embeds_semantically():
    emb = SentenceTransformerEmbedder()
    vecs = emb.embed(["The cat sat on the mat.", "A kitten is sitting on a rug.", "Interest rates rose sharply."])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float64
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.2
    assert emb.embed([]).shape == (0, 384)
    rebuilt = embedder_from_spec(emb.describe())
    assert isinstance(rebuilt, SentenceTransformerEmbedder) and rebuilt.name == emb.name
    np.testing.assert_allclose(rebuilt.embed(["The cat sat on the mat."])[0], vecs[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(EmbeddingError):
        embedder_from_spec(None)
