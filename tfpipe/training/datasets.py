"""The data side of the CLIs: finding the data directory, reading splits, naming corrupt shards."""
from __future__ import annotations

import contextlib
import math
import os
from typing import Sequence

import tensorflow as tf

from tfpipe import cli
from tfpipe import config as config_lib
from tfpipe import paths
from tfpipe.data import features
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import pipeline
from tfpipe.data.datadir import DataDir


class DataError(RuntimeError):
    """Missing data, an unknown split or a corrupt shard; the message says what to do."""


# Errors tf.data raises for a shard it cannot read (CRC mismatch, truncated record, bad proto).
READ_ERRORS = (tf.errors.DataLossError, tf.errors.InvalidArgumentError)


def open_data(data_dir: str) -> DataDir:
    """The data directory with its manifest; a missing manifest says how to create it, a path of
    another kind (a file, a run or index directory) says what it is instead."""
    if os.path.exists(data_dir) and not os.path.exists(os.path.join(data_dir, manifest_lib.MANIFEST_FILE)) \
            and cli.path_kind(data_dir) not in (cli.EMPTY_DIR, cli.OTHER_DIR):
        raise DataError(cli.path_problem("--data_dir", data_dir, cli.DATA_DIR))
    if not os.path.exists(os.path.join(data_dir, manifest_lib.MANIFEST_FILE)):
        if os.path.normpath(data_dir) == os.path.normpath(paths.DEFAULT_DATA_DIR):
            raise DataError(
                f"no preprocessed data in {data_dir!r} (the default data directory): run "
                "`python -m beam_jobs.preprocess --runner=DirectRunner` first (it writes there by "
                "default), or pass --data_dir"
            )
        raise DataError(
            f"no {manifest_lib.MANIFEST_FILE} in {data_dir!r}: run `python -m beam_jobs.preprocess "
            f"--runner=DirectRunner --output_dir {data_dir} ...` first, or pass another --data_dir"
        )
    return DataDir.open(data_dir)


def check_splits(data: DataDir, splits: Sequence[str]) -> None:
    for split in splits:
        if split == config_lib.HOLDOUT:  # carved from train (the config checked the fraction)
            split = "train"
        if split not in data.manifest.splits:
            raise DataError(
                f"split {split!r} not in {data.file(manifest_lib.MANIFEST_FILE)}; "
                f"its splits: {', '.join(data.splits)}"
            )


def featurizer(cfg: config_lib.Config, data: DataDir, model_dir: str | None):
    """The run's text -> model input featurizer (``tfpipe.data.features``); bag-of-means caches
    its clustering in ``model_dir``."""
    try:
        return features.make(
            config_lib.feature(cfg), data, model_config=cfg.model_kwargs,
            seed=cfg.train.seed, cache_dir=model_dir,
        )
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(e)) from None


def stored_split(cfg: config_lib.Config, split: str) -> tuple[str, pipeline.Holdout | None]:
    """The stored split that ``split`` reads and the side of the validation holdout it takes:
    with ``data.validation_fraction`` set, ``'holdout'`` is that fraction of train and ``'train'``
    the rest."""
    fraction = cfg.data.validation_fraction
    if split == config_lib.HOLDOUT:
        if not fraction:
            raise DataError(f"split {split!r} needs data.validation_fraction > 0")
        return "train", pipeline.Holdout(fraction, take=True)
    if split == "train" and fraction:
        return "train", pipeline.Holdout(fraction, take=False)
    return split, None


def split_count(cfg: config_lib.Config, data: DataDir, split: str) -> int:
    """Records read from ``split`` (a holdout side is counted from the ids)."""
    stored, holdout = stored_split(cfg, split)
    if holdout is None:
        return data.count(stored)
    return pipeline.holdout_count(data, stored, holdout)


def _from_text(cfg: config_lib.Config, augment: bool) -> bool:
    """Whether the split is read as text and featurized on the fly (bag features, augmentation)."""
    return augment or config_lib.feature(cfg) not in features.STORED


