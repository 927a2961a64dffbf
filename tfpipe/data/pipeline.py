"""The tf.data reader: sharded TFRecords of one split -> batches of ``(x, y)``.

``make_dataset`` is what training, evaluation and the benchmarks read through.
Everything about the data comes from the data directory's manifest: shard
files, their sizes and checksums, compression, ``l0``, ``max_words`` and the
per-class counts that the paper's epoch sampling needs.  It reads records of the
``text`` kind (``tfpipe.data.schema``); a data directory of another kind is
refused with a message saying so.

How the stream is built (all of it vectorized: no per-record Python or
per-record tf.data element, which is what makes it fast):

1. shards are read by a deterministic parallel interleave (up to 16 open at
   once), each shard as blocks of ``READ_BLOCK`` serialized records that are
   parsed in one ``tf.io.parse_example`` call (batch first, then parse; only
   the features the caller asked for);
2. the parsed blocks are optionally cached in memory (``cache=True``);
3. training: blocks are shuffled, regrouped into chunks of ``shuffle_buffer``
   records and each chunk is permuted by a seeded random permutation (with
   epoch sampling, records are also drawn per class, below); then the chunks
   are cut into batches of ``batch_size``;
4. prefetch.

Shuffling is therefore by chunk: every chunk of ``shuffle_buffer`` records is
permuted uniformly, and which records share a chunk changes every pass (shard
order and block order are reshuffled).  A split no larger than
``shuffle_buffer`` (the default 10,000 covers every corpus in ``../shared``) is
fully permuted every pass.  Like any bounded shuffle buffer this relies on
shards not being sorted by class (hash-assigned, id-ordered shards as written
by ``records`` and the Beam job are fine).

Speed (AG's News, l0=1014, 2-core CPU, see ``benchmarks/input_pipeline.py``):
about 0.3 M examples/s reading and parsing shards, about 1-2 M examples/s with
``cache=True`` (the parsed split in memory), versus about 20 k examples/s for a
per-character Python quantizer.  Use ``cache=True`` when the split fits in
memory (about 1 KB per record with ``feature="chars"``).

Epoch sampling (Zhang et al. 2015, section 2.1: "each epoch takes a fixed
number of random training samples uniformly sampled across classes"): with
``training=True, epoch_samples=N`` the stream is infinite and every record of
class ``c`` is emitted ``w_c = (total / K) / n_c`` times per pass in
expectation (``floor(w_c)`` copies plus one more with probability
``frac(w_c)``), where ``n_c`` are the manifest's class counts and ``K`` the
number of classes present in the split.  Each class then contributes the
same expected number of records, every record of a class is equally likely,
no read is wasted, and on a balanced corpus (all of the paper's) ``w_c = 1``:
every record is emitted exactly once per pass, only the order is random.  The caller runs
``steps_per_epoch(manifest, split, batch_size, N) == N // batch_size`` steps
per epoch.

Validation holdout: ``holdout=Holdout(fraction, take)`` reads only the records
of the split whose id hashes into the first ``fraction`` of
``HOLDOUT_BUCKETS`` buckets (``take=True``) or only the others
(``take=False``).  The hash is of the record id (a thesaurus-augmented copy
``<id>#th<k>`` hashes as its original), so the same records are held out in
every run and on every runner, and no copy of a held-out text is trained on.
:func:`holdout_count` counts either side (one pass over the ids).

Determinism: the same ``seed`` gives the same stream (every random choice is
seeded and ``tf.data.Options.deterministic`` is on); different seeds give
different streams.

Epochs (``first_epoch``, what the trainer reads): training needs every epoch's
batches to be a function of the seed and the epoch index only, so that a run
killed and resumed at epoch ``e`` sees exactly what the uninterrupted run saw
(a dataset reshuffled "every iteration" starts again from its first order in a
new process).  ``make_dataset(..., training=True, first_epoch=e)`` is therefore
one infinite stream of epochs ``e, e + 1, ...``: without epoch sampling epoch
``k`` is one pass shuffled by op seeds drawn statelessly from ``(seed, k)``;
with epoch sampling it is batches ``[k * steps, (k + 1) * steps)`` of the
endless sampled stream (a resumed run skips the first ``e * steps`` batches,
which costs reading them, not training on them).
"""
from __future__ import annotations

