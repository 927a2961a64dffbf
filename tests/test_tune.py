"""python -m tfpipe.tune: keras-tuner trials on the train split's validation holdout."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from tfpipe import config, tune
from tests.test_train import TINY_MODEL, TINY_TRAIN


def _base(data_dir: str, *sets: str) -> config.Config:
    return config.load(None, [f"data.dir={data_dir}", *TINY_MODEL, *TINY_TRAIN, "train.epochs=2",
                              "train.optimizer=adam", "train.schedule=constant", *sets])


def _space(tmp_path, space: dict) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return str(path)


# The full grid (four trials) is slow; the fast suite tunes the same two keys over a grid of
# two points (two trials): the same code path, half the training runs.
@pytest.mark.parametrize("fc_units", [[8], pytest.param([8, 32], marks=pytest.mark.slow)],
                         ids=["2_points", "4_points"])
def test_grid_search_runs_every_point_on_the_holdout_and_writes_the_best(fc_units, tiny_data_dir, tmp_path):
    out = str(tmp_path / "tune")
    space = {"train.learning_rate": [1e-3, 3e-2], "model.fc_units": fc_units}
    assert tune.main(["--config", "configs/char_cnn_small_default.yaml", "--space", _space(tmp_path, space),
                      "--out", out, "--algorithm", "grid", "--max_trials", "10",
                      "--validation_fraction", "0.25", "--data_dir", tiny_data_dir,
                      *sum((["--set", s] for s in (*TINY_MODEL, *TINY_TRAIN, "train.epochs=2",
                                                    "train.optimizer=adam", "train.schedule=constant")), []),
                      "--verbose", "0"]) == 0
    with open(os.path.join(out, tune.RESULTS_FILE)) as f:
        summary = json.load(f)
    trials = summary["trials"]
    # Every point of the grid ran once.
    assert sorted((t["values"]["train.learning_rate"], t["values"]["model.fc_units"]) for t in trials) == [
        (lr, units) for lr in (1e-3, 3e-2) for units in fc_units]
    for t in trials:
        with open(os.path.join(t["run_dir"], "train_results.json")) as f:
            run = json.load(f)
        assert run["validation_split"] == "holdout" and run["validation_fraction"] == 0.25
        assert t["val_accuracy"] == run["best_val_accuracy"]
        assert t["epochs_to_best"] == run["best_epoch"] + 1  # train_results counts epochs from 0
        with open(os.path.join(t["run_dir"], "config.yaml")) as f:
            ran = yaml.safe_load(f)
        assert ran["train"]["learning_rate"] == t["values"]["train.learning_rate"]
        assert ran["model"]["fc_units"] == t["values"]["model.fc_units"]
    scores = [t["val_accuracy"] for t in trials]
    assert scores == sorted(scores, reverse=True) and summary["best"] == trials[0]
    best = config.load(os.path.join(out, tune.BEST_CONFIG))
    assert best.data.validation_fraction == 0.0 and best.validation_split == "test"
    assert best.train.learning_rate == trials[0]["values"]["train.learning_rate"]
    assert best.model["fc_units"] == trials[0]["values"]["model.fc_units"]
    assert best.train.epochs == trials[0]["epochs_to_best"]


def test_space_errors_name_the_problem(tiny_data_dir, tmp_path):
    base = _base(tiny_data_dir)
    with pytest.raises(tune.TuneError, match="valid keys: .*train.learning_rate"):
        tune.hyperparameters({"train.learning_rat": [0.1]}, base)
    with pytest.raises(tune.TuneError, match="min 0.1 must be below max 0.01"):
        tune.hyperparameters({"train.learning_rate": {"min": 0.1, "max": 0.01}}, base)
    with pytest.raises(tune.TuneError, match="log range needs min > 0"):
        tune.hyperparameters({"train.momentum": {"min": 0.0, "max": 0.9, "log": True}}, base)
    with pytest.raises(tune.TuneError, match="set by the tuner"):
        tune.hyperparameters({"data.validation_fraction": [0.1, 0.2]}, base)
    with pytest.raises(tune.TuneError, match="all int, all float"):
        tune.hyperparameters({"model.fc_units": [8, "x"]}, base)
    hp = tune.hyperparameters({"train.learning_rate": {"min": 1e-3, "max": 1e-1, "log": True},
                               "model.fc_units": {"min": 8, "max": 32, "step": 8}}, base)
    assert {type(h).__name__ for h in hp.space} == {"Float", "Int"}
    with pytest.raises(tune.TuneError, match="not found"):
        tune.load_space(str(tmp_path / "missing.yaml"))


def test_a_model_key_the_model_lacks_is_refused(tiny_data_dir):
    base = _base(tiny_data_dir)
    with pytest.raises(tune.TuneError, match="model.fc_units"):
        tune.hyperparameters({"model.ngram_max": [1, 2]}, base)


def test_the_shipped_tfidf_space_fits_the_tfidf_configs():
    base = config.load("configs/ngrams_tfidf_trec.yaml")
    hp = tune.hyperparameters(tune.load_space("configs/tune/bag_tfidf.yaml"), base)
    cfg = tune.trial_config(base.to_dict(), hp.values, 0.1)
    config.validate_model(cfg)
    assert cfg.validation_split == "holdout" and cfg.model["normalize"] in ("max", "l2")
    assert tune._typed([False, True], 1) is True and tune._typed([1, 2], 1) == 1
