"""Batches of work on Ray actors: the engine under `maslab bench --ray` (`run_sweep(..., backend="ray")`).

This module knows nothing of sweeps: `maslab.bench.sweep` hands it a setup function (run once in every
actor), a work function (run per batch, on the actor's own event loop), a lazy iterator of batches and a
callback for each finished batch. The caller's process — the sweep's driver — stays the one writer of
everything durable (the result store, the completion cache); actors only compute.

1. `ray.init(address)`: `auto`, `ray://HOST:PORT`, `HOST:PORT`, or None for a local cluster started for the
   run (and stopped after it). A process already connected to Ray is used as it is.
2. Start `actors` actors (`num_cpus` each, spread over the cluster by Ray's scheduler). Each runs
   `setup(spec, index)` once — its own event loop (Ray's async actor), its own model pool — with its
   stdout/stderr and structlog lines sent to `log_dir/actor-<index>.log`, not to the driver's terminal.
3. Keep at most `in_flight` batches queued or running on each actor (back-pressure: the driver pulls the
   next batch from the lazy iterator only when an actor has room, so memory does not grow with the grid).
4. Hand every finished batch to `on_result` in the driver, as it arrives.
5. An actor that dies (its process killed, OOM, its node lost) loses only its in-flight batches: they go back
   to the front of the queue, the dead actor is killed for good (so a merely unreachable one cannot deliver
   the same batch twice) and a replacement is started; the replacement takes work only once it has answered,
   so a lost node whose resources are gone never stalls the run — the survivors finish it. More than
   `max_deaths` deaths stop the run with an error (everything delivered so far is kept).
   An exception raised by `work` itself is a bug, not a fault: it stops the run at once, never retried.

Ray's own actor restart (`max_restarts`) is not used: the driver's re-queue is simpler to reason about
(a batch is either delivered once or re-run from scratch) and also covers a node that never comes back.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from maslab.errors import ConfigError, MaslabError
from maslab.models import CompletionCache
from maslab.trace import get_logger

log = get_logger(__name__)

INSTALL_HINT = 'Ray is not installed: pip install "maslab[ray]" (or pip install "ray[default]")'


def require_ray() -> Any:
    """The `ray` module, or a ConfigError (exit code 2 from the CLI) with the install hint."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray: {INSTALL_HINT}") from None
    return ray


class connect:  # noqa: N801 - used as `with connect(address):`
    """Context manager: connect to (or start) a Ray cluster; disconnect at exit only if we connected."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.ours = False

    def __enter__(self) -> Any:
        import logging

        ray = require_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR,
                                       "configure_logging": True}
            if self.address is None:
                options["include_dashboard"] = False
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise ConfigError(f"--ray {self.address or ''}: cannot connect to the Ray cluster: {e}") from None
            self.ours = True
        return ray

    def __exit__(self, *exc: Any) -> None:
        if self.ours:
            import ray

            ray.shutdown()


def cluster_cpus() -> int:
    """Whole CPUs of the connected cluster (at least 1)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# --------------------------------------------------------------------------- per-endpoint concurrency


