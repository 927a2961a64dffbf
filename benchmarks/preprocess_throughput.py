"""Beam preprocessing rows/s next to a plain single-process writer of the same TFRecords.

    python -m benchmarks.preprocess_throughput [--repeat 10] [--modes multi_processing,in_memory]

Input: the real AG's News ``test.csv`` from ``../shared/data`` repeated
``--repeat`` times into one bigger Zhang CSV (each copy's lines get their own
line numbers, so ids stay unique); without it, the built-in generated corpus
written as TSV.  Both writers do the whole job from the raw file: read, the
agreed stratified 80/20 split (seed 0), vocabulary on train, encode, shard and
write.  The Beam job runs in this process through ``beam_jobs.preprocess`` on
the DirectRunner (``multi_processing``: one worker process per core, the job's
default; ``in_memory`` for comparison); its time includes starting the worker
processes and tracing the TF functions, i.e. what a user waits for after
imports.  The plain writer is ``tfpipe.data.records.write_dataset`` on the same
split with the same shard count (``--num_shards``).  The benchmark checks that both wrote
byte-identical shards and vocabularies, then prints one JSON line.
Target: Beam within 3x of the plain writer (``plain_over_beam_time`` <= 3).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import json
import shutil
import tempfile
import time

from tfpipe import cli  # noqa: E402

SHARED_DATA = os.environ.get(
    "TFPIPE_SHARED_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                 "data"),
)


def _make_input(work: str, repeat: int) -> tuple[str, str, str]:
    """Writes the benchmark input; returns (path, format, description)."""
    src = os.path.join(SHARED_DATA, "ag_news", "test.csv")
    if os.path.exists(src):
        with open(src, "rb") as f:
            data = f.read()
        path = os.path.join(work, "test.csv")
        with open(path, "wb") as f:
            for _ in range(repeat):
                f.write(data)
        shutil.copy(os.path.join(SHARED_DATA, "ag_news", "classes.txt"), work)
        return path, "zhang_csv", f"ag_news/test.csv x{repeat}"
    from tfpipe.data import embedded

    rows = embedded.rows("train", 2500 * repeat, seed=0)
    path = os.path.join(work, "embedded.tsv")
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(r.text.replace("\t", " ").replace("\n", " ") + "\t"
                    + embedded.CLASS_NAMES[r.label] + "\n")
    with open(os.path.join(work, "classes.txt"), "w") as f:
        f.write("\n".join(embedded.CLASS_NAMES) + "\n")
    return path, "tsv", f"embedded corpus ({len(rows)} rows, ../shared/data absent)"


def _plain(path: str, fmt: str, classes: str, out: str, num_shards: int) -> float:
    """Reads, splits and writes with the single-process writer; returns seconds."""
    from tfpipe.data import corpora, records, splits

    start = time.perf_counter()
    class_names, items = corpora.read_files(fmt, [path], classes_file=classes)
    good = [i for i in items if isinstance(i, corpora.RawExample)]
    by_label: dict[int, list] = {}
    for ex in good:
        by_label.setdefault(ex.label, []).append((0, ex.row))
    test = splits.held_out_keys(by_label, 0.2, 0)
    split_rows = {"train": [], "test": []}
    for ex in good:
        split_rows["test" if (0, ex.row) in test else "train"].append(
            (ex.example_id, ex.text, ex.label))
    records.write_dataset(out, split_rows, class_names, num_shards=num_shards)
    return time.perf_counter() - start


def _same_files(a: str, b: str, names: list[str]) -> bool:
    for name in names:
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            if fa.read() != fb.read():
                return False
    return True


def main(argv=None) -> dict:
    parser = cli.ArgumentParser(prog="python -m benchmarks.preprocess_throughput",
                                description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10,
                        help="Copies of ag_news/test.csv (7,600 rows each) in the input.")
    parser.add_argument("--modes", default="multi_processing,in_memory",
                        help="DirectRunner running modes to time, comma-separated.")
    parser.add_argument("--num_shards", type=int, default=2,
                        help="Shards per split, the same for both writers.")
    parser.add_argument("--keep", default=None, help="Keep the outputs under this directory.")
    args = parser.parse_args(argv)

    # Warm imports so neither side pays for them.
    import tensorflow as tf  # noqa: F401

    from beam_jobs import preprocess

    work = args.keep or tempfile.mkdtemp(prefix="tfpipe_bench_")
    os.makedirs(work, exist_ok=True)
    path, fmt, what = _make_input(work, args.repeat)
    classes = os.path.join(work, "classes.txt")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1

    result: dict = {"benchmark": "preprocess_throughput", "input": what, "cores": cores,
                    "loadavg_before": list(os.getloadavg())}
    beam_out = {}
    for mode in [m for m in args.modes.split(",") if m]:
        out = os.path.join(work, f"beam_{mode}")
        argv_job = ["--input", path, "--format", fmt, "--classes", classes,
                    "--output_dir", out, "--num_shards", str(args.num_shards),
                    "--runner=DirectRunner",
                    f"--direct_running_mode={mode}",
                    f"--direct_num_workers={cores if mode != 'in_memory' else 1}",
                    "--default_sdk_harness_log_level=ERROR"]
        start = time.perf_counter()
        manifest = preprocess.run(argv_job)
        seconds = time.perf_counter() - start
        rows = manifest.counts["read"]
        result["rows"] = rows
        result[f"beam_{mode}_seconds"] = round(seconds, 2)
        result[f"beam_{mode}_rows_per_s"] = round(rows / seconds, 1)
        beam_out[mode] = (out, manifest)

    first_mode = next(iter(beam_out))
    beam_dir, manifest = beam_out[first_mode]
    plain_dir = os.path.join(work, "plain")
    seconds = _plain(path, fmt, classes, plain_dir, args.num_shards)
    result["plain_seconds"] = round(seconds, 2)
    result["plain_rows_per_s"] = round(result["rows"] / seconds, 1)

    names = [s.file for e in manifest.splits.values() for s in e.shards] + ["vocab.tsv"]
    result["identical_output"] = all(_same_files(d, plain_dir, names) for d, _ in beam_out.values())
    result["beam_mode"] = first_mode
    result["plain_over_beam_time"] = round(
        result[f"beam_{first_mode}_seconds"] / result["plain_seconds"], 2)
    result["target_max_ratio"] = 3.0
    result["meets_target"] = result["plain_over_beam_time"] <= 3.0
    result["loadavg_after"] = list(os.getloadavg())  # other processes share these cores
    print(json.dumps(result))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
