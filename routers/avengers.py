"""The Avengers router (arXiv 2505.19797, AAAI-26): calibrate on per-model correctness records, route by cluster.

Offline, `calibrate` embeds each calibration query, L2-normalises the vectors (the fitted sklearn
`Normalizer` is kept), clusters them with K-means, scores every model's accuracy inside every
cluster, ranks the models per cluster and selects the model set. Online, `Router.route` embeds a
query, finds the nearest cluster centre(s) with faiss and returns the best models of the cluster
(spec §3, `../shared/specs/avengers.md`). Voting over the routed model's samples is in
`maslab.answers`; generation (Self-Consistency, Model-Switch) belongs to the `avengers` system.

Decisions where the spec leaves a choice:

- Routing follows the paper by default: ``top_k=1`` (nearest cluster only), ``top_n=1``; the code's
  soft rule is available with ``top_k > 1``. ``beta=3.0`` is the reference code's default (its configs
  and ablation use 6.0); ``default_rank=999`` as in the code. With ``top_k=1`` beta is irrelevant.
  The softmax is shifted by the smallest distance (the code's max-logit shift), so it never overflows.
- ``distance="dot"`` (code; d = 1 − centre·q with centres not re-normalised) is the default;
  ``"euclidean"`` uses d = ½‖centre − q‖², which orders clusters as the k-means assignment does and
  equals 1 − centre·q whenever a centre has unit norm (so the softmax scale is comparable).
- Nearest-centre search uses faiss (inner-product index for ``dot``, L2 index for ``euclidean``) in
  float32 on ``top_k + 8`` candidates, which are then re-scored exactly in float64 and stably
  sorted: routes equal a direct float64 numpy computation.
- The candidate models are the selected model set unless ``available_models`` (ids or names from
  the id→name map) is given. ``pos_c(m)`` is the index in cluster c's **full** ranking (as in the
  code), so scores for a restricted candidate set are the code's; the order is what top_k=1 needs.
- Ties (``ties``): rankings sort stably by accuracy; ``records`` (maslab's default) breaks ties by the
  first appearance of model ids over the whole record list, ``cluster`` (the official code) by
  their first appearance among the cluster's own records — the two differ when records list the
  models in varying orders. Each cluster's ``scores`` are stored in that per-cluster order
  (artefact format 2), so a router can be routed under either rule (`route(..., ties=…)`) whatever
  rule its stored rankings used; a format-1 router only knows the global order. Routes sort stably
  by score, ties keeping first-seen order (clusters nearest first, each in ranking order, then
  unranked candidates in candidate order).
- Selection ``inverse_rank_sum`` (paper, default): s(m) = Σ_c 1/r_c(m) over the clusters that rank
  m, stable on ties. ``frequency`` (code): top-1 counts, then the code's top-2 counter (top-1 counts
  1, top-2 counts ½), clusters visited in the order they first appear among the calibration
  records (as the code's dict of clusters is built), ``Counter.most_common`` order (ties: the first
  counted), then remaining models in sorted id order; unlike the code (``list(set(...))``) the
  result keeps this order.
- Queries are embedded exactly as stored: a record's ``query`` is already the templated prompt, and
  routing must be given the same templated text. ``frequency`` is kept but unused (ablation only).
- K is clamped, with a warning, to the number of distinct normalised embeddings. Rankings list every
  model with records in the cluster (the whole pool, as the code does); a cluster without members
  (degenerate data only) has an empty ranking and adds nothing to any score.
- ``records_from_store``: several rows for the same (dataset, task, model) — seeds, a retried
  row, pooled methods — count as correct when a strict majority of them is; ``frequency`` stays
  empty. ``split_records`` splits each dataset (sorted by name) with one seeded numpy generator,
  ceil(30 %) to test, keeping the records' original order inside each part.
- Routing applies the persisted sklearn ``Normalizer(norm="l2")`` with the same numpy operations
  sklearn uses (its input validation dominated per-query latency); any other normaliser is called.
- Artefacts in a directory: ``centres.npy`` (float64, as fitted), ``rankings.json`` (spec shape),
  ``models.json`` (id→name), ``normalizer.joblib``, ``config.json``, ``heatmap.png``. The embedder is
  saved as a spec (never a key) so `Router.load` can rebuild it lazily on the first `route`.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator

from maslab.errors import MaslabError
from maslab.jsonl import read_jsonl
from maslab.trace import get_logger

from .embeddings import Embedder, embedder_from_spec

log = get_logger(__name__)

Selection = Literal["inverse_rank_sum", "frequency"]
Distance = Literal["dot", "euclidean"]
Ties = Literal["records", "cluster"]

CENTRES_FILE = "centres.npy"
RANKINGS_FILE = "rankings.json"
MODELS_FILE = "models.json"
NORMALIZER_FILE = "normalizer.joblib"
CONFIG_FILE = "config.json"
HEATMAP_FILE = "heatmap.png"
_SEARCH_SLACK = 8


class RecordsError(MaslabError, ValueError):
    """Calibration records are missing or malformed; the message locates the problem (file:line)."""


class RouterError(MaslabError, ValueError):
    """A router was misused or its artefacts are inconsistent (unknown model, bad dimension …)."""


# --------------------------------------------------------------------------- records


class CalibrationRecord(BaseModel):
    """One calibration query: its templated prompt, its dataset and each model's correctness."""

    query: str
    dataset: str
    records: dict[str, bool]
    frequency: dict[str, float] = Field(default_factory=dict)

    @field_validator("records")
    @classmethod
    def _some_model(cls, v: dict[str, bool]) -> dict[str, bool]:
        if not v:
            raise ValueError("needs at least one model result")
        return v


