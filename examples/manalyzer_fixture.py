"""Manalyzer end to end on the SYNTHETIC fixture corpus, with a scripted ORACLE standing in for every LLM.

    python examples/manalyzer_fixture.py                 # writes runs/manalyzer-fixture/<time>-<task>/

No model is called. Every agent's reply comes from `FixtureOracle`, a stand-in written for the
fixture: it reads the fixture's gold rows (`workflows/data/manalyzer_corpus/oracle.json`) and
answers each role the way a perfect model would (keywords; review scores from whether a paper is
about tillage; part scores and tables from the gold rows whose printed values appear in the parts
it is shown; accepting checks; numbers as floats; a small analysis script; a discussion that
quotes the computed statistics). Its alias is `fixture-oracle`, which the report's model list and
the trace show. Everything else — retrieval, screening, the extraction loop, merging, the
statistics, the forest plot, the sandboxed analyst code, the report — is the real pipeline.

With a real model, run the workflow instead (see README, "Manalyzer").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "workflows" / "data" / "manalyzer_corpus"
TOPIC = json.loads((CORPUS / "fields.json").read_text())["tillage"]["topic_of_interest"]
ALIAS = "fixture-oracle"
COLUMNS = ["Site", "Country", "Crop", "Year", "Yield no-till (kg/ha)", "SD no-till (kg/ha)",
           "Yield conventional (kg/ha)", "SD conventional (kg/ha)", "Replicates"]
EFFECT = {"measure": "hedges_g", "name": "no-till vs conventional tillage", "labels": ["Site", "Year"],
          "columns": {"m1": "Yield no-till (kg/ha)", "s1": "SD no-till (kg/ha)", "n1": "Replicates",
                      "m2": "Yield conventional (kg/ha)", "s2": "SD conventional (kg/ha)", "n2": "Replicates"}}
KEYWORDS = [["no-till", "conservation tillage", "direct drilling"], ["grain yield", "wheat", "maize", "barley"],
            ["field experiment", "seasonal variation", "China"]]
ANALYSIS_CODE = '''```python
def clustering(data):
    X = StandardScaler().fit_transform(data.select_dtypes("number"))
    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(X)
    plt.scatter(data["Yield conventional (kg/ha)"], data["Yield no-till (kg/ha)"], c=labels)
    plt.title("k-means clusters of the trials:\\nno-till against conventional yield (kg/ha)")
    return

def classification(data):
    y = (data["Yield no-till (kg/ha)"] > data["Yield conventional (kg/ha)"]).astype(int)
    X = data[["Year", "Yield conventional (kg/ha)"]]
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    plt.bar(["correct", "wrong"], [int((model.predict(X) == y).sum()), int((model.predict(X) != y).sum())])
    plt.title("Decision tree: does no-till out-yield\\nconventional tillage? (training fit)")
    return

def regression(data):
    X = data[["Yield conventional (kg/ha)"]]
    y = data["Yield no-till (kg/ha)"]
    model = LinearRegression().fit(X, y)
    plt.scatter(X, y)
    plt.plot(X, model.predict(X), color="red")
    plt.title("No-till yield regressed on conventional yield (kg/ha)")
    return
```'''


def fmt(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


class FixtureOracle:
    """The scripted stand-in for every Manalyzer role on the fixture corpus (NOT a model)."""

    def __init__(self, corpus: Path = CORPUS) -> None:
        data = json.loads((corpus / "oracle.json").read_text())
        self.papers: dict[str, Any] = data["papers"]
        self.requests: list[Any] = []

    # -- helpers
    def _rows_shown(self, text: str) -> list[dict[str, Any]]:
        """Gold rows whose printed values all appear in `text`."""
        return [r["row"] for p in self.papers.values() for r in p["rows"] if all(e in text for e in r["evidence"])]

    @staticmethod
    def _parts(text: str) -> list[str]:
        return re.findall(r"\[Start of \w+ \d+\]\n(.*?)\n\[End of \w+ \d+\]", text, re.DOTALL)

    # -- the script
    def __call__(self, req: Any) -> str:
        self.requests.append(req)
        prompt, agent = req.prompt, req.agent
        if agent == "collector":
            return json.dumps(KEYWORDS)
        if agent == "reviewer":
            paper = prompt[prompt.index("<paper>"):]
            on_topic = "till" in paper.lower()
            return str({"Topic Relevance": 9 if on_topic else 2, "Feasibility": 8})
        if agent == "reviewer_comparative":
            papers = re.findall(r"<paper \d+>\n(.*?)</paper \d+>", prompt, re.DOTALL)
            return str([0.9 if "till" in p.lower() else 0.1 for p in papers])
        if agent == "extractor_level1":
            return str([0.9 if self._rows_shown(part) else 0.1 for part in self._parts(prompt)])
        if agent == "extractor":
            rows = self._rows_shown(prompt)
            table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
            table += ["| " + " | ".join(fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
            return "```markdown\n" + "\n".join(table) + "\n```\nSources: the values come from the parts shown."
        if agent == "checker":
            return str({"Data Accuracy": 9, "Semantic Consistency": 9, "Data Completeness": 9, "Overall Score": 9,
                        "Suggestion": "You should keep the table as it is."})
        if agent == "merger":
            numeric = re.search(r"Numeric fields: (.*)", prompt).group(1).split(", ")
            records = json.loads(re.search(r"<records>\n(.*)\n</records>", prompt, re.DOTALL).group(1))
            return json.dumps([{k: (float(v) if k in numeric and v not in ("", None) else v) for k, v in r.items()}
                               for r in records])
        if agent == "analyst":
            return ANALYSIS_CODE
        if agent == "reporter":
            stats = re.search(r"<computed_statistics>\n(.*?)\n</computed_statistics>", prompt, re.DOTALL).group(1)
            quoted = next((line for line in stats.splitlines() if line.startswith("Random effects")), stats)
            return f"(Fixture oracle text, not a model.) The computed pooled effect is: {quoted}"
        raise ValueError(f"the fixture oracle has no script for agent {agent!r}")


def template() -> str:
    return json.loads((CORPUS / "fields.json").read_text())["tillage"]["table_template"]


def params(**overrides: Any) -> dict[str, Any]:
    """The system parameters of the fixture run (as in workflows/manalyzer.yaml, on the oracle alias)."""
    return {"field": "agronomy", "topic_of_interest": TOPIC, "table_template": template(), "corpus": str(CORPUS),
            "keep_top": 4, "effect": EFFECT, "model": ALIAS, **overrides}


async def run(out: str) -> Any:
    from maslab.method import load_method
    from maslab.models import ModelPool

    method = load_method("manalyzer", **params(out_dir=out))
    return await method.solve(TOPIC, pool=ModelPool.scripted(FixtureOracle(), ALIAS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/manalyzer-fixture", help="where the run directory is created")
    args = parser.parse_args()
    solution = asyncio.run(run(args.out))
    meta = solution.metadata["manalyzer"]
    print(f"report: {Path(meta['run_dir']) / 'meta_analysis_report.md'}")
    print(f"forest plot: {Path(meta['run_dir']) / 'forest_plot.png'}")
    print(f"kept {len(meta['selected'])} of {len(meta['found'])} papers; failures: {len(meta['failures'])}")


if __name__ == "__main__":
    main()
