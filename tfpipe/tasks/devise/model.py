"""The devise task's Keras models, loss and optimizer (Frome et al. 2013, section 3.3, eq. 1)."""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe.tasks.devise.keys import SOFTMAX, model_key

def _keras():
    import keras

    return keras


def build_model(name: str, *, input_dim: int, num_classes: int, label_matrix: np.ndarray | None = None,
                visual_top: dict[str, Any] | None = None):
    """The Keras model of ``name``: ``features [B, input_dim]`` -> softmax probabilities
    (``devise_softmax``) or DeViSE scores ``T M v`` (``[B, C]`` with ``T = label_matrix``).

    ``visual_top`` (``{"model", "tap", "shape", "image_size"}``): the features are the flattened
    ``tap`` maps and the visual model's top (``tfpipe.models.vision.top``) turns them into ``v``
    before the head: DeViSE's stage 2."""
    keras = _keras()
    from tfpipe.models import heads

    inputs = keras.Input(shape=(int(input_dim),), name="features")
    v = inputs
    if visual_top is not None:
        from tfpipe.models import vision

        maps = keras.layers.Reshape(tuple(visual_top["shape"]), name="feature_map")(inputs)
        v = vision.top(visual_top["model"], tap=visual_top["tap"], image_size=visual_top["image_size"])(maps)
    if name == SOFTMAX:
        out = heads.apply("softmax", v, num_classes=int(num_classes))
        return keras.Model(inputs, out, name=name)
    if label_matrix is None:
        raise ValueError(f"model {name!r} needs its label matrix")
    table = np.asarray(label_matrix, np.float32)
    if table.shape[0] != num_classes:
        raise ValueError(f"{table.shape[0]} label vectors for {num_classes} classes")
    from tfpipe.layers import LabelScores

    projected = heads.apply("projection", v, dim=int(table.shape[1]), use_bias=False, name="projection")
    scores_layer = LabelScores(table.shape[0], table.shape[1], name="label_scores")
    out = scores_layer(projected)
    scores_layer.table.assign(table)
    return keras.Model(inputs, out, name=name)


def hinge_loss(num_labels: int, *, margin: float, form: str, seed: int):
    """Eq. 1 on the scores the model outputs: ``losses.DeViSEHingeRankLoss`` with the identity as
    the label table (the model's ``LabelScores`` already applied ``T``); ``attach`` it to the
    optimizer's step for exact resume."""
    from tfpipe import losses

    return losses.DeViSEHingeRankLoss(np.eye(num_labels, dtype=np.float32), margin=margin,
                                      truncated=form == "truncated", seed=seed)


def make_optimizer(cfg: config_lib.Config):
    keras = _keras()
    from tfpipe.training import optimizers

    t = cfg.train
    name = model_key(cfg, "optimizer")
    if name == "adagrad":
        if t.clipnorm is not None and t.global_clipnorm is not None:
            raise config_lib.ConfigError("set train.clipnorm or train.global_clipnorm, not both")
        return keras.optimizers.Adagrad(learning_rate=t.learning_rate, clipnorm=t.clipnorm,
                                        global_clipnorm=t.global_clipnorm, weight_decay=t.weight_decay or None)
    return optimizers.make_optimizer(dataclasses.replace(t, optimizer=name))


def projection_model(model):
    """The part of a DeViSE (or random-embeddings) model up to its ``projection`` layer: features
    in, the projected image ``M v`` out (what the label index is searched with)."""
    keras = _keras()

    return keras.Model(model.inputs, model.get_layer("projection").output)


def init_head(model, run_dir: str) -> list[str]:
    """Stage 2 starts from stage 1: the weights of every layer of ``run_dir``'s ``model.keras``
    that ``model`` has under the same name (the projection M, or the softmax layer), checked
    to have the same shapes; returns the layer names copied."""
    stage1 = load_model(run_dir)
    ours = {layer.name: layer for layer in model.layers}
    copied = []
    for layer in stage1.layers:
        if not layer.weights or layer.name not in ours or layer.name == "label_scores":
            continue
        target = ours[layer.name]
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [tuple(w.shape) for w in target.get_weights()]:
            raise config_lib.ConfigError(f"model.init_from={run_dir!r}: layer {layer.name!r} has shapes {shapes}, "
                                         f"this model {[tuple(w.shape) for w in target.get_weights()]} "
                                         "(the runs must rank the same candidates in the same label space)")
        target.set_weights(layer.get_weights())
        copied.append(layer.name)
    if not copied:
        raise config_lib.ConfigError(f"model.init_from={run_dir!r}: no layer of its model.keras matches this model")
    return copied


def load_model(model_dir: str):
    """The run's ``model.keras`` (features in, probabilities or label scores out)."""
    import keras

    import tfpipe.layers  # noqa: F401  (registers LabelScores for loading)
    import tfpipe.models.vision  # noqa: F401  (registers a stage-2 visual top's initializers)
    from tfpipe.training import runs

    return keras.saving.load_model(os.path.join(model_dir, runs.MODEL_FILE), compile=False)
