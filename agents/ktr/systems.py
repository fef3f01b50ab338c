"""The KtR systems: a blueprint run by its controller as one maslab system.

    1. read the task's typed instance (``metadata["instance"]``, else the question as JSON);
    2. run the blueprint's protocol with one `LeafAgent` per leaf on its role's alias, with the
       leaf's augmentation, the controller enforcing every contract (`maslab.blueprint.Controller`);
       a `BlueprintFailure` (a `ContractViolation` after `contract_retries` retries, a loop guard)
       ends the instance: its answer names the failure and it scores wrong;
    3. with ``isolated: true``, also measure each leaf on the step oracle's inputs (one more call
       per step, named ``<leaf>[isolated]`` in the ledger) for per-agent isolated accuracy.

The answer is the blueprint output as JSON; ``solution.metadata["blueprint"]`` is the run's
`BlueprintRecord` (leaves, aliases, augmentations, per-step verdicts, isolated results, failure),
which `maslab ktr diagnose` pools. Graph: ``controller → (isolated) → END`` — the controller is
plain code, not an LLM.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maslab.agents.ktr import assignment, knapsack
from maslab.blueprint import (
    Augmentation,
    Blueprint,
    BlueprintFailure,
    Controller,
    LeafAgent,
    isolated_steps,
    load_blueprint,
    make_record,
)
from maslab.errors import ConfigError
from maslab.graph import END, START, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, check_count, register_method
from maslab.task import Task
from maslab.tool import default_registry

CITATION = "arXiv 2505.16979 (Know-The-Ropes; agents, prompts and instance generators reconstructed)"
REFERENCE = ("Know-The-Ropes, arXiv 2505.16979 — paper only (no code released: the anonymised repository was "
             "reported empty); the {what} is reconstructed after the spec")

# What every blueprint system does where the paper publishes nothing (spec §0–§2). The profiles are the same:
# there is no reference code to reproduce.
BLUEPRINT_DEVIATIONS = (
    Deviation(what="The controller is plain code (the protocol runs as deterministic Python), not an LLM",
              why="our reading of the paper's \"controller-mediated\" (reconstructed, spec §1)", kind="missing"),
    Deviation(what="A reply that breaks its output contract is asked again up to contract_retries (2) times with "
                   "the validation error appended, then the instance fails (ContractViolation) and scores wrong",
              why="the spec's controller (§2, our design; the paper's retry rule is unpublished)",
              calls="+1 per retry, at most contract_retries per leaf call", kind="missing"),
    Deviation(what="The output cues (none / cot / tool), the contract-retry and the self-check prompts are "
                   "written by maslab", why="the paper publishes no prompts (reconstructed)", kind="missing"),
    Deviation(what="self_check(K) stops as soon as the agent keeps its output, and a malformed check reply keeps "
                   "the last valid output", why="ours: the paper names the rung only",
              calls="1 to K check calls per leaf call", kind="choice"),
    Deviation(what="Propagated per-agent accuracy checks each leaf's output by R against the input it actually "
                   "received, so an upstream error is charged upstream; isolated accuracy (isolated: true) asks "
                   "every leaf once more on the step oracle's inputs",
              why="our reading of the spec's per-agent accuracy (the paper's measurement is unpublished)",
              calls="+1 per step with isolated: true (off by default)", kind="choice"),
    Deviation(what="Sampling at maslab's defaults (temperature 0.5, max_tokens 2048)",
              why="the paper publishes no decoding settings", kind="missing"),
)

# The paper's two case studies: their agents, prompts and instances are reconstructed (spec §3–§4).
CASE_STUDY_DEVIATIONS = (
    Deviation(what="The leaves' role prompts are written by maslab", why="the paper publishes no prompts "
              "(reconstructed)", kind="missing"),
    Deviation(what="Instances come from maslab's seeded generators (the `knapsack` / `assignment` benchmarks: "
                   "sizes, value ranges, capacity ½Σw), checked by exact oracles; not the paper's instances",
              why="the paper publishes no instances or generator (reconstructed, spec §3–§4)", kind="missing"),
    Deviation(what="finetuned(ALIAS) expects a model tuned on `maslab ktr finetune-data`: oracle chat pairs of the "
                   "leaf's own input and output from train-split instances disjoint from the test set",
              why="the paper's fine-tune data is unpublished (reconstructed)", kind="missing"),
)
KNAPSACK_DEVIATIONS = (
    Deviation(what="The three agents' specifications are reconstructed as DP over a Pareto set: Expander, Trimmer "
                   "(drop overweight and dominated states; equal states collapse to the smallest item list) and "
                   "Selector (largest value; ties: smaller weight, then item list)",
              why="the paper names three agents, DP and the Trimmer only (reconstructed, spec §3)",
              calls="2n + 1 for n items", kind="missing"),
    Deviation(what="An answer is correct when its item set is feasible and its value is the optimum",
              why="the paper's exact criterion is unpublished (spec §3)", kind="missing"),
)
ASSIGNMENT_DEVIATIONS = (
    Deviation(what="The six agents' specifications are reconstructed after the Hungarian algorithm, the Cover "
                   "Seeker split into A (independent zeros) and B (König's line cover)",
              why="the paper names six agents, the Hungarian algorithm and the Cover Seeker's further "
                  "decomposition only (reconstructed, spec §4)", calls="3k + 2 for k loop rounds", kind="missing"),
    Deviation(what="The cover/adjust loop is capped at n² rounds; past it the instance fails and scores wrong",
              why="ours: a guard against a leaf that never reaches n lines", calls="at most 3n² + 2",
              kind="choice"),
)


def _bounded_self_checks(augmentation: dict[str, Augmentation]) -> dict[str, Augmentation]:
    """self_check(K) multiplies a leaf's calls: K is bounded like every call count."""
    for leaf, aug in augmentation.items():
        if aug.kind == "self_check":
            check_count(f"augmentation.{leaf} self_check", aug.arg)
    return augmentation


