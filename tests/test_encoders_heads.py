"""Text encoders and heads: every Table 4 classifier of Zhang et al. (2015) is encoder + softmax head.

For each model: the parameter count at the paper's shapes, counted by hand;
the encoder's embedding size; the registered model equals encoder + softmax
head built separately (same count, same weights, bit-identical outputs for
the same seed); and a projection head (Reed et al. 2016, DeViSE) gives
``[B, D]``, of unit norm when normalised.
"""
from __future__ import annotations

import ast
import inspect

import keras
import numpy as np
import pytest

from tests.test_pretrained import W2V_VECTORS, W2V_WORDS, word2vec_file, write_word2vec_text  # noqa: F401
from tfpipe import models
from tfpipe.models import char_cnn, encoders, heads, registry, word_cnn

VOCAB = ["the", "paris", "berlin", "zzz"] + [""] * 6  # ids 2..11: vocab_size 12
CHAR = dict(num_classes=3, l0=150, alphabet_size=5, conv_features=4, fc_units=8)  # 2 frames after the convs
WORD = dict(num_classes=3, vocab_size=12, max_words=150, embedding_dim=4, conv_features=4, fc_units=8)
LSTM = dict(num_classes=3, vocab_size=12, embedding_dim=4, units=5, input_length=7)
BAG = dict(num_classes=3, num_features=10, init="glorot_uniform")  # random weights, so outputs differ
TABLE4 = (
    "char_cnn_small", "char_cnn_large", "word_cnn_lk_small", "word_cnn_lk_large", "word_cnn_w2v_small",
    "word_cnn_w2v_large", "word_lstm", "bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means",
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _tiny(name: str, w2v: str) -> tuple[dict, str, dict]:
    """(model config, encoder name, encoder config) of a tiny ``name``."""
    if name.startswith("char_cnn"):
        return CHAR, name, CHAR
    if name.startswith("word_cnn_lk"):
        return WORD, name, WORD
    if name.startswith("word_cnn_w2v"):
        config = {**WORD, "vocab": VOCAB, "embeddings": w2v}
        return config, name, config
    if name == "word_lstm":
        return LSTM, name, LSTM
    extra = {"embeddings": "vectors.bin"} if name == "bag_of_means" else {}
    return {**BAG, **extra}, "bag", {"num_features": BAG["num_features"]}


def _softmax_head(name: str, config: dict, input_dim: int) -> keras.Model:
    """The softmax head each classifier ends with, built on its own."""
    if name.startswith(("char_cnn", "word_cnn")):  # fc9, N(0, init_std) like the rest of the ConvNet
        init_std = (char_cnn.SMALL if name.endswith("small") else char_cnn.LARGE)["init_std"]
        return heads.build_head("softmax", input_dim=input_dim, num_classes=config["num_classes"],
                                kernel_initializer=char_cnn.gaussian(init_std), name="fc9")
    if name == "word_lstm":
        return heads.build_head("softmax", input_dim=input_dim, num_classes=config["num_classes"], name="logits")
    return heads.build_head("softmax", input_dim=input_dim, bag=True, num_classes=config["num_classes"],
                            kernel_initializer=config["init"], name="logits")


def _input(name: str, batch: int = 4):
    rng = np.random.default_rng(7)
    if name.startswith("char_cnn"):
        return rng.integers(0, 6, size=(batch, 150), dtype=np.uint8)
    if name.startswith("word_cnn"):
        return rng.integers(0, 12, size=(batch, 150)).astype(np.int64)
    if name in ("word_lstm", "word_mean"):
        x = rng.integers(1, 12, size=(batch, 7)).astype(np.int64)
        x[1, 3:] = 0  # padding
        return x
    return {"feature_ids": rng.integers(0, 11, size=(batch, 5)).astype(np.int32),
            "feature_values": rng.uniform(0.1, 2.0, size=(batch, 5)).astype(np.float32)}


# --------------------------------------------------------------------------- paper shapes, by hand

# Char-CNN, l0 = 1014, alphabet 70, 4 classes; six convolutions leave (1014 - 96) / 27 = 34 frames.
# Small: 256 features, 1024 units.
#   conv1 7*70*256 + 256 = 125,696      conv2 7*256*256 + 256 = 459,008
#   conv3..6 4 * (3*256*256 + 256) = 787,456
#   fc7 34*256*1024 + 1024 = 8,913,920  fc8 1024*1024 + 1024 = 1,049,600   -> encoder 11,335,680
#   fc9 1024*4 + 4 = 4,100                                                 -> model 11,339,780
# Large: 1024 features, 2048 units.
#   conv1 7*70*1024 + 1024 = 502,784    conv2 7*1024*1024 + 1024 = 7,341,056
#   conv3..6 4 * (3*1024*1024 + 1024) = 12,587,008
#   fc7 34*1024*2048 + 2048 = 71,305,216  fc8 2048*2048 + 2048 = 4,196,352  -> encoder 95,932,416
#   fc9 2048*4 + 4 = 8,196                                                  -> model 95,940,612
# Word ConvNets, 50,000 words (vocab_size 50,002 with padding and OOV), 300-d, max_words 256:
# (256 - 96) // 27 = 5 frames.
#   embedding 50,002*300 = 15,000,600
#   small: conv1 7*300*256 + 256 = 537,856, conv2..6 as above 459,008 + 787,456,
#          fc7 5*256*1024 + 1024 = 1,311,744, fc8 1,049,600              -> encoder 19,146,264
#          fc9 4,100                                                      -> model 19,150,364
#   large: conv1 7*300*1024 + 1024 = 2,151,424, conv2..6 7,341,056 + 12,587,008,
#          fc7 5*1024*2048 + 2048 = 10,487,808, fc8 4,196,352            -> encoder 51,764,248
#          fc9 8,196                                                      -> model 51,772,444
#   "w2v." has the same table (static by default: 15,000,600 non-trainable weights).
# Word LSTM, 512 units, peepholes: embedding 15,000,600,
#   lstm 4*(300*512 + 512*512 + 512) + 3*512 = 1,666,560                 -> encoder 16,667,160
#   logits 512*4 + 4 = 2,052                                              -> model 16,669,212
# Bag models (logistic regression; SparseLinear keeps an unused padding row 0; the encoder has no
# weights): BoW 50,000 words (50,001*4 + 4 = 200,008), n-grams 500,000 (500,001*4 + 4 = 2,000,008),
# bag-of-means 5,000 means (5,001*4 + 4 = 20,008).
PAPER = {
    "char_cnn_small": (dict(num_classes=4), 1024, 11_335_680, 11_339_780),
    "char_cnn_large": (dict(num_classes=4), 2048, 95_932_416, 95_940_612),
    "word_cnn_lk_small": (dict(num_classes=4, vocab_size=50_002, max_words=256), 1024, 19_146_264, 19_150_364),
    "word_cnn_lk_large": (dict(num_classes=4, vocab_size=50_002, max_words=256), 2048, 51_764_248, 51_772_444),
    "word_cnn_w2v_small": (dict(num_classes=4, vocab_size=50_002, max_words=256), 1024, 19_146_264, 19_150_364),
    "word_cnn_w2v_large": (dict(num_classes=4, vocab_size=50_002, max_words=256), 2048, 51_764_248, 51_772_444),
    "word_lstm": (dict(num_classes=4, vocab_size=50_002, input_length=256), 512, 16_667_160, 16_669_212),
    "bow": (dict(num_classes=4, num_features=50_000), 50_000, 0, 200_008),
    "bow_tfidf": (dict(num_classes=4, num_features=50_000), 50_000, 0, 200_008),
    "ngrams": (dict(num_classes=4, num_features=500_000), 500_000, 0, 2_000_008),
    "ngrams_tfidf": (dict(num_classes=4, num_features=500_000), 500_000, 0, 2_000_008),
    "bag_of_means": (dict(num_classes=4, num_features=5_000, embeddings="vectors.bin"), 5_000, 0, 20_008),
}
assert set(PAPER) == set(TABLE4)
LARGE = ("char_cnn_large", "word_cnn_lk_large", "word_cnn_w2v_large")


@pytest.fixture(scope="module")
def paper_word2vec(tmp_path_factory) -> tuple[list[str], str]:
    """50,000 vocabulary words and a 300-d word2vec file holding three of them."""
    vocab = [f"w{i}" for i in range(50_000)]
    vectors = np.random.default_rng(0).normal(size=(3, 300)).astype(np.float32)
    path = write_word2vec_text(tmp_path_factory.mktemp("w2v") / "paper.w2v.txt", vocab[:3], vectors)
    return vocab, path


def _paper_config(name: str, paper_word2vec) -> dict:
    config = dict(PAPER[name][0])
    if "w2v" in name:
        config.update(vocab=paper_word2vec[0], embeddings=paper_word2vec[1])
    return config


def _check_paper_shapes(name: str, paper_word2vec) -> None:
    config, dim, encoder_params, model_params = _paper_config(name, paper_word2vec), *PAPER[name][1:]
    model = models.build(name, **config)
    assert model.count_params() == model_params
    if "w2v" in name:
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        assert trainable == model_params - 50_002 * 300
    del model
    if "w2v" in name:  # the encoder has the "Lk." encoder's shapes (checked there)
        return
    encoder_name = _tiny(name, "")[1]
    encoder_config = {"num_features": config["num_features"]} if encoder_name == "bag" else config
    encoder = encoders.build_encoder(encoder_name, **encoder_config)
    assert encoder.count_params() == encoder_params
    if encoder_name == "bag":
        assert encoders.encode("bag", **encoder_config).dim == dim
        assert [t.name for t in encoder.inputs] == ["feature_ids", "feature_values"]
    else:
        assert encoder.output.shape == (None, dim)


@pytest.mark.parametrize("name", [n for n in TABLE4 if n not in LARGE])
def test_paper_parameter_counts(name, paper_word2vec, capsys):
    _check_paper_shapes(name, paper_word2vec)


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_paper_parameter_counts_large(name, paper_word2vec, capsys):
    """The large ConvNets at the paper's size (52M-96M weights, about 10 s each on 2 cores);
    fast counterpart: test_large_variants_at_reduced_width."""
    _check_paper_shapes(name, paper_word2vec)


def test_large_variants_at_reduced_width():
    # The large ConvNets' paper convolutions (1024 features), fc_units cut to 16, 4 classes:
    # char: conv1 502,784 + conv2 7,341,056 + conv3..6 12,587,008 = 20,430,848;
    #       fc7 34*1024*16 + 16 = 557,072; fc8 16*16 + 16 = 272 -> encoder 20,988,192; fc9 16*4 + 4 = 68.
    char = models.build("char_cnn_large", num_classes=4, fc_units=16)
    assert char.count_params() == 20_988_192 + 68 and char.get_layer("dropout8").output.shape == (None, 16)
    # word (vocab 1,000, 300-d, 256 words: 5 frames): embedding 300,000, conv1 2,151,424,
    # conv2..6 19,928,064, fc7 5*1024*16 + 16 = 81,936, fc8 272 -> encoder 22,461,696.
    word = encoders.build_encoder("word_cnn_lk_large", vocab_size=1_000, max_words=256, fc_units=16)
    assert word.count_params() == 22_461_696 and word.output.shape == (None, 16)


# --------------------------------------------------------------------------- encoder + head == model


@pytest.mark.parametrize("name", TABLE4)
def test_registered_model_is_encoder_plus_softmax_head(name, word2vec_file, capsys):
    model_config, encoder_name, encoder_config = _tiny(name, word2vec_file)
    keras.utils.set_random_seed(3)
    model = models.build(name, **model_config)
    keras.utils.set_random_seed(3)
    encoder = encoders.build_encoder(encoder_name, **encoder_config)
    dim = encoder_config["num_features"] if encoder_name == "bag" else encoder.output.shape[-1]
    head = _softmax_head(name, model_config, dim)  # after the encoder: the random draws come in model order
    composed = keras.Model(encoder.input, head(encoder.output))

    assert composed.count_params() == model.count_params() == encoder.count_params() + head.count_params()
    assert [w.shape for w in composed.weights] == [w.shape for w in model.weights]
    for a, b in zip(composed.weights, model.weights):
        assert np.array_equal(_np(a), _np(b)), (a.path, b.path)
    x = _input(name)
    expected = _np(model(x))
    assert expected.shape == (4, 3)
    assert np.array_equal(_np(composed(x)), expected)
    # The model's own layers are the encoder's then the head's, under their old names.
    head_layers = [layer.name for layer in head.layers if layer.weights or layer.name == "softmax"]
    assert [layer.name for layer in model.layers][-2:] == head_layers


def test_encoder_embeddings_and_layer_names(word2vec_file, capsys):
    for name in ("char_cnn_small", "char_cnn_large", "word_cnn_lk_small", "word_cnn_w2v_large"):
        config = _tiny(name, word2vec_file)[2]
        encoder = encoders.build_encoder(name, **config)
        assert encoder.name == f"{name}_encoder"
        assert encoder.output.shape == (None, 8)  # fc_units
        assert [layer.name for layer in encoder.layers][-5:] == ["flatten", "fc7", "dropout7", "fc8", "dropout8"]
        assert encoder.get_layer("dropout8").rate == 0.5
    lstm = encoders.build_encoder("word_lstm", **LSTM)
    assert lstm.output.shape == (None, 5) and lstm.layers[-1].name == "mean"
    bag = encoders.build_encoder("bag", num_features=10)
    x = _input("bow")
    out = bag(x)
    assert lstm.count_params() > 0 and bag.count_params() == 0
    np.testing.assert_array_equal(_np(out["feature_ids"]), x["feature_ids"])  # the sparse vector itself


def test_one_builder_per_architecture():
    wrapped = {name: models._builder(name).__wrapped_builder__ for name in TABLE4[:6]}
    assert {wrapped["char_cnn_small"], wrapped["char_cnn_large"]} == {char_cnn.char_cnn}
    assert {wrapped[n] for n in TABLE4[2:6]} == {word_cnn.word_cnn}
    assert {encoders._encoder(n).__wrapped_builder__ for n in TABLE4[2:6]} == {word_cnn.word_cnn_encoder}
    assert char_cnn.char_cnn_small is models._builder("char_cnn_small")
    # The model keys are the encoder's plus num_classes, in the same order.
    for name in TABLE4[:7]:
        assert models.config_keys(name) == ["num_classes"] + encoders.config_keys(name), name
        assert encoders.features_of(name) == (models.feature_of(name),)
    for name in TABLE4[7:]:
        assert models.feature_of(name) in encoders.features_of("bag")


# --------------------------------------------------------------------------- projection head


@pytest.mark.parametrize("name", ["char_cnn_small", "word_cnn_lk_large", "word_lstm", "word_mean", "bag"])
@pytest.mark.parametrize("normalize", [False, True])
def test_projection_head_maps_into_the_joint_space(name, normalize):
    config = {"word_mean": dict(vocab_size=12, embedding_dim=4), "bag": dict(num_features=10)}.get(
        name, _tiny(name, "")[2])
    if "cnn" in name:  # weights large enough that the tiny ConvNets' ReLU embeddings are not ~0
        config = {**config, "init_std": 0.5}
    keras.utils.set_random_seed(0)
    encoding = encoders.encode(name, **config)
    joint = heads.apply("projection", encoding.embedding, dim=6, normalize=normalize)
    model = encoding.model(joint, name=f"{name}_joint")
    x = _input("bow" if name == "bag" else name)
    out = _np(model(x))
    assert out.shape == (4, 6) and out.dtype == np.float32
    norms = np.linalg.norm(out, axis=1)
    if normalize:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        assert model.layers[-1].name == "projection_l2"
    else:
        assert not np.allclose(norms, 1.0, atol=1e-3)
    # The projection's weights: a dim x D matrix and a bias (a bag's SparseLinear keeps a padding row).
    rows = encoding.dim + (1 if name == "bag" else 0)
    assert model.get_layer("projection").count_params() == rows * 6 + 6


def test_projection_head_on_its_own():
    head = heads.build_head("projection", input_dim=5, dim=3, normalize=True, use_bias=False)
    assert head.count_params() == 5 * 3  # DeViSE's M: no bias
    assert head.get_layer("projection").use_bias is False
    out = _np(head(np.arange(10, dtype=np.float32).reshape(2, 5)))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    kernel = _np(head.get_layer("projection").kernel)
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    np.testing.assert_allclose(out, (x @ kernel) / np.linalg.norm(x @ kernel, axis=1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match="always has a bias"):
        heads.build_head("projection", input_dim=5, bag=True, dim=3, use_bias=False)
    with pytest.raises(ValueError, match="dim must be positive"):
        heads.build_head("projection", input_dim=5, dim=0)


def test_projection_output_is_float32_under_mixed_bfloat16_and_saves(tmp_path):
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        encoding = encoders.encode("char_cnn_small", **CHAR)
        model = encoding.model(heads.projection(encoding.embedding, dim=4, normalize=True), name="joint")
        assert model.get_layer("projection").compute_dtype == "bfloat16"
        x = _input("char_cnn_small")
        out = model(x)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)
    path = str(tmp_path / "joint.keras")
    model.save(path)
    np.testing.assert_allclose(_np(keras.models.load_model(path)(x)), _np(model(x)), rtol=1e-6)


# --------------------------------------------------------------------------- word_mean


def test_word_mean_is_the_mean_of_the_word2vec_rows(word2vec_file, capsys):
    vocab = ["the", "paris", "berlin"] + [""] * 7
    encoder = encoders.build_encoder("word_mean", vocab_size=12, embedding_dim=4, vocab=vocab,
                                     embeddings=word2vec_file)
    layer = encoder.get_layer("embedding")
    assert not layer.trainable  # Reed et al.: word2vec vectors, not re-trained
    ids = np.array([[2, 3, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0]])
    the, paris, berlin = (W2V_VECTORS[W2V_WORDS.index(w)] for w in ("the", "paris", "Berlin"))
    np.testing.assert_allclose(_np(encoder(ids)), [(the + paris) / 2, berlin, np.zeros(4)], rtol=1e-6)
    learned = encoders.build_encoder("word_mean", vocab_size=12, embedding_dim=4)
    assert learned.get_layer("embedding").trainable and learned.count_params() == 12 * 4
    assert encoders.build_encoder("word_mean", vocab_size=12, embedding_dim=4, vocab=vocab,
                                  embeddings=word2vec_file, train_embeddings=True).get_layer("embedding").trainable


# --------------------------------------------------------------------------- registries


def test_registries_list_encoders_and_heads():
    assert encoders.names() == sorted([
        "attributes", "bag", "char_cnn_doc", "char_cnn_large", "char_cnn_rnn", "char_cnn_small", "char_lstm",
        "cse_text", "word_cnn_doc", "word_cnn_lk_large", "word_cnn_lk_small", "word_cnn_rnn", "word_cnn_w2v_large",
        "word_cnn_w2v_small", "word_lstm", "word_mean"])
    assert heads.names() == ["projection", "softmax"]
    assert encoders.features_of("bag") == ("bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means")
    assert encoders.required_keys("word_cnn_w2v_small") == ["vocab_size", "max_words", "vocab", "embeddings"]
    assert encoders.config_keys("word_lstm", include_data_keys=False) == [
        "input_length", "embeddings", "embedding_dim", "units", "peepholes", "train_embeddings"]
    assert heads.config_keys("softmax") == ["num_classes", "kernel_initializer", "kernel_regularizer", "name"]
    assert heads.required_keys("projection") == ["dim"]


def test_registry_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match=r"unknown encoder 'nope'; registered encoders: \['attributes', 'bag'"):
        encoders.build_encoder("nope")
    with pytest.raises(ValueError, match=r"unknown head 'nope'; registered heads: \['projection', 'softmax'\]"):
        heads.build_head("nope", input_dim=3)
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['filters'\] for encoder 'char_cnn_small'"):
        encoders.build_encoder("char_cnn_small", **CHAR, filters=3)
    with pytest.raises(ValueError, match=r"encoder 'word_cnn_lk_small' needs \['vocab_size', 'max_words'\]"):
        encoders.build_encoder("word_cnn_lk_small")
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['units'\] for head 'softmax'"):
        heads.build_head("softmax", input_dim=3, num_classes=2, units=4)
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        heads.build_head("softmax", input_dim=3, num_classes=1)
    with pytest.raises(ValueError, match="features"):
        encoders.register("x", features=("pixels",))
    with pytest.raises(TypeError, match="keyword-only"):
        heads.register("two_positional")(lambda embedding, dim: None)
    # Data keys an encoder does not take are dropped (num_classes, alphabet_size, ...), as for models.
    assert encoders.build_encoder("word_lstm", **LSTM, l0=1014, num_features=3).output.shape == (None, 5)


