"""Layer 1 as an exact gather: the character models' ``conv1`` computed by ``IndexConv1D``
(``first_layer="gather"``, the default) equals the paper's convolution of one-hot frames
(``first_layer="one_hot"``: ``OneHot`` + ``Conv1D``) holding the same weights, in outputs and in
gradients, on real AG's News rows quantized by the project's quantizer, both as the fused C++ op
computes it in training (``tfpipe.ops.index_conv``) and as ``keras.ops`` do (``gather_keras``, and
every inference call): in float32 the outputs and conv1's backward pass for the same upstream
gradient, in float64 (keras.ops only) every gradient of the whole models (``_check_same`` says
why not in float32); the option's choices are checked in the builders and in the config, and
weights move between the forms."""
from __future__ import annotations

import itertools
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpipe import config as config_lib
from tfpipe import models
from tfpipe.data import corpora
from tfpipe.layers import IndexConv1D
from tfpipe.layers.index_conv import FUSED, KERAS
from tfpipe.models import encoders
from tfpipe.ops import index_conv as fused_ops
from tfpipe.text import alphabet
from tfpipe.text.quantize import quantize

AG_NEWS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "ag_news")
ROWS = 300  # rows of AG's News test.csv read; the batches are drawn from them
TOL = 1e-5


@pytest.fixture(scope="module")
def ag_rows() -> tuple[list[str], np.ndarray]:
    """The texts (title and description joined as the preprocess job does) and 0-based labels of
    the first ``ROWS`` rows of AG's News ``test.csv`` (Zhang CSV: class, title, description)."""
    path = os.path.join(AG_NEWS, "test.csv")
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (AG's News, Zhang et al. 2015's CSV)")
    classes = tuple(corpora.class_names("zhang_csv", [path]))
    items = corpora.read_file("zhang_csv", path, corpora.ReadOptions(classes, "utf-8"))
    rows = [item for item in itertools.islice(items, ROWS) if isinstance(item, corpora.RawExample)]
    assert len(rows) == ROWS and len(classes) == 4
    return [r.text for r in rows], np.array([r.label for r in rows], dtype=np.int64)