def load_records(path: str | Path) -> list[CalibrationRecord]:
    """Read the paper's JSON-lines records (`query`, `dataset`, `records`, optional `frequency`).

    Blank lines are skipped; a malformed line raises `RecordsError` naming ``file:line`` and the field.
    """
    path = Path(path)
    out: list[CalibrationRecord] = []
    for lineno, obj in read_jsonl(path, RecordsError):
        try:
            out.append(CalibrationRecord.model_validate(obj))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<record>'}: {err['msg']}" for err in exc.errors()
            )
            raise RecordsError(f"{path}:{lineno}: {problems}") from exc
    if not out:
        raise RecordsError(f"{path}: no records")
    return out




def records_from_store(path: str | Path, *, method: str | None = None) -> list[CalibrationRecord]:
    """Calibration records from a sweep result store (a sweep folder or its results.sqlite).

    One record per (dataset, task_id), in first-seen order; ``query`` is the stored question
    (`Task.prompt()`: the question with its lettered choices — the text the `avengers` system embeds
    with its default ``route_on: prompt``); the model id is the ``assignment`` name; a row with
    ``status != 'ok'`` counts as incorrect. `method` keeps only that method's rows. Repeated rows for
    one (dataset, task, model) are merged by strict majority.
    """
    from maslab.bench.store import ResultStore
    from maslab.errors import ConfigError

    try:
        store = ResultStore.open(path, readonly=True)
    except ConfigError as e:
        raise RecordsError(str(e)) from None
    try:
        rows = (store.rows("WHERE method = ?", (method,), order="rowid") if method is not None
                else store.rows(order="rowid"))
    except (sqlite3.Error, ValueError) as e:  # another SQLite file, or rows of another shape
        raise RecordsError(f"{path}: not a maslab result store ({type(e).__name__}: {e})") from None
    finally:
        store.close()
    if not rows:
        raise RecordsError(f"{path}: no results" + (f" for method {method!r}" if method else ""))
    methods = {r.method for r in rows}
    if method is None and len(methods) > 1:
        log.warning("records pooled over several methods; pass method= to pick one", store=str(path),
                    methods=sorted(methods))
    groups: dict[tuple[str, str], tuple[list[str], dict[str, list[bool]]]] = {}
    for r in rows:
        questions, votes = groups.setdefault((r.dataset, r.task_id), ([], {}))
        if r.question and not questions:
            questions.append(r.question)
        votes.setdefault(r.assignment, []).append(r.status == "ok" and r.correct)
    out: list[CalibrationRecord] = []
    for (dataset, task_id), (questions, votes) in groups.items():
        if not questions:
            raise RecordsError(f"{path}: task {dataset}/{task_id} has no question text")
        merged = {m: sum(v) * 2 > len(v) for m, v in votes.items()}
        out.append(CalibrationRecord(query=questions[0], dataset=dataset, records=merged))
    return out


