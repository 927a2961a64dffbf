"""Mixed precision and ``tf.distribute`` strategy chosen from the config.

``mixed_precision: auto`` picks

* ``mixed_float16`` when every visible GPU has compute capability >= 7.0 (Volta and later,
  with float16 tensor cores);
* ``mixed_bfloat16`` on a CPU-only machine whose CPU does bfloat16 arithmetic natively
  (the Linux ``/proc/cpuinfo`` flags ``avx512_bf16`` or ``amx_bf16``, see :func:`cpu_flags`);
* ``float32`` otherwise (GPUs below 7.0, CPUs without those flags, no ``/proc/cpuinfo``).

An explicit ``mixed_bfloat16`` on a CPU-only machine without them still runs, with a warning:
TensorFlow then emulates bfloat16 in software, which is much slower than float32.  The policy
is set globally *before* a model is built; models keep their softmax in float32 and the losses
of :mod:`tfpipe.losses` compute in float32.  With ``mixed_float16``, ``Model.compile`` wraps
the optimizer in Keras' ``LossScaleOptimizer`` (dynamic loss scaling, so small float16
gradients do not flush to zero) by itself; ``tests/test_schedules.py`` pins that behaviour.
(bfloat16 has float32's exponent range and needs no loss scaling.)

TensorFlow is imported inside the functions that need it, so the CPU checks are cheap to import.
"""
from __future__ import annotations

import contextlib
import os
import warnings

from tfpipe import cpu as _cpu
from tfpipe.config import PRECISIONS
from tfpipe.cpu import parse_cpu_flags  # noqa: F401  (re-exported)

MIN_FLOAT16_CAPABILITY = (7, 0)
CPUINFO = _cpu.CPUINFO  # tests point this at their own text
# Either flag means the CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX-BF16).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class EmulatedBfloat16Warning(UserWarning):
    """``mixed_bfloat16`` asked for on a CPU without native bfloat16 arithmetic."""


def gpu_compute_capabilities() -> list[tuple[int, int] | None]:
    """Compute capability of each visible GPU (None where TensorFlow does not report one)."""
    import tensorflow as tf

    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            cap = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        except (ValueError, tf.errors.OpError):
            cap = None
        caps.append(tuple(cap) if cap else None)
    return caps


def cpu_flags() -> frozenset[str]:
    """This machine's CPU flags, read from :data:`CPUINFO` (:func:`tfpipe.cpu.cpu_flags`)."""
    return _cpu.cpu_flags(CPUINFO)


def cpu_has_native_bf16() -> bool:
    """Whether this machine's CPU has any of :data:`NATIVE_BF16_FLAGS`."""
    return not cpu_flags().isdisjoint(NATIVE_BF16_FLAGS)


def resolve_precision(name: str) -> str:
    """The Keras dtype policy name for a config value (``auto`` resolved for this machine).

    Raises ``ValueError`` naming the valid choices for an unknown name; warns
    (:class:`EmulatedBfloat16Warning`) for ``mixed_bfloat16`` on a CPU-only machine without
    native bfloat16."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown mixed precision {name!r}; valid choices: {', '.join(PRECISIONS)}")
    if name == "auto":
        caps = gpu_compute_capabilities()
        if caps:
            if all(c is not None and c >= MIN_FLOAT16_CAPABILITY for c in caps):
                return "mixed_float16"
            return "float32"
        return "mixed_bfloat16" if cpu_has_native_bf16() else "float32"
    if name == "mixed_bfloat16" and not gpu_compute_capabilities() and not cpu_has_native_bf16():
        warnings.warn(
            "train.mixed_precision=mixed_bfloat16 on a CPU without native bfloat16 "
            f"({' or '.join(NATIVE_BF16_FLAGS)} not in {CPUINFO}): TensorFlow emulates bfloat16 "
            "in software here, which is much slower than float32 (11x on an AVX2-only machine); "
            "use train.mixed_precision=auto or float32",
            EmulatedBfloat16Warning,
            stacklevel=2,
        )
    return name


def set_precision(policy: str) -> None:
    """Sets the Keras global dtype policy (call before building the model)."""
    import keras

    keras.config.set_dtype_policy(policy)


@contextlib.contextmanager
def precision_scope(policy: str):
    """The Keras global dtype policy is ``policy`` inside the block; the previous one is restored
    after it, also when the block raises (models built inside keep ``policy``)."""
    import keras

    previous = keras.config.dtype_policy()
    set_precision(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_strategy(name: str):
    """The ``tf.distribute.Strategy`` for a config value: auto | default | one_device | mirrored."""
    import tensorflow as tf

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
    """Visible devices and whether the CPU has native bfloat16, for the run record."""
    import tensorflow as tf

    return {
        "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
        "gpu_compute_capabilities": [list(c) if c else None for c in gpu_compute_capabilities()],
        "cpu_cores": os.cpu_count(),
        "cpu_native_bf16": cpu_has_native_bf16(),
    }
