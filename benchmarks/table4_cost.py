"""What the rows of Zhang et al.'s Table 4 cost to train here: measured seconds per training step
of each config's own model and input pipeline, and from them seconds per epoch and hours per run,
set beside the epoch times of runs that finished.

    python -m benchmarks.table4_cost [--configs configs/char_cnn_small_trec.yaml ...] [--steps 8]
                                     [--warmup 3] [--runs_dir artifacts/runs] [--out FILE.json]

For each config (default: every shipped Table 4 config of ag_news, trec and mr: the char and word
ConvNets, all variants, and the word LSTM), the task seam builds exactly what ``tfpipe.train``
would (``tasks.of_config(cfg).build``, the config's precision, batch size and data pipeline, its
on-the-fly thesaurus when it has one), then ``model.fit`` runs ``--warmup`` steps (graph tracing,
caches: not timed) and ``--steps`` timed steps on the config's own train batches.  A config whose
``model.embeddings`` names skip-gram vectors that are not there is timed with random vectors of
the same shape (``vectors: "random stand-in"``): the step is the same computation.

Configs that differ only in their dataset (``cost_key``: same model and options, batch size,
precision and thesaurus; the inputs have one shape, ``l0`` = 1014 characters or 256 words, on every
corpus) run the same step: it is timed once, on the first of them, and ``timed_as`` names it.

Per config: ``s_per_step`` (wall, and per CPU second of the process), ``steps_per_epoch`` (the
plan's), ``epoch_s`` = steps x s/step (training only; the per-epoch evaluation on the test split
comes on top), ``run_h`` = epochs x epoch_s.  Where ``--runs_dir`` holds a finished run of the
config (``train_results.json``), ``measured_epoch_s`` is its training time per epoch and
``measured_over_estimate`` the ratio: the check of the estimate.  ``total_h``: all configs
without a finished run.

Every figure moves with the machine's load (recorded before and after).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = ("ag_news", "trec", "mr")
PATTERNS = ("char_cnn_*_{d}.yaml", "word_cnn_*_{d}.yaml", "word_lstm_{d}.yaml")


def table4_configs() -> list[str]:
    """The shipped Table 4 configs of the ConvNets and the LSTM (relative to the repository)."""
    found = set()
    for d in DATASETS:
        for pattern in PATTERNS:
            found.update(glob.glob(os.path.join(ROOT, "configs", pattern.format(d=d))))
    return sorted(os.path.relpath(p, ROOT) for p in found if "paper_sgd" not in p)


def _vectors_override(cfg) -> tuple[list[str], str]:
    path = cfg.model.get("embeddings")
    if path and not os.path.exists(path):
        return ["model.embeddings=null"], "random stand-in"
    return [], "as configured" if path else "none"


def cost_key(cfg) -> tuple:
    """Configs with the same key run the same step (model, batch, precision, input shape, the
    thesaurus's work in the pipeline): only the dataset's size and number of classes differ."""
    return (cfg.model_name, bool(cfg.data.thesaurus), cfg.train.batch_size, cfg.train.mixed_precision,
            tuple(sorted((k, str(v)) for k, v in cfg.model.items() if k not in ("name", "embeddings"))))


def measure(config_path: str, *, steps: int, warmup: int, runs_dir: str, timed: dict | None = None) -> dict:
    """One config's figures; ``timed`` (``cost_key`` -> ``(config, s_per_step, cpu_s_per_step)``)
    reuses the step time of a config of the same key (``timed_as``), else times it and adds it."""
    import keras

    from tfpipe import config as config_lib
    from tfpipe import tasks
    from tfpipe.training import devices

    cfg = config_lib.load(config_path)
    overrides, vectors = _vectors_override(cfg)
    if overrides:
        cfg = config_lib.load(config_path, overrides)
    task = tasks.of_config(cfg)
    data = task.open_data(cfg)
    timed = {} if timed is None else timed
    key = cost_key(cfg)
    policy = task.precision(cfg)
    try:
        with devices.precision_scope(policy):
            keras.utils.set_random_seed(cfg.train.seed)
            with tempfile.TemporaryDirectory() as tmp:
                plan = task.build(cfg, data, tmp, first_epoch=0, verbose=0, steps_per_execution=lambda s: 1)
                if key not in timed:
                    model = plan.model
                    model.fit(plan.train_ds, epochs=1, steps_per_epoch=warmup, verbose=0, shuffle=False)
                    wall, cpu = time.perf_counter(), time.process_time()
                    model.fit(plan.train_ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    timed[key] = (config_path, wall / steps, cpu / steps)
    finally:
        keras.backend.clear_session()
    timed_as, per_step, cpu_per_step = timed[key]
    steps_per_epoch = plan.steps or -(-plan.examples_per_epoch // cfg.train.batch_size)
    epoch_s = per_step * steps_per_epoch
    out = {
        "model": cfg.model_name, "dataset": data.name, "thesaurus": cfg.data.thesaurus,
        "precision": policy, "batch_size": cfg.train.batch_size, "vectors": vectors,
        "s_per_step": round(per_step, 4), "cpu_s_per_step": round(cpu_per_step, 4),
        "timed_as": timed_as,
        "steps_per_epoch": steps_per_epoch, "epochs": cfg.train.epochs,
        "epoch_s": round(epoch_s, 1), "run_h": round(epoch_s * cfg.train.epochs / 3600, 2),
    }
    stem = os.path.splitext(os.path.basename(config_path))[0]
    results = os.path.join(runs_dir, stem, "train_results.json")
    if os.path.exists(results):
        with open(results, encoding="utf-8") as f:
            trained = json.load(f)
        if trained.get("epochs_run"):
            measured = trained["training_time_s"] / trained["epochs_run"]
            out.update(finished_run=True, epochs_run=trained["epochs_run"], measured_epoch_s=round(measured, 1),
                       measured_over_estimate=round(measured / epoch_s, 2))
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.table4_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=None, help="configs to time (default: every Table 4 ConvNet/LSTM config)")
    p.add_argument("--steps", type=int, default=8, help="timed training steps per config")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing, caches)")
    p.add_argument("--runs_dir", default=os.path.join("artifacts", "runs"), help="finished runs to compare with")
    p.add_argument("--out", default=None, help="also write the JSON, indented, to this file")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        p.error("--steps and --warmup must be at least 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    configs = args.configs or table4_configs()
    load = {"before": os.getloadavg()}
    rows, failed, timed = {}, {}, {}
    for path in configs:
        try:
            rows[path] = measure(path, steps=args.steps, warmup=args.warmup, runs_dir=args.runs_dir, timed=timed)
        except Exception as e:  # a missing dataset or vectors: say which, go on with the others
            failed[path] = f"{type(e).__name__}: {e}"
        print(json.dumps({path: rows.get(path) or failed[path]}), file=sys.stderr, flush=True)
    load["after"] = os.getloadavg()
    todo = [r for r in rows.values() if not r.get("finished_run")]
    result = {"steps": args.steps, "warmup": args.warmup, "load_average": load, "configs": rows, "failed": failed,
              "total_h": round(sum(r["run_h"] for r in todo), 1), "configs_without_a_run": len(todo)}
    print(json.dumps(result))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
