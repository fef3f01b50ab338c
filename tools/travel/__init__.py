"""T1: multi-domain, multi-turn travel planning with tools and a cross-turn cache (arXiv 2505.16986).

Pieces (each module states its one job): `schema` (KB row models), `kb` (seeded KB generator,
SQLite store, loader), `table` (result tables with provenance), `cache` (the dialogue cache and
its summary), `tools` (the fourteen tools), `analysis` (static call/data-flow extraction),
`runner` (runs a plan inside the sandbox child), `execute` (runs plans in the sandbox from the
parent), `dialogues` (dialogue generator with gold code), `metrics`, `prompt` (T1-Agent prompt and
reply parser), `dataset` (dialogues as `Task`s). Names below are imported lazily.

Decisions we made where the paper does not publish the details ("our implementation defines its own"):

Knowledge base
- Attribute names are ours; the counts match the paper (flight 35, hotel 43, restaurant 21,
  attraction 7). One flight row is one offer in one seat class.
- Flying time = great-circle distance origin→destination / 450 mph (not summed over legs);
  arrival = departure + flying time + layovers (0–2 of 60–360 min in 5-min steps); one time zone.
  Layover airports: the smallest-detour ones among five random airports.
- Flights are generated in route-day bundles of 1–7 (half of them between dialogue cities);
  dates span 45 days (`test`) or 180 days (`paper`) from 2025-06-01.
- ~70 real US cities (approximate coordinates, real IATA codes) plus synthetic names for the
  rest; dialogue cities are real airport cities that also have attractions; splits 13/4/37 at
  `paper` scale, 4/2/10 at `test` scale (24 cities, 16 airports, 288 hotels, 240 restaurants,
  112 attractions, 4,000 flights). 30 % of hotels have a narrow availability window.
- The KB is one SQLite file; `get_kb` builds it on first use under $MASLAB_T1_KB_DIR or
  ~/.cache/maslab/t1.

Tools
- Signatures: `search_flights(origin, destination, departure_date, *, filters)`,
  `search_hotels(city, checkin_date, checkout_date, *, filters)`, `search_restaurants(city, *, …)`,
  `search_attractions(city, *, …)` (city is our mandatory parameter for the last two),
  `filter_<domain>(prior_results, *, filters)`, `search_nearest(prior_results, target, limit=5)`,
  `sort_results(prior_results, by, ascending=True)`, `adjust_date(date, days)`,
  `save_to_cache(key, value)`, `get_results_from_cache(key)`, `seek_information(message)`.
  The filters of each domain are listed in `tools.py` and in the prompt's tool config.
- Arguments are validated strictly (no coercion: "500" is not a number); every argument fault
  is a `pydantic.ValidationError` titled with the tool name. String matching is exact and
  case-sensitive; flights also accept airport codes; an unknown city gives an empty table.
- `search_nearest` looks in the anchors' cities, ranks by the distance to the nearest anchor
  (haversine miles), skips the anchors themselves, and adds `distance_miles` and `nearest_to`.
- Results are `Table`s (lists of row dicts) carrying their provenance, not dataframes.

Cache
- Summary line: ``key: step | step → n rows`` (see `cache.py`); empty cache → empty string.
- Keys: the prompt asks for ``<domain>_<n>`` with n one above the highest used (gold code does so).
- Duplicate/unknown keys raise `CacheKeyError` (taxonomy "other"). A plan that fails keeps what
  it saved before the failure; a plan that is killed or times out leaves the cache unchanged.
- Turn chaining: `cache_mode="gold"` by default, `"rollout"` carries the prediction's cache.

Execution
- Plans run with `runpy` in the `maslab.tools.sandbox` child only; their `__import__` admits a
  short list of harmless modules and `open`/`exec`/`eval`/`compile`/`input` are removed (defence
  in depth; the sandbox is the boundary). The KB file is copied into the work dir when it is at
  most 48 MiB or not readable from the sandbox (under /tmp, in a home or other private
  directory); a larger, world-readable file (e.g. a `paper` KB under $MASLAB_T1_KB_DIR=/srv/…)
  is opened in place.
  `execute_plans` runs a batch of trusted plans in one child (falling back to one child each).
- Error taxonomy: `ValidationError` → validation_error, `NameError` → undefined_variable,
  `IndexError` → index_out_of_range, everything else (syntax errors, cache-key errors,
  time-outs, memory, kills) → other.

Dialogues
- Templates are ours: 20 per category (paper: 60), each a sequence of moves (intro, refine,
  re-search, cross-domain link, no-op) from a per-category grammar; split 5/2/13
  (train/validation/test ≈ 25/9/66 %). Single-domain dialogues have 3–4 user turns (6–8 turns),
  multi-domain 4–5 (8–10). Missing-information turns ask
  ``seek_information("Could you please provide the <missing>?")``; no-op turns are thanks or
  acknowledgements (closing, or mid-dialogue in some single-domain templates). Gold code uses
  keyword arguments, `save_to_cache("<domain>_<n>", var)` and `get_results_from_cache(key=…)`;
  refinements reuse the latest cached result of their domain; a changed mandatory parameter
  re-searches with the optional filters given so far. Fills are chosen from the KB so that
  results are mostly non-empty (e.g. a budget at or above some listed price).

Metrics
- Tool calls and parameters are read statically from the code (AST), with exact constant folding
  (names bound to literals, f-strings, `adjust_date` on constants); greedy matching ties go to
  the earliest predicted call. Tool/parameter accuracy = exact multiset match.
- Empty gold and empty prediction: P = R = F1 = 1; exactly one empty: 0.
- The no-op line is recognised by its AST (quote style and spacing free).
- Information seeking: our sentence-BLEU re-implementation and token F1; BERTScore is a
  caller-supplied function (no model is shipped).
- Aggregates: percent, mean over turns (overall and per category) and mean over categories.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "KnowledgeBase": "kb", "build_kb": "kb", "load_kb": "kb", "get_kb": "kb", "default_kb_path": "kb",
    "SCALES": "kb", "KBScale": "kb",
    "Table": "table",
    "ToolCache": "cache", "CacheKeyError": "cache",
    "TravelTools": "tools", "TOOL_NAMES": "tools", "TOOL_SPECS": "tools", "NO_PLANNING": "tools",
    "extract_calls": "analysis", "plan_graph": "analysis",
    "ExecutionResult": "execute", "ToolCallRecord": "execute", "execute_plan": "execute",
    "aexecute_plan": "execute", "execute_plans": "execute", "aexecute_plans": "execute",
    "Dialogue": "dialogues", "DialogueTurn": "dialogues", "CATEGORIES": "dialogues",
    "generate_dialogues": "dialogues", "generate_dialogue": "dialogues", "templates": "dialogues",
    "template_split": "dialogues",
    "TurnScore": "metrics", "MetricsReport": "metrics", "score_turn": "metrics", "aggregate": "metrics",
    "evaluate_dialogue": "metrics",
    "build_prompt": "prompt", "parse_reply": "prompt", "default_examples": "prompt", "T1Prompt": "prompt",
    "t1_tasks": "dataset", "dialogue_from_task": "dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maslab.tools.travel' has no attribute {name!r}")
    return getattr(importlib.import_module(f"maslab.tools.travel.{module}"), name)