def eval_dataset(cfg: config_lib.Config, data: DataDir, split: str,
                 featurizer: features.Featurizer | None = None) -> tf.data.Dataset:
    """One pass over ``split`` in file order, batched by ``eval.batch_size``."""
    from_text = _from_text(cfg, augment=False)
    if from_text:
        _require(featurizer, cfg)
    stored, holdout = stored_split(cfg, split)
    try:
        ds = pipeline.make_dataset(
            data, stored, feature="text" if from_text else config_lib.feature(cfg),
            batch_size=cfg.eval.batch_size, training=False, verify=cfg.data.verify,
            transform=featurizer.sparse if from_text else None,
            finalize=featurizer.densify if from_text else _trim(cfg), holdout=holdout,
        )
    except pipeline.CorruptShardError as e:
        raise DataError(str(e)) from None
    return _single_worker(ds)  # make_dataset declares the batch count of a finite pass


def _trim(cfg: config_lib.Config):
    """With ``data.trim_padding``, word-id batches end after their longest text."""
    if not cfg.data.trim_padding:
        return None
    if config_lib.feature(cfg) != "word_ids":
        raise DataError(f"data.trim_padding applies to word_ids inputs, not {config_lib.feature(cfg)!r}")
    return trim_padding


def trim_padding(ids: tf.Tensor) -> tf.Tensor:
    """``ids[:, :n]`` with ``n`` the longest row's length (padding, id 0, only ever trails)."""
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1))
    return ids[:, : tf.maximum(longest, 1)]


def _require(featurizer: features.Featurizer | None, cfg: config_lib.Config) -> None:
    if featurizer is None:
        raise ValueError(f"feature {config_lib.feature(cfg)!r} is computed from the text: pass a featurizer")


def _single_worker(ds: tf.data.Dataset) -> tf.data.Dataset:
    """No auto-sharding: the strategies offered run in one process (sharding would only
    rewrite the graph, and drop the cardinality make_dataset declares)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


def train_steps(cfg: config_lib.Config, data: DataDir) -> int:
    """Training steps per epoch: ``epoch_samples // batch_size`` with epoch sampling, else one
    pass over the records trained on (the last partial batch kept)."""
    if cfg.data.epoch_samples:
        return pipeline.steps_per_epoch(data.manifest, "train", cfg.train.batch_size, cfg.data.epoch_samples)
    return math.ceil(split_count(cfg, data, "train") / cfg.train.batch_size)


def train_dataset(cfg: config_lib.Config, data: DataDir,
                  featurizer: features.Featurizer | None = None,
                  first_epoch: int | None = None) -> tf.data.Dataset:
    """The shuffled ``train`` split (the paper's epoch sampling when data.epoch_samples is set:
    then the stream is infinite and the trainer runs ``steps_per_epoch`` steps per epoch).

    ``first_epoch``: the trainer's stream instead, every epoch from ``first_epoch`` on,
    ``train_steps`` batches each, each epoch a function of ``(train.seed, epoch)`` only (see
    ``pipeline.make_dataset``): a resumed run reads exactly what the uninterrupted run read.

    With ``data.thesaurus`` set, each batch's texts are augmented on the fly (a fresh seeded
    draw every batch and epoch) before the featurizer turns them into model inputs; with
    ``first_epoch`` the draw is seeded by the batch's index in the whole run.
    """
    augment = cfg.data.thesaurus is not None
    from_text = _from_text(cfg, augment)
    if from_text:
        _require(featurizer, cfg)
    # Without augmentation a text's features never change: computed once per record, before
    # the cache.  With it, every batch's fresh copies are featurized after augmentation.
    per_record = from_text and not augment
    _, holdout = stored_split(cfg, "train")
    try:
        ds = pipeline.make_dataset(
            data, "train", feature="text" if from_text else config_lib.feature(cfg),
            batch_size=cfg.train.batch_size, training=True,
            seed=cfg.train.seed, epoch_samples=cfg.data.epoch_samples,
            shuffle_buffer=cfg.data.shuffle_buffer, cache=cfg.data.cache, verify=cfg.data.verify,
            transform=featurizer.sparse if per_record else None,
            finalize=featurizer.densify if per_record else _trim(cfg), holdout=holdout,
            first_epoch=first_epoch,
        )
    except pipeline.CorruptShardError as e:
        raise DataError(str(e)) from None
    if augment:
        first_batch = None if first_epoch is None else first_epoch * train_steps(cfg, data)
        ds = _augmented(ds, cfg, data, first_batch)
        ds = ds.map(features.map_batches(featurizer), num_parallel_calls=tf.data.AUTOTUNE)
        if cfg.data.trim_padding:
            trim = _trim(cfg)
            ds = ds.map(lambda x, y: (trim(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return _single_worker(ds)


def _augmented(ds: tf.data.Dataset, cfg: config_lib.Config, data: DataDir,
               first_batch: int | None = None) -> tf.data.Dataset:
    """Thesaurus augmentation of every batch, seeded per batch: by a seeded random stream, or
    with ``first_batch`` by the batch's index in the run (``first_batch`` for the first one)."""
    from tfpipe.text import thesaurus as thesaurus_lib

    d = cfg.data
    try:
        words = data.vocab()
        synonyms = thesaurus_lib.load(d.thesaurus, words=words)
    except (FileNotFoundError, ValueError, ImportError) as e:
        raise DataError(f"data.thesaurus={d.thesaurus!r}: {e}") from None
    augmenter = thesaurus_lib.TfAugmenter(synonyms, p=d.augment_p, q=d.augment_q, rate=d.augment_rate)
    if first_batch is None:
        seeds = tf.data.Dataset.random(seed=cfg.train.seed + 1, rerandomize_each_iteration=True)
    else:
        base = tf.constant(cfg.train.seed + 1, tf.int64)
        seeds = tf.data.Dataset.counter(first_batch).map(lambda i: tf.random.stateless_uniform(
            [], seed=tf.stack([base, i]), minval=None, maxval=None, dtype=tf.int64))
    return tf.data.Dataset.zip((ds, seeds)).map(
        lambda xy, seed: (augmenter(xy[0], seed), xy[1]), num_parallel_calls=tf.data.AUTOTUNE
    )


