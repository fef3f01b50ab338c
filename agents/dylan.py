"""DyLAN — Dynamic LLM-Agent Network (Liu et al., arXiv 2310.02170).

`num_agents` agents answer across `num_rounds` fully connected layers (a temporal feed-forward
network: the agents of layer r read the replies of layer r−1):

    1. each layer activates its agents in a random order (the run's RNG); in layer 1 they answer
       the question independently;
    2. from layer 2 on, each agent reads the previous layer's replies (shown in a random order),
       gives its updated answer and rates every reply it read from 1 to 5 ("[[s1, s2, …]]"); the
       ratings feed the Agent Importance Score (back-propagated from the last layer, reported in
       `metadata["importance"]`), the original's signal for team selection;
    3. early stop (consensus): once a layer of n agents has more than ⌊2/3·n⌋ replies, the network
       stops if the top answer has more than ⌊2/3·n⌋ votes (open-ended answers match when their
       sentence BLEU ≥ `bleu_threshold`, 90);
    4. from layer 3 on (`activation: listwise`), a ranker reads the previous layer's replies in a
       random order and keeps the best `rank_keep` (2); only the agents that wrote them continue,
       and they read only those replies;
    5. the answer is the most frequent answer of the last layer (ties: the earliest reply).

Concurrency: the first ⌊2/3·n⌋+1 replies of a layer — the earliest point where the early-stop
check can fire — are drawn concurrently, then the rest one at a time, each followed by the
check; this makes exactly the original's calls and decisions (agents of one layer never see each
other) in less wall time. With `early_stop: false` every layer runs fully in parallel.

Roles: `agent` (a list of aliases gives each agent its own model), `ranker`.
Calls: layer r costs between ⌊2/3·n_r⌋+1 and n_r replies, plus one ranker call when layer r ≥ 3
has more than rank_keep agents to choose from. Without early stop:
N + N + (R − 2)·rank_keep + 1 for R ≥ 3 (defaults: 4 + 4 + 1 + 2 = 11); under unanimity the
network stops in layer 1 after ⌊2/3·N⌋+1 = 3 calls.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
orders come from the run's seeded RNG, unparseable ratings are ignored (not an error), and an
unparseable ranking falls back to the first replies shown, so a run always finishes.

Profiles. `default` is the above (`variant: maslab`). `reference` (`variant: auto`) runs MASLab's
three DyLAN programs (commit 74265c7), chosen per task as MASLab chooses them — by the dataset's
name (`math` → `dylan_math`, `mmlu` → `dylan_mmlu`, else `dylan_main`; a task without a dataset
name by its domain) — or forced with `variant: main|math|mmlu`:

    - main (GSM-Hard, AQuA, GPQA, SciBench, AIME, MedQA …): `num_agents` Assistants over
      `num_rounds` layers, orders drawn from one RNG seeded with `seed` (the same for every task,
      as the reference's `random.seed(0)`); layer 1 gets the bare query, later layers the query,
      every reply of the previous layer (shuffled) and a request for an updated answer and 1–5
      scores; consensus compares whole replies — y agrees with x when ≥ 90 % of y's words occur in
      x (the reference's "BLEU", a unigram precision) — and stops once more than ⌊2/3·n⌋ agree;
      from layer 3 a ranker reads the previous layer's replies (shuffled) and picks 2, whose agents
      answer, each reading **all** the previous layer's replies; the answer is a consensus reply,
      else the most frequent reply of the last layer;
    - math (MATH): 4 agents in a fixed order, few-shot math prompts; consensus on the extracted
      answers ("The answer is …", else the last box, else the last number), checked from the 3rd
      reply of layers 1 and 2; then a ranker picks 2 of the layer-2 replies; if those 2 agree, their
      answer is final; else the 2 agents (duplicates allowed, as in the reference) answer once more,
      reading the 2 picked replies, and the most frequent extracted answer is returned in a box;
    - mmlu (MMLU, MMLU-Pro): 7 experts (economist, doctor, lawyer, mathematician, psychologist,
      programmer, historian), the main program's network with answers read as "(X)" and
      consensus on the letters; the answer is the letter.

Calls (reference): main 4 + 4 + 1 + 2 = 11 without consensus, 3 under unanimity, 4 + 3 = 7 when
layer 2 agrees; math the same, 9 when the ranker's 2 picks agree; mmlu 7 + 7 + 1 + 2 = 17, 5 under
unanimity. The prompts, personas and worked examples are worded by maslab (the reference repository
has no licence); `deviations` lists every difference.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, Field

from maslab.answers import (
    LETTERS,
    answer_key,
    extract_paren_choice,
    extract_stated_answer,
    format_of,
    math_equal,
)
from maslab.graph import END, START, gather, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, reference_variant, register_method
from maslab.task import Task

AGENT_PROMPT = "You are {persona}. You solve problems carefully, step by step."
ANSWER_CUE = "Think step by step, then state the final answer clearly at the end."
UPDATE = (
    "{question}\n\nThese are solutions to the problem from other agents:\n\n{solutions}\n\n"
    "Using the reasoning of the other agents as additional advice, give an updated answer: examine "
    "your reasoning and theirs step by step. " + ANSWER_CUE + "\n"
    "Along with the answer, rate each of the {k} solutions above from 1 (wrong, unhelpful) to 5 "
    "(correct, helpful), in order, in the form [[s1, s2, ...]]."
)
RANKER_PROMPT = "You are a careful judge who ranks solutions by correctness and helpfulness."
RANK = (
    "Question:\n{question}\n\nResponses:\n\n{responses}\n\n"
    "Select the {keep} best responses, judged by correctness and helpfulness. Reply with their "
    "numbers only, best first, as a list such as [1, 2]."
)

_RATINGS = re.compile(r"\[\[([^\[\]]*)\]\]")
_LIST = re.compile(r"\[([\d,\s]+)\]")


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"variant": "auto"}}

    num_agents: int = Field(default=4, ge=1, description="agents per layer (N)")
    num_rounds: int = Field(default=3, ge=1, description="layers (rounds of replies)")
    activation: Literal["listwise", "none"] = Field(
        default="listwise", description="listwise: from layer 3 a ranker keeps the best rank_keep agents")
    rank_keep: int = Field(default=2, ge=1, description="agents the listwise ranker keeps")
    early_stop: bool = Field(default=True, description="stop on a ⌊2/3·n⌋ consensus within a layer")
    bleu_threshold: float = Field(default=90.0, ge=0, le=100,
                                  description="sentence BLEU at which open-ended answers match")
    personas: list[str] = Field(default_factory=list,
                                description="personas cycled over the agents (empty: 'an Assistant'; "
                                            "DyLAN's MMLU config uses 7 experts)")
    variant: Literal["maslab", "auto", "main", "math", "mmlu"] = Field(
        default="maslab", description="maslab: maslab's DyLAN; main/math/mmlu: MASLab's dylan_main/_math/_mmlu; "
                                      "auto: chosen per task by its dataset name, as MASLab chooses")


DEVIATIONS = (
    Deviation(what="Consensus compares the extracted final answers (open-ended ones by sentence BLEU ≥ 90); "
                   "the reference's dylan_main compares whole replies by unigram precision ≥ 90",
              why="maslab's reading of the paper's answer consensus", profiles=("default",),
              calls="the same answer in different words stops after 3 calls instead of 11", kind="choice"),
    Deviation(what="Agents of layer 3 read only the 2 replies the ranker kept; the reference's agents read every "
                   "reply of the previous layer", why="the paper's team selection", profiles=("default",),
              kind="choice"),
    Deviation(what="One program for every dataset, with a step-by-step cue; no dylan_math / dylan_mmlu programs",
              why="maslab's general DyLAN", profiles=("default",), kind="choice"),
    Deviation(what="Orders come from the run's RNG seeded by (seed, task id); the reference reseeds the global "
                   "RNG with 0 for every task", why="the spec: per-task seeded randomness, no global RNG",
              profiles=("default",), kind="spec"),
    Deviation(what="From layer 3 the agents the ranker picked are the ones that answer; the reference activates "
                   "the agents at the shuffled loop positions equal to the picked agent numbers (an indexing "
                   "slip), so other agents may answer", why="the reference's evident intent (a bug)",
              profiles=("reference",), calls="none", kind="bug"),
    Deviation(what="dylan_mmlu reads and asks for the task's own letters (A–J for MMLU-Pro); the reference "
                   "hard-codes (A)–(D)", why="answers E–J could never be read (a bug)", profiles=("reference",),
              kind="bug"),
    Deviation(what="dylan_mmlu: replies without a letter do not agree with each other; in the reference None == "
                   "None, so such replies can form a consensus and the sample returns no answer",
              why="a bug", profiles=("reference",), calls="can add calls where the reference stops", kind="bug"),
    Deviation(what="dylan_math compares answers with maslab's math equivalence (maslab.answers.math_equal) "
                   "instead of the MATH dataset's string normaliser", why="one equivalence in maslab; both "
                   "accept 0.5 = \\frac{1}{2} and strip units, LaTeX spacing and dollars", profiles=("reference",),
              kind="choice"),
    Deviation(what="The reference profile's prompts, personas and dylan_math's worked examples are written by "
                   "maslab (same instructions and layout; our own four worked examples instead of the "
                   "reference's MATH exemplars)", why="the reference repository has no licence",
              profiles=("reference",), kind="wording"),
    Deviation(what="With num_rounds > 3, a layer with two replies or fewer is not ranked again; the reference "
                   "asserts more than two and fails", why="a bug (num_rounds is 3 by default)",
              profiles=("reference",), kind="bug"),
    Deviation(what="The first ⌊2/3·n⌋+1 replies of a layer are drawn concurrently, then one at a time",
              why="wall time: agents of one layer never see each other, so the calls and the consensus "
                  "checks are the reference's", kind="choice"),
)


class Node(BaseModel):
    """One reply in the network: agent `agent` in layer `layer`, after reading `shown` agents' replies."""

    layer: int
    agent: int
    text: str
    key: str | None
    shown: list[int] = []
    ratings: list[int] | None = None


