"""Every comparison model of Zhang et al. (2015) Table 4 on ag_news, trec and mr, beside the peers.

    python -m benchmarks.comparison_models [--datasets ag_news trec mr] [--models bow ngrams_tfidf ...]
                                           [--quick] [--skip_existing] [--timeout_s N]

For each dataset:

1. **Preprocess** (``python -m beam_jobs.preprocess --runner=DirectRunner
   --direct_running_mode=in_memory``) the agreed split (``benchmarks.peers.CORPORA``)
   into every data directory the dataset's configs read: ``artifacts/data/<dataset>``,
   and ``artifacts/data/<dataset>_full`` (``--alphabet full``) when a config
   reads that one.  A data directory no recipe here can make must already exist,
   else its configs are skipped (listed under ``skipped``).
2. **Train and evaluate** each config ``configs/<model>_<dataset>.yaml`` (and
   variants ``configs/<model>_<variant>_<dataset>.yaml``, e.g. ``..._full_ag_news``,
   ``..._th_ag_news``: thesaurus augmentation on the fly, ``data.thesaurus``) for the
   chosen models: ``python -m tfpipe.train --config C --model_dir
   artifacts/runs/<config stem> --verbose 2 --fresh`` (a new, timed run even where one
   finished or was interrupted) then ``python -m tfpipe.evaluate
   --model_dir ...``.  ``--quick`` trains one epoch (``--set train.epochs=1``).
   Models without a config are listed under ``missing_configs``.
3. **Peers**: ``benchmarks.peers.run`` (scikit-learn TF-IDF + LR, fastText), saved
   to ``artifacts/report/peers.json`` (merged with the datasets already there).
4. **Report**: ``tfpipe.report`` over every ``artifacts/runs/<model>[_<variant>]_<dataset>``
   run plus the peers, written to ``artifacts/report/table.{md,json}``.

Checks per dataset: ``ngrams_tfidf`` (config ``ngrams_tfidf_<dataset>``) within
0.5 accuracy points of the scikit-learn peer, and the best model's accuracy at
least the best peer's (``null`` when a side has no result).

Progress and the children's output go to stderr; the last line of stdout is one
JSON document (see :func:`run`).  A failing step is recorded (``status:
"failed"`` with the tail of its output) and the rest goes on.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import peers as peers_lib  # noqa: E402
from tfpipe import cli  # noqa: E402
from tfpipe import report  # noqa: E402

# The registered models of Table 4 (the paper's row order).
MODELS = tuple(report.MODEL_LABELS)

# Data directory variants (the part after "<dataset>_") this script can make, and the extra
# preprocessing flags of each.  The plain directory is the agreed split with the defaults.
DATA_VARIANTS: dict[str, list[str]] = {"": [], "full": ["--alphabet", "full"]}

SKLEARN_CHECK = "ngrams_tfidf within 0.5 points of sklearn"
BEST_CHECK = "best model >= best peer"
TAIL_LINES = 30


def log(message: str) -> None:
    print(f"[comparison_models] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- configs


def parse_stem(stem: str, datasets: Sequence[str] = tuple(peers_lib.CORPORA),
               models: Sequence[str] = MODELS) -> tuple[str, str, str] | None:
    """``(model, variant, dataset)`` of a config stem ``<model>[_<variant>]_<dataset>``, or None.

    The longest model name that fits wins (``bow_tfidf_mr`` is bow_tfidf, not a
    ``tfidf`` variant of bow).
    """
    for dataset in datasets:
        if not stem.endswith("_" + dataset):
            continue
        head = stem[: -len(dataset) - 1]
        for model in sorted(models, key=len, reverse=True):
            if head == model:
                return model, "", dataset
            if head.startswith(model + "_"):
                return model, head[len(model) + 1:], dataset
    return None


def find_configs(dataset: str, models: Sequence[str], configs_dir: str) -> dict[str, list[str]]:
    """``{model: [config paths]}`` for ``dataset``: the plain config first, then variants."""
    found: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    if os.path.isdir(configs_dir):
        for name in sorted(os.listdir(configs_dir)):
            if not name.endswith(".yaml"):
                continue
            parsed = parse_stem(name[: -len(".yaml")], (dataset,))
            if parsed and parsed[0] in models:
                found[parsed[0]].append((parsed[1], os.path.join(configs_dir, name)))
    return {m: [path for _, path in sorted(found[m])] for m in models if found.get(m)}


def config_data_dir(config_path: str) -> str:
    """The ``data.dir`` a config file names (the default data directory when it names none)."""
    import yaml

    from tfpipe import paths

    with open(config_path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    return (raw.get("data") or {}).get("dir") or paths.DEFAULT_DATA_DIR


def preprocess_command(dataset: str, data_dir: str, *, data_root: str) -> list[str] | None:
    """The preprocessing command that writes ``data_dir`` for ``dataset``, or None when
    ``data_dir``'s name is not ``<dataset>`` or ``<dataset>_<known variant>``."""
    base = os.path.basename(os.path.normpath(data_dir))
    if base == dataset:
        variant = ""
    elif base.startswith(dataset + "_"):
        variant = base[len(dataset) + 1:]
    else:
        return None
    if variant not in DATA_VARIANTS:
        return None
    spec = peers_lib.CORPORA[dataset]
    inputs, tests = peers_lib.input_paths(dataset, data_root)
    cmd = [sys.executable, "-m", "beam_jobs.preprocess", "--runner=DirectRunner",
           "--direct_running_mode=in_memory", "--format", spec["format"], "--input", *inputs]
    if tests:
        cmd += ["--test_input", *tests]
    else:
        cmd += ["--test_fraction", str(spec["test_fraction"]), "--seed", str(spec["seed"])]
    return cmd + DATA_VARIANTS[variant] + ["--dataset", dataset, "--output_dir", data_dir]


