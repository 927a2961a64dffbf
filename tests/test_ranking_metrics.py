"""Ranking, retrieval and zero-shot metrics of tfpipe.metrics against values worked out by hand.

Every expected number is derived in the comments from the small matrices
themselves (not from the implementation).  Conventions under test: ties are
pessimistic (a relevant item tied with irrelevant ones ranks after them),
precision@k divides by k even when fewer than k items are relevant, k beyond
the number of candidates is 1.0 for hit@k / R@K and an error for precision@k.
"""
from __future__ import annotations

import numpy as np
import pytest

from tfpipe import metrics

# --------------------------------------------------------------------------- recall_at_k (moved here)


def test_recall_at_k_by_hand_and_still_importable_from_the_index_cli():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[3, 2, 9], [7, 8, 9]])
    # Row 0 finds 3 and 2 of {3, 2, 9}: 2/3; row 1 finds none: 0/3.
    assert metrics.recall_at_k(found, truth) == pytest.approx((2 / 3 + 0) / 2)
    # Only the first k = 3 found columns count (the 9 in column 4 does not).
    assert metrics.recall_at_k(np.array([[1, 2, 3, 9]]), np.array([[9, 1, 2]])) == pytest.approx(2 / 3)
    # A found id repeated three times is one hit.
    assert metrics.recall_at_k(np.array([[5, 5, 5]]), np.array([[5, 6, 7]])) == pytest.approx(1 / 3)
    from tfpipe.index import __main__ as index_cli

    assert index_cli.recall_at_k is metrics.recall_at_k


def test_recall_at_k_rejects_bad_shapes_and_empty_input():
    with pytest.raises(ValueError, match="must be"):
        metrics.recall_at_k(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="must be"):
        metrics.recall_at_k(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="undefined"):
        metrics.recall_at_k(np.zeros((0, 3)), np.zeros((0, 3)))


# --------------------------------------------------------------------------- flat hit@k


HIT_SCORES = np.array([
    [0.1, 0.7, 0.2],  # true 1: highest                          -> rank 1
    [0.5, 0.3, 0.2],  # true 2: below 0.5 and 0.3                -> rank 3
    [0.4, 0.4, 0.2],  # true 0: tied with label 1, pessimistic   -> rank 2
    [0.3, 0.6, 0.1],  # true 0: below 0.6                        -> rank 2
])
HIT_LABELS = [1, 2, 0, 0]


def test_true_label_ranks_are_pessimistic_on_ties():
    np.testing.assert_array_equal(metrics.true_label_ranks(HIT_SCORES, HIT_LABELS), [1, 3, 2, 2])
    # All three labels tied: the true one goes last, whichever it is.
    np.testing.assert_array_equal(metrics.true_label_ranks(np.ones((3, 3)), [0, 1, 2]), [3, 3, 3])


def test_top_k_accuracy_by_hand_including_k_beyond_the_labels():
    hits = metrics.top_k_accuracy(HIT_SCORES, HIT_LABELS, ks=(1, 2, 3, 10))
    # ranks [1, 3, 2, 2]: <= 1: one of four; <= 2: three; <= 3 and <= 10 (k > C = 3): all.
    assert hits == {1: 0.25, 2: 0.75, 3: 1.0, 10: 1.0}
    assert metrics.top_k_accuracy(HIT_SCORES, HIT_LABELS, ks=2) == {2: 0.75}
    # A model scoring every label alike gets no credit below k = C.
    assert metrics.top_k_accuracy(np.zeros((2, 4)), [0, 3], ks=(1, 3, 4)) == {1: 0.0, 3: 0.0, 4: 1.0}


