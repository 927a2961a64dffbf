"""notebooks/predicted_context.ipynb: its code cells on small fake runs (the rows joined and the
disagreements counted by hand, printed without matplotlib) and on real multimodal / visual-only
runs with their thumbnails and figures (skipped when no such runs are there)."""
from __future__ import annotations

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, "notebooks", "predicted_context.ipynb")
# Real runs: those the shipped configs write into this checkout (their data paths are relative to it).
REAL = [("artifacts/runs/flowers102_multimodal_10", "artifacts/runs/flowers102_visual_10")]


def _run_notebook(monkeypatch, tmp_path, run: str, baseline: str = "", *, matplotlib: bool = False) -> dict:
    """Executes the notebook's code cells in order (cwd: an empty folder); returns their namespace."""
    with open(NOTEBOOK, encoding="utf-8") as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4 and all("id" in c and "source" in c for c in nb["cells"])
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # stored without outputs
    monkeypatch.setenv("PHRASE_CONTEXT_RUN", run)
    if baseline:
        monkeypatch.setenv("PHRASE_CONTEXT_BASELINE", baseline)
    else:
        monkeypatch.delenv("PHRASE_CONTEXT_BASELINE", raising=False)
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


def _example(i, label, predicted, baseline=None):
    row = {"id": f"img{i}", "label": label, "predicted": predicted, "phrases": [f"p{i}", "red petals", "bee"]}
    if baseline is not None:
        row["baseline"] = baseline
    return row


def _write_run(path, inputs, examples, *, baseline_dir=None, **extra) -> str:
    os.makedirs(path, exist_ok=True)
    results = {"inputs": inputs, "dataset": "tiny", "split": "test", "images": 10, "classes": 3,
               "train_fraction": 0.1, "top1": 0.5, "top5": 0.9, "chance_top1": 1 / 3,
               "data_dir": str(path) + "/no_features", "examples": examples, **extra}
    with open(os.path.join(path, "results.json"), "w") as f:
        json.dump(results, f)
    with open(os.path.join(path, "config.yaml"), "w") as f:
        f.write("task: phrase_context\nmodel:\n  name: multimodal\n"
                + (f"  baseline: {baseline_dir}\n" if baseline_dir else ""))
    return str(path)


def test_without_runs_says_how_to_make_them(monkeypatch, tmp_path, capsys):
    ns = _run_notebook(monkeypatch, tmp_path, str(tmp_path / "missing"), str(tmp_path / "missing_too"))
    out = capsys.readouterr().out
    assert "No results.json in" in out and "configs/phrase_context/flowers102_multimodal_10.yaml" in out
    assert ns["rows"] == [] and ns["figures"] == {} and ns["summary"] == []


def test_rows_and_disagreements_by_hand_printed(monkeypatch, tmp_path, capsys):
    # the run's own baseline column: img1 helped, img2 hurt, img3 both wrong and different, img0 the same
    examples = [_example(0, "rose", "rose", "rose"), _example(1, "rose", "rose", "lily"),
                _example(2, "lily", "rose", "lily"), _example(3, "iris", "rose", "lily")]
    base = _write_run(tmp_path / "visual", ["visual"], [], top1=0.4, top5=0.8)
    run = _write_run(tmp_path / "mm", ["visual", "context"], examples, baseline_dir=base,
                     baseline={"model_dir": base, "top1": 0.4, "top5": 0.8, "differ": 3, "only_ours_right": 1,
                               "only_baseline_right": 1})
    ns = _run_notebook(monkeypatch, tmp_path, run)   # the baseline: the run's model.baseline
    out = capsys.readouterr().out
    assert ns["BASELINE"] == base and ns["figures"] == {} and "matplotlib is not installed" in out
    assert [name for name, _, _ in ns["summary"]] == ["visual+context", "visual (baseline)", "chance"]
    assert ns["summary"][1][1:] == pytest.approx((40.0, 80.0))
    assert "of 10 test images, 3 are classified differently: 1 right only with the context, 1 right only" in out
    assert [r["id"] for r in ns["differ"]] == ["img1", "img2", "img3"]
    assert "3 of 4 example images differ: the context is right on 1, the visual-only run on 1, neither on 1" in out
    assert ("  img1: true rose; + multimodal rose; - visual-only lily\n      phrases: p1; red petals; bee\n") in out
    assert ns["thumbs"] == {}   # the fake features directory is not there


def test_without_a_baseline_column_the_baseline_runs_examples_are_joined_by_id(monkeypatch, tmp_path, capsys):
    base = _write_run(tmp_path / "visual", ["visual"], [_example(1, "rose", "lily"), _example(0, "rose", "rose")])
    run = _write_run(tmp_path / "mm", ["visual", "context"],
                     [_example(0, "rose", "rose"), _example(1, "rose", "rose"), _example(2, "lily", "lily")])
    ns = _run_notebook(monkeypatch, tmp_path, run, base)
    assert [r.get("baseline") for r in ns["rows"]] == ["rose", "lily", None]   # img2: not among the baseline's
    assert [r["id"] for r in ns["differ"]] == ["img1"]
    assert "1 of 3 example images differ: the context is right on 1" in capsys.readouterr().out


def test_on_real_runs_with_thumbnails_and_figures(monkeypatch, tmp_path, capsys):
    found = [(r, b) for r, b in REAL if all(os.path.exists(os.path.join(REPO, d, "results.json")) for d in (r, b))]
    if not found:
        pytest.skip("no finished flowers102 multimodal + visual-only runs (configs/phrase_context/*_10.yaml)")
    run, base = (os.path.join(REPO, d) for d in found[0])
    ns = _run_notebook(monkeypatch, tmp_path, run, base, matplotlib=True)
    out = capsys.readouterr().out
    assert ns["rows"] and all("baseline" in r and len(r["phrases"]) == 3 for r in ns["rows"])
    assert len(ns["thumbs"]) == len({r["id"] for r in ns["shown"] + ns["differ"]}) > 0
    assert "examples" in ns["figures"] and ("differ" in ns["figures"]) == bool(ns["differ"])
    assert f"{len(ns['differ'])} of {len(ns['rows'])} example images differ" in out
