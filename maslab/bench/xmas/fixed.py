"""The fixed inputs of X-MAS-Bench, stored content-addressed.

Each function harness holds everything but the examined model fixed (spec §1): the draft a
reviser revises, the three answers an aggregator fuses, the solution an evaluator judges, the
judge's label for that solution. They are made once — by the fixed aliases the bench config names
— and stored under the SHA-256 of everything that determines them (the kind, the producing
alias and its model, the exact messages and sampling parameters, the task), so every examined
alias sees byte-identical inputs and a second examined model reuses them without a call.

`FixedStore.at(path)` is the one store of a file in this process (a SQLite file in WAL mode; None:
a store in memory that lives as long as the process). Inside a process, one asyncio lock per key
makes concurrent runs wait for the first producer instead of calling twice; across processes the
first committed value wins (`INSERT OR IGNORE`, then every reader reads the stored row), so even
two sweeps sharing one file see the same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

_SCHEMA = ("CREATE TABLE IF NOT EXISTS fixed (key TEXT PRIMARY KEY, kind TEXT, spec TEXT, value TEXT, "
           "created REAL)")


def content_key(spec: dict[str, Any]) -> str:
    """The SHA-256 of `spec` as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Fixed(BaseModel):
    """One fixed input: its content address, its value, and whether this call had to make it."""

    key: str
    kind: str
    value: dict[str, Any]
    made: bool


class FixedStore:
    """Content-addressed fixed inputs (see the module docstring)."""

    _open: dict[str, FixedStore] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser().resolve() if path else None
        self._db_lock = threading.Lock()
        self._memory: dict[str, str] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    @classmethod
    def at(cls, path: str | Path | None) -> FixedStore:
        """The process's store for `path` (one per resolved file; None or "": the in-memory store)."""
        key = str(Path(path).expanduser().resolve()) if path else ""
        with cls._open_lock:
            store = cls._open.get(key)
            if store is None:
                store = cls._open[key] = cls(key or None)
            return store

    @property
    def location(self) -> str:
        return str(self.path) if self.path else ":memory:"

    def get(self, key: str) -> dict[str, Any] | None:
        with self._db_lock:
            if self._db is None:
                raw = self._memory.get(key)
            else:
                row = self._db.execute("SELECT value FROM fixed WHERE key=?", (key,)).fetchone()
                raw = row[0] if row else None
        return json.loads(raw) if raw is not None else None

    def _put(self, key: str, kind: str, spec: dict[str, Any], value: dict[str, Any]) -> None:
        raw = json.dumps(value, ensure_ascii=False, default=str)
        with self._db_lock:
            if self._db is None:
                self._memory.setdefault(key, raw)
            else:
                self._db.execute("INSERT OR IGNORE INTO fixed VALUES (?,?,?,?,?)",
                                 (key, kind, json.dumps(spec, sort_keys=True, default=str), raw, time.time()))

    def _lock(self, key: str) -> asyncio.Lock:
        loop_key = (id(asyncio.get_running_loop()), key)
        with self._db_lock:
            lock = self._locks.get(loop_key)
            if lock is None:
                lock = self._locks[loop_key] = asyncio.Lock()
            return lock

    async def get_or_make(self, kind: str, spec: dict[str, Any],
                          make: Callable[[], Awaitable[dict[str, Any]]]) -> Fixed:
        """The stored value for (kind, spec), made by `make()` (once) when absent."""
        full = {"kind": kind, **spec}
        key = content_key(full)
        value = self.get(key)
        if value is not None:
            return Fixed(key=key, kind=kind, value=value, made=False)
        async with self._lock(key):
            value = self.get(key)
            if value is not None:
                return Fixed(key=key, kind=kind, value=value, made=False)
            made = await make()
            self._put(key, kind, full, made)
            stored = self.get(key)  # another process may have committed first: everyone reads the stored row
            return Fixed(key=key, kind=kind, value=stored if stored is not None else made, made=True)

    def __len__(self) -> int:
        with self._db_lock:
            if self._db is None:
                return len(self._memory)
            return self._db.execute("SELECT COUNT(*) FROM fixed").fetchone()[0]
