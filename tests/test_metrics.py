"""Confusion matrix, accuracy and per-class accuracy against hand-computed values; the images; retrieval
summaries from ranks, one matrix per direction, and the chance level of image-text retrieval."""
from __future__ import annotations

import itertools
import math

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


# --------------------------------------------------------------------------- retrieval: summary from ranks, two matrices


R_TEXT_TO_IMAGE = [0, 0, 1, 1, 2, 2]  # 3 images x 2 captions
#                           texts:  0    1    2    3    4    5
R_I2T_SIMILARITY = np.array([
    [0.2, 0.8, 0.9, 0.1, 0.3, 0.0],  # image 0, own texts 0, 1: best own 0.8, text 2 (0.9) above -> rank 2
    [0.1, 0.2, 0.4, 0.6, 0.5, 0.7],  # image 1, own texts 2, 3: best own 0.6, text 5 (0.7) above -> rank 2
    [0.3, 0.1, 0.2, 0.0, 0.9, 0.5],  # image 2, own texts 4, 5: best own 0.9, nothing above   -> rank 1
])
R_T2I_SIMILARITY = np.array([
    [0.9, 0.3, 0.2, 0.4, 0.1, 0.5],
    [0.1, 0.5, 0.6, 0.3, 0.2, 0.6],
    [0.2, 0.4, 0.1, 0.2, 0.8, 0.4],
])
# Columns of R_T2I_SIMILARITY, the text's own image marked *:
#   t0 [.9* .1 .2] -> 1;  t1 [.3* .5 .4] -> 3;  t2 [.2 .6* .1] -> 1;
#   t3 [.4 .3* .2] -> 2;  t4 [.1 .2 .8*] -> 1;  t5 [.5 .6 .4*] -> 3.
R_I2T_RANKS, R_T2I_RANKS = [2, 2, 1], [1, 3, 1, 2, 1, 3]


def test_retrieval_summary_from_hand_made_ranks():
    i2t, _ = metrics.retrieval_ranks(R_I2T_SIMILARITY, R_TEXT_TO_IMAGE)
    _, t2i = metrics.retrieval_ranks(R_T2I_SIMILARITY, R_TEXT_TO_IMAGE)
    np.testing.assert_array_equal(i2t, R_I2T_RANKS)
    np.testing.assert_array_equal(t2i, R_T2I_RANKS)
    result = metrics.retrieval_summary(R_I2T_RANKS, R_T2I_RANKS, ks=(1, 2, 3))
    # i2t ranks 2 2 1: R@1 = 1/3, R@2 = R@3 = 1, median 2.
    assert result["image_to_text"] == pytest.approx({"r1": 1 / 3, "r2": 1.0, "r3": 1.0, "median_rank": 2.0})
    # t2i ranks 1 1 1 2 3 3: R@1 = 1/2, R@2 = 2/3, R@3 = 1, median (1 + 2) / 2.
    assert result["text_to_image"] == pytest.approx({"r1": 0.5, "r2": 2 / 3, "r3": 1.0, "median_rank": 1.5})
    # Sum = 100 * (1/3 + 1 + 1 + 1/2 + 2/3 + 1) = 450.
    assert result["sum_pct"] == pytest.approx(450.0)
    assert list(result) == ["image_to_text", "text_to_image", "sum_pct"]


def test_bidirectional_retrieval_is_retrieval_summary_of_its_ranks():
    for sim in (R_I2T_SIMILARITY, R_T2I_SIMILARITY):
        for ks in ((1, 5, 10), (1, 2, 3), 2):
            i2t, t2i = metrics.retrieval_ranks(sim, R_TEXT_TO_IMAGE)
            assert metrics.bidirectional_retrieval(sim, R_TEXT_TO_IMAGE, ks) == metrics.retrieval_summary(i2t, t2i, ks)


def test_bidirectional_retrieval_scores_each_direction_with_its_own_matrix():
    both = metrics.bidirectional_retrieval(R_I2T_SIMILARITY, R_TEXT_TO_IMAGE, (1, 2, 3),
                                           text_to_image_similarity=R_T2I_SIMILARITY)
    assert both == metrics.retrieval_summary(R_I2T_RANKS, R_T2I_RANKS, (1, 2, 3))
    # Each direction is the one of its own matrix alone.
    assert both["image_to_text"] == metrics.bidirectional_retrieval(R_I2T_SIMILARITY, R_TEXT_TO_IMAGE, (1, 2, 3))[
        "image_to_text"]
    assert both["text_to_image"] == metrics.bidirectional_retrieval(R_T2I_SIMILARITY, R_TEXT_TO_IMAGE, (1, 2, 3))[
        "text_to_image"]
    with pytest.raises(ValueError, match="text_to_image_similarity has shape"):
        metrics.bidirectional_retrieval(R_I2T_SIMILARITY, R_TEXT_TO_IMAGE, text_to_image_similarity=np.zeros((3, 5)))


