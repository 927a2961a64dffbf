"""Exact resume: a run killed at any point and restarted ends as the uninterrupted run did.

Same final weights (bit for bit), same per-epoch metrics, same optimizer step count, on CPU with
the config's seed and without ``train.deterministic``.  The fast tests stop a run in-process (an
exception raised from a callback where a kill could land); the slow one SIGKILLs real
``python -m tfpipe.train`` processes at three points and restarts them.
"""
from __future__ import annotations

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

import tfpipe.models  # noqa: F401  (registers the layers model.keras files use)
from tfpipe import train
from tfpipe.training import callbacks as cb
from tfpipe.training import runs
from tests.test_train import TINY_MODEL, TINY_TRAIN

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THESAURUS = os.path.join(os.path.dirname(__file__), "data", "thesaurus_small.tsv")

# Every source of run-to-run state at once: dropout (char_cnn_small's fc layers, 0.5), Adam's
# moments and step count, a schedule that changes every epoch, on-the-fly thesaurus
# augmentation (a seeded draw per batch), a validation holdout carved from train and a last
# partial batch (93 training rows, batch 20).
RESUME_SETS = [
    "train.epochs=4", "train.optimizer=adam", "train.learning_rate=0.01", "train.schedule=paper_step",
    "train.lr_decay_every=1", f"data.thesaurus={THESAURUS}", "data.validation_fraction=0.2",
    "train.confusion_every=0", "train.tensorboard_filters=0",
]
EPOCHS = 4


def _argv(data_dir: str, model_dir: str, *sets: str) -> list[str]:
    argv = ["--data_dir", data_dir, "--model_dir", model_dir, "--verbose", "0"]
    for s in (*TINY_MODEL, *TINY_TRAIN, *RESUME_SETS, *sets):
        argv += ["--set", s]
    return argv


class Killed(BaseException):
    """Stands for a kill: not an Exception, so nothing on the way out handles it."""


def _weights(model_dir: str) -> list[np.ndarray]:
    return keras.models.load_model(os.path.join(model_dir, runs.MODEL_FILE), compile=False).get_weights()


def _history(model_dir: str) -> list[dict]:
    """Per-epoch records without the wall-clock fields."""
    return [{"epoch": r["epoch"], **r["logs"]} for r in runs.read_progress(model_dir)]


def _results(model_dir: str) -> dict:
    with open(os.path.join(model_dir, runs.TRAIN_RESULTS)) as f:
        return json.load(f)


