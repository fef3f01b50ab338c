"""The `maslab` command. It owns the terminal; everything heavy is imported inside the handlers,
so `maslab --help` never loads litellm, langgraph or torch.

Exit codes: 0 success, 1 a run failed, 2 invalid input (workflow, models file, arguments), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any


def _count(minimum: int) -> Any:
    """An argparse type: a whole number >= `minimum` (bad values are usage errors, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


POSITIVE, NON_NEGATIVE = _count(1), _count(0)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", metavar="FILE", help="models file (default: ./models.yaml, else the built-in "
                   "file whose only model is the embedded SmolLM2)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the plug-in command named first in `argv` (if any) is loaded and configured, the
    others are listed without importing them, so `maslab --help` stays instant."""
    parser = argparse.ArgumentParser(
        prog="maslab",
        description="Build, run and compare LLM multi-agent systems on heterogeneous local models.",
    )
    parser.add_argument("--version", action="version", version="maslab 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ask", help="one question through a system (default: vanilla on the default model)")
    p.add_argument("question")
    p.add_argument("--method", default="vanilla", help="registered system (see `maslab methods`)")
    p.add_argument("--model", help="model alias for every role (default: the models file's default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="system parameter")
    p.add_argument("--image", action="append", default=[], metavar="FILE",
                   help="an input image (repeatable: image-0, image-1, …); needs a vision model")
    p.add_argument("--profile", help="the system's parameter profile: default (maslab) or reference")
    p.add_argument("--max-tokens", type=POSITIVE, default=256, help="completion-token cap per call (default 256)")
    p.add_argument("--cache", metavar="FILE", help="SQLite completion cache (read-write)")
    p.add_argument("--trace", metavar="FILE", help="write the run's JSONL trace (one line per model call)")
    _common(p)

    p = sub.add_parser("run", help="run a workflow on a question or a dataset")
    p.add_argument("workflow")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--question", "-q")
    src.add_argument("--dataset", help="dataset name (gsm8k, aqua, humaneval, arithmetic, …) or JSONL path")
    p.add_argument("--limit", type=NON_NEGATIVE, help="first N tasks of the dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=POSITIVE, default=4)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--profile", help="override the workflow's profile: default (maslab) or reference")
    p.add_argument("--max-tokens", type=POSITIVE, help="completion-token cap per call")
    p.add_argument("--cache", metavar="FILE", help="SQLite completion cache (read-write)")
    p.add_argument("--runs-dir", default="runs", help="where run folders are written (default runs/)")
    _common(p)

    p = sub.add_parser("validate", help="check workflow and sweep files without spending a token")
    p.add_argument("workflows", nargs="+", metavar="FILE", help="workflow or sweep files (told apart by their keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    _common(p)

    p = sub.add_parser("graph", help="draw a workflow's agent graph (Mermaid text, or --png)")
    p.add_argument("workflow", help="a workflow file")
    p.add_argument("--png", metavar="FILE", help="also draw it to a PNG file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    _common(p)

    p = sub.add_parser("serve", help="start the local servers of the models file and keep them up until Ctrl-C")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="start them as actors on a Ray cluster instead (placed by their GPUs); needs maslab[ray]")
    p.add_argument("--replicas", type=int, default=1, metavar="N", help="with --ray: servers per alias (default 1)")
    p.add_argument("--write", default="models.ray.yaml", metavar="FILE",
                   help="with --ray: the models file listing the started servers (default models.ray.yaml)")
    _common(p)

    p = sub.add_parser("models", help="list model aliases and their endpoints")
    p.add_argument("--check", action="store_true", help="health-check every endpoint")
    _common(p)

    p = sub.add_parser("methods", help="registered systems with citations and parameters")
    p.add_argument("--deviations", nargs="?", const="", metavar="NAME",
                   help="list every system's (or NAME's) deviations from its reference implementation")
    p.add_argument("--markdown", action="store_true", help="with --deviations: print Markdown (docs/deviations.md)")
    _common(p)

    p = sub.add_parser("doctor", help="what this machine gives: the sandbox isolation for model-written code")

    p = sub.add_parser("bench", help="run a sweep (methods × assignments × datasets × seeds)")
    p.add_argument("sweep")
    p.add_argument("--out", help="output folder (default runs/<sweep name>)")
    p.add_argument("--resume", action="store_true", help="skip finished rows, retry failed ones")
    p.add_argument("--force-new-cells", action="store_true",
                   help="with --resume after the grid changed: set the removed cells' rows apart and run the new cells")
    p.add_argument("--max-tokens", type=POSITIVE, help="completion-token cap per call")
    p.add_argument("--cache", metavar="FILE", help="SQLite completion cache (default: OUT/cache.sqlite)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="split the rows across N processes, each with its own event loop (default 1); with "
                   "--ray: N Ray actors (default: one per CPU of the cluster)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the rows on a Ray cluster (auto, HOST:PORT, ray://HOST:PORT; no ADDRESS: a local "
                   "cluster for this run); needs maslab[ray]")
    _common(p)

    p = sub.add_parser("report", help="tables with confidence intervals, plots and an HTML page for a sweep")
    p.add_argument("dir")
    p.add_argument("--format", choices=["table", "markdown", "csv", "html"], default="table")
    p.add_argument("--compare", nargs=2, metavar=("METHOD_A", "METHOD_B"), help="paired comparison")
    _common(p)

    p = sub.add_parser("view", help="a local web page to see inside a sweep or run: grid, filters, transcripts, graph")
    p.add_argument("dir", metavar="RUN_DIR", help="a sweep folder (results.sqlite) or a `maslab run` folder")
    p.add_argument("--port", type=int, default=8750, help="port on 127.0.0.1 (default 8750; 0: any free port)")
    _common(p)

    _plugin_commands(sub, wanted=next((a for a in argv or [] if not a.startswith("-")), None))
    return parser


def _plugin_commands(sub: Any, wanted: str | None) -> None:
    """Sub-commands contributed by plug-ins (`maslab.commands` entry points), e.g. `route`, `t1`.

    Only the one being run (`wanted`) is imported; the others are listed by name."""
    from maslab import plugins

    for ep in plugins.entry_points(plugins.COMMANDS):
        if ep.name in sub.choices:
            continue  # a built-in command keeps its name
        if ep.name != wanted:
            sub.add_parser(ep.name, help=f"plug-in command from {ep.value.split(':')[0]} (see `maslab {ep.name} --help`)")
            continue
        command = plugins.load(ep)
        p = sub.add_parser(ep.name, help=command.help)
        command.configure(p)
        _common(p)
        p.set_defaults(plugin_command=command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from maslab.errors import ConfigError, MaslabError

    try:
        command = getattr(args, "plugin_command", None)
        if command is not None:
            return _run_plugin(command, args)
        handler = globals()[f"_cmd_{args.command}"]
        return int(handler(args) or 0)
    except ConfigError as e:
        _error(str(e))
        return 2
    except MaslabError as e:
        _error(str(e))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    return console if console.is_terminal else Console(stderr=stderr, highlight=False, width=160)


def _error(message: str) -> None:
    from rich.markup import escape

    from maslab.errors import clip

    message = "\n".join(clip(line, 2000) for line in message.splitlines())  # never a megabyte of one value
    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")


def _pool(args: argparse.Namespace, *, cache: str | None = None, max_tokens: int | None = None) -> Any:
    from maslab.models import ModelPool, default_models_path

    overrides = {"max_tokens": max_tokens} if max_tokens else None
    return ModelPool.from_yaml(args.models or default_models_path(), cache_path=cache, overrides=overrides)


def _aliases(args: argparse.Namespace) -> list[str]:
    from maslab.models import default_models_path, load_models_config

    return list(load_models_config(args.models or default_models_path()).models)


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


# --------------------------------------------------------------------------- commands


def _cmd_ask(args: argparse.Namespace) -> int:
    from maslab.errors import ConfigError
    from maslab.method import load_method
    from maslab.task import Task
    from maslab.workflow import apply_overrides

    missing = [f for f in args.image if not Path(f).is_file()]
    if missing:
        raise ConfigError(f"--image: no such file: {', '.join(missing)}")
    task = Task(question=args.question, images=[str(Path(f).resolve()) for f in args.image])
    params = apply_overrides({"method": args.method, "params": {}}, args.set)["params"]
    if args.model:
        params.setdefault("model", args.model)
    method = load_method(args.method, profile=args.profile, **params)
    pool = _pool(args, cache=args.cache, max_tokens=args.max_tokens)
    from maslab.trace import RunRecorder

    solution = _run(method.solve(task, pool=pool, recorder=RunRecorder(args.trace, run_id="ask")))
    print(solution.answer)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import json

    from maslab.trace import RunRecorder
    from maslab.workflow import load_workflow

    overrides = [*args.set, *([f"profile={args.profile}"] if args.profile else [])]
    workflow = load_workflow(args.workflow, aliases=_aliases(args), overrides=overrides)
    method = workflow.to_method()
    if args.question is not None and not args.question.strip():
        _error("the question is empty: nothing to ask (no model was called)")
        return 2
    pool = _pool(args, cache=args.cache, max_tokens=args.max_tokens)
    run_dir = _new_run_dir(Path(args.runs_dir), workflow.name)
    if args.question is not None:
        recorder = RunRecorder(run_dir / "trace.jsonl", run_id=run_dir.name)
        solution = _run(method.solve(args.question, pool=pool, recorder=recorder))
        result = {"workflow": workflow.name, "question": args.question, "answer": solution.answer,
                  "usage": {"calls": solution.usage.calls, "prompt_tokens": solution.usage.prompt_tokens,
                            "completion_tokens": solution.usage.completion_tokens},
                  "metadata": solution.metadata, "trace": str(run_dir / "trace.jsonl")}
        (run_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
        print(solution.answer)
        _console(stderr=True).print(f"[dim]run written to {run_dir}[/]")
        return 0
    from maslab.bench.sweep import run_workflow_on_dataset

    summary = _run(run_workflow_on_dataset(workflow, method, pool, dataset=args.dataset, limit=args.limit,
                                           seed=args.seed, out=run_dir, concurrency=args.concurrency))
    _console().print(summary)
    if summary.failed:
        _error(f"{summary.failed} of {summary.tasks} rows failed (their errors are in {run_dir}/results.sqlite)")
        return 1
    return 0


def _new_run_dir(root: Path, name: str) -> Path:
    """runs/<timestamp>-<name>-<random>: a folder no other run shares, even one started the same second."""
    import secrets
    import time

    try:
        root.mkdir(parents=True, exist_ok=True)
        while True:
            path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(3)}"
            try:
                path.mkdir(exist_ok=False)
                return path
            except FileExistsError:
                continue
    except OSError as e:
        from maslab.errors import ConfigError

        raise ConfigError(f"cannot create a run folder under {root}: {e}") from e


def _cmd_validate(args: argparse.Namespace) -> int:
    """Workflows and sweeps (a mapping with `methods:`/`datasets:` and no `method:` is a sweep)."""
    from maslab.bench.sweep import cells_of, is_sweep_document, load_sweep
    from maslab.workflow import load_workflow
    from maslab.yamlfile import FileErrors, load_yaml

    aliases: list[str] | None = None
    failed = 0
    for path in args.workflows:
        try:
            data, _ = load_yaml(path)
            if is_sweep_document(data):
                sweep = load_sweep(path, models_file=args.models)
                _console().print(f"[green]ok[/] {path} (sweep {sweep.name}: {len(cells_of(sweep))} cells)")
                continue
            aliases = aliases if aliases is not None else _aliases(args)
            wf = load_workflow(path, aliases=aliases, overrides=args.set)
            _console().print(f"[green]ok[/] {path} ({wf.name})")
        except FileErrors as e:
            failed += 1
            for err in e.errors:
                print(f"error: {err}", file=sys.stderr)
    return 2 if failed else 0


def _cmd_graph(args: argparse.Namespace) -> int:
    from maslab.drawing import draw_png, to_mermaid
    from maslab.workflow import load_workflow

    workflow = load_workflow(args.workflow, aliases=_aliases(args), overrides=args.set)
    method = workflow.to_method()
    print(to_mermaid(method))
    if args.png:
        draw_png(method, args.png)
        _console(stderr=True).print(f"[dim]wrote {args.png}[/]")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from maslab.models import default_models_path, load_models_config
    from maslab.serve import ServeSpec, serve_forever

    config = load_models_config(args.models or default_models_path())
    specs = {name: ServeSpec.model_validate(a.serve) for name, a in config.models.items() if a.serve}
    if not specs:
        _error("no alias in the models file has a `serve:` entry")
        return 2
    if args.ray:
        return _serve_on_ray(args, config.model_dump(mode="json", exclude_defaults=True))

    def ready(handles: dict[str, Any]) -> None:
        for alias, h in handles.items():
            _console().print(f"[green]{alias}[/] ({h.spec.engine}: {h.spec.model}) on {h.api_base}  pid {h.pid}")
        _console().print("[dim]serving until Ctrl-C; other maslab commands on this machine reuse these servers[/]")

    serve_forever(specs, ready=ready)
    return 0


def _serve_on_ray(args: argparse.Namespace, models: dict[str, Any]) -> int:
    """`maslab serve --ray`: the `serve:` entries as Ray actors; write the models file naming them; wait."""
    import time

    import yaml

    from maslab.bench.distributed import connect, serve_on_ray

    address = None if args.ray == "local" else args.ray
    with connect(address):
        served = serve_on_ray(models, replicas=args.replicas)
        try:
            Path(args.write).write_text(yaml.safe_dump(served.models, sort_keys=False))
            for alias, entry in served.models["models"].items():
                for endpoint in entry.get("endpoints", []) if alias in served.actors else []:
                    _console().print(f"[green]{alias}[/] ({endpoint['model']}) on {endpoint['api_base']}")
            _console().print(f"[dim]wrote {args.write}; serving until Ctrl-C. Run sweeps with: maslab bench SWEEP.yaml "
                             f"--ray {address or 'auto'} --models {args.write}[/]")
            while True:
                time.sleep(5)
                dead = [alias for alias, ok in served.alive().items() if not all(ok)]
                if dead:
                    _error(f"a server of {', '.join(dead)} exited; stopping the others")
                    return 1
        finally:
            served.stop()


def _cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    pool = _pool(args)
    table = Table("alias", "endpoints", "serve", "tools", *(["healthy"] if args.check else []))
    for alias in pool.aliases:
        cfg = pool.config.models[alias]
        endpoints = ", ".join(pool.endpoints(alias)) or "-"
        serve = f"{cfg.serve.get('engine')}: {cfg.serve.get('model')}" if cfg.serve else "-"
        row = [alias + (" (default)" if alias == pool.default_alias else ""), endpoints, serve,
               pool.tool_protocol(alias)]
        if args.check:
            health = _run(pool.check(alias)) if cfg.endpoints or cfg.scripted else {}
            if cfg.serve and not any(health.values()):
                from maslab.serve import is_reachable, read_state

                state = read_state(alias) or {}
                up = bool(state.get("api_base")) and _run(is_reachable(state["api_base"]))
                health = {state["api_base"] if up else "not running (started on first use)": up}
            row.append(", ".join(f"{k}: {'ok' if v else 'DOWN'}" for k, v in health.items()))
        table.add_row(*row)
    _console().print(table)
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from rich.table import Table

    from maslab.method import list_methods

    if args.deviations is not None:
        from maslab.bench.report import render_deviations
        from maslab.method import method_class

        names = [method_class(args.deviations).name] if args.deviations else list(list_methods())
        if args.markdown:
            from maslab.bench.report import deviations_markdown

            sys.stdout.write(deviations_markdown([(n, None) for n in names], title=True))
            return 0
        for table in render_deviations([(n, None) for n in names]):
            _console().print(table)
        return 0
    table = Table("method", "citation", "roles", "role → function (X-MAS)", "parameters (defaults)", show_lines=True)
    for name, cls in list_methods().items():
        fields = {k: f for k, f in cls.Config.model_fields.items() if k not in ("roles",)}
        params = ", ".join(f"{k}={f.get_default(call_default_factory=True)!r}" for k, f in fields.items())
        functions = ", ".join(f"{r} → {f}" for r, f in cls.functions.items()) or "-"
        table.add_row(name, cls.citation, ", ".join(cls.roles), functions, params)
    _console().print(table)
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when model-written code can run isolated here (or MASLAB_SANDBOX=none says to run it
    unisolated), 1 when the sandbox refuses."""
    from rich.markup import escape
    from rich.table import Table

    from maslab.sandbox import isolation_report

    report = isolation_report()
    table = Table("sandbox isolation", "works here", title=f"running as {report.user}")
    for mode, problem in report.modes.items():
        table.add_row(mode, "[green]yes[/]" if problem is None else f"[red]no[/]: {escape(problem)}")
    console = _console()
    console.print(table)
    if report.env:
        console.print(f"MASLAB_SANDBOX={escape(report.env)}")
    if report.auto is None:
        console.print(f"[red]the sandbox refuses to run model-written code[/]: {escape(report.problem or '')}")
        return 1
    console.print(f"model-written code runs under: [bold]{report.auto}[/]"
                  + (" [red](NO isolation: it runs as you)[/]" if report.auto == "none" else ""))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from maslab.bench.store import exclusive
    from maslab.bench.sweep import load_sweep, run_sweep
    from maslab.yamlfile import is_slug, load_yaml

    data, _ = load_yaml(args.sweep)  # the folder is locked before the (slower) validation of the grid
    name = data.get("name") if isinstance(data, dict) else None
    folder = args.out or (Path("runs") / name if is_slug(name) else None)
    with exclusive(folder) if folder else contextlib.nullcontext():
        sweep = load_sweep(args.sweep, models_file=args.models)
        out = Path(args.out or Path("runs") / sweep.name)
        summary = _run(run_sweep(sweep, out=out, resume=args.resume, force_new_cells=args.force_new_cells,
                                 models_file=args.models, max_tokens=args.max_tokens, cache_path=args.cache,
                                 workers=args.workers, backend="ray" if args.ray else "local",
                                 ray_address=None if args.ray in (None, "local") else args.ray))
    _console().print(summary)
    return 0 if summary.failed == 0 else 1


def _cmd_report(args: argparse.Namespace) -> int:
    """`maslab report DIR`: write report.{md,csv,html} and accuracy_vs_tokens.png; print the chosen format."""
    from maslab.bench.report import (
        comparisons_csv,
        comparisons_markdown,
        render_comparisons,
        render_deviations,
        render_table,
        write_report,
    )

    report = write_report(Path(args.dir), compare=args.compare)
    console = _console()
    if args.format == "table":
        if not report.summaries:
            console.print("no results yet")
        for t in render_table([*report.summaries, *report.aggregates]):
            console.print(t)
        if report.requested:
            console.print(render_comparisons(report.requested))
        for t in render_deviations(report.methods):
            console.print(t)
    elif args.format == "markdown":
        sys.stdout.write(report.markdown)
        if report.requested:
            sys.stdout.write("\n" + comparisons_markdown(report.requested) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.csv_text)
        if report.requested:
            sys.stdout.write("\n" + comparisons_csv(report.requested))
    else:
        sys.stdout.write(f"{report.html_path}\n")
        if report.requested:
            console.print(render_comparisons(report.requested))
    sys.stdout.flush()
    _console(stderr=True).print(f"[dim]per-task transcripts, filters and the graph: maslab view {args.dir}[/]")
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    """`maslab view RUN_DIR`: serve the viewer on loopback until Ctrl-C."""
    from maslab.view import ViewServer, open_source

    server = ViewServer(open_source(args.dir), port=args.port)
    print(f"maslab view: {server.url}  ({server.source.kind} {args.dir}; Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _run_plugin(command: Any, args: argparse.Namespace) -> int:
    """Run a plug-in command and print what it returns (plain strings verbatim, rich renderables via rich)."""
    output = command.run(args)
    console = _console()
    for item in output.items:
        if isinstance(item, str):
            sys.stdout.write(item if item.endswith("\n") else item + "\n")
            sys.stdout.flush()
        else:
            console.print(item)
    return int(output.exit_code)


if __name__ == "__main__":
    sys.exit(main())
