"""The phrase vocabulary and image-phrase pairs of the predicted-context task (a Beam job).

    python -m beam_jobs.phrase_pairs --captions_dir artifacts/data/flickr8k_1k \\
        --classes_dir artifacts/data/tiny_imagenet --output_dir artifacts/data/phrases

The paper's phrase generator learns from web query-image pairs (section 3.2); ours stand in
for them with two kinds of "queries" (``tfpipe.text.phrases``, the one definition of a
phrase):

* ``--captions_dir`` (``image_captions`` records, e.g. Flickr8k-1k): every 1..``--max_n``-gram
  of every caption of an image that is not stop words only, kept when at least
  ``--min_images`` distinct images have it;
* ``--classes_dir`` (``image`` records with a class table, e.g. Tiny-ImageNet, whose class
  names are wnids): the WordNet lemma names of an image's class and of its hypernyms up to
  ``--hypernym_depth`` links up, always kept.

Either input may be left out; at least one is needed.  Only the ``--splits`` (default
``train``) of each input are read; the ids, labels and captions are read from the records
(no JPEG is decoded).  A phrase's count is its number of distinct images (both sources
together); ids ``0..P-1`` run by decreasing count, ties by the phrase string, so id order
is frequency order (a log-uniform sampler fits it).

Outputs in ``--output_dir`` (``tfpipe.data.phrase_records`` reads them):

* ``phrases.tsv``: ``id<TAB>phrase<TAB>images<TAB>source`` (source captions | lemmas | both);
* ``<split>-NNNNN-of-NNNNN.tfrecord``: ``image_phrases`` records (``tfpipe.data.schema``), one
  per image: its id exactly as in the source records, source class index, source name and
  sorted phrase ids;
* ``pairs-NNNNN-of-NNNNN.tfrecord``: ``phrase_pairs`` records, every unordered pair of
  phrases sharing an image with the number of images that carry both (``--max_pair_phrases
  N`` pairs only an image's N most frequent phrases and counts what that leaves out);
* ``rejected.jsonl``: images left out, with a reason (``no_phrase``: none of its phrases is
  in the vocabulary; ``missing_captions``, ``unlabelled``, ``unknown_class``,
  ``no_synset``: malformed input);
* ``manifest.json`` (last; kind ``image_phrases``, the ``pairs`` split holding the
  ``phrase_pairs`` shards): shards with counts and checksums, ``read == written +
  rejected`` per source (checked), phrases in all and by source and how many have at least
  2, 3, 5 ... images, pairs, phrases per image (mean, median, max), coverage (images with a
  phrase / images read), the parameters and the input directories.  The same figures are
  printed as one JSON line at the end.

Arguments this job does not define are Beam pipeline options (as ``beam_jobs.preprocess``);
on the DirectRunner the job runs one in-memory worker unless ``--direct_running_mode`` /
``--direct_num_workers`` say otherwise.  Exit status 2: bad arguments or inputs, found
before Beam starts.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import json
import sys
import time
from typing import Sequence

from beam_jobs import beam_logging

beam_logging.drop_known_noise()

_OUTPUT_PATTERNS = ("*-*-of-*.tfrecord*", "manifest.json", "phrases.tsv", "rejected.jsonl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m beam_jobs.phrase_pairs",
        description="Image records -> the phrase vocabulary, image-phrase records and phrase "
                    "pairs of the predicted-context task.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    what = parser.add_argument_group("what to read (at least one)")
    what.add_argument("--captions_dir", default="",
                      help="an image_captions data directory (beam_jobs.preprocess_images): "
                           "phrases are its captions' n-grams")
    what.add_argument("--classes_dir", default="",
                      help="an image data directory with a class table of WordNet classes "
                           "(wnids or synsets): phrases are its classes' lemmas")
    what.add_argument("--splits", nargs="+", default=["train"],
                      help="the input splits read (each must exist in every input); each is "
                           "written as the output split of the same name")
    rule = parser.add_argument_group("what a phrase is")
    rule.add_argument("--max_n", type=int, default=3,
                      help="caption phrases are 1- to max_n-grams of consecutive words")
    rule.add_argument("--min_images", type=int, default=2,
                      help="a caption n-gram is kept when at least this many images have it "
                           "(lemma phrases are always kept)")
    rule.add_argument("--hypernym_depth", type=int, default=1,
                      help="class phrases: lemmas of the synset and of its hypernyms up to this "
                           "many links up (0: the synset's own)")
    out = parser.add_argument_group("output")
    out.add_argument("--output_dir", default=os.path.join("artifacts", "data", "phrases"),
                     help="where phrases.tsv, the shards, rejected.jsonl and manifest.json go")
    out.add_argument("--max_pair_phrases", type=int, default=0,
                     help="pairs: only each image's this many most frequent phrases are paired "
                          "(0: all; what is left out is counted in the manifest)")
    out.add_argument("--num_shards", type=int, default=1,
                     help="shards per output split (the image splits and the pairs)")
    return parser


def _source(parser, flag: str, path: str, role: str, splits: Sequence[str]):
    """The :class:`Source` of an input directory, or exit 2 saying what is wrong with it."""
    from beam_jobs import phrase_pairs_pipeline as pl
    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    if not os.path.isdir(path):
        parser.error(f"--{flag} {path!r}: no such directory")
    try:
        data = DataDir.open(path)
    except (FileNotFoundError, ValueError) as e:
        parser.error(f"--{flag} {path!r}: {e}")
    wanted = schema.KIND_IMAGE_CAPTIONS if role == pl.CAPTIONS else schema.KIND_IMAGE
    if data.kind != wanted:
        parser.error(f"--{flag} {path!r} holds {data.kind!r} records; it must hold {wanted!r} "
                     "records (python -m beam_jobs.preprocess_images)")
    missing = [s for s in splits if s not in data.manifest.splits]
    if missing:
        parser.error(f"--splits {' '.join(missing)}: not in {path}; its splits: {', '.join(data.splits)}")
    if role == pl.CLASSES and not data.manifest.classes:
        parser.error(f"--{flag} {path!r} has no class table in its manifest (classes with "
                     "WordNet synsets or wnids are needed)")
    if role == pl.CLASSES:
        from tfpipe.text import wordnet

        try:
            wordnet.reader()
        except ImportError as e:
            parser.error(f"--{flag}: the class phrases are WordNet lemmas: {e}")
    shards = tuple((split, os.path.abspath(p)) for split in splits for p in data.shard_paths(split))
    return pl.Source(name=data.name, path=os.path.abspath(path), role=role, shards=shards,
                     class_table=tuple(dict(c) for c in data.manifest.classes) if role == pl.CLASSES else ())


def parse(argv: Sequence[str] | None = None):
    """Parses and validates ``argv``; returns ``(PhraseJobConfig, pipeline_args)`` or exits 2."""
    from beam_jobs.preprocess import _direct_defaults, parse_job_args

    parser = build_parser()
    args, rest = parse_job_args(parser, argv)
    if not args.captions_dir and not args.classes_dir:
        parser.error("give --captions_dir (an image_captions directory), --classes_dir (an image "
                     "directory with WordNet classes), or both")
    for flag, low in (("max_n", 1), ("min_images", 1), ("hypernym_depth", 0),
                      ("max_pair_phrases", 0), ("num_shards", 1)):
        value = getattr(args, flag)
        if value < low:
            extra = " (0: no cap)" if flag == "max_pair_phrases" else ""
            parser.error(f"--{flag} {value}: must be an integer >= {low}{extra}")
    if args.max_pair_phrases == 1:
        parser.error("--max_pair_phrases 1 would pair nothing: give 0 (no cap) or an integer >= 2")
    from beam_jobs import phrase_pairs_pipeline as pl
    from tfpipe.data import phrase_records

    if phrase_records.PAIRS_SPLIT in args.splits or len(set(args.splits)) != len(args.splits):
        parser.error(f"--splits {' '.join(args.splits)}: distinct input split names, not "
                     f"{phrase_records.PAIRS_SPLIT!r} (the output's pairs split)")
    sources = []
    if args.captions_dir:
        sources.append(_source(parser, "captions_dir", args.captions_dir, pl.CAPTIONS, args.splits))
    if args.classes_dir:
        sources.append(_source(parser, "classes_dir", args.classes_dir, pl.CLASSES, args.splits))
    if len({s.name for s in sources}) != len(sources):
        parser.error(f"the inputs have the same dataset name {sources[0].name!r}: their records "
                     "could not be told apart")
    output_dir = os.path.abspath(args.output_dir)
    if output_dir in {s.path for s in sources}:
        parser.error(f"--output_dir {args.output_dir!r} is an input directory")
    cfg = pl.PhraseJobConfig(
        output_dir=output_dir, sources=tuple(sources), splits=tuple(args.splits),
        max_n=args.max_n, min_images=args.min_images, hypernym_depth=args.hypernym_depth,
        max_pair_phrases=args.max_pair_phrases, num_shards=args.num_shards)
    return cfg, _direct_defaults(rest, in_memory=True)


def _clear_outputs(output_dir: str) -> None:
    import glob

    os.makedirs(output_dir, exist_ok=True)
    for pattern in _OUTPUT_PATTERNS:
        for path in glob.glob(os.path.join(output_dir, pattern)):
            os.remove(path)


def execute(cfg, pipeline_args: Sequence[str]):
    """Runs the pipeline; returns the written ``Manifest``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_jobs import phrase_pairs_pipeline as pl
    from tfpipe.data import manifest as manifest_lib

    _clear_outputs(cfg.output_dir)
    with beam_logging.worker_stderr_filtered():
        with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
            pl.build(p, cfg)
    return manifest_lib.load(cfg.output_dir)


def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    cfg, pipeline_args = parse(argv)
    manifest = execute(cfg, pipeline_args)
    from beam_jobs import phrase_pairs_pipeline as pl

    out = {"output_dir": cfg.output_dir, **pl.figures(manifest),
           "wall_s": round(time.perf_counter() - start, 1)}
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
