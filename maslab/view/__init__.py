"""`maslab view RUN_DIR`: a local, offline web page to see inside a sweep or a run.

* the sweep grid — every cell (methods × assignments × datasets × seeds) with accuracy and its
  95 % Wilson interval, valid-only accuracy, errors, tokens and calls per task, cost (tokens in total
  and model seconds; the store keeps no prices), latency — all from `maslab.bench.stats`, sortable;
* a task list per cell, paged on the server, filtered by verdict (right / wrong / error / not right),
  by text in the question or answer, and against a second cell ("A right and B wrong" …);
* a task view: question, reference, answer and score, failures with their message and where they
  happened, and the transcript as a timeline of agent turns grouped by superstep and node — each
  turn with its agent, role, alias, the messages it saw and its reply, tokens, latency, cache hit,
  retries, tool calls and results — beside the method's graph (SVG drawn on the server by
  `maslab.drawing`), the node of the chosen turn highlighted;
* Markdown export of a transcript and CSV export of a filtered list; the page polls and refreshes
  as a running sweep writes rows.

`source` reads the folder (only through `ResultStore` and the JSONL traces), `transcript` turns
trace lines into turns, `server` serves it on 127.0.0.1, `static/` is the page (plain HTML, CSS and
JavaScript written for it; no external asset).
"""

from maslab.view.server import ViewServer
from maslab.view.source import Source, open_source

__all__ = ["Source", "ViewServer", "open_source"]