class State(TypedDict, total=False):
    task: Task
    round: int
    active: list[int]
    context: list[tuple[int, str]]  # (agent, reply) the next layer reads
    layers: list[list[Node]]
    consensus: Node | None
    rankings: list[dict[str, Any]]
    answer: str
    metadata: dict[str, Any]


def parse_ratings(text: str, k: int) -> list[int] | None:
    """The last `[[s1, …, sk]]` block as k scores clipped to 1–5, else None."""
    blocks = _RATINGS.findall(text)
    if not blocks:
        return None
    scores = [min(5, max(1, int(s))) for s in re.findall(r"\d+", blocks[-1])]
    return scores if len(scores) == k else None


def parse_ranking(text: str, k: int, keep: int) -> tuple[list[int], bool]:
    """0-based positions of the `keep` best of k responses, and whether the reply parsed cleanly."""
    lists = _LIST.findall(text)
    numbers = re.findall(r"\d+", lists[0] if lists else text)
    picked: list[int] = []
    for n in numbers:
        i = int(n) - 1
        if 0 <= i < k and i not in picked:
            picked.append(i)
    want = min(keep, k)
    clean = len(picked) >= want
    picked = picked[:want] + [i for i in range(k) if i not in picked][: max(0, want - len(picked))]
    return picked, clean


