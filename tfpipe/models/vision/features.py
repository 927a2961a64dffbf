"""Frozen image features for the vision-language papers: :class:`Extractor`.

DeViSE (Frome et al. 2013, section 3) and Reed et al. (2016, section 3) keep
the pretrained visual model fixed while they learn the joint space, so an
image's features can be computed once (the Beam job caches them in
TFRecords) instead of at every training step.  ``Extractor(name,
image_size, precision, outputs)`` builds the registered visual model
(:func:`tfpipe.models.vision.build`; its default weights, frozen) and
``extractor(images)`` maps a ``uint8 [B, H, W, 3]`` RGB batch, already resized
to ``image_size``, to ``{output name: float32 ndarray}``.

The model call is compiled once per batch shape with ``training=False``
(TensorFlow: a ``tf.function``, optionally XLA-compiled; JAX: ``jax.jit`` of
the model's stateless call), which is much cheaper per batch than
``model.predict`` (that builds a dataset and a progress loop every call).
``precision="mixed_bfloat16"`` builds the model under Keras' mixed bfloat16
policy (variables float32, computation bfloat16; the outputs come back as
float32).  On CPUs without ``avx512_bf16`` / AMX it is usually slower than
float32 (``benchmarks/feature_extraction.py`` measures both).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np

PRECISIONS = ("float32", "mixed_bfloat16")


class Extractor:
    """Frozen features of the visual model ``name`` for uint8 image batches (see the module docstring).

    ``jit_compile`` (TensorFlow only) XLA-compiles the call; ``None`` leaves it off.
    ``model`` is the Keras model (frozen), ``image_size`` ``(H, W)``, ``outputs`` the names returned.
    """

    def __init__(
        self,
        name: str = "efficientnet_lite0",
        image_size: int | Sequence[int] = 224,
        precision: str = "float32",
        outputs: Sequence[str] = ("pooled",),
        *,
        jit_compile: bool | None = None,
        **config: Any,
    ):
        from tfpipe.models import vision
        from tfpipe.models.vision.efficientnet_lite import _size

        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: choose one of {list(PRECISIONS)}")
        self.name, self.precision = name, precision
        self.image_size = _size(image_size)
        self.outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        dtype = None if precision == "float32" else precision
        self.model = vision.build(name, image_size=self.image_size, outputs=self.outputs, trainable="frozen",
                                  dtype=dtype, **config)
        self._call = _compiled(self.model, jit_compile=jit_compile)

    def __call__(self, images: Any) -> dict[str, np.ndarray]:
        images = np.asarray(images)
        h, w = self.image_size
        if images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(f"expected images [B, {h}, {w}, 3] (already resized to image_size), "
                             f"got shape {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images (RGB, 0-255), got {images.dtype}")
        if images.shape[0] == 0:
            return {name: np.zeros((0,) + tuple(self.model.output[name].shape[1:]), np.float32)
                    for name in self.outputs}
        out = self._call(images)
        return {name: np.asarray(keras.ops.convert_to_numpy(out[name]), dtype=np.float32) for name in self.outputs}


def _compiled(model: keras.Model, *, jit_compile: bool | None) -> Callable[[np.ndarray], dict[str, Any]]:
    """``images uint8 ndarray -> {name: tensor}``: the model's inference call, compiled for the backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True, jit_compile=jit_compile)
        def infer(images):
            return model(tf.cast(images, tf.float32), training=False)

        return infer
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def infer_jax(trainable, non_trainable, images):
            out, _ = model.stateless_call(trainable, non_trainable, images.astype(jnp.float32), training=False)
            return out

        return lambda images: infer_jax(trainable, non_trainable, images)
    return lambda images: model(keras.ops.cast(images, "float32"), training=False)
