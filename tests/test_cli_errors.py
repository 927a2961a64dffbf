"""Every CLI: argument errors are one line with a --help pointer, and a path argument that exists
but is the wrong kind of thing (a run directory where a SavedModel is wanted, an empty folder, a
file where a directory is wanted, ...) is a one-line error saying what was expected, not a
traceback.  Everything here stops before any model, Beam pipeline or TensorFlow graph runs."""
from __future__ import annotations

import importlib
import json
import os

import numpy as np
import pytest

from tfpipe import cli

# (module whose main() is the CLI, its prog)
CLIS = [
    ("beam_jobs.preprocess", "python -m beam_jobs.preprocess"),
    ("tfpipe.train", "python -m tfpipe.train"),
    ("tfpipe.evaluate", "python -m tfpipe.evaluate"),
    ("tfpipe.export", "python -m tfpipe.export"),
    ("tfpipe.predict", "python -m tfpipe.predict"),
    ("tfpipe.report", "python -m tfpipe.report"),
    ("tfpipe.tune", "python -m tfpipe.tune"),
    ("tfpipe.neighbors", "python -m tfpipe.neighbors"),
    ("tfpipe.index.__main__", "python -m tfpipe.index"),
    ("tfpipe.config.__main__", "python -m tfpipe.config"),
    ("tfpipe.text.thesaurus", "python -m tfpipe.text.thesaurus"),
] + [(f"benchmarks.{name}", f"python -m benchmarks.{name}") for name in (
    "comparison_models", "devise_serving", "feature_extraction", "image_preprocess", "index_search",
    "input_pipeline", "peers", "preprocess_throughput", "skipgram", "train_throughput")]


def _main(module: str):
    return importlib.import_module(module).main


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if not line.startswith("WARNING:")]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: "), captured.err
    assert "usage:" not in captured.err and "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("module,prog", CLIS)
def test_unknown_flag_is_one_line_with_a_help_pointer(module, prog, capsys):
    with pytest.raises(SystemExit) as exc:
        _main(module)(["--no_such_flag"])
    assert exc.value.code == 2
    line = _one_line_error(capsys)
    assert ("--no_such_flag" in line or "required" in line) and line.endswith(f"(see {prog} --help)")


def test_sub_command_errors_point_at_the_sub_command_help(capsys):
    from tfpipe.index import __main__ as index_cli

    with pytest.raises(SystemExit) as exc:
        index_cli.main(["build", "--vectors", "v.npy"])
    assert exc.value.code == 2
    line = _one_line_error(capsys)
    assert "--out" in line and line.endswith("(see python -m tfpipe.index build --help)")
    with pytest.raises(SystemExit):
        index_cli.main([])
    assert _one_line_error(capsys).endswith("(see python -m tfpipe.index --help)")


def test_bad_value_is_one_line(capsys):
    from tfpipe import train

    with pytest.raises(SystemExit) as exc:
        train.main(["--verbose", "7"])
    assert exc.value.code == 2
    line = _one_line_error(capsys)
    assert "invalid choice: '7'" in line and line.endswith("(see python -m tfpipe.train --help)")


def test_multi_line_messages_become_one_line(capsys):
    parser = cli.ArgumentParser(prog="python -m x")
    with pytest.raises(SystemExit) as exc:
        parser.error("first\nsecond")
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: first second (see python -m x --help)\n"


# --------------------------------------------------------------------------- kinds of path


@pytest.fixture
def places(tmp_path):
    """One path of every kind the CLIs tell apart."""
    p = {}
    p["missing"] = str(tmp_path / "nowhere")
    p["empty"] = str(tmp_path / "empty")
    os.makedirs(p["empty"])
    p["file"] = str(tmp_path / "notes.txt")
    with open(p["file"], "w") as f:
        f.write("hello\n")
    p["run"] = str(tmp_path / "runs" / "x")
    os.makedirs(p["run"])
    with open(os.path.join(p["run"], "config.yaml"), "w") as f:
        f.write("model: {name: char_cnn_small}\n")
    p["data"] = str(tmp_path / "data")
    os.makedirs(p["data"])
    with open(os.path.join(p["data"], "manifest.json"), "w") as f:
        json.dump({"class_names": ["a", "b"], "splits": {}}, f)
    p["index"] = str(tmp_path / "index")
    os.makedirs(p["index"])
    with open(os.path.join(p["index"], "manifest.json"), "w") as f:
        json.dump({"format": "tfpipe.index"}, f)
    p["saved"] = os.path.join(p["run"], "export")
    os.makedirs(p["saved"])
    open(os.path.join(p["saved"], "saved_model.pb"), "wb").close()
    p["npy"] = str(tmp_path / "v.npy")
    np.save(p["npy"], np.ones((3, 2), np.float32))
    return p


