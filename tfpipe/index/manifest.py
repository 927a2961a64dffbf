"""Saving and loading an index directory; ``manifest.json`` describes and checksums it.

Directory layout::

    manifest.json   format, engine, metric, params, dim, count, sha256 (of vectors.npy),
                    labels (file or null), labels_kind, files {relative path: sha256}, extra
    vectors.npy     float32 [count, dim], the vectors as given at build time
    labels.txt      one label per line (UTF-8), when the index was built with labels
    scann/          ScaNN's serialized searcher (engine "scann")

Loading verifies the sha256 of every file the manifest lists; a file that is
missing or does not match is an error naming it, so an index whose vectors
were replaced or truncated is never searched.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from tfpipe.index.base import ENGINES, LABEL_KINDS, METRICS, check_choice

if TYPE_CHECKING:
    from tfpipe.index.base import Index

MANIFEST_FILE = "manifest.json"
VECTORS_FILE = "vectors.npy"
LABELS_FILE = "labels.txt"
FORMAT = "tfpipe.index"
VERSION = 1


class ChecksumError(ValueError):
    """A file of an index directory does not match the sha256 its manifest records."""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_index(index: "Index", directory: str, *, extra: dict[str, Any] | None = None,
               extra_files: dict[str, bytes] | None = None) -> dict[str, Any]:
    """Writes ``index`` to ``directory``; returns the manifest written.

    ``extra`` is stored under the manifest's ``"extra"`` key, ``extra_files``
    (relative name -> bytes) are written and checksummed with the rest (the
    label and query indexes keep their subsets and roles this way).
    """
    os.makedirs(directory, exist_ok=True)
    old = os.path.join(directory, MANIFEST_FILE)
    if os.path.exists(old):  # replace a previous index: remove the files it listed
        try:
            with open(old, encoding="utf-8") as f:
                listed = json.load(f).get("files", {})
        except (OSError, ValueError):
            listed = {}
        os.remove(old)
        for rel in listed:
            path = os.path.join(directory, rel)
            if os.path.isfile(path):
                os.remove(path)

    tmp = os.path.join(directory, f"{VECTORS_FILE}.tmp{os.getpid()}.npy")
    np.save(tmp, np.asarray(index.vectors, dtype="<f4"), allow_pickle=False)
    os.replace(tmp, os.path.join(directory, VECTORS_FILE))
    files = [VECTORS_FILE]
    if index.has_labels:
        text = "".join(label + "\n" for label in index.labels)
        _write_atomic(os.path.join(directory, LABELS_FILE), text.encode("utf-8"))
        files.append(LABELS_FILE)
    files += index._engine_files(directory)
    for rel, data in (extra_files or {}).items():
        _write_atomic(os.path.join(directory, rel), data)
        files.append(rel)
    sums = {rel: sha256_file(os.path.join(directory, rel)) for rel in files}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "engine": index.engine,
        "metric": index.metric,
        "params": index.params,
        "dim": index.dim,
        "count": len(index),
        "vectors": VECTORS_FILE,
        "sha256": sums[VECTORS_FILE],
        "labels": LABELS_FILE if index.has_labels else None,
        "labels_kind": index.labels_kind,
        "files": sums,
        "extra": extra or {},
    }
    if index.engine == "scann":
        from tfpipe.index.scann_engine import scann_version

        manifest["scann_version"] = scann_version()
    _write_atomic(old, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return manifest


def read_manifest(directory: str, *, verify: bool = True) -> dict[str, Any]:
    """The manifest of an index directory, its files' checksums verified."""
    path = os.path.join(directory, MANIFEST_FILE)
    if not os.path.isfile(path):
        what = "does not exist" if not os.path.exists(directory) else f"has no {MANIFEST_FILE}"
        raise ValueError(f"{directory} is not an index directory: it {what} (write one with index.save or "
                         "`python -m tfpipe.index build`)")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a tfpipe index manifest (format is not {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path}: index format version {manifest.get('version')!r}, this code reads version {VERSION}")
    for key in ("engine", "metric", "params", "dim", "count", "sha256", "files", "labels_kind"):
        if key not in manifest:
            raise ValueError(f"{path}: manifest lacks {key!r}")
    check_choice("engine", manifest["engine"], ENGINES)
    check_choice("metric", manifest["metric"], METRICS)
    check_choice("labels_kind", manifest["labels_kind"], LABEL_KINDS)
    if manifest["files"].get(VECTORS_FILE) != manifest["sha256"]:
        raise ValueError(f"{path}: the sha256 of {VECTORS_FILE} is recorded inconsistently")
    if verify:
        for rel, expected in manifest["files"].items():
            file = os.path.join(directory, rel)
            if not os.path.isfile(file):
                raise ValueError(f"{file}: missing (the manifest {path} lists it)")
            actual = sha256_file(file)
            if actual != expected:
                raise ChecksumError(
                    f"{file}: checksum mismatch, sha256 {actual} but the manifest records {expected}: "
                    "the file was changed or corrupted after the index was saved; rebuild the index"
                )
    return manifest


def read_labels(path: str, count: int | None = None) -> list[str]:
    """Labels of a text file, one per line (UTF-8; a final newline is optional)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 ({e.reason})") from None
    labels = text.split("\n")
    if labels and labels[-1] == "":
        labels.pop()
    labels = [label[:-1] if label.endswith("\r") else label for label in labels]
    for i, label in enumerate(labels):
        if not label:
            raise ValueError(f"{path}, line {i + 1}: empty label (one non-empty label per line)")
    if count is not None and len(labels) != count:
        raise ValueError(f"{path}: {len(labels)} labels for {count} vectors: they must match one to one")
    return labels


def load_index(directory: str) -> "Index":
    """The index saved in ``directory`` (checksums verified)."""
    from tfpipe.index.exact import ExactIndex

    manifest = read_manifest(directory)
    vectors_path = os.path.join(directory, manifest.get("vectors", VECTORS_FILE))
    vectors = np.load(vectors_path, allow_pickle=False)
    expected = (manifest["count"], manifest["dim"])
    if vectors.dtype != np.float32 or vectors.shape != expected:
        raise ValueError(f"{vectors_path}: {vectors.dtype} {vectors.shape}, the manifest says float32 {expected}")
    labels = None
    if manifest.get("labels"):
        labels = read_labels(os.path.join(directory, manifest["labels"]), manifest["count"])
    kwargs = dict(metric=manifest["metric"], params=manifest["params"], labels_kind=manifest["labels_kind"])
    if manifest["engine"] == "exact":
        return ExactIndex(vectors, labels, **kwargs)
    from tfpipe.index import scann_engine

    searcher = scann_engine.load_searcher(directory, manifest["params"])
    if searcher.size() != manifest["count"]:
        raise ValueError(f"{directory}/{scann_engine.ARTIFACTS_DIR}: ScaNN searcher holds {searcher.size()} "
                         f"points, the manifest says {manifest['count']}")
    return scann_engine.ScannIndex(vectors, labels, searcher=searcher, **kwargs)
