"""``task: word_vectors``: skip-gram word vectors (``model.name: skipgram``) on the shared training loop.

    python -m tfpipe.train --config configs/skipgram_ag_news.yaml

Reads the word ids of the ``train`` split (or of every split that
``data.train_splits`` names, e.g. ``train+test`` for all the text) and trains
:class:`tfpipe.models.skipgram.SkipGram`: with the fused kernel (``model.kernel:
auto`` or ``fused``, plain SGD) on batches of whole sentences of about
:data:`FUSED_WORDS_PER_STEP` words, the kernel making the pairs itself; with the graph
kernel on (target, context) pairs made in tf.data (:mod:`tfpipe.data.skipgram_pairs`),
``train.batch_size`` pairs a step.  It writes into the run directory:

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
``train.epochs``, ``train.batch_size`` (pairs per step of the graph kernel), ``train.optimizer``
(``sgd`` = word2vec's plain SGD with sparse row updates; with ``momentum > 0``
or another optimizer the update of each table is dense, i.e. much slower),
``train.learning_rate`` (word2vec: 0.025 per pair), ``train.schedule``
(counted in words, as word2vec.c: ``linear`` from the rate down to
``rate * 1e-4`` at the last word, ``cosine`` down to ``train.lr_min``,
``constant``), ``train.seed``, ``train.steps_per_execution`` (at least
:data:`FUSED_STEPS_PER_EXECUTION` with the fused kernel),
``train.deterministic`` (with the fused kernel it also means one thread: Hogwild threads
race); ``eval.split`` (if the data has it and the vectors do
not learn from it: the held-out pair loss after each epoch) and
``eval.batch_size``; ``data.train_splits``.  ``data.validation_fraction`` is
not supported (the held-out pairs come from a stored split).
The run directory, TensorBoard hparams, progress log, epoch backup and resume, early
stopping (on ``val_loss`` or ``loss``) and the best-epoch checkpoint are the shared
loop's (:mod:`tfpipe.training.loop`).  Resume continues from the last completed
epoch's weights, optimizer state and words-seen count (the learning rate); it is not
exact: the resumed epochs draw other pairs and negatives than the uninterrupted run
(the pairs' shuffling and the one negative-sampling generator are not functions of the
epoch index, which keeps the figures of the runs before the seam).
"""
from __future__ import annotations

import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks.base import Plan, Task
from tfpipe.text import tokenize
from tfpipe.training.errors import TrainError

MODEL_NAME = "skipgram"
LOG_EVERY = 200  # steps between TensorBoard points
# A run whose mean pair loss exceeds this multiple of its initial loss has diverged.
DIVERGENCE_FACTOR = 10.0
GUARD_EVERY = 20  # steps between divergence checks
# Words per step of the fused kernel: word2vec.c recomputes its learning rate every 10,000 words;
# each step trains about this many (whole sentences) at one rate.
FUSED_WORDS_PER_STEP = 10_000
# Fewest steps per tf.function call with the fused kernel (train.steps_per_execution if larger).
FUSED_STEPS_PER_EXECUTION = 8
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
        raise config_lib.ConfigError(f"task word_vectors trains model.name={MODEL_NAME!r}, got {cfg.model_name!r}")
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


def split_counts(data, splits: list[str]) -> np.ndarray:
    """Occurrences of every vocabulary word (``int64``, by vocabulary position) in the word ids
    of the records of ``splits``."""
    from tfpipe.data import pipeline

    size = tokenize.vocab_size(data.manifest.vocab_words)
    total = np.zeros(size, dtype=np.int64)
    for split in splits:
        ds = pipeline.make_dataset(data, split, feature="word_ids", batch_size=4096)
        counted = ds.reduce(
            tf.zeros([size], tf.int64),
            lambda acc, batch: acc + tf.math.bincount(
                tf.reshape(tf.cast(batch[0], tf.int32), [-1]), minlength=size, maxlength=size, dtype=tf.int64
            ),
        )
        total += counted.numpy()
    return total[tokenize.FIRST_WORD_ID:]



