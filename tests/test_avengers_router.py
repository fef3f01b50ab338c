"""Avengers router (arXiv 2505.19797): records, calibration, selection, routing rules and artefacts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from maslab.routers.avengers import (
    CalibrationRecord,
    ClusterStats,
    RecordsError,
    Router,
    RouterConfig,
    RouterError,
    calibrate,
    cluster_rankings,
    load_records,
    records_from_store,
    select_models,
    split_records,
)

# --------------------------------------------------------------------------- helpers


class HashEmbedder:
    """A fake embedder: a deterministic pseudo-random vector per text."""

    name = "hash-embedder"

    def __init__(self, dim: int = 12) -> None:
        self.dim = dim
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.md5(t.encode()).digest()[:8], "little")
            rows.append(np.random.default_rng(seed).normal(size=self.dim))
        return np.asarray(rows, dtype=np.float64)


MODELS = ["M01", "M02", "M03", "M04", "M05", "M06", "M07"]


def random_records(n: int = 400, seed: int = 0) -> list[CalibrationRecord]:
    rng = np.random.default_rng(seed)
    return [
        CalibrationRecord(query=f"query {i} {rng.integers(1_000_000)}", dataset=f"ds{i % 3}",
                          records={m: bool(rng.random() < 0.2 + 0.08 * j) for j, m in enumerate(MODELS)})
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def random_router() -> Router:
    return calibrate(random_records(), HashEmbedder(), k=10, seed=7, n_models=len(MODELS))


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def soft_scores(router: Router, vec: np.ndarray, top_k: int, beta: float, candidates: list[str],
                default_rank: int = 999) -> dict[str, float]:
    """The spec §3 formula computed directly with numpy, independent of Router.route."""
    q = unit(vec)
    d = 1.0 - router.centres @ q
    chosen = np.argsort(d, kind="stable")[:top_k]
    logits = -beta * d[chosen]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    s: dict[str, float] = {}
    for c, pc in zip(chosen, p, strict=True):
        ranking = router.rankings[int(c)].ranking
        for m in candidates:
            if m in ranking:
                s[m] = s.get(m, 0.0) + pc / (ranking.index(m) + 0.1)
    for m in candidates:
        s.setdefault(m, 1.0 / default_rank)
    return s


# --------------------------------------------------------------------------- acceptance: topic recovery with MiniLM

TOPICS = {
    "astronomy": ["galaxy", "nebula", "telescope", "orbit", "comet", "supernova", "planet", "asteroid",
                  "quasar", "redshift", "black hole", "star cluster"],
    "cooking": ["recipe", "oven", "garlic", "simmer", "dough", "saucepan", "butter", "roast chicken",
                "spice blend", "whisk", "pastry", "marinade"],
    "law": ["contract", "plaintiff", "statute", "court ruling", "appeal", "liability", "verdict", "tort",
            "jurisdiction", "attorney", "defendant", "legal precedent"],
    "medicine": ["diagnosis", "symptom", "antibiotic", "patient", "surgery", "vaccine", "dosage", "tumor",
                 "cardiology", "infection", "blood pressure", "clinical trial"],
}
BEST = {"astronomy": "M2", "cooking": "M4", "law": "M1", "medicine": "M5"}
POOL = ["M1", "M2", "M3", "M4", "M5", "M6"]
TEMPLATES = {
    "astronomy": ["In astronomy, how does the {a} affect the {b} near the {c}?",
                  "An astronomer observes a {a}: what does it reveal about the {b} and the {c}?"],
    "cooking": ["In the kitchen, how should the {a} be combined with the {b} and the {c}?",
                "A chef is preparing a dish: why add the {a} before the {b} and the {c}?"],
    "law": ["Under the law, how does the {a} affect the {b} and the {c}?",
            "A lawyer reviews the case: what role do the {a}, the {b} and the {c} play?"],
    "medicine": ["In clinical medicine, how does the {a} relate to the {b} and the {c}?",
                 "A doctor examines a patient: what do the {a}, the {b} and the {c} indicate?"],
}


def topic_question(rng: np.random.Generator, topic: str) -> str:
    a, b, c = rng.choice(TOPICS[topic], size=3, replace=False)
    return str(rng.choice(TEMPLATES[topic])).format(a=a, b=b, c=c)


def topic_records(rng: np.random.Generator, per_topic: int) -> list[CalibrationRecord]:
    out = []
    for _ in range(per_topic):
        for topic, best in BEST.items():
            correct = {m: bool(rng.random() < (0.95 if m == best else 0.3)) for m in POOL}
            out.append(CalibrationRecord(query=topic_question(rng, topic), dataset=topic, records=correct))
    return out


class Memo:
    """Remembers vectors so the test can re-read calibration embeddings without recomputing them."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: dict[str, np.ndarray] = {}

    def describe(self) -> dict:
        return self.inner.describe()

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            self.seen.update(zip(todo, self.inner.embed(todo), strict=True))
        return np.asarray([self.seen[t] for t in texts])


