"""The retrieval task's data: cached visual maps joined with their images' captions, by record id.

A split is ``Split``: the features of its images (``beam_jobs.extract_features``: the frozen
part of the visual model, the stride-16 maps) and every caption of those images from the
``image_captions`` records they were computed from (``beam_jobs.preprocess_images``), with
``text_to_image`` (caption -> image row) as ``tfpipe.metrics.retrieval_ranks`` reads it.  The
join is by record id and checked both ways: an image without captions or captions without
features is an error naming the record, never a silent drop.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from tfpipe.data.word_inputs import vocabulary, word_ids

MAP_OUTPUT = "stride16"  # the cached map the visual top starts from


class CaptionError(ValueError):
    """Features and captions that do not belong together."""


@dataclasses.dataclass
class Split:
    """One split's images and captions: ``features [N, ...]`` (flattened maps), ``image_ids [N]``,
    ``captions [M]`` (text), ``text_to_image int64 [M]`` (the image row of each caption)."""

    name: str
    features: np.ndarray
    image_ids: list[str]
    captions: list[str]
    text_to_image: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def caption_rows(self) -> list[np.ndarray]:
        """For each image row, its caption rows."""
        order = np.argsort(self.text_to_image, kind="stable")
        bounds = np.searchsorted(self.text_to_image[order], np.arange(self.num_images + 1))
        return [order[bounds[i]:bounds[i + 1]] for i in range(self.num_images)]


def captions_dir(features_dir: str, captions: str | None) -> str:
    """The ``image_captions`` directory of a features directory: ``captions`` when given, else
    the features manifest's source, else the directory above it (where ``extract_features``
    writes by default)."""
    if captions:
        return captions
    from tfpipe.data.datadir import DataDir

    source = (DataDir.open(features_dir).manifest.source or {}).get("images")
    if source and os.path.exists(os.path.join(source, "manifest.json")):
        return source
    parent = os.path.dirname(os.path.normpath(features_dir))
    if os.path.exists(os.path.join(parent, "manifest.json")):
        return parent
    raise CaptionError(f"{features_dir}: cannot find its image_captions directory (source {source!r}); name it "
                       "with model.captions")


def read_captions(path: str, split: str) -> dict[str, list[str]]:
    """``{record id: [captions]}`` of one split of an ``image_captions`` directory."""
    import tensorflow as tf

    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    data = DataDir.open(path)
    if data.kind != schema.KIND_IMAGE_CAPTIONS:
        raise CaptionError(f"{path} holds {data.kind!r} records, not image_captions (python -m "
                           "beam_jobs.preprocess_images --preset flickr8k_1k)")
    if split not in data.manifest.splits:
        raise CaptionError(f"{path} has no split {split!r}; its splits: {', '.join(data.manifest.splits)}")
    out: dict[str, list[str]] = {}
    for batch in tf.data.TFRecordDataset(data.shard_paths(split)).batch(256):
        parsed = schema.parse(batch, kind=data.kind, keys=["id", "captions"])
        for rid, caps in zip(parsed["id"].numpy(), parsed["captions"].to_list()):
            out[rid.decode("utf-8")] = [c.decode("utf-8") for c in caps]
    return out


def read_split(features_dir: str, captions: str | None, split: str, *, verify: str = "size",
               output: str = MAP_OUTPUT) -> Split:
    """The images of ``split`` (their cached ``output`` features) with their captions."""
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.feature_records import read_split as read_features

    data = DataDir.open(features_dir)
    x, _, ids = read_features(data, split, batch_size=256, verify=verify, output=output, with_ids=True)
    caps = read_captions(captions_dir(features_dir, captions), split)
    missing = [i for i in ids if not caps.get(i)]
    if missing:
        raise CaptionError(f"{features_dir} split {split}: {len(missing)} image(s) without captions, e.g. "
                           f"{missing[0]!r} (features and captions from different data?)")
    extra = sorted(set(caps) - set(ids))
    if extra:
        raise CaptionError(f"{features_dir} split {split}: captions of {len(extra)} image(s) without features, e.g. "
                           f"{extra[0]!r} (re-run beam_jobs.extract_features on this image directory)")
    texts, owner = [], []
    for row, rid in enumerate(ids):
        texts.extend(caps[rid])
        owner.extend([row] * len(caps[rid]))
    return Split(split, x, list(ids), texts, np.asarray(owner, np.int64))


def map_shape(features_dir: str, output: str = MAP_OUTPUT) -> list[int]:
    """The stored shape of ``output`` (``[H, W, C]``), from the features manifest."""
    from tfpipe.data.datadir import DataDir

    info = DataDir.open(features_dir).manifest.features
    entries = {e["name"]: e for e in info["outputs"]}
    if output not in entries:
        raise CaptionError(f"{features_dir} stores {', '.join(entries)}, not the {output} maps the visual top starts "
                           f"from: python -m beam_jobs.extract_features --outputs {output} --data_dir <image dir> "
                           "--output_dir <new features dir>")
    return [int(d) for d in entries[output]["shape"]]


def train_vocabulary(train: Split) -> list[str]:
    """Every word of the training captions (no val or test caption shapes the vocabulary)."""
    return vocabulary(train.captions)


def caption_ids(captions: Sequence[str], vocab: Sequence[str], max_words: int) -> np.ndarray:
    """``int64 [M, max_words]`` word ids (``tfpipe.data.word_inputs.word_ids``)."""
    return word_ids(captions, vocab, max_words)
