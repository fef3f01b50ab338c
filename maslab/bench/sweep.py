"""Sweeps: a grid of methods × role→model assignments × datasets × seeds, run fairly and resumably.

A sweep file::

    name: smoke
    models: models.yaml            # optional: a models file (path) or an inline models mapping
    methods:
      - {method: vanilla}
      - {method: self_consistency, params: {samples: 3}, label: sc3}
      - {method: dylan, profile: reference, label: dylan-ref}   # the system's reference profile
    assignments:                   # optional; default: one assignment "default" (the pool default)
      - {name: smol, model: smol}                     # every role on one alias
      - {name: hetero, roles: {debater: [a, b, c]}}   # roles a method lacks are ignored for it
      - {name: xmas, xmas: {table: runs/bench, domain: math}}   # computed per method by a plug-in
    datasets:
      - {name: gsm8k, path: ../shared/data/gsm8k_test.jsonl, limit: 20}
      - {name: arith, generator: arithmetic, n: 10}
      - {name: knap5, generator: knapsack, n: 100, options: {sizes: [5]}}   # a generator's own options
    seeds: [0, 1]
    concurrency: 4
    max_tokens: 256                # optional per-call completion cap (fairness across methods)

Rows are produced lazily, cell by cell, and run by `concurrency` runners that share one iterator
(bounded concurrency across tasks and cells, no task object per pending row); every result —
answer, score, tokens, latency, calls, error, trace pointer — is committed to the store in the
event-loop turn that finished it (rows finishing in the same turn share one transaction).
`workers=N` (`maslab bench --workers N`) splits the rows across N processes, each with its own
event loop; they send rows back and the parent stays the store's single writer. `backend="ray"`
(`maslab bench --ray [ADDRESS]`) runs the rows on Ray actors across a cluster, the driver still the single writer. The seed goes into the system's config, the dataset's option shuffle/generator and the
completion-cache namespace, so seeds are independent replicates and re-runs replay exactly.
`resume=True` skips finished rows and retries failed ones; a sweep killed mid-way loses nothing
that had finished. An assignment computed by an assigner plug-in (`maslab.assigners`, e.g. `xmas`)
is resolved once per method before any task runs; its roles go into the store's cells and rows, and,
with the plug-in's reasons, into the store's meta `computed_assignments` (which `--resume` reuses).

Runs never mix or lose results: a cell's id ends in a hash of its full definition (method,
parameters, assignment, dataset entry, seed and the effective `max_tokens`), so an edited grid
has new cell ids; resuming into a folder whose stored grid differs refuses, printing what
changed, unless `force_new_cells` says to set the old cells' rows apart (`ResultStore.retire`)
and run the new cells. One process writes a folder at a time (`exclusive`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maslab.bench.store import ResultRow, ResultStore, exclusive
from maslab.errors import ConfigError, clip
from maslab.task import Solution, Task
from maslab.trace import RunRecorder, get_logger
from maslab.yamlfile import FileErrors, LocatedError, Locator, Slug, load_yaml

log = get_logger(__name__)


class MethodEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    profile: str | None = None  # the system's named parameter set (default | reference); kept in params

    @model_validator(mode="after")
    def _profile_into_params(self) -> MethodEntry:
        if self.profile is not None:
            self.params = {**self.params, "profile": self.profile}
        return self

    @property
    def name(self) -> str:
        return self.label or self.method


class AssignmentEntry(BaseModel):
    """A role → model assignment: fixed (`roles`, `model`), or computed per method by an assigner plug-in
    (`maslab.assigners`), written with the plug-in's name as key: `{name: x, xmas: {table: DIR, domain: math}}`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    roles: dict[str, str | list[str]] = Field(default_factory=dict)
    model: str | None = None
    assigner: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _assigner_key(cls, data: Any) -> Any:
        from maslab import plugins

        if not isinstance(data, dict):
            return data
        keys = [k for k in data if k in plugins.assigner_names()]
        if len(keys) > 1:
            raise ValueError(f"an assignment names one assigner, not {keys}")
        if keys:
            data = dict(data)
            options = data.pop(keys[0])
            data.update(assigner=keys[0], options=options if options is not None else {})
            data.setdefault("name", keys[0])
        return data


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
        from maslab.bench.datasets import list_datasets, load_dataset

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
        if self.format is None and self.name.strip().lower() in list_datasets():  # a registered file dataset
            return load_dataset(self.name, path=path, **options)
        if path is None:
            return load_dataset(self.name, **options)
        return load_dataset(str(path), format=self.format, fields=self.fields, **options)


