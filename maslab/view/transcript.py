"""A run's trace read back as a transcript: agent turns, tool runs and failures, grouped by graph node.

A sweep writes one JSONL trace per cell (`traces/<cell>.jsonl`; each line carries the task id as
`run_id`; concurrent tasks' lines interleave) and `maslab run --question` one `trace.jsonl` per run
(see `maslab.trace` for the events). `TraceIndex` remembers where each run's lines sit in a file
(byte spans, extended as the file grows during a sweep), so a task's transcript reads only its own
lines. A task retried by `--resume` appears once per attempt; the transcript is its last attempt.

Grouping: items are grouped by (superstep, node) as LangGraph ran them — for LLM-Debate the three
first answers (step 1, `answer_independently`), the debate round (step 2, `debate`) and the
aggregation (step 3, `aggregate`); a node run again later (a loop) is a new group, its `visit`
counted. Lines without a node (written outside a graph, or by a trace older than node recording)
form a group of their own.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

_RUN_ID = re.compile(rb'^\{"event": "(?:[^"\\]|\\.)*", "run_id": "((?:[^"\\]|\\.)*)"')


class TraceIndex:
    """Byte spans of each run's lines in one JSONL trace file, extended as the file grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._spans: dict[str, list[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        size = self.path.stat().st_size
        if size < self._offset:  # replaced or truncated: start again
            self._offset, self._spans = 0, {}
        if size == self._offset:
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        end = chunk.rfind(b"\n") + 1  # only whole lines; a line being written waits for the next look
        pos = 0
        while pos < end:
            nl = chunk.index(b"\n", pos)
            line = chunk[pos:nl]
            m = _RUN_ID.match(line)
            if m:
                run_id = json.loads(b'"' + m.group(1) + b'"')
            else:
                try:
                    run_id = str(json.loads(line).get("run_id", ""))
                except (ValueError, AttributeError):
                    run_id = ""  # a damaged line belongs to no run
            self._spans.setdefault(run_id, []).append((self._offset + pos, nl - pos))
            pos = nl + 1
        self._offset += end

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Every parseable line of `run_id`, in file order."""
        with self._lock:
            self._refresh()
            spans = list(self._spans.get(run_id, []))
        out = []
        with self.path.open("rb") as f:
            for offset, length in spans:
                f.seek(offset)
                try:
                    event = json.loads(f.read(length))
                except ValueError:
                    continue
                if isinstance(event, dict):
                    out.append(event)
        return out

    def run_ids(self) -> list[str]:
        with self._lock:
            self._refresh()
            return [r for r in self._spans if r]


class Turn(BaseModel):
    """One model call: who, on which alias, what it saw and replied, at what cost."""

    kind: Literal["call"] = "call"
    index: int  # 1-based among the run's calls
    agent: str = ""
    role: str = ""
    alias: str = ""
    endpoint: str = ""
    node: str | None = None
    step: int | None = None
    messages: list[dict[str, Any]] | None = None  # None: the trace did not record them
    reply: dict[str, Any] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cache_hit: bool = False
    retries: int = 0
    t: float | None = None


class ToolRun(BaseModel):
    """A tool an agent ran, its arguments and its result."""

    kind: Literal["tool"] = "tool"
    agent: str = ""
    role: str = ""
    tool: str = ""
    call_id: str = ""
    arguments: str = ""
    result: str = ""
    node: str | None = None
    step: int | None = None
    t: float | None = None


class Failure(BaseModel):
    """Where a call or the run failed, and the message."""

    kind: Literal["error"] = "error"
    error: str = ""
    agent: str | None = None
    role: str | None = None
    alias: str | None = None
    node: str | None = None
    step: int | None = None
    t: float | None = None

    @property
    def where(self) -> str:
        parts = [f"node {self.node}" if self.node else "outside the graph",
                 *([f"step {self.step}"] if self.step is not None else []),
                 *([f"agent {self.agent}"] if self.agent else []), *([f"alias {self.alias}"] if self.alias else [])]
        return ", ".join(parts)


class Note(BaseModel):
    """Any other event a system wrote (e.g. T1's per-turn record)."""

    kind: Literal["event"] = "event"
    event: str
    fields: dict[str, Any] = Field(default_factory=dict)
    node: str | None = None
    step: int | None = None
    t: float | None = None


Item = Turn | ToolRun | Failure | Note


class Group(BaseModel):
    """The items of one node in one superstep."""

    step: int | None
    node: str | None
    visit: int = 1  # this node's n-th group in the run
    items: list[Item] = Field(default_factory=list)

    @property
    def title(self) -> str:
        if self.node is None:
            return "outside the graph"
        head = f"step {self.step} · {self.node}" if self.step is not None else self.node
        return head + (f" (visit {self.visit})" if self.visit > 1 else "")


class Transcript(BaseModel):
    """One run's trace, ready to show."""

    run_id: str
    method: str | None = None
    attempt: int = 1
    attempts: int = 1
    finished: bool = False  # the run's `end` line is there
    recorded_messages: bool = True  # False: every call line lacks messages (a trace older than that)
    groups: list[Group] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    started: float | None = None

    @property
    def turns(self) -> list[Turn]:
        return [i for g in self.groups for i in g.items if isinstance(i, Turn)]


_POSITION = ("node", "step", "t")


def build_transcript(run_id: str, events: list[dict[str, Any]]) -> Transcript:
    """Group a run's events (its last attempt: from its last `start` line) by superstep and node."""
    starts = [i for i, e in enumerate(events) if e.get("event") == "start"]
    if starts:
        events = events[starts[-1]:]
    out = Transcript(run_id=run_id, attempt=max(1, len(starts)), attempts=max(1, len(starts)))
    groups: dict[tuple[int | None, str | None], Group] = {}
    calls = 0
    with_messages = 0
    for e in events:
        kind = e.get("event")
        pos = {k: e.get(k) for k in _POSITION}
        item: Item
        if kind == "start":
            out.method, out.started = e.get("method"), e.get("t")
            continue
        if kind == "end":
            out.finished = True
            continue
        if kind == "call":
            calls += 1
            with_messages += e.get("messages") is not None
            item = Turn(index=calls, **{k: v for k, v in e.items() if k in Turn.model_fields and k != "index"
                                        and v is not None})
        elif kind == "tool":
            item = ToolRun(**{k: str(v) if k in ("arguments", "result") else v for k, v in e.items()
                              if k in ToolRun.model_fields and v is not None})
        elif kind == "error":
            item = Failure(**{k: v for k, v in e.items() if k in Failure.model_fields and v is not None})
            same = next((f for f in out.failures if f.error == item.error), None)
            if same is not None:  # the same failure passed on by the run, then the sweep: shown once, where it
                if same.node is None and item.node is not None:  # happened (the most specific record)
                    for k in ("node", "step", "agent", "role", "alias"):
                        setattr(same, k, getattr(same, k) or getattr(item, k))
                continue
            out.failures.append(item)
        else:
            item = Note(event=str(kind), fields={k: v for k, v in e.items() if k not in ("event", "run_id", *_POSITION)},
                        **{k: v for k, v in pos.items() if v is not None})
        key = (pos["step"], pos["node"])
        if key not in groups:
            groups[key] = Group(step=pos["step"], node=pos["node"])
        groups[key].items.append(item)
    order = {key: i for i, key in enumerate(groups)}
    ordered = sorted(groups, key=lambda k: (k[0] is None and k[1] is None, k[0] if k[0] is not None else 0, order[k]))
    visits: dict[str | None, int] = {}
    for key in ordered:
        g = groups[key]
        visits[g.node] = visits.get(g.node, 0) + 1
        g.visit = visits[g.node]
        out.groups.append(g)
    out.recorded_messages = calls == 0 or with_messages > 0
    return out


def observed_structure(transcript: Transcript) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """The path a run took through its graph, as nodes and edges: START → each step's nodes → END."""
    from maslab.graph import END, START

    steps: dict[int, list[str]] = {}
    for g in transcript.groups:
        if g.node is not None and g.step is not None and g.node not in steps.setdefault(g.step, []):
            steps[g.step].append(g.node)
    nodes = [START]
    edges: list[tuple[str, str, bool]] = []
    previous = [START]
    for step in sorted(steps):
        for n in steps[step]:
            if n not in nodes:
                nodes.append(n)
            edges.extend((p, n, False) for p in previous if (p, n, False) not in edges)
        previous = steps[step]
    nodes.append(END)
    edges.extend((p, END, False) for p in previous)
    return nodes, edges


# ------------------------------------------------------------------------------------------ Markdown


def message_text(message: dict[str, Any]) -> str:
    """A trace message's text; images as `[image: reference]`, tool calls as `→ tool(arguments)`."""
    content = message.get("content")
    if isinstance(content, list):
        text = "".join(p.get("text", "") if p.get("type") == "text" else f"[image: {_image_ref(p)}]"
                       for p in content)
    else:
        text = content or ""
    calls = [f"→ {c.get('name')}({c.get('arguments', '')})" for c in message.get("tool_calls") or []]
    return "\n".join(x for x in (text, *calls) if x)


def _image_ref(part: dict[str, Any]) -> str:
    if part.get("path"):
        return str(part["path"])
    if part.get("url"):
        return str(part["url"])
    return f"{part.get('media_type', 'image')}, {part.get('bytes', '?')} bytes, sha256 {str(part.get('sha256'))[:16]}…"


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in (text or "(empty)").splitlines() or [""])


