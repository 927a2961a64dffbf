"""``python -m tfpipe.export``: save a trained run as a SavedModel that takes raw strings.

    python -m tfpipe.export --model_dir DIR [--out DIR] [--data_dir DIR]

The SavedModel (default ``DIR/export``) has one serving function, exposed
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

import json
import os
import shutil
import sys
from typing import Sequence

from tfpipe import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO chatter

SIGNATURE = "serve"
EXTRA_DIR = "assets.extra"


def _serving_module(model, manifest, featurizer):
    import tensorflow as tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__(name="tfpipe_serving")
            self.model = model
            self.featurizer = featurizer
            self.class_names = tf.constant(manifest.class_names, dtype=tf.string)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            probs = tf.cast(self.model(self.featurizer(text), training=False), tf.float32)
            class_id = tf.argmax(probs, axis=-1, output_type=tf.int64)
            return {
                "probabilities": probs,
                "class_id": class_id,
                "class_name": tf.gather(self.class_names, class_id),
            }

    return Serving()


def export(model_dir: str, out: str | None = None, *, data_dir: str | None = None) -> str:
    """Writes the SavedModel for a run; returns its directory."""
    import tensorflow as tf

    from tfpipe.data import manifest as manifest_lib
    from tfpipe.training import datasets, modeling, runs

    cfg = runs.load_config(model_dir)
    data_dir = data_dir or cfg.data.dir
    manifest = datasets.load_manifest(data_dir)
    featurizer = datasets.featurizer(cfg, manifest, data_dir, model_dir)
    model = modeling.load_model(model_dir, cfg, manifest, data_dir, featurizer.num_features)
    module = _serving_module(model, manifest, featurizer)

    out = out or os.path.join(model_dir, runs.EXPORT_DIR)
    if os.path.exists(out):
        shutil.rmtree(out)
    serve = module.serve.get_concrete_function()
    tf.saved_model.save(module, out, signatures={SIGNATURE: serve, "serving_default": serve})
    extra = os.path.join(out, EXTRA_DIR)
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, "class_names.json"), "w", encoding="utf-8") as f:
        json.dump(manifest.class_names, f, ensure_ascii=False)
    with open(os.path.join(extra, manifest_lib.MANIFEST_FILE), "w", encoding="utf-8") as f:
        f.write(manifest.to_json() + "\n")
    shutil.copy(os.path.join(model_dir, runs.CONFIG_FILE), os.path.join(extra, runs.CONFIG_FILE))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.export",
        description="Save a trained run as a SavedModel whose 'serve' signature takes raw strings "
        "(text: tf.string [None]) and returns probabilities, class_id and class_name.",
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
    from tfpipe.training.datasets import DataError

    try:
        out = export(args.model_dir, args.out, data_dir=args.data_dir)
    except (DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exported {out}  (signature '{SIGNATURE}': text string[None] -> probabilities, class_id, class_name)")
    print(f'try: python -m tfpipe.predict --model {out} "some text"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
