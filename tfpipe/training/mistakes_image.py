"""The most frequent confusions as an image for TensorBoard, with their distance in the label hierarchy.

DeViSE (Frome et al. 2013) argues that a visual-semantic model makes mistakes
that are *semantically close* to the truth (a wrong breed of dog rather than a
truck), and scores this with hierarchical precision over the WordNet is-a
graph.  This table makes it visible per confusion: each row is one
(true label -> predicted label) pair, how often it happened, and how many hops
apart the two labels are in the hypernym graph (2 = siblings).

* :func:`hierarchy_hops`: shortest undirected path length between two label
  nodes in ``[(parent, child), ...]`` edges (``tfpipe.text.wordnet.hierarchy_edges``).
* :func:`top_mistakes`: the rows (pure function; what the image draws).
* :func:`mistakes_image`: the table drawn with PIL, uint8 ``[H, W, 3]``.
* :func:`write_image_summary`: ``tf.summary.image`` of one such image.
"""
from __future__ import annotations

import collections
import os
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Sequence

import numpy as np

from tfpipe import metrics


class Mistake(NamedTuple):
    """One confusion: ``count`` examples of ``true`` predicted as ``pred``, ``hops``
    apart in the label hierarchy (``None`` when unknown or unconnected)."""

    true: str
    pred: str
    count: int
    hops: int | None


def _node(x: Hashable) -> Hashable:
    return int(x) if isinstance(x, np.integer) else x


def hierarchy_hops(graph_edges: Any, a: Hashable, b: Hashable) -> int | None:
    """Shortest path length between nodes ``a`` and ``b``, edges followed both ways.

    ``graph_edges`` is anything ``tfpipe.metrics.label_graph`` takes: ``(parent,
    child)`` edges (``tfpipe.text.wordnet.hierarchy_edges``, class ``i`` being the
    integer ``i``, inner synsets their names) or a mapping ``node -> neighbours``
    (e.g. ``label_graph``'s own adjacency, to build it once for many pairs).
    Parent-child = 1, siblings = 2; ``a == b`` = 0; ``None`` when ``a`` and ``b``
    are not connected (or either is not in the graph, or is ``None``).
    """
    if a is None or b is None:
        return None
    a, b = _node(a), _node(b)
    if a == b:
        return 0
    adj = metrics.label_graph(graph_edges)
    if a not in adj or b not in adj:
        return None
    seen = {a}
    frontier = [a]
    dist = 0
    while frontier:
        dist += 1
        nxt = []
        for node in frontier:
            for other in adj[node]:
                if other == b:
                    return dist
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    return None


HopsArg = Sequence[Any] | Mapping[tuple[str, str], Any] | Callable[[str, str], Any] | None


def _hops_of(hops: HopsArg, n: int) -> Callable[[str, str, list[int]], int | None]:
    """A function (true, pred, example indices) -> hops for the ``hops`` argument's forms."""
    def clean(h: Any) -> int | None:
        if h is None or (isinstance(h, (float, np.floating)) and np.isnan(h)) or h == "-":
            return None
        return int(h)

    if hops is None:
        return lambda t, p, idx: None
    if callable(hops):
        return lambda t, p, idx: clean(hops(t, p))
    if isinstance(hops, Mapping):
        return lambda t, p, idx: clean(hops.get((t, p)))
    values = list(hops)
    if len(values) != n:
        raise ValueError(f"hops has {len(values)} values for {n} examples")

    def per_example(t: str, p: str, idx: list[int]) -> int | None:
        known = {clean(values[i]) for i in idx} - {None}
        if len(known) > 1:
            raise ValueError(f"examples of {t!r} -> {p!r} disagree on hops: {sorted(known)}")
        return known.pop() if known else None

    return per_example


