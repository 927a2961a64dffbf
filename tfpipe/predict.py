"""``python -m tfpipe.predict``: classify raw text, or label images, with an exported SavedModel.

    python -m tfpipe.predict "some text" ["more text" ...] [--model DIR] [--json]
    python -m tfpipe.predict --model RUN/export --image FILE.jpg [--image ...] [--labels unseen] [--json]

Loads the SavedModel written by ``python -m tfpipe.export`` with
``tf.saved_model.load`` alone (no tfpipe model code, no Keras).  A text
classifier prints, for each text, the predicted class and the probability of
every class.  A devise export (``--image``) prints each image's top-k labels
with their scores among the candidate set ``--labels`` (a signature of the
export: ``seen``, a zero-shot set such as ``unseen``, or ``<set>_and_seen``;
default ``seen``; ``tfpipe.tasks.devise.serving``).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Sequence

from tfpipe import cli
from tfpipe import paths

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO chatter

DEFAULT_MODEL = os.path.join(paths.DEFAULT_RUNS_DIR, "char_cnn_small_default", "export")
CLASS_NAMES_FILE = os.path.join("assets.extra", "class_names.json")  # written by tfpipe.export


def load(model: str):
    """The exported ``serve`` function and the class names stored beside it."""
    import tensorflow as tf

    try:  # word models use tensorflow-text ops, which must be registered before loading
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    loaded = tf.saved_model.load(model)
    with open(os.path.join(model, CLASS_NAMES_FILE), encoding="utf-8") as f:
        class_names = json.load(f)
    return loaded.signatures["serve"], class_names


def predict(model: str, texts: Sequence[str]) -> list[dict]:
    """One dict per text: ``text``, ``class_name``, ``class_id``, ``probabilities`` (name -> p)."""
    import tensorflow as tf

    serve, class_names = load(model)
    out = serve(text=tf.constant(list(texts), dtype=tf.string))
    probs = out["probabilities"].numpy()
    return [
        {
            "text": text,
            "class_name": out["class_name"][i].numpy().decode("utf-8"),
            "class_id": int(out["class_id"][i]),
            "probabilities": {name: float(p) for name, p in zip(class_names, probs[i])},
        }
        for i, text in enumerate(texts)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.predict",
        description="Classify raw text with a SavedModel written by python -m tfpipe.export.",
    )
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="text(s) to classify")
    parser.add_argument("--image", action="append", default=[], metavar="FILE",
                        help="an image file (JPEG, PNG, ...) to label with a devise export; repeatable")
    parser.add_argument("--labels", default=None,
                        help="devise export: the candidate set to rank (a signature: seen, unseen, "
                        "<set>_and_seen, ...; default seen)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"exported SavedModel (default: {DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    args = parser.parse_args(argv)
    problem = cli.path_problem("--model", args.model, cli.SAVED_MODEL)
    if problem:
        return cli.print_error(problem)
    if bool(args.texts) == bool(args.image):
        return cli.print_error("give TEXT arguments (a text classifier) or --image FILE (a devise export), "
                               "not both and not neither")
    if args.image:
        return _predict_images(args)
    if "://" not in args.model and not os.path.isfile(os.path.join(args.model, CLASS_NAMES_FILE)):
        return cli.print_error(
            f"--model {args.model} is a SavedModel but not one of python -m tfpipe.export (no "
            f"{CLASS_NAMES_FILE}): {cli.HOW_TO[cli.SAVED_MODEL]}")
    for result in predict(args.model, args.texts):
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        print(f"{result['class_name']}\t{result['text'][:70]!r}")
        for name, p in sorted(result["probabilities"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:<20} {p:.4f}")
    return 0


def _predict_images(args) -> int:
    from tfpipe.tasks.devise import serving

    if serving.read_info(args.model) is None:
        return cli.print_error(f"--model {args.model} is not a devise export (no {serving.INFO_FILE}): "
                               "--image needs one (python -m tfpipe.export --model_dir <a devise run>)")
    from tfpipe.data import images as images_lib

    images = []
    for path in args.image:
        if not os.path.isfile(path):
            return cli.print_error(f"--image {path}: no such file")
        try:  # the image job's checks and reasons (empty_file, undecodable_image, truncated_image, ...)
            data = images_lib.read_file(path)
            images_lib.prepare(data, images_lib.Resize("none"), name=path)
        except images_lib.ImageError as e:
            return cli.print_error(f"--image {e}")
        images.append(data)
    import tensorflow as tf

    try:
        results = serving.predict(args.model, images, labels=args.labels)
    except ValueError as e:
        return cli.print_error(str(e))
    except tf.errors.InvalidArgumentError as e:  # a format PIL reads but the graph's decoder does not
        return cli.print_error(f"--image: the exported model cannot decode one of {args.image} (JPEG, PNG, GIF "
                               f"and BMP are decoded in the graph): {e.message.splitlines()[0]}")
    for path, result in zip(args.image, results):
        if args.json:
            print(json.dumps({"image": path, **result}, ensure_ascii=False))
            continue
        print(path)
        for label, text, score in zip(result["labels"], result["texts"], result["scores"]):
            print(f"  {score:7.4f}  {text}  [{label}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
