"""Training skip-gram word vectors from a config (``python -m tfpipe.train`` with ``model.name: skipgram``).

    python -m tfpipe.train --config configs/skipgram_ag_news.yaml

Reads the word ids of the ``train`` split (or of every split that
``data.train_splits`` names, e.g. ``train+test`` for all the text), makes
(target, context) pairs in tf.data
(:mod:`tfpipe.embeddings.skipgram_data`), trains :class:`tfpipe.models.skipgram.SkipGram`
and writes into the run directory:

    config.yaml          the resolved config
    vectors.txt          word2vec text format   (tfpipe.embeddings.word2vec_format)
    vectors.bin          word2vec binary format
    vectors.npy          float32 [words, dim], the same rows
    words.txt            one word per line, in the rows' order (most frequent first)
    train_results.json   words/s, pairs/s, training time, vocabulary size, losses ...
    logs/                TensorBoard: train/ (loss, words_per_sec, learning_rate every
                         LOG_EVERY steps and per epoch), validation/ (held-out pair loss)

Only words seen at least ``model.min_count`` times are exported.

Word counts (``min_count``, subsampling, the noise distribution, the Huffman
tree, the words per epoch): from the data directory's ``vocab.tsv`` when the
vectors learn from ``train`` alone (the preprocessing job counts its
vocabulary there); with ``data.train_splits`` naming more splits, counted from
the word ids of those splits' records, so that they describe the text trained
on.  The words are then reordered most frequent first by those counts (word2vec's
order, which the model and the exported files follow) and the pairs' ids are
mapped to that order inside tf.data.  The vocabulary itself is the data
directory's: a word that never occurs in its ``train`` split is out of
vocabulary in every split and is not learnt.  The splits are interleaved at
random, each in proportion to its words, so every part of an epoch mixes them.

Config keys used: ``data.dir``, ``data.cache``, ``data.verify``; every
``model`` key (the builder's, see :func:`tfpipe.models.skipgram.skipgram`);
``train.epochs``, ``train.batch_size`` (pairs per step), ``train.optimizer``
(``sgd`` = word2vec's plain SGD with sparse row updates; with ``momentum > 0``
or another optimizer the update of each table is dense, i.e. much slower),
``train.learning_rate`` (word2vec: 0.025 per pair), ``train.schedule``
(counted in words, as word2vec.c: ``linear`` from the rate down to
``rate * 1e-4`` at the last word, ``cosine`` down to ``train.lr_min``,
``constant``), ``train.seed``, ``train.steps_per_execution``,
``train.deterministic``; ``eval.split`` (if the data has it and the vectors do
not learn from it: the held-out pair loss after each epoch) and
``eval.batch_size``; ``data.train_splits``.  ``data.validation_fraction`` is
not supported (the held-out pairs come from a stored split).
A rerun into the same directory starts over.
"""
from __future__ import annotations

import os
import time
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfpipe import config as config_lib
from tfpipe.text import tokenize

MODEL_NAME = "skipgram"
LOG_EVERY = 200  # steps between TensorBoard points
# A run whose mean pair loss exceeds this multiple of its initial loss has diverged.
DIVERGENCE_FACTOR = 10.0
GUARD_EVERY = 20  # steps between divergence checks
# Seed offset of each further split of data.train_splits (split k reads with train.seed + k * stride).
PART_SEED_STRIDE = 1_000_003

VECTORS_TXT = "vectors.txt"
VECTORS_BIN = "vectors.bin"
VECTORS_NPY = "vectors.npy"
WORDS_TXT = "words.txt"


def _schedule_error(schedule: str) -> str:
    from tfpipe.models.skipgram import SCHEDULES

    return (
        f"train.schedule={schedule!r} does not apply to skip-gram; valid schedules (counted in "
        f"words, as word2vec.c): {', '.join(SCHEDULES)} (word2vec: linear)"
    )


def _check(cfg: config_lib.Config) -> None:
    if cfg.model_name != MODEL_NAME:
        raise config_lib.ConfigError(f"tfpipe.training.skipgram trains model.name={MODEL_NAME!r}, got {cfg.model_name!r}")
    from tfpipe.models import skipgram  # registers the builder

    if cfg.train.schedule not in skipgram.SCHEDULES:
        raise config_lib.ConfigError(_schedule_error(cfg.train.schedule))

    config_lib.validate_model(cfg)
    if cfg.data.validation_fraction:
        raise config_lib.ConfigError(
            f"data.validation_fraction={cfg.data.validation_fraction} does not apply to skipgram: its "
            "held-out pair loss comes from a stored split (eval.split); set data.validation_fraction=0"
        )
    train_splits(cfg)


