"""Frome et al. 2013's Tables 1 and 2 from devise run directories (``python -m tfpipe.report``).

Table 1: one row per run (the softmax baseline, DeViSE, random embeddings; label dimension, loss
form and vectors in the label), flat hit@1/2/5/10 and hierarchical precision@2/5/10/20 on the
evaluated split, the training time; then chance, then the paper's ImageNet 1K numbers for
orientation only (another dataset, visual model and language model).

Table 2: per zero-shot set of the runs (``model.label_sets``), the rows of every run that has it:
DeViSE-0 / DeViSE+seen, the softmax baseline (hit@k 0 by construction), ConSE-0 / ConSE+seen,
chance (k / C; hierarchical precision of random scores); flat hit@1/2/5/10/20 and hierarchical
precision@1/2/5/10/20; then the paper's "2-hop" ImageNet rows for orientation.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from tfpipe.training import runs

TABLE1_HITS = ("1", "2", "5", "10")
TABLE1_HP = ("2", "5", "10", "20")
TABLE2_KS = ("1", "2", "5", "10", "20")

# The paper's Table 1 (ImageNet ILSVRC 2012 1K validation): hit@1/2/5/10 %, hp@2/5/10/20.
PAPER_TABLE1 = (
    ("Softmax baseline", "N/A", (55.6, 67.4, 78.5, 85.0), (0.452, 0.342, 0.313, 0.319)),
    ("DeViSE", "500", (53.2, 65.2, 76.7, 83.3), (0.447, 0.352, 0.331, 0.341)),
    ("DeViSE", "1000", (54.9, 66.9, 78.4, 85.0), (0.454, 0.351, 0.325, 0.331)),
    ("Random embeddings", "500", (52.4, 63.9, 74.8, 80.6), (0.428, 0.315, 0.271, 0.248)),
    ("Random embeddings", "1000", (50.5, 62.2, 74.2, 81.5), (0.418, 0.318, 0.290, 0.292)),
    ("Chance", "N/A", (0.1, 0.2, 0.5, 1.0), (0.007, 0.013, 0.022, 0.042)),
)
# The paper's Tables 2 and 3, "2-hop" set (1,589 zero-shot labels; +1K: 2,589): hit@1/2/5/10/20 %.
PAPER_TABLE2 = (
    ("DeViSE-0", "1,589", (6.0, 10.0, 18.1, 26.4, 36.4), (0.06, 0.152, 0.192, 0.217, 0.233)),
    ("DeViSE+1K", "2,589", (0.8, 2.7, 7.9, 14.2, 22.7), (0.008, 0.204, 0.196, 0.201, 0.214)),
    ("Softmax baseline", "2,589", (0.0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.236, 0.181, 0.174, 0.179)),
)


def is_devise_run(run_dir: str) -> bool:
    return runs.saved_config_or_empty(run_dir).get("task") == "devise"


def label(results: dict[str, Any], model_cfg: dict[str, Any]) -> tuple[str, str]:
    """``(row label, dim)`` of a run, e.g. ``("DeViSE (truncated, centered)", "500")``; a stage-2
    run (``model.visual_top``) says "top fine-tuned" (its training time is stage 2's alone)."""
    name = results.get("model")
    dim = str(results.get("label_dim") or "N/A")
    tuned = ", top fine-tuned" if model_cfg.get("visual_top") else ""  # stage 2
    if name == "devise_softmax":
        return "Softmax baseline" + (" (top fine-tuned)" if tuned else ""), "N/A"
    form = results.get("loss_form") or model_cfg.get("loss_form") or "truncated"
    if name == "devise_random":
        return f"Random embeddings ({form}{tuned})", dim
    vectors = "centered" if model_cfg.get("center_vectors") else "raw vectors"
    return f"DeViSE ({form}, {vectors}{tuned})", dim


def collect(run_dirs: Iterable[str], *, split: str = "test") -> list[dict[str, Any]]:
    """One record per evaluated devise run: ``label``, ``dim``, ``results``, ``run_dir``."""
    rows = []
    for run_dir in run_dirs:
        cfg = runs.saved_config_or_empty(run_dir)
        if cfg.get("task") != "devise":
            continue
        results = runs.read_json_or_none(os.path.join(run_dir, "results.json" if split == "test" else f"results_{split}.json"))
        if not results or "hit_at_k" not in results:
            continue
        row_label, dim = label(results, cfg.get("model") or {})
        rows.append({"label": row_label, "dim": dim, "run_dir": run_dir, "results": results})
    order = {"Softmax": 0, "DeViSE": 1, "Random": 2}
    return sorted(rows, key=lambda r: (order.get(r["label"].split(" ")[0], 3), r["label"], r["dim"]))


def _time(results: dict[str, Any]) -> str:
    t = results.get("training_time_s")
    return "" if t is None else f"{t:.0f} s"


def _cells(values: dict[str, Any], hit_ks: Sequence[str], hp_ks: Sequence[str]) -> list[str]:
    """hit@k in percent and hierarchical precision@k of one result (blank where k was not defined)."""
    hp = values["hierarchical_precision_at_k"]
    return ([f"{100 * values['hit_at_k'][k]:.1f}" for k in hit_ks]
            + [f"{hp[k]:.3f}" if k in hp else "" for k in hp_ks])


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(head: Sequence[str]) -> list[str]:
    return [_line(head), "|" + "---|" * len(head)]


def _paper(title: str, second: str, rows, hit_ks: Sequence[str], hp_ks: Sequence[str]) -> list[str]:
    """The paper's rows ``(model, second column, hits %, hierarchical precisions)`` under ``title``."""
    lines = ["", title, "", *_header(["Model", second, *[f"hit@{k}" for k in hit_ks], *[f"hp@{k}" for k in hp_ks]])]
    for name, col, hits, hps in rows:
        lines.append(_line([name, col, *[f"{h:.1f}" for h in hits], *[f"{p:.3f}" for p in hps]]))
    return lines


def table1(rows: Sequence[dict[str, Any]]) -> list[str]:
    head = ["Model", "dim", *[f"hit@{k}" for k in TABLE1_HITS], *[f"hp@{k}" for k in TABLE1_HP], "candidates",
            "images", "training time", "run"]
    lines = _header(head)
    for r in rows:
        res = r["results"]
        lines.append(_line([r["label"], r["dim"], *_cells(res, TABLE1_HITS, TABLE1_HP), str(res["candidate_classes"]),
                            str(res["num_examples"]), _time(res), os.path.basename(r["run_dir"])]))
    if rows and "chance" in rows[0]["results"]:
        lines.append(_line(["Chance", "N/A", *_cells(rows[0]["results"]["chance"], TABLE1_HITS, TABLE1_HP),
                            "", "", "", ""]))
    return lines + _paper("The paper (ImageNet 1K, for orientation only):", "dim", PAPER_TABLE1,
                          TABLE1_HITS, TABLE1_HP)


def table2(rows: Sequence[dict[str, Any]]) -> list[str]:
    sets: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {}
    for r in rows:
        for name, zs in r["results"].get("zero_shot", {}).items():
            sets.setdefault(name, []).append((r["label"] + (f" {r['dim']}" if r["dim"] != "N/A" else ""), zs, r))
    lines: list[str] = []
    head = ["Model", "row", "candidates", *[f"hit@{k}" for k in TABLE2_KS], *[f"hp@{k}" for k in TABLE2_KS],
            "training time"]
    for name, entries in sets.items():
        zs0 = entries[0][1]
        lines += ["", f"**{name}** ({zs0['images']} images of {zs0['candidates']} classes with a label vector; "
                  f"{len(zs0['uncovered_classes'])} classes without one; {len(zs0['classes_without_synset'])} "
                  "without a WordNet synset)", "", *_header(head)]
        for model, zs, r in entries:
            for row, v in zs["rows"].items():
                lines.append(_line([model, row, str(v["candidates"]), *_cells(v, TABLE2_KS, TABLE2_KS),
                                    _time(r["results"])]))
        for row, v in zs0.get("chance", {}).items():
            lines.append(_line(["Chance", row, str(v["candidates"]), *_cells(v, TABLE2_KS, TABLE2_KS), ""]))
    if sets:
        lines += _paper("The paper's 2-hop ImageNet zero-shot set (for orientation only):", "candidates",
                        PAPER_TABLE2, TABLE2_KS, TABLE2_KS)
    return lines


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    out = ["## DeViSE, Table 1 analog (training labels)", ""] + table1(rows)
    t2 = table2(rows)
    if t2:
        out += ["", "## DeViSE, Table 2 analog (zero-shot label sets)"] + t2
    return "\n".join(out) + "\n"


def to_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    keep = ("hit_at_k", "hierarchical_precision_at_k", "chance", "candidate_classes", "num_examples", "split",
            "training_time_s", "zero_shot", "label_dim", "uncovered_classes")
    return {"rows": [{"label": r["label"], "dim": r["dim"], "run_dir": r["run_dir"],
                      **{k: r["results"][k] for k in keep if k in r["results"]}} for r in rows]}
