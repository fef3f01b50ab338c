"""Benchmarks: datasets, answer extraction, scorers, sweeps, the result store and reports.

    from maslab.bench import load_dataset, get_scorer
    tasks = load_dataset("gsm8k", path="../shared/data/gsm8k_test.jsonl", limit=20)

Names are imported lazily (sympy, scipy and matplotlib load only when used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(["load_dataset", "list_datasets", "shuffle_choices"], "maslab.bench.datasets"),
    **dict.fromkeys(["extract_number", "extract_choice", "extract_boxed", "extract_code", "math_equal"],
                    "maslab.bench.extract"),
    **dict.fromkeys(["Score", "Scorer", "get_scorer", "score_for", "register_scorer", "SCORERS"],
                    "maslab.bench.scorers"),
    **dict.fromkeys(["Sweep", "load_sweep", "run_sweep"], "maslab.bench.sweep"),
    **dict.fromkeys(["ResultStore", "ResultRow"], "maslab.bench.store"),
    **dict.fromkeys(["summarize", "compare"], "maslab.bench.report"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maslab.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
