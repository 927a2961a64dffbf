"""Real data end to end (slow): AG's News agreed split -> Beam -> Char-CNN small -> evaluate.

Run with ``pytest -m slow tests/test_real_training.py``.  The Char-CNN needs far
more data than the 6,080 training rows of the shared AG's News split to reach
the paper's numbers; this checks that the whole pipeline learns real text
clearly above chance (25 % for four classes) in a bounded CPU time.
``TFPIPE_SLOW_EPOCHS`` sets the epoch count (default 10, about 15-25 minutes on
two cores).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import shared_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = int(os.environ.get("TFPIPE_SLOW_EPOCHS", "10"))


def _run(*argv: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, *argv], check=True, cwd=REPO, env=env)


@pytest.mark.slow
def test_char_cnn_small_learns_ag_news(tmp_path):
    csv_path = shared_path("ag_news", "test.csv")
    data_dir, model_dir = str(tmp_path / "ag_news"), str(tmp_path / "run")
    _run("-m", "beam_jobs.preprocess", "--runner=DirectRunner", "--direct_running_mode=in_memory",
         "--input", csv_path, "--format", "zhang_csv", "--test_fraction", "0.2", "--seed", "0",
         "--output_dir", data_dir)
    manifest = json.load(open(os.path.join(data_dir, "manifest.json")))
    assert manifest["splits"]["train"]["count"] == 6080
    assert manifest["splits"]["test"]["count"] == 1520

    _run("-m", "tfpipe.train", "--config", "configs/char_cnn_small_ag_news.yaml",
         "--data_dir", data_dir, "--model_dir", model_dir, "--verbose", "2",
         "--set", f"train.epochs={EPOCHS}")
    _run("-m", "tfpipe.evaluate", "--model_dir", model_dir)

    results = json.load(open(os.path.join(model_dir, "results.json")))
    print("ag_news char_cnn_small:", json.dumps({k: results[k] for k in ("test_accuracy", "test_error_pct")}))
    assert results["num_examples"] == 1520
    assert results["test_accuracy"] > 0.40, results  # chance is 0.25
