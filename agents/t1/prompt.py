"""The T1-Agent prompt: tool config, instructions, output format, examples, conversation, cache.

Structure from arXiv 2505.16986 §T1-Agent: a system role ("expert travel planner writing Python
with the tools") and a user prompt with the sections ``# TOOL CONFIG``, ``# INSTRUCTIONS``,
``# OUTPUT FORMAT``, ``# EXAMPLES``, ``# CONVERSATION`` (up to the current user turn) and
``# CACHE`` (the cache summary). The wording is ours (the paper paraphrases its instructions; the
tool-config block is not published). Replies are read by `maslab.tools.travel.analysis.parse_reply`.
"""

from __future__ import annotations

import random
import types
import typing
from collections.abc import Collection, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.dialogues import Dialogue, DialogueTurn, generate_dialogues
from maslab.tools.travel.kb import KnowledgeBase
from maslab.tools.travel.tools import NO_PLANNING, TOOL_CATEGORIES, TOOL_SPECS

__all__ = [
    "INSTRUCTIONS",
    "OUTPUT_FORMAT",
    "SYSTEM_PROMPT",
    "PromptExample",
    "T1Prompt",
    "build_prompt",
    "default_examples",
    "render_cache",
    "render_conversation",
    "tool_config",
    "tool_names",
]

SYSTEM_PROMPT = (
    "You are an expert travel planner. You help a user plan trips over a multi-turn conversation by "
    "writing Python code that calls the travel tools described below. Your code is executed; its "
    "results and the cache persist between turns."
)

INSTRUCTIONS = [
    "Track the user's requests and constraints across all turns of the conversation.",
    "Write a search only once all its mandatory parameters are known: flights need origin, destination "
    "and departure_date; hotels need city, checkin_date and checkout_date; restaurants and attractions "
    "need city.",
    "Copy entity strings (cities, hotel and restaurant names, airlines, neighbourhoods, cuisines) exactly as "
    "they appear, case included. Write dates as YYYY-MM-DD; use adjust_date to derive one date from another "
    "(e.g. check-out = check-in + number of nights).",
    "Never invent optional parameters the user did not ask for.",
    "If a mandatory parameter is missing, call seek_information with a question that names only the missing "
    "mandatory parameters, and plan nothing else in that turn.",
    "Touch only the domains (flights, hotels, restaurants, attractions) the user mentioned.",
    "Reuse valid cached results: fetch them with get_results_from_cache and refine them with filter_* or "
    "sort_results instead of searching again. Search again only when a mandatory parameter changed.",
    "Save every new result with save_to_cache under a fresh key <domain>_<n> (flights_1, hotels_2, ...), "
    "where n is one more than the highest n already used for that domain in the cache.",
    "Variables do not survive between turns; only the cache does. Tool results are tables: lists of row dicts.",
    f"If nothing needs to be planned in this turn, the code must be exactly: {NO_PLANNING}",
]

OUTPUT_FORMAT = (
    "Reply with your reasoning and then your code, in exactly this format and without markdown fences:\n"
    "<REASONING>\nwhat the user needs now, which parameters are known, what can be reused\n</REASONING>\n"
    "<CODE>\npython code\n</CODE>"
)


# ---------------------------------------------------------------------------------------------
# sections


def _type_text(t: Any) -> str:
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return _type_text(typing.get_args(t)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in typing.get_args(t) if a is not type(None))
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(t))
    if origin is list:
        (inner,) = typing.get_args(t) or (Any,)
        return f"list[{_type_text(inner)}]"
    if t is Any:
        return "any"
    return getattr(t, "__name__", str(t))


def tool_names(domains: Sequence[str]) -> list[str]:
    """The tools of `domains` (all tools for none), search_nearest for several, and the common tools."""
    names: list[str] = []
    for category, tools in TOOL_CATEGORIES.items():
        if (not domains or category in domains or category == "common"
                or (category == "multi-domain" and len(domains) > 1)):
            names += tools
    return names


def tool_config(names: Collection[str] | None = None, detail: Literal["full", "signatures"] = "full") -> str:
    """The ``# TOOL CONFIG`` block for `names` (default: every tool), grouped by category.

    ``full``: each tool's signature, description and one line per parameter (the spec's prompt);
    ``signatures``: one signature line with its description per tool (for small context windows).
    """
    keep = set(TOOL_SPECS) if names is None else set(names)
    lines: list[str] = []
    for category, tools in TOOL_CATEGORIES.items():
        chosen = [n for n in tools if n in keep]
        if not chosen:
            continue
        lines.append(f"## {category}")
        for name in chosen:
            spec = TOOL_SPECS[name]
            fields = spec.args_model.model_fields
            if detail == "signatures":
                params = [f"{p}: {_type_text(f.annotation)}" + ("" if f.is_required() else f" = {f.default!r}")
                          for p, f in fields.items()]
                lines.append(f"{name}({', '.join(params)}) -> {spec.returns}  # {spec.description}")
                continue
            sig = [p if f.is_required() else f"{p}={f.default!r}" for p, f in fields.items()]
            lines.append(f"{name}({', '.join(sig)}) -> {spec.returns}")
            lines.append(f"    {spec.description}")
            for p, f in fields.items():
                need = "required" if f.is_required() else "optional"
                lines.append(f"    - {p} ({_type_text(f.annotation)}; {need}): {f.description or ''}")
        if detail == "full":
            lines.append("")
    return "\n".join(lines).rstrip()


