"""python -m tfpipe.train on tiny data: run directory, TensorBoard, errors, resume after SIGKILL."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpipe.models  # noqa: F401  (registers the layers model.keras files use)
from tfpipe import config, train
from tfpipe.data import manifest as manifest_lib
from tfpipe.training import devices, runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# tiny_data_dir has l0=64, too short for the paper's six convolutions (l0 >= 123): a shorter
# plan with the same first layer (kernel 7 over the 70-character alphabet) and tiny widths.
TINY_MODEL = ["model.conv_features=16", "model.fc_units=32", "model.kernel_sizes=[7,3,3]",
              "model.pool_sizes=[3,0,3]"]
TINY_TRAIN = ["train.batch_size=20",  # divides the 120 rows: no retrace for a last partial batch
               "train.tensorboard_filters=6", "eval.batch_size=64"]


def _args(data_dir: str, model_dir: str, *sets: str) -> list[str]:
    argv = ["--data_dir", data_dir, "--model_dir", model_dir, "--verbose", "0"]
    for s in (*TINY_MODEL, *TINY_TRAIN, *sets):
        argv += ["--set", s]
    return argv


def _events(log_dir: str) -> dict[str, dict[str, list]]:
    """``{run: {tag: [(step, value-or-image-shape, plugin)]}}`` read from the event files."""
    out: dict[str, dict[str, list]] = {}
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        run = os.path.relpath(os.path.dirname(path), log_dir)
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                plugin = v.metadata.plugin_data.plugin_name
                tensor = tf.make_ndarray(v.tensor) if v.HasField("tensor") else None
                if plugin == "images":
                    value = (int(tensor[1]), int(tensor[0]))  # height, width of the PNG
                elif tensor is not None and tensor.dtype != object and tensor.size == 1:
                    value = float(tensor)
                else:
                    value = None
                out.setdefault(run, {}).setdefault(v.tag, []).append((event.step, value, plugin))
    return out


def test_two_epochs_write_the_run_directory_and_tensorboard(tiny_data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    argv = _args(tiny_data_dir, model_dir, "train.epochs=2", "train.optimizer=sgd",
                 "train.learning_rate=0.01", "train.schedule=paper_step", "train.lr_decay_every=1",
                 "train.distribute=one_device")
    assert train.main(argv) == 0

    for name in ("config.yaml", "model.keras", "train_results.json", "progress.jsonl",
                 runs.BEST_WEIGHTS):
        assert os.path.exists(os.path.join(model_dir, name)), name
    assert not os.path.exists(os.path.join(model_dir, runs.BACKUP_DIR))  # removed when finished

    cfg = runs.load_config(model_dir)
    assert cfg.data.dir == tiny_data_dir and cfg.train.epochs == 2 and cfg.model["conv_features"] == 16

    results = json.load(open(os.path.join(model_dir, "train_results.json")))
    assert results["epochs_run"] == 2 and results["resumed_from_epoch"] == 0
    # where the config came from: the default config file, its own epochs, the overrides as given
    assert results["config_file"] == config.DEFAULT_CONFIG
    assert results["config_file_epochs"] == config.load(config.DEFAULT_CONFIG).train.epochs != 2
    assert "train.epochs=2" in results["overrides"] and "model.conv_features=16" in results["overrides"]
    assert results["steps_per_epoch"] == 6  # 120 / 20
    assert results["examples_seen"] == 240
    assert results["training_time_s"] > 0 and results["examples_per_sec"] > 0
    assert results["mixed_precision"] == "float32"  # auto on a CPU-only machine
    assert results["strategy"] == "OneDeviceStrategy"
    assert [h["learning_rate"] for h in results["history"]] == pytest.approx([0.01, 0.005])
    assert set(results["final"]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert results["tensorboard"] == f"tensorboard --logdir {os.path.join(model_dir, 'logs')}"

    events = _events(os.path.join(model_dir, "logs"))
    assert set(events) >= {".", "train", "validation", "images"}
    for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"):
        assert [s for s, _, _ in events["train"][tag]] == [0, 1], tag
    assert [v for _, v, _ in events["train"]["epoch_learning_rate"]] == pytest.approx([0.01, 0.005])
    for tag in ("epoch_loss", "epoch_accuracy"):
        assert [s for s, _, _ in events["validation"][tag]] == [0, 1], tag
    assert [v for _, v, _ in events["validation"]["epoch_accuracy"]] == pytest.approx(
        [h["val_accuracy"] for h in results["history"]])
    # Figure 4: 6 filters, each kernel_size x alphabet_size = 7 x 70, enlarged 4x, 2 gap pixels.
    filters = events["images"]["conv1/filters"]
    assert [s for s, _, _ in filters] == [0, 1] and filters[0][2] == "images"
    height, width = filters[0][1]
    assert (height - 2) % (7 * 4 + 2) == 0 and (width - 2) % (70 * 4 + 2) == 0
    assert ((height - 2) // 30) * ((width - 2) // 282) >= 6
    cm_images = events["images"]["confusion_matrix/test"]
    assert [s for s, _, _ in cm_images] == [0, 1] and cm_images[0][1][0] == cm_images[0][1][1]
    root = events["."]
    assert "_hparams_/session_start_info" in root and "_hparams_/experiment" in root
    assert {"final/val_accuracy", "final/loss", "final/examples_per_sec"} <= set(root)
    # The HParams dashboard needs the session's end too: written once, with its status.
    assert _session_ends(os.path.join(model_dir, "logs")) == ["STATUS_SUCCESS"]


def _session_ends(log_dir: str) -> list[str]:
    """The status of every hparams session_end_info in the root run's event files."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    statuses = []
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.tag == "_hparams_/session_end_info":
                    data = plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
                    assert data.session_end_info.end_time_secs > 0
                    statuses.append(api_pb2.Status.Name(data.session_end_info.status))
    return statuses


