"""Drawing a system's graph: Mermaid text, an offline PNG (networkx + matplotlib) and an SVG for the viewer.

Above `method` in the layers: it draws what a `Method` compiles, without a pool or a task. No Mermaid
service is ever contacted. `structure(method)` is the graph as nodes and edges; `svg(nodes, edges)`
draws any such structure (also one observed in a trace) with each node a `<g data-node="NAME">`, so a
page can highlight the node a turn ran in.
"""

from __future__ import annotations

import html
from typing import Any

from maslab.graph import END, START
from maslab.method import Method

Edge = tuple[str, str, bool]  # source, target, conditional


def to_mermaid(method: Method[Any]) -> str:
    """Mermaid text of a system's graph (compiled without a pool; no run needed)."""
    return method.compiled().get_graph().draw_mermaid()


def structure(method: Method[Any]) -> tuple[list[str], list[Edge]]:
    """The nodes (START and END included) and edges of a system's compiled graph."""
    drawable = method.compiled().get_graph()
    return list(drawable.nodes), [(e.source, e.target, bool(e.conditional)) for e in drawable.edges]


def layers(nodes: list[str], edges: list[Edge]) -> dict[str, int]:
    """Each node's row: the longest path to it from START once the edges that close a loop (back edges
    of a depth-first walk from START) are set aside, so a loop's body reads top to bottom."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t, _ in edges:
        if s in succ and t in succ and s != t:
            succ[s].append(t)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the walk's stack, 2 done

    def walk(root: str) -> None:
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))

    for root in [START, *nodes] if START in succ else nodes:
        if root not in state:
            walk(root)
    indegree = dict.fromkeys(nodes, 0)
    for s, ts in succ.items():
        for t in ts:
            if (s, t) not in back:
                indegree[t] += 1
    row = dict.fromkeys(nodes, 0)
    ready = [n for n in nodes if indegree[n] == 0]
    while ready:
        s = ready.pop(0)
        for t in succ[s]:
            if (s, t) in back:
                continue
            row[t] = max(row[t], row[s] + 1)
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return row


def _label(node: str) -> str:
    return {START: "start", END: "end"}.get(node, node)


def draw_png(method: Method[Any], path: str) -> None:
    """Draw a system's graph to a PNG with networkx + matplotlib (offline; no Mermaid service)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    nodes, edges = structure(method)
    rows = layers(nodes, edges)
    g = nx.DiGraph()
    for n in nodes:
        g.add_node(n, layer=rows[n])
    g.add_edges_from((s, t) for s, t, _ in edges)
    conditional = [(s, t) for s, t, c in edges if c]
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    pos = {n: (x, -y) for n, (x, y) in pos.items()}
    fig, ax = plt.subplots(figsize=(max(4, len(g) * 1.2), max(3, len(set(rows.values())) * 1.1)))
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="#e8e4ff", edgecolors="#5b4bd1", node_size=2200)
    nx.draw_networkx_labels(g, pos, {n: _label(n) for n in g.nodes}, ax=ax, font_size=9)
    plain = [e for e in g.edges if e not in conditional]
    nx.draw_networkx_edges(g, pos, edgelist=plain, ax=ax, arrows=True, node_size=2200, arrowsize=15)
    nx.draw_networkx_edges(g, pos, edgelist=conditional, ax=ax, arrows=True, node_size=2200, arrowsize=15,
                           style="dashed", connectionstyle="arc3,rad=0.25")
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def to_svg(method: Method[Any]) -> str:
    """An SVG of a system's graph (see `svg`)."""
    return svg(*structure(method))


_ROW, _BOX_H, _GAP, _CHAR, _PAD = 70, 32, 64, 7.4, 22


