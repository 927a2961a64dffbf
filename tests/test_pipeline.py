"""The tf.data reader: decoding, eval/training passes, epoch sampling, determinism, bad shards."""
from __future__ import annotations

import collections
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TOY_CLASSES, toy_rows
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import pipeline, records, schema
from tfpipe.data.datadir import DataDir
from tfpipe.text import alphabet, quantize


def _collect(ds: tf.data.Dataset, batches: int | None = None):
    xs, ys = [], []
    for x, y in ds.take(batches) if batches is not None else ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def _stored(data_dir: str, split: str) -> dict:
    """Every record of ``split`` in file order, parsed with ``schema.parse``."""
    m = manifest_lib.load(data_dir)
    ds = tf.data.TFRecordDataset(m.shard_paths(data_dir, split), compression_type=m.compression)
    return schema.parse(next(iter(ds.batch(100_000))), m.l0)


def _copy(data_dir: str, tmp_path) -> str:
    target = str(tmp_path / "data")
    shutil.copytree(data_dir, target)
    return target


# ---------------------------------------------------------------------------
# Eval mode: decoding, order, completeness


def test_eval_chars_are_the_quantized_text_in_file_order(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    stored = _stored(tiny_data_dir, "train")
    x, y = _collect(pipeline.make_dataset(tiny_data_dir, "train", batch_size=32))
    texts, y2 = _collect(pipeline.make_dataset(tiny_data_dir, "train", feature="text", batch_size=32))
    assert x.dtype == np.uint8 and x.shape == (120, m.l0)
    assert y.dtype == np.int64 and texts.dtype == object
    np.testing.assert_array_equal(x, stored[schema.CHARS].numpy())
    np.testing.assert_array_equal(y, stored[schema.LABEL].numpy())
    np.testing.assert_array_equal(y, y2)
    for row, text in zip(x, texts):
        np.testing.assert_array_equal(row, quantize.quantize_py(text.decode(), alphabet.PAPER, m.l0))


def test_eval_sees_every_record_once_and_keeps_the_last_partial_batch(tiny_data_dir):
    ds = pipeline.make_dataset(tiny_data_dir, "train", feature="text", batch_size=32)
    sizes = [int(y.shape[0]) for _, y in ds]
    assert sizes == [32, 32, 32, 24]
    m = manifest_lib.load(tiny_data_dir)
    assert pipeline.steps_per_epoch(m, "train", 32) == len(sizes)
    texts, labels = _collect(ds)
    expected = collections.Counter((t, label) for _, t, label in toy_rows(40))
    assert collections.Counter((t.decode(), int(label)) for t, label in zip(texts, labels)) == expected
    # A second pass is identical (no shuffling in eval mode).
    texts2, _ = _collect(ds)
    np.testing.assert_array_equal(texts, texts2)


def test_word_ids_default_padding_and_truncation(tiny_data_dir):
    stored = _stored(tiny_data_dir, "test")[schema.WORD_IDS]
    x, _ = _collect(pipeline.make_dataset(tiny_data_dir, "test", feature="word_ids", batch_size=8))
    assert x.dtype == np.int64 and x.shape == (30, 16)  # the manifest's max_words
    np.testing.assert_array_equal(x, stored.to_tensor(0, shape=[None, 16]).numpy())
    wide, _ = _collect(
        pipeline.make_dataset(tiny_data_dir, "test", feature="word_ids", batch_size=8, max_words=20)
    )
    assert wide.shape == (30, 20)
    np.testing.assert_array_equal(wide[:, :16], x)
    assert not wide[:, 16:].any()
    narrow, _ = _collect(
        pipeline.make_dataset(tiny_data_dir, "test", feature="word_ids", batch_size=8, max_words=4)
    )
    np.testing.assert_array_equal(narrow, x[:, :4])


_SHORT_ROWS = [("s:0", "one two", 0), ("s:1", "three", 1), ("s:2", "one two three four five six", 0)]


@pytest.fixture(scope="module")
def gzip_dir(tmp_path_factory) -> str:
    """GZIP shards: 15 toy rows plus three short texts (max_words=4, l0=32)."""
    data_dir = str(tmp_path_factory.mktemp("gzip"))
    records.write_dataset(
        data_dir, {"train": toy_rows(5) + _SHORT_ROWS}, TOY_CLASSES, l0=32, max_words=4,
        num_shards=2, compression="GZIP",
    )
    return data_dir


def test_word_ids_pad_short_texts_with_zeros(gzip_dir):
    x, _ = _collect(pipeline.make_dataset(gzip_dir, "train", feature="word_ids"))
    texts, _ = _collect(pipeline.make_dataset(gzip_dir, "train", feature="text"))
    ids = {t.decode(): row.tolist() for t, row in zip(texts, x)}
    assert x.shape == (18, 4)
    assert ids["one two"][2:] == [0, 0] and all(ids["one two"][:2])
    assert ids["three"][1:] == [0, 0, 0] and ids["three"][0] != 0
    assert all(ids["one two three four five six"])  # truncated to 4


def test_cache_gives_the_same_batches(tiny_data_dir):
    a = _collect(pipeline.make_dataset(tiny_data_dir, "train", batch_size=32))
    b = _collect(pipeline.make_dataset(tiny_data_dir, "train", batch_size=32, cache=True))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_gzip_shards_are_read(gzip_dir):
    m = manifest_lib.load(gzip_dir)
    assert m.compression == "GZIP"
    expected = sorted(t for _, t, _ in toy_rows(5) + _SHORT_ROWS)
    texts, _ = _collect(pipeline.make_dataset(gzip_dir, "train", feature="text"))
    assert sorted(t.decode() for t in texts) == expected
    texts, _ = _collect(pipeline.make_dataset(gzip_dir, "train", feature="text", training=True, seed=3))
    assert sorted(t.decode() for t in texts) == expected


# ---------------------------------------------------------------------------
# Training mode: shuffling and determinism


def _texts(ds, batches=None) -> list[str]:
    texts, _ = _collect(ds, batches)
    return [t.decode() for t in texts]


def test_training_pass_is_a_reshuffled_permutation(tiny_data_dir):
    ds = pipeline.make_dataset(tiny_data_dir, "train", feature="text", batch_size=32, training=True)
    assert [int(y.shape[0]) for _, y in ds] == [32, 32, 32, 24]  # steps_per_epoch == 4
    first, second = _texts(ds), _texts(ds)
    everything = sorted(t for _, t, _ in toy_rows(40))
    assert sorted(first) == everything and sorted(second) == everything
    assert first != second  # reshuffled every pass
    eval_order = _texts(pipeline.make_dataset(tiny_data_dir, "train", feature="text"))
    assert first != eval_order


def test_training_is_deterministic_under_a_seed(tiny_data_dir):
    def passes(seed, **kw):
        ds = pipeline.make_dataset(
            tiny_data_dir, "train", feature="text", batch_size=16, training=True, seed=seed, **kw
        )
        return _texts(ds), _texts(ds)

    reference = passes(7)
    assert passes(7) == reference
    assert passes(8) != reference
    assert passes(7, cache=True) == passes(7, cache=True)

    def sampled(seed):
        ds = pipeline.make_dataset(
            tiny_data_dir, "train", feature="text", batch_size=16, training=True, seed=seed,
            epoch_samples=160,
        )
        return _texts(ds, 30)

    reference = sampled(1)
    assert sampled(1) == reference
    assert sampled(2) != reference


def test_training_epochs_are_a_function_of_the_seed_and_the_epoch(tiny_data_dir):
    """first_epoch: the trainer's endless stream of epochs; a stream started at epoch 2 (a
    resumed run, in another process with another global seed) is the full stream from epoch 2."""
    def epochs(first, n, seed=7, **kw):
        tf.random.set_seed(first + 100)  # the global seed must not matter
        ds = pipeline.make_dataset(tiny_data_dir, "train", feature="text", batch_size=32, training=True,
                                   seed=seed, first_epoch=first, **kw)
        texts = _texts(ds, 4 * n)  # 4 batches (32, 32, 32, 24) per epoch
        return [texts[120 * i: 120 * (i + 1)] for i in range(n)]

    full = epochs(0, 4)
    everything = sorted(t for _, t, _ in toy_rows(40))
    assert all(sorted(e) == everything for e in full)  # every epoch one pass
    assert len({tuple(e) for e in full}) == 4  # reshuffled every epoch
    assert epochs(2, 2) == full[2:]
    cached = epochs(0, 3, cache=True)  # one cache serves every epoch (shards read in file order)
    assert all(sorted(e) == everything for e in cached) and len({tuple(e) for e in cached}) == 3
    assert epochs(1, 2, cache=True) == cached[1:]
    assert epochs(0, 1, seed=8) != full[:1]
    sizes = [int(y.shape[0]) for _, y in pipeline.make_dataset(
        tiny_data_dir, "train", batch_size=32, training=True, first_epoch=0).take(8)]
    assert sizes == [32, 32, 32, 24] * 2

    def sampled(first, batches):
        ds = pipeline.make_dataset(tiny_data_dir, "train", feature="text", batch_size=16, training=True,
                                   seed=1, epoch_samples=64, first_epoch=first)
        return _texts(ds, batches)

    assert sampled(3, 8) == sampled(0, 20)[3 * 64:]  # epoch sampling: 4 steps of 16 per epoch, skipped
    with pytest.raises(ValueError, match="first_epoch"):
        pipeline.make_dataset(tiny_data_dir, "train", training=True, first_epoch=-1)


def test_chars_and_labels_stay_paired_when_shuffled(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    stored = _stored(tiny_data_dir, "train")
    label_of = {bytes(c): int(y) for c, y in zip(stored[schema.CHARS].numpy(), stored[schema.LABEL].numpy())}
    x, y = _collect(
        pipeline.make_dataset(tiny_data_dir, "train", training=True, epoch_samples=64, batch_size=16, seed=5),
        20,
    )
    assert x.shape == (320, m.l0)
    assert all(label_of[bytes(row)] == int(label) for row, label in zip(x, y))


# ---------------------------------------------------------------------------
# Epoch sampling


@pytest.fixture(scope="module")
def imbalanced_dir(tmp_path_factory) -> str:
    """Class counts 200 / 40 / 10 / 0 (the last class has no records), 3 shards, l0=24."""
    rows = []
    for label, n in enumerate([200, 40, 10, 0]):
        rows += [(f"imb:{label}:{i:04d}", f"class {label} record {i}", label) for i in range(n)]
    data_dir = str(tmp_path_factory.mktemp("imbalanced"))
    records.write_dataset(
        data_dir, {"train": rows}, ["c0", "c1", "c2", "c3"], l0=24, max_words=4, num_shards=3
    )
    return data_dir


def test_epoch_sampling_is_uniform_across_imbalanced_classes(imbalanced_dir, caplog):
    with caplog.at_level("WARNING"):
        ds = pipeline.make_dataset(
            imbalanced_dir, "train", feature="text", batch_size=50, training=True, epoch_samples=500,
            seed=0, shuffle_buffer=500,
        )
    assert "c3" in caplog.text  # the empty class is named and left out
    texts, labels = _collect(ds, 60)  # 3,000 samples: 1,000 expected per present class
    per_class = np.bincount(labels, minlength=4)
    assert per_class.sum() == 3000 and per_class[3] == 0
    assert np.all(np.abs(per_class[:3] - 1000) < 100), per_class  # ~4 standard deviations
    # Within a class every record is equally likely: the 10 rare ones ~100 times each.
    rare = collections.Counter(t.decode() for t, y in zip(texts, labels) if y == 2)
    assert len(rare) == 10 and all(60 <= n <= 140 for n in rare.values()), rare
    # Majority-class records are drawn too (subsampled, not dropped).
    common = collections.Counter(t.decode() for t, y in zip(texts, labels) if y == 0)
    assert len(common) > 180


def test_epoch_sampling_with_the_default_buffer_is_uniform(imbalanced_dir):
    ds = pipeline.make_dataset(imbalanced_dir, "train", batch_size=100, training=True, epoch_samples=1000)
    _, labels = _collect(ds, 30)
    per_class = np.bincount(labels, minlength=4)
    assert np.all(np.abs(per_class[:3] - 1000) < 100) and per_class[3] == 0, per_class


def test_epoch_sampling_batches_are_full_and_the_stream_infinite(imbalanced_dir):
    ds = pipeline.make_dataset(imbalanced_dir, "train", batch_size=16, training=True, epoch_samples=32)
    assert ds.element_spec[0].shape.as_list() == [16, 24]
    sizes = {int(y.shape[0]) for _, y in ds.take(40)}  # more samples than records
    assert sizes == {16}
    m = manifest_lib.load(imbalanced_dir)
    assert pipeline.steps_per_epoch(m, "train", 16, epoch_samples=32) == 2


def test_epoch_sampling_on_a_balanced_split_is_a_permutation_per_pass(tiny_data_dir):
    ds = pipeline.make_dataset(
        tiny_data_dir, "train", feature="text", batch_size=40, training=True, epoch_samples=120,
        shuffle_buffer=120,
    )
    texts = _texts(ds, 6)
    everything = sorted(t for _, t, _ in toy_rows(40))
    assert sorted(texts[:120]) == everything and sorted(texts[120:]) == everything
    assert texts[:120] != texts[120:]


def test_class_weights():
    np.testing.assert_allclose(pipeline.class_weights([200, 40, 10]), [250 / 3 / 200, 250 / 3 / 40, 250 / 3 / 10])
    np.testing.assert_array_equal(pipeline.class_weights([5, 5]), [1.0, 1.0])
    np.testing.assert_allclose(pipeline.class_weights([6, 0, 2]), [4 / 6, 0.0, 2.0])
    with pytest.raises(ValueError):
        pipeline.class_weights([0, 0])


# ---------------------------------------------------------------------------
# Shard checks and corrupt shards


def _first_shard(data_dir: str) -> str:
    return manifest_lib.load(data_dir).shard_paths(data_dir, "train")[0]


def test_truncated_shard_is_named_before_reading(tiny_data_dir, tmp_path):
    data_dir = _copy(tiny_data_dir, tmp_path)
    shard = _first_shard(data_dir)
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(pipeline.CorruptShardError, match=os.path.basename(shard)) as info:
        pipeline.make_dataset(data_dir, "train", training=True)
    assert info.value.shards[0][0] == shard
    # Read anyway: tf.data fails mid-stream and find_corrupt_shards names the file.
    ds = pipeline.make_dataset(data_dir, "train", verify="none")
    with pytest.raises(tf.errors.DataLossError):
        _collect(ds)
    m = manifest_lib.load(data_dir)
    bad = pipeline.find_corrupt_shards(m.shard_paths(data_dir, "train"), m.compression)
    assert [path for path, _ in bad] == [shard]
    assert "DataLossError" in bad[0][1]


def test_flipped_bytes_are_caught_by_sha256_and_named(tiny_data_dir, tmp_path):
    data_dir = _copy(tiny_data_dir, tmp_path)
    shard = _first_shard(data_dir)
    size = os.path.getsize(shard)
    with open(shard, "r+b") as f:
        f.seek(size // 2)
        middle = f.read(8)
        f.seek(size // 2)
        f.write(bytes(b ^ 0xFF for b in middle))
    pipeline.make_dataset(data_dir, "train")  # same size: the cheap check passes
    with pytest.raises(pipeline.CorruptShardError, match=os.path.basename(shard)):
        pipeline.make_dataset(data_dir, "train", verify="sha256")
    m = manifest_lib.load(data_dir)
    with pytest.raises(tf.errors.DataLossError):
        _collect(pipeline.make_dataset(data_dir, "train", verify="none"))
    bad = pipeline.find_corrupt_shards(m.shard_paths(data_dir, "train"), m.compression)
    assert [path for path, _ in bad] == [shard]


def test_missing_shard_is_named(tiny_data_dir, tmp_path):
    data_dir = _copy(tiny_data_dir, tmp_path)
    shard = _first_shard(data_dir)
    os.remove(shard)
    with pytest.raises(pipeline.CorruptShardError, match=f"{os.path.basename(shard)}: missing"):
        pipeline.make_dataset(data_dir, "train")
    m = manifest_lib.load(data_dir)
    assert [p for p, _ in pipeline.find_corrupt_shards(m.shard_paths(data_dir, "train"), "")] == [shard]


def test_corrupt_gzip_shard_is_named(gzip_dir, tmp_path):
    data_dir = _copy(gzip_dir, tmp_path)
    m = manifest_lib.load(data_dir)
    paths = m.shard_paths(data_dir, "train")
    assert pipeline.find_corrupt_shards(paths, m.compression) == []
    size = os.path.getsize(paths[1])
    with open(paths[1], "r+b") as f:
        f.seek(size // 2)
        f.write(b"\x00garbage\xff" * 4)
    bad = pipeline.find_corrupt_shards(paths, m.compression)
    assert [p for p, _ in bad] == [paths[1]]


def test_good_shards_pass_every_check(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    pipeline.check_shards(DataDir(tiny_data_dir, m), "train", "sha256")
    assert pipeline.find_corrupt_shards(m.shard_paths(tiny_data_dir, "train"), m.compression) == []


# ---------------------------------------------------------------------------
# Bad arguments


def test_bad_arguments_are_clear_errors(tiny_data_dir):
    with pytest.raises(ValueError, match="valid features"):
        pipeline.make_dataset(tiny_data_dir, "train", feature="pixels")
    with pytest.raises(ValueError, match="valid splits"):
        pipeline.make_dataset(tiny_data_dir, "validation")
    with pytest.raises(ValueError, match="training=True"):
        pipeline.make_dataset(tiny_data_dir, "train", epoch_samples=1000)
    with pytest.raises(ValueError, match="valid values"):
        pipeline.make_dataset(tiny_data_dir, "train", verify="md5")
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.make_dataset(tiny_data_dir, "train", training=True, epoch_samples=10, batch_size=128)
    with pytest.raises(FileNotFoundError):
        pipeline.make_dataset(os.path.join(tiny_data_dir, "nowhere"), "train")


def test_steps_per_epoch(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    assert pipeline.steps_per_epoch(m, "train", 128) == 1
    assert pipeline.steps_per_epoch(m, "train", 40) == 3
    assert pipeline.steps_per_epoch(m, "train", 7) == 18
    assert pipeline.steps_per_epoch(m, "train", 128, epoch_samples=1000) == 7
    with pytest.raises(ValueError, match="valid splits"):
        pipeline.steps_per_epoch(m, "dev", 32)


def test_a_datadir_skips_loading_the_manifest(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    ds = pipeline.make_dataset(DataDir(tiny_data_dir, m), "test", batch_size=64)
    assert sum(int(y.shape[0]) for _, y in ds) == m.splits["test"].count


def test_finite_datasets_declare_their_length(tiny_data_dir):
    ds = pipeline.make_dataset(tiny_data_dir, "train", batch_size=32)
    assert int(ds.cardinality()) == 4
    ds = pipeline.make_dataset(tiny_data_dir, "train", batch_size=32, training=True)
    assert int(ds.cardinality()) == 4


def test_a_manifest_count_that_disagrees_with_the_shards_fails(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    m.splits["train"].count = 200  # the shards hold 120
    ds = pipeline.make_dataset(DataDir(tiny_data_dir, m), "train", batch_size=32)
    with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain 7"):
        _collect(ds)


def test_a_split_without_shards(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    m.splits["empty"] = manifest_lib.Split(count=0, class_counts=[0, 0, 0], shards=[])
    assert list(pipeline.make_dataset(DataDir(tiny_data_dir, m), "empty")) == []
    assert list(pipeline.make_dataset(DataDir(tiny_data_dir, m), "empty", training=True)) == []
    with pytest.raises(ValueError, match="empty"):
        pipeline.make_dataset(DataDir(tiny_data_dir, m), "empty", training=True, epoch_samples=256)


def test_trim_padding_cuts_batches_after_their_longest_text():
    from tfpipe.training.datasets import trim_padding

    ids = tf.constant([[5, 3, 0, 0, 0], [7, 0, 0, 0, 0]], tf.int64)
    np.testing.assert_array_equal(trim_padding(ids).numpy(), [[5, 3], [7, 0]])
    # A batch of empty texts keeps one (padding) step so that models still get a sequence.
    assert trim_padding(tf.zeros([2, 4], tf.int64)).shape == (2, 1)
