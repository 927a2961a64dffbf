"""The phrase_context task's three models, their training graphs and saved files.

``phrase_generator``: ``tfpipe.models.phrase_generator`` (features -> 64-d bottleneck ``x`` ->
``CosineSoftmax`` logits ``s * cos(x, w_c)``, eq. 1); its training graph adds
``losses.SampledCosineSoftmaxLoss`` on ``[x, phrase id]`` against the same ``w_c``.
``phrase_encoder``: ``tfpipe.models.phrase_encoder.phrase_tower`` applied to both phrases of a
pair, ``losses.InBatchSoftmaxLoss`` on the two embeddings (section 3.3's dual encoder).
``multimodal``: ``tfpipe.models.fusion.multimodal_classifier`` (section 3.5) with sparse
categorical cross-entropy.
"""
from __future__ import annotations

import os
from typing import Any

from tfpipe import config as config_lib
from tfpipe.tasks.phrase_context.keys import hidden_layers, model_inputs, model_key



def build_generator(cfg: config_lib.Config, *, feature_dim: int, num_phrases: int):
    """``(training model, phrase generator, bottleneck)``: the training model takes
    ``{"features", "phrase"}`` and adds the sampled-softmax loss; the other two share its weights."""
    import keras

    from tfpipe.losses import SampledCosineSoftmaxLoss
    from tfpipe.models.phrase_generator import BOTTLENECK, PHRASE_SOFTMAX, phrase_generator

    generator = phrase_generator(num_phrases=int(num_phrases), feature_dim=int(feature_dim),
                                 hidden=hidden_layers(cfg), dim=int(model_key(cfg, "dim")),
                                 dropout=float(model_key(cfg, "dropout")), scale=float(model_key(cfg, "scale")))
    bottleneck = generator.get_layer(BOTTLENECK)
    softmax = generator.get_layer(PHRASE_SOFTMAX)
    features = keras.Input(shape=(int(feature_dim),), name="features")
    phrase = keras.Input(shape=(), dtype="int64", name="phrase")
    losses = SampledCosineSoftmaxLoss(
        softmax, scale=float(model_key(cfg, "scale")), num_sampled=min(int(model_key(cfg, "num_sampled")),
                                                                        int(num_phrases)),
        distribution=model_key(cfg, "sampler"), subtract_log_q=bool(model_key(cfg, "subtract_log_q")),
        seed=int(cfg.train.seed), name="sampled_softmax")([bottleneck(features), phrase])
    train_model = keras.Model({"features": features, "phrase": phrase}, losses, name="phrase_generator_training")
    return train_model, generator, bottleneck


def build_encoder(cfg: config_lib.Config, *, vocabulary: list[str]):
    """``(training model, tower)``: ``tfpipe.models.phrase_encoder.dual_encoder`` (``{"first",
    "second"}`` phrase strings, the in-batch softmax loss added) and its one shared tower."""
    from tfpipe.models.phrase_encoder import TOWER, dual_encoder

    model = dual_encoder(vocabulary=list(vocabulary), dim=int(model_key(cfg, "dim")),
                         scale=float(model_key(cfg, "scale")), symmetric=bool(model_key(cfg, "symmetric")))
    return model, model.get_layer(TOWER)


def build_classifier(cfg: config_lib.Config, *, num_classes: int, visual_dim: int, context_dim: int):
    from tfpipe.models.fusion import multimodal_classifier

    return multimodal_classifier(num_classes=int(num_classes), inputs=model_inputs(cfg), visual_dim=int(visual_dim),
                                 visual_embedding_dim=int(model_key(cfg, "visual_embedding_dim")),
                                 context_dim=int(context_dim), hidden=hidden_layers(cfg),
                                 dropout=float(model_key(cfg, "dropout")))


def make_optimizer(cfg: config_lib.Config):
    from tfpipe.training import optimizers

    return optimizers.make_optimizer(cfg.train)


def load(run_dir: str, name: str) -> Any:
    """A model file saved with a run (``layout.GENERATOR_FILE`` ...), with the project's custom objects."""
    import importlib

    import keras

    for module in ("tfpipe.layers", "tfpipe.models.phrase_encoder", "tfpipe.models.phrase_generator"):
        importlib.import_module(module)  # registers the custom layers the saved models use

    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a finished phrase_context run?")
    return keras.models.load_model(path, compile=False)
