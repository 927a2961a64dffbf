"""Writing a benchmark's JSON document to a file (``--out``)."""
from __future__ import annotations

import json
import os
from typing import Any


def environment(started: float, loadavg_before: list[float]) -> dict[str, Any]:
    """The ``env`` block of a TensorFlow benchmark: versions, the load average before (given) and
    after (now), and the wall time since ``started`` (``time.time()``)."""
    import platform
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "loadavg_before": loadavg_before, "loadavg_after": list(os.getloadavg()),
            "wall_s": round(time.time() - started, 1)}


def write(result: dict[str, Any], path: str) -> None:
    """Writes the JSON document to ``path`` (parent folders created), indented, with a final newline."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


def emit(result: dict[str, Any], path: str | None) -> dict[str, Any]:
    """A benchmark's ending: the JSON document written to ``path`` (when given) and printed as one line."""
    if path:
        write(result, path)
    print(json.dumps(result))
    return result