@pytest.fixture(scope="module")
def minilm():
    from maslab.routers.embeddings import SentenceTransformerEmbedder

    return Memo(SentenceTransformerEmbedder())


def test_calibration_recovers_the_best_model_of_every_topic(minilm, tmp_path):
    rng = np.random.default_rng(2025)
    calib = topic_records(rng, per_topic=20)
    # K a little above the number of topics: k-means++ with n_init="auto" (one start) can merge two
    # topics when K equals their number; extra clusters only split a topic.
    router = calibrate(calib, minilm, k=len(TOPICS) + 2, seed=42, n_models=len(POOL))
    # label each cluster with the majority topic of its calibration members
    x = router.normalizer.transform(minilm.embed([r.query for r in calib]))
    assign = np.argmin(1.0 - x @ router.centres.T, axis=1)
    topic_of: dict[int, str] = {}
    for c in range(router.k):
        members = [calib[i].dataset for i in np.flatnonzero(assign == c)]
        assert members, f"cluster {c} is empty"
        majority, count = max(((t, members.count(t)) for t in TOPICS), key=lambda tc: tc[1])
        assert count / len(members) > 0.9, f"cluster {c} mixes topics: {members}"
        topic_of[c] = majority
    assert set(topic_of.values()) == set(TOPICS), "every topic should own a cluster"
    for c, topic in topic_of.items():
        assert router.rankings[c].ranking[0] == BEST[topic]

    held_out = [(topic, topic_question(rng, topic)) for _ in range(5) for topic in TOPICS]
    held_out = [(t, q) for t, q in held_out if q not in {r.query for r in calib}]
    assert len(held_out) >= 12
    for topic, question in held_out:
        route = router.route(question)
        assert route.models == [BEST[topic]], (topic, question, route)
        assert route.clusters[0].probability == pytest.approx(1.0)
    # a saved router rebuilds its MiniLM embedder from config.json and routes identically
    reloaded = Router.load(router.save(tmp_path / "minilm-router"))
    assert reloaded.config.embedder_spec == {"kind": "sentence-transformers", "model": minilm.name}
    for _, question in held_out[:4]:
        assert reloaded.route(question, top_k=2, top_n=3) == router.route(question, top_k=2, top_n=3)
    # restricting the candidates falls back to the next-best available model, never a missing one
    others = [m for m in POOL if m != BEST["law"]]
    law_q = next(q for t, q in held_out if t == "law")
    assert router.route(law_q, available_models=others).models[0] in others


# --------------------------------------------------------------------------- routing rules


@pytest.mark.parametrize("beta", [0.1, 3.0, 6.0, 50.0])
def test_top_k_1_is_nearest_centroid_then_its_ranking(random_router, beta):
    rng = np.random.default_rng(int(beta * 10))
    for _ in range(60):
        vec = rng.normal(size=random_router.dim)
        top_n = int(rng.integers(1, 5))
        q = unit(vec)
        nearest = int(np.argmin(1.0 - random_router.centres @ q))
        route = random_router.route_embedding(vec, top_k=1, top_n=top_n, beta=beta)
        assert [h.cluster for h in route.clusters] == [nearest]
        assert route.models == random_router.rankings[nearest].ranking[:top_n]
        # with a restricted candidate set: the ranking filtered to the candidates
        subset = list(rng.choice(MODELS, size=3, replace=False))
        r2 = random_router.route_embedding(vec, top_k=1, top_n=2, beta=beta, available_models=subset)
        assert r2.models == [m for m in random_router.rankings[nearest].ranking if m in subset][:2]