class Sweep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Slug
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
    """One grid point; `definition` is what its id's hash covers."""

    cell_id: str
    method: MethodEntry
    assignment: AssignmentEntry
    dataset: DatasetEntry
    seed: int
    definition: dict[str, Any] = Field(default_factory=dict)


def make_cell(m: MethodEntry, a: AssignmentEntry, d: DatasetEntry, seed: int, max_tokens: int | None) -> Cell:
    """The cell of one grid point: its id is `label|assignment|dataset|seed=N|hash of the definition`."""
    definition = {"method": m.method, "params": m.params, "assignment": {"roles": a.roles, "model": a.model},
                  "dataset": d.model_dump(mode="json"), "seed": seed, "max_tokens": max_tokens}
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Cell(cell_id=f"{m.name}|{a.name}|{d.name}|seed={seed}|{digest}", method=m, assignment=a, dataset=d,
                seed=seed, definition=json.loads(json.dumps(definition, default=str)))


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


def is_sweep_document(data: Any) -> bool:
    """Whether parsed YAML is a sweep (`methods:`/`datasets:`, no `method:`) rather than a workflow."""
    return isinstance(data, dict) and "method" not in data and ("methods" in data or "datasets" in data)


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
    for j, a in enumerate(sweep.assignments):
        problems: dict[str, list[str]] = {}  # message -> the methods it concerns (a bad table: all of them)
        for m in sweep.methods if a.assigner else []:
            try:
                resolve_assignment(a, m, base_dir=sweep.base_dir, aliases=aliases, models=None)
            except ConfigError as e:
                problems.setdefault(str(e), []).append(m.name)
        for message, names in problems.items():
            loc.add(("assignments", j, a.assigner), f"{', '.join(names)}: {message}")
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


def cells_of(sweep: Sweep, max_tokens: int | None = None) -> list[Cell]:
    """The grid; `max_tokens`: the effective per-call cap (a command-line override, else the sweep's)."""
    cap = max_tokens or sweep.max_tokens
    return [make_cell(m, a, d, s, cap)
            for m in sweep.methods for a in sweep.assignments for d in sweep.datasets for s in sweep.seeds]


_UNCOMPARED = ("concurrency", "base_dir")  # change nothing a row holds


