"""Run a benchmark in this checkout and in another commit, alternately, and compare its figures.

    python -m benchmarks.against_commit --ref HEAD~3 --repeats 2 -- input_pipeline --quick

Checks out ``--ref`` into a temporary git worktree, then runs
``python -m benchmarks.<name> <args>`` there and here in turn (ref, here, ref,
here ...; both see the same machine load), each run's JSON line read back.
Prints one JSON line: for every numeric figure the two runs share (counts and sizes
too: equal ones give a ratio of 1), the median over the repeats in each tree and
``here / ref`` (for a time, lower is faster; for a rate, higher is), plus the other
figures (strings, booleans) that differ between the trees' first runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from tfpipe import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def _run(tree: str, name: str, args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=tree,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": tree})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmarks.{name} in {tree} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return _flat(json.loads(lines[-1]))


def compare(runs_ref: list[dict[str, Any]], runs_here: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per tree and their ratio for every shared numeric figure; the exact figures
    (ints, strings, booleans) that differ between the trees' first runs."""
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    figures, differ = {}, {}
    for key in sorted(set(runs_ref[0]) & set(runs_here[0])):
        a, b = runs_ref[0][key], runs_here[0][key]
        if number(a) and number(b):
            ref = statistics.median(r[key] for r in runs_ref if number(r.get(key)))
            here = statistics.median(r[key] for r in runs_here if number(r.get(key)))
            figures[key] = {"ref": ref, "here": here, "here_over_ref": here / ref if ref else None}
        elif a != b and not isinstance(a, list):
            differ[key] = {"ref": a, "here": b}
    return {"figures": figures, "exact_figures_that_differ": differ}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, sep, rest = (argv[: argv.index("--")], "--", argv[argv.index("--") + 1:]) if "--" in argv else (argv, "", [])
    p = cli.ArgumentParser(prog="python -m benchmarks.against_commit",
                           description="A benchmark here and at another commit, run alternately.")
    p.add_argument("--ref", default="HEAD~1", help="the commit to compare with (default HEAD~1)")
    p.add_argument("--repeats", type=int, default=2, help="runs per tree (alternating)")
    args = p.parse_args(own)
    if not rest:
        p.error("name the benchmark after --, e.g. -- input_pipeline --quick")
    name, bench_args = rest[0], rest[1:]
    ref_commit = subprocess.run(["git", "rev-parse", args.ref], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
    tree = tempfile.mkdtemp(prefix="against_commit_")
    subprocess.run(["git", "worktree", "add", "--detach", tree, ref_commit], cwd=REPO, check=True,
                   capture_output=True)
    try:
        runs_ref, runs_here = [], []
        for _ in range(args.repeats):
            runs_ref.append(_run(tree, name, bench_args))
            runs_here.append(_run(REPO, name, bench_args))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=REPO, capture_output=True)
        shutil.rmtree(tree, ignore_errors=True)
    print(json.dumps({"benchmark": name, "args": bench_args, "ref": ref_commit, "repeats": args.repeats,
                      **compare(runs_ref, runs_here)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
