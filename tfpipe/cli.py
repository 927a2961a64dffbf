"""What every command line of the project shares: one-line argument errors and path checks.

``ArgumentParser`` is ``argparse.ArgumentParser`` whose errors are one line on
stderr, ``error: MESSAGE (see PROG --help)``, exit status 2, instead of the
whole usage block followed by the message (sub-commands made with
``add_subparsers`` use the same class, so their pointer names the
sub-command).

``path_kind`` tells apart what a path argument can be (a file, an empty
folder, a run directory, an exported SavedModel, a preprocessed data
directory, an index directory, ...) by the files each holds;
``path_problem``/``first_problem`` turn a wrong kind into a one-line message
saying what it got, what was expected and how to get it, which a CLI prints
with ``print_error`` (exit status 2; ``check_path`` does it with
``parser.error``).  A library module: it never imports a CLI module, nor
TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn

# What a directory of each kind holds (the writers' file names, kept here so that no
# heavy module is imported to check a command line; tests check they match).
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
RUN_CONFIG = "config.yaml"  # tfpipe.training.runs.CONFIG_FILE
DATA_MANIFEST = "manifest.json"  # tfpipe.data.manifest.MANIFEST_FILE
INDEX_MANIFEST = "manifest.json"  # tfpipe.index.manifest.MANIFEST_FILE
INDEX_FORMAT = "tfpipe.index"  # tfpipe.index.manifest.FORMAT
TUNE_RESULTS = "tuning_results.json"  # tfpipe.tune.RESULTS_FILE
SKIPGRAM_VECTORS = ("vectors.npy", "words.txt")

# Kinds of path, and how each is named in a message.
MISSING = "missing"
FILE = "file"
EMPTY_DIR = "empty_dir"
SAVED_MODEL = "saved_model"
RUN_DIR = "run_dir"
DATA_DIR = "data_dir"
INDEX_DIR = "index_dir"
TUNE_DIR = "tune_dir"
OTHER_DIR = "dir"
REMOTE = "remote"  # gs://... and other TF file systems: not checked here

PHRASES = {
    MISSING: "does not exist",
    FILE: "a file",
    EMPTY_DIR: "an empty directory",
    SAVED_MODEL: "an exported SavedModel",
    RUN_DIR: "a run directory (python -m tfpipe.train)",
    DATA_DIR: "a preprocessed data directory (beam_jobs.preprocess)",
    INDEX_DIR: "an index directory (python -m tfpipe.index build)",
    TUNE_DIR: "a tuning directory (python -m tfpipe.tune)",
    OTHER_DIR: "a directory",
}
EXPECTED = {
    FILE: "a file",
    SAVED_MODEL: "an exported SavedModel (a directory with saved_model.pb)",
    RUN_DIR: "a run directory of python -m tfpipe.train (a directory with config.yaml)",
    DATA_DIR: "a preprocessed data directory (a directory with the manifest.json of "
              "beam_jobs.preprocess)",
    INDEX_DIR: "an index directory of python -m tfpipe.index build (manifest.json, vectors.npy)",
}
HOW_TO = {
    SAVED_MODEL: "export a trained run with python -m tfpipe.export --model_dir RUN_DIR, then pass "
                 "RUN_DIR/export",
    RUN_DIR: "train one with python -m tfpipe.train --config CONFIG (it writes "
             "artifacts/runs/<config stem>)",
    DATA_DIR: "write one with python -m beam_jobs.preprocess --runner=DirectRunner --output_dir DIR",
    INDEX_DIR: "build one with python -m tfpipe.index build --vectors FILE --out DIR",
}


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with one-line errors: ``error: MESSAGE (see PROG --help)``."""

    def error(self, message: str) -> NoReturn:
        one_line = " ".join(str(message).split())
        self.exit(2, f"error: {one_line} (see {self.prog} --help)\n")


def _json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def path_kind(path: str) -> str:
    """What ``path`` is, judged by the files it holds: one of the kinds above."""
    if "://" in path:
        return REMOTE
    if not os.path.exists(path):
        return MISSING
    if not os.path.isdir(path):
        return FILE
    try:
        names = set(os.listdir(path))
    except OSError:
        return OTHER_DIR
    if not names:
        return EMPTY_DIR
    if names & set(SAVED_MODEL_FILES):
        return SAVED_MODEL
    if DATA_MANIFEST in names:
        manifest = _json(os.path.join(path, DATA_MANIFEST)) or {}
        if manifest.get("format") == INDEX_FORMAT:
            return INDEX_DIR
        if "splits" in manifest or "class_names" in manifest:
            return DATA_DIR
    if RUN_CONFIG in names:
        return RUN_DIR
    if TUNE_RESULTS in names:
        return TUNE_DIR
    return OTHER_DIR