def test_output_for_a_log_is_one_line_per_epoch(tiny_data_dir, tmp_path, capsys, monkeypatch):
    """--verbose auto (the default): no progress-bar redraws when stdout is not a terminal."""
    model_dir = str(tmp_path / "run")
    argv = [a for a in _args(tiny_data_dir, model_dir, "train.epochs=2", "train.confusion_every=0")
            if a not in ("--verbose", "0")]
    assert train.main(argv) == 0
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out and "━" not in out
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    for line in epochs:
        for key in ("loss ", "accuracy ", "val_loss ", "val_accuracy ", "learning_rate ", " s, ", "examples/s"):
            assert key in line, (key, line)
    assert len(lines) <= 6, out  # header, 2 epochs, the summary, run directory, tensorboard
    # A terminal gets Keras' progress bar.
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert train.resolve_verbose("auto") == 1
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert train.resolve_verbose("auto") == 2 and train.resolve_verbose("0") == 0
    with pytest.raises(ValueError):
        train.resolve_verbose(3)


def test_a_finished_run_is_replaced_only_with_fresh(tiny_data_dir, tmp_path, capsys):
    model_dir = str(tmp_path / "run")
    argv = _args(tiny_data_dir, model_dir, "train.epochs=1", "train.confusion_every=0")
    assert train.main(argv) == 0
    results = os.path.join(model_dir, "train_results.json")
    before = open(results).read()
    capsys.readouterr()
    assert train.main(argv) == 2  # the README's bare `python -m tfpipe.train` twice
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--fresh" in err and "--model_dir" in err and model_dir in err
    assert open(results).read() == before
    with pytest.raises(train.TrainError, match="finished run"):
        train.train(runs.load_config(model_dir), model_dir, verbose=0)

    assert train.main([*argv, "--set", "train.epochs=2", "--fresh"]) == 0
    results_after = json.load(open(results))
    assert results_after["epochs_run"] == 2 and results_after["resumed_from_epoch"] == 0
    assert [r["epoch"] for r in runs.read_progress(model_dir)] == [0, 1]  # nothing of the old run left


