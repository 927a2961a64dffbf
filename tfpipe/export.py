"""``python -m tfpipe.export``: save a trained run's serving artifact, written by its task.

    python -m tfpipe.export --model_dir DIR [--out DIR] [--data_dir DIR]

A devise run becomes a SavedModel from image bytes to top-k labels, one
signature per candidate set (``tfpipe.tasks.devise.serving``).  A classification
run (``tfpipe.tasks.classification``) becomes a SavedModel that takes raw strings.  The SavedModel (default ``DIR/export``) has one serving function, exposed
as the signatures ``serve`` and ``serving_default``::

    serve(text: tf.string [None]) -> {
        "probabilities": float32 [None, num_classes],
        "class_id":      int64   [None],
        "class_name":    string  [None],
    }

It runs the *same* text-to-input code as training (``tfpipe.data.features``:
the quantizer with the manifest's alphabet and ``l0`` for character models,
the tokenizer and vocabulary for word models, the feature table with its idf
weights or word clusters for bag-of-features models) and then the model, in
float32.  Beside it,
``assets.extra/`` holds ``class_names.json``, the data ``manifest.json`` and
the run's ``config.yaml``.  Loading needs only TensorFlow (plus
``tensorflow_text`` for word models): see ``python -m tfpipe.predict``.
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

from tfpipe import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO chatter


def export(model_dir: str, out: str | None = None, *, data_dir: str | None = None) -> str:
    """Writes the run's serving artifact with its task (``Task.export``); returns its directory."""
    from tfpipe import tasks
    from tfpipe.training import runs

    cfg = runs.load_config(model_dir)
    task = tasks.resolve(cfg)
    out = out or os.path.join(model_dir, runs.EXPORT_DIR)
    return task.export(model_dir, cfg, out, data_dir=data_dir or cfg.data.dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.export",
        description="Save a trained run as a SavedModel: a text classifier's 'serve' signature takes raw "
        "strings (text: tf.string [None]) and returns probabilities, class_id and class_name; a devise run's "
        "signatures (one per candidate label set) take image bytes and return the top-k labels.",
    )
    parser.add_argument("--model_dir", required=True, help="run directory written by python -m tfpipe.train")
    parser.add_argument("--out", default=None, help="SavedModel directory (default: MODEL_DIR/export); replaced")
    parser.add_argument("--data_dir", default=None,
                        help="data directory whose manifest gives alphabet, l0, vocabulary and class names "
                        "(default: the one in the run's config.yaml)")
    args = parser.parse_args(argv)
    problem = cli.first_problem(("--model_dir", args.model_dir, cli.RUN_DIR),
                                ("--data_dir", args.data_dir, cli.DATA_DIR))
    if problem:
        return cli.print_error(problem)
    if args.out is not None and cli.path_kind(args.out) not in (cli.MISSING, cli.EMPTY_DIR,
                                                                 cli.SAVED_MODEL, cli.REMOTE):
        # The export directory is replaced: never delete something that is not an export.
        return cli.print_error(f"--out {cli.describe(args.out)}, not a SavedModel to replace: "
                               "give a new directory (default: MODEL_DIR/export)")
    from tfpipe.config import ConfigError
    from tfpipe.training.datasets import DataError

    try:
        out = export(args.model_dir, args.out, data_dir=args.data_dir)
    except (ConfigError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from tfpipe import tasks
    from tfpipe.training import runs

    for line in tasks.of_config(runs.load_config(args.model_dir)).export_usage(out):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