def _batch(ag_rows, size: int, alphabet_name: str, l0: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    texts, labels = ag_rows
    pick = np.random.default_rng(seed).choice(len(texts), size=size, replace=False)
    chars = quantize(tf.constant([texts[i] for i in pick]), alphabet.get(alphabet_name), l0).numpy()
    assert chars.dtype == np.uint8 and chars.shape == (size, l0)
    assert (chars == 0).any() and chars.max() <= 70  # the all-zero frame occurs (padding, other characters)
    return chars, labels[pick]


def _fused_or_skip(first_layer: str) -> None:
    if first_layer == "gather" and fused_ops.unusable_reason("float32"):
        pytest.skip(f"the fused op cannot run here: {fused_ops.unusable_reason('float32')}")


def _pair(build, first_layer: str = "gather", dtype: str = "float32", **kwargs) -> tuple[keras.Model, keras.Model]:
    """The gather model (``first_layer``: ``gather`` or ``gather_keras``) and the one-hot model with
    the gather's weights (and random biases, so the bias is tested), matched by layer name, both
    built under the dtype policy ``dtype``; the shapes must agree."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        gather, one_hot = build(**kwargs, first_layer=first_layer), build(**kwargs, first_layer="one_hot")
    finally:
        keras.config.set_dtype_policy(previous)
    assert gather.get_layer("conv1").implementation == ("auto" if first_layer == "gather" else KERAS)
    assert isinstance(gather.get_layer("conv1"), IndexConv1D)
    assert isinstance(one_hot.get_layer("conv1"), keras.layers.Conv1D)
    assert gather.get_layer("conv1").compute_dtype == one_hot.get_layer("conv1").compute_dtype == dtype
    assert "one_hot" in [layer.name for layer in one_hot.layers]
    assert "one_hot" not in [layer.name for layer in gather.layers]
    rng = np.random.default_rng(0)
    for layer in gather.layers:
        if layer.weights:
            weights = layer.get_weights()
            weights[-1] = rng.normal(0.0, 0.05, size=weights[-1].shape).astype(np.float32)  # the bias
            layer.set_weights(weights)
            other = one_hot.get_layer(layer.name).get_weights()
            assert [w.shape for w in other] == [w.shape for w in weights]
            one_hot.get_layer(layer.name).set_weights(weights)
    assert [v.path for v in gather.trainable_variables] == [v.path for v in one_hot.trainable_variables]
    return gather, one_hot


def _close(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL * np.abs(want).max())


def _outputs_and_gradients(model, chars, loss_of, training):
    x = tf.constant(chars)
    with tf.GradientTape() as tape:
        out = model(x, training=training)
        loss = loss_of(out)
    grads = tape.gradient(loss, model.trainable_variables)
    return out.numpy(), {v.path: g.numpy() for v, g in zip(model.trainable_variables, grads)}


def _linear_twin(layer):
    """A copy of ``conv1`` (either form) without its ReLU, holding its weights: the sum alone."""
    twin = type(layer).from_config({**layer.get_config(), "activation": None, "name": "twin"})
    twin.build(layer.input.shape)
    twin.set_weights(layer.get_weights())
    return twin


def _check_same(gather, one_hot, chars, loss_of, training: bool = False) -> None:
    """The two forms of a float32 model agree: outputs, conv1's outputs, and conv1's backward pass
    for the same upstream gradient; a training call of a ``gather`` model runs the fused op.

    The whole models' float32 gradients are not compared.  The layers after conv1 (ReLUs, max
    pools) are piecewise linear, and two orders of summation can land a value on either side of
    a ReLU's zero or a pool's tie, which moves the gradients of every layer below by far more than
    rounding: on 2 of 6 AG's News batches the one-hot Char-CNN small's own float32 gradients
    differed from its float64 ones by 0.3 % and 3 % of their largest element.  So the forms'
    gradients are compared through the chain rule: conv1's outputs agree (the forward pass), and
    the gradient reaching conv1's ReLU in the one-hot model, masked by that ReLU, goes back
    through both forms' sums (which are linear) to the same kernel and bias gradients.
    :func:`_check_same_gradients` compares every gradient of the whole models in float64."""
    x = tf.constant(chars)
    conv_g, conv_o = gather.get_layer("conv1"), one_hot.get_layer("conv1")
    out_g = gather(x, training=training)
    if training and conv_g.implementation != KERAS:
        assert conv_g.fused_note == ""  # the fused op ran (the call decided, and found nothing against it)
    else:
        assert conv_g.fused_note is None  # keras.ops ran: the op was not even looked at
    _close(out_g, one_hot(x, training=training))
    y_g = keras.Model(gather.input, conv_g.output)(x, training=training)
    y_o = keras.Model(one_hot.input, conv_o.output)(x, training=training)
    _close(y_g, y_o)
    # The gradient at conv1's output, from the one-hot model's layers after conv1 (shared weights).
    head = keras.Model(conv_o.output, one_hot.output)
    with tf.GradientTape() as tape:
        tape.watch(y_o)
        loss = loss_of(head(y_o, training=training))
    upstream = tape.gradient(loss, y_o) * tf.cast(y_o > 0, y_o.dtype)  # back through conv1's ReLU
    assert float(tf.reduce_max(tf.abs(upstream))) > 0
    frames = one_hot.get_layer("one_hot")(x)
    grads = []
    for twin, inputs in ((_linear_twin(conv_g), x), (_linear_twin(conv_o), frames)):
        with tf.GradientTape() as tape:
            pre = twin(inputs, training=training)
        grads.append(tape.gradient(pre, [twin.kernel, twin.bias], output_gradients=upstream))
        if isinstance(twin, IndexConv1D):
            assert twin.fused_note == conv_g.fused_note  # the twin took the same path as conv1
    for got, want in zip(*grads):
        _close(got, want)


def _check_same_gradients(gather, one_hot, chars, loss_of, training: bool) -> None:
    """Outputs and every gradient of two float64 models agree (float64's rounding is far too
    small to move a ReLU or a pool; see :func:`_check_same`)."""
    assert gather.get_layer("conv1").compute_dtype == "float64"
    out_g, grads_g = _outputs_and_gradients(gather, chars, loss_of, training)
    assert gather.get_layer("conv1").fused_note in (None, fused_ops.unusable_reason("float64"))
    out_o, grads_o = _outputs_and_gradients(one_hot, chars, loss_of, training)
    _close(out_g, out_o)
    assert list(grads_g) == list(grads_o) and {"conv1/kernel", "conv1/bias"} <= set(grads_g)
    for path in grads_o:  # conv1's kernel and bias, and every other trainable variable
        _close(grads_g[path], grads_o[path])


def _cross_entropy(labels):
    return lambda probs: -tf.reduce_sum(tf.math.log(tf.gather(probs, labels, batch_dims=1)))


def _projection(dim: int):
    r = tf.constant(np.random.default_rng(1).normal(size=(1, dim)).astype(np.float32))
    return lambda out: tf.reduce_sum(out * tf.cast(r, out.dtype))


# ------------------------------------------------------------ real AG's News batches


# "gather" in a training call is the fused op; "gather_keras" (and any inference call) keras.ops.
# The classifiers are built without dropout, so their training calls are deterministic.
MODES = [("gather", True), ("gather_keras", True), ("gather", False)]


def _runs_keras_ops(first_layer: str, training: bool) -> bool:
    """Whether the mode computes conv1 with keras.ops, which also run in float64 (the fused op
    does not): such modes also compare the whole models' gradients, in float64."""
    return first_layer == "gather_keras" or not training


