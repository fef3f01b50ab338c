"""The LAD evaluation set (arXiv 2505.17019) as a benchmark plug-in (entry point `maslab.benchmarks: lad`).

Importing it registers

* the datasets `lad_mcq` and `lad_osq` (`dataset`): the 100 images of II-Bench (English) and CII-Bench
  (Chinese), one 6-option multiple-choice question each, or the fixed open question "What is the
  implication in this image?" — tasks carry the question, the options and the image path, and a
  pointer (file, item id) instead of the open-answer reference;
* the scorers `lad_mcq` (the `<answer>` letter, else the last standalone letter; accuracy) and
  `lad_osq` (the judge rubric, 1–5 over five perspectives, the first integer in `[…]`) (`scoring`).

The `explanation` / `metaphorical_meaning` of an item never enters a `Task`: the OSQ scorer re-reads it
from the data file by item id. The system is `lad` (`maslab.agents.lad`); neither imports the other.
"""

from maslab.bench.lad import dataset, scoring

__all__ = ["dataset", "scoring"]
