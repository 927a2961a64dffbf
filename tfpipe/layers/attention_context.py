"""``AttentionContext``: the context vector of You et al. (2018), section 3.2, eqs. 2-4.

One modality's local features ``l [B, R, F]`` (``R`` image regions, the ``h x w`` positions of
a convolutional map after the reshape ``T``, or ``R`` words of a text) are mapped linearly into
the joint space of dimension ``d`` and weighted by their relevance to the OTHER modality's
global vector ``q [B, d]`` (the sentence embedding ``s`` for the visual context ``c_v``, the
image embedding ``v`` for the textual context ``c_s``):

    ``l' = l W + b``             ``W [F, d]``, ``b [d]``          (eq. 2)
    ``alpha = softmax_R(l' q)``  one weight per local feature     (eq. 3)
    ``c = sum_r alpha_r l'_r``   the context ``[B, d]``             (eq. 4)

An optional mask ``[B, R]`` (1 or true = real, 0 = padding, e.g. a text's padding words)
leaves positions out of the softmax: their weight is exactly 0, so their values do not matter.
A row with no real position has all weights 0 and a zero context.  The paper's intermediate
objective (eq. 5) compares ``c_v`` with ``s`` and ``c_s`` with ``v``.
"""
from __future__ import annotations

import keras
from keras import ops

_FLOAT32_LOWEST = -3.4028234663852886e38


@keras.saving.register_keras_serializable(package="tfpipe")
class AttentionContext(keras.layers.Layer):
    """``[local [B, R, F], query [B, dim]]`` -> context ``[B, dim]`` (eqs. 2-4, the module docstring).

    * ``call([local, query], mask=None, return_weights=False)``: the context ``c``, or
      ``(c, alpha)`` with ``return_weights=True`` (``alpha [B, R]`` float32, the eq. 3
      weights).  ``mask`` is ``[B, R]``; a mask propagated by Keras arrives as the list of the
      inputs' masks, of which the local features' one is used.
    * :meth:`project` ``(local)``: ``l'`` ``[B, R, dim]`` (eq. 2), e.g. to score every
      image-sentence pair with :meth:`attend` without projecting each pair again.
    * :meth:`attend` ``(projected, query, mask=None)``: eqs. 3-4 on ``l'``; ``query`` may also
      be ``[B, Q, dim]`` (``Q`` queries per item: ``c [B, Q, dim]``, ``alpha [B, Q, R]``).

    ``dim=None``: the local features arrive already mapped (``l'``, by a dense layer of their own
    tower, so that a tower alone yields what evaluation scores); the layer is then eqs. 3-4 and has
    no weights.  Otherwise ``W`` (``kernel [F, dim]``) and ``b`` (``bias [dim]``) are variables of the variable dtype
    and are cast to the compute dtype; eq. 3's softmax is computed in float32.
    """

    def __init__(self, dim: int | None, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if dim is not None and int(dim) < 1:
            raise ValueError(f"dim must be positive (or None: the local features arrive mapped), got {dim}")
        self.dim = None if dim is None else int(dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not isinstance(
                input_shape[0], (list, tuple)):
            raise ValueError(f"AttentionContext takes [local, query], got input shape {input_shape}")
        local_shape, query_shape = (tuple(s) for s in input_shape)
        self._build_kernel(local_shape)
        dim = self.dim if self.dim is not None else local_shape[-1]
        if len(query_shape) != 2 or (query_shape[-1] is not None and int(query_shape[-1]) != dim):
            raise ValueError(f"the query must be [B, {dim}], got shape {query_shape}")

    def _build_kernel(self, local_shape):
        if len(local_shape) != 3 or local_shape[-1] is None:
            raise ValueError(f"the local features must be [B, R, F] with a known F, got shape {local_shape}")
        if self.dim is None:  # eq. 2 happened upstream (a tower's own dense layer): no weights here
            self.built = True
            return
        self.kernel = self.add_weight(name="kernel", shape=(int(local_shape[-1]), self.dim),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.dim,), initializer=self.bias_initializer)
        self.built = True

    def project(self, local):
        """``l' = l W + b`` (eq. 2): ``[B, R, F]`` -> ``[B, R, dim]`` in the compute dtype."""
        if not self.built:
            self._build_kernel(tuple(local.shape))
        local = ops.cast(local, self.compute_dtype)
        if self.dim is None:
            return local
        return ops.matmul(local, ops.cast(self.kernel, self.compute_dtype)) + ops.cast(self.bias, self.compute_dtype)

    def attend(self, projected, query, mask=None):
        """Eqs. 3-4 on projected local features ``l' [B, R, dim]``: ``(c, alpha)``.

        ``query [B, dim]`` gives ``c [B, dim]`` and ``alpha [B, R]``; ``query [B, Q, dim]`` gives
        ``c [B, Q, dim]`` and ``alpha [B, Q, R]``.  ``mask [B, R]`` excludes padding positions
        (weight 0).  ``alpha`` is float32, ``c`` has ``projected`` 's dtype.
        """
        single = len(query.shape) == 2
        query = ops.cast(query, projected.dtype)
        if single:
            query = ops.expand_dims(query, 1)  # [B, 1, dim]
        scores = ops.cast(ops.einsum("brd,bqd->bqr", projected, query), "float32")  # l' q, [B, Q, R]
        if mask is not None:
            real = ops.expand_dims(ops.cast(mask, "bool"), 1)  # [B, 1, R]
            scores = ops.where(real, scores, ops.full_like(scores, _FLOAT32_LOWEST))
        alpha = ops.softmax(scores, axis=-1)  # eq. 3
        if mask is not None:  # exactly 0 for padding, and for every position of an all-padding row
            alpha = alpha * ops.cast(real, "float32")
        context = ops.einsum("bqr,brd->bqd", ops.cast(alpha, projected.dtype), projected)  # eq. 4
        if single:
            context, alpha = ops.squeeze(context, 1), ops.squeeze(alpha, 1)
        return context, alpha

    def call(self, inputs, mask=None, return_weights=False):
        local, query = inputs
        if isinstance(mask, (list, tuple)):  # Keras' propagated masks: one per input
            mask = mask[0]
        context, alpha = self.attend(self.project(local), query, mask=mask)
        return (context, alpha) if return_weights else context

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
