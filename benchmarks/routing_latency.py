"""Latency of the Avengers router (arXiv 2505.19797): per-query routing time with and without embedding.

Synthesises calibration records (random questions drawn from a few topic vocabularies, random
per-topic correctness for a 22-model pool), calibrates with MiniLM on the CPU at K=64, then times

- ``route_embedding`` on pre-computed vectors (embedding excluded: normalise, faiss search, scoring);
- ``route`` on raw text (embedding included: one MiniLM forward pass per query, as a system would);

and prints mean / p50 / p95 in milliseconds for each, for top_k=1 (paper) and top_k=3 (soft rule).

    python benchmarks/routing_latency.py [--records 10000] [--k 64] [--queries 1000] [--text-queries 100]
                                         [--cache .cache/bench_embeddings.sqlite]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from maslab.routers.avengers import CalibrationRecord, Router, calibrate
from maslab.routers.embeddings import CachedEmbedder, SentenceTransformerEmbedder

TOPICS = {
    "math": "integral derivative polynomial matrix eigenvalue prime theorem equation fraction geometry "
            "triangle probability limit sequence logarithm",
    "code": "function python loop recursion array compile bug variable string parser class pointer "
            "algorithm return thread",
    "medicine": "patient diagnosis symptom antibiotic dosage surgery vaccine tumor infection clinical "
                "cardiology therapy blood enzyme fracture",
    "finance": "interest revenue dividend portfolio inflation bond equity margin liquidity asset "
               "cashflow valuation tax audit profit",
    "law": "contract plaintiff statute court appeal liability verdict tort jurisdiction attorney "
           "defendant precedent clause evidence lawsuit",
    "emotion": "friend angry happy sad surprised conversation dialogue joke argument apology party "
               "feeling tone sarcasm relief",
    "science": "atom molecule photon gravity energy reaction electron velocity climate cell evolution "
               "magnet circuit wave fossil",
}
GLUE = "what why how which explain compute find describe given the a of in with for and when".split()
POOL = [f"M{i:02d}" for i in range(1, 23)]


def synth_question(rng: np.random.Generator, topic: str) -> str:
    vocab = TOPICS[topic].split()
    words = list(rng.choice(vocab, size=int(rng.integers(5, 9)))) + list(rng.choice(GLUE, size=4))
    rng.shuffle(words)
    return " ".join(words).capitalize() + "?"


def synth_records(n: int, seed: int) -> list[CalibrationRecord]:
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    skill = {t: rng.uniform(0.1, 0.9, size=len(POOL)) for t in topics}
    out = []
    for i in range(n):
        t = topics[i % len(topics)]
        correct = rng.random(len(POOL)) < skill[t]
        out.append(CalibrationRecord(query=synth_question(rng, t), dataset=t,
                                     records={m: bool(c) for m, c in zip(POOL, correct, strict=True)}))
    return out


def summary(label: str, seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return (f"{label:<44} n={len(ms):>5}  mean {ms.mean():8.3f} ms  p50 {np.percentile(ms, 50):8.3f} ms  "
            f"p95 {np.percentile(ms, 95):8.3f} ms")


def time_calls(fn, items) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000, help="held-out queries routed from pre-computed vectors")
    ap.add_argument("--text-queries", type=int, default=100, help="held-out queries routed from text")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cache", default=None, help="SQLite embedding cache to reuse between runs")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    records = synth_records(args.records, args.seed)
    minilm = SentenceTransformerEmbedder()
    embedder = CachedEmbedder(minilm, args.cache) if args.cache else minilm
    t0 = time.perf_counter()
    minilm.embed(["warm-up"])
    print(f"MiniLM loaded in {time.perf_counter() - t0:.1f} s (CPU, {os.cpu_count()} cores)")

    t0 = time.perf_counter()
    router: Router = calibrate(records, embedder, k=args.k, seed=args.seed, n_models=10)
    print(f"calibrated {len(records)} records, K={router.k}, dim={router.dim} in {time.perf_counter() - t0:.1f} s "
          f"(embedding included); selected {router.selected_models}")

    # route text through MiniLM itself, never through the cache, so "embedding included" is honest
    router = Router(router.centres, router.rankings, router.models, router.normalizer, router.config, embedder=minilm)

    rng = np.random.default_rng(args.seed + 1)
    topics = list(TOPICS)
    n = max(args.queries, args.text_queries)
    held_out = [synth_question(rng, topics[i % len(topics)]) for i in range(n)]
    t0 = time.perf_counter()
    vectors = minilm.embed(held_out[:args.queries])
    batch_s = time.perf_counter() - t0
    print(f"embedded {len(vectors)} held-out queries in one batch: {1e3 * batch_s / len(vectors):.3f} ms/query")

    for v in vectors[:20]:  # warm-up: faiss index, sklearn validation paths
        router.route_embedding(v)
    print(summary("route_embedding top_k=1 (embedding excluded)", time_calls(router.route_embedding, vectors)))
    print(summary("route_embedding top_k=3 (embedding excluded)",
                  time_calls(lambda v: router.route_embedding(v, top_k=3, top_n=2), vectors)))
    texts = held_out[:args.text_queries]
    print(summary("route top_k=1 (MiniLM embedding included)", time_calls(router.route, texts)))
    print(summary("route top_k=3 (MiniLM embedding included)",
                  time_calls(lambda q: router.route(q, top_k=3, top_n=2), texts)))


if __name__ == "__main__":
    main()
