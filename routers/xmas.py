"""X-MAS-Design (arXiv 2505.16997 §4): give each role of a multi-agent system the model that is best at
that role's MAS function in the target domain, read off an X-MAS-Bench table.

The paper assigns by hand ("under a minute per MAS", its Appendix E). `xmas_assign` automates it
(our design, spec §4):

    1. inputs — a bench table score[function][domain][alias] (`maslab.bench.xmas.table`), the
       method's role → function map (`Method.functions`), a candidate pool of aliases (in order)
       and the target domain;
    2. constraints (optional, ours) — a cost cap drops every candidate whose cost exceeds it;
       "chatbot planner" (the paper's finding: a chatbot planner with reasoner solvers and
       evaluators works best) keeps reasoners off roles whose function is `plan` — a reasoner is
       an alias whose models-file entry strips a reasoning trace (`strip_reasoning`), or one named
       in `reasoners`;
    3. per role, the candidate with the highest score for the role's function in the domain;
       ties go to the higher cross-domain mean (the same function over every domain the table
       has), then to the earlier alias in the candidate order. A candidate without a cell for the
       domain cannot win the argmax; when no candidate has one, the role goes to the best
       cross-domain mean instead (ours, recorded as such), and when the table lacks the function
       altogether the assignment fails with a message naming it;
    4. roles without a declared function keep the method's default model and are reported.

With a single candidate every role gets it — the homogeneous baseline (X-MAS's shipped configs
put qwen-2.5-32b-instruct in every slot). `XMASAssigner` (entry point `maslab.assigners: xmas`)
lets a sweep write an assignment as `{name: xmas, xmas: {table: RUN_DIR, domain: math}}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maslab.bench.xmas.domains import check_domain
from maslab.bench.xmas.table import BenchTable
from maslab.errors import ConfigError
from maslab.plugins import Assigned

Metric = Literal["pct2", "mean_half"]


class RoleChoice(BaseModel):
    """Why one role got its alias."""

    role: str
    function: str
    alias: str
    score: float | None  # the winner's score[function][domain], in percent (None: chosen by cross-domain mean)
    cross_domain_mean: float | None
    rule: str  # "argmax", "tie: cross-domain mean", "tie: candidate order", "no domain cell: cross-domain mean"
    scores: dict[str, float | None] = Field(default_factory=dict)  # every eligible candidate's score


class Assignment(BaseModel):
    """An X-MAS assignment: role → alias, with the reasons."""

    domain: str
    metric: Metric
    roles: dict[str, str]
    choices: list[RoleChoice]
    candidates: list[str]
    excluded: dict[str, str] = Field(default_factory=dict)  # alias -> why it could not be chosen at all
    unassigned: list[str] = Field(default_factory=list)  # roles without a declared function


def _pick(table: BenchTable, function: str, domain: str, candidates: Sequence[str], metric: Metric,
          role: str) -> RoleChoice:
    scores = {a: table.score(function, domain, a, metric) for a in candidates}
    means = {a: table.cross_domain_mean(function, a, metric) for a in candidates}
    ranked = {a: s for a, s in scores.items() if s is not None}  # candidates keep their order
    if ranked:
        best = max(ranked.values())
        top = [a for a, s in ranked.items() if s == best]
        rule = "argmax"
        if len(top) > 1:
            tied_means = {a: means[a] for a in top if means[a] is not None}
            best_mean = max(tied_means.values(), default=None)
            by_mean = [a for a in top if means[a] == best_mean] if best_mean is not None else top
            rule = "tie: cross-domain mean" if len(by_mean) == 1 else "tie: candidate order"
            top = by_mean
        alias = top[0]  # the earliest candidate among those left
        return RoleChoice(role=role, function=function, alias=alias, score=scores[alias],
                          cross_domain_mean=means[alias], rule=rule, scores=scores)
    with_mean = {a: m for a, m in means.items() if m is not None}
    if not with_mean:
        raise ConfigError(f"the X-MAS table has no `{function}` scores for any candidate "
                          f"({', '.join(candidates)}): role {role!r} needs them — run the bench's "
                          f"`{function}` harness for them")
    best_mean = max(with_mean.values())
    alias = next(a for a, m in with_mean.items() if m == best_mean)
    return RoleChoice(role=role, function=function, alias=alias, score=None, cross_domain_mean=best_mean,
                      rule="no domain cell: cross-domain mean", scores=scores)


def xmas_assign(table: BenchTable, functions: Mapping[str, str], candidates: Sequence[str], domain: str, *,
                roles: Iterable[str] | None = None, costs: Mapping[str, float] | None = None,
                cost_cap: float | None = None, chatbot_planner: bool = False, reasoners: Iterable[str] = (),
                metric: Metric = "pct2") -> Assignment:
    """Role → alias by argmax of score[function][domain][alias] over `candidates` (see the module docstring).

    `roles` (default: the keys of `functions`) lists the method's roles; those without a function
    are reported in `unassigned`. `costs` gives each alias a cost (any unit) and `cost_cap` drops the
    candidates above it (an alias without a cost is kept); `chatbot_planner` keeps `reasoners` off
    `plan` roles. ConfigError when no candidate is left for a role.
    """
    domain = check_domain(domain)
    candidates = list(dict.fromkeys(candidates))
    if not candidates:
        raise ConfigError("X-MAS assignment: the candidate pool is empty")
    excluded: dict[str, str] = {}
    if cost_cap is not None:
        for a in candidates:
            cost = (costs or {}).get(a)
            if cost is not None and cost > cost_cap:
                excluded[a] = f"cost {cost:g} above the cap {cost_cap:g}"
    pool = [a for a in candidates if a not in excluded]
    reasoner_set = set(reasoners)
    choices: list[RoleChoice] = []
    role_list = list(roles) if roles is not None else list(functions)
    for role in role_list:
        function = functions.get(role)
        if function is None:
            continue
        eligible = [a for a in pool if not (chatbot_planner and function == "plan" and a in reasoner_set)]
        if not eligible:
            why = "every candidate is above the cost cap" if not pool else "every candidate left is a reasoner"
            raise ConfigError(f"X-MAS assignment: no candidate for role {role!r} ({function}): {why}")
        choices.append(_pick(table, function, domain, eligible, metric, role))
    return Assignment(domain=domain, metric=metric, roles={c.role: c.alias for c in choices}, choices=choices,
                      candidates=candidates, excluded=excluded,
                      unassigned=[r for r in role_list if r not in functions])


class XMASOptions(BaseModel):
    """What a sweep assignment `{xmas: {...}}` may say."""

    model_config = ConfigDict(extra="forbid")
    table: str  # a bench sweep folder (or its results.sqlite), or a table CSV (`maslab xmas table`)
    domain: str
    candidates: list[str] | None = None  # default: the table's aliases that the models file defines
    metric: Metric = "pct2"
    costs: dict[str, float] = Field(default_factory=dict)
    cost_cap: float | None = None
    chatbot_planner: bool = False
    reasoners: list[str] | None = None  # default: aliases whose models-file entry sets strip_reasoning


def _reasoners(models: Any) -> list[str]:
    if models is None:
        return []
    return [name for name, cfg in models.models.items() if getattr(cfg, "strip_reasoning", "none") != "none"]


class XMASAssigner:
    """The `maslab.assigners` plug-in `xmas`: an X-MAS assignment for each method of a sweep."""

    def assign(self, *, method: str, roles: tuple[str, ...], functions: dict[str, str], options: dict[str, Any],
               aliases: list[str] | None, models: Any, base_dir: Path) -> Assigned:
        try:
            opts = XMASOptions.model_validate(options)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<options>'}: {err['msg']}"
                                 for err in e.errors())
            raise ConfigError(f"xmas assignment: {problems}") from None
        path = Path(opts.table).expanduser()
        table = BenchTable.load(path if path.is_absolute() else Path(base_dir) / path)
        if opts.candidates is not None:
            unknown = [a for a in opts.candidates if aliases is not None and a not in aliases]
            if unknown:
                raise ConfigError(f"xmas assignment: candidate(s) {', '.join(unknown)} are not aliases of the models "
                                  f"file ({', '.join(aliases or [])})")
            candidates = opts.candidates
        else:
            candidates = [a for a in (aliases or table.aliases) if a in table.aliases]
            if not candidates:
                raise ConfigError(f"xmas assignment: none of the table's aliases ({', '.join(table.aliases)}) is an "
                                  f"alias of the models file ({', '.join(aliases or [])}); give `candidates:`")
        if not functions:
            raise ConfigError(f"method {method!r} declares no role → function map (`functions`), so X-MAS cannot "
                              "assign its roles")
        reasoners = opts.reasoners if opts.reasoners is not None else _reasoners(models)
        result = xmas_assign(table, functions, candidates, opts.domain, roles=roles, costs=opts.costs,
                             cost_cap=opts.cost_cap, chatbot_planner=opts.chatbot_planner, reasoners=reasoners,
                             metric=opts.metric)
        return Assigned(roles=dict(result.roles), detail={"method": method, "table": table.source,
                                                          **result.model_dump(mode="json")})


assigner = XMASAssigner()