def test_path_kinds(places):
    assert cli.path_kind(places["missing"]) == cli.MISSING
    assert cli.path_kind(places["empty"]) == cli.EMPTY_DIR
    assert cli.path_kind(places["file"]) == cli.FILE
    assert cli.path_kind(places["run"]) == cli.RUN_DIR
    assert cli.path_kind(places["data"]) == cli.DATA_DIR
    assert cli.path_kind(places["index"]) == cli.INDEX_DIR
    assert cli.path_kind(places["saved"]) == cli.SAVED_MODEL
    assert cli.path_kind("gs://bucket/x") == cli.REMOTE
    assert cli.path_problem("--m", "gs://bucket/x", cli.SAVED_MODEL) is None


def test_layout_names_match_their_writers():
    from tfpipe import tune
    from tfpipe.index import manifest as index_manifest
    from tfpipe.training import runs

    assert cli.RUN_CONFIG == runs.CONFIG_FILE
    assert cli.INDEX_MANIFEST == index_manifest.MANIFEST_FILE
    assert cli.INDEX_FORMAT == index_manifest.FORMAT
    assert cli.TUNE_RESULTS == tune.RESULTS_FILE
    with open(os.path.join(os.path.dirname(__file__), "..", "tfpipe", "data", "manifest.py")) as f:
        assert f'MANIFEST_FILE = "{cli.DATA_MANIFEST}"' in f.read()


def test_predict_model_that_is_not_a_savedmodel(places, capsys):
    from tfpipe import predict

    run = places["run"]
    os.remove(os.path.join(places["saved"], "saved_model.pb"))
    os.rmdir(places["saved"])
    assert predict.main(["some text", "--model", run]) == 2
    line = _one_line_error(capsys)
    assert line == (f"error: --model {run} is a run directory (python -m tfpipe.train), not an "
                    "exported SavedModel (a directory with saved_model.pb): run python -m "
                    f"tfpipe.export --model_dir {run}, then pass --model {run}/export")
    for kind, what in (("empty", "is an empty directory"), ("file", "is a file"),
                       ("data", "is a preprocessed data directory"),
                       ("missing", "no such file or directory")):
        assert predict.main(["some text", "--model", places[kind]]) == 2
        line = _one_line_error(capsys)
        assert what in line and "python -m tfpipe.export --model_dir RUN_DIR" in line, line


def test_predict_points_at_an_existing_export(places, capsys):
    from tfpipe import predict

    assert predict.main(["some text", "--model", places["run"]]) == 2
    assert _one_line_error(capsys).endswith(f"pass --model {places['saved']}")
    # a SavedModel that tfpipe.export did not write (no class names beside it)
    assert predict.main(["some text", "--model", places["saved"]]) == 2
    assert "not one of python -m tfpipe.export (no assets.extra/class_names.json)" in (
        _one_line_error(capsys))


@pytest.mark.parametrize("module", ["tfpipe.evaluate", "tfpipe.export"])
def test_evaluate_and_export_model_dir_and_data_dir(module, places, capsys):
    main = _main(module)
    assert main(["--model_dir", places["data"]]) == 2
    line = _one_line_error(capsys)
    assert "is a preprocessed data directory (beam_jobs.preprocess), not a run directory" in line
    assert main(["--model_dir", places["saved"]]) == 2
    assert _one_line_error(capsys).endswith(f"that is a run's export: pass --model_dir {places['run']}")
    assert main(["--model_dir", places["run"], "--data_dir", places["file"]]) == 2
    assert "--data_dir" in (line := _one_line_error(capsys)) and "is a file, not a preprocessed" in line
    assert main(["--model_dir", places["run"], "--data_dir", places["run"]]) == 2
    assert "a run's data directory is data.dir in" in _one_line_error(capsys)
    manifest = os.path.join(places["data"], "manifest.json")
    assert main(["--model_dir", places["run"], "--data_dir", manifest]) == 2
    assert _one_line_error(capsys).endswith(f"pass the directory that holds it: --data_dir {places['data']}")