def importance(layers: list[list[Node]], n_agents: int) -> list[float]:
    """Agent Importance Scores: the last layer shares 1, each reply passes its share back to the
    replies it read, in proportion to its ratings of them (equal shares when it gave none)."""
    scores = [0.0] * n_agents
    if not layers:
        return scores
    share = {(n.layer, n.agent): 1 / len(layers[-1]) for n in layers[-1]}
    for layer in reversed(layers):
        for node in layer:
            own = share.get((node.layer, node.agent), 0.0)
            scores[node.agent] += own
            if not node.shown:
                continue
            weights = node.ratings or [1] * len(node.shown)
            total = sum(weights)
            for pred, w in zip(node.shown, weights, strict=True):
                key = (node.layer - 1, pred)
                share[key] = share.get(key, 0.0) + own * w / total
    return scores


@register_method
class DyLAN(Method[Config]):
    name = "dylan"
    citation = "arXiv 2310.02170"
    summary = "Layers of agents with consensus early stop and a listwise ranker that selects the team."
    roles = ("agent", "ranker")
    functions = {"agent": "qa", "ranker": "evaluate"}
    Config = Config
    reference = "MASLab 74265c7, methods/dylan (dylan_main, dylan_math, dylan_mmlu; random_seed 0)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        if self.config.variant != "maslab":
            return reference_graph(self.config, ctx)
        cfg = self.config
        ranker = ctx.agent("ranker", RANKER_PROMPT)

        def persona(i: int) -> str:
            return cfg.personas[i % len(cfg.personas)] if cfg.personas else "an Assistant"

        def same(task: Task, a: str, b: str) -> bool:
            if a == b:
                return True
            if task.choices or task.domain == "code" or (_is_number(a) and _is_number(b)):
                return False
            import sacrebleu

            return sacrebleu.sentence_bleu(a, [b], lowercase=True).score >= cfg.bleu_threshold

        def most_frequent(task: Task, nodes: list[Node]) -> tuple[Node | None, int]:
            """The earliest reply carrying the most frequent answer, and that answer's votes."""
            best, best_votes = None, 0
            for node in nodes:
                if node.key is None:
                    continue
                votes = sum(1 for other in nodes if other.key is not None and same(task, node.key, other.key))
                if votes > best_votes:
                    best, best_votes = node, votes
            return best, best_votes

        async def layer(state: State) -> State:
            task = state["task"]
            r = state.get("round", 0) + 1
            context = state.get("context", [])
            order = list(state["active"])
            ctx.rng.shuffle(order)
            shown: dict[int, list[tuple[int, str]]] = {}
            for a in order:  # draw every order before any await: runs stay reproducible
                shown[a] = ctx.rng.sample(context, len(context))

            async def reply(a: int) -> Node:
                agent = ctx.agent("agent", AGENT_PROMPT.format(persona=persona(a)), index=a)
                seen = shown[a]
                if r == 1 or not seen:
                    text = await ctx.ask(agent, f"{task.prompt()}\n\n{ANSWER_CUE}")
                else:
                    solutions = "\n\n".join(f"Solution {i + 1}:\n{t}" for i, (_, t) in enumerate(seen))
                    text = await ctx.ask(agent, UPDATE.format(question=task.prompt(), solutions=solutions,
                                                              k=len(seen)))
                ratings = parse_ratings(text, len(seen)) if seen and r > 1 else None
                clean = _RATINGS.sub("", text).strip() or text
                return Node(layer=r, agent=a, text=clean, key=answer_key(task, clean),
                            shown=[p for p, _ in seen] if r > 1 else [], ratings=ratings)

            threshold = math.floor(2 * len(order) / 3)
            first = order[:threshold + 1] if cfg.early_stop else order
            nodes = await gather(reply(a) for a in first)
            consensus = None
            for a in [None, *order[len(first):]]:
                if a is not None:
                    nodes.append(await reply(a))
                if cfg.early_stop and len(nodes) > threshold:
                    top, votes = most_frequent(task, nodes)
                    if votes > threshold:
                        consensus = top
                        break
            return {"round": r, "layers": [*state.get("layers", []), nodes], "consensus": consensus,
                    "context": [(n.agent, n.text) for n in nodes]}

        async def rank(state: State) -> State:
            task = state["task"]
            context = ctx.rng.sample(state["context"], len(state["context"]))
            responses = "\n\n".join(f"Response {i + 1}:\n{t}" for i, (_, t) in enumerate(context))
            reply = await ctx.ask(ranker, RANK.format(question=task.prompt(), responses=responses,
                                                      keep=cfg.rank_keep))
            picked, clean = parse_ranking(reply, len(context), cfg.rank_keep)
            kept = [context[i] for i in picked]
            record = {"before_round": state["round"] + 1, "shown": [a for a, _ in context],
                      "kept": [a for a, _ in kept], "parsed": clean}
            return {"active": [a for a, _ in kept], "context": kept,
                    "rankings": [*state.get("rankings", []), record]}

        async def decide(state: State) -> State:
            task = state["task"]
            last = state["layers"][-1]
            winner = state.get("consensus")
            if winner is None:
                winner, _ = most_frequent(task, last)
            answer = (winner or last[0]).text
            layers = state["layers"]
            return {"answer": answer, "metadata": {
                "rounds": state["round"], "early_stop": state.get("consensus") is not None,
                "answers": [[(f"agent_{n.agent + 1}", n.key) for n in lay] for lay in layers],
                "ratings": [[(f"agent_{n.agent + 1}", n.ratings) for n in lay] for lay in layers[1:]],
                "rankings": state.get("rankings", []),
                "importance": {f"agent_{i + 1}": round(s, 6)
                               for i, s in enumerate(importance(layers, cfg.num_agents))},
            }}

        def start(state: State) -> State:
            return {"round": 0, "active": list(range(cfg.num_agents)), "context": [], "layers": []}

        def route(state: State) -> str:
            if state.get("consensus") is not None or state["round"] >= cfg.num_rounds:
                return "decide"
            if cfg.activation == "listwise" and state["round"] + 1 >= 3 and len(state["active"]) > cfg.rank_keep:
                return "rank"
            return "layer"

        graph = state_graph(State)
        graph.add_node("start", start)
        graph.add_node("layer", layer)
        graph.add_node("rank", rank)
        graph.add_node("decide", decide)
        graph.add_edge(START, "start")
        graph.add_edge("start", "layer")
        graph.add_conditional_edges("layer", route, ["layer", "rank", "decide"])
        graph.add_edge("rank", "layer")
        graph.add_edge("decide", END)
        return graph