@pytest.mark.parametrize("first_layer, training", MODES)
@pytest.mark.parametrize("name, batch", [("char_cnn_small", 12), ("char_cnn_large", 4)])
def test_char_cnn_gather_equals_one_hot_on_ag_news(ag_rows, name, batch, first_layer, training):
    if training:
        _fused_or_skip(first_layer)
    chars, labels = _batch(ag_rows, batch, "paper", 1014, seed=len(name) + batch)
    build = lambda **kw: models.build(name, num_classes=4, dropout=0.0, **kw)  # noqa: E731
    gather, one_hot = _pair(build, first_layer)
    assert gather.get_layer("conv1").kernel.shape == (7, 70, 256 if name.endswith("small") else 1024)
    _check_same(gather, one_hot, chars, _cross_entropy(labels), training)
    # The whole models in float64 too (the large one only through conv1, above: float64 runs
    # without oneDNN and its 1024-feature layers take tens of seconds; its layers are the small's).
    if _runs_keras_ops(first_layer, training) and name == "char_cnn_small":
        _check_same_gradients(*_pair(build, first_layer, "float64"), chars, _cross_entropy(labels), training)


@pytest.mark.parametrize("first_layer, training", MODES)
@pytest.mark.parametrize("name", ["char_cnn_rnn", "char_cnn_doc"])
def test_reed_char_encoders_gather_equals_one_hot_on_ag_news(ag_rows, name, first_layer, training):
    if training:
        _fused_or_skip(first_layer)
    chars, _ = _batch(ag_rows, 12, "reed", 201, seed=3)
    build = lambda **kw: encoders.build_encoder(name, dim=64, **kw)  # noqa: E731
    gather, one_hot = _pair(build, first_layer)
    assert gather.get_layer("conv1").kernel.shape == (4, 70, 384 if name == "char_cnn_rnn" else 256)
    _check_same(gather, one_hot, chars, _projection(64), training)
    if _runs_keras_ops(first_layer, training):
        _check_same_gradients(*_pair(build, first_layer, "float64"), chars, _projection(64), training)


# ------------------------------------------------------------ a hand-made case


TINY = dict(num_classes=3, l0=150, alphabet_size=5, conv_features=4, fc_units=8)
HAND = dict(TINY, conv_features=16, fc_units=32)  # wide enough that no layer's ReLUs are all off


