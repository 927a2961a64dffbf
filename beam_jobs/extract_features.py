"""Frozen visual features of an image data directory, written beside it as ``features`` records.

    python -m beam_jobs.extract_features --data_dir artifacts/data/flowers102 \\
        --model efficientnet_lite0 [--image_size 224] [--outputs pooled] [--views 1]

For every image shard (one unit of parallel work) it reads the records, makes the
view(s) with the training input's own functions (``tfpipe.data.image_pipeline``: the
eval view, or ``--views 10``: Reed et al.'s ten crops and flips), runs the frozen
visual model (``tfpipe.models.vision.features.Extractor``: ImageNet EfficientNet-Lite0
by default, ``--precision mixed_bfloat16`` where the CPU has bfloat16; ``--engine auto``
runs it in ONNX Runtime when ``tf2onnx`` and ``onnxruntime`` are installed) and writes a
shard of the same name, ids and labels into ``--output_dir`` (default
``<data_dir>/features_<model>_<image_size>[_v10]``) with its manifest
(``tfpipe.data.feature_records``).  Every image record gives one features record.
The joint-embedding tasks then train on these in minutes
(``feature_records.make_feature_dataset``) instead of running the model every step.

The visual model uses every core through TensorFlow's own threads, so on the
DirectRunner the job defaults to one in-memory worker (``--direct_num_workers`` and
``--direct_running_mode`` override).  Arguments this job does not define are Beam
pipeline options.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import dataclasses
import sys
import time
from typing import Sequence

from beam_jobs import beam_logging

beam_logging.drop_known_noise()

VIEWS = (1, 10)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m beam_jobs.extract_features",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="an image data directory "
                        "(beam_jobs.preprocess_images)")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--outputs", default="pooled",
                        help="comma-separated model outputs to store (e.g. pooled,stride16)")
    parser.add_argument("--views", type=int, default=1, choices=VIEWS,
                        help="1: the eval view; 10: four corners + centre and their mirrors")
    parser.add_argument("--crop_fraction", type=float, default=0.875)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--engine", default="auto", choices=("auto", "keras", "onnxruntime"),
                        help="auto: ONNX Runtime on the exported float32 model when tf2onnx and "
                             "onnxruntime are installed (several times faster on CPUs), else "
                             "the compiled Keras call")
    parser.add_argument("--output_dir", default="")
    return parser


@dataclasses.dataclass(frozen=True)
class FeatureJob:
    data_dir: str
    output_dir: str
    model: str
    image_size: int
    precision: str
    outputs: tuple[str, ...]
    views: int
    crop_fraction: float
    batch_size: int
    engine: str = "auto"


def parse(argv: Sequence[str] | None = None):
    from beam_jobs.preprocess import parse_job_args

    parser = build_parser()
    args, rest = parse_job_args(parser, argv)
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.models import vision

    try:
        m = manifest_lib.load(args.data_dir)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    if m.kind not in ("image", "image_captions"):
        parser.error(f"--data_dir {args.data_dir} holds {m.kind!r} records, not images")
    if args.model not in vision.names():
        parser.error(f"--model {args.model!r}; valid models: {vision.names()}")
    outputs = tuple(o for o in args.outputs.split(",") if o)
    if not outputs:
        parser.error("--outputs names no output")
    if args.batch_size < 1 or args.image_size < 8:
        parser.error("--batch_size must be positive and --image_size at least 8")
    suffix = f"_v{args.views}" if args.views > 1 else ""
    output_dir = args.output_dir or os.path.join(
        args.data_dir, f"features_{args.model}_{args.image_size}{suffix}")
    job = FeatureJob(os.path.abspath(args.data_dir), os.path.abspath(output_dir), args.model,
                     args.image_size, args.precision, outputs, args.views, args.crop_fraction,
                     args.batch_size, args.engine)
    from beam_jobs.preprocess import _direct_defaults

    return job, _direct_defaults(rest, in_memory=True)


_EXTRACTORS: dict = {}


def _extractor(job: FeatureJob):
    key = (job.model, job.image_size, job.precision, job.outputs, job.engine)
    if key not in _EXTRACTORS:
        from tfpipe.models.vision.features import Extractor

        _EXTRACTORS.clear()
        _EXTRACTORS[key] = Extractor(job.model, image_size=job.image_size,
                                     precision=job.precision, outputs=job.outputs,
                                     engine=job.engine)
    return _EXTRACTORS[key]


_VIEW_FNS: dict = {}


def _views_fn(job: FeatureJob, kind: str):
    """A traced ``serialized records -> (ids, labels, uint8 views [n * views, S, S, 3])``, one
    per worker process and view setting (traced once, not once per shard)."""
    key = (kind, job.views, job.image_size, job.crop_fraction)
    if key in _VIEW_FNS:
        return _VIEW_FNS[key]
    import tensorflow as tf

    from tfpipe.data import image_pipeline as ip
    from tfpipe.data import schema

    def one(jpeg):
        image = ip.decode(jpeg)
        if job.views == 10:
            return ip.ten_views(image, job.image_size, job.crop_fraction)
        return ip.eval_view(image, job.image_size, job.crop_fraction)[tf.newaxis]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def views(raw):
        parsed = schema.parse(raw, keys=[schema.ID, schema.IMAGE, schema.LABEL], kind=kind)
        v = tf.map_fn(one, parsed[schema.IMAGE],
                      fn_output_signature=tf.TensorSpec([job.views, job.image_size,
                                                         job.image_size, 3], tf.float32))
        v = tf.reshape(v, [-1, job.image_size, job.image_size, 3])
        return parsed[schema.ID], parsed[schema.LABEL], tf.cast(v, tf.uint8)

    _VIEW_FNS[key] = views
    return views


def extract_shard(task, job: FeatureJob, kind: str, compression: str):
    """Features of one image shard: ``(split, index, shard entry dict, records, seconds, output
    shapes, engine info)``."""
    import tensorflow as tf

    from tfpipe.data import feature_records, records, schema

    split, index, path, file = task
    extractor = _extractor(job)
    views = _views_fn(job, kind)
    entries = None
    start = time.perf_counter()

    def serialized():
        nonlocal entries
        ds = tf.data.TFRecordDataset(path, compression_type=compression or None)
        for raw in ds.batch(job.batch_size).prefetch(2):
            ids, labels, images = views(raw)
            out = extractor(images.numpy())
            if entries is None:
                entries = feature_records.layout(
                    {n: out[n].shape[1:] for n in job.outputs})[0]
            flat = feature_records.flatten(out, entries, job.views)
            for i, label, vector in zip(ids.numpy(), labels.numpy(), flat):
                yield schema.encode_features(example_id=i.decode("utf-8"), features=vector,
                                             label=int(label))

    shard = records.write_shard(job.output_dir, file, serialized(), compression)
    shapes = {name: [int(d) for d in extractor.model.output[name].shape[1:]] for name in job.outputs}
    return (split, index, dataclasses.asdict(shard), shard.records, time.perf_counter() - start,
            shapes, extractor.engine_info)


def write_manifest(_, results, job: FeatureJob) -> str:
    """The features manifest, written last from every shard's entry (``feature_records``)."""
    from tfpipe.data import feature_records, manifest as manifest_lib
    from tfpipe.data.datadir import DataDir

    images = DataDir.open(job.data_dir)
    shards = {s: [manifest_lib.Shard(**r[2]) for r in sorted(
        (r for r in results if r[0] == s), key=lambda r: r[1])] for s in images.splits}
    counts = {s: sum(r[3] for r in results if r[0] == s) for s in images.splits}
    # Every shard ran the same model (its worker's copy): its output shapes and engine.
    shapes, engine = results[0][5], results[0][6]
    entries, view_dim = feature_records.layout(shapes)
    info = {"model": job.model, "image_size": job.image_size, "precision": job.precision,
            "views": job.views, "crop_fraction": job.crop_fraction, "outputs": entries,
            "view_dim": view_dim, "engine": engine,
            "seconds_in_shards": round(sum(r[4] for r in results), 2),
            "source": {"images": images.path,
                       "manifest_sha256": manifest_lib.file_sha256(
                           os.path.join(images.path, manifest_lib.MANIFEST_FILE))}}
    m = feature_records.features_manifest(images, shards=shards, counts=counts, features=info)
    return manifest_lib.write(m, job.output_dir)


