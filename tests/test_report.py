"""tfpipe.report on hand-written run directories (no training, no TensorFlow)."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from tfpipe import report


def _data_dir(root, name: str, *, dataset: str | None = None, alphabet: str = "paper",
              augmentation: dict | None = None) -> str:
    path = root / "data" / name
    path.mkdir(parents=True)
    manifest = {"alphabet": alphabet, "class_names": ["a", "b"]}
    if dataset is not None:
        manifest["dataset"] = dataset
    if augmentation is not None:
        manifest["augmentation"] = augmentation
    (path / "manifest.json").write_text(json.dumps(manifest))
    return str(path)


def _run(root, name: str, model: str, data_dir: str, error_pct: float | None, *,
         time_s: float = 10.0, mtime: float | None = None, data_extra: dict | None = None,
         split: str = "test", epochs: tuple[int, int] | None = None) -> str:
    path = root / "runs" / name
    path.mkdir(parents=True)
    cfg = {"data": {"dir": data_dir, "feature": "chars", **(data_extra or {})},
           "model": {"name": model}, "train": {"epochs": 3}, "eval": {"split": "test"}}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    if error_pct is not None:
        results = {"model": model, "data_dir": data_dir, "split": split, "accuracy": 1 - error_pct / 100,
                   "error_pct": error_pct, f"{split}_error_pct": error_pct, "num_examples": 100,
                   "training_time_s": time_s}
        if epochs is not None:  # (epochs run, epochs of the shipped config)
            results.update(epochs_run=epochs[0], config_file_epochs=epochs[1])
        file = path / ("results.json" if split == "test" else f"results_{split}.json")
        file.write_text(json.dumps(results))
        if mtime is not None:
            os.utime(file, (mtime, mtime))
    return str(path)


@pytest.mark.parametrize("model,alphabet,thesaurus,label", [
    ("bow", "paper", False, "BoW"),
    ("ngrams_tfidf", "paper", False, "ngrams TFIDF"),
    ("bag_of_means", "full", False, "Bag-of-means"),  # the alphabet only matters to char models
    ("word_lstm", "paper", False, "LSTM"),
    ("word_cnn_w2v_small", "paper", True, "Sm. w2v Conv. Th."),
    ("word_cnn_lk_large", "paper", False, "Lg. Lk. Conv."),
    ("char_cnn_large", "paper", False, "Lg. Conv."),
    ("char_cnn_large", "full", False, "Lg. Full Conv."),
    ("char_cnn_small", "full", True, "Sm. Full Conv. Th."),
    ("char_cnn_small", "paper", True, "Sm. Conv. Th."),
    ("my_model", "paper", False, "my_model"),
])
def test_row_label(model, alphabet, thesaurus, label):
    assert report.row_label(model, alphabet=alphabet, thesaurus=thesaurus) == label
    if label != "my_model":
        assert label in report.PAPER_ROWS


def test_a_tuned_weighting_gets_its_own_row_after_the_papers():
    assert report.row_label("ngrams_tfidf", model_config={"name": "ngrams_tfidf", "l2": 1e-4}) == "ngrams TFIDF"
    assert report.row_label("ngrams_tfidf", model_config={"idf": "paper", "normalize": "max"}) == "ngrams TFIDF"
    assert report.row_label("ngrams_tfidf", model_config={"normalize": "l2"}) == "ngrams TFIDF (tuned)"
    assert report.row_label("bow_tfidf", model_config={"sublinear_tf": True}) == "BoW TFIDF (tuned)"
    assert report._row_order(["LSTM", "ngrams TFIDF (tuned)", "BoW", "ngrams TFIDF", "mine"]) == [
        "BoW", "ngrams TFIDF", "ngrams TFIDF (tuned)", "LSTM", "mine"]


def test_paper_weighting_is_the_linear_models_default():
    import inspect

    from tfpipe.models import linear

    defaults = {k: v.default for k, v in inspect.signature(linear.logistic_regression).parameters.items()}
    assert {k: defaults[k] for k in report.PAPER_WEIGHTING} == report.PAPER_WEIGHTING


def test_dataset_name():
    assert report.dataset_name("artifacts/data/ag_news_full") == "ag_news"
    assert report.dataset_name("artifacts/data/mr_full_thesaurus/") == "mr"
    assert report.dataset_name("artifacts/data/trec") == "trec"
    assert report.dataset_name("x/whatever_full", {"dataset": "trec"}) == "trec"
    assert report.dataset_name("artifacts/data/trec_full", {"dataset": "trec_full"}) == "trec"  # the job's default
    assert report.dataset_name("d/yelp_review_full_th") == "yelp_review_full"  # a dataset, not a variant


def test_collect_labels_from_config_and_manifest(tmp_path):
    plain = _data_dir(tmp_path, "ag_news")
    full = _data_dir(tmp_path, "ag_news_full", alphabet="full")
    aug = _data_dir(tmp_path, "agn_aug_set", dataset="ag_news", augmentation={"copies": 2, "p": 0.5})
    no_aug = _data_dir(tmp_path, "mr", augmentation={"copies": 0})
    _run(tmp_path, "a", "char_cnn_large", plain, 12.0)
    _run(tmp_path, "b", "char_cnn_large", full, 11.0)
    _run(tmp_path, "c", "char_cnn_small", aug, 14.0)
    _run(tmp_path, "d", "word_cnn_lk_small", plain, 13.0, data_extra={"thesaurus": "th.tsv"})
    _run(tmp_path, "e", "bow", no_aug, 20.0, data_extra={"thesaurus": None})
    _run(tmp_path, "f", "bow_tfidf", no_aug, 21.0, data_extra={"thesaurus": "wordnet", "augment_rate": 0.0})
    rows = report.collect(sorted(str(p) for p in (tmp_path / "runs").iterdir()))
    got = {(r["label"], r["dataset"], r["error_pct"]) for r in rows}
    assert got == {
        ("Lg. Conv.", "ag_news", 12.0),
        ("Lg. Full Conv.", "ag_news", 11.0),
        ("Sm. Conv. Th.", "ag_news", 14.0),
        ("Sm. Lk. Conv. Th.", "ag_news", 13.0),
        ("BoW", "mr", 20.0),
        ("BoW TFIDF", "mr", 21.0),
    }


def test_missing_results_warns_and_skips(tmp_path):
    data = _data_dir(tmp_path, "trec")
    good = _run(tmp_path, "good", "bow", data, 5.0)
    bad = _run(tmp_path, "bad", "ngrams", data, None)
    warnings: list[str] = []
    rows = report.collect([bad, good], warn=warnings.append)
    assert [r["run_dir"] for r in rows] == [good]
    assert len(warnings) == 1
    assert bad in warnings[0] and f"python -m tfpipe.evaluate --model_dir {bad}" in warnings[0]


def test_other_split_reads_its_own_results_file(tmp_path):
    data = _data_dir(tmp_path, "trec")
    run = _run(tmp_path, "v", "bow", data, 7.5, split="valid")
    assert report.collect([run], split="test", warn=lambda m: None) == []
    rows = report.collect([run], split="valid", warn=lambda m: None)
    assert [r["error_pct"] for r in rows] == [7.5]


def _rows(tmp_path):
    dirs = {name: _data_dir(tmp_path, name) for name in ("mr", "trec", "ag_news", "dbpedia")}
    _run(tmp_path, "1", "char_cnn_small", dirs["mr"], 30.0, time_s=100.0)
    _run(tmp_path, "2", "ngrams_tfidf", dirs["mr"], 22.5, time_s=5.0)
    _run(tmp_path, "3", "bow", dirs["trec"], 15.0)
    _run(tmp_path, "4", "ngrams_tfidf", dirs["trec"], 15.0)  # a tie: both best
    _run(tmp_path, "5", "char_cnn_small", dirs["dbpedia"], 2.0)
    _run(tmp_path, "6", "bow", dirs["ag_news"], 11.111)
    return report.collect(sorted(str(p) for p in (tmp_path / "runs").iterdir()), warn=lambda m: None)


def test_table_order_best_and_markdown(tmp_path):
    tbl = report.table(_rows(tmp_path))
    assert tbl["columns"] == ["ag_news", "trec", "mr", "dbpedia"]
    assert [r["label"] for r in tbl["rows"]] == ["BoW", "ngrams TFIDF", "Sm. Conv."]
    cells = {r["label"]: r["cells"] for r in tbl["rows"]}
    assert cells["ngrams TFIDF"]["mr"]["best"] is True
    assert cells["Sm. Conv."]["mr"]["best"] is False
    assert cells["BoW"]["trec"]["best"] and cells["ngrams TFIDF"]["trec"]["best"]
    assert tbl["best"] == {"ag_news": ["BoW"], "trec": ["BoW", "ngrams TFIDF"], "mr": ["ngrams TFIDF"],
                           "dbpedia": ["Sm. Conv."]}
    assert cells["BoW"]["ag_news"]["error_pct"] == 11.11

    md = report.to_markdown(tbl)
    lines = md.splitlines()
    assert "| Model | ag_news | trec | mr | dbpedia |" in lines
    assert "| BoW | **11.11** | **15.00** | - | - |" in lines
    assert "| ngrams TFIDF | - | **15.00** | **22.50** | - |" in lines
    assert "| Sm. Conv. | - | - | 30.00 | **2.00** |" in lines
    times = lines[lines.index("## Training time (s)"):]
    assert "| Sm. Conv. | - | - | 100 | 10.0 |" in times
    assert "| ngrams TFIDF | - | 10.0 | 5.0 | - |" in times


def test_a_run_shorter_than_its_config_is_marked(tmp_path):
    data = _data_dir(tmp_path, "trec")
    rows = report.collect([_run(tmp_path, "small", "char_cnn_small", data, 30.0, epochs=(3, 10)),
                           _run(tmp_path, "large", "char_cnn_large", data, 25.0, epochs=(10, 10)),
                           _run(tmp_path, "bow", "bow", data, 20.0)])  # an older run: no figures
    tbl = report.table(rows)
    cells = {r["label"]: r["cells"]["trec"] for r in tbl["rows"]}
    assert cells["Sm. Conv."]["epochs"] == "3 of 10 epochs"
    assert "epochs" not in cells["Lg. Conv."] and "epochs" not in cells["BoW"]
    lines = report.to_markdown(tbl).splitlines()
    assert "| Sm. Conv. | 30.00 (3 of 10 epochs) |" in lines
    assert "| Lg. Conv. | 25.00 |" in lines and "| BoW | **20.00** |" in lines


def test_duplicates_keep_latest_and_say_so(tmp_path):
    data = _data_dir(tmp_path, "ag_news")
    old = _run(tmp_path, "old", "bow", data, 9.0, mtime=1_000_000)
    new = _run(tmp_path, "new", "bow", data, 12.0, mtime=2_000_000)
    tbl = report.table(report.collect([new, old]))
    assert tbl["rows"][0]["cells"]["ag_news"]["error_pct"] == 12.0
    assert tbl["rows"][0]["cells"]["ag_news"]["run_dir"] == new
    assert len(tbl["notes"]) == 1 and new in tbl["notes"][0] and old in tbl["notes"][0]
    assert "Duplicate runs:" in report.to_markdown(tbl)


def test_peers_rows_marked_and_ranked(tmp_path):
    rows = _rows(tmp_path)
    peers = {"benchmark": "peers", "datasets": {
        "mr": {"peers": {"fastText": {"accuracy": 0.781, "error_pct": 21.9, "training_time_s": 3.0},
                         "scikit-learn TF-IDF LR": {"accuracy": 0.785, "error_pct": 21.5,
                                                    "training_time_s": 2.0, "best": "1-2"}}},
    }}
    tbl = report.table(rows + report.peer_rows(peers))
    assert [(r["label"], r["kind"]) for r in tbl["rows"][-2:]] == [
        ("scikit-learn TF-IDF LR", "peer"), ("fastText", "peer")]
    assert tbl["best"]["mr"] == ["scikit-learn TF-IDF LR"]  # peers compete for the best cell
    md = report.to_markdown(tbl)
    assert "| *peer:* scikit-learn TF-IDF LR | - | - | **21.50** | - |" in md.splitlines()


def test_cli_writes_table_files(tmp_path, capsys):
    _rows(tmp_path)
    out = tmp_path / "report"
    missing = _run(tmp_path, "unevaluated", "bow", str(tmp_path / "data" / "mr"), None)
    code = report.main(["--runs_glob", str(tmp_path / "runs" / "*"), "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "| Model | ag_news | trec | mr | dbpedia |" in captured.out
    assert missing in captured.err
    saved = json.loads((out / "table.json").read_text())
    assert saved["columns"] == ["ag_news", "trec", "mr", "dbpedia"]
    assert (out / "table.md").read_text() == report.to_markdown(saved)
    assert report.main(["--runs_glob", str(tmp_path / "nothing" / "*"), "--out", str(out)]) == 1


NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks",
                        "comparison_results.ipynb")


def _run_notebook(monkeypatch, tmp_path, table_json: str) -> dict:
    """Executes the notebook's code cells in order (cwd: an empty folder); returns their namespace."""
    with open(NOTEBOOK, encoding="utf-8") as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4 and all("id" in c and "source" in c for c in nb["cells"])
    monkeypatch.setenv("TABLE_JSON", table_json)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # the printed fallback
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)
    return namespace