def assert_same_run(resumed: str, reference: str) -> None:
    """Same weights (model.keras and the best checkpoint), metrics, step count and record."""
    for a, b in zip(_weights(resumed), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    model_a = keras.models.load_model(os.path.join(resumed, runs.MODEL_FILE))
    model_b = keras.models.load_model(os.path.join(reference, runs.MODEL_FILE))
    assert int(model_a.optimizer.iterations.numpy()) == int(model_b.optimizer.iterations.numpy())
    for a, b in zip(model_a.optimizer.variables, model_b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert _history(resumed) == _history(reference)
    a, b = _results(resumed), _results(reference)
    assert a["final"] == b["final"] and a["epochs_run"] == b["epochs_run"]
    assert a["best_epoch"] == b["best_epoch"] and a["best_val_accuracy"] == b["best_val_accuracy"]
    assert [{k: v for k, v in h.items() if k != "train_time_s"} for h in a["history"]] == [
        {k: v for k, v in h.items() if k != "train_time_s"} for h in b["history"]]
    best_a, best_b = (os.path.join(d, runs.BEST_WEIGHTS) for d in (resumed, reference))
    m = keras.models.load_model(os.path.join(reference, runs.MODEL_FILE), compile=False)
    m.load_weights(best_a)
    wa = m.get_weights()
    m.load_weights(best_b)
    for x, y in zip(wa, m.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not os.path.exists(os.path.join(resumed, runs.BACKUP_DIR))


@pytest.fixture(scope="module")
def reference_run(tiny_data_dir, tmp_path_factory) -> str:
    """The uninterrupted run every resumed one is compared with."""
    model_dir = str(tmp_path_factory.mktemp("reference") / "run")
    assert train.main(_argv(tiny_data_dir, model_dir)) == 0
    results = _results(model_dir)
    assert results["epochs_run"] == EPOCHS and results["steps_per_epoch"] == 5  # ceil(93 / 20)
    return model_dir


def _kill_after_backup(monkeypatch, epochs_done: int) -> None:
    """Killed right after the backup of ``epochs_done`` epochs is committed."""
    original = cb.EpochBackup.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == epochs_done:
            raise Killed

    monkeypatch.setattr(cb.EpochBackup, "on_epoch_end", on_epoch_end)


def _kill_mid_epoch(monkeypatch, epoch: int, batch: int) -> None:
    """Killed after training batch ``batch`` of (0-based) ``epoch``."""
    state = {}
    original = cb.EpochSeeds.on_epoch_begin

    def on_epoch_begin(self, e, logs=None):
        state["epoch"] = e
        original(self, e, logs)

    def on_train_batch_end(self, b, logs=None):
        if state.get("epoch") == epoch and b == batch:
            raise Killed

    monkeypatch.setattr(cb.EpochSeeds, "on_epoch_begin", on_epoch_begin)
    monkeypatch.setattr(cb.EpochSeeds, "on_train_batch_end", on_train_batch_end, raising=False)


def _kill_before_commit(monkeypatch, epochs_done: int) -> None:
    """Killed after the weights of ``epochs_done`` epochs are written, before they are committed."""
    original = runs.commit_backup

    def commit_backup(backup_dir, epoch, weights_name):
        if epoch == epochs_done:
            raise Killed
        original(backup_dir, epoch, weights_name)

    monkeypatch.setattr(runs, "commit_backup", commit_backup)


KILLS = {
    # name: (how, resumes after this many epochs)
    "after_epoch_2": (lambda mp: _kill_after_backup(mp, 2), 2),
    "mid_epoch_3": (lambda mp: _kill_mid_epoch(mp, epoch=2, batch=2), 2),
    "mid_epoch_1": (lambda mp: _kill_mid_epoch(mp, epoch=0, batch=1), 0),
    "weights_written_not_committed": (lambda mp: _kill_before_commit(mp, 3), 2),
}


# In the fast suite: a kill after a committed backup and one between writing and committing
# the weights; the mid-epoch kills (the partial epoch is redone from the same backup) are slow.
@pytest.mark.parametrize("kill", [
    "after_epoch_2",
    pytest.param("mid_epoch_1", marks=pytest.mark.slow),
    pytest.param("mid_epoch_3", marks=pytest.mark.slow),
    "weights_written_not_committed",
])
def test_a_killed_run_resumes_to_the_uninterrupted_result(kill, reference_run, tiny_data_dir, tmp_path, monkeypatch,
                                                          capsys):
    how, resumes_after = KILLS[kill]
    model_dir = str(tmp_path / "run")
    with monkeypatch.context() as mp:
        how(mp)
        with pytest.raises(Killed):
            train.main(_argv(tiny_data_dir, model_dir))
    assert (runs.backup_epoch(model_dir) or 0) == resumes_after
    assert not os.path.exists(os.path.join(model_dir, runs.TRAIN_RESULTS))

    capsys.readouterr()
    assert train.main(_argv(tiny_data_dir, model_dir)) == 0
    resumed_line = f"tfpipe.train: resuming after epoch {resumes_after} of {EPOCHS} from {model_dir}"
    assert (resumed_line in capsys.readouterr().out) == bool(resumes_after)
    results = _results(model_dir)
    assert results["resumed_from_epoch"] == resumes_after
    assert results["sessions"] == (2 if resumes_after else 1)
    assert_same_run(model_dir, reference_run)


SAMPLING_SETS = ["data.epoch_samples=80", "train.epochs=6", "train.steps_per_execution=2",
                 "train.early_stopping_patience=1", "train.early_stopping_monitor=val_accuracy"]


@pytest.fixture(scope="module")
def sampling_reference(tiny_data_dir, tmp_path_factory) -> tuple[str, int]:
    """The uninterrupted epoch-sampling run with early stopping, and the epochs it ran."""
    reference = str(tmp_path_factory.mktemp("sampling") / "reference")
    assert train.main(_argv(tiny_data_dir, reference, *SAMPLING_SETS)) == 0
    ref = _results(reference)
    assert ref["steps_per_epoch"] == 4  # 80 // 20: steps_per_execution 2 divides it
    stopped = ref["epochs_run"]
    assert stopped < 6, "early stopping never fired: the test would not check its replay"
    return reference, stopped


# Killed after this many epochs (of the reference's `stopped`): one epoch before the stop
# (the resumed run skips the batches already trained on, replays the patience count and
# stops after one epoch), after the first epoch, and after the last backup (the resumed run
# stops without training).  All slow (~15 s each on 2 cores): the fast suite checks the
# pieces, the resumed epoch-sampling stream (tests/test_pipeline.py::test_training_epochs_
# are_a_function_of_the_seed_and_the_epoch), the patience replay
# (test_early_stopping_replays_the_finished_epochs) and steps_per_execution
# (test_steps_per_execution_divides_the_epoch), and a whole resumed run above.
SAMPLING_KILLS = {"before_the_stop": lambda stopped: stopped - 1,
                  "after_the_first": lambda stopped: 1,
                  "after_the_last": lambda stopped: stopped}


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["before_the_stop", "after_the_first", "after_the_last"])
def test_epoch_sampling_and_early_stopping_resume_exactly(kill, sampling_reference, tiny_data_dir, tmp_path,
                                                          monkeypatch):
    """The paper's epoch sampling (an endless stream: a resumed run skips the batches already
    trained on), steps_per_execution and early stopping (its patience count is replayed)."""
    reference, stopped = sampling_reference
    kill_after = SAMPLING_KILLS[kill](stopped)
    model_dir = str(tmp_path / f"killed_after_{kill_after}")
    with monkeypatch.context() as mp:
        _kill_after_backup(mp, kill_after)
        with pytest.raises(Killed):
            train.main(_argv(tiny_data_dir, model_dir, *SAMPLING_SETS))
    assert train.main(_argv(tiny_data_dir, model_dir, *SAMPLING_SETS)) == 0
    assert _results(model_dir)["epochs_run"] == stopped
    assert_same_run(model_dir, reference)


def test_steps_per_execution_divides_the_epoch():
    from tfpipe.training import loop

    assert loop.steps_per_execution(1, 5) == 1
    assert loop.steps_per_execution(2, 5) == 1
    assert loop.steps_per_execution(4, 6) == 3
    assert loop.steps_per_execution(8, 80) == 8
    assert loop.steps_per_execution(100, 6) == 6


def test_early_stopping_replays_the_finished_epochs():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    logs = [0.5, 0.6, 0.55, 0.58]  # val_accuracy: best at epoch 1, then two without improvement
    history = [{"epoch": e, "logs": {"val_accuracy": v}} for e, v in enumerate(logs)]

    es = cb.ResumableEarlyStopping(history=history[:3], monitor="val_accuracy", mode="max", patience=2)
    es.set_model(model)
    assert es.replay() is False
    assert es.best == 0.6 and es.wait == 1 and es.best_epoch == 1
    es = cb.ResumableEarlyStopping(history=history, monitor="val_accuracy", mode="max", patience=2)
    es.set_model(model)
    assert es.replay() is True and es.stopped_epoch == 3
    assert not getattr(model, "stop_training", False)


def test_dropout_is_reseeded_per_epoch():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.Dropout(0.5),
                              keras.layers.Dropout(0.3)])
    states = cb.seed_states(model)
    assert len(states) == 2
    seeds = cb.EpochSeeds(7)
    seeds.set_model(model)
    seeds.on_epoch_begin(3)
    first = [keras.ops.convert_to_numpy(s).tolist() for s in states]
    model(np.ones((2, 4)), training=True)  # draws advance the counters
    assert [keras.ops.convert_to_numpy(s).tolist() for s in states] != first
    seeds.on_epoch_begin(3)
    assert [keras.ops.convert_to_numpy(s).tolist() for s in states] == first
    assert first[0][1] == 0 and first[0][0] != first[1][0]
    seeds.on_epoch_begin(4)
    assert [keras.ops.convert_to_numpy(s).tolist() for s in states] != first


