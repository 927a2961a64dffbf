"""``python -m tfpipe.evaluate``: evaluate a run with its task (a classifier: test error, per-class
accuracy and the confusion matrix).

    python -m tfpipe.evaluate --model_dir DIR [--data_dir DIR] [--split test]

Reads the run's ``model.keras`` and ``config.yaml`` (the data directory
defaults to the one the run trained on), predicts every example of the split
once and writes ``DIR/results.json``:

  ``test_accuracy``, ``test_error_pct``, ``test_loss`` (named after the split),
  ``accuracy``, ``error_pct``, ``loss`` (the same, unprefixed), ``split``,
  ``num_examples``, ``class_names``, ``class_counts``, ``per_class_accuracy``
  (class name -> accuracy, null for a class absent from the split),
  ``confusion_matrix`` (rows = true class, columns = predicted), and the
  training time / throughput copied from ``train_results.json``.

A split other than the config's ``eval.split`` is written to
``results_<split>.json`` so it does not replace the test results.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Sequence

from tfpipe import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO chatter

def evaluate(model_dir: str, *, data_dir: str | None = None, split: str | None = None) -> tuple[dict[str, Any], str]:
    """Evaluates a run on ``split`` with its task (``Task.evaluate``); writes the results and
    returns ``(results, path written)``."""
    from tfpipe import tasks
    from tfpipe.training import runs

    cfg = runs.load_config(model_dir)
    task = tasks.resolve(cfg)
    split = split or cfg.eval.split
    data_dir = data_dir or cfg.data.dir
    results = task.evaluate(model_dir, cfg, data_dir=data_dir, split=split)
    path = os.path.join(model_dir, task.results_file(cfg, data_dir=data_dir, split=split))
    runs.write_json(path, results)
    return results, path


def format_table(results: dict[str, Any]) -> str:
    """A small plain-text table of the results."""
    names = results["class_names"]
    width = max([len(n) for n in names] + [5])
    lines = [
        f"{results['model']} on {results['data_dir']}, split {results['split']}: "
        f"{results['num_examples']} examples",
        f"  accuracy {100 * results['accuracy']:.2f} %   error {results['error_pct']:.2f} %"
        + (f"   loss {results['loss']:.4f}" if results.get("loss") is not None else ""),
        "",
        f"  {'class':<{width}}  {'n':>6}  {'accuracy':>8}",
    ]
    for name in names:
        acc = results["per_class_accuracy"][name]
        shown = f"{100 * acc:7.2f}%" if acc is not None else "     n/a"
        lines.append(f"  {name:<{width}}  {results['class_counts'][name]:>6}  {shown:>8}")
    short = [n[:7] for n in names]
    lines += ["", f"  confusion matrix (rows: true class, columns: predicted)",
              f"  {'':<{width}}  " + " ".join(f"{s:>7}" for s in short)]
    for name, row in zip(names, results["confusion_matrix"]):
        lines.append(f"  {name:<{width}}  " + " ".join(f"{v:>7}" for v in row))
    if results.get("training_time_s") is not None:
        eps = results.get("examples_per_sec")
        lines += ["", f"  training time {results['training_time_s']:.1f} s"
                  + (f" ({eps:.0f} examples/s)" if eps else "")]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.evaluate",
        description="Evaluate a trained run: writes MODEL_DIR/results.json (test error %, per-class "
        "accuracy, confusion matrix) and prints a table.",
    )
    parser.add_argument("--model_dir", required=True, help="run directory written by python -m tfpipe.train")
    parser.add_argument("--data_dir", default=None,
                        help="preprocessed data directory (default: the one in the run's config.yaml)")
    parser.add_argument("--split", default=None,
                        help="split to evaluate (default: the run's eval.split, normally 'test'); other "
                        "splits go to results_<split>.json")
    args = parser.parse_args(argv)
    problem = cli.first_problem(("--model_dir", args.model_dir, cli.RUN_DIR),
                                ("--data_dir", args.data_dir, cli.DATA_DIR))
    if problem:
        return cli.print_error(problem)
    from tfpipe.config import ConfigError
    from tfpipe.training.datasets import DataError

    try:
        results, path = evaluate(args.model_dir, data_dir=args.data_dir, split=args.split)
    except (ConfigError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from tfpipe import tasks

    text = tasks.get(results["task"]).format_results(results) if results.get("task") in tasks.names() else None
    print(text or format_table(results))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