# --------------------------------------------------------------------------- subprocesses


def run_step(cmd: Sequence[str], *, timeout_s: float | None = None) -> tuple[int, list[str], float]:
    """Runs ``cmd`` in the current directory, streaming its output to stderr.

    Returns ``(exit status, last lines of output, wall seconds)``; a step killed
    after ``timeout_s`` has status 124.
    """
    log("$ " + " ".join(cmd))
    start = time.perf_counter()
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.Popen(list(cmd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = 124
        tail.append(f"(killed after {timeout_s} s)")
    except BaseException:
        proc.kill()
        raise
    reader.join(timeout=10)
    return code, list(tail), time.perf_counter() - start


# --------------------------------------------------------------------------- one dataset


def _model_entry(model: str, run_dir: str, status: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": model, "run_dir": run_dir, "status": status, **extra}
    rows = report.collect([run_dir], warn=lambda message: None) if status != "failed" else []
    if rows:
        row = rows[0]
        entry.update(label=row["label"], accuracy=row["accuracy"], error_pct=row["error_pct"],
                     training_time_s=row["training_time_s"], epochs_run=row["epochs_run"])
    return entry


def prepare_data(dataset: str, data_dirs: Sequence[str], *, data_root: str, skip_existing: bool,
                 timeout_s: float | None) -> tuple[dict[str, str | None], dict[str, Any]]:
    """Preprocesses each of ``data_dirs`` that a recipe here can make.

    Returns ``({data dir: None when usable, else why not}, {data dir: what was done})``.
    """
    ready: dict[str, str | None] = {}
    done: dict[str, Any] = {}
    for data_dir in data_dirs:
        if data_dir in ready:
            continue
        exists = os.path.exists(os.path.join(data_dir, "manifest.json"))
        cmd = preprocess_command(dataset, data_dir, data_root=data_root)
        if exists and (skip_existing or cmd is None):
            done[data_dir] = {"status": "existing"}
            ready[data_dir] = None
        elif cmd is None:
            known = "|".join(v for v in DATA_VARIANTS if v)
            ready[data_dir] = (f"data dir {data_dir} does not exist and this script has no recipe for it "
                               f"(it makes {dataset} and {dataset}_<{known}>); preprocess it first")
        else:
            code, tail, seconds = run_step(cmd, timeout_s=timeout_s)
            done[data_dir] = {"status": "done" if code == 0 else "failed", "seconds": round(seconds, 1),
                              **({"exit_code": code, "tail": tail} if code else {})}
            ready[data_dir] = None if code == 0 else f"preprocessing {data_dir} failed (exit {code})"
    return ready, done


def run_dataset(dataset: str, models: Sequence[str], *, configs_dir: str, runs_dir: str, data_root: str,
                quick: bool, skip_existing: bool, timeout_s: float | None) -> dict[str, Any]:
    """Preprocesses, trains and evaluates every config of ``dataset``; returns its JSON entry
    (``models``, ``missing_configs``, ``skipped``, ``preprocess``)."""
    from tfpipe import paths

    configs = find_configs(dataset, models, configs_dir)
    missing = [m for m in models if m not in configs]
    if missing:
        log(f"{dataset}: no config for {missing}")
    # The plain data directory always, then every other one a config reads.
    data_dirs = [os.path.join(paths.HOME, "data", dataset)]
    data_dirs += [config_data_dir(c) for cs in configs.values() for c in cs]
    ready, preprocess = prepare_data(dataset, data_dirs, data_root=data_root, skip_existing=skip_existing,
                                     timeout_s=timeout_s)
    out: dict[str, Any] = {"models": {}, "missing_configs": missing, "skipped": {}, "preprocess": preprocess}
    for model, config_paths in configs.items():
        for config in config_paths:
            stem = os.path.splitext(os.path.basename(config))[0]
            run_dir = os.path.join(runs_dir, stem)
            why_not = ready[config_data_dir(config)]
            if why_not:
                log(f"{stem}: skipped: {why_not}")
                out["skipped"][stem] = why_not
                continue
            if skip_existing and os.path.exists(os.path.join(run_dir, "results.json")):
                log(f"{stem}: results.json exists; not retrained (--skip_existing)")
                out["models"][stem] = _model_entry(model, run_dir, "existing", config=config)
                continue
            train = [sys.executable, "-m", "tfpipe.train", "--config", config, "--model_dir", run_dir,
                     "--verbose", "2", "--fresh"] + (["--set", "train.epochs=1"] if quick else [])
            code, tail, train_s = run_step(train, timeout_s=timeout_s)
            if code == 0:
                code, tail, _ = run_step([sys.executable, "-m", "tfpipe.evaluate", "--model_dir", run_dir],
                                         timeout_s=timeout_s)
            if code != 0:
                out["models"][stem] = _model_entry(model, run_dir, "failed", config=config, exit_code=code,
                                                   tail=tail)
                continue
            out["models"][stem] = _model_entry(model, run_dir, "trained", config=config,
                                               wall_s=round(train_s, 1))
    return out


def checks(dataset: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The two checks of one dataset (``None`` where a side has no result), with the figures."""
    accuracies = {stem: m["accuracy"] for stem, m in entry["models"].items() if m.get("accuracy") is not None}
    peers = {name: p["accuracy"] for name, p in (entry.get("peers") or {}).items()
             if p.get("accuracy") is not None}
    result: dict[str, Any] = {}
    ngrams = accuracies.get(f"ngrams_tfidf_{dataset}")
    sklearn = peers.get(peers_lib.SKLEARN)
    if ngrams is None or sklearn is None:
        result[SKLEARN_CHECK] = None
    else:
        gap = round(100.0 * (ngrams - sklearn), 2)
        result[SKLEARN_CHECK] = abs(gap) <= 0.5
        result["ngrams_tfidf_minus_sklearn_pts"] = gap
    if accuracies and peers:
        best_model = max(accuracies, key=accuracies.get)
        best_peer = max(peers, key=peers.get)
        result[BEST_CHECK] = accuracies[best_model] >= peers[best_peer]
        result["best_model"] = {"run": best_model, "accuracy": accuracies[best_model]}
        result["best_peer"] = {"peer": best_peer, "accuracy": peers[best_peer]}
    else:
        result[BEST_CHECK] = None
    return result


# --------------------------------------------------------------------------- everything


def report_run_dirs(runs_dir: str) -> list[str]:
    """Run directories named like a Table 4 config (``<model>[_<variant>]_<dataset>``)."""
    if not os.path.isdir(runs_dir):
        return []
    return [os.path.join(runs_dir, name) for name in sorted(os.listdir(runs_dir))
            if os.path.isdir(os.path.join(runs_dir, name)) and parse_stem(name) is not None]


def merge_peers(path: str, fresh: dict[str, Any]) -> dict[str, Any]:
    """``fresh`` with the datasets of an earlier peers file at ``path`` that it does not redo."""
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return fresh
    merged = dict(fresh)
    merged["datasets"] = {**(old.get("datasets") or {}), **fresh["datasets"]}
    return merged


def run(datasets: Sequence[str], models: Sequence[str], *, quick: bool = False, skip_existing: bool = False,
        configs_dir: str = "configs", runs_dir: str | None = None, report_dir: str | None = None,
        data_root: str = peers_lib.DEFAULT_DATA_ROOT, timeout_s: float | None = None) -> dict[str, Any]:
    """The whole comparison; returns the JSON document printed on stdout.

    ``{"benchmark", "quick", "datasets": {dataset: {"models": {config stem: {"model",
    "label", "accuracy", "error_pct", "training_time_s", "status", ...}}, "peers":
    {peer: {"accuracy", "training_time_s", "best"}}, "checks": {...},
    "missing_configs": [...], "skipped": {...}, "preprocess": {...}}},
    "missing_configs": {dataset: [...]}, "report": path, "seconds"}``.
    """
    cwd = os.getcwd()
    os.chdir(ROOT)  # configs, data and run directories are relative to the repository root
    try:
        return _run(datasets, models, quick=quick, skip_existing=skip_existing, configs_dir=configs_dir,
                    runs_dir=runs_dir, report_dir=report_dir, data_root=os.path.join(cwd, data_root),
                    timeout_s=timeout_s)
    finally:
        os.chdir(cwd)


def _run(datasets: Sequence[str], models: Sequence[str], *, quick: bool, skip_existing: bool, configs_dir: str,
         runs_dir: str | None, report_dir: str | None, data_root: str, timeout_s: float | None) -> dict[str, Any]:
    from tfpipe import paths

    runs_dir = runs_dir or paths.DEFAULT_RUNS_DIR
    report_dir = report_dir or os.path.join(paths.HOME, "report")
    start = time.perf_counter()
    out: dict[str, Any] = {}
    for dataset in datasets:
        log(f"=== {dataset} ===")
        out[dataset] = run_dataset(dataset, models, configs_dir=configs_dir, runs_dir=runs_dir,
                                   data_root=data_root, quick=quick, skip_existing=skip_existing,
                                   timeout_s=timeout_s)

    log("=== peers ===")
    peer_results = peers_lib.run(datasets, data_root=data_root, quick=quick, log=log)
    peers_file = os.path.join(report_dir, "peers.json")
    peer_results = merge_peers(peers_file, peer_results)
    peers_lib.write(peer_results, peers_file)
    for dataset in datasets:
        entry = peer_results["datasets"][dataset]["peers"]
        out[dataset]["peers"] = {name: {k: p.get(k) for k in ("accuracy", "error_pct", "training_time_s", "best",
                                                             "reference_accuracy_pct")}
                                 for name, p in entry.items()}
        out[dataset]["checks"] = checks(dataset, out[dataset])

    rows = report.collect(report_run_dirs(runs_dir), warn=log) + report.peer_rows(peer_results)
    table = report.table(rows)
    md_path, _ = report.write(table, report_dir)
    print(report.to_markdown(table), file=sys.stderr)
    return {
        "benchmark": "comparison_models",
        "quick": quick,
        "datasets": out,
        "missing_configs": {d: out[d]["missing_configs"] for d in datasets},
        "checks": {d: {k: out[d]["checks"].get(k) for k in (SKLEARN_CHECK, BEST_CHECK)} for d in datasets},
        "report": md_path,
        "peers_file": peers_file,
        "seconds": round(time.perf_counter() - start, 1),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.comparison_models", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(peers_lib.DATASETS), choices=sorted(peers_lib.CORPORA),
                   help="datasets (default: %(default)s)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, metavar="MODEL",
                   help=f"models (default: all of {', '.join(MODELS)})")
    p.add_argument("--quick", action="store_true",
                   help="one training epoch per model, and the peers' --quick settings")
    p.add_argument("--skip_existing", action="store_true",
                   help="keep data directories that have a manifest.json and runs that have a results.json")
    p.add_argument("--configs_dir", default="configs", help="where the configs are (default: %(default)s)")
    p.add_argument("--data_root", default=peers_lib.DEFAULT_DATA_ROOT,
                   help="folder holding ag_news/, trec/, mr/ (default: ../shared/data beside the repo)")
    p.add_argument("--timeout_s", type=float, default=None,
                   help="kill a preprocessing/training/evaluation step after this many seconds")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    missing = [p for d in args.datasets for p in sum(peers_lib.input_paths(d, args.data_root), [])
               if not os.path.exists(p)]
    if missing:
        print(f"error: corpus files not found: {missing} (they live in ../shared/data beside the repo; "
              "--data_root moves it)", file=sys.stderr)
        sys.exit(2)
    result = run(args.datasets, args.models, quick=args.quick, skip_existing=args.skip_existing,
                 configs_dir=args.configs_dir, data_root=args.data_root, timeout_s=args.timeout_s)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
