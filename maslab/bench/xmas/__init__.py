"""X-MAS-Bench (arXiv 2505.16997): score any model alias on the five MAS functions, per domain.

A benchmark plug-in (entry points `maslab.benchmarks: xmas`, `maslab.methods: xmas_bench`,
`maslab.commands: xmas`). Importing it registers

* the loaders of the published formats of X-MAS's other sets (`loaders`: MATH-500, AIME, GPQA
  with its seeded option shuffle, SciBench, MedQA, MedMCQA, PubMedQA, FinQA, MMLU, MMLU-Pro),
  beside maslab's GSM8K, AQuA, arithmetic and HumanEval, each task carrying its domain (`domains`);
* the scorer `xmas` (`scoring`: judge extract + compare 0/1/2 at temperature 0, code executed in
  the sandbox, the evaluation-function rule);
* the system `xmas_bench` (`harness`): the function harnesses, changing only the examined alias
  and holding every other input fixed, made once and stored content-addressed (`fixed`).

A bench is an ordinary sweep — methods: the harness once per function; assignments: one per
examined alias; datasets: the domains' sets, scorer `xmas` — so resume, progress, the store and
reports apply (`workflows/xmas_bench.yaml`). `maslab xmas table RUN_DIR` (`cli`, `table`) turns
its store into score[function][domain][alias]; X-MAS-Design (`maslab.routers.xmas`) turns that
table into per-role assignments.
"""

from maslab.bench.xmas import harness, loaders, scoring

__all__ = ["harness", "loaders", "scoring"]
