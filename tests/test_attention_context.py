"""AttentionContext: You et al. (2018) eqs. 2-4 against numpy, with and without a padding mask."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tfpipe.layers import AttentionContext


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _reference(local, query, W, b, mask=None):
    projected = local @ W + b  # eq. 2
    scores = np.einsum("brd,bd->br", projected, query)
    if mask is not None:
        scores = np.where(mask > 0, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    alpha = e / e.sum(axis=1, keepdims=True)  # eq. 3
    return np.einsum("br,brd->bd", alpha, projected), alpha, projected  # eq. 4


def _layer(features, dim, rng):
    layer = AttentionContext(dim)
    layer.build([(None, None, features), (None, dim)])
    W = rng.normal(size=(features, dim)).astype(np.float32)
    b = rng.normal(size=(dim,)).astype(np.float32)
    layer.kernel.assign(W)
    layer.bias.assign(b)
    return layer, W, b


def test_matches_numpy_eqs_2_4():
    rng = np.random.default_rng(0)
    layer, W, b = _layer(4, 3, rng)
    local = rng.normal(size=(2, 5, 4)).astype(np.float32)
    query = rng.normal(size=(2, 3)).astype(np.float32)
    context, alpha = layer([local, query], return_weights=True)
    c_ref, a_ref, p_ref = _reference(local, query, W, b)
    assert context.shape == (2, 3) and alpha.shape == (2, 5)
    np.testing.assert_allclose(_np(context), c_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(alpha), a_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(alpha).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(_np(layer.project(local)), p_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(layer([local, query])), c_ref, rtol=1e-5, atol=1e-5)  # c alone


def test_a_tiny_case_by_hand():
    # W = identity, b = 0: l' = l; scores l' q = [0, 2]; alpha = [1, e^2] / (1 + e^2).
    layer = AttentionContext(2)
    layer.build([(None, 2, 2), (None, 2)])
    layer.kernel.assign(np.eye(2, dtype=np.float32))
    local = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    query = np.array([[0.0, 2.0]], np.float32)
    context, alpha = layer([local, query], return_weights=True)
    a = np.array([1.0, np.exp(2.0)]) / (1.0 + np.exp(2.0))
    np.testing.assert_allclose(_np(alpha)[0], a, rtol=1e-6)
    np.testing.assert_allclose(_np(context)[0], a, rtol=1e-6)  # sum_r alpha_r e_r


def test_masked_positions_get_weight_zero_and_change_nothing():
    rng = np.random.default_rng(1)
    layer, W, b = _layer(4, 3, rng)
    local = rng.normal(size=(3, 5, 4)).astype(np.float32)
    query = rng.normal(size=(3, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    context, alpha = layer([local, query], mask=mask, return_weights=True)
    c_ref, a_ref, _ = _reference(local, query, W, b, mask)
    np.testing.assert_allclose(_np(context), c_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(alpha), a_ref, rtol=1e-5, atol=1e-6)
    assert np.all(_np(alpha)[mask == 0] == 0.0)  # exactly zero
    np.testing.assert_allclose(_np(alpha).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(_np(context)[1], local[1, 0] @ W + b, rtol=1e-5)  # one real position

    changed = local.copy()
    changed[mask == 0] = rng.normal(size=(int((mask == 0).sum()), 4)) * 100.0
    context2, alpha2 = layer([changed, query], mask=mask.astype(bool), return_weights=True)
    np.testing.assert_allclose(_np(context2), _np(context), rtol=1e-6)
    np.testing.assert_array_equal(_np(alpha2), _np(alpha))


def test_all_padding_row_gives_zeros_not_nan():
    rng = np.random.default_rng(2)
    layer, _, _ = _layer(4, 3, rng)
    local = rng.normal(size=(2, 3, 4)).astype(np.float32)
    query = rng.normal(size=(2, 3)).astype(np.float32)
    mask = np.array([[1, 1, 0], [0, 0, 0]], np.float32)
    context, alpha = (_np(t) for t in layer([local, query], mask=mask, return_weights=True))
    assert np.all(np.isfinite(context)) and np.all(np.isfinite(alpha))
    np.testing.assert_array_equal(alpha[1], 0.0)
    np.testing.assert_array_equal(context[1], 0.0)


def test_attend_many_queries_per_item():
    rng = np.random.default_rng(3)
    layer, W, b = _layer(4, 3, rng)
    local = rng.normal(size=(2, 5, 4)).astype(np.float32)
    queries = rng.normal(size=(2, 6, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    context, alpha = layer.attend(layer.project(local), queries, mask=mask)
    assert context.shape == (2, 6, 3) and alpha.shape == (2, 6, 5)
    for q in range(6):
        c_ref, a_ref, _ = _reference(local, queries[:, q], W, b, mask)
        np.testing.assert_allclose(_np(context)[:, q], c_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(_np(alpha)[:, q], a_ref, rtol=1e-5, atol=1e-6)


def test_config_shapes_errors_and_save(tmp_path):
    layer = AttentionContext(6, name="ctx")
    config = layer.get_config()
    assert config["dim"] == 6 and AttentionContext.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="dim must be positive"):
        AttentionContext(0)
    with pytest.raises(ValueError, match=r"query must be \[B, 6\]"):
        AttentionContext(6)([np.zeros((1, 2, 3), np.float32), np.zeros((1, 5), np.float32)])

    local_in = keras.Input(shape=(None, 4), name="local")
    query_in = keras.Input(shape=(3,), name="query")
    mask_in = keras.Input(shape=(None,), name="mask")
    ctx = AttentionContext(3, name="ctx")
    c, alpha = ctx([local_in, query_in], mask=mask_in, return_weights=True)
    model = keras.Model([local_in, query_in, mask_in], [c, alpha])
    assert ctx.count_params() == 4 * 3 + 3
    rng = np.random.default_rng(4)
    x = [rng.normal(size=(2, 5, 4)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32),
         np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], np.float32)]
    path = str(tmp_path / "ctx.keras")
    model.save(path)
    for a, b in zip(keras.models.load_model(path)(x), model(x)):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6)


def test_mixed_precision_softmax_in_float32():
    layer = AttentionContext(3, dtype="mixed_bfloat16")
    rng = np.random.default_rng(5)
    c, alpha = layer([rng.normal(size=(2, 4, 5)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)],
                     return_weights=True)
    assert keras.backend.standardize_dtype(c.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(alpha.dtype) == "float32"
    np.testing.assert_allclose(_np(alpha).sum(axis=1), 1.0, rtol=1e-6)


def test_without_dim_the_local_features_arrive_mapped_and_the_layer_has_no_weights():
    # dim=None: eqs. 3-4 only (a tower's own dense layer did eq. 2); equal to the full layer's attend
    # on its own projection.
    rng = np.random.default_rng(6)
    local = rng.normal(size=(2, 4, 5)).astype(np.float32)
    query = rng.normal(size=(2, 3)).astype(np.float32)
    full = AttentionContext(3)
    want = full([local, query])
    projected = full.project(local)
    bare = AttentionContext(None)
    got = bare([projected, query])
    assert bare.count_params() == 0
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"query must be \[B, 5\]"):
        AttentionContext(None)([local, query])
    assert AttentionContext.from_config(bare.get_config()).dim is None