def share_concurrency(models: dict[str, Any], actors: int) -> dict[str, Any]:
    """A models config (as a dict) whose endpoints each allow `max_concurrency // actors` calls (at least 1).

    Why a per-actor share rather than one Ray-side semaphore per endpoint: a cluster-wide semaphore costs two
    actor round trips per model call (acquire, release) through one hot actor — the very bottleneck a
    cluster is meant to remove — and a dead holder leaks its permit. A fixed share costs nothing per call
    and holds exactly: the actors together never exceed the endpoint's `max_concurrency` (unless it is
    smaller than the number of actors, where every actor still gets one slot; the driver logs that). What a
    share gives up — an idle actor cannot lend its slots — matters little, since every actor pulls rows from
    the one queue and stays busy until the grid's last batches. Aliases started from `serve:` get a server
    per actor, so they keep their limits."""
    shared = {**models, "models": {}}
    for name, alias in models.get("models", {}).items():
        alias = dict(alias)
        endpoints = []
        for ep in alias.get("endpoints") or []:
            limit = int(ep.get("max_concurrency", 16))
            if limit < actors:
                log.warning("endpoint allows fewer calls than there are actors; each actor gets one",
                            alias=name, max_concurrency=limit, actors=actors)
            endpoints.append({**ep, "max_concurrency": max(1, limit // actors)})
        if endpoints:
            alias["endpoints"] = endpoints
        shared["models"][name] = alias
    return shared


# --------------------------------------------------------------------------- the completion cache on actors


class SnapshotCache(CompletionCache):
    """An actor's view of the driver's completion cache.

    Reads: the driver's cache file opened read-only as an immutable snapshot (`immutable=1`: no locks, no
    WAL — it works on a shared filesystem such as NFS, where SQLite's WAL locking does not), which the driver
    keeps unchanged while the sweep runs (`CompletionCache.hold_checkpoints`). A node that cannot see the
    file reads nothing and logs so once (its calls are then made, not replayed). Writes: new completions are
    kept here and shipped back with the batch's rows (`drain`); the driver, the cache's one writer, stores
    them. So a finished sweep replayed on Ray answers every call from the cache, from any node that sees it."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else Path()
        self.mode = "read_write"
        self._lock = threading.Lock()
        self._new: list[tuple[str, str, str, int]] = []
        self._db: sqlite3.Connection | None = None  # type: ignore[assignment]
        if path and Path(path).is_file():
            self._db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        elif path:
            log.warning("the completion cache is not visible on this node: calls are made, not replayed",
                        cache=path, node=os.uname().nodename)

    def get(self, key: str) -> Any:
        return super().get(key) if self._db is not None else None

    def put(self, key: str, request: str, completion: Any, sample_index: int) -> None:
        with self._lock:
            self._new.append((key, request, completion.model_dump_json(), sample_index))

    def drain(self) -> list[tuple[str, str, str, int]]:
        """The completions made since the last drain: (key, request, completion JSON, sample index)."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def __len__(self) -> int:
        return super().__len__() if self._db is not None else 0

    def close(self) -> None:
        if self._db is not None:
            super().close()


def store_shipped(cache: CompletionCache | None, entries: list[tuple[str, str, str, int]]) -> None:
    """Write completions shipped back by an actor into the driver's cache."""
    if cache is None or not entries:
        return
    from maslab.messages import Completion

    for key, request, completion, sample_index in entries:
        cache.put(key, request, Completion.model_validate_json(completion), sample_index)


# --------------------------------------------------------------------------- actors


class _Actor:
    """The body of every actor (made a Ray actor class by `ray.remote` at run time)."""

    def __init__(self, setup: Callable[[dict[str, Any], int], Any], spec: dict[str, Any], index: int,
                 log_dir: str | None, log_level: str) -> None:
        import ray

        if log_dir:
            _log_to(Path(log_dir) / f"actor-{index}.log", log_level)
        self.node = ray.get_runtime_context().get_node_id()
        self.state = setup(spec, index)
        log.info("actor ready", index=index, pid=os.getpid(), host=os.uname().nodename, ray_node=self.node)

    def ready(self) -> tuple[int, str]:
        """(process id, Ray node id): where this actor runs."""
        return os.getpid(), self.node

    async def work(self, fn: Callable[[Any, Any], Awaitable[Any]], batch: Any) -> Any:
        return await fn(self.state, batch)


def _log_to(path: Path, level: str) -> None:
    """Send this process's stdout, stderr (file descriptors included) and structlog lines, at the driver's
    level, to `path` (appended: a replacement actor continues its predecessor's file)."""
    import logging

    import structlog

    from maslab.trace import configure_logging

    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the actor
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    sys.stdout = sys.stderr = stream
    configure_logging(level)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=stream),
                        wrapper_class=structlog.make_filtering_bound_logger(
                            getattr(logging, level.upper(), logging.WARNING)))


class BatchRun:
    """What a `run_batches` call did: batches delivered, actors started, actor deaths survived."""

    def __init__(self) -> None:
        self.delivered = 0
        self.started = 0
        self.deaths = 0
        self.requeued = 0


def run_batches(
    *,
    setup: Callable[[dict[str, Any], int], Any],
    spec: dict[str, Any],
    work: Callable[[Any, Any], Awaitable[Any]],
    batches: Iterator[Any],
    on_result: Callable[[Any], None],
    actors: int,
    in_flight: int = 4,
    num_cpus: float = 1,
    log_dir: str | None = None,
    max_deaths: int | None = None,
    name: str = "maslab",
    startup_timeout: float = 300.0,
    stop: threading.Event | None = None,
) -> BatchRun:
    """Run every batch on `actors` Ray actors (see the module docstring); blocks until all are delivered.

    Call it with Ray connected (`connect`). `setup` and `work` must be importable module-level functions
    (Ray ships them by reference); `spec`, the batches and the results travel by value. Actors are named
    `NAME-JOB-actor-INDEX-GENERATION` in the namespace `maslab`. Setting `stop` ends the run within a second
    (the actors are killed, undelivered batches dropped: the caller was interrupted)."""
    import ray
    from ray.exceptions import ActorUnschedulableError, RayActorError, RayError, RayTaskError

    if actors < 1:
        raise ConfigError(f"actors must be at least 1, not {actors}")
    max_deaths = 2 * actors + 2 if max_deaths is None else max_deaths
    remote = ray.remote(num_cpus=num_cpus, max_restarts=0, max_task_retries=0)(_Actor)
    run = BatchRun()
    generation = itertools.count()
    job = ray.get_runtime_context().get_job_id()  # two drivers running the same sweep never share a name

    def start(i: int) -> Any:
        run.started += 1
        return remote.options(name=f"{name}-{job}-actor-{i}-{next(generation)}", namespace="maslab").remote(
            setup, spec, i, log_dir, os.environ.get("MASLAB_LOG", "warning"))

    handles: list[Any] = [start(i) for i in range(actors)]
    live: set[int] = set()                         # actors that answered `ready` and take work
    pings: dict[Any, int] = {h.ready.remote(): i for i, h in enumerate(handles)}
    pinged_at = {i: time.monotonic() for i in range(actors)}
    queued: collections.deque[Any] = collections.deque()   # batches given back by dead actors
    running: dict[Any, tuple[int, Any, Any]] = {}         # ref → (actor index, handle, batch)
    load = collections.Counter[int]()
    exhausted = False

    def next_batch() -> Any:
        nonlocal exhausted
        if queued:
            return queued.popleft()
        if exhausted:
            return None
        batch = next(batches, None)
        exhausted = batch is None
        return batch

    def died(i: int, handle: Any, why: str) -> None:
        if handles[i] is not handle:
            return  # an earlier death of this slot, already handled
        run.deaths += 1
        live.discard(i)
        log.warning("sweep actor died; its in-flight batches are re-queued", actor=i, why=why, deaths=run.deaths)
        if run.deaths > max_deaths:
            raise MaslabError(f"{run.deaths} Ray actors died (limit {max_deaths}; last: {why}); every finished "
                              "row is saved: run again with --resume")
        with contextlib.suppress(RayError):
            ray.kill(handle, no_restart=True)
        handles[i] = start(i)
        pings[handles[i].ready.remote()] = i
        pinged_at[i] = time.monotonic()

    try:
        while True:
            for i in sorted(live, key=lambda k: load[k]):
                while load[i] < in_flight:
                    batch = next_batch()
                    if batch is None:
                        break
                    running[handles[i].work.remote(work, batch)] = (i, handles[i], batch)
                    load[i] += 1
            if (not running and (exhausted and not queued)) or (stop is not None and stop.is_set()):
                return run
            if not running and not live and pings and \
                    time.monotonic() - min(pinged_at[i] for i in pings.values()) > startup_timeout:
                raise MaslabError(f"no Ray actor could start within {startup_timeout:.0f}s (does the cluster "
                                  f"have {num_cpus} free CPU per actor?); every finished row is saved")
            ready, _ = ray.wait([*running, *pings], num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in pings:
                    i = pings.pop(ref)
                    try:
                        ray.get(ref)
                    except (RayActorError, ActorUnschedulableError) as e:
                        died(i, handles[i], f"{type(e).__name__} at start")
                        continue
                    except RayTaskError as e:  # setup itself failed: a configuration problem, not a fault
                        raise MaslabError(f"sweep actor {i} failed to start: {_cause(e)}") from None
                    live.add(i)
                    continue
                i, handle, batch = running.pop(ref)
                load[i] -= 1 if handles[i] is handle else 0
                try:
                    result = ray.get(ref)
                except RayTaskError as e:
                    raise MaslabError(f"sweep actor {i} failed: {_cause(e)}") from None
                except RayError as e:  # the actor, its node or the result's object is gone
                    queued.appendleft(batch)
                    run.requeued += 1
                    if handles[i] is handle:
                        load[i] = 0
                    died(i, handle, type(e).__name__)
                    continue
                run.delivered += 1
                on_result(result)
    finally:
        for handle in handles:
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)


def _cause(e: Exception) -> str:
    cause = getattr(e, "cause", None)
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(e).splitlines()[0]



# --------------------------------------------------------------------------- model servers on the cluster
#
# `maslab serve --ray`: every `serve:` entry of a models file started as Ray actors — `replicas` of each,
# spread over the nodes, each placed by its resources (`num_gpus`: the number of `gpus:` the entry lists;
# Ray picks the devices and sets CUDA_VISIBLE_DEVICES, so the entry's own indices are not used) — each
# running `maslab.serve.start_server` on its node, bound to all interfaces. The result is a models file whose
# served aliases list the started servers as `endpoints:` (node address, port), which a sweep uses with
# `--models`; the servers stop when the actors do (a server dies with the process that started it).


class _ServerActor:
    """One model server on one node (made a Ray actor class at run time)."""

    def __init__(self, alias: str, serve: dict[str, Any], log_dir: str | None, log_level: str) -> None:
        from urllib.parse import urlparse

        import ray

        from maslab.serve import ServeSpec, start_server

        if log_dir:
            _log_to(Path(log_dir) / f"server-{alias}-{os.getpid()}.log", log_level)
        spec = ServeSpec.model_validate({**serve, "host": "0.0.0.0", "gpus": []})
        self.handle = start_server(alias, spec)
        port = urlparse(self.handle.api_base).port
        self.api_base = f"http://{ray.util.get_node_ip_address()}:{port}/v1"
        self.model = spec.litellm_model

    def endpoint(self) -> dict[str, Any]:
        return {"model": self.model, "api_base": self.api_base}

    def alive(self) -> bool:
        return self.handle.alive()

    def stop(self) -> None:
        self.handle.stop()


class ServedOnRay:
    """Servers started by `serve_on_ray`: `models` is the models file to run sweeps with; `stop()` ends them."""

    def __init__(self, models: dict[str, Any], actors: dict[str, list[Any]]) -> None:
        self.models = models
        self.actors = actors

    def alive(self) -> dict[str, list[bool]]:
        import ray

        return {alias: ray.get([h.alive.remote() for h in hs]) for alias, hs in self.actors.items()}

    def stop(self) -> None:
        import ray

        handles = [h for hs in self.actors.values() for h in hs]
        with contextlib.suppress(Exception):
            ray.get([h.stop.remote() for h in handles], timeout=30)
        for h in handles:
            with contextlib.suppress(Exception):
                ray.kill(h, no_restart=True)


def serve_on_ray(models: dict[str, Any], *, replicas: int = 1, log_dir: str | None = None,
                 num_cpus: float = 1) -> ServedOnRay:
    """Start `replicas` servers for every alias with a `serve:` entry (call it with Ray connected);
    returns once all answer, or raises `ServeError` naming the alias that failed (the others are stopped)."""
    import ray
    from ray.exceptions import RayError

    from maslab.errors import ServeError
    from maslab.serve import ServeSpec

    if replicas < 1:
        raise ConfigError(f"replicas must be at least 1, not {replicas}")
    remote = ray.remote(max_restarts=0)(_ServerActor)
    level = os.environ.get("MASLAB_LOG", "warning")
    actors: dict[str, list[Any]] = {}
    for alias, entry in models.get("models", {}).items():
        if entry.get("serve"):
            gpus = len(ServeSpec.model_validate(entry["serve"]).gpus)
            actors[alias] = [remote.options(num_cpus=num_cpus, num_gpus=gpus, scheduling_strategy="SPREAD")
                             .remote(alias, entry["serve"], log_dir, level) for _ in range(replicas)]
    if not actors:
        raise ConfigError("no alias in the models file has a `serve:` entry")
    served = ServedOnRay({}, actors)
    endpoints: dict[str, list[dict[str, Any]]] = {}
    try:
        for alias, handles in actors.items():
            try:
                endpoints[alias] = ray.get([h.endpoint.remote() for h in handles])
            except RayError as e:
                raise ServeError(f"cannot serve {alias!r} on the Ray cluster: {_cause(e)}") from None
    except BaseException:
        served.stop()
        raise
    served.models = {**models, "models": {
        alias: ({k: v for k, v in entry.items() if k != "serve"} | {"endpoints": endpoints[alias]}
                if alias in endpoints else entry)
        for alias, entry in models["models"].items()}}
    return served
