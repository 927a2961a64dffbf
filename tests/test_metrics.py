"""Confusion matrix, accuracy and per-class accuracy against hand-computed values; the images."""
from __future__ import annotations

import numpy as np
import pytest

from tfpipe import metrics
from tfpipe.training import images


def test_confusion_matrix_by_hand():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 0, 1, 1, 2, 0, 2, 1]
    cm = metrics.confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 0], [1, 1, 2]])
    assert cm.dtype == np.int64
    assert metrics.accuracy(cm) == pytest.approx(6 / 9)
    assert metrics.error_pct(cm) == pytest.approx(100 * 3 / 9)
    np.testing.assert_allclose(metrics.per_class_accuracy(cm), [2 / 3, 1.0, 0.5])


def test_absent_class_and_empty_input():
    cm = metrics.confusion_matrix([0, 0, 2], [0, 2, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 0, 1], [0, 0, 0], [0, 0, 1]])
    per_class = metrics.per_class_accuracy(cm)
    assert per_class[0] == 0.5 and np.isnan(per_class[1]) and per_class[2] == 1.0
    s = metrics.summary(cm, ["a", "b", "c"])
    assert s["per_class_accuracy"] == {"a": 0.5, "b": None, "c": 1.0}
    assert s["class_counts"] == {"a": 2, "b": 0, "c": 1}
    assert s["num_examples"] == 3 and s["confusion_matrix"] == cm.tolist()
    empty = metrics.confusion_matrix([], [], 2)
    assert empty.sum() == 0 and metrics.accuracy(empty) == 0.0


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match="outside"):
        metrics.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="labels"):
        metrics.confusion_matrix([0, 1], [0], 3)
    with pytest.raises(ValueError, match="class names"):
        metrics.summary(np.zeros([2, 2], int), ["a", "b", "c"])


def test_accuracy_matches_trace_over_sum_on_random_labels():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 1000), rng.integers(0, 5, 1000)
    cm = metrics.confusion_matrix(y_true, y_pred, 5)
    assert cm.sum() == 1000
    assert metrics.accuracy(cm) == pytest.approx(np.mean(y_true == y_pred))
    for c in range(5):
        assert cm[c].sum() == np.sum(y_true == c)


def test_filters_image_tiles_kernel_patches():
    kernel = np.random.default_rng(0).normal(size=[7, 70, 20]).astype(np.float32)
    img = images.filters_image(kernel, max_filters=12, columns=3, scale=2, gap=1)
    rows = 4  # 12 filters, 3 per row
    assert img.shape == (1, rows * 14 + rows + 1, 3 * 140 + 4, 1)
    assert img.min() >= 0.0 and img.max() <= 1.0
    # The first patch is the first filter, min-max scaled and enlarged 2x.
    patch = kernel[:, :, 0]
    expected = (patch - patch.min()) / (patch.max() - patch.min())
    np.testing.assert_allclose(img[0, 1:15:2, 1:141:2, 0], expected, rtol=1e-5, atol=1e-6)


def test_confusion_image_colours_rows_by_fraction():
    cm = np.array([[10, 0], [5, 5]])
    img = images.confusion_image(cm, cell=4, gap=1)
    assert img.shape == (1, 11, 11, 3)
    top_left, top_right = img[0, 1, 1], img[0, 1, 6]
    bottom_left = img[0, 6, 1]
    np.testing.assert_allclose(top_right, [1.0, 1.0, 1.0])  # 0 -> white
    assert top_left.sum() < bottom_left.sum() < top_right.sum()  # 1.0 darker than 0.5