def render_conversation(turns: Sequence[DialogueTurn]) -> str:
    return "\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.text}" for t in turns)


def render_cache(cache: ToolCache | str | None) -> str:
    summary = cache.summary() if isinstance(cache, ToolCache) else (cache or "")
    return summary if summary.strip() else "(empty)"


class PromptExample(BaseModel):
    """One worked example: a conversation, the cache summary before the turn, the expected output."""

    conversation: str
    cache: str
    reasoning: str
    code: str

    def render(self, i: int, with_reasoning: bool = True) -> str:
        out = f"<REASONING>\n{self.reasoning}\n</REASONING>\n" if with_reasoning else ""
        return (f"## Example {i}\n### Conversation\n{self.conversation}\n### Cache\n{self.cache}\n"
                f"### Output\n{out}<CODE>\n{self.code}\n</CODE>")


def _example(d: Dialogue, i: int) -> PromptExample:
    t = d.turns[i]
    return PromptExample(conversation=render_conversation(d.conversation(i)),
                         cache=render_cache(d.gold_cache_before(i)),
                         reasoning=t.rationale or "", code=t.code or "")


def default_examples(n: int = 5, seed: int = 0, kb: KnowledgeBase | None = None) -> list[PromptExample]:
    """`n` examples from *train*-split dialogues, covering search, reuse, nearest, seek and no-op turns."""
    pool = generate_dialogues(18, seed=seed, split="train", kb=kb)
    rng = random.Random(f"maslab-t1-examples-{seed}")
    wanted = ["search_nearest", "get_results_from_cache", "seek_information", "noop", "adjust_date", "search_"]
    picked: list[tuple[Dialogue, int]] = []
    for feature in wanted * 3:
        if len(picked) >= n:
            break
        cands = [(d, i) for d in pool for i in d.user_turn_indices() if (d, i) not in picked
                 and (d.turns[i].kind == "noop" if feature == "noop" else feature in (d.turns[i].code or ""))]
        if cands:
            picked.append(rng.choice(cands))
    return [_example(d, i) for d, i in picked[:n]]


class T1Prompt(BaseModel):
    """The two messages of one T1-Agent call."""

    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def build_prompt(
    conversation: Dialogue | Sequence[DialogueTurn],
    turn_index: int | None = None,
    cache: ToolCache | str | None = None,
    *,
    examples: Sequence[PromptExample] | None = None,
    with_reasoning: bool = True,
    tools: Collection[str] | None = None,
    tool_detail: Literal["full", "signatures"] = "full",
) -> T1Prompt:
    """The prompt for one user turn.

    `conversation` is a `Dialogue` (then `turn_index` picks the user turn; the conversation shown
    stops there) or the list of turns already cut. `cache` is the cache (or its summary) before
    the turn. `examples` default to none (pass `default_examples()` for few-shot);
    ``with_reasoning=False`` asks for ``<CODE>`` only (the paper's SFT format). `tools` and
    `tool_detail` choose what the ``# TOOL CONFIG`` section lists (`tool_config`).
    """
    if isinstance(conversation, Dialogue):
        idx = turn_index if turn_index is not None else conversation.user_turn_indices()[-1]
        if conversation.turns[idx].role != "user":
            raise ValueError(f"turn {idx} is not a user turn")
        turns: Sequence[DialogueTurn] = conversation.conversation(idx)
    else:
        turns = conversation
    fmt = OUTPUT_FORMAT if with_reasoning else (
        "Reply with your code only, in exactly this format and without markdown fences:\n<CODE>\npython code\n</CODE>")
    parts = [
        "# TOOL CONFIG", tool_config(tools, tool_detail), "",
        "# INSTRUCTIONS", "\n".join(f"{i}. {s}" for i, s in enumerate(INSTRUCTIONS, 1)), "",
        "# OUTPUT FORMAT", fmt, "",
    ]
    if examples:
        parts += ["# EXAMPLES", "\n\n".join(e.render(i, with_reasoning) for i, e in enumerate(examples, 1)), ""]
    parts += ["# CONVERSATION", render_conversation(turns), "", "# CACHE", render_cache(cache)]
    return T1Prompt(system=SYSTEM_PROMPT, user="\n".join(parts))
