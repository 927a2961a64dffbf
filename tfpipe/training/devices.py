"""Mixed precision and ``tf.distribute`` strategy chosen from the config.

``mixed_precision: auto`` picks ``mixed_float16`` when every visible GPU has
compute capability >= 7.0 (Volta and later, with float16 tensor cores) and
``float32`` otherwise, which includes every CPU-only machine.  The policy is
set globally *before* a model is built; models keep their softmax in float32.
With ``mixed_float16``, ``Model.compile`` wraps the optimizer in Keras'
``LossScaleOptimizer`` (dynamic loss scaling, so small float16 gradients do
not flush to zero) by itself; ``tests/test_schedules.py`` pins that behaviour.
"""
from __future__ import annotations

import os

import keras
import tensorflow as tf

MIN_FLOAT16_CAPABILITY = (7, 0)


def gpu_compute_capabilities() -> list[tuple[int, int] | None]:
    """Compute capability of each visible GPU (None where TensorFlow does not report one)."""
    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            cap = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        except (ValueError, tf.errors.OpError):
            cap = None
        caps.append(tuple(cap) if cap else None)
    return caps


def resolve_precision(name: str) -> str:
    """The Keras dtype policy name for a config value (``auto`` resolved for this machine)."""
    if name != "auto":
        return name
    caps = gpu_compute_capabilities()
    if caps and all(c is not None and c >= MIN_FLOAT16_CAPABILITY for c in caps):
        return "mixed_float16"
    return "float32"


def set_precision(policy: str) -> None:
    """Sets the Keras global dtype policy (call before building the model)."""
    keras.config.set_dtype_policy(policy)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for a config value: auto | default | one_device | mirrored."""
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; valid strategies: auto, default, one_device, mirrored")


def describe_devices() -> dict:
    """Visible devices, for the run record."""
    return {
        "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
        "gpu_compute_capabilities": [list(c) if c else None for c in gpu_compute_capabilities()],
        "cpu_cores": os.cpu_count(),
    }