class BlueprintConfig(MethodConfig):
    contract_retries: int = Field(default=2, ge=0, json_schema_extra={"count": True},
                                  description="retries of a reply that breaks its contract")
    augmentation: dict[str, Augmentation] = Field(
        default_factory=dict,
        description="leaf → none | cot | tool(NAME) | self_check(K) | finetuned(ALIAS); default none")
    isolated: bool = Field(default=False, description="also measure each leaf on the step oracle's inputs")

    @field_validator("augmentation")
    @classmethod
    def _self_checks(cls, augmentation: dict[str, Augmentation]) -> dict[str, Augmentation]:
        return _bounded_self_checks(augmentation)


class State(TypedDict, total=False):
    task: Task
    instance: Any
    leaves: dict[str, LeafAgent]
    answer: str
    metadata: dict[str, Any]


class BlueprintSystem(Method[Any]):
    """A registered system running one blueprint (subclasses set `blueprint_of` and `prompts`)."""

    prompts: ClassVar[dict[str, str]] = {}

    def blueprint_of(self) -> Blueprint[Any, Any]:
        raise NotImplementedError

    def leaf_agents(self, ctx: RunContext[Any], blueprint: Blueprint[Any, Any]) -> dict[str, LeafAgent]:
        cfg = self.config
        unknown = sorted(set(cfg.augmentation) - set(blueprint.tasks))
        if unknown:
            raise ConfigError(f"{self.name}: augmentation for unknown leaf {', '.join(unknown)}; its leaves: "
                              f"{', '.join(blueprint.tasks)}")
        params = {k: v for k, v in (("temperature", cfg.temperature), ("max_tokens", cfg.max_tokens)) if v is not None}
        return {leaf: LeafAgent(name=leaf, alias=ctx.alias(leaf), prompt=self.prompts.get(leaf, ""),
                                augmentation=cfg.augmentation.get(leaf, Augmentation()), params=params)
                for leaf in blueprint.tasks}

    def build(self, ctx: RunContext[Any]) -> Any:
        cfg = self.config
        blueprint = self.blueprint_of()

        async def controller(state: State) -> State:
            leaves = self.leaf_agents(ctx, blueprint)
            for leaf in leaves.values():  # an unknown finetuned(alias) or tool(name) fails before any call
                ctx.pool.resolve(leaf.model)
                if leaf.augmentation.kind == "tool":
                    default_registry.resolve([str(leaf.augmentation.arg)])
            instance = blueprint.instance(state["task"])
            ctl = Controller(blueprint, leaves, pool=ctx.pool, contract_retries=cfg.contract_retries)
            try:
                output = await ctl.run(instance)
            except BlueprintFailure as failure:
                record = make_record(blueprint, ctl, failure=failure)
                answer = f"[{failure.kind}] {failure}"
            else:
                record = make_record(blueprint, ctl, output=output)
                answer = output.model_dump_json()
            return {"answer": answer, "instance": instance, "leaves": leaves,
                    "metadata": {"blueprint": record.model_dump(mode="json")}}

        async def isolated(state: State) -> State:
            results = await isolated_steps(blueprint, state["leaves"], state["instance"], pool=ctx.pool,
                                           contract_retries=cfg.contract_retries)
            record = {**state["metadata"]["blueprint"], "isolated": [r.model_dump() for r in results]}
            return {"metadata": {**state["metadata"], "blueprint": record}}

        graph = state_graph(State)
        graph.add_node("controller", controller)
        graph.add_edge(START, "controller")
        if cfg.isolated:
            graph.add_node("isolated", isolated)
            graph.add_edge("controller", "isolated")
            graph.add_edge("isolated", END)
        else:
            graph.add_edge("controller", END)
        return graph


