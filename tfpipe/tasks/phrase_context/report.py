"""The predicted-context paper's result tables from phrase_context run directories (``python -m tfpipe.report``).

Per downstream dataset (our stand-ins for WebVision):

* the Table 1 analog: a row per training fraction (the classifier's training images kept per
  class), top-1 and top-5 of text only, the visual-only baseline and the multimodal classifier,
  the multimodal gain in points, and each run's training time;
* the Table 2 analog: the multimodal top-1 with the context searched in the softmax vocabulary
  (the small output space) against the prototypes (the large one);
* the zero-shot baseline of section 4.3 (from the phrase generator run), with chance;

then the phrase generator's and the text embedding's own figures, and the issue's targets as
measured: multimodal above visual-only at the smallest fraction on every dataset, the prototype
context at least as good as the softmax-only one, zero-shot top-1 at least twice chance.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from tfpipe.training import runs

# The paper's WebVision top-1 (Table 1: ImageNet fraction -> Inception v3 baseline, multimodal;
# Table 2: small / large output space), for orientation only: other data, other fractions.
PAPER_TABLE1 = {0.1: (54.41, 63.84), 0.3: (60.09, 67.81), 0.5: (62.45, 69.41), 0.7: (65.94, 71.02),
                1.0: (72.37, 73.15)}
PAPER_TEXT_ONLY = 57.74
PAPER_TABLE2 = {0.1: (60.35, 63.84), 0.3: (63.05, 67.81), 0.5: (63.43, 69.41), 0.7: (66.22, 71.02),
                1.0: (72.90, 73.15)}
VARIANTS = ("text", "visual", "multimodal", "multimodal_softmax")


def is_phrase_context_run(run_dir: str) -> bool:
    return runs.saved_config_or_empty(run_dir).get("task") == "phrase_context"


def variant(cfg: dict[str, Any]) -> str | None:
    """A multimodal run's column: ``text``, ``visual``, ``multimodal`` or ``multimodal_softmax``."""
    model = cfg.get("model") or {}
    if model.get("name") != "multimodal":
        return None
    inputs = set(model.get("inputs") or ("visual", "context"))
    if inputs == {"visual"}:
        return "visual"
    if inputs == {"context"}:
        return "text"
    return "multimodal_softmax" if model.get("context", "prototypes") == "softmax" else "multimodal"


def collect(run_dirs: Iterable[str], *, split: str = "test") -> dict[str, Any]:
    """``{"classifiers": [...], "generators": [...], "encoders": [...]}`` of the evaluated runs."""
    out: dict[str, list] = {"classifiers": [], "generators": [], "encoders": []}
    for run_dir in run_dirs:
        cfg = runs.saved_config_or_empty(run_dir)
        if cfg.get("task") != "phrase_context":
            continue
        results = runs.read_json_or_none(os.path.join(run_dir, "results.json" if split == "test"
                                                      else f"results_{split}.json"))
        if not results:
            continue
        name = (cfg.get("model") or {}).get("name")
        base = {"run_dir": run_dir, "results": results, "training_time_s": results.get("training_time_s"),
                "epochs_run": results.get("epochs_run"), "best_epoch": results.get("best_epoch")}
        if name == "multimodal" and "top1" in results:
            out["classifiers"].append({**base, "variant": variant(cfg), "dataset": results.get("dataset"),
                                       "fraction": float(results.get("train_fraction", 1.0)),
                                       "seed": int((cfg.get("train") or {}).get("seed", 0))})
        elif name == "phrase_generator" and "phrase_ranking" in results:
            out["generators"].append(base)
        elif name == "phrase_encoder" and "pair_retrieval" in results:
            out["encoders"].append(base)
    return out


