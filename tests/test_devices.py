"""``tfpipe.training.devices``: CPU flags, ``train.mixed_precision`` resolution, the run record.

Every test here starts on the AVX2-only CPU of ``tests/conftest.py``'s autouse fixture; the
bfloat16 ones point ``devices.CPUINFO`` at their own hand-written text, and GPUs are faked by
replacing ``devices.gpu_compute_capabilities``.
"""
from __future__ import annotations

import warnings

import pytest

from tfpipe import config as config_lib
from tfpipe.training import devices

# Two processors, flags on the first only differ from the second's: the first one's are read.
TWO_PROCESSORS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Test CPU
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu sse2
"""


def _cpu(monkeypatch, tmp_path, flags: str) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n")
    monkeypatch.setattr(devices, "CPUINFO", str(path))


def _no_gpu(monkeypatch) -> None:
    monkeypatch.setattr(devices, "gpu_compute_capabilities", lambda: [])


def test_flags_are_parsed_from_the_first_processor():
    assert devices.parse_cpu_flags(TWO_PROCESSORS) == {"fpu", "sse2", "avx2", "avx512f", "avx512_bf16"}
    assert devices.parse_cpu_flags("processor\t: 0\nmodel name\t: no flags line\n") == frozenset()
    assert devices.parse_cpu_flags("") == frozenset()


def test_cpu_flags_reads_cpuinfo_and_a_missing_file_is_no_flags(monkeypatch, tmp_path):
    _cpu(monkeypatch, tmp_path, "sse2 avx2 amx_tile amx_bf16")
    assert devices.cpu_flags() == {"sse2", "avx2", "amx_tile", "amx_bf16"}
    monkeypatch.setattr(devices, "CPUINFO", str(tmp_path / "absent"))
    assert devices.cpu_flags() == frozenset()
    assert devices.cpu_has_native_bf16() is False


def test_the_autouse_fixture_is_an_avx2_only_cpu():
    assert "avx2" in devices.cpu_flags() and devices.cpu_has_native_bf16() is False


@pytest.mark.parametrize("flags, policy", [
    ("sse2 avx2 avx512f avx512_bf16", "mixed_bfloat16"),
    ("sse2 avx2 amx_tile amx_bf16", "mixed_bfloat16"),
    ("sse2 avx fma avx2", "float32"),
    ("sse2 avx2 avx512f avx512_vnni", "float32"),  # AVX-512 without its BF16 extension
])
def test_auto_on_a_cpu_only_machine(monkeypatch, tmp_path, flags, policy):
    _no_gpu(monkeypatch)
    _cpu(monkeypatch, tmp_path, flags)
    assert devices.cpu_has_native_bf16() is (policy == "mixed_bfloat16")
    assert devices.resolve_precision("auto") == policy


@pytest.mark.parametrize("caps, policy", [
    ([(7, 0)], "mixed_float16"),
    ([(8, 0), (9, 0)], "mixed_float16"),
    ([(8, 0), (6, 1)], "float32"),  # every GPU must have float16 tensor cores
    ([None], "float32"),
])
def test_auto_with_gpus_ignores_the_cpu(monkeypatch, tmp_path, caps, policy):
    _cpu(monkeypatch, tmp_path, "avx2 avx512_bf16 amx_bf16")
    monkeypatch.setattr(devices, "gpu_compute_capabilities", lambda: caps)
    assert devices.resolve_precision("auto") == policy


def test_explicit_bfloat16_without_native_support_warns(monkeypatch):
    _no_gpu(monkeypatch)
    with pytest.warns(devices.EmulatedBfloat16Warning) as record:
        assert devices.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    message = str(record[0].message)
    assert "emulates bfloat16" in message and "slower" in message
    assert "train.mixed_precision=auto or float32" in message


def test_explicit_bfloat16_with_native_support_or_on_a_gpu_does_not_warn(monkeypatch, tmp_path):
    _no_gpu(monkeypatch)
    _cpu(monkeypatch, tmp_path, "avx2 avx512_bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
        monkeypatch.setattr(devices, "CPUINFO", str(tmp_path / "absent"))
        monkeypatch.setattr(devices, "gpu_compute_capabilities", lambda: [(8, 0)])
        assert devices.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
        assert devices.resolve_precision("float32") == "float32"
        assert devices.resolve_precision("mixed_float16") == "mixed_float16"


def test_an_unknown_policy_names_the_config_choices():
    with pytest.raises(ValueError, match=r"'float16'.*valid choices: auto, float32, mixed_float16, mixed_bfloat16"):
        devices.resolve_precision("float16")
    assert devices.PRECISIONS is config_lib.PRECISIONS


def test_the_run_record_says_whether_the_cpu_has_native_bf16(monkeypatch, tmp_path):
    assert devices.describe_devices()["cpu_native_bf16"] is False
    _cpu(monkeypatch, tmp_path, "avx2 amx_bf16")
    record = devices.describe_devices()
    assert record["cpu_native_bf16"] is True
    assert {"gpus", "gpu_compute_capabilities", "cpu_cores"} <= set(record)


def test_precision_scope_sets_the_policy_inside_and_restores_it_even_on_error():
    import keras

    previous = keras.config.dtype_policy().name
    with devices.precision_scope("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        assert keras.layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == previous
    with pytest.raises(RuntimeError):
        with devices.precision_scope("float16"):
            raise RuntimeError("inside")
    assert keras.config.dtype_policy().name == previous
