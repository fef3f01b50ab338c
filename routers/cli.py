"""`maslab route …`: calibrate an Avengers router (arXiv 2505.19797) and explain its choices.

    maslab route calibrate (--store DIR | --records FILE) [--k 64] [--seed 42]
                           [--selection inverse_rank_sum|frequency] [--n-models 10]
                           [--ties records|cluster] --out DIR
    maslab route explain DIR "QUESTION" [--top-k 1] [--top-n 1] [--json]

`calibrate` reads calibration records — the paper's JSON lines, or a sweep's result store (a sweep
folder or its results.sqlite: one record per task, the assignment name as model id, a row counting as
correct when scored correct) —, embeds them with all-MiniLM-L6-v2 (offline), fits the router and
writes its artefacts into `--out`: centres.npy, rankings.json, models.json, normalizer.joblib,
config.json, heatmap.png, plus records.jsonl (the records it was fitted on, in the paper's format,
ready for the `avengers` system's `records:`). It prints a summary: clusters with their sizes and
best models, and the selected model set. With `--models FILE` it also says which router models have
an alias in that models file.

`explain` loads the artefacts (rebuilding the embedder from config.json) and prints, for a question,
the considered clusters with their distances and softmax weights, each cluster's per-model accuracy
table and the routing scores; `--json` prints one JSON object instead, whose `models` is the ranked
list of chosen model ids. With `--models FILE` only router models that are aliases of that file are
candidates.

Every problem (missing file, malformed records, bad artefacts, bad arguments) is raised as a
`RouteCommandError`, a `ConfigError`, so `maslab` exits with status 2 and a one-line message.

A plug-in command (`maslab.commands` entry point `route`): it builds rich renderables and hands
them back in a `CommandOutput`; `maslab.cli` prints them.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maslab.errors import ConfigError, MaslabError
from maslab.plugins import CommandOutput

if TYPE_CHECKING:
    from maslab.routers.avengers import CalibrationRecord, Explanation, Router

RECORDS_FILE = "records.jsonl"


class RouteCommandError(ConfigError):
    """`maslab route` was given something it cannot use; the message says what and where."""


class RouteCommand:
    help = "the Avengers router: calibrate, explain"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        rsub = parser.add_subparsers(dest="route_command", metavar="ACTION", required=True)
        c = rsub.add_parser("calibrate", help="fit clusters and per-cluster model rankings")
        src = c.add_mutually_exclusive_group(required=True)
        src.add_argument("--store", help="a sweep folder (or results.sqlite) of per-model runs")
        src.add_argument("--records", help="JSON lines of {query, dataset, records}")
        c.add_argument("--k", type=int, default=64)
        c.add_argument("--seed", type=int, default=42)
        c.add_argument("--selection", choices=["inverse_rank_sum", "frequency"], default="inverse_rank_sum")
        c.add_argument("--n-models", type=int, default=10)
        c.add_argument("--ties", choices=["records", "cluster"], default="records",
                       help="accuracy ties: first appearance over all records (maslab) or within the "
                            "cluster (the official code)")
        c.add_argument("--out", required=True)
        c.add_argument("--models", metavar="FILE", help="models file: say which router models are aliases there")
        e = rsub.add_parser("explain", help="why a question routes where it does")
        e.add_argument("dir")
        e.add_argument("question")
        e.add_argument("--top-k", type=int, default=1)
        e.add_argument("--top-n", type=int, default=1)
        e.add_argument("--json", action="store_true")
        e.add_argument("--models", metavar="FILE", help="models file: only its aliases are candidates")

    def run(self, args: argparse.Namespace) -> CommandOutput:
        return route_command(args)


def route_command(args: argparse.Namespace) -> CommandOutput:
    """Dispatch `maslab route calibrate|explain` (errors raise `RouteCommandError`)."""
    action = getattr(args, "route_command", None)
    try:
        if action == "calibrate":
            return _calibrate(args)
        if action == "explain":
            return _explain(args)
    except ConfigError:
        raise
    except (MaslabError, ValueError, OSError) as e:
        raise RouteCommandError(f"route {action}: {e}") from e
    raise RouteCommandError(f"unknown route action {action!r} (calibrate | explain)")


# --------------------------------------------------------------------------- calibrate


def read_records(args: argparse.Namespace) -> list[CalibrationRecord]:
    """The calibration records named by `--records` or `--store`."""
    from maslab.routers.avengers import load_records, records_from_store

    if getattr(args, "records", None):
        return load_records(Path(args.records).expanduser())
    if getattr(args, "store", None):
        return records_from_store(args.store)
    raise RouteCommandError("route calibrate: give --store DIR or --records FILE")


def write_records(records: list[CalibrationRecord], path: Path) -> Path:
    """Records as the paper's JSON lines (query, dataset, records, frequency)."""
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.model_dump(), ensure_ascii=False) + "\n")
    return path


def _model_aliases(models_file: str | None) -> list[str] | None:
    if not models_file:
        return None
    from maslab.models import load_models_config

    return list(load_models_config(models_file).models)


