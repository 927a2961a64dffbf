"""``python -m tfpipe.predict``: classify raw text, or label images, with an exported SavedModel.

    python -m tfpipe.predict "some text" ["more text" ...] [--model DIR] [--json]
    python -m tfpipe.predict --model RUN/export --image FILE.jpg [--image ...] [--labels unseen] [--json]
    python -m tfpipe.predict --model SJE_EXPORT --text "a flower with yellow petals" [--text ...] [--json]
    python -m tfpipe.predict --model SJE_EXPORT --image FILE.jpg [--image ...] --classes CLASSES.tsv [--json]
    python -m tfpipe.predict --model RETRIEVAL_EXPORT --text "a dog on the grass" [--text ...] [--json]
    python -m tfpipe.predict --model RETRIEVAL_EXPORT --image FILE.jpg [--image ...] [--json]
    python -m tfpipe.predict --model PHRASE_CONTEXT_EXPORT --image FILE.jpg [--image ...] [--json]

Loads the SavedModel written by ``python -m tfpipe.export`` with
``tf.saved_model.load`` alone (no tfpipe model code, no Keras).  A text
classifier prints, for each text, the predicted class and the probability of
every class.  A devise export (``--image``) prints each image's top-k labels
with their scores among the candidate set ``--labels`` (a signature of the
export: ``seen``, a zero-shot set such as ``unseen``, or ``<set>_and_seen``;
default ``seen``; ``tfpipe.tasks.devise.serving``).  A joint_embedding (SJE) export
(``tfpipe.tasks.joint_embedding.serving``) prints, for each ``--text``, its nearest images of
the run's index (``search_text``), and for each ``--image`` its top classes of the class table
``--classes`` (``classify_images``: TSV rows ``class_name<TAB>text``, several rows per class;
an attributes run's rows ``class_name<TAB>v1<TAB>v2...``).  A retrieval (CSE) export
(``tfpipe.tasks.retrieval.serving``) prints, for each ``--text``, its nearest test images
(``search_text``), and for each ``--image`` its nearest test captions (``search_images``).  A
phrase_context export (``tfpipe.tasks.phrase_context.serving``) prints, for each ``--image``, its
class with the top-5 probabilities and its predicted phrases with their eq. 3 cosines.  The
kind of export is read from its ``assets.extra`` info file.
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
                        help="an image file (JPEG, PNG, ...) to label with a devise export, to classify "
                        "among --classes with a joint_embedding export, whose nearest captions a retrieval "
                        "export prints, or whose phrases and class a phrase_context export prints; repeatable")
    parser.add_argument("--labels", default=None,
                        help="devise export: the candidate set to rank (a signature: seen, unseen, "
                        "<set>_and_seen, ...; default seen)")
    parser.add_argument("--text", action="append", default=[], metavar="TEXT",
                        help="joint_embedding or retrieval export: a text whose nearest images to print; "
                        "repeatable")
    parser.add_argument("--classes", default=None, metavar="FILE.tsv",
                        help="joint_embedding export with --image: the class table, TSV rows class_name<TAB>text "
                        "(several rows per class)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"exported SavedModel (default: {DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    args = parser.parse_args(argv)
    problem = cli.path_problem("--model", args.model, cli.SAVED_MODEL)
    if problem:
        return cli.print_error(problem)
    modes = [m for m, given in (("TEXT arguments (a text classifier)", args.texts),
                                ("--text TEXT (a joint_embedding or retrieval export's image search)", args.text),
                                ("--image FILE (a devise, joint_embedding or retrieval export)", args.image)) if given]
    if len(modes) != 1:
        return cli.print_error("give one of TEXT arguments (a text classifier), --text TEXT (a joint_embedding or "
                               "retrieval export's image search) or --image FILE (a devise, joint_embedding or "
                               "retrieval export), " + ("not both: " + " and ".join(modes) if modes else "not neither"))
    from tfpipe.tasks.retrieval import serving as retrieval_serving

    retrieval = retrieval_serving.read_info(args.model) if "://" not in args.model else None
    if retrieval is not None:
        return _predict_retrieval(args)
    from tfpipe.tasks.phrase_context import serving as phrase_serving

    phrase_context = phrase_serving.read_info(args.model) if "://" not in args.model else None
    if phrase_context is not None:
        return _predict_phrase_context(args)
    if args.classes is not None and not args.image:
        return cli.print_error("--classes FILE.tsv is the class table of --image FILE with a joint_embedding export: "
                               "give --image, or drop --classes")
    from tfpipe.tasks.joint_embedding import serving as sje_serving

    joint = sje_serving.read_info(args.model) if "://" not in args.model else None
    if joint is not None or args.text:
        return _predict_joint(args, joint)
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


def _print_text_results(results: list[dict], *, as_json: bool) -> None:
    """Each ``--text`` query's nearest images (a joint_embedding or retrieval export's search_text)."""
    for result in results:
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        print(repr(result["text"][:70]))
        for label, score in zip(result["labels"], result["scores"]):
            print(f"  {score:9.4f}  {label}")


def _print_image_results(paths: list[str], results: list[dict], key: str, *, as_json: bool) -> None:
    """Each ``--image``'s top results (``key``: a joint_embedding export's ``classes``, a retrieval
    export's caption ``labels``) with their scores."""
    for path, result in zip(paths, results):
        if as_json:
            print(json.dumps({"image": path, **result}, ensure_ascii=False))
            continue
        print(path)
        for name, score in zip(result[key], result["scores"]):
            print(f"  {score:9.4f}  {name}")


