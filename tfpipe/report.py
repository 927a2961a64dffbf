"""``python -m tfpipe.report``: the Table 4 of Zhang et al. (2015), and DeViSE's Tables 1-2, from run directories.

    python -m tfpipe.report [RUN_DIR ...] [--runs_glob 'artifacts/runs/*'] [--out artifacts/report]
                            [--split test] [--peers peers.json]

Each run directory (written by ``python -m tfpipe.train`` and evaluated by
``python -m tfpipe.evaluate``) gives one cell:

* the **row** is the paper's model label (:data:`PAPER_ROWS`, Table 4 order),
  derived from the run's ``model.name``, the data directory's alphabet
  (``"full"`` = case-sensitive: the char ConvNet rows "Full") and thesaurus
  augmentation ("Th.": the manifest's ``augmentation.copies`` > 0, or a set
  ``data.thesaurus`` key in the run's config with ``data.augment_rate`` > 0);
  a linear bag model whose feature weighting is not the paper's (any of
  :data:`PAPER_WEIGHTING` changed, e.g. by ``python -m tfpipe.tune``) gets its
  own row, the paper's label + " (tuned)";
* the **column** is the dataset: the manifest's ``dataset``, else the data
  directory's base name, without the variant suffixes of :data:`DATA_SUFFIXES`
  (``ag_news_full`` -> ``ag_news``); ``ag_news``, ``trec``, ``mr`` come first;
* the **cell** is the test error in percent (from ``results.json``, or
  ``results_<split>.json`` for another ``--split``), and the run's training time.

Two runs for one cell: the one whose results file was written last is kept,
and a note says which were dropped.  A run without results is skipped with a
warning that says how to evaluate it.  ``--peers`` adds the rows of
``python -m benchmarks.peers --out FILE`` (scikit-learn, fastText), marked as
peers.  The best (lowest) error of each column, peers included, is bold in
Markdown and ``"best": true`` in JSON; ties are all marked.

Writes ``OUT/table.md`` and ``OUT/table.json`` and prints the Markdown.  Devise runs
(``task: devise``) are not Table 4 cells: they make Frome et al. 2013's Tables 1 and 2
(``tfpipe.tasks.devise.report``), written as ``OUT/devise.md`` and ``OUT/devise.json``; joint_embedding
runs make Reed et al. 2016's Table 1 (``tfpipe.tasks.joint_embedding.report``), ``OUT/sje.md`` and ``OUT/sje.json``;
retrieval runs make You et al. 2018's tables (``tfpipe.tasks.retrieval.report``), ``OUT/cse.md`` and ``OUT/cse.json``;
phrase_context runs make the predicted-context paper's Tables 1-2 analogs and zero-shot rows
(``tfpipe.tasks.phrase_context.report``), ``OUT/phrase_context.md`` and ``OUT/phrase_context.json``.
"""
from __future__ import annotations

import glob
import json
import os
import sys
from typing import Any, Callable, Iterable, Sequence

import yaml

from tfpipe import cli
from tfpipe import paths
from tfpipe.tasks.devise import report as devise_report
from tfpipe.tasks.joint_embedding import report as sje_report
from tfpipe.tasks.phrase_context import report as pc_report
from tfpipe.tasks.retrieval import report as cse_report

# Table 4 of the paper, in its order.
PAPER_ROWS = (
    "BoW", "BoW TFIDF", "ngrams", "ngrams TFIDF", "Bag-of-means", "LSTM",
    "Lg. w2v Conv.", "Sm. w2v Conv.", "Lg. w2v Conv. Th.", "Sm. w2v Conv. Th.",
    "Lg. Lk. Conv.", "Sm. Lk. Conv.", "Lg. Lk. Conv. Th.", "Sm. Lk. Conv. Th.",
    "Lg. Full Conv.", "Sm. Full Conv.", "Lg. Full Conv. Th.", "Sm. Full Conv. Th.",
    "Lg. Conv.", "Sm. Conv.", "Lg. Conv. Th.", "Sm. Conv. Th.",
)

