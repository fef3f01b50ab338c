"""Synthetic calibration topics for the Avengers router and system tests (arXiv 2505.19797).

Three topics (chemistry, history, geometry) of 16 questions each; each topic has one model (its
oracle) that always answers right. `topic_expert` is the scripted deterministic model: it answers
correctly only for its own topic. Items 0..11 calibrate a router, items 12..15 are held out.
Used by `tests/systems/test_avengers.py` and `tests/test_route_cli.py`.
"""

from __future__ import annotations

import re
from typing import Any

from maslab.models import ScriptedRequest
from maslab.task import Task

ELEMENTS = [("hydrogen", 1), ("helium", 2), ("lithium", 3), ("beryllium", 4), ("boron", 5), ("carbon", 6),
            ("nitrogen", 7), ("oxygen", 8), ("fluorine", 9), ("neon", 10), ("sodium", 11), ("magnesium", 12),
            ("aluminium", 13), ("silicon", 14), ("phosphorus", 15), ("sulfur", 16)]
EVENTS = [("the fall of the Berlin Wall", 1989), ("the Apollo 11 moon landing", 1969),
          ("the start of the First World War", 1914), ("the end of the Second World War", 1945),
          ("the storming of the Bastille", 1789), ("the US Declaration of Independence", 1776),
          ("the sinking of the Titanic", 1912), ("the Battle of Hastings", 1066),
          ("Columbus's first voyage to the Americas", 1492), ("the Russian October Revolution", 1917),
          ("the fall of Constantinople", 1453), ("the sealing of Magna Carta", 1215),
          ("the assassination of John F. Kennedy", 1963), ("the Wall Street Crash", 1929),
          ("the Chernobyl disaster", 1986), ("the dissolution of the Soviet Union", 1991)]
SIDES = [(3, 4), (5, 6), (7, 2), (8, 9), (4, 4), (6, 3), (9, 2), (5, 5), (7, 8), (3, 9), (2, 6), (8, 4),
         (6, 7), (9, 9), (4, 7), (5, 8)]

ORACLE = {"chemistry": "alpha", "history": "beta", "geometry": "gamma"}
MODELS = ["alpha", "beta", "gamma"]


def chemistry(i: int) -> tuple[str, int]:
    name, z = ELEMENTS[i]
    return f"What is the atomic number of the chemical element {name}?", z


def history(i: int) -> tuple[str, int]:
    event, year = EVENTS[i]
    return f"In which year did {event} happen in world history?", year


def geometry(i: int) -> tuple[str, int]:
    a, b = SIDES[i]
    return f"A rectangle has sides of {a} cm and {b} cm. What is its area in square centimetres?", a * b


TOPICS = {"chemistry": chemistry, "history": history, "geometry": geometry}
CALIBRATION = range(0, 12)  # items 0..11 of every topic calibrate
HELD_OUT = range(12, 16)  # items 12..15 are new questions

# question text -> (topic, right answer), for the scripted models
KNOWN: dict[str, tuple[str, int]] = {}
for _topic, _make in TOPICS.items():
    for _i in range(16):
        _q, _a = _make(_i)
        KNOWN[_q] = (_topic, _a)


def calibration_records() -> list[dict[str, Any]]:
    """The paper's record format; the topic's oracle is always right, another model right on every 4th query."""
    out = []
    for topic, make in TOPICS.items():
        for i in CALIBRATION:
            q, _ = make(i)
            lucky = MODELS[(i // 4) % 3]
            out.append({"query": q, "dataset": topic,
                        "records": {m: m == ORACLE[topic] or (i % 4 == 0 and m == lucky) for m in MODELS}})
    return out


def held_out_tasks() -> list[Task]:
    tasks = []
    for topic, make in TOPICS.items():
        for i in HELD_OUT:
            q, a = make(i)
            tasks.append(Task(id=f"{topic}-{i}", question=q, answer=str(a), metadata={"topic": topic}))
    return tasks


def lookup(prompt: str) -> tuple[str, int] | None:
    return next((hit for q, hit in KNOWN.items() if q in prompt), None)


def topic_expert(req: ScriptedRequest) -> str:
    """Right ("Answer: <n>") only on its own topic, else a wrong number; the aggregator repeats the first result."""
    if req.role == "aggregator":
        m = re.search(r"Answer: (-?\d+)", req.transcript)
        return f"Having compared the responses: Answer: {m.group(1) if m else 0}"
    hit = lookup(req.prompt)
    if hit is None:
        return f"I do not know that topic ({req.alias}).\nAnswer: 0"
    topic, right = hit
    if ORACLE[topic] == req.alias:
        return f"Reasoning about it step by step.\nAnswer: {right}"
    return f"My best guess.\nAnswer: {right + 1 + MODELS.index(req.alias)}"
