"""Sweeps: a grid of methods × role→model assignments × datasets × seeds, run fairly and resumably.

A sweep file::

    name: smoke
    models: models.yaml            # optional: a models file (path) or an inline models mapping
    methods:
      - {method: vanilla}
      - {method: self_consistency, params: {samples: 3}, label: sc3}
    assignments:                   # optional; default: one assignment "default" (the pool default)
      - {name: smol, model: smol}                     # every role on one alias
      - {name: hetero, roles: {debater: [a, b, c]}}   # roles a method lacks are ignored for it
    datasets:
      - {name: gsm8k, path: ../shared/data/gsm8k_test.jsonl, limit: 20}
      - {name: arith, generator: arithmetic, n: 10}
      - {name: knap5, generator: knapsack, n: 100, options: {sizes: [5]}}   # a generator's own options
    seeds: [0, 1]
    concurrency: 4
    max_tokens: 256                # optional per-call completion cap (fairness across methods)

Every (cell, task) runs with bounded concurrency across tasks and cells; every result — answer,
score, tokens, latency, calls, error, trace pointer — is committed to the store the moment it
finishes. The seed goes into the system's config, the dataset's option shuffle/generator and the
completion-cache namespace, so seeds are independent replicates and re-runs replay exactly.
`resume=True` skips finished rows and retries failed ones; a sweep killed mid-way loses nothing
that had finished.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maslab.bench.store import ResultRow, ResultStore
from maslab.errors import ConfigError
from maslab.task import Solution, Task
from maslab.trace import RunRecorder, get_logger
from maslab.yamlfile import FileErrors, LocatedError, Locator, load_yaml

log = get_logger(__name__)


class MethodEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.method


class AssignmentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    roles: dict[str, str | list[str]] = Field(default_factory=dict)
    model: str | None = None


class DatasetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    path: str | None = None
    generator: str | None = None
    format: str | None = None
    fields: dict[str, str] | None = None
    limit: int | None = Field(default=None, ge=0)
    n: int | None = Field(default=None, ge=1)
    seed: int | None = None  # fixed dataset seed; default: the sweep seed
    scorer: str | None = None
    scorer_options: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)  # a generator's own options (e.g. sizes)

    def load(self, seed: int, base: Path) -> list[Task]:
        from maslab.bench.datasets import load_dataset

        options: dict[str, Any] = {"seed": self.seed if self.seed is not None else seed}
        if self.limit is not None:
            options["limit"] = self.limit
        if self.scorer:
            options["scorer"] = self.scorer
        if self.generator:
            return load_dataset(self.generator, n=self.n or self.limit or 20, **self.options, **options)
        path = Path(self.path).expanduser() if self.path else None
        if path is not None and not path.is_absolute():
            path = (base / path).resolve()
        if self.name in ("gsm8k", "aqua", "humaneval") and self.format is None:
            return load_dataset(self.name, path=path, **options)
        if path is None:
            return load_dataset(self.name, **options)
        return load_dataset(str(path), format=self.format, fields=self.fields, **options)


class Sweep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    models: str | dict[str, Any] | None = None
    methods: list[MethodEntry]
    assignments: list[AssignmentEntry] = Field(default_factory=lambda: [AssignmentEntry(name="default")])
    datasets: list[DatasetEntry]
    seeds: list[int] = Field(default_factory=lambda: [0])
    concurrency: int = Field(default=4, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    base_dir: str = "."  # folder relative paths are read from (the sweep file's folder)

    @model_validator(mode="after")
    def _unique(self) -> Sweep:
        for what, names in (("method label", [m.name for m in self.methods]),
                            ("assignment", [a.name for a in self.assignments]),
                            ("dataset", [d.name for d in self.datasets])):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate {what} name(s): {sorted(dup)} (give each a distinct label/name)")
        return self


class Cell(BaseModel):
    """One grid point."""

    cell_id: str
    method: MethodEntry
    assignment: AssignmentEntry
    dataset: DatasetEntry
    seed: int


class SweepSummary(BaseModel):
    """What a sweep run did."""

    out: str
    cells: int
    tasks: int
    ran: int
    skipped: int
    failed: int
    elapsed_s: float

    def __rich__(self) -> str:
        return (f"[bold]{self.ran}[/] rows run, {self.skipped} already finished, "
                f"[{'red' if self.failed else 'green'}]{self.failed} failed[/] across {self.cells} cells "
                f"in {self.elapsed_s:.1f}s → {self.out}/results.sqlite")


def load_sweep(path: str | Path, *, aliases: list[str] | None = None, models_file: str | None = None) -> Sweep:
    """Read and validate a sweep file before a token is spent.

    Checks the shape, every method (registered, parameters valid), every role and alias of the
    assignments and of method parameters (against `aliases`, else the sweep's own `models:`, else
    `models_file` or the default models file), every dataset (a registered name, an existing
    `path`, a known `generator` or `format`) and scorer. Raises `FileErrors` listing every problem
    as `file:line: path: message`. Relative paths (datasets, path parameters such as an Avengers
    `router`) resolve against the sweep file's folder.
    """
    path = Path(path)
    data, loc = load_yaml(path)
    if not isinstance(data, dict):
        raise FileErrors([LocatedError(file=str(path), line=1, path="",
                                       message="expected a mapping with name, methods, datasets")])
    data.setdefault("base_dir", str(path.parent.resolve()))
    try:
        sweep = Sweep.model_validate(data)
    except ValidationError as e:
        loc.add_validation((), e)
        raise FileErrors(loc.errors) from None
    if aliases is None:
        aliases = _sweep_aliases(sweep, models_file, loc)
    _check_sweep(sweep, loc, aliases)
    if loc.errors:
        raise FileErrors(loc.errors)
    return sweep


def _sweep_aliases(sweep: Sweep, models_file: str | None, loc: Locator) -> list[str] | None:
    """The aliases a sweep can use: its inline or named models file, else `models_file`/the default."""
    from maslab.models import ModelsConfig, default_models_path, load_models_config

    try:
        if isinstance(sweep.models, dict):
            return list(ModelsConfig.model_validate(sweep.models).models)
        file = models_file or (str(Path(sweep.base_dir) / sweep.models) if sweep.models else default_models_path())
        return list(load_models_config(file).models)
    except (ConfigError, ValidationError) as e:
        loc.add(("models",), f"cannot read the models: {e}")
        return None


def _check_sweep(sweep: Sweep, loc: Locator, aliases: list[str] | None) -> None:
    from maslab.bench.datasets import dataset_spec
    from maslab.bench.scorers import list_scorers
    from maslab.method import method_class, resolve_paths

    def check_alias(where: tuple[Any, ...], alias: Any) -> None:
        if aliases is not None and isinstance(alias, str) and alias not in aliases:
            loc.add(where, f"unknown model alias {alias!r}; the models file defines: {', '.join(aliases)}")

    def check_roles(where: tuple[Any, ...], roles: dict[str, Any]) -> None:
        for role, assigned in roles.items():
            if isinstance(assigned, list):
                for k, alias in enumerate(assigned):
                    check_alias((*where, role, k), alias)
            else:
                check_alias((*where, role), assigned)

    all_roles: set[str] = set()
    for i, m in enumerate(sweep.methods):
        try:
            cls = method_class(m.method)
        except ConfigError as e:
            loc.add(("methods", i, "method"), str(e))
            continue
        all_roles.update(cls.roles)
        m.params = resolve_paths(cls, m.params, sweep.base_dir)
        try:
            config = cls.Config.model_validate(m.params)
        except ValidationError as e:
            loc.add_validation(("methods", i, "params"), e)
            continue
        for role in config.roles:
            if role not in cls.roles:
                loc.add(("methods", i, "params", "roles", role),
                        f"{m.method} has no role {role!r}; its roles: {', '.join(cls.roles)}")
        check_roles(("methods", i, "params", "roles"), config.roles)
        check_alias(("methods", i, "params", "model"), config.model)
    for j, a in enumerate(sweep.assignments):
        check_alias(("assignments", j, "model"), a.model)
        check_roles(("assignments", j, "roles"), a.roles)
        for role in a.roles:
            if all_roles and role not in all_roles:
                loc.add(("assignments", j, "roles", role),
                        f"no method of this sweep has a role {role!r} (roles: {', '.join(sorted(all_roles))})")
    scorers = list_scorers()
    for k, d in enumerate(sweep.datasets):
        where: tuple[Any, ...] = ("datasets", k)
        if d.generator:
            try:
                spec = dataset_spec(d.generator)
            except ConfigError as e:
                loc.add((*where, "generator"), str(e))
            else:
                if spec.kind != "generator":
                    loc.add((*where, "generator"), f"{d.generator!r} is a file dataset, not a generator; give `path:`")
                for option in sorted(set(d.options) - spec.options):
                    loc.add((*where, "options", option), f"generator {d.generator!r} has no option {option!r}; "
                            f"its options: {', '.join(sorted(spec.options)) or 'none'}")
        elif d.path:
            file = Path(d.path).expanduser()
            file = file if file.is_absolute() else Path(sweep.base_dir) / file
            if not file.is_file():
                loc.add((*where, "path"), f"no such file {str(file)!r}")
            if d.format is not None and d.format != "generic":
                try:
                    dataset_spec(d.format)
                except ConfigError as e:
                    loc.add((*where, "format"), str(e))
        else:
            try:
                dataset_spec(d.name)
            except ConfigError as e:
                loc.add((*where, "name"), f"{e}; or give `path:` or `generator:`")
        if d.scorer and d.scorer not in scorers:
            loc.add((*where, "scorer"), f"unknown scorer {d.scorer!r}; known: {', '.join(scorers)}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)


def cells_of(sweep: Sweep) -> list[Cell]:
    return [
        Cell(cell_id=f"{m.name}|{a.name}|{d.name}|seed={s}", method=m, assignment=a, dataset=d, seed=s)
        for m in sweep.methods for a in sweep.assignments for d in sweep.datasets for s in sweep.seeds
    ]


def _method_for(cell: Cell) -> Any:
    from maslab.method import load_method, method_class

    cls = method_class(cell.method.method)
    params = dict(cell.method.params)
    roles = {r: v for r, v in cell.assignment.roles.items() if r in cls.roles}
    if roles:
        params["roles"] = {**params.get("roles", {}), **roles}
    if cell.assignment.model:
        params.setdefault("model", cell.assignment.model)
    params.setdefault("seed", cell.seed)
    return load_method(cell.method.method, **params)


def _pool_for(sweep: Sweep, out: Path, models_file: str | None, max_tokens: int | None,
              cache_path: str | None) -> Any:
    from maslab.models import ModelPool, default_models_path

    overrides = {"max_tokens": max_tokens or sweep.max_tokens} if (max_tokens or sweep.max_tokens) else None
    cache = cache_path or str(out / "cache.sqlite")
    if isinstance(sweep.models, dict):
        return ModelPool.from_dict(sweep.models, cache_path=cache, overrides=overrides)
    file = models_file or (str(Path(sweep.base_dir) / sweep.models) if sweep.models else default_models_path())
    return ModelPool.from_yaml(file, cache_path=cache, overrides=overrides)


async def run_sweep(
    sweep: Sweep,
    *,
    out: str | Path,
    resume: bool = False,
    pool: Any = None,
    models_file: str | None = None,
    max_tokens: int | None = None,
    cache_path: str | None = None,
    progress: bool = True,
) -> SweepSummary:
    """Run every pending (cell, task) of the grid; commit each row as it finishes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out / "results.sqlite")
    if store.count() and not resume:
        raise ConfigError(f"{out}/results.sqlite already holds {store.count()} rows: "
                          "pass --resume to continue it, or choose another --out")
    store.set_meta("sweep", json.loads(sweep.model_dump_json()))
    pool = pool or _pool_for(sweep, out, models_file, max_tokens, cache_path)
    for a in sweep.assignments:
        for alias in [a.model, *[x for v in a.roles.values() for x in (v if isinstance(v, list) else [v])]]:
            if alias:
                pool.resolve(alias)

    cells = cells_of(sweep)
    work: list[tuple[Cell, Any, Task]] = []
    task_cache: dict[tuple[str, int], list[Task]] = {}
    done = store.finished() if resume else set()
    skipped = 0
    per_cell: dict[str, int] = {}
    for cell in cells:
        key = (cell.dataset.name, cell.dataset.seed if cell.dataset.seed is not None else cell.seed)
        if key not in task_cache:
            task_cache[key] = cell.dataset.load(key[1], Path(sweep.base_dir))
        tasks = task_cache[key]
        method = _method_for(cell)
        store.add_cell({"cell_id": cell.cell_id, "sweep": sweep.name, "method": cell.method.method,
                        "method_label": cell.method.name, "method_params": cell.method.params,
                        "assignment": cell.assignment.name, "roles": cell.assignment.roles,
                        "dataset": cell.dataset.name, "seed": cell.seed, "n_tasks": len(tasks)})
        per_cell[cell.cell_id] = 0
        for task in tasks:
            if (cell.cell_id, task.id) in done:
                skipped += 1
                continue
            work.append((cell, method, task))
            per_cell[cell.cell_id] += 1

    start = time.perf_counter()
    failed = await _execute(store, pool, work, per_cell, sweep=sweep.name, out=out,
                            concurrency=sweep.concurrency, attempts=store.attempts() if resume else {},
                            progress=progress)
    return SweepSummary(out=str(out), cells=len(cells), tasks=sum(len(v) for v in task_cache.values()),
                        ran=len(work), skipped=skipped, failed=failed, elapsed_s=time.perf_counter() - start)


