"""The benchmark host: dataset and scorer registries, sweeps, the result store, statistics and reports.

    from maslab.bench import load_dataset, get_scorer
    tasks = load_dataset("gsm8k", path="../shared/data/gsm8k_test.jsonl", limit=20)

Names are imported lazily (sympy, scipy and matplotlib load only when used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(["load_dataset", "list_datasets", "register_dataset", "shuffle_choices"],
                    "maslab.bench.datasets"),
    **dict.fromkeys(["Score", "Scorer", "get_scorer", "list_scorers", "score_for", "register_scorer", "SCORERS"],
                    "maslab.bench.scorers"),
    **dict.fromkeys(["Sweep", "load_sweep", "run_sweep"], "maslab.bench.sweep"),
    **dict.fromkeys(["ResultStore", "ResultRow"], "maslab.bench.store"),
    **dict.fromkeys(["summarize", "compare", "aggregate_seeds", "wilson_interval"], "maslab.bench.stats"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maslab.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
