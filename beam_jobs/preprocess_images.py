"""Preprocess an image dataset (labels or captions) into sharded TFRecords and a manifest.

    python -m beam_jobs.preprocess_images --runner=DirectRunner \\
        --dataset flowers102 --data_root ../shared/data --output_dir artifacts/data/flowers102

A ``--dataset`` preset (``tfpipe.data.image_datasets``: tiny_imagenet, flowers102,
cub100, flickr8k_1k, coco_mini) knows its layout, class order and split files; any
other data takes ``--layout`` and ``--input`` (``tfpipe.data.image_sources``:
folders, annotations, labels_csv, captions_csv, flickr8k_token, coco, reed) with a
``--split`` rule (``tfpipe.data.image_splits``: given, image_file, class_file,
carve).  For example Reed et al.'s released CUB data::

    python -m beam_jobs.preprocess_images --layout reed --root cvpr2016_cub \\
        --input cvpr2016_cub/images.txt --split class_file \\
        --class_splits cvpr2016_cub/class_splits.tsv --output_dir artifacts/data/cub_reed

Each image is read, decoded, checked and stored as RGB JPEG at the chosen size
(``--resize shorter --image_size 256`` by default: the shorter side scaled down to
256; ``exact``; ``none``); see ``tfpipe.data.images``.  Records (``tfpipe.data.schema``
kinds ``image`` / ``image_captions``): the JPEG, its size, the label and class name,
the stable image id (its path relative to the dataset root) and, for captioned
sets, every caption as text, as Reed et al.'s character indices (``--alphabet reed``,
forward, ``--l0 201``) and as word ids (``vocab.tsv`` of the train captions,
``--vocab_size``), all through the one quantizer and tokenizer of the text job.

Outputs: ``<split>-NNNNN-of-NNNNN.tfrecord`` shards (records sorted by id),
``vocab.tsv`` (captioned sets), ``rejected.jsonl`` (source, row, reason, detail,
raw) and ``manifest.json`` last: kind, counts per split and class, shard checksums,
``read = written + rejected`` and the class table (name, readable text, WordNet
synset where known, split).  Rejection reasons: the readers' (``missing_image``,
``unknown_image``, ``not_an_image``, ``malformed_line``, ``missing_captions``,
``empty_class``, ``unknown_class``) and decoding's (``empty_file``,
``unreadable_file``, ``undecodable_image``, ``truncated_image``).

``--features efficientnet_lite0`` then runs ``beam_jobs.extract_features`` on the
written images (frozen pooled features beside them, for the joint-embedding tasks).
Arguments this job does not define are Beam pipeline options.  On the DirectRunner the
job runs one in-memory worker unless told otherwise: measured on 2 cores (``python -m
benchmarks.image_preprocess``), worker processes cost more to start than they saved on
the shared sets (Flowers-102 at 96 px: 10.0 s in memory, 23.0 s with two processes;
Tiny-ImageNet's 40,400 images: 31.7 s against 48.2 s).  Give
``--direct_running_mode=multi_processing --direct_num_workers=N`` for large data on
many cores, or any other runner: one shard is one unit of parallel work.  Exit status 2: bad arguments or
missing inputs, found before Beam starts.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import sys
from typing import Sequence

from beam_jobs import beam_logging
from beam_jobs.preprocess_images_config import REJECTED_FILE, VOCAB_FILE, ImageJobConfig
from tfpipe.data import image_datasets
from tfpipe.data import image_splits
from tfpipe.data import images as images_lib
from tfpipe.text import alphabet as alphabet_lib

beam_logging.drop_known_noise()

DEFAULT_DATA_ROOT = os.path.join("..", "shared", "data")
_OUTPUT_PATTERNS = ("*-*-of-*.tfrecord*", "manifest.json", VOCAB_FILE, REJECTED_FILE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m beam_jobs.preprocess_images",
        description="Images (with labels or captions) -> sharded TFRecords + manifest.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    what = parser.add_argument_group("what to read")
    what.add_argument("--dataset", choices=image_datasets.PRESETS,
                      help="a preset layout under --data_root")
    what.add_argument("--data_root", default=DEFAULT_DATA_ROOT,
                      help="the folder holding the preset's folder")
    what.add_argument("--layout", choices=image_datasets.LAYOUTS,
                      help="a generic layout (instead of --dataset)")
    what.add_argument("--input", nargs="+", default=[],
                      help="the layout's inputs: class folders' root (folders), an annotation, "
                           "label or caption file, or Reed's image list")
    what.add_argument("--images_dir", default="", help="where the files of the inputs' image "
                      "names are (annotations, labels_csv, captions_csv, flickr8k_token, coco)")
    what.add_argument("--root", default="",
                      help="the dataset root: image ids are paths relative to it (reed: the "
                           "folder holding images/ and text_c10/)")
    what.add_argument("--images_subdir", default="",
                      help="folders: the images are in <class>/<images_subdir>/")
    what.add_argument("--classes", default="", help="a class list file (one name per line): "
                      "the class order; default sorted names")
    what.add_argument("--given_split", default="", help="the split of every input image "
                      "(with --split given)")
    split = parser.add_argument_group("splits")
    split.add_argument("--split", default="", choices=("",) + image_splits.RULES,
                       help="split rule (default: the preset's; carve for layouts)")
    split.add_argument("--class_splits", default="", help="class_file: TSV class<TAB>split "
                       "(zero-shot classes)")
    split.add_argument("--image_splits", default="", help="image_file: TSV image<TAB>split")
    split.add_argument("--test_fraction", type=float, default=0.2)
    split.add_argument("--val_fraction", type=float, default=0.0)
    split.add_argument("--seed", type=int, default=0)
    store = parser.add_argument_group("how images and captions are stored")
    store.add_argument("--resize", default="shorter", choices=images_lib.RESIZE_MODES)
    store.add_argument("--image_size", type=int, default=256)
    store.add_argument("--upscale", action="store_true",
                       help="--resize shorter: also enlarge images smaller than --image_size")
    store.add_argument("--jpeg_quality", type=int, default=95)
    store.add_argument("--alphabet", default="reed", choices=alphabet_lib.names())
    store.add_argument("--l0", type=int, default=alphabet_lib.REED_L0,
                       help="characters kept per caption")
    store.add_argument("--max_words", type=int, default=50, help="word ids kept per caption")
    store.add_argument("--vocab_size", type=int, default=20_000,
                       help="caption words in vocab.tsv (0: no word ids)")
    store.add_argument("--min_count", type=int, default=1)
    store.add_argument("--vocab_from", default="",
                       help="use this data directory's vocab.tsv for the caption word ids "
                            "instead of counting this data's train captions (a test-only set "
                            "such as coco_mini takes the vocabulary its model was trained with)")
    out = parser.add_argument_group("output")
    out.add_argument("--output_dir", default="", help="default artifacts/data/<dataset>")
    out.add_argument("--dataset_name", default="", help="the manifest's dataset name")
    out.add_argument("--num_shards", type=int, default=None)
    out.add_argument("--compression", default="", choices=("", "GZIP"))
    out.add_argument("--features", default="", help="also extract frozen features with this "
                     "visual model (beam_jobs.extract_features), e.g. efficientnet_lite0")
    out.add_argument("--feature_image_size", type=int, default=224)
    out.add_argument("--feature_precision", default="float32",
                     choices=("float32", "mixed_bfloat16"))
    return parser


def _class_table(listing: image_datasets.Listing) -> list[dict]:
    """The manifest's class table: every class with its WordNet synset where one is known
    (the wnid of ImageNet classes; else ``tfpipe.text.wordnet``'s lookup of the name)."""
    try:
        from tfpipe.text import wordnet
    except ImportError:  # nltk / wn not installed: no synsets
        wordnet = None
    table = []
    for index, c in enumerate(listing.classes):
        synset = ""
        if wordnet is not None:
            try:
                synset = (wordnet.synset_of_wnid(c.wnid) if c.wnid
                          else wordnet.synset_for_name(c.text or c.name,
                                                       under=listing.synset_under or None,
                                                       exclude=listing.synset_exclude or None)
                          ) or ""
            except (LookupError, OSError, ValueError, AttributeError):
                synset = ""
        table.append({"index": index, "name": c.name, "text": c.text, "wnid": c.wnid,
                      "synset": synset, "split": c.split})
    return table


def parse(argv: Sequence[str] | None = None):
    """Parses and validates ``argv``; returns ``(ImageJobConfig, pipeline_args, features)``."""
    from beam_jobs.preprocess import _direct_defaults, parse_job_args

    parser = build_parser()
    args, rest = parse_job_args(parser, argv)
    if bool(args.dataset) == bool(args.layout):
        parser.error("give exactly one of --dataset (a preset: "
                     f"{', '.join(image_datasets.PRESETS)}) and --layout (with --input)")
    if args.layout and not args.input:
        parser.error(f"--layout {args.layout} needs --input")
    for flag in ("class_splits", "image_splits", "classes"):
        path = getattr(args, flag)
        if path and not os.path.isfile(path):
            parser.error(f"--{flag} {path!r}: file not found")
    try:
        resize = images_lib.Resize(args.resize, args.image_size, args.upscale, args.jpeg_quality)
        kw = dict(test_fraction=args.test_fraction, val_fraction=args.val_fraction,
                  seed=args.seed)
        if args.dataset:
            listing = image_datasets.preset(args.dataset, args.data_root, split=args.split, **kw)
        else:
            from tfpipe.data.image_sources import read_list

            listing = image_datasets.layout(
                args.layout, args.input, images_dir=args.images_dir, root=args.root,
                classes=read_list(args.classes) if args.classes else None,
                split=args.split or ("class_file" if args.class_splits else
                                     "image_file" if args.image_splits else
                                     "given" if args.given_split else "carve"),
                class_file=args.class_splits, image_file=args.image_splits,
                given_split=args.given_split, images_subdir=args.images_subdir, **kw)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    if not listing.items:
        parser.error(f"no images found ({len(listing.rejected)} entries rejected)")
    vocab_tsv = b""
    if args.vocab_from:
        path = os.path.join(args.vocab_from, VOCAB_FILE)
        if not os.path.isfile(path):
            parser.error(f"--vocab_from {args.vocab_from!r}: no {VOCAB_FILE} there")
        with open(path, "rb") as f:
            vocab_tsv = f.read()
    if args.l0 < 1 or args.max_words < 1:
        parser.error("--l0 and --max_words must be positive")
    name = args.dataset_name or args.dataset or os.path.basename(
        os.path.normpath(args.root or args.input[0]))
    output_dir = args.output_dir or os.path.join("artifacts", "data", name)
    cfg = ImageJobConfig(
        output_dir=os.path.abspath(output_dir),
        listing=listing,
        resize=resize,
        alphabet=args.alphabet,
        l0=args.l0,
        max_words=args.max_words,
        vocab_size=args.vocab_size,
        min_count=args.min_count,
        vocab_tsv=vocab_tsv,
        num_shards=args.num_shards,
        compression=args.compression,
        dataset=name,
        source_info={**listing.source, "job": "beam_jobs.preprocess_images",
                     **({"vocab_from": os.path.abspath(args.vocab_from)} if args.vocab_from
                        else {})},
    )
    features = None
    if args.features:
        features = {"model": args.features, "image_size": args.feature_image_size,
                    "precision": args.feature_precision}
    return cfg, _direct_defaults(rest, in_memory=True), features


def _clear_outputs(output_dir: str) -> None:
    import tensorflow as tf

    tf.io.gfile.makedirs(output_dir)
    for pattern in _OUTPUT_PATTERNS:
        for path in tf.io.gfile.glob(os.path.join(output_dir, pattern)):
            tf.io.gfile.remove(path)


def execute(cfg: ImageJobConfig, pipeline_args: Sequence[str]):
    """Runs the pipeline; returns the written ``Manifest``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_jobs import preprocess_images_pipeline as pl
    from tfpipe.data import manifest as manifest_lib

    _clear_outputs(cfg.output_dir)
    table = _class_table(cfg.listing)
    with beam_logging.worker_stderr_filtered():
        with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
            pl.build(p, cfg, table)
    return manifest_lib.load(cfg.output_dir)


def summary(data) -> str:
    """A short account of a run (``data``: the DataDir it wrote)."""
    m = data.manifest
    lines = [f"Preprocessed {m.kind} data {data.name!r} in {data.path}"]
    order = {"train": 0, "val": 1, "test": 2}
    for split in sorted(m.splits, key=lambda s: (order.get(s, 3), s)):
        entry = m.splits[split]
        classes = sum(1 for n in entry.class_counts if n)
        extra = f", {classes} classes" if m.class_names else ""
        lines.append(f"  {split:7s} {entry.count:7d} images in {len(entry.shards)} shard(s){extra}")
    c = m.counts
    reasons = ", ".join(f"{k}={v}" for k, v in c["rejected_by_reason"].items()) or "none"
    lines.append(f"  read {c['read']} = written {c['written']} + rejected {c['rejected']} "
                 f"(by reason: {reasons})")
    lines.append(f"  dead letter: {data.file(m.rejected_file)}")
    if m.class_names:
        known = sum(1 for row in m.classes if row.get("synset"))
        lines.append(f"  classes: {len(m.class_names)} ({known} with a WordNet synset)")
    if m.vocab_file:
        lines.append(f"  captions: alphabet {m.alphabet}, l0={m.l0}; {m.vocab_words} words in "
                     f"{data.file(m.vocab_file)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    cfg, pipeline_args, features = parse(argv)
    manifest = execute(cfg, pipeline_args)
    from tfpipe.data.datadir import DataDir

    print(summary(DataDir(cfg.output_dir, manifest)))
    if features:
        from beam_jobs import extract_features

        extract_features.main(["--data_dir", cfg.output_dir, "--model", features["model"],
                               "--image_size", str(features["image_size"]),
                               "--precision", features["precision"], *pipeline_args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
