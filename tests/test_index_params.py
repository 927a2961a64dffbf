"""``python -m tfpipe.index build --help`` explains the engines, the metrics and every --param key
with its default and meaning, from the one definition the engines use (tfpipe/index/params.py)."""
from __future__ import annotations

import pytest

from tfpipe.index import __main__ as index_cli
from tfpipe.index import exact, params, scann_engine
from tfpipe.index.base import ENGINES, METRICS


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exc:
        index_cli.main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_engines_take_their_parameter_names_from_params():
    assert exact.VALID_PARAMS == params.names("exact")
    assert scann_engine.VALID_PARAMS == params.names("scann")
    assert scann_engine.SEARCH_PARAMS == params.search_names("scann") == (
        "num_leaves_to_search", "reorder_k")
    # Every documented key is one the engine resolves, and nothing else.
    assert tuple(exact.resolve_params(None, 10)) == params.names("exact")
    for n in (10, 300, 5000):
        assert tuple(scann_engine.default_params(n, 8)) == params.names("scann")
        assert tuple(scann_engine.resolve_params(None, n, 8)) == params.names("scann")


def test_documented_defaults_are_the_engines_defaults():
    d = scann_engine.default_params(300_000, 64)
    assert d["training_iterations"] == params.TRAINING_ITERATIONS == 12
    assert d["min_partition_size"] == params.MIN_PARTITION_SIZE == 50
    assert d["dims_per_block"] == params.DIMS_PER_BLOCK == 2
    assert d["anisotropic_quantization_threshold"] == params.ANISOTROPIC_THRESHOLD == 0.2
    assert d["hash_training_sample_size"] == params.HASH_TRAINING_SAMPLE == 100_000
    assert d["num_leaves"] == round(2 * 300_000 ** 0.5) and d["num_leaves_to_search"] == 110
    assert d["training_sample_size"] == 125 * d["num_leaves"]
    assert d["reorder_k"] is None and d["num_threads"] == 0 and d["scoring"] == "ah"
    assert scann_engine.default_params(200, 4)["scoring"] == "brute_force"
    assert exact.resolve_params(None, 10**6)["block_rows"] == params.DEFAULT_BLOCK_ROWS == 65536


def test_build_help_lists_engines_metrics_and_every_param(capsys):
    out = _help(capsys, "build")
    for engine in ENGINES:
        assert f"  {engine}: {index_cli.ENGINE_HELP[engine]}" in out
        assert f"--param KEY=VALUE for --engine {engine}" in out
    for metric in METRICS:
        assert f"  {metric}: {index_cli.METRIC_HELP[metric]}" in out
    for engine, table in params.ENGINE_PARAMS.items():
        for p in table:
            assert f"  {p.name} (default: {p.default}): {p.meaning}" in out, p.name
    assert "num_leaves (default: 0 below 1,000 vectors, round(sqrt(n))" in out
    assert "block_rows (default: min(n, 65536))" in out


def test_search_and_evaluate_help_list_the_search_params(capsys):
    for command in ("search", "evaluate"):
        out = " ".join(_help(capsys, command).split())
        assert "scann: num_leaves_to_search, reorder_k; exact: none" in out