def _changes(old: Any, new: Any, path: str = "") -> list[str]:
    """Readable differences between two JSON values (`path: old → new`)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{where}: added {clip(json.dumps(new[key], default=str), 120)}")
            elif key not in new:
                out.append(f"{where}: removed (was {clip(json.dumps(old[key], default=str), 120)})")
            else:
                out += _changes(old[key], new[key], where)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True)) for c in _changes(a, b, f"{path}[{i}]")]
    if old != new:
        return [f"{path}: {clip(json.dumps(old, default=str), 120)} → {clip(json.dumps(new, default=str), 120)}"]
    return []


def _grid_definition(sweep: Sweep, max_tokens: int | None) -> dict[str, Any]:
    data = {k: v for k, v in json.loads(sweep.model_dump_json()).items() if k not in _UNCOMPARED}
    data["max_tokens"] = max_tokens or sweep.max_tokens
    return data


def grid_diff(store: ResultStore, stored_cells: list[dict[str, Any]], cells: list[Cell], sweep: Sweep,
              max_tokens: int | None) -> str:
    """Why a resume into `store` would mix grids: the changed fields, the removed and added cells."""
    old_ids = {c["cell_id"] for c in stored_cells}
    new_ids = {c.cell_id for c in cells}
    lines = [f"{store.path} holds {store.count()} rows of a different grid; resuming would mix the two:"]
    old_def = store.get_meta("grid")
    if isinstance(old_def, dict):
        lines += [f"  changed  {c}" for c in _changes(old_def, _grid_definition(sweep, max_tokens))[:20]]

    def listed(ids: set[str]) -> str:
        shown = sorted(ids)[:8]
        return ", ".join(shown) + (f" and {len(ids) - len(shown)} more" if len(ids) > len(shown) else "")

    if old_ids - new_ids:
        lines.append(f"  removed  {len(old_ids - new_ids)} cell(s): {listed(old_ids - new_ids)}")
    if new_ids - old_ids:
        lines.append(f"  added    {len(new_ids - old_ids)} cell(s): {listed(new_ids - old_ids)}")
    lines.append("Pass --force-new-cells to set the removed cells' rows apart (kept in the store's retired_results "
                 "table, left out of reports) and run the new cells, or choose another --out.")
    return "\n".join(lines)


def resolve_assignment(entry: AssignmentEntry, method: MethodEntry, *, base_dir: str | Path,
                       aliases: list[str] | None, models: Any) -> tuple[AssignmentEntry, dict[str, Any]]:
    """`entry` made concrete for `method`: an assigner entry gets the roles its plug-in computes (and the
    plug-in's record of why); a fixed entry is returned as it is."""
    if not entry.assigner:
        return entry, {}
    from maslab import plugins
    from maslab.method import method_class

    cls = method_class(method.method)
    result = plugins.assigner(entry.assigner).assign(
        method=cls.name, roles=cls.roles, functions=dict(cls.functions), options=entry.options, aliases=aliases,
        models=models, base_dir=Path(base_dir))
    concrete = entry.model_copy(update={"roles": {**entry.roles, **result.roles}})
    return concrete, result.detail


COMPUTED = "computed_assignments"  # store meta: {"<assignment>|<method label>": roles and the assigner's reasons}


def _resolve_computed(cells: list[Cell], sweep: Sweep, store: ResultStore, pool: Any, resume: bool) -> None:
    """Give every cell whose assignment an assigner plug-in computes its concrete roles: once per (assignment,
    method label), recorded in the store's meta (`COMPUTED`). A resumed sweep reuses the recorded roles, so
    its rows never mix two different assignments under one name."""
    recorded: dict[str, Any] = dict(store.get_meta(COMPUTED) or {})
    done: dict[str, AssignmentEntry] = {}
    for cell in cells:
        entry = cell.assignment
        if not entry.assigner:
            continue
        key = f"{entry.name}|{cell.method.name}"
        if key not in done:
            if resume and key in recorded:
                done[key] = entry.model_copy(update={"roles": {**entry.roles, **recorded[key]["roles"]}})
            else:
                done[key], detail = resolve_assignment(entry, cell.method, base_dir=sweep.base_dir,
                                                       aliases=pool.aliases, models=pool.config)
                recorded[key] = {**detail, "assignment": entry.name, "method": cell.method.name,
                                 "assigner": entry.assigner, "roles": done[key].roles}
                store.set_meta(COMPUTED, recorded)
                log.info("sweep.assignment_computed", assignment=entry.name, method=cell.method.name,
                         assigner=entry.assigner, roles=done[key].roles)
            for value in done[key].roles.values():
                for alias in value if isinstance(value, list) else [value]:
                    pool.resolve(alias)
        cell.assignment = done[key]


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
    force_new_cells: bool = False,
    pool: Any = None,
    models_file: str | None = None,
    max_tokens: int | None = None,
    cache_path: str | None = None,
    progress: bool = True,
    workers: int | None = None,
    backend: Literal["local", "ray"] = "local",
    ray_address: str | None = None,
) -> SweepSummary:
    """Run every pending (cell, task) of the grid; commit each row as it finishes. Holds `out`
    exclusively for the whole run (`BusyError` when another process does).

    `workers > 1` splits the rows across that many processes, each with its own event loop, pool and
    `concurrency` (so `workers × concurrency` rows are in flight); they send finished rows back and this
    process stays the store's only writer. `backend="ray"` runs the rows on `workers` Ray actors instead
    (default: one per CPU of the cluster at `ray_address`; None starts a local cluster for the run), each
    with `concurrency` rows in flight, in batches; this process stays the one writer of the store and of the
    completion cache (see `_run_on_ray`). A `pool` object cannot cross processes: with workers or Ray, the
    sweep's own models (or `models_file`) are used."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown sweep backend {backend!r}: 'local' or 'ray'")
    if backend == "ray":
        from maslab.bench.distributed import require_ray

        require_ray()
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, not {workers}")
    if (backend == "ray" or (workers or 1) > 1) and pool is not None:
        raise ConfigError(f"a sweep with {'Ray' if backend == 'ray' else 'workers > 1'} builds its pool in every "
                          "worker: pass the models file, not a pool object")
    out = Path(out)
    with exclusive(out):
        return await _run_sweep(sweep, out=out, resume=resume, force_new_cells=force_new_cells, pool=pool,
                                models_file=models_file, max_tokens=max_tokens, cache_path=cache_path,
                                progress=progress, workers=workers, backend=backend, ray_address=ray_address)


async def _run_sweep(sweep: Sweep, *, out: Path, resume: bool, force_new_cells: bool, pool: Any,
                     models_file: str | None, max_tokens: int | None, cache_path: str | None,
                     progress: bool, workers: int | None, backend: str, ray_address: str | None) -> SweepSummary:
    store = ResultStore(out / "results.sqlite")
    if store.count() and not resume:
        raise ConfigError(f"{out}/results.sqlite already holds {store.count()} rows: "
                          "pass --resume to continue it, or choose another --out")
    cells = cells_of(sweep, max_tokens)
    stored = store.cells()
    if {c["cell_id"] for c in stored} != {c.cell_id for c in cells} and store.count():
        if not force_new_cells:
            raise ConfigError(grid_diff(store, stored, cells, sweep, max_tokens))
        gone = {c["cell_id"] for c in stored} - {c.cell_id for c in cells}
        retired = store.retire(gone)
        history = store.get_meta("sweep_history") or []
        store.set_meta("sweep_history", [*history, {"sweep": store.get_meta("sweep"), "retired_cells": sorted(gone),
                                                    "retired_rows": retired, "at": time.time()}])
        log.warning("grid changed: rows of removed cells set apart", out=str(out), cells=len(gone), rows=retired)
    store.set_meta("sweep", json.loads(sweep.model_dump_json()))
    store.set_meta("grid", _grid_definition(sweep, max_tokens))
    pool = pool or _pool_for(sweep, out, models_file, max_tokens, cache_path)
    for a in sweep.assignments:
        for alias in [a.model, *[x for v in a.roles.values() for x in (v if isinstance(v, list) else [v])]]:
            if alias:
                pool.resolve(alias)

    _resolve_computed(cells, sweep, store, pool, resume)
    plan = _Plan(sweep, store if resume else None, cells)
    for cell in plan.cells:
        store.add_cell(_cell_record(cell, sweep.name, len(plan.tasks[cell.cell_id])))
    pending = plan.pending()
    start = time.perf_counter()
    with _progress(pending, progress) as advance:
        if backend == "ray" and any(pending.values()):
            stop = threading.Event()
            try:
                failed = await asyncio.to_thread(_run_on_ray, sweep, plan, store, pool, advance, out=out,
                                                 address=ray_address, actors=workers, stop=stop)
            except asyncio.CancelledError:  # Ctrl-C: end the dispatch thread and the actors, keep the store
                stop.set()
                raise
        elif (workers or 1) == 1 or not any(pending.values()):
            failed = await _execute(_StoreWriter(store), pool, plan.rows(), sweep=sweep.name, out=out,
                                    concurrency=sweep.concurrency, on_row=advance)
        else:
            spec = {"sweep": json.loads(sweep.model_dump_json()), "out": str(out), "models_file": models_file,
                    "max_tokens": max_tokens, "cache_path": cache_path, "resume": resume, "workers": workers,
                    "cells": [c.model_dump(mode="json") for c in plan.cells]}  # computed roles included
            failed = await asyncio.to_thread(_run_workers, spec, store, advance)
    return SweepSummary(out=str(out), cells=len(plan.cells), tasks=plan.n_tasks, ran=sum(pending.values()),
                        skipped=plan.skipped, failed=failed, elapsed_s=time.perf_counter() - start)


def _cell_record(cell: Cell, sweep: str, n_tasks: int) -> dict[str, Any]:
    return {"cell_id": cell.cell_id, "sweep": sweep, "method": cell.method.method, "method_label": cell.method.name,
            "method_params": cell.method.params, "assignment": cell.assignment.name, "roles": cell.assignment.roles,
            "dataset": cell.dataset.name, "seed": cell.seed, "n_tasks": n_tasks, "definition": cell.definition}


class _Plan:
    """The grid's rows, produced lazily: per cell its dataset (kept as compact JSON, a `Task` object made only
    while its row runs, so memory does not grow with the task count), its method compiled once, and on
    resume the rows already finished (skipped) and the attempts so far."""

    def __init__(self, sweep: Sweep, store: ResultStore | None, cells: list[Cell]) -> None:
        self.cells = cells
        self.done = store.finished() if store is not None else set()
        self.attempts = store.attempts() if store is not None else {}
        loaded: dict[tuple[str, int], _Tasks] = {}
        self.tasks: dict[str, _Tasks] = {}
        self.methods: dict[str, Any] = {}
        for cell in self.cells:
            key = (cell.dataset.name, cell.dataset.seed if cell.dataset.seed is not None else cell.seed)
            if key not in loaded:
                loaded[key] = _Tasks(cell.dataset.load(key[1], Path(sweep.base_dir)))
            self.tasks[cell.cell_id] = loaded[key]
            method = self.methods[cell.cell_id] = _method_for(cell)
            if not method.per_run_graph():  # compiled before the first row: no row waits for LangGraph's import
                method.compiled()
        self.n_tasks = sum(len(v) for v in loaded.values())
        self.skipped = sum(1 for cell in self.cells for task_id in self.tasks[cell.cell_id].ids
                           if (cell.cell_id, task_id) in self.done)

    def pending(self) -> dict[str, int]:
        """Rows still to run, per cell."""
        return {c.cell_id: sum(1 for t in self.tasks[c.cell_id].ids if (c.cell_id, t) not in self.done)
                for c in self.cells}

    def rows(self, shard: int = 0, shards: int = 1) -> Iterator[tuple[Cell, Any, Task, int]]:
        """(cell, method, task, attempt) of every pending row, cell by cell; with `shards`, only every
        `shards`-th row of the whole grid (finished rows included, so the split never depends on them)."""
        k = 0
        for cell in self.cells:
            method, tasks = self.methods[cell.cell_id], self.tasks[cell.cell_id]
            for i, task_id in enumerate(tasks.ids):
                mine, k = k % shards == shard, k + 1
                if mine and (cell.cell_id, task_id) not in self.done:
                    yield cell, method, tasks[i], self.attempts.get((cell.cell_id, task_id), 0) + 1


class _Tasks:
    """A dataset held as its tasks' ids and JSON (a few hundred bytes each instead of a few KiB of objects);
    a dataset whose tasks do not survive a JSON round trip (metadata that is not plain JSON) is kept as is."""

    def __init__(self, tasks: list[Task]) -> None:
        self.ids = [t.id for t in tasks]
        self._items: list[Task] | list[bytes] = tasks
        try:
            blobs = [t.model_dump_json().encode() for t in tasks]
        except ValueError:  # pydantic's serialisation errors are ValueErrors
            return
        if not tasks or Task.model_validate_json(blobs[0]) == tasks[0]:
            self._items = blobs

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Task:
        item = self._items[i]
        return Task.model_validate_json(item) if isinstance(item, bytes) else item


class _GroupCommit:
    """Rows finished in one event-loop turn are handed on together at the end of that turn — one transaction
    (or one message) instead of one per row, without ever holding a finished row back for longer."""

    def __init__(self) -> None:
        self._pending: list[ResultRow] = []
        self._scheduled = False

    def add(self, row: ResultRow) -> None:
        self._pending.append(row)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        rows, self._pending = self._pending, []
        if rows:
            self._commit(rows)

    def _commit(self, rows: list[ResultRow]) -> None:
        raise NotImplementedError


class _StoreWriter(_GroupCommit):
    def __init__(self, store: ResultStore) -> None:
        super().__init__()
        self.store = store

    def _commit(self, rows: list[ResultRow]) -> None:
        self.store.write_many(rows)


async def _execute(sink: _GroupCommit, pool: Any, rows: Iterator[tuple[Cell, Any, Task, int]], *, sweep: str,
                   out: Path, concurrency: int, on_row: Callable[[str], None]) -> int:
    """Run the rows with `concurrency` runners pulling from one lazy iterator (no task object per pending
    row), handing each finished row to `sink`; returns the failed count."""
    failed = 0

    async def runner() -> None:
        nonlocal failed
        for cell, method, task, attempt in rows:  # each row is taken by exactly one runner
            row = await run_one(cell, method, task, pool, sweep=sweep, trace_dir=out / "traces", attempts=attempt)
            sink.add(row)
            failed += row.status != "ok"
            on_row(row.cell_id)

    try:
        await asyncio.gather(*(runner() for _ in range(concurrency)))
    finally:
        sink.flush()
    return failed


@contextlib.contextmanager
def _progress(pending: dict[str, int], enabled: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar per cell (or nothing); yields the callback that advances a cell by one row."""
    if not enabled:
        yield lambda cell_id: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        ids = {cid: bar.add_task(cid, total=n) for cid, n in pending.items() if n}
        yield lambda cell_id: bar.advance(ids[cell_id])


