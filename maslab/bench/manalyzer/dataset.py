"""The `manalyzer` dataset: one task per gold paper, carrying its parsed paper and its gold entry.

`load_dataset("manalyzer", path=DIR_OR_ANSWER_JSON)` (or `$MASLAB_DATA/manalyzer/answer.json`)
reads the gold file and, for each paper id in it, the paper's content from beside it:

- a parsed-paper directory `DIR/<paper_idx>/` (`full.md` + content list; maslab's fixtures), or
- the published benchmark's items (HF `CoCoOne/Manalyzer`, splits `atmosphere`, `agriculture`,
  `environment`), exported as JSON lines `DIR/<split>.jsonl`, one item per line:
  ``{"paper_idx", "text_or_caption", "table_or_image"}`` with `table_or_image` null or the path of
  the item's image relative to DIR. (The HF splits hold PIL images; save each to a file and write
  its path — e.g. ``ds = load_dataset("CoCoOne/Manalyzer", split=s)`` then, per row, ``row[
  "table_or_image"].save(f"images/{i}.png")``.) Text items become sections of the paper; image
  items become image blocks whose caption is their text.

Papers of the gold file with neither are skipped with a warning (an error when none is left).

Per field, the task carries what the system needs (``metadata["manalyzer"]``: the experts' field,
the topic, a table template, the paper) and what the scorer needs (``metadata["gold"]``,
``metadata["keys"]``, the cell-aligned key columns). The three published fields are defined here
in our own words (the reference's baseline states topic and required columns); a gold directory
may add or override fields in `fields.json` (``{field: {"expert_field", "topic_of_interest",
"table_template", "keys"}}``; the fixture corpus does). Templates' example rows are illustrative
(ours). The task's `question` is the baseline protocol's prompt (topic, required columns, the
paper's text and captions; "reply with a markdown table or None"), so a one-call system such as
`vanilla` is the benchmark's LLM baseline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from maslab.bench.datasets import register_dataset
from maslab.bench.manalyzer.metrics import GoldPaper, load_gold
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task
from maslab.tools.markdown_tables import parse_table
from maslab.tools.papers import Block, PaperRecord, ParsedPaper
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = ["FIELDS", "FieldSpec", "baseline_prompt", "load_manalyzer"]


class FieldSpec(BaseModel):
    expert_field: str
    topic_of_interest: str
    table_template: str
    keys: list[str]

    @property
    def columns(self) -> list[str]:
        return [c for c in parse_table(self.table_template).header if c]


FIELDS: dict[str, FieldSpec] = {
    "atmosphere": FieldSpec(
        expert_field="air pollutants",
        topic_of_interest=("Concentrations of sulfate, nitrate, ammonium, organic carbon (OC) and black carbon (BC) "
                           "in fine particulate matter at different locations, with the number of records behind "
                           "each value (Record Numbers)."),
        table_template=("| Location | Latitude | Longitude | Record Numbers | Sulfate | Nitrate | Ammonium | "
                        "Organic Carbon | Black Carbon |\n|---|---|---|---|---|---|---|---|---|\n"
                        "| Example city | 31.05 | 117.15 | 12 | 11.35 | 7.25 | 4.45 | 9.15 | 2.35 |"),
        keys=["Location"]),
    "agriculture": FieldSpec(
        expert_field="agriculture",
        topic_of_interest=("Crop yields in different regions under conventional tillage and under no-till: the "
                           "country and location, its latitude and longitude, the crop, and the yield in kg/ha under "
                           "each tillage system."),
        table_template=("| Country | Location | Latitude | Longitude | Crop | Yield (conv. till) kg/ha | "
                        "Yield (no-till) kg/ha |\n|---|---|---|---|---|---|---|\n"
                        "| Example country | Example station | 41.15 | -93.35 | maize | 8115 | 7985 |"),
        keys=["Location", "Crop"]),
    "environment": FieldSpec(
        expert_field="environmental pollution",
        topic_of_interest=("Contents of heavy-metal pollutants in rivers in different regions, one row per river and "
                           "metal: the river, the country or region, the metal, and its content in µg/L."),
        table_template=("| River | Location | Heavy metals | Content (µg/L) |\n|---|---|---|---|\n"
                        "| Example River | Example country | Cu | 40.15 |\n| Example River | Example country | Zn | 85.35 |"),
        keys=["River", "Heavy metals"]),
}


def baseline_prompt(spec: FieldSpec, paper: ParsedPaper) -> str:
    """The baseline protocol's request (spec §3, our wording): topic, required columns, the paper's content."""
    captions = [f"[{b.type}] {b.caption} {b.footnote}".strip() for b in paper.blocks if b.type in ("table", "image")]
    tables = [b.table_body for b in paper.blocks if b.type == "table" and b.table_body.strip()]
    content = "\n\n".join([paper.markdown, *captions, *tables])
    return (f"You are a domain expert in {spec.expert_field}, skilled at extracting and organising data. Find the "
            f"data in the input that is relevant to the topic of interest. If nothing is relevant, reply None; "
            f"otherwise reply with the relevant data as a markdown table.\n\nTopic of interest: "
            f"{spec.topic_of_interest}\nRequired data: {', '.join(spec.columns)}\n\n# Input\n{content}")


def _fields(root: Path) -> dict[str, FieldSpec]:
    fields = dict(FIELDS)
    extra = root / "fields.json"
    if extra.is_file():
        try:
            data = json.loads(extra.read_text(encoding="utf-8"))
            fields.update({k: FieldSpec.model_validate(v) for k, v in data.items()})
        except (json.JSONDecodeError, ValidationError, AttributeError) as e:
            raise ConfigError(f"{extra}: invalid field definitions: {e}") from None
    return fields


def _paper_from_items(idx: str, gold: GoldPaper, items: list[dict[str, Any]], root: Path) -> ParsedPaper:
    md = [f"# {gold.doi or idx}", ""]
    blocks: list[Block] = []
    for i, item in enumerate(items):
        text = str(item.get("text_or_caption") or "").strip()
        image = item.get("table_or_image")
        if image:
            blocks.append(Block(type="image", img_path=str(image), image_caption=[text] if text else []))
        elif text:
            md += [f"## Text {i + 1}", "", text, ""]
            blocks.append(Block(type="text", text=text))
    record = PaperRecord(id=idx, title=gold.doi or f"paper {idx}", doi=gold.doi, source="manalyzer benchmark")
    return ParsedPaper(record=record, markdown="\n".join(md), blocks=blocks, root=str(root))


def _items(root: Path) -> dict[str, list[dict[str, Any]]]:
    by_paper: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for split in sorted(root.glob("*.jsonl")):
        for lineno, obj in read_jsonl(split):
            if "paper_idx" not in obj:
                raise ConfigError(f"{split}:{lineno}: an item needs paper_idx (and text_or_caption, table_or_image)")
            by_paper[str(obj["paper_idx"])].append(obj)
    return by_paper


@register_dataset("manalyzer", files=("manalyzer/answer.json",))
def load_manalyzer(path: Path) -> list[Task]:
    """Manalyzer benchmark papers (arXiv 2505.20310), one task per gold paper, scored by `manalyzer` (hit rate)."""
    path = Path(path)
    answer = path / "answer.json" if path.is_dir() else path
    root = answer.parent
    gold = load_gold(answer)
    fields = _fields(root)
    items = _items(root)
    tasks = []
    for idx, entry in gold.items():
        spec = fields.get(entry.field)
        if spec is None:
            raise ConfigError(f"{answer}: paper {idx!r} has field {entry.field!r}, which has no definition "
                              f"(known: {', '.join(sorted(fields))}; add it to {root / 'fields.json'})")
        if (root / idx / "full.md").is_file():
            paper = ParsedPaper.load(root / idx, source="manalyzer benchmark")
        elif idx in items:
            paper = _paper_from_items(idx, entry, items[idx], root)
        else:
            log.warning("manalyzer paper without content skipped", paper=idx, root=str(root))
            continue
        tasks.append(Task(
            id=f"manalyzer-{idx}", question=baseline_prompt(spec, paper), domain=entry.field,
            metadata={"scorer": "manalyzer", "benchmark": "manalyzer", "paper_idx": idx, "field": entry.field,
                      "gold": entry.model_dump(), "keys": spec.keys,
                      "manalyzer": {"field": spec.expert_field, "topic_of_interest": spec.topic_of_interest,
                                    "table_template": spec.table_template,
                                    "papers": [paper.model_dump(mode="json")]}}))
    if not tasks:
        raise ConfigError(f"{answer}: no gold paper has content beside it (paper directories or <split>.jsonl items)")
    return tasks