def test_euclidean_distance_uses_the_kmeans_assignment():
    router = calibrate(random_records(200, seed=3), HashEmbedder(), k=8, seed=1, distance="euclidean",
                       n_models=len(MODELS))
    rng = np.random.default_rng(5)
    for _ in range(40):
        vec = rng.normal(size=router.dim)
        q = unit(vec)
        nearest = int(np.argmin(np.linalg.norm(router.centres - q, axis=1)))
        route = router.route_embedding(vec, top_n=3)
        assert route.clusters[0].cluster == nearest
        assert route.models == router.rankings[nearest].ranking[:3]
        assert route.clusters[0].distance == pytest.approx(0.5 * np.sum((router.centres[nearest] - q) ** 2))


@pytest.mark.parametrize(("top_k", "beta"), [(2, 3.0), (3, 6.0), (5, 0.5), (10, 3.0)])
def test_soft_rule_matches_the_spec_formula(random_router, top_k, beta):
    rng = np.random.default_rng(top_k)
    for _ in range(25):
        vec = rng.normal(size=random_router.dim)
        route = random_router.route_embedding(vec, top_k=top_k, top_n=len(MODELS), beta=beta)
        expected = soft_scores(random_router, vec, top_k, beta, random_router.selected_models)
        assert set(route.scores) == set(expected)
        for m, s in expected.items():
            assert route.scores[m] == pytest.approx(s, rel=1e-9)
        assert route.models == sorted(expected, key=lambda m: -expected[m])
        assert sum(h.probability for h in route.clusters) == pytest.approx(1.0)
        assert len(route.clusters) == top_k


def _hand_router(rankings: dict[int, list[str]], centres: np.ndarray, selected: list[str]) -> Router:
    from sklearn.preprocessing import Normalizer

    stats = {c: ClusterStats(total=1, ranking=r) for c, r in rankings.items()}
    models = {m: f"name-{m}" for m in ["A", "B", "C", "D"]}
    config = RouterConfig(k=len(rankings), requested_k=len(rankings), seed=0, embedder="none",
                          selected_models=selected, dim=centres.shape[1], n_records=0)
    return Router(centres, stats, models, Normalizer().fit(centres), config)


def test_soft_rule_partial_rankings_default_rank_and_ties():
    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]) * 0.9
    router = _hand_router({0: ["A", "B"], 1: ["B"], 2: ["C", "D"]}, centres, ["A", "B", "C", "D"])
    vec = np.array([1.0, 1.0])  # equidistant from clusters 0 and 1
    route = router.route_embedding(vec, top_k=2, top_n=4, beta=3.0, default_rank=50)
    p = 0.5
    assert route.scores["A"] == pytest.approx(p / 0.1)
    assert route.scores["B"] == pytest.approx(p / 1.1 + p / 0.1)
    assert route.scores["C"] == route.scores["D"] == pytest.approx(1 / 50)
    assert route.models == ["B", "A", "C", "D"]  # C/D tie: candidate order
    assert route.names[0] == "name-B"
    by_name = router.route_embedding(vec, top_k=2, top_n=2, available_models=["name-C", "A"])
    assert by_name.models == ["A", "C"] and by_name.names == ["name-A", "name-C"]
    expected = soft_scores(router, vec, 2, 3.0, ["A", "B", "C", "D"], default_rank=50)
    assert route.scores == pytest.approx(expected)
    # ties between clusters' contributions keep first-seen order (nearest cluster first)
    tie = _hand_router({0: ["A", "B"], 1: ["B", "A"], 2: ["C", "D"]}, centres, ["A", "B", "C", "D"])
    r = tie.route_embedding(vec, top_k=2, top_n=2)
    assert r.scores["A"] == pytest.approx(r.scores["B"])
    assert r.models == [tie.rankings[r.clusters[0].cluster].ranking[0], tie.rankings[r.clusters[1].cluster].ranking[0]]


