"""notebooks/devise_results.ipynb: its code cells on a small fake devise.json (no TensorFlow)."""
from __future__ import annotations

import json
import os
import sys

import pytest

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks",
                        "devise_results.ipynb")


def _metrics(hits, hps):
    return {"hit_at_k": dict(zip(("1", "2", "5", "10", "20"), hits)),
            "hierarchical_precision_at_k": dict(zip(("1", "2", "5", "10", "20"), hps))}


def _zero_shot(rows):
    return {"images": 12, "candidates": 4, "uncovered_classes": ["nX"], "classes_without_synset": [],
            "rows": rows, "chance": {"-0": {"candidates": 4, **_metrics([.25, .5, 1, 1, 1], [.25, .5, 1, 1, 1])},
                                     "+seen": {"candidates": 10, **_metrics([.1, .2, .5, 1, 1], [.1, .2, .5, 1, 1])}}}


def _devise_json(tmp_path) -> str:
    t1 = ("1", "2", "5", "10")
    rows = [
        {"label": "Softmax baseline", "dim": "N/A", "run_dir": "runs/softmax",
         "hit_at_k": dict(zip(t1, (.5, .6, .7, .8))),
         "hierarchical_precision_at_k": {"2": .4, "5": .3, "10": .3, "20": .3},
         "chance": {"hit_at_k": dict(zip(t1, (.01, .02, .05, .1))),
                    "hierarchical_precision_at_k": {"2": .01, "5": .02, "10": .04, "20": .08}},
         "candidate_classes": 6, "num_examples": 30, "split": "test",
         "zero_shot": {"unseen": _zero_shot({
             "softmax": {"candidates": 10, **_metrics([0] * 5, [0, .1, .1, .1, .1])},
             "ConSE(T=10)-0": {"candidates": 4, **_metrics([.3, .5, 1, 1, 1], [.3, .5, 1, 1, 1])}})}},
        {"label": "DeViSE (truncated, centered)", "dim": "300", "run_dir": "runs/devise",
         "hit_at_k": dict(zip(t1, (.45, .55, .65, .75))),
         "hierarchical_precision_at_k": {"2": .42, "5": .33, "10": .31},  # no hp@20: a gap
         "zero_shot": {"unseen": _zero_shot({
             "DeViSE-0": {"candidates": 4, **_metrics([.4, .6, 1, 1, 1], [.4, .6, 1, 1, 1])},
             "DeViSE+seen": {"candidates": 10, **_metrics([.05, .1, .3, .6, 1], [.05, .1, .3, .6, 1])}})}},
    ]
    path = tmp_path / "devise.json"
    path.write_text(json.dumps({"rows": rows}))
    return str(path)


def _run_notebook(monkeypatch, tmp_path, devise_json: str, *, export: str = "", data: str = "",
                  matplotlib: bool = False) -> dict:
    """Executes the notebook's code cells in order (cwd: an empty folder); returns their namespace."""
    with open(NOTEBOOK, encoding="utf-8") as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4 and all("id" in c and "source" in c for c in nb["cells"])
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # stored without outputs
    monkeypatch.setenv("DEVISE_JSON", devise_json)
    monkeypatch.setenv("DEVISE_EXPORT", export or str(tmp_path / "no_export"))
    monkeypatch.setenv("TINY_IMAGENET_DIR", data or str(tmp_path / "no_data"))
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    if matplotlib:
        mpl = pytest.importorskip("matplotlib")
        mpl.use("Agg")
        import matplotlib.pyplot as plt
        monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    else:
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # the printed fallback
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)
    return namespace


