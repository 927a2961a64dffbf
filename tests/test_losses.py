"""Tests for tfpipe.losses: hand-worked examples (arithmetic in the comments), independent
NumPy loop references, ties, masks, sampled == full softmax, gradients, dtypes, bad input."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpipe import losses as L

F32 = np.float32

# DeViSE label table: three unit-norm label vectors in 2-d.
T3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], F32)


def _np(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- NumPy references


def ref_devise(v, t, y, margin):
    out = []
    for i in range(len(v)):
        true = float(np.dot(t[y[i]], v[i]))
        out.append(sum(max(0.0, margin - true + float(np.dot(t[j], v[i]))) for j in range(len(t)) if j != y[i]))
    return np.array(out)


def ref_devise_truncated(v, t, y, margin, order):
    out = []
    for i in range(len(v)):
        true = float(np.dot(t[y[i]], v[i]))
        loss = 0.0
        for j in order[i]:
            if j == y[i]:
                continue
            term = margin - true + float(np.dot(t[j], v[i]))
            if term > 0:
                loss = term
                break
        out.append(loss)
    return np.array(out)


def ref_sje_code(v, t, symmetric):
    b = len(v)
    s = v @ t.T
    img = sum(max(0.0, 1 + s[i, j] - s[i, i]) for i in range(b) for j in range(b) if j != i) / b**2
    txt = sum(max(0.0, 1 + s[j, i] - s[i, i]) for i in range(b) for j in range(b) if j != i) / b**2
    return img + txt if symmetric else img


def ref_sje_max(v, t, y, symmetric):
    b = len(v)
    s = v @ t.T
    total = 0.0
    for n in range(b):
        lv = lt = 0.0
        for cls in set(y) - {y[n]}:
            members = [k for k in range(b) if y[k] == cls]
            lv = max(lv, 1 + np.mean([s[n, k] for k in members]) - s[n, n])
            lt = max(lt, 1 + np.mean([s[k, n] for k in members]) - s[n, n])
        total += lv + (lt if symmetric else 0.0)
    return total / b


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def ref_ranking(v, s, margin, mask=None):
    b = len(v)
    mask = np.ones((b, b)) if mask is None else mask
    total = 0.0
    for i in range(b):
        for j in range(b):
            if j == i:
                continue
            total += mask[i, j] * max(0.0, margin - _cos(v[i], s[i]) + _cos(v[i], s[j]))
            total += mask[i, j] * max(0.0, margin - _cos(v[i], s[i]) + _cos(v[j], s[i]))
    return total


def ref_full_softmax(x, y, w, scale):
    out = []
    for i in range(len(x)):
        logits = np.array([scale * _cos(x[i], wk) for wk in w])
        out.append(math.log(np.exp(logits).sum()) - logits[y[i]])
    return np.array(out)


# --------------------------------------------------------------------------- 1. DeViSE


def test_devise_hand_example_full_sum():
    # margin 0.1, t0=(1,0) t1=(0,1) t2=(0.6,0.8)
    # v=(0.5,0.3), label 0: s=(0.5, 0.3, 0.54); j=1: 0.1-0.5+0.3=-0.1 -> 0; j=2: 0.1-0.5+0.54=0.14
    # v=(0.2,0.9), label 1: s=(0.2, 0.9, 0.84); j=0: 0.1-0.9+0.2<0; j=2: 0.1-0.9+0.84=0.04
    # v=(0.7,0.7), label 2: s=(0.7, 0.7, 0.98); j=0,1: 0.1-0.98+0.7=-0.18 -> 0
    v = np.array([[0.5, 0.3], [0.2, 0.9], [0.7, 0.7]], F32)
    loss = L.devise_hinge_rank_loss(v, T3, [0, 1, 2])
    assert loss.dtype == tf.float32 and loss.shape == (3,)
    assert _np(loss) == pytest.approx([0.14, 0.04, 0.0], abs=1e-6)


def test_devise_default_margin_is_the_papers():
    assert L.DEVISE_MARGIN == 0.1
    # Same example as above but margin 0.2: 0.2-0.5+0.54=0.24 and 0.2-0.5+0.3=0.0 (tie) -> 0.24
    v = np.array([[0.5, 0.3]], F32)
    assert _np(L.devise_hinge_rank_loss(v, T3, [0]))[0] == pytest.approx(0.14, abs=1e-6)
    assert _np(L.devise_hinge_rank_loss(v, T3, [0], margin=0.2))[0] == pytest.approx(0.24, abs=1e-6)


def test_devise_tie_exactly_margin_below_gives_zero():
    # Dyadic numbers, so float32 is exact: margin 0.25, t0=(1,0), t1=(0,1), v=(0.75,0.5), label 0:
    # term = 0.25 - 0.75 + 0.5 = 0 exactly -> loss 0 (full and truncated).
    t = np.array([[1.0, 0.0], [0.0, 1.0]], F32)
    v = np.array([[0.75, 0.5]], F32)
    assert _np(L.devise_hinge_rank_loss(v, t, [0], margin=0.25))[0] == 0.0
    assert _np(L.devise_truncated_hinge_rank_loss(v, t, [0], margin=0.25, order=[1, 0]))[0] == 0.0
    # With the paper's margin: s_true - s_wrong = 0.6 - 0.5 = 0.1 -> 0 up to float32 rounding.
    v = np.array([[0.6, 0.5]], F32)
    assert _np(L.devise_hinge_rank_loss(v, t, [0]))[0] == pytest.approx(0.0, abs=1e-6)


def test_devise_truncated_differs_from_full():
    # v=(0.5,0.5), label 0: s=(0.5, 0.5, 0.7).  j=1: 0.1-0.5+0.5=0.1; j=2: 0.1-0.5+0.7=0.3.
    # Full sum: 0.4.  Truncated, order (1,2,0): stops at j=1 -> 0.1; order (2,0,1): j=2 -> 0.3.
    v = np.array([[0.5, 0.5], [0.5, 0.5]], F32)
    full = L.devise_hinge_rank_loss(v, T3, [0, 0])
    trunc = L.devise_truncated_hinge_rank_loss(v, T3, [0, 0], order=[[1, 2, 0], [2, 0, 1]])
    assert _np(full) == pytest.approx([0.4, 0.4], abs=1e-6)
    assert _np(trunc) == pytest.approx([0.1, 0.3], abs=1e-6)


def test_devise_truncated_skips_label_and_ties_then_takes_first_violator():
    # margin 0.25; t0=(1,0), t1=(0,1), t2=(0.5,0.75); v=(0.75,0.5), label 0:
    # s=(0.75, 0.5, 0.75). Order (0, 1, 2): 0 is the label (skipped); j=1: 0.25-0.75+0.5=0 is a
    # tie, not a violation (scan continues); j=2: 0.25-0.75+0.75=0.25 violates -> loss 0.25.
    t = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.75]], F32)
    v = np.array([[0.75, 0.5]], F32)
    got = L.devise_truncated_hinge_rank_loss(v, t, [0], margin=0.25, order=[0, 1, 2])
    assert _np(got)[0] == 0.25
    # Visiting only the tie (a shortened order) finds no violator -> 0.
    assert _np(L.devise_truncated_hinge_rank_loss(v, t, [0], margin=0.25, order=[1]))[0] == 0.0


def test_devise_random_forms_match_numpy_loops():
    rng = _rng(1)
    v = rng.normal(size=(6, 4)).astype(F32) * 0.3
    t = rng.normal(size=(5, 4)).astype(F32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    y = rng.integers(0, 5, size=6)
    assert _np(L.devise_hinge_rank_loss(v, t, y)) == pytest.approx(ref_devise(v, t, y, 0.1), abs=1e-5)
    order = L.random_label_order(6, 5, seed=7)
    got = L.devise_truncated_hinge_rank_loss(v, t, y, seed=7)
    assert _np(got) == pytest.approx(ref_devise_truncated(v, t, y, 0.1, order.numpy()), abs=1e-5)
    # Truncated never exceeds the full sum.
    assert np.all(_np(got) <= _np(L.devise_hinge_rank_loss(v, t, y)) + 1e-6)


def test_random_label_order_rows_are_seeded_permutations():
    a = L.random_label_order(4, 6, seed=3).numpy()
    b = L.random_label_order(4, 6, seed=3).numpy()
    c = L.random_label_order(4, 6, seed=4).numpy()
    assert a.dtype == np.int32 and a.shape == (4, 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for row in a:
        assert sorted(row.tolist()) == list(range(6))


# --------------------------------------------------------------------------- 2. SJE

# B = 3 distinct classes.  V rows v0=(1,0) v1=(0,1) v2=(1,1); T rows t0=(1,0) t1=(.5,.5) t2=(0,2).
# S = V T^T = [[1, .5, 0], [0, .5, 2], [1, 1, 2]], diagonal (1, .5, 2).
SJE_V = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], F32)
SJE_T = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]], F32)


def test_sje_code_form_hand_example():
    # image direction (rows, 1 + S_ij - S_ii): i=0: .5, 0 (tie, 1+0-1=0); i=1: .5, 2.5; i=2: 0, 0
    #   -> 3.5 / 9
    # text direction (columns, 1 + S_ji - S_ii): i=0: 0, 1; i=1: 1, 1.5; i=2: max(0,-1)=0, 1
    #   -> 4.5 / 9
    da = L.sje_loss(SJE_V, SJE_T, symmetric=False)
    ds = L.sje_loss(SJE_V, SJE_T)
    assert da.dtype == tf.float32 and da.shape == ()
    assert float(da) == pytest.approx(3.5 / 9, abs=1e-6)
    assert float(ds) == pytest.approx(8.0 / 9, abs=1e-6)


def test_sje_max_form_hand_example():
    # l_v = max(0, max_{j != n} 1 + S_nj - S_nn): n=0: max(.5, 0)=.5; n=1: max(.5, 2.5)=2.5; n=2: 0
    # l_t = max(0, max_{j != n} 1 + S_jn - S_nn): n=0: max(0, 1)=1; n=1: max(1, 1.5)=1.5; n=2: 1
    # DA = (0.5 + 2.5 + 0) / 3 = 1;  DS = (3 + 3.5) / 3
    assert float(L.sje_max_loss(SJE_V, SJE_T, symmetric=False)) == pytest.approx(1.0, abs=1e-6)
    assert float(L.sje_max_loss(SJE_V, SJE_T)) == pytest.approx(6.5 / 3, abs=1e-6)


def test_sje_max_form_with_repeated_class_uses_class_means():
    # labels (0, 0, 1): rows 0 and 1 share a class, so each row has one wrong class.
    # l_v: n=0: 1 + S02 - S00 = 0; n=1: 1 + S12 - S11 = 2.5; n=2: 1 + mean(S20, S21) - S22 = 0
    # l_t: n=0: 1 + S20 - S00 = 1; n=1: 1 + S21 - S11 = 1.5; n=2: 1 + mean(S02, S12) - S22 = 0
    assert float(L.sje_max_loss(SJE_V, SJE_T, [0, 0, 1], symmetric=False)) == pytest.approx(2.5 / 3, abs=1e-6)
    assert float(L.sje_max_loss(SJE_V, SJE_T, [0, 0, 1])) == pytest.approx(5.0 / 3, abs=1e-6)
    # A batch of one class has no wrong class: loss 0.
    assert float(L.sje_max_loss(SJE_V, SJE_T, [2, 2, 2])) == 0.0


def test_sje_random_match_numpy_loops():
    rng = _rng(2)
    v = rng.normal(size=(5, 3)).astype(F32)
    t = rng.normal(size=(5, 3)).astype(F32)
    y = [0, 1, 1, 2, 0]
    for sym in (True, False):
        assert float(L.sje_loss(v, t, symmetric=sym)) == pytest.approx(ref_sje_code(v, t, sym), abs=1e-5)
        assert float(L.sje_max_loss(v, t, symmetric=sym)) == pytest.approx(
            ref_sje_max(v, t, list(range(5)), sym), abs=1e-5)
        assert float(L.sje_max_loss(v, t, y, symmetric=sym)) == pytest.approx(ref_sje_max(v, t, y, sym), abs=1e-5)


# --------------------------------------------------------------------------- 3. You et al. 2018

# v0=(2,0) v1=(0,3) v2=(-1,0); s0=(3,4) s1=(4,-3) s2=(0,-2).  Cosines f(v_i, s_j):
# [[.6, .8, 0], [.8, -.6, -1], [-.6, -.8, 0]], diagonal (.6, -.6, 0).
RK_V = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]], F32)
RK_S = np.array([[3.0, 4.0], [4.0, -3.0], [0.0, -2.0]], F32)


def test_ranking_hand_example():
    # margin .5.  Contrastive sentences (rows): i=0: .5-.6+.8=.7, .5-.6+0<0; i=1: .5+.6+.8=1.9,
    #   .5+.6-1=.1; i=2: .5-0-.6<0, .5-0-.8<0  -> 2.7
    # Contrastive images (columns): i=0: .5-.6+.8=.7, .5-.6-.6<0; i=1: .5+.6+.8=1.9, .5+.6-.8=.3;
    #   i=2: .5-0+0=.5, .5-0-1<0  -> 3.4.  Sum (not mean): 6.1
    assert L.YOU2018_GLOBAL_MARGIN == 0.5
    loss = L.bidirectional_ranking_loss(RK_V, RK_S)
    assert loss.dtype == tf.float32 and loss.shape == ()
    assert float(loss) == pytest.approx(6.1, abs=1e-5)
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, directions="contrastive_sentences")) == pytest.approx(2.7, abs=1e-5)
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, directions="contrastive_images")) == pytest.approx(3.4, abs=1e-5)


def test_ranking_hardest_negatives_hand_example():
    # VSE++ (Faghri et al. 2018): per anchor the largest term of each direction.  From the hand
    # example above, rows: i=0 max(.7, 0)=.7, i=1 max(1.9, .1)=1.9, i=2 0 -> 2.6; columns: i=0 .7,
    # i=1 max(1.9, .3)=1.9, i=2 max(.5, 0)=.5 -> 3.1.  Total 5.7.
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, negatives="hardest")) == pytest.approx(5.7, abs=1e-5)
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, directions="contrastive_images",
                                              negatives="hardest")) == pytest.approx(3.1, abs=1e-5)
    # The [B] mask still drops anchor 1: .7 + 0 + .7 + .5 = 1.9.
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, mask=[1.0, 0.0, 1.0], negatives="hardest")) == \
        pytest.approx(1.9, abs=1e-5)
    with pytest.raises(ValueError, match=r"negatives must be one of \['sum', 'hardest'\]"):
        L.bidirectional_ranking_loss(RK_V, RK_S, negatives="semi")


def test_ranking_mask_zeroes_terms():
    # mask[1, 0] = 0 removes (image 1 vs sentence 0) = 1.9 and (sentence 1 vs image 0) = 1.9:
    # 6.1 - 3.8 = 2.3.  A [B] mask (1, 0, 1) drops every term of anchor 1: 1.9+.1+1.9+.3=4.2 -> 1.9.
    mask = np.ones((3, 3), F32)
    mask[1, 0] = 0.0
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, mask=mask)) == pytest.approx(2.3, abs=1e-5)
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, mask=[1.0, 0.0, 1.0])) == pytest.approx(1.9, abs=1e-5)
    assert float(L.bidirectional_ranking_loss(RK_V, RK_S, mask=np.zeros((3, 3), F32))) == 0.0


def test_ranking_uses_cosine_and_matches_numpy_loop():
    rng = _rng(3)
    v = rng.normal(size=(4, 3)).astype(F32)
    s = rng.normal(size=(4, 3)).astype(F32)
    mask = (rng.random((4, 4)) > 0.4).astype(F32)
    assert float(L.bidirectional_ranking_loss(v, s, 0.3, mask=mask)) == pytest.approx(ref_ranking(v, s, 0.3, mask), abs=1e-5)
    # Cosine: rescaling the rows leaves it unchanged; dot products do not.
    scaled = v * np.array([[5.0], [0.1], [2.0], [3.0]], F32)
    assert float(L.bidirectional_ranking_loss(scaled, s)) == pytest.approx(float(L.bidirectional_ranking_loss(v, s)), abs=1e-5)
    assert float(L.bidirectional_ranking_loss(scaled, s, similarity="dot")) != pytest.approx(
        float(L.bidirectional_ranking_loss(v, s, similarity="dot")), abs=1e-3)


def test_ranking_active_pairs_and_intermediate_loss():
    # At margin 0: anchor 0 row term 0-.6+.8=.2 > 0 -> 1; anchor 1: 0+.6+.8 > 0 -> 1;
    # anchor 2: rows -.6, -.8 -> 0; columns 0+0=0 (tie), 0-1 < 0 -> 0.  I = (1, 1, 0).
    active = L.ranking_active_pairs(RK_V, RK_S, margin=0.0)
    assert _np(active).tolist() == [1.0, 1.0, 0.0]
    # Eq. 5 with gamma = 0 against a NumPy loop over its two sums.
    rng = _rng(4)
    cv, s, v, cs = (rng.normal(size=(4, 3)).astype(F32) for _ in range(4))
    act = np.array([1.0, 0.0, 1.0, 1.0], F32)
    want = 0.0
    for i in range(4):
        for j in range(4):
            if j != i:
                want += act[i] * max(0.0, 0.0 - _cos(cv[i], s[i]) + _cos(cv[i], s[j]))
                want += act[i] * max(0.0, 0.0 - _cos(v[i], cs[i]) + _cos(v[j], cs[i]))
    assert L.YOU2018_INTERMEDIATE_MARGIN == 0.0
    assert float(L.intermediate_ranking_loss(cv, s, v, cs, act)) == pytest.approx(want, abs=1e-5)


# --------------------------------------------------------------------------- 4. cosine softmax

# Table w0=(1,0), w1=(0,2), w2=(-3,0); x=(3,4): cosines (.6, .8, -.6).
CS_W = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]], F32)
CS_X = np.array([[3.0, 4.0]], F32)


def test_cosine_softmax_hand_example_is_papers_eq1():
    # Eq. 1 literally: p_0 = exp(-d0) / sum exp(-di), d = 1 - cos = (.4, .2, 1.6).
    d = np.array([0.4, 0.2, 1.6])
    want = -math.log(math.exp(-d[0]) / np.exp(-d).sum())  # = -log(e^.6 / (e^.6 + e^.8 + e^-.6)) ~ 0.9253
    assert L.PREDICTED_CONTEXT_SCALE == 1.0
    got = L.cosine_softmax_loss(CS_X, [0], CS_W)
    assert got.dtype == tf.float32 and got.shape == (1,)
    assert float(got[0]) == pytest.approx(want, abs=1e-6)
    # Scale 2: logits (1.2, 1.6, -1.2), target 1.
    want2 = -math.log(math.exp(1.6) / (math.exp(1.2) + math.exp(1.6) + math.exp(-1.2)))
    assert float(L.cosine_softmax_loss(CS_X, [1], CS_W, scale=2.0)[0]) == pytest.approx(want2, abs=1e-6)


def test_sampled_cosine_softmax_hand_example_and_accidental_hits():
    # Candidates {target 0, sampled 2}: -log(e^.6 / (e^.6 + e^-.6)) = log(1 + e^-1.2) ~ 0.2633
    want = math.log1p(math.exp(-1.2))
    assert float(L.sampled_cosine_softmax_loss(CS_X, [0], CS_W, [2])[0]) == pytest.approx(want, abs=1e-6)
    # Sampling the target itself: removed by default, counted twice when not removed.
    assert float(L.sampled_cosine_softmax_loss(CS_X, [0], CS_W, [0, 2])[0]) == pytest.approx(want, abs=1e-6)
    twice = -math.log(math.exp(0.6) / (2 * math.exp(0.6) + math.exp(-0.6)))
    got = L.sampled_cosine_softmax_loss(CS_X, [0], CS_W, [0, 2], remove_accidental_hits=False)
    assert float(got[0]) == pytest.approx(twice, abs=1e-6)


def test_sampled_softmax_equals_full_when_every_class_is_sampled():
    rng = _rng(5)
    x = rng.normal(size=(6, 4)).astype(F32)
    w = rng.normal(size=(7, 4)).astype(F32)
    y = rng.integers(0, 7, size=6)
    full = L.cosine_softmax_loss(x, y, w, scale=3.0)
    assert _np(full) == pytest.approx(ref_full_softmax(x, y, w, 3.0), abs=1e-5)
    for ids in (np.arange(7), rng.permutation(7), L.sample_candidates(7, 7, seed=9)):
        sampled = L.sampled_cosine_softmax_loss(x, y, w, ids, scale=3.0)
        assert _np(sampled) == pytest.approx(_np(full), abs=1e-5)
    # Uniform log q is a constant: the correction cancels.
    lq = L.candidate_log_probs(np.arange(7), 7)
    corrected = L.sampled_cosine_softmax_loss(
        x, y, w, np.arange(7), scale=3.0, true_log_q=L.candidate_log_probs(y, 7), sampled_log_q=lq)
    assert _np(corrected) == pytest.approx(_np(full), abs=1e-5)


def test_sampled_softmax_log_q_correction_by_hand():
    # logits .6 (target 0) and -.6 (sampled 2) with log q = (log .5, log .25):
    # corrected logits .6 - log .5 and -.6 - log .25; loss = log(1 + exp(c2 - c0)).
    c0, c2 = 0.6 - math.log(0.5), -0.6 - math.log(0.25)
    want = math.log1p(math.exp(c2 - c0))
    got = L.sampled_cosine_softmax_loss(CS_X, [0], CS_W, [2], true_log_q=[math.log(0.5)], sampled_log_q=[math.log(0.25)])
    assert float(got[0]) == pytest.approx(want, abs=1e-6)


def test_sample_candidates_seeded_unique_and_in_range():
    a = L.sample_candidates(20, 50, seed=1).numpy()
    assert a.dtype == np.int64 and a.shape == (20,)
    np.testing.assert_array_equal(a, L.sample_candidates(20, 50, seed=1).numpy())
    assert not np.array_equal(a, L.sample_candidates(20, 50, seed=2).numpy())
    assert len(set(a.tolist())) == 20 and a.min() >= 0 and a.max() < 50
    b = L.sample_candidates(30, 50, "log_uniform", seed=1).numpy()
    assert len(set(b.tolist())) == 30 and b.min() >= 0 and b.max() < 50
    c = L.sample_candidates(4000, 1000, "log_uniform", seed=3, unique=False).numpy()
    u = L.sample_candidates(4000, 1000, "uniform", seed=3, unique=False).numpy()
    assert c.min() >= 0 and c.max() < 1000 and u.min() >= 0 and u.max() < 1000
    # Log-uniform: q(0) = log 2 / log 1001 ~ 0.10; uniform 0.001.
    assert np.mean(c == 0) == pytest.approx(math.log(2) / math.log(1001), abs=0.02)
    assert np.median(c) < np.median(u) / 5


def test_candidate_log_probs():
    n = 10
    lu = L.candidate_log_probs(np.arange(n), n, "log_uniform").numpy()
    want = [math.log(math.log((k + 2) / (k + 1)) / math.log(n + 1)) for k in range(n)]
    assert lu == pytest.approx(want, abs=1e-6)
    assert np.exp(lu.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)
    assert L.candidate_log_probs([3, 4], n).numpy() == pytest.approx([-math.log(n)] * 2, abs=1e-6)


def test_class_prototypes_eq2():
    # class 0: mean of (1,2) and (3,4) = (2,3); class 1: none -> zeros; class 2: (5,6).
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], F32)
    got = L.class_prototypes(x, [0, 0, 2], 3)
    np.testing.assert_allclose(got.numpy(), [[2.0, 3.0], [0.0, 0.0], [5.0, 6.0]])


# --------------------------------------------------------------------------- 5. in-batch softmax


def test_in_batch_softmax_hand_example():
    # q0=(1,0) q1=(0,1); c0=(3,4) c1=(0,5): cosine logits [[.6, 0], [.8, 1]].
    q = np.array([[1.0, 0.0], [0.0, 1.0]], F32)
    c = np.array([[3.0, 4.0], [0.0, 5.0]], F32)
    e = math.exp
    row0 = -math.log(e(0.6) / (e(0.6) + e(0.0)))
    row1 = -math.log(e(1.0) / (e(0.8) + e(1.0)))
    col0 = -math.log(e(0.6) / (e(0.6) + e(0.8)))
    col1 = -math.log(e(1.0) / (e(0.0) + e(1.0)))
    assert float(L.in_batch_softmax_loss(q, c)) == pytest.approx((row0 + row1) / 2, abs=1e-6)
    assert float(L.in_batch_softmax_loss(q, c, symmetric=True)) == pytest.approx(
        ((row0 + row1) / 2 + (col0 + col1) / 2) / 2, abs=1e-6)
    # Scale 2, raw dot products [[3, 0], [4, 5]] -> logits [[6, 0], [8, 10]].
    want = (-math.log(e(6) / (e(6) + e(0))) - math.log(e(10) / (e(8) + e(10)))) / 2
    assert float(L.in_batch_softmax_loss(q, c, scale=2.0, normalize=False)) == pytest.approx(want, abs=1e-5)


# --------------------------------------------------------------------------- all losses

_RNG = _rng(6)
_A = _RNG.normal(size=(4, 3)).astype(F32)
_B = _RNG.normal(size=(4, 3)).astype(F32)
_TABLE = _RNG.normal(size=(5, 3)).astype(F32)
_Y = np.array([0, 3, 1, 4])

# name -> (function of two [4, 3] float tensors a, b returning a loss, uses b?)
CASES = {
    "devise_full": lambda a, b: L.devise_hinge_rank_loss(a, _TABLE, _Y, margin=2.0),
    "devise_truncated": lambda a, b: L.devise_truncated_hinge_rank_loss(a, _TABLE, _Y, margin=2.0, seed=1),
    "sje_code": lambda a, b: L.sje_loss(a, b),
    "sje_max": lambda a, b: L.sje_max_loss(a, b, [0, 1, 0, 2]),
    "ranking": lambda a, b: L.bidirectional_ranking_loss(a, b, margin=2.0, mask=np.ones((4, 4), F32)),
    "intermediate": lambda a, b: L.intermediate_ranking_loss(a, b, b, a, [1.0, 1.0, 0.0, 1.0], margin=2.0),
    "cosine_full": lambda a, b: L.cosine_softmax_loss(a, _Y, _TABLE, scale=2.0),
    "cosine_sampled": lambda a, b: L.sampled_cosine_softmax_loss(a, _Y, _TABLE, [0, 2], scale=2.0),
    "in_batch": lambda a, b: L.in_batch_softmax_loss(a, b, scale=5.0, symmetric=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_flow(name):
    a, b = tf.Variable(_A), tf.Variable(_B)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(CASES[name](a, b))
    grads = tape.gradient(loss, [a, b])
    assert float(loss) > 0
    assert grads[0] is not None
    assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)
    assert np.any(grads[0].numpy() != 0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float16_inputs_give_float32_and_tf_function_agrees(name):
    fn = CASES[name]
    eager = fn(tf.constant(_A), tf.constant(_B))
    half = fn(tf.constant(_A, tf.float16), tf.constant(_B, tf.float16))
    traced = tf.function(fn)(tf.constant(_A), tf.constant(_B))
    assert eager.dtype == half.dtype == traced.dtype == tf.float32
    np.testing.assert_allclose(traced.numpy(), eager.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(half.numpy(), eager.numpy(), rtol=2e-2, atol=2e-2)


def test_traced_with_unknown_batch_size():
    spec = tf.TensorSpec([None, 3], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def both(a, b):
        return (L.sje_max_loss(a, b), L.bidirectional_ranking_loss(a, b),
                L.devise_truncated_hinge_rank_loss(a, _TABLE, _Y, margin=2.0, order=[4, 3, 2, 1, 0]))

    sje, rank, dev = both(_A, _B)
    assert float(sje) == pytest.approx(float(L.sje_max_loss(_A, _B)), abs=1e-6)
    assert float(rank) == pytest.approx(float(L.bidirectional_ranking_loss(_A, _B)), abs=1e-5)
    order = np.tile([4, 3, 2, 1, 0], (4, 1))
    assert _np(dev) == pytest.approx(ref_devise_truncated(_A, _TABLE, _Y, 2.0, order), abs=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: L.devise_hinge_rank_loss(_A, _TABLE[:, :2], _Y), "same dim"),
    (lambda: L.devise_hinge_rank_loss(_A, _TABLE, _Y[:3]), "same batch size"),
    (lambda: L.devise_hinge_rank_loss(_A[0], _TABLE, _Y), "rank-2"),
    (lambda: L.devise_hinge_rank_loss(_A, _TABLE, [0, 1, 2, 5]), r"labels must lie in \[0, 5\)"),
    (lambda: L.devise_hinge_rank_loss(_A, _TABLE, _Y, margin=-0.1), "margin"),
    (lambda: L.devise_truncated_hinge_rank_loss(_A, _TABLE, _Y, order=[0, 9]), "order must lie"),
    (lambda: L.devise_truncated_hinge_rank_loss(_A, _TABLE, _Y, order=[0.5, 1.0]), "integer"),
    (lambda: L.random_label_order(2, 3, seed=[1, 2, 3]), "seed"),
    (lambda: L.sje_loss(_A, _B[:3]), "same batch size"),
    (lambda: L.sje_max_loss(_A, _B, labels=[0, 1]), "same batch size"),
    (lambda: L.bidirectional_ranking_loss(_A, _B, mask=np.ones((3, 3), F32)), "mask"),
    (lambda: L.bidirectional_ranking_loss(_A, _B, similarity="l2"), "similarity"),
    (lambda: L.bidirectional_ranking_loss(_A, _B, directions="up"), "directions"),
    (lambda: L.cosine_softmax_loss(_A, _Y, _TABLE, scale=0.0), "scale"),
    (lambda: L.cosine_softmax_loss(_A, [0, 1, 2, 7], _TABLE), "targets must lie"),
    (lambda: L.sampled_cosine_softmax_loss(_A, _Y, _TABLE, [0, 5]), "sampled_ids must lie"),
    (lambda: L.sampled_cosine_softmax_loss(_A, _Y, _TABLE, [0], true_log_q=[0.0] * 4), "both"),
    (lambda: L.sample_candidates(6, 5), "unique"),
    (lambda: L.sample_candidates(2, 5, distribution="zipf"), "distribution"),
    (lambda: L.in_batch_softmax_loss(_A, _B[:, :2]), "same dim"),
    (lambda: L.in_batch_softmax_loss(np.zeros((4, 3), np.int32), _B), "floating-point"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_out_of_range_ids_fail_inside_a_graph():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
    def run(y):
        return L.devise_hinge_rank_loss(_A, _TABLE, y)

    with pytest.raises(tf.errors.InvalidArgumentError):
        run(tf.constant([0, 1, 2, 9], tf.int64))


# --------------------------------------------------------------------------- Keras wrappers


def test_devise_keras_loss_reduces_and_round_trips():
    v = np.array([[0.5, 0.3], [0.2, 0.9], [0.7, 0.7]], F32)
    loss = L.DeViSEHingeRankLoss(T3)
    # per-example (0.14, 0.04, 0) from the hand example -> mean 0.06; float labels are accepted.
    assert float(loss(np.array([0, 1, 2]), v)) == pytest.approx(0.06, abs=1e-6)
    assert float(loss(np.array([[0.0], [1.0], [2.0]], F32), v)) == pytest.approx(0.06, abs=1e-6)
    assert float(loss(np.array([0, 1, 2]), v, sample_weight=[0.0, 1.0, 1.0])) == pytest.approx(0.04 / 3, abs=1e-6)
    again = keras.losses.deserialize(keras.losses.serialize(L.DeViSEHingeRankLoss(T3, margin=0.2, truncated=True, seed=5)))
    assert isinstance(again, L.DeViSEHingeRankLoss)
    assert again.margin == 0.2 and again.truncated and again.seed == 5
    np.testing.assert_allclose(again.label_embeddings.numpy(), T3)
    # truncated: each call draws a new order; every value is one of the example's terms.
    trunc = L.DeViSEHingeRankLoss(T3, truncated=True, seed=0, reduction="none")
    vals = _np(trunc(np.array([0]), np.array([[0.5, 0.5]], F32)))
    assert vals[0] == pytest.approx(0.1, abs=1e-6) or vals[0] == pytest.approx(0.3, abs=1e-6)


def test_cosine_keras_loss_full_and_sampled():
    rng = _rng(7)
    x = rng.normal(size=(5, 3)).astype(F32)
    w = rng.normal(size=(6, 3)).astype(F32)
    y = rng.integers(0, 6, size=5)
    full = L.CosineSoftmaxLoss(w, scale=2.0)
    assert float(full(y, x)) == pytest.approx(float(np.mean(ref_full_softmax(x, y, w, 2.0))), abs=1e-5)
    everything = L.CosineSoftmaxLoss(w, scale=2.0, num_sampled=6, seed=1)
    assert float(everything(y, x)) == pytest.approx(float(full(y, x)), abs=1e-5)
    few = L.CosineSoftmaxLoss(w, scale=2.0, num_sampled=2, distribution="log_uniform", subtract_log_q=True, seed=1)
    assert np.isfinite(float(few(y, x)))
    cfg = few.get_config()
    again = L.CosineSoftmaxLoss.from_config(cfg)
    assert again.get_config() == cfg
    with pytest.raises(ValueError, match="unique"):
        L.CosineSoftmaxLoss(w, num_sampled=7)


def test_keras_layers_add_their_loss_and_serialize():
    a_in, b_in = keras.Input((3,)), keras.Input((3,))
    layers = [L.StructuredJointEmbeddingLoss(), L.StructuredJointEmbeddingLoss(symmetric=False, form="max"),
              L.BidirectionalRankingLoss(margin=0.3), L.InBatchSoftmaxLoss(scale=4.0, symmetric=True)]
    outs = [layer([a_in, b_in]) for layer in layers]
    model = keras.Model([a_in, b_in], outs)
    got = [float(o) for o in model([_A, _B])]
    want = [float(L.sje_loss(_A, _B)), float(L.sje_max_loss(_A, _B, symmetric=False)),
            float(L.bidirectional_ranking_loss(_A, _B, 0.3)), float(L.in_batch_softmax_loss(_A, _B, 4.0, symmetric=True))]
    assert got == pytest.approx(want, abs=1e-5)
    assert len(model.losses) == 4
    for layer in layers:
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="form"):
        L.StructuredJointEmbeddingLoss(form="sum")


def test_devise_loss_trains_a_keras_projection():
    # Images whose class is readable from x: a linear projection M learns to score the true label first.
    rng = _rng(8)
    y = rng.integers(0, 3, size=48)
    x = (np.eye(3)[y] * 2 + rng.normal(scale=0.1, size=(48, 3))).astype(F32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=L.DeViSEHingeRankLoss(T3, margin=0.5))
    before = float(model.evaluate(x, y, verbose=0))
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    after = float(model.evaluate(x, y, verbose=0))
    assert after < before
