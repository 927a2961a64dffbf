"""The data side of the CLIs: finding the data directory, reading splits, naming corrupt shards."""
from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf

from tfpipe import config as config_lib
from tfpipe import paths
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import pipeline
from tfpipe.data.manifest import Manifest


class DataError(RuntimeError):
    """Missing data, an unknown split or a corrupt shard; the message says what to do."""


# Errors tf.data raises for a shard it cannot read (CRC mismatch, truncated record, bad proto).
READ_ERRORS = (tf.errors.DataLossError, tf.errors.InvalidArgumentError)


def load_manifest(data_dir: str) -> Manifest:
    """The data directory's manifest; a missing one says how to create it."""
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
    return manifest_lib.load(data_dir)


def check_splits(data_dir: str, manifest: Manifest, splits: Sequence[str]) -> None:
    for split in splits:
        if split not in manifest.splits:
            raise DataError(
                f"split {split!r} not in {os.path.join(data_dir, manifest_lib.MANIFEST_FILE)}; "
                f"its splits: {', '.join(sorted(manifest.splits))}"
            )


def eval_dataset(cfg: config_lib.Config, manifest: Manifest, data_dir: str, split: str) -> tf.data.Dataset:
    """One pass over ``split`` in file order, batched by ``eval.batch_size``."""
    try:
        ds = pipeline.make_dataset(
            data_dir, split, feature=cfg.data.feature, batch_size=cfg.eval.batch_size,
            training=False, verify=cfg.data.verify, manifest=manifest,
        )
    except pipeline.CorruptShardError as e:
        raise DataError(str(e)) from None
    return _single_worker(ds)  # make_dataset declares the batch count of a finite pass


def _single_worker(ds: tf.data.Dataset) -> tf.data.Dataset:
    """No auto-sharding: the strategies offered run in one process (sharding would only
    rewrite the graph, and drop the cardinality make_dataset declares)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


def train_dataset(cfg: config_lib.Config, manifest: Manifest, data_dir: str) -> tf.data.Dataset:
    """The shuffled ``train`` split (the paper's epoch sampling when data.epoch_samples is set:
    then the stream is infinite and the trainer runs ``steps_per_epoch`` steps per epoch)."""
    try:
        ds = pipeline.make_dataset(
            data_dir, "train", feature=cfg.data.feature, batch_size=cfg.train.batch_size, training=True,
            seed=cfg.train.seed, epoch_samples=cfg.data.epoch_samples,
            shuffle_buffer=cfg.data.shuffle_buffer, cache=cfg.data.cache, verify=cfg.data.verify,
            manifest=manifest,
        )
    except pipeline.CorruptShardError as e:
        raise DataError(str(e)) from None
    return _single_worker(ds)


def corrupt_shard_error(data_dir: str, manifest: Manifest, splits: Sequence[str], cause: Exception) -> DataError | None:
    """Reads every shard of ``splits``; a DataError naming the bad ones, or None if all read fine."""
    shard_paths = [p for split in dict.fromkeys(splits) for p in manifest.shard_paths(data_dir, split)]
    bad = pipeline.find_corrupt_shards(shard_paths, manifest.compression)
    if not bad:
        return None
    named = "\n".join(f"  {path}: {reason}" for path, reason in bad)
    return DataError(
        f"reading the data failed ({type(cause).__name__}); corrupt shard(s):\n{named}\n"
        "re-run the preprocessing job for this data directory (or restore the files)"
    )