def execute(job: FeatureJob, pipeline_args: Sequence[str]):
    """Runs the job; returns ``(manifest, stats)`` (stats: images, seconds, images/s)."""
    import apache_beam as beam
    import tensorflow as tf
    from apache_beam.options.pipeline_options import PipelineOptions

    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data.datadir import DataDir

    images = DataDir.open(job.data_dir)
    tf.io.gfile.makedirs(job.output_dir)
    for pattern in ("*-*-of-*.tfrecord*", manifest_lib.MANIFEST_FILE):
        for old in tf.io.gfile.glob(os.path.join(job.output_dir, pattern)):
            tf.io.gfile.remove(old)
    tasks = [(split, i, path, s.file)
             for split in images.splits
             for i, (path, s) in enumerate(zip(images.shard_paths(split),
                                               images.split(split).shards))]
    start = time.perf_counter()
    with beam_logging.worker_stderr_filtered():
        with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
            done = (p | "Shards" >> beam.Create(tasks) | "Distribute" >> beam.Reshuffle()
                    | "Extract" >> beam.Map(extract_shard, job, images.kind,
                                            images.manifest.compression))
            _ = (p | "ManifestTrigger" >> beam.Create([None])
                 | "WriteManifest" >> beam.Map(write_manifest, beam.pvalue.AsList(done), job))
    seconds = time.perf_counter() - start
    m = manifest_lib.load(job.output_dir)
    n = m.counts["written"]
    return m, {"images": n, "seconds": round(seconds, 2),
               "images_per_s": round(n / seconds, 1) if seconds else None}


def main(argv: Sequence[str] | None = None) -> int:
    job, pipeline_args = parse(argv)
    m, stats = execute(job, pipeline_args)
    print(f"Features ({job.model}, {job.image_size}px, {job.views} view(s), {job.precision}) of "
          f"{stats['images']} images in {job.output_dir}: "
          + ", ".join(f"{s}={e.count}" for s, e in m.splits.items())
          + f"; {stats['images_per_s']} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
