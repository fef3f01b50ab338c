"""LAD's offline perception on the real evaluation set: how many of the 100 images OCR reads text in, and how fast.

    python benchmarks/lad_perception.py [--data ../shared/data/lad] [--limit N] [--json OUT]

For every image of II-Bench.json and CII-Bench.json (`maslab.tools.perception.perceive`: RapidOCR on
onnxruntime plus OpenCV facts) it prints the OCR lines found, the seconds taken and the panel count
next to the record's `image_type` (metadata read here only to check the panel heuristic; the system
never sees it). It ends with the figures: images with OCR text (at least one text line: two or more
letters, digits or CJK characters), by language, and how many only the enlarged second pass read; the
same figure corrected by an audit **judged by eye** on the 100 images (`AUDIT`, for
rapidocr-onnxruntime 1.4.4: which counted reads are marks that are not text, which images hold text that
no pass reads); seconds per image (mean, median); and how often the panel count says "several panels" for
multi-panel comics and "one panel" for single-panel ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from maslab.tools.perception import perceive

REPO = Path(__file__).resolve().parents[1]

# A human judgement, made by looking at the images and at what rapidocr-onnxruntime 1.4.4 read in them.
# "misread": counted as OCR text by the rule, but what was read is not text. "unread": the image holds text
# that neither pass reads. Every other counted image was checked to hold the text it read (signatures and
# watermarks often garbled); every other uncounted image holds no legible text.
AUDIT = {
    "image/II-Bench/dev-14.jpg": ("misread", "pen hatching on a cup read as '1/111'"),
    "image/II-Bench/dev-30.jpg": ("misread", "the rings of a pair of scissors read as 'QO'"),
    "image/II-Bench/dev-28.jpg": ("unread", "a small cursive signature"),
    "image/II-Bench/dev-34.jpg": ("unread", "PENNYWISE in flame-shaped display lettering"),
    "image/II-Bench/dev-35.jpg": ("unread", "SAURON in spiked display lettering"),
    "image/CII-Bench/dev-8.jpg": ("unread", "'Δ%' on a chart (the dashes beside it read as '...!')"),
    "image/CII-Bench/dev-15.jpg": ("unread", "a vertical cursive signature"),
    "image/CII-Bench/dev-28.jpg": ("unread", "panel numbers 1-4 and a small signature"),
    "image/CII-Bench/test-13.jpg": ("unread", "禁 止 色 禽: read, but as four one-glyph lines, so no text line"),
}


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
            text = [line.text for line in report.lines if line.is_text]
            enlarged = [line.text for line in report.lines if line.enlarged]
            rows.append({"image": record["local_path"], "lang": lang, "seconds": round(seconds, 2),
                         "ocr_lines": text, "enlarged_lines": enlarged, "panels": report.facts.panels,
                         "image_type": kind})
            print(f"{record['local_path']:28s} {seconds:5.1f}s panels={report.facts.panels} "
                  f"lines={len(text):2d} {' | '.join(text)[:90]}", flush=True)
    with_text = [r for r in rows if r["ocr_lines"]]
    print()
    print(f"images with OCR text: {len(with_text)}/{len(rows)} "
          f"(en {sum(r['lang'] == 'en' for r in with_text)}, zh {sum(r['lang'] == 'zh' for r in with_text)})")
    from_enlarged = [r for r in with_text if r["enlarged_lines"]]  # the second pass runs only where the first read none
    print(f"  of which only from the enlarged second pass: {len(from_enlarged)} "
          f"({', '.join(r['image'] for r in from_enlarged)})")
    counted = {r["image"] for r in with_text}
    misread = [i for i, (kind, _) in AUDIT.items() if kind == "misread" and i in counted]
    unread = [i for i, (kind, _) in AUDIT.items() if kind == "unread" and i not in counted]
    if len(rows) == 100:
        print(f"audit (judged by eye, rapidocr-onnxruntime 1.4.4): {len(counted) - len(misread)}/100 images with real "
              f"text read ({len(misread)} counted reads are not text: "
              f"{'; '.join(AUDIT[i][1] for i in misread)}); text left unread in {len(unread)}: "
              f"{'; '.join(AUDIT[i][1] for i in unread)}; no legible text in "
              f"{100 - len(counted) - len(unread)}")
        stale = [i for i, (kind, _) in AUDIT.items() if (kind == "misread") != (i in counted)]
        if stale:
            print(f"  the audit no longer matches these images (another OCR version?): {', '.join(stale)}")
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
