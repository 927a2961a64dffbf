"""The model registry: names, config validation, data keys; what tfpipe.models may import."""
from __future__ import annotations

import ast
import os

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
    model = models.build("char_cnn_small", **TINY, vocab_size=5000, max_words=64, dropout=0.25)
    assert model.name == "char_cnn_small"
    assert model.output.shape == (None, 3)
    # The keys given reach the layers; the small model's defaults fill the others.
    assert model.input.shape == (None, 150)  # l0
    assert model.get_layer("conv1").kernel.shape == (7, 5, 4)  # alphabet_size (one-hot channels), conv_features
    assert [model.get_layer(f"conv{i}").filters for i in range(1, 7)] == [4] * 6  # conv_features
    assert [model.get_layer(f"conv{i}").kernel_size for i in range(2, 7)] == [(7,), (3,), (3,), (3,), (3,)]
    assert model.get_layer("fc7").units == model.get_layer("fc8").units == 8  # fc_units
    assert model.get_layer("fc9").units == 3  # num_classes
    assert model.get_layer("dropout7").rate == model.get_layer("dropout8").rate == 0.25
    assert model.get_layer("fc7").kernel_initializer.stddev == 0.05  # init_std default of the small model


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
    toy_model = models.build("toy", num_classes=2, l0=1014, vocab_size=9)
    assert toy_model.input.shape == (None, 2) and toy_model.output.shape == (None, 2)
    assert models.build("toy", num_classes=4, width=5).input.shape == (None, 5)
    with pytest.raises(ValueError, match="valid keys: \\['num_classes', 'width'\\]"):
        models.build("toy", num_classes=2, depth=3)
    with pytest.raises(ValueError, match="already registered"):
        models.register("toy")(lambda *, num_classes: None)
    with pytest.raises(TypeError, match="keyword-only"):
        models.register("positional")(lambda num_classes: None)


def test_float_keys_written_in_e_notation_are_numbers():
    # YAML 1.1 reads "1e-4" as a string; float-annotated builder keys accept it.
    model = models.build("bow", num_classes=3, num_features=10, l2="1e-4")
    assert model.get_layer("logits").kernel_regularizer.l2 == pytest.approx(1e-4)
    with pytest.raises(ValueError, match=r"model key 'l2' must be a number, got 'lots'"):
        models.build("bow", num_classes=3, num_features=10, l2="lots")


def test_features_are_defined_once_in_the_data_package():
    from tfpipe.data import features

    assert models.FEATURES is features.FEATURES == features.STORED + features.BAGS


# --------------------------------------------------------------------------- import rules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Command-line and training modules, and Beam: tfpipe.models must reach none of them.
NOT_FROM_MODELS = (
    "tfpipe.train", "tfpipe.training", "tfpipe.tasks", "tfpipe.cli", "tfpipe.config", "tfpipe.evaluate",
    "tfpipe.export", "tfpipe.tune", "tfpipe.predict", "tfpipe.report", "tfpipe.neighbors", "beam_jobs",
    "apache_beam",
)


def _module_file(name: str) -> str | None:
    base = os.path.join(ROOT, *name.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.exists(path):
            return path
    return None


def _imports(name: str) -> set[str]:
    """Modules ``name`` imports anywhere in its source (function-level imports too), with their packages."""
    path = _module_file(name)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if _module_file(f"{base}.{alias.name}")}
    with_parents = set()
    for module in found:
        parts = module.split(".")
        with_parents |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return with_parents


def _closure(start: str) -> set[str]:
    """Every module ``start`` imports, directly or not (following this repository's modules only)."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if _module_file(name):
            todo.extend(_imports(name) - seen)
    return seen


def test_models_import_no_cli_training_or_beam_module():
    files = sorted(os.listdir(os.path.join(ROOT, "tfpipe", "models")))
    modules = ["tfpipe.models"] + [f"tfpipe.models.{f[:-3]}" for f in files
                                   if f.endswith(".py") and f != "__init__.py"]
    assert "tfpipe.models.heads" in modules
    for module in modules:
        reached = _closure(module)
        bad = sorted(m for m in reached if m.startswith(NOT_FROM_MODELS))
        assert not bad, (module, bad)
    assert "tfpipe.data.features" in _closure("tfpipe.models")


def test_data_features_imports_without_a_cycle_through_models():
    # tfpipe.models imports FEATURES from tfpipe.data.features; the other way round would be a cycle.
    reached = _closure("tfpipe.data.features")
    assert not any(m.startswith("tfpipe.models") for m in reached), sorted(reached)
