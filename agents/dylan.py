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
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, Field

from maslab.answers import answer_key
from maslab.graph import END, START, gather, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
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

    def build(self, ctx: RunContext[Config]) -> Any:
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
