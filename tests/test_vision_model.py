"""The visual models (tfpipe.models.vision): the PyTorch pickle reader, the Lite0 weight mapping,
layer outputs against numpy, trainable depth, the registry and the feature extractor."""
from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import keras
import numpy as np
import pytest

from tfpipe.models import vision
from tfpipe.models.vision import efficientnet_lite as el
from tfpipe.models.vision import torch_pickle as tp
from tfpipe.models.vision.features import Extractor
from tests.conftest import SHARED_DATA

# --------------------------------------------------------------------------- a torch-like writer


class _Global:
    """Stands for a global (``torch.FloatStorage``, ``torch._utils._rebuild_tensor_v2``) in the pickle."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable
        raise AssertionError("never called")


class _Storage:
    def __init__(self, key: str, type_name: str, data: np.ndarray, view: tuple | None = None):
        self.key, self.type_name, self.data, self.view = key, type_name, data, view


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return _Global("torch._utils", "_rebuild_tensor_v2"), self.args


class _TorchLikePickler(pickle._Pickler):
    """The pure-Python pickler writing ``GLOBAL module name`` for :class:`_Global` stand-ins and
    torch's storage persistent ids (5 fields for the zip layout, 6 for the legacy one)."""

    def __init__(self, f, *, legacy: bool):
        super().__init__(f, protocol=2)
        self.legacy, self.storages = legacy, {}

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        if not isinstance(obj, _Storage):
            return None
        root_key = obj.view[0] if obj.view else obj.key
        self.storages.setdefault(root_key, obj if not obj.view else obj.view[3])
        pid = ("storage", _Global("torch", obj.type_name), root_key, "cpu",
               len(self.storages[root_key].data))
        if self.legacy:
            pid += ((obj.key, obj.view[1], len(obj.data)) if obj.view else None,)
        return pid