def test_missing_default_data_says_to_run_preprocessing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default data dir is relative: nothing here
    assert train.main(["--model_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "python -m beam_jobs.preprocess --runner=DirectRunner" in err
    assert "artifacts/data/default" in err


def test_bad_keys_stop_at_once(tiny_data_dir, tmp_path, capsys):
    assert train.main(_args(tiny_data_dir, str(tmp_path / "a"), "train.bogus=1")) == 2
    assert "valid keys: epochs, batch_size" in capsys.readouterr().err
    assert train.main(_args(tiny_data_dir, str(tmp_path / "b"), "model.bogus=1")) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) for model 'char_cnn_small': bogus" in err and "conv_features" in err
    assert train.main(_args(tiny_data_dir, str(tmp_path / "c"), "eval.split=dev")) == 2
    assert "split 'dev' not in" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "a" / "config.yaml")
    # A value the model's builder refuses is one error line too (not a traceback), with its reason.
    assert train.main(_args(tiny_data_dir, str(tmp_path / "d"), "model.dropout=1.5")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err == ["error: model 'char_cnn_small' cannot be built from this config: "
                   "dropout must be in [0, 1), got 1.5"]


def _copy(data_dir: str, dest) -> tuple[str, manifest_lib.Manifest]:
    shutil.copytree(data_dir, dest)
    return str(dest), manifest_lib.load(str(dest))


def test_corrupt_shard_is_named(tiny_data_dir, tmp_path, capsys):
    data_dir, m = _copy(tiny_data_dir, tmp_path / "data")
    shard = m.shard_paths(data_dir, "train")[1]
    raw = bytearray(open(shard, "rb").read())
    raw[len(raw) // 2] ^= 0xFF  # same size: only reading the records finds it
    open(shard, "wb").write(bytes(raw))
    assert train.main(_args(data_dir, str(tmp_path / "run"), "train.epochs=1")) == 2
    err = capsys.readouterr().err
    assert "corrupt shard" in err and shard in err and "DataLossError" in err
    assert m.shard_paths(data_dir, "train")[0] not in err

    # A truncated shard is caught before training by the manifest's sizes.
    open(shard, "wb").write(bytes(raw[: len(raw) // 3]))
    assert train.main(_args(data_dir, str(tmp_path / "run2"), "train.epochs=1")) == 2
    err = capsys.readouterr().err
    assert shard in err and "truncated" in err


def test_unfinished_run_with_another_config_is_not_resumed(tiny_data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    os.makedirs(os.path.join(model_dir, runs.BACKUP_DIR))
    with open(os.path.join(model_dir, runs.BACKUP_DIR, "training_metadata.json"), "w") as f:
        json.dump({"epoch": 1, "batch": 0}, f)
    runs.save_config(model_dir, config.from_dict({"data": {"dir": tiny_data_dir}}, ["train.learning_rate=0.1"]))
    cfg = config.from_dict({"data": {"dir": tiny_data_dir}}, ["train.learning_rate=0.2", "train.epochs=3"])
    with pytest.raises(train.TrainError, match=r"train.learning_rate: 0.1 -> 0.2.*--fresh"):
        train.train(cfg, model_dir, verbose=0)


def test_half_written_backup_falls_back_to_the_previous_one(tmp_path):
    backup = tmp_path / runs.BACKUP_DIR
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"epoch 3 weights")
    (backup / "training_metadata.json").write_text('{"epoch": 3, "ba')  # killed mid-write
    (backup / "latest.weights.h5.bkp").write_bytes(b"epoch 2 weights")
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 2, "batch": 0}')
    assert runs.backup_epoch(str(tmp_path)) is None
    runs.repair_backup(str(tmp_path))
    assert runs.backup_epoch(str(tmp_path)) == 2
    assert (backup / "latest.weights.h5").read_bytes() == b"epoch 2 weights"
    # Without a previous backup there is nothing to resume.
    (backup / "training_metadata.json").write_text("{")
    for name in ("latest.weights.h5.bkp", "training_metadata.json.bkp"):
        (backup / name).unlink()
    runs.repair_backup(str(tmp_path))
    assert not backup.exists()


def test_precision_and_strategy_choices():
    assert devices.resolve_precision("auto") == ("mixed_float16" if devices.gpu_compute_capabilities() else "float32")
    assert devices.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert devices.make_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(devices.make_strategy("one_device"), tf.distribute.OneDeviceStrategy)


def test_mixed_bfloat16_keeps_a_float32_softmax(tiny_data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    assert train.main(_args(tiny_data_dir, model_dir, "train.epochs=1",
                            "train.mixed_precision=mixed_bfloat16", "train.confusion_every=0")) == 0
    assert keras.config.dtype_policy().name == "float32"  # restored after the run
    results = json.load(open(os.path.join(model_dir, "train_results.json")))
    assert results["mixed_precision"] == "mixed_bfloat16"
    model = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
    assert np.isfinite(results["final"]["loss"])


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"train exited early ({proc.returncode}):\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the first epoch")
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_then_restart_resumes_and_finishes(tiny_data_dir, tmp_path):
    """Kill -9 after the first completed epoch; the same command finishes the run from there.

    Slow (two fresh TensorFlow processes, one SIGKILLed): the fast suite covers the same
    resume path in process, tests/test_resume.py::test_a_killed_run_resumes_to_the_
    uninterrupted_result (a kill after a committed backup and one between writing and
    committing the weights; the resumed run equals the uninterrupted one, its learning rate
    schedule and optimizer step count included, and prints "resuming after epoch")."""
    model_dir = str(tmp_path / "run")
    epochs = 3
    # Paper epoch sampling makes each epoch 80 steps (long enough to kill between epochs).
    cmd = [sys.executable, "-m", "tfpipe.train", *_args(
        tiny_data_dir, model_dir, f"train.epochs={epochs}", "data.epoch_samples=1600",
        "train.optimizer=sgd", "train.learning_rate=0.01", "train.schedule=paper_step",
        "train.lr_decay_every=1", "train.confusion_every=0",
        "train.tensorboard_filters=0",
    )]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}

    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # The backup's epoch counter is what a restart resumes from.
    _wait_for(lambda: (runs.backup_epoch(model_dir) or 0) >= 1, 120, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    resumed = runs.backup_epoch(model_dir)
    assert 1 <= resumed < epochs, "the first run finished before it could be killed"
    assert not os.path.exists(os.path.join(model_dir, "train_results.json"))

    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resuming after epoch {resumed} of {epochs}" in second.stdout

    results = json.load(open(os.path.join(model_dir, "train_results.json")))
    assert results["epochs_run"] == epochs and results["resumed_from_epoch"] == resumed
    assert results["sessions"] == 2
    history = runs.read_progress(model_dir)
    assert [r["epoch"] for r in history] == list(range(epochs))
    sessions = [r["session"] for r in history]
    assert len(set(sessions[:resumed])) == 1 and sessions[resumed] != sessions[0]
    assert len(set(sessions[resumed:])) == 1  # the restart ran only the remaining epochs
    # The schedule continued by epoch index: 0.01 halved every epoch.
    assert [r["logs"]["learning_rate"] for r in history] == pytest.approx([0.01 / 2**e for e in range(epochs)])
    # The optimizer state came back too: its step counter covers every epoch.
    model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == epochs * results["steps_per_epoch"] == epochs * 80
    assert not os.path.exists(os.path.join(model_dir, runs.BACKUP_DIR))
