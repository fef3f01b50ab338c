"""The T1 benchmark (arXiv 2505.16986): multi-domain, multi-turn travel planning with tools and a cache.

A benchmark plug-in (entry point `maslab.benchmarks: t1`): importing it registers

* the `t1` generator dataset (`dataset.load_t1`: seeded dialogues with gold code and gold caches,
  built on the travel environment of `maslab.tools.travel`),
* the `t1` scorer (`scoring.T1Scorer`: the paper's per-turn tool, parameter, execution and cache
  metrics, `metrics`),

and defines the structured answer a system hands the scorer (`answer.T1Answer`, in
`solution.metadata["t1"]`). `maslab t1 graph PLAN` (`cli`) draws a plan's tool-dependency graph.
The environment (knowledge base, tools, cache, plan runner, dialogue generator) is the tool
package `maslab.tools.travel`; the agent is the `t1_agent` system. Neither imports this package.
"""

from maslab.bench.t1 import dataset, scoring

__all__ = ["dataset", "scoring"]