def test_export_never_replaces_what_is_not_an_export(places, capsys):
    from tfpipe import export

    for kind in ("data", "run", "file"):
        assert export.main(["--model_dir", places["run"], "--out", places[kind]]) == 2
        assert "not a SavedModel to replace" in _one_line_error(capsys)
        assert os.path.exists(places[kind])
    assert os.path.isfile(os.path.join(places["data"], "manifest.json"))


def test_report_run_dirs_peers_and_out(places, capsys, tmp_path):
    from tfpipe import report

    out = str(tmp_path / "report")
    for kind, what in (("data", "is a preprocessed data directory"), ("file", "is a file"),
                       ("missing", "no such file or directory"), ("saved", "is an exported SavedModel")):
        assert report.main([places[kind], "--out", out]) == 2
        line = _one_line_error(capsys)
        assert line.startswith(f"error: RUN_DIR {places[kind]}") and what in line, line
    assert report.main([places["run"], "--peers", places["empty"], "--out", out]) == 2
    assert "is an empty directory, not a file: write it with python -m benchmarks.peers" in (
        _one_line_error(capsys))
    not_peers = str(tmp_path / "list.json")
    with open(not_peers, "w") as f:
        f.write("[1, 2]\n")
    assert report.main([places["run"], "--peers", not_peers, "--out", out]) == 2
    assert "is not the JSON of python -m benchmarks.peers" in _one_line_error(capsys)
    assert report.main([places["run"], "--out", places["file"]]) == 2
    assert "--out" in (line := _one_line_error(capsys)) and "is a file, not a directory" in line


def test_train_and_config_with_a_directory_as_config(places, capsys):
    from tfpipe import train
    from tfpipe.config import __main__ as config_cli

    assert train.main(["--config", places["empty"], "--print_config"]) == 2
    assert "is a directory, not a YAML config" in _one_line_error(capsys)
    assert config_cli.main([places["empty"]]) == 2
    assert "is a directory, not a YAML config" in _one_line_error(capsys)


def test_tune_space_data_dir_and_out(places, capsys):
    from tfpipe import tune

    base = ["--config", "configs/ngrams_tfidf_trec.yaml"]
    assert tune.main(base + ["--space", places["empty"]]) == 2
    assert "is a directory, not a YAML file" in _one_line_error(capsys)
    assert tune.main(base + ["--space", "configs/tune/bag_tfidf.yaml", "--data_dir", places["run"]]) == 2
    assert "is a run directory (python -m tfpipe.train), not a preprocessed data" in _one_line_error(capsys)
    assert tune.main(base + ["--space", "configs/tune/bag_tfidf.yaml", "--out", places["file"]]) == 2
    assert "is a file, not a directory" in _one_line_error(capsys)
    with pytest.raises(SystemExit):
        tune.main(base + ["--space", "configs/tune/bag_tfidf.yaml", "--max_trials", "0"])
    assert _one_line_error(capsys).endswith("(see python -m tfpipe.tune --help)")


def test_neighbors_sources(places, capsys):
    from tfpipe import neighbors

    assert neighbors.main(["cat", "--vectors", places["empty"]]) == 2
    assert "--vectors" in (line := _one_line_error(capsys)) and "is an empty directory, not a file" in line
    assert neighbors.main(["cat", "--index", places["data"]]) == 2
    assert "is a preprocessed data directory (beam_jobs.preprocess), not an index directory" in (
        _one_line_error(capsys))
    assert neighbors.main(["cat", "--run_dir", places["index"]]) == 2
    assert "is an index directory (python -m tfpipe.index build), not a run directory" in (
        _one_line_error(capsys))
    assert neighbors.main(["cat", "--vectors", places["npy"], "--words", places["empty"]]) == 2
    assert "--words" in _one_line_error(capsys)


