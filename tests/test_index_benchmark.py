"""benchmarks.index_search: the helpers (hand-computed) and a tiny end-to-end run."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import index_search as bench


def _point(recall: float, qps: float) -> dict:
    return {"recall_at_k": recall, "qps": qps}


# --------------------------------------------------------------------------- recall


def test_recall_counts_each_true_id_once_over_the_first_k_found():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[3, 2, 9], [7, 8, 9]])
    assert bench.recall_at_k(found, truth) == pytest.approx((2 / 3 + 0 / 3) / 2)
    # Only the first k = 3 found columns count: 9 in column 4 is not a hit.
    assert bench.recall_at_k(np.array([[1, 2, 3, 9]]), np.array([[9, 1, 2]])) == pytest.approx(2 / 3)
    # A repeated found id is one hit, not three.
    assert bench.recall_at_k(np.array([[5, 5, 5]]), np.array([[5, 6, 7]])) == pytest.approx(1 / 3)
    assert bench.recall_at_k(truth, truth) == 1.0


def test_recall_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must be"):
        bench.recall_at_k(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="must be"):
        bench.recall_at_k(np.zeros((2, 2)), np.zeros((2, 3)))


# --------------------------------------------------------------------------- curves


CURVE = [_point(0.90, 1000), _point(0.95, 500), _point(0.99, 100), _point(0.93, 400)]  # 0.93 is dominated


def test_pareto_drops_dominated_points():
    front = bench.pareto(CURVE)
    assert [(p["recall_at_k"], p["qps"]) for p in front] == [(0.90, 1000), (0.95, 500), (0.99, 100)]


def test_qps_at_recall_interpolates_on_the_frontier():
    # Between (0.95, 500) and (0.99, 100): 500 + (0.02 / 0.04) * (100 - 500) = 300.
    assert bench.qps_at_recall(CURVE, 0.97) == pytest.approx(300.0)
    # Between (0.90, 1000) and (0.95, 500), not via the dominated (0.93, 400): 1000 - 0.8 * 500 = 600.
    assert bench.qps_at_recall(CURVE, 0.94) == pytest.approx(600.0)
    assert bench.qps_at_recall(CURVE, 0.5) == 1000.0  # the fastest point already reaches it
    assert bench.qps_at_recall(CURVE, 0.99) == pytest.approx(100.0)
    assert bench.qps_at_recall(CURVE, 0.999) is None  # never reached


def test_operating_point_is_the_fastest_at_the_target_recall():
    assert bench.operating_point(CURVE, 0.94) == _point(0.95, 500)
    assert bench.operating_point(CURVE, 0.98) == _point(0.99, 100)
    assert bench.operating_point(CURVE, 0.999) is None


def test_compare_matches_recall_and_sets_the_targets():
    engines = {
        "exact": {"qps": 100.0, "build_s": 0.5},
        "scann": {"build_s": 10.0, "default_search": {"qps": 1500.0},
                  "curve": [_point(0.97, 5000), _point(0.99, 2000)]},
        "faiss_hnsw": {"build_s": 80.0, "curve": [_point(0.95, 3000), _point(0.995, 1000)]},
        "faiss_ivfpq": {"build_s": 40.0, "curve": [_point(0.80, 9000), _point(0.87, 4000)]},
    }
    ratios, targets = bench.compare(engines, 10)
    assert ratios["scann_operating_point"] == _point(0.99, 2000)
    assert ratios["scann_qps_over_exact_qps"] == 20.0
    assert ratios["scann_default_qps_over_exact_qps"] == 15.0
    # HNSW at 0.99: 3000 + (0.04 / 0.045) * (1000 - 3000) = 1222.2; ScaNN 2000 / 1222.2 = 1.636.
    hnsw = ratios["faiss_hnsw_at_matched_recall"]
    assert hnsw["recall_at_k"] == 0.99 and hnsw["other_reaches_target_recall"]
    assert hnsw["other_qps"] == pytest.approx(3000 - 2000 * 0.04 / 0.045)
    assert ratios["scann_qps_over_faiss_hnsw_qps_at_matched_recall"] == pytest.approx(1.636, abs=1e-3)
    # IVF-PQ tops out at 0.87: both are compared there; ScaNN's fastest point (0.97) reaches it.
    ivf = ratios["faiss_ivfpq_at_matched_recall"]
    assert (ivf["recall_at_k"], ivf["scann_qps"], ivf["other_qps"]) == (0.87, 5000.0, 4000.0)
    assert not ivf["other_reaches_target_recall"]
    assert ratios["build_faiss_hnsw_over_scann"] == 8.0
    assert targets == {"recall_at_10>=0.98_at_10x_exact_qps": True,
                       "more_qps_than_faiss_hnsw_at_equal_recall": True,
                       "shorter_build_than_faiss_hnsw": True}

    engines["exact"]["qps"] = 300.0  # 2000 < 10 x 300
    engines["faiss_hnsw"]["build_s"] = 5.0
    engines["faiss_hnsw"]["curve"] = [_point(0.99, 2500)]
    _, targets = bench.compare(engines, 10)
    assert targets == {"recall_at_10>=0.98_at_10x_exact_qps": False,
                       "more_qps_than_faiss_hnsw_at_equal_recall": False,
                       "shorter_build_than_faiss_hnsw": False}


def test_with_rate_swaps_in_the_cpu_rates():
    engines = {"exact": {"qps": 100.0, "cpu_qps": 60.0},
               "scann": {"default_search": {"qps": 5.0, "cpu_qps": 4.0},
                         "curve": [{"recall_at_k": 0.9, "qps": 10.0, "cpu_qps": 7.0}]},
               "faiss_hnsw": {"skipped": "no faiss"}}
    swapped = bench.with_rate(engines, "cpu_qps")
    assert swapped["exact"]["qps"] == 60.0 and swapped["scann"]["default_search"]["qps"] == 4.0
    assert swapped["scann"]["curve"][0]["qps"] == 7.0 and swapped["faiss_hnsw"] == {"skipped": "no faiss"}
    assert engines["exact"]["qps"] == 100.0 and engines["scann"]["curve"][0]["qps"] == 10.0  # not modified


def test_compare_without_faiss_leaves_its_targets_unknown():
    engines = {"exact": {"qps": 100.0, "build_s": 0.5},
               "scann": {"build_s": 1.0, "default_search": {"qps": 500.0}, "curve": [_point(0.9, 900)]},
               "faiss_hnsw": {"skipped": "faiss is not installed"},
               "faiss_ivfpq": {"skipped": "faiss is not installed"}}
    ratios, targets = bench.compare(engines, 10)
    assert ratios["scann_operating_point"] is None  # 0.9 < 0.98
    assert targets == {"recall_at_10>=0.98_at_10x_exact_qps": False,
                       "more_qps_than_faiss_hnsw_at_equal_recall": None,
                       "shorter_build_than_faiss_hnsw": None}


# --------------------------------------------------------------------------- data and shapes


def test_clustered_data_is_seeded_and_shares_its_centres():
    base, queries = bench.clustered_data(200, 20, 4, clusters=3, noise=0.0, seed=7)
    assert base.shape == (200, 4) and queries.shape == (20, 4)
    assert base.dtype == queries.dtype == np.float32
    # Without noise every point is one of the 3 centres, and the queries use the same centres.
    centres = np.unique(base, axis=0)
    assert len(centres) == 3
    assert all((row == centres).all(axis=1).any() for row in queries)
    again, _ = bench.clustered_data(200, 20, 4, clusters=3, noise=0.0, seed=7)
    np.testing.assert_array_equal(base, again)
    other, _ = bench.clustered_data(200, 20, 4, clusters=3, noise=0.0, seed=8)
    assert not np.array_equal(base, other)


def test_clusters_scale_with_n():
    assert (bench.clusters_for(1_000_000), bench.clusters_for(100_000), bench.clusters_for(10)) == (2000, 200, 1)


def test_clustered_data_noise_is_the_spread_around_the_centre():
    base, _ = bench.clustered_data(20000, 1, 3, clusters=1, noise=2.0, seed=0)
    spread = base - base.mean(axis=0)
    np.testing.assert_allclose(spread.std(axis=0), [2.0, 2.0, 2.0], atol=0.05)
    single, _ = bench.clustered_data(5, 1, 3, clusters=1, noise=0.0)
    assert (single == single[0]).all()
    with pytest.raises(ValueError, match=">= 1"):
        bench.clustered_data(0, 1, 3)
    with pytest.raises(ValueError, match="noise"):
        bench.clustered_data(5, 1, 3, noise=-1.0)


def test_ivfpq_shape_follows_the_faiss_guidelines():
    assert bench.ivfpq_params(1_000_000, 64) == {"nlist": 4000, "m": 32, "nbits": 8, "train_points": 256_000}
    # 5822 words: 4 sqrt(n) = 305 lists would leave < 39 points each, so n // 39 = 149; 2**7 <= 149.
    assert bench.ivfpq_params(5822, 300) == {"nlist": 149, "m": 150, "nbits": 7, "train_points": 5822}
    assert bench.ivfpq_params(1000, 5)["m"] == 5  # odd dimension: one sub-quantizer per dimension


def test_scann_sweep_scales_with_the_leaves():
    sweep = bench.scann_sweep(1000, 1_000_000)
    assert sorted({s["num_leaves_to_search"] for s in sweep}) == [10, 20, 50, 100, 200, 400]
    assert sorted({s["reorder_k"] for s in sweep}) == [50, 100, 200] and len(sweep) == 18
    # 141 leaves: 1.41, 2.82, 7.05, 14.1, 28.2, 56.4 rounded.
    assert sorted({s["num_leaves_to_search"] for s in bench.scann_sweep(141, 20000)}) == [1, 3, 7, 14, 28, 56]
    assert bench.scann_sweep(0, 120) == [{"num_leaves_to_search": None, "reorder_k": 50},
                                         {"num_leaves_to_search": None, "reorder_k": 100},
                                         {"num_leaves_to_search": None, "reorder_k": 120}]


def test_load_word_vectors_reads_words_and_refuses_unusable_files(tmp_path):
    vectors, words, reason = bench.load_word_vectors(str(tmp_path / "missing.npy"))
    assert vectors is None and "not found" in reason
    np.save(tmp_path / "vectors.npy", np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=np.float32))
    (tmp_path / "words.txt").write_text("the\ncat\nsat\n", encoding="utf-8")
    vectors, words, reason = bench.load_word_vectors(str(tmp_path / "vectors.npy"))
    assert reason is None and words == ["the", "cat", "sat"] and vectors.shape == (3, 2)
    np.save(tmp_path / "zero.npy", np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32))
    vectors, _, reason = bench.load_word_vectors(str(tmp_path / "zero.npy"))
    assert vectors is None and "zero rows" in reason


def test_parse_args_quick_and_validation():
    assert bench.parse_args(["--quick"]).n == bench.QUICK_N
    assert bench.parse_args([]).n == bench.DEFAULT_N
    assert bench.parse_args(["--quick", "--n", "5000"]).n == 5000
    assert bench.parse_args(["--scann_params", '{"num_leaves": 20}']).scann_params == {"num_leaves": 20}
    with pytest.raises(SystemExit):
        bench.parse_args(["--k", "0"])


# --------------------------------------------------------------------------- end to end


def test_run_dataset_on_a_tiny_set_reports_every_engine():
    pytest.importorskip("scann")
    base, queries = bench.clustered_data(300, 12, 8, clusters=5, noise=0.3, seed=1)
    result = bench.run_dataset("tiny", base, queries, 5, threads=1, log=lambda m: None)
    engines = result["engines"]
    assert (result["n"], result["dim"], result["queries"], result["k"]) == (300, 8, 12, 5)
    assert engines["exact"]["recall_at_k"] == 1.0 and engines["exact"]["qps"] > 0
    scann = engines["scann"]
    assert scann["params"]["num_threads"] == 1 and scann["index_bytes"] > base.nbytes
    assert [p["reorder_k"] for p in scann["curve"]] == [50, 100, 200]
    # No tree below 1000 points: every point is hashed and the best >= 50 are rescored exactly.
    assert min(p["recall_at_k"] for p in scann["curve"]) >= 0.9
    assert scann["operating_point_raw_searcher"]["qps"] > 0
    for name in ("faiss_hnsw", "faiss_ivfpq"):
        assert "curve" in engines[name] or "faiss" in engines[name]["skipped"]
    assert set(result["targets_cpu_time"]) == set(result["targets"]) == {"recall_at_5>=0.98_at_10x_exact_qps",
                                      "more_qps_than_faiss_hnsw_at_equal_recall",
                                      "shorter_build_than_faiss_hnsw"}