# --------------------------------------------------------------------------- worker processes
#
# The parent is the store's single writer: workers send finished rows over a pipe (a message per
# event-loop turn) and the parent commits each message in one transaction. Why not let workers write
# through SQLite's WAL with a lock: writers would contend for the one write lock at every commit, a
# killed worker could leave a hot journal behind, and progress, failure counts and the cell table
# would need a second channel anyway. Rows are split by position in the whole grid (every N-th row),
# so the split never depends on what is already finished and resume needs no coordination.


def _run_workers(spec: dict[str, Any], store: ResultStore, advance: Callable[[str], None]) -> int:
    """Start `spec["workers"]` worker processes, commit the rows they send, return the failed count."""
    import multiprocessing
    from multiprocessing.connection import wait

    from maslab.errors import MaslabError

    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and an event loop
    procs, readers = [], {}
    try:
        for i in range(spec["workers"]):
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker_main, args=(spec, i, writer), name=f"maslab-sweep-worker-{i}",
                               daemon=True)
            proc.start()
            writer.close()
            procs.append(proc)
            readers[reader] = i
        failed, finished = 0, set()
        while readers:
            for reader in wait(list(readers)):
                i = readers[reader]
                try:
                    kind, payload = reader.recv()
                except EOFError:
                    del readers[reader]
                    if i not in finished:
                        procs[i].join(5)
                        raise MaslabError(f"sweep worker {i} died (exit code {procs[i].exitcode}); every row it "
                                          "finished is saved: run again with --resume") from None
                    continue
                if kind == "rows":
                    store.write_many(payload)
                    for row in payload:
                        failed += row["status"] != "ok"
                        advance(row["cell_id"])
                elif kind == "done":
                    finished.add(i)
                else:  # "error": the worker's own failure, as text
                    raise MaslabError(f"sweep worker {i} failed: {payload}")
        return failed
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(10)