def test_index_paths(places, capsys, tmp_path):
    from tfpipe.index import __main__ as index_cli

    new = str(tmp_path / "new_index")
    assert index_cli.main(["build", "--vectors", places["empty"], "--out", new]) == 2
    assert "--vectors" in (line := _one_line_error(capsys)) and "not a file: give a .npy" in line
    assert index_cli.main(["build", "--vectors", places["npy"], "--labels", places["run"], "--out", new]) == 2
    assert "--labels" in _one_line_error(capsys)
    for kind in ("data", "run", "file"):  # save_index would replace their manifest.json
        assert index_cli.main(["build", "--vectors", places["npy"], "--out", places[kind],
                               "--engine", "exact"]) == 2
        assert "not an index directory to replace" in _one_line_error(capsys)
    assert os.path.isfile(os.path.join(places["data"], "manifest.json"))
    assert not os.path.exists(new)
    manifest = os.path.join(places["index"], "manifest.json")
    assert index_cli.main(["search", "--index", manifest, "--vector", places["npy"]]) == 2
    assert _one_line_error(capsys).endswith(f"pass the directory that holds it: --index {places['index']}")
    assert index_cli.main(["search", "--index", places["index"], "--vector", places["empty"]]) == 2
    assert "--vector" in _one_line_error(capsys)
    assert index_cli.main(["evaluate", "--index", places["index"], "--queries", places["run"]]) == 2
    assert "--queries" in _one_line_error(capsys)
    assert index_cli.main(["export", "--index", places["index"], "--out", places["data"]]) == 2
    assert "not a SavedModel to replace" in _one_line_error(capsys)


def test_thesaurus_export_paths(places, capsys):
    from tfpipe.text import thesaurus

    th = os.path.join(os.path.dirname(__file__), "data", "thesaurus_small.tsv")
    assert thesaurus.main(["export", "--tsv", places["empty"], "--out", places["missing"]]) == 2
    assert "--tsv" in _one_line_error(capsys)
    assert thesaurus.main(["export", "--tsv", th, "--vocab", places["data"], "--out", places["missing"]]) == 2
    assert _one_line_error(capsys).endswith(f"--vocab {os.path.join(places['data'], 'vocab.tsv')}")
    assert thesaurus.main(["export", "--tsv", th, "--out", places["empty"]]) == 2
    assert "is a directory, not a file" in _one_line_error(capsys)


@pytest.mark.parametrize("argv,message", [
    (["--input", "{empty}"], "--input '{empty}' is a directory, not a file"),
    (["--input", "{csv}", "--classes", "{empty}"], "--classes '{empty}' is a directory, not a file"),
    (["--input", "{csv}", "--output_dir", "{file}"], "--output_dir {file} is a file, not a directory"),
    (["--input", "{csv}", "--output_dir", "{index}"], "is an index directory (python -m tfpipe.index build), not a data directory"),
    (["--input", "{csv}", "--output_dir", "{run}"], "is a run directory (python -m tfpipe.train), not a data directory"),
    (["--input", "{csv}", "--augment_copies", "1", "--thesaurus", "{empty}"], "--thesaurus '{empty}' is a directory"),
    (["--tfds", "x", "--tfds_data_dir", "{file}"], "--tfds_data_dir '{file}' is a file"),
])
def test_preprocess_paths(argv, message, places, tmp_path, capsys):
    from beam_jobs import preprocess

    csv_path = tmp_path / "d.csv"
    csv_path.write_text('"1","a"\n')
    fill = dict(places, csv=str(csv_path))
    with pytest.raises(SystemExit) as exc:
        preprocess.main([a.format(**fill) for a in argv])
    assert exc.value.code == 2
    assert message.format(**fill) in _one_line_error(capsys)
    assert os.path.isfile(os.path.join(places["index"], "manifest.json"))


def test_train_data_dir_and_model_dir_of_the_wrong_kind(places, capsys):
    from tfpipe import train

    base = ["--set", "train.epochs=1"]
    assert train.main([*base, "--data_dir", places["run"], "--model_dir", places["missing"]]) == 2
    line = _one_line_error(capsys)
    assert "is a run directory" in line and "data.dir in" in line, line
    manifest = os.path.join(places["data"], "manifest.json")
    assert train.main([*base, "--data_dir", manifest, "--model_dir", places["missing"]]) == 2
    line = _one_line_error(capsys)
    assert "is a file" in line and f"--data_dir {places['data']}" in line, line
    for wrong in ("data", "index", "saved", "file"):
        assert train.main([*base, "--data_dir", places["data"], "--model_dir", places[wrong]]) == 2
        line = _one_line_error(capsys)
        assert "--model_dir" in line and "not a run directory" in line, (wrong, line)
    assert not os.path.exists(os.path.join(places["data"], "config.yaml"))  # nothing written there
