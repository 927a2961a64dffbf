"""tfpipe.report on joint_embedding runs: Reed et al.'s Table 1 analog (sje.md / sje.json), not Table 4 cells."""
from __future__ import annotations

import json
import os

import yaml

from tfpipe import report
from tfpipe.tasks.joint_embedding import report as sje_report


def _run(root, name, encoder, embedding, top1, reed, ap, *, dataset="cub100", image_norm="center_l2", final=True):
    d = os.path.join(root, name)
    os.makedirs(d)
    cfg = {"task": "joint_embedding", "data": {"dir": "x"},
           "model": {"name": "sje", "encoder": encoder, "embedding": embedding, "image_norm": image_norm}}
    with open(os.path.join(d, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg, f)
    res = {"task": "joint_embedding", "dataset": dataset, "encoder": encoder, "embedding": embedding,
           "loss_form": "code", "split": "test", "classes": 25, "images": 900, "texts": 100,
           "metrics": {"top1": top1 + 0.01, "top1_per_class": top1, "precision_at_50": reed, "ap_at_50": ap},
           "chance": {"top1": 0.04, "top1_per_class": 0.04, "precision_at_50": 0.04, "ap_at_50": 0.007},
           "figure4": [{"texts": 1, "classes_with_at_least": 25, "top1": .1, "top1_std": 0, "top1_per_class": .1},
                       {"texts": 2, "classes_with_at_least": 20, "top1": .2, "top1_std": 0, "top1_per_class": .2}],
           "training_time_s": 123.4}
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(res, f)
    if final:  # the final model's own run directory: not a row of its own
        os.makedirs(os.path.join(d, "final"))
        with open(os.path.join(d, "final", "config.yaml"), "w") as f:
            yaml.safe_dump(cfg, f)
        with open(os.path.join(d, "final", "results.json"), "w") as f:
            json.dump(res, f)
    return d


def test_sje_runs_make_one_table_per_dataset_with_targets_and_no_table_4_cells(tmp_path, capsys):
    root = str(tmp_path)
    dirs = [_run(root, "wc_ds", "word_cnn", "ds", .25, .213, .163), _run(root, "wc_da", "word_cnn", "da", .243, .11, .056),
            _run(root, "cc_ds", "char_cnn", "ds", .10, .05, .02), _run(root, "cc_da", "char_cnn", "da", .09, .07, .03),
            _run(root, "at_da", "attributes", "da", .588, .378, .334),
            _run(root, "bow_raw", "bow", "ds", .06, .05, .01, image_norm="none")]
    found = dirs + [os.path.join(d, "final") for d in dirs]
    rows = sje_report.collect(found)
    assert len(rows) == len(dirs)  # the final/ sub-runs are not rows
    t = sje_report.tables(rows)["cub100"]
    by = {(c["encoder"], c["variant"]): c for c in t["rows"]}
    assert [k for k in by] == [("attributes", ""), ("bow", "raw"), ("char_cnn", ""), ("word_cnn", "")]  # the paper's order
    assert by[("word_cnn", "")]["ds"]["top1"] == .25 and by[("word_cnn", "")]["da"]["reed_ap50"] == .11
    assert t["chance"] == {"top1": .04, "reed_ap50": .04, "ap50": .007}
    tg = t["targets"]
    assert tg["ds_above_da_at_ap50"] == {"char_cnn": False, "word_cnn": True}
    # The best *text* encoder (attributes and the raw-feature row excluded): word_cnn DS 25 % = 6.25x chance.
    assert tg["best_text_encoder"]["encoder"] == "word_cnn" and round(tg["best_text_encoder"]["x_chance"], 2) == 6.25
    assert tg["best_text_encoder"]["at_least_2x"] and tg["attributes_top1"] == .588
    assert t["figure4"]["encoder"] == "word_cnn" and len(t["figure4"]["rows"]) == 2

    md = sje_report.to_markdown(rows)
    assert "| Word CNN | 24.3 | 25.0 | 11.0 | 21.3 | 5.6 | 16.3 | 123 s | 123 s | 50.5 / 51.0, 3.4 / 43.3 |" in md
    assert "| Bag-of-words (raw v) |  | 6.0 |" in md
    assert "Char CNN no, Word CNN yes" in md and "6.25x chance (met: 2x)" in md

    out = str(tmp_path / "out")
    assert report.main(found + ["--out", out]) == 0
    assert os.path.exists(os.path.join(out, "sje.md"))
    with open(os.path.join(out, "sje.json")) as f:
        assert json.load(f)["paper_cub"]["word_cnn_rnn"] == {"top1_da": 54.3, "top1_ds": 56.8, "ap50_da": 4.8, "ap50_ds": 48.7}
    assert not os.path.exists(os.path.join(out, "table.md"))  # no Table 4 cell from an SJE run
    assert "Zero-shot from descriptions on cub100" in capsys.readouterr().out