def train_splits(cfg: config_lib.Config) -> list[str]:
    """The stored splits named by ``data.train_splits`` (``"train+test"`` -> ``["train", "test"]``)."""
    text = cfg.data.train_splits
    names = [part.strip() for part in text.split("+")]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise config_lib.ConfigError(
            f"data.train_splits={text!r}: expected split names joined by '+', each named once "
            "(e.g. 'train' or 'train+test')"
        )
    return names


def split_counts(data_dir: str, splits: list[str], manifest) -> np.ndarray:
    """Occurrences of every vocabulary word (``int64``, by vocabulary position) in the word ids
    of the records of ``splits``."""
    from tfpipe.data import pipeline

    size = tokenize.vocab_size(manifest.vocab_words)
    total = np.zeros(size, dtype=np.int64)
    for split in splits:
        ds = pipeline.make_dataset(data_dir, split, feature="word_ids", batch_size=4096, manifest=manifest)
        counted = ds.reduce(
            tf.zeros([size], tf.int64),
            lambda acc, batch: acc + tf.math.bincount(
                tf.reshape(tf.cast(batch[0], tf.int32), [-1]), minlength=size, maxlength=size, dtype=tf.int64
            ),
        )
        total += counted.numpy()
    return total[tokenize.FIRST_WORD_ID:]


