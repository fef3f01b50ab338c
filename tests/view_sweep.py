"""A small real sweep for the viewer's tests, run on scripted deterministic models (orchestration only).

Grid: methods {llm_debate (3 debaters × 2 rounds + LLM aggregator = 7 calls), vanilla} × assignments
{mixed: debaters on d1/d2/d3, aggregator on agg, vanilla's solver on solo; weak: every role on `weak`}
× one dataset (six sums, written to a JSONL file, scored `numeric`) × seeds {0, 1} = 8 cells.
The scripted replies are computed from the question, so which rows are right is known in advance:

* `weak` gets q2, q3 and q5 wrong (it answers the sum plus one), in both methods;
* `solo` (vanilla, mixed) gets q4 wrong and fails on q6 with a non-transient ModelCallError;
* every other alias answers right.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from maslab.errors import ModelCallError
from maslab.models import ModelPool, ScriptedRequest

SUMS = {"q1": (2, 3), "q2": (4, 4), "q3": (10, 7), "q4": (6, 9), "q5": (12, 30), "q6": (8, 1)}
WEAK_WRONG = {"q2", "q3", "q5"}
SOLO_WRONG, SOLO_ERROR = {"q4"}, {"q6"}
ALIASES = ("d1", "d2", "d3", "agg", "solo", "weak")
_QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")


def task_of(req: ScriptedRequest) -> str:
    a, b = map(int, _QUESTION.search(req.transcript).groups())
    return next(t for t, pair in SUMS.items() if pair == (a, b))


def reply(req: ScriptedRequest) -> str | Exception:
    task = task_of(req)
    total = sum(SUMS[task])
    if req.alias == "solo" and task in SOLO_ERROR:
        return ModelCallError("alias 'solo' endpoint scripted: the server refused the request (status 400)",
                              alias="solo", endpoint="scripted")
    if (req.alias == "weak" and task in WEAK_WRONG) or (req.alias == "solo" and task in SOLO_WRONG):
        total += 1
    return f"{req.agent} thinks it over. The sum is {total}."


@dataclass
class SmallSweep:
    out: Path
    cells: list[str]

    def cell(self, method: str, assignment: str, seed: int = 0) -> str:
        """The cell's id: its coordinates, then the hash of its configuration (looked up, not recomputed)."""
        prefix = f"{method}|{assignment}|sums|seed={seed}|"
        (cell,) = [c for c in self.cells if c.startswith(prefix)]
        return cell

    @staticmethod
    def wrong(method: str, assignment: str) -> set[str]:
        """Tasks answered but scored wrong."""
        if assignment == "weak":
            return set(WEAK_WRONG)
        return set(SOLO_WRONG) if method == "vanilla" else set()

    @staticmethod
    def errors(method: str, assignment: str) -> set[str]:
        return set(SOLO_ERROR) if (method, assignment) == ("vanilla", "mixed") else set()


async def run_small_sweep(out: Path) -> SmallSweep:
    from maslab.bench.sweep import Sweep, cells_of, run_sweep

    data = out.parent / f"{out.name}-sums.jsonl"
    data.write_text("".join(json.dumps({"id": t, "question": f"What is {a} + {b}?", "answer": str(a + b)}) + "\n"
                            for t, (a, b) in SUMS.items()))
    sweep = Sweep.model_validate({
        "name": "view-small",
        "methods": [{"method": "llm_debate", "params": {"agents": 3, "rounds": 2}}, {"method": "vanilla"}],
        "assignments": [{"name": "mixed", "roles": {"debater": ["d1", "d2", "d3"], "aggregator": "agg",
                                                    "solver": "solo"}},
                        {"name": "weak", "model": "weak"}],
        "datasets": [{"name": "sums", "path": str(data), "scorer": "numeric"}],
        "seeds": [0, 1],
        "concurrency": 4,
    })
    pool = ModelPool.scripted(reply, *ALIASES)
    await run_sweep(sweep, out=out, pool=pool, progress=False)
    return SmallSweep(out=out, cells=[c.cell_id for c in cells_of(sweep)])
