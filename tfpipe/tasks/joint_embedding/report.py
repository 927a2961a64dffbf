"""Reed et al. 2016's Table 1 from joint_embedding run directories (``python -m tfpipe.report``).

One table per dataset: a row per text encoder (the paper's order), zero-shot top-1 (the mean of
per-class accuracy, the paper's number) and Reed's "AP@50" (the precision of the top 50 images
of each class query) for DA-SJE and DS-SJE, the true AP@50 beside it, the training time of each
run (selection + final model); then the chance row, then the paper's CUB numbers (200 classes,
ten sentences per image, GoogLeNet features) for orientation only.  Below each table: the
targets (DS-SJE above DA-SJE at AP@50 for the CNN-based encoders; the best text encoder at least
2x chance top-1; attributes beside the best text encoder on CUB) as measured, and the Figure 4
analog (top-1 against the number of texts per class) of the dataset's best DS-SJE run.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from tfpipe.training import runs

ORDER = ("attributes", "word2vec", "bow", "char_cnn", "char_lstm", "char_cnn_rnn", "word_cnn", "word_lstm",
         "word_cnn_rnn")
NAMES = {"attributes": "Attributes", "word2vec": "word2vec", "bow": "Bag-of-words", "char_cnn": "Char CNN",
         "char_lstm": "Char LSTM", "char_cnn_rnn": "Char CNN-RNN", "word_cnn": "Word CNN", "word_lstm": "Word LSTM",
         "word_cnn_rnn": "Word CNN-RNN"}
CNN_BASED = ("char_cnn", "char_cnn_rnn", "word_cnn", "word_cnn_rnn")
# The paper's Table 1 (CUB, 50 unseen test classes): top-1 % DA, DS; AP@50 % DA, DS.
PAPER_CUB = {
    "attributes": (50.9, 50.4, 20.4, 50.0), "word2vec": (38.7, 38.6, 7.5, 33.5), "bow": (43.4, 44.1, 24.6, 39.6),
    "char_cnn": (47.2, 48.2, 2.9, 42.7), "char_lstm": (22.6, 21.6, 11.6, 22.3), "char_cnn_rnn": (54.0, 54.0, 6.9, 45.6),
    "word_cnn": (50.5, 51.0, 3.4, 43.3), "word_lstm": (52.2, 53.0, 36.8, 46.8), "word_cnn_rnn": (54.3, 56.8, 4.8, 48.7),
}


def is_joint_embedding_run(run_dir: str) -> bool:
    return runs.saved_config_or_empty(run_dir).get("task") == "joint_embedding"


def collect(run_dirs: Iterable[str], *, split: str = "test") -> list[dict[str, Any]]:
    """One record per evaluated top-level joint_embedding run (not the ``final/`` sub-runs):
    ``dataset``, ``encoder``, ``embedding``, ``variant`` (``raw`` for ``image_norm: none``),
    ``results``, ``training_time_s``, ``run_dir``."""
    rows = []
    for run_dir in run_dirs:
        cfg = runs.saved_config_or_empty(run_dir)
        if cfg.get("task") != "joint_embedding" or os.path.basename(os.path.normpath(run_dir)) == "final":
            continue
        results = runs.read_json_or_none(os.path.join(run_dir, "results.json" if split == "test" else f"results_{split}.json"))
        if not results or "metrics" not in results:
            continue
        model = cfg.get("model") or {}
        rows.append({"dataset": results.get("dataset"), "encoder": results.get("encoder"),
                     "embedding": results.get("embedding"), "loss_form": results.get("loss_form"),
                     "variant": "raw" if model.get("image_norm", "none") == "none" else "",
                     "results": results, "training_time_s": results.get("training_time_s"), "run_dir": run_dir})
    return rows


def _ap_key(metrics: dict[str, Any], prefix: str) -> str | None:
    return next((k for k in metrics if k.startswith(prefix)), None)


def _pct(value: Any) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def tables(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{dataset: {"rows": [...], "chance": {...}, "targets": {...}, "figure4": {...}}}``."""
    out: dict[str, Any] = {}
    for dataset in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == dataset]
        lines = []
        for enc in ORDER:
            for variant in ("", "raw"):
                cell: dict[str, Any] = {"encoder": enc, "variant": variant}
                for r in mine:
                    if r["encoder"] == enc and r["variant"] == variant and r["loss_form"] == "code":
                        m = r["results"]["metrics"]
                        cell[r["embedding"]] = {
                            "top1": m["top1_per_class"], "top1_images": m["top1"],
                            "reed_ap50": m[_ap_key(m, "precision_at_")], "ap50": m[_ap_key(m, "ap_at_")],
                            "training_time_s": r["training_time_s"], "run_dir": r["run_dir"],
                            "classes": r["results"]["classes"], "images": r["results"]["images"]}
                if "ds" in cell or "da" in cell:
                    lines.append(cell)
        any_run = mine[0]["results"]
        chance = any_run["chance"]
        table = {"rows": lines, "chance": {"top1": chance["top1_per_class"],
                                           "reed_ap50": chance[_ap_key(chance, "precision_at_")],
                                           "ap50": chance[_ap_key(chance, "ap_at_")]},
                 "classes": any_run["classes"], "images": any_run["images"]}
        table["targets"] = targets(lines, table["chance"])
        best = max((c for c in lines if "ds" in c and c["encoder"] != "attributes" and not c["variant"]),
                   key=lambda c: c["ds"]["top1"], default=None)
        if best is not None:
            res = runs.read_json_or_none(os.path.join(best["ds"]["run_dir"], "results.json")) or {}
            table["figure4"] = {"encoder": best["encoder"], "rows": res.get("figure4", [])}
        out[dataset] = table
    return out


