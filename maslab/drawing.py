"""Drawing a system's graph: Mermaid text and an offline PNG (networkx + matplotlib, no Mermaid service).

Above `method` in the layers: it draws what a `Method` compiles, without a pool or a task.
"""

from __future__ import annotations

from typing import Any

from maslab.graph import END, START
from maslab.method import Method


def to_mermaid(method: Method[Any]) -> str:
    """Mermaid text of a system's graph (compiled without a pool; no run needed)."""
    return method.compiled().get_graph().draw_mermaid()


def draw_png(method: Method[Any], path: str) -> None:
    """Draw a system's graph to a PNG with networkx + matplotlib (offline; no Mermaid service)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    drawable = method.compiled().get_graph()
    g = nx.DiGraph()
    for node_id in drawable.nodes:
        g.add_node(node_id)
    conditional = []
    for edge in drawable.edges:
        g.add_edge(edge.source, edge.target)
        if edge.conditional:
            conditional.append((edge.source, edge.target))
    try:
        layers = {n: i for i, layer in enumerate(nx.topological_generations(g)) for n in layer}
    except nx.NetworkXUnfeasible:
        layers = {n: d for n, d in nx.single_source_shortest_path_length(g, START).items()}
    for n in g.nodes:
        g.nodes[n]["layer"] = layers.get(n, 0)
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    pos = {n: (x, -y) for n, (x, y) in pos.items()}
    fig, ax = plt.subplots(figsize=(max(4, len(g) * 1.2), max(3, len(set(layers.values())) * 1.1)))
    labels = {n: {START: "start", END: "end"}.get(n, n) for n in g.nodes}
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="#e8e4ff", edgecolors="#5b4bd1", node_size=2200)
    nx.draw_networkx_labels(g, pos, labels, ax=ax, font_size=9)
    plain = [e for e in g.edges if e not in conditional]
    nx.draw_networkx_edges(g, pos, edgelist=plain, ax=ax, arrows=True, node_size=2200, arrowsize=15)
    nx.draw_networkx_edges(g, pos, edgelist=conditional, ax=ax, arrows=True, node_size=2200, arrowsize=15,
                           style="dashed", connectionstyle="arc3,rad=0.25")
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
