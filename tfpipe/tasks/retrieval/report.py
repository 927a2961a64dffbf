"""You et al. 2018's result tables from retrieval run directories (``python -m tfpipe.report``).

Per dataset: a row per run (CSE, its ablations and the VSE-style baseline), sentence retrieval
(an image queries the captions) and image retrieval (a caption queries the images) as R@1/5/10
and median rank, the Sum of the six R@K and the training time; the chance row; the paper's
Flickr30K rows (Tables 2-3) for orientation only.  Then the Table 4 analog (fusion at test time
of the CSE run), the cross-dataset Table 5 analog (every ``model.cross_test`` set), and the
issue's targets as measured: CSE above the VSE-style baseline in Sum, the intermediate loss not
worse than its ablation in Sum, the cross-dataset Sum.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from tfpipe.training import runs

# Flickr30K 1K test (Tables 2-3): sentence R@1, R@5, R@10, median; image R@1, R@5, R@10, median; Sum.
PAPER_FLICKR30K = {
    "CSE": (44.6, 74.3, 83.8, 2, 36.9, 69.1, 79.6, 2, 388.4),
    "CSE w/o intermediate loss": (43.2, 73.6, None, None, 35.7, 68.2, None, None, None),
}
# Table 4 (Flickr30K): sentence R@1, R@5; image R@1, R@5.
PAPER_FUSION = {"global": (44.6, 74.3, 36.9, 69.1), "context": (36.9, 70.7, 26.6, 57.5),
                "early": (44.7, 74.4, 37.1, 69.2), "late": (44.7, 74.4, 37.1, 69.2), "best": (54.1, 81.1, 43.5, 73.6)}
# Table 5, trained on Flickr30K, tested on MS-COCO: sentence R@1/5/10, image R@1/5/10.
PAPER_CROSS = (24.6, 49.2, 62.5, 19.1, 44.4, 58.6)
FROZEN = ", frozen visual model"
ROW_ORDER = ("VSE-style baseline", "CSE", "CSE w/o intermediate loss", "CSE, VSE++ hardest negatives",
             "VSE-style baseline" + FROZEN, "CSE" + FROZEN, "CSE, w/o intermediate loss" + FROZEN)
FUSION_PREFERENCE = ("CSE", "CSE" + FROZEN)  # whose Table 4 analog is shown
FUSION_NAMES = {"global": "CSE (global v, s)", "context": "Context", "early": "Early fusion",
                "late": "Late fusion", "best": "Best (oracle)"}


def is_retrieval_run(run_dir: str) -> bool:
    return runs.saved_config_or_empty(run_dir).get("task") == "retrieval"


def label(cfg: dict[str, Any]) -> str:
    """The table's name for a run's config: the model, then what it changes from CSE."""
    model = cfg.get("model") or {}
    if model.get("name") == "vse":
        return "VSE-style baseline" + (FROZEN if model.get("visual", "top") == "frozen" else "")
    parts = []
    if not model.get("intermediate", True):
        parts.append("w/o intermediate loss")
    if model.get("negatives", "sum") == "hardest":
        parts.append("VSE++ hardest negatives")
    if model.get("visual", "top") == "frozen":
        parts.append("frozen visual model")
    if parts == ["w/o intermediate loss"]:
        return "CSE w/o intermediate loss"
    return "CSE" + "".join(f", {p}" for p in parts)


def collect(run_dirs: Iterable[str], *, split: str = "test") -> list[dict[str, Any]]:
    """One record per evaluated retrieval run: ``label``, ``dataset``, ``results``,
    ``training_time_s``, ``run_dir``."""
    rows = []
    for run_dir in run_dirs:
        cfg = runs.saved_config_or_empty(run_dir)
        if cfg.get("task") != "retrieval":
            continue
        results = runs.read_json_or_none(os.path.join(run_dir, "results.json" if split == "test" else f"results_{split}.json"))
        if not results or "global" not in results:
            continue
        rows.append({"label": label(cfg), "dataset": results.get("dataset"), "results": results,
                     "training_time_s": results.get("training_time_s"), "epochs_run": results.get("epochs_run"),
                     "best_epoch": results.get("best_epoch"), "run_dir": run_dir})
    return rows


def _order(rows):
    return sorted(rows, key=lambda r: (ROW_ORDER.index(r["label"]) if r["label"] in ROW_ORDER else len(ROW_ORDER),
                                       r["label"]))


def _cells(r: dict[str, Any]) -> list[float]:
    i2t, t2i = r["image_to_text"], r["text_to_image"]
    return [100 * i2t["r1"], 100 * i2t["r5"], 100 * i2t["r10"], i2t["median_rank"],
            100 * t2i["r1"], 100 * t2i["r5"], 100 * t2i["r10"], t2i["median_rank"], r["sum_pct"]]


def _sum_targets(by: dict[str, float], suffix: str) -> dict[str, Any]:
    """The issue's two Sum comparisons between the rows named with ``suffix`` ("" or ``FROZEN``):
    CSE above the VSE-style baseline, and CSE with the intermediate loss not below CSE without it;
    ``None`` where a row is missing."""
    cse, vse = "CSE" + suffix, "VSE-style baseline" + suffix
    without = "CSE w/o intermediate loss" if not suffix else "CSE, w/o intermediate loss" + suffix
    return {
        "cse_above_vse_in_sum": None if not {cse, vse} <= set(by) else
        {"cse": by[cse], "vse": by[vse], "met": by[cse] > by[vse]},
        "intermediate_not_worse_in_sum": None if not {cse, without} <= set(by) else
        {"with": by[cse], "without": by[without], "met": by[cse] >= by[without]},
    }


def tables(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{dataset: {"rows", "chance", "fusion", "fusion_run", "cross", "targets", "images", "captions"}}``
    (``fusion``: the Table 4 rows of ``fusion_run``: the CSE run, else the frozen-visual CSE run, else
    the first other run with contexts)."""
    out: dict[str, Any] = {}
    for dataset in sorted({r["dataset"] for r in rows}):
        mine = _order([r for r in rows if r["dataset"] == dataset])
        lines = [{"label": r["label"], "cells": _cells(r["results"]["global"]), "training_time_s": r["training_time_s"],
                  "epochs_run": r["epochs_run"], "best_epoch": r["best_epoch"], "run_dir": r["run_dir"]} for r in mine]
        # the Table 4 analog of the CSE run, else of the frozen-visual CSE run, else of the first other with contexts
        with_contexts = sorted((r for r in mine if "fusion" in r["results"]),
                               key=lambda r: FUSION_PREFERENCE.index(r["label"]) if r["label"] in FUSION_PREFERENCE
                               else len(FUSION_PREFERENCE))
        cse = with_contexts[0] if with_contexts else None
        fusion = None if cse is None else {name: _cells(row) for name, row in cse["results"]["fusion"]["rows"].items()}
        cross: dict[str, Any] = {}
        for r in mine:
            for name, c in (r["results"].get("cross_test") or {}).items():
                cross.setdefault(name, {"images": c["images"], "captions": c["captions"],
                                        "chance": _cells(c["chance"]), "rows": []})
                cross[name]["rows"].append({"label": r["label"], "cells": _cells(c["global"])})
        by = {line["label"]: line["cells"][-1] for line in lines}
        targets = {
            **_sum_targets(by, ""),
            "cross_dataset_sum": {name: {row["label"]: row["cells"][-1] for row in c["rows"]} for name, c in cross.items()},
            # the same two comparisons between the runs whose visual model stayed frozen
            "frozen_visual": _sum_targets(by, FROZEN),
        }
        first = mine[0]["results"]
        out[dataset] = {"rows": lines, "chance": _cells(first["chance"]), "fusion": fusion,
                        "fusion_run": None if cse is None else cse["label"], "cross": cross,
                        "targets": targets, "images": first["images"], "captions": first["captions"]}
    return out


