"""The LLM call contract (spec §1, structai's `safe_api`), with pydantic and a typed error instead of `None`.

Every structured reply of a Manalyzer agent goes through `ask_checked`:

1. the reply is parsed — a Python literal (`ast.literal_eval`, literals only, never `eval`) of
   its outermost ``[...]`` / ``{...}`` span, else `json_repair` (the project's one lenient JSON
   reader);
2. it is checked: lists for length, element type and range (`list_of`), dicts by a pydantic model
   whose keys are matched fuzzily (`fuzzy_key`: exact, else Levenshtein distance ≤ 2 for keys
   of more than 5 characters — "Feasibilty" is "Feasibility", a 5-character key must match
   exactly);
3. a reply that fails is retried `retries` times (ours: the failed reply and what was wrong go
   back to the model as a follow-up turn — the reference re-asks blindly, `max_try` 1), then
   `ContractError` is raised, naming the agent, the problem and the last reply. Nothing is
   returned as `None`; the pipeline records every `ContractError` (and every failed model call)
   as a `Failure` of its stage and goes on.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from maslab.agent import Agent
from maslab.errors import MaslabError
from maslab.messages import Message, as_messages
from maslab.method import RunContext
from maslab.tools.papers import require

__all__ = ["ContractError", "Failure", "ReplyError", "ask_checked", "dict_of", "fuzzy_key", "list_of",
           "parse_literal"]

T = TypeVar("T")
FUZZY_MIN_LEN = 6  # keys of more than 5 characters may be matched fuzzily
FUZZY_MAX_DISTANCE = 2


class ReplyError(ValueError):
    """A reply broke the contract (the reason is sent back to the model on a retry)."""


class ContractError(MaslabError):
    """An agent's replies kept breaking the call contract after every retry."""

    def __init__(self, message: str, *, agent: str = "", reply: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.agent = agent
        self.reply = reply
        self.attempts = attempts


class Failure(BaseModel):
    """One recorded failure of the pipeline (a stage step that produced nothing usable)."""

    stage: str
    paper: str | None = None
    step: str
    error: str

    @classmethod
    def of(cls, stage: str, step: str, exc: BaseException, paper: str | None = None) -> Failure:
        return cls(stage=stage, paper=paper, step=step, error=f"{type(exc).__name__}: {str(exc)[:500]}")


# ---------------------------------------------------------------------------------------------
# parsing and checking


def fuzzy_key(expected: str, keys: Iterable[str]) -> str | None:
    """The key among `keys` that stands for `expected`: the same name, else (only when `expected` has more
    than 5 characters) the closest one within Levenshtein distance 2, case-insensitive; else None."""
    levenshtein = require("rapidfuzz.distance").Levenshtein
    keys = list(keys)
    if expected in keys:
        return expected
    if len(expected) < FUZZY_MIN_LEN:
        return None
    best, best_d = None, FUZZY_MAX_DISTANCE + 1
    for key in keys:
        d = levenshtein.distance(expected.lower(), str(key).lower(), score_cutoff=FUZZY_MAX_DISTANCE)
        if d < best_d:
            best, best_d = key, d
    return best


_FENCE = re.compile(r"```[a-zA-Z]*\n?|```")


def parse_literal(text: str, opener: str) -> Any:
    """The reply's outermost `opener`…closer span (`[` or `{`) as a Python literal, else repaired JSON."""
    closer = {"[": "]", "{": "}"}[opener]
    body = _FENCE.sub("", text)
    start, end = body.find(opener), body.rfind(closer)
    if start < 0:
        raise ReplyError(f"no {opener}...{closer} in the reply")
    span = body[start:end + 1] if end > start else body[start:]
    try:
        return ast.literal_eval(span)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    import json_repair

    try:
        value = json_repair.loads(span)
    except Exception as exc:  # json_repair is lenient; never let a reply crash the run
        raise ReplyError(f"unreadable {opener}...{closer}: {exc}") from None
    if value == "" or value is None:
        raise ReplyError(f"unreadable {opener}...{closer} in the reply")
    return value


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def list_of(item: type | Callable[[Any], Any], *, length: int | None = None, lo: float | None = None,
            hi: float | None = None, min_length: int = 1) -> Callable[[str], list[Any]]:
    """A parser for list replies: `length` items (or at least `min_length`), each of type `item` (float and
    int accept any number; int needs an integral value), numbers within [lo, hi]; `item` may also be a
    function that checks and converts one element (raising ReplyError)."""

    def parse(text: str) -> list[Any]:
        value = parse_literal(text, "[")
        if not isinstance(value, list | tuple):
            raise ReplyError(f"expected a list, got {type(value).__name__}")
        value = list(value)
        if length is not None and len(value) != length:
            raise ReplyError(f"expected a list of exactly {length} items, got {len(value)}")
        if len(value) < min_length:
            raise ReplyError(f"expected at least {min_length} item(s), got {len(value)}")
        out = []
        for i, x in enumerate(value):
            if item is float or item is int:
                if not _is_number(x) or (item is int and float(x) != int(x)):
                    raise ReplyError(f"item {i + 1} is {x!r}, not {'an integer' if item is int else 'a number'}")
                x = item(x)
                if (lo is not None and x < lo) or (hi is not None and x > hi):
                    raise ReplyError(f"item {i + 1} is {x}, outside [{lo}, {hi}]")
            elif isinstance(item, type):
                if not isinstance(x, item):
                    raise ReplyError(f"item {i + 1} is {type(x).__name__}, not {item.__name__}")
            else:
                x = item(x)
            out.append(x)
        return out

    return parse


M = TypeVar("M", bound=BaseModel)


def dict_of(model: type[M]) -> Callable[[str], M]:
    """A parser for dict replies validated by `model`, whose field aliases are the expected keys; reply
    keys are matched to them with `fuzzy_key`."""

    def parse(text: str) -> M:
        value = parse_literal(text, "{")
        if not isinstance(value, dict):
            raise ReplyError(f"expected a dict, got {type(value).__name__}")
        reply = {str(k): v for k, v in value.items()}
        data: dict[str, Any] = {}
        for name, field in model.model_fields.items():
            expected = field.alias or name
            key = fuzzy_key(expected, reply)
            if key is not None:
                data[expected] = reply[key]
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise ReplyError("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
                             ) from None

    return parse


# ---------------------------------------------------------------------------------------------
# the call

RETRY_PROMPT = ("Your reply could not be used: {reason}. Reply again, following the required output format "
                "exactly and with no other text.")


async def ask_checked(ctx: RunContext[Any], agent: Agent, messages: str | Sequence[Message], parse: Callable[[str], T],
                      *, retries: int, sample_index: int = 0, **params: Any) -> T:
    """Ask `agent`, parse its reply with `parse`; on a `ReplyError` retry up to `retries` times with the
    problem named, then raise `ContractError`. Model-call errors propagate (they are `MaslabError`s too)."""
    history = as_messages(list(messages) if not isinstance(messages, str) else messages)
    reply = ""
    for attempt in range(retries + 1):
        reply = await ctx.ask(agent, history, sample_index=sample_index, **params)
        try:
            return parse(reply)
        except ReplyError as exc:
            reason = str(exc)
            if attempt == retries:
                raise ContractError(f"{agent.name}: {reason} (after {attempt + 1} attempt(s)); last reply: "
                                    f"{reply[:300]!r}", agent=agent.name, reply=reply, attempts=attempt + 1) from None
            history = [*history, Message.assistant(reply), Message.user(RETRY_PROMPT.format(reason=reason))]
    raise AssertionError("unreachable")
