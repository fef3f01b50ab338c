"""What the viewer shows, read from a run folder: the grid, filtered task lists, one task with its transcript.

Two kinds of folder:

* a **sweep** (`maslab bench --out DIR`, or `maslab run WORKFLOW --dataset D`): `results.sqlite`,
  read only through `ResultStore` (opened read-only, so a sweep still writing is never disturbed),
  and `traces/<cell>.jsonl`;
* a **single run** (`maslab run WORKFLOW --question Q`): `result.json` and `trace.jsonl`; shown as one
  unscored task.

Rows are loaded once into a `Snapshot` (rows by cell and by task, the grid's statistics from
`maslab.bench.stats`), which every request then filters and pages in memory. The snapshot is keyed
by the store files' size and modification time; while a sweep writes, a changed store is reloaded
in a background thread (at most every 5 × the last load's time) and requests keep answering from
the previous snapshot until it is ready, so a 10,000-row sweep stays responsive. The store keeps no prices, so the grid's cost is tokens
(prompt + completion, in total and per task) and model seconds.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from maslab.bench.stats import CellSummary, SeedAggregate, aggregates_from, summaries_from
from maslab.bench.store import ResultRow, ResultStore
from maslab.errors import ConfigError
from maslab.trace import get_logger
from maslab.view.transcript import TraceIndex, Transcript, build_transcript, observed_structure, to_markdown

log = get_logger(__name__)

Status = Literal["all", "right", "wrong", "error", "not_right"]
Pair = Literal["", "a_right_b_wrong", "a_wrong_b_right", "both_right", "both_wrong"]
STATUSES: tuple[str, ...] = ("all", "right", "wrong", "error", "not_right")
PAIRS: tuple[str, ...] = ("", "a_right_b_wrong", "a_wrong_b_right", "both_right", "both_wrong")
SORTS = ("task", "status", "score", "tokens", "calls", "latency")
MAX_PAGE = 500
CSV_COLUMNS = ("cell_id", "task_id", "status", "verdict", "correct", "score", "extracted", "reference", "answer",
               "error", "question", "prompt_tokens", "completion_tokens", "calls", "cache_hits", "latency_s")


class NotFound(ConfigError):
    """A cell or task the run folder does not (yet) hold."""


def is_right(row: ResultRow) -> bool:
    """Right only when the row finished cleanly and was scored correct (as `maslab.bench.stats` counts)."""
    return row.status == "ok" and bool(row.correct)


def verdict(row: ResultRow) -> str:
    """right | wrong (answered, scored wrong) | error (inference or scoring failed) | unscored."""
    if row.score_detail.get("unscored"):
        return "unscored"
    if row.status != "ok":
        return "error"
    return "right" if row.correct else "wrong"


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts task-2 before task-10."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


@dataclass
class Snapshot:
    """All rows of a run folder at one moment, indexed, with the grid computed."""

    version: str
    rows: list[ResultRow]
    cells: list[dict[str, Any]]
    by_cell: dict[str, list[ResultRow]] = field(default_factory=dict)
    by_key: dict[tuple[str, str], ResultRow] = field(default_factory=dict)
    by_task: dict[str, list[ResultRow]] = field(default_factory=dict)
    summaries: list[CellSummary] = field(default_factory=list)
    aggregates: list[SeedAggregate] = field(default_factory=list)
    loaded_at: float = 0.0
    load_s: float = 0.0

    @classmethod
    def of(cls, version: str, rows: list[ResultRow], cells: list[dict[str, Any]], start: float) -> Snapshot:
        snap = cls(version=version, rows=rows, cells=cells)
        for r in rows:
            snap.by_cell.setdefault(r.cell_id, []).append(r)
            snap.by_key[(r.cell_id, r.task_id)] = r
            snap.by_task.setdefault(r.task_id, []).append(r)
        for group in snap.by_cell.values():
            group.sort(key=lambda r: _natural(r.task_id))
        scored = [r for r in rows if not r.score_detail.get("unscored")]
        snap.summaries = summaries_from(scored, cells)
        snap.aggregates = [a for a in aggregates_from(scored, cells) if len(a.seeds) > 1]
        snap.loaded_at = time.time()
        snap.load_s = time.perf_counter() - start
        return snap


class Source:
    """A run folder as the viewer reads it (see the module docstring); thread-safe."""

    kind: Literal["sweep", "run"] = "sweep"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._reloading = False
        self._traces: dict[Path, TraceIndex] = {}
        self._graphs: dict[str, dict[str, Any]] = {}

    # ---- loading

    def version(self) -> str:
        raise NotImplementedError

    def _load(self, version: str) -> Snapshot:
        raise NotImplementedError

    def title(self) -> str:
        return self.path.name

    def snapshot(self) -> Snapshot:
        """The current rows: loaded now the first time; after a change, reloaded in the background
        while the previous snapshot keeps answering."""
        version = self.version()
        with self._lock:
            snap = self._snapshot
            if snap is not None and (snap.version == version or self._reloading
                                     or time.time() - snap.loaded_at < self.min_reload_gap(snap)):
                return snap
            if snap is not None:
                self._reloading = True
        if snap is None:
            snap = self._load(version)
            with self._lock:
                self._snapshot = snap
            return snap
        threading.Thread(target=self._reload, args=(version,), daemon=True, name="maslab-view-reload").start()
        return snap

    @staticmethod
    def min_reload_gap(snap: Snapshot) -> float:
        """Seconds between reloads while a sweep writes: a big store is reloaded less often (at most ~20 % of
        a core goes to reloading)."""
        return max(0.5, 5 * snap.load_s)

    def _reload(self, version: str) -> None:
        try:
            snap = self._load(version)
            with self._lock:
                self._snapshot = snap
        except Exception as e:  # a half-written store: keep the last good snapshot, try again later
            log.warning("view: reload failed", error=str(e))
        finally:
            with self._lock:
                self._reloading = False

    # ---- the grid

    def grid(self) -> dict[str, Any]:
        """Every cell (those with no finished row yet too) with accuracy, CI, tokens, calls, cost, errors."""
        snap = self.snapshot()
        cells: list[dict[str, Any]] = []
        seen = set()
        for s in snap.summaries:
            seen.add(s.cell_id)
            cells.append(_cell_entry(s))
        for c in snap.cells:
            if c["cell_id"] not in seen and c["cell_id"] not in snap.by_cell:
                cells.append({"cell_id": c["cell_id"], "method_label": c.get("method_label") or c.get("method"),
                              "method": c.get("method"), "assignment": c.get("assignment"),
                              "dataset": c.get("dataset"), "seed": c.get("seed"), "n": 0,
                              "n_planned": c.get("n_tasks"), "pending": True})
                seen.add(c["cell_id"])
        for cell_id, rows in snap.by_cell.items():  # rows that are not scored (a single run)
            if cell_id not in seen:
                r = rows[0]
                cells.append({"cell_id": cell_id, "method_label": r.method_label or r.method, "method": r.method,
                              "assignment": r.assignment, "dataset": r.dataset, "seed": r.seed, "n": len(rows),
                              "unscored": True, "calls_per_task": sum(x.calls for x in rows) / len(rows),
                              "tokens_per_task": sum(x.prompt_tokens + x.completion_tokens for x in rows) / len(rows),
                              "total_tokens": sum(x.prompt_tokens + x.completion_tokens for x in rows),
                              "model_seconds": sum(x.latency_s for x in rows)})
        planned = sum(c.get("n_tasks") or 0 for c in snap.cells)
        return {"kind": self.kind, "title": self.title(), "dir": str(self.path), "version": snap.version,
                "rows": len(snap.rows), "planned": planned or len(snap.rows),
                "in_progress": bool(planned) and len(snap.rows) < planned, "cells": cells,
                "pooled": [_pooled_entry(a) for a in snap.aggregates], "loaded_s": round(snap.load_s, 4)}

    # ---- task lists

    def query(self, cell: str, *, status: str = "all", q: str = "", b: str = "", pair: str = "",
              sort: str = "task", desc: bool = False) -> tuple[list[ResultRow], dict[str, ResultRow]]:
        """The rows of `cell` that pass the filters, sorted; with B's row per task when pairing with cell `b`.

        status: all | right | wrong (answered, scored wrong) | error (failed) | not_right (wrong or failed).
        pair (with b): a_right_b_wrong | a_wrong_b_right | both_right | both_wrong — over tasks both ran,
        failures counting as wrong as in the paired comparisons of `maslab report`.
        q: case-insensitive text in the task id, question, reference, answer, extracted answer or error."""
        snap = self.snapshot()
        if cell not in snap.by_cell and cell not in {c["cell_id"] for c in snap.cells}:
            raise NotFound(f"no cell {cell!r} in {self.path}")
        if status not in STATUSES:
            raise ConfigError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if pair not in PAIRS:
            raise ConfigError(f"pair must be one of {', '.join(p for p in PAIRS if p)}, not {pair!r}")
        if sort not in SORTS:
            raise ConfigError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        rows = snap.by_cell.get(cell, [])
        if status != "all":
            rows = [r for r in rows if _status_ok(r, status)]
        needle = q.strip().lower()
        if needle:
            rows = [r for r in rows if any(needle in (x or "").lower() for x in
                                           (r.task_id, r.question, r.reference, r.answer, r.extracted, r.error))]
        others: dict[str, ResultRow] = {}
        if b:
            if b not in snap.by_cell and b not in {c["cell_id"] for c in snap.cells}:
                raise NotFound(f"no cell {b!r} to compare with")
            others = {r.task_id: r for r in snap.by_cell.get(b, [])}
            if pair:
                rows = [r for r in rows if r.task_id in others and _pair_ok(r, others[r.task_id], pair)]
        elif pair:
            raise ConfigError("pair needs b: the cell to compare with")
        key = {"task": lambda r: _natural(r.task_id), "status": lambda r: (verdict(r), _natural(r.task_id)),
               "score": lambda r: r.score, "tokens": lambda r: r.prompt_tokens + r.completion_tokens,
               "calls": lambda r: r.calls, "latency": lambda r: r.latency_s}[sort]
        rows = sorted(rows, key=key, reverse=desc)
        return rows, others

    def page(self, cell: str, *, offset: int = 0, limit: int = 50, **filters: Any) -> dict[str, Any]:
        """One page of `query`, as the task table shows it."""
        rows, others = self.query(cell, **filters)
        offset = max(0, offset)
        limit = max(1, min(limit, MAX_PAGE))
        items = [_row_entry(r, others.get(r.task_id) if others else None) for r in rows[offset:offset + limit]]
        return {"cell": cell, "total": len(rows), "offset": offset, "limit": limit, "rows": items,
                "version": self.snapshot().version}

    def csv(self, cell: str, **filters: Any) -> str:
        """Every row of `query` (all pages) as CSV, with B's verdict when pairing."""
        rows, others = self.query(cell, **filters)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        extra = ("b_cell_id", "b_verdict", "b_extracted") if others else ()
        w.writerow([*CSV_COLUMNS, *extra])
        for r in rows:
            d = {**r.model_dump(), "verdict": verdict(r), "correct": int(is_right(r))}
            line = ["" if d.get(c) is None else d[c] for c in CSV_COLUMNS]
            if others:
                o = others.get(r.task_id)
                line += [o.cell_id, verdict(o), o.extracted or ""] if o else ["", "", ""]
            w.writerow(line)
        return buf.getvalue()

    # ---- one task

    def task(self, cell: str, task_id: str) -> dict[str, Any]:
        """A task: its row, the same task in other cells, its transcript and the method's graph."""
        snap = self.snapshot()
        row = snap.by_key.get((cell, task_id))
        if row is None:
            raise NotFound(f"no finished task {task_id!r} in cell {cell!r} (yet)")
        transcript = self.transcript(row)
        return {
            "row": {**row.model_dump(), "verdict": verdict(row)},
            "others": [{"cell_id": o.cell_id, "method_label": o.method_label or o.method, "assignment": o.assignment,
                        "seed": o.seed, "verdict": verdict(o), "extracted": o.extracted}
                       for o in snap.by_task.get(task_id, []) if o.cell_id != cell and o.dataset == row.dataset],
            "transcript": transcript.model_dump() if transcript else None,
            "where": _where(transcript),
            "graph": self.graph(row, transcript),
            "version": snap.version,
        }

    def markdown(self, cell: str, task_id: str) -> str:
        row = self.snapshot().by_key.get((cell, task_id))
        if row is None:
            raise NotFound(f"no finished task {task_id!r} in cell {cell!r} (yet)")
        return to_markdown({**row.model_dump(), "verdict": verdict(row)}, self.transcript(row))

    def trace_file(self, row: ResultRow) -> Path | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the store (a single run holds nothing open)."""

    def run_id(self, row: ResultRow) -> str:
        return row.task_id

    def transcript(self, row: ResultRow) -> Transcript | None:
        path = self.trace_file(row)
        if path is None:
            return None
        with self._lock:
            index = self._traces.setdefault(path, TraceIndex(path))
        events = index.events(self.run_id(row))
        return build_transcript(self.run_id(row), events) if events else None

    def warm(self) -> None:
        """Draw every cell's graph ahead of the first task view (importing LangGraph and the registered
        systems takes seconds); run in a background thread by the server."""
        try:
            for rows in list(self.snapshot().by_cell.values()):
                if rows and rows[0].cell_id not in self._graphs:
                    self._graphs[rows[0].cell_id] = _method_graph(rows[0])
        except Exception as e:  # warming is an optimisation; a failure shows up where the graph is asked for
            log.debug("view: warm-up failed", error=repr(e))

    def graph(self, row: ResultRow, transcript: Transcript | None) -> dict[str, Any]:
        """The method's graph as SVG: drawn from the registered system when its topology is fixed, else the
        path this run took (from its trace)."""
        from maslab import drawing

        key = row.cell_id
        if key not in self._graphs:
            self._graphs[key] = _method_graph(row)
        drawn = self._graphs[key]
        if drawn.get("svg"):
            return drawn
        if transcript is None or not any(g.node for g in transcript.groups):
            return {"svg": "", "source": "none", "note": drawn.get("note", "") + " No node was recorded in the trace."}
        return {"svg": drawing.svg(*observed_structure(transcript)), "source": "observed",
                "note": (drawn.get("note", "") + " Drawn from the nodes this run passed through.").strip()}


def _method_graph(row: ResultRow) -> dict[str, Any]:
    from maslab import drawing
    from maslab.method import method_class

    try:
        cls = method_class(row.method)
        params = dict(row.method_params)
        roles = {r: v for r, v in (row.roles or {}).items() if r in cls.roles}
        if roles:
            params["roles"] = {**params.get("roles", {}), **roles}
        method = cls(cls.Config.model_validate(params))
        if method.per_run_graph():
            return {"note": f"{row.method} builds its graph per run."}
        return {"svg": drawing.to_svg(method), "source": "method", "note": f"The graph of {row.method}."}
    except Exception as e:  # unknown (e.g. a workflow's own graph) or not buildable here: draw what ran
        return {"note": f"The system {row.method or '(unnamed)'!r} is not drawn from a registration here "
                        f"({type(e).__name__})."}


def _where(transcript: Transcript | None) -> list[dict[str, Any]]:
    """Where the run failed: each distinct failure with its place (node, step, agent, alias)."""
    if transcript is None:
        return []
    return [{"error": f.error, "where": f.where, "node": f.node, "agent": f.agent, "alias": f.alias}
            for f in transcript.failures]


def _status_ok(row: ResultRow, status: str) -> bool:
    v = verdict(row)
    return {"right": v == "right", "wrong": v == "wrong", "error": v == "error",
            "not_right": v in ("wrong", "error")}[status]


def _pair_ok(a: ResultRow, b: ResultRow, pair: str) -> bool:
    ra, rb = is_right(a), is_right(b)
    return {"a_right_b_wrong": ra and not rb, "a_wrong_b_right": rb and not ra, "both_right": ra and rb,
            "both_wrong": not ra and not rb}[pair]


def _clip(text: str | None, n: int = 240) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[:n] + "…"


def _row_entry(r: ResultRow, other: ResultRow | None) -> dict[str, Any]:
    out = {"task_id": r.task_id, "status": r.status, "verdict": verdict(r), "score": r.score,
           "extracted": _clip(r.extracted, 80), "reference": _clip(r.reference, 80), "question": _clip(r.question),
           "answer": _clip(r.answer), "error": _clip(r.error), "tokens": r.prompt_tokens + r.completion_tokens,
           "calls": r.calls, "latency_s": round(r.latency_s, 3), "cache_hits": r.cache_hits}
    if other is not None:
        out["b"] = {"cell_id": other.cell_id, "verdict": verdict(other), "extracted": _clip(other.extracted, 80)}
    return out


def _cell_entry(s: CellSummary) -> dict[str, Any]:
    d = s.model_dump()
    d["total_tokens"] = round(s.tokens_per_task * s.n)
    d["model_seconds"] = round(s.latency_mean_s * s.n, 3)
    return d


def _pooled_entry(a: SeedAggregate) -> dict[str, Any]:
    d = a.model_dump()
    d["total_tokens"] = round(a.tokens_per_task * a.n)
    d["model_seconds"] = round(a.latency_mean_s * a.n, 3)
    return d


def _stat_version(*paths: Path) -> str:
    parts = []
    for p in paths:
        try:
            st = p.stat()
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except FileNotFoundError:
            parts.append("-")
    return "|".join(parts)


class SweepSource(Source):
    """A sweep folder: results.sqlite (read through `ResultStore`, read-only) and traces/."""

    kind = "sweep"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.db = path / "results.sqlite"
        self.store = ResultStore.open(self.db, readonly=True)
        self._title = ""

    def version(self) -> str:
        return _stat_version(self.db, self.db.with_name(self.db.name + "-wal"))

    def title(self) -> str:
        if not self._title:
            sweep = self.store.get_meta("sweep")
            self._title = str(sweep.get("name")) if isinstance(sweep, dict) and sweep.get("name") else self.path.name
        return self._title

    def _load(self, version: str) -> Snapshot:
        start = time.perf_counter()
        rows, cells = self.store.rows(), self.store.cells()
        return Snapshot.of(version, rows, cells, start)

    def trace_file(self, row: ResultRow) -> Path | None:
        """The row's trace: the file of its name under this folder's traces/ (the folder may have moved since),
        else the path the sweep recorded."""
        if not row.trace_path:
            return None
        recorded = Path(row.trace_path)
        for candidate in (self.path / "traces" / recorded.name, recorded):
            if candidate.is_file():
                return candidate
        return None

    def close(self) -> None:
        self.store.close()


class RunSource(Source):
    """A `maslab run --question` folder: result.json and trace.jsonl, shown as one unscored task."""

    kind = "run"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.result_path, self.trace_path = path / "result.json", path / "trace.jsonl"

    def version(self) -> str:
        return _stat_version(self.result_path, self.trace_path)

    def _load(self, version: str) -> Snapshot:
        start = time.perf_counter()
        result: dict[str, Any] = {}
        if self.result_path.is_file():
            try:
                result = json.loads(self.result_path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise ConfigError(f"{self.result_path}: not valid JSON ({e})") from e
        first = self._first_start()
        usage = result.get("usage") or {}
        row = ResultRow(cell_id="run", task_id=str(first.get("task_id") or "question"),
                        sweep=str(result.get("workflow") or self.path.name), method=str(first.get("method") or ""),
                        method_label=str(result.get("workflow") or first.get("method") or "run"),
                        question=str(result.get("question") or ""), answer=result.get("answer"),
                        status="ok" if "answer" in result else "error",
                        error=None if "answer" in result else "the run left no result.json (it did not finish)",
                        score_detail={"unscored": True}, metadata=result.get("metadata") or {},
                        prompt_tokens=int(usage.get("prompt_tokens") or 0),
                        completion_tokens=int(usage.get("completion_tokens") or 0), calls=int(usage.get("calls") or 0),
                        trace_path=str(self.trace_path))
        self._run_id = str(first.get("run_id") or "")
        return Snapshot.of(version, [row], [], start)

    def _first_start(self) -> dict[str, Any]:
        if not self.trace_path.is_file():
            return {}
        with self.trace_path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "start":
                    return event
        return {}

    def run_id(self, row: ResultRow) -> str:
        self.snapshot()
        return self._run_id

    def trace_file(self, row: ResultRow) -> Path | None:
        return self.trace_path if self.trace_path.is_file() else None


def open_source(path: str | Path) -> Source:
    """The run folder at `path`: a sweep (results.sqlite) or a single run (result.json / trace.jsonl)."""
    p = Path(path).expanduser()
    if p.is_file() and p.name == "results.sqlite":
        p = p.parent
    if not p.is_dir():
        raise ConfigError(f"{p}: no such folder (give a sweep folder from `maslab bench --out DIR` or a run "
                          "folder from `maslab run`)")
    if (p / "results.sqlite").is_file():
        return SweepSource(p)
    if (p / "result.json").is_file() or (p / "trace.jsonl").is_file():
        return RunSource(p)
    raise ConfigError(f"{p}: not a maslab run folder: no results.sqlite (a sweep: `maslab bench SWEEP --out DIR`) "
                      "and no result.json or trace.jsonl (a run: `maslab run WORKFLOW --question Q`)")