def _fmt(values: Sequence[Any]) -> list[str]:
    out = []
    for k, v in enumerate(values):
        if v is None:
            out.append("")
        elif k in (3, 7):  # median ranks
            out.append(f"{v:g}")
        else:
            out.append(f"{v:.1f}")
    return out


def _time(line: dict[str, Any]) -> str:
    t = line.get("training_time_s")
    if t is None:
        return ""
    epochs = "" if line.get("epochs_run") is None else f", {line['epochs_run']} epochs (best {line['best_epoch'] + 1})" \
        if line.get("best_epoch") is not None else f", {line['epochs_run']} epochs"
    return f"{t:.0f} s{epochs}"


HEAD = ("| Model | sentence R@1 | R@5 | R@10 | med r | image R@1 | R@5 | R@10 | med r | Sum | training |",
        "|" + "---|" * 11)


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    out = []
    for dataset, t in tables(rows).items():
        out += [f"### Image-sentence retrieval on {dataset} ({t['images']} test images, {t['captions']} captions)", "",
                *HEAD]
        for line in t["rows"]:
            out.append("| " + " | ".join([line["label"], *_fmt(line["cells"]), _time(line)]) + " |")
        out.append("| " + " | ".join(["Chance", *_fmt(t["chance"]), ""]) + " |")
        for name, paper in PAPER_FLICKR30K.items():
            out.append("| " + " | ".join([f"paper, Flickr30K 1K test: {name}", *_fmt(paper), ""]) + " |")
        if t["fusion"]:
            out += ["", f"Table 4 analog (the {t['fusion_run']} run at test time; the paper's Flickr30K R@1 / R@5 beside):", "",
                    "| | sentence R@1 | R@5 | image R@1 | R@5 | Sum | paper sentence R@1 / R@5 | paper image R@1 / R@5 |",
                    "|" + "---|" * 8]
            for name, cells in t["fusion"].items():
                p = PAPER_FUSION.get(name)
                out.append("| " + " | ".join([FUSION_NAMES.get(name, name),
                                              *(f"{cells[i]:.1f}" for i in (0, 1, 4, 5)),
                                              f"{cells[8]:.1f}", "" if p is None else f"{p[0]} / {p[1]}",
                                              "" if p is None else f"{p[2]} / {p[3]}"]) + " |")
        for name, c in t["cross"].items():
            out += ["", f"Cross-dataset (trained on {dataset}, tested on {name}: {c['images']} images, "
                        f"{c['captions']} captions; the paper's Flickr30K -> MS-COCO CSE row beside):", "", *HEAD]
            for line in c["rows"]:
                out.append("| " + " | ".join([line["label"], *_fmt(line["cells"]), ""]) + " |")
            out.append("| " + " | ".join(["Chance", *_fmt(c["chance"]), ""]) + " |")
            p = PAPER_CROSS
            out.append("| " + " | ".join(["paper, Flickr30K -> MS-COCO: CSE", *_fmt([p[0], p[1], p[2], None, p[3], p[4],
                                                                                    p[5], None, sum(p)]), ""]) + " |")
        tg = t["targets"]
        out += ["", "Targets as measured:"]
        for group, where in ((tg, ""), (tg.get("frozen_visual") or {}, " (both with the visual model frozen)")):
            if group.get("cse_above_vse_in_sum"):
                g = group["cse_above_vse_in_sum"]
                out.append(f"- CSE above the VSE-style baseline in Sum{where}: {g['cse']:.1f} against {g['vse']:.1f} "
                           f"({'met' if g['met'] else 'not met'})")
            if group.get("intermediate_not_worse_in_sum"):
                g = group["intermediate_not_worse_in_sum"]
                out.append(f"- the intermediate loss not worse than its ablation in Sum{where}: {g['with']:.1f} "
                           f"against {g['without']:.1f} ({'met' if g['met'] else 'not met'})")
        for name, sums in tg["cross_dataset_sum"].items():
            out.append(f"- cross-dataset Sum on {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in sums.items()))
        out.append("")
    return "\n".join(out)


def to_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"tables": tables(rows), "paper_flickr30k": PAPER_FLICKR30K, "paper_fusion": PAPER_FUSION,
            "paper_cross_flickr30k_to_coco": PAPER_CROSS}