def _worker_main(spec: dict[str, Any], index: int, conn: Any) -> None:
    """A worker process: its shard of the rows, on its own event loop and pool; rows go back over `conn`."""
    _die_with_parent()
    try:
        sweep = Sweep.model_validate(spec["sweep"])
        out = Path(spec["out"])
        pool = _pool_for(sweep, out, spec["models_file"], spec["max_tokens"], spec["cache_path"])
        store = ResultStore(out / "results.sqlite", readonly=True) if spec["resume"] else None
        plan = _Plan(sweep, store, [Cell.model_validate(c) for c in spec["cells"]])
        if store is not None:
            store.close()
        asyncio.run(_execute(_PipeSender(conn), pool, plan.rows(index, spec["workers"]), sweep=sweep.name,
                             out=out, concurrency=sweep.concurrency, on_row=lambda cell_id: None))
    except Exception as e:  # tell the parent what went wrong rather than dying mute
        conn.send(("error", f"{type(e).__name__}: {e}"))
        raise
    conn.send(("done", None))
    conn.close()


class _PipeSender(_GroupCommit):
    def __init__(self, conn: Any) -> None:
        super().__init__()
        self.conn = conn

    def _commit(self, rows: list[ResultRow]) -> None:
        self.conn.send(("rows", [row.model_dump() for row in rows]))


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the parent dies (even by SIGKILL)."""
    import os
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)


# --------------------------------------------------------------------------- Ray actors
#
# The same row execution as above (`_execute`), on Ray actors (`maslab.bench.distributed` runs the batches
# and survives dying actors). The driver — this process — keeps the plan, the store and the completion
# cache: it pulls batches of pending rows from the plan's lazy iterator (tasks travel by value, so nodes need
# no dataset files), and commits each batch's rows, and the completions its actor made, as it arrives.
# Actors read the cache as an immutable snapshot of the driver's file (a shared filesystem; see
# `distributed.SnapshotCache`), and their endpoints' `max_concurrency` is split evenly between them
# (`distributed.share_concurrency`). Each actor runs `concurrency` rows at a time as `_RAY_IN_FLIGHT`
# batches, so the next batch is already there while the last rows of one finish.

_RAY_IN_FLIGHT = 4


def _run_on_ray(sweep: Sweep, plan: _Plan, store: ResultStore, pool: Any, advance: Callable[[str], None], *,
                out: Path, address: str | None, actors: int | None, stop: threading.Event) -> int:
    from maslab.bench import distributed

    out = out.resolve()
    failed = 0

    def on_result(result: tuple[list[dict[str, Any]], list[tuple[str, str, str, int]]]) -> None:
        nonlocal failed
        rows, completions = result
        distributed.store_shipped(pool.cache, completions)
        store.write_many(rows)
        for row in rows:
            failed += row["status"] != "ok"
            advance(row["cell_id"])

    with distributed.connect(address):
        actors = actors or distributed.cluster_cpus()
        cache = str(pool.cache.path.resolve()) if pool.cache is not None else None
        spec = {"sweep": json.loads(sweep.model_dump_json()), "out": str(out), "overrides": pool.overrides,
                "models": distributed.share_concurrency(pool.config.model_dump(mode="json"), actors), "cache": cache,
                "cells": [c.model_dump(mode="json") for c in plan.cells]}  # hashed ids, computed roles included
        size = max(1, -(-sweep.concurrency // _RAY_IN_FLIGHT))
        if pool.cache is not None:
            pool.cache.hold_checkpoints()
        try:
            run = distributed.run_batches(setup=_ray_setup, spec=spec, work=_ray_batch,
                                          batches=_batches(plan.rows(), size), on_result=on_result, actors=actors,
                                          in_flight=_RAY_IN_FLIGHT, log_dir=str(out / "logs"),
                                          name=f"sweep-{_slug(sweep.name)}", stop=stop)
            log.info("ray sweep done", actors=actors, started=run.started, batches=run.delivered, deaths=run.deaths,
                     requeued=run.requeued)
        finally:
            if pool.cache is not None:
                pool.cache.release_checkpoints()
    return failed


def _batches(rows: Iterator[tuple[Cell, Any, Task, int]], size: int) -> Iterator[list[tuple[str, Task, int]]]:
    """(cell id, task, attempt) of the pending rows, `size` at a time, drawn lazily."""
    while batch := [(cell.cell_id, task, attempt) for cell, _, task, attempt in itertools.islice(rows, size)]:
        yield batch


class _RayState:
    """What one actor keeps: the sweep, its pool (the shipped models, the cache snapshot), cells and methods."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from maslab.bench.distributed import SnapshotCache
        from maslab.models import ModelPool

        self.sweep = Sweep.model_validate(spec["sweep"])
        self.out = Path(spec["out"])
        self.pool = ModelPool.from_dict(spec["models"], overrides=spec["overrides"] or None)
        self.cache = self.pool.cache = SnapshotCache(spec["cache"]) if spec["cache"] else None
        self.cells = {cell.cell_id: cell for cell in map(Cell.model_validate, spec["cells"])}
        self.methods: dict[str, Any] = {}

    def method(self, cell_id: str) -> Any:
        if cell_id not in self.methods:
            self.methods[cell_id] = _method_for(self.cells[cell_id])
        return self.methods[cell_id]


