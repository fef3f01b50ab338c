"""Reading SpatialAgent's model output: strict JSON actions, Plan-Execute plans, final answers.

`parse_action` is the reference scaffold's parser with the spec's contract: strip a ```json fence,
take the outermost ``{…}`` (balanced, strings respected), `json.loads` it, and keep **only
``actions[0]``**, which must have `name` and `arguments`; an empty `actions` list is a step with no
action. A JSON error raises `ActionError(kind="json")` and any other defect `ActionError(kind="other")`
— the agent turns them into the paper's repair feedback and the model tries again (strict, as the
paper's format demands: nothing is silently repaired mid-episode).

Where no further turn can fix the output — the summarizer's forced answer, a Plan-Execute plan —
`json_repair` (the project's one JSON repair) reads what the model wrote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from maslab.answers import extract_tag
from maslab.tools.spatial.toolbox import TOOL_NAMES
from maslab.tools.spatial.workspace import IMAGE_ID

__all__ = ["ActionError", "ParsedAction", "PlanError", "forced_answer", "outermost", "parse_action", "parse_plan"]


class ActionError(ValueError):
    """The model's output is not a usable action; `kind` picks the feedback (json | other)."""

    def __init__(self, kind: Literal["json", "other"], message: str) -> None:
        super().__init__(message)
        self.kind = kind


class PlanError(ValueError):
    """A Plan-Execute plan that cannot be run (the attempt fails)."""


@dataclass(frozen=True)
class ParsedAction:
    thought: str
    action: dict[str, Any] | None  # None: the model called no action this step


_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)


def _unfence(text: str) -> str:
    start = text.lower().find("```json")
    if start != -1:
        text = text[start + len("```json"):]
        end = text.rfind("```")
        return text[:end] if end != -1 else text
    return text


def outermost(text: str, open_: str = "{", close: str = "}") -> str | None:
    """The first balanced ``{…}`` (or ``[…]``) of `text`, brackets inside JSON strings ignored."""
    start = text.find(open_)
    if start == -1:
        return None
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def parse_action(text: str) -> ParsedAction:
    """The strict-JSON action of one ReAct step (see the module docstring); raises ActionError."""
    content = _unfence(text or "")
    candidate = outermost(content) or content.strip()
    try:
        obj = json.loads(candidate)
    except json.JSONDecodeError as e:
        raise ActionError("json", f"{type(e).__name__}: {e}.") from e
    if not isinstance(obj, dict):
        raise ActionError("other", f"expected a JSON object with 'thought' and 'actions', got {type(obj).__name__}")
    actions = obj.get("actions")
    if not isinstance(actions, list):
        raise ActionError("other", "the output has no 'actions' list")
    thought = obj.get("thought")
    thought = thought if isinstance(thought, str) else ""
    if not actions:
        return ParsedAction(thought, None)
    action = actions[0]
    if not isinstance(action, dict) or "name" not in action or "arguments" not in action:
        raise ActionError("other", "missing 'name' or 'arguments' in the parsed action.")
    if not isinstance(action["name"], str) or not isinstance(action["arguments"], dict):
        raise ActionError("other", "an action's 'name' must be a string and its 'arguments' an object")
    return ParsedAction(thought, {"name": action["name"], "arguments": action["arguments"]})


def _repaired(text: str) -> Any:
    import json_repair

    try:
        return json_repair.loads(text)
    except Exception:  # noqa: BLE001 - json_repair is tolerant, but a reply must never crash the run
        return None


def forced_answer(text: str) -> str:
    """The summarizer's answer after the turn cap: a Terminate action's answer (the JSON repaired if need
    be), else the ``<answer>…</answer>`` content, else the whole reply, stripped."""
    content = _unfence(text or "")
    obj = _repaired(outermost(content) or content)
    if isinstance(obj, dict) and isinstance(obj.get("actions"), list) and obj["actions"]:
        first = obj["actions"][0]
        if isinstance(first, dict) and first.get("name") == "Terminate":
            answer = (first.get("arguments") or {}).get("answer")
            if isinstance(answer, str | int | float) and str(answer).strip():
                return str(answer).strip()
    return extract_tag(text, "answer") or (text or "").strip()


def _image_values(arguments: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for key in ("image", "images"):
        value = arguments.get(key)
        values += value if isinstance(value, list) else [] if value is None else [value]
    return values


def parse_plan(text: str) -> list[dict[str, Any]]:
    """A Plan-Execute plan: the JSON list inside ```json``` (else the first ``[…]``), read with json_repair;
    every call names a toolbox tool (Terminate is dropped), has an arguments object, and refers to images
    only as ``image-N``. Raises PlanError."""
    fenced = re.search(r"```(?:json)?(.*?)(?:```|$)", text or "", re.DOTALL | re.IGNORECASE)
    body = fenced.group(1) if fenced else (text or "")
    plan = _repaired(outermost(body, "[", "]") or body)
    if isinstance(plan, dict):
        plan = plan.get("plan") or plan.get("actions") or [plan]
    if not isinstance(plan, list) or not plan:
        raise PlanError("no JSON list of tool calls found")
    calls: list[dict[str, Any]] = []
    for i, call in enumerate(plan, start=1):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise PlanError(f"call {i} is not an object with a 'name'")
        if call["name"] == "Terminate":
            continue
        if call["name"] not in TOOL_NAMES:
            raise PlanError(f"call {i} uses {call['name']!r}, which is not in the toolbox")
        arguments = call.get("arguments")
        if not isinstance(arguments, dict):
            raise PlanError(f"call {i} ({call['name']}) has no arguments object")
        bad = [v for v in _image_values(arguments) if not (isinstance(v, str) and IMAGE_ID.fullmatch(v))]
        if bad:
            raise PlanError(f"call {i} ({call['name']}) refers to images as {bad!r}; use image-0, image-1, …")
        calls.append({"name": call["name"], "arguments": arguments})
    if not calls:
        raise PlanError("the plan calls no tool")
    return calls
