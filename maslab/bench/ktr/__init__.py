"""The Know-The-Ropes benchmarks (arXiv 2505.16979): seeded 0/1 knapsack and task-assignment instances.

A benchmark plug-in (entry point `maslab.benchmarks: ktr`): importing it registers

* the generator datasets `knapsack` (n = 3–8 items) and `assignment` (n×n, n = 6–15), each instance
  drawn from its own seed derived from (size, index, run seed) (`instances`);
* the scorers `knapsack` and `assignment` with the spec's correctness criteria (`scoring`): a
  feasible item set whose value equals the DP optimum; a permutation whose cost equals the
  optimum of `scipy.optimize.linear_sum_assignment`.

The instance generators are **[reconstructed]** (spec §3–§4: the paper publishes none). A task's
typed instance is ``metadata["instance"]`` (``{"weights", "values", "capacity"}`` or ``{"cost"}``),
which a blueprint system reads; single-agent baselines read the question, which asks for the same
JSON answer. This package never imports a system.
"""

from maslab.bench.ktr import instances, scoring

__all__ = ["instances", "scoring"]