# ---------------------------------------------------------------------------
# SIGKILL of real processes


SLOW_EPOCHS = 4


@pytest.fixture(scope="module")
def embedded_small(tmp_path_factory) -> str:
    """800 train / 100 test rows of the built-in corpus, l0 = 256, 2 shards."""
    from tfpipe.data import embedded, records

    data_dir = str(tmp_path_factory.mktemp("embedded_small"))
    splits = {split: [(r.example_id, r.text, r.label) for r in embedded.rows(split, n)]
              for split, n in (("train", 800), ("test", 100))}
    records.write_dataset(data_dir, splits, embedded.CLASS_NAMES, l0=256, max_words=64, num_shards=2)
    return data_dir


def _slow_cmd(data_dir: str, model_dir: str) -> list[str]:
    """The default config (Char-CNN small, Adam, batch 32, cached input) with narrower layers, in
    float32: a subprocess reads the real /proc/cpuinfo, where ``auto`` may pick mixed_bfloat16."""
    sets = [f"train.epochs={SLOW_EPOCHS}", "model.conv_features=32", "model.fc_units=64",
            "train.tensorboard_filters=4", "data.validation_fraction=0.1", "train.mixed_precision=float32"]
    cmd = [sys.executable, "-m", "tfpipe.train", "--data_dir", data_dir, "--model_dir", model_dir,
           "--verbose", "2"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def _start(cmd: list[str], log_path: str) -> tuple[subprocess.Popen, object]:
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=log, stderr=subprocess.STDOUT, text=True), log