import logging
import math
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from tfpipe.data import inputs
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import records
from tfpipe.data import schema
from tfpipe.data.datadir import DataDir
from tfpipe.data.manifest import Manifest

log = logging.getLogger(__name__)

# What make_dataset reads from a text shard: the stored inputs, or the text for a featurizer.
FEATURES = (*inputs.STORED, "text")
VERIFY_MODES = inputs.VERIFY_MODES

# Serialized records read and parsed together (one parse_example call).
READ_BLOCK = 256

_FEATURE_KEYS = {"chars": schema.CHARS, "word_ids": schema.WORD_IDS, "text": schema.TEXT}

HOLDOUT_BUCKETS = 1_000_000


class Holdout(NamedTuple):
    """A stable part of a split: ``take=True`` the held-out ``fraction`` of records, else the rest."""

    fraction: float
    take: bool


def in_holdout(ids: tf.Tensor, fraction: float) -> tf.Tensor:
    """``bool[batch]``: whether each record id falls in the held-out ``fraction`` (a stable hash
    of the id; an augmented copy ``<id>#th<k>`` goes with ``<id>``)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"a holdout fraction must be in (0, 1), got {fraction}")
    original = tf.strings.regex_replace(ids, records.AUGMENTED_ID + "[0-9]+$", "")
    bucket = tf.strings.to_hash_bucket_fast(original, HOLDOUT_BUCKETS)
    return bucket < int(round(fraction * HOLDOUT_BUCKETS))


def holdout_count(data: DataDir | str, split: str, holdout: Holdout) -> int:
    """The number of records of ``split`` on ``holdout``'s side (reads only the ids, once per
    process for unchanged shards: a training run asks for both sides for its dataset and its log).

    ``data``: a DataDir or a data directory path."""
    data = DataDir.of(data)
    manifest = data.manifest
    paths = tuple(data.shard_paths(split))
    key = (paths, tuple(_stat(p) for p in paths), manifest.l0, holdout.fraction)
    if key not in _HELD_COUNTS:
        ds = tf.data.TFRecordDataset(tf.constant(paths, dtype=tf.string),
                                     compression_type=manifest.compression or None)
        ds = ds.batch(4096).map(lambda s: schema.parse(s, manifest.l0, keys=(schema.ID,))[schema.ID])
        held = total = 0
        for ids in ds:
            held += int(tf.reduce_sum(tf.cast(in_holdout(ids, holdout.fraction), tf.int64)))
            total += int(tf.size(ids))
        _HELD_COUNTS[key] = (held, total)
    held, total = _HELD_COUNTS[key]
    return held if holdout.take else total - held


_HELD_COUNTS: dict[tuple, tuple[int, int]] = {}


def _stat(path: str) -> tuple[int, int]:
    info = tf.io.gfile.stat(path)
    return info.length, info.mtime_nsec


class CorruptShardError(ValueError):
    """A shard is missing, differs from the manifest, or cannot be read.

    ``shards`` holds ``(path, reason)`` for every bad shard; the message names them.
    """

    def __init__(self, shards: list[tuple[str, str]], hint: str = ""):
        self.shards = list(shards)
        lines = "; ".join(f"{path}: {reason}" for path, reason in self.shards)
        message = f"corrupt shard(s): {lines}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


# ---------------------------------------------------------------------------
# Shard checks


def check_shards(data: DataDir | str, split: str, verify: str = "size") -> None:
    """Checks the shards of ``split`` against the manifest before reading.

    ``verify="size"``: each shard exists with its recorded byte size (cheap);
    ``"sha256"``: also its recorded checksum; ``"none"``: nothing.  Raises
    :class:`CorruptShardError` naming every shard that fails.  ``data``: a
    DataDir or a data directory path.
    """
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify={verify!r}; valid values: {list(VERIFY_MODES)}")
    if verify == "none":
        return
    data = DataDir.of(data)
    paths = data.shard_paths(split)
    bad: list[tuple[str, str]] = []
    for path, shard in zip(paths, data.split(split).shards):
        if not tf.io.gfile.exists(path):
            bad.append((path, "missing"))
            continue
        size = tf.io.gfile.stat(path).length
        if size != shard.bytes:
            bad.append((path, f"{size} bytes, the manifest records {shard.bytes} (truncated or rewritten)"))
            continue
        if verify == "sha256" and manifest_lib.file_sha256(path) != shard.sha256:
            bad.append((path, "sha256 differs from the manifest"))
    if bad:
        raise CorruptShardError(bad, hint="re-run the preprocessing job or restore the files")


def find_corrupt_shards(paths: list[str], compression: str,
                        kind: str = schema.KIND_TEXT) -> list[tuple[str, str]]:
    """Reads every shard fully; returns ``(path, error text)`` for each that fails.

    A shard fails when it is missing, its TFRecord framing or checksums are
    broken (``DataLossError``: truncated, bytes flipped), it does not
    decompress, or a record is not a parseable ``tf.train.Example`` of the
    schema (records of ``kind``).  Call it when a ``tf.errors.DataLossError``
    surfaces mid-training to learn which file is to blame (tf.data's own error
    does not name it).
    """
    bad = []
    spec = schema.spec(kind)
    for path in paths:
        try:
            if not tf.io.gfile.exists(path):
                raise FileNotFoundError("missing")
            records = tf.data.TFRecordDataset(path, compression_type=compression or None)
            for block in records.batch(1024):
                tf.io.parse_example(block, spec)
        except (tf.errors.OpError, FileNotFoundError) as e:
            text = e.message if isinstance(e, tf.errors.OpError) else str(e)
            bad.append((path, f"{type(e).__name__}: {text.strip()}"))
    return bad


# ---------------------------------------------------------------------------
# Parsing


def _mask(x, keep: tf.Tensor):
    """The rows of ``x`` (a tensor or a ragged tensor, e.g. word ids) where ``keep`` is true."""
    if isinstance(x, tf.RaggedTensor):
        return tf.ragged.boolean_mask(x, keep)
    return tf.boolean_mask(x, keep)


def _parse_fn(feature: str, l0: int, max_words: int, holdout: Holdout | None = None) -> Callable:
    """Batched parser of ``(x, y)`` for ``feature``; reads only the features it needs
    (parsing the unused ``text``, ``id`` and ``word_ids`` costs about 15 % of throughput),
    and with ``holdout`` keeps only the records on its side."""
    key = _FEATURE_KEYS[feature]
    keys = (key, schema.LABEL) if holdout is None else (key, schema.LABEL, schema.ID)

    def parse(serialized: tf.Tensor):
        features = schema.parse(serialized, l0, keys=keys)
        if holdout is not None:
            keep = in_holdout(features.pop(schema.ID), holdout.fraction) == holdout.take
            features = {k: _mask(v, keep) for k, v in features.items()}
        x = features[key]
        if feature == "word_ids":
            x = x.to_tensor(default_value=0, shape=[None, max_words])
        return x, features[schema.LABEL]

    return parse


# ---------------------------------------------------------------------------
# Shuffling and epoch sampling (whole chunks at a time)


def class_weights(class_counts: list[int]) -> np.ndarray:
    """Expected copies per pass of one record of each class for uniform classes.

    ``w_c = (total / K) / n_c`` over the ``K`` classes with ``n_c > 0``;
    classes absent from the split get 0 (they cannot be sampled).
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError("epoch sampling needs at least one record; the split is empty")
    per_class = counts.sum() / present.sum()
    return np.where(present, per_class / np.maximum(counts, 1), 0.0)


