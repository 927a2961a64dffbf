"""``IndexConv1D``: a 1-D convolution over one-hot frames, computed as a gather of kernel rows.

A 'valid', stride-1 convolution of one-hot frames (Torch's ``TemporalConvolution`` over a
one-hot text, e.g. Reed et al. (2016)'s word CNN over the vocabulary) multiplies each kernel
tap by a vector with a single 1: it picks one row of the tap.  So, for ids ``[B, L]``,

    ``out[b, t] = bias + sum_{j < k} W[j, ids[b, t + j] - 1]``

(``W [k, vocab_size, filters]``, the very kernel ``keras.layers.Conv1D`` would hold for
``vocab_size`` input channels), with the ids of :class:`tfpipe.layers.OneHot`: id ``i`` in
``1..vocab_size`` is one-hot position ``i - 1``, and id 0 (and any id outside ``1..vocab_size``)
is the all-zero row, which adds nothing.  That is ``OneHot(vocab_size)`` followed by
``Conv1D(filters, kernel_size, padding="valid")`` with the same kernel and bias, without forming
the ``[B, L, vocab_size]`` one-hot tensor or multiplying by its zeros.

For a small vocabulary (``(vocab_size + 1)^2 <=`` :data:`PAIR_TABLE_MAX_ROWS`: the character
alphabets) taps are taken two at a time from the table of their sums,
``P[a * (vocab_size + 1) + b] = W'[j, a] + W'[j + 1, b]`` (``W'``: the kernel with the zero row
in front), so a kernel of 7 taps is 4 gathers and 3 additions of ``[B, L - k + 1, filters]``
instead of 7 and 6; the backward pass then scatters into 4 tables.  The same terms are summed
(in another order); a word vocabulary takes one tap at a time.  That is the ``keras.ops`` form,
which runs on any backend; in training on TensorFlow's CPU the layer calls the fused C++ op of
:mod:`tfpipe.ops.index_conv` instead (the class docstring).

:func:`one_hot_conv1d` builds a model's first layer either way (``first_layer``: ``"gather"``,
this layer, ``"gather_keras"``, this layer in ``keras.ops`` only, or ``"one_hot"``, the frames
and a ``Conv1D``): the same layer name and the same
kernel ``[k, vocab_size, filters]`` and bias ``[filters]``, so weights move between the two
(``get_weights`` / ``set_weights``: the one-hot layer has none; Keras' ``.weights.h5`` names a
layer's entry by its class, so such a file loads only into the form that wrote it).
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

GATHER, GATHER_KERAS, ONE_HOT = "gather", "gather_keras", "one_hot"
FIRST_LAYERS = (GATHER, GATHER_KERAS, ONE_HOT)  # how a first layer over one-hot frames is computed
AUTO, FUSED, KERAS = "auto", "fused", "keras"
IMPLEMENTATIONS = (AUTO, FUSED, KERAS)  # how IndexConv1D computes its sum in training
PAIR_TABLE_MAX_ROWS = 1 << 14  # taps are gathered in pairs when (vocab_size + 1)^2 rows fit (characters)


@keras.saving.register_keras_serializable(package="tfpipe")
class IndexConv1D(keras.layers.Layer):
    """Integer ids ``[B, L]`` -> ``[B, L - kernel_size + 1, filters]`` (see the module docstring).

    The kernel ``[kernel_size, vocab_size, filters]`` and bias ``[filters]`` are variables of the
    layer's variable dtype (float32 under a mixed policy) and are cast to the compute dtype in
    the call.  ``activation`` is applied after the bias.

    ``implementation`` says how a training call computes the sum: ``"keras"``, with
    ``keras.ops`` on any backend (the inference calls always do); ``"fused"``, with the C++ op
    of :mod:`tfpipe.ops.index_conv` (TensorFlow on the CPU, float32 or bfloat16; an error
    where it cannot run); ``"auto"``, fused where it can run, else keras.  Both compute the
    module docstring's sum (in another order, and in float32 before a bfloat16 output is
    rounded), so a model trained one way evaluates and exports the other way, without the op.
    The op has no XLA kernel: a train step compiled with ``jit_compile=True`` needs ``"keras"``.
    """

    def __init__(self, vocab_size: int, filters: int, kernel_size: int, activation=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", implementation: str = AUTO,
                 **kwargs):
        super().__init__(**kwargs)
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation={implementation!r}; valid choices: {', '.join(IMPLEMENTATIONS)}")
        self.implementation = implementation
        self.fused_note: str | None = None  # why the fused op is not used, once a training call decided
        for key, value in (("vocab_size", vocab_size), ("filters", filters), ("kernel_size", kernel_size)):
            if int(value) < 1:
                raise ValueError(f"{key} must be positive, got {value}")
        self.vocab_size = int(vocab_size)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        length = input_shape[-1]
        if length is not None and int(length) < self.kernel_size:
            raise ValueError(f"inputs of {length} steps are shorter than the kernel ({self.kernel_size})")
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, self.vocab_size, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)

    def _fused(self) -> bool:
        """Whether training calls use the fused op (decided once; raises for ``fused`` when it cannot)."""
        if self.implementation == KERAS:
            return False
        if self.fused_note is None:
            from tfpipe.ops import index_conv as fused_ops

            self.fused_note = fused_ops.unusable_reason(self.compute_dtype) or ""
        if self.fused_note and self.implementation == FUSED:
            raise ValueError(f"{self.name}: implementation='fused' cannot run: {self.fused_note}")
        return not self.fused_note

    def call(self, ids, training=None):
        if training and self._fused():
            from tfpipe.ops import index_conv as fused_ops

            out = fused_ops.index_conv1d(ids, self.kernel, self.bias, self.compute_dtype)
            return self.activation(out) if self.activation is not None else out
        ids = ops.cast(ids, "int32")
        # Row 0 of the padded kernel is the all-zero one-hot row: ids outside 1..vocab_size go there.
        ids = ops.where(ops.logical_and(ids >= 1, ids <= self.vocab_size), ids, ops.zeros_like(ids))
        rows = self.vocab_size + 1
        kernel = ops.cast(self.kernel, self.compute_dtype)
        kernel = ops.concatenate([ops.zeros((self.kernel_size, 1, self.filters), dtype=kernel.dtype), kernel], axis=1)
        steps = ops.shape(ids)[1] - self.kernel_size + 1
        pairs = rows * rows <= PAIR_TABLE_MAX_ROWS
        out, j = None, 0
        while j < self.kernel_size:
            if pairs and j + 1 < self.kernel_size:
                # Taps j and j + 1 as one table: row a * rows + b is W[j, a - 1] + W[j + 1, b - 1].
                table = ops.reshape(ops.expand_dims(kernel[j], 1) + ops.expand_dims(kernel[j + 1], 0),
                                    (rows * rows, self.filters))
                index = ids[:, j:j + steps] * rows + ids[:, j + 1:j + 1 + steps]
                j += 2
            else:
                table, index = kernel[j], ids[:, j:j + steps]
                j += 1
            tap = ops.take(table, index, axis=0)  # [B, steps, filters]
            out = tap if out is None else out + tap
        out = out + ops.cast(self.bias, self.compute_dtype)
        return self.activation(out) if self.activation is not None else out

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        steps = None if length is None else int(length) - self.kernel_size + 1
        return (input_shape[0], steps, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "implementation": self.implementation,
        }


def check_first_layer(first_layer: str) -> str:
    """``first_layer`` if it is one of :data:`FIRST_LAYERS`, else ``ValueError`` naming them."""
    if first_layer not in FIRST_LAYERS:
        raise ValueError(f"first_layer={first_layer!r}; valid choices: {', '.join(FIRST_LAYERS)}")
    return first_layer


def one_hot_conv1d(ids: Any, *, first_layer: str = GATHER, vocab_size: int, filters: int, kernel_size: int,
                   activation=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                   name: str) -> Any:
    """``Conv1D(filters, kernel_size, 'valid')`` of ``OneHot(vocab_size)(ids)``, named ``name``:
    ``[B, L] -> [B, L - kernel_size + 1, filters]``.

    ``first_layer="gather"``: one :class:`IndexConv1D` (the module docstring's sum of kernel
    rows; in training the fused op where it runs, ``implementation="auto"``); ``"gather_keras"``:
    the same layer computed with ``keras.ops`` only; ``"one_hot"``: a
    :class:`tfpipe.layers.OneHot` layer named ``one_hot`` and a ``keras.layers.Conv1D``.  All
    hold the kernel ``[kernel_size, vocab_size, filters]`` and the bias ``[filters]`` and compute
    the same function of them.
    """
    from tfpipe.layers.onehot import OneHot

    if check_first_layer(first_layer) in (GATHER, GATHER_KERAS):
        return IndexConv1D(vocab_size, filters, kernel_size, activation=activation,
                           kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                           implementation=AUTO if first_layer == GATHER else KERAS, name=name)(ids)
    frames = OneHot(int(vocab_size), name="one_hot")(ids)
    return keras.layers.Conv1D(filters, kernel_size, strides=1, padding="valid", activation=activation,
                               kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                               name=name)(frames)
