"""The per-dialogue T1 result cache: unique-key writes, checked reads, a summary line per entry, JSON.

Semantics (arXiv 2505.16986 §cache): results persist across the turns of one dialogue under keys
that never collide; a duplicate save or a read of an unknown key is an error (`CacheKeyError`).

The summary the model sees is our design (the paper's function is not published): one line per
entry, in insertion order, ``key: <provenance> → <n> row(s)`` for a results table, where the
provenance is the canonical chain of tool steps (parameters in signature order, lists as sorted
sets, ``500.0`` written ``500``), and ``key: <type> = <value>`` (value cut at 80 characters) for
any other JSON-compatible value. An empty cache summarises to the empty string. The summary is a
pure function of the cache contents, so it is byte-stable.

Values are stored *encoded* (plain JSON data), so a read returns a fresh copy that the plan may
mutate freely, and the whole cache crosses a process boundary as JSON (`to_json`/`from_json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from maslab.tools.travel.table import Table, format_value, render_query

__all__ = ["CacheKeyError", "ToolCache", "decode_value", "encode_value", "summarize_entry"]

_TABLE_TAG = "__t1_table__"


class CacheKeyError(KeyError):
    """A duplicate key on save or an unknown key on read."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else ""


def encode_value(value: Any, _path: str = "value") -> Any:
    """A cacheable value as plain JSON data; `TypeError` for anything that is not cacheable."""
    if isinstance(value, Table):
        return {_TABLE_TAG: value.to_json()}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError(f"{_path}: non-finite float is not cacheable")
        return value
    if isinstance(value, list | tuple):
        return [encode_value(v, f"{_path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{_path}: dict keys must be strings, got {type(k).__name__}")
            out[k] = encode_value(v, f"{_path}[{k!r}]")
        return out
    raise TypeError(f"{_path}: a {type(value).__name__} is not cacheable (save a results table or JSON data)")


def decode_value(data: Any) -> Any:
    if isinstance(data, dict):
        if _TABLE_TAG in data and len(data) == 1:
            return Table.from_json(data[_TABLE_TAG])
        return {k: decode_value(v) for k, v in data.items()}
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    return data


def summarize_entry(key: str, encoded: Any) -> str:
    """The summary line of one cache entry (see the module docstring for the format)."""
    if isinstance(encoded, dict) and _TABLE_TAG in encoded and len(encoded) == 1:
        t = encoded[_TABLE_TAG]
        n = len(t["rows"])
        return f"{key}: {render_query(t.get('query', ()))} → {n} row{'' if n == 1 else 's'}"
    kind = {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(
        type(encoded), "none" if encoded is None else type(encoded).__name__)
    text = format_value(decode_value(encoded))
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{key}: {kind} = {text}"


class ToolCache:
    """Key → result map of one dialogue; see the module docstring for its rules."""

    def __init__(self, entries: Mapping[str, Any] | None = None, *, encoded: bool = False):
        self._data: dict[str, Any] = {}
        for k, v in (entries or {}).items():
            self._data[k] = v if encoded else encode_value(v)

    # -- the two tools -------------------------------------------------------------------------
    def save_to_cache(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise CacheKeyError(f"save_to_cache: key must be a non-empty string, got {key!r}")
        if key in self._data:
            raise CacheKeyError(f"save_to_cache: key {key!r} already exists in the cache; use a new key")
        self._data[key] = encode_value(value)

    def get_results_from_cache(self, key: str) -> Any:
        if key not in self._data:
            known = ", ".join(repr(k) for k in self._data) or "none"
            raise CacheKeyError(f"get_results_from_cache: no key {key!r} in the cache (keys: {known})")
        return decode_value(self._data[key])

    save = save_to_cache
    get = get_results_from_cache

    # -- views ---------------------------------------------------------------------------------
    def summary_lines(self) -> list[str]:
        return [summarize_entry(k, v) for k, v in self._data.items()]

    def summary(self) -> str:
        return "\n".join(self.summary_lines())

    def keys(self) -> list[str]:
        return list(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolCache) and self._data == other._data

    def __repr__(self) -> str:
        return f"ToolCache({self.keys()})"

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``{"entries": [{"key": k, "value": encoded}, …]}`` (order kept)."""
        return {"entries": [{"key": k, "value": v} for k, v in self._data.items()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ToolCache:
        cache = cls()
        for e in (data or {}).get("entries", []):
            if e["key"] in cache._data:
                raise CacheKeyError(f"duplicate key {e['key']!r} in serialised cache")
            cache._data[e["key"]] = e["value"]
        return cache

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ToolCache:
        return cls.from_dict(json.loads(text))

    def copy(self) -> ToolCache:
        return ToolCache.from_dict(json.loads(self.to_json()))
