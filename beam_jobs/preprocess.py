"""Preprocess a labelled text corpus into sharded TFRecords, feature statistics and a manifest.

    python -m beam_jobs.preprocess --runner=DirectRunner \\
        --input ../shared/data/ag_news/test.csv --format zhang_csv \\
        --test_fraction 0.2 --seed 0 --output_dir artifacts/data/ag_news

With no ``--input`` and no ``--tfds`` it preprocesses the built-in generated
corpus (``tfpipe.data.embedded``); with no ``--output_dir`` it writes to
``tfpipe.paths.DEFAULT_DATA_DIR``, where ``python -m tfpipe.train`` looks.
Arguments this job does not define are Beam pipeline options and go to the
runner (``--runner=FlinkRunner --flink_master=...``, ``--runner=DataflowRunner
--project=... --temp_location=gs://... --setup_file=./setup.py``); an argument
that is neither is an error.  On the DirectRunner, unless ``--direct_num_workers``
or ``--direct_running_mode`` is given, the job uses every CPU core
(``multi_processing`` with one worker per core).

Outputs in the output directory: ``train-NNNNN-of-NNNNN.tfrecord[.gz]`` and
``test-...`` shards (records sorted by example id, the schema of
``tfpipe.data.schema``), ``vocab.tsv`` and ``ngrams.tsv`` (below),
``rejected.jsonl`` (one JSON object per rejected row: source, row, reason,
detail, raw) and ``manifest.json`` (written last).  The same input and flags give
byte-identical outputs on every run and runner mode, and
``tfpipe.data.records.write_dataset`` writes the same shards and statistics.
Exit status 2: bad arguments, missing inputs or thesaurus, unknown format or
romanizer; found before Beam starts.

Feature statistics (Zhang et al. 2015's comparison models: bag-of-words on the
50,000 most frequent words, bag-of-ngrams on the 500,000 most frequent 1- to
5-grams, and their TF-IDF), counted on the train split as written (augmented
copies included, the test split never), as ``key<TAB>count<TAB>df`` lines
(``count`` occurrences, ``df`` train documents containing the key), most
frequent first, ties by key (Unicode code point order):

* ``vocab.tsv``: the top ``--vocab_size`` words (tokens of
  ``tfpipe.text.tokenize``) seen at least ``--min_count`` times; word id = line + 2.
* ``ngrams.tsv``: the top ``--ngram_vocab_size`` 1- to ``--ngram_max``-grams of
  ``tfpipe.text.ngrams.ngrams`` (tokens joined by one space), not filtered by
  ``--min_count``; ``--ngram_vocab_size 0`` writes none.
  ``tfpipe.data.datadir.DataDir.feature_stats`` reads both; the number of train
  documents (TF-IDF's N) is the manifest's train count.

Thesaurus augmentation (section 2.4; ``--thesaurus FILE.tsv|wordnet
--augment_copies N``, ``--augment_p``/``--augment_q``, Zhang et al.'s 0.5): after
the test split is carved, each train row gets N copies drawn by
``tfpipe.text.thesaurus.augment_copies`` from (``--seed``, example id, copy k),
written as extra train records with ids ``<id>#th<k>`` and the row's label, so
every runner writes the same bytes.  A copy identical to its row (the row has no
replaceable word) is not written (it would only duplicate the row) and is
counted; copies that equal each other are kept (independent draws).  The
manifest's ``augmentation`` records the thesaurus (file base name and sha256, or
"wordnet"), N, p, q, seed and ``rows_augmented`` (rows with at least one copy),
``copies_written``, ``copies_skipped_identical`` (``copies_written +
copies_skipped_identical = N x original train rows``); its counts keep ``read =
written + rejected`` for the rows read, with ``augmented`` = copies written, and
the train split's ``count``/``class_counts`` include the copies.

``--romanize pinyin`` romanizes every text right after reading, before the
split, augmentation and statistics (Sogou News: jieba + pypinyin,
``tfpipe.text.romanize``); a text that comes out empty is rejected
(``empty_text``).

Several corpora, several formats: an input may be written ``FORMAT:PATH``
(``trec:data/TREC_10.label``); the others take ``--format`` or their extension.
The files of one format are one corpus: its test split is its ``--test_input``
files if it has any, else carved from it by the agreed stratified procedure on
its own labels, so each corpus's held-out rows are exactly those of its own run.
Corpora with different class lists need ``--unlabelled``: every row then gets
the one class ``text`` (the labels still decide the split).  A corpus for
unsupervised training (word2vec) from AG's News, TREC and MR::

    python -m beam_jobs.preprocess --runner=DirectRunner --unlabelled \\
        --input zhang_csv:../shared/data/ag_news/test.csv \\
                line_per_class:../shared/data/mr/rt-polarity.pos \\
                line_per_class:../shared/data/mr/rt-polarity.neg \\
                trec:../shared/data/trec/train_5500.label \\
        --test_input trec:../shared/data/trec/TREC_10.label \\
        --output_dir artifacts/data/shared_text

Its train split (6,080 + 8,530 + 5,452 rows) holds no text of any corpus's
agreed test split (1,520 + 2,132 + 500 rows, in its test split): train word
vectors on ``train`` only to keep the classifiers' test texts unseen, or on both
splits for a transductive setting.

Unlabelled corpora (``dictd``, ``nltk_zip``, ``mediawiki``, ``text``: GCIDE, NLTK corpus zips,
Wikipedia dumps, plain text; ``tfpipe.data.text_corpora``) have the one class ``text``; their
rows are entries or paragraphs, not lines.  DeViSE's word vectors from all of
``../shared/data/text``: the command in ``configs/skipgram_text_corpora.yaml``.

Image captions (``captions_csv``: a CSV whose header names an image and a caption column,
Flickr8k's ``image,caption``) are unlabelled text too, one row per caption.
``--exclude_images SPLIT_FILE:SPLIT[,SPLIT...]`` leaves out the captions of the images that
an ``image<TAB>split`` file (``tfpipe.data.image_splits.read_image_splits``) puts in those
splits, so that no caption of an evaluated image shapes word vectors: they are neither
written nor rejected but counted as the manifest's ``counts.excluded`` (``read = written +
rejected + excluded``), with the file, splits and number of images in ``source.exclude_images``.
The word vectors of the CSE image-sentence retrieval runs: ``configs/skipgram_cse_text.yaml``.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ start-up chatter

import argparse
import glob
import sys
from typing import Sequence

from beam_jobs import beam_logging
from tfpipe import cli
from tfpipe import paths as paths_lib
from tfpipe.data import corpora
from tfpipe.data import embedded
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text.alphabet import PAPER_L0

beam_logging.drop_known_noise()  # before apache_beam is imported: its apitools warning

TFDS_CHUNK = 50_000  # examples per parallel TFDS read
UNKNOWN_LABELS = ("reject", "error")  # --unknown_labels
_DIRECT_RUNNERS = {"directrunner", "direct", "switchingdirectrunner", "bundlebasedirectrunner"}
_OUTPUT_PATTERNS = ("train-*-of-*.tfrecord*", "test-*-of-*.tfrecord*", "manifest.json",
                    "vocab.tsv", "ngrams.tsv", "rejected.jsonl")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m beam_jobs.preprocess",
        description=__doc__.split("\n\n", 1)[0],
        epilog=(
            "Any other --flag is a Beam pipeline option (e.g. --runner, --direct_num_workers, "
            "--direct_running_mode, --flink_master, --project, --temp_location, --setup_file). "
            "On the DirectRunner without --direct_num_workers/--direct_running_mode the job runs "
            "multi_processing with one worker process per core (output is byte-identical to "
            "--direct_running_mode=in_memory, which starts faster on small inputs). "
            "Remote runners need the package on their workers: add --setup_file=./setup.py. "
            "Exit status 2: a bad command line or a missing input or thesaurus, found before "
            "Beam starts."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    src = parser.add_argument_group("input")
    src.add_argument(
        "--input", nargs="+", action="extend", metavar="[FORMAT:]PATH", default=[],
        help="Input file(s) or glob(s), local or any TF file system (gs://...); '.gz' is "
             "unzipped. FORMAT:PATH (e.g. trec:data/train_5500.label) gives that file its own "
             "format; the files of one format are one corpus. Without --test_input for a "
             "corpus, a stratified test split is carved from it. Without --input and --tfds: "
             "the built-in generated corpus.")
    src.add_argument(
        "--test_input", nargs="+", action="extend", metavar="[FORMAT:]PATH", default=[],
        help="Test-split file(s); then the --input files of the same format are that corpus's "
             "whole train split and nothing is carved from it.")
    src.add_argument(
        "--format", choices=corpora.names(), default=None,
        help="Format of the inputs without a FORMAT: prefix: " + "; ".join(
            f"{f.name}: {f.description}" for f in corpora.FORMATS.values())
             + ". Default: from the file extension (.csv zhang_csv, .label trec, .tsv tsv, "
               ".jsonl/.json jsonl).")
    src.add_argument(
        "--unlabelled", action="store_true",
        help="Ignore the labels: every row gets the one class 'text' (a corpus for "
             "unsupervised training, e.g. word2vec, from corpora of different formats and "
             "classes). Rows are still read, checked and split by their own format and labels.")
    src.add_argument(
        "--exclude_images", metavar="SPLIT_FILE:SPLIT[,SPLIT...]", default="",
        help="Leave out the captions (captions_csv rows) of the images that SPLIT_FILE, an "
             "'image<TAB>split' TSV with a header (e.g. ../shared/data/flickr8k_1k/split.tsv), "
             "assigns to the given splits, matched by image file base name: e.g. "
             "../shared/data/flickr8k_1k/split.tsv:val,test keeps every validation and test "
             "caption out of the data. They are not rejects: the manifest counts them as "
             "counts.excluded (read = written + rejected + excluded). Needs a captions_csv "
             "input.")
    src.add_argument(
        "--classes", metavar="FILE", default=None,
        help="Class names, one per line, in label order. Wins over classes.txt beside a "
             "zhang_csv file; orders line_per_class files' classes; maps tsv/jsonl label names. "
             "Without it: classes.txt beside the zhang_csv input, else 1..K; TREC's six coarse "
             "classes; line_per_class file suffixes sorted; tsv/jsonl labels scanned.")
    src.add_argument(
        "--unknown_labels", choices=UNKNOWN_LABELS, default="reject",
        help="Rows whose numeric label is outside the classes (a class the classes file does not "
             "list; without a class file, a label beyond the dense run of labels the train "
             "files have, e.g. one '99' among 1..4, which would otherwise make 95 empty "
             "classes): reject = send them to rejected.jsonl as label_out_of_range (counted in "
             "the manifest, and warned about); error = stop before the job starts, naming "
             "them.")
    src.add_argument(
        "--encoding", default=None,
        help="Text encoding of the input files. Default per format: latin-1 for trec and "
             "line_per_class, utf-8 otherwise. Undecodable lines are rejected.")
    src.add_argument(
        "--max_line_chars", type=int, default=corpora.DEFAULT_MAX_LINE_CHARS,
        help="Lines longer than this many characters are rejected (line_too_long).")
    src.add_argument(
        "--tfds", metavar="NAME", default=None,
        help="Read the TensorFlow Datasets dataset NAME (e.g. ag_news_subset) instead of "
             "files; downloads and prepares it on first use.")
    src.add_argument("--tfds_data_dir", default=None,
                     help="TFDS data directory (default: TFDS's own, ~/tensorflow_datasets); "
                          "on remote runners it must be readable by the workers (gs://...).")
    src.add_argument("--tfds_train_split", default="train", help="TFDS split used for training.")
    src.add_argument(
        "--tfds_test_split", default="test",
        help="TFDS split used for testing; if the dataset lacks it (or it is ''), a stratified "
             "test split is carved from the train split.")
    src.add_argument(
        "--tfds_text_fields", default="",
        help="Comma-separated text features joined with a space, in order (default: a preset "
             "for known datasets, e.g. title,description for ag_news_subset; else every Text "
             "feature).")
    src.add_argument("--tfds_label_field", default="label",
                     help="The TFDS ClassLabel feature holding the label.")
    src.add_argument("--embedded_train", type=int, default=embedded.DEFAULT_TRAIN,
                     help="Train rows of the built-in corpus (used without --input/--tfds).")
    src.add_argument("--embedded_test", type=int, default=embedded.DEFAULT_TEST,
                     help="Test rows of the built-in corpus.")
    src.add_argument("--embedded_seed", type=int, default=0,
                     help="Generator seed of the built-in corpus.")

    split = parser.add_argument_group("split")
    split.add_argument(
        "--test_fraction", type=float, default=0.2,
        help="Fraction of each class held out as test when the test split is carved (the "
             "agreed procedure of ../shared/data/README.md); must be in (0, 1).")
    split.add_argument("--seed", type=int, default=0,
                       help="Seed of the stratified split and of the thesaurus augmentation.")

    aug = parser.add_argument_group("augmentation and text transforms")
    aug.add_argument(
        "--romanize", metavar="NAME", default="",
        help="Romanize every text right after reading, before anything else: pinyin = "
             "Chinese through jieba segmentation and pypinyin (Zhang et al.'s Sogou News; "
             "tfpipe.text.romanize). Default: texts as read.")
    aug.add_argument(
        "--thesaurus", metavar="SPEC", default="",
        help="Thesaurus of the augmentation (section 2.4 of Zhang et al.): a TSV file of "
             "'word<TAB>synonym1<TAB>synonym2 ...' lines (synonyms most common first), or "
             "'wordnet'. Needs --augment_copies.")
    aug.add_argument(
        "--augment_copies", type=int, default=0, metavar="N",
        help="Thesaurus copies per train row, written as extra train records with ids "
             "'<id>#th<k>' (k = 1..N); 0 = no augmentation. The test split is carved first "
             "and never augmented; a copy identical to its row (no replaceable word) is "
             "skipped and counted. Deterministic in (--seed, example id, k).")
    aug.add_argument("--augment_p", type=float, default=0.5,
                     help="Geometric parameter of the number of replaced words, P[r] ~ p^r.")
    aug.add_argument("--augment_q", type=float, default=0.5,
                     help="Geometric parameter of the synonym index, P[s] ~ q^s.")

    enc = parser.add_argument_group("encoding")
    enc.add_argument(
        "--alphabet", choices=alphabet_lib.names(), default="paper",
        help="Character alphabet: paper = the 70 characters of Zhang et al. with lower-casing; "
             "full = case-sensitive (section 3.3).")
    enc.add_argument("--l0", type=int, default=None,
                     help="Characters kept per text (the last l0, stored latest first). Default: "
                          f"the paper's {PAPER_L0}; {embedded.L0} for the built-in corpus, whose "
                          "stories are short.")
    enc.add_argument(
        "--vocab_size", type=int, default=50_000,
        help="Word vocabulary size: vocab.tsv (word<TAB>count<TAB>df lines) holds the top-K "
             "words by frequency in the train split (ties by word); 0 = no vocabulary (every "
             "word is out-of-vocabulary).")
    enc.add_argument("--min_count", type=int, default=1,
                     help="Words seen fewer times in train are left out of the vocabulary.")
    enc.add_argument("--max_words", type=int, default=256,
                     help="Word ids kept per text (the first max_words tokens).")
    enc.add_argument(
        "--ngram_max", type=int, default=5,
        help="Widest word n-gram counted for ngrams.tsv (tfpipe.text.ngrams: 1..N-grams).")
    enc.add_argument(
        "--ngram_vocab_size", type=int, default=500_000,
        help="Lines of ngrams.tsv: the top-K 1..ngram_max-grams of the train split by "
             "frequency (ties by gram), Zhang et al.'s 500,000; 0 = do not write ngrams.tsv.")

    out = parser.add_argument_group("output")
    out.add_argument(
        "--output_dir", default=None,
        help=f"Output directory (default: {paths_lib.DEFAULT_DATA_DIR}, where training looks; "
             "TFPIPE_HOME moves it). Earlier shards, manifest, vocab and dead-letter files in "
             "it are replaced.")
    out.add_argument(
        "--dataset", metavar="NAME", default=None,
        help="Name of the data, recorded in the manifest (default: the base name of "
             "--output_dir).")
    out.add_argument(
        "--num_shards", type=int, default=None,
        help="Shards per split (default: one per ~25,000 rows of that split, at least 1).")
    out.add_argument("--compression", choices=["none", "gzip"], default="none",
                     help="TFRecord compression of the shards.")
    return parser


def _beam_unknown_args(args: Sequence[str]) -> list[str]:
    """The arguments that no Beam ``PipelineOptions`` class defines."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    _, unknown = parser.parse_known_args(list(args))
    return unknown