def targets(lines: Sequence[dict[str, Any]], chance: dict[str, float]) -> dict[str, Any]:
    """The issue's targets as measured (None where a run is missing)."""
    ds_over_da = {}
    for c in lines:
        if c["encoder"] in CNN_BASED and not c["variant"] and "ds" in c and "da" in c:
            ds_over_da[c["encoder"]] = c["ds"]["reed_ap50"] > c["da"]["reed_ap50"]
    text = [c for c in lines if c["encoder"] != "attributes" and not c["variant"]]
    best = max(((max(c.get(e, {}).get("top1", -1) for e in ("ds", "da")), c["encoder"]) for c in text), default=None)
    attributes = next((c for c in lines if c["encoder"] == "attributes"), None)
    return {
        "ds_above_da_at_ap50": ds_over_da,
        "best_text_encoder": None if best is None else {"encoder": best[1], "top1": best[0],
                                                         "x_chance": best[0] / chance["top1"],
                                                         "at_least_2x": best[0] >= 2 * chance["top1"]},
        "attributes_top1": None if attributes is None else max(attributes.get(e, {}).get("top1", -1) for e in ("ds", "da")),
    }


def _time(cell: dict[str, Any], e: str) -> str:
    t = cell.get(e, {}).get("training_time_s")
    return "" if t is None else f"{t:.0f} s"


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    out = []
    for dataset, t in tables(rows).items():
        out += [f"### Zero-shot from descriptions on {dataset} ({t['classes']} unseen test classes, {t['images']} images)",
                "", "| Text encoder | Top-1 DA | Top-1 DS | AP@50 DA | AP@50 DS | true AP@50 DA | true AP@50 DS | "
                "training DA | training DS | paper CUB (top-1 DA / DS, AP@50 DA / DS) |", "|" + "---|" * 10]
        for c in t["rows"]:
            name = NAMES[c["encoder"]] + (" (raw v)" if c["variant"] else "")
            paper = PAPER_CUB.get(c["encoder"]) if not c["variant"] else None
            vals = [_pct(c.get(e, {}).get(k)) for k in ("top1", "reed_ap50", "ap50") for e in ("da", "ds")]
            out.append("| " + " | ".join([name, *vals, _time(c, "da"), _time(c, "ds"),
                                          "" if paper is None else f"{paper[0]} / {paper[1]}, {paper[2]} / {paper[3]}"])
                       + " |")
        ch = t["chance"]
        out.append("| " + " | ".join(["Chance", _pct(ch["top1"]), _pct(ch["top1"]), _pct(ch["reed_ap50"]),
                                      _pct(ch["reed_ap50"]), _pct(ch["ap50"]), _pct(ch["ap50"]), "", "", "2.0 (50 classes)"])
                   + " |")
        tg = t["targets"]
        out += ["", "Targets as measured:"]
        if tg["ds_above_da_at_ap50"]:
            out.append("- DS-SJE above DA-SJE at AP@50 (CNN-based encoders): " + ", ".join(
                f"{NAMES[e]} {'yes' if v else 'no'}" for e, v in tg["ds_above_da_at_ap50"].items()))
        if tg["best_text_encoder"]:
            b = tg["best_text_encoder"]
            out.append(f"- best text encoder: {NAMES[b['encoder']]}, top-1 {_pct(b['top1'])} % = {b['x_chance']:.2f}x "
                       f"chance ({'met' if b['at_least_2x'] else 'not met'}: 2x)")
        if tg["attributes_top1"] is not None:
            out.append(f"- attributes: top-1 {_pct(tg['attributes_top1'])} %")
        if t.get("figure4", {}).get("rows"):
            f4 = t["figure4"]
            out += ["", f"Figure 4 analog ({NAMES[f4['encoder']]}, DS-SJE): top-1 (per class) against the texts "
                        "averaged into each class embedding", "",
                    "| texts | " + " | ".join(str(r["texts"]) for r in f4["rows"]) + " |",
                    "|---|" + "---|" * len(f4["rows"]),
                    "| top-1 | " + " | ".join(_pct(r["top1_per_class"]) for r in f4["rows"]) + " |",
                    "| classes with that many | " + " | ".join(str(r["classes_with_at_least"]) for r in f4["rows"]) + " |"]
        out.append("")
    return "\n".join(out)


def to_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"tables": tables(rows), "paper_cub": {k: dict(zip(("top1_da", "top1_ds", "ap50_da", "ap50_ds"), v))
                                                  for k, v in PAPER_CUB.items()}}
