"""The joint_embedding task's Keras models, SJE loss and optimizer (Reed et al. 2016, eqs. 1-2).

The compatibility is ``F(v, t) = theta(v)^T phi(t)`` (eq. 2) with ``theta(v) = v``, the frozen
pooled image feature (the authors' ``-image_noop 1``), so every text encoder ``phi`` ends in the
image feature's dimension: its own last linear layer (the CNN and CNN-RNN encoders) or a
projection head (``tfpipe.models.heads.projection``: the LSTMs, BoW, word2vec, attributes).

The training model takes ``{"features", <the encoder's inputs>}`` (one image and one text per
class of the batch) and outputs ``[theta(v) | phi(t)]`` (``[B, 2 D]`` float32), which
:class:`SJELoss` splits; ``text_model`` is the encoder alone (what evaluation and serving run).
Every weight starts uniform in ``+-model.init_range`` (the code's ``params:uniform(-0.08,
0.08)`` over all parameters, biases included), except fixed word vectors.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from tfpipe import config as config_lib
from tfpipe.tasks.joint_embedding.keys import encoder_of, model_key

TEXT_MODEL_FILE = "text_encoder.keras"


def _keras():
    import keras

    return keras


def encoder_kwargs(cfg: config_lib.Config, *, dim: int, vocab: list[str] | None, vectors: str | None,
                   vector_dim: int | None, num_attributes: int | None) -> dict[str, Any]:
    """The registered encoder's keyword arguments for this run (its own keys only, then
    ``model.encoder_options``)."""
    from tfpipe.models import encoders
    from tfpipe.text.tokenize import vocab_size

    enc = encoder_of(cfg)
    offered: dict[str, Any] = {
        "dim": int(dim), "l0": int(model_key(cfg, "l0")), "init_range": float(model_key(cfg, "init_range")),
        "max_words": int(model_key(cfg, "max_words")), "first_layer": model_key(cfg, "first_layer"),
        "input_length": int(model_key(cfg, "bag_words" if enc.vectors else "max_words")),
    }
    if vocab is not None:
        offered.update(vocab_size=vocab_size(len(vocab)), num_features=len(vocab))
    if enc.vectors:
        offered.update(vocab=list(vocab or []), embeddings=vectors, embedding_dim=int(vector_dim))
    if num_attributes is not None:
        offered["num_attributes"] = int(num_attributes)
    accepted = set(encoders.config_keys(enc.registered))
    kwargs = {k: v for k, v in offered.items() if k in accepted}
    options = dict(model_key(cfg, "encoder_options"))
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise config_lib.ConfigError(f"model.encoder_options {unknown} are not keys of encoder {enc.registered!r}; "
                                     f"its keys: {', '.join(sorted(accepted))}")
    return {**kwargs, **options}


def build_text_model(cfg: config_lib.Config, **kwargs):
    """``phi``: the encoder's inputs -> ``[B, dim]`` float32 (``encoder_kwargs`` gives ``kwargs``' meaning)."""
    keras = _keras()
    from tfpipe.models import encoders, heads

    enc = encoder_of(cfg)
    encoding = encoders.encode(enc.registered, **encoder_kwargs(cfg, **kwargs))
    emb = encoding.embedding
    if enc.own_dim:
        emb = keras.layers.Activation("linear", dtype="float32", name="text_embedding")(emb)
    else:
        emb = heads.apply("projection", emb, dim=int(kwargs["dim"]), use_bias=True, name="text_embedding")
    return encoding.model(emb, name="text_encoder")


def load_text_model(run_dir: str):
    """The trained ``phi`` saved with a run (``text_encoder.keras``), with the project's layers."""
    import os

    import tfpipe.layers  # noqa: F401  (registers the custom layers)
    import tfpipe.models.cnn_rnn  # noqa: F401  (and the encoders' own)

    return _keras().saving.load_model(os.path.join(run_dir, TEXT_MODEL_FILE))


def uniform_init(model, init_range: float, seed: int) -> None:
    """Every trainable weight of ``model`` drawn uniform in ``+-init_range`` (the authors' code),
    in a fixed order from ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.uniform(-init_range, init_range, size=tuple(w.shape)).astype(w.dtype))


def build_model(cfg: config_lib.Config, text_model, *, dim: int):
    """The training model: ``{"features", <text inputs>}`` -> ``[v | phi(t)]`` ``[B, 2 dim]``."""
    keras = _keras()

    features = keras.Input(shape=(int(dim),), name="features")
    inputs = {name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name)
              for name, t in _named_inputs(text_model).items()}
    phi = text_model(inputs if len(inputs) > 1 else next(iter(inputs.values())))
    v = keras.layers.Activation("linear", dtype="float32", name="image_embedding")(features)
    out = keras.layers.Concatenate(axis=-1, dtype="float32", name="pair")([v, phi])
    return keras.Model({"features": features, **inputs}, out, name=f"sje_{model_key(cfg, 'encoder')}")


def _named_inputs(model) -> dict[str, Any]:
    inputs = model.inputs if isinstance(model.inputs, (list, tuple)) else [model.inputs]
    return {t.name.split(":")[0]: t for t in inputs}


def text_inputs_of(model) -> list[str]:
    """The names of a text model's inputs (what ``texts.encode`` must provide)."""
    return list(_named_inputs(model))


class SJELoss:
    """Eq. 1's surrogate on the model's ``[v | phi]`` output: ``losses.sje_loss`` (``code``) or
    ``losses.sje_max_loss`` (``max``), DS-SJE (``symmetric``) or DA-SJE (the image direction)."""

    def __new__(cls, dim: int, *, symmetric: bool, form: str):
        keras = _keras()
        from tfpipe import losses

        class _SJE(keras.losses.Loss):
            def call(self, y_true, y_pred):
                v, t = y_pred[:, :dim], y_pred[:, dim:]
                if form == "code":
                    return losses.sje_loss(v, t, symmetric=symmetric)
                return losses.sje_max_loss(v, t, symmetric=symmetric)

        return _SJE(name=f"{'ds' if symmetric else 'da'}_sje_{form}")


def make_optimizer(cfg: config_lib.Config):
    """RMSprop as torch's ``optim.rmsprop`` in the code: ``train.learning_rate`` (7e-4),
    ``model.rho`` (0.99), ``model.epsilon`` (1e-8), no momentum."""
    keras = _keras()
    t = cfg.train
    return keras.optimizers.RMSprop(learning_rate=t.learning_rate, rho=float(model_key(cfg, "rho")),
                                    epsilon=float(model_key(cfg, "epsilon")), momentum=0.0,
                                    clipnorm=t.clipnorm, global_clipnorm=t.global_clipnorm)


def schedule(cfg: config_lib.Config):
    """The ``TrainConfig`` ``schedules.EpochLearningRate`` reads: ``lr0 * lr_decay ** epoch``."""
    return dataclasses.replace(cfg.train, schedule="paper_step", lr_decay_every=1,
                               lr_decay_factor=float(model_key(cfg, "lr_decay")), lr_decay_times=10 ** 6)
