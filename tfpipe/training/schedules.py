"""Learning-rate schedules counted in epochs, and the callback that applies them.

The paper (Zhang et al. 2015, section 2.4) trains with SGD, momentum 0.9 and
an initial step size 0.01 "halved every 3 epochs for 10 times".  Here that is
``paper_step``: ``lr(e) = lr0 * factor ** min(e // every, times)`` for the
0-based epoch ``e``.  Schedules are pure functions of the epoch index so a
resumed run (whose first epoch index is the one it stopped at) continues with
exactly the rate it would have had.
"""
from __future__ import annotations

import math

import keras


def paper_step(epoch: int, base: float, *, every: int = 3, factor: float = 0.5, times: int = 10) -> float:
    """``base * factor ** min(epoch // every, times)``."""
    return base * factor ** min(epoch // every, times)


def cosine(epoch: int, base: float, *, epochs: int, lr_min: float = 0.0) -> float:
    """Half a cosine from ``base`` at epoch 0 to ``lr_min`` at epoch ``epochs - 1``."""
    if epochs <= 1:
        return base
    progress = min(epoch, epochs - 1) / (epochs - 1)
    return lr_min + 0.5 * (base - lr_min) * (1.0 + math.cos(math.pi * progress))


def learning_rate(epoch: int, train_cfg) -> float:
    """The learning rate of 0-based ``epoch`` under a ``TrainConfig``."""
    name = train_cfg.schedule
    base = train_cfg.learning_rate
    if name == "constant":
        return base
    if name == "paper_step":
        return paper_step(
            epoch, base, every=train_cfg.lr_decay_every, factor=train_cfg.lr_decay_factor,
            times=train_cfg.lr_decay_times,
        )
    if name == "cosine":
        return cosine(epoch, base, epochs=train_cfg.epochs, lr_min=train_cfg.lr_min)
    if name == "linear":
        raise ValueError("schedule 'linear' (word2vec's decay counted in words) is for skipgram; "
                         "classifiers take constant, paper_step or cosine")
    raise ValueError(f"unknown schedule {name!r}; valid schedules: constant, paper_step, cosine")


class EpochLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's rate at the start of each epoch; adds ``learning_rate`` to the epoch logs.

    The logged value is the rate the epoch trained with (Keras' own TensorBoard
    callback would read the optimizer after the epoch, i.e. possibly the next
    epoch's rate).
    """

    def __init__(self, train_cfg):
        super().__init__()
        self.train_cfg = train_cfg
        self.current: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = learning_rate(epoch, self.train_cfg)
        # LossScaleOptimizer forwards learning_rate to the wrapped optimizer.
        self.model.optimizer.learning_rate = self.current

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.current is not None:
            logs["learning_rate"] = self.current