def _hand_ids(l0: int) -> np.ndarray:
    """Indices 0 (the zero frame), 1..5, and 6, 71, 255 outside a 5-symbol alphabet."""
    row = np.array([3, 0, 1, 5, 6, 2, 255, 4, 4, 0, 71, 1], dtype=np.uint8)
    return np.stack([np.resize(row, l0), np.resize(row[::-1], l0)])


@pytest.mark.parametrize("first_layer, training", MODES)
def test_hand_made_ids_with_zero_and_out_of_range(first_layer, training):
    if training:
        _fused_or_skip(first_layer)
    ids = _hand_ids(HAND["l0"])
    gather, one_hot = _pair(lambda **kw: models.build("char_cnn_small", **HAND, dropout=0.0, **kw), first_layer)
    w, b = gather.get_layer("conv1").get_weights()
    # conv1 by hand: out[t] = relu(b + sum_j W[j, ids[t + j] - 1]), ids outside 1..5 adding nothing.
    want = np.zeros((2, HAND["l0"] - 6, 16), np.float32) + b
    for n, t, j in itertools.product(range(2), range(HAND["l0"] - 6), range(7)):
        if 1 <= ids[n, t + j] <= 5:
            want[n, t] += w[j, ids[n, t + j] - 1]
    want = np.maximum(want, 0)
    for model in (gather, one_hot):
        got = keras.Model(model.input, model.get_layer("conv1").output)(ids, training=training)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)
    labels = np.array([0, 2])
    _check_same(gather, one_hot, ids, _cross_entropy(labels), training)
    if _runs_keras_ops(first_layer, training):
        build = lambda **kw: models.build("char_cnn_small", **HAND, dropout=0.0, **kw)  # noqa: E731
        _check_same_gradients(*_pair(build, first_layer, "float64"), ids, _cross_entropy(labels), training)
    # The out-of-range ids are the zero frame: mapping them to 0 changes nothing.
    zeroed = np.where(ids > 5, 0, ids).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(gather(ids, training=training)),
                                  np.asarray(gather(zeroed, training=training)))


@pytest.mark.parametrize("first_layer, training", MODES)
def test_reed_encoder_hand_made_ids(first_layer, training):
    if training:
        _fused_or_skip(first_layer)
    ids = _hand_ids(201)
    ids[0, :4] = [70, 71, 0, 200]  # the last symbol of the 70, and two outside it
    build = lambda **kw: encoders.build_encoder("char_cnn_rnn", dim=8, **kw)  # noqa: E731
    _check_same(*_pair(build, first_layer), ids, _projection(8), training)
    if _runs_keras_ops(first_layer, training):
        _check_same_gradients(*_pair(build, first_layer, "float64"), ids, _projection(8), training)


# ------------------------------------------------------------ the fused op


def _conv1_grads(layer, ids, upstream, training):
    with tf.GradientTape() as tape:
        out = layer(tf.constant(ids), training=training)
    grads = tape.gradient(out, [layer.kernel.value, layer.bias.value], output_gradients=upstream)
    return np.asarray(out, np.float32), [np.asarray(g) for g in grads]


