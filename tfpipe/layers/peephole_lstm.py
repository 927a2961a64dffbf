"""``PeepholeLSTMCell``: the "vanilla" LSTM of Greff et al. (2017), with peephole connections.

Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, "LSTM: a search space
odyssey" (section 2), after Graves & Schmidhuber (2005).  For input ``x_t``
and the previous output ``y`` and cell state ``c``:

    z_t = tanh(W_z x_t + R_z y + b_z)                  block input
    i_t = sigmoid(W_i x_t + R_i y + p_i * c + b_i)     input gate
    f_t = sigmoid(W_f x_t + R_f y + p_f * c + b_f)     forget gate
    c_t = z_t * i_t + c * f_t                           cell state
    o_t = sigmoid(W_o x_t + R_o y + p_o * c_t + b_o)   output gate (peeps at the new state)
    y_t = tanh(c_t) * o_t                               output

``*`` is element-wise; the peephole weights ``p_i, p_f, p_o`` are vectors
(diagonal connections).  Without them this is Keras' ``LSTM``.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class PeepholeLSTMCell(keras.layers.Layer):
    """One step of the peephole LSTM above, for ``keras.layers.RNN``.

    Weights: ``kernel`` ``[input_dim, 4 units]`` (the ``W``), ``recurrent_kernel``
    ``[units, 4 units]`` (the ``R``), ``bias`` ``[4 units]``, gates in the order
    input, forget, block input, output (Keras' ``LSTM`` order), and
    ``peephole_input``, ``peephole_forget``, ``peephole_output`` ``[units]``.
    Initialization follows Keras' ``LSTM``: Glorot-uniform kernel, orthogonal
    recurrent kernel, zero bias except 1 for the forget gate
    (``unit_forget_bias``); the peepholes use the kernel's initializer (as
    TensorFlow's former ``PeepholeLSTMCell``; neither paper specifies).
    States: ``[y, c]``.  Written with ``keras.ops`` only.
    """

    def __init__(
        self,
        units: int,
        *,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"units must be positive, got {units}")
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        u = self.units
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * u), initializer=self.kernel_initializer, name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(u, 4 * u), initializer=self.recurrent_initializer, name="recurrent_kernel"
        )
        forget_one = self.unit_forget_bias

        def bias_init(shape, dtype=None):
            bias = ops.zeros(shape, dtype=dtype)
            if forget_one:
                bias = ops.concatenate(
                    [ops.zeros((u,), dtype), ops.ones((u,), dtype), ops.zeros((2 * u,), dtype)]
                )
            return bias

        self.bias = self.add_weight(shape=(4 * u,), initializer=bias_init, name="bias")
        self.peephole_input, self.peephole_forget, self.peephole_output = (
            self.add_weight(shape=(u,), initializer=self.kernel_initializer, name=f"peephole_{gate}")
            for gate in ("input", "forget", "output")
        )

    def call(self, inputs, states, training=False):
        y, c = states[0], states[1]
        pre = ops.matmul(inputs, self.kernel) + ops.matmul(y, self.recurrent_kernel) + self.bias
        pre_i, pre_f, pre_z, pre_o = ops.split(pre, 4, axis=-1)
        i = ops.sigmoid(pre_i + self.peephole_input * c)
        f = ops.sigmoid(pre_f + self.peephole_forget * c)
        z = ops.tanh(pre_z)
        c_new = z * i + c * f
        o = ops.sigmoid(pre_o + self.peephole_output * c_new)
        y_new = ops.tanh(c_new) * o
        return y_new, [y_new, c_new]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(2)]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "unit_forget_bias": self.unit_forget_bias,
        }