def svg(nodes: list[str], edges: list[Edge]) -> str:
    """A self-contained SVG of a graph, rows by `layers`: each node a `<g class="node" data-node=NAME>`
    (START/END as small ovals), plain edges solid, conditional edges dashed, edges that go back up
    (loops) curved to the right."""
    rows = layers(nodes, edges)
    by_row: dict[int, list[str]] = {}
    for n in nodes:
        by_row.setdefault(rows[n], []).append(n)
    width = {n: max(60.0, len(_label(n)) * _CHAR + 2 * _PAD) for n in nodes}
    row_w = {r: sum(width[n] for n in ns) + _GAP * (len(ns) - 1) for r, ns in by_row.items()}
    total_w = max(row_w.values(), default=100) + 200
    pos: dict[str, tuple[float, float]] = {}
    for r, ns in by_row.items():
        x = (total_w - row_w[r]) / 2
        for n in ns:
            pos[n] = (x + width[n] / 2, 24 + r * _ROW + _BOX_H / 2)
            x += width[n] + _GAP
    height = 24 * 2 + max(rows.values(), default=0) * _ROW + _BOX_H
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {total_w:.0f} {height:.0f}" '
             f'width="{total_w:.0f}" height="{height:.0f}" role="img" aria-label="agent graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#667"/></marker></defs>']
    for s, t, conditional in edges:
        if s not in pos or t not in pos:
            continue
        (x1, y1), (x2, y2) = pos[s], pos[t]
        dash = ' stroke-dasharray="5 4"' if conditional else ""
        attrs = (f'class="edge" data-source="{html.escape(s)}" data-target="{html.escape(t)}" fill="none" '
                 f'stroke="#667" stroke-width="1.4"{dash} marker-end="url(#arrow)"')
        h = _BOX_H / 2
        if s == t:  # a loop on one node: an arc on its right
            xr = x1 + width[s] / 2
            d = f"M{xr - 14:.1f},{y1 - h:.1f} C{xr + 26:.1f},{y1 - h - 26:.1f} {xr + 36:.1f},{y1 + 6:.1f} {xr + 1:.1f},{y1 + 6:.1f}"
        elif rows[t] == rows[s] + 1:  # one row down
            d = f"M{x1:.1f},{y1 + h:.1f} L{x2:.1f},{y2 - h - 1:.1f}"
        elif rows[t] > rows[s]:  # skipping rows: bow out to the left, clear of the rows between
            xa, xb = x1 - width[s] / 2, x2 - width[t] / 2
            bow = min(xa, xb) - 30 - 12 * (rows[t] - rows[s])
            d = f"M{xa:.1f},{y1:.1f} C{bow:.1f},{y1:.1f} {bow:.1f},{y2:.1f} {xb - 1:.1f},{y2:.1f}"
        elif rows[t] == rows[s]:  # sideways
            sign = 1 if x2 > x1 else -1
            d = f"M{x1 + sign * width[s] / 2:.1f},{y1:.1f} L{x2 - sign * (width[t] / 2 + 1):.1f},{y2:.1f}"
        else:  # back up (a loop through several nodes): bow out to the right
            xa, xb = x1 + width[s] / 2, x2 + width[t] / 2
            bow = max(xa, xb) + 30 + 12 * (rows[s] - rows[t])
            d = f"M{xa:.1f},{y1:.1f} C{bow:.1f},{y1:.1f} {bow:.1f},{y2:.1f} {xb + 1:.1f},{y2:.1f}"
        parts.append(f'<path {attrs} d="{d}"/>')
    for n in nodes:
        x, y = pos[n]
        w, name = width[n], html.escape(n)
        terminal = n in (START, END)
        paint = 'fill="#eef0fb" stroke="#5b4bd1" stroke-width="1.3"'
        shape = (f'<ellipse {paint} cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2 - 8:.1f}" ry="{_BOX_H / 2 - 4:.1f}"/>'
                 if terminal else f'<rect {paint} x="{x - w / 2:.1f}" y="{y - _BOX_H / 2:.1f}" width="{w:.1f}" '
                                  f'height="{_BOX_H}" rx="7"/>')
        parts.append(f'<g class="node{" terminal" if terminal else ""}" data-node="{name}"><title>{name}</title>'
                     f'{shape}<text x="{x:.1f}" y="{y + 4.5:.1f}" text-anchor="middle" fill="#1b1f24" '
                     f'font-family="sans-serif" font-size="12">{html.escape(_label(n))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
