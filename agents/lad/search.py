"""LAD Stage II's text handling: the list splitter, Self-Judge routing and the ranker's top 3 (spec §1–2).

* `split_list(reply, limit)` — the items of a list reply: numbered ("1.", "2)", "(3)", "4、", "Q5:"),
  bulleted ("-", "*", "•") or plain lines; when some lines are numbered or bulleted only those count
  (a preamble such as "Here are five questions:" is dropped), surrounding quotes (straight, curly,
  「」) are removed, and so are lines that only open or close a quote block or end with ":". The
  reference split on ". " only; this is the one splitter of LAD (questions, and the searcher's queries).
* `route(reply)` — Self-Judge's ``[score, ModelSearch|WebSearch]``: WebSearch if score ≤ 3 and the
  decision says WebSearch; ModelSearch if score > 3 and the decision says ModelSearch; anything else
  (no such pair, a contradictory pair) goes to ModelSearch, with the reason recorded.
* `top_three(reply, n)` — the ranker's JSON object ``{"top3": [{"question": i, "reason": …}, …]}``
  (ours; the reference recovered echoed questions with a regex): exactly 3 distinct question numbers
  in 1…n, else None (the caller then uses all pairs).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel

from maslab.answers import extract_json_object

__all__ = ["Route", "route", "split_list", "top_three"]

_NUMBERED = re.compile(r"^\s*(?:\(?\d{1,2}[.)、:：)]|\(\d{1,2}\)|[Qq]\d{1,2}\s*[.:：)]|[-*•·]\s)\s*")
_QUOTES = "\"'“”‘’「」『』`"


def _clean(line: str) -> str:
    line = re.sub(r"\*\*(.+?)\*\*", r"\1", line).strip()
    prev = None
    while prev != line:  # quotes around a question, possibly with a trailing space before the closing one
        prev = line
        line = line.strip().strip(_QUOTES).strip()
    return line


def split_list(reply: str, limit: int = 5) -> list[str]:
    """The first `limit` items of a numbered, bulleted or plain-line list reply (see the module docstring)."""
    lines = [ln for ln in (reply or "").splitlines() if ln.strip()]
    marked = [ln for ln in lines if _NUMBERED.match(ln)]
    items = []
    for line in marked or lines:
        text = _clean(_NUMBERED.sub("", line, count=1))
        if not text or text.endswith((":", "：")) or set(text) <= set(_QUOTES + "`"):
            continue
        if re.fullmatch(r"(?i)(input|output|输入|输出)[:：]?", text):
            continue
        items.append(text)
    return items[:limit]


Decision = Literal["WebSearch", "ModelSearch"]


class Route(BaseModel):
    """Where one question goes, and why."""

    decision: Decision
    score: int | None = None
    said: str | None = None  # the decision the judge wrote
    reason: Literal["agreed", "contradictory", "unparsed", "forced"] = "agreed"


_JUDGE = re.compile(r"[\[【]\s*(\d)\s*[,，、]\s*[\"']?\s*(WebSearch|ModelSearch)\s*[\"']?\s*[\]】]", re.IGNORECASE)


def route(reply: str) -> Route:
    """The routing table of spec §1 step 4 (see the module docstring)."""
    m = _JUDGE.search(reply or "")
    if not m:
        return Route(decision="ModelSearch", reason="unparsed")
    score = int(m.group(1))
    said: Decision = "WebSearch" if m.group(2).lower() == "websearch" else "ModelSearch"
    if score <= 3 and said == "WebSearch":
        return Route(decision="WebSearch", score=score, said=said)
    if score > 3 and said == "ModelSearch":
        return Route(decision="ModelSearch", score=score, said=said)
    return Route(decision="ModelSearch", score=score, said=said, reason="contradictory")


def top_three(reply: str, n: int) -> list[int] | None:
    """The ranker's three question numbers (1-based, most relevant first), or None when invalid."""
    obj = extract_json_object(reply)
    items: Any = obj.get("top3") if isinstance(obj, dict) else None
    if not isinstance(items, list) or len(items) != 3:
        return None
    picked: list[int] = []
    for item in items:
        value = item.get("question") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= n or value in picked:
            return None
        picked.append(value)
    return picked
