"""Command line for nearest-neighbour indexes.

    python -m tfpipe.index build --vectors FILE.npy|FILE.bin|FILE.txt [--labels FILE.txt]
        [--labels-kind labels|words|phrases] --out DIR [--engine scann|exact] [--metric dot|cosine]
        [--param key=value ...]
    python -m tfpipe.index search --index DIR (--vector FILE.npy | --text "...") [--k 10]
        [--candidates FILE.txt] [--json] [--param key=value ...]
    python -m tfpipe.index search --model_dir RUN --text "a flower with yellow petals" [--k 10]
    python -m tfpipe.index evaluate --index DIR --queries FILE.npy [--k 10] [--batch-size N]
        [--param key=value ...]
    python -m tfpipe.index export --index DIR --out SAVEDMODEL_DIR [--k 10]

``build`` reads word2vec ``.bin``/``.txt`` files with the project's reader
(their words become the labels, kind "words"); ``.npy`` vectors take labels
from ``--labels`` (one per line).  It prints one JSON line (what was built and
how long it took).  ``--param`` values are read as JSON when they parse
(``num_leaves=2000``, ``reorder_k=null``), else as strings.

``search --text`` averages the vectors of the text's words (an index of word
vectors only) and leaves those words out of the answer.  With ``--model_dir`` (a
joint_embedding run) the text goes through the run's trained text encoder instead and
searches the run's index of its evaluated images (``--index`` defaults to it).  ``--vector`` takes a
``.npy`` of one query ``[d]`` or several ``[b, d]``.  Output: one block per
query of ``rank  score  label`` lines, or with ``--json`` one JSON line per
query.

``evaluate`` builds an exact index from the same vectors in the same run and
prints one JSON line: ``recall_at_k`` (mean fraction of the exact top-k found),
``qps`` and ``exact_qps`` (queries per second over all queries, after a
warm-up search), ``speedup``, and the counts.

Progress bars go to stderr; errors print ``error: ...`` and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfpipe import cli  # noqa: E402
from tfpipe import index  # noqa: E402
from tfpipe.index import params as params_lib  # noqa: E402
from tfpipe.index.base import ENGINES, LABEL_KINDS, METRICS  # noqa: E402
from tfpipe.metrics import recall_at_k  # noqa: E402

ENGINE_HELP = {
    "scann": "approximate: tree partitioning + anisotropic hashing + exact reordering (ScaNN)",
    "exact": "brute force: blocked matrix product + top-k (the ground truth)",
}
METRIC_HELP = {
    "dot": "dot product (maximum inner product search)",
    "cosine": "cosine similarity (vectors and queries unit-normed, then dot product)",
}


def _build_epilog() -> str:
    lines = ["engines (--engine):"]
    lines += [f"  {e}: {ENGINE_HELP[e]}" for e in ENGINES]
    lines += ["", "metrics (--metric):"] + [f"  {m}: {METRIC_HELP[m]}" for m in METRICS]
    for engine in ENGINES:
        lines += ["", f"--param KEY=VALUE for --engine {engine} (values read as JSON: 2000, null, "
                      "\"ah\"; defaults scale with the n vectors of dimension d):",
                  params_lib.describe(engine)]
    return "\n".join(lines)


def _search_param_help() -> str:
    keys = {e: params_lib.search_names(e) for e in ENGINES}
    listed = "; ".join(f"{e}: {', '.join(k)}" if k else f"{e}: none" for e, k in keys.items())
    return f"search parameter overriding the built one (repeatable); {listed}"


def parse_params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict; values parsed as JSON when possible, else kept as strings."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {pair!r}: expected key=value")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = {"None": None, "nan": float("nan")}.get(value, value)
    return params


def _stages(names: Sequence[str]):
    from tqdm import tqdm

    return tqdm(total=len(names), desc=names[0], unit="step", file=sys.stderr, leave=False)


def cmd_build(args: argparse.Namespace) -> int:
    from tfpipe.index import manifest, sources

    params = parse_params(args.param)
    steps = ["reading vectors", f"building {args.engine} index", "saving"]
    started = time.perf_counter()
    with _stages(steps) as bar:
        vectors, labels, kind = sources.read_vectors(args.vectors)
        if args.labels:
            labels = manifest.read_labels(args.labels, len(vectors))
            kind = None
        kind = args.labels_kind or kind
        if kind is not None and labels is None:
            raise ValueError(f"--labels-kind {kind} needs labels: give --labels FILE.txt")
        bar.update(1)
        bar.set_description(steps[1])
        if args.engine == "scann":
            from tfpipe.index import scann_engine

            scann_engine._scann_pybind()  # import ScaNN (and TensorFlow) outside the timed build
        t0 = time.perf_counter()
        idx = index.build(vectors, labels, engine=args.engine, metric=args.metric, params=params, labels_kind=kind)
        build_seconds = time.perf_counter() - t0
        bar.update(1)
        bar.set_description(steps[2])
        idx.save(args.out)
        bar.update(1)
    print(json.dumps({
        "out": args.out,
        "engine": idx.engine,
        "metric": idx.metric,
        "count": len(idx),
        "dim": idx.dim,
        "labels_kind": idx.labels_kind,
        "params": idx.params,
        "build_seconds": round(build_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
    }))
    return 0


def _print_results(res: index.SearchResult, as_json: bool, notes: dict[str, Any]) -> None:
    for i in range(len(res)):
        if as_json:
            print(json.dumps({"query": i, **notes, "ids": res.ids[i].tolist(),
                              "scores": [round(float(s), 6) for s in res.scores[i]], "labels": res.labels[i]},
                             ensure_ascii=False))
            continue
        if len(res) > 1:
            print(f"query {i}")
        for rank, (score, label) in enumerate(zip(res.scores[i], res.labels[i]), 1):
            print(f"{rank:>4}  {score:9.5f}  {label}")


def cmd_search(args: argparse.Namespace) -> int:
    from tfpipe.index import manifest, sources

    candidates = manifest.read_labels(args.candidates) if args.candidates else None
    search_params = parse_params(args.param)
    if args.model_dir is not None:
        from tfpipe import tasks
        from tfpipe.training import runs

        if args.text is None:
            raise ValueError("--model_dir encodes --text through the run's text encoder: give --text")
        query, run_index = tasks.of_config(runs.load_config(args.model_dir)).text_queries(args.model_dir, [args.text])
        idx = index.load(args.index or run_index)
        res = idx.search(query, min(args.k, len(idx)), candidates=candidates, **search_params)
        _print_results(res, args.json, {"text": args.text})
        return 0
    if args.index is None:
        raise ValueError("give --index DIR (or --model_dir RUN with --text)")
    idx = index.load(args.index)
    if args.text is not None:
        query, known, unknown = sources.text_vector(idx, args.text)
        if unknown:
            print(f"not in the index, ignored: {' '.join(unknown)}", file=sys.stderr)
        exclude = set(known)
        pool = len(idx) if candidates is None else len(idx.rows_of(candidates))
        fetch = min(pool, args.k + len(exclude))
        res = idx.search(query, fetch, candidates=candidates, **search_params)
        keep = [j for j, label in enumerate(res.labels[0]) if label not in exclude][: args.k]
        res = index.SearchResult(ids=res.ids[:, keep], scores=res.scores[:, keep], labels=[[res.labels[0][j] for j in keep]])
        _print_results(res, args.json, {"text": args.text, "words": known})
        return 0
    queries = np.load(args.vector, allow_pickle=False)
    res = idx.search(queries, args.k, candidates=candidates, batch_size=args.batch_size, **search_params)
    _print_results(res, args.json, {})
    return 0


def _timed_search(idx: index.Index, queries: np.ndarray, k: int, batch_size: int | None,
                  search_params: dict[str, Any]) -> tuple[index.SearchResult, float]:
    idx.search(queries[: min(len(queries), 16)], k, progress=False, **search_params)  # warm-up (tracing, constants)
    t0 = time.perf_counter()
    res = idx.search(queries, k, batch_size=batch_size, **search_params)
    return res, time.perf_counter() - t0


def cmd_evaluate(args: argparse.Namespace) -> int:
    idx = index.load(args.index)
    queries = np.load(args.queries, allow_pickle=False)
    search_params = parse_params(args.param)
    res, seconds = _timed_search(idx, queries, args.k, args.batch_size, search_params)
    t0 = time.perf_counter()
    exact = index.build(idx.vectors, engine="exact", metric=idx.metric)
    exact_build = time.perf_counter() - t0
    truth, exact_seconds = _timed_search(exact, queries, args.k, args.batch_size, {})
    n = len(res)
    qps, exact_qps = n / seconds, n / exact_seconds
    print(json.dumps({
        "recall_at_k": round(recall_at_k(res.ids, truth.ids), 6),
        "k": args.k,
        "qps": round(qps, 1),
        "exact_qps": round(exact_qps, 1),
        "speedup": round(qps / exact_qps, 3),
        "queries": n,
        "engine": idx.engine,
        "metric": idx.metric,
        "count": len(idx),
        "dim": idx.dim,
        "search_seconds": round(seconds, 4),
        "exact_seconds": round(exact_seconds, 4),
        "exact_build_seconds": round(exact_build, 4),
        "search_params": search_params,
    }))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tfpipe.index import saved_model

    idx = index.load(args.index)
    info = saved_model.export_saved_model(idx, args.out, k=args.k)
    print(json.dumps({"out": args.out, **info}))
    return 0


def parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m tfpipe.index", description="Nearest-neighbour indexes (ScaNN, exact).")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build an index from vectors and save it",
                       description="Build an index from vectors and save it.",
                       epilog=_build_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--vectors", required=True, help=".npy [n, d], or word2vec .bin / .txt")
    b.add_argument("--labels", help="labels, one per line (default: the words of a word2vec file, else row numbers)")
    b.add_argument("--labels-kind", choices=[c for c in LABEL_KINDS if c != "ids"],
                   help="what the labels are ('words' enables search --text); default: words for word2vec files")
    b.add_argument("--out", required=True, help="index directory to write")
    b.add_argument("--engine", choices=ENGINES, default="scann",
                   help=f"search engine, one of {', '.join(ENGINES)} (default: scann; see below)")
    b.add_argument("--metric", choices=METRICS, default="dot",
                   help=f"similarity, one of {', '.join(METRICS)} (default: dot; see below)")
    b.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="engine parameter (repeatable); the keys of each engine are listed below")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="nearest neighbours of query vectors or of a text")
    s.add_argument("--index", help="index directory (default with --model_dir: the run's image index)")
    s.add_argument("--model_dir", help="a joint_embedding run: --text goes through its text encoder")
    group = s.add_mutually_exclusive_group(required=True)
    group.add_argument("--vector", help=".npy of one query [d] or queries [b, d]")
    group.add_argument("--text", help="text whose word vectors are averaged (word-vector indexes)")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--candidates", help="restrict answers to these labels (file, one per line)")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--json", action="store_true", help="one JSON line per query")
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help=_search_param_help())
    s.set_defaults(func=cmd_search)

    e = sub.add_parser("evaluate", help="recall@k against exact search, and queries/s of both")
    e.add_argument("--index", required=True)
    e.add_argument("--queries", required=True, help=".npy [b, d]")
    e.add_argument("--k", type=int, default=10)
    e.add_argument("--batch-size", type=int)
    e.add_argument("--param", action="append", metavar="KEY=VALUE", help=_search_param_help())
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="export a SavedModel with a serving signature")
    x.add_argument("--index", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--k", type=int, default=10)
    x.set_defaults(func=cmd_export)
    return p


_VECTORS_HINT = "give a .npy array [n, d] or a word2vec .bin/.txt file"
_LABELS_HINT = "give a text file with one label per line"
_QUERIES_HINT = "give a .npy array of queries [b, d] (or one query [d])"


def _out_problem(flag: str, path: str, replaceable: str, what: str) -> str | None:
    """An output directory must be new, empty or of kind ``replaceable`` (it is overwritten)."""
    kind = cli.path_kind(path)
    if kind in (cli.MISSING, cli.EMPTY_DIR, cli.REMOTE, replaceable):
        return None
    return (f"{flag} {cli.describe(path)}, not {what} to replace: give a new or empty directory "
            "(an existing one of that kind is replaced)")


def path_problems(args: argparse.Namespace) -> str | None:
    """The first path argument of the command that is not what it should be, as a message."""
    command = args.command
    if command == "build":
        return (cli.first_problem(("--vectors", args.vectors, cli.FILE, _VECTORS_HINT),
                                  ("--labels", args.labels, cli.FILE, _LABELS_HINT))
                or _out_problem("--out", args.out, cli.INDEX_DIR, "an index directory"))
    checks = [("--index", args.index, cli.INDEX_DIR)] if args.index is not None else []
    if command == "search":
        checks += [("--vector", args.vector, cli.FILE, _QUERIES_HINT),
                   ("--candidates", args.candidates, cli.FILE, _LABELS_HINT)]
    elif command == "evaluate":
        checks.append(("--queries", args.queries, cli.FILE, _QUERIES_HINT))
    problem = cli.first_problem(*checks)
    if problem is None and command == "export":
        problem = _out_problem("--out", args.out, cli.SAVED_MODEL, "a SavedModel")
    return problem


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problem = path_problems(args)
    if problem:
        return cli.print_error(problem)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