def test_routing_normalisation_equals_the_persisted_normalizer(random_router):
    rng = np.random.default_rng(1)
    for scale in (1e-3, 1.0, 1e4):
        vec = rng.normal(size=random_router.dim) * scale
        expected = random_router.normalizer.transform(vec[None, :])[0]
        assert np.array_equal(random_router._normalise(vec), expected)
    zero = np.zeros(random_router.dim)
    assert np.array_equal(random_router._normalise(zero), random_router.normalizer.transform(zero[None, :])[0])


def test_available_models_validation(random_router):
    vec = np.ones(random_router.dim)
    with pytest.raises(RouterError, match="not in the router's id map"):
        random_router.route_embedding(vec, available_models=["M01", "gpt-9"])
    by_name = random_router.route_embedding(vec, available_models=["M03", "M05"], top_n=2)
    assert set(by_name.models) == {"M03", "M05"}
    with pytest.raises(RouterError, match="dimension"):
        random_router.route_embedding(np.ones(random_router.dim + 1))


async def test_aroute_matches_route(random_router):
    got = await random_router.aroute("an async question", top_k=2, top_n=2)
    assert got == random_router.route("an async question", top_k=2, top_n=2)


def test_explain_adds_cluster_tables(random_router):
    exp = random_router.explain("what is the answer?", top_k=3, top_n=2)
    route = random_router.route("what is the answer?", top_k=3, top_n=2)
    assert exp.models == route.models and exp.clusters == route.clusters
    assert [t.cluster for t in exp.tables] == [h.cluster for h in route.clusters]
    for t in exp.tables:
        assert t.ranking == random_router.rankings[t.cluster].ranking
        assert sum(s.total for s in t.scores.values()) == t.total * len(MODELS)


# --------------------------------------------------------------------------- ranking and selection


def test_cluster_ranking_is_stable_on_ties():
    # first-appearance order qwen, llama, gemma is neither alphabetical nor reverse-alphabetical
    recs = [
        CalibrationRecord(query="a", dataset="d", records={"qwen": True, "llama": True, "gemma": False}),
        CalibrationRecord(query="b", dataset="d", records={"gemma": True, "llama": False, "qwen": False}),
        CalibrationRecord(query="c", dataset="d", records={"gemma": True, "qwen": True, "llama": False}),
        CalibrationRecord(query="e", dataset="d", records={"llama": True, "gemma": True, "qwen": True}),
    ]
    r = cluster_rankings([0, 0, 1, 1], recs, 2)
    # cluster 0: every model 1/2 -> first-appearance order
    assert r[0].ranking == ["qwen", "llama", "gemma"]
    assert r[0].scores["llama"].correct == 1 and r[0].scores["llama"].total == 2
    assert r[0].total == 2
    # cluster 1: qwen 1.0, gemma 1.0, llama 0.5 -> the tie keeps qwen before gemma
    assert r[1].ranking == ["qwen", "gemma", "llama"]


def _stats(rankings: list[list[str]]) -> dict[int, ClusterStats]:
    return {c: ClusterStats(total=1, ranking=r) for c, r in enumerate(rankings)}


def test_inverse_rank_sum_and_frequency_selection():
    rankings = _stats([["A", "B", "C", "D"], ["D", "C", "B", "A"], ["B", "C", "A", "D"]])
    # s(A)=1+1/4+1/3=1.583, s(B)=1/2+1/3+1=1.833, s(C)=1/3+1/2+1/2=1.333, s(D)=1/4+1+1/4=1.5
    assert select_models(rankings, 2, "inverse_rank_sum") == ["B", "A"]
    assert select_models(rankings, 3, "inverse_rank_sum") == ["B", "A", "D"]
    # frequency: top-1 counts A, D, B (one each, first-seen order), then the top-2 counter adds C
    assert select_models(rankings, 2, "frequency") == ["A", "D"]
    assert select_models(rankings, 4, "frequency") == ["A", "D", "B", "C"]
    # fill in id order when top-1/top-2 run out
    few = _stats([["B", "A", "D", "C"], ["B", "A", "C", "D"], ["A", "B", "C", "D"]])
    assert select_models(few, 4, "frequency") == ["B", "A", "C", "D"]
    assert select_models(few, 1, "frequency") == ["B"]
    with pytest.raises(ValueError):
        select_models(few, 2, "elo")  # type: ignore[arg-type]


