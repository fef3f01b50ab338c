"""LAD's offline perception on the real evaluation set: how many of the 100 images OCR reads text in, and how fast.

    python benchmarks/lad_perception.py [--data ../shared/data/lad] [--limit N] [--json OUT]

For every image of II-Bench.json and CII-Bench.json (`maslab.tools.perception.perceive`: RapidOCR on
onnxruntime plus OpenCV facts) it prints the OCR lines found, the seconds taken and the panel count
next to the record's `image_type` (metadata read here only to check the panel heuristic; the system
never sees it). It ends with the figures: images with OCR text (at least one line of 2+ characters),
by language; seconds per image (mean, median); and how often the panel count says "several panels"
for multi-panel comics and "one panel" for single-panel ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from maslab.tools.perception import perceive

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "lad"))
    parser.add_argument("--limit", type=int, default=None, help="first N images per language")
    parser.add_argument("--json", default=None, help="write the per-image results here")
    args = parser.parse_args()
    root = Path(args.data)
    rows = []
    for lang, name in (("en", "II-Bench.json"), ("zh", "CII-Bench.json")):
        records = json.loads((root / name).read_text(encoding="utf-8"))[: args.limit]
        for record in records:
            path = root / record["local_path"]
            start = time.perf_counter()
            report = perceive(path)
            seconds = time.perf_counter() - start
            kind = str(record["meta_data"].get("image_type", ""))
            text = [line.text for line in report.lines if len(line.text) >= 2]
            rows.append({"image": record["local_path"], "lang": lang, "seconds": round(seconds, 2),
                         "ocr_lines": text, "panels": report.facts.panels, "image_type": kind})
            print(f"{record['local_path']:28s} {seconds:5.1f}s panels={report.facts.panels} "
                  f"lines={len(text):2d} {' | '.join(text)[:90]}", flush=True)
    with_text = [r for r in rows if r["ocr_lines"]]
    print()
    print(f"images with OCR text: {len(with_text)}/{len(rows)} "
          f"(en {sum(r['lang'] == 'en' for r in with_text)}, zh {sum(r['lang'] == 'zh' for r in with_text)})")
    secs = [r["seconds"] for r in rows]
    print(f"seconds per image: mean {statistics.mean(secs):.2f}, median {statistics.median(secs):.2f}")
    multi = [r for r in rows if "Multi-panel" in r["image_type"]]
    single = [r for r in rows if "Single-panel" in r["image_type"]]
    print(f"panel heuristic: multi-panel comics read as several panels {sum(r['panels'] > 1 for r in multi)}/"
          f"{len(multi)}; single-panel comics as one {sum(r['panels'] == 1 for r in single)}/{len(single)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
