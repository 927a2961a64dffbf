"""CSE's test-time context scores and You et al. 2018's Table 4 fusions (tfpipe.tasks.retrieval.evaluation)
against naive per-pair loops and values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tfpipe import metrics
from tfpipe.tasks.retrieval import evaluation


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _context(local, mask, query):
    """Eqs. 3-4 written out for one item: alpha = softmax over the real positions, c = sum alpha l'."""
    real = local[mask]
    logits = real @ query
    alpha = np.exp(logits - logits.max())
    alpha /= alpha.sum()
    return alpha @ real


def _naive(v, lv, s, ls, mask, images_mask=None):
    n, m = len(v), len(s)
    images_mask = np.ones(lv.shape[:2], bool) if images_mask is None else images_mask
    out = {k: np.zeros((n, m)) for k in ("global", "i2t_context", "t2i_context", "i2t_early", "t2i_early")}
    for i in range(n):
        for j in range(m):
            c_v = _context(lv[i], images_mask[i], s[j])  # image i's context, sentence j queries
            c_s = _context(ls[j], mask[j], v[i])         # sentence j's context, image i queries
            out["global"][i, j] = _cos(v[i], s[j])
            out["i2t_context"][i, j] = _cos(c_v, s[j])
            out["t2i_context"][i, j] = _cos(v[i], c_s)
            out["i2t_early"][i, j] = _cos((c_v + v[i]) / 2, s[j])
            out["t2i_early"][i, j] = _cos(v[i], (c_s + s[j]) / 2)
    return out


def _data(n=4, per_image=2, d=6, regions=5, tokens=7, seed=0):
    rng = np.random.default_rng(seed)
    m = n * per_image
    v, s = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    lv, ls = rng.normal(size=(n, regions, d)), rng.normal(size=(m, tokens, d))
    lengths = rng.integers(1, tokens + 1, size=m)
    lengths[0] = 1  # one sentence of a single token: its context is that token
    mask = np.arange(tokens)[None, :] < lengths[:, None]
    return v, lv, s, ls, mask, np.repeat(np.arange(n), per_image)