async def _execute(store: ResultStore, pool: Any, work: list[tuple[Cell, Any, Task]], per_cell: dict[str, int], *,
                   sweep: str, out: Path, concurrency: int, attempts: dict[tuple[str, str], int],
                   progress: bool) -> int:
    """Run the work list with bounded concurrency, committing each row; returns the failed count."""
    sem = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(cell: Cell, method: Any, task: Task, advance: Callable[[str], None]) -> None:
        nonlocal failed
        async with sem:
            row = await run_one(cell, method, task, pool, sweep=sweep, trace_dir=out / "traces",
                                attempts=attempts.get((cell.cell_id, task.id), 0) + 1)
        store.write(row)
        failed += row.status != "ok"
        advance(cell.cell_id)

    if not progress:
        await asyncio.gather(*(one(c, m, t, lambda _cid: None) for c, m, t in work))
        return failed
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        ids = {cid: bar.add_task(cid, total=n) for cid, n in per_cell.items() if n}
        await asyncio.gather(*(one(c, m, t, lambda cid: bar.advance(ids[cid])) for c, m, t in work))
    return failed


async def run_one(cell: Cell, method: Any, task: Task, pool: Any, *, sweep: str, trace_dir: Path,
                  attempts: int = 1) -> ResultRow:
    """Solve and score one task; never raises for a failure of the system or the model."""
    from maslab.bench.scorers import Score, get_scorer, score_for

    trace_path = trace_dir / f"{_slug(cell.cell_id)}.jsonl"
    recorder = RunRecorder(trace_path, run_id=task.id, cache_namespace=f"seed={cell.seed}")
    row = ResultRow(cell_id=cell.cell_id, task_id=task.id, sweep=sweep, method=cell.method.method,
                    method_label=cell.method.name, method_params=cell.method.params,
                    assignment=cell.assignment.name, roles=cell.assignment.roles, dataset=cell.dataset.name,
                    seed=cell.seed, question=task.prompt(), reference=task.answer, domain=task.domain,
                    trace_path=str(trace_path), attempts=attempts, started_at=time.time())
    solution: Solution | None = None
    try:
        solution = await method.solve(task, pool=pool, recorder=recorder)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # any failure of a system or a model is a row, not a crash
        row.status, row.error = "error", f"{type(e).__name__}: {e}"
        recorder.event("error", error=row.error)
        recorder.flush()
    usage = recorder.ledger.snapshot()
    row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    row.calls, row.cache_hits, row.latency_s = usage.calls, usage.cache_hits, usage.latency_s
    row.usage_by_role = {k: v.model_dump(include={"calls", "prompt_tokens", "completion_tokens"})
                         for k, v in usage.by("role").items()}
    if solution is not None:
        options = cell.dataset.scorer_options
        scorer = get_scorer(cell.dataset.scorer, run_pool=pool, **options) if cell.dataset.scorer else score_for(
            task, run_pool=pool)
        try:
            score = await scorer.score(task, solution)
        except Exception as e:  # a scorer bug must not lose the answer
            score = Score.scoring_error(f"{type(e).__name__}: {e}")
        row.answer, row.extracted, row.score, row.correct = solution.answer, score.extracted, score.value, score.correct
        row.metadata = solution.metadata
        row.score_detail = score.detail
        if score.error:
            row.status, row.error = "score_error", score.error
    row.finished_at = time.time()
    return row


