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

``engine``: ``"keras"`` runs the compiled Keras call above; ``"onnxruntime"`` exports
that same float32 call once with tf2onnx (in process, nothing downloaded) and runs it
in an ONNX Runtime CPU session -- the same features within about 1e-5, several times
faster on CPUs (depthwise convolutions); ``"auto"`` (default) takes ONNX Runtime when
the backend is TensorFlow, the precision float32 and ``tf2onnx`` + ``onnxruntime``
import (installed with tfpipe), else Keras.  ``engine_info`` says which ran and why.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np

PRECISIONS = ("float32", "mixed_bfloat16")
ENGINES = ("auto", "keras", "onnxruntime")
ONNX_OPSET = 17


class Extractor:
    """Frozen features of the visual model ``name`` for uint8 image batches (see the module docstring).

    ``jit_compile`` (TensorFlow only) XLA-compiles the call; ``None`` leaves it off.
    ``model`` is the Keras model (frozen; pass one to wrap a model already built, e.g. to run
    the same weights on another engine), ``image_size`` ``(H, W)``, ``outputs`` the names returned.
    """

    def __init__(
        self,
        name: str = "efficientnet_lite0",
        image_size: int | Sequence[int] = 224,
        precision: str = "float32",
        outputs: Sequence[str] = ("pooled",),
        *,
        jit_compile: bool | None = None,
        engine: str = "auto",
        model: keras.Model | None = None,
        **config: Any,
    ):
        from tfpipe.models import vision
        from tfpipe.models.vision.efficientnet_lite import _size

        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: choose one of {list(PRECISIONS)}")
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: choose one of {list(ENGINES)}")
        self.name, self.precision = name, precision
        self.image_size = _size(image_size)
        self.outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        dtype = None if precision == "float32" else precision
        self.model = model if model is not None else vision.build(
            name, image_size=self.image_size, outputs=self.outputs, trainable="frozen", dtype=dtype,
            **config)
        self._call = _compiled(self.model, jit_compile=jit_compile)
        self.engine_info: dict[str, Any] = {"engine": "keras", "backend": keras.backend.backend()}
        if engine != "keras":
            call, info = _onnx_call(self.model, self.outputs, self.image_size, precision)
            if call is not None:
                self._call, self.engine_info = call, info
            elif engine == "onnxruntime":
                raise RuntimeError(f"engine='onnxruntime' is not available: {info['reason']}")
            else:
                self.engine_info["why"] = info["reason"]

    @property
    def engine(self) -> str:
        return self.engine_info["engine"]

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


def _onnx_call(model: keras.Model, outputs: Sequence[str], image_size: tuple[int, int],
               precision: str) -> tuple[Callable[[np.ndarray], dict[str, Any]] | None, dict[str, Any]]:
    """``(call, info)``: ONNX Runtime on the tf2onnx export of the model's float32 inference
    call (uint8 images in), or ``(None, {"reason": ...})`` when that cannot be had."""
    if keras.backend.backend() != "tensorflow":
        return None, {"reason": f"the {keras.backend.backend()} backend (tf2onnx exports TF graphs)"}
    if precision != "float32":
        return None, {"reason": f"precision {precision} (the ONNX export is float32)"}
    try:
        import onnxruntime as ort
        import tensorflow as tf
        import tf2onnx
    except Exception as e:  # noqa: BLE001  (any import failure is the reason)
        return None, {"reason": f"{type(e).__name__}: {e} (pip install tf2onnx onnxruntime)"}
    h, w = image_size
    names = tuple(outputs)

    @tf.function
    def infer(images):
        out = model(tf.cast(images, tf.float32), training=False)
        return {name: out[name] for name in names}

    try:
        import time

        started = time.perf_counter()
        proto, _ = tf2onnx.convert.from_function(
            infer, input_signature=[tf.TensorSpec([None, h, w, 3], tf.uint8, name="images")],
            opset=ONNX_OPSET)
        export_s = time.perf_counter() - started
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        return None, {"reason": f"export failed: {type(e).__name__}: {str(e)[:300]}"}
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]

    def call(images: np.ndarray) -> dict[str, Any]:
        values = session.run(output_names, {input_name: images})
        return dict(zip(output_names, values))

    if sorted(output_names) != sorted(names):
        return None, {"reason": f"the export's outputs {output_names} are not {list(names)}"}
    return call, {"engine": "onnxruntime", "tf2onnx": tf2onnx.__version__,
                  "onnxruntime": ort.__version__, "opset": ONNX_OPSET,
                  "export_s": round(export_s, 2), "onnx_bytes": proto.ByteSize()}


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