def _fake_export_and_images(monkeypatch, tmp_path):
    from PIL import Image

    from tfpipe.tasks.devise import serving

    export = tmp_path / "export"
    (export / "assets.extra").mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(b"")
    (export / "assets.extra" / "devise.json").write_text(json.dumps(
        {"signatures": {"seen": {"candidates": 2}, "unseen": {"candidates": 2}}, "default": "seen"}))
    data = tmp_path / "tiny"
    (data / "zero_shot_classes.tsv").parent.mkdir()
    (data / "zero_shot_classes.tsv").write_text("wnid\tsplit\nn001\tseen\nn002\tseen\nn003\tunseen\n")
    (data / "words.txt").write_text("n001\tgoldfish\nn002\taltar\nn003\tcentipede\n")
    for wnid in ("n001", "n003"):  # n002 has no images
        (data / "train" / wnid / "images").mkdir(parents=True)
        Image.new("RGB", (8, 8), (200, 10, 10)).save(data / "train" / wnid / "images" / f"{wnid}_0.JPEG")
    calls = []

    def predict(model, images, *, labels=None):
        calls.append((model, len(images), labels))
        assert all(b[:2] == b"\xff\xd8" for b in images)  # the JPEG bytes
        return [{"labels": [f"{labels}/n003", f"{labels}/n001"], "texts": ["centipede", "goldfish"],
                 "scores": [0.9, 0.1]} for _ in images]

    monkeypatch.setattr(serving, "predict", predict)
    return str(export), str(data), calls


def test_without_a_report_says_how_to_make_it(monkeypatch, tmp_path, capsys):
    ns = _run_notebook(monkeypatch, tmp_path, str(tmp_path / "missing.json"))
    out = capsys.readouterr().out
    assert "configs/devise_*.yaml" in out and "python -m tfpipe.report" in out
    assert "No exported devise model" in out
    assert ns["rows"] == [] and ns["zero_shot"] == {} and ns["examples"] == [] and ns["figures"] == {}


def test_printed_tables_without_matplotlib(monkeypatch, tmp_path, capsys):
    ns = _run_notebook(monkeypatch, tmp_path, _devise_json(tmp_path))
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and ns["figures"] == {}
    assert [name for name, _, _ in ns["ours1"]] == ["Softmax baseline", "DeViSE (truncated, centered) 300", "Chance"]
    assert ns["ours1"][0][1] == pytest.approx([50, 60, 70, 80])
    assert "Ours (6 classes, 30 test images)" in out and "The paper (ImageNet 1K)" in out
    lines = dict(ns["zero_shot"]["unseen"]["lines"])
    assert list(lines) == ["softmax", "ConSE(T=10)-0", "DeViSE-0", "DeViSE+seen", "Chance-0", "Chance+seen"]
    assert lines["DeViSE-0"] == pytest.approx([40, 60, 100, 100, 100])
    assert "unseen: 12 images of 4 classes with a label vector (1 without one)" in out
    assert "The paper's 2-hop set" in out


def test_figures_are_made(monkeypatch, tmp_path):
    export, data, _ = _fake_export_and_images(monkeypatch, tmp_path)
    ns = _run_notebook(monkeypatch, tmp_path, _devise_json(tmp_path), export=export, data=data, matplotlib=True)
    assert set(ns["figures"]) == {"table1", "table2", "examples"}
    t1 = ns["figures"]["table1"]
    assert len(t1.axes) == 2
    styles = [line.get_linestyle() for line in t1.axes[0].get_lines()]
    assert styles.count("-") == 3 and styles.count("--") == 6  # ours (2 runs + chance), the paper's 6 rows
    assert len(ns["figures"]["table2"].axes) == 1  # one zero-shot set
    assert len(ns["figures"]["table2"].axes[0].get_lines()) == 6 + 3


def test_examples_from_an_export(monkeypatch, tmp_path, capsys):
    export, data, calls = _fake_export_and_images(monkeypatch, tmp_path)
    ns = _run_notebook(monkeypatch, tmp_path, str(tmp_path / "missing.json"), export=export, data=data)
    assert calls == [(export, 1, "seen"), (export, 1, "unseen")]
    assert [(e["split"], e["wnid"], e["truth"]) for e in ns["examples"]] == [
        ("seen", "n001", "goldfish"), ("unseen", "n003", "centipede")]
    out = capsys.readouterr().out
    assert "[unseen] n003_0.JPEG: centipede\n   *   0.900  centipede\n" in out
    assert "[seen] n001_0.JPEG: goldfish\n       0.900  centipede\n   *   0.100  goldfish\n" in out