# Registered model name -> the paper's label without the "Th." suffix.
MODEL_LABELS = {
    "bow": "BoW",
    "bow_tfidf": "BoW TFIDF",
    "ngrams": "ngrams",
    "ngrams_tfidf": "ngrams TFIDF",
    "bag_of_means": "Bag-of-means",
    "word_lstm": "LSTM",
    "word_cnn_w2v_large": "Lg. w2v Conv.",
    "word_cnn_w2v_small": "Sm. w2v Conv.",
    "word_cnn_lk_large": "Lg. Lk. Conv.",
    "word_cnn_lk_small": "Sm. Lk. Conv.",
    "char_cnn_large": "Lg. Conv.",
    "char_cnn_small": "Sm. Conv.",
}
# Character models: the alphabet decides between "Conv." and "Full Conv.".
CHAR_MODELS = {"char_cnn_large": "Lg. Full Conv.", "char_cnn_small": "Sm. Full Conv."}

# The paper's feature weighting of the linear bag models (the defaults of
# tfpipe.models.linear.logistic_regression; a test checks they agree).  A run that changes any
# of them is a tuned variant, not the paper's row.
PAPER_WEIGHTING = {"idf": "paper", "normalize": "max", "sublinear_tf": False, "ngram_max": None}
TUNED = " (tuned)"

# The peers' rows (names used by benchmarks.peers).
PEER_ROWS = ("scikit-learn TF-IDF LR", "fastText")

# Datasets of issue 3 first, in this order; any other dataset follows, sorted.
DATASET_ORDER = ("ag_news", "trec", "mr")

# Suffixes of data directory names that mark a variant of a dataset, not another dataset.
DATA_SUFFIXES = ("_full", "_paper", "_thesaurus", "_th", "_aug")
# Dataset names kept whole even when they end with a suffix above (Zhang et al.'s eight and ours).
KNOWN_DATASETS = frozenset({
    "ag_news", "trec", "mr", "sogou_news", "dbpedia", "yelp_review_polarity", "yelp_review_full",
    "yahoo_answers", "amazon_review_full", "amazon_review_polarity",
})

Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- labels


def row_label(model: str, *, alphabet: str = "paper", thesaurus: bool = False,
              model_config: dict[str, Any] | None = None) -> str:
    """The paper's Table 4 label of a run of ``model``.

    ``alphabet="full"`` matters only for the char ConvNets ("Lg. Full Conv.").
    Thesaurus augmentation appends " Th." (for any model, although the paper
    only augmented the ConvNets).  A model the paper does not have keeps its
    registered name.  ``model_config`` (the run's ``model`` section) with a
    feature weighting other than :data:`PAPER_WEIGHTING` appends " (tuned)".
    """
    if alphabet == "full" and model in CHAR_MODELS:
        label = CHAR_MODELS[model]
    else:
        label = MODEL_LABELS.get(model, model)
    label = f"{label} Th." if thesaurus else label
    config = model_config or {}
    if any(key in config and config[key] != value for key, value in PAPER_WEIGHTING.items()):
        label += TUNED
    return label


def dataset_name(data_dir: str, manifest: dict[str, Any] | None = None) -> str:
    """The dataset a data directory holds: ``manifest["dataset"]``, else the directory's base
    name; either without the variant suffixes of :data:`DATA_SUFFIXES` (``ag_news_full`` ->
    ``ag_news``; the preprocessing job records the output directory's base name by default).
    A name in :data:`KNOWN_DATASETS` is kept whole (``yelp_review_full`` is a dataset)."""
    name = str(manifest.get("dataset") or "") if manifest else ""
    name = name or (os.path.basename(os.path.normpath(data_dir)) if data_dir else "")
    stripped = True
    while stripped and name not in KNOWN_DATASETS:
        stripped = False
        for suffix in DATA_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                stripped = True
    return name or "unknown"


def _augmented(value: Any) -> bool:
    """Whether a manifest ``augmentation`` / config ``data.thesaurus`` value means thesaurus
    augmentation is on: a mapping with ``copies`` counts them (> 0), one with ``enabled``
    says so; any other set value (a path, ``true``, a non-empty mapping) means yes."""
    if isinstance(value, dict):
        if "copies" in value:
            return bool(value["copies"]) and float(value["copies"]) > 0
        if "enabled" in value:
            return bool(value["enabled"])
        return bool(value)
    return bool(value)


def column_order(datasets: Iterable[str]) -> list[str]:
    """``ag_news``, ``trec``, ``mr`` (those present), then the others sorted."""
    found = set(datasets)
    return [d for d in DATASET_ORDER if d in found] + sorted(found - set(DATASET_ORDER))


