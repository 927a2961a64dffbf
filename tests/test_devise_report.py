"""tfpipe.report on devise runs: Frome et al.'s Tables 1 and 2, not Table 4 cells."""
from __future__ import annotations

import json
import os

import yaml

from tfpipe import report
from tfpipe.tasks.devise import report as devise_report


def _metrics(hit1, hp10):
    return {"hit_at_k": {"1": hit1, "2": hit1 + .1, "5": hit1 + .2, "10": hit1 + .3, "20": hit1 + .4},
            "hierarchical_precision_at_k": {"1": hit1, "2": .4, "5": .3, "10": hp10, "20": .3}}


def _run(root, name, model, hit1, hp10, zero_shot=None, **model_cfg):
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "config.yaml"), "w") as f:
        yaml.safe_dump({"task": "devise", "model": {"name": model, **model_cfg}, "data": {"dir": "x"}}, f)
    res = {"model": model, **_metrics(hit1, hp10), "candidate_classes": 152, "num_examples": 7600,
           "training_time_s": 45.2, "error_pct": 100 * (1 - hit1), "label_dim": None if model == "devise_softmax" else 500,
           "chance": _metrics(1 / 152, 0.086)}
    res["hierarchical_precision_at_k"].pop("1")
    if zero_shot:
        res["zero_shot"] = zero_shot
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(res, f)
    return d


def test_devise_runs_make_tables_1_and_2_and_no_table_4_cells(tmp_path):
    zs = {"unseen": {"images": 6800, "candidates": 34, "uncovered_classes": ["a"], "classes_without_synset": [],
                     "rows": {"DeViSE-0": {"candidates": 34, **_metrics(.102, .448)},
                              "DeViSE+seen": {"candidates": 186, **_metrics(.013, .242)}},
                     "chance": {"-0": {"candidates": 34, **_metrics(1 / 34, .385)}}}}
    runs = [_run(str(tmp_path), "dv", "devise", .564, .305, zs, center_vectors=True),
            _run(str(tmp_path), "sm", "devise_softmax", .696, .343)]
    assert report.collect(runs, warn=lambda m: None) == []  # not Table 4 cells
    rows = devise_report.collect(runs)
    assert [(r["label"], r["dim"]) for r in rows] == [("Softmax baseline", "N/A"), ("DeViSE (truncated, centered)", "500")]
    md = devise_report.to_markdown(rows)
    assert "| Softmax baseline | N/A | 69.6 | 79.6 | 89.6 | 99.6 | 0.400 | 0.300 | 0.343 | 0.300 | 152 | 7600 | 45 s | sm |" in md
    assert "| Chance | N/A | 0.7 |" in md
    assert "| DeViSE (truncated, centered) 500 | DeViSE-0 | 34 | 10.2 | 20.2 | 30.2 | 40.2 | 50.2 | 0.102 |" in md
    assert "| Chance | -0 | 34 | 2.9 |" in md
    assert "| DeViSE | 500 | 53.2 | 65.2 | 76.7 | 83.3 |" in md  # the paper's row, for orientation
    out = tmp_path / "out"
    assert report.main([*runs, "--out", str(out)]) == 0
    assert (out / "devise.md").read_text() == md
    assert json.loads((out / "devise.json").read_text())["rows"][1]["zero_shot"]["unseen"]["images"] == 6800