def _is_number(s: str) -> bool:
    return re.fullmatch(r"-?\d+(?:\.\d+)?", s) is not None


# ============================================================================= the reference profile
# MASLab's dylan_main / dylan_math / dylan_mmlu (commit 74265c7), in maslab's words.

MAIN_PERSONA = "You are a highly capable AI assistant who carries out tasks better than people do."
MMLU_PERSONAS = (
    "You are an economist, at home in economics, finance and business, and practised at reading charts in "
    "the light of the world's macroeconomic conditions.",
    "You are a doctor who devises creative treatments for illnesses, recommending conventional medicines, "
    "herbal remedies and natural alternatives with regard to the patient's age, lifestyle and history.",
    "You are a lawyer, at home in law, politics and history.",
    "You are a mathematician, good at mathematical games, arithmetic and long-term planning.",
    "You are a psychologist, at home in psychology, sociology and philosophy, who gives people "
    "science-based advice that helps them feel better.",
    "You are a programmer, at home in computer science, engineering and physics, experienced in designing "
    "and building software and hardware.",
    "You are a historian who researches and analyses past cultural, economic, political and social events, "
    "building theories from primary sources.",
)
MAIN_UPDATE = (
    "{question}\n\nHere are the other agents' responses:{responses}\n\nTreat the other agents' answers as "
    "extra advice, but think critically: can you give an updated answer? Check your own solution and theirs "
    "step by step, keeping in mind that all of them may be wrong, and answer in detail. Together with your "
    "answer, score each of the other agents' solutions from 1 to 5, giving all {k} scores in the form "
    "[[1, 5, 2, ...]].")