def _read_images(paths: Sequence[str]) -> tuple[list[bytes], str | None]:
    """The bytes of each ``--image`` file, or the one-line reason one cannot be used."""
    from tfpipe.data import images as images_lib

    images = []
    for path in paths:
        if not os.path.isfile(path):
            return [], f"--image {path}: no such file"
        try:  # the image job's checks and reasons (empty_file, undecodable_image, truncated_image, ...)
            data = images_lib.read_file(path)
            images_lib.prepare(data, images_lib.Resize("none"), name=path)
        except images_lib.ImageError as e:
            return [], f"--image {e}"
        images.append(data)
    return images, None


def _decode_error(args, e) -> int:  # a format PIL reads but the graph's decoder does not
    return cli.print_error(f"--image: the exported model cannot decode one of {args.image} (JPEG, PNG, GIF "
                           f"and BMP are decoded in the graph): {e.message.splitlines()[0]}")


def _predict_joint(args, info) -> int:
    """``--text`` (search_text) or ``--image`` with ``--classes`` (classify_images) on a
    joint_embedding export (``tfpipe.tasks.joint_embedding.serving``)."""
    from tfpipe.tasks.joint_embedding import serving

    if info is None:
        return cli.print_error(f"--model {args.model} is not a joint_embedding export (no {serving.INFO_FILE}) or a "
                               "retrieval one: --text needs one (python -m tfpipe.export --model_dir <a "
                               "joint_embedding or retrieval run>)")
    if args.texts:
        return cli.print_error(f"--model {args.model} is a joint_embedding export: give the query as --text TEXT "
                               "(it returns the nearest images), not as a TEXT argument")
    if args.labels is not None:
        return cli.print_error("--labels picks a devise export's candidate set; a joint_embedding export ranks the "
                               "classes of --classes FILE.tsv")
    if args.text:
        if serving.SEARCH_TEXT not in info.get("signatures", {}):
            return cli.print_error(f"--model {args.model} is an export of an SJE run with text encoder "
                                   f"{info.get('encoder')}: it reads class attribute vectors, not text, so it has no "
                                   "--text search")
        _print_text_results(serving.search_text(args.model, args.text), as_json=args.json)
        return 0
    if args.classes is None:
        rows = ("class_name<TAB>attribute values" if info.get("reads") == "attributes"
                else "class_name<TAB>text, several per class")
        return cli.print_error(f"--model {args.model} is a joint_embedding export: --image needs --classes FILE.tsv "
                               f"(the class table, rows {rows})")
    if not os.path.isfile(args.classes):
        return cli.print_error(f"--classes {args.classes}: no such file")
    try:
        classes = serving.read_class_table(args.classes, info.get("reads", ""))
    except (ValueError, UnicodeDecodeError) as e:
        return cli.print_error(str(e))
    images, problem = _read_images(args.image)
    if problem:
        return cli.print_error(problem)
    import tensorflow as tf

    try:
        results = serving.classify_images(args.model, images, classes)
    except tf.errors.InvalidArgumentError as e:
        if "decode" in e.message.lower() or "image" in e.message.lower().split(":")[0]:
            return _decode_error(args, e)
        return cli.print_error(f"--classes {args.classes}: {e.message.splitlines()[0]}")
    _print_image_results(args.image, results, "classes", as_json=args.json)
    return 0


