"""mixed_bfloat16 learns as well as float32 (slow): the demo's Char-CNN small, same seed, both policies.

``configs/char_cnn_small_default.yaml`` (what ``make demo`` trains) on the built-in corpus
(4,000 train / 1,000 test stories, l0 = 258, written in-process with ``records.write_dataset``),
once with ``train.mixed_precision=float32`` and once with ``mixed_bfloat16``, seed 0 both times:
the bfloat16 run's final test accuracy must be within 1 point of the float32 run's.  The
config's 7 epochs are kept: before its last epochs the accuracy still moves by points from one
epoch or seed to the next, so a shorter run would not tell bfloat16 from chance.  Skipped where
the CPU has no native bfloat16 (``tfpipe.training.devices.cpu_has_native_bf16``): emulated
bfloat16 is far slower.  Run with ``pytest -m slow tests/test_bfloat16_accuracy.py``;
``TFPIPE_BF16_EPOCHS`` sets the epoch count (a check that it runs, not of the accuracy).
"""
from __future__ import annotations

import json
import os

import pytest

from tfpipe import train
from tfpipe.training import devices

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "char_cnn_small_default.yaml")
EPOCHS = os.environ.get("TFPIPE_BF16_EPOCHS")  # None: the config's
TOLERANCE = 0.01  # one accuracy point
REAL_CPUINFO = devices.CPUINFO  # read at import, before tests/conftest.py's fixture replaces it


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory) -> str:
    """The built-in corpus at its default size and l0, as ``make demo`` preprocesses it."""
    from tfpipe.data import embedded, records

    data_dir = str(tmp_path_factory.mktemp("default_corpus"))
    splits = {split: [(r.example_id, r.text, r.label) for r in embedded.rows(split, n)]
              for split, n in (("train", embedded.DEFAULT_TRAIN), ("test", embedded.DEFAULT_TEST))}
    records.write_dataset(data_dir, splits, embedded.CLASS_NAMES, l0=embedded.L0, max_words=256, num_shards=2)
    return data_dir


def _final_accuracy(data_dir: str, model_dir: str, policy: str) -> float:
    argv = ["--config", CONFIG, "--data_dir", data_dir, "--model_dir", model_dir, "--verbose", "2",
            "--set", f"train.mixed_precision={policy}", "--set", "train.seed=0"]
    if EPOCHS:
        argv += ["--set", f"train.epochs={EPOCHS}"]
    assert train.main(argv) == 0
    results = json.load(open(os.path.join(model_dir, "train_results.json")))
    assert results["mixed_precision"] == policy
    return results["final"]["val_accuracy"]  # the test split: the config has no validation split


@pytest.mark.slow
def test_bfloat16_reaches_the_float32_accuracy(default_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "CPUINFO", REAL_CPUINFO)
    if not devices.cpu_has_native_bf16():
        pytest.skip(f"this CPU has neither {' nor '.join(devices.NATIVE_BF16_FLAGS)}: bfloat16 is emulated")
    f32 = _final_accuracy(default_corpus, str(tmp_path / "float32"), "float32")
    bf16 = _final_accuracy(default_corpus, str(tmp_path / "bfloat16"), "mixed_bfloat16")
    print(f"final test accuracy: float32 {f32:.4f}, mixed_bfloat16 {bf16:.4f}")
    if EPOCHS:
        return  # a shortened run checks the mechanics only
    assert abs(bf16 - f32) <= TOLERANCE, (f32, bf16)
