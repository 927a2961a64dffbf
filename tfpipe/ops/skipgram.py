"""The fused skip-gram kernel (``skipgram_sgd.cc``, op ``SkipgramSgd``): build, load, call.

word2vec.c's training loop in C++ as one TensorFlow op: a call trains a batch
of sentences in place on the two tables (frequent-word subsampling, the random
reduced window, per-pair SGD with the vectors updated after every pair,
negative sampling or hierarchical softmax, Hogwild threads).  The graph trainer
of :class:`tfpipe.models.skipgram.SkipGram` spends most of its step writing the
batch's updates out and scattering them back (``benchmarks.skipgram`` profiles
it); the loop updates each row in place, in cache.

The source is compiled on first use with the C++ compiler TensorFlow was built
to work with (``g++`` and TensorFlow's compile and link flags, about 5 s) into
a cache directory (``$TFPIPE_OPS_CACHE``, default ``~/.cache/tfpipe/ops``),
keyed by the source, the TensorFlow version and the CPU's flags (it is built
with ``-march=native``); nothing is downloaded.  :func:`load` raises
:class:`KernelUnavailable` with the compiler's message when that fails; the
model then falls back to the graph trainer (``model.kernel: auto``) or stops
(``model.kernel: fused``).

:func:`alias_table` is the noise distribution's Walker alias table the op
draws negatives from (one uniform number per draw, O(1)), and
:mod:`tfpipe.ops.skipgram_reference` the same loop in NumPy, which the tests
compare the op against.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "skipgram_sgd.cc")
CACHE_ENV = "TFPIPE_OPS_CACHE"
COMPILER_ENV = "CXX"
COMPILE_TIMEOUT_S = 300
_lock = threading.Lock()
_module = None
_error: str | None = None


class KernelUnavailable(RuntimeError):
    """The fused kernel could not be built or loaded (the message says why)."""


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.machine()


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "tfpipe", "ops")


def library_path() -> str:
    """Where the compiled op for this source, TensorFlow and CPU lives (or will)."""
    import tensorflow as tf

    h = hashlib.sha256()
    with open(SOURCE, "rb") as f:
        h.update(f.read())
    h.update(tf.__version__.encode())
    h.update(_cpu_flags().encode())
    h.update(sys.version.encode())
    return os.path.join(cache_dir(), f"skipgram_sgd_{h.hexdigest()[:16]}.so")


def compile_command(out: str) -> list[str]:
    import tensorflow as tf

    cxx = os.environ.get(COMPILER_ENV) or shutil.which("g++") or shutil.which("c++") or "g++"
    return [cxx, "-shared", "-fPIC", "-O3", "-march=native", "-ffast-math", "-fno-finite-math-only",
            "-std=c++17", "-w",
            "-o", out, SOURCE, *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()]


def build(path: str) -> None:
    """Compiles the op into ``path`` (written under a temporary name, then moved: concurrent
    builds, e.g. test workers, never load a half-written library)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(path))
    os.close(fd)
    try:
        cmd = compile_command(tmp)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise KernelUnavailable(f"could not run the C++ compiler ({cmd[0]}): {e}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
            raise KernelUnavailable(f"compiling {SOURCE} failed ({cmd[0]}):\n" + "\n".join(tail))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load():
    """The op module (``module.skipgram_sgd``), built on first use; raises :class:`KernelUnavailable`."""
    global _module, _error
    with _lock:
        if _module is not None:
            return _module
        if _error is not None:
            raise KernelUnavailable(_error)
        import tensorflow as tf

        try:
            path = library_path()
            if not os.path.exists(path):
                build(path)
            try:
                _module = tf.load_op_library(path)
            except tf.errors.NotFoundError as e:
                raise KernelUnavailable(f"loading {path} failed: {e}") from None
        except KernelUnavailable as e:
            _error = str(e)
            raise
        except OSError as e:
            _error = f"building the fused skip-gram kernel failed: {e}"
            raise KernelUnavailable(_error) from None
        return _module


def available() -> bool:
    try:
        load()
        return True
    except KernelUnavailable:
        return False


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