def _wait(predicate, proc: subprocess.Popen, log_path: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"train exited ({proc.returncode}) before the kill point:\n{open(log_path).read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for the kill point:\n{open(log_path).read()}")
        time.sleep(0.01)


def _in_log(log_path: str, text: str):
    return lambda: text in open(log_path).read()


@pytest.mark.slow
def test_sigkill_at_three_points_then_restart_gives_the_uninterrupted_run(embedded_small, tmp_path):
    started = time.monotonic()
    reference = str(tmp_path / "reference")
    done = subprocess.run(_slow_cmd(embedded_small, reference), cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    epoch_s = max(r["train_time_s"] for r in runs.read_progress(reference)[1:])  # without tracing
    lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == SLOW_EPOCHS and lines[0].startswith(f"epoch 1/{SLOW_EPOCHS}: loss ")

    # (name, kill when this holds, epochs the backup holds at the kill)
    header = "tfpipe.train: char_cnn_small"
    points = [
        ("mid_epoch_1", header, lambda d: False, 0),
        ("after_epoch_2", None, lambda d: runs.backup_epoch(d) == 2, 2),
        ("mid_last_epoch", None, lambda d: runs.backup_epoch(d) == SLOW_EPOCHS - 1, SLOW_EPOCHS - 1),
    ]
    for name, text, ready, expected in points:
        model_dir = str(tmp_path / name)
        log_path = str(tmp_path / f"{name}.log")
        proc, log = _start(_slow_cmd(embedded_small, model_dir), log_path)
        if text:  # mid-epoch 1: a moment after fit starts (the first epoch also traces the model)
            _wait(_in_log(log_path, text), proc, log_path)
            time.sleep(0.5 * epoch_s)
        else:
            _wait(lambda: ready(model_dir), proc, log_path)
            if name == "mid_last_epoch":
                time.sleep(0.5 * epoch_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
        assert proc.returncode == -signal.SIGKILL, open(log_path).read()
        assert (runs.backup_epoch(model_dir) or 0) == expected, (name, open(log_path).read())
        if name.startswith("mid_"):  # inside the epoch: before its progress line
            assert len(runs.read_progress(model_dir)) == expected, name
        assert not os.path.exists(os.path.join(model_dir, runs.TRAIN_RESULTS))

        again = subprocess.run(_slow_cmd(embedded_small, model_dir), cwd=REPO, env=ENV, capture_output=True,
                               text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        if expected:
            assert f"resuming after epoch {expected} of {SLOW_EPOCHS}" in again.stdout
        assert _results(model_dir)["resumed_from_epoch"] == expected
        assert_same_run(model_dir, reference)
        shutil.rmtree(model_dir)
    print(f"\nslow exact-resume test: {time.monotonic() - started:.0f} s, epoch {epoch_s:.1f} s")