def _calibrate(args: argparse.Namespace) -> CommandOutput:
    from maslab.routers.avengers import calibrate
    from maslab.routers.embeddings import SentenceTransformerEmbedder

    if args.k < 1:
        raise RouteCommandError(f"--k must be >= 1 (got {args.k})")
    if args.n_models < 1:
        raise RouteCommandError(f"--n-models must be >= 1 (got {args.n_models})")
    aliases = _model_aliases(getattr(args, "models", None))
    records = read_records(args)
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise RouteCommandError(f"--out {args.out}: exists and is not a directory")
    with warnings.catch_warnings():  # a clamped K is reported in the summary
        warnings.simplefilter("ignore", RuntimeWarning)
        router = calibrate(records, SentenceTransformerEmbedder(), k=args.k, seed=args.seed,
                           selection=args.selection, n_models=args.n_models, ties=args.ties)
    router.save(out)
    write_records(records, out / RECORDS_FILE)
    return CommandOutput(summary(router, out, source=args.records or args.store, aliases=aliases))


def summary(router: Router, out: Path, *, source: str, aliases: list[str] | None = None) -> list[Any]:
    """What `calibrate` shows: clusters (size, best models) and the selected model set."""
    import numpy as np
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    shown: list[Any] = []
    cfg = router.config
    k_note = f"{cfg.k}" + (f" (asked {cfg.requested_k}, clamped to the distinct queries)" if cfg.k != cfg.requested_k else "")
    shown.append(Text.from_markup(f"[bold]Avengers router[/] from {escape(source)}: {cfg.n_records} records, {len(router.models)} models, "
                  f"K = {k_note}, embedder {cfg.embedder}, seed {cfg.seed}"))
    table = Table("cluster", "queries", "best models (accuracy)", title="clusters")
    for c in range(router.k):
        st = router.rankings[c]
        best = ", ".join(f"{m} ({st.scores[m].accuracy:.2f})" for m in st.ranking[:3]) or "-"
        table.add_row(str(c), str(st.total), best)
    shown.append(table)
    mat, ids = router.accuracy_matrix()
    models = Table("model", "name", "selected", "clusters won", "mean accuracy",
                   *(["alias in models file"] if aliases is not None else []), title="models")
    wins = {m: sum(1 for st in router.rankings.values() if st.ranking[:1] == [m]) for m in ids}
    selected = router.selected_models
    for j, m in enumerate(ids):
        col = mat[:, j]
        seen = col[~np.isnan(col)]
        mean = f"{float(seen.mean()):.2f}" if seen.size else "-"
        row = [m, router.models.get(m, m), str(selected.index(m) + 1) if m in selected else "", str(wins[m]), mean]
        if aliases is not None:
            row.append("yes" if m in aliases else "no")
        models.add_row(*row)
    shown.append(models)
    shown.append(f"selected ({cfg.selection}): {', '.join(selected)}")
    shown.append(Text.from_markup(f"[green]wrote[/] {escape(str(out))} (centres.npy, rankings.json, models.json, "
                                  f"normalizer.joblib, config.json, heatmap.png, {RECORDS_FILE})"))
    return shown


# --------------------------------------------------------------------------- explain


def _explain(args: argparse.Namespace) -> CommandOutput:
    from maslab.routers.avengers import Router

    if args.top_k < 1 or args.top_n < 1:
        raise RouteCommandError("--top-k and --top-n must be >= 1")
    directory = Path(args.dir).expanduser()
    if not directory.is_dir():
        raise RouteCommandError(f"{args.dir}: no such router directory (write one with `maslab route calibrate`)")
    router = Router.load(directory)
    aliases = _model_aliases(getattr(args, "models", None))
    available = None
    if aliases is not None:
        available = [m for m in router.models if m in aliases]
        if not available:
            raise RouteCommandError(f"none of the router's models ({', '.join(router.models)}) is an alias of "
                                    f"{args.models} ({', '.join(aliases)})")
    explanation = router.explain(args.question, top_k=args.top_k, top_n=args.top_n, available_models=available)
    if args.json:
        return CommandOutput([json.dumps(explanation_json(args.question, explanation), ensure_ascii=False)])
    return CommandOutput(explanation_view(args.question, explanation, router))


def explanation_json(question: str, e: Explanation) -> dict[str, Any]:
    """One JSON object: the question, `models` (chosen ids, best first), names, clusters, scores, tables."""
    return {"question": question, **e.model_dump()}


def explanation_view(question: str, e: Explanation, router: Router) -> list[Any]:
    """What `explain` shows: the nearest clusters, their accuracy tables and the routing scores."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    shown: list[Any] = [Text.from_markup(f"[bold]question:[/] {escape(question)}")]
    hits = Table("cluster", "distance", "weight", "queries", title="nearest clusters")
    for h in e.clusters:
        hits.add_row(str(h.cluster), f"{h.distance:.4f}", f"{h.probability:.3f}", str(router.rankings[h.cluster].total))
    shown.append(hits)
    for t in e.tables:
        table = Table("rank", "model", "correct / total", "accuracy", title=f"cluster {t.cluster} ({t.total} queries)")
        for i, m in enumerate(t.ranking):
            s = t.scores[m]
            table.add_row(str(i + 1), m, f"{s.correct} / {s.total}", f"{s.accuracy:.2f}")
        shown.append(table)
    scores = Table("model", "name", "score", title="routing scores")
    for m, s in e.scores.items():
        scores.add_row(m, router.models.get(m, m), f"{s:.4f}")
    shown.append(scores)
    routed = ", ".join(f"{m} ({n})" for m, n in zip(e.models, e.names, strict=True))
    shown.append(Text.from_markup(f"[bold green]routed to:[/] {escape(routed)}"))
    return shown


command = RouteCommand()