def _seed_pair(scalar: tf.Tensor) -> tf.Tensor:
    return tf.stack([scalar, tf.bitwise.right_shift(scalar, 32)])


def _gather(x, index):
    """``tf.gather`` over every tensor of ``x`` (a tensor or a dict of tensors, maybe ragged)."""
    return tf.nest.map_structure(lambda t: tf.gather(t, index), x)


def _permute_chunk(x, y, rnd):
    perm = tf.random.experimental.stateless_shuffle(
        tf.range(tf.shape(y, out_type=tf.int64)[0]), seed=_seed_pair(rnd)
    )
    return _gather(x, perm), tf.gather(y, perm)


def _resample_chunk_fn(weights: np.ndarray) -> Callable:
    table = tf.constant(weights, dtype=tf.float64)

    def resample(x, y, rnd):
        seeds = tf.random.experimental.stateless_split(_seed_pair(rnd), num=2)
        w = tf.gather(table, y)
        base = tf.floor(w)
        u = tf.random.stateless_uniform(tf.shape(w), seed=seeds[0], dtype=tf.float64)
        copies = tf.cast(base, tf.int64) + tf.cast(u < w - base, tf.int64)
        index = tf.repeat(tf.range(tf.size(y, out_type=tf.int64)), copies)
        index = tf.random.experimental.stateless_shuffle(index, seed=seeds[1])
        return _gather(x, index), tf.gather(y, index)

    return resample