MAIN_RANK = ("{question}\n\nHere are the other agents' responses:{responses}\n\nChoose the 2 best answers, "
             "thinking step by step, and end your reply with their numbers in the form [1,2] or [3,4].")
MATH_SYSTEM = ("This is a debate: explain your reasoning thoroughly in every round.\n"
               "Answer the mathematics problem the way the examples do.")
MATH_EXAMPLES = r"""Problem: A bakery packs muffins in boxes of 6. How many boxes are needed for 45 muffins?
Answer: 45 / 6 = 7.5, so 7 boxes hold 42 muffins and one more box is needed for the other 3. That makes 8 boxes. The answer is 8.
###
Problem: What is the sum of the interior angles of a hexagon, in degrees?
Answer: The interior angles of a polygon with n sides add up to (n - 2) * 180 degrees. For n = 6 that is 4 * 180 = 720. The answer is 720.
###
Problem: Solve for x: 3x - 7 = 2x + 5.
Answer: Subtracting 2x from both sides gives x - 7 = 5, so x = 12. The answer is 12.
###
Problem: A fair die is rolled twice. What is the probability that both rolls show a six? Express your answer as a common fraction.
Answer: Each roll shows a six with probability $\frac{1}{6}$ and the rolls are independent, so both do with probability $\frac{1}{6} \cdot \frac{1}{6} = \frac{1}{36}$. The answer is \frac{1}{36}."""
MATH_QUESTION = "{examples}\n\nNow solve this problem.\nProblem: {query}\nAnswer:"
MATH_DEBATE = (
    "Answer the mathematics problem the way the examples do.\n\n{question}\n\nHere are other agents' solutions "
    "to the problem:{solutions}\n\nTreat the other agents' reasoning as extra advice, but think critically: can "
    "you give an updated answer? Check your solution and theirs step by step, keeping in mind that all the "
    "earlier answers may be wrong.")
