"""benchmarks.table4_cost on tiny runs: every shipped Table 4 ConvNet/LSTM config is listed, the
step is timed once per cost key (reused across datasets), the epoch and run figures follow from
the step time, and a finished run's epoch time is set beside the estimate."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from benchmarks import table4_cost as bench


def _config(path, data_dir: str, *, batch_size: int = 8, epochs: int = 4) -> str:
    cfg = {"task": "classification", "data": {"dir": data_dir}, "model": {"name": "bow"},
           "train": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": batch_size, "epochs": epochs},
           "eval": {"split": "test"}}
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_the_default_configs_are_the_table_4_convnets_and_lstms():
    configs = bench.table4_configs()
    assert "configs/char_cnn_large_th_ag_news.yaml" in configs and "configs/word_lstm_mr.yaml" in configs
    assert "configs/word_cnn_lk_small_th_trec.yaml" in configs and "configs/char_cnn_small_full_mr.yaml" in configs
    assert not any("paper_sgd" in c or "default" in c or "bow" in c for c in configs)
    assert len(configs) == 3 * (8 + 8 + 1)  # per dataset: 8 char and 8 word ConvNet variants, the LSTM


def test_step_time_epoch_and_run_figures(tiny_data_dir, tmp_path, capsys):
    a = _config(tmp_path / "bow_a.yaml", tiny_data_dir)
    b = _config(tmp_path / "bow_b.yaml", tiny_data_dir, epochs=2)  # same cost key: timed once
    c = _config(tmp_path / "bow_c.yaml", tiny_data_dir, batch_size=20)  # another batch: timed again
    missing = _config(tmp_path / "bow_missing.yaml", str(tmp_path / "no_data"))
    runs = tmp_path / "runs"
    (runs / "bow_a").mkdir(parents=True)
    (runs / "bow_a" / "train_results.json").write_text(json.dumps({"epochs_run": 4, "training_time_s": 10.0}))
    result = bench.main(["--configs", a, b, c, missing, "--steps", "2", "--warmup", "1", "--runs_dir", str(runs)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == json.loads(json.dumps(result))
    rows = result["configs"]
    assert rows[a]["timed_as"] == a and rows[b]["timed_as"] == a and rows[c]["timed_as"] == c
    assert rows[b]["s_per_step"] == rows[a]["s_per_step"]
    assert rows[a]["steps_per_epoch"] == 15 and rows[c]["steps_per_epoch"] == 6  # 120 train rows / 8, / 20
    for r in rows.values():
        assert r["epoch_s"] == pytest.approx(r["s_per_step"] * r["steps_per_epoch"], abs=0.06)
        assert r["run_h"] == pytest.approx(r["epoch_s"] * r["epochs"] / 3600, abs=0.006)
    assert rows[a]["measured_epoch_s"] == 2.5 and rows[a]["finished_run"] is True
    assert rows[a]["measured_over_estimate"] > 0 and "measured_epoch_s" not in rows[b]
    assert missing in result["failed"] and "no_data" in result["failed"][missing]
    assert result["configs_without_a_run"] == 2
    assert result["total_h"] == pytest.approx(rows[b]["run_h"] + rows[c]["run_h"], abs=0.06)