# ---------------------------------------------------------------------------
# The reader


def _seeds(seed: int) -> tuple[int, int, int]:
    """Distinct op seeds for shard order, block order and chunk randomness."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.integers(0, 2**31 - 1, size=3)
    return int(a), int(b), int(c)


def make_dataset(
    data: DataDir | str,
    split: str,
    *,
    feature: str = "chars",
    batch_size: int = 128,
    training: bool = False,
    seed: int = 0,
    epoch_samples: int | None = None,
    shuffle_buffer: int = 10_000,
    cache: bool = False,
    max_words: int | None = None,
    verify: str = "size",
    transform: Callable | None = None,
    finalize: Callable | None = None,
    holdout: Holdout | None = None,
    first_epoch: int | None = None,
) -> tf.data.Dataset:
    """Batches ``(x, y)`` of ``split`` read from the TFRecord shards of ``data``.

    Args:
      data: a :class:`~tfpipe.data.datadir.DataDir`, or the path of a
        preprocessed data directory (its ``manifest.json`` is read).
      split: a split of the manifest, e.g. ``"train"`` or ``"test"``.
      feature: ``"chars"`` -> ``x`` is ``uint8[B, l0]`` character indices;
        ``"word_ids"`` -> ``int64[B, max_words]`` word ids, 0-padded/truncated;
        ``"text"`` -> ``string[B]`` the cleaned texts.  ``y`` is ``int64[B]``.
      batch_size: records per batch.
      training: ``False``: one pass in file order, no shuffling, last partial
        batch kept.  ``True``: shuffled (see the module docstring); without
        ``epoch_samples`` one pass per iteration, reshuffled every pass, last
        partial batch kept.
      seed: seeds every random choice; same seed, same stream.
      epoch_samples: with ``training=True``, the paper's epoch sampling: an
        infinite stream of full batches whose classes are uniform; run
        ``epoch_samples // batch_size`` steps per epoch.
      shuffle_buffer: records permuted together (chunk size) when training.
      cache: keep the parsed split in memory after the first pass.
      max_words: word-id length for ``feature="word_ids"`` (manifest's by default).
      verify: ``"size"``, ``"sha256"`` or ``"none"``: shard checks before
        reading (see :func:`check_shards`); failures raise
        :class:`CorruptShardError`.
      transform: applied to every parsed block of ``x`` (before the cache, so
        once per record when caching); it may return ragged tensors (e.g. a
        bag of features), which shuffling and batching carry along.
      finalize: applied to ``x`` of every final batch (e.g. padding ragged
        features to the dense tensors a model takes).
      holdout: read only one side of a stable validation holdout of
        ``split`` (see the module docstring).
      first_epoch: with ``training=True``, the stream of every training epoch
        from ``first_epoch`` on (0-based), for a trainer that runs
        :func:`steps_per_epoch` steps per epoch: infinite, each epoch exactly
        that many batches, and each epoch a pure function of ``(seed,
        epoch)`` (see "Epochs" in the module docstring), so a run resumed at
        epoch ``e`` reads what an uninterrupted run reads from ``e`` on.
    """
    if feature not in FEATURES:
        raise ValueError(f"feature={feature!r}; valid features: {list(FEATURES)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if epoch_samples is not None:
        if not training:
            raise ValueError("epoch_samples applies to training=True only")
        if epoch_samples < batch_size:
            raise ValueError(
                f"epoch_samples={epoch_samples} is smaller than batch_size={batch_size}: "
                "an epoch would have no step"
            )
    data = DataDir.of(data)
    manifest = data.manifest
    if data.kind != schema.KIND_TEXT:
        hint = ("; image records are read by tfpipe.data.image_pipeline.make_image_dataset"
                if data.kind in (schema.KIND_IMAGE, schema.KIND_IMAGE_CAPTIONS) else "")
        raise ValueError(f"{data.path} holds {data.kind!r} records; make_dataset reads the "
                         f"{schema.KIND_TEXT!r} kind{hint}")
    paths = data.shard_paths(split)  # unknown split: names the valid ones
    check_shards(data, split, verify)
    if max_words is None:
        max_words = manifest.max_words
    if max_words <= 0:
        raise ValueError(f"max_words must be positive, got {max_words}")
    compression = manifest.compression or None
    parse = _parse_fn(feature, manifest.l0, max_words, holdout)
    count = None if holdout is None else holdout_count(data, split, holdout)
    if count == 0:
        side = "held-out" if holdout.take else "remaining"
        raise ValueError(
            f"a holdout of {holdout.fraction} of split {split!r} ({manifest.splits[split].count} "
            f"records) leaves no {side} record: choose another fraction"
        )
    if transform is not None:
        parse_only = parse

        def parse(serialized):
            x, y = parse_only(serialized)
            return transform(x), y

    def done(ds: tf.data.Dataset) -> tf.data.Dataset:
        if finalize is not None:
            ds = ds.map(lambda x, y: (finalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    options = tf.data.Options()
    options.deterministic = True

    if not training:
        # One sequential pass in file order; the last partial batch is kept.
        ds = tf.data.TFRecordDataset(
            tf.constant(paths, dtype=tf.string), compression_type=compression, buffer_size=1 << 20
        )
        ds = ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        if holdout is not None:  # masked batches are short: make them whole again
            ds = ds.rebatch(batch_size)
        if cache:
            ds = ds.cache()
        return _finite(done(ds), manifest, split, batch_size, count).with_options(options)

    infinite = epoch_samples is not None
    if first_epoch is not None and first_epoch < 0:
        raise ValueError(f"first_epoch must be >= 0, got {first_epoch}")
    if infinite:
        counts = manifest.splits[split].class_counts
        weights = class_weights(counts)  # an empty split is an error here, not an endless loop
        missing = [manifest.class_names[i] for i, n in enumerate(counts) if n == 0]
        if missing:
            log.warning(
                "split %r has no records of class(es) %s: epoch sampling is uniform over "
                "the other %d classes",
                split,
                missing,
                len(counts) - len(missing),
            )
    elif first_epoch is not None and (count if count is not None else manifest.splits[split].count) == 0:
        raise ValueError(f"split {split!r} has no records: an epoch would have no step")
    paths_tensor = tf.constant(paths, dtype=tf.string)

    def read(path):
        records = tf.data.TFRecordDataset(path, compression_type=compression, buffer_size=1 << 20)
        return records.batch(READ_BLOCK).map(parse)

    def read_all(files: tf.data.Dataset) -> tf.data.Dataset:
        # Up to 16 shards open at once (mixing); AUTOTUNE decides how many are read in parallel.
        return files.interleave(
            read,
            cycle_length=max(1, min(len(paths), 16)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

    # With a cache the parsed blocks are kept in file order (the first pass's order would be
    # frozen anyway); the blocks are shuffled after it.  One cache serves every epoch.
    cached = read_all(tf.data.Dataset.from_tensor_slices(paths_tensor)).cache() if cache else None
    chunk = max(1, int(shuffle_buffer))

    def shuffled(shard_seed, block_seed, chunk_seed) -> tf.data.Dataset:
        """One reshuffled pass (or, with epoch sampling, the endless stream) from three op seeds."""
        if cached is None:
            files = tf.data.Dataset.from_tensor_slices(paths_tensor).shuffle(
                max(1, len(paths)), seed=shard_seed, reshuffle_each_iteration=True
            )
            blocks = read_all(files.repeat() if infinite else files)
        else:
            blocks = cached.repeat() if infinite else cached
        blocks = blocks.shuffle(
            max(1, chunk // READ_BLOCK), seed=block_seed, reshuffle_each_iteration=True
        )
        chunks = blocks.rebatch(chunk)
        randoms = tf.data.Dataset.random(seed=chunk_seed, rerandomize_each_iteration=True)
        chunks = tf.data.Dataset.zip((chunks, randoms)).map(lambda xy, rnd: (*xy, rnd))
        if infinite:
            chunks = chunks.map(_resample_chunk_fn(weights), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            chunks = chunks.map(_permute_chunk, num_parallel_calls=tf.data.AUTOTUNE)
        return chunks.rebatch(batch_size, drop_remainder=infinite)

    if infinite:
        # One endless stream; epoch e is its batches [e * steps, (e + 1) * steps).  Restarting
        # every epoch from a fresh seed instead would favour the records read first (the first
        # blocks of every shard) whenever epoch_samples is smaller than the split.
        ds = shuffled(*_seeds(seed))
        if first_epoch:
            ds = ds.skip(first_epoch * steps_per_epoch(manifest, split, batch_size, epoch_samples))
        return done(ds).with_options(options)
    if first_epoch is None:  # one pass per iteration, reshuffled every pass
        return _finite(done(shuffled(*_seeds(seed))), manifest, split, batch_size, count).with_options(options)

    def epoch_pass(epoch: tf.Tensor) -> tf.data.Dataset:
        # tf.data combines a tensor seed with the graph-level seed and compares the pair with
        # (0, 0) in Python, which fails for a symbolic seed under a global seed of 0
        # (keras.utils.set_random_seed(0)).  A fixed graph seed here avoids that and makes the
        # epoch independent of whatever global seed the caller set.
        tf.random.set_seed(_EPOCH_GRAPH_SEED)
        op_seeds = tf.random.stateless_uniform(
            [3], seed=tf.stack([tf.constant(seed, tf.int64), epoch]), minval=None, maxval=None,
            dtype=tf.int64,
        )
        return _finite(shuffled(op_seeds[0], op_seeds[1], op_seeds[2]), manifest, split, batch_size, count)

    epochs = tf.data.Dataset.range(first_epoch, _MAX_EPOCHS)
    return done(epochs.flat_map(epoch_pass)).with_options(options)


# Graph-level seed inside the per-epoch dataset function (see make_dataset's epoch_pass).
_EPOCH_GRAPH_SEED = 20150904
_MAX_EPOCHS = 2**62


def _finite(ds: tf.data.Dataset, manifest: Manifest, split: str, batch_size: int,
            count: int | None = None) -> tf.data.Dataset:
    """Declares the batch count of one pass (Keras then knows an epoch's length up front);
    shards holding a different number of records than the manifest says fail loudly.
    ``count``: the records read when it is not the split's (a holdout side)."""
    steps = steps_per_epoch(manifest, split, batch_size) if count is None else math.ceil(count / batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(steps))


def steps_per_epoch(
    manifest: Manifest, split: str, batch_size: int, epoch_samples: int | None = None
) -> int:
    """Batches per epoch: ``epoch_samples // batch_size`` with epoch sampling,
    else ``ceil(records / batch_size)`` (one pass, last partial batch kept)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if epoch_samples is not None:
        return epoch_samples // batch_size
    if split not in manifest.splits:
        raise ValueError(f"split {split!r} not in the manifest; valid splits: {sorted(manifest.splits)}")
    return math.ceil(manifest.splits[split].count / batch_size)
