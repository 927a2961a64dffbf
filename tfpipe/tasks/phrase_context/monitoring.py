"""TensorBoard's picture of a multimodal run: test images with their predicted context and both predictions.

Written by the multimodal run's finish into ``logs/context`` (an image summary): one row per image
(the first ``model.tensorboard_images`` of the test split, the rows of results.json's
``examples``), its thumbnail, its top-3 predicted phrases (eq. 3 over the run's phrase index,
section 3.3's context), the true class, the multimodal classifier's prediction (section 3.5) and,
beside it, the visual-only baseline's (``model.baseline``'s ``classifier.keras`` on the same
visual features), each green when right and dark red when wrong.  The thumbnails come from the
image records the features were extracted from (the features manifest's ``source.images``); a
row whose image is not found is drawn without one and counted.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

THUMBNAIL = 96
TEXT_WIDTH = 640
LINE = 18
LOG_SUBDIR = "context"
RIGHT, WRONG, PLAIN = (0, 120, 0), (170, 0, 0), (0, 0, 0)


def image_source(manifest) -> str | None:
    """The image records directory a features directory was extracted from (``beam_jobs.extract_features``
    writes it as ``source.images`` and ``features.source.images``), or None."""
    source = getattr(manifest, "source", None) or {}
    features = getattr(manifest, "features", None) or {}
    for block in (source, features.get("source") or {}):
        if isinstance(block, dict) and isinstance(block.get("images"), str):
            return block["images"]
    return None


def thumbnails(image_dir: str | None, split: str, ids: Sequence[str], size: int = THUMBNAIL) -> dict[str, np.ndarray]:
    """``{record id: uint8 [size, size, 3]}`` of the ``ids`` found in ``split`` of an image records
    directory (``tfpipe.tasks.retrieval.monitoring``'s reader); ``{}`` when the directory or the
    split is not there."""
    from tfpipe.data.datadir import DataDir
    from tfpipe.tasks.retrieval.monitoring import _thumbnails

    if not image_dir or not os.path.exists(os.path.join(image_dir, "manifest.json")):
        return {}
    if split not in DataDir.open(image_dir).manifest.splits:
        return {}
    return _thumbnails(image_dir, split, list(ids), size)


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def row_lines(row: Mapping[str, Any], model: str = "multimodal") -> list[tuple[str, tuple[int, int, int]]]:
    """The text lines of one example row (``{"id", "label", "predicted", "phrases"?, "baseline"?}``)
    and their colours: the phrases, the truth, the run's prediction (``model``: its name on the
    picture), the visual-only baseline's."""
    lines = [(_clip(f"{row['id']}: phrases: {'; '.join(row['phrases'])}" if row.get("phrases")
                    else f"{row['id']}: (no phrases)"), PLAIN),
             (_clip(f"true: {row['label']}"), PLAIN)]
    pred = f"{model}: {row['predicted']}"
    lines.append((_clip(pred), RIGHT if row["predicted"] == row["label"] else WRONG))
    if "baseline" in row:
        lines.append((_clip(f"visual-only: {row['baseline']}"), RIGHT if row["baseline"] == row["label"] else WRONG))
    return lines


def context_image(thumbs: Sequence[np.ndarray | None], rows: Sequence[Mapping[str, Any]],
                  size: int = THUMBNAIL, model: str = "multimodal") -> np.ndarray:
    """The picture: uint8 ``[H, W, 3]``, a row per example (thumbnail, then :func:`row_lines`)."""
    from PIL import Image, ImageDraw

    if len(thumbs) != len(rows):
        raise ValueError(f"{len(thumbs)} thumbnails for {len(rows)} rows")
    height = max(size, LINE * 4) + 8
    canvas = Image.new("RGB", (size + 16 + TEXT_WIDTH, height * max(len(rows), 1)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (thumb, row) in enumerate(zip(thumbs, rows)):
        top = r * height + 4
        if thumb is not None:
            canvas.paste(Image.fromarray(np.asarray(thumb, np.uint8)), (4, top))
        for j, (text, colour) in enumerate(row_lines(row, model)):
            draw.text((size + 12, top + j * LINE), text, fill=colour)
    return np.asarray(canvas, np.uint8)


def write_context_image(log_dir: str, features_manifest, split: str, rows: Sequence[Mapping[str, Any]],
                        n: int, model: str = "multimodal") -> dict[str, Any]:
    """Draws the first ``n`` example rows with their thumbnails (from the features' source image
    records, ``split``) into ``<log_dir>/context``; returns ``{"dir", "images", "thumbnails",
    "image_dir"}`` (``thumbnails``: how many were found)."""
    from tfpipe.training import mistakes_image

    rows = list(rows)[:n]
    images = image_source(features_manifest)
    thumbs = thumbnails(images, split, [r["id"] for r in rows])
    picture = context_image([thumbs.get(r["id"]) for r in rows], rows, model=model)
    path = os.path.join(log_dir, LOG_SUBDIR)
    mistakes_image.write_image_summary(path, f"{split}_context_and_predictions", picture)
    return {"dir": path, "images": len(rows), "thumbnails": sum(r["id"] in thumbs for r in rows),
            "image_dir": images}
