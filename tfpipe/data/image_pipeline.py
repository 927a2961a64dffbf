"""tf.data for image records: decode, resize, the papers' augmentation, batch with labels or
captions.

:func:`make_image_dataset` reads the ``image`` / ``image_captions`` shards of a data
directory (checked against the manifest first, as the text reader does) and yields
dicts of batches:

``image``   ``float32[B, S, S, 3]`` RGB, whole values in 0..255 (the visual models
            scale it themselves, ``tfpipe.models.vision``)
``label``   ``int64[B]`` class index (-1: none)
``id``      ``string[B]`` stable image ids
caption fields, by ``captions``:
  ``"all"``     ``captions`` ``string[B, (n)]``, ``caption_chars`` ``uint8[B, (n), l0]``,
                ``caption_word_ids`` ``int64[B, (n), (w)]`` (ragged: every caption)
  ``"random"``  one caption per image, drawn afresh each pass (training):
                ``caption`` ``string[B]``, ``caption_chars`` ``uint8[B, l0]``,
                ``caption_word_ids`` ``int64[B, max_words]`` (0-padded)
  ``"each"``    one element per (image, caption) pair, in record order, with the
                ``caption_index`` (evaluation of retrieval)

Views (the ``eval`` view: the whole image resized so its shorter side is
``S / crop_fraction`` then the central ``S x S``; Tiny-ImageNet's 64-pixel images are
upscaled this way):

* training (``augment=True``): a random ``S x S`` crop of the image resized to
  shorter side ``S / crop_fraction``, flipped left-right with probability 1/2
  (Reed et al. 2016, section 5: "crops and flips"; the ImageNet practice);
* :func:`ten_views`: the four corner crops, the central crop and their mirror
  images (Reed et al.'s ten views, precomputed as features by
  ``beam_jobs.extract_features --views 10``).

Augmentation applies to the training split only: ``augment`` defaults to
``training``, and an explicit ``augment=True`` on a split other than ``train`` is
refused.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tfpipe.data import schema
from tfpipe.data.datadir import DataDir
from tfpipe.data.pipeline import check_shards

CAPTION_MODES = ("none", "all", "random", "each")
DEFAULT_CROP_FRACTION = 0.875  # 224 of 256: the ImageNet evaluation crop


def decode(jpeg: tf.Tensor) -> tf.Tensor:
    """``uint8[H, W, 3]`` of one stored JPEG."""
    return tf.io.decode_jpeg(jpeg, channels=3)


def _resize_shorter(image: tf.Tensor, shorter: int) -> tf.Tensor:
    """``float32`` image whose shorter side is ``shorter`` (bilinear, aspect kept), rounded to
    whole values in 0..255: a view is exactly a uint8 image, so features cached from uint8
    views (``beam_jobs.extract_features``) equal the model's output on this view."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(shorter, tf.float32) / tf.reduce_min(shape)
    size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), shorter)
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear", antialias=True)
    return tf.round(tf.clip_by_value(resized, 0.0, 255.0))


def _prescale(size: int, crop_fraction: float) -> int:
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    return max(size, int(round(size / crop_fraction)))


def eval_view(image: tf.Tensor, size: int, crop_fraction: float = DEFAULT_CROP_FRACTION
              ) -> tf.Tensor:
    """The central ``size x size`` crop of the image resized to shorter side
    ``size / crop_fraction``; ``float32[size, size, 3]`` in 0..255."""
    big = _resize_shorter(image, _prescale(size, crop_fraction))
    h, w = tf.shape(big)[0], tf.shape(big)[1]
    top, left = (h - size) // 2, (w - size) // 2
    return tf.ensure_shape(big[top:top + size, left:left + size], [size, size, 3])



def eval_views_of_bytes(images: tf.Tensor, size: int, crop_fraction: float = DEFAULT_CROP_FRACTION) -> tf.Tensor:
    """Encoded images ``string [B]`` (JPEG, PNG, GIF's first frame, BMP; RGB) -> their
    :func:`eval_view` s ``float32 [B, size, size, 3]``: what a serving graph feeds its visual model."""
    def one(b):
        return eval_view(tf.io.decode_image(b, channels=3, expand_animations=False), size, crop_fraction)

    return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))

def train_view(image: tf.Tensor, size: int, seed: tf.Tensor,
               crop_fraction: float = DEFAULT_CROP_FRACTION) -> tf.Tensor:
    """A random ``size x size`` crop (and a random left-right flip) of the image resized to
    shorter side ``size / crop_fraction``; ``seed`` is a stateless seed pair."""
    big = _resize_shorter(image, _prescale(size, crop_fraction))
    seeds = tf.random.experimental.stateless_split(seed, 2)
    crop = tf.image.stateless_random_crop(big, [size, size, 3], seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(crop, seed=seeds[1])


def ten_views(image: tf.Tensor, size: int, crop_fraction: float = DEFAULT_CROP_FRACTION
              ) -> tf.Tensor:
    """``float32[10, size, size, 3]``: the corner crops (top-left, top-right, bottom-left,
    bottom-right), the central crop, then the same five mirrored."""
    big = _resize_shorter(image, _prescale(size, crop_fraction))
    h, w = tf.shape(big)[0], tf.shape(big)[1]
    offsets = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size),
               ((h - size) // 2, (w - size) // 2)]
    crops = tf.stack([big[t:t + size, l:l + size] for t, l in offsets])
    crops = tf.ensure_shape(crops, [5, size, size, 3])
    return tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0)


