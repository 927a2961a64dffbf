"""word_vectors.DivergenceGuard counts training steps, not callback calls (steps_per_execution > 1)."""
from __future__ import annotations

import math
import types

from tfpipe.tasks.word_vectors import DivergenceGuard


def _guard(every=20):
    guard = DivergenceGuard(limit=10.0, every=every)
    guard.set_model(types.SimpleNamespace(stop_training=False))
    return guard


def test_one_call_per_step_checks_every_every_steps():
    guard = _guard()
    guard.on_epoch_begin(0)
    for batch in range(19):
        guard.on_train_batch_end(batch, {"loss": math.inf})
    assert guard.diverged is None  # 19 steps: not checked yet
    guard.on_train_batch_end(19, {"loss": math.inf})
    assert guard.diverged[0] == 20 and guard.model.stop_training


def test_one_call_per_execution_counts_the_steps_it_ran():
    # steps_per_execution 16: Keras calls on_train_batch_end with batch = 15, 31, ...
    guard = _guard()
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(15, {"loss": 1.0})
    assert guard.diverged is None  # 16 steps
    guard.on_train_batch_end(31, {"loss": 50.0})  # 32 steps: crossed step 20, checked
    assert guard.diverged == (32, 50.0)


def test_steps_continue_across_epochs():
    guard = _guard(every=10)
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(7, {"loss": 1.0})  # epoch of 8 steps
    guard.on_epoch_end(0, {"loss": 1.0})
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(3, {"loss": 99.0})  # step 12 of the run
    assert guard.diverged == (12, 99.0)