def to_markdown(row: dict[str, Any], transcript: Transcript | None) -> str:
    """A task's transcript as Markdown: the task, its score, then every item group by group."""
    title = f"# Task {row.get('task_id', '')}"
    cell = row.get("cell_id")
    lines = [title, "", *([f"Cell: `{cell}`", ""] if cell else [])]
    lines += ["## Question", "", _quote(str(row.get("question") or "")), ""]
    if row.get("reference") is not None:
        lines += [f"**Reference:** {row['reference']}", ""]
    lines += ["## Answer", "", _quote(str(row.get("answer") or "")), ""]
    verdict = row.get("verdict") or ""
    lines += [f"**Status:** {row.get('status', '')}" + (f" · **{verdict}**" if verdict else "")
              + (f" · extracted `{row['extracted']}`" if row.get("extracted") else "")
              + (f" · score {row['score']:g}" if isinstance(row.get("score"), int | float) else ""), ""]
    if row.get("error"):
        lines += [f"**Error:** {row['error']}", ""]
    if transcript is None:
        lines += ["_No trace found for this task._", ""]
        return "\n".join(lines)
    lines += ["## Transcript", ""]
    if transcript.attempts > 1:
        lines += [f"_Attempt {transcript.attempt} of {transcript.attempts}; earlier attempts are not shown._", ""]
    for g in transcript.groups:
        lines += [f"### {g.title}", ""]
        for item in g.items:
            lines += _item_markdown(item)
    return "\n".join(lines).rstrip() + "\n"