def test_cosine():
    a = np.array([[3.0, 4.0], [0.0, 0.0]])
    b = np.array([[1.0, 0.0], [0.0, 2.0], [-6.0, -8.0]])
    np.testing.assert_allclose(evaluation.cosine(a, b), [[0.6, 0.8, -1.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="cosine needs"):
        evaluation.cosine(a, np.ones((2, 3)))


def test_context_scores_match_a_naive_per_pair_loop():
    v, lv, s, ls, mask, _ = _data()
    got = evaluation.context_scores(v, lv, s, ls, mask)
    want = _naive(v, lv, s, ls, mask)
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == (4, 8) and got[key].dtype == np.float64
        np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)
    # The single-token sentence: its textual context is that token whatever the query.
    np.testing.assert_allclose(got["t2i_context"][:, 0], evaluation.cosine(v, ls[0, :1])[:, 0])
    # Blocks of one item give the same numbers as one block; float32 inputs are computed in float64.
    tiny = evaluation.context_scores(v, lv, s, ls, mask, max_block_elements=1)
    f32 = evaluation.context_scores(*(x.astype(np.float32) for x in (v, lv, s, ls)), mask)
    for key in want:
        np.testing.assert_allclose(tiny[key], got[key], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(f32[key], got[key], rtol=1e-5, atol=1e-6)


def test_masked_positions_change_nothing():
    v, lv, s, ls, mask, _ = _data(seed=1)
    images_mask = np.ones(lv.shape[:2], bool)
    images_mask[1, 3:] = False
    base = evaluation.context_scores(v, lv, s, ls, mask, images_mask=images_mask)
    np.testing.assert_allclose(base["i2t_context"], _naive(v, lv, s, ls, mask, images_mask)["i2t_context"],
                               rtol=1e-10, atol=1e-12)
    ls2, lv2 = ls.copy(), lv.copy()
    ls2[~mask] = 1e6      # huge padding would dominate any softmax it entered
    ls2[tuple(np.argwhere(~mask)[0])] = np.nan  # and NaN must not leak in through 0 * NaN
    lv2[1, 3:] = -1e6
    other = evaluation.context_scores(v, lv2, s, ls2, mask.astype(int), images_mask=images_mask)
    for key in base:
        np.testing.assert_array_equal(other[key], base[key])
    # Without the mask the padding does count.
    assert not np.allclose(evaluation.context_scores(v, lv, s, ls)["t2i_context"], base["t2i_context"])


def test_context_and_early_fusion_by_hand():
    log3 = math.log(3.0)
    v = np.array([[0.0, log3]])                 # image
    s = np.array([[log3, 0.0]])                 # sentence: cos(v, s) = 0
    lv = np.array([[[1.0, 0.0], [0.0, 1.0]]])   # two regions
    ls = np.array([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])  # two tokens and a padded one
    mask = np.array([[True, True, False]])
    got = evaluation.context_scores(v, lv, s, ls, mask)
    # Image side, query s: logits (log 3, 0) -> alpha (3/4, 1/4) -> c_v = (3/4, 1/4);
    #   cos(c_v, s) = (3/4) / |c_v| = (3/4) / (sqrt(10) / 4) = 3 / sqrt(10).
    # Text side, query v: logits (0, log 3) -> alpha (1/4, 3/4) -> c_s = (1/4, 3/4); cos(v, c_s) = 3 / sqrt(10).
    assert got["global"][0, 0] == pytest.approx(0.0, abs=1e-15)
    assert got["i2t_context"][0, 0] == pytest.approx(3 / math.sqrt(10))
    assert got["t2i_context"][0, 0] == pytest.approx(3 / math.sqrt(10))
    # Early: (c_v + v) / 2 = (3/8, (1/4 + log 3) / 2); its cosine with s (the x axis) is its x over its norm.
    early = (3 / 8) / math.hypot(3 / 8, (1 / 4 + log3) / 2)
    assert got["i2t_early"][0, 0] == pytest.approx(early)
    # (c_s + s) / 2 = ((1/4 + log 3) / 2, 3/8); cosine with v (the y axis): the same number by symmetry.
    assert got["t2i_early"][0, 0] == pytest.approx(early)


def test_fusion_table_rows():
    v, lv, s, ls, mask, tti = _data(n=6, per_image=3, d=5, regions=4, tokens=6, seed=2)
    ks = (1, 2, 5)
    table = evaluation.fusion_table(v, lv, s, ls, mask, tti, ks)
    assert tuple(table["rows"]) == evaluation.ROWS
    assert (table["num_images"], table["num_texts"]) == (6, 18)
    assert 0 <= table["seconds"]["scores"] <= table["seconds"]["total"]
    rows, sc = table["rows"], evaluation.context_scores(v, lv, s, ls, mask)
    # global: CSE's cosine in both directions.
    assert rows["global"] == metrics.bidirectional_retrieval(evaluation.cosine(v, s), tti, ks)
    # context / early: sentence retrieval from the i2t matrix, image retrieval from t2i.
    for row in ("context", "early"):
        assert rows[row] == metrics.bidirectional_retrieval(sc[f"i2t_{row}"], tti, ks,
                                                            text_to_image_similarity=sc[f"t2i_{row}"])
    # late: F = (f + f_c) / 2 per direction.
    assert rows["late"] == metrics.bidirectional_retrieval((sc["global"] + sc["i2t_context"]) / 2, tti, ks,
                                                           text_to_image_similarity=(sc["global"] + sc["t2i_context"]) / 2)
    # best: per query the smaller of the global and the context rank.
    g_i2t, g_t2i = metrics.retrieval_ranks(sc["global"], tti)
    c_i2t, _ = metrics.retrieval_ranks(sc["i2t_context"], tti)
    _, c_t2i = metrics.retrieval_ranks(sc["t2i_context"], tti)
    best_i2t, best_t2i = np.minimum(g_i2t, c_i2t), np.minimum(g_t2i, c_t2i)
    assert (best_i2t <= g_i2t).all() and (best_i2t <= c_i2t).all()
    assert (best_t2i <= g_t2i).all() and (best_t2i <= c_t2i).all()
    assert (best_i2t < g_i2t).any() or (best_t2i < g_t2i).any()  # the data make the oracle differ from CSE
    assert rows["best"] == metrics.retrieval_summary(best_i2t, best_t2i, ks)
    for direction in ("image_to_text", "text_to_image"):
        for k in ks:
            r = rows["best"][direction][f"r{k}"]
            assert r >= rows["global"][direction][f"r{k}"] and r >= rows["context"][direction][f"r{k}"]


def test_fusion_best_by_hand():
    # Two images with one caption each, built so that for image retrieval the global score ranks
    # sentence 1's image wrong and the context ranks both right: the oracle takes the better rank per query.
    v = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = np.array([[1.0, 0.1], [1.0, 0.2]])   # global: both sentences closer to image 0 -> image 0 right, image 1 wrong
    lv = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    ls = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # one token each: c_s = that token -> context picks the right image
    table = evaluation.fusion_table(v, lv, s, ls, None, [0, 1], ks=(1,))
    rows = table["rows"]
    # Image retrieval, global cos(v_i, s_j): s_0 -> image 0 first (rank 1); s_1 -> image 0 first (rank 2).
    assert rows["global"]["text_to_image"] == {"r1": 0.5, "median_rank": 1.5}
    # Context cos(v_i, c_s(j)): c_s(0) = (1, 0) -> image 0; c_s(1) = (0, 1) -> image 1: both rank 1.
    assert rows["context"]["text_to_image"] == {"r1": 1.0, "median_rank": 1.0}
    assert rows["best"]["text_to_image"] == {"r1": 1.0, "median_rank": 1.0}


def test_input_errors():
    v, lv, s, ls, mask, tti = _data()
    with pytest.raises(ValueError, match="texts_local must be"):
        evaluation.context_scores(v, lv, s, ls[:, :, :3], mask)
    with pytest.raises(ValueError, match="the mask of texts_local has shape"):
        evaluation.context_scores(v, lv, s, ls, mask[:, :3])
    bad = mask.copy()
    bad[2] = False
    with pytest.raises(ValueError, match="item 2 of texts_local has every position masked"):
        evaluation.context_scores(v, lv, s, ls, bad)
    with pytest.raises(ValueError, match="images_global and texts_global"):
        evaluation.context_scores(v[:, :3], lv, s, ls, mask)
    with pytest.raises(ValueError, match="image 3 has no texts"):
        evaluation.fusion_table(v, lv, s, ls, mask, np.minimum(tti, 2))
