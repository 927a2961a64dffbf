"""Images for TensorBoard rendered with NumPy alone (no plotting library).

* :func:`filters_image`: first-layer convolution filters tiled in a grid, each
  patch ``kernel_size x alphabet_size`` (rows = kernel positions, columns =
  alphabet characters), like the paper's Figure 4.
* :func:`confusion_image`: a row-normalised confusion matrix as a heat map
  (white = 0, dark blue = 1; rows = true class, columns = predicted).

Both return ``float32[1, height, width, channels]`` in ``[0, 1]``, the shape
``tf.summary.image`` takes.
"""
from __future__ import annotations

import math

import numpy as np

from tfpipe import metrics


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def filters_image(kernel: np.ndarray, max_filters: int = 12, *, columns: int | None = None,
                  scale: int = 4, gap: int = 2) -> np.ndarray:
    """Tiles the first ``max_filters`` filters of a ``[kernel_size, alphabet, features]`` kernel.

    Each filter is min-max normalised on its own (grey: 0 = its smallest
    weight, 1 = its largest) and enlarged ``scale`` times; filters are laid
    out row-major, ``columns`` per row (default: about square), separated by
    ``gap`` pixels of white.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 3:
        raise ValueError(f"expected a [kernel_size, alphabet_size, features] kernel, got shape {kernel.shape}")
    k, a, features = kernel.shape
    n = min(max_filters, features)
    if n <= 0:
        raise ValueError("max_filters must be positive")
    columns = columns or max(1, math.ceil(math.sqrt(n * k / a)))
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    ph, pw = k * scale, a * scale
    canvas = np.ones([rows * ph + (rows + 1) * gap, columns * pw + (columns + 1) * gap], np.float32)
    for i in range(n):
        patch = kernel[:, :, i]
        lo, hi = patch.min(), patch.max()
        patch = (patch - lo) / (hi - lo) if hi > lo else np.zeros_like(patch)
        r, c = divmod(i, columns)
        y, x = gap + r * (ph + gap), gap + c * (pw + gap)
        canvas[y : y + ph, x : x + pw] = _upscale(patch, scale)
    return canvas[None, :, :, None]


# White -> dark blue.
_LOW = np.array([1.0, 1.0, 1.0], np.float32)
_HIGH = np.array([0.03, 0.19, 0.42], np.float32)


def confusion_image(cm: np.ndarray, *, cell: int | None = None, gap: int = 1) -> np.ndarray:
    """Row-normalised confusion matrix as an RGB heat map with grey grid lines."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"expected a square confusion matrix, got shape {cm.shape}")
    n = cm.shape[0]
    cell = cell or max(4, min(48, 480 // max(n, 1)))
    values = metrics.row_normalized(cm).astype(np.float32)
    rgb = _LOW + values[..., None] * (_HIGH - _LOW)  # [n, n, 3]
    size = n * cell + (n + 1) * gap
    canvas = np.full([size, size, 3], 0.6, np.float32)
    for i in range(n):
        for j in range(n):
            y, x = gap + i * (cell + gap), gap + j * (cell + gap)
            canvas[y : y + cell, x : x + cell] = rgb[i, j]
    return canvas[None]
