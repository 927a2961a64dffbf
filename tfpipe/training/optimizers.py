"""Optimizers named in the config (``train.optimizer``)."""
from __future__ import annotations

import keras


def make_optimizer(train_cfg) -> keras.optimizers.Optimizer:
    """The optimizer for a ``TrainConfig`` at its initial learning rate.

    ``sgd`` and ``rmsprop`` use ``train.momentum`` (the paper: SGD, momentum
    0.9); ``adam``/``adamw`` ignore it.  ``weight_decay`` is Keras' decoupled
    weight decay; ``clipnorm`` clips each gradient's L2 norm, ``global_clipnorm`` the
    joint norm of all gradients (Zhang et al.'s LSTM: 5).
    """
    t = train_cfg
    if t.clipnorm is not None and t.global_clipnorm is not None:
        raise ValueError("set train.clipnorm or train.global_clipnorm, not both")
    common = {"learning_rate": t.learning_rate, "clipnorm": t.clipnorm,
              "global_clipnorm": t.global_clipnorm}
    if t.optimizer != "adamw":
        common["weight_decay"] = t.weight_decay or None
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=t.momentum, **common)
    if t.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=t.weight_decay, **common)
    if t.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(momentum=t.momentum, **common)
    raise ValueError(f"unknown optimizer {t.optimizer!r}; valid optimizers: sgd, adam, adamw, rmsprop")