def train(cfg: config_lib.Config, model_dir: str, *, verbose: int | str = 1) -> dict[str, Any]:
    """Trains skip-gram vectors as ``cfg`` says into ``model_dir``; returns train_results.

    Raises ``config.ConfigError`` for a bad config and
    ``tfpipe.training.datasets.DataError`` for missing or corrupt data.
    """
    from tfpipe import models
    from tfpipe.data import pipeline
    from tfpipe.data import skipgram_pairs as skipgram_data
    from tfpipe.training import callbacks as cb
    from tfpipe.training import datasets, devices, optimizers, runs

    _check(cfg)
    t = cfg.train
    data_dir = cfg.data.dir
    splits = train_splits(cfg)
    manifest = datasets.load_manifest(data_dir)
    datasets.check_splits(data_dir, manifest, splits)
    try:
        words, counts = skipgram_data.read_counts(data_dir, manifest)
    except ValueError as e:
        raise datasets.DataError(str(e)) from None
    remap = None  # data-directory word id -> the model's word id (None: the same)
    model_words, model_counts = words, counts
    if splits != ["train"]:
        try:
            counts = split_counts(data_dir, splits, manifest)
        except datasets.READ_ERRORS as e:
            error = datasets.corrupt_shard_error(data_dir, manifest, splits, e)
            if error is None:
                raise
            raise error from None
        order = np.argsort(-counts, kind="stable")  # ties keep vocab.tsv's order
        model_words, model_counts = [words[i] for i in order], counts[order]
        ids = np.arange(tokenize.vocab_size(len(words)), dtype=np.int64)
        ids[order + tokenize.FIRST_WORD_ID] = np.arange(len(words), dtype=np.int64) + tokenize.FIRST_WORD_ID
        remap = tf.constant(ids)
    os.makedirs(model_dir, exist_ok=True)
    runs.clear(model_dir)
    for name in (VECTORS_TXT, VECTORS_BIN, VECTORS_NPY, WORDS_TXT):
        if os.path.exists(os.path.join(model_dir, name)):
            os.remove(os.path.join(model_dir, name))
    runs.save_config(model_dir, cfg)
    started = time.time()

    keras.utils.set_random_seed(t.seed)
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # sparse row updates of float32 tables
    try:
        kwargs = {"seed": t.seed, **cfg.model_kwargs}
        model = models.build(
            MODEL_NAME, vocab_size=tokenize.vocab_size(len(words)), vocab=model_words,
            vocab_counts=[int(c) for c in model_counts], **kwargs
        )
        data_kwargs = dict(
            window=model.window, subsample=model.subsample, min_count=model.min_count, counts=counts,
            manifest=manifest, verify=cfg.data.verify,
        )
        split_words = {
            split: skipgram_data.count_words(
                data_dir, split, min_count=model.min_count, counts=counts, manifest=manifest
            )
            for split in splits
        }
        words_per_epoch = sum(split_words.values())
        if words_per_epoch == 0:
            raise datasets.DataError(
                f"the {'+'.join(splits)} split(s) of {data_dir} have no word seen min_count={model.min_count} "
                "times: nothing to train"
            )

        def to_model_ids(batch):
            return {**batch, "target": tf.gather(remap, batch["target"]), "context": tf.gather(remap, batch["context"])}

        try:
            parts = [
                skipgram_data.pairs_dataset(
                    data_dir, split, batch_size=t.batch_size, seed=t.seed + PART_SEED_STRIDE * k, shuffle=True,
                    cache=cfg.data.cache, **data_kwargs,
                )
                for k, split in enumerate(splits)
            ]
            if len(parts) == 1:
                train_ds = parts[0]
            else:
                # Interleaved at random, each split in proportion to its words (new draws every epoch).
                train_ds = tf.data.Dataset.sample_from_datasets(
                    parts, weights=[split_words[s] / words_per_epoch for s in splits], seed=t.seed,
                    stop_on_empty_dataset=False, rerandomize_each_iteration=True,
                )
            if remap is not None:
                train_ds = train_ds.map(to_model_ids, num_parallel_calls=tf.data.AUTOTUNE)
            val_split = cfg.eval.split
            val_ds = None
            if val_split in splits:
                if verbose and val_split != "train":
                    print(f"tfpipe.train: no held-out pair loss: eval.split={val_split!r} is trained on "
                          f"(data.train_splits={'+'.join(splits)!r})", flush=True)
            elif val_split in manifest.splits:
                # The held-out pair loss: the same pairs every epoch (fixed seed, no shuffling).
                val_ds = skipgram_data.pairs_dataset(
                    data_dir, val_split, batch_size=t.batch_size, seed=t.seed + 1, shuffle=False,
                    cache=True, **data_kwargs,
                )
                if remap is not None:
                    val_ds = val_ds.map(to_model_ids)
        except pipeline.CorruptShardError as e:
            raise datasets.DataError(str(e)) from None
        model.configure_schedule(
            base=t.learning_rate, schedule=t.schedule, total_words=float(words_per_epoch) * t.epochs,
            lr_min=t.lr_min,
        )
        model.compile(optimizer=optimizers.make_optimizer(t), steps_per_execution=t.steps_per_execution)
        if t.optimizer != "sgd" or t.momentum:
            print(
                f"tfpipe.train: warning: optimizer {t.optimizer} (momentum {t.momentum}) updates every row "
                "of both tables each step; word2vec's plain SGD (train.optimizer: sgd, train.momentum: 0) "
                "updates only the batch's rows and is much faster", flush=True,
            )

        log_dir = os.path.join(model_dir, runs.LOG_DIR)
        cb.write_hparams(log_dir, cfg.flat())
        logger = ThroughputLog(log_dir, every=LOG_EVERY)
        guard = DivergenceGuard(limit=DIVERGENCE_FACTOR * model.initial_loss())
        if verbose:
            print(
                f"tfpipe.train: skipgram dim {model.dim}, {model.loss_name}, {model.num_trained:,} words "
                f"(min_count {model.min_count}) of {len(words):,} in {data_dir} ({'+'.join(splits)}); "
                f"{words_per_epoch:,} words per "
                f"epoch x {t.epochs} epochs, window {model.window}, subsample {model.subsample:g}, batch "
                f"{t.batch_size} pairs, {t.optimizer} lr {t.learning_rate} ({t.schedule})",
                flush=True,
            )
        try:
            with warnings.catch_warnings():
                # Pairs per epoch are random (subsampling, windows): Keras learns the epoch's length
                # when the data runs out, and says so every epoch.
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                history = model.fit(
                    train_ds, epochs=t.epochs, validation_data=val_ds, callbacks=[logger, guard],
                    verbose=verbose, shuffle=False,
                )
        except datasets.READ_ERRORS as e:
            error = datasets.corrupt_shard_error(data_dir, manifest, splits, e)
            if error is None:
                raise
            raise error from None
    finally:
        keras.config.set_dtype_policy(previous_policy)

    if guard.diverged:
        from tfpipe.train import TrainError

        step, loss = guard.diverged
        raise TrainError(
            f"skip-gram training diverged at step {step} (mean pair loss {loss:.4g}, it starts at "
            f"{model.initial_loss():.3f}): a batch of {t.batch_size} pairs sums too many updates of the "
            "most frequent words' rows. Use a smaller train.batch_size (4096 is stable on AG's News), "
            "a lower train.learning_rate, or set model.row_update_cap (e.g. 128)"
        )
    paths = export(model_dir, model_words, model)
    train_time = sum(logger.epoch_times)
    total_words = float(sum(logger.epoch_words))
    total_pairs = float(sum(logger.epoch_pairs))
    final = {k: float(v[-1]) for k, v in history.history.items()}
    results = {
        "model": MODEL_NAME,
        "data_dir": data_dir,
        "train_splits": splits,
        "counts_from": "vocab.tsv" if remap is None else f"the records of {'+'.join(splits)}",
        "val_split": val_split if val_ds is not None else None,
        "vocabulary_size": model.num_trained,
        "data_vocabulary_size": len(words),
        "dim": model.dim,
        "loss": model.loss_name,
        "negatives": model.negatives if model.loss_name == "negative_sampling" else None,
        "window": model.window,
        "subsample": model.subsample,
        "min_count": model.min_count,
        "epochs": t.epochs,
        "epochs_run": len(logger.epoch_times),
        "batch_size_pairs": t.batch_size,
        "optimizer": t.optimizer,
        "learning_rate": t.learning_rate,
        "schedule": t.schedule,
        "words_per_epoch": words_per_epoch,
        "words_trained": total_words,
        "pairs_trained": total_pairs,
        "training_time_s": train_time,
        # CPU seconds of this process while training (all threads; less sensitive than the
        # wall time to other jobs on a shared machine).
        "training_cpu_time_s": sum(logger.epoch_cpu_times),
        "words_per_sec": total_words / train_time if train_time > 0 else None,
        "pairs_per_sec": total_pairs / train_time if train_time > 0 else None,
        # records (texts) of the train split per second, the figure tfpipe.train prints
        "examples_per_sec": (
            sum(manifest.splits[s].count for s in splits) * len(logger.epoch_times) / train_time
            if train_time > 0 else None
        ),
        "steps": logger.steps,
        "final": {k: v for k, v in final.items() if k in ("loss", "val_loss")},
        "history": [
            {"epoch": i + 1, **{k: float(v[i]) for k, v in history.history.items() if k in ("loss", "val_loss")},
             "words_per_sec": w / s if s > 0 else None, "train_time_s": s}
            for i, (w, s) in enumerate(zip(logger.epoch_words, logger.epoch_times))
        ],
        "devices": devices.describe_devices(),
        "session_wall_time_s": time.time() - started,
        "files": paths,
        "tensorboard": f"tensorboard --logdir {log_dir}",
    }
    runs.write_json(os.path.join(model_dir, runs.TRAIN_RESULTS), results)
    cb.write_scalars(log_dir, {
        "final/loss": results["final"].get("loss", float("nan")),
        "final/words_per_sec": results["words_per_sec"] or 0.0,
        "final/training_time_s": train_time,
    }, step=t.epochs)
    if verbose:
        print(
            f"tfpipe.train: {total_words:,.0f} words in {train_time:.1f} s = "
            f"{results['words_per_sec'] or 0:,.0f} words/s ({results['pairs_per_sec'] or 0:,.0f} pairs/s); "
            f"vectors in {os.path.join(model_dir, VECTORS_TXT)}", flush=True,
        )
    return results


