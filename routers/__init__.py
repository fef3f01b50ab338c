"""Model-routing policies: the Avengers router (arXiv 2505.19797) with its embedders, and X-MAS-Design
(arXiv 2505.16997), which assigns each role of a system the best alias for its function.

Voting over sampled answers is `maslab.answers.vote` (the one copy); `maslab route …` is the
plug-in command in `maslab.routers.cli`.

Exports are resolved lazily, so `import maslab.routers` stays cheap (numpy, sklearn, faiss and
sentence-transformers load only when used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # routers/avengers.py
    "CalibrationRecord": "avengers", "ClusterStats": "avengers", "Explanation": "avengers",
    "RecordsError": "avengers", "Route": "avengers", "Router": "avengers", "RouterConfig": "avengers",
    "RouterError": "avengers", "calibrate": "avengers", "load_records": "avengers",
    "records_from_store": "avengers", "select_models": "avengers", "split_records": "avengers",
    # routers/embeddings.py
    "CachedEmbedder": "embeddings", "Embedder": "embeddings", "EmbeddingError": "embeddings",
    "OpenAIEmbedder": "embeddings", "SentenceTransformerEmbedder": "embeddings",
    "embedder_from_spec": "embeddings",
    # routers/xmas.py
    "xmas_assign": "xmas", "XMASAssigner": "xmas", "RoleChoice": "xmas",
    # routers/cli.py
    "RouteCommandError": "cli", "route_command": "cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