def _predict_retrieval(args) -> int:
    """``--text`` (search_text: the nearest test images) or ``--image`` (search_images: the nearest
    test captions) on a retrieval export (``tfpipe.tasks.retrieval.serving``)."""
    from tfpipe.tasks.retrieval import serving

    takes = "--text TEXT (its nearest test images) or --image FILE (its nearest test captions)"
    if args.texts:
        return cli.print_error(f"--model {args.model} is a retrieval export: give the query as --text TEXT, not as a "
                               f"TEXT argument (it takes {takes})")
    if args.labels is not None:
        return cli.print_error(f"--labels picks a devise export's candidate set; a retrieval export takes {takes}")
    if args.classes is not None:
        return cli.print_error(f"--classes is the class table of a joint_embedding export; a retrieval export takes "
                               f"{takes}, no class table")
    if args.text:
        _print_text_results(serving.search_text(args.model, args.text), as_json=args.json)
        return 0
    images, problem = _read_images(args.image)
    if problem:
        return cli.print_error(problem)
    import tensorflow as tf

    try:
        results = serving.search_images(args.model, images)
    except tf.errors.InvalidArgumentError as e:
        return _decode_error(args, e)
    _print_image_results(args.image, results, "labels", as_json=args.json)
    return 0


def _predict_phrase_context(args) -> int:
    """``--image`` on a phrase_context export (``tfpipe.tasks.phrase_context.serving``): each image's
    class (top-5 with probabilities) and its predicted phrases (eq. 3 cosines)."""
    from tfpipe.tasks.phrase_context import serving

    takes = "--image FILE (its predicted phrases and class)"
    if args.texts or args.text:
        return cli.print_error(f"--model {args.model} is a phrase_context export: it takes {takes}, not text")
    if args.labels is not None or args.classes is not None:
        return cli.print_error(f"--labels and --classes are a devise or joint_embedding export's; a phrase_context "
                               f"export takes {takes} and classifies among its run's classes")
    images, problem = _read_images(args.image)
    if problem:
        return cli.print_error(problem)
    import tensorflow as tf

    try:
        results = serving.classify_images(args.model, images)
    except tf.errors.InvalidArgumentError as e:
        return _decode_error(args, e)
    for path, result in zip(args.image, results):
        if args.json:
            _print_image_results([path], [result], "top_classes", as_json=True)
            continue
        _print_image_results([f"{path}  class: {result['class_name']} (p {result['probability']:.4f}); top "
                              f"{len(result['top_classes'])}:"],
                             [{"top_classes": result["top_classes"], "scores": result["top_probabilities"]}],
                             "top_classes", as_json=False)
        if "phrases" in result:
            _print_image_results(["  phrases (cosine to the bottleneck, eq. 3):"],
                                 [{"phrases": result["phrases"], "scores": result["phrase_scores"]}], "phrases",
                                 as_json=False)
    return 0


def _predict_images(args) -> int:
    from tfpipe.tasks.devise import serving

    if serving.read_info(args.model) is None:
        return cli.print_error(f"--model {args.model} is not a devise, joint_embedding or retrieval export (no "
                               f"{serving.INFO_FILE}): --image needs one (python -m tfpipe.export --model_dir "
                               "<a devise, joint_embedding or retrieval run>)")
    if args.classes is not None:
        return cli.print_error("--classes is the class table of a joint_embedding export; a devise export ranks "
                               "its own label sets (--labels)")
    images, problem = _read_images(args.image)
    if problem:
        return cli.print_error(problem)
    import tensorflow as tf

    try:
        results = serving.predict(args.model, images, labels=args.labels)
    except ValueError as e:
        return cli.print_error(str(e))
    except tf.errors.InvalidArgumentError as e:
        return _decode_error(args, e)
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