def export(model_dir: str, vocab: list[str], model) -> dict[str, str]:
    """Writes the trained words' input vectors in every format; returns the paths by name."""
    from tfpipe.embeddings import word2vec_format

    ids = model.trained_ids()
    words = [vocab[i - 2] for i in ids]
    vectors = model.word_vectors()
    paths = {name: os.path.join(model_dir, name) for name in (VECTORS_TXT, VECTORS_BIN, VECTORS_NPY, WORDS_TXT)}
    word2vec_format.save(paths[VECTORS_TXT], words, vectors, binary=False)
    word2vec_format.save(paths[VECTORS_BIN], words, vectors, binary=True)
    np.save(paths[VECTORS_NPY], vectors)
    with open(paths[WORDS_TXT], "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in words))
    return paths


def load_vectors(model_dir: str) -> tuple[list[str], np.ndarray]:
    """``(words, vectors)`` exported by :func:`train` (``words.txt`` + ``vectors.npy``)."""
    from tfpipe.embeddings import word2vec_format

    return word2vec_format.load_skipgram_vectors(model_dir)


def nearest(words: list[str], vectors: np.ndarray, query: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` words most cosine-similar to ``query`` (itself excluded), best first."""
    from tfpipe.embeddings.nearest import nearest as _nearest

    return _nearest(words, vectors, query, k)


class ThroughputLog(keras.callbacks.Callback):
    """TensorBoard scalars ``loss``, ``words_per_sec``, ``pairs_per_sec`` and
    ``learning_rate`` every ``every`` steps (in ``logs/train``), per-epoch words/s,
    and the per-epoch words, pairs and training times for the results."""

    def __init__(self, log_dir: str, every: int = LOG_EVERY):
        super().__init__()
        self.log_dir = log_dir
        self.every = every
        self.steps = 0
        self.epoch_times: list[float] = []
        self.epoch_words: list[float] = []
        self.epoch_pairs: list[float] = []
        self.epoch_cpu_times: list[float] = []
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        self._val_writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "validation"))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._mark = time.perf_counter()
        self._epoch_cpu = time.process_time()
        self._val_time = self._val_cpu = 0.0
        self._mark_words = 0.0
        self._epoch_first_step = self.steps

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras calls this once per execution, ``batch`` = last step.
        before, self.steps = self.steps, self._epoch_first_step + batch + 1
        if self.steps // self.every == before // self.every:
            return
        now = time.perf_counter()
        words = float(logs["words"])
        with self._writer.as_default(step=self.steps):
            tf.summary.scalar("loss", float(logs["loss"]))
            tf.summary.scalar("words_per_sec", (words - self._mark_words) / max(now - self._mark, 1e-9))
            tf.summary.scalar("learning_rate", float(logs["learning_rate"]))
        self._mark, self._mark_words = now, words

    def on_epoch_end(self, epoch, logs=None):
        # Validation runs inside the epoch: its time is taken out.
        elapsed = time.perf_counter() - self._epoch_start - self._val_time
        self.epoch_cpu_times.append(time.process_time() - self._epoch_cpu - self._val_cpu)
        words = float(logs.get("words", 0.0))
        pairs = float(logs.get("pairs", 0.0))
        self.epoch_times.append(elapsed)
        self.epoch_words.append(words)
        self.epoch_pairs.append(pairs)
        with self._writer.as_default(step=epoch + 1):
            tf.summary.scalar("epoch_loss", float(logs["loss"]))
            tf.summary.scalar("epoch_words_per_sec", words / max(elapsed, 1e-9))
            tf.summary.scalar("epoch_pairs_per_sec", pairs / max(elapsed, 1e-9))
        if "val_loss" in logs:
            with self._val_writer.as_default(step=epoch + 1):
                tf.summary.scalar("epoch_loss", float(logs["val_loss"]))
        self._writer.flush()
        self._val_writer.flush()

    def on_test_begin(self, logs=None):
        self._val_start, self._val_cpu_start = time.perf_counter(), time.process_time()

    def on_test_end(self, logs=None):
        self._val_time = time.perf_counter() - self._val_start
        self._val_cpu = time.process_time() - self._val_cpu_start

    def on_train_end(self, logs=None):
        self._writer.close()
        self._val_writer.close()


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training when the running pair loss is not finite or exceeds ``limit``;
    ``diverged`` is then ``(step, loss)``."""

    def __init__(self, limit: float, every: int = GUARD_EVERY):
        super().__init__()
        self.limit = limit
        self.every = every
        self.diverged: tuple[int, float] | None = None
        self._steps = 0

    def _check(self, loss: float) -> None:
        if not np.isfinite(loss) or loss > self.limit:
            self.diverged = (self._steps, float(loss))
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self._steps % self.every == 0 and logs and "loss" in logs:
            self._check(float(logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        if logs and "loss" in logs and self.diverged is None:
            self._check(float(logs["loss"]))
