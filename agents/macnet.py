"""MacNet — Multi-Agent Collaboration Networks (Qian et al., arXiv 2406.07155).

`agent_num` agents sit on the nodes of a directed acyclic graph and refine one another's
solutions along its edges, in topological order:

    1. a source node (no incoming edge) solves the question on its own;
    2. along every edge u → v, node v first critiques u's solution, then improves on it; the
       edges into one node are worked concurrently;
    3. a node with at least `aggregate_unit_num` (2) improved solutions merges them into one
       (retried, up to `aggregate_retry_limit` times, while the merge has no answer); with fewer
       than that many, a majority vote over their answers keeps one (ties: the first);
    4. the sinks' solutions are merged the same way, by the `aggregator`, into the answer.

Node v samples at temperature 1 − depth(v)/maxdepth (depth: longest path from a source), so
early nodes explore and the last ones converge. Nodes of equal depth run concurrently: each
node is a LangGraph node that waits for all of its predecessors (`maslab graph` draws the DAG).
The graph is compiled once per configured system, except with `topology: random` or
`type: profiles`, whose DAG or prompts are drawn from the run's RNG (seeded by the task): then
it is built for each task (`per_run_graph`).

Topologies (`topology`), on nodes 1…n (n = agent_num):
chain 1 → 2 → … → n; star 1 → every other node; tree the binary tree i → 2i, 2i+1;
net every forward edge i → j (i < j, n(n−1)/2 edges); mlp a layered net: input node 1, hidden
layers of two nodes, output node n, consecutive layers fully connected; random a random
spanning tree of forward edges plus extra forward edges, n−1 to n(n−1)/2 in all, drawn from the
run's RNG; or an explicit `edges` list (`topology: custom`), validated acyclic when the config is
built, so a workflow with a cycle fails validation before any call. `build_topology` and
`validate_edges` are the functions that do both.

Node system prompts: `type: default` gives every node the same generic prompt; `type: profiles`
draws one per node from a short built-in list of expert profiles (the original draws from 99).

Roles: `node` (a list of aliases gives node i the i-th), `aggregator` (the sink merge).
Calls: sources + 2·|E| + #{v : indeg(v) ≥ aggregate_unit_num} + [#sinks ≥ aggregate_unit_num]
(+ merge retries). Chain of 5: 1 + 8 = 9; net of 5: 1 + 20 + 3 = 24.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
the reference reads upstream answers after deleting the incoming edges, so nothing propagates —
we pass the source's solution along each edge; the reference calls `exit(1)` on a cycle — we
reject cycles at validation with the cycle named.

Profiles. `default` is the above. `reference` (MASLab 74265c7, `methods/macnet`, `macnet_main`)
sets `topology: random`, `topology_seed: 2025` (the reference reseeds with 2025 for every task,
so every task gets the same graph: on 5 nodes the edges 4→5, 2→4, 2→5, 1→5, 3→5, 1→2, 2→3, 1→4),
`type: profiles` and `layout: reference`, which adds the reference's virtual input and output
nodes and its prompts:

    - an input node feeds every source: a source answers the question alone, from an empty
      previous answer (one call); the output node receives every sink's answer like any node;
    - along an edge u → v, node v reviews u's answer ("[Node u's answer] …") against four
      criteria — accuracy, completeness, logic, relevance — naming the one that needs most work
      (or that none is needed), then writes an optimised answer (concise, structured, factual)
      from the answer and that review: two calls;
    - a node (the output node included) with at least `aggregate_unit_num` inputs integrates them
      in one call (no retry: the reference never reads `aggregate_retry_limit`), else keeps its one
      improved answer; the answer is the output node's;
    - temperature 1 − depth/maxdepth counts the virtual nodes; system prompts: one of 99
      occupation profiles per node (the virtual ones included), drawn with the topology's RNG
      in the reference's node order (`randint(1, 99)`), or "You are a helpful assistant." with
      `type: default`; `mlp` takes the reference's shape.

Calls (reference): sources + 2·|E| + 2·#sinks + #{v: indeg(v) ≥ 2} (+1 if #sinks ≥ 2): 21 on the
reference's default graph. MASLab's own code makes 10 there, because its review never runs (the
bug above); the reference profile does what the reference intends, and `deviations` says so. The
prompts and the 99 profiles are worded by maslab (the reference repository has no licence).
"""