def test_top_k_accuracy_input_errors():
    with pytest.raises(ValueError, match="scores is empty"):
        metrics.top_k_accuracy(np.zeros((0, 3)), [], ks=1)
    with pytest.raises(ValueError, match="scores is empty"):
        metrics.top_k_accuracy([[]], [0], ks=1)
    with pytest.raises(ValueError, match="ks is empty"):
        metrics.top_k_accuracy(HIT_SCORES, HIT_LABELS, ks=())
    with pytest.raises(ValueError, match="positive integer"):
        metrics.top_k_accuracy(HIT_SCORES, HIT_LABELS, ks=(0,))
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        metrics.top_k_accuracy(HIT_SCORES, [1, 2, 0, 3], ks=1)
    with pytest.raises(ValueError, match="4 rows"):
        metrics.top_k_accuracy(HIT_SCORES, [1, 2, 0], ks=1)
    with pytest.raises(ValueError, match="NaN"):
        metrics.top_k_accuracy([[np.nan, 1.0]], [0], ks=1)
    with pytest.raises(ValueError, match="2-D"):
        metrics.top_k_accuracy(np.zeros(3), [0, 0, 0], ks=1)


# --------------------------------------------------------------------------- zero-shot top-1 and class queries (Reed)

# One image-by-class compatibility matrix, read by rows (recognition) and by columns (retrieval).
#              class 0  class 1
REED_SCORES = np.array([
    [0.9, 0.1],  # image 0, class 0: right
    [0.3, 0.5],  # image 1, class 0: wrong
    [0.4, 0.8],  # image 2, class 1: right
    [0.2, 0.2],  # image 3, class 1: tie -> wrong (pessimistic)
    [0.6, 0.7],  # image 4, class 1: right
])
REED_LABELS = [0, 0, 1, 1, 1]


def test_zero_shot_top1_per_image_and_per_class():
    result = metrics.zero_shot_top1(REED_SCORES, REED_LABELS)
    # 3 of 5 images right; class 0: 1 of 2, class 1: 2 of 3; per-class mean (1/2 + 2/3) / 2 = 7/12.
    assert result["accuracy"] == pytest.approx(3 / 5)
    np.testing.assert_allclose(result["per_class_accuracy"], [1 / 2, 2 / 3])
    assert result["mean_per_class_accuracy"] == pytest.approx(7 / 12)


def test_zero_shot_top1_class_without_images_is_nan_and_left_out_of_the_mean():
    scores = np.hstack([REED_SCORES, np.full((5, 1), -1.0)])  # a third class nobody belongs to (never predicted)
    result = metrics.zero_shot_top1(scores, REED_LABELS)
    assert np.isnan(result["per_class_accuracy"][2])
    assert result["mean_per_class_accuracy"] == pytest.approx(7 / 12)
    assert result["accuracy"] == pytest.approx(3 / 5)


def test_class_query_precision_at_k_and_map_by_hand():
    # Query class 0 (column 0 = [.9, .3, .4, .2, .6]), relevant images {0, 1}:
    #   order 0(R) 4 2 1(R) 3 -> P@2 = 1/2; AP = (1/1 + 2/4) / 2 = 3/4.
    # Query class 1 (column 1 = [.1, .5, .8, .2, .7]), relevant images {2, 3, 4}:
    #   order 2(R) 4(R) 1 3(R) 0 -> P@2 = 1; AP = (1/1 + 2/2 + 3/4) / 3 = 11/12.
    assert metrics.class_query_precision_at_k(REED_SCORES, REED_LABELS, k=2) == pytest.approx((1 / 2 + 1) / 2)
    assert metrics.class_query_map(REED_SCORES, REED_LABELS) == pytest.approx((3 / 4 + 11 / 12) / 2)


def test_ap_at_50_divides_by_50_for_a_class_with_fewer_images():
    # 60 images: 40 of class 0, 20 of class 1, each query scoring its own class 1.0 and the rest 0.0.
    labels = np.array([0] * 40 + [1] * 20)
    scores = np.stack([labels == 0, labels == 1], axis=1).astype(float)
    # Class 0: its 40 images then 10 others -> 40/50; class 1: its 20 then 30 others -> 20/50 (its maximum).
    assert metrics.class_query_precision_at_k(scores, labels) == pytest.approx((40 / 50 + 20 / 50) / 2)
    # k = N = 60: 40/60 and 20/60.
    assert metrics.class_query_precision_at_k(scores, labels, k=60) == pytest.approx(0.5)
    assert metrics.class_query_map(scores, labels) == 1.0  # a perfect ranking
    with pytest.raises(ValueError, match="k = 61 exceeds the 60 ranked items"):
        metrics.class_query_precision_at_k(scores, labels, k=61)


