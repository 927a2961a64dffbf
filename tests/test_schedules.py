"""Learning-rate schedules at hand-computed epochs, and their application by the callback."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tfpipe import config
from tfpipe.training import devices, schedules


def _train(**overrides):
    return config.from_dict({"train": overrides}).train


def test_paper_schedule_halves_every_three_epochs_ten_times():
    t = _train()  # the defaults are the paper's: 0.01, halved every 3 epochs, 10 times
    expected = {0: 0.01, 1: 0.01, 2: 0.01, 3: 0.005, 5: 0.005, 6: 0.0025, 9: 0.00125,
                27: 0.01 / 512, 29: 0.01 / 512, 30: 0.01 / 1024, 33: 0.01 / 1024, 100: 0.01 / 1024}
    for epoch, lr in expected.items():
        assert schedules.learning_rate(epoch, t) == pytest.approx(lr, rel=1e-12), epoch


def test_paper_step_parameters():
    t = _train(learning_rate=0.1, lr_decay_every=2, lr_decay_factor=0.1, lr_decay_times=2)
    assert [schedules.learning_rate(e, t) for e in range(7)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001]
    )


def test_constant_and_cosine():
    t = _train(schedule="constant", learning_rate=0.003)
    assert {schedules.learning_rate(e, t) for e in range(50)} == {0.003}
    t = _train(schedule="cosine", learning_rate=1.0, lr_min=0.0, epochs=5)
    # epoch e of 5: 0.5 * (1 + cos(pi * e / 4))
    assert [schedules.learning_rate(e, t) for e in range(5)] == pytest.approx(
        [1.0, 0.5 + 0.5 * np.cos(np.pi / 4), 0.5, 0.5 - 0.5 * np.cos(np.pi / 4), 0.0]
    )
    t = _train(schedule="cosine", learning_rate=0.01, lr_min=0.001, epochs=3)
    assert [schedules.learning_rate(e, t) for e in range(3)] == pytest.approx([0.01, 0.0055, 0.001])


def _tiny_model():
    x = keras.Input([3])
    return keras.Model(x, keras.layers.Dense(2, activation="softmax")(x))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_callback_sets_rate_per_epoch_and_logs_it(policy):
    """The rate is set at the start of each (absolute) epoch, also through a LossScaleOptimizer.

    Under mixed_float16, compile itself wraps the optimizer for dynamic loss scaling (the
    trainer relies on that).
    """
    devices.set_precision(policy)
    try:
        model = _tiny_model()
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    finally:
        devices.set_precision("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    t = _train(lr_decay_every=1)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x = np.zeros([4, 3], np.float32)
    y = np.zeros([4], np.int64)
    history = model.fit(x, y, batch_size=4, epochs=4, initial_epoch=1, verbose=0,
                        callbacks=[schedules.EpochLearningRate(t), Record()])
    assert seen == pytest.approx([0.005, 0.0025, 0.00125])  # epochs 1, 2, 3
    assert history.history["learning_rate"] == pytest.approx([0.005, 0.0025, 0.00125])
