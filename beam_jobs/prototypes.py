"""Query prototypes (the predicted-context paper's eq. 2) of a trained phrase generator, as its phrase index.

    python -m beam_jobs.prototypes --model_dir artifacts/runs/phrase_generator [--runner DirectRunner]

    phi_c = (1 / |S_c|) * sum_{i in S_c} x_i                                   (eq. 2)

for every phrase ``c`` with at least ``model.prototype_min_images`` images (inside and outside
the softmax vocabulary: the larger output space of section 3.2), ``x_i`` the generator's 64-d
bottleneck of image ``i``'s cached feature.  The run's config names the phrase data
(``data.dir``, ``beam_jobs.phrase_pairs``) and each source's features directory
(``model.features``).  One unit of parallel work is one features shard: it embeds its images
(``bottleneck.keras``) and emits per-phrase partial sums, which a combine adds up.  The result is
written as a ``tfpipe.index.QueryIndex`` in ``<model_dir>/prototype_index`` (eq. 3's search; ScaNN
from ``--scann_from`` phrases, exact below), with ``prototypes.json`` beside it (counts, time).
An image of the phrase records without a cached feature is listed in
``prototypes_rejected.jsonl`` with its reason and counted; the job fails if none is left.
Arguments this job does not define are Beam pipeline options.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import json
import sys
import time
from typing import Any, Sequence

from beam_jobs import beam_logging

beam_logging.drop_known_noise()

INDEX_DIR = "prototype_index"
REPORT = "prototypes.json"
REJECTED = "prototypes_rejected.jsonl"
ENGINES = ("auto", "scann", "exact")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m beam_jobs.prototypes", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a finished phrase_generator run directory")
    parser.add_argument("--engine", default="auto", choices=ENGINES,
                        help="the phrase index's engine; auto: exact below --scann_from phrases, ScaNN above")
    parser.add_argument("--scann_from", type=int, default=None,
                        help="default: the run's model.scann_from")
    parser.add_argument("--min_images", type=int, default=None,
                        help="phrases with at least this many images get a prototype (default: the run's "
                             "model.prototype_min_images)")
    parser.add_argument("--batch_size", type=int, default=1024, help="images per bottleneck call")
    return parser


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.scann_from is not None and args.scann_from < 1:
        parser.error(f"--scann_from must be positive, got {args.scann_from}")
    if args.min_images is not None and args.min_images < 1:
        parser.error(f"--min_images must be positive, got {args.min_images}")
    return args, rest


def units(features: dict[str, str]) -> list[tuple[str, str, str, int]]:
    """``(source, features dir, split, shard)`` of every features shard of the sources' train splits."""
    from tfpipe.data.datadir import DataDir

    out = []
    for source, fdir in sorted(features.items()):
        data = DataDir.open(fdir)
        for split in ("train",):
            if split in data.manifest.splits:
                out += [(source, fdir, split, i) for i in range(len(data.shard_paths(split)))]
    return out


class EmbedShard:
    """A unit of work: one features shard -> ``(phrase id, (sum of x, count))`` partial sums of the
    phrases it has images of, and a ``("stats", ...)`` record of which images it embedded."""

    def __init__(self, model_path: str, table: dict[tuple[str, str], list[int]], batch_size: int):
        self.model_path, self.table, self.batch_size = model_path, table, batch_size
        self.model = None

    def __call__(self, unit):
        import numpy as np

        from tfpipe.data.datadir import DataDir
        from tfpipe.data.feature_records import read_split

        if self.model is None:
            import keras

            self.model = keras.models.load_model(self.model_path, compile=False)
        source, fdir, split, shard = unit
        x, _, ids = read_split(DataDir.open(fdir), split, batch_size=self.batch_size, verify="size",
                               with_ids=True, shard=shard)
        rows = [i for i, rid in enumerate(ids) if (source, rid) in self.table]
        found = [(source, ids[i]) for i in rows]
        out = [("stats", found)]
        if not rows:
            return out
        emb = np.asarray(self.model.predict(x[rows], batch_size=self.batch_size, verbose=0), np.float64)
        sums: dict[int, list] = {}
        for row, key in zip(emb, found):
            for c in self.table[key]:
                part = sums.setdefault(c, [np.zeros_like(row), 0])
                part[0] += row
                part[1] += 1
        return out + [(c, (s, n)) for c, (s, n) in sums.items()]


def add_parts(parts):
    import numpy as np

    total, count = None, 0
    for s, n in parts:
        total = np.array(s, np.float64) if total is None else total + s
        count += n
    return total, count


