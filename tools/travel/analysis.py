"""Static analysis of T1 plan code: the tool calls it makes, their arguments and their data flow.

Nothing here runs plan code; it parses it with `ast`. Calls are listed in evaluation order
(arguments before the call that receives them, statements in source order, loop bodies once).
Argument values are folded where that is safe and exact: literals, names bound to literals,
f-strings, ``+``/``-`` on constants and ``adjust_date(<const>, <const>)`` (a pure tool) become
Python values; anything else is kept as its normalised source text (`Expr`). Data flow is
tracked through variables: an argument depends on the tool calls whose results reach it.

Also here, because the agent, the benchmark and the CLI all read plans: `parse_reply` (a model
reply's ``<REASONING>``/``<CODE>`` blocks, tolerant of missing tags and stray fences), `is_noop`
(the "No planning needed" line), and a plan's tool-dependency graph as JSON (`plan_graph_data`)
or Mermaid text (`plan_mermaid`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from maslab.tools.travel.tools import NO_PLANNING, TOOL_NAMES, TOOL_SPECS

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Expr", "StaticCall", "extract_calls", "plan_graph"]

_UNKNOWN = object()


@dataclass(frozen=True)
class Expr:
    """A non-constant argument, kept as normalised source text."""

    text: str

    def __repr__(self) -> str:
        return self.text


@dataclass
class StaticCall:
    """One tool call found in plan code."""

    index: int
    name: str
    args: dict[str, Any]  # parameter name → folded value or Expr
    lineno: int
    depends_on: dict[str, list[int]] = field(default_factory=dict)  # parameter → producing call indices
    target: str | None = None  # the variable its result is assigned to, if any


class _Walker:
    def __init__(self, tools: frozenset[str]):
        self.tools = tools
        self.calls: list[StaticCall] = []
        self.values: dict[str, Any] = {}  # variable → folded constant
        self.deps: dict[str, set[int]] = {}  # variable → producing call indices

    # -- constant folding ------------------------------------------------------------------------
    def fold(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.values.get(node.id, _UNKNOWN)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = [self.fold(e) for e in node.elts]
            return _UNKNOWN if any(i is _UNKNOWN for i in items) else items
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                return _UNKNOWN
            keys = [self.fold(k) for k in node.keys if k is not None]
            vals = [self.fold(v) for v in node.values]
            if any(x is _UNKNOWN for x in keys + vals):
                return _UNKNOWN
            try:
                return dict(zip(keys, vals, strict=True))
            except TypeError:
                return _UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = self.fold(node.operand)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return -v if isinstance(node.op, ast.USub) else v
            return _UNKNOWN
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            a, b = self.fold(node.left), self.fold(node.right)
            num = (int, float)
            if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
                return a + b if isinstance(node.op, ast.Add) else a - b
            if isinstance(node.op, ast.Add) and isinstance(a, str) and isinstance(b, str):
                return a + b
            return _UNKNOWN
        if isinstance(node, ast.JoinedStr):
            parts = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                elif isinstance(v, ast.FormattedValue) and v.conversion == -1 and v.format_spec is None:
                    x = self.fold(v.value)
                    if x is _UNKNOWN:
                        return _UNKNOWN
                    parts.append(str(x))
                else:
                    return _UNKNOWN
            return "".join(parts)
        if isinstance(node, ast.Call) and _callee(node) == "adjust_date":
            args = self._bind("adjust_date", node, fold_only=True)
            d, n = args.get("date", _UNKNOWN), args.get("days", _UNKNOWN)
            if isinstance(d, str) and isinstance(n, int) and not isinstance(n, bool):
                try:
                    return (date.fromisoformat(d) + timedelta(days=n)).isoformat()
                except ValueError:
                    return _UNKNOWN
        return _UNKNOWN

    def value(self, node: ast.AST) -> Any:
        v = self.fold(node)
        return Expr(ast.unparse(node)) if v is _UNKNOWN else v

    def _bind(self, name: str, node: ast.Call, fold_only: bool = False) -> dict[str, Any]:
        spec = TOOL_SPECS.get(name)
        positional = spec.positional if spec else ()
        out: dict[str, Any] = {}
        for i, a in enumerate(node.args):
            key = positional[i] if i < len(positional) else f"#{i}"
            if isinstance(a, ast.Starred):
                key = "*"
            out[key] = self.fold(a) if fold_only else self.value(a)
        for kw in node.keywords:
            key = kw.arg if kw.arg is not None else "**"
            out[key] = self.fold(kw.value) if fold_only else self.value(kw.value)
        return out

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, node: ast.AST | None) -> set[int]:
        """Visit an expression in evaluation order; the tool calls its value depends on."""
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            return set(self.deps.get(node.id, ()))
        if isinstance(node, ast.Call):
            name = _callee(node)
            if name in self.tools:
                if isinstance(node.func, ast.Attribute):
                    self.expr(node.func.value)
                spec = TOOL_SPECS.get(name)
                positional = spec.positional if spec else ()
                dep_by_arg: dict[str, list[int]] = {}
                for i, a in enumerate(node.args):
                    key = "*" if isinstance(a, ast.Starred) else (positional[i] if i < len(positional) else f"#{i}")
                    d = self.expr(a)
                    if d:
                        dep_by_arg[key] = sorted(d)
                for kw in node.keywords:
                    d = self.expr(kw.value)
                    if d:
                        dep_by_arg[kw.arg if kw.arg is not None else "**"] = sorted(d)
                call = StaticCall(index=len(self.calls), name=name, args=self._bind(name, node),
                                  lineno=getattr(node, "lineno", 0), depends_on=dep_by_arg)
                self.calls.append(call)
                return {call.index}
        out: set[int] = set()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr | ast.comprehension | ast.keyword | ast.arguments | ast.arg):
                out |= self.expr(child)
        return out

    # -- statements ----------------------------------------------------------------------------
    def assign(self, target: ast.AST, value_node: ast.AST | None, deps: set[int], last_call: int | None) -> None:
        if isinstance(target, ast.Name):
            self.deps[target.id] = set(deps)
            v = self.fold(value_node) if value_node is not None else _UNKNOWN
            if v is _UNKNOWN:
                self.values.pop(target.id, None)
            else:
                self.values[target.id] = v
            if last_call is not None:
                self.calls[last_call].target = target.id
        elif isinstance(target, ast.Tuple | ast.List):
            for t in target.elts:
                self.assign(t.value if isinstance(t, ast.Starred) else t, None, deps, None)
        else:  # x[i] = …, x.a = …: the container now also depends on the value
            base = target
            while isinstance(base, ast.Subscript | ast.Attribute):
                base = base.value
            self.expr(target)
            if isinstance(base, ast.Name):
                self.deps[base.id] = self.deps.get(base.id, set()) | deps
                self.values.pop(base.id, None)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            before = len(self.calls)
            deps = self.expr(node.value)
            direct = (len(self.calls) - 1 if isinstance(node.value, ast.Call)
                      and len(self.calls) > before and _callee(node.value) in self.tools else None)
            for t in node.targets:
                self.assign(t, node.value, deps, direct)
        elif isinstance(node, ast.AnnAssign):
            deps = self.expr(node.value)
            self.assign(node.target, node.value, deps, None)
        elif isinstance(node, ast.AugAssign):
            deps = self.expr(node.value)
            if isinstance(node.target, ast.Name):
                self.deps[node.target.id] = self.deps.get(node.target.id, set()) | deps
                self.values.pop(node.target.id, None)
        elif isinstance(node, ast.For | ast.AsyncFor):
            deps = self.expr(node.iter)
            self.assign(node.target, None, deps, None)
            for s in node.body + node.orelse:
                self.stmt(s)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                d = self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, None, d, None)
            for s in node.body:
                self.stmt(s)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for s in node.body:
                self.stmt(s)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.stmt(child)
                elif isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.excepthandler):
                    for s in child.body:
                        self.stmt(s)
                elif isinstance(child, ast.match_case):
                    for s in child.body:
                        self.stmt(s)


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def extract_calls(code: str, tools: tuple[str, ...] = TOOL_NAMES) -> list[StaticCall]:
    """The tool calls of `code`, in evaluation order. `SyntaxError` if it does not parse."""
    tree = ast.parse(code)
    w = _Walker(frozenset(tools))
    for s in tree.body:
        w.stmt(s)
    return w.calls


def plan_graph(code: str) -> nx.DiGraph:
    """The tool-dependency graph of a plan: one node per call, an edge where a result feeds an argument.

    Node ``i`` has attributes ``name``, ``args`` (folded values / source text) and ``lineno``;
    an edge ``i → j`` has ``args`` (the parameters of call ``j`` that call ``i``'s result reaches).
    Built statically from the AST (the code is never run). `SyntaxError` if it does not parse.
    """
    import networkx as nx

    g = nx.DiGraph()
    for c in extract_calls(code):
        g.add_node(c.index, name=c.name, args=dict(c.args), lineno=c.lineno, target=c.target)
        for arg, sources in c.depends_on.items():
            for s in sources:
                if g.has_edge(s, c.index):
                    g.edges[s, c.index]["args"].append(arg)
                else:
                    g.add_edge(s, c.index, args=[arg])
    return g


# ---------------------------------------------------------------------------------------------
# parsing replies


class ParsedReply(BaseModel):
    reasoning: str | None = None
    code: str
    had_code_tag: bool


_REASONING = re.compile(r"<REASONING>(.*?)(?:</REASONING>|(?=<CODE>)|\Z)", re.S | re.I)
_CODE = re.compile(r"<CODE>(.*?)(?:</CODE>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n?(.*?)(?:```|\Z)", re.S | re.I)


def _strip_fences(code: str) -> str:
    code = code.strip()
    m = _FENCE.search(code)
    if m and code.startswith("```"):
        code = m.group(1)
    code = re.sub(r"^\s*```[a-zA-Z]*\s*$", "", code, flags=re.M)  # stray fence lines
    return code.strip()


def parse_reply(text: str) -> ParsedReply:
    """Split a model reply into reasoning and code; tolerant of missing tags and stray fences."""
    text = text or ""
    rm = _REASONING.search(text)
    reasoning = rm.group(1).strip() if rm else None
    cm = _CODE.search(text)
    if cm:
        return ParsedReply(reasoning=reasoning, code=_strip_fences(cm.group(1)), had_code_tag=True)
    rest = _REASONING.sub("", text) if rm else text
    rest = re.sub(r"</?(REASONING|CODE)>", "", rest, flags=re.I)
    fm = _FENCE.search(rest)
    code = fm.group(1) if fm else rest
    return ParsedReply(reasoning=reasoning, code=_strip_fences(code), had_code_tag=False)


_NOOP_DUMP = ast.dump(ast.parse(NO_PLANNING))


def is_noop(code: str | None) -> bool:
    """Whether `code` is the no-op line ``print("No planning needed")`` (quotes/spacing free)."""
    if not code:
        return False
    try:
        return ast.dump(ast.parse(code.strip())) == _NOOP_DUMP
    except SyntaxError:
        return False


# ---------------------------------------------------------------------------------------------
# plan graphs as data


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple | set | frozenset):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return str(v)  # Expr: its source text


def plan_graph_data(code: str) -> dict[str, Any]:
    """A plan's tool-dependency graph as JSON-ready node and edge lists (``error`` when it does not parse)."""
    try:
        g = plan_graph(code) if code.strip() else None
    except SyntaxError as exc:
        return {"nodes": [], "edges": [], "error": f"SyntaxError: {exc.msg} (line {exc.lineno})"}
    if g is None:
        return {"nodes": [], "edges": []}
    nodes = [{"id": n, "name": d["name"], "args": _json_value(d["args"]), "lineno": d["lineno"],
              "target": d.get("target")} for n, d in sorted(g.nodes(data=True))]
    edges = [{"source": a, "target": b, "args": list(d["args"])} for a, b, d in sorted(g.edges(data=True))]
    return {"nodes": nodes, "edges": edges}


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def plan_mermaid(code: str, *, max_value_chars: int = 40) -> str:
    """Mermaid text of a plan's tool-dependency graph: one node per tool call, an edge per data flow.

    `code` is plan code or a whole model reply (its ``<CODE>`` block is used). Edges are labelled
    with the receiving parameters. Static (the code is parsed, never run); `SyntaxError` if it
    does not parse.
    """
    if "<CODE>" in code.upper():
        code = parse_reply(code).code
    g = plan_graph(code)
    lines = ["graph TD"]
    if not g.nodes:
        lines.append('    empty["no tool calls"]')
        return "\n".join(lines)
    for n, d in sorted(g.nodes(data=True)):
        args = []
        for k, v in d["args"].items():
            text = repr(v) if not hasattr(v, "text") else v.text
            args.append(f"{k}={text if len(text) <= max_value_chars else text[:max_value_chars - 1] + '…'}")
        label = d["name"] + (f"<br/>{_mermaid_text(', '.join(args))}" if args else "")
        target = f"{d['target']} = " if d.get("target") else ""
        lines.append(f'    c{n}["{_mermaid_text(target)}{label}"]')
    for a, b, d in sorted(g.edges(data=True)):
        lines.append(f"    c{a} -->|{_mermaid_text(', '.join(d['args']))}| c{b}")
    return "\n".join(lines)
