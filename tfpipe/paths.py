"""Default locations shared by the preprocessing job and the training CLIs."""
from __future__ import annotations

import os

# Where `python -m beam_jobs.preprocess` writes and `python -m tfpipe.train`
# reads when neither is told otherwise.  TFPIPE_HOME moves both.
HOME = os.environ.get("TFPIPE_HOME", "artifacts")
DEFAULT_DATA_DIR = os.path.join(HOME, "data", "default")
DEFAULT_RUNS_DIR = os.path.join(HOME, "runs")
DEFAULT_TUNE_DIR = os.path.join(HOME, "tune")
