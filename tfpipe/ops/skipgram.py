"""The fused skip-gram kernel (``skipgram_sgd.cc``, op ``SkipgramSgd``): build, load, call.

word2vec.c's training loop in C++ as one TensorFlow op: a call trains a batch
of sentences in place on the two tables (frequent-word subsampling, the random
reduced window, per-pair SGD with the vectors updated after every pair,
negative sampling or hierarchical softmax, Hogwild threads).  The graph trainer
of :class:`tfpipe.models.skipgram.SkipGram` spends most of its step writing the
batch's updates out and scattering them back (``benchmarks.skipgram`` profiles
it); the loop updates each row in place, in cache.

The source is compiled on first use into a cache (:mod:`tfpipe.ops.build`);
:func:`load` raises :class:`KernelUnavailable` with the compiler's message when
that fails; the model then falls back to the graph trainer
(``model.kernel: auto``) or stops (``model.kernel: fused``).

:func:`alias_table` is the noise distribution's Walker alias table the op
draws negatives from (one uniform number per draw, O(1)), and
:mod:`tfpipe.ops.skipgram_reference` the same loop in NumPy, which the tests
compare the op against.
"""
from __future__ import annotations

import os

import numpy as np

from tfpipe.ops.build import KernelUnavailable, OpLibrary

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "skipgram_sgd.cc")
LIBRARY = OpLibrary(SOURCE, "the fused skip-gram kernel")
__all__ = ["KernelUnavailable", "LIBRARY", "SOURCE", "alias_table", "available", "build", "load"]


def load():
    """The op module (``module.skipgram_sgd``), built on first use; raises :class:`KernelUnavailable`."""
    return LIBRARY.load()


def available() -> bool:
    return LIBRARY.available()


def build(path: str) -> None:
    """Compiles the op into ``path`` (:meth:`tfpipe.ops.build.OpLibrary.build`)."""
    LIBRARY.build(path)


def alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table of a distribution: ``(prob float64 [V], alias int64 [V])``.

    A draw takes ``x = u * V`` for one uniform ``u`` in ``[0, 1)``, bucket
    ``i = floor(x)``, and returns ``i`` when ``x - i < prob[i]``, else
    ``alias[i]``: each outcome ``j`` has probability ``probs[j] / sum(probs)``
    (Vose's construction).  Zero-probability outcomes are never drawn.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0 or np.any(p < 0) or p.sum() <= 0:
        raise ValueError("alias_table needs a non-empty 1-D array of non-negative weights with a positive sum")
    n = len(p)
    scaled = p * (n / p.sum())
    prob = np.zeros(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    for i in large + small:  # left over: 1 up to rounding
        prob[i] = 1.0
    # a zero-weight outcome left "full" by rounding must still never be drawn
    zero = (p == 0) & (prob >= 1.0)
    if zero.any():
        best = int(np.argmax(p))
        prob[zero], alias[zero] = 0.0, best
    return prob, alias
