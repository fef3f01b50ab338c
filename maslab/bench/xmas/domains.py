"""X-MAS-Bench's domains: the names a bench table and an X-MAS assignment use.

The paper (arXiv 2505.16997) has five domains — math, coding, science, medicine, finance. maslab
names coding `code` (the `Task.domain` the HumanEval loader and `format_of` already use). The
release does not say where GPQA, MMLU and MMLU-Pro belong; we file GPQA under `science` and the
MMLUs under `general` (our design choice, spec §1).
"""

from __future__ import annotations

from maslab.errors import ConfigError

DOMAINS = ("math", "code", "science", "medicine", "finance", "general")

_SYNONYMS = {
    "coding": "code", "programming": "code",
    "mathematics": "math", "maths": "math",
    "medical": "medicine", "med": "medicine", "biomedical": "medicine",
    "financial": "finance",
}

# which domain each X-MAS dataset of ours belongs to (the loaders set Task.domain accordingly)
DATASET_DOMAINS = {
    "gsm8k": "math", "aqua": "math", "arithmetic": "math", "math500": "math", "aime": "math",
    "humaneval": "code",
    "gpqa": "science", "scibench": "science",
    "medqa": "medicine", "medmcqa": "medicine", "pubmedqa": "medicine",
    "finqa": "finance",
    "mmlu": "general", "mmlu_pro": "general",
}


def canonical_domain(name: str | None) -> str:
    """The bench's name for a domain (`coding` → `code`, …); an unknown name is kept, lower-cased;
    None or "" is `general`."""
    key = (name or "").strip().lower()
    if not key:
        return "general"
    return _SYNONYMS.get(key, key)


def check_domain(name: str) -> str:
    """`canonical_domain(name)`, or ConfigError when it is none of `DOMAINS`."""
    domain = canonical_domain(name)
    if domain not in DOMAINS:
        raise ConfigError(f"unknown X-MAS domain {name!r}; known: {', '.join(DOMAINS)} (or coding, medical, …)")
    return domain