def test_notebook_without_a_table_says_how_to_make_it(monkeypatch, tmp_path, capsys):
    _run_notebook(monkeypatch, tmp_path, str(tmp_path / "missing.json"))
    out = capsys.readouterr().out
    assert "python -m benchmarks.comparison_models" in out and "matplotlib is not installed" not in out


def test_notebook_relative_errors(monkeypatch, tmp_path, capsys):
    rows = [{"label": label, "dataset": d, "kind": "model", "error_pct": e, "mtime": 0.0}
            for label, d, e in [("Lg. Conv.", "ag_news", 10.0), ("Lg. Conv.", "mr", 30.0),
                                ("ngrams TFIDF", "ag_news", 8.0), ("ngrams TFIDF", "mr", 40.0),
                                ("Lg. Lk. Conv. Th.", "mr", 25.0), ("Lg. Lk. Conv.", "mr", 99.0)]]
    path = tmp_path / "table.json"
    path.write_text(json.dumps(report.table(rows)))
    ns = _run_notebook(monkeypatch, tmp_path, str(path))
    assert ns["char_used"] == {"ag_news": "Lg. Conv.", "mr": "Lg. Conv."}  # no Th. run: the plain one
    assert ns["relative"]["ngrams TFIDF"] == {"ag_news": pytest.approx(-0.25), "mr": pytest.approx(0.25)}
    assert ns["relative"]["Lg. Lk. Conv. Th."] == {"mr": pytest.approx(-0.2)}
    assert ns["relative"]["Bag-of-means"] == {}
    out = capsys.readouterr().out
    assert "ngrams TFIDF         ag_news -0.250*  mr +0.250*" in out
    assert "matplotlib is not installed" in out