def _item_markdown(item: Item) -> list[str]:
    if isinstance(item, Turn):
        facts = [f"alias `{item.alias}`", f"{item.prompt_tokens}+{item.completion_tokens} tokens",
                 f"{item.latency_s:.2f} s", *(["cache hit"] if item.cache_hit else []),
                 *([f"{item.retries} retries"] if item.retries else [])]
        out = [f"#### {item.index}. {item.agent} ({item.role}) — {', '.join(facts)}", ""]
        if item.messages is None:
            out += ["_The messages this call saw were not recorded._", ""]
        else:
            out += ["**Saw:**", ""]
            for m in item.messages:
                out += [f"*{m.get('role', '?')}*" + (f" ({m['name']})" if m.get("name") else "") + ":", "",
                        _quote(message_text(m)), ""]
        if item.reply is not None:
            out += ["**Replied:**", "", _quote(message_text(item.reply)), ""]
        return out
    if isinstance(item, ToolRun):
        return [f"- tool `{item.tool}` run by {item.agent} with `{item.arguments}`:", "", _quote(item.result), ""]
    if isinstance(item, Failure):
        return [f"- **error** ({item.where}): {item.error}", ""]
    return [f"- event `{item.event}`: `{json.dumps(item.fields, default=str)[:500]}`", ""]