@register_method
class KtRKnapsack(BlueprintSystem):
    name = "ktr_knapsack"
    citation = CITATION
    summary = "0/1 knapsack as KtR's DP blueprint: Expander → Trimmer per item, then the Selector."
    roles = tuple(knapsack.BLUEPRINT.tasks)
    Config = BlueprintConfig
    prompts = knapsack.PROMPTS
    reference = REFERENCE.format(what="DP blueprint of three agents (Expander, Trimmer, Selector)")
    deviations = (*BLUEPRINT_DEVIATIONS, *CASE_STUDY_DEVIATIONS, *KNAPSACK_DEVIATIONS)

    def blueprint_of(self) -> Blueprint[Any, Any]:
        return knapsack.BLUEPRINT


@register_method
class KtRAssignment(BlueprintSystem):
    name = "ktr_assignment"
    citation = CITATION
    summary = "n×n task assignment as KtR's Hungarian blueprint of six agents."
    roles = tuple(assignment.BLUEPRINT.tasks)
    Config = BlueprintConfig
    prompts = assignment.PROMPTS
    reference = REFERENCE.format(what="Hungarian blueprint of six agents")
    deviations = (*BLUEPRINT_DEVIATIONS, *CASE_STUDY_DEVIATIONS, *ASSIGNMENT_DEVIATIONS)

    def blueprint_of(self) -> Blueprint[Any, Any]:
        return assignment.BLUEPRINT


# ------------------------------------------------------------------------------ user blueprints


class LeafSpec(BaseModel):
    """A leaf declared in YAML: its contract (a WellPosedTask of the blueprint's file, by name),
    model alias, role prompt and augmentation."""

    model_config = ConfigDict(extra="forbid")
    contract: str | None = None
    model: str | None = None
    prompt: str = ""
    augmentation: Augmentation = Field(default_factory=Augmentation)


class UserBlueprintConfig(BlueprintConfig):
    blueprint: str | None = Field(
        default=None, json_schema_extra={"path": True},
        description="FILE.py:NAME — a Blueprint, or a protocol whose leaves name their contracts")
    leaves: dict[str, LeafSpec] = Field(default_factory=dict, description="leaf → contract, model, prompt, augmentation")

    @field_validator("leaves")
    @classmethod
    def _leaf_self_checks(cls, leaves: dict[str, LeafSpec]) -> dict[str, LeafSpec]:
        _bounded_self_checks({leaf: spec.augmentation for leaf, spec in leaves.items()})
        return leaves

    @model_validator(mode="after")
    def _loads(self) -> UserBlueprintConfig:
        if self.blueprint is not None:
            try:
                bp = self.load()
            except ConfigError as e:
                raise ValueError(str(e)) from None
            unknown = sorted(set(self.leaves) - set(bp.tasks))
            if unknown:
                raise ValueError(f"unknown leaf {', '.join(unknown)}; the blueprint's leaves: {', '.join(bp.tasks)}")
        return self

    def load(self) -> Blueprint[Any, Any]:
        if self.blueprint is None:
            raise ConfigError("the blueprint system needs `blueprint: FILE.py:NAME`")
        contracts = {leaf: spec.contract for leaf, spec in self.leaves.items() if spec.contract}
        return load_blueprint(self.blueprint, contracts or None)


@register_method
class UserBlueprint(BlueprintSystem):
    """A user's blueprint (Python file) with leaves declared in YAML; every leaf on role `leaf`'s
    alias unless its own `model` says otherwise."""

    name = "blueprint"
    citation = "arXiv 2505.16979 (Know-The-Ropes blueprint, user-defined)"
    summary = "A user-defined KtR blueprint: typed leaves run by the contract-enforcing controller."
    roles = ("leaf",)
    Config = UserBlueprintConfig
    reference = ("Know-The-Ropes' blueprint formalism, arXiv 2505.16979 — paper only (no code released); the "
                 "blueprint, its leaves and their prompts are the user's")
    deviations = BLUEPRINT_DEVIATIONS

    def blueprint_of(self) -> Blueprint[Any, Any]:
        return self.config.load()

    def leaf_agents(self, ctx: RunContext[Any], blueprint: Blueprint[Any, Any]) -> dict[str, LeafAgent]:
        cfg = self.config
        params = {k: v for k, v in (("temperature", cfg.temperature), ("max_tokens", cfg.max_tokens)) if v is not None}
        agents = {}
        for leaf in blueprint.tasks:
            spec = cfg.leaves.get(leaf, LeafSpec())
            aug = cfg.augmentation.get(leaf, spec.augmentation)
            agents[leaf] = LeafAgent(name=leaf, alias=spec.model or ctx.alias("leaf"), prompt=spec.prompt,
                                     augmentation=aug, params=params)
        return agents