def describe(path: str) -> str:
    """``path`` and what it is, for a message (``'x' is a run directory ...``)."""
    kind = path_kind(path)
    phrase = PHRASES.get(kind, "a path")
    return f"{path} {phrase}" if kind == MISSING else f"{path} is {phrase}"


def _special_hint(flag: str, path: str, kind: str, want: str) -> str | None:
    """A hint for the common mix-ups (a run directory where its export is wanted, ...)."""
    if want == SAVED_MODEL and kind == RUN_DIR:
        export = os.path.join(path, "export")
        if path_kind(export) == SAVED_MODEL:
            return f"pass {flag} {export}"
        return (f"run python -m tfpipe.export --model_dir {path}, then pass "
                f"{flag} {export}")
    if want == RUN_DIR and kind == SAVED_MODEL:
        parent = os.path.dirname(os.path.normpath(path))
        if path_kind(parent) == RUN_DIR:
            return f"that is a run's export: pass {flag} {parent}"
    if want == RUN_DIR and kind == DATA_DIR:
        return ("that is the data a run reads; pass the run directory python -m tfpipe.train "
                "wrote (artifacts/runs/<config stem>)")
    if want == DATA_DIR and kind == RUN_DIR:
        return (f"a run's data directory is data.dir in {os.path.join(path, RUN_CONFIG)}; "
                "pass that, or " + HOW_TO[DATA_DIR])
    if kind == FILE and want in (SAVED_MODEL, RUN_DIR, DATA_DIR, INDEX_DIR):
        parent = os.path.dirname(os.path.normpath(path)) or "."
        if path_kind(parent) == want:  # e.g. DIR/manifest.json for DIR
            return f"pass the directory that holds it: {flag} {parent}"
    return None


def path_problem(flag: str, path: str, want: str, hint: str | None = None, *,
                 missing: bool = True) -> str | None:
    """``None`` when ``path`` is of kind ``want`` (or remote), else the one-line reason.

    ``want``: ``FILE``, ``SAVED_MODEL``, ``RUN_DIR``, ``DATA_DIR`` or ``INDEX_DIR``.
    ``hint`` replaces the default "how to get it" part.  ``missing=False``: a path that does
    not exist is not a problem here (the caller's reader has its own message for that).
    """
    kind = path_kind(path)
    if kind == REMOTE or kind == want or (kind == MISSING and not missing):
        return None
    name = f"{flag} {path}" if flag else path
    expected = EXPECTED.get(want, want)
    how = _special_hint(flag or "", path, kind, want) or hint or HOW_TO.get(want)
    if kind == MISSING:
        what = f"{name}: no such file or directory, expected {expected}"
    else:
        what = f"{name} is {PHRASES[kind]}, not {expected}"
    return f"{what}: {how}" if how else what


def check_path(parser: argparse.ArgumentParser, flag: str, path: str, want: str,
               hint: str | None = None) -> None:
    """Stops with ``parser.error`` (one line, exit status 2) unless ``path`` is a ``want``."""
    problem = path_problem(flag, path, want, hint)
    if problem:
        parser.error(problem)


def output_dir_problem(flag: str, path: str, what: str = "") -> str | None:
    """An output directory must not be an existing file (it is created when missing)."""
    if path_kind(path) != FILE:
        return None
    return (f"{flag} {path} is a file, not a directory: give the directory "
            f"{('for ' + what + ' ') if what else ''}(it is created when missing)")


def output_file_problem(flag: str, path: str) -> str | None:
    """An output file must not be an existing directory, nor lie under a file."""
    if "://" in path:
        return None
    if os.path.isdir(path):
        return f"{flag} {path} is a directory, not a file: give a file name to write"
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        return f"{flag} {path}: {parent} is a file, not a directory"
    return None


def print_error(message: str) -> int:
    """Prints ``error: MESSAGE`` as one line on stderr; returns 2 (the exit status of bad input)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def first_problem(*checks: tuple, missing: bool = True) -> str | None:
    """The first :func:`path_problem` of ``(flag, path, want[, hint])`` checks; paths that
    are None (flags not given) are skipped."""
    for check in checks:
        if check[1] is not None:
            problem = path_problem(*check, missing=missing)
            if problem:
                return problem
    return None
