"""The Manalyzer benchmark (arXiv 2505.20310, spec §3): extraction from papers, scored by hit rate.

A benchmark plug-in (entry point `maslab.benchmarks: manalyzer`): importing it registers

* the `manalyzer` file dataset (`dataset.load_manalyzer`: the gold file `answer.json` and each
  paper's content — parsed-paper directories, or the published benchmark's items exported as JSON
  lines), one task per paper;
* the `manalyzer` scorer (`scoring.ManalyzerScorer`: the reference's lenient substring hit rate
  per level, and a cell-aligned variant, `metrics`).

`maslab manalyzer hitrate RUN_DIR` (`cli`) sums a sweep's counts per field × level. The system
is `manalyzer` (`maslab.agents.manalyzer`), which hands the scorer its per-paper extractions in
`solution.metadata["manalyzer"]`; neither imports the other. The shipped fixture
(`workflows/data/manalyzer_corpus/`, synthetic) is in this format.
"""

from maslab.bench.manalyzer import dataset, scoring

__all__ = ["dataset", "scoring"]