def split_records(
    records: Sequence[CalibrationRecord], *, test_size: float = 0.3, seed: int = 42
) -> tuple[list[CalibrationRecord], list[CalibrationRecord]]:
    """Split each dataset into calibration / test (spec §1: 70/30 per dataset, then concatenated)."""
    if not 0.0 <= test_size < 1.0:
        raise ValueError("test_size must be in [0, 1)")
    by_dataset: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_dataset.setdefault(r.dataset, []).append(i)
    rng = np.random.default_rng(seed)
    calib: list[CalibrationRecord] = []
    test: list[CalibrationRecord] = []
    for name in sorted(by_dataset):
        idx = by_dataset[name]
        n_test = math.ceil(test_size * len(idx)) if len(idx) > 1 else 0
        chosen = set(rng.permutation(len(idx))[:n_test].tolist())
        calib.extend(records[j] for pos, j in enumerate(idx) if pos not in chosen)
        test.extend(records[j] for pos, j in enumerate(idx) if pos in chosen)
    return calib, test


# --------------------------------------------------------------------------- rankings and selection


class ModelScore(BaseModel):
    """One model's record inside one cluster."""

    correct: int
    total: int
    accuracy: float


class ClusterStats(BaseModel):
    """A cluster's calibration size, per-model scores and stable ranking (spec's rankings.json entry)."""

    total: int
    scores: dict[str, ModelScore] = Field(default_factory=dict)
    ranking: list[str] = Field(default_factory=list)


def model_order(records: Iterable[CalibrationRecord]) -> list[str]:
    """Model ids in first-appearance order over the records (the tie-break order everywhere)."""
    seen: dict[str, None] = {}
    for r in records:
        for m in r.records:
            seen.setdefault(m, None)
    return list(seen)


def cluster_rankings(labels: Sequence[int] | np.ndarray, records: Sequence[CalibrationRecord], k: int,
                     ties: Ties = "records") -> dict[int, ClusterStats]:
    """Per-cluster accuracy and stable ranking (spec §2.3) for cluster labels 0..k-1. Each cluster's
    `scores` keep its models in first-appearance order among its own records; `ties` orders equal
    accuracies by that order (``cluster``, the official code) or over all records (``records``)."""
    if len(labels) != len(records):
        raise RouterError(f"{len(labels)} labels for {len(records)} records")
    order = model_order(records)
    correct: list[dict[str, int]] = [{} for _ in range(k)]
    total: list[dict[str, int]] = [{} for _ in range(k)]
    sizes = [0] * k
    for label, rec in zip(labels, records, strict=True):
        c = int(label)
        sizes[c] += 1
        for m, ok in rec.records.items():
            total[c][m] = total[c].get(m, 0) + 1
            correct[c][m] = correct[c].get(m, 0) + int(ok)
    out: dict[int, ClusterStats] = {}
    for c in range(k):
        scores = {m: ModelScore(correct=correct[c][m], total=n, accuracy=correct[c][m] / n)
                  for m, n in total[c].items()}
        out[c] = ClusterStats(total=sizes[c], scores=scores, ranking=rank_models(scores, ties, order))
    return out


def rank_models(scores: Mapping[str, ModelScore], ties: Ties, order: Sequence[str]) -> list[str]:
    """Model ids by accuracy, descending, stably: equal accuracies keep `scores`' own order (``cluster``)
    or the global first-appearance `order` (``records``)."""
    if ties == "records":
        pos = {m: i for i, m in enumerate(order)}
        ids = sorted(scores, key=lambda m: pos.get(m, len(pos)))
    else:
        ids = list(scores)
    return sorted(ids, key=lambda m: -scores[m].accuracy)


