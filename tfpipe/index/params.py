"""The engines' parameters: names, defaults and meanings, defined once.

``exact.py`` and ``scann_engine.py`` take their parameter names and default constants from here
(no TensorFlow or ScaNN import), and ``python -m tfpipe.index build --help`` lists them from
here, so the help cannot drift from what the engines accept.
"""
from __future__ import annotations

from typing import NamedTuple

# --------------------------------------------------------------------------- exact
DEVICES = ("cpu", "gpu")
DEFAULT_BLOCK_ROWS = 65536

# --------------------------------------------------------------------------- scann
SCORINGS = ("ah", "brute_force")
TREE_MIN_POINTS = 1000  # fewer vectors: no tree (every point scored)
LARGE_N = 250_000  # from here the tree gets 2 sqrt(n) leaves
AH_MIN_POINTS = 256  # fewer vectors: brute-force scoring (too few to train 16-centre codebooks)
MIN_LEAVES_TO_SEARCH = 20
LEAVES_TO_SEARCH_DIVISOR = 10  # search 10 % of the leaves
TRAINING_SAMPLE_MIN = 100_000
TRAINING_SAMPLE_PER_LEAF = 125
TRAINING_ITERATIONS = 12
MIN_PARTITION_SIZE = 50
DIMS_PER_BLOCK = 2
ANISOTROPIC_THRESHOLD = 0.2
HASH_TRAINING_SAMPLE = 100_000
REORDER_MIN = 100
REORDER_PER_K = 10


class Param(NamedTuple):
    """One engine parameter: its name, its default (as the help states it) and its meaning."""

    name: str
    default: str
    meaning: str
    search: bool = False  # may also be given per search (search/evaluate --param)


EXACT = (
    Param("block_rows", f"min(n, {DEFAULT_BLOCK_ROWS})",
          "database rows per block of the blocked matrix product (memory: one "
          "[batch, block_rows] score matrix)"),
    Param("device", "cpu",
          f"{' | '.join(DEVICES)}: where the search runs (cpu by default: this engine is the "
          "ground truth, and GPUs multiply float32 in TF32)"),
)

SCANN = (
    Param("num_leaves",
          f"0 below {TREE_MIN_POINTS:,} vectors, round(sqrt(n)), round(2 sqrt(n)) from {LARGE_N:,}",
          "k-means leaves of the partitioning tree; 0 or 1 = no tree (every point scored)"),
    Param("num_leaves_to_search",
          f"max(min(num_leaves, {MIN_LEAVES_TO_SEARCH}), ceil(num_leaves / "
          f"{LEAVES_TO_SEARCH_DIVISOR}))",
          "leaves searched per query (recall vs speed)", search=True),
    Param("training_sample_size",
          f"min(n, max({TRAINING_SAMPLE_MIN:,}, {TRAINING_SAMPLE_PER_LEAF} * num_leaves))",
          "points sampled to train the tree"),
    Param("training_iterations", str(TRAINING_ITERATIONS), "k-means iterations of the tree"),
    Param("min_partition_size", str(MIN_PARTITION_SIZE), "ScaNN's smallest leaf"),
    Param("scoring", f"ah from {AH_MIN_POINTS} vectors, else brute_force",
          f"{' | '.join(SCORINGS)}: asymmetric hashing (product quantization) or float32 scoring "
          "of the searched points"),
    Param("dims_per_block", f"min({DIMS_PER_BLOCK}, d)",
          "dimensions per hashing block (16-centre codebooks)"),
    Param("anisotropic_quantization_threshold", str(ANISOTROPIC_THRESHOLD),
          "anisotropic loss threshold of the hashing; null = plain (isotropic) quantization"),
    Param("hash_training_sample_size", f"min(n, {HASH_TRAINING_SAMPLE:,})",
          "points sampled to train the codebooks"),
    Param("reorder_k", f"null = max({REORDER_MIN}, {REORDER_PER_K} k) at search time",
          "candidates rescored exactly in float32 (an integer is raised to k)", search=True),
    Param("num_threads", "0", "search threads; 0 = ScaNN's default (all cores)"),
)

ENGINE_PARAMS: dict[str, tuple[Param, ...]] = {"exact": EXACT, "scann": SCANN}


def names(engine: str) -> tuple[str, ...]:
    """The parameter names ``engine`` accepts at build time."""
    return tuple(p.name for p in ENGINE_PARAMS[engine])


def search_names(engine: str) -> tuple[str, ...]:
    """The parameters ``engine`` also accepts per search."""
    return tuple(p.name for p in ENGINE_PARAMS[engine] if p.search)


def describe(engine: str, *, search_only: bool = False, indent: str = "  ") -> str:
    """``name (default: ...): meaning`` lines of the engine's parameters."""
    lines = []
    for p in ENGINE_PARAMS[engine]:
        if search_only and not p.search:
            continue
        lines.append(f"{indent}{p.name} (default: {p.default}): {p.meaning}")
    return "\n".join(lines)