def test_class_queries_need_an_image_per_class():
    with pytest.raises(ValueError, match="class 1 has no test images"):
        metrics.class_query_precision_at_k(REED_SCORES, [0, 0, 0, 0, 0], k=2)
    with pytest.raises(ValueError, match="class 1 has no test images"):
        metrics.class_query_map(REED_SCORES, [0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="scores is empty"):
        metrics.class_query_map(np.zeros((0, 2)), [])


# --------------------------------------------------------------------------- precision@k, AP, mAP


AP_SCORES = np.array([
    [0.9, 0.8, 0.7, 0.6, 0.5],
    [0.1, 0.4, 0.4, 0.3, 0.2],
])
AP_RELEVANCE = np.array([
    [1, 0, 1, 0, 0],
    [0, 1, 0, 0, 1],
])


def test_precision_at_k_by_hand_with_a_tie_at_the_cut():
    # Row 0: order 0(R) 1 2(R) 3 4.  Row 1: items 1(R) and 2 tie at 0.4; the irrelevant 2 goes
    # first: order 2 1(R) 3 4(R) 0.
    np.testing.assert_allclose(metrics.precision_at_k(AP_SCORES, AP_RELEVANCE, 1), [1.0, 0.0])
    np.testing.assert_allclose(metrics.precision_at_k(AP_SCORES, AP_RELEVANCE, 2), [1 / 2, 1 / 2])
    np.testing.assert_allclose(metrics.precision_at_k(AP_SCORES, AP_RELEVANCE, 3), [2 / 3, 1 / 3])
    np.testing.assert_allclose(metrics.precision_at_k(AP_SCORES, AP_RELEVANCE, 5), [2 / 5, 2 / 5])


def test_average_precision_and_map_by_hand_with_ties():
    # Row 0: relevant at ranks 1 and 3: (1/1 + 2/3) / 2 = 5/6.
    # Row 1 (pessimistic order 2 1 3 4 0): relevant at ranks 2 and 4: (1/2 + 2/4) / 2 = 1/2
    # (the optimistic order would give (1/1 + 2/4) / 2 = 3/4).
    np.testing.assert_allclose(metrics.average_precision(AP_SCORES, AP_RELEVANCE), [5 / 6, 1 / 2])
    assert metrics.mean_average_precision(AP_SCORES, AP_RELEVANCE) == pytest.approx((5 / 6 + 1 / 2) / 2)
    # Everything tied: relevant items 0 and 3 of 4 go last, ranks 3 and 4: (1/3 + 2/4) / 2 = 5/12.
    np.testing.assert_allclose(metrics.average_precision(np.zeros((1, 4)), [[True, False, False, True]]), [5 / 12])


def test_precision_and_ap_input_errors():
    with pytest.raises(ValueError, match="k = 6 exceeds the 5 ranked items"):
        metrics.precision_at_k(AP_SCORES, AP_RELEVANCE, 6)
    with pytest.raises(ValueError, match="query 1 has no relevant items"):
        metrics.average_precision(AP_SCORES, [[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="binary"):
        metrics.mean_average_precision(AP_SCORES, AP_RELEVANCE * 2)
    with pytest.raises(ValueError, match="relevance has shape"):
        metrics.precision_at_k(AP_SCORES, AP_RELEVANCE[:, :4], 1)
    with pytest.raises(ValueError, match="scores is empty"):
        metrics.mean_average_precision(np.zeros((0, 5)), np.zeros((0, 5), dtype=bool))


# --------------------------------------------------------------------------- hierarchical precision@k (DeViSE)

# Labels 0..6.  Inner (non-label) nodes "animal", "dog", "cat".  Label 6 is not in the hierarchy.
#
#                animal
#             /    |    \
#          dog     5     cat
#        / | \          /   \
#       0  1  2        3     4
EDGES = [("animal", "dog"), ("animal", 5), ("animal", "cat"),
         ("dog", 0), ("dog", 1), ("dog", 2), ("cat", 3), ("cat", 4)]
CHILDREN = {"animal": ["dog", 5, "cat"], "dog": [0, 1, 2], "cat": [3, 4]}
ALL = range(7)


@pytest.mark.parametrize("graph", [EDGES, CHILDREN], ids=["edges", "children"])
def test_ground_truth_grows_by_whole_rings(graph):
    gt = metrics.hierarchical_ground_truth
    # From 0: radius 0 {0}; 1 {dog}: no label; 2 {1, 2, animal}; 3 {5, cat}; 4 {3, 4}.
    assert gt(graph, 0, 1, ALL) == {0}
    assert gt(graph, 0, 2, ALL) == {0, 1, 2}  # the whole ring: 3 labels for k = 2
    assert gt(graph, 0, 3, ALL) == {0, 1, 2}
    assert gt(graph, 0, 4, ALL) == {0, 1, 2, 5}
    assert gt(graph, 0, 5, ALL) == {0, 1, 2, 5, 3, 4}
    # k = 7: the component runs out at 6 labels (6 is unreachable): all of them, fewer than k.
    assert gt(graph, 0, 7, ALL) == {0, 1, 2, 3, 4, 5}
    # From 3: 2 {4, animal}; 3 {dog, 5}; 4 {0, 1, 2}.
    assert gt(graph, 3, 2, ALL) == {3, 4}
    assert gt(graph, 3, 3, ALL) == {3, 4, 5}
    # Label 6 is in no edge: alone for every k.
    assert gt(graph, 6, 5, ALL) == {6}
    # Without candidate 2, radius 2 from 0 adds only 1; k = 3 needs radius 3 (adds 5).
    assert gt(graph, 0, 2, [0, 1, 3, 4, 5, 6]) == {0, 1}
    assert gt(graph, 0, 3, [0, 1, 3, 4, 5, 6]) == {0, 1, 5}
    with pytest.raises(ValueError, match="true label 2 is not among the candidate labels"):
        gt(graph, 2, 1, [0, 1])


#                    labels:  0    1    2    3    4    5    6
H_SCORES = np.array([
    [0.2, 0.9, 0.8, 0.1, 0.0, 0.5, 0.3],  # A, true 0: order 1 2 5 6 0 3 4
    [0.6, 0.1, 0.1, 0.7, 0.2, 0.0, 0.9],  # B, true 3: order 6 3 0 4 {1,2} 5
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # C, true 6: all tied
    [0.5, 0.5, 0.9, 0.5, 0.1, 0.1, 0.1],  # D, true 0: 2, then {0, 1, 3} tied, then {4, 5, 6} tied
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],  # E, true 4: 4, then the other six tied
])
H_LABELS = [0, 3, 6, 0, 4]


def test_hierarchical_precision_by_hand():
    # k = 1 (sets are the true labels): only E's top label is right -> 1/5.
    # k = 2: A: set {0,1,2}, top {1,2} -> 2.  B: set {3,4}, top {6,3} -> 1.  C: set {6}, all tied,
    #   the 6 other labels go first -> 0.  D: set {0,1,2}: 2 is in; one slot left for the tie
    #   {0,1,3}, taken by 3 (outside the set) -> 1.  E: set {4,3}: 4 is in; one slot for six tied,
    #   five outside the set go first -> 1.  (2+1+0+1+1) / (5*2) = 1/2.
    # k = 5: A: set {0..5}, top {1,2,5,6,0} -> 4.  B: set {0..5}, top {6,3,0,4, 1 or 2} -> 4.
    #   C: 0.  D: set {0..5}: {2,0,1,3} above the cut; one slot for {4,5,6}, taken by 6 -> 4.
    #   E: set from 4 = {4,3,5,0,1,2}: 4, then 4 slots among six tied, 6 first -> 1 + 3 = 4.
    #   16 / 25.
    result = metrics.hierarchical_precision_at_k(H_SCORES, H_LABELS, EDGES, ks=(1, 2, 5))
    assert result == pytest.approx({1: 1 / 5, 2: 1 / 2, 5: 16 / 25})
    # Precision@1 is flat hit@1 (DeViSE Table 1 note), ties included.
    assert result[1] == metrics.top_k_accuracy(H_SCORES, H_LABELS, ks=1)[1]
    # k = C = 7 is allowed; every set but C's is the 6 reachable labels: A, B, D, E 6 of 7 each
    # (6 is outside), C: {6} among all seven -> 1.  (4*6 + 1) / (5*7).
    assert metrics.hierarchical_precision_at_k(H_SCORES, H_LABELS, CHILDREN, ks=7) == pytest.approx({7: 25 / 35})


def test_hierarchical_precision_with_candidates():
    cands = [0, 1, 3, 4, 5, 6]  # label 2 can neither be predicted nor enter a set
    # A over the candidates: order 1 5 6 0 3 4.  k = 2: set {0,1}, top {1,5} -> 1/2.
    # k = 3: set {0,1,5}, top {1,5,6} -> 2/3.
    result = metrics.hierarchical_precision_at_k(H_SCORES[:1], [0], EDGES, ks=(2, 3), candidates=cands)
    assert result == pytest.approx({2: 1 / 2, 3: 2 / 3})
    with pytest.raises(ValueError, match="k = 7 exceeds the 6 candidate labels"):
        metrics.hierarchical_precision_at_k(H_SCORES[:1], [0], EDGES, ks=(2, 7), candidates=cands)
    with pytest.raises(ValueError, match=r"true labels \[0\] are not among the candidate labels"):
        metrics.hierarchical_precision_at_k(H_SCORES[:1], [0], EDGES, ks=1, candidates=[1, 2])


def test_hierarchical_precision_input_errors():
    with pytest.raises(ValueError, match="k = 8 exceeds the 7 candidate labels"):
        metrics.hierarchical_precision_at_k(H_SCORES, H_LABELS, EDGES, ks=8)
    with pytest.raises(ValueError, match="scores is empty"):
        metrics.hierarchical_precision_at_k(np.zeros((0, 7)), [], EDGES, ks=1)
    with pytest.raises(ValueError, match="candidates is empty"):
        metrics.hierarchical_precision_at_k(H_SCORES, H_LABELS, EDGES, ks=1, candidates=[])
    with pytest.raises(ValueError, match="pair"):
        metrics.hierarchical_precision_at_k(H_SCORES, H_LABELS, [(0, 1, 2)], ks=1)


# --------------------------------------------------------------------------- image-text retrieval (You et al.)

TEXT_TO_IMAGE = [0, 0, 1, 1, 2, 2]  # two captions per image
#                    texts:  0    1    2    3    4    5
SIMILARITY = np.array([
    [0.9, 0.1, 0.5, 0.2, 0.3, 0.1],  # image 0, own texts 0, 1
    [0.6, 0.2, 0.3, 0.1, 0.7, 0.4],  # image 1, own texts 2, 3
    [0.5, 0.5, 0.2, 0.5, 0.5, 0.1],  # image 2, own texts 4, 5
])
# Image -> text: image 0: best own 0.9, first -> 1.  Image 1: best own 0.3; 0.6, 0.7, 0.4 above -> 4.
#   Image 2: best own 0.5 (text 4); texts 0, 1, 3 tie at 0.5 and go first -> 4.
# Text -> image (columns): t0 0.9 of [.9 .6 .5] -> 1; t1 0.1 of [.1 .2 .5] -> 3; t2 0.3 of [.5 .3 .2] -> 2;
#   t3 0.1 of [.2 .1 .5] -> 3; t4 0.5 of [.3 .7 .5] -> 2; t5 0.1 of [.1 .4 .1]: image 0 ties -> 3.
I2T_RANKS, T2I_RANKS = [1, 4, 4], [1, 3, 2, 3, 2, 3]


def test_retrieval_ranks_both_directions_pessimistic_ties():
    i2t, t2i = metrics.retrieval_ranks(SIMILARITY, TEXT_TO_IMAGE)
    np.testing.assert_array_equal(i2t, I2T_RANKS)
    np.testing.assert_array_equal(t2i, T2I_RANKS)
    # Two own captions tied at the top: the first of them is at rank 1, not 2.
    i2t, _ = metrics.retrieval_ranks([[0.8, 0.8, 0.1], [0.1, 0.2, 0.9]], [0, 0, 1])
    np.testing.assert_array_equal(i2t, [1, 1])


def test_bidirectional_retrieval_by_hand():
    result = metrics.bidirectional_retrieval(SIMILARITY, TEXT_TO_IMAGE, ks=(1, 2, 3))
    # i2t ranks [1, 4, 4]: R@1 = R@2 = R@3 = 1/3; median 4.
    assert result["image_to_text"] == pytest.approx({"r1": 1 / 3, "r2": 1 / 3, "r3": 1 / 3, "median_rank": 4.0})
    # t2i ranks [1, 3, 2, 3, 2, 3]: R@1 = 1/6, R@2 = 3/6, R@3 = 1; median of 1 2 2 3 3 3 = (2 + 3) / 2.
    assert result["text_to_image"] == pytest.approx({"r1": 1 / 6, "r2": 1 / 2, "r3": 1.0, "median_rank": 2.5})
    # Sum, in percent: 100 * (3 * 1/3 + 1/6 + 1/2 + 1) = 800/3.
    assert result["sum_pct"] == pytest.approx(800 / 3)
    # Default K = 1, 5, 10, beyond the 6 texts and 3 images: R@5 = R@10 = 1 both ways.
    # Sum = 100 * (1/3 + 1 + 1 + 1/6 + 1 + 1) = 450.
    default = metrics.bidirectional_retrieval(SIMILARITY, TEXT_TO_IMAGE)
    assert default["image_to_text"]["r5"] == default["text_to_image"]["r10"] == 1.0
    assert default["sum_pct"] == pytest.approx(450.0)


def test_retrieval_input_errors():
    with pytest.raises(ValueError, match="image 2 has no texts"):
        metrics.retrieval_ranks(SIMILARITY, [0, 0, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="similarity is empty"):
        metrics.bidirectional_retrieval(np.zeros((0, 6)), TEXT_TO_IMAGE)
    with pytest.raises(ValueError, match="text_to_image has shape"):
        metrics.retrieval_ranks(SIMILARITY, [0, 1, 2])
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        metrics.retrieval_ranks(SIMILARITY, [0, 0, 1, 1, 2, 3])
    with pytest.raises(ValueError, match="text_to_image is empty"):
        metrics.retrieval_ranks(np.zeros((1, 1)), [])


# --------------------------------------------------------------------------- blocking does not change results


def test_row_blocks_give_the_same_answers(monkeypatch):
    monkeypatch.setattr(metrics, "_ROW_BLOCK", 2)
    np.testing.assert_array_equal(metrics.true_label_ranks(HIT_SCORES, HIT_LABELS), [1, 3, 2, 2])
    i2t, t2i = metrics.retrieval_ranks(SIMILARITY, TEXT_TO_IMAGE)
    np.testing.assert_array_equal(i2t, I2T_RANKS)
    np.testing.assert_array_equal(t2i, T2I_RANKS)
    # Two images of label 0 (A and D) fall in one block of 2.
    result = metrics.hierarchical_precision_at_k(H_SCORES, H_LABELS, EDGES, ks=(1, 2, 5))
    assert result == pytest.approx({1: 1 / 5, 2: 1 / 2, 5: 16 / 25})


def test_precision_and_ap_agree_with_an_explicit_pessimistic_sort():
    """The closed-form tie count against sorting each row by (score desc, irrelevant first)."""
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(50, 12)).astype(float)  # many ties
    relevance = rng.random((50, 12)) < 0.3
    relevance[:, 0] = True  # every row has a relevant item
    for q in range(50):
        order = sorted(range(12), key=lambda j: (-scores[q, j], relevance[q, j]))
        ranked = relevance[q, order]
        for k in (1, 4, 12):
            assert metrics.precision_at_k(scores[q:q + 1], relevance[q:q + 1], k)[0] == pytest.approx(ranked[:k].mean())
        precisions = [ranked[:i + 1].mean() for i in range(12) if ranked[i]]
        assert metrics.average_precision(scores[q:q + 1], relevance[q:q + 1])[0] == pytest.approx(np.mean(precisions))