def test_retrieval_summary_rejects_bad_ranks():
    with pytest.raises(ValueError, match="image_to_text_ranks is empty"):
        metrics.retrieval_summary([], [1])
    with pytest.raises(ValueError, match="1-based integer ranks"):
        metrics.retrieval_summary([0, 1], [1])
    with pytest.raises(ValueError, match="1-based integer ranks"):
        metrics.retrieval_summary([1.5], [1])


# --------------------------------------------------------------------------- retrieval: chance level


def _enumerated_chance(text_to_image, ks):
    """The R@K and median rank over every ranking: all permutations of the texts for each image
    query, all permutations of the images for each text query, every (query, permutation) once."""
    m = np.asarray(text_to_image)
    n, num_texts = m.max() + 1, len(m)
    i2t = []
    for perm in itertools.permutations(range(num_texts)):  # perm[t] = 0-based position of text t
        pos = np.asarray(perm)
        i2t.extend(int(pos[m == i].min()) + 1 for i in range(n))
    t2i = []
    for perm in itertools.permutations(range(n)):
        t2i.extend(perm[i] + 1 for i in m)
    return metrics.retrieval_summary(np.asarray(i2t), np.asarray(t2i), ks)


@pytest.mark.parametrize("text_to_image", [
    [0, 1, 1, 2, 2, 2],  # 3 images with 1, 2 and 3 texts
    [0, 0, 1, 1, 2, 2],  # 3 images x 2 captions
    [0, 0, 1, 1],        # 2 x 2: P(rank 1) = 1/2 exactly, median 1.5; t2i uniform on 1..2, median 1.5
    [1, 0, 3, 2, 1, 0],  # 4 images, two with 1 text: t2i median (4 + 1) / 2
])
def test_chance_retrieval_matches_enumeration_over_all_rankings(text_to_image):
    ks = (1, 2, 3, 5, 10)
    expected = _enumerated_chance(text_to_image, ks)
    got = metrics.chance_retrieval(text_to_image, ks)
    assert list(got) == list(expected)
    for direction in ("image_to_text", "text_to_image"):
        assert got[direction] == pytest.approx(expected[direction], abs=1e-12)
    assert got["sum_pct"] == pytest.approx(expected["sum_pct"])


def test_chance_retrieval_closed_forms():
    # One text per image: both directions are K / N; medians (N + 1) / 2.
    n = 1000
    one = metrics.chance_retrieval(np.arange(n))
    for direction in ("image_to_text", "text_to_image"):
        assert one[direction] == pytest.approx({"r1": 1 / n, "r5": 5 / n, "r10": 10 / n, "median_rank": 500.5})
    assert one["sum_pct"] == pytest.approx(100 * 2 * 16 / n)
    # Five captions per image (a COCO-1K-like test set): i2t R@K = 1 - C(M - 5, K) / C(M, K).
    tti = np.repeat(np.arange(n), 5)
    m_total = len(tti)
    five = metrics.chance_retrieval(tti, ks=(1, 5, 10, 100))
    for k in (1, 5, 10, 100):
        assert five["image_to_text"][f"r{k}"] == pytest.approx(1 - math.comb(m_total - 5, k) / math.comb(m_total, k))
        assert five["text_to_image"][f"r{k}"] == pytest.approx(k / n)
    # Median: the first r with C(M - 5, r) / C(M, r) <= 1/2.
    r = next(r for r in range(1, m_total) if math.comb(m_total - 5, r) / math.comb(m_total, r) <= 0.5)
    assert five["image_to_text"]["median_rank"] == r
    assert five["text_to_image"]["median_rank"] == 500.5
    # K at or beyond the candidates: certain.  Median: P(rank 1) = (2/3 + 1/3) / 2 = 1/2 exactly -> 1.5.
    assert metrics.chance_retrieval([0, 0, 1], ks=(3, 7))["image_to_text"] == {"r3": 1.0, "r7": 1.0, "median_rank": 1.5}


def test_chance_retrieval_input_errors():
    with pytest.raises(ValueError, match="image 1 has no texts"):
        metrics.chance_retrieval([0, 2])
    with pytest.raises(ValueError, match="image 3 has no texts"):
        metrics.chance_retrieval([0, 1, 2], num_images=4)
    with pytest.raises(ValueError, match="text_to_image is empty"):
        metrics.chance_retrieval([])
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        metrics.chance_retrieval([0, 1, 2], num_images=2)