from __future__ import annotations

import math
import operator
import random
from typing import Annotated, Any, Literal, TypedDict

import networkx as nx
from pydantic import Field, ValidationInfo, field_validator, model_validator

from maslab.answers import answer_key, format_of, vote
from maslab.graph import END, START, gather, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

Topology = Literal["chain", "star", "tree", "net", "mlp", "random", "custom"]

DEFAULT_PROMPT = "You are a careful expert who solves problems step by step and improves on others' work."
# 99 occupation profiles, written for maslab (the reference's list of 99 has no licence); the first 12
# are the expert profiles maslab's default `type: profiles` drew from before the list grew to 99.
PROFILES = (
    "You are a mathematician who checks every derivation rigorously.",
    "You are a physicist who reasons from first principles and checks units.",
    "You are a software engineer who thinks in precise, testable steps.",
    "You are a teacher who explains each step so a student could follow it.",
    "You are a statistician alert to hidden assumptions and edge cases.",
    "You are a logician who checks that every conclusion follows from its premises.",
    "You are an economist who reasons carefully about quantities and trade-offs.",
    "You are a scientist who tests every claim against the given facts.",
    "You are an editor who makes solutions clear, complete and correct.",
    "You are a competition problem solver who looks for the cleanest argument.",
    "You are a domain expert who knows the field's standard methods and pitfalls.",
    "You are a skeptical reviewer who double-checks calculations before accepting them.",
    *(f"You are {who}." for who in (
        "an actuary who prices risk from mortality and loss tables",
        "an air-traffic controller who keeps many moving aircraft safely apart",
        "an archaeologist who dates finds from layers of soil and pottery",
        "an architect who turns a client's needs into buildable plans",
        "an astronomer who measures distant stars from faint light",
        "an auditor who traces every figure in a ledger to its source",
        "a baker who scales recipes and times every batch exactly",
        "a bank teller who counts and reconciles cash to the cent",
        "a biochemist who follows reactions through living cells",
        "a bookkeeper who keeps a small firm's accounts balanced",
        "a botanist who classifies plants by their structure",
        "a bridge engineer who checks loads and safety margins",
        "a carpenter who measures twice and cuts once",
        "a cartographer who turns survey data into accurate maps",
        "a chemist who balances equations and checks stoichiometry",
        "a chess coach who calculates variations move by move",
        "a civil servant who applies regulations consistently",
        "a climate scientist who reads long temperature records",
        "a clinical pharmacist who checks doses and interactions",
        "a computer scientist who reasons about algorithms and their cost",
        "a construction manager who schedules crews and materials",
        "a copy editor who catches every inconsistency in a text",
        "a cryptographer who looks for the weakness in every scheme",
        "a data analyst who cleans data before drawing conclusions",
        "a dentist who plans treatments from X-rays and charts",
        "a detective who reconstructs events from small clues",
        "a diplomat who weighs every side of a negotiation",
        "an ecologist who models populations and food webs",
        "an electrician who traces circuits and checks every connection",
        "an emergency physician who decides quickly from incomplete information",
        "an environmental engineer who designs water treatment systems",
        "an epidemiologist who tracks how diseases spread",
        "a farmer who plans plantings around soil, weather and yield",
        "a film editor who assembles scenes into a coherent story",
        "a financial analyst who reads balance sheets and cash flows",
        "a firefighter who assesses risks before acting",
        "a fisheries biologist who estimates stocks from sampled catches",
        "a geneticist who reasons about inheritance and probability",
        "a geologist who reads the history of rocks and landforms",
        "a historian who weighs primary sources against each other",
        "a hospital administrator who balances budgets and staffing",
        "a hydrologist who models rivers, rainfall and flooding",
        "an insurance adjuster who assesses claims against policies",
        "an interpreter who renders meaning faithfully between languages",
        "an investigative journalist who verifies every claim before publishing",
        "a judge who applies the law to the facts of each case",
        "a laboratory technician who runs assays with careful controls",
        "a librarian who finds the authoritative source for any question",
        "a linguist who analyses grammar and meaning",
        "a logistics planner who routes goods at the lowest cost",
        "a machinist who works to thousandths of an inch",
        "a marine biologist who studies life on coral reefs",
        "a market researcher who designs unbiased surveys",
        "a materials scientist who predicts how materials fail",
        "a mechanical engineer who analyses forces, energy and motion",
        "a meteorologist who forecasts weather from models and observations",
        "a midwife who monitors mother and child through labour",
        "a museum curator who documents and interprets collections",
        "a music theorist who analyses harmony and structure",
        "a nurse who tracks patients' vital signs and medications",
        "a nutritionist who plans balanced diets from their components",
        "an operations researcher who optimises schedules and resources",
        "a paralegal who organises case files and deadlines",
        "a patent examiner who compares inventions with prior art",
        "a pharmacologist who studies how drugs act on the body",
        "a philosopher who examines arguments for hidden assumptions",
        "a photographer who controls light, exposure and composition",
        "a pilot who works through checklists before every flight",
        "a plumber who diagnoses leaks and pressure problems",
        "a police analyst who finds patterns in incident reports",
        "a product manager who weighs user needs against constraints",
        "a professor of engineering who grades solutions strictly",
        "a project manager who keeps tasks, risks and budgets in view",
        "a psychologist who designs careful behavioural studies",
        "a quality inspector who checks products against their specifications",
        "a radiologist who reads scans for subtle signs",
        "a real-estate appraiser who values property from comparable sales",
        "a research librarian who checks citations against their sources",
        "a robotics engineer who integrates sensors, control and mechanics",
        "a safety inspector who looks for hazards others overlook",
        "a school principal who solves problems for students and staff",
        "a social worker who connects people with the help they need",
        "a sociologist who studies how groups and institutions behave",
        "a surveyor who measures land boundaries precisely",
        "a tax adviser who applies the rules to each case exactly",
        "a translator who keeps technical terms exact",
        "a veterinarian who diagnoses animals that cannot describe their symptoms",
    )),
)
SOLVE = "{question}\n\nSolve the problem step by step, then state the final answer clearly at the end."
CRITIQUE = (
    "{question}\n\nHere is a solution from node {source}:\n{solution}\n\n"
    "Critique this solution: point out its errors, gaps and unclear steps, and what should change."
)
IMPROVE = (
    "{question}\n\nHere is a solution from node {source}:\n{solution}\n\n"
    "Your critique of it:\n{critique}\n\n"
    "Write an improved, complete solution that fixes these problems, and state the final answer "
    "clearly at the end."
)
# the reference layout's prompts (MASLab's instructions and order, in maslab's words)
REF_DEFAULT_PROMPT = "You are a helpful assistant."
REF_REVIEW = (
    "Review this answer as a judge of answer quality.\nQuestion: \"{question}\"\nAnswer under review: "
    "\"{previous}\"\n\nCriteria:\n1. accuracy: is the information right?\n2. completeness: does it cover "
    "every part of the question?\n3. logic: is the reasoning well organised?\n4. relevance: does it stay on "
    "the core of the question?\n\nName the one criterion that most needs improving and give concrete "
    "suggestions for revising it. If the answer is already perfect, reply \"<INFO>No revision needed\".")