async def run_workflow_on_dataset(workflow: Any, method: Any, pool: Any, *, dataset: str, limit: int | None,
                                  seed: int, out: Path, concurrency: int) -> SweepSummary:
    """`maslab run WORKFLOW --dataset D`: a one-cell sweep of the workflow's system."""
    entry = DatasetEntry(name=Path(dataset).stem if Path(dataset).suffix else dataset,
                         path=dataset if Path(dataset).suffix else None, limit=limit)
    m = MethodEntry(method=getattr(method, "name", "graph"), label=workflow.name)
    cell = Cell(cell_id=f"{workflow.name}|default|{entry.name}|seed={seed}", method=m,
                assignment=AssignmentEntry(name="default"), dataset=entry, seed=seed)
    sweep = Sweep(name=workflow.name, methods=[m], datasets=[entry], seeds=[seed], concurrency=concurrency)
    store = ResultStore(out / "results.sqlite")
    store.set_meta("sweep", json.loads(sweep.model_dump_json()))
    tasks = entry.load(seed, Path.cwd())
    store.add_cell({"cell_id": cell.cell_id, "sweep": sweep.name, "method": m.method, "method_label": m.name,
                    "method_params": {}, "assignment": "default", "roles": {}, "dataset": entry.name,
                    "seed": seed, "n_tasks": len(tasks)})
    start = time.perf_counter()
    failed = await _execute(store, pool, [(cell, method, t) for t in tasks], {cell.cell_id: len(tasks)},
                            sweep=sweep.name, out=out, concurrency=concurrency, attempts={}, progress=True)
    return SweepSummary(out=str(out), cells=1, tasks=len(tasks), ran=len(tasks), skipped=0, failed=failed,
                        elapsed_s=time.perf_counter() - start)