def _latest(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return max(rows, key=lambda r: os.path.getmtime(os.path.join(r["run_dir"], "results.json")), default=None)


def tables(found: dict[str, Any]) -> dict[str, Any]:
    """Per dataset: ``cells[fraction][variant] = (top1, top5, training s)``, zero-shot rows and targets."""
    datasets: dict[str, Any] = {}
    # The table's cell is the lowest seed's run; every seed's top-1 goes into ``seeds``.
    for row in sorted(found["classifiers"], key=lambda r: -r["seed"]):
        t = datasets.setdefault(row["dataset"], {"cells": {}, "seeds": {}, "images": row["results"].get("images"),
                                                 "classes": row["results"].get("classes"),
                                                 "chance_top1": row["results"].get("chance_top1")})
        t["seeds"].setdefault(row["fraction"], {}).setdefault(row["variant"], {})[row["seed"]] = \
            100 * row["results"]["top1"]
        cell = t["cells"].setdefault(row["fraction"], {})
        r = row["results"]
        cell[row["variant"]] = {"top1": 100 * r["top1"], "top5": 100 * r["top5"],
                                "training_time_s": row["training_time_s"], "epochs_run": row["epochs_run"],
                                "best_epoch": row["best_epoch"], "train_images": r.get("train_images"),
                                "run_dir": row["run_dir"]}
    generator = _latest(found["generators"])
    zero_shot = (generator or {}).get("results", {}).get("zero_shot", {})
    for name, z in zero_shot.items():
        key = next((d for d in datasets if d and d.startswith(name)), name)
        datasets.setdefault(key, {"cells": {}, "images": z.get("images"), "classes": z.get("classes"),
                                  "chance_top1": z.get("chance_top1")})["zero_shot"] = z
    for t in datasets.values():
        t["targets"] = _targets(t)
    return {"datasets": datasets,
            "generator": None if generator is None else {
                "run_dir": generator["run_dir"], "training_time_s": generator["training_time_s"],
                **{k: generator["results"].get(k) for k in ("phrase_ranking", "softmax_phrases", "prototype_phrases",
                                                             "held_out_images")}},
            "encoder": None if not found["encoders"] else {
                "run_dir": _latest(found["encoders"])["run_dir"],
                "training_time_s": _latest(found["encoders"])["training_time_s"],
                **{k: _latest(found["encoders"])["results"].get(k) for k in ("pair_retrieval", "phrases", "grams")}}}


def paired_seeds(t: dict[str, Any], fraction: float) -> dict[str, Any] | None:
    """Visual-only and multimodal top-1 over the seeds both have at ``fraction`` (each seed: the
    same training images for both), their means and sample standard deviations, and the gains."""
    import statistics

    by = t.get("seeds", {}).get(fraction, {})
    seeds = sorted(set(by.get("visual", {})) & set(by.get("multimodal", {})))
    if not seeds:
        return None
    vis = [by["visual"][k] for k in seeds]
    mm = [by["multimodal"][k] for k in seeds]
    gains = [m - v for m, v in zip(mm, vis)]
    sd = (lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0)
    return {"seeds": seeds, "visual": vis, "multimodal": mm, "visual_mean": statistics.fmean(vis),
            "visual_sd": sd(vis), "multimodal_mean": statistics.fmean(mm), "multimodal_sd": sd(mm),
            "gain_mean": statistics.fmean(gains), "gain_sd": sd(gains), "gains_above_zero": sum(g > 0 for g in gains)}


def _targets(t: dict[str, Any]) -> dict[str, Any]:
    cells = t["cells"]
    out: dict[str, Any] = {}
    full = [f for f in sorted(cells) if {"visual", "multimodal"} <= set(cells[f])]
    if full:
        f = full[0]
        pair = paired_seeds(t, f)
        mm, vis = pair["multimodal_mean"], pair["visual_mean"]
        out["multimodal_above_visual_at_smallest_fraction"] = {"fraction": f, "multimodal": mm, "visual": vis,
                                                               "seeds": len(pair["seeds"]), "met": mm > vis}
    both = [f for f in sorted(cells) if {"multimodal", "multimodal_softmax"} <= set(cells[f])]
    if both:
        wins = [cells[f]["multimodal"]["top1"] >= cells[f]["multimodal_softmax"]["top1"] for f in both]
        out["prototypes_not_worse_than_softmax"] = {"fractions": both, "not_worse": sum(wins), "met": all(wins)}
    z = t.get("zero_shot")
    if z:
        best = max((r["top1"] for r in z["rows"].values() if "top1" in r), default=None)
        if best is not None:
            out["zero_shot_twice_chance"] = {"top1": 100 * best, "chance": 100 * z["chance_top1"],
                                             "met": best >= 2 * z["chance_top1"]}
    return out


def _time(cell: dict[str, Any] | None) -> str:
    if not cell or cell.get("training_time_s") is None:
        return ""
    return f"{cell['training_time_s']:.0f} s"


def _pct(cell: dict[str, Any] | None, key: str) -> str:
    return "" if not cell else f"{cell[key]:.2f}"


def to_markdown(found: dict[str, Any]) -> str:
    t_all = tables(found)
    out = []
    for dataset, t in t_all["datasets"].items():
        cells = t["cells"]
        if cells:
            out += [f"### Predicted-context classification on {dataset} ({t['images']} test images, {t['classes']} "
                    f"classes; chance {100 * (t['chance_top1'] or 0):.2f} %)", "",
                    "Table 1 analog: top-1 / top-5 (%) by the fraction of training images per class; the gain is "
                    "multimodal minus visual-only top-1, in points; the training time is each run's.", "",
                    "| train fraction | text only | visual only | multimodal | gain | text top-5 | visual top-5 | "
                    "multimodal top-5 | training (text / visual / multimodal) | paper WebVision: Inception v3 / "
                    "multimodal top-1 |", "|" + "---|" * 10]
            for f in sorted(cells):
                c = cells[f]
                gain = (f"{c['multimodal']['top1'] - c['visual']['top1']:+.2f}"
                        if "multimodal" in c and "visual" in c else "")
                paper = PAPER_TABLE1.get(f)
                out.append("| " + " | ".join([
                    f"{100 * f:g} %", _pct(c.get("text"), "top1"), _pct(c.get("visual"), "top1"),
                    _pct(c.get("multimodal"), "top1"), gain, _pct(c.get("text"), "top5"),
                    _pct(c.get("visual"), "top5"), _pct(c.get("multimodal"), "top5"),
                    " / ".join(_time(c.get(v)) for v in ("text", "visual", "multimodal")),
                    "" if paper is None else f"{paper[0]} / {paper[1]}"]) + " |")
            for f in sorted(cells):
                pair = paired_seeds(t, f)
                if pair and len(pair["seeds"]) > 1:
                    out += ["", f"{100 * f:g} % over seeds {', '.join(map(str, pair['seeds']))} (the seed draws the "
                                "training images and the initialisation; visual-only and multimodal share both): "
                                f"visual-only {pair['visual_mean']:.2f} ± {pair['visual_sd']:.2f}, multimodal "
                                f"{pair['multimodal_mean']:.2f} ± {pair['multimodal_sd']:.2f}, gain "
                                f"{pair['gain_mean']:+.2f} ± {pair['gain_sd']:.2f} (positive for "
                                f"{pair['gains_above_zero']} of {len(pair['seeds'])} seeds; per seed: "
                                + ", ".join(f"{m - v:+.2f}" for m, v in zip(pair["multimodal"], pair["visual"]))
                                + ")."]
            out += ["", f"(The paper's text-only WebVision top-1: {PAPER_TEXT_ONLY}.)", "",
                    "Table 2 analog: multimodal top-1 (%) with the context from the softmax vocabulary only "
                    "(small output space) and from the prototypes (large):", "",
                    "| train fraction | softmax context | prototype context | training (softmax / prototypes) | "
                    "paper WebVision: small / large |", "|" + "---|" * 5]
            for f in sorted(cells):
                c = cells[f]
                paper = PAPER_TABLE2.get(f)
                out.append("| " + " | ".join([
                    f"{100 * f:g} %", _pct(c.get("multimodal_softmax"), "top1"), _pct(c.get("multimodal"), "top1"),
                    " / ".join(_time(c.get(v)) for v in ("multimodal_softmax", "multimodal")),
                    "" if paper is None else f"{paper[0]} / {paper[1]}"]) + " |")
        z = t.get("zero_shot")
        if z:
            out += ["", f"Zero-shot (section 4.3: a class's vector is its phrase's softmax weight or prototype, "
                        f"classified by cosine to the image's bottleneck; {z['classes_present']} classes, chance "
                        f"{100 * z['chance_top1']:.2f} %):", "",
                    "| label vectors | phrases | top-1 | top-5 | classes with a vector | top-1 among them | "
                    "their chance |", "|" + "---|" * 7]
            for name, r in z["rows"].items():
                if "top1" not in r:
                    out.append(f"| {name} | (no index: {r.get('missing')}) | | | | | |")
                    continue
                cov = r.get("covered") or {}
                with_vector = z["classes"] - r["coverage"]["classes_without_vector"]
                out.append("| " + " | ".join([
                    name, str(r["phrases"]), f"{100 * r['top1']:.2f}", f"{100 * r['top5']:.2f}", str(with_vector),
                    f"{100 * cov['top1']:.2f}" if cov else "", f"{100 * cov['chance_top1']:.2f}" if cov else ""]) + " |")
        tg = t["targets"]
        out += ["", "Targets as measured:"]
        g = tg.get("multimodal_above_visual_at_smallest_fraction")
        if g:
            over = f", the mean over {g['seeds']} seeds" if g["seeds"] > 1 else ""
            out.append(f"- multimodal above visual-only at the smallest fraction ({100 * g['fraction']:g} %{over}): "
                       f"{g['multimodal']:.2f} against {g['visual']:.2f} ({'met' if g['met'] else 'not met'})")
        g = tg.get("prototypes_not_worse_than_softmax")
        if g:
            out.append(f"- the prototype context at least as good as the softmax-only one: at {g['not_worse']} of "
                       f"{len(g['fractions'])} fractions ({'met' if g['met'] else 'not met'})")
        g = tg.get("zero_shot_twice_chance")
        if g:
            out.append(f"- zero-shot top-1 at least twice chance: {g['top1']:.2f} % against chance {g['chance']:.2f} % "
                       f"({'met' if g['met'] else 'not met'})")
        out.append("")
    gen, enc = t_all["generator"], t_all["encoder"]
    if gen and gen.get("phrase_ranking"):
        r = gen["phrase_ranking"]
        out.append(f"Phrase generator ({gen['run_dir']}): on {r['images']} held-out images, eq. 1 over "
                   f"{gen['softmax_phrases']} softmax phrases ranks one of the image's phrases first "
                   f"{100 * r['precision_at_1']:.1f} % of the time, AP@10 {100 * r['ap_at_10']:.1f} %; "
                   f"{gen['prototype_phrases']} phrases have a prototype; trained in {gen['training_time_s'] or 0:.0f} s.")
    if enc and enc.get("pair_retrieval"):
        r = enc["pair_retrieval"]
        out.append(f"Text embedding ({enc['run_dir']}): for {r['pairs']} held-out phrase pairs, the partner's "
                   f"median rank among the {enc['phrases']} phrases is {r['median_rank']:g}, R@10 "
                   f"{100 * r['r10']:.1f} % (chance {100 * r['chance_r10']:.2f} %); trained in "
                   f"{enc['training_time_s'] or 0:.0f} s.")
    return "\n".join(out) + "\n"


def to_json(found: dict[str, Any]) -> dict[str, Any]:
    t = tables(found)
    t["datasets"] = {d: {**v, "cells": {str(f): c for f, c in v["cells"].items()},
                         "seeds": {str(f): c for f, c in v.get("seeds", {}).items()}}
                     for d, v in t["datasets"].items()}
    return {**t, "paper_table1": {str(k): v for k, v in PAPER_TABLE1.items()}, "paper_text_only": PAPER_TEXT_ONLY,
            "paper_table2": {str(k): v for k, v in PAPER_TABLE2.items()}}