def test_notebook_falls_back_to_the_small_convnets(monkeypatch, tmp_path, capsys):
    rows = [{"label": label, "dataset": d, "kind": "model", "error_pct": e, "mtime": 0.0}
            for label, d, e in [("Sm. Conv.", "trec", 20.0), ("Lg. Conv.", "mr", 30.0), ("Sm. Conv.", "mr", 35.0),
                                ("ngrams TFIDF", "trec", 16.0), ("ngrams TFIDF", "mr", 24.0),
                                ("Sm. w2v Conv.", "trec", 25.0)]]
    path = tmp_path / "table.json"
    path.write_text(json.dumps(report.table(rows)))
    ns = _run_notebook(monkeypatch, tmp_path, str(path))
    assert ns["char_used"] == {"trec": "Sm. Conv.", "mr": "Lg. Conv."}  # the large run wins where it exists
    assert ns["relative"]["ngrams TFIDF"] == {"trec": pytest.approx(-0.25), "mr": pytest.approx(-0.25)}
    assert ns["relative"]["Lg. w2v Conv. Th."] == {"trec": pytest.approx(0.2)}
    assert ("ngrams TFIDF", "trec") in ns["stand_ins"] and ("Lg. w2v Conv. Th.", "trec") in ns["stand_ins"]
    assert "trec -0.250*" in capsys.readouterr().out


def test_word_vector_runs_are_not_rows(tmp_path):
    run = tmp_path / "skipgram_trec"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  name: skipgram\n")
    warnings = []
    assert report.collect([str(run)], warn=warnings.append) == []
    assert warnings == []
