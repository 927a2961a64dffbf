"""benchmarks.phrase_search: grow() by hand, the end-to-end hook, and tiny runs of main()."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import phrase_search as bench

REAL = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
NAMES = ["red", "green", "blue"]


def test_grow_keeps_the_real_rows_and_labels_then_cycles_copies():
    vectors, labels = bench.grow(REAL, NAMES, 8, noise=0.0, seed=0)
    assert vectors.shape == (8, 3) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[:3], REAL)  # the real rows as given
    # Distractor j copies row j % 3; noise 0: the source's unit vector exactly.
    np.testing.assert_allclose(vectors[3:], np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]], atol=1e-7)
    assert labels == NAMES + ["red/distractor1", "green/distractor1", "blue/distractor1",
                              "red/distractor2", "green/distractor2"]
    assert bench.source_rows(np.arange(8), 3).tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    same, same_labels = bench.grow(REAL, NAMES, 3)
    np.testing.assert_array_equal(same, REAL)
    assert same_labels == NAMES


def test_grow_noise_is_scaled_to_the_real_rows_spread_and_renormalised():
    # The unit rows are e1, e2, e3: per-dimension std sqrt(2) / 3 in every dimension.
    vectors, _ = bench.grow(REAL, NAMES, 3 + 3 * 4000, noise=0.3, seed=1)
    copies = vectors[3:]
    np.testing.assert_allclose(np.linalg.norm(copies, axis=1), 1.0, atol=1e-5)
    # A copy of e1 is (e1 + sigma z) / |e1 + sigma z| with sigma = 0.3 * sqrt(2) / 3: its off-axis
    # over on-axis coordinate is sigma z_y / (1 + sigma z_x), whose median absolute value is close to
    # that of sigma z_y, 0.6745 sigma (the median of |N(0, 1)|).
    sigma = 0.3 * np.sqrt(2) / 3
    of_e1 = copies[0::3]
    ratio = of_e1[:, 1:] / of_e1[:, :1]
    assert abs(float(np.median(np.abs(ratio))) - 0.6745 * sigma) < 0.05 * sigma
    again, _ = bench.grow(REAL, NAMES, 3 + 3 * 4000, noise=0.3, seed=1)
    np.testing.assert_array_equal(vectors, again)
    other, _ = bench.grow(REAL, NAMES, 3 + 3 * 4000, noise=0.3, seed=2)
    assert not np.array_equal(vectors, other)


def test_grow_refuses_bad_input():
    with pytest.raises(ValueError, match="only grow"):
        bench.grow(REAL, NAMES, 2)
    with pytest.raises(ValueError, match="noise"):
        bench.grow(REAL, NAMES, 5, noise=-1.0)
    with pytest.raises(ValueError, match="labels for"):
        bench.grow(REAL, NAMES[:2], 5)
    with pytest.raises(ValueError, match="repeat"):
        bench.grow(REAL, ["a", "a", "b"], 5)
    with pytest.raises(ValueError, match="zero"):
        bench.grow(np.array([[1.0, 0.0], [0.0, 0.0]]), ["a", "b"], 4)
    with pytest.raises(ValueError, match="NaN"):
        bench.grow(np.array([[1.0, np.nan]]), ["a"], 4)
    with pytest.raises(ValueError, match="also a real label"):
        bench.grow(REAL[:2], ["a", "a/distractor1"], 4)


def test_time_end_to_end_times_the_callable_in_batches():
    calls = []
    figures = bench.time_end_to_end(lambda batch: calls.append(len(batch)), [b"x"] * 10, batch_size=4, passes=2)
    assert calls == [4] + [4, 4, 2] * 2  # one warm-up batch, then every image per pass
    assert figures["images"] == 10 and figures["passes"] == 2 and len(figures["pass_s"]) == 2
    assert figures["images_per_s"] > 0
    with pytest.raises(ValueError, match="at least one image"):
        bench.time_end_to_end(lambda b: None, [])


def _check_result(result: dict, total: int, queries: int, k: int) -> None:
    assert result["benchmark"] == "phrase_search"
    assert result["prototypes"]["total"] == total and result["queries"] == queries and result["k"] == k
    for engine in ("exact", "scann"):
        figures = result["engines"][engine]
        assert figures["build_s"] >= 0 and figures["qps"] > 0 and figures["cpu_qps"] > 0
    assert 0.0 <= result["engines"]["scann"][f"recall_at_{k}"] <= 1.0
    assert result["ratios"]["scann_qps_over_exact_qps"] > 0
    assert "skipped" in result["end_to_end"]
    assert {"model", "avx2"} <= set(result["cpu"])


def test_main_on_a_saved_query_index(tmp_path, capsys):
    pytest.importorskip("scann")
    from tfpipe.index import QueryIndex

    rng = np.random.default_rng(0)
    protos = rng.standard_normal((40, 8)).astype(np.float32)
    QueryIndex([f"phrase {i}" for i in range(40)], protos, engine="exact").save(str(tmp_path / "qi"))
    np.save(tmp_path / "q.npy", protos[:30] + 0.05 * rng.standard_normal((30, 8)).astype(np.float32))
    result = bench.main(["--prototypes", str(tmp_path / "qi"), "--queries", str(tmp_path / "q.npy"),
                         "--total", "1500", "--k", "5", "--threads", "1", "--out", str(tmp_path / "r.json")])
    _check_result(result, 1500, 30, 5)
    assert result["source"]["kind"] == "prototypes" and result["prototypes"]["real"] == 40
    assert "top1_class_accuracy" not in result
    assert 0 < result["real_share_of_exact_top_k"] <= 1
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(printed) == json.loads((tmp_path / "r.json").read_text())


def test_main_fallback_on_a_tiny_features_dir(tmp_path):
    pytest.importorskip("scann")
    from tests.features_fixture import write_features_dir

    rng = np.random.default_rng(1)
    names = ["cat", "dog", "owl"]
    centres = 5 * rng.standard_normal((3, 20))

    def rows(split, n):
        return [(f"{split}/{i}", centres[i % 3] + rng.standard_normal(20), i % 3) for i in range(n)]

    features = str(tmp_path / "features")
    write_features_dir(features, names=names, classes=[{"index": i, "name": n} for i, n in enumerate(names)],
                       splits={"train": rows("train", 30), "test": rows("test", 12)},
                       features={"model": "toy", "image_size": 8})
    result = bench.main(["--features_dir", features, "--total", "1200", "--num_queries", "9", "--k", "3",
                         "--threads", "1"])
    _check_result(result, 1200, 9, 3)
    assert result["source"]["kind"] == bench.FALLBACK and result["source"]["dim"] == 64
    assert result["prototypes"]["real"] == 3 and result["top1_class_chance"] == pytest.approx(1 / 3, abs=1e-5)
    # Well separated classes: the exact nearest row is a copy of the query's own class mean.
    assert result["top1_class_accuracy"]["exact"] == 1.0


def test_parse_args_pairs_prototypes_with_queries(tmp_path):
    with pytest.raises(SystemExit):
        bench.parse_args(["--prototypes", str(tmp_path)])
    with pytest.raises(SystemExit):
        bench.parse_args(["--features_dir", str(tmp_path / "none")])
    with pytest.raises(SystemExit):
        bench.parse_args(["--total", "0"])