def _row_order(labels: Iterable[str]) -> list[str]:
    """Table 4 order, each paper row followed by its tuned variant; other labels last."""
    found = set(labels)
    ordered = [r for row in PAPER_ROWS for r in (row, row + TUNED) if r in found]
    return ordered + sorted(found - set(ordered))


# --------------------------------------------------------------------------- reading runs


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _resolve(path: str) -> str:
    """A relative data directory as the run saw it: from the working directory, else the repo root."""
    if not path or os.path.isabs(path) or os.path.exists(path):
        return path
    from_root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), path)
    return from_root if os.path.exists(from_root) else path


def _results_path(run_dir: str, split: str) -> str | None:
    """``results_<split>.json``, else ``results.json`` when it is for ``split``."""
    other = os.path.join(run_dir, f"results_{split}.json")
    if os.path.exists(other):
        return other
    main = os.path.join(run_dir, "results.json")
    if os.path.exists(main):
        results = _read_json(main) or {}
        if results.get("split", split) == split:
            return main
    return None


NOT_CLASSIFIERS = ("skipgram",)


def _model_name(cfg_path: str) -> str | None:
    if not os.path.exists(cfg_path):
        return None
    with open(cfg_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f) or {}
    return (cfg.get("model") or {}).get("name")


def collect(run_dirs: Iterable[str], *, split: str = "test", warn: Warn = _stderr) -> list[dict[str, Any]]:
    """One row dict per evaluated run directory.

    Keys: ``label``, ``dataset``, ``kind`` (``"model"``), ``model``, ``alphabet``,
    ``thesaurus``, ``error_pct``, ``accuracy``, ``training_time_s``,
    ``examples_per_sec``, ``epochs_run``, ``config_file_epochs`` (the shipped config's epochs, when
    the run recorded them), ``num_examples``, ``run_dir``,
    ``data_dir``, ``results_file``, ``mtime`` (of the results file).  Directories
    without results for ``split`` (or unreadable ones) are skipped with a
    ``warn`` message naming them.
    """
    rows = []
    for run_dir in run_dirs:
        if not os.path.isdir(run_dir):
            warn(f"{run_dir}: not a directory; skipped")
            continue
        cfg_path = os.path.join(run_dir, "config.yaml")
        if (_model_name(cfg_path) in NOT_CLASSIFIERS or devise_report.is_devise_run(run_dir)
                or sje_report.is_joint_embedding_run(run_dir) or cse_report.is_retrieval_run(run_dir)
                or pc_report.is_phrase_context_run(run_dir)):
            continue  # word vectors, DeViSE, SJE, CSE, predicted context (their own tables): no Table 4 cell
        results_path = _results_path(run_dir, split)
        if results_path is None:
            what = "results.json" if split == "test" else f"results_{split}.json (or a results.json for {split!r})"
            warn(f"{run_dir}: no {what}; skipped (run python -m tfpipe.evaluate --model_dir {run_dir}"
                 + ("" if split == "test" else f" --split {split}") + ")")
            continue
        results = _read_json(results_path)
        if results is None or results.get("error_pct") is None:
            warn(f"{results_path}: unreadable or without error_pct; skipped (run python -m "
                 f"tfpipe.evaluate --model_dir {run_dir} again)")
            continue
        cfg: dict[str, Any] = {}
        if os.path.exists(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                cfg = yaml.safe_load(f) or {}
        data_cfg = cfg.get("data") or {}
        model = results.get("model") or (cfg.get("model") or {}).get("name")
        if not model:
            warn(f"{run_dir}: neither results nor config.yaml name the model; skipped")
            continue
        data_dir = results.get("data_dir") or data_cfg.get("dir") or ""
        manifest = _read_json(os.path.join(_resolve(data_dir), "manifest.json")) if data_dir else None
        if manifest is None:
            warn(f"{run_dir}: no manifest.json in data dir {data_dir!r}; assuming the paper "
                 "alphabet and no augmentation")
            manifest = {}
        alphabet = manifest.get("alphabet") or "paper"
        thesaurus = _augmented(manifest.get("augmentation")) or (
            _augmented(data_cfg.get("thesaurus")) and float(data_cfg.get("augment_rate", 1.0) or 0) > 0)
        rows.append({
            "label": row_label(model, alphabet=alphabet, thesaurus=thesaurus,
                               model_config=cfg.get("model") or {}),
            "dataset": dataset_name(data_dir, manifest),
            "kind": "model",
            "model": model,
            "alphabet": alphabet,
            "thesaurus": thesaurus,
            "error_pct": float(results["error_pct"]),
            "accuracy": results.get("accuracy"),
            "training_time_s": results.get("training_time_s"),
            "examples_per_sec": results.get("examples_per_sec"),
            "epochs_run": results.get("epochs_run"),
            "config_file_epochs": results.get("config_file_epochs"),
            "num_examples": results.get("num_examples"),
            "run_dir": run_dir,
            "data_dir": data_dir,
            "results_file": results_path,
            "mtime": os.path.getmtime(results_path),
        })
    return rows


def peer_rows(peers: dict[str, Any]) -> list[dict[str, Any]]:
    """Row dicts (``kind="peer"``) from the JSON of ``python -m benchmarks.peers``."""
    rows = []
    for dataset, entry in (peers.get("datasets") or {}).items():
        for name, result in (entry.get("peers") or {}).items():
            if result.get("accuracy") is None:
                continue
            rows.append({
                "label": name,
                "dataset": dataset,
                "kind": "peer",
                "model": name,
                "error_pct": result.get("error_pct", 100.0 * (1.0 - result["accuracy"])),
                "accuracy": result["accuracy"],
                "training_time_s": result.get("training_time_s"),
                "setting": result.get("best"),
                "mtime": 0.0,
            })
    return rows


# --------------------------------------------------------------------------- the table


def table(rows: Sequence[dict[str, Any]], *, split: str = "test") -> dict[str, Any]:
    """The results table of ``rows`` (from :func:`collect` and :func:`peer_rows`).

    Returns ``{"split", "columns", "rows", "best", "notes"}``: ``columns`` the
    datasets in order; ``rows`` one entry per label in Table 4 order (models
    first, then other models, then peers), each ``{"label", "kind", "cells"}``
    with ``cells[dataset] = {"error_pct", "accuracy", "training_time_s",
    "best", "run_dir"?}`` for the datasets it has; ``best[dataset]`` the
    label(s) with the lowest error; ``notes`` one line per dropped duplicate run.
    """
    chosen: dict[tuple[str, str, str], dict[str, Any]] = {}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row.get("kind", "model"), row["label"], row["dataset"])
        groups.setdefault(key, []).append(row)
    notes = []
    for key, group in groups.items():
        latest = max(group, key=lambda r: r.get("mtime", 0.0))
        chosen[key] = latest
        if len(group) > 1:
            dropped = [r.get("run_dir", r["label"]) for r in group if r is not latest]
            notes.append(
                f"{key[1]} / {key[2]}: {len(group)} runs; kept {latest.get('run_dir', key[1])} "
                f"(latest results), ignored {', '.join(dropped)}"
            )

    columns = column_order(key[2] for key in chosen)
    best: dict[str, list[str]] = {}
    for column in columns:
        errors = [round(r["error_pct"], 2) for k, r in chosen.items() if k[2] == column]
        lowest = min(errors)
        best[column] = sorted({k[1] for k, r in chosen.items()
                               if k[2] == column and round(r["error_pct"], 2) == lowest})

    out_rows = []
    for kind in ("model", "peer"):
        labels = _row_order(k[1] for k in chosen if k[0] == kind)
        if kind == "peer":
            labels = [p for p in PEER_ROWS if p in labels] + [p for p in labels if p not in PEER_ROWS]
        for label in labels:
            cells = {}
            for column in columns:
                row = chosen.get((kind, label, column))
                if row is None:
                    continue
                cell = {
                    "error_pct": round(float(row["error_pct"]), 2),
                    "accuracy": row.get("accuracy"),
                    "training_time_s": row.get("training_time_s"),
                    "best": label in best[column],
                }
                short = fewer_epochs(row)
                if short:
                    cell["epochs"] = short
                for extra in ("run_dir", "setting"):
                    if row.get(extra):
                        cell[extra] = row[extra]
                cells[column] = cell
            out_rows.append({"label": label, "kind": kind, "cells": cells})
    return {"split": split, "columns": columns, "rows": out_rows, "best": best, "notes": sorted(notes)}


