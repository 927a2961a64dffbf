"""Embeddings for TensorBoard's Embedding Projector (the ``projector`` plugin).

DeViSE (Frome et al. 2013) maps images into the word-embedding space of the
label names, so that a mistake lands *near* the right label; looking at the
label vectors and the projected image vectors side by side (t-SNE / PCA in the
projector, coloured by class, with the image thumbnails as sprites) shows
whether semantically close labels really are close in that space.

:func:`write_projector` writes what the plugin reads:

* a TF checkpoint (``tf.train.Checkpoint``, one variable per embedding) with its
  ``checkpoint`` state file, so the plugin finds it in the same directory;
* ``projector_config.pbtxt`` (a ``ProjectorConfig``) naming each checkpoint
  tensor, its ``metadata_path`` and its ``sprite`` (``image_path``,
  ``single_image_dim``); paths in it are relative to the config file, so the
  log directory may be moved;
* per embedding, ``<name>.tsv`` (metadata, one row per vector: a header row
  when there is more than one column, none for a single column, as the
  projector expects) and ``<name>_sprite.png`` (thumbnails tiled row-major in
  a square grid, scaled down to fit TensorBoard's 8192 x 8192 pixel limit);
* an event file with a short text summary, which makes the directory a *run*.

The plugin looks for ``projector_config.pbtxt`` in each run directory (a
directory holding event files) and in the ``--logdir`` root; a plain
``log_dir/projector/`` with no event file would be found only when it is
itself the ``--logdir``.  Hence the event file: under any ancestor
``--logdir`` the embeddings show up as run ``.../projector``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

PROJECTOR_FILENAME = "projector_config.pbtxt"
MAX_SPRITE_SIZE = 8192  # TensorBoard's limit on the sprite image's width and height (pixels)
CHECKPOINT_NAME = "embeddings"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Embedding:
    """One embedding to show: ``vectors [n, d]`` (float32), ``metadata`` (``n`` dict
    rows with the same keys, or empty for none), ``sprite_images`` (optional uint8
    ``[n, h, w, 3]`` (or ``[n, h, w]`` / ``[n, h, w, 1]`` grey) thumbnails, one per
    vector).  ``name`` is the tensor name shown in the projector (a Python
    identifier: it is also the checkpoint attribute and the files' stem)."""

    name: str
    vectors: Any
    metadata: Sequence[Mapping[str, Any]] = field(default_factory=list)
    sprite_images: Any = None


def escape_tsv(value: Any) -> str:
    """``str(value)`` with backslash, tab, newline and carriage return escaped
    (``\\\\``, ``\\t``, ``\\n``, ``\\r``) so that it is one TSV cell."""
    text = "" if value is None else str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def unescape_tsv(cell: str) -> str:
    """The inverse of :func:`escape_tsv`."""
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), cell)


