"""Know-The-Ropes (arXiv 2505.16979): algorithmic blueprints run by a contract-enforcing controller.

KtR turns a task into a blueprint — well-posed sub-tasks, one agent per leaf, and a protocol run by
plain code that checks a typed contract at every hand-off (the primitives are `maslab.blueprint`).
This package holds the paper's two case studies and the system for users' own blueprints:

* `ktr_knapsack` (`knapsack`): 0/1 knapsack as DP over a Pareto set — Expander → Trimmer per item,
  then the Selector (three agents; the paper's bottleneck is the Trimmer);
* `ktr_assignment` (`assignment`): n×n task assignment as the Hungarian algorithm — Row Reducer,
  Column Reducer, Cover Seeker A, Cover Seeker B, Adjuster, Assigner (six agents);
* `blueprint` (`systems.UserBlueprint`): a user's blueprint from a Python file, leaves declared in
  YAML (see examples/average_blueprint.py and examples/average_blueprint.yaml).

Where the spec follows the paper and where it reconstructs: the paper publishes the case studies,
agent counts and headline numbers, and its reviews name the bottlenecks, the algorithms mirrored
and OR-Tools as ground truth. There is no code: the agents' exact specifications, the prompts, the
instance generators and the fine-tune data are **[reconstructed]** (ours, after the spec); each
module says which parts. `maslab ktr diagnose RUN_DIR` ranks a sweep's leaves by isolated accuracy
(the design loop's bottleneck finder) and `maslab ktr finetune-data` exports oracle chat JSONL for
one leaf (`cli`).
"""

from maslab.agents.ktr import systems

__all__ = ["systems"]
