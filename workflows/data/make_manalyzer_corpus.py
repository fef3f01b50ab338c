"""Build `manalyzer_corpus/`: a SYNTHETIC six-paper fixture in the parsed-paper format Manalyzer reads.

    python workflows/data/make_manalyzer_corpus.py     # rewrites workflows/data/manalyzer_corpus/

The papers are invented for testing (no real study, site or number is meant): four trials of
no-till against conventional tillage (relevant to the fixture's topic) and two off-topic papers
(river heavy metals, urban PM2.5). Each paper is a directory in MinerU's output format
(`full.md`, `content_list.json` with text/table/image blocks and captions, `images/` crops
rendered here with matplotlib) plus `meta.json`. Beside the papers:

- `answer.json`: the gold file in the Manalyzer benchmark's format (paper id → {field, doi,
  content: rows, level_1, level_2, level_3}); level 1 = values stated in the text, level 2 =
  values in tables, level 3 = values that must be calculated (t/ha → kg/ha);
- `fields.json`: the fixture's field `tillage` (experts' field, topic, table template, key columns),
  read by the `manalyzer` dataset loader;
- `oracle.json`: for the fixture's scripted oracle only (`examples/manalyzer_fixture.py`): each
  gold row with the strings printed in the paper that prove it and where they are.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent / "manalyzer_corpus"
FIELD = "tillage"  # not one of the published splits: defined in fields.json
TOPIC = "Crop grain yield under no-till versus conventional tillage"
COLUMNS = ["Site", "Country", "Crop", "Year", "Yield no-till (kg/ha)", "SD no-till (kg/ha)",
           "Yield conventional (kg/ha)", "SD conventional (kg/ha)", "Replicates"]
MEASURED = COLUMNS[4:8]  # the values the hit rate counts (as the published gold counts measurements only)

TEMPLATE = """| Site | Country | Crop | Year | Yield no-till (kg/ha) | SD no-till (kg/ha) | Yield conventional (kg/ha) | SD conventional (kg/ha) | Replicates |
|------|---------|------|------|------|------|------|------|------|
| Example site A | Country A | wheat | 2001 | 3000 | 200 | 3100 | 210 | 4 |
| Example site B | Country B | maize | 2002 | 8000 | 500 | 8300 | 520 | 5 |"""

LONG = ("The experimental design, the management of residues and the timing of operations followed the local "
        "practice of the region, and all plots received the same fertiliser rates in every season.")


def row(site: str, country: str, crop: str, year: int, nt: float, nt_sd: float, ct: float, ct_sd: float,
        n: int) -> dict[str, object]:
    return dict(zip(COLUMNS, [site, country, crop, year, nt, nt_sd, ct, ct_sd, n], strict=True))


def fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


PAPERS = [
    {
        "id": "nt_loess_wheat", "doi": "10.0000/fixture.0001", "year": 2019,
        "title": "Long-term no-till effects on winter wheat grain yield on the Loess Plateau",
        "abstract": ("We compared no-till with conventional mouldboard tillage in a long-term field experiment with "
                     "winter wheat at Changwu on the Loess Plateau of China. Grain yield under no-till was slightly "
                     "lower than under conventional tillage in every season, and the gap narrowed over time."),
        "intro": ("Conservation tillage, and no-till in particular, is promoted on the Loess Plateau to reduce soil "
                  "erosion, but its effect on crop yield remains debated. " + LONG),
        "methods": ("The trial was established in 2009 at Changwu (Shaanxi) in a randomised complete block design "
                    "with four replicate plots per treatment; wheat was sown each September. " + LONG),
        "results_text": ("Grain yield differed between tillage systems in all three seasons reported here; the "
                         "yields and their standard deviations are given in Table 1. " + LONG),
        "table": {"caption": "Table 1. Winter wheat grain yield (kg/ha) under no-till (NT) and conventional tillage "
                             "(CT) at Changwu, mean and standard deviation of four plots.",
                  "header": ["Season", "NT yield (kg/ha)", "NT SD", "CT yield (kg/ha)", "CT SD", "Plots"],
                  "rows": [[2015, 4120, 310, 4480, 290, 4], [2016, 3870, 280, 4010, 305, 4],
                           [2017, 4350, 260, 4390, 270, 4]]},
        "gold_table": [row("Changwu", "China", "winter wheat", y, a, b, c, d, n)
                       for y, a, b, c, d, n in [(2015, 4120, 310, 4480, 290, 4), (2016, 3870, 280, 4010, 305, 4),
                                                (2017, 4350, 260, 4390, 270, 4)]],
        "gold_text": [],
    },
    {
        "id": "nt_cornbelt_maize", "doi": "10.0000/fixture.0002", "year": 2021,
        "title": "Maize yield response to no-till and chisel tillage in central Iowa",
        "abstract": ("A four-year tillage experiment near Ames, Iowa, compared no-till with conventional chisel "
                     "tillage for continuous maize. No-till reduced grain yield modestly in wet springs."),
        "intro": ("Adoption of no-till in the US Corn Belt is limited by concerns about yield penalties for maize on "
                  "poorly drained soils. " + LONG),
        "methods": ("Plots were arranged in six replicate blocks on a Clarion loam; maize was planted in early May "
                    "in 2018 and 2019. " + LONG),
        "results_text": ("In 2018, no-till maize yielded 9,870 kg/ha (SD 610) against 10,240 kg/ha (SD 580) under "
                         "chisel tillage (n = 6). In 2019, no-till yielded 10,110 kg/ha (SD 540) and chisel tillage "
                         "10,350 kg/ha (SD 600) (n = 6)."),
        "table": None,
        "gold_table": [],
        "gold_text": [row("Ames", "USA", "maize", 2018, 9870, 610, 10240, 580, 6),
                      row("Ames", "USA", "maize", 2019, 10110, 540, 10350, 600, 6)],
        "evidence_text": [["9,870", "610", "10,240", "580"], ["10,110", "540", "10,350", "600"]],
    },
    {
        "id": "nt_mediterranean_durum", "doi": "10.0000/fixture.0003", "year": 2016,
        "title": "No-till and conventional tillage for rainfed durum wheat in a semi-arid Mediterranean climate",
        "abstract": ("Durum wheat grain yield was measured under no-till and conventional tillage in a rainfed "
                     "field trial near Lleida, Spain. No-till outyielded conventional tillage in both dry seasons."),
        "intro": ("In semi-arid Mediterranean areas no-till conserves soil water, which can raise cereal yields in "
                  "dry years. " + LONG),
        "methods": ("The trial had three replicate blocks; durum wheat was sown in November of 2012 and 2013 and "
                    "harvested in June. " + LONG),
        "results_text": ("Yields were higher under no-till in both seasons (Table 1), consistent with the better "
                         "soil water storage measured under no-till. " + LONG),
        "table": {"caption": "Table 1. Durum wheat grain yield (t/ha) under no-till (NT) and conventional tillage "
                             "(CT) near Lleida; mean and SD of three blocks; harvest year given.",
                  "header": ["Harvest", "NT (t/ha)", "NT SD", "CT (t/ha)", "CT SD", "Blocks"],
                  "rows": [[2013, 2.91, 0.22, 2.64, 0.25, 3], [2014, 3.35, 0.27, 3.12, 0.24, 3]]},
        "gold_table": [row("Lleida", "Spain", "durum wheat", 2013, 2910, 220, 2640, 250, 3),
                       row("Lleida", "Spain", "durum wheat", 2014, 3350, 270, 3120, 240, 3)],
        "gold_text": [],
        "calculated": True,  # t/ha -> kg/ha: level 3
    },
    {
        "id": "nt_uppsala_barley", "doi": "10.0000/fixture.0004", "year": 2022,
        "title": "Spring barley yield after ten years of no-till and ploughing in central Sweden",
        "abstract": ("Spring barley grain yield under no-till was compared with mouldboard ploughing at Uppsala, "
                     "Sweden, over three contrasting seasons including the drought of 2018."),
        "intro": ("Reduced tillage is attractive for Nordic cereal systems, but yields on clay soils after "
                  "long-term no-till are uncertain. " + LONG),
        "methods": ("Four replicate blocks on a clay soil were managed without tillage or ploughed each autumn "
                    "since 2010. " + LONG),
        "results_text": ("In the drought year 2018 no-till yielded 3,950 kg/ha (SD 380) and ploughing 3,610 kg/ha "
                         "(SD 400) (n = 4). Yields of the two following seasons are given in Table 1."),
        "table": {"caption": "Table 1. Spring barley grain yield (kg/ha) under no-till (NT) and ploughing (PL) at "
                             "Uppsala, mean and SD of four blocks.",
                  "header": ["Year", "NT yield (kg/ha)", "NT SD", "PL yield (kg/ha)", "PL SD", "Blocks"],
                  "rows": [[2019, 5210, 420, 5630, 390, 4], [2020, 4880, 450, 5150, 410, 4]]},
        "chart": {"caption": "Figure 1. Volumetric soil water content in the topsoil under no-till and ploughing "
                             "during the 2019 growing season."},
        "gold_table": [row("Uppsala", "Sweden", "spring barley", y, a, b, c, d, n)
                       for y, a, b, c, d, n in [(2019, 5210, 420, 5630, 390, 4), (2020, 4880, 450, 5150, 410, 4)]],
        "gold_text": [row("Uppsala", "Sweden", "spring barley", 2018, 3950, 380, 3610, 400, 4)],
        "evidence_text": [["3,950", "380", "3,610", "400"]],
    },
    {
        "id": "river_metals_tigris", "doi": "10.0000/fixture.0005", "year": 2020, "off_topic": True,
        "title": "Dissolved heavy metals in the upper Tigris River downstream of a copper mine",
        "abstract": ("Water samples from three stations of the Tigris River were analysed for dissolved copper, "
                     "zinc and lead during low-flow and high-flow seasons."),
        "intro": ("Mining releases heavy metals to rivers, and field sampling across seasons is needed to judge "
                  "the risk to downstream water use. " + LONG),
        "methods": ("Samples were filtered in the field and analysed by ICP-MS at three stations in 2017 and "
                    "2018. " + LONG),
        "results_text": ("Copper concentrations exceeded the guideline value at the station closest to the mine "
                         "(Table 1). " + LONG),
        "table": {"caption": "Table 1. Dissolved metal concentrations (µg/L) at three Tigris River stations.",
                  "header": ["Station", "Cu (µg/L)", "Zn (µg/L)", "Pb (µg/L)"],
                  "rows": [["T1", 48.2, 61.5, 3.9], ["T2", 31.7, 44.0, 2.8], ["T3", 12.4, 25.3, 1.6]]},
        "gold_table": [], "gold_text": [],
    },
    {
        "id": "pm25_beijing_winter", "doi": "10.0000/fixture.0006", "year": 2018, "off_topic": True,
        "title": "Chemical composition of winter PM2.5 in urban Beijing",
        "abstract": ("Daily PM2.5 samples collected in urban Beijing over one winter were analysed for sulfate, "
                     "nitrate, ammonium, organic carbon and black carbon."),
        "intro": ("Severe winter haze in northern China is driven by secondary inorganic aerosol and by coal "
                  "combustion for heating. " + LONG),
        "methods": ("Filter samples were taken every day from December 2016 to February 2017 at an urban site "
                    "and analysed by ion chromatography. " + LONG),
        "results_text": ("Nitrate was the largest inorganic component on haze days (Table 1). " + LONG),
        "table": {"caption": "Table 1. Mean concentrations (µg/m3) of PM2.5 components in Beijing, winter 2016/17.",
                  "header": ["Component", "Clean days", "Haze days"],
                  "rows": [["Sulfate", 6.1, 21.7], ["Nitrate", 7.4, 33.9], ["Ammonium", 4.2, 17.5],
                           ["Organic carbon", 11.8, 29.6], ["Black carbon", 2.3, 6.4]]},
        "gold_table": [], "gold_text": [],
    },
]


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(fmt(c) if isinstance(c, float | int) else str(c) for c in r) + " |"
                              for r in rows])


def render_table(path: Path, header: list[str], rows: list[list[object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 0.35 * (len(rows) + 1) + 0.2))
    ax.axis("off")
    table = ax.table(cellText=[[fmt(c) if isinstance(c, float | int) else str(c) for c in r] for r in rows],
                     colLabels=header, loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def render_chart(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = list(range(1, 13))
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot(weeks, [31, 30, 29, 27, 26, 24, 23, 25, 27, 28, 29, 30], label="no-till")
    ax.plot(weeks, [29, 27, 26, 24, 22, 21, 20, 22, 24, 26, 27, 28], label="ploughing")
    ax.set_xlabel("week")
    ax.set_ylabel("soil water (vol. %)")
    ax.legend()
    fig.savefig(path, dpi=70, bbox_inches="tight")
    plt.close(fig)


def build_paper(p: dict) -> None:
    root = OUT / p["id"]
    (root / "images").mkdir(parents=True)
    sections = [("Abstract", p["abstract"]), ("1 Introduction", p["intro"]), ("2 Materials and methods", p["methods"]),
                ("3 Results", p["results_text"])]
    md = [f"# {p['title']}", "", "A. Author, B. Author", ""]
    blocks: list[dict] = [{"type": "text", "text": p["title"], "text_level": 1, "page_idx": 0},
                          {"type": "text", "text": "A. Author, B. Author", "page_idx": 0}]
    for name, text in sections:
        md += [f"## {name}", "", text, ""]
        blocks += [{"type": "text", "text": name, "text_level": 2, "page_idx": 0},
                   {"type": "text", "text": text, "page_idx": 0}]
        if name == "3 Results" and p.get("table"):
            t = p["table"]
            render_table(root / "images" / "table1.png", t["header"], t["rows"])
            md += ["![](images/table1.png)", "", t["caption"], ""]
            blocks.append({"type": "table", "img_path": "images/table1.png", "table_caption": [t["caption"]],
                           "table_body": markdown_table(t["header"], t["rows"]), "table_footnote": [],
                           "page_idx": 1})
        if name == "3 Results" and p.get("chart"):
            render_chart(root / "images" / "figure1.png")
            md += ["![](images/figure1.png)", "", p["chart"]["caption"], ""]
            blocks.append({"type": "image", "img_path": "images/figure1.png", "image_caption": [p["chart"]["caption"]],
                           "image_footnote": [], "page_idx": 1})
    discussion = ("The results agree with earlier syntheses of tillage experiments in comparable climates, "
                  "although the number of seasons is small. " + LONG)
    md += ["## 4 Discussion", "", discussion, "", "## References", "",
           "Fixture reference list: this paper is synthetic and cites no real work; it exists only to test "
           "the Manalyzer pipeline in maslab.", ""]
    blocks += [{"type": "text", "text": "4 Discussion", "text_level": 2, "page_idx": 1},
               {"type": "text", "text": discussion, "page_idx": 1}]
    (root / "full.md").write_text("\n".join(md), encoding="utf-8")
    (root / "content_list.json").write_text(json.dumps(blocks, indent=1, ensure_ascii=False), encoding="utf-8")
    (root / "meta.json").write_text(json.dumps({
        "id": p["id"], "title": p["title"], "doi": p["doi"], "year": p["year"], "authors": ["A. Author", "B. Author"],
        "fixture": "synthetic paper written for maslab's tests; no real study"}, indent=1), encoding="utf-8")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    answer, oracle = {}, {}
    for p in PAPERS:
        build_paper(p)
        if p.get("off_topic"):
            continue
        levels: dict[str, list[str]] = {"level_1": [], "level_2": [], "level_3": []}
        rows = []
        for r in p["gold_text"]:
            levels["level_1"] += [fmt(r[c]) for c in MEASURED]
        for r in p["gold_table"]:
            levels["level_3" if p.get("calculated") else "level_2"] += [fmt(r[c]) for c in MEASURED]
        table_rows = p["table"]["rows"] if p.get("table") else []
        for r, printed in zip(p["gold_table"], table_rows, strict=False):
            rows.append({"row": r, "source": "table", "evidence": [fmt(x) for x in printed[1:5]]})
        for r, ev in zip(p["gold_text"], p.get("evidence_text", []), strict=True):
            rows.append({"row": r, "source": "text", "evidence": ev})
        answer[p["id"]] = {"field": FIELD, "doi": p["doi"], "content": p["gold_text"] + p["gold_table"], **levels}
        oracle[p["id"]] = {"title": p["title"], "rows": rows}
    (OUT / "answer.json").write_text(json.dumps(answer, indent=1), encoding="utf-8")
    (OUT / "fields.json").write_text(json.dumps({FIELD: {
        "expert_field": "agronomy", "topic_of_interest": TOPIC, "table_template": TEMPLATE,
        "keys": ["Site", "Year"]}}, indent=1, ensure_ascii=False), encoding="utf-8")
    (OUT / "oracle.json").write_text(json.dumps({"papers": oracle}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
