"""tfpipe.report on phrase_context runs: the predicted-context paper's Table 1-2 analogs, zero-shot rows
and targets (phrase_context.md / .json), not Table 4 cells."""
from __future__ import annotations

import json
import os

import yaml

from tfpipe import report
from tfpipe.tasks.phrase_context import report as pc_report


def _run(root, name, model, results, seed=0):
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "config.yaml"), "w") as f:
        yaml.safe_dump({"task": "phrase_context", "data": {"dir": "x"}, "model": model, "train": {"seed": seed}}, f)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(results, f)
    return d


def _classifier(root, variant, fraction, top1, top5, dataset="flowers102", seed=0):
    inputs = {"visual": ["visual"], "text": ["context"]}.get(variant, ["visual", "context"])
    model = {"name": "multimodal", "inputs": inputs, "train_fraction": fraction}
    if variant == "multimodal_softmax":
        model["context"] = "softmax"
    return _run(root, f"{dataset}_{variant}_{int(100 * fraction)}_seed{seed}", model,
                {"task": "phrase_context", "dataset": dataset, "split": "test", "images": 985, "classes": 102,
                 "top1": top1, "top5": top5, "chance_top1": 1 / 102, "train_fraction": fraction,
                 "training_time_s": 20.0, "epochs_run": 40, "best_epoch": 9}, seed=seed)


def test_tables_targets_and_no_table_4_cells(tmp_path, capsys):
    root = str(tmp_path)
    dirs = [
        _classifier(root, "visual", 0.1, 0.60, 0.80), _classifier(root, "multimodal", 0.1, 0.63, 0.82),
        _classifier(root, "text", 0.1, 0.30, 0.55), _classifier(root, "multimodal_softmax", 0.1, 0.62, 0.81),
        _classifier(root, "visual", 1.0, 0.80, 0.95), _classifier(root, "multimodal", 1.0, 0.79, 0.95),
        _classifier(root, "multimodal_softmax", 1.0, 0.80, 0.95),
        _run(root, "gen", {"name": "phrase_generator"}, {
            "phrase_ranking": {"precision_at_1": 0.6, "precision_at_10": 0.3, "ap_at_10": 0.65, "images": 2000},
            "softmax_phrases": 1000, "prototype_phrases": 7000, "held_out_images": 2000, "training_time_s": 300.0,
            "zero_shot": {"flowers102": {"images": 985, "classes": 102, "classes_present": 102,
                                         "chance_top1": 1 / 102, "rows": {
                                             "softmax": {"top1": 0.015, "top5": 0.06, "phrases": 1000,
                                                         "coverage": {"classes_without_vector": 80}},
                                             "prototypes": {"top1": 0.025, "top5": 0.07, "phrases": 7000,
                                                            "coverage": {"classes_without_vector": 60},
                                                            "covered": {"top1": 0.05, "chance_top1": 1 / 42}}}}}}),
        _run(root, "enc", {"name": "phrase_encoder"}, {
            "pair_retrieval": {"pairs": 5000, "r1": 0.01, "r10": 0.05, "median_rank": 300.0, "chance_r10": 0.0014},
            "phrases": 7000, "grams": 5000, "training_time_s": 100.0}),
    ]
    found = pc_report.collect(dirs)
    assert len(found["classifiers"]) == 7 and len(found["generators"]) == 1 and len(found["encoders"]) == 1
    t = pc_report.tables(found)["datasets"]["flowers102"]
    assert t["cells"][0.1]["multimodal"]["top1"] == 63.0 and t["cells"][1.0]["visual"]["top5"] == 95.0
    tg = t["targets"]
    assert tg["multimodal_above_visual_at_smallest_fraction"] == {"fraction": 0.1, "multimodal": 63.0, "seeds": 1,
                                                                  "visual": 60.0, "met": True}
    # prototypes >= softmax at 10 % (63 vs 62), not at 100 % (79 vs 80)
    assert tg["prototypes_not_worse_than_softmax"] == {"fractions": [0.1, 1.0], "not_worse": 1, "met": False}
    # the best zero-shot row, 2.5 %, is more than twice chance (0.98 %)
    assert tg["zero_shot_twice_chance"]["met"] is True
    md = pc_report.to_markdown(found)
    assert "| 10 % | 30.00 | 60.00 | 63.00 | +3.00 |" in md
    assert "| prototypes | 7000 | 2.50 | 7.00 | 42 | 5.00 | 2.38 |" in md
    assert "(met)" in md and "(not met)" in md and "R@10 5.0 %" in md

    # a second seed at 10 %: the cell stays seed 0's, the spread and the target use both
    dirs += [_classifier(root, "visual", 0.1, 0.64, 0.80, seed=1), _classifier(root, "multimodal", 0.1, 0.62, 0.82, seed=1)]
    found = pc_report.collect(dirs)
    t = pc_report.tables(found)["datasets"]["flowers102"]
    assert t["cells"][0.1]["multimodal"]["top1"] == 63.0
    pair = pc_report.paired_seeds(t, 0.1)
    assert pair["seeds"] == [0, 1] and pair["visual_mean"] == 62.0 and pair["multimodal_mean"] == 62.5
    assert abs(pair["gain_mean"] - 0.5) < 1e-9 and abs(pair["gain_sd"] - 2 ** 0.5 * 2.5) < 1e-9   # gains +3, -2
    assert pair["gains_above_zero"] == 1
    g = t["targets"]["multimodal_above_visual_at_smallest_fraction"]
    assert g["seeds"] == 2 and g["met"] is True and g["multimodal"] == 62.5
    assert "10 % over seeds 0, 1" in pc_report.to_markdown(found)

    out = str(tmp_path / "out")
    assert report.main([*dirs, "--out", out]) == 0
    assert os.path.exists(os.path.join(out, "phrase_context.md"))
    with open(os.path.join(out, "phrase_context.json")) as f:
        assert json.load(f)["datasets"]["flowers102"]["cells"]["0.1"]["visual"]["top1"] == 60.0
    assert not os.path.exists(os.path.join(out, "table.md"))  # no Table 4 cell came from these runs
    assert "Predicted-context classification on flowers102" in capsys.readouterr().out


def test_variant_of_a_config():
    assert pc_report.variant({"model": {"name": "multimodal", "inputs": ["visual"]}}) == "visual"
    assert pc_report.variant({"model": {"name": "multimodal", "inputs": ["context"]}}) == "text"
    assert pc_report.variant({"model": {"name": "multimodal"}}) == "multimodal"
    assert pc_report.variant({"model": {"name": "multimodal", "context": "softmax"}}) == "multimodal_softmax"
    assert pc_report.variant({"model": {"name": "phrase_generator"}}) is None
