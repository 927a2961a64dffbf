"""TensorBoard's picture of a retrieval run: a few test images with their top-3 retrieved captions.

Written by the task's evaluation into ``logs/retrieval`` (an image summary): one row per image
(the first ``n`` of the split), its thumbnail, then the three captions of the split that score
highest against it (sentence retrieval, You et al. 2018 Figure 4), each marked ``+`` when it is
one of the image's own captions and ``-`` when not.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

THUMBNAIL = 96
ROW_TEXT_WIDTH = 560
TOP = 3


def _thumbnails(captions_dir: str, split: str, ids: Sequence[str], size: int = THUMBNAIL) -> dict[str, np.ndarray]:
    """``{record id: uint8 [size, size, 3]}`` of the ``ids`` found in an image_captions split (a
    record whose bytes do not decode is left out: its row is drawn without a picture)."""
    import tensorflow as tf

    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    data = DataDir.open(captions_dir)
    wanted, found = set(ids), {}
    for batch in tf.data.TFRecordDataset(data.shard_paths(split)).batch(64):
        parsed = schema.parse(batch, kind=data.kind, keys=["id", "image"])
        for rid, raw in zip(parsed["id"].numpy(), parsed["image"].numpy()):
            key = rid.decode("utf-8")
            if key not in wanted:
                continue
            try:
                image = tf.io.decode_image(raw, channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, ValueError):
                continue
            found[key] = tf.cast(tf.image.resize(image, [size, size], antialias=True), tf.uint8).numpy()
        if len(found) == len(wanted):
            break
    return found


def retrieval_rows(similarity: np.ndarray, text_to_image: np.ndarray, n: int, k: int = TOP) -> list[list[tuple[int, bool]]]:
    """For each of the first ``n`` images, its top-``k`` caption rows by ``similarity [N, M]``
    (ties to the lower row) and whether each is one of its own."""
    rows = []
    for i in range(min(n, similarity.shape[0])):
        order = np.argsort(-similarity[i], kind="stable")[:k]
        rows.append([(int(j), bool(text_to_image[j] == i)) for j in order])
    return rows


def retrieval_image(thumbs: Sequence[np.ndarray | None], captions: Sequence[Sequence[tuple[str, bool]]],
                    size: int = THUMBNAIL) -> np.ndarray:
    """The picture: uint8 ``[H, W, 3]``, a row per image (thumbnail, then its captions)."""
    from PIL import Image, ImageDraw

    line = 18
    height = max(size, line * TOP) + 8
    canvas = Image.new("RGB", (size + 16 + ROW_TEXT_WIDTH, height * max(len(thumbs), 1)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (thumb, caps) in enumerate(zip(thumbs, captions)):
        top = r * height + 4
        if thumb is not None:
            canvas.paste(Image.fromarray(np.asarray(thumb, np.uint8)), (4, top))
        for c, (text, own) in enumerate(caps):
            clipped = text if len(text) <= 80 else text[:77] + "..."
            draw.text((size + 12, top + c * line), f"{'+' if own else '-'} {clipped}",
                      fill=(0, 120, 0) if own else (170, 0, 0))
    return np.asarray(canvas, np.uint8)


def write_retrieval_image(log_dir: str, captions_dir: str, split: str, image_ids: Sequence[str],
                          captions: Sequence[str], text_to_image: np.ndarray, similarity: np.ndarray,
                          n: int) -> str:
    """Draws the first ``n`` images of ``split`` with their top-3 captions into
    ``<log_dir>/retrieval``; returns that directory."""
    from tfpipe.training import mistakes_image

    rows = retrieval_rows(similarity, np.asarray(text_to_image), n)
    shown = list(image_ids[: len(rows)])
    thumbs = _thumbnails(captions_dir, split, shown)
    picture = retrieval_image([thumbs.get(i) for i in shown],
                              [[(captions[j], own) for j, own in row] for row in rows])
    path = os.path.join(log_dir, "retrieval")
    mistakes_image.write_image_summary(path, f"{split}_top{TOP}_captions", picture)
    return path