def test_fused_bfloat16_sums_in_float32_and_rounds_once(ag_rows):
    """Under mixed_bfloat16 the fused op adds the bfloat16 kernel rows in float32 and rounds the
    sum once; keras.ops add in bfloat16.  Both stay within bfloat16's rounding of the float32
    result, the fused one closer, and the kernel gradients (float32) agree."""
    _fused_or_skip("gather")
    chars, _ = _batch(ag_rows, 8, "paper", 1014, seed=5)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layers = {impl: IndexConv1D(70, 64, 7, implementation=impl, name="conv1") for impl in (FUSED, KERAS)}
        for layer in layers.values():
            layer.build((None, 1014))
        layers[KERAS].set_weights(layers[FUSED].get_weights())
        upstream = tf.constant(np.random.default_rng(2).normal(size=(8, 1008, 64)), tf.bfloat16)
        fused = _conv1_grads(layers[FUSED], chars, upstream, training=True)
        ops_ = _conv1_grads(layers[KERAS], chars, upstream, training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert layers[FUSED].compute_dtype == "bfloat16" and layers[FUSED].fused_note == ""
    # The float32 sum of the same bfloat16-rounded kernel rows, by hand.
    w = tf.cast(tf.cast(layers[FUSED].get_weights()[0], tf.bfloat16), tf.float32).numpy()
    rows = np.concatenate([np.zeros((7, 1, 64), np.float32), w], axis=1)
    want = sum(rows[j][chars[:, j:j + 1008].astype(np.int64)] for j in range(7))
    scale = np.abs(want).max()
    assert np.abs(fused[0] - want).max() <= 2 ** -8 * scale  # one rounding
    assert np.abs(fused[0] - want).mean() < np.abs(ops_[0] - want).mean()
    np.testing.assert_allclose(fused[1][0], ops_[1][0], rtol=2e-2, atol=2e-2 * np.abs(ops_[1][0]).max())
    np.testing.assert_allclose(fused[1][1], ops_[1][1], rtol=2e-2, atol=2e-2 * np.abs(ops_[1][1]).max())


def test_implementation_choice_and_an_unusable_fused_op(monkeypatch):
    with pytest.raises(ValueError, match=r"implementation='cuda'; valid choices: auto, fused, keras"):
        IndexConv1D(5, 4, 3, implementation="cuda")
    monkeypatch.setattr(fused_ops, "unusable_reason", lambda dtype: "it is not available here: no g++")
    ids = _hand_ids(20)
    auto = IndexConv1D(5, 4, 3, name="conv1")
    auto(ids, training=True)  # falls back to keras.ops
    assert auto.fused_note == "it is not available here: no g++"
    with pytest.raises(ValueError, match="conv1: implementation='fused' cannot run: it is not available here"):
        IndexConv1D(5, 4, 3, implementation=FUSED, name="conv1")(ids, training=True)
    assert IndexConv1D.from_config(IndexConv1D(5, 4, 3, implementation=KERAS).get_config()).implementation == KERAS


def test_fused_op_rejects_bad_shapes():
    _fused_or_skip("gather")
    module = fused_ops.LIBRARY.load()
    with pytest.raises(tf.errors.InvalidArgumentError, match="shorter than the kernel"):
        module.index_conv1d(tf.zeros((2, 3), tf.int32), tf.zeros((7, 5, 4)), tf.zeros((4,)), T=tf.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="bias must be"):
        module.index_conv1d(tf.zeros((2, 9), tf.int32), tf.zeros((7, 5, 4)), tf.zeros((3,)), T=tf.float32)


# ------------------------------------------------------------ the option


@pytest.mark.parametrize("build", [
    lambda v: models.build("char_cnn_small", **TINY, first_layer=v),
    lambda v: encoders.build_encoder("char_cnn_large", **{k: TINY[k] for k in TINY if k != "num_classes"},
                                     first_layer=v),
    lambda v: encoders.build_encoder("char_cnn_rnn", dim=8, first_layer=v),
    lambda v: encoders.build_encoder("char_cnn_doc", dim=8, first_layer=v),
])
def test_a_wrong_first_layer_names_the_choices(build):
    with pytest.raises(ValueError, match=r"first_layer='onehot'; valid choices: gather, gather_keras, one_hot"):
        build("onehot")


def test_flops_count_the_gather_as_the_convolution_it_equals():
    gather = models.build("char_cnn_small", **TINY)
    one_hot = models.build("char_cnn_small", **TINY, first_layer="one_hot")
    conv1 = 2 * (150 - 6) * 7 * 5 * 4
    assert models.char_cnn.flops_per_example(gather) == models.char_cnn.flops_per_example(one_hot)
    assert models.char_cnn.flops_per_example(gather) == models.char_cnn.flops_per_example(
        {**TINY, "first_layer": "gather"})
    without_conv1 = keras.Model(gather.get_layer("conv2").input, gather.output)
    assert models.char_cnn.flops_per_example(gather) - models.char_cnn.flops_per_example(without_conv1) == conv1
    with pytest.raises(ValueError, match="valid choices: gather, gather_keras, one_hot"):
        models.char_cnn.flops_per_example({**TINY, "first_layer": "dense"})


@pytest.mark.parametrize("saved, loaded", [("gather", "one_hot"), ("one_hot", "gather")])
def test_weights_saved_by_one_form_load_into_the_other(tmp_path, saved, loaded):
    ids = _hand_ids(HAND["l0"])
    source = models.build("char_cnn_small", **HAND, first_layer=saved)
    conv1 = source.get_layer("conv1")
    conv1.set_weights([w + np.float32(0.01) for w in conv1.get_weights()])  # a non-zero bias
    source.save(str(tmp_path / "model.keras"))
    # A whole saved model keeps its own form ...
    reloaded = keras.saving.load_model(str(tmp_path / "model.keras"))
    assert type(reloaded.get_layer("conv1")) is type(conv1)
    # ... and its weights, the same list of the same shapes, go into the other form.
    target = models.build("char_cnn_small", **HAND, first_layer=loaded)
    assert [(v.path, tuple(v.shape)) for v in target.weights] == [(v.path, tuple(v.shape)) for v in source.weights]
    target.set_weights(reloaded.get_weights())
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    _close(target(ids, training=False), source(ids, training=False))
    # Keras' .weights.h5 names a layer's entry by its class (conv1d, conv1d_1, ...), so a weights
    # file does not load into the other form: it fails, it does not load conv2's kernel into conv1.
    source.save_weights(str(tmp_path / "w.weights.h5"))
    with pytest.raises(ValueError, match="could not be loaded"):
        models.build("char_cnn_small", **HAND, first_layer=loaded).load_weights(str(tmp_path / "w.weights.h5"))


def test_the_classifier_config_takes_model_first_layer(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: char_cnn_small\n  first_layer: one_hot\n")
    cfg = config_lib.load(str(path))
    config_lib.validate_model(cfg)
    model = models.build(cfg.model_name, **TINY, **cfg.model_kwargs)
    assert model.get_layer("one_hot").output.shape == (None, 150, 5)
    bad = config_lib.from_dict({"model": {"name": "char_cnn_large", "first_layer": "dense"}})
    with pytest.raises(config_lib.ConfigError, match=r"model.first_layer='dense'; valid choices: gather, gather_keras, one_hot"):
        config_lib.validate_model(bad)


def _sje_cfg(encoder, **model):
    return config_lib.from_dict({"task": "joint_embedding", "model": {
        "name": "sje", "encoder": encoder, "descriptions": "unused", **model}})


def test_the_joint_embedding_config_takes_model_first_layer():
    from tfpipe.tasks.joint_embedding import keys, model as model_lib

    offered = dict(dim=16, vocab=None, vectors=None, vector_dim=None, num_attributes=None)
    for encoder, registered in (("char_cnn_rnn", "char_cnn_rnn"), ("char_cnn", "char_cnn_doc")):
        cfg = _sje_cfg(encoder, first_layer="one_hot")
        keys.check_model(cfg)
        assert model_lib.encoder_kwargs(cfg, **offered)["first_layer"] == "one_hot"
        text = model_lib.build_text_model(cfg, **offered)
        assert isinstance(text.get_layer("conv1"), keras.layers.Conv1D) and text.get_layer("one_hot")
        default = _sje_cfg(encoder)
        keys.check_model(default)
        assert isinstance(model_lib.build_text_model(default, **offered).get_layer("conv1"), IndexConv1D)
    with pytest.raises(config_lib.ConfigError, match=r"model.first_layer='dense'; valid: gather, gather_keras, one_hot"):
        keys.check_model(_sje_cfg("char_cnn_rnn", first_layer="dense"))
    with pytest.raises(config_lib.ConfigError, match=r"model.first_layer is for .*char_cnn_rnn, char_cnn\b.*"
                                                     r"not model.encoder=char_lstm"):
        keys.check_model(_sje_cfg("char_lstm", first_layer="gather"))
    # An encoder without the layer is not offered the key.
    assert "first_layer" not in model_lib.encoder_kwargs(_sje_cfg("char_lstm"), **offered)
