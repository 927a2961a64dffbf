"""The multimodal classifier (predicted-context paper, section 3.5) and its visual-only / text-only baselines."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tfpipe.models import fusion

# Toy: visual 2-d -> visual embedding 2 (ReLU); context 1-d; concat 3 -> hidden 2 (ReLU) -> 2 classes.
WV, BV = np.array([[1.0, -1.0], [0.0, 1.0]], np.float32), np.array([0.0, 0.5], np.float32)
W1, B1 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]], np.float32), np.array([1.0, 0.0], np.float32)
WO, BO = np.array([[1.0, 2.0], [1.0, -1.0]], np.float32), np.zeros(2, np.float32)
VISUAL = np.array([[2.0, 1.0], [0.0, 0.0]], np.float32)
CONTEXT = np.array([[3.0], [-1.0]], np.float32)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _shapes(model: keras.Model, names) -> list[tuple]:
    return [tuple(w.shape) for name in names for w in model.get_layer(name).weights]


def _toy(dropout: float = 0.0) -> keras.Model:
    model = fusion.multimodal_classifier(num_classes=2, visual_dim=2, visual_embedding_dim=2, context_dim=1,
                                         hidden=(2,), dropout=dropout)
    model.get_layer("visual_embedding").set_weights([WV, BV])
    model.get_layer("hidden1").set_weights([W1, B1])
    model.get_layer("logits").set_weights([WO, BO])
    return model


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_forward_pass_by_hand(dropout):
    model = _toy(dropout)
    # Row 0: relu([2, 1] WV + BV) = relu([2, -0.5]) = [2, 0]; concat [2, 0, 3];
    #        relu([2, 0, 3] W1 + B1) = relu([0, 3]) = [0, 3]; logits [0, 3] WO = [3, -3].
    # Row 1: relu([0, 0.5]) = [0, 0.5]; concat [0, 0.5, -1]; relu([2, -0.5]) = [2, 0]; logits [2, 4].
    expected = np.array([[1 / (1 + math.exp(-6)), 1 / (1 + math.exp(6))],
                         [1 / (1 + math.exp(2)), 1 / (1 + math.exp(-2))]])
    out = _np(model({"visual": VISUAL, "context": CONTEXT}))  # inference: dropout is the identity
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    if dropout:
        assert [layer.name for layer in model.layers if "dropout" in layer.name] == ["dropout1"]
        keras.utils.set_random_seed(0)  # each draw keeps both live units with probability 1/4
        drawn = [_np(model({"visual": VISUAL, "context": CONTEXT}, training=True)) for _ in range(8)]
        assert any(not np.allclose(d, expected, rtol=1e-5) for d in drawn)


def test_default_shapes_of_the_three_models():
    multi = fusion.multimodal_classifier(num_classes=102)
    visual = fusion.multimodal_classifier(num_classes=102, inputs=("visual",))
    text = fusion.multimodal_classifier(num_classes=102, inputs=("context",))
    assert (multi.name, visual.name, text.name) == ("multimodal", "visual_only", "text_only")
    assert {k: tuple(v.shape) for k, v in multi.input.items()} == {"visual": (None, 1280), "context": (None, 200)}
    assert list(visual.input) == ["visual"] and list(text.input) == ["context"]
    for model in (multi, visual, text):
        assert tuple(model.output.shape) == (None, 102)
    # The visual embedding (section 3.4): pooled 1280 -> 1024.
    assert _shapes(multi, ["visual_embedding"]) == _shapes(visual, ["visual_embedding"]) == [(1280, 1024), (1024,)]
    assert "visual_embedding" not in [layer.name for layer in text.layers]
    # Same hidden layers; only the first hidden kernel's input rows differ: 1024 + 200 vs 1024 vs 200.
    assert multi.get_layer("hidden1").kernel.shape == (1224, 1024)
    assert visual.get_layer("hidden1").kernel.shape == (1024, 1024)
    assert text.get_layer("hidden1").kernel.shape == (200, 1024)
    for model in (multi, visual, text):
        assert model.get_layer("hidden1").bias.shape == (1024,)
        assert _shapes(model, ["logits"]) == [(1024, 102), (102,)]
        assert model.get_layer("dropout1").rate == 0.5
    assert multi.count_params() - visual.count_params() == 200 * 1024


def test_input_order_does_not_matter_and_a_single_name_may_be_a_string():
    model = fusion.multimodal_classifier(num_classes=3, inputs=["context", "visual"], visual_dim=4,
                                         visual_embedding_dim=5, context_dim=2, hidden=(6, 7))
    assert model.get_layer("hidden1").kernel.shape == (7, 6)  # [visual embedding 5, context 2]
    assert model.get_layer("hidden2").kernel.shape == (6, 7)
    assert list(fusion.multimodal_classifier(num_classes=3, inputs="context", context_dim=2, hidden=()).input) == [
        "context"]


@pytest.mark.parametrize("inputs", [("pixels",), (), ("visual", "visual"), ("visual", "text")])
def test_invalid_inputs_name_the_valid_choices(inputs):
    with pytest.raises(ValueError, match=r"\['visual', 'context'\]"):
        fusion.multimodal_classifier(num_classes=3, inputs=inputs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=1), "num_classes must be at least 2"),
    (dict(num_classes=3, hidden=1024), "hidden must be a list"),
    (dict(num_classes=3, hidden=(0,)), "every hidden size"),
    (dict(num_classes=3, dropout=1.0), r"dropout must be a rate in \[0, 1\)"),
    (dict(num_classes=3, context_dim=0), "context_dim must be a positive integer"),
])
def test_bad_keys_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fusion.multimodal_classifier(**kwargs)


def test_float32_probabilities_under_mixed_precision_and_save_load(tmp_path):
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = fusion.multimodal_classifier(num_classes=3, visual_dim=2, visual_embedding_dim=4, context_dim=1,
                                             hidden=(4,))
        assert keras.backend.standardize_dtype(model.get_layer("hidden1").compute_dtype) == "bfloat16"
        out = _np(model({"visual": VISUAL, "context": CONTEXT}))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model = _toy()
    path = str(tmp_path / "multimodal.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    batch = {"visual": VISUAL, "context": CONTEXT}
    np.testing.assert_allclose(_np(loaded(batch)), _np(model(batch)), rtol=1e-6)


JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe.models import fusion;"
    "m = fusion.multimodal_classifier(num_classes=3, visual_dim=4, visual_embedding_dim=5, context_dim=2, hidden=(6,));"
    "p = keras.ops.convert_to_numpy(m({'visual': np.ones((2, 4), np.float32), 'context': np.ones((2, 2), np.float32)}));"
    "assert keras.backend.backend() == 'jax' and p.shape == (2, 3) and np.allclose(p.sum(axis=1), 1, rtol=1e-5)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
