"""The sweep result store: one SQLite file (WAL), one row per (cell, task), committed as it finishes.

It is the single source for reports and for calibrating routers (per-model, per-task correctness).
`question` holds the task as a model saw it (`Task.prompt()`: the question with its lettered
choices), which is also what routers calibrate on. A row is written once its task finished — answered and scored (`status='ok'`), failed at
inference (`'error'`, scored as wrong and counted separately) or failed at scoring
(`'score_error'`, also wrong). Rows are committed as they finish — those finishing together in one
transaction (`write_many`; WAL journal, synchronous=NORMAL) — so a sweep killed with SIGKILL loses
nothing that finished (an OS crash or power loss may lose the
last few rows, which `--resume` then runs again); `--resume` skips `ok` rows and re-runs the others.
A damaged, read-only or unreadable file is a `DatabaseFileError` naming it, never a traceback.

One writer at a time: `exclusive(folder)` holds an advisory lock (`fcntl.flock` on FOLDER/.lock,
released by the kernel however the holder ends) for a sweep's whole run; a second `maslab bench`
on the same folder stops at once, naming the holder's PID.

When a resumed sweep's grid changed and the user chose to go on (`--force-new-cells`), the rows
and cell records of the cells that are no longer in the grid move to `retired_results` and
`retired_cells` (same columns plus `retired_at`): nothing is lost, and reports, statistics and
router calibration, which read `results`, never mix them with the new grid's rows.

Tables
  results(cell_id, task_id, sweep, method, method_label, method_params, assignment, roles, dataset,
          seed, question, reference, domain, status, answer, extracted, score, correct, error,
          score_detail, prompt_tokens, completion_tokens, calls, cache_hits, latency_s, usage_by_role,
          metadata, trace_path, attempts, started_at, finished_at)      PRIMARY KEY (cell_id, task_id)
  cells(cell_id, sweep, method, method_label, method_params, assignment, roles, dataset, seed, n_tasks,
        definition)                        definition: what the cell id's hash was computed from
  meta(key, value)                         the sweep definition ("sweep"), earlier ones ("sweep_history")
  retired_results, retired_cells           rows and cells set apart by --force-new-cells
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from maslab.errors import BusyError, ConfigError
from maslab.sqlitefile import connect, located

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    cell_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sweep TEXT,
    method TEXT,
    method_label TEXT,
    method_params TEXT,
    assignment TEXT,
    roles TEXT,
    dataset TEXT,
    seed INTEGER,
    question TEXT,
    reference TEXT,
    domain TEXT,
    status TEXT NOT NULL,
    answer TEXT,
    extracted TEXT,
    score REAL,
    correct INTEGER,
    error TEXT,
    score_detail TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    calls INTEGER,
    cache_hits INTEGER,
    latency_s REAL,
    usage_by_role TEXT,
    metadata TEXT,
    trace_path TEXT,
    attempts INTEGER,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (cell_id, task_id)
);
CREATE TABLE IF NOT EXISTS cells (
    cell_id TEXT PRIMARY KEY,
    sweep TEXT,
    method TEXT,
    method_label TEXT,
    method_params TEXT,
    assignment TEXT,
    roles TEXT,
    dataset TEXT,
    seed INTEGER,
    n_tasks INTEGER,
    definition TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class ResultRow(BaseModel):
    """One finished (cell, task)."""

    cell_id: str
    task_id: str
    sweep: str = ""
    method: str = ""
    method_label: str = ""
    method_params: dict[str, Any] = Field(default_factory=dict)
    assignment: str = ""
    roles: dict[str, Any] = Field(default_factory=dict)
    dataset: str = ""
    seed: int = 0
    question: str = ""
    reference: str | None = None
    domain: str | None = None
    status: str = "ok"  # ok | error | score_error
    answer: str | None = None
    extracted: str | None = None
    score: float = 0.0
    correct: bool = False
    error: str | None = None
    score_detail: dict[str, Any] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cache_hits: int = 0
    latency_s: float = 0.0
    usage_by_role: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)  # the solution's structured metadata
    trace_path: str | None = None
    attempts: int = 1
    started_at: float = 0.0
    finished_at: float = 0.0


_JSON_FIELDS = ("method_params", "roles", "score_detail", "usage_by_role", "metadata")
_COLUMNS = tuple(ResultRow.model_fields)
_INSERT = f"INSERT OR REPLACE INTO results ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})"


class ResultStore:
    """Thread-safe access to a sweep's results.sqlite."""

    WHAT = "result store"

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if readonly:
            self._db = connect(self.path, self.WHAT, readonly=True)
            self._db.row_factory = sqlite3.Row
            with self._use():
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(results)")}
            missing = {"cell_id", "task_id", "status", "method", "assignment", "dataset"} - columns
            if missing:
                self._db.close()
                raise ConfigError(f"{self.path}: not a maslab result store (table 'results' lacks "
                                  f"{', '.join(sorted(missing))})")
            return
        # WAL + NORMAL: every committed row survives the process being killed (SIGKILL, OOM, Ctrl-C);
        # only an OS crash or power loss can lose the last few commits. FULL would fsync every row.
        self._db = connect(self.path, self.WHAT, pragmas=("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"))
        self._db.row_factory = sqlite3.Row
        with self._use():
            self._db.executescript(SCHEMA)
            for table, column in (("results", "metadata"), ("cells", "definition")):  # stores of older versions
                if column not in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")

    @contextmanager
    def _use(self) -> Iterator[None]:
        with self._lock, located(self.path, self.WHAT):
            yield

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> ResultStore:
        """A store from a sweep folder or a results.sqlite path (which must exist)."""
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / "results.sqlite"
        if not p.is_file():
            raise ConfigError(f"no result store at {p}: no results.sqlite there (give a sweep folder or its "
                              "results.sqlite)")
        return cls(p, readonly=readonly)

    def set_meta(self, key: str, value: Any) -> None:
        with self._use():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, default=str)))

    def get_meta(self, key: str) -> Any:
        with self._use():
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def add_cell(self, cell: dict[str, Any]) -> None:
        cols = ("cell_id", "sweep", "method", "method_label", "method_params", "assignment", "roles", "dataset",
                "seed", "n_tasks", "definition")
        values = [json.dumps(cell.get(c), default=str) if c in (*_JSON_FIELDS, "definition") else cell[c]
                  for c in cols]
        with self._use():
            self._db.execute(f"INSERT OR REPLACE INTO cells ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                             values)

    def write(self, row: ResultRow) -> None:
        """Commit one finished row (replacing an earlier failed attempt of the same cell and task)."""
        self.write_many([row])

    def write_many(self, rows: Sequence[ResultRow | dict[str, Any]]) -> None:
        """Commit finished rows (ResultRows, or their `model_dump()`) in one transaction, each replacing an
        earlier failed attempt of the same cell and task."""
        if not rows:
            return
        values = []
        for row in rows:
            data = row.model_dump() if isinstance(row, ResultRow) else row
            values.append([json.dumps(data[c], default=str) if c in _JSON_FIELDS else
                           int(data[c]) if c == "correct" else data[c] for c in _COLUMNS])
        with self._use():
            self._db.execute("BEGIN")
            try:
                self._db.executemany(_INSERT, values)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finished(self) -> set[tuple[str, str]]:
        """(cell_id, task_id) pairs that finished with status ok."""
        with self._use():
            rows = self._db.execute("SELECT cell_id, task_id FROM results WHERE status='ok'").fetchall()
        return {(r[0], r[1]) for r in rows}

    def attempts(self) -> dict[tuple[str, str], int]:
        with self._use():
            rows = self._db.execute("SELECT cell_id, task_id, attempts FROM results").fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def rows(self, where: str = "", params: tuple[Any, ...] = (), *, order: str = "cell_id, task_id") -> list[ResultRow]:
        """Rows matching `where` (SQL with `params`), ordered by `order` (default cell, task; "rowid": as written)."""
        with self._use():
            cur = self._db.execute(f"SELECT * FROM results {where} ORDER BY {order}", params)
            raw = cur.fetchall()
        out = []
        for r in raw:
            d = dict(r)
            for f in _JSON_FIELDS:
                d[f] = json.loads(d[f]) if d.get(f) else {}
            d["correct"] = bool(d["correct"])
            out.append(ResultRow.model_validate(d))
        return out

    def cells(self) -> list[dict[str, Any]]:
        with self._use():
            raw = self._db.execute("SELECT * FROM cells ORDER BY cell_id").fetchall()
        out = []
        for r in raw:
            d = dict(r)
            for f in ("method_params", "roles", "definition"):
                d[f] = json.loads(d[f]) if d.get(f) else {}
            out.append(d)
        return out

    def retire(self, cell_ids: set[str]) -> int:
        """Move the rows and records of `cell_ids` to the retired tables (one transaction); returns the
        number of rows set apart."""
        if not cell_ids:
            return 0
        marks = ",".join("?" * len(cell_ids))
        ids = sorted(cell_ids)
        with self._use():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                moved = 0
                for table in ("results", "cells"):
                    self._db.execute(f"CREATE TABLE IF NOT EXISTS retired_{table} AS "
                                     f"SELECT *, 0.0 AS retired_at FROM {table} WHERE 0")
                    keep = {r[1] for r in self._db.execute(f"PRAGMA table_info(retired_{table})")}
                    cols = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})") if r[1] in keep]
                    listed = ",".join(cols)
                    cur = self._db.execute(f"INSERT INTO retired_{table} ({listed}, retired_at) SELECT {listed}, ? "
                                           f"FROM {table} WHERE cell_id IN ({marks})", [time.time(), *ids])
                    moved += cur.rowcount if table == "results" else 0
                    self._db.execute(f"DELETE FROM {table} WHERE cell_id IN ({marks})", ids)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return moved

    def retired_count(self) -> int:
        with self._use():
            if not self._db.execute("SELECT 1 FROM sqlite_master WHERE name='retired_results'").fetchone():
                return 0
            return self._db.execute("SELECT COUNT(*) FROM retired_results").fetchone()[0]

    def count(self, status: str | None = None) -> int:
        with self._use():
            if status is None:
                return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM results WHERE status=?", (status,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def now() -> float:
    return time.time()


LOCK_FILE = ".lock"
_held: set[str] = set()  # folders this process holds (the lock is re-entrant within a process)
_held_lock = threading.Lock()


@contextmanager
def exclusive(folder: str | Path) -> Iterator[None]:
    """Hold FOLDER/.lock exclusively while writing results there; `BusyError` naming the holder's
    PID, at once, when another process holds it."""
    folder = Path(folder)
    key = str(folder.resolve())
    with _held_lock:
        nested = key in _held
        _held.add(key)
    if nested:
        yield
        return
    try:
        with _exclusive(folder):
            yield
    finally:
        with _held_lock:
            _held.discard(key)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    path = folder / LOCK_FILE
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot open its lock file {path.name} ({exc.strerror}): the folder must "
                          "exist or be creatable, and be writable") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise BusyError(f"{folder} is in use by another maslab process (PID {holder}): wait for it to "
                            "finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            if created and os.listdir(folder) == [LOCK_FILE]:  # nothing was written: leave no trace
                os.remove(path)
                os.rmdir(folder)
    finally:
        os.close(fd)  # releases the lock