def test_calibrate_selection_is_used_for_routing():
    router = calibrate(random_records(300, seed=9), HashEmbedder(), k=6, seed=3, n_models=3)
    assert len(router.selected_models) == 3
    rng = np.random.default_rng(0)
    for _ in range(20):
        route = router.route_embedding(rng.normal(size=router.dim), top_k=2, top_n=3)
        assert set(route.models) <= set(router.selected_models)


# --------------------------------------------------------------------------- determinism, clamping, artefacts


def test_same_seed_gives_byte_identical_artefacts(tmp_path):
    recs = random_records(250, seed=4)
    a = calibrate(recs, HashEmbedder(), k=8, seed=42).save(tmp_path / "a", heatmap=False)
    b = calibrate(recs, HashEmbedder(), k=8, seed=42).save(tmp_path / "b", heatmap=False)
    c = calibrate(recs, HashEmbedder(), k=8, seed=999).save(tmp_path / "c", heatmap=False)
    for name in ("centres.npy", "rankings.json", "models.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "centres.npy").read_bytes() != (c / "centres.npy").read_bytes()


def test_split_records_is_per_dataset_and_seeded():
    recs = random_records(100, seed=1)
    cal, test = split_records(recs, seed=42)
    cal2, test2 = split_records(recs, seed=42)
    _, test3 = split_records(recs, seed=2024)
    assert [r.query for r in test] == [r.query for r in test2]
    assert [r.query for r in test] != [r.query for r in test3]
    assert len(cal) + len(test) == 100 and not {r.query for r in cal} & {r.query for r in test}
    for ds in ("ds0", "ds1", "ds2"):
        n = sum(r.dataset == ds for r in recs)
        assert sum(r.dataset == ds for r in test) == -(-3 * n // 10)


def test_k_is_clamped_to_distinct_points():
    recs = [CalibrationRecord(query=q, dataset="d", records={"A": True, "B": i % 2 == 0})
            for i, q in enumerate(["x", "y", "z", "x", "y"])]
    with pytest.warns(RuntimeWarning, match="distinct"):
        router = calibrate(recs, HashEmbedder(), k=64)
    assert router.k == 3 and router.config.requested_k == 64
    assert sum(st.total for st in router.rankings.values()) == 5


def test_save_load_gives_identical_routes(random_router, tmp_path):
    out = random_router.save(tmp_path / "router")
    assert (out / "heatmap.png").stat().st_size > 1000
    centres = np.load(out / "centres.npy")
    assert centres.dtype == np.float64 and np.array_equal(centres, random_router.centres)
    raw = json.loads((out / "rankings.json").read_text())
    assert set(raw) == {str(c) for c in range(random_router.k)}
    entry = raw["0"]
    assert set(entry) == {"total", "scores", "ranking"}
    assert set(next(iter(entry["scores"].values()))) == {"correct", "total", "accuracy"}
    config = json.loads((out / "config.json").read_text())
    assert config["k"] == 10 and config["seed"] == 7 and config["embedder"] == "hash-embedder"

    loaded = Router.load(out, embedder=HashEmbedder())
    rng = np.random.default_rng(11)
    for i in range(30):
        kw = {"top_k": int(rng.integers(1, 5)), "top_n": int(rng.integers(1, 4)), "beta": float(rng.uniform(0.5, 8))}
        q = f"held-out question {i}"
        assert loaded.route(q, **kw) == random_router.route(q, **kw)
    # without an embedder (none can be rebuilt from this spec) only text routing fails
    bare = Router.load(out)
    vec = rng.normal(size=bare.dim)
    assert bare.route_embedding(vec, top_k=2) == random_router.route_embedding(vec, top_k=2)
    with pytest.raises(RouterError, match="embedder"):
        bare.route("needs an embedder")
    (out / "normalizer.joblib").unlink()
    with pytest.raises(RouterError, match="normalizer.joblib"):
        Router.load(out)


# --------------------------------------------------------------------------- records


def test_load_records_and_located_errors(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"query": "q1", "dataset": "MATH500", "records": {"M01": True, "M02": False}}) + "\n\n"
        + json.dumps({"query": "q2", "dataset": "GPQA", "records": {"M01": False}, "frequency": {"M01": 0.7}}) + "\n"
    )
    recs = load_records(good)
    assert [r.query for r in recs] == ["q1", "q2"]
    assert recs[0].records == {"M01": True, "M02": False} and recs[0].frequency == {}
    assert recs[1].frequency == {"M01": 0.7}

    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(good.read_text() + '{"query": "q3", "dataset": \n')
    with pytest.raises(RecordsError, match=r"bad\.jsonl:4: invalid JSON"):
        load_records(bad_json)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"query": "q", "dataset": "d", "records": {}}) + "\n"
                       + json.dumps({"query": "q", "records": {"M01": True}}) + "\n")
    with pytest.raises(RecordsError, match=r"missing\.jsonl:1: records"):
        load_records(missing)
    missing.write_text(json.dumps({"query": "q", "records": {"M01": True}}) + "\n")
    with pytest.raises(RecordsError, match=r"missing\.jsonl:1: dataset: Field required"):
        load_records(missing)
    with pytest.raises(RecordsError, match="file not found"):
        load_records(tmp_path / "nope.jsonl")