MATH_RANK = (
    "Answer the mathematics problem the way the examples do.\n\n{question}\n\nHere are other agents' solutions "
    "to the problem:{solutions}\n\nChoose the 2 best solutions, thinking step by step, and end your reply with "
    "their numbers in the form [1,2] or [3,4].")
MMLU_SYSTEM = "This is a debate: explain your reasoning thoroughly in every round.\nEvery question has one correct choice."
MMLU_FIRST = "Here is the question:\n{question}\n\nEnd your response with your answer in the form (X), where X is one of {choices}."
MMLU_UPDATE = (
    "Here is the question:\n{question}\n\nHere are other agents' solutions to the problem:{solutions}\n\nTreat "
    "the other agents' reasoning as extra advice, but think critically: can you give an updated answer? Check "
    "your solution and theirs step by step, keeping in mind that their answers may all be wrong. End your "
    "response with your answer in the form (X), where X is one of {choices}. Together with your answer, score "
    "each of the other agents' solutions from 1 to 5, giving all {k} scores in the form [[1, 5, 2, ...]].")
MMLU_RANK = (
    "Here is the question:\n{question}\n\nHere are other agents' solutions to the problem:{solutions}\n\nChoose "
    "the 2 best solutions, thinking step by step, and end your reply with their numbers in the form [1,2] or "
    "[3,4].")


def unigram_agrees(x: str, y: str) -> bool:
    """dylan_main's comparison (its "BLEU"): at least 90 % of y's lower-cased words occur among x's."""
    ref, hyp = x.lower().split(), y.lower().split()
    return bool(hyp) and 100 * sum(1 for w in hyp if w in ref) / len(hyp) >= 90


def most_frequent_ref(items: Sequence[Any], same: Callable[[Any, Any], bool]) -> tuple[Any, int]:
    """The reference's `_most_frequent`: the first item with the strictly largest number of items the
    comparison accepts (itself included), and that number."""
    best, count = (items[0] if items else None), 0
    for a in items:
        votes = sum(same(a, b) for b in items)
        if votes > count:
            best, count = a, votes
    return best, count


def parse_ranks_ref(text: str, k: int, rng: random.Random | None) -> list[int]:
    """The reference's rank parse: the last "[i, j]" (digits 1–7; dylan_math 1–4), clipped to the k
    replies; unreadable → two random picks (main, mmlu) or [0, 1] (math: `rng` None)."""
    digits = "1234" if rng is None else "1234567"
    found = re.findall(rf"\[([{digits}]),\s*([{digits}])\]", text)
    if found:
        return [min(max(int(d) - 1, 0), (3 if rng is None else k - 1)) for d in found[-1]]
    return [0, 1] if rng is None else rng.sample(range(k), 2)


class RefNode(BaseModel):
    """One reply of the reference network: agent `agent` in layer `layer`; `answer` is what consensus
    compares (the whole reply, dylan_math's extracted answer, or dylan_mmlu's letter)."""

    layer: int
    agent: int
    text: str
    answer: str | None
    shown: list[int] = []


class RefState(TypedDict, total=False):
    task: Task
    variant: str
    n: int
    rng: Any  # the reference's RNG state (random.Random.getstate()), seeded once per run with `seed`
    round: int
    mask: list[int]  # the agents the ranker picked (duplicates kept), for the next layer
    previous: list[RefNode]  # the previous layer's replies, in the reference's order
    layers: list[list[RefNode]]
    rankings: list[dict[str, Any]]
    consensus: str | None
    answer: str
    metadata: dict[str, Any]


