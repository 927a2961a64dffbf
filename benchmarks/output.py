"""Writing a benchmark's JSON document to a file (``--out``)."""
from __future__ import annotations

import json
import os
from typing import Any


def write(result: dict[str, Any], path: str) -> None:
    """Writes the JSON document to ``path`` (parent folders created), indented, with a final newline."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