def select_models(
    rankings: Mapping[int, ClusterStats],
    n_models: int = 10,
    selection: Selection = "inverse_rank_sum",
    order: Sequence[str] | None = None,
    cluster_order: Sequence[int] | None = None,
) -> list[str]:
    """Choose the model set from per-cluster rankings (spec §2.4); `order` breaks ties (default: first seen);
    `cluster_order` is the order clusters are visited in (the code's: first appearance among the records;
    default: by id)."""
    if n_models < 1:
        raise ValueError("n_models must be >= 1")
    visit = [c for c in (cluster_order or []) if c in rankings]
    visit += [c for c in sorted(rankings) if c not in visit]
    clusters = [rankings[c] for c in visit]
    if order is None:
        seen: dict[str, None] = {}
        for st in clusters:
            for m in st.ranking:
                seen.setdefault(m, None)
        order = list(seen)
    if selection == "inverse_rank_sum":
        score = dict.fromkeys(order, 0.0)
        for st in clusters:
            for pos, m in enumerate(st.ranking):
                score[m] = score.get(m, 0.0) + 1.0 / (pos + 1)
        return sorted(score, key=lambda m: -score[m])[:n_models]
    if selection == "frequency":
        top1: Counter[str] = Counter()
        top2: Counter[str] = Counter()
        for st in clusters:
            if st.ranking:
                top1[st.ranking[0]] += 1
                top2[st.ranking[0]] += 1
            if len(st.ranking) > 1:
                top2[st.ranking[1]] += 0.5
        chosen: list[str] = []
        for source in ([m for m, _ in top1.most_common()], [m for m, _ in top2.most_common()], sorted(order)):
            for m in source:
                if len(chosen) >= n_models:
                    return chosen
                if m not in chosen:
                    chosen.append(m)
        return chosen
    raise ValueError(f"unknown selection {selection!r} (inverse_rank_sum | frequency)")


# --------------------------------------------------------------------------- routes


class ClusterHit(BaseModel):
    """A cluster considered for a query: its distance d and softmax weight p."""

    cluster: int
    distance: float
    probability: float


class Route(BaseModel):
    """A routing decision: models best first (ids and names), the clusters used, every candidate's score."""

    models: list[str]
    names: list[str]
    clusters: list[ClusterHit]
    scores: dict[str, float]


class ClusterTable(BaseModel):
    """One considered cluster's calibration table, for `Router.explain`."""

    cluster: int
    total: int
    ranking: list[str]
    scores: dict[str, ModelScore]


class Explanation(Route):
    """A route plus each considered cluster's per-model accuracy table."""

    tables: list[ClusterTable]


class RouterConfig(BaseModel):
    """What a router was fitted with; saved as config.json."""

    k: int
    requested_k: int
    seed: int
    embedder: str
    embedder_spec: dict[str, Any] | None = None
    distance: Distance = "dot"
    selection: Selection = "inverse_rank_sum"
    n_models: int = 10
    selected_models: list[str]
    dim: int
    n_records: int
    ties: Ties = "records"  # the tie rule of the stored rankings
    format: int = 1  # 2: each cluster's `scores` are in per-cluster first-appearance order


