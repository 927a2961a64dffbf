"""Char-CNN small/large against the paper's Tables 1-2 and frame arithmetic."""
from __future__ import annotations

import ast
import inspect

import keras
import numpy as np
import pytest

from tfpipe import models
from tfpipe.layers import IndexConv1D
from tfpipe.models import char_cnn

# A tiny configuration: l0=150 leaves (150 - 96) / 27 = 2 frames.
TINY = dict(num_classes=3, l0=150, alphabet_size=5, conv_features=4, fc_units=8)


@pytest.fixture(scope="module")
def small():
    return models.build("char_cnn_small", num_classes=4)


@pytest.fixture(scope="module")
def large():
    # The paper's large convolutions; fc_units shrunk only to keep the test light.
    return models.build("char_cnn_large", num_classes=4, fc_units=16)


@pytest.fixture
def restore_policy():
    previous = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(previous)


def test_frame_arithmetic_of_the_paper():
    assert char_cnn.frames_after_convs(1014) == 34 == (1014 - 96) // 27
    assert char_cnn.frame_lengths(1014) == [336, 110, 108, 106, 104, 34]
    for k in range(1, 12):
        assert char_cnn.frames_after_convs(96 + 27 * k) == k
    assert char_cnn.min_l0() == 123
    with pytest.raises(ValueError, match="l0 >= 123"):
        char_cnn.frames_after_convs(122)
    with pytest.raises(ValueError, match="l0 >= 123"):
        models.build("char_cnn_small", num_classes=4, l0=64)


def test_small_model_layer_shapes(small):
    assert small.input.shape == (None, 1014) and small.input.dtype == "uint8"
    assert small.inputs[0].name == "chars"
    lengths = {name: small.get_layer(name).output.shape[1] for name in
               ["pool1", "pool2", "conv3", "conv4", "conv5", "pool6"]}
    assert list(lengths.values()) == [336, 110, 108, 106, 104, 34]
    # conv1 convolves the 70-symbol one-hot characters as a gather: no one_hot layer by default.
    assert "one_hot" not in [layer.name for layer in small.layers]
    assert isinstance(small.get_layer("conv1"), IndexConv1D) and small.get_layer("conv1").vocab_size == 70
    assert small.get_layer("conv1").output.shape == (None, 1008, 256)
    assert small.get_layer("conv1").kernel.shape == (7, 70, 256)
    assert small.get_layer("flatten").output.shape == (None, 8704)
    assert small.get_layer("fc7").kernel.shape == (8704, 1024)
    assert small.get_layer("fc8").kernel.shape == (1024, 1024)
    assert small.get_layer("fc9").kernel.shape == (1024, 4)
    assert small.output.shape == (None, 4)


def test_small_model_follows_tables_1_and_2(small):
    conv1 = small.get_layer("conv1")  # the 'valid', stride-1 convolution as a gather (IndexConv1D)
    assert conv1.kernel_size == 7 and conv1.filters == 256 and conv1.activation is keras.activations.relu
    convs = [small.get_layer(f"conv{i}") for i in range(2, 7)]
    assert [c.kernel_size[0] for c in convs] == [7, 3, 3, 3, 3]
    assert all(c.filters == 256 and c.strides == (1,) and c.padding == "valid" for c in convs)
    assert all(c.activation is keras.activations.relu for c in convs)
    pools = [layer for layer in small.layers if isinstance(layer, keras.layers.MaxPooling1D)]
    assert [p.name for p in pools] == ["pool1", "pool2", "pool6"]
    assert all(p.pool_size == (3,) and p.strides == (3,) for p in pools)
    names = [layer.name for layer in small.layers]
    assert names[names.index("flatten"):] == [
        "flatten", "fc7", "dropout7", "fc8", "dropout8", "fc9", "softmax"
    ]
    assert small.get_layer("dropout7").rate == 0.5 and small.get_layer("dropout8").rate == 0.5
    assert small.count_params() == (
        (7 * 70 * 256 + 256) + (7 * 256 * 256 + 256) + 4 * (3 * 256 * 256 + 256)
        + (8704 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 4 + 4)
    ) == 11_339_780


def test_large_model_shapes_and_defaults(large):
    assert large.get_layer("conv1").kernel.shape == (7, 70, 1024)
    assert large.get_layer("pool6").output.shape == (None, 34, 1024)
    assert large.get_layer("fc7").kernel.shape[0] == 34 * 1024
    defaults = {k: p.default for k, p in inspect.signature(char_cnn.char_cnn_large).parameters.items()}
    assert defaults["conv_features"] == 1024 and defaults["fc_units"] == 2048
    assert defaults["init_std"] == 0.02 and defaults["dropout"] == 0.5 and defaults["l0"] == 1014
    small_defaults = {k: p.default for k, p in inspect.signature(char_cnn.char_cnn_small).parameters.items()}
    assert small_defaults["conv_features"] == 256 and small_defaults["fc_units"] == 1024
    assert small_defaults["init_std"] == 0.05 and small_defaults["alphabet_size"] == 70


