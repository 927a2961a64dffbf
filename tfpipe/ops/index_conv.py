"""The fused index convolution (``index_conv.cc``, ops ``IndexConv1d`` and ``IndexConv1dGrad``).

The C++ form of :class:`tfpipe.layers.IndexConv1D`'s sum of kernel rows
(``out[b, t] = bias + sum_j W[j, ids[b, t + j] - 1]``) and of its gradient (each upstream
row added into the ``k`` kernel rows its window picked), for TensorFlow on the CPU.  The
``keras.ops`` form builds that gradient from gathers and scatter-adds of ``[B, L, filters]``
tensors; the op adds rows in place, in cache.  :func:`index_conv1d` is differentiable in the
kernel and the bias (``tf.custom_gradient``).  Built on first use (:mod:`tfpipe.ops.build`).
"""
from __future__ import annotations

import os

from tfpipe.ops.build import KernelUnavailable, OpLibrary

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "index_conv.cc")
LIBRARY = OpLibrary(SOURCE, "the fused index convolution")
DTYPES = ("float32", "bfloat16")  # compute dtypes the op takes
__all__ = ["DTYPES", "KernelUnavailable", "LIBRARY", "SOURCE", "index_conv1d", "unusable_reason"]


def unusable_reason(compute_dtype: str) -> str | None:
    """Why the op cannot run a layer of ``compute_dtype`` here (None when it can): it is a
    TensorFlow CPU op, so the Keras backend must be TensorFlow, no GPU may be visible (the layer
    would then run on it), the dtype must be one of :data:`DTYPES`, and the op must build."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return f"the Keras backend is {keras.backend.backend()}, and the op is a TensorFlow CPU op"
    if compute_dtype not in DTYPES:
        return f"the compute dtype is {compute_dtype}; the op takes {', '.join(DTYPES)}"
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return "a GPU is visible, and the op is a CPU op"
    try:
        LIBRARY.load()
    except KernelUnavailable as e:
        return f"it is not available here: {e}"
    return None


def index_conv1d(ids, kernel, bias, dtype: str):
    """``[B, L]`` int32 ids, float32 ``kernel [k, V, F]`` and ``bias [F]`` -> ``[B, L - k + 1, F]``
    of ``dtype``, with the gradient of ``kernel`` and ``bias`` (float32) from ``IndexConv1dGrad``."""
    import tensorflow as tf

    module = LIBRARY.load()
    ids = tf.cast(ids, tf.int32)
    kernel_size, vocab_size = int(kernel.shape[0]), int(kernel.shape[1])

    @tf.custom_gradient
    def conv(kernel, bias):
        out = module.index_conv1d(ids, kernel, bias, T=tf.as_dtype(dtype))

        def grad(upstream):
            return module.index_conv1d_grad(ids, upstream, kernel_size=kernel_size, vocab_size=vocab_size)

        return out, grad

    return conv(tf.cast(kernel, tf.float32), tf.cast(bias, tf.float32))
