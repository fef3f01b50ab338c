"""MAV — Multi-Agent Verification, BoN-MAV (Lifshitz et al., arXiv 2502.20379).

Best-of-n with several aspect verifiers voting on every candidate:

    1. the generator draws `n_solutions` candidate solutions, in parallel (one sample index each);
    2. `n_max_verifiers` aspect verifiers are drawn, without replacement and with the run's RNG,
       from units_steps, general_summarize, general_edge, general_mistakes, general_domain,
       math_steps, logic_steps, general_diff; each checks every candidate, all (candidate,
       verifier) pairs concurrently;
    3. a verifier makes two calls per candidate: an analysis of the candidate from its aspect,
       then, as the next turn of the same conversation, an approval-only question answered at
       `vera_temp` (0.0): "FINAL VERIFICATION ANSWER: True" or "... False";
    4. the candidate with the most approvals wins; ties go to the first candidate.

Roles: `generator`, `verifier` (give `verifier` a list of aliases for distinct verifier models,
as in the original; the i-th drawn aspect uses the i-th alias).
Calls: n_solutions · (1 + 2 · n_max_verifiers) — (2, 2) makes 10.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
the aspects are drawn with the run's seeded RNG (the reference shuffles the global RNG), and the
analysis stays a turn of the verifier's conversation (the reference replays it as a system
message). An approval reply that cannot be parsed counts as a rejection, never as an error.

Profiles. `default` is the above (`variant: maslab`). `reference` (`variant: auto`) runs MASLab's
MAV programs (commit 74265c7), chosen per task by the dataset's name (`math` → `mav_math`, `gpqa`
→ `mav_gpqa`, `mmlu` → `mav_mmlu`, else `mav_main`; a task without a dataset name by its domain),
or forced with `variant: main|math|gpqa|mmlu`:

    - the generator's prompt: main asks for a concise solution with only the final answer; math
      for a step-by-step solution ending in `\\boxed{}` (an empty box when there is none); gpqa
      and mmlu for step-by-step reasoning ending "The answer is (X)";
    - each program has its own pool of aspects (main all 8; math 6 — general_edge twice, as in the
      reference; gpqa 5; mmlu 7), shuffled with the run's RNG, the first `n_max_verifiers` kept;
    - a verifier gets one user message — the verifier's brief, the question, the candidate and the
      aspect's instructions — and answers at `vera_temp`; the approval-only question follows with
      the analysis replayed as a system message, also at `vera_temp`; the verdict is read after the
      last "FINAL VERIFICATION ANSWER:" (true/false, else the first word);
    - the answer is the best candidate's extraction: main the whole text without "**", math its
      last `\\boxed{}`'s content ("" when it has none — the reference fails there), gpqa/mmlu the
      letter ("answer is (X)", else "Answer: X", else the last lone capital).
The prompts are worded by maslab (the reference repository has no licence).
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.answers import boxed_reference, extract_answer_is_choice
from maslab.graph import END, START, Appended, fan_out, gather, state_graph
from maslab.messages import Message
from maslab.method import Deviation, Method, MethodConfig, RunContext, reference_variant, register_method
from maslab.task import Task

ASPECTS: dict[str, str] = {
    "units_steps": "Check every quantity and its units at each step: conversions, dimensions and "
                   "magnitudes must be consistent.",
    "general_summarize": "Summarise what the solution claims and how it gets there, then judge whether "
                         "that summary actually answers the question asked.",
    "general_edge": "Look for edge cases, special conditions and boundary values the solution may have "
                    "missed or mishandled.",
    "general_mistakes": "Hunt for concrete mistakes: wrong facts, arithmetic slips, misread conditions, "
                        "unjustified leaps.",
    "general_domain": "Judge the solution as a domain expert would: are the concepts, formulas and "
                      "conventions of the field applied correctly?",
    "math_steps": "Re-derive each mathematical step and check that every calculation is correct.",
    "logic_steps": "Check the chain of reasoning step by step: does each step follow from the previous "
                   "ones and from the question's conditions?",
    "general_diff": "Solve the question briefly yourself, then compare your result with the solution "
                    "and explain any difference.",
}

VERA_SYMBOL = "FINAL VERIFICATION ANSWER:"
VERIFIER_PROMPT = (
    "You are a critical verifier. You are shown a question and a proposed solution; analyse the "
    "solution carefully from the aspect you are given and follow the instructions."
)
APPROVAL_PROMPT = (
    f"To clarify, based on the above analysis, reply with ONLY '{VERA_SYMBOL}True' if the solution "
    f"is correct or ONLY '{VERA_SYMBOL}False' if it is not."
)
GENERATE_CUE = "Solve the problem step by step, then state the final answer clearly at the end."


# the reference profile: MASLab's MAV prompts (per dataset variant), in maslab's words
REF_GENERATE = {
    "main": "\nSolve the problem concisely, giving only the final answer.\nProblem: {problem}\nAnswer:\n",
    "math": ("\nYou are an assistant skilled at solving mathematics problems. Always finish your solution with the "
             "final numerical answer in LaTeX as '\\boxed{{<answer>}}'; if there is no solution, write an empty "
             "'\\boxed{{}}'.\nSolve this mathematics problem step by step:\nQUESTION: {problem}\nWrite your detailed "
             "solution below:\n"),
    "mc": ("\nAnswer this multiple-choice question. Reason step by step first, then finish with \"The answer is "
           "(X)\", where X is the LETTER of the correct option.\n\nQUESTION:\n{problem}\n\nReason step by step, "
           "then end with EXACTLY \"The answer is (X)\", where X is the LETTER of the correct option: the letter "
           "only, not the option's text.\n"),
}
REF_VERIFIER = {
    "main": ("\nYou are a critical verifier who evaluates answers to questions.\nYou will see a question and a "
             "proposed answer.\nGo over the answer carefully and analyse it, following the instructions.\n"),
    "math": ("\nYou are a critical verifier who evaluates solutions to mathematics problems.\nYou will see a "
             "question and a proposed solution.\nGo over the solution carefully and analyse it, following the "
             "instructions.\n"),
    "mc": ("\nYou are a critical verifier who evaluates answers to multiple-choice questions.\nYou will see a "
           "question and a proposed solution.\nGo over the solution carefully and analyse it, following the "
           "instructions.\n"),
}
_STOP = f"If you find a problem, stop and reply '{VERA_SYMBOL}False'. "
REF_ASPECTS: dict[str, str] = {
    "math_steps": ("Check every step of the proposed solution for mathematical correctness, thinking aloud. "
                   f"If a step is wrong, stop and reply '{VERA_SYMBOL}False'. If every step is right, reply "
                   f"'{VERA_SYMBOL}True'."),
    "logic_steps": ("Check every step of the proposed solution for sound logic, thinking aloud. If a step does "
                    f"not follow, stop and reply '{VERA_SYMBOL}False'. If every step is sound, reply "
                    f"'{VERA_SYMBOL}True'."),
    "units_steps": ("Check that each step of the solution handles units correctly, thinking aloud. "
                    f"{_STOP}If the units are handled correctly throughout, reply '{VERA_SYMBOL}True'."),
    "general_summarize": ("Summarise the solution in your own words and probe anything that may be wrong, "
                          f"thinking aloud. {_STOP}If it all holds up, reply '{VERA_SYMBOL}True'."),
    "general_diff": ("Explain the solution differently from how it is presented and look for flaws in it, "
                     f"thinking aloud. {_STOP}If it all holds up, reply '{VERA_SYMBOL}True'."),
    "general_edge": ("Check whether the solution handles edge cases and boundary conditions: try extreme values "
                     f"and special cases, thinking aloud. {_STOP}If they are all handled, reply '{VERA_SYMBOL}True'."),
    "general_mistakes": ("Check the solution for the common mistakes, calculation errors and misconceptions of "
                         f"problems of this kind, thinking aloud. {_STOP}If there are none, reply "
                         f"'{VERA_SYMBOL}True'."),
    "general_domain": ("Check that the solution applies the relevant domain knowledge, established theory and "
                       f"standard practice correctly, thinking aloud. {_STOP}If it does, reply '{VERA_SYMBOL}True'."),
}
REF_ASPECT_POOLS = {
    "main": ("units_steps", "general_summarize", "general_edge", "general_mistakes", "general_domain", "math_steps",
             "logic_steps", "general_diff"),
    "math": ("units_steps", "general_summarize", "general_edge", "general_mistakes", "general_domain", "general_edge"),
    "gpqa": ("math_steps", "logic_steps", "units_steps", "general_diff", "general_mistakes"),
    "mmlu": ("math_steps", "logic_steps", "general_diff", "general_edge", "general_mistakes", "general_domain",
             "units_steps"),
}
REF_APPROVAL = (f"To be clear, from the analysis above, reply with ONLY '{VERA_SYMBOL}True' or ONLY "
                f"'{VERA_SYMBOL}False', and nothing else.")


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"variant": "auto"}}

    n_solutions: int = Field(default=2, ge=1, description="candidate solutions drawn (best-of-n)")
    n_max_verifiers: int = Field(default=2, ge=1, le=len(ASPECTS),
                                 description="aspect verifiers drawn per task; each checks every candidate")
    vera_temp: float = Field(default=0.0, ge=0.0, description="temperature of the approval-only call (and, in "
                                                                "the reference variants, of the analysis)")
    variant: Literal["maslab", "auto", "main", "math", "gpqa", "mmlu"] = Field(
        default="maslab", description="maslab: maslab's MAV; main/math/gpqa/mmlu: MASLab's mav_* programs; "
                                      "auto: chosen per task by its dataset name, as MASLab chooses")


DEVIATIONS = (
    Deviation(what="The generator is asked to solve step by step and state the final answer; the reference's "
                   "mav_main asks for a concise solution with only the final answer, and its math/gpqa/mmlu "
                   "programs use their own prompts", why="maslab's documented default", profiles=("default",),
              kind="choice"),
    Deviation(what="The verifier's analysis runs at the agents' temperature; the reference runs it at vera_temp "
                   "(0.0) like the approval", why="maslab's documented default", profiles=("default",),
              kind="choice"),
    Deviation(what="Aspect instructions are maslab's (general_diff: solve it yourself and compare; the "
                   "reference's: explain it differently and look for flaws); the analysis stays an assistant turn "
                   "(the reference replays it as a system message); one aspect pool for every dataset",
              why="maslab's documented prompts and the spec", profiles=("default",), kind="choice"),
    Deviation(what="An approval is read tolerantly (a last true/false/yes/no/approve word counts); the reference "
                   "reads only the text after its verdict symbol", why="maslab's documented default",
              profiles=("default",), kind="choice"),
    Deviation(what="Aspects are drawn per task with the run's seeded RNG; the reference shuffles the unseeded "
                   "global RNG once per sample", why="the spec (reproducible runs)", kind="spec"),
    Deviation(what="mav_math: a candidate without \\boxed{} has the empty answer; the reference fails on it",
              why="the reference's evident intent (it maps a missing answer to '' elsewhere; a bug)",
              profiles=("reference",), kind="bug"),
    Deviation(what="mav_gpqa/mav_mmlu accept a question without the word 'options'; the reference asserts it "
                   "(its own data format)", why="maslab's tasks list their options as (A)…", profiles=("reference",),
              kind="choice"),
    Deviation(what="The reference profile's prompts are worded by maslab (same instructions, layout and order)",
              why="the reference repository has no licence", profiles=("reference",), kind="wording"),
    Deviation(what="Candidates are drawn concurrently and the (candidate, verifier) pairs are checked "
                   "concurrently; the reference runs them one after another", why="wall time; the prompts are the "
                   "same", kind="choice"),
)


class State(TypedDict, total=False):
    task: Task
    candidates: Appended
    aspects: list[str]
    verdicts: list[list[bool]]
    answer: str
    metadata: dict[str, Any]


_VERDICT = re.compile(re.escape(VERA_SYMBOL) + r"\s*\**\s*(true|false)", re.IGNORECASE)


def parse_approval(text: str) -> bool:
    """True when the approval reply says True; tolerant of markup; anything unclear is a rejection."""
    found = _VERDICT.findall(text)
    if found:
        return found[-1].lower() == "true"
    words = re.findall(r"\b(true|false|approved?|rejected?|yes|no)\b", text.lower())
    return bool(words) and words[-1] in ("true", "approve", "approved", "yes")


def parse_approval_reference(text: str) -> bool:
    """The reference's verdict: the text after the last verdict symbol (any case), stars removed — "true" or
    "true." approves, else the first word decides (it contains "true"); no symbol is a rejection."""
    at = text.lower().rfind(VERA_SYMBOL.lower())
    if at == -1:
        return False
    verdict = text[at + len(VERA_SYMBOL):].strip().replace("*", "").strip().lower()
    if not verdict:
        return False
    if verdict in ("true", "true.", "false", "false."):
        return verdict.startswith("true")
    return "true" in verdict.split()[0]


def reference_answer(variant: str, candidate: str) -> str:
    """What the chosen candidate answers: maslab/main its text (main without "**"), math its last box's
    content ("" without one), gpqa/mmlu its letter ("" without one)."""
    if variant == "maslab":
        return candidate
    if variant == "math":
        return (boxed_reference(candidate) or "").replace("**", "")
    if variant in ("gpqa", "mmlu"):
        return extract_answer_is_choice(candidate.replace("**", "")) or ""
    return candidate.replace("**", "")


@register_method
class MAV(Method[Config]):
    name = "mav"
    citation = "arXiv 2502.20379"
    summary = "Best-of-n candidates checked by aspect verifiers; the most approved candidate wins."
    roles = ("generator", "verifier")
    functions = {"generator": "qa", "verifier": "evaluate"}
    Config = Config
    reference = "MASLab 74265c7, methods/mav (mav_main, mav_math, mav_gpqa, mav_mmlu; n_solutions 2, n_max_verifiers 2)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        generator = ctx.agent("generator")

        def variant_of(task: Task) -> str:
            if cfg.variant != "auto":
                return cfg.variant
            return reference_variant(task, ("math", "gpqa", "mmlu"), "main")

        async def generate(branch: dict[str, Any]) -> State:
            task: Task = branch["task"]
            variant = variant_of(task)
            if variant == "maslab":
                prompt = f"{task.prompt()}\n\n{GENERATE_CUE}"
            else:
                prompt = REF_GENERATE[variant if variant in ("main", "math") else "mc"].format(problem=task.prompt())
            text = await ctx.ask(generator, prompt, sample_index=branch["k"])
            return {"candidates": [(branch["k"], text)]}

        async def verify_reference(state: State, variant: str) -> State:
            task = state["task"]
            candidates = [t for _, t in sorted(state["candidates"])]
            pool = list(REF_ASPECT_POOLS[variant])
            ctx.rng.shuffle(pool)
            aspects = pool[:cfg.n_max_verifiers]
            brief = REF_VERIFIER[variant if variant in ("main", "math") else "mc"]
            label = "PROPOSED ANSWER" if variant == "main" else "PROPOSED SOLUTION"

            async def check(candidate: str, j: int, aspect: str) -> bool:
                verifier = ctx.agent("verifier", index=j, name=f"verifier_{aspect}")
                question = (f"{brief}\n\nQUESTION:\n{task.prompt()}\n\n{label}:\n{candidate}\n\n"
                            f"INSTRUCTIONS:\n{REF_ASPECTS[aspect]}")
                analysis = await ctx.ask(verifier, question, temperature=cfg.vera_temp)
                conversation = [Message.user(question), Message.system(analysis), Message.user(REF_APPROVAL)]
                return parse_approval_reference(await ctx.ask(verifier, conversation, temperature=cfg.vera_temp))

            flat = await gather(check(c, j, a) for c in candidates for j, a in enumerate(aspects))
            n = len(aspects)
            return {"aspects": aspects, "verdicts": [flat[i * n:(i + 1) * n] for i in range(len(candidates))]}

        async def verify(state: State) -> State:
            task = state["task"]
            if variant_of(task) != "maslab":
                return await verify_reference(state, variant_of(task))
            candidates = [t for _, t in sorted(state["candidates"])]
            aspects = ctx.rng.sample(sorted(ASPECTS), cfg.n_max_verifiers)

            async def check(candidate: str, j: int, aspect: str) -> bool:
                verifier = ctx.agent("verifier", VERIFIER_PROMPT, index=j, name=f"verifier_{aspect}")
                question = (f"Question:\n{task.prompt()}\n\nProposed solution:\n{candidate}\n\n"
                            f"Aspect to verify: {ASPECTS[aspect]}")
                analysis = await ctx.ask(verifier, question)
                conversation = [Message.user(question), Message.assistant(analysis), Message.user(APPROVAL_PROMPT)]
                return parse_approval(await ctx.ask(verifier, conversation, temperature=cfg.vera_temp))

            flat = await gather(check(c, j, a) for c in candidates for j, a in enumerate(aspects))
            n = len(aspects)
            return {"aspects": aspects, "verdicts": [flat[i * n:(i + 1) * n] for i in range(len(candidates))]}

        async def select(state: State) -> State:
            candidates = [t for _, t in sorted(state["candidates"])]
            approvals = [sum(v) for v in state["verdicts"]]
            best = approvals.index(max(approvals))  # ties: the first candidate
            answer = reference_answer(variant_of(state["task"]), candidates[best])
            return {"answer": answer,
                    "metadata": {"aspects": state["aspects"], "approvals": approvals,
                                 "verdicts": state["verdicts"], "chosen": best}}

        graph = state_graph(State)
        graph.add_node("generate", generate)
        graph.add_node("verify", verify)
        graph.add_node("select", select)
        graph.add_conditional_edges(
            START,
            lambda s: fan_out("generate", ({"task": s["task"], "k": k} for k in range(cfg.n_solutions))),
            ["generate"])
        graph.add_edge("generate", "verify")
        graph.add_edge("verify", "select")
        graph.add_edge("select", END)
        return graph