def _result_store(path: Path, rows: list[tuple[str, str, str, str, str, str, int]]) -> Path:
    """A real sweep result store holding (dataset, task_id, question, method, assignment, status, correct) rows."""
    from maslab.bench.store import ResultRow, ResultStore

    store = ResultStore(path)
    for dataset, task_id, question, method, assignment, status, correct in rows:
        store.write(ResultRow(cell_id=f"{method}|{assignment}|{dataset}|seed=0", task_id=task_id, dataset=dataset,
                              question=question, method=method, assignment=assignment, status=status,
                              correct=bool(correct)))
    store.close()
    return path


def test_records_from_store(tmp_path):
    rows = [
        ("gsm8k", "t1", "What is 2+2?", "single", "qwen-7b", "ok", 1),
        ("gsm8k", "t1", "What is 2+2?", "single", "llama-8b", "ok", 0),
        ("gsm8k", "t2", "What is 3*3?", "single", "qwen-7b", "error", 1),  # errored: incorrect
        ("gsm8k", "t2", "What is 3*3?", "single", "llama-8b", "ok", 1),
        ("aqua", "t1", "Pick one.", "single", "qwen-7b", "ok", 1),
        ("aqua", "t1", "Pick one.", "debate", "qwen-7b", "ok", 0),
        ("aqua", "t1", "Pick one.", "debate", "mistral-7b", "ok", 1),
    ]
    db = _result_store(tmp_path / "store.sqlite", rows)
    recs = records_from_store(db, method="single")
    assert [(r.dataset, r.query) for r in recs] == [("gsm8k", "What is 2+2?"), ("gsm8k", "What is 3*3?"),
                                                     ("aqua", "Pick one.")]
    assert recs[0].records == {"qwen-7b": True, "llama-8b": False}
    assert recs[1].records == {"qwen-7b": False, "llama-8b": True}
    assert recs[2].records == {"qwen-7b": True}
    pooled = records_from_store(db)
    # qwen-7b on aqua/t1: one correct, one wrong row -> no strict majority -> incorrect
    assert pooled[2].records == {"qwen-7b": False, "mistral-7b": True}
    with pytest.raises(RecordsError, match="no results for method 'moa'"):
        records_from_store(db, method="moa")

    bad = tmp_path / "bad.sqlite"
    con = sqlite3.connect(bad)
    con.execute("CREATE TABLE results (dataset TEXT, task_id TEXT, question TEXT)")
    con.close()
    with pytest.raises(RecordsError, match="not a maslab result store"):
        records_from_store(bad)