def write_legacy(path, tensors: dict) -> None:
    """``tensors`` ``{name: _Tensor}`` as torch.save(..., _use_new_zipfile_serialization=False) does."""
    with open(path, "wb") as f:
        for header in (tp.MAGIC_NUMBER, tp.PROTOCOL_VERSION,
                       {"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 8}}):
            pickle.dump(header, f, protocol=2)
        pickler = _TorchLikePickler(f, legacy=True)
        pickler.dump(collections.OrderedDict(tensors))
        keys = sorted(pickler.storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            data = pickler.storages[key].data
            f.write(struct.pack("<q", data.size))
            f.write(data.astype(data.dtype.newbyteorder("<")).tobytes())


def write_zip(path, tensors: dict) -> None:
    """``tensors`` as torch.save does since PyTorch 1.6 (``archive/data.pkl`` + ``archive/data/<key>``)."""
    buf = io.BytesIO()
    pickler = _TorchLikePickler(buf, legacy=False)
    pickler.dump(collections.OrderedDict(tensors))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for key, storage in pickler.storages.items():
            z.writestr(f"archive/data/{key}", storage.data.tobytes())
        z.writestr("archive/version", "3\n")


def _toy_tensors() -> tuple[dict, dict, _Storage]:
    """Tensors sharing storages through offsets, strides and (legacy) storage views, and their values."""
    floats = _Storage("140001", "FloatStorage", np.arange(24, dtype=np.float32))
    halves = _Storage("140002", "HalfStorage", np.array([0.5, -2.0, 3.25], dtype=np.float16))
    longs = _Storage("140003", "LongStorage", np.array([7], dtype=np.int64))
    root = _Storage("140004", "DoubleStorage", np.linspace(0, 1, 10))
    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    tensors = {
        "conv.weight": _Tensor(floats, 0, (2, 3, 4), (12, 4, 1)),
        "conv.weight_t": _Tensor(floats, 0, (4, 3, 2), (1, 4, 12)),  # a transpose: non-contiguous
        "bias": _Tensor(floats, 5, (3,), (2,)),  # offset 5, stride 2
        "half": _Tensor(halves, 0, (3,), (1,)),
        "bn.num_batches_tracked": _Tensor(longs, 0, (), ()),
    }
    expected = {
        "conv.weight": base, "conv.weight_t": base.transpose(2, 1, 0), "bias": np.array([5.0, 7.0, 9.0], dtype=np.float32),
        "half": np.array([0.5, -2.0, 3.25], dtype=np.float16), "bn.num_batches_tracked": np.array(7),
    }
    return tensors, expected, root


def test_legacy_reader_round_trips_offsets_strides_and_views(tmp_path):
    tensors, expected, root = _toy_tensors()
    # a legacy storage view: elements 3..6 of `root`, the tensor its elements 1..2
    view = _Storage("140005", "DoubleStorage", root.data[3:7], view=("140004", 3, None, root))
    tensors["viewed"] = _Tensor(view, 1, (2,), (1,))
    expected["viewed"] = root.data[4:6]
    path = tmp_path / "toy.pth"
    write_legacy(path, tensors)
    got = tp.load_state_dict(path)
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    assert got["conv.weight_t"].flags["C_CONTIGUOUS"] and got["conv.weight_t"].flags["OWNDATA"]


def test_zip_reader(tmp_path):
    tensors, expected, _ = _toy_tensors()
    path = tmp_path / "toy_zip.pth"
    write_zip(path, tensors)
    got = tp.load_state_dict(path)
    assert list(got) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_reader_refuses_other_globals_and_bad_views(tmp_path):
    class Evil:
        def __reduce__(self):
            return _Global("os", "system"), ("echo pwned",)

    path = tmp_path / "evil.pth"
    tensors, _, _ = _toy_tensors()
    write_legacy(path, {**tensors, "evil": Evil()})
    with pytest.raises(tp.UnsafePickleError, match=r"os\.system.*collections\.OrderedDict"):
        tp.load_state_dict(path)

    floats = _Storage("1", "FloatStorage", np.arange(4, dtype=np.float32))
    write_legacy(path, {"w": _Tensor(floats, 2, (2, 2), (2, 1))})  # reaches element 5 of 4
    with pytest.raises(pickle.UnpicklingError, match="reaches element 5"):
        tp.load_state_dict(path)

    path.write_bytes(pickle.dumps(12345, protocol=2))
    with pytest.raises(ValueError, match="magic number"):
        tp.load_state_dict(path)


# --------------------------------------------------------------------------- the real weights file


@pytest.fixture(scope="module")
def state_dict() -> dict[str, np.ndarray]:
    return el.imagenet_state_dict()


def test_real_weights_file(state_dict):
    assert "torch" not in sys.modules
    assert len(state_dict) == 296
    counters = [k for k in state_dict if k.endswith(".num_batches_tracked")]
    assert len(counters) == 49  # one per batch norm: stem, 15 blocks x 3 + block 0 x 2, head
    params = sum(v.size for k, v in state_dict.items() if k not in counters)
    assert params == 4_694_024  # "4.69 M parameters"
    shapes = {
        "_conv_stem.weight": (32, 3, 3, 3),
        "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3),
        "_blocks.1._expand_conv.weight": (96, 16, 1, 1),
        "_blocks.3._depthwise_conv.weight": (144, 1, 5, 5),
        "_blocks.15._project_conv.weight": (320, 1152, 1, 1),
        "_conv_head.weight": (1280, 320, 1, 1),
        "_bn1.running_var": (1280,),
        "_fc.weight": (1000, 1280),
        "_fc.bias": (1000,),
        "_bn0.num_batches_tracked": (),
    }
    for name, shape in shapes.items():
        assert state_dict[name].shape == shape, name
    assert "_blocks.0._expand_conv.weight" not in state_dict  # expand ratio 1: no expansion
    assert state_dict["_fc.weight"].dtype == np.float32
    assert state_dict["_bn0.num_batches_tracked"].dtype == np.int64


@pytest.fixture(scope="module")
def pretrained() -> keras.Model:
    return vision.build("efficientnet_lite0")


def test_every_keras_weight_is_filled(pretrained, state_dict):
    assert pretrained.count_params() == 4_694_024
    model = el.efficientnet_lite0(weights=None)
    el.load_torch_weights(model, state_dict)
    for layer, weight, want in [
        ("stem_conv", 0, state_dict["_conv_stem.weight"].transpose(2, 3, 1, 0)),  # OIHW -> HWIO
        ("block5_dwconv", 0, state_dict["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1)),  # -> HWC1
        ("block5_project_bn", 0, state_dict["_blocks.5._bn2.weight"]),  # gamma
        ("head_bn", 3, state_dict["_bn1.running_var"]),  # moving variance
        ("logits", 0, state_dict["_fc.weight"].T),
    ]:
        got = keras.ops.convert_to_numpy(model.get_layer(layer).weights[weight])
        np.testing.assert_array_equal(got, want, err_msg=layer)
    for a, b in zip(model.weights, pretrained.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_missing_leftover_and_mismatched_tensors_raise(state_dict):
    model = el.efficientnet_lite0(weights=None, outputs=("pooled",))
    before = keras.ops.convert_to_numpy(model.get_layer("stem_conv").kernel)
    dropped = {k: v for k, v in state_dict.items() if k != "_blocks.7._bn1.running_mean"}
    with pytest.raises(ValueError, match=r"unfilled.*block7_dw_bn/moving_mean.*_blocks\.7\._bn1\.running_mean"):
        el.load_torch_weights(model, dropped)
    with pytest.raises(ValueError, match=r"left over: \['_blocks\.16\._extra\.weight'\]"):
        el.load_torch_weights(model, {**state_dict, "_blocks.16._extra.weight": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=r"shape mismatches: \['_conv_head\.weight \(1280, 1280, 1, 1\) "
                                         r"\(as \(1, 1, 1280, 1280\)\) -> head_conv/kernel \(1, 1, 320, 1280\)'\]"):
        el.load_torch_weights(model, {**state_dict, "_conv_head.weight": np.zeros((1280, 1280, 1, 1), np.float32)})
    # nothing was assigned by the failed loads; the pooled-only model leaves _fc out cleanly
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("stem_conv").kernel), before)
    el.load_torch_weights(model, state_dict)


# --------------------------------------------------------------------------- layers against numpy


def _image() -> np.ndarray:
    """A real 64x64 Tiny-ImageNet image upscaled to 224 when ../shared/data is there, else noise."""
    path = os.path.join(SHARED_DATA, "tiny_imagenet", "val", "images", "val_0.JPEG")
    if os.path.exists(path):
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR))
    return np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)


def _same_pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow's "same" padding of ``x [H, W, C]``: the extra row/column at the bottom/right."""
    pads = []
    for n in x.shape[:2]:
        total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, pads + [(0, 0)])


def _patches(xp: np.ndarray, kernel: int, stride: int, out: tuple[int, int]) -> np.ndarray:
    """``[k*k, H_out, W_out, C]`` shifted views of the padded input."""
    return np.stack([xp[di:di + stride * out[0]:stride, dj:dj + stride * out[1]:stride]
                     for di in range(kernel) for dj in range(kernel)])


def _bn_relu6(h: np.ndarray, sd: dict, prefix: str) -> np.ndarray:
    g, b, m, v = (sd[f"{prefix}.{n}"].astype(np.float64) for n in ("weight", "bias", "running_mean", "running_var"))
    return np.clip(g * (h - m) / np.sqrt(v + 1e-3) + b, 0.0, 6.0)


def test_stem_and_depthwise_layers_match_numpy(pretrained, state_dict):
    names = ["stem_relu", "block0_dw_relu", "block3_expand_relu", "block3_dw_relu"]
    probe = keras.Model(pretrained.input, [pretrained.get_layer(n).output for n in names])
    image = _image()
    stem, dw0, expand3, dw3 = (keras.ops.convert_to_numpy(t)[0].astype(np.float64) for t in probe(image[None]))

    # stem: 3x3 stride-2 convolution (OIHW weights), TF "same" padding (0 top/left, 1 bottom/right at 224)
    x = (image.astype(np.float64) - 127.0) / 128.0
    w = state_dict["_conv_stem.weight"].astype(np.float64)  # [32, 3, 3, 3]
    p = _patches(_same_pad(x, 3, 2), 3, 2, (112, 112))
    ref = _bn_relu6(np.einsum("kijc,okc->ijo", p, w.transpose(0, 2, 3, 1).reshape(32, 9, 3)), state_dict, "_bn0")
    np.testing.assert_allclose(stem, ref, atol=1e-4)

    def depthwise(a, torch_prefix, bn_prefix, kernel, stride):
        k = state_dict[f"{torch_prefix}.weight"].astype(np.float64)  # [C, 1, k, k]
        out = (-(-a.shape[0] // stride), -(-a.shape[1] // stride))
        p = _patches(_same_pad(a, kernel, stride), kernel, stride, out)
        return _bn_relu6(np.einsum("kijc,ck->ijc", p, k.reshape(k.shape[0], kernel * kernel)), state_dict, bn_prefix)

    # block 0: 3x3 stride 1 on the stem's output; block 3: 5x5 stride 2 (padding 1 top, 2 bottom at 56)
    np.testing.assert_allclose(dw0, depthwise(stem, "_blocks.0._depthwise_conv", "_blocks.0._bn1", 3, 1), atol=1e-4)
    assert dw3.shape == (28, 28, 144)
    np.testing.assert_allclose(dw3, depthwise(expand3, "_blocks.3._depthwise_conv", "_blocks.3._bn1", 5, 2),
                               atol=1e-4)


# --------------------------------------------------------------------------- trainable depth, registry


def test_trainable_depth():
    model = el.efficientnet_lite0(weights=None, trainable="all")
    # stem conv + BN (3), block 0 (dw, BN, project, BN: 6), blocks 1-15 (9 each), head conv + BN + fc (5)
    assert len(model.trainable_weights) == 3 + 6 + 15 * 9 + 5 == 149
    counts = {}
    for trainable in ("frozen", 0, 2, 16, "all"):
        el.set_trainable(model, trainable)
        counts[trainable] = len(model.trainable_weights)
    assert counts == {"frozen": 0, 0: 5, 2: 2 * 9 + 5, 16: 146, "all": 149}
    assert vision.build("efficientnet_lite0", weights=None, trainable=2, outputs=("pooled",)).count_params() \
        == 4_694_024 - 1_281_000
    with pytest.raises(ValueError, match=r"'frozen', 'all' or an int N in \[0, 16\]"):
        el.set_trainable(model, 17)


def test_frozen_batch_norm_stays_in_inference_mode(state_dict):
    model = el.efficientnet_lite0(weights=None, trainable=2, outputs=("stride16", "pooled"), image_size=64)
    el.load_torch_weights(model, state_dict)
    x = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3)).astype("float32")
    stem_mean = keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_mean)
    head_mean = keras.ops.convert_to_numpy(model.get_layer("head_bn").moving_mean)
    train, infer = model(x, training=True), model(x, training=False)
    # the frozen blocks (up to stride16, block 10) behave alike in training and inference
    np.testing.assert_allclose(keras.ops.convert_to_numpy(train["stride16"]),
                               keras.ops.convert_to_numpy(infer["stride16"]), atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_mean), stem_mean)
    assert not np.allclose(keras.ops.convert_to_numpy(model.get_layer("head_bn").moving_mean), head_mean)


