"""The viewer's HTTP server: the standard library's threading server on loopback, JSON endpoints, static files.

Routes (GET only):

    /                     the page (static/index.html); static/app.js and static/app.css beside it
    /api/summary          the grid: every cell with its statistics (`Source.grid`)
    /api/version          the data's version (the page polls it and refreshes when rows land)
    /api/rows             one page of a cell's filtered task list: cell, status, q, b, pair, sort, desc,
                          offset, limit
    /api/rows.csv         the same filtered list, every page, as CSV
    /api/task             one task: row, transcript, failures and where, graph SVG (cell, task)
    /api/task.md          the task's transcript as Markdown

The server binds 127.0.0.1 only and answers only requests addressed to it by that name (or
`localhost`), which keeps other sites' pages from reading it through DNS rebinding. Every page
carries a Content-Security-Policy that allows nothing but this origin, so the page cannot load
or send anything elsewhere; it uses no external asset, font or CDN.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from maslab.errors import ConfigError
from maslab.trace import get_logger
from maslab.view.source import NotFound, Source

log = get_logger(__name__)

HOST = "127.0.0.1"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def _static(name: str) -> bytes:
    return resources.files("maslab.view").joinpath("static", name).read_bytes()


class ViewServer:
    """`maslab view` over one run folder: start with `start()` (a thread) or `serve_forever()`; `close()`."""

    def __init__(self, source: Source, port: int = 0) -> None:
        self.source = source
        source.snapshot()  # read the rows before the URL is given out, so the first page is quick
        try:
            self.httpd = ThreadingHTTPServer((HOST, port), _handler(self))
        except OSError as e:
            raise ConfigError(f"cannot listen on {HOST}:{port} ({e.strerror or e}); choose another --port, "
                              "or --port 0 for any free one") from e
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}/"
        self.hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._warmed = False

    def start(self) -> ViewServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="maslab-view")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `shutdown` (or Ctrl-C)."""
        self.httpd.serve_forever()

    def warm(self) -> None:
        """Once the grid has been served: draw the cells' graphs in the background (`Source.warm`), so the first
        task view does not wait for LangGraph and the systems to import, and the grid did not either."""
        with self._lock:
            if self._warmed:
                return
            self._warmed = True
        threading.Thread(target=self.source.warm, daemon=True, name="maslab-view-warm").start()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()
        self.source.close()

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _handler(server: ViewServer) -> type[BaseHTTPRequestHandler]:
    source = server.source

    class Handler(BaseHTTPRequestHandler):
        server_version = "maslab-view"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            log.debug("view request", line=format % args)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.headers.get("Host", "") not in server.hosts:
                self._send(HTTPStatus.FORBIDDEN, b"maslab view answers only http://127.0.0.1 or localhost\n",
                           "text/plain; charset=utf-8")
                return
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            try:
                self._route(url.path, params)
            except NotFound as e:
                self._json({"error": str(e)}, HTTPStatus.NOT_FOUND)
            except ConfigError as e:
                self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
            except (ValueError, KeyError) as e:
                self._json({"error": f"bad request: {e}"}, HTTPStatus.BAD_REQUEST)
            except BrokenPipeError:
                pass
            except Exception as e:  # a bug must answer 500, not kill the server
                log.error("view: request failed", path=self.path, error=repr(e))
                self._json({"error": f"{type(e).__name__}: {e}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

        def _route(self, path: str, p: dict[str, str]) -> None:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, _static("index.html"), "text/html; charset=utf-8")
            elif path.startswith("/static/") and path[len("/static/"):] in STATIC:
                name = path[len("/static/"):]
                self._send(HTTPStatus.OK, _static(name), STATIC[name])
            elif path == "/api/summary":
                self._json(source.grid())
                server.warm()
            elif path == "/api/version":
                snap = source.snapshot()
                self._json({"version": snap.version, "rows": len(snap.rows)})
            elif path == "/api/rows":
                self._json(source.page(p["cell"], offset=int(p.get("offset", 0)), limit=int(p.get("limit", 50)),
                                       **_filters(p)))
            elif path == "/api/rows.csv":
                name = quote(f"{p['cell']}.csv".replace("|", "_"), safe="")
                self._send(HTTPStatus.OK, source.csv(p["cell"], **_filters(p)).encode(), "text/csv; charset=utf-8",
                           {"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
            elif path == "/api/task":
                self._json(source.task(p["cell"], p["task"]))
            elif path == "/api/task.md":
                name = quote(f"{p['task']}.md", safe="")
                self._send(HTTPStatus.OK, source.markdown(p["cell"], p["task"]).encode(),
                           "text/markdown; charset=utf-8", {"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
            else:
                self._json({"error": f"no such page: {path}"}, HTTPStatus.NOT_FOUND)

        def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
            self._send(status, json.dumps(data, default=str).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _filters(p: dict[str, str]) -> dict[str, Any]:
    return {"status": p.get("status") or "all", "q": p.get("q", ""), "b": p.get("b", ""), "pair": p.get("pair", ""),
            "sort": p.get("sort") or "task", "desc": p.get("desc", "") in ("1", "true")}