def parse_job_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None):
    """``(args, pipeline_args)``: the job's flags and the Beam pipeline options; an argument
    that is neither exits 2 naming it (every job of ``beam_jobs`` parses this way)."""
    args, pipeline_args = parser.parse_known_args(argv)
    unknown = _beam_unknown_args(pipeline_args)
    if unknown:
        parser.error(f"unrecognized arguments (neither {parser.prog.split()[-1]} flags nor Beam "
                     f"pipeline options): {' '.join(unknown)}")
    return args, pipeline_args


def _split_format(spec: str) -> tuple[str | None, str]:
    """``"FORMAT:PATH"`` -> ``(FORMAT, PATH)`` for a registered format; else ``(None, spec)``."""
    head, sep, rest = spec.partition(":")
    if sep and head in corpora.FORMATS:
        return head, rest
    return None, spec


def _expand(parser: argparse.ArgumentParser, specs: Sequence[str],
            flag: str) -> list[tuple[str | None, str]]:
    """``(format or None, path)`` of every file the ``[FORMAT:]PATH`` specs name."""
    out: list[tuple[str | None, str]] = []
    for spec in specs:
        fmt, spec = _split_format(spec)
        if any(c in spec for c in "*?["):
            if "://" in spec:
                import tensorflow as tf

                found = sorted(tf.io.gfile.glob(spec))
            else:
                found = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
            if not found:
                parser.error(f"{flag} {spec!r}: no file matches")
            out.extend((fmt, path) for path in found)
        else:
            _check_file(parser, flag, spec, f"give its files, e.g. {os.path.join(spec, '*')!r}")
            out.append((fmt, spec))
    return out


