"""Image preprocessing images/s: the Beam job next to a plain single-process PIL loop writing
the same records.

    python -m benchmarks.image_preprocess [--dataset flowers102] [--limit 0] [--image_size 256]

Input: a preset of ``../shared/data`` (``tfpipe.data.image_datasets``), listed once.
The Beam job (``beam_jobs.preprocess_images`` on the DirectRunner, ``multi_processing``
with one worker per core: the job's default, and ``in_memory`` for comparison) reads,
decodes, checks, resizes, re-encodes, shards and writes every image, with the manifest
and dead letter; its time includes starting the workers.  ``multi_threading`` (one thread per
core) and ``in_memory`` (one worker) run beside it.  The plain loop is what one
would write by hand: for each listed image, in order, open with PIL, convert to RGB,
resize, encode JPEG and serialize the ``tf.train.Example`` (``tfpipe.data.schema``) into
one TFRecord file per split.  The benchmark checks that both wrote the same multiset of
serialized records, then prints one JSON document: images/s of each and the ratios.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import collections
import json
import tempfile
import time

SHARED_DATA = os.environ.get(
    "TFPIPE_SHARED_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                 "data"),
)


def plain_loop(listing, resize, out_dir: str) -> dict[str, list[bytes]]:
    """The hand-written peer: one process, one image at a time, one file per split."""
    import io

    import tensorflow as tf
    from PIL import Image

    from tfpipe.data import schema

    index = {c.name: i for i, c in enumerate(listing.classes)}
    writers, written = {}, collections.defaultdict(list)
    for item in listing.items:
        with open(item.path, "rb") as f:
            data = f.read()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt, size = im.format, im.size
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            target = resize.target(*size)
            if target != size:
                rgb = rgb.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
            if fmt == "JPEG" and rgb is im and target == size:
                jpeg = data
            else:
                buf = io.BytesIO()
                rgb.save(buf, format="JPEG", quality=resize.quality, subsampling=0)
                jpeg = buf.getvalue()
        label = index.get(item.class_name, -1) if item.class_name else -1
        record = schema.encode_image(example_id=item.image_id, image=jpeg, height=target[1],
                                     width=target[0], label=label, name=item.class_name)
        if item.split not in writers:
            writers[item.split] = tf.io.TFRecordWriter(os.path.join(out_dir, f"{item.split}.tfrecord"))
        writers[item.split].write(record)
        written[item.split].append(record)
    for w in writers.values():
        w.close()
    return written


def beam_records(data_dir: str) -> dict[str, list[bytes]]:
    import tensorflow as tf

    from tfpipe.data.datadir import DataDir

    data = DataDir.open(data_dir)
    return {s: [r.numpy() for p in data.shard_paths(s) for r in tf.data.TFRecordDataset(p)]
            for s in data.splits}


def main(argv=None) -> int:
    from tfpipe import cli

    parser = cli.ArgumentParser(prog="python -m benchmarks.image_preprocess", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="flowers102",
                        choices=("tiny_imagenet", "flowers102", "cub100"))
    parser.add_argument("--data_root", default=SHARED_DATA)
    parser.add_argument("--image_size", type=int, default=96,
                        help="--resize shorter size (smaller than the stored images, so every "
                             "image is resized and re-encoded)")
    parser.add_argument("--modes", default="multi_processing,multi_threading,in_memory")
    parser.add_argument("--out", default="", help="also write the JSON here")
    args = parser.parse_args(argv)

    from beam_jobs import preprocess_images

    with tempfile.TemporaryDirectory() as work:
        common = ["--dataset", args.dataset, "--data_root", args.data_root,
                  "--image_size", str(args.image_size)]
        cfg, _, _ = preprocess_images.parse(common + ["--output_dir", os.path.join(work, "x")])
        listing = cfg.listing
        n = len(listing.items)
        start = time.perf_counter()
        plain = plain_loop(listing, cfg.resize, work)
        plain_s = time.perf_counter() - start
        result = {"benchmark": "image_preprocess", "dataset": args.dataset, "images": n,
                  "image_size": args.image_size, "cores": len(os.sched_getaffinity(0)),
                  "plain_loop": {"seconds": round(plain_s, 2), "images_per_s": round(n / plain_s, 1)}}
        for mode in args.modes.split(","):
            out = os.path.join(work, mode)
            workers = 1 if mode == "in_memory" else result["cores"]
            beam_args = ["--runner=DirectRunner", f"--direct_running_mode={mode}",
                         f"--direct_num_workers={workers}"]
            start = time.perf_counter()
            preprocess_images.main(common + ["--output_dir", out] + beam_args)
            beam_s = time.perf_counter() - start
            got = beam_records(out)
            same = all(collections.Counter(got.get(s, [])) == collections.Counter(plain[s])
                       for s in plain) and set(got) == set(plain)
            result[f"beam_{mode}"] = {"workers": workers, "seconds": round(beam_s, 2),
                                      "images_per_s": round(n / beam_s, 1),
                                      "same_records_as_plain": same,
                                      "speedup_over_plain": round(plain_s / beam_s, 3)}
            if not same:
                raise SystemExit(f"beam {mode} wrote different records than the plain loop")
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from benchmarks import output

        output.write(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