def fewer_epochs(row: dict[str, Any]) -> str | None:
    """``"3 of 10 epochs"`` for a run trained for fewer epochs than its shipped config sets
    (``epochs_run < config_file_epochs``), else ``None``."""
    run, shipped = row.get("epochs_run"), row.get("config_file_epochs")
    if run is None or shipped is None or int(run) >= int(shipped):
        return None
    return f"{int(run)} of {int(shipped)} epochs"


def _error_cell(cell: dict[str, Any]) -> str:
    text = f"**{cell['error_pct']:.2f}**" if cell["best"] else f"{cell['error_pct']:.2f}"
    return f"{text} ({cell['epochs']})" if cell.get("epochs") else text


def _time(seconds: Any) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}" if seconds < 100 else f"{seconds:.0f}"


def _markdown_table(tbl: dict[str, Any], cell: Callable[[dict[str, Any]], str]) -> list[str]:
    columns = tbl["columns"]
    lines = ["| Model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in tbl["rows"]:
        label = row["label"] if row["kind"] == "model" else f"*peer:* {row['label']}"
        values = [cell(row["cells"][c]) if c in row["cells"] else "-" for c in columns]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return lines


def to_markdown(tbl: dict[str, Any]) -> str:
    """The table as Markdown: test errors (best of each column bold), then training times."""
    if not tbl["rows"]:
        return "No results.\n"
    lines = [f"## Test error (%), split `{tbl['split']}`", ""]
    lines += _markdown_table(tbl, _error_cell)
    lines += ["", "Bold: the lowest error of the column. Rows marked *peer:* are other libraries "
              "(python -m benchmarks.peers), not models of the paper. \"(N of M epochs)\": a run "
              "trained for fewer epochs than its shipped config sets.", "",
              "## Training time (s)", ""]
    lines += _markdown_table(tbl, lambda c: _time(c.get("training_time_s")))
    if tbl["notes"]:
        lines += ["", "Duplicate runs:", ""] + [f"- {n}" for n in tbl["notes"]]
    return "\n".join(lines) + "\n"


def write(tbl: dict[str, Any], out_dir: str) -> tuple[str, str]:
    """Writes ``table.md`` and ``table.json`` into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    md_path, json_path = os.path.join(out_dir, "table.md"), os.path.join(out_dir, "table.json")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(to_markdown(tbl))
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(tbl, f, indent=2)
        f.write("\n")
    return md_path, json_path


def _write_pair(out_dir: str, stem: str, markdown: str, value: Any) -> tuple[str, str]:
    """Writes ``OUT/<stem>.md`` and ``OUT/<stem>.json``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    md_path, json_path = os.path.join(out_dir, f"{stem}.md"), os.path.join(out_dir, f"{stem}.json")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
    return md_path, json_path


def write_devise(rows: Sequence[dict[str, Any]], out_dir: str) -> tuple[str, str]:
    """DeViSE's Tables 1 and 2 (``tfpipe.tasks.devise.report``): ``devise.md`` and ``devise.json``."""
    return _write_pair(out_dir, "devise", devise_report.to_markdown(rows), devise_report.to_json(rows))


def write_sje(rows: Sequence[dict[str, Any]], out_dir: str) -> tuple[str, str]:
    """Reed et al.'s Table 1 analog (``tfpipe.tasks.joint_embedding.report``): ``sje.md`` and ``sje.json``."""
    return _write_pair(out_dir, "sje", sje_report.to_markdown(rows), sje_report.to_json(rows))


def write_cse(rows: Sequence[dict[str, Any]], out_dir: str) -> tuple[str, str]:
    """You et al.'s retrieval tables (``tfpipe.tasks.retrieval.report``): ``cse.md`` and ``cse.json``."""
    return _write_pair(out_dir, "cse", cse_report.to_markdown(rows), cse_report.to_json(rows))


def write_phrase_context(found: dict[str, Any], out_dir: str) -> tuple[str, str]:
    """The predicted-context paper's Tables 1-2 analogs and zero-shot rows
    (``tfpipe.tasks.phrase_context.report``): ``phrase_context.md`` and ``phrase_context.json``."""
    return _write_pair(out_dir, "phrase_context", pc_report.to_markdown(found), pc_report.to_json(found))


def run_dirs_from(args_dirs: Sequence[str], runs_glob: str | None) -> list[str]:
    """The explicit run directories plus the directories matching ``runs_glob``, each once."""
    found = list(args_dirs)
    if runs_glob:
        found += sorted(p for p in glob.glob(runs_glob) if os.path.isdir(p))
    seen: set[str] = set()
    unique = []
    for path in found:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.report",
        description="Collect evaluated runs into the paper's Table 4 (test error % per model and "
        "dataset) and a training-time table; writes OUT/table.md and OUT/table.json.",
    )
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                        help="run directories (written by tfpipe.train, evaluated by tfpipe.evaluate)")
    parser.add_argument("--runs_glob", default=None,
                        help="also every directory matching this glob (default when no RUN_DIR is "
                        f"given: '{os.path.join(paths.DEFAULT_RUNS_DIR, '*')}')")
    parser.add_argument("--out", default=os.path.join(paths.HOME, "report"),
                        help="output directory for table.md and table.json (default: %(default)s)")
    parser.add_argument("--split", default="test",
                        help="evaluated split to report (default: %(default)s)")
    parser.add_argument("--peers", default=None, metavar="FILE.json",
                        help="peers' results written by python -m benchmarks.peers --out FILE.json")
    args = parser.parse_args(argv)
    # RUN_DIRs named one by one must be run directories (a glob may match other folders: those
    # are skipped with a warning, as are runs not evaluated yet).
    problem = cli.first_problem(*(("RUN_DIR", run_dir, cli.RUN_DIR) for run_dir in args.run_dirs))
    if problem:
        return cli.print_error(problem)
    peers_hint = "write it with python -m benchmarks.peers --out FILE.json"
    if args.peers is not None:
        problem = cli.path_problem("--peers", args.peers, cli.FILE, peers_hint)
        if problem:
            return cli.print_error(problem)
    problem = cli.output_dir_problem("--out", args.out, "table.md and table.json")
    if problem:
        return cli.print_error(problem)
    peers = None
    if args.peers is not None:
        peers = _read_json(args.peers)
        if peers is None:
            return cli.print_error(f"--peers {args.peers}: not a readable JSON file ({peers_hint})")
        if not isinstance(peers, dict) or not isinstance(peers.get("datasets"), dict):
            return cli.print_error(f"--peers {args.peers} is not the JSON of python -m "
                                   f"benchmarks.peers (no 'datasets' mapping): {peers_hint}")
    runs_glob = args.runs_glob
    if runs_glob is None and not args.run_dirs:
        runs_glob = os.path.join(paths.DEFAULT_RUNS_DIR, "*")
    found = run_dirs_from(args.run_dirs, runs_glob)
    rows = collect(found, split=args.split)
    if peers is not None:
        rows += peer_rows(peers)
    devise_rows = devise_report.collect(found, split=args.split)
    if devise_rows:
        md_path, json_path = write_devise(devise_rows, args.out)
        print(devise_report.to_markdown(devise_rows))
        print(f"wrote {md_path} and {json_path}\n")
    sje_rows = sje_report.collect(found, split=args.split)
    if sje_rows:
        md_path, json_path = write_sje(sje_rows, args.out)
        print(sje_report.to_markdown(sje_rows))
        print(f"wrote {md_path} and {json_path}\n")
    cse_rows = cse_report.collect(found, split=args.split)
    if cse_rows:
        md_path, json_path = write_cse(cse_rows, args.out)
        print(cse_report.to_markdown(cse_rows))
        print(f"wrote {md_path} and {json_path}\n")
    pc_found = pc_report.collect(found, split=args.split)
    if any(pc_found.values()):
        md_path, json_path = write_phrase_context(pc_found, args.out)
        print(pc_report.to_markdown(pc_found))
        print(f"wrote {md_path} and {json_path}\n")
    if (devise_rows or sje_rows or cse_rows or any(pc_found.values())) and not rows:
        return 0
    if not rows:
        print("error: no evaluated runs found (train with python -m tfpipe.train --config "
              "configs/<model>_<dataset>.yaml, then python -m tfpipe.evaluate --model_dir DIR)",
              file=sys.stderr)
        return 1
    tbl = table(rows, split=args.split)
    md_path, json_path = write(tbl, args.out)
    print(to_markdown(tbl))
    print(f"wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
