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

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.tool import default_registry

CITATION = "arXiv 2505.16979 (Know-The-Ropes; agents, prompts and instance generators reconstructed)"


class BlueprintConfig(MethodConfig):
    contract_retries: int = Field(default=2, ge=0, description="retries of a reply that breaks its contract")
    augmentation: dict[str, Augmentation] = Field(
        default_factory=dict,
        description="leaf → none | cot | tool(NAME) | self_check(K) | finetuned(ALIAS); default none")
    isolated: bool = Field(default=False, description="also measure each leaf on the step oracle's inputs")


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