REF_IMPROVE = (
    "Improve the answer using the review.\nOriginal question: \"{question}\"\nOriginal answer: \"{previous}\"\n"
    "Review: \"{suggestions}\"\n\nWrite an improved answer that:\n1. stays concise (at most 500 words);\n"
    "2. is structured (for example point by point);\n3. puts the most important content first;\n"
    "4. is factually accurate.\n\nGive only the final, improved answer, without comments.")
REF_MERGE = (
    "You are an expert at synthesising information, trusted to combine several answers into the best one. "
    "Several candidate answers to the same question follow, each with its own strengths and weaknesses.\n\n"
    "Your task:\n1. analyse every candidate carefully;\n2. find the strongest parts of each;\n3. drop "
    "contradictory or unreliable information;\n4. write one new, improved answer that combines the best parts "
    "— give the conclusion directly without describing the process, keep the candidates' concrete data and "
    "examples, and write naturally without naming the sources.\nThe answers to combine:\n")

AGGREGATE = (
    "{question}\n\nSeveral solutions to this problem follow.\n\n{solutions}\n\n"
    "Merge them into one solution: keep their correct steps, resolve their disagreements, and "
    "state the final answer clearly at the end."
)


def _forward_edges(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(1, n + 1) for j in range(i + 1, n + 1)]


