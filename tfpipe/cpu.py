"""This machine's CPU flags (Linux ``/proc/cpuinfo``), read in one place.

:mod:`tfpipe.training.devices` uses them to pick the mixed-precision policy and
:mod:`tfpipe.ops.build` to key its cache of compiled ops (they are built with ``-march=native``).
"""
from __future__ import annotations

CPUINFO = "/proc/cpuinfo"


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The ``flags`` of the first processor in the text of a Linux ``/proc/cpuinfo``."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_flags(path: str = CPUINFO) -> frozenset[str]:
    """The CPU flags read from ``path``; empty where it cannot be read (not Linux), so nothing
    is claimed there."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_cpu_flags(f.read())
    except OSError:
        return frozenset()
