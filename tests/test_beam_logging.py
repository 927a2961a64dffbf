"""The preprocessing job's stderr is free of Beam's two known start-up lines (the apitools
warning, once per process, and each multi_processing worker's "Logging handler created"), and
everything else still gets through."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from beam_jobs import beam_logging

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APITOOLS_LINE, HANDLER_LINE = beam_logging.NOISE_LINES


def test_the_noise_lines_are_beams_own_messages():
    """The texts matched are the ones the installed Beam logs (a Beam upgrade that rewords
    them fails here, not silently)."""
    import apache_beam

    root = os.path.dirname(apache_beam.__file__)
    with open(os.path.join(root, "io", "gcp", "internal", "clients", "bigquery", "__init__.py")) as f:
        source = " ".join(f.read().split())
    assert '"apitools not found, and bigquery client libraries are not " "available despite the ' \
           'import not raising an ImportError."' in source
    with open(os.path.join(root, "runners", "worker", "sdk_worker_main.py")) as f:
        assert "_LOGGER.info('Logging handler created.')" in f.read()


def test_root_filter_drops_only_the_apitools_warning(caplog):
    beam_logging.drop_known_noise()
    beam_logging.drop_known_noise()  # idempotent
    assert logging.getLogger().filters.count(beam_logging._FILTER) == 1
    with caplog.at_level(logging.INFO):
        logging.warning("apitools not found, and bigquery client libraries are not available "
                        "despite the import not raising an ImportError.")
        logging.warning("a real warning")
        logging.getLogger("other").warning("apitools not found, and bigquery client libraries "
                                           "are not available (another logger: kept)")
    assert [r.getMessage()[:15] for r in caplog.records] == ["a real warning", "apitools not fo"]


def test_worker_stderr_filter_drops_exactly_the_noise_lines(capfd):
    # A child process writing to the inherited file descriptor 2, as Beam's workers do.
    child = ("import sys; w = sys.stderr.write; "
             f"w({APITOOLS_LINE + chr(10)!r}); w({HANDLER_LINE + chr(10)!r}); "
             "w('WARNING:root:a real worker warning\\n'); "
             f"w({'x ' + HANDLER_LINE + chr(10)!r}); w('ERROR:boom\\n'); w('no newline at the end')")
    with beam_logging.worker_stderr_filtered():
        subprocess.run([sys.executable, "-c", child], check=True)
        print("from this process", file=sys.stderr)
    err = capfd.readouterr().err
    # (pytest's capture may hand this process's own print to its file directly: any order)
    assert sorted(err.splitlines()) == sorted([
        "WARNING:root:a real worker warning", "x " + HANDLER_LINE, "ERROR:boom",
        "no newline at the end", "from this process"])
    # stderr is the real one again
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "after\n"


def _preprocess(tmp_path, *extra) -> subprocess.CompletedProcess:
    env = dict(os.environ, TFPIPE_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "beam_jobs.preprocess", "--runner=DirectRunner",
           "--output_dir", str(tmp_path / "out"), "--embedded_train", "12", "--embedded_test", "4",
           "--l0", "16", "--ngram_vocab_size", "0", *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_preprocess_prints_no_apitools_warning(tmp_path):
    """A fresh-process job run (slow: ~20 s); the filters it relies on are checked fast below
    and in tests/test_preprocess's in-process CLI runs."""
    done = _preprocess(tmp_path, "--direct_running_mode=in_memory")
    assert done.returncode == 0, done.stderr
    assert "apitools" not in done.stderr and "Logging handler" not in done.stderr, done.stderr
    assert "Preprocessed data 'out'" in done.stdout


@pytest.mark.slow
def test_preprocess_multi_processing_workers_print_no_noise(tmp_path):
    done = _preprocess(tmp_path, "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert done.returncode == 0, done.stderr
    assert "apitools" not in done.stderr and "Logging handler" not in done.stderr, done.stderr