def build_topology(kind: str, n: int, rng: random.Random | None = None, reference: bool = False) -> nx.DiGraph:
    """The DAG of a named topology on nodes 1…n (`random` draws from `rng`); `reference` gives MASLab's
    `random` and `mlp` shapes (the other topologies are the same)."""
    if n < 1:
        raise ValueError("a MacNet needs at least one node")
    if kind == "chain":
        edges = [(i, i + 1) for i in range(1, n)]
    elif kind == "star":
        edges = [(1, j) for j in range(2, n + 1)]
    elif kind == "tree":
        edges = [(i, c) for i in range(1, n + 1) for c in (2 * i, 2 * i + 1) if c <= n]
    elif kind == "net":
        edges = _forward_edges(n)
    elif kind == "mlp" and reference:
        # the reference: floor(log2 n) layers of n // layers nodes (the first layer takes the remainder)
        count = max(1, int(math.log(n, 2)))
        sizes = [n // count] * count
        sizes[0] += n % count
        bounds = [sum(sizes[:i]) for i in range(count + 1)]
        edges = [(u + 1, v + 1) for i in range(count - 1) for u in range(bounds[i], bounds[i + 1])
                 for v in range(bounds[i + 1], bounds[i + 2])]
    elif kind == "mlp":
        hidden = list(range(2, n))
        layers = [[1]] + [hidden[i:i + 2] for i in range(0, len(hidden), 2)] + ([[n]] if n > 1 else [])
        edges = [(u, v) for a, b in zip(layers, layers[1:], strict=False) for u in a for v in b]
    elif kind == "random" and reference:
        # the reference: n-1 to n(n-1)/2 edges, the first of the shuffled forward edges (0-based there)
        rng = rng or random.Random(0)
        count = rng.randint(n - 1, n * (n - 1) // 2)
        space = [(u, v) for u in range(n) for v in range(n) if u < v]
        rng.shuffle(space)
        edges = [(u + 1, v + 1) for u, v in space[:count]]
    elif kind == "random":
        rng = rng or random.Random(0)
        spanning = [(rng.randint(1, j - 1), j) for j in range(2, n + 1)]
        rest = [e for e in _forward_edges(n) if e not in spanning]
        total = rng.randint(n - 1, n * (n - 1) // 2)
        edges = spanning + rng.sample(rest, total - len(spanning))
    else:
        raise ValueError(f"unknown MacNet topology {kind!r}; known: chain, star, tree, net, mlp, random")
    dag = validate_edges(edges, n)
    dag.graph["edge_order"] = list(edges)  # the order the topology listed them (the reference's node order)
    return dag


def validate_edges(edges: list[tuple[int, int]], n: int) -> nx.DiGraph:
    """The DAG of an explicit edge list on nodes 1…n; ValueError naming the problem (e.g. the cycle)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(range(1, n + 1))
    for u, v in edges:
        if not (1 <= u <= n and 1 <= v <= n):
            raise ValueError(f"edge {u} -> {v} names a node outside 1..{n} (agent_num is {n})")
        if u == v:
            raise ValueError(f"edge {u} -> {v} is a self-loop; MacNet needs a directed acyclic graph")
        dag.add_edge(u, v)
    try:
        cycle = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        return dag
    path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
    raise ValueError(f"edges contain a cycle ({path}); MacNet needs a directed acyclic graph")


def depths(dag: nx.DiGraph) -> dict[int, int]:
    """Longest-path depth of every node from a source."""
    depth: dict[int, int] = {}
    for v in nx.topological_sort(dag):
        depth[v] = max((depth[u] + 1 for u in dag.predecessors(v)), default=0)
    return depth


class Config(MethodConfig):
    agent_num: int = Field(default=5, ge=1, le=64, description="nodes (agents) in the network")
    topology: Topology = Field(default="chain", description="chain, star, tree, net, mlp, random, or custom "
                                                            "(with `edges`)")
    edges: list[tuple[int, int]] | None = Field(
        default=None, description="explicit edges [[u, v], …] on nodes 1..agent_num; must be acyclic")
    type: Literal["default", "profiles"] = Field(
        default="default", description="default: one generic system prompt; profiles: one drawn per node")
    aggregate_unit_num: int = Field(default=2, ge=2, description="inputs from which a node merges them")
    aggregate_retry_limit: int = Field(default=10, ge=1, description="attempts at a merge that has an answer")
    topology_seed: int | None = Field(
        default=None, description="draw `random` (and profiles) from this seed, the same for every task (the "
                                  "reference: 2025); None: from the run's RNG, per task")
    layout: Literal["maslab", "reference"] = Field(
        default="maslab", description="maslab's nodes and prompts, or the reference's virtual input/output nodes, "
                                      "review-and-optimise prompts, 99 profiles drawn with randint and mlp shape")

    profiles = {"default": {}, "reference": {"topology": "random", "topology_seed": 2025, "type": "profiles",
                                             "layout": "reference"}}

    @field_validator("edges")
    @classmethod
    def _acyclic(cls, edges: list[tuple[int, int]] | None, info: ValidationInfo) -> list[tuple[int, int]] | None:
        if edges is not None and "agent_num" in info.data:
            validate_edges(edges, info.data["agent_num"])
        return edges

    @model_validator(mode="after")
    def _topology_or_edges(self) -> Config:
        if self.edges is not None and "topology" in self.model_fields_set and self.topology != "custom":
            raise ValueError(f"give either `topology: {self.topology}` or `edges`, not both")
        if self.edges is None and self.topology == "custom":
            raise ValueError("`topology: custom` needs an `edges` list")
        if self.edges is not None:
            self.topology = "custom"
        return self

    def dag(self, rng: random.Random | None = None) -> nx.DiGraph:
        """This configuration's DAG (`random` draws from `rng`)."""
        if self.edges is not None:
            dag = validate_edges(self.edges, self.agent_num)
            dag.graph["edge_order"] = [tuple(e) for e in self.edges]
            return dag
        return build_topology(self.topology, self.agent_num, rng, reference=self.layout == "reference")


DEVIATIONS = (
    Deviation(what="Default topology chain with one generic system prompt; the reference runs `random` (seed "
                   "2025: the same 8-edge graph for every task) with occupation profiles",
              why="maslab's documented default", profiles=("default",),
              calls="chain of 5: 9; the reference's graph: 21 (MASLab's code: 10)", kind="choice"),
    Deviation(what="Along every edge from a real node the target reviews the source's answer and then improves "
                   "it (2 calls per edge), so answers propagate; MASLab's code builds the edge's previous answer "
                   "after the incoming edges were deleted, so it is always empty, the review never runs and "
                   "nothing propagates (1 call per edge)", why="the reference's evident intent and the spec (a "
                   "bug)", calls="on the reference's default graph 21 instead of MASLab's 10", kind="bug"),
    Deviation(what="The answer travelling along u → v is u's own answer; the reference would quote the answers "
                   "of u's predecessors", why="the paper passes the source's artefact along its edge (a bug)",
              profiles=("reference",), kind="bug"),
    Deviation(what="No virtual input and output nodes: sources solve the question alone and the sinks are merged "
                   "by the aggregator role; the reference's output node reviews and improves every sink's answer, "
                   "then merges them", why="maslab's documented default", profiles=("default",),
              calls="2 fewer per sink", kind="choice"),
    Deviation(what="A merge without an answer is retried up to aggregate_retry_limit times; the reference never "
                   "reads that setting", why="maslab's documented default", profiles=("default",),
              calls="+1 per retry", kind="choice"),
    Deviation(what="mlp is input node, hidden pairs, output node; the reference's mlp is ⌊log2 n⌋ equal layers",
              why="maslab's documented default", profiles=("default",), kind="choice"),
    Deviation(what="Temperatures 1 − depth/maxdepth over the real nodes; the reference counts its virtual nodes",
              why="maslab's documented default", profiles=("default",), kind="choice"),
    Deviation(what="The 99 profiles are maslab's own occupation profiles (the default's `type: profiles` samples "
                   "them without replacement; the reference profile draws randint(1, 99) per node, as the "
                   "reference does, and uses profile k, so the same nodes get the same profile numbers)",
              why="the reference's list (100 entries, 88 distinct, of which randint(1, 99) reaches entries 1–99) "
                  "has no licence", kind="wording"),
    Deviation(what="The reference profile's review, improve and merge prompts are worded by maslab (same "
                   "criteria, requirements and order)", why="the reference repository has no licence",
              profiles=("reference",), kind="wording"),
    Deviation(what="A cycle is rejected when the configuration is validated; the reference calls exit(1)",
              why="the spec", kind="spec"),
    Deviation(what="The reference's `reverse` option (flip every edge) is not offered", why="off in its config",
              kind="missing"),
)


class State(TypedDict, total=False):
    task: Task
    solutions: Annotated[dict[int, str], operator.or_]  # node → its solution
    answer: str
    metadata: dict[str, Any]


@register_method
class MacNet(Method[Config]):
    name = "macnet"
    citation = "arXiv 2406.07155"
    summary = "Agents on a DAG critique and improve their predecessors' solutions; sinks are merged."
    roles = ("node", "aggregator")
    functions = {"node": "revise", "aggregator": "aggregate"}
    Config = Config
    reference = "MASLab 74265c7, methods/macnet (macnet_main: agent_num 5, topology random, random.seed(2025))"
    deviations = DEVIATIONS

    def per_run_graph(self) -> bool:
        """A `random` topology or drawn `profiles` come from the run's RNG (seeded by the task), so the
        graph is built for each run; the other topologies, and any with `topology_seed`, are compiled once."""
        return self.config.topology_seed is None and (self.config.topology == "random"
                                                      or self.config.type == "profiles")

    def build(self, ctx: RunContext[Config]) -> Any:
        if self.config.layout == "reference":
            return reference_graph(self.config, ctx)
        cfg = self.config
        rng = (random.Random(cfg.topology_seed) if cfg.topology_seed is not None
               else ctx.rng if self.per_run_graph() else None)
        dag = cfg.dag(rng)
        depth = depths(dag)
        max_depth = max(depth.values())
        if cfg.type == "profiles":  # distinct profiles while the list lasts
            drawn = (rng.sample(PROFILES, len(dag)) if len(dag) <= len(PROFILES)
                     else rng.choices(PROFILES, k=len(dag))) if rng is not None else []
            prompts = dict(zip(sorted(dag), drawn, strict=True))
        else:
            prompts = dict.fromkeys(dag, DEFAULT_PROMPT)
        sinks = [v for v in dag if dag.out_degree(v) == 0]
        aggregator = ctx.agent("aggregator", DEFAULT_PROMPT)

        def temperature(v: int) -> float:
            return 1.0 - depth[v] / max_depth if max_depth else 1.0

        async def merge(agent: Any, task: Task, texts: list[str], temp: float) -> str:
            """One solution from several: an LLM merge from `aggregate_unit_num` inputs, else a vote."""
            if len(texts) == 1:
                return texts[0]
            if len(texts) < cfg.aggregate_unit_num:
                return texts[vote(texts, format_of(task), "key").index or 0]
            listing = "\n\n".join(f"Solution {i + 1}:\n{t}" for i, t in enumerate(texts))
            prompt = AGGREGATE.format(question=task.prompt(), solutions=listing)
            for attempt in range(cfg.aggregate_retry_limit):
                merged = await ctx.ask(agent, prompt, temperature=temp, sample_index=attempt)
                if answer_key(task, merged) is not None:
                    return merged
            return texts[0]

        def node_step(v: int) -> Any:
            agent = ctx.agent("node", prompts[v], index=v - 1, name=f"node_{v}")
            preds = sorted(dag.predecessors(v))

            async def step(state: State) -> State:
                task = state["task"]
                question, temp = task.prompt(), temperature(v)
                if not preds:
                    return {"solutions": {v: await ctx.ask(agent, SOLVE.format(question=question),
                                                           temperature=temp)}}

                async def along_edge(u: int) -> str:
                    solution = state["solutions"][u]  # the source's answer travels along the edge
                    critique = await ctx.ask(agent, CRITIQUE.format(question=question, source=u,
                                                                    solution=solution), temperature=temp)
                    return await ctx.ask(agent, IMPROVE.format(question=question, source=u, solution=solution,
                                                               critique=critique), temperature=temp)

                improved = await gather(along_edge(u) for u in preds)
                return {"solutions": {v: await merge(agent, task, improved, temp)}}

            return step

        async def finish(state: State) -> State:
            task = state["task"]
            answer = await merge(aggregator, task, [state["solutions"][s] for s in sinks], 0.0)
            return {"answer": answer, "metadata": {
                "topology": cfg.topology, "edges": sorted(dag.edges), "sinks": sinks,
                "depth": depth, "solutions": {f"node_{v}": t for v, t in sorted(state["solutions"].items())},
            }}

        graph = state_graph(State)
        for v in nx.topological_sort(dag):
            graph.add_node(f"node_{v}", node_step(v))
            preds = sorted(dag.predecessors(v))
            if not preds:
                graph.add_edge(START, f"node_{v}")
            else:  # a list of sources: the node waits for all its predecessors
                graph.add_edge([f"node_{u}" for u in preds] if len(preds) > 1 else f"node_{preds[0]}", f"node_{v}")
        graph.add_node("finish", finish)
        graph.add_edge([f"node_{s}" for s in sinks] if len(sinks) > 1 else f"node_{sinks[0]}", "finish")
        graph.add_edge("finish", END)
        return graph


# ============================================================================= the reference layout


def reference_order(dag: nx.DiGraph) -> tuple[list[list[Any]], list[int]]:
    """The reference's layers (virtual "in" first, virtual "out" last) and its real nodes in the order
    it stores them (first appearance over the listed edges), which orders the peeled layers."""
    edges = dag.graph.get("edge_order") or sorted(dag.edges)
    stored = list(dict.fromkeys(x for e in edges for x in e)) or sorted(dag)
    preds = {v: set(dag.predecessors(v)) for v in stored}
    layers: list[list[Any]] = [["in"]]
    done: set[int] = set()
    while len(done) < len(stored):
        layer = [v for v in stored if v not in done and preds[v] <= done]
        layers.append(layer)
        done.update(layer)
    return [*layers, ["out"]], stored


def reference_graph(cfg: Config, ctx: RunContext[Config]) -> Any:
    """The reference layout: virtual input and output nodes, review-then-optimise along every edge,
    integration at nodes with enough inputs (see the module docstring)."""
    rng = random.Random(cfg.topology_seed) if cfg.topology_seed is not None else ctx.rng
    dag = cfg.dag(rng)
    layers, stored = reference_order(dag)
    sub = dag.subgraph(stored)
    depth = {v: i for i, layer in enumerate(layers) for v in layer}
    max_depth = len(layers) - 1
    prompts: dict[Any, str] = {}
    for layer in layers:  # the reference draws one profile per node, virtual ones included, in layer order
        for v in layer:
            prompts[v] = PROFILES[rng.randint(1, 99) - 1] if cfg.type == "profiles" else REF_DEFAULT_PROMPT
    position = {v: i for i, v in enumerate(x for layer in layers for x in layer)}
    sinks = sorted((v for v in stored if sub.out_degree(v) == 0), key=position.__getitem__)

    def temperature(v: Any) -> float:
        return 1.0 - depth[v] / max_depth

    def merge_inputs(agent: Any, v: Any, question: str, preds: list[int], answers: dict[int, str]) -> Any:
        async def receive() -> str:
            temp = temperature(v)

            async def along_edge(u: int) -> str:
                previous = f"[Node {u}'s answer]\n{answers[u]}\n\n"
                review = await ctx.ask(agent, REF_REVIEW.format(question=question, previous=previous),
                                       temperature=temp)
                return await ctx.ask(agent, REF_IMPROVE.format(question=question, previous=previous,
                                                               suggestions=review), temperature=temp)

            improved = await gather(along_edge(u) for u in preds)
            if len(preds) < cfg.aggregate_unit_num:
                return improved[0]
            listing = "".join(f"[Node {u}'s answer:]\n{a}\n\n" for u, a in zip(preds, improved, strict=True))
            return await ctx.ask(agent, REF_MERGE + listing, temperature=temp)

        return receive

    def node_step(v: int) -> Any:
        agent = ctx.agent("node", prompts[v], index=v - 1, name=f"node_{v}")
        preds = sorted(sub.predecessors(v), key=position.__getitem__)

        async def step(state: State) -> State:
            question = state["task"].prompt()
            if not preds:  # fed by the virtual input node: no previous answer, so no review
                text = await ctx.ask(agent, REF_IMPROVE.format(question=question, previous="", suggestions="None."),
                                     temperature=temperature(v))
            else:
                text = await merge_inputs(agent, v, question, preds, state["solutions"])()
            return {"solutions": {v: text}}

        return step

    async def finish(state: State) -> State:
        out = ctx.agent("aggregator", prompts["out"], name="node_out")
        answer = await merge_inputs(out, "out", state["task"].prompt(), sinks, state["solutions"])()
        return {"answer": answer, "metadata": {
            "topology": cfg.topology, "edges": sorted(sub.edges), "sinks": sinks, "layout": "reference",
            "depth": {str(v): d for v, d in depth.items()},
            "solutions": {f"node_{v}": t for v, t in sorted(state["solutions"].items())},
        }}

    graph = state_graph(State)
    for v in nx.topological_sort(sub):
        graph.add_node(f"node_{v}", node_step(v))
        preds = sorted(sub.predecessors(v))
        if not preds:
            graph.add_edge(START, f"node_{v}")
        else:
            graph.add_edge([f"node_{u}" for u in preds] if len(preds) > 1 else f"node_{preds[0]}", f"node_{v}")
    graph.add_node("finish", finish)
    graph.add_edge([f"node_{s}" for s in sinks] if len(sinks) > 1 else f"node_{sinks[0]}", "finish")
    graph.add_edge("finish", END)
    return graph