def _ray_setup(spec: dict[str, Any], index: int) -> _RayState:
    return _RayState(spec)


async def _ray_batch(state: _RayState, batch: list[tuple[str, Task, int]]) -> tuple[list[dict[str, Any]], Any]:
    """Run one batch (all its rows at once); its rows, and the completions made since the last batch."""
    sink = _Collect()
    rows = ((state.cells[cell_id], state.method(cell_id), task, attempt) for cell_id, task, attempt in batch)
    await _execute(sink, state.pool, rows, sweep=state.sweep.name, out=state.out, concurrency=len(batch),
                   on_row=lambda cell_id: None)
    return [row.model_dump() for row in sink.rows], state.cache.drain() if state.cache is not None else []


class _Collect(_GroupCommit):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ResultRow] = []

    def _commit(self, rows: list[ResultRow]) -> None:
        self.rows.extend(rows)


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
        scorer = (get_scorer(cell.dataset.scorer, run_pool=pool, **options) if cell.dataset.scorer
                  else score_for(task, run_pool=pool))
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
    """`maslab run WORKFLOW --dataset D`: a one-cell sweep of the workflow's system (in a new folder)."""
    entry = DatasetEntry(name=Path(dataset).stem if Path(dataset).suffix else dataset,
                         path=dataset if Path(dataset).suffix else None, limit=limit)
    profile = getattr(getattr(method, "config", None), "profile", None)  # recorded for the report's deviations
    m = MethodEntry(method=getattr(method, "name", "graph"), label=workflow.name, profile=profile)
    cell = make_cell(m, AssignmentEntry(name="default"), entry, seed, pool.overrides.get("max_tokens"))
    sweep = Sweep(name=workflow.name, methods=[m], datasets=[entry], seeds=[seed], concurrency=concurrency)
    with exclusive(out):
        store = ResultStore(out / "results.sqlite")
        store.set_meta("sweep", json.loads(sweep.model_dump_json()))
        tasks = entry.load(seed, Path.cwd())
        store.add_cell(_cell_record(cell, sweep.name, len(tasks)))
        start = time.perf_counter()
        with _progress({cell.cell_id: len(tasks)}, True) as advance:
            failed = await _execute(_StoreWriter(store), pool, ((cell, method, t, 1) for t in tasks),
                                    sweep=sweep.name, out=out, concurrency=concurrency, on_row=advance)
    return SweepSummary(out=str(out), cells=1, tasks=len(tasks), ran=len(tasks), skipped=0, failed=failed,
                        elapsed_s=time.perf_counter() - start)