def test_variant_rules():
    def base(*, name: str, size: int, vocab: list | None = None, rate: float = 0.5):
        return name, size, vocab, rate

    small = registry.variant(base, "small", defaults={"size": 2, "vocab": registry.REQUIRED},
                             fixed={"name": "small"}, doc="Small.")
    assert registry.keys(small) == ["size", "vocab", "rate"] and registry.required(small) == ["vocab"]
    assert str(inspect.signature(small).parameters["vocab"].annotation) == "list"
    assert small(vocab=["a"]) == ("small", 2, ["a"], 0.5) and small.__doc__ == "Small."
    assert registry.call(small, {"vocab": [], "rate": "1e-1"}, kind="model", name="small") == ("small", 2, [], 0.1)
    with pytest.raises(TypeError, match="no such key"):
        registry.variant(base, "bad", defaults={"depth": 3}, doc="")


def test_encoder_and_head_code_is_backend_neutral():
    from tfpipe.models import word_mean

    for module in (encoders, heads, registry, word_mean):
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
    "import numpy as np, keras; from tfpipe.models import encoders, heads;"
    "e = encoders.encode('word_mean', vocab_size=12, embedding_dim=4);"
    "m = e.model(heads.projection(e.embedding, dim=3, normalize=True), name='joint');"
    "p = keras.ops.convert_to_numpy(m(np.array([[3, 7, 5, 0], [2, 0, 0, 0]])));"
    "assert keras.backend.backend() == 'jax' and p.shape == (2, 3);"
    "assert np.allclose(np.linalg.norm(p, axis=1), 1, rtol=1e-5)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