def reference_graph(cfg: Config, ctx: RunContext[Config]) -> Any:
    """MASLab's DyLAN programs as one LangGraph: start → layer → (rank → layer)… → decide."""
    ranker = ctx.agent("ranker")

    def letters(task: Task) -> str:
        return format_of(task).letters or LETTERS[:4]

    def choices(task: Task) -> str:
        opts = [f"({c})" for c in letters(task)]
        return ", ".join(opts[:-1]) + f", or {opts[-1]}" if len(opts) > 1 else opts[0]

    def read(variant: str, task: Task, text: str) -> str | None:
        if variant == "math":
            return extract_stated_answer(text) or None
        if variant == "mmlu":
            return extract_paren_choice(text, letters(task))
        return text

    def same(variant: str) -> Callable[[Any, Any], bool]:
        if variant == "math":
            return lambda a, b: math_equal(a, b)
        if variant == "mmlu":
            return lambda a, b: a is not None and a == b
        return unigram_agrees

    def agent_for(variant: str, a: int) -> Any:
        if variant == "math":
            return ctx.agent("agent", MATH_SYSTEM, index=a)
        if variant == "mmlu":
            personas = cfg.personas or list(MMLU_PERSONAS)
            return ctx.agent("agent", f"{personas[a % len(personas)]}\n{MMLU_SYSTEM}", index=a)
        return ctx.agent("agent", f"{cfg.personas[a % len(cfg.personas)] if cfg.personas else MAIN_PERSONA}\n",
                         index=a)

    def message(variant: str, task: Task, seen: list[str]) -> str:
        question = task.prompt()
        if variant == "math":
            q = MATH_QUESTION.format(examples=MATH_EXAMPLES, query=question)
            if not seen:
                return q
            return MATH_DEBATE.format(question=q, solutions="".join(
                f"\n\nOne agent's solution: ```{t}```" for t in seen))
        if variant == "mmlu":
            if not seen:
                return MMLU_FIRST.format(question=question, choices=choices(task))
            return MMLU_UPDATE.format(question=question, choices=choices(task), k=len(seen), solutions="".join(
                f"\n\nAgent solution {i + 1}: ```{t}```" for i, t in enumerate(seen)))
        if not seen:
            return question
        return MAIN_UPDATE.format(question=question, k=len(seen), responses="".join(
            f"\n\nAgent response {i + 1}: ```{t}```" for i, t in enumerate(seen)))

    def start(state: RefState) -> RefState:
        task = state["task"]
        variant = cfg.variant if cfg.variant != "auto" else reference_variant(task, ("math", "mmlu"), "main")
        n = len(cfg.personas or MMLU_PERSONAS) if variant == "mmlu" else cfg.num_agents
        return {"variant": variant, "n": n, "rng": random.Random(cfg.seed).getstate(), "round": 0,
                "mask": list(range(n)), "previous": [], "layers": [], "rankings": [], "consensus": None}

    async def layer(state: RefState) -> RefState:
        task, variant, n = state["task"], state["variant"], state["n"]
        r = state["round"] + 1
        rng = random.Random()
        rng.setstate(state["rng"])
        previous = state["previous"]
        mask = state["mask"]
        if variant == "math":  # fixed order; every agent of a layer reads the same replies
            order = list(range(n)) if r <= 2 else list(mask)
            seen = {i: [p.text for p in previous] for i in range(len(order))}
            check_from = math.floor(2 / 3 * n) if r <= 2 else None
        else:
            loop = list(range(n))
            rng.shuffle(loop)
            order = loop if r <= 2 else [a for a in loop if a in mask]
            seen = {}
            for i in range(len(order)):  # each activation shuffles what it reads, in activation order
                formers = sorted(previous, key=lambda nd: nd.agent)  # the reference's edge order
                rng.shuffle(formers)
                seen[i] = [p.text for p in formers]
            check_from = math.floor(2 / 3 * len(mask))

        async def reply(i: int) -> RefNode:
            a = order[i]
            text = await ctx.ask(agent_for(variant, a), message(variant, task, seen[i]))
            shown = [p.agent for p in previous] if variant == "math" else []
            return RefNode(layer=r, agent=a, text=text, answer=read(variant, task, text), shown=shown)

        def reached(nodes: list[RefNode]) -> str | None:
            if check_from is None:
                return None
            answers = [nd.answer for nd in nodes]
            if variant == "math":
                answers = [x for x in answers if x]
                bar = math.floor(2 / 3 * len(nodes))
            else:
                bar = check_from
            if not answers:
                return None
            top, votes = most_frequent_ref(answers, same(variant))
            return top if votes > bar else None

        first = len(order) if check_from is None else min(len(order), check_from + 1)
        nodes = list(await gather(reply(i) for i in range(first)))
        consensus = reached(nodes) if check_from is not None and len(nodes) > check_from else None
        for i in range(first, len(order)):
            if consensus is not None:
                break
            nodes.append(await reply(i))
            consensus = reached(nodes)
        return {"round": r, "layers": [*state["layers"], nodes], "previous": nodes, "consensus": consensus,
                "rng": rng.getstate()}

    async def rank(state: RefState) -> RefState:
        task, variant = state["task"], state["variant"]
        rng = random.Random()
        rng.setstate(state["rng"])
        previous = state["previous"]
        if variant == "math":
            ordered = sorted(previous, key=lambda nd: nd.agent)
            q = MATH_QUESTION.format(examples=MATH_EXAMPLES, query=task.prompt())
            reply = await ctx.ask(ranker, MATH_RANK.format(question=q, solutions="".join(
                f"\n\nAgent solution {i + 1}: ```{nd.text}```" for i, nd in enumerate(ordered))))
            tops = parse_ranks_ref(reply, len(ordered), None)
            picked = [ordered[t] for t in tops]
            answers = [nd.answer for nd in picked if nd.answer]
            top, votes = most_frequent_ref(answers, same(variant)) if answers else (None, 0)
            consensus = top if votes > math.floor(2 / 3 * len(picked)) else None
            record = {"before_round": state["round"] + 1, "shown": [nd.agent for nd in ordered],
                      "kept": [nd.agent for nd in picked]}
            return {"mask": [nd.agent for nd in picked], "previous": picked, "consensus": consensus,
                    "rankings": [*state["rankings"], record]}
        ordered = sorted(previous, key=lambda nd: nd.agent) if state["round"] == 2 else list(previous)
        indices = list(range(len(ordered)))
        rng.shuffle(indices)
        shown = [ordered[i] for i in indices]
        template = MMLU_RANK if variant == "mmlu" else MAIN_RANK
        key = "solutions" if variant == "mmlu" else "responses"
        label = "Agent solution" if variant == "mmlu" else "Agent response"
        reply = await ctx.ask(ranker, template.format(question=task.prompt(), **{key: "".join(
            f"\n\n{label} {i + 1}: ```{nd.text}```" for i, nd in enumerate(shown))}))
        tops = parse_ranks_ref(reply, len(shown), rng)
        mask = [shown[t].agent for t in tops]
        record = {"before_round": state["round"] + 1, "shown": [nd.agent for nd in shown], "kept": mask}
        return {"mask": mask, "rankings": [*state["rankings"], record], "rng": rng.getstate(),
                "previous": ordered}

    def decide(state: RefState) -> RefState:
        variant, last = state["variant"], state["layers"][-1]
        consensus = state.get("consensus")
        if consensus is not None:
            answer = consensus
        else:
            answers = [nd.answer for nd in last if variant != "math" or nd.answer]
            top, _ = most_frequent_ref(answers, same(variant)) if answers else ("", 0)
            answer = top or ""
            if variant == "math":
                answer = "\\boxed{" + answer + "}"  # as the reference returns its final answer
        return {"answer": answer, "metadata": {
            "variant": variant, "rounds": state["round"], "early_stop": consensus is not None,
            "answers": [[(f"agent_{nd.agent + 1}", nd.answer) for nd in lay] for lay in state["layers"]],
            "rankings": state["rankings"]}}

    def route(state: RefState) -> str:
        variant, r = state["variant"], state["round"]
        if state.get("consensus") is not None:
            return "decide"
        if variant == "math":
            return "rank" if r == 2 else "decide" if r >= 3 else "layer"
        if r >= cfg.num_rounds:
            return "decide"
        if r >= 2 and state["n"] > 3 and len(state["previous"]) > 2 and cfg.activation == "listwise":
            return "rank"
        return "layer"

    graph = state_graph(RefState)
    graph.add_node("start", start)
    graph.add_node("layer", layer)
    graph.add_node("rank", rank)
    graph.add_node("decide", decide)
    graph.add_edge(START, "start")
    graph.add_edge("start", "layer")
    graph.add_conditional_edges("layer", route, ["layer", "rank", "decide"])
    graph.add_conditional_edges("rank", lambda s: "decide" if s.get("consensus") is not None else "layer",
                                ["layer", "decide"])
    graph.add_edge("decide", END)
    return graph
