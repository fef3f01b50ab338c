"""SQLite files (the completion cache, a sweep's result store) opened and used with errors that name
the file and say what to do — a damaged, read-only or unreadable database is bad input, reported as a
`DatabaseFileError` (a `ConfigError`: the CLI exits 2), never a traceback."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from maslab.errors import DatabaseFileError

_ADVICE = (
    (("not a database", "malformed", "disk image"),
     "it is damaged or not a SQLite database: move it aside (or delete it) and run again"),
    (("locked", "busy"), "another process holds it locked: wait for it or use another path"),
    (("disk is full", "database or disk is full"), "the disk is full: free space and run again"),
)


def _advice(path: Path, error: str) -> str:
    for keys, advice in _ADVICE:
        if any(k in error for k in keys):
            return advice
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return "it is a folder, not a file: give the path of a SQLite file"
    if path.exists() and not os.access(path, os.R_OK):
        return "you may not read it: fix its permissions or use another path"
    if "readonly" in error or (path.exists() and not os.access(path, os.W_OK)) or not os.access(folder, os.W_OK):
        return "it or its folder is read-only: make both writable, or use another path"
    return "it cannot be opened: check that its folder exists and that you may read and write there"


def describe(path: str | Path, what: str, exc: BaseException) -> str:
    """`path: what: the error — what to do`."""
    return f"{path}: {what}: {exc} — {_advice(Path(path), str(exc).lower())}"


@contextmanager
def located(path: str | Path, what: str) -> Iterator[None]:
    """Turn SQLite and file-system errors inside the block into a `DatabaseFileError` about `path`."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseFileError(describe(path, what, exc)) from exc


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """Read-only; a WAL file in a folder we may not write is opened as immutable (SQLite could not
    create the shared-memory file it otherwise needs)."""
    uri = f"file:{path}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=timeout)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        if os.access(path.parent if str(path.parent) else ".", os.W_OK):
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False, isolation_level=None,
                           timeout=timeout)


def connect(path: str | Path, what: str, *, readonly: bool = False, timeout: float = 30.0,
            pragmas: tuple[str, ...] = ()) -> sqlite3.Connection:
    """A connection to `path` (created with its folder unless `readonly`), autocommit, usable from any
    thread, with `pragmas` and a first read run at once so that a bad file fails here, named."""
    path = Path(path)
    with located(path, what):
        if readonly:
            db = _connect_read_only(path, timeout)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=timeout)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            for pragma in pragmas:
                db.execute(pragma)
        except BaseException:
            db.close()
            raise
    return db
