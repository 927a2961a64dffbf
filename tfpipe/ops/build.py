"""Building and loading the C++ ops of :mod:`tfpipe.ops` (one :class:`OpLibrary` per source).

A source is compiled on first use with the C++ compiler TensorFlow was built to work with
(``$CXX``, else ``g++``, with TensorFlow's compile and link flags, a few seconds) into a cache
directory (``$TFPIPE_OPS_CACHE``, default ``~/.cache/tfpipe/ops``), keyed by the source, the
TensorFlow and Python versions and the CPU's flags (it is built with ``-march=native``);
nothing is downloaded.  :meth:`OpLibrary.load` raises :class:`KernelUnavailable` with the
compiler's message when that fails, and remembers the failure for the process; callers then
fall back to their ``keras.ops`` or graph path, or stop when the op was asked for by name.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from tfpipe import cpu

CACHE_ENV = "TFPIPE_OPS_CACHE"
COMPILER_ENV = "CXX"
COMPILE_TIMEOUT_S = 300


class KernelUnavailable(RuntimeError):
    """A C++ op could not be built or loaded (the message says why)."""


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "tfpipe", "ops")


class OpLibrary:
    """The op library compiled from ``source`` (a ``.cc`` path), built and loaded once per process."""

    def __init__(self, source: str, what: str):
        self.source = source
        self.what = what  # for messages: "the fused skip-gram kernel"
        self.name = os.path.splitext(os.path.basename(source))[0]
        self._lock = threading.Lock()
        self._module = None
        self._error: str | None = None

    def library_path(self) -> str:
        """Where the compiled op for this source, TensorFlow and CPU lives (or will)."""
        import tensorflow as tf

        h = hashlib.sha256()
        with open(self.source, "rb") as f:
            h.update(f.read())
        h.update(tf.__version__.encode())
        h.update(" ".join(sorted(cpu.cpu_flags())).encode())
        h.update(sys.version.encode())
        return os.path.join(cache_dir(), f"{self.name}_{h.hexdigest()[:16]}.so")

    def compile_command(self, out: str) -> list[str]:
        import tensorflow as tf

        cxx = os.environ.get(COMPILER_ENV) or shutil.which("g++") or shutil.which("c++") or "g++"
        return [cxx, "-shared", "-fPIC", "-O3", "-march=native", "-ffast-math", "-fno-finite-math-only",
                "-std=c++17", "-w",
                "-o", out, self.source, *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()]

    def build(self, path: str) -> None:
        """Compiles the op into ``path`` (written under a temporary name, then moved: concurrent
        builds, e.g. test workers, never load a half-written library)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(path))
        os.close(fd)
        try:
            cmd = self.compile_command(tmp)
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise KernelUnavailable(f"could not run the C++ compiler ({cmd[0]}): {e}") from None
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
                raise KernelUnavailable(f"compiling {self.source} failed ({cmd[0]}):\n" + "\n".join(tail))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def load(self):
        """The op module, built on first use; raises :class:`KernelUnavailable`."""
        with self._lock:
            if self._module is not None:
                return self._module
            if self._error is not None:
                raise KernelUnavailable(self._error)
            import tensorflow as tf

            try:
                path = self.library_path()
                if not os.path.exists(path):
                    self.build(path)
                try:
                    self._module = tf.load_op_library(path)
                except tf.errors.NotFoundError as e:
                    raise KernelUnavailable(f"loading {path} failed: {e}") from None
            except KernelUnavailable as e:
                self._error = str(e)
                raise
            except OSError as e:
                self._error = f"building {self.what} failed: {e}"
                raise KernelUnavailable(self._error) from None
            return self._module

    def available(self) -> bool:
        try:
            self.load()
            return True
        except KernelUnavailable:
            return False
