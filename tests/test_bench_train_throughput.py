"""benchmarks.train_throughput in a tiny run: the JSON carries layer 1 (gather against one-hot) and
whole-model training for both Char-CNN sizes and both precisions, the same-run ratios, the matmul
peaks, the CPU flags and the data source; the FLOP counts are the paper's by hand."""
from __future__ import annotations

import os

import pytest

from benchmarks import train_throughput as bench
from tfpipe.ops import index_conv as fused_ops
from tfpipe.training import devices


def test_flop_counts_by_hand():
    counts = bench.flops("char_cnn_small", 1014)
    conv1 = 2 * 1008 * 7 * 70 * 256  # 252,887,040: conv1 of the small model at l0 = 1014
    assert counts["train"] == 3 * counts["forward"]
    assert counts["train"] - counts["train_exact"] == conv1
    assert counts["train"] - counts["train_without_conv1"] == 3 * conv1
    assert bench.flops("char_cnn_large", 1014)["train"] - bench.flops("char_cnn_large", 1014)["train_exact"] \
        == 2 * 1008 * 7 * 70 * 1024


def test_tiny_run_reports_every_figure(capsys):
    result = bench.main(["--quick", "--l0", "123", "--batch_size", "2", "--steps", "1", "--layer1_repeats", "1",
                         "--matmul_n", "64", "--warmup", "1"])
    assert capsys.readouterr().out.count("\n") == 1  # one JSON line
    on_disk = os.path.exists(os.path.normpath(bench.AG_NEWS_TEST))
    assert result["data"].startswith("ag_news") == on_disk
    assert result["cpu"]["cpu_native_bf16"] == devices.cpu_has_native_bf16()
    assert result["cpu"]["avx512_bf16"] == ("avx512_bf16" in devices.cpu_flags())
    assert set(result["matmul_peak"]) == {"float32", "bfloat16"}
    for name in bench.MODELS:
        layer1, train = result[name]["layer1"], result[name]["train"]
        for precision in bench.PRECISIONS:
            for gather in ("gather", "gather_keras"):
                g, o = layer1[precision][gather], layer1[precision]["one_hot"]
                assert layer1[precision][f"one_hot_over_{gather}"] == pytest.approx(
                    o["fwd_bwd_s_best"] / g["fwd_bwd_s_best"], rel=2e-2)
                rows = train[precision]
                assert rows[f"{gather}_over_one_hot"] == pytest.approx(
                    rows[gather]["examples_per_s"] / rows["one_hot"]["examples_per_s"], rel=2e-2)
            for first_layer in bench.FIRST_LAYERS:
                assert rows[first_layer]["examples_per_s"] > 0 and rows[first_layer]["fraction_of_peak"] > 0
        assert "fraction_of_float32_peak" in train["mixed_bfloat16"]["gather"]
        # "gather" ran the fused op where it can run (the test CPU runs float32 and bfloat16 alike)
        want = "keras" if fused_ops.unusable_reason("float32") else "fused"
        assert result[name]["gather_implementation"] == {p: want for p in bench.PRECISIONS}
        assert bool(result[name]["gather_fused_note"]) == (want == "keras")
        assert set(train["bf16_over_float32"]) == set(bench.FIRST_LAYERS)
    assert set(result["targets"]["meets"]) == {"char_cnn_small_layer1", "char_cnn_large_layer1",
                                              "char_cnn_small_train", "char_cnn_small_fraction_of_peak"}


@pytest.mark.parametrize("argv, message", [(["--models", "char_cnn_huge"], "invalid choice"),
                                           (["--l0", "100"], "at least 123")])
def test_bad_options_name_the_valid_choices(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err