def test_registry_errors():
    assert vision.names() == ["efficientnet_lite0", "small_convnet"]
    with pytest.raises(ValueError, match=r"unknown vision model 'resnet50'.*\['efficientnet_lite0', 'small_convnet'\]"):
        vision.build("resnet50")
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['depth'\].*valid keys: \['image_size'"):
        vision.build("efficientnet_lite0", depth=3)
    with pytest.raises(ValueError, match=r"choose one or more of \['logits', 'pooled', 'stride16', 'stage6', 'stride32'\]"):
        vision.build("efficientnet_lite0", weights=None, outputs=("conv5",))
    with pytest.raises(ValueError, match=r"weights='imagenet': small_convnet trains from scratch"):
        vision.build("small_convnet", weights="imagenet")
    with pytest.raises(ValueError, match=r"choose one or more of \['pooled', 'stride16', 'stride32'\]"):
        vision.build("small_convnet", outputs=("logits",))  # logits need num_classes
    with pytest.raises(ValueError, match="choose 'imagenet' or None"):
        vision.build("efficientnet_lite0", weights="imagenet21k")


def test_host_variance_scaling_matches_keras_fans():
    init = el.HostVarianceScaling(2.0, mode="fan_out", distribution="truncated_normal", seed=0)
    kernel = keras.ops.convert_to_numpy(init((3, 3, 64, 128)))
    assert kernel.dtype == np.float32 and np.abs(kernel).max() <= 2 * np.sqrt(2.0 / (9 * 128)) / 0.8796 + 1e-6
    assert abs(kernel.std() / np.sqrt(2.0 / (9 * 128)) - 1) < 0.03
    uniform = keras.ops.convert_to_numpy(el.HostVarianceScaling(1 / 3, "fan_out", "uniform", seed=0)((1280, 1000)))
    assert abs(uniform.max() - np.sqrt(3 * (1 / 3) / 1000)) < 1e-3
    np.testing.assert_array_equal(kernel, keras.ops.convert_to_numpy(init((3, 3, 64, 128))))  # seeded
    assert keras.initializers.deserialize(keras.initializers.serialize(init)).get_config() == init.get_config()


def test_output_shapes():
    lite = vision.build("efficientnet_lite0", weights=None, image_size=96)
    out = lite(np.zeros((2, 96, 96, 3), "uint8"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "logits": (2, 1000), "pooled": (2, 1280), "stride16": (2, 6, 6, 112), "stage6": (2, 3, 3, 192),
        "stride32": (2, 3, 3, 1280)}
    assert el.feature_sizes(224) == {"stride16": (14, 14), "stride32": (7, 7)}
    small = vision.build("small_convnet", image_size=64, num_classes=5,
                         outputs=("logits", "pooled", "stride16", "stride32"))
    out = small(np.zeros((2, 64, 64, 3), "uint8"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "logits": (2, 5), "pooled": (2, 256), "stride16": (2, 4, 4, 256), "stride32": (2, 2, 2, 256)}
    assert len(vision.build("small_convnet", trainable=1, num_classes=5, outputs="logits").trainable_weights) == 3 + 2


@pytest.mark.parametrize("engine", ["keras", "onnxruntime"])
def test_extractor_matches_the_model_call(engine):
    if engine == "onnxruntime":
        pytest.importorskip("tf2onnx")
        pytest.importorskip("onnxruntime")
    extractor = Extractor("small_convnet", image_size=64, outputs=("pooled", "stride32"),
                          engine=engine)
    assert extractor.engine == engine
    images = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    got = extractor(images)
    want = extractor.model(images.astype("float32"), training=False)
    assert set(got) == {"pooled", "stride32"} and got["pooled"].dtype == np.float32
    for name in got:
        np.testing.assert_allclose(got[name], keras.ops.convert_to_numpy(want[name]), rtol=1e-5, atol=1e-5)
    assert extractor(images[:0])["pooled"].shape == (0, 256)
    with pytest.raises(ValueError, match=r"expected images \[B, 64, 64, 3\]"):
        extractor(images[:, :32])
    with pytest.raises(ValueError, match="expected uint8"):
        extractor(images.astype("float32"))
    with pytest.raises(ValueError, match="precision='float16'"):
        Extractor("small_convnet", precision="float16")
    with pytest.raises(ValueError, match=r"engine='tensorrt': choose one of \['auto', 'keras', 'onnxruntime'\]"):
        Extractor("small_convnet", engine="tensorrt")


def test_mixed_bfloat16_extractor_is_close(state_dict):
    images = np.random.default_rng(3).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    full = Extractor(image_size=64, outputs=("pooled", "logits"), engine="keras")(images)
    half = Extractor(image_size=64, precision="mixed_bfloat16", outputs=("pooled", "logits"))(images)
    assert half["pooled"].dtype == np.float32
    cos = np.sum(full["pooled"] * half["pooled"], 1) / (
        np.linalg.norm(full["pooled"], axis=1) * np.linalg.norm(half["pooled"], axis=1))
    assert cos.min() > 0.97, cos


# The small ConvNet called eagerly, Lite0 (random weights) through the Extractor's jax.jit: about
# 10 s on the 2-core machine (Lite0's eager call compiles each layer's ops apart: 15-30 s more).
def test_feature_extraction_benchmark_runs():
    """The benchmark end to end on the small ConvNet at 32 px (ONNX Runtime too where tf2onnx and
    onnxruntime import; tfpipe installs them)."""
    import importlib.util

    from benchmarks import feature_extraction

    onnx = all(importlib.util.find_spec(m) for m in ("tf2onnx", "onnxruntime"))
    result = feature_extraction.run(model_name="small_convnet", num_images=4, batch_size=2, passes=1, image_size=32,
                                    onnx=onnx)
    paths = result["paths"]
    assert paths["extractor_float32"]["images_per_s"] > 0 and paths["keras_predict"]["max_abs_diff"] < 1e-4
    assert paths["extractor_mixed_bfloat16"]["min_cosine"] > 0.9
    if onnx:
        assert paths["onnxruntime"]["status"] == "done" and paths["onnxruntime"]["max_abs_diff"] < 1e-4
        assert result["ratios"]["onnxruntime_over_keras_predict"] > 0
    else:
        assert paths["onnxruntime"]["status"] == "skipped"
    assert isinstance(result["cpu"]["avx512_bf16"], bool)
    json.dumps(result)


JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe.models import vision; from tfpipe.models.vision.features import Extractor;"
    "assert keras.backend.backend() == 'jax';"
    "s = vision.build('small_convnet', image_size=64, num_classes=3, outputs=('logits', 'pooled', 'stride16'));"
    "o = {k: keras.ops.convert_to_numpy(v).shape for k, v in s(np.zeros((2, 64, 64, 3), 'uint8')).items()};"
    "assert o == {'logits': (2, 3), 'pooled': (2, 256), 'stride16': (2, 4, 4, 256)}, o;"
    "e = Extractor('efficientnet_lite0', image_size=64, weights=None,"
    "              outputs=('logits', 'pooled', 'stride16', 'stride32'));"
    "o = {k: (v.shape, v.dtype) for k, v in e(np.zeros((2, 64, 64, 3), 'uint8')).items()};"
    "f = np.dtype('float32');"
    "assert o == {'logits': ((2, 1000), f), 'pooled': ((2, 1280), f), 'stride16': ((2, 4, 4, 112), f),"
    "             'stride32': ((2, 2, 2, 1280), f)}, o"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