def test_parameter_count_of_a_tiny_config():
    model = models.build("char_cnn_small", **TINY)
    per_layer = {layer.name: layer.count_params() for layer in model.layers if layer.weights}
    assert per_layer == {
        "conv1": 7 * 5 * 4 + 4,
        "conv2": 7 * 4 * 4 + 4,
        "conv3": 3 * 4 * 4 + 4,
        "conv4": 52,
        "conv5": 52,
        "conv6": 52,
        "fc7": 2 * 4 * 8 + 8,  # 2 frames x 4 features in
        "fc8": 8 * 8 + 8,
        "fc9": 8 * 3 + 3,
    }
    assert model.count_params() == 639


def _kernel_stats(model, names):
    weights = np.concatenate([keras.ops.convert_to_numpy(model.get_layer(n).kernel).ravel() for n in names])
    return weights.mean(), weights.std()


def test_gaussian_initialization(small, large):
    mean, std = _kernel_stats(small, ["conv2", "conv3", "fc7"])
    assert abs(mean) < 1e-3 and abs(std - 0.05) < 1e-3
    mean, std = _kernel_stats(large, ["conv2", "conv3"])
    assert abs(mean) < 1e-3 and abs(std - 0.02) < 5e-4
    for model in (small, large):
        for layer in model.layers:
            if layer.weights:
                assert not keras.ops.convert_to_numpy(layer.bias).any(), layer.name
    custom = models.build("char_cnn_small", **TINY, init_std=0.5)
    assert abs(_kernel_stats(custom, ["fc7", "fc8"])[1] - 0.5) < 0.15


def test_forward_and_one_training_step():
    model = models.build("char_cnn_small", **TINY)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=(8, 150), dtype=np.uint8)
    y = rng.integers(0, 3, size=(8,))
    probs = keras.ops.convert_to_numpy(model(x))
    assert probs.shape == (8, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)


def test_float32_output_under_mixed_bfloat16(restore_policy):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = models.build("char_cnn_small", **TINY)
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("conv1").kernel.dtype == "float32"
    assert model.get_layer("fc9").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
    out = model(np.ones((2, 150), dtype=np.uint8))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_flops_per_example():
    # Hand count (2 x multiply-adds) for TINY: conv lengths 144, 42, 12, 10, 8, 6.
    expected = 2 * (
        144 * 7 * 5 * 4 + 42 * 7 * 4 * 4 + (12 + 10 + 8 + 6) * 3 * 4 * 4 + 8 * 8 + 8 * 8 + 8 * 3
    )
    assert expected == 53_488
    assert char_cnn.flops_per_example(TINY) == expected
    assert char_cnn.flops_per_example(models.build("char_cnn_small", **TINY)) == expected
    paper_small = 2 * (
        1008 * 7 * 70 * 256 + 330 * 7 * 256 * 256 + (108 + 106 + 104 + 102) * 3 * 256 * 256
        + 8704 * 1024 + 1024 * 1024 + 1024 * 4
    )
    assert char_cnn.flops_per_example({"num_classes": 4}) == paper_small == 740_745_216
    assert char_cnn.flops_per_example({"num_classes": 4, "model": "char_cnn_large"}) == 8_649_392_128
    with pytest.raises(ValueError):
        char_cnn.flops_per_example({"l0": 1014})


def test_save_and_load(tmp_path):
    model = models.build("char_cnn_small", **TINY)
    path = str(tmp_path / "char_cnn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.arange(300, dtype=np.uint8).reshape(2, 150) % 7
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )


def test_model_code_is_backend_neutral():
    """The model and layer modules import Keras only (no TensorFlow), so other backends work."""
    from tfpipe.layers import onehot

    for module in (char_cnn, onehot):
        tree = ast.parse(inspect.getsource(module))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not imported & {"tensorflow", "tf", "jax", "torch"}, (module.__name__, imported)


# Run with the other models' checks in one KERAS_BACKEND=jax process (conftest.jax_backend).
JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe import models;"
    "m = models.build('char_cnn_small', num_classes=3, l0=150, alphabet_size=5, conv_features=4, fc_units=8);"
    "p = keras.ops.convert_to_numpy(m(np.ones((2, 150), dtype='uint8')));"
    "assert keras.backend.backend() == 'jax' and p.shape == (2, 3)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