def metadata_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The projector's metadata TSV for ``rows`` (dicts with the same keys, in the
    first row's key order): a header row when there are several columns, just
    the values when there is one."""
    if not rows:
        raise ValueError("metadata has no rows")
    keys = list(rows[0].keys())
    if not keys:
        raise ValueError("metadata rows have no columns")
    for i, row in enumerate(rows):
        if set(row.keys()) != set(keys):
            raise ValueError(f"metadata row {i} has keys {sorted(row)}, row 0 has {sorted(keys)}")
    lines = ["\t".join(escape_tsv(k) for k in keys)] if len(keys) > 1 else []
    lines += ["\t".join(escape_tsv(row[k]) for k in keys) for row in rows]
    return "\n".join(lines) + "\n"


def read_metadata_tsv(path: str, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Reads a file written by :func:`metadata_tsv` back into dict rows (values as
    strings).  A single-column file has no header: pass its column name in
    ``columns`` (default ``["label"]``)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cells = [[unescape_tsv(c) for c in line.split("\t")] for line in lines]
    if cells and len(cells[0]) > 1:
        header, cells = cells[0], cells[1:]
    else:
        header = list(columns or ["label"])
    return [dict(zip(header, row)) for row in cells]


def sprite_grid(images: np.ndarray, max_size: int = MAX_SPRITE_SIZE) -> tuple[np.ndarray, tuple[int, int]]:
    """Tiles ``images [n, h, w, c]`` (uint8) row-major in a ``ceil(sqrt(n))``-square grid
    (black where the grid is not full), each thumbnail scaled down (keeping its
    aspect ratio) when the grid would exceed ``max_size`` pixels on a side.
    Returns ``(sprite uint8 [rows*h', cols*w', 3], (w', h'))``: the sprite and the
    thumbnail size (width, height) that ``single_image_dim`` names."""
    from PIL import Image

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[0] == 0 or x.shape[-1] not in (1, 3):
        raise ValueError(f"sprite_images must be [n, h, w, 3] (or grey [n, h, w]), got shape {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"sprite_images must be uint8, got {x.dtype}")
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    n, h, w, _ = x.shape
    side = math.ceil(math.sqrt(n))
    scale = min(1.0, max_size / (side * h), max_size / (side * w))
    if scale < 1.0:
        th, tw = max(1, int(h * scale)), max(1, int(w * scale))
        x = np.stack([np.asarray(Image.fromarray(im).resize((tw, th), Image.BILINEAR)) for im in x])
        h, w = th, tw
    sprite = np.zeros((side * h, side * w, 3), np.uint8)
    for i, im in enumerate(x):
        r, c = divmod(i, side)
        sprite[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    return sprite, (w, h)


def _checkpoint_key(reader_keys: Sequence[str], name: str) -> str:
    key = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
    if key not in reader_keys:  # pragma: no cover - tf.train.Checkpoint's key format changed
        raise RuntimeError(f"checkpoint has no {key!r}; keys: {sorted(reader_keys)}")
    return key


def write_projector(log_dir: str, embeddings: Sequence[Embedding], *, subdir: str | None = "projector",
                    step: int = 0) -> dict[str, Any]:
    """Writes ``embeddings`` for TensorBoard's Embedding Projector under
    ``log_dir/subdir`` (``subdir=None`` or ``""``: ``log_dir`` itself); see the
    module docstring for the files and why there is an event file.

    Writing again to the same directory replaces the previous embeddings (the
    checkpoint keeps one version; ``step`` numbers it and the text summary).
    Returns the paths written: ``{"dir", "config", "checkpoint"`` (the prefix
    ``tf.train.load_checkpoint`` takes)``, "events"`` (the event file)``,
    "metadata": {name: tsv}, "sprite": {name: png}, "tensors": {name: checkpoint key}}``
    (embeddings without metadata / sprites are absent from those dicts).
    """
    import tensorflow as tf
    from google.protobuf import text_format
    from PIL import Image

    try:
        from tensorboard.plugins import projector
    except ImportError:  # pragma: no cover - tensorboard comes with tensorflow
        projector = None

    embeddings = list(embeddings)
    if not embeddings:
        raise ValueError("no embeddings to write")
    names = [e.name for e in embeddings]
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"embedding name {name!r} must be a Python identifier (letters, digits, _)")
    if len(set(names)) != len(names):
        raise ValueError(f"embedding names are not unique: {names}")
    vectors = {}
    for e in embeddings:
        v = np.asarray(e.vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
            raise ValueError(f"embedding {e.name!r}: vectors must be [n, d] with n, d >= 1, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"embedding {e.name!r}: vectors are not all finite")
        if e.metadata and len(e.metadata) != v.shape[0]:
            raise ValueError(f"embedding {e.name!r}: {len(e.metadata)} metadata rows for {v.shape[0]} vectors")
        if e.sprite_images is not None and len(e.sprite_images) != v.shape[0]:
            raise ValueError(f"embedding {e.name!r}: {len(e.sprite_images)} sprite images for {v.shape[0]} vectors")
        vectors[e.name] = v

    out_dir = os.path.join(log_dir, subdir) if subdir else log_dir
    os.makedirs(out_dir, exist_ok=True)
    paths: dict[str, Any] = {"dir": out_dir, "metadata": {}, "sprite": {}, "tensors": {}}

    # Metadata and sprites first (they validate the rows and images).
    sprite_dims = {}
    for e in embeddings:
        if e.metadata:
            p = os.path.join(out_dir, f"{e.name}.tsv")
            text = metadata_tsv(e.metadata)
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            paths["metadata"][e.name] = p
        if e.sprite_images is not None:
            sprite, dim = sprite_grid(e.sprite_images)
            p = os.path.join(out_dir, f"{e.name}_sprite.png")
            Image.fromarray(sprite).save(p)
            paths["sprite"][e.name] = p
            sprite_dims[e.name] = dim

    # The checkpoint: one variable per embedding; the manager keeps the newest only.
    variables = {name: tf.Variable(v, name=name, trainable=False) for name, v in vectors.items()}
    ckpt = tf.train.Checkpoint(**variables)
    manager = tf.train.CheckpointManager(ckpt, out_dir, max_to_keep=1, checkpoint_name=CHECKPOINT_NAME)
    prefix = manager.save(checkpoint_number=step)
    paths["checkpoint"] = prefix
    keys = [k for k, _ in tf.train.list_variables(prefix)]
    for name in names:
        paths["tensors"][name] = _checkpoint_key(keys, name)

    # The config: model_checkpoint_path left empty, so the plugin takes the newest
    # checkpoint of this directory (it stays right when log_dir is moved).
    if projector is not None:
        config = projector.ProjectorConfig()
        for e in embeddings:
            info = config.embeddings.add()
            info.tensor_name = paths["tensors"][e.name]
            if e.name in paths["metadata"]:
                info.metadata_path = os.path.basename(paths["metadata"][e.name])
            if e.name in paths["sprite"]:
                info.sprite.image_path = os.path.basename(paths["sprite"][e.name])
                info.sprite.single_image_dim.extend(sprite_dims[e.name])
        text = text_format.MessageToString(config)
    else:  # pragma: no cover - the same text by hand
        parts = []
        for e in embeddings:
            lines = [f'  tensor_name: "{paths["tensors"][e.name]}"']
            if e.name in paths["metadata"]:
                lines.append(f'  metadata_path: "{os.path.basename(paths["metadata"][e.name])}"')
            if e.name in paths["sprite"]:
                w, h = sprite_dims[e.name]
                lines.append(f'  sprite {{\n    image_path: "{os.path.basename(paths["sprite"][e.name])}"\n'
                             f'    single_image_dim: {w}\n    single_image_dim: {h}\n  }}')
            parts.append("embeddings {\n" + "\n".join(lines) + "\n}\n")
        text = "".join(parts)
    config_path = os.path.join(out_dir, PROJECTOR_FILENAME)
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(text)
    paths["config"] = config_path

    # An event file makes out_dir a run that TensorBoard lists (and so searches for the config).
    before = set(os.listdir(out_dir))
    writer = tf.summary.create_file_writer(out_dir)
    with writer.as_default():
        summary = "\n".join(
            f"* `{e.name}`: {vectors[e.name].shape[0]} x {vectors[e.name].shape[1]}"
            + (f", metadata columns {list(e.metadata[0].keys())}" if e.metadata else "")
            + (", sprites" if e.sprite_images is not None else "")
            for e in embeddings)
        tf.summary.text("projector/embeddings", "Embeddings (Projector tab):\n\n" + summary, step=step)
    writer.flush()
    writer.close()
    new = sorted(f for f in set(os.listdir(out_dir)) - before if "tfevents" in f)
    paths["events"] = os.path.join(out_dir, new[-1]) if new else None
    return paths
