"""The model registry: names, config validation, data keys."""
from __future__ import annotations

import pytest

from tfpipe import models

TINY = dict(num_classes=3, l0=150, alphabet_size=5, conv_features=4, fc_units=8)


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(models, "_BUILDERS", dict(models._BUILDERS))
    monkeypatch.setattr(models, "_FEATURES", dict(models._FEATURES))


def test_names():
    assert {"char_cnn_small", "char_cnn_large"} <= set(models.names())
    assert models.names() == sorted(models.names())
    assert models.DATA_KEYS == (
        "num_classes", "l0", "alphabet_size", "vocab_size", "max_words", "vocab", "num_features")


def test_every_model_declares_its_input_feature():
    table4 = {
        "bow": "bow", "bow_tfidf": "bow_tfidf", "ngrams": "ngrams", "ngrams_tfidf": "ngrams_tfidf",
        "bag_of_means": "bag_of_means", "word_lstm": "word_ids", "word_cnn_lk_small": "word_ids",
        "word_cnn_lk_large": "word_ids", "word_cnn_w2v_small": "word_ids",
        "word_cnn_w2v_large": "word_ids", "char_cnn_small": "chars", "char_cnn_large": "chars",
    }
    assert {name: models.feature_of(name) for name in table4} == table4
    for name in models.names():
        assert models.feature_of(name) in models.FEATURES
    with pytest.raises(ValueError, match=r"unknown model 'nope'"):
        models.feature_of("nope")
    with pytest.raises(ValueError, match=r"valid features: \['chars', 'word_ids'"):
        models.register("x", feature="pixels")


def test_build_drops_data_keys_the_model_does_not_take():
    model = models.build("char_cnn_small", **TINY, vocab_size=5000, max_words=64)
    assert model.name == "char_cnn_small"
    assert model.output.shape == (None, 3)


def test_unknown_model_lists_the_names():
    with pytest.raises(ValueError, match="registered models: .*char_cnn_large.*char_cnn_small"):
        models.build("char_cnn_medium", num_classes=4)


def test_unknown_key_lists_the_valid_keys():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['filters'\].*valid keys: .*conv_features"):
        models.build("char_cnn_small", **TINY, filters=3)


def test_missing_required_key():
    with pytest.raises(ValueError, match="needs \\['num_classes'\\]"):
        models.build("char_cnn_small", l0=150)


def test_config_keys():
    keys = models.config_keys("char_cnn_small")
    assert keys[:3] == ["num_classes", "l0", "alphabet_size"]
    assert {"dropout", "init_std", "conv_features", "fc_units", "kernel_sizes", "pool_sizes"} <= set(keys)
    user_keys = models.config_keys("char_cnn_small", include_data_keys=False)
    assert not set(user_keys) & set(models.DATA_KEYS) and "dropout" in user_keys
    assert models.required_keys("char_cnn_large") == ["num_classes"]
    with pytest.raises(ValueError, match="registered models"):
        models.config_keys("nope")


def test_register_rules(scratch_registry):
    @models.register("toy")
    def toy(*, num_classes: int, width: int = 2):
        import keras

        inputs = keras.Input(shape=(width,))
        return keras.Model(inputs, keras.layers.Dense(num_classes)(inputs))

    assert "toy" in models.names()
    assert models.build("toy", num_classes=2, l0=1014, vocab_size=9).output.shape == (None, 2)
    with pytest.raises(ValueError, match="valid keys: \\['num_classes', 'width'\\]"):
        models.build("toy", num_classes=2, depth=3)
    with pytest.raises(ValueError, match="already registered"):
        models.register("toy")(lambda *, num_classes: None)
    with pytest.raises(TypeError, match="keyword-only"):
        models.register("positional")(lambda num_classes: None)


def test_float_keys_written_in_e_notation_are_numbers():
    # YAML 1.1 reads "1e-4" as a string; float-annotated builder keys accept it.
    model = models.build("bow", num_classes=3, num_features=10, l2="1e-4")
    assert model.get_layer(index=-2) is not None
    with pytest.raises(ValueError, match=r"model key 'l2' must be a number, got 'lots'"):
        models.build("bow", num_classes=3, num_features=10, l2="lots")