def top_mistakes(true_texts: Sequence[str], pred_texts: Sequence[str], hops: HopsArg = None,
                 top: int = 20) -> list[Mistake]:
    """The ``top`` most frequent confusions (``true != pred``) as :class:`Mistake` rows.

    ``true_texts`` / ``pred_texts``: the true and predicted label name of each
    example.  ``hops``: the hierarchy distance, as one value per example (e.g.
    ``hierarchy_hops`` of its true and predicted class; the examples of one pair
    must agree), a mapping ``{(true, pred): hops}``, a function ``(true, pred) ->
    hops`` (called for the rows kept only), or ``None``; ``None`` / NaN / ``"-"``
    mean unknown.  Sorted by count (descending), ties by true then predicted
    label (so the order is deterministic).
    """
    true_texts, pred_texts = [str(t) for t in true_texts], [str(p) for p in pred_texts]
    if len(true_texts) != len(pred_texts):
        raise ValueError(f"{len(true_texts)} true labels but {len(pred_texts)} predictions")
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    hops_of = _hops_of(hops, len(true_texts))
    examples: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for i, (t, p) in enumerate(zip(true_texts, pred_texts)):
        if t != p:
            examples[(t, p)].append(i)
    pairs = sorted(examples, key=lambda tp: (-len(examples[tp]), tp))[:top]
    return [Mistake(t, p, len(examples[(t, p)]), hops_of(t, p, examples[(t, p)])) for t, p in pairs]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def mistakes_image(true_texts: Sequence[str], pred_texts: Sequence[str], hops: HopsArg = None,
                   top: int = 20, *, max_label_chars: int = 40, font_size: int = 12) -> np.ndarray:
    """The :func:`top_mistakes` rows drawn as a table: ``#``, true label, predicted
    label, count, hops (``-`` when unknown), under a title line with the number
    of mistakes among the examples.  Hops of 1-2 (a parent or a sibling: the
    "semantically reasonable" mistakes of DeViSE) are drawn in green, the rest in
    dark red.  Labels longer than ``max_label_chars`` are cut (ending ``...``);
    PIL's default font at ``font_size`` pixels.
    Returns uint8 RGB ``[H, W, 3]`` (``image[None]`` for ``tf.summary.image``).
    """
    from PIL import Image, ImageDraw, ImageFont

    rows = top_mistakes(true_texts, pred_texts, hops, top)
    n = len(true_texts)
    confused = [(str(t), str(p)) for t, p in zip(true_texts, pred_texts) if str(t) != str(p)]
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # pragma: no cover - Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    title = (f"most frequent mistakes: top {len(rows)} of {len(set(confused))} (true -> predicted) pairs; "
             f"{len(confused)} wrong of {n} examples" if rows else f"no mistakes ({n} examples)")
    header = ("#", "true label", "predicted", "count", "hops")
    cells = [(str(i + 1), _clip(r.true, max_label_chars), _clip(r.pred, max_label_chars), str(r.count),
              "-" if r.hops is None else str(r.hops)) for i, r in enumerate(rows)]

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_w(s: str) -> int:
        left, _, right, _ = probe.textbbox((0, 0), s, font=font)
        return int(np.ceil(right - left))

    _, top_px, _, bottom_px = probe.textbbox((0, 0), "Agjy|", font=font)
    pad = 4
    line_h = int(np.ceil(bottom_px - top_px)) + 2 * pad
    col_w = [max(text_w(s) for s in col) + 4 * pad for col in zip(header, *cells)]
    width = max(sum(col_w), text_w(title) + 4 * pad)
    height = line_h * (2 + len(cells))
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((2 * pad, pad), title, fill=(0, 0, 0), font=font)
    y = line_h
    draw.rectangle([0, y, width, y + line_h - 1], fill=(210, 210, 210))
    for k, row in enumerate([header] + cells):
        if k > 0 and k % 2 == 0:
            draw.rectangle([0, y, width, y + line_h - 1], fill=(242, 242, 242))
        x = 0
        for j, s in enumerate(row):
            fill = (0, 0, 0)
            if k > 0 and j == 4 and s != "-":
                fill = (0, 120, 0) if int(s) <= 2 else (150, 0, 0)
            right_align = j in (0, 3, 4)
            tx = x + col_w[j] - 2 * pad - text_w(s) if right_align else x + 2 * pad
            draw.text((tx, y + pad - top_px), s, fill=fill, font=font)
            x += col_w[j]
        y += line_h
    return np.asarray(image, dtype=np.uint8)


def write_image_summary(log_dir: Any, name: str, image: np.ndarray, step: int = 0) -> None:
    """Writes ``image`` (uint8 ``[H, W, 3]``, or ``[1, H, W, 3]``) as ``tf.summary.image``
    ``name`` at ``step``.  ``log_dir``: a directory (a writer is opened, flushed and
    closed) or an open ``tf.summary.SummaryWriter`` (e.g. a Keras TensorBoard
    callback's, to add the image to that run's event file)."""
    import tensorflow as tf

    x = np.asarray(image)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image must be [H, W, 3] (or [1, H, W, C]), got shape {np.shape(image)}")
    if isinstance(log_dir, (str, os.PathLike)):
        writer = tf.summary.create_file_writer(os.fspath(log_dir))
        with writer.as_default():
            tf.summary.image(name, x, step=step)
        writer.flush()
        writer.close()
    else:
        with log_dir.as_default():
            tf.summary.image(name, x, step=step)
        log_dir.flush()
