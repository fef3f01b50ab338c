"""Scripted SpatialAgent observers for the synthetic spatial benchmark (orchestration tests, no model).

`OracleObserver` plays the ReAct observer the way a capable model would: it reads the request from
the prompt, calls the tool that answers that kind of question (`ORACLE_TOOLS` of the benchmark),
parses the OBSERVATION the real executor returns, and Terminates with the answer computed from it.
It never reads the reference answer — only the task's question and options, as a model would.
`GuessingObserver` Terminates at once with a seeded random option, yes/no or number: an agent
without tools, which should score at chance.
"""

from __future__ import annotations

import json
import math
import random
import re
from typing import Any

import numpy as np

from maslab.agents.spatial_agent.actions import outermost
from maslab.models import ScriptedRequest
from maslab.task import Task

LETTERS = "ABCDEFGH"


def action(name: str, fence: bool = False, **arguments: Any) -> str:
    text = json.dumps({"thought": f"I call {name}.", "actions": [{"name": name, "arguments": arguments}]})
    return f"```json\n{text}\n```" if fence else text


def terminate(answer: str) -> str:
    return action("Terminate", answer=answer)


def request_question(req: ScriptedRequest) -> str:
    """The question of the request that opened the episode."""
    first = next(m.text for m in req.messages if m.role == "user")
    return first.split("# USER REQUEST #:\n", 1)[1].split("\nNow please generate your response:", 1)[0]


def last_observation(req: ScriptedRequest) -> dict[str, Any]:
    text = req.messages[-1].text
    assert text.startswith("OBSERVATION:"), text
    return json.loads(outermost(text) or "{}")


def n_turns(req: ScriptedRequest) -> int:
    return sum(m.role == "assistant" for m in req.messages)


def _pair(question: str) -> tuple[str, str]:
    m = re.search(r"the (\w+ \w+) (?:to the left of|or|cover a larger area of the image than|and) the (\w+ \w+)",
                  question)
    assert m, question
    return m.group(1), m.group(2)


def _option(task: Task, contains: str) -> str:
    hits = [i for i, c in enumerate(task.choices or []) if contains.lower() in c.lower()]
    assert len(hits) == 1, (contains, task.choices)
    return f"({LETTERS[hits[0]]})"


def _matrix(text: str) -> np.ndarray:
    return np.array(json.loads(text[text.index("[["):text.rindex("]]") + 2]), float)


def _corners(H: np.ndarray) -> np.ndarray:
    pts = np.array([[0, 0, 1], [319, 0, 1], [0, 239, 1], [319, 239, 1]], float).T
    y = H @ pts
    return (y[:2] / y[2]).T


class OracleObserver:
    """The scripted oracle: the right tool, then the answer read from its result."""

    def __init__(self, tasks: list[Task], fence_every: int = 3) -> None:
        self.tasks = {t.prompt(): t for t in tasks}
        self.fence_every = fence_every
        self.calls = 0

    def __call__(self, req: ScriptedRequest) -> str:
        assert req.role == "observer", f"the oracle never needs the {req.role}"
        self.calls += 1
        task = self.tasks[request_question(req)]
        kind, q, turn = task.metadata["task_type"], task.question, n_turns(req)
        fence = self.calls % self.fence_every == 0
        obs = last_observation(req) if turn else {}
        if kind == "homography":
            if turn == 0:
                return action("EstimateHomographyMatrix", fence, image=["image-0", "image-1"])
            H = np.array(obs["homography_matrix"])
            errors = [np.abs(_corners(_matrix(c)) - _corners(H)).mean() for c in task.choices]
            return terminate(f"({LETTERS[int(np.argmin(errors))]})")
        if kind == "camera_motion":
            if turn == 0:  # the paper's own demo passes `images`
                return action("EstimateOpticalFlow", fence, images=["image-0", "image-1"])
            fx, fy = obs["output"]["mean_flow_x"], obs["output"]["mean_flow_y"]
            word = ("to the right" if fx > 0 else "to the left") if abs(fx) > abs(fy) else (
                "downward" if fy > 0 else "upward")
            return terminate(_option(task, word))
        if kind == "camera_rotation":
            if turn == 0:
                return action("GetCameraParametersVGGT", fence, image=["image-0", "image-1"])
            R = np.array(obs["output"][1]["extrinsic"])[:, :3]
            yaw = math.degrees(math.atan2(-R[0, 2], R[0, 0]))
            return terminate(_option(task, "right" if yaw > 0 else "left"))
        if kind == "metric_depth":
            name = re.search(r"how far is the (\w+ \w+) from", q).group(1)
            if turn == 0:
                return action("EstimateObjectDepth", fence, image="image-0", objects=[name], indoor_or_outdoor="indoor")
            return terminate(f"{obs['results'][0]['depth']} meters")
        if kind == "counting":
            what = re.search(r"How many (\w+ \w+) are there", q).group(1)
            if turn == 0:
                return action("CountObjects", fence, image="image-0", objects=[what])
            return terminate(str(len(obs["points"][what])))
        a, b = _pair(q)
        if kind == "relative_depth":
            if turn == 0:
                return action("EstimateObjectDepth", fence, image="image-0", objects=[a, b], indoor_or_outdoor="indoor")
            depths = {r["object"]: r["depth"] for r in obs["results"]}
            return terminate(_option(task, min(depths, key=depths.get)))
        if kind == "judgment_size":
            if turn == 0:
                return action("GetObjectMask", fence, image="image-0", objects=[a, b])
            area = {r["object"]: r["mask_area"] for r in obs["results"]}
            return terminate("Yes" if area[a] > area[b] else "No")
        if kind in ("judgment_position", "distance_3d"):
            if turn == 0:
                return action("LocalizeObjects", fence, image="image-0", objects=[a, b])
            if turn == 1:
                centres = {r["label"]: [(r["bbox"][0] + r["bbox"][2] - 1) / 2, (r["bbox"][1] + r["bbox"][3] - 1) / 2]
                           for r in obs["regions"]}
                if kind == "judgment_position":
                    return terminate("Yes" if centres[a][0] < centres[b][0] else "No")
                return action("Get3DDistance", fence, image="image-0", point_1=centres[a], point_2=centres[b])
            return terminate(f"{obs['distance_meters']} meters")
        raise AssertionError(f"no oracle for {kind}")


class GuessingObserver:
    """An agent without tools: Terminates at once with a seeded random answer of the right form."""

    RANGES = {"metric_depth": (1.5, 9.0), "distance_3d": (0.5, 8.0)}

    def __init__(self, tasks: list[Task], seed: int = 0) -> None:
        self.tasks = {t.prompt(): t for t in tasks}
        self.seed = seed

    def __call__(self, req: ScriptedRequest) -> str:
        task = self.tasks[request_question(req)]
        rng = random.Random(f"{self.seed}:{task.id}")
        kind = task.metadata["task_type"]
        if task.choices:
            return terminate(f"({LETTERS[rng.randrange(len(task.choices))]})")
        if task.metadata["question_type"] == "judgment":
            return terminate(rng.choice(["Yes", "No"]))
        if kind == "counting":
            return terminate(str(rng.randint(1, 8)))
        lo, hi = self.RANGES[kind]
        return terminate(f"{rng.uniform(lo, hi):.1f} meters")


def chance_of(task: Task) -> float:
    """The expected score of a uniform guess on a multiple-choice or judgment task."""
    return 1 / len(task.choices) if task.choices else 0.5
