"""Keeps two known, harmless Apache Beam start-up messages off the preprocessing job's terminal.

1. ``WARNING:root:apitools not found, and bigquery client libraries are not available despite
   the import not raising an ImportError.``  ``import apache_beam`` imports its BigQuery client
   (``apache_beam/io/gcp/internal/clients/bigquery/__init__.py``), which logs this through the
   root logger whenever ``google-apitools`` (the ``apache-beam[gcp]`` extra, only needed for
   Google Cloud I/O) is not installed.  This job never touches BigQuery.
2. ``INFO:__main__:Logging handler created.``  Each DirectRunner ``multi_processing`` worker
   (``python -m apache_beam.runners.worker.sdk_worker_main``) sets its root logger to INFO
   before it reads the pipeline options (so before ``--default_sdk_harness_log_level`` applies)
   and, because warning 1 made ``logging`` install a stderr handler in that process, prints
   this line (and warning 1) on the job's stderr.

:func:`drop_known_noise` filters record 1 in this process (a filter on the root logger, installed
before Beam is imported); :func:`worker_stderr_filtered` drops exactly these two lines from what
worker processes write to the inherited stderr while the pipeline runs.  Every other line,
warning or error passes through unchanged.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Iterator

APITOOLS_WARNING = "apitools not found, and bigquery client libraries are not available"
WORKER_HANDLER_INFO = "Logging handler created."
# Whole stderr lines (as the workers' default logging format prints them) that are dropped.
NOISE_LINES = (
    f"WARNING:root:{APITOOLS_WARNING} despite the import not raising an ImportError.",
    f"INFO:__main__:{WORKER_HANDLER_INFO}",
)


class _DropApitoolsWarning(logging.Filter):
    """Drops Beam's root-logger warning about the missing (optional) apitools package."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and record.levelno == logging.WARNING
                    and str(record.msg).startswith(APITOOLS_WARNING))


_FILTER = _DropApitoolsWarning()


def drop_known_noise() -> None:
    """Installs the filter on the root logger (idempotent); call before importing apache_beam."""
    root = logging.getLogger()
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)


def is_noise(line: bytes) -> bool:
    return line.rstrip(b"\r").decode("utf-8", "replace") in NOISE_LINES


def _pump(read_fd: int, out_fd: int) -> None:
    """Copies ``read_fd`` to ``out_fd`` line by line, leaving out the noise lines."""
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        while True:
            chunk = source.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                os.write(out_fd, kept)
    if pending and not is_noise(pending):
        os.write(out_fd, pending)


@contextlib.contextmanager
def worker_stderr_filtered() -> Iterator[None]:
    """While inside: file descriptor 2 (inherited by Beam's worker processes) is a pipe whose
    lines go on to the real stderr, less :data:`NOISE_LINES`.  A no-op when stderr has no file
    descriptor."""
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, real), name="stderr-filter", daemon=True)
    pump.start()
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # closes our write end: the pump ends once the workers have exited
        pump.join(timeout=10)
        if not pump.is_alive():
            os.close(real)