def run(model_dir: str, *, engine: str = "auto", scann_from: int | None = None, min_images: int | None = None,
        batch_size: int = 1024, pipeline_args: Sequence[str] = ()) -> dict[str, Any]:
    """Runs the job; returns the report written to ``prototypes.json``."""
    import apache_beam as beam
    import numpy as np
    from apache_beam.options.pipeline_options import PipelineOptions

    from tfpipe.data import phrase_records
    from tfpipe.training import runs

    started = time.time()
    cfg = runs.load_config(model_dir)
    model = cfg.model
    if model.get("name") != "phrase_generator":
        raise SystemExit(f"{model_dir} is a {model.get('name')!r} run; prototypes need a phrase_generator run")
    bottleneck = os.path.join(model_dir, "bottleneck.keras")
    if not os.path.exists(bottleneck):
        raise SystemExit(f"{bottleneck} does not exist: is {model_dir} a finished run? (python -m tfpipe.train)")
    m = int(min_images if min_images is not None else model.get("prototype_min_images", 2))
    phrases = phrase_records.read_phrases(cfg.data.dir)
    _, prototype_ids = phrase_records.vocabularies(phrases, 1, m)
    keep = set(int(i) for i in prototype_ids)
    ids, _, sources, phrase_ids = phrase_records.read_image_phrases(cfg.data.dir, "train")
    table = {}
    for rid, source, pids in zip(ids, sources, phrase_ids):
        mine = [int(c) for c in pids if int(c) in keep]
        if mine:
            table[(source, rid)] = mine
    features = dict(model.get("features") or {})
    for stale in (REPORT, REJECTED):
        if os.path.exists(os.path.join(model_dir, stale)):
            os.remove(os.path.join(model_dir, stale))
    job = {"model_dir": model_dir, "phrase_dir": cfg.data.dir, "min_images": m, "engine": engine,
           "scann_from": int(scann_from if scann_from is not None else model.get("scann_from", 10_000)),
           "softmax_size": int(model.get("softmax_size", 1000)), "features": features, "started": started}
    with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
        out = (p | "Shards" >> beam.Create(units(features)) | "Distribute" >> beam.Reshuffle()
               | "Embed" >> beam.FlatMap(EmbedShard(bottleneck, table, batch_size)))
        found = out | "Stats" >> beam.Filter(lambda kv: kv[0] == "stats") | "Found" >> beam.FlatMap(lambda kv: kv[1])
        sums = (out | "Parts" >> beam.Filter(lambda kv: kv[0] != "stats")
                | "Sum" >> beam.CombinePerKey(add_parts)
                | "Mean" >> beam.Map(lambda kv: (kv[0], (kv[1][0] / kv[1][1]).astype(np.float32), kv[1][1])))
        _ = (p | "Trigger" >> beam.Create([None])
             | "WriteIndex" >> beam.Map(write_index, beam.pvalue.AsList(sums), beam.pvalue.AsList(found),
                                        phrases=[ph.phrase for ph in phrases], table=table, job=job))
    report = runs.read_json(os.path.join(model_dir, REPORT))
    if not report or report.get("prototypes", 0) == 0:
        raise SystemExit(f"no prototypes: none of the {len(table)} images with a prototype phrase has a cached "
                         f"feature in {features} ({os.path.join(model_dir, REJECTED)})")
    return report


def write_index(_, protos, found, *, phrases: list[str], table: dict, job: dict) -> str:
    """The last step: the prototypes as a ``QueryIndex``, the rejected images and the report."""
    import numpy as np

    from tfpipe.index.query_index import QueryIndex
    from tfpipe.training import runs

    model_dir = job["model_dir"]
    found = set(map(tuple, found))
    missing = [key for key in table if key not in found]
    with open(os.path.join(model_dir, REJECTED), "w", encoding="utf-8") as f:
        for source, rid in missing:
            f.write(json.dumps({"id": rid, "source": source, "reason": "no_feature",
                                "features_dir": job["features"].get(source)}) + "\n")
    protos = sorted(protos, key=lambda r: r[0])
    report: dict[str, Any] = {k: job[k] for k in ("model_dir", "phrase_dir", "min_images")}
    report.update({"prototypes": len(protos), "images_with_prototype_phrase": len(table),
                   "images_embedded": len(found), "images_rejected": len(missing)})
    if protos:
        names = [phrases[c] for c, _, _ in protos]
        vectors = np.stack([v for _, v, _ in protos])
        engine = job["engine"]
        if engine == "auto":
            engine = "exact" if len(names) < job["scann_from"] else "scann"
        path = os.path.join(model_dir, INDEX_DIR)
        QueryIndex(names, vectors, engine=engine).save(path)
        counts = np.array([n for _, _, n in protos])
        report.update({"inside_softmax": int(sum(c < job["softmax_size"] for c, _, _ in protos)),
                       "outside_softmax": int(sum(c >= job["softmax_size"] for c, _, _ in protos)),
                       "images_per_prototype": {"mean": float(counts.mean()), "median": float(np.median(counts)),
                                                "max": int(counts.max())},
                       "engine": engine, "index_dir": path})
    report["time_s"] = time.time() - job["started"]
    path = os.path.join(model_dir, REPORT)
    runs.write_json(path, report)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args, rest = parse(argv)
    if not os.path.isfile(os.path.join(args.model_dir, "config.yaml")):
        print(f"error: --model_dir {args.model_dir} is not a run directory (no config.yaml): give a finished "
              "phrase_generator run (python -m tfpipe.train --config configs/phrase_generator.yaml)", file=sys.stderr)
        return 2
    report = run(args.model_dir, engine=args.engine, scann_from=args.scann_from, min_images=args.min_images,
                 batch_size=args.batch_size, pipeline_args=rest)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
