"""X-MAS-Bench's prompts, in our own words.

The X-MAS repository (MASWorks/X-MAS) carries no licence, so nothing here is its text: each prompt
asks what the reference asks, in the same order — the question, then the material (a draft,
several solutions, a solution to judge), then the instruction — and the plan and evaluation
prompts keep the two fixed markers the reference's parsers need (`###ROLE START` … `ROLE END###`;
"The solution is correct" / "The solution is incorrect"). The judge makes the reference's two
calls — extract the final answer, then grade it against the reference answer as correct,
approximately correct or incorrect — with a fixed verdict line of ours to parse.
"""

from __future__ import annotations

import re


def revise_prompt(question: str, draft: str) -> str:
    """The examined reviser's prompt: a question and one draft solution to improve."""
    return ("Below are a question and one proposed solution to it. Rework the solution, reasoning from it, "
            "and write a final, complete solution to the question.\n\n"
            f"Question:\n{question}\n\nProposed solution:\n{draft}\n\n"
            "Now reason about the proposed solution carefully and write your revised, complete solution.")


def aggregate_prompt(question: str, solutions: list[str]) -> str:
    """The examined aggregator's prompt: a question and several solutions to fuse into one."""
    listing = "".join(f"Solution {i + 1}:\n{s}\n\n" for i, s in enumerate(solutions))
    return ("Below are a question and several solutions to it. Reason over all of them and write one final, "
            "complete solution to the question.\n\n"
            f"Question:\n{question}\n\n{listing}"
            "Now weigh these solutions carefully and write the final, complete solution.")


def plan_prompt(question: str) -> str:
    """The examined planner's prompt: a role plan, one role per `###ROLE START:` … `ROLE END###` block."""
    return ("Write a role plan for the question below: the agents needed to solve it, in the order in which "
            "they should work. Choose how many agents there are and what each one does from the question. "
            "Write each agent's role description between the markers ###ROLE START: and ROLE END###, "
            "for example:\n"
            "###ROLE START: You are an analyst. Work out which quantities the question gives and which it "
            "asks for, and sketch a method. ROLE END###\n"
            "###ROLE START: You are a careful solver. Carry out the previous agent's method step by step and "
            "state the final answer at the end. ROLE END###\n\n"
            f"Question:\n{question}\n\nNow write the role plan for this question.")


def executor_prompt(role: str, question: str, previous: str | None) -> str:
    """One executor's prompt in the plan harness's chain: its role, the question, the last agent's reply."""
    text = f"{role}\n\nQuestion:\n{question}"
    if previous is not None:
        text += f"\n\nThe previous agent's response:\n{previous}"
    return text


def evaluate_prompt(question: str, solution: str) -> str:
    """The examined evaluator's prompt: a verdict on one solution."""
    return ("Below are a question and a solution to it. Decide whether the solution is correct.\n\n"
            f"Question:\n{question}\n\nSolution:\n{solution}\n\n"
            "Check the solution carefully, then end your reply with exactly one of these two sentences: "
            "'The solution is correct' or 'The solution is incorrect'. Do not end with any other verdict.")


_ROLE_BLOCK = re.compile(r"###\s*ROLE START:?\s*(.*?)\s*ROLE END\s*###", re.DOTALL | re.IGNORECASE)
_ROLE_LOOSE = re.compile(r"ROLE START:?\s*(.*?)\s*ROLE END", re.DOTALL | re.IGNORECASE)
_ROLE_OPEN = re.compile(r"(?:###\s*)?ROLE START:?\s*", re.IGNORECASE)


def extract_roles(plan: str) -> list[str]:
    """The role descriptions of a plan: the `###ROLE START:` … `ROLE END###` blocks; else the blocks
    between `ROLE START` and `ROLE END`; else, when no block is closed, the text after each
    `ROLE START` up to the next one (the reference's three fallbacks). Empty blocks are dropped."""
    for pattern in (_ROLE_BLOCK, _ROLE_LOOSE):
        roles = [m.strip() for m in pattern.findall(plan) if m.strip()]
        if roles:
            return roles
    starts = list(_ROLE_OPEN.finditer(plan))
    pieces = [plan[m.end():(starts[i + 1].start() if i + 1 < len(starts) else len(plan))] for i, m in enumerate(starts)]
    return [p.strip() for p in pieces if p.strip()]


# --------------------------------------------------------------------------------------------- judge

NO_ANSWER = "NO ANSWER"


def judge_extract_prompt(question: str, solution: str) -> str:
    """Judge call 1: copy the final answer out of a solution, computing nothing."""
    return ("Your job is to copy the final answer out of a solution. You are given a problem and a solution "
            "to it.\n\n"
            f"Problem:\n{question}\n\nSolution:\n{solution}\n\n"
            "Reply with 'The answer is <answer>', giving the final answer exactly as the solution states it. "
            "Do not solve the problem, calculate anything or run code yourself. If the solution states no final "
            f"answer (only reasoning, unexecuted code, or an incomplete attempt), reply '{NO_ANSWER}'.")


VERDICTS = {"CORRECT": 2, "APPROXIMATELY CORRECT": 1, "INCORRECT": 0, NO_ANSWER: 0}


def judge_compare_prompt(question: str, reference: str, reply: str) -> str:
    """Judge call 2: grade the extracted answer against the reference answer (2 / 1 / 0)."""
    return ("You check an answer against the reference answer of a problem.\n\n"
            f"Problem:\n{question}\n\nReference answer:\n{reference}\n\nReply:\n{reply}\n\n"
            "1. Take the answer given in the reply.\n"
            "2. Decide whether it matches the reference answer. Where the match is not obvious (for example "
            "3*sqrt(6) and 7.348), compare by calculating, allowing a small margin of error.\n"
            "3. End with exactly one of these lines:\n"
            "VERDICT: CORRECT\n"
            "VERDICT: APPROXIMATELY CORRECT (the answer is approximated but should be correct)\n"
            "VERDICT: INCORRECT\n"
            f"VERDICT: {NO_ANSWER} (the reply contains no answer)")


_VERDICT_LINE = re.compile(r"VERDICT\s*:\s*\**\s*(APPROXIMATELY CORRECT|INCORRECT|CORRECT|NO ANSWER)", re.IGNORECASE)


def parse_judge_verdict(text: str) -> int | None:
    """The judge's grade: 2 correct, 1 approximately correct, 0 incorrect or no answer (the last
    `VERDICT:` line decides); None when the reply has no verdict line."""
    hits = _VERDICT_LINE.findall(text or "")
    if not hits:
        return None
    return VERDICTS[hits[-1].upper()]
