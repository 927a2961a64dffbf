"""``ConvHighway``: the convolutional highway layer of You et al. (2018), section 3.3, eqs. 7-8.

For frames ``x [B, T, C]`` the layer has two 1-D convolutions of ``C`` filters each, with
their own kernels and biases: the gate ``conv_g`` and the transform ``conv_h``.  Both have
kernel size ``k``, stride 1 and ``k - 1`` zero frames of left padding (the paper's "left zero
padding of size k-1"), so output ``t`` depends on inputs ``t - k + 1 .. t`` only and the output
has the input's length.  Then

    ``t = sigmoid(conv_g(x))``                                  (eq. 7)
    ``z = t * act(conv_h(x)) + (1 - t) * x``                    (eq. 8)

``act`` is the identity by default, as in eq. 8; ``activation`` makes it e.g. a ReLU (the
usual highway-network transform).  ``t`` is the transform gate and ``1 - t`` the carry gate,
which passes ``x`` through unchanged where ``t`` is 0.

Being causal, a stack of these layers never lets frames after position ``t`` (e.g. a text's
trailing padding) reach output ``t``; each layer widens the receptive field by ``k - 1`` frames.

Both convolutions are computed as one matrix product: the ``k`` shifted copies of the padded
frames side by side (``[B * T, k * C]``) times the two kernels reshaped and placed side by side
(``[k * C, 2 * C]``).  That is the same sum of products as the two convolutions (the kernels stay
the ``[k, C, C]`` variables ``keras.layers.Conv1D`` would hold), computed by one large GEMM
instead of two convolution calls, which CPU convolution kernels run far below the matmul rate.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class ConvHighway(keras.layers.Layer):
    """Frames ``[B, T, C]`` -> ``[B, T, C]``, eqs. 7-8 of You et al. (2018) (see the module docstring).

    Weights: ``gate_kernel`` and ``transform_kernel`` ``[kernel_size, C, C]`` (the kernel
    ``keras.layers.Conv1D`` would hold), ``gate_bias`` and ``transform_bias`` ``[C]``.  They
    are variables of the layer's variable dtype (float32 under a mixed policy) and are cast to
    the compute dtype in the call, where the gate and the mix are computed too.
    ``gate_bias_initializer`` sets the gate's bias (a negative constant starts the layer
    close to the carry path).  Written with ``keras.ops`` only.
    """

    def __init__(self, kernel_size: int = 3, activation=None, gate_bias_initializer="zeros",
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1:
            raise ValueError(f"kernel_size must be positive, got {kernel_size}")
        self.kernel_size = int(kernel_size)
        self.activation = keras.activations.get(activation)
        self.gate_bias_initializer = keras.initializers.get(gate_bias_initializer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"ConvHighway takes [B, T, C] frames with a known C, got shape {tuple(input_shape)}")
        channels = int(input_shape[-1])
        shape = (self.kernel_size, channels, channels)
        self.gate_kernel = self.add_weight(name="gate_kernel", shape=shape, initializer=self.kernel_initializer)
        self.gate_bias = self.add_weight(name="gate_bias", shape=(channels,), initializer=self.gate_bias_initializer)
        self.transform_kernel = self.add_weight(name="transform_kernel", shape=shape,
                                                initializer=self.kernel_initializer)
        self.transform_bias = self.add_weight(name="transform_bias", shape=(channels,),
                                              initializer=self.bias_initializer)

    def _gate_and_transform(self, x):
        """``conv_g(x)`` and ``conv_h(x)`` (causal, bias added) as one matrix product (module docstring)."""
        k = self.kernel_size
        channels = self.gate_kernel.shape[1]
        # k - 1 zero frames before the first one: output t sees inputs t-k+1..t.
        padded = ops.pad(x, [[0, 0], [k - 1, 0], [0, 0]]) if k > 1 else x
        steps = ops.shape(x)[1]
        frames = ops.concatenate([padded[:, j:j + steps] for j in range(k)], axis=-1) if k > 1 else x
        kernel = ops.concatenate([ops.reshape(self.gate_kernel, (k * channels, channels)),
                                  ops.reshape(self.transform_kernel, (k * channels, channels))], axis=1)
        bias = ops.concatenate([self.gate_bias, self.transform_bias])
        out = ops.matmul(frames, ops.cast(kernel, self.compute_dtype)) + ops.cast(bias, self.compute_dtype)
        return out[..., :channels], out[..., channels:]

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        gate_logits, transform = self._gate_and_transform(x)
        gate = ops.sigmoid(gate_logits)  # eq. 7
        if self.activation is not None:
            transform = self.activation(transform)
        return gate * transform + (ops.cast(1, gate.dtype) - gate) * x  # eq. 8

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "activation": keras.activations.serialize(self.activation),
            "gate_bias_initializer": keras.initializers.serialize(self.gate_bias_initializer),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