def corrupt_shard_error(data: DataDir, splits: Sequence[str], cause: Exception) -> DataError | None:
    """Reads every shard of ``splits``; a DataError naming the bad ones, or None if all read fine."""
    stored = ["train" if split == config_lib.HOLDOUT else split for split in splits]
    shard_paths = [p for split in dict.fromkeys(stored) for p in data.shard_paths(split)]
    bad = pipeline.find_corrupt_shards(shard_paths, data.manifest.compression, kind=data.kind)
    if not bad:
        return None
    named = "\n".join(f"  {path}: {reason}" for path, reason in bad)
    return DataError(
        f"reading the data failed ({type(cause).__name__}); corrupt shard(s):\n{named}\n"
        "re-run the preprocessing job for this data directory (or restore the files)"
    )


@contextlib.contextmanager
def reading(data: DataDir, splits: Sequence[str]):
    """Runs the block that reads ``splits``; a read error there (``READ_ERRORS``) that a corrupt
    shard explains becomes the ``DataError`` naming it (``corrupt_shard_error``), any other
    error passes through unchanged.  The one place a read failure is translated."""
    try:
        yield
    except READ_ERRORS as e:
        error = corrupt_shard_error(data, splits, e)
        if error is None:
            raise
        raise error from None


def epoch_batches(x, y, *, batch_size: int, seed: int, first_epoch: int, epochs: int):
    """Endless-by-epoch ``(x, y)`` batches of in-memory arrays: epoch ``e`` (from ``first_epoch``
    to ``epochs``) visits the rows in a permutation drawn from ``(seed, e)``, ``ceil(n /
    batch_size)`` batches, so a resumed run sees what an uninterrupted one does.  ``x`` is an
    array or a dict of arrays (a model's named inputs), gathered with the same rows as ``y``."""
    n = len(y)
    xs = tf.nest.map_structure(tf.constant, x)
    ys = tf.constant(y)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    ds = tf.data.Dataset.range(first_epoch, max(epochs, first_epoch + 1)).flat_map(epoch)
    ds = ds.map(lambda idx: (tf.nest.map_structure(lambda a: tf.gather(a, idx), xs), tf.gather(ys, idx)),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