@tasks.register
class WordVectors(Task):
    """Skip-gram word vectors (Mikolov et al. 2013, the language model of DeViSE section 3.1)."""

    name = "word_vectors"
    objective = ("val_loss", "min")
    # A classifier's keys that skip-gram does not read (its pairs come from tfpipe.data.skipgram_pairs;
    # the held-out pair loss from eval.split).
    unused_keys = ("data.validation_fraction", "data.feature", "data.epoch_samples", "data.trim_padding",
                   "data.thesaurus", "eval.validation_split")

    def model_names(self) -> list[str]:
        return [MODEL_NAME]

    def check(self, cfg: config_lib.Config) -> None:
        if cfg.model_name != MODEL_NAME:
            super().check(cfg)  # names the task's models
        _check(cfg)
        self._check_unused(cfg)

    def precision(self, cfg: config_lib.Config) -> str:
        return "float32"  # sparse row updates of float32 tables

    def train_splits(self, cfg: config_lib.Config) -> list[str]:
        return train_splits(cfg)

    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution) -> Plan:
        from tfpipe import models
        from tfpipe.data import pipeline
        from tfpipe.data import skipgram_pairs as skipgram_data
        from tfpipe.training import datasets, optimizers, runs

        manifest = data.manifest
        t = cfg.train
        splits = train_splits(cfg)
        try:
            words, counts = skipgram_data.read_counts(data)
        except ValueError as e:
            raise datasets.DataError(str(e)) from None
        remap = None  # data-directory word id -> the model's word id (None: the same)
        model_words, model_counts = words, counts
        if splits != ["train"]:
            with datasets.reading(data, splits):
                counts = split_counts(data, splits)
            order = np.argsort(-counts, kind="stable")  # ties keep vocab.tsv's order
            model_words, model_counts = [words[i] for i in order], counts[order]
            ids = np.arange(tokenize.vocab_size(len(words)), dtype=np.int64)
            ids[order + tokenize.FIRST_WORD_ID] = np.arange(len(words), dtype=np.int64) + tokenize.FIRST_WORD_ID
            remap = tf.constant(ids)
        if first_epoch == 0:
            for name in (VECTORS_TXT, VECTORS_BIN, VECTORS_NPY, WORDS_TXT):
                if os.path.exists(os.path.join(model_dir, name)):
                    os.remove(os.path.join(model_dir, name))

        kwargs = {"seed": t.seed, **cfg.model_kwargs}
        if t.deterministic and kwargs.get("threads", 0) != 1:
            kwargs["threads"] = 1  # the fused kernel's Hogwild threads race; one thread repeats exactly
        model = models.build(
            MODEL_NAME, vocab_size=tokenize.vocab_size(len(words)), vocab=model_words,
            vocab_counts=[int(c) for c in model_counts], **kwargs
        )
        data_kwargs = dict(
            window=model.window, subsample=model.subsample, min_count=model.min_count, counts=counts,
            verify=cfg.data.verify,
        )
        split_words = {
            split: skipgram_data.count_words(
                data, split, min_count=model.min_count, counts=counts
            )
            for split in splits
        }
        words_per_epoch = sum(split_words.values())
        if words_per_epoch == 0:
            raise datasets.DataError(
                f"the {'+'.join(splits)} split(s) of {data.path} have no word seen min_count={model.min_count} "
                "times: nothing to train"
            )

        def to_model_ids(batch):
            if "word_ids" in batch:
                return {"word_ids": tf.gather(remap, batch["word_ids"])}
            return {**batch, "target": tf.gather(remap, batch["target"]), "context": tf.gather(remap, batch["context"])}

        # The kernel decides what a training step takes: sentences (fused) or pairs (graph).
        optimizer = optimizers.make_optimizer(t)
        fused = model.pick_kernel(optimizer)[0] == "fused"
        if fused:
            model.set_keep_probabilities(skipgram_data.keep_probabilities(
                model_counts, min_count=model.min_count, subsample=model.subsample))

        records = sum(data.count(s) for s in splits)
        sentences_per_step = int(np.clip(round(FUSED_WORDS_PER_STEP * records / max(words_per_epoch, 1)), 1, 8192))

        def train_part(k: int, split: str) -> tf.data.Dataset:
            seed = t.seed + PART_SEED_STRIDE * k
            if fused:
                return skipgram_data.sentences_dataset(
                    data, split, seed=seed, shuffle=True, cache=cfg.data.cache, verify=cfg.data.verify,
                    sentences_per_batch=sentences_per_step)
            return skipgram_data.pairs_dataset(
                data, split, batch_size=t.batch_size, seed=seed, shuffle=True, cache=cfg.data.cache,
                **data_kwargs)

        try:
            parts = [train_part(k, split) for k, split in enumerate(splits)]
            steps = None
            if len(parts) == 1:
                train_ds = parts[0]
                if fused:
                    # One endless stream of sentence batches, an epoch = one pass (the batches of a
                    # pass are known): the next pass's shuffle is read ahead while the last steps
                    # of this one train, instead of at the start of every epoch.
                    steps = -(-data.count(splits[0]) // sentences_per_step)
                    train_ds = train_ds.repeat()
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
                    data, val_split, batch_size=t.batch_size, seed=t.seed + 1, shuffle=False,
                    cache=True, **data_kwargs,
                )
                if remap is not None:
                    val_ds = val_ds.map(to_model_ids)
        except pipeline.CorruptShardError as e:
            raise datasets.DataError(str(e)) from None
        if fused:
            # Several fused steps per tf.function call: Keras' per-call work is then shared (a
            # divisor of the steps per epoch when they are known, see training.loop).
            from tfpipe.training.loop import steps_per_execution as divisor

            execution = divisor(max(t.steps_per_execution, FUSED_STEPS_PER_EXECUTION), steps)
        else:
            execution = steps_per_execution(None)
        model.compile(optimizer=optimizer, steps_per_execution=execution)
        model.configure_schedule(
            base=t.learning_rate, schedule=t.schedule, total_words=float(words_per_epoch) * t.epochs,
            lr_min=t.lr_min,
        )
        if t.optimizer != "sgd" or t.momentum:
            print(
                f"tfpipe.train: warning: optimizer {t.optimizer} (momentum {t.momentum}) updates every row "
                "of both tables each step; word2vec's plain SGD (train.optimizer: sgd, train.momentum: 0) "
                "updates only the batch's rows and is much faster", flush=True,
            )

        logger = ThroughputLog(os.path.join(model_dir, runs.LOG_DIR), every=LOG_EVERY)
        guard = DivergenceGuard(limit=DIVERGENCE_FACTOR * model.initial_loss())
        describe = (
            f"tfpipe.train: skipgram dim {model.dim}, {model.loss_name}, {model.num_trained:,} words "
            f"(min_count {model.min_count}) of {len(words):,} in {data.path} ({'+'.join(splits)}); "
            f"{words_per_epoch:,} words per "
            f"epoch x {t.epochs} epochs, window {model.window}, subsample {model.subsample:g}, "
            + (f"steps of {sentences_per_step} sentences (~{FUSED_WORDS_PER_STEP:,} words)" if model.trains_sentences
               else f"batch {t.batch_size} pairs")
            + f", {t.optimizer} lr {t.learning_rate} ({t.schedule}); kernel: {model.kernel_note}"
        )
        return Plan(
            model=model, train_ds=train_ds, val_ds=val_ds, steps=steps,
            examples_per_epoch=records, describe=describe,
            splits=splits + ([val_split] if val_ds is not None else []), data=data,
            callbacks=[logger, guard],
            monitor="val_loss" if val_ds is not None else "loss", monitor_mode="min",
            # One negative-sampling generator for the whole run (the figures of the runs before
            # the task seam): a resumed run draws other negatives and pairs than the
            # uninterrupted one from the resumed epoch on.
            reseed_layers=False,
            state={"words": words, "model_words": model_words, "remap": remap, "logger": logger,
                   "guard": guard, "words_per_epoch": words_per_epoch, "val_split": val_split},
        )

    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        model, t, state = plan.model, cfg.train, plan.state
        guard, logger = state["guard"], state["logger"]
        if guard.diverged:
            step, loss = guard.diverged
            if model.trains_sentences:
                raise TrainError(
                    f"skip-gram training diverged at step {step} (mean pair loss {loss:.4g}, it starts at "
                    f"{model.initial_loss():.3f}): the per-pair SGD step train.learning_rate="
                    f"{t.learning_rate} is too large; word2vec uses 0.025")
            raise TrainError(
                f"skip-gram training diverged at step {step} (mean pair loss {loss:.4g}, it starts at "
                f"{model.initial_loss():.3f}): a batch of {t.batch_size} pairs sums too many updates of the "
                "most frequent words' rows. Use a smaller train.batch_size (4096 is stable on AG's News), "
                "a lower train.learning_rate, or set model.row_update_cap (e.g. 128)"
            )
        paths = export(model_dir, state["model_words"], model)
        splits = train_splits(cfg)
        history = run["history"]  # every epoch of the run, resumed sessions included
        train_time = run["training_time_s"]
        total_words = float(sum(h.get("words", 0.0) for h in history))
        total_pairs = float(sum(h.get("pairs", 0.0) for h in history))
        return {
            "model": MODEL_NAME,
            "task": self.name,
            "data_dir": plan.data.path,
            "train_splits": splits,
            "counts_from": "vocab.tsv" if state["remap"] is None else f"the records of {'+'.join(splits)}",
            "val_split": state["val_split"] if plan.val_ds is not None else None,
            "vocabulary_size": model.num_trained,
            "data_vocabulary_size": len(state["words"]),
            "dim": model.dim,
            "loss": model.loss_name,
            "negatives": model.negatives if model.loss_name == "negative_sampling" else None,
            "window": model.window,
            "subsample": model.subsample,
            "min_count": model.min_count,
            "epochs": t.epochs,
            "epochs_run": run["epochs_run"],
            "kernel": model.active_kernel,
            "kernel_note": model.kernel_note,
            "batch_size_pairs": t.batch_size if not model.trains_sentences else None,
            "optimizer": t.optimizer,
            "learning_rate": t.learning_rate,
            "schedule": t.schedule,
            "words_per_epoch": state["words_per_epoch"],
            "words_trained": total_words,
            "pairs_trained": total_pairs,
            "training_time_s": train_time,
            # CPU seconds of this process while training (all threads; less sensitive than the
            # wall time to other jobs on a shared machine); this session's epochs only.
            "training_cpu_time_s": sum(logger.epoch_cpu_times),
            "words_per_sec": total_words / train_time if train_time > 0 else None,
            "pairs_per_sec": total_pairs / train_time if train_time > 0 else None,
            # records (texts) of the train split per second, the figure tfpipe.train prints
            "examples_per_sec": run["examples_per_sec"],
            "steps": logger.steps,
            "final": {k: v for k, v in run["final"].items() if k in ("loss", "val_loss")},
            "history": [
                {"epoch": h["epoch"] + 1, **{k: h[k] for k in ("loss", "val_loss") if k in h},
                 "words_per_sec": h.get("words", 0.0) / h["train_time_s"] if h["train_time_s"] > 0 else None,
                 "train_time_s": h["train_time_s"]}
                for h in history
            ],
            "resumed_from_epoch": run["resumed_from_epoch"],
            "sessions": run["sessions"],
            "stopped_early": run["stopped_early"],
            "best_epoch": run["best_epoch"],
            "restored_best_epoch": run["restored_best_epoch"],
            "devices": run["devices"],
            "session_wall_time_s": run["session_wall_time_s"],
            "files": paths,
            "tensorboard": run["tensorboard"],
        }

    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str) -> dict[str, Any]:
        raise config_lib.ConfigError(
            f"{model_dir} is a word_vectors run: its held-out pair loss on eval.split is in "
            f"train_results.json (final.val_loss); look at its neighbours with `python -m tfpipe.neighbors "
            f"--run_dir {model_dir} WORD ...`, or measure an index with `python -m tfpipe.index evaluate`")

    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        raise config_lib.ConfigError(
            f"{model_dir} is a word_vectors run: its vectors are exported as it ends "
            f"({VECTORS_TXT}, {VECTORS_BIN}, {VECTORS_NPY} + {WORDS_TXT}); serve them with "
            f"`python -m tfpipe.index build --vectors {os.path.join(model_dir, VECTORS_BIN)} --out DIR` "
            "and `python -m tfpipe.index export`")

    def summary_line(self, results: dict[str, Any]) -> str:
        return (
            f"tfpipe.train: {results['words_trained']:,.0f} words in {results['training_time_s']:.1f} s = "
            f"{results['words_per_sec'] or 0:,.0f} words/s ({results['pairs_per_sec'] or 0:,.0f} pairs/s); "
            f"vectors in {results['files'][VECTORS_TXT]}"
        )


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
    """TensorBoard scalars ``loss``, ``words_per_sec`` and ``learning_rate`` every ``every``
    steps and per-epoch words/s and pairs/s (in ``logs/train``; the epoch losses are the shared
    TensorBoard callback's), and this session's steps and CPU seconds for the results."""

    def __init__(self, log_dir: str, every: int = LOG_EVERY):
        super().__init__()
        self.log_dir = log_dir
        self.every = every
        self.steps = 0
        self.epoch_cpu_times: list[float] = []
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

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
        with self._writer.as_default(step=epoch + 1):
            tf.summary.scalar("epoch_words_per_sec", words / max(elapsed, 1e-9))
            tf.summary.scalar("epoch_pairs_per_sec", pairs / max(elapsed, 1e-9))
        self._writer.flush()

    def on_test_begin(self, logs=None):
        self._val_start, self._val_cpu_start = time.perf_counter(), time.process_time()

    def on_test_end(self, logs=None):
        self._val_time = time.perf_counter() - self._val_start
        self._val_cpu = time.process_time() - self._val_cpu_start

    def on_train_end(self, logs=None):
        self._writer.close()


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training when the running pair loss is not finite or exceeds ``limit``;
    ``diverged`` is then ``(step, loss)``."""

    def __init__(self, limit: float, every: int = GUARD_EVERY):
        super().__init__()
        self.limit = limit
        self.every = every
        self.diverged: tuple[int, float] | None = None
        self._steps = 0
        self._epoch_first_step = 0

    def _check(self, loss: float) -> None:
        if not np.isfinite(loss) or loss > self.limit:
            self.diverged = (self._steps, float(loss))
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_first_step = self._steps

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras calls this once per execution, ``batch`` = last step.
        before, self._steps = self._steps, self._epoch_first_step + batch + 1
        if self._steps // self.every != before // self.every and logs and "loss" in logs:
            self._check(float(logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        if logs and "loss" in logs and self.diverged is None:
            self._check(float(logs["loss"]))