class Router:
    """A fitted Avengers router: centres, rankings, id→name map, normaliser and config.

    Build one with `calibrate` or `Router.load`; route with `route` (text), `route_embedding`
    (a raw embedder vector) or `aroute` (text, off the event loop).
    """

    def __init__(
        self,
        centres: np.ndarray,
        rankings: Mapping[int, ClusterStats],
        models: Mapping[str, str],
        normalizer: Any,
        config: RouterConfig,
        embedder: Embedder | None = None,
    ) -> None:
        self.centres = np.asarray(centres, dtype=np.float64)
        if self.centres.ndim != 2:
            raise RouterError(f"centres must be a (K, D) matrix, got shape {self.centres.shape}")
        k = self.centres.shape[0]
        if sorted(rankings) != list(range(k)):
            raise RouterError(f"rankings must cover clusters 0..{k - 1}, got {sorted(rankings)[:5]}…")
        self.rankings: dict[int, ClusterStats] = {c: rankings[c] for c in range(k)}
        self.models: dict[str, str] = dict(models)
        unknown = [m for st in self.rankings.values() for m in st.ranking if m not in self.models]
        if unknown:
            raise RouterError(f"ranked model ids missing from the id map: {sorted(set(unknown))}")
        self.normalizer = normalizer
        self.config = config
        self._embedder = embedder
        self._index: Any = None
        self._index_lock = threading.Lock()
        self._pos_by_ties: dict[str, dict[int, dict[str, int]]] = {
            config.ties: {c: {m: i for i, m in enumerate(st.ranking)} for c, st in self.rankings.items()}}
        self._by_name = {name: mid for mid, name in self.models.items()}
        self._fast_l2 = type(normalizer).__name__ == "Normalizer" and getattr(normalizer, "norm", None) == "l2"

    # ----------------------------------------------------------------- properties

    @property
    def k(self) -> int:
        return int(self.centres.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])

    @property
    def selected_models(self) -> list[str]:
        return list(self.config.selected_models)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            try:
                self._embedder = embedder_from_spec(self.config.embedder_spec)
            except MaslabError as exc:
                raise RouterError(f"router embedder {self.config.embedder!r} cannot be rebuilt ({exc}); "
                                  "pass embedder= to Router.load") from exc
        return self._embedder

    # ----------------------------------------------------------------- routing

    def ranking(self, cluster: int, ties: Ties | None = None) -> list[str]:
        """Cluster `cluster`'s ranking under the tie rule `ties` (None: the stored one)."""
        pos = self._positions(ties)[cluster]
        return sorted(pos, key=pos.__getitem__)

    def _positions(self, ties: Ties | None) -> dict[int, dict[str, int]]:
        rule = ties or self.config.ties
        if rule not in self._pos_by_ties:
            if rule == "cluster" and self.config.format < 2:
                log.warning("router artefacts predate per-cluster score order (format 1); cluster ties follow "
                            "the record order", k=self.k)
            order = list(self.models)  # the global first-appearance order (model_order at calibration)
            self._pos_by_ties[rule] = {c: {m: i for i, m in enumerate(rank_models(st.scores, rule, order))}
                                       for c, st in self.rankings.items()}
        return self._pos_by_ties[rule]

    def _faiss_index(self) -> Any:
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    import faiss

                    index = faiss.IndexFlatIP(self.dim) if self.config.distance == "dot" else faiss.IndexFlatL2(self.dim)
                    index.add(np.ascontiguousarray(self.centres, dtype=np.float32))
                    self._index = index
        return self._index

    def _normalise(self, vec: np.ndarray) -> np.ndarray:
        v = np.asarray(vec, dtype=np.float64).reshape(1, -1)
        if v.shape[1] != self.dim:
            raise RouterError(f"embedding has dimension {v.shape[1]}, the router's centres have {self.dim}")
        if self._fast_l2:
            # exactly sklearn's dense l2 `normalize` (einsum row norms, zero norms left as 1), without
            # its per-call validation, which costs ~10x the rest of routing
            norm = np.sqrt(np.einsum("ij,ij->i", v, v))
            norm[norm < 10 * np.finfo(norm.dtype).eps] = 1.0
            return (v / norm[:, None])[0]
        return np.asarray(self.normalizer.transform(v), dtype=np.float64)[0]

    def _distances(self, q: np.ndarray, ids: np.ndarray) -> np.ndarray:
        c = self.centres[ids]
        if self.config.distance == "dot":
            return 1.0 - c @ q
        diff = c - q
        return 0.5 * np.einsum("ij,ij->i", diff, diff)

    def _candidates(self, available_models: Sequence[str] | None) -> list[str]:
        if available_models is None:
            return self.selected_models or list(self.models)
        out: list[str] = []
        bad: list[str] = []
        for m in available_models:
            mid = m if m in self.models else self._by_name.get(m)
            if mid is None:
                bad.append(m)
            elif mid not in out:
                out.append(mid)
        if bad:
            raise RouterError(f"available_models not in the router's id map: {bad}; known: "
                              + ", ".join(f"{i} ({n})" for i, n in self.models.items()))
        if not out:
            raise RouterError("available_models is empty")
        return out

    def route_embedding(
        self,
        vec: np.ndarray | Sequence[float],
        top_k: int = 1,
        top_n: int = 1,
        beta: float = 3.0,
        default_rank: int = 999,
        available_models: Sequence[str] | None = None,
        ties: Ties | None = None,
    ) -> Route:
        """Route a raw (not yet normalised) embedding of the templated query; see `route`."""
        positions = self._positions(ties)
        if top_k < 1 or top_n < 1:
            raise RouterError("top_k and top_n must be >= 1")
        if default_rank <= 0 or not math.isfinite(beta):
            raise RouterError("default_rank must be > 0 and beta finite")
        candidates = self._candidates(available_models)
        q = self._normalise(np.asarray(vec))
        k_eff = min(top_k, self.k)
        search = min(self.k, k_eff + _SEARCH_SLACK)
        _, found = self._faiss_index().search(np.ascontiguousarray(q[None, :], dtype=np.float32), search)
        ids = found[0][found[0] >= 0]
        d_all = self._distances(q, ids)
        keep = np.argsort(d_all, kind="stable")[:k_eff]
        ids, d = ids[keep], d_all[keep]
        logits = -beta * (d - d.min())
        p = np.exp(logits)
        p /= p.sum()
        wanted = set(candidates)
        scores: dict[str, float] = {}
        for cid, pc in zip(ids, p, strict=True):
            pos = positions[int(cid)]
            for m in sorted(pos, key=pos.__getitem__):
                if m in wanted:
                    scores[m] = scores.get(m, 0.0) + float(pc) / (pos[m] + 0.1)
        for m in candidates:
            scores.setdefault(m, 1.0 / default_rank)
        ranked = sorted(scores, key=lambda m: -scores[m])  # stable: ties keep first-seen order
        chosen = ranked[:top_n]
        return Route(
            models=chosen,
            names=[self.models[m] for m in chosen],
            clusters=[ClusterHit(cluster=int(c), distance=float(dc), probability=float(pc))
                      for c, dc, pc in zip(ids, d, p, strict=True)],
            scores={m: scores[m] for m in ranked},
        )

    def route(
        self,
        query: str,
        top_k: int = 1,
        top_n: int = 1,
        beta: float = 3.0,
        default_rank: int = 999,
        available_models: Sequence[str] | None = None,
        ties: Ties | None = None,
    ) -> Route:
        """Route one templated query (spec §3).

        q = normalise(embed(query)); d[c] = 1 − centre[c]·q (or ½‖centre[c] − q‖²); C = the `top_k`
        nearest clusters; p = softmax(−beta·d[C]); s(m) = Σ_{c∈C} p[c] / (pos_c(m) + 0.1), models
        ranked in none of C get 1/`default_rank`; the route is the `top_n` best candidates.
        Defaults: top_k=1 (paper; code configs use 2–3), top_n=1 (code configs 2), beta=3.0
        (code; configs 6.0), default_rank=999. `available_models` (ids or names) replaces the
        selected model set as candidates; an unknown one raises `RouterError`. `ties` picks the
        rankings' tie rule (None: the stored rankings').
        """
        vec = self.embedder.embed([query])[0]
        return self.route_embedding(vec, top_k=top_k, top_n=top_n, beta=beta, default_rank=default_rank,
                                    available_models=available_models, ties=ties)

    async def aroute(self, query: str, **kwargs: Any) -> Route:
        """`route` in a worker thread, so embedding does not block the event loop."""
        return await asyncio.to_thread(self.route, query, **kwargs)

    def explain(self, query: str, **kwargs: Any) -> Explanation:
        """`route` plus each considered cluster's per-model accuracy table."""
        return self.explain_embedding(self.embedder.embed([query])[0], **kwargs)

    def explain_embedding(self, vec: np.ndarray | Sequence[float], **kwargs: Any) -> Explanation:
        route = self.route_embedding(vec, **kwargs)
        tables = [ClusterTable(cluster=h.cluster, total=self.rankings[h.cluster].total,
                               ranking=list(self.rankings[h.cluster].ranking),
                               scores=dict(self.rankings[h.cluster].scores)) for h in route.clusters]
        return Explanation(**route.model_dump(), tables=tables)

    # ----------------------------------------------------------------- artefacts

    def accuracy_matrix(self) -> tuple[np.ndarray, list[str]]:
        """(K, M) accuracies (NaN where a model has no record in a cluster) and the model ids of the columns."""
        cols: dict[str, None] = {}
        for st in self.rankings.values():
            for m in st.scores:
                cols.setdefault(m, None)
        ids = [m for m in self.models if m in cols] + [m for m in cols if m not in self.models]
        mat = np.full((self.k, len(ids)), np.nan)
        for c, st in self.rankings.items():
            for j, m in enumerate(ids):
                if m in st.scores:
                    mat[c, j] = st.scores[m].accuracy
        return mat, ids

    def plot_heatmap(self, path: str | Path) -> Path:
        """Heat map of per-cluster model accuracy (clusters × models; selected models starred), PNG via Agg."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = Path(path)
        mat, ids = self.accuracy_matrix()
        selected = set(self.selected_models)
        fig = Figure(figsize=(max(4.0, 0.45 * len(ids) + 2.5), max(3.0, 0.16 * self.k + 1.8)))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(np.ma.masked_invalid(mat), aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                       interpolation="nearest")
        ax.set_xticks(range(len(ids)))
        ax.set_xticklabels([f"{m}*" if m in selected else m for m in ids], rotation=90, fontsize=7)
        ax.set_yticks(range(self.k))
        ax.set_yticklabels([f"{c} (n={self.rankings[c].total})" for c in range(self.k)], fontsize=5 if self.k > 32 else 7)
        ax.set_xlabel("model (* = selected)")
        ax.set_ylabel("cluster")
        ax.set_title(f"Avengers router: accuracy per cluster (K={self.k})", fontsize=9)
        if mat.size and mat.size <= 400:
            for (i, j), v in np.ndenumerate(mat):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="black" if v > 0.6 else "white")
        fig.colorbar(im, ax=ax, label="accuracy")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        return path

    def save(self, directory: str | Path, *, heatmap: bool = True) -> Path:
        """Write the artefacts (see the module docstring) into `directory`; returns it."""
        import joblib

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / CENTRES_FILE, self.centres)
        rankings = {str(c): st.model_dump() for c, st in self.rankings.items()}
        (out / RANKINGS_FILE).write_text(json.dumps(rankings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / MODELS_FILE).write_text(json.dumps(self.models, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        joblib.dump(self.normalizer, out / NORMALIZER_FILE)
        (out / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if heatmap:
            self.plot_heatmap(out / HEATMAP_FILE)
        log.info("router saved", directory=str(out), k=self.k, models=len(self.models))
        return out

    @classmethod
    def load(cls, directory: str | Path, embedder: Embedder | None = None) -> Router:
        """Load artefacts written by `save`. Without `embedder`, the saved spec rebuilds it on first use."""
        import joblib

        src = Path(directory)
        missing = [f for f in (CENTRES_FILE, RANKINGS_FILE, MODELS_FILE, NORMALIZER_FILE, CONFIG_FILE)
                   if not (src / f).is_file()]
        if missing:
            raise RouterError(f"{src}: missing router artefact(s) {', '.join(missing)}")
        try:
            config = RouterConfig.model_validate_json((src / CONFIG_FILE).read_text(encoding="utf-8"))
            raw = json.loads((src / RANKINGS_FILE).read_text(encoding="utf-8"))
            rankings = {int(c): ClusterStats.model_validate(v) for c, v in raw.items()}
            models = json.loads((src / MODELS_FILE).read_text(encoding="utf-8"))
        except (ValueError, ValidationError) as exc:
            raise RouterError(f"{src}: unreadable router artefacts: {exc}") from exc
        centres = np.load(src / CENTRES_FILE)
        if embedder is not None and embedder.name != config.embedder:
            log.warning("router loaded with a different embedder than it was fitted with",
                        fitted=config.embedder, given=embedder.name)
        return cls(centres, rankings, models, joblib.load(src / NORMALIZER_FILE), config, embedder)


# --------------------------------------------------------------------------- calibration


def calibrate(
    records: Sequence[CalibrationRecord],
    embedder: Embedder,
    k: int = 64,
    seed: int = 42,
    selection: Selection = "inverse_rank_sum",
    n_models: int = 10,
    distance: Distance = "dot",
    model_names: Mapping[str, str] | None = None,
    ties: Ties = "records",
) -> Router:
    """Fit a router on calibration records (spec §2).

    Embeds every record's templated ``query``, L2-normalises with a fitted sklearn `Normalizer`,
    runs K-means (k-means++, n_init="auto", max_iter=1000, Elkan, random_state=seed; K clamped to
    the number of distinct points), ranks models per cluster and selects `n_models` of them.
    `model_names` maps model ids to display/endpoint names (identity for ids it lacks); `ties` is the
    stored rankings' tie rule. Same records, embedder and seed give byte-identical artefacts.
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import Normalizer

    records = list(records)
    if not records:
        raise RecordsError("no calibration records")
    if k < 1:
        raise ValueError("k must be >= 1")
    if distance not in ("dot", "euclidean"):
        raise ValueError(f"unknown distance {distance!r} (dot | euclidean)")
    if selection not in ("inverse_rank_sum", "frequency"):
        raise ValueError(f"unknown selection {selection!r} (inverse_rank_sum | frequency)")
    emb = np.asarray(embedder.embed([r.query for r in records]), dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(records):
        raise RouterError(f"embedder {embedder.name!r} returned shape {emb.shape} for {len(records)} queries")
    normalizer = Normalizer(norm="l2").fit(emb)
    x = np.asarray(normalizer.transform(emb), dtype=np.float64)
    distinct = int(np.unique(x, axis=0).shape[0])
    k_eff = k
    if k > distinct:
        k_eff = distinct
        msg = f"K={k} exceeds the {distinct} distinct calibration embeddings; using K={distinct}"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        log.warning("clamping K", requested=k, used=distinct)
    km = KMeans(n_clusters=k_eff, init="k-means++", n_init="auto", max_iter=1000, algorithm="elkan",
                random_state=seed)
    labels = km.fit_predict(x)
    order = model_order(records)
    rankings = cluster_rankings(labels, records, k_eff, ties=ties)
    first_seen = list(dict.fromkeys(int(c) for c in labels))  # the code's cluster order
    selected = select_models(rankings, n_models=n_models, selection=selection, order=order, cluster_order=first_seen)
    names = dict(model_names or {})
    models = {m: names.get(m, m) for m in order}
    describe = getattr(embedder, "describe", None)
    config = RouterConfig(
        k=k_eff, requested_k=k, seed=seed, embedder=embedder.name,
        embedder_spec=describe() if callable(describe) else None,
        distance=distance, selection=selection, n_models=n_models, selected_models=selected,
        dim=int(x.shape[1]), n_records=len(records), ties=ties, format=2,
    )
    log.info("router calibrated", k=k_eff, records=len(records), models=len(order), selected=selected)
    return Router(km.cluster_centers_.astype(np.float64, copy=False), rankings, models, normalizer, config, embedder)