def test_records_from_store_feed_calibration(tmp_path):
    rng = np.random.default_rng(0)
    db = _result_store(tmp_path / "s.sqlite", [("d", f"t{i}", f"question {i}", "single", m, "ok", int(rng.random() < 0.5))
                                              for i in range(40) for m in ("a", "b", "c")])
    router = calibrate(records_from_store(db), HashEmbedder(), k=4, n_models=2)
    assert router.k == 4 and set(router.models) == {"a", "b", "c"}
    assert Path(router.save(tmp_path / "r", heatmap=False) / "models.json").is_file()


# --------------------------------------------------------------------------- the official tie rules (issue 11)

# records whose model order varies: globally qwen appears first; in cluster 1's own records gemma does
VARYING = [
    CalibrationRecord(query="a", dataset="d", records={"qwen": True, "gemma": True}),
    CalibrationRecord(query="b", dataset="d", records={"gemma": False, "qwen": False}),
    CalibrationRecord(query="c", dataset="d", records={"gemma": True, "qwen": True}),
]


def test_ties_break_by_first_appearance_in_the_cluster_under_the_official_rule():
    """Record a is in cluster 0, records b and c in cluster 1, where both models score 1/2: the official
    code orders the tie by first appearance among the cluster's own records (gemma), maslab's default
    over all records (qwen); the scores keep the per-cluster order either way."""
    official = cluster_rankings([0, 1, 1], VARYING, 2, ties="cluster")
    maslab = cluster_rankings([0, 1, 1], VARYING, 2, ties="records")
    assert official[1].ranking == ["gemma", "qwen"] and maslab[1].ranking == ["qwen", "gemma"]
    assert list(official[1].scores) == list(maslab[1].scores) == ["gemma", "qwen"]
    assert official[0].ranking == maslab[0].ranking == ["qwen", "gemma"]


def tie_router(ties: str = "records") -> Router:
    rankings = cluster_rankings([0, 1, 1], VARYING, 2, ties=ties)  # type: ignore[arg-type]
    centres = np.array([[1.0, 0.0], [0.0, 1.0]])
    config = RouterConfig(k=2, requested_k=2, seed=0, embedder="fixed", selected_models=["qwen", "gemma"],
                          dim=2, n_records=3, ties=ties, format=2)  # type: ignore[arg-type]
    from sklearn.preprocessing import Normalizer

    return Router(centres, rankings, {"qwen": "qwen", "gemma": "gemma"}, Normalizer().fit(centres), config)


def test_routes_follow_the_requested_tie_rule_whatever_the_stored_one():
    """A query nearest cluster 1 goes to gemma under the official per-cluster rule and to qwen under the
    record order, from a router stored under either rule."""
    for stored in ("records", "cluster"):
        router = tie_router(stored)
        assert router.route_embedding([0.0, 1.0], ties="cluster").models == ["gemma"]
        assert router.route_embedding([0.0, 1.0], ties="records").models == ["qwen"]
        assert router.route_embedding([0.0, 1.0]).models == (["qwen"] if stored == "records" else ["gemma"])
        assert router.ranking(1, "cluster") == ["gemma", "qwen"]


def test_frequency_selection_visits_clusters_in_first_appearance_order():
    """The official selection iterates its clusters in the order they first appear among the records, and
    Counter.most_common keeps the first counted of equal counts: with clusters first seen as 1, 0, the
    single pick is cluster 1's winner."""
    rankings = _stats([["A", "B"], ["B", "A"]])
    assert select_models(rankings, 1, "frequency", cluster_order=[1, 0]) == ["B"]
    assert select_models(rankings, 1, "frequency") == ["A"]  # visiting by id


def test_calibration_stores_the_tie_rule_and_per_cluster_score_order(tmp_path):
    router = calibrate(random_records(120, seed=5), HashEmbedder(), k=4, seed=2, ties="cluster")
    assert router.config.ties == "cluster" and router.config.format == 2
    loaded = Router.load(router.save(tmp_path / "r", heatmap=False))
    assert loaded.config.ties == "cluster"
    assert all(loaded.ranking(c) == loaded.rankings[c].ranking for c in range(loaded.k))
