"""How many class names of the image datasets have a word vector (DeViSE's label embeddings).

    python -m tfpipe.embeddings.label_coverage --vectors artifacts/runs/skipgram_text_corpora \\
        --labels ../shared/data/tiny_imagenet ../shared/data/flowers102 ../shared/data/cub100

Each name goes through :func:`tfpipe.embeddings.label_vectors.label_vector` (comma-separated
synonyms tried in order, the first fully covered one wins, else the covered words of the first
partly covered one; mean of unit word vectors) and is counted as ``full``, ``partial`` or
``uncovered``.  Every partial and uncovered name is listed, with its missing words.

``--labels`` takes dataset directories or label files:

- Tiny-ImageNet: ``wnids.txt`` (the class order) with ``words.txt`` beside it
  (``wnid<TAB>comma-separated names``); a directory holding both;
- Flowers-102: ``cat_to_name.json`` (``{"1": "pink primrose", ...}``, by class number), or a
  directory holding it;
- CUB: ``labels.csv`` with a ``class_name`` column (``Black_footed_Albatross``; classes in the
  order of their first row, or by ``class_id`` when there is one); a directory holding it;
- anything else: a text file of one name per line.

``--vectors``: a skip-gram run directory (``vectors.npy`` + ``words.txt``) or a word2vec file;
or, before training, ``--vocab DATA_DIR --min_count 5``: the words a skip-gram run on that data
directory would learn (vocab.tsv's words seen at least ``min_count`` times).
``--json FILE`` writes the whole report.  Exit status 0 whatever the coverage (it is a report).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from tfpipe.embeddings.label_vectors import LabelVector, WordTable, label_vector


def vocab_table(path: str, min_count: int = 5) -> WordTable:
    """The words of ``vocab.tsv`` (``word<TAB>count...``; ``path`` is the file or its data
    directory) seen at least ``min_count`` times, each with the same 1-d stand-in vector:
    which labels a skip-gram run on that vocabulary can cover, before training it."""
    if os.path.isdir(path):
        path = os.path.join(path, "vocab.tsv")
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.rstrip("\n").partition("\t")
            count = rest.partition("\t")[0]
            if word and (not count.strip().isdigit() or int(count) >= min_count):
                kept.append(word)
    return WordTable(kept, np.ones((len(kept), 1), np.float32))


class Labels(NamedTuple):
    dataset: str
    source: str  # the file the names came from
    names: list[str]


def _tiny_imagenet(wnids_path: str) -> Labels:
    words_path = os.path.join(os.path.dirname(wnids_path), "words.txt")
    names: dict[str, str] = {}
    with open(words_path, encoding="utf-8") as f:
        for line in f:
            wnid, _, text = line.rstrip("\n").partition("\t")
            names[wnid.strip()] = text.strip()
    with open(wnids_path, encoding="utf-8") as f:
        wnids = [w.strip() for w in f if w.strip()]
    # a wnid words.txt does not name keeps its wnid as the name (it has no vector: listed)
    return Labels(_dataset(wnids_path), wnids_path, [names.get(w) or w for w in wnids])


def _json_names(path: str) -> Labels:
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    keys = sorted(table, key=lambda k: (not str(k).isdigit(), int(k) if str(k).isdigit() else 0, str(k)))
    return Labels(_dataset(path), path, [str(table[k]) for k in keys])


def _csv_names(path: str) -> Labels:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "class_name" not in rows[0]:
        raise ValueError(f"{path}: no class_name column")
    first: dict[str, int] = {}
    ids: dict[str, int] = {}
    for i, row in enumerate(rows):
        name = row["class_name"].strip()
        first.setdefault(name, i)
        if (row.get("class_id") or "").strip().isdigit():
            ids.setdefault(name, int(row["class_id"]))
    order = sorted(first, key=lambda n: (ids.get(n, 0), first[n]) if len(ids) == len(first) else first[n])
    return Labels(_dataset(path), path, order)


def _lines(path: str) -> Labels:
    with open(path, encoding="utf-8") as f:
        return Labels(_dataset(path), path, [line.strip() for line in f if line.strip()])


def _dataset(path: str) -> str:
    return os.path.basename(os.path.dirname(os.path.abspath(path))) or path


def read_labels(path: str) -> Labels:
    """The class names of a dataset directory or label file (see the module docstring)."""
    if os.path.isdir(path):
        for name, reader in (("wnids.txt", _tiny_imagenet), ("cat_to_name.json", _json_names),
                             ("labels.csv", _csv_names)):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return reader(candidate)
        raise ValueError(f"{path}: no wnids.txt, cat_to_name.json or labels.csv in it")
    base = os.path.basename(path)
    if base == "wnids.txt":
        return _tiny_imagenet(path)
    if base.endswith(".json"):
        return _json_names(path)
    if base.endswith(".csv"):
        return _csv_names(path)
    return _lines(path)


class Coverage(NamedTuple):
    dataset: str
    source: str
    results: list[LabelVector]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def summary(self) -> dict:
        n = len(self.results)
        return {
            "dataset": self.dataset, "source": self.source, "labels": n,
            "full": self.count("full"), "partial": self.count("partial"),
            "uncovered": self.count("uncovered"),
            "covered_fraction": round((n - self.count("uncovered")) / n, 4) if n else 0.0,
            "full_fraction": round(self.count("full") / n, 4) if n else 0.0,
            "partial_names": [{"name": r.name, "synonym": r.synonym, "words": list(r.words),
                               "missing": list(r.missing)} for r in self.results if r.status == "partial"],
            "uncovered_names": [{"name": r.name, "missing": list(r.missing)}
                                for r in self.results if r.status == "uncovered"],
        }


def coverage(labels: Labels, vectors: Mapping[str, np.ndarray]) -> Coverage:
    return Coverage(labels.dataset, labels.source, [label_vector(n, vectors) for n in labels.names])


def format_report(reports: Sequence[Coverage], vectors_desc: str = "") -> str:
    lines = [f"Label coverage of {vectors_desc}" if vectors_desc else "Label coverage"]
    for rep in reports:
        s = rep.summary()
        lines.append(f"{s['dataset']}: {s['labels']} labels ({s['source']}): full {s['full']}, "
                     f"partial {s['partial']}, uncovered {s['uncovered']} "
                     f"(covered {100 * s['covered_fraction']:.1f} %, fully {100 * s['full_fraction']:.1f} %)")
        for p in s["partial_names"]:
            lines.append(f"  partial   {p['name']!r}: used {' '.join(p['words'])!r} of {p['synonym']!r}, "
                         f"missing {', '.join(p['missing'])}")
        for u in s["uncovered_names"]:
            lines.append(f"  uncovered {u['name']!r}: no vector for {', '.join(u['missing']) or '(no words)'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfpipe.embeddings.label_coverage",
                                     description=__doc__.split("\n\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--vectors",
                        help="skip-gram run directory (vectors.npy + words.txt) or word2vec file")
    source.add_argument("--vocab", metavar="DATA_DIR|vocab.tsv",
                        help="before training: the words of a data directory's vocab.tsv seen at "
                             "least --min_count times (what a skip-gram run with model.min_count "
                             "would learn), with stand-in vectors (coverage only)")
    parser.add_argument("--min_count", type=int, default=5,
                        help="with --vocab: the skip-gram model.min_count (word2vec: 5)")
    parser.add_argument("--labels", nargs="+", required=True,
                        help="dataset directories or label files (wnids.txt, cat_to_name.json, "
                             "labels.csv, one name per line)")
    parser.add_argument("--json", default="", help="also write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        table = WordTable.load(args.vectors) if args.vectors else vocab_table(args.vocab, args.min_count)
        label_sets = [read_labels(p) for p in args.labels]
    except (OSError, ValueError) as e:
        parser.error(str(e))
    reports = [coverage(labels, table) for labels in label_sets]
    what = (f"{args.vectors} ({len(table)} words, {table.dim}-d)" if args.vectors else
            f"the vocabulary of {args.vocab} ({len(table)} words seen >= {args.min_count} times)")
    print(format_report(reports, what))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"vectors": args.vectors or "", "vocab": args.vocab or "",
                       "min_count": args.min_count if args.vocab else None,
                       "words": len(table), "dim": table.dim,
                       "datasets": [r.summary() for r in reports]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