def _keys(captions: str) -> list[str]:
    keys = [schema.ID, schema.IMAGE, schema.LABEL]
    if captions != "none":
        keys += [schema.CAPTIONS, schema.CAPTION_CHARS, schema.CAPTION_WORD_IDS]
    return keys


def make_image_dataset(
    data: DataDir | str,
    split: str,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    training: bool = False,
    augment: bool | None = None,
    captions: str = "none",
    seed: int = 0,
    shuffle_buffer: int = 2_000,
    crop_fraction: float = DEFAULT_CROP_FRACTION,
    max_words: int | None = None,
    verify: str = "size",
    drop_remainder: bool = False,
    classes: Sequence[int] | None = None,
) -> tf.data.Dataset:
    """Batches of ``split`` (the module docstring says what they hold).

    ``training``: shuffled (``shuffle_buffer`` records, reshuffled each pass from
    ``seed``) and, unless ``augment=False``, the random crop + flip view;
    otherwise one pass in file order with the eval view.  ``classes``: keep only
    the records of these class indices (zero-shot subsets).
    """
    data = DataDir.of(data)
    if data.kind not in (schema.KIND_IMAGE, schema.KIND_IMAGE_CAPTIONS):
        raise ValueError(f"{data.path} holds {data.kind!r} records; make_image_dataset reads "
                         f"the {schema.KIND_IMAGE!r} and {schema.KIND_IMAGE_CAPTIONS!r} kinds")
    if captions not in CAPTION_MODES:
        raise ValueError(f"captions={captions!r}; valid modes: {list(CAPTION_MODES)}")
    if captions != "none" and data.kind != schema.KIND_IMAGE_CAPTIONS:
        raise ValueError(f"captions={captions!r} but {data.path} holds {data.kind!r} records "
                         "(no captions); use captions='none'")
    if batch_size <= 0 or image_size <= 0:
        raise ValueError(f"batch_size and image_size must be positive, got {batch_size}, "
                         f"{image_size}")
    augment = training if augment is None else augment
    if augment and split != "train":
        raise ValueError(f"augmentation is for the training split only, not {split!r}")
    manifest = data.manifest
    paths = data.shard_paths(split)
    check_shards(data, split, verify)
    max_words = manifest.max_words if max_words is None else max_words
    l0 = manifest.l0 or None
    keys = _keys(captions)
    kind = data.kind

    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.interleave(
        lambda p: tf.data.TFRecordDataset(p, compression_type=manifest.compression or None),
        cycle_length=min(len(paths), 4) or 1, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    if classes is not None:
        wanted = tf.constant(sorted(set(int(c) for c in classes)), tf.int64)

        def keep(raw):
            label = tf.io.parse_single_example(raw, {schema.LABEL: schema.SPECS[kind][schema.LABEL]})
            return tf.reduce_any(tf.equal(label[schema.LABEL], wanted))

        ds = ds.filter(keep)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.enumerate()  # a per-record counter: stateless seeds for the views and captions
    base = tf.constant([seed, 0x5EED], tf.int64)

    def one(index, raw):
        parsed = schema.parse(tf.reshape(raw, [1]), l0=l0, keys=keys, kind=kind)
        rec_seed = tf.random.experimental.stateless_fold_in(base, index)
        image = decode(parsed[schema.IMAGE][0])
        view = (train_view(image, image_size, rec_seed, crop_fraction) if augment
                else eval_view(image, image_size, crop_fraction))
        out = {schema.ID: parsed[schema.ID][0], schema.LABEL: parsed[schema.LABEL][0],
               schema.IMAGE: view}
        if captions != "none":
            caps = parsed[schema.CAPTIONS][0]
            chars = parsed[schema.CAPTION_CHARS][0]
            words = parsed[schema.CAPTION_WORD_IDS][0]
            if captions == "random":
                n = tf.shape(caps)[0]
                pick = tf.random.stateless_uniform(
                    [], tf.random.experimental.stateless_fold_in(rec_seed, 1),
                    maxval=tf.maximum(n, 1), dtype=tf.int32)
                out["caption"] = caps[pick]
                out[schema.CAPTION_CHARS] = chars[pick]
                w = words[pick][:max_words]
                out[schema.CAPTION_WORD_IDS] = tf.pad(w, [[0, max_words - tf.shape(w)[0]]])
            else:
                out[schema.CAPTIONS] = caps
                out[schema.CAPTION_CHARS] = chars
                out[schema.CAPTION_WORD_IDS] = words
        return out

    ds = ds.map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if captions == "each":
        def pairs(x):
            n = tf.shape(x[schema.CAPTIONS])[0]
            tiled = {k: tf.repeat(tf.expand_dims(x[k], 0), n, axis=0)
                     for k in (schema.ID, schema.LABEL, schema.IMAGE)}
            words = x[schema.CAPTION_WORD_IDS][:, :max_words].to_tensor(
                shape=[None, max_words])
            return tf.data.Dataset.from_tensor_slices({
                **tiled, "caption": x[schema.CAPTIONS], "caption_index": tf.range(n),
                schema.CAPTION_CHARS: x[schema.CAPTION_CHARS],
                schema.CAPTION_WORD_IDS: words})

        ds = ds.flat_map(pairs)
    if captions == "all":
        ds = ds.ragged_batch(batch_size, drop_remainder=drop_remainder)
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder,
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