def _check_file(parser: argparse.ArgumentParser, flag: str, path: str, dir_hint: str) -> None:
    """Exits 2 unless ``path`` is a file: a missing path is "file not found", a directory says
    so with ``dir_hint``."""
    if corpora.path_exists(path):
        return
    if "://" not in path and os.path.isdir(path):
        parser.error(f"{flag} {path!r} is a directory, not a file: {dir_hint}")
    parser.error(f"{flag} {path!r}: file not found")


def _local_abs(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def _direct_defaults(pipeline_args: list[str], *, in_memory: bool = False) -> list[str]:
    """On the DirectRunner without explicit direct options: one worker process per core, or
    (``in_memory``) one in-process worker, for jobs whose work is too short to pay for
    starting worker processes."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(pipeline_args).view_as(StandardOptions).runner or "DirectRunner"
    if runner.rsplit(".", 1)[-1].lower() not in _DIRECT_RUNNERS:
        return pipeline_args
    if any(a.startswith(("--direct_num_workers", "--direct_running_mode")) for a in pipeline_args):
        return pipeline_args
    if in_memory:
        return pipeline_args + ["--direct_num_workers=1", "--direct_running_mode=in_memory"]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    extra = [f"--direct_num_workers={cores}", "--direct_running_mode=multi_processing"]
    if not any(a.startswith("--default_sdk_harness_log_level") for a in pipeline_args):
        # Worker processes log every bundle at INFO; keep the terminal for the summary.
        extra.append("--default_sdk_harness_log_level=ERROR")
    return pipeline_args + extra


def parse(argv: Sequence[str] | None = None):
    """Parses and validates ``argv``; returns ``(JobConfig, pipeline_args)`` or exits 2."""
    from beam_jobs import preprocess_config as pl

    parser = build_parser()
    args, pipeline_args = parse_job_args(parser, argv)

    if args.l0 is None:  # the paper's length, or the built-in corpus's own (its stories are short)
        args.l0 = PAPER_L0 if (args.input or args.tfds) else embedded.L0
    for name in ("l0", "max_words", "max_line_chars", "min_count"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.vocab_size < 0:
        parser.error("--vocab_size must be >= 0")
    if args.num_shards is not None and args.num_shards < 1:
        parser.error("--num_shards must be at least 1")
    if args.embedded_train < 1 or args.embedded_test < 1:
        parser.error("--embedded_train and --embedded_test must be at least 1")
    if args.input and args.tfds:
        parser.error("give either --input or --tfds, not both")
    if args.test_input and not args.input:
        parser.error("--test_input needs --input (the train files)")
    if args.encoding:
        try:
            corpora.check_encoding(args.encoding)
        except ValueError as e:
            parser.error(f"--encoding: {e}")
    if args.classes:
        _check_file(parser, "--classes", args.classes,
                    "give the file of class names, one per line (e.g. DIR/classes.txt)")
    out_problem = cli.output_dir_problem("--output_dir", args.output_dir or paths_lib.DEFAULT_DATA_DIR,
                                         "the shards, manifest.json and vocab.tsv")
    if out_problem:
        parser.error(out_problem)
    out_kind = cli.path_kind(args.output_dir or paths_lib.DEFAULT_DATA_DIR)
    if out_kind in (cli.RUN_DIR, cli.SAVED_MODEL, cli.INDEX_DIR, cli.TUNE_DIR):
        # Its manifest.json and the like would be replaced: never write data over other outputs.
        parser.error(f"--output_dir {cli.describe(args.output_dir)}, not a data directory: give a "
                     "new directory, or an earlier preprocess output directory to replace")
    if args.tfds_data_dir and cli.path_kind(args.tfds_data_dir) == cli.FILE:
        parser.error(f"--tfds_data_dir {args.tfds_data_dir!r} is a file, not a directory")
    if not 0.0 < args.test_fraction < 1.0:
        parser.error(f"--test_fraction must be in (0, 1), got {args.test_fraction}")

    if args.ngram_max < 1:
        parser.error("--ngram_max must be at least 1")
    if args.ngram_vocab_size < 0:
        parser.error("--ngram_vocab_size must be >= 0")

    output_dir = _local_abs(args.output_dir or paths_lib.DEFAULT_DATA_DIR)
    dataset = args.dataset if args.dataset is not None else _default_dataset(output_dir)
    if not dataset.strip():
        parser.error("--dataset must not be empty")
    sources: list = []
    info: dict = {"job": "beam_jobs.preprocess"}
    carve = True
    carve_all = True
    formats: list[str] = []
    given: set[str] = set()

    if args.input:
        train_files = _expand(parser, args.input, "--input")
        test_files = _expand(parser, args.test_input, "--test_input")
        seen: set[str] = set()
        for _, path in train_files + test_files:
            if _local_abs(path) in seen:
                parser.error(f"input {path!r} is given twice (its rows would be read twice)")
            seen.add(_local_abs(path))
        plain = [path for fmt, path in train_files + test_files if fmt is None]
        default_fmt = None
        if plain:
            default_fmt = args.format or corpora.guess_format(plain)
            if default_fmt is None:
                parser.error(f"cannot tell the format of {plain}: pass --format (one of "
                             f"{corpora.names()}) or write FORMAT:PATH")
        files = [(fmt or default_fmt, path, "train") for fmt, path in train_files]
        files += [(fmt or default_fmt, path, "test") for fmt, path in test_files]
        formats = list(dict.fromkeys(fmt for fmt, _, _ in files))  # corpora, in order
        encodings: dict[str, str] = {}
        group_classes: dict[str, list[str]] = {}
        class_lists: dict[str, corpora.ClassList] = {}
        given = {fmt for fmt, _, role in files if role == "test"}
        for fmt in formats:
            encodings[fmt] = args.encoding or corpora.default_encoding(fmt)
            paths = [path for f, path, _ in files if f == fmt]
            # Classes inferred from labels count the train files only (all of them when the
            # test split is carved): a label only the test files have is an unknown label.
            train_paths = [path for f, path, role in files if f == fmt and role == "train"]
            try:
                found = corpora.resolve_classes(
                    fmt, paths, train_paths=train_paths, classes_file=args.classes,
                    encoding=encodings[fmt], max_line_chars=args.max_line_chars,
                    scan=args.unknown_labels == "error")
            except (ValueError, OSError) as e:
                parser.error(f"class names ({fmt}): {e}")
            class_lists[fmt] = found
            if fmt == "captions_csv":  # a header naming the image and caption columns
                from tfpipe.data import text_corpora

                for path in paths:
                    try:
                        text_corpora.caption_header(path, encodings[fmt], args.max_line_chars)
                    except (ValueError, OSError) as e:
                        parser.error(f"captions_csv input {path!r}: {e}")
            group_classes[fmt] = found.names
            _check_unknown_labels(parser, fmt, found, args.unknown_labels)
            if fmt == "line_per_class" and len(group_classes[fmt]) < 2 and not args.unlabelled:
                parser.error(f"line_per_class needs files of at least two classes, got "
                             f"{group_classes[fmt]} (or pass --unlabelled)")
        if args.unlabelled:
            class_names = [pl.UNLABELLED_CLASS]
        else:
            class_names = group_classes[formats[0]]
            differ = {f: c for f, c in group_classes.items() if c != class_names}
            if differ:
                parser.error(f"the inputs' formats have different class lists "
                             f"({group_classes}); pass --unlabelled to ignore the labels, or "
                             "--classes for one class list")
        carve = any(fmt not in given for fmt in formats)
        carve_all = not given
        names = corpora.source_names([path for _, path, _ in files])
        for index, (fmt, path, role) in enumerate(files):
            split = None if fmt not in given else role
            classes = tuple(group_classes[fmt]) if args.unlabelled else ()
            sources.append(pl.Source("file", index, split, _local_abs(path), fmt, names[index],
                                     encodings[fmt], args.max_line_chars, classes=classes,
                                     group=formats.index(fmt)))
        single = len(formats) == 1
        info.update(format=formats[0] if single else "mixed",
                    inputs=[path for _, path, role in files if role == "train"],
                    test_inputs=[path for _, path, role in files if role == "test"],
                    encoding=encodings[formats[0]] if single else encodings,
                    max_line_chars=args.max_line_chars)
        # The class file each corpus was read with (--classes, or the classes.txt found beside
        # a zhang_csv input), and where every class list came from.
        used = {fmt: c.classes_file for fmt, c in class_lists.items()}
        info["classes_file"] = used[formats[0]] if single else used
        info["classes_from"] = (class_lists[formats[0]].source if single else
                                {fmt: c.source for fmt, c in class_lists.items()})
        info["unknown_labels"] = args.unknown_labels
        inferred = {fmt: c.inferred_from for fmt, c in class_lists.items() if c.inferred_from}
        if inferred:
            info["classes_inferred_from"] = inferred[formats[0]] if single else inferred
        unknown = {fmt: {str(k): v for k, v in sorted(c.unknown.items(), key=lambda kv: str(kv[0]))}
                   for fmt, c in class_lists.items() if c.unknown}
        if unknown:
            info["unknown_labels_seen"] = unknown[formats[0]] if single else unknown
        if not single:
            info["input_formats"] = [fmt for fmt, _, role in files if role == "train"]
            info["test_input_formats"] = [fmt for fmt, _, role in files if role == "test"]
        if args.unlabelled:
            info["unlabelled"] = {"classes_read": group_classes}
    elif args.tfds:
        spec = corpora.TfdsSpec(
            name=args.tfds, data_dir=args.tfds_data_dir,
            text_fields=tuple(f for f in args.tfds_text_fields.split(",") if f),
            label_field=args.tfds_label_field)
        try:
            spec, class_names, split_sizes = corpora.tfds_resolve(spec)
        except Exception as e:  # unknown dataset, bad field, no network: stop here
            first = (str(e).strip().splitlines() or [""])[0]
            parser.error(f"--tfds {args.tfds!r}: {type(e).__name__}: {first}")
        train_split, test_split = args.tfds_train_split, args.tfds_test_split
        if split_sizes and train_split not in split_sizes:
            parser.error(f"--tfds_train_split {train_split!r} not in {sorted(split_sizes)}")
        carve = not test_split or (bool(split_sizes) and test_split not in split_sizes)
        wanted = [train_split] if carve else [train_split, test_split]
        for index, name in enumerate(wanted):
            size = split_sizes.get(name)
            ranges = ([(None, None)] if not size else
                      [(s, min(s + TFDS_CHUNK, size)) for s in range(0, size, TFDS_CHUNK)])
            for start, end in ranges:
                sources.append(pl.Source("tfds", index, None if carve else name, name,
                                         start=start, end=end, tfds=spec))
        info.update(format="tfds", tfds=spec.name, tfds_splits=wanted,
                    tfds_text_fields=list(spec.text_fields), tfds_label_field=spec.label_field)
    else:
        class_names = list(embedded.CLASS_NAMES)
        carve = False
        sources = [
            pl.Source("embedded", 0, "train", "train", count=args.embedded_train,
                      seed=args.embedded_seed),
            pl.Source("embedded", 1, "test", "test", count=args.embedded_test,
                      seed=args.embedded_seed),
        ]
        info.update(format="embedded", embedded={"train": args.embedded_train,
                                                 "test": args.embedded_test,
                                                 "seed": args.embedded_seed})
    exclude_images = _check_exclude_images(parser, args.exclude_images, formats)
    if exclude_images:
        info["exclude_images"] = {"file": exclude_images["file"],
                                  "splits": exclude_images["splits"],
                                  "images": len(exclude_images["images"]),
                                  "formats": exclude_images["formats"]}
    if args.unlabelled and not args.input:
        info["unlabelled"] = {"classes_read": {info["format"]: list(class_names)}}
        class_names = [pl.UNLABELLED_CLASS]
    augment_info = _check_augmentation(parser, args)
    if args.romanize:
        _check_romanize(parser, args.romanize)
    if carve and carve_all:
        info["split"] = {"mode": "stratified", "test_fraction": args.test_fraction,
                         "seed": args.seed}
    elif carve:
        info["split"] = {"mode": "mixed", "test_fraction": args.test_fraction, "seed": args.seed,
                         "carved": [f for f in formats if f not in given],
                         "given": [f for f in formats if f in given]}
    else:
        info["split"] = {"mode": "given"}
    info["vocab"] = {"size": args.vocab_size, "min_count": args.min_count, "counted_on": "train"}
    info["ngrams"] = {"size": args.ngram_vocab_size, "max": args.ngram_max,
                      "counted_on": "train"}
    info["num_shards"] = args.num_shards or "auto"
    cfg = pl.JobConfig(
        output_dir=output_dir,
        class_names=tuple(class_names),
        sources=tuple(sources),
        carve_test=carve,
        test_fraction=args.test_fraction,
        seed=args.seed,
        alphabet=args.alphabet,
        l0=args.l0,
        vocab_size=args.vocab_size,
        min_count=args.min_count,
        max_words=args.max_words,
        num_shards=args.num_shards,
        compression="GZIP" if args.compression == "gzip" else "",
        source_info=info,
        dataset=dataset,
        ngram_max=args.ngram_max,
        ngram_vocab_size=args.ngram_vocab_size,
        unlabelled=args.unlabelled,
        romanize=args.romanize,
        thesaurus=augment_info.get("spec", ""),
        augment_copies=args.augment_copies,
        augment_p=args.augment_p,
        augment_q=args.augment_q,
        augment_info=augment_info.get("info", {}),
        exclude_images=frozenset(exclude_images.get("images", ())),
    )
    return cfg, _direct_defaults(list(pipeline_args))


_EXCLUDE_FORM = ("--exclude_images SPLIT_FILE:SPLIT[,SPLIT...], e.g. "
                 "../shared/data/flickr8k_1k/split.tsv:val,test")


def _check_exclude_images(parser: argparse.ArgumentParser, spec: str,
                          formats: Sequence[str]) -> dict:
    """Parses and checks ``--exclude_images`` (before Beam starts); ``{}`` when not given, else
    ``{"file", "splits", "images" (sorted base names), "formats"}``."""
    if not spec:
        return {}
    from tfpipe.data import image_splits

    path, colon, names = spec.rpartition(":")
    splits = [s.strip() for s in names.split(",")] if colon else []
    if not path or not splits or not all(splits):
        parser.error(f"--exclude_images {spec!r}: give {_EXCLUDE_FORM}")
    _check_file(parser, "--exclude_images", path,
                "give the image<TAB>split file, e.g. ../shared/data/flickr8k_1k/split.tsv")
    try:
        assigned = image_splits.read_image_splits(path)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        parser.error(f"--exclude_images {spec!r}: {e} (an image<TAB>split TSV with a header)")
    valid = sorted(set(assigned.values()))
    unknown = [s for s in splits if s not in valid]
    if unknown:
        parser.error(f"--exclude_images {spec!r}: {path} assigns no image to split(s) {unknown}; "
                     f"its splits: {valid} ({_EXCLUDE_FORM})")
    keyed = [f for f in formats if f in corpora.IMAGE_KEYED_FORMATS]
    if not keyed:
        parser.error(f"--exclude_images applies to the inputs whose rows belong to images "
                     f"({', '.join(corpora.IMAGE_KEYED_FORMATS)}); no input has that format: "
                     f"write e.g. --input captions_csv:PATH")
    images = sorted({os.path.basename(image) for image, split in assigned.items()
                     if split in splits})
    return {"file": path, "splits": list(dict.fromkeys(splits)), "images": images,
            "formats": keyed}


def _classes_phrase(found) -> str:
    """How a message names a class list: its file, or the labels it was inferred from."""
    if found.classes_file:
        return f"the {len(found.names)} classes of {found.classes_file}"
    if found.inferred_from:
        last = int(found.inferred_from.partition("..")[2])
        return (f"the classes {found.inferred_from} inferred from the labels of the train files "
                f"(class {last + 1} has no row there)")
    return f"the classes {found.names}"


def _check_unknown_labels(parser: argparse.ArgumentParser, fmt: str, found, mode: str) -> None:
    """Stops (``error``) or warns once (``reject``) when rows have labels outside the classes."""
    if not found.unknown:
        return
    rows = found.unknown_rows
    what = (f"{rows} {fmt} row{'s' if rows != 1 else ''} with labels outside "
            f"{_classes_phrase(found)}: label{'s' if len(found.unknown) > 1 else ''} "
            f"{found.describe_unknown()}")
    hint = " (zhang_csv classes are 1-based)" if fmt == "zhang_csv" and 0 in found.unknown else ""
    if mode == "error":
        parser.error(f"{what}{hint}: fix those rows, list every class in --classes FILE, or pass "
                     "--unknown_labels reject to send them to rejected.jsonl")
    print(f"warning: {what}{hint}: they go to rejected.jsonl as label_out_of_range "
          "(--unknown_labels error stops instead; --classes FILE declares every class)",
          file=sys.stderr)


def _default_dataset(output_dir: str) -> str:
    """The directory's base name, as ``records.default_dataset_name`` (not imported: TF)."""
    return os.path.basename(output_dir.rstrip("/")) or output_dir


def _check_augmentation(parser: argparse.ArgumentParser, args) -> dict:
    """Validates the augmentation flags and loads the thesaurus once (bad files fail here).

    Returns ``{}`` when off, else ``{"spec": what the workers load, "info": manifest settings}``.
    """
    if args.augment_copies < 0:
        parser.error("--augment_copies must be >= 0")
    if args.augment_copies > 0 and not args.thesaurus:
        parser.error("--augment_copies needs --thesaurus (a word<TAB>synonyms TSV file or "
                     "'wordnet')")
    if args.thesaurus and args.augment_copies == 0:
        parser.error("--thesaurus is used only with --augment_copies N (N > 0)")
    for name in ("augment_p", "augment_q"):
        if not 0.0 < getattr(args, name) <= 1.0:
            parser.error(f"--{name} must be in (0, 1], got {getattr(args, name)}")
    if not args.thesaurus:
        return {}
    from tfpipe.data import records
    from tfpipe.text import thesaurus as thesaurus_lib

    spec = args.thesaurus
    if spec != "wordnet":
        if "://" not in spec and os.path.isdir(spec):
            parser.error(f"--thesaurus {spec!r} is a directory, not a file (give a "
                         "word<TAB>synonyms TSV file or 'wordnet')")
        if not corpora.path_exists(spec):
            parser.error(f"--thesaurus {spec!r}: file not found (give a word<TAB>synonyms TSV "
                         "file or 'wordnet')")
        spec = _local_abs(spec)
    try:
        table = thesaurus_lib.load(spec)
    except (ValueError, OSError, ImportError, LookupError) as e:
        parser.error(f"--thesaurus {args.thesaurus!r}: {type(e).__name__}: {e}")
    if not table:
        parser.error(f"--thesaurus {args.thesaurus!r} has no entries")
    info = records.thesaurus_info(spec, table, args.augment_copies, args.augment_p,
                                  args.augment_q, args.seed)
    return {"spec": spec, "info": info}


def _check_romanize(parser: argparse.ArgumentParser, name: str) -> None:
    """Checks the romanizer exists and its packages import (before Beam starts)."""
    try:
        from tfpipe.text import romanize as romanize_lib
    except ImportError as e:
        parser.error(f"--romanize {name}: tfpipe.text.romanize is not available ({e})")
    if name not in romanize_lib.NAMES:
        parser.error(f"--romanize {name!r}: unknown romanizer; valid: {list(romanize_lib.NAMES)}")
    try:
        romanize_lib.romanizer(name)("中文")
    except ImportError as e:
        parser.error(f"--romanize {name}: a package it needs is missing ({e}); install jieba "
                     "and pypinyin (pip install tfpipe[chinese])")


def _clear_outputs(output_dir: str) -> None:
    """Removes an earlier run's shards, manifest, vocab and dead letter (nothing else)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(output_dir)
    for pattern in _OUTPUT_PATTERNS:
        for path in tf.io.gfile.glob(os.path.join(output_dir, pattern)):
            tf.io.gfile.remove(path)


def run(argv: Sequence[str] | None = None):
    """Parses ``argv``, runs the job and returns the written ``Manifest``."""
    cfg, pipeline_args = parse(argv)
    return execute(cfg, pipeline_args)


def execute(cfg, pipeline_args: Sequence[str]):
    """Runs the pipeline for a parsed config; returns the written ``Manifest``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_jobs import preprocess_pipeline as pl
    from tfpipe.data import manifest as manifest_lib

    _clear_outputs(cfg.output_dir)
    # DirectRunner multi_processing workers print Beam's start-up noise on the inherited stderr.
    with beam_logging.worker_stderr_filtered():
        with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
            pl.build(p, cfg)
    return manifest_lib.load(cfg.output_dir)


def summary(data) -> str:
    """A short human-readable account of a run (``data``: the ``tfpipe.data.datadir.DataDir``
    it wrote)."""
    manifest, output_dir = data.manifest, data.path
    lines = [f"Preprocessed data {data.name!r} in {output_dir}"]
    for split in sorted(manifest.splits, key=lambda s: (s != "train", s)):
        entry = manifest.splits[split]
        per_class = ", ".join(f"{name}={n}" for name, n in zip(manifest.class_names,
                                                                entry.class_counts))
        copies = manifest.counts.get("augmented", 0) if split == "train" else 0
        extra = f" (incl. {copies} thesaurus copies)" if copies else ""
        lines.append(f"  {split:5s} {entry.count:8d} rows{extra} in {len(entry.shards)} shard(s): "
                     f"{per_class}")
        if entry.count == 0:
            lines.append(f"  WARNING: the {split} split is empty")
        elif split == "train":
            empty = [name for name, n in zip(manifest.class_names, entry.class_counts) if not n]
            if empty:
                lines.append(f"  WARNING: class(es) {', '.join(empty)} have no train rows: the "
                             "model cannot learn them")
    counts = manifest.counts
    reasons = ", ".join(f"{k}={v}" for k, v in counts["rejected_by_reason"].items()) or "none"
    excluded = (f" + excluded {counts['excluded']} (captions of the --exclude_images images)"
                if "excluded" in counts else "")
    lines.append(f"  read {counts['read']} = written {counts['written']} + rejected "
                 f"{counts['rejected']}{excluded} (by reason: {reasons})")
    outside = counts["rejected_by_reason"].get("label_out_of_range", 0)
    if outside:
        lines.append(f"  WARNING: {outside} row(s) had labels outside the "
                     f"{len(manifest.class_names)} classes and were rejected (label_out_of_range "
                     "in the dead letter): --classes FILE declares every class, --unknown_labels "
                     "error stops instead")
    aug = manifest.augmentation
    if aug:
        lines.append(f"  thesaurus augmentation ({aug['thesaurus']}, {aug['copies']} copies, "
                     f"p={aug['p']}, q={aug['q']}): {aug['copies_written']} train copies written "
                     f"for {aug['rows_augmented']} rows, {aug['copies_skipped_identical']} "
                     "skipped as identical to their row")
    lines.append(f"  dead letter: {data.file(manifest.rejected_file)}")
    lines.append(f"  vocabulary: {manifest.vocab_words} words in "
                 f"{data.file(manifest.vocab_file)}; alphabet {manifest.alphabet}, "
                 f"l0={manifest.l0}")
    if manifest.ngram_file:
        lines.append(f"  n-grams: {manifest.ngram_features} 1..{manifest.ngram_max}-grams in "
                     f"{data.file(manifest.ngram_file)}")
    if manifest.romanize:
        lines.append(f"  texts romanized: {manifest.romanize}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    cfg, pipeline_args = parse(argv)
    manifest = execute(cfg, pipeline_args)
    from tfpipe.data.datadir import DataDir  # TensorFlow: after the command line is checked

    print(summary(DataDir(cfg.output_dir, manifest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
