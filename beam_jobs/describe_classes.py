"""Class descriptions: short dictionary texts about every class of an image dataset.

    python -m beam_jobs.describe_classes --dataset cub100 --data_root ../shared/data \\
        --output_dir artifacts/data/cub100_descriptions
    python -m beam_jobs.describe_classes --classes my_classes.txt --under bird.n.01 \\
        --output_dir artifacts/data/my_descriptions

Reed et al. (2016) train zero-shot models on texts that describe each class;
ours are dictionary texts: WordNet 3.0 glosses (``tfpipe.text.wordnet``) and
GCIDE definitions (``../shared/data/text/gcide.dict.gz``, read once with
``tfpipe.text.dictd`` into a lower-case headword -> entries table).  The
output directory holds ``class_descriptions`` records (``tfpipe.data.schema``:
one record per text, ``label`` the class index, ``name`` its class name,
``word_ids`` empty -- the reading side tokenizes) in ``all-00000-of-00001.tfrecord``,
``class_table.tsv`` (``index, name, synset, descriptions, sources`` per class)
and ``manifest.json`` (kind ``class_descriptions``; ``source.report`` holds the
figures printed as a JSON line at the end).  No Beam: a few hundred classes and
one 13 MB dictionary, so plain Python with the shared shard and manifest
helpers (``tfpipe.data.records.write_shard``, ``tfpipe.data.manifest``).

Classes, in the class order of the image job's presets (``tfpipe.data.image_datasets``
and ``../shared/data/README.md``), so that a class index means the same class in
the image and the description records:

``tiny_imagenet``  ``wnids.txt`` order; the class name is the wnid (as in the image
                   records), its readable names those of ``words.txt``, its synset the
                   wnid's (every one of the 202 is a WordNet 3.0 noun).
``flowers102``     ``class_id`` 1..102 of ``labels.csv``; names as written there;
                   synsets among the plants (``flower.n.01``, ``plant.n.02``), ferns
                   and mosses excluded.
``cub100``         ``cub200_classes.txt`` order (``NNN.`` dropped) restricted to the
                   100 classes of ``labels.csv``; synsets among ``bird.n.01``.
``--classes FILE`` one class per line, ``name`` or ``name<TAB>wnid``; ``--under`` /
                   ``--exclude`` (synset names) give the domain.

The texts of a class and the rules that choose them: :mod:`tfpipe.text.class_descriptions`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping, Sequence

from tfpipe.data import image_datasets
from tfpipe.text.class_descriptions import ClassSpec, Described, Describer, Dictionary

DATASETS = ("tiny_imagenet", "flowers102", "cub100")
DEFAULT_DATA_ROOT = os.path.join("..", "shared", "data")
GCIDE_FILE = os.path.join("text", "gcide.dict.gz")
SPLIT = "all"
CLASS_TABLE = "class_table.tsv"

# The domain of each dataset's classes: the image presets' (tfpipe.data.image_datasets).
DOMAINS = image_datasets.DOMAINS

# --------------------------------------------------------------------------- classes


def read_classes(dataset: str, data_root: str) -> list[ClassSpec]:
    """The classes of a dataset preset in the image job's class order
    (``tfpipe.data.image_datasets.class_list``; the module docstring)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid datasets: {list(DATASETS)}")
    specs = []
    for c in image_datasets.class_list(dataset, data_root):
        if c.wnid:  # words.txt: comma-separated names of the synset
            names = tuple(n.strip() for n in c.text.split(",") if n.strip())
        else:
            names = (c.name,)
        specs.append(ClassSpec(c.name, names, c.wnid))
    return specs


def read_class_file(path: str) -> list[ClassSpec]:
    """``name`` or ``name<TAB>wnid`` per line (blank lines and ``#`` comments skipped);
    a name listed twice is an error naming the line."""
    out: list[ClassSpec] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, _, wnid = (field.strip() for field in line.partition("\t"))
            if not name:
                raise ValueError(f"{path}:{number}: expected 'name' or 'name<TAB>wnid'")
            if name in seen:
                raise ValueError(f"{path}:{number}: class {name!r} is listed twice "
                                 f"(first on line {seen[name]})")
            seen[name] = number
            out.append(ClassSpec(name, (name,), wnid))
    if not out:
        raise ValueError(f"{path} lists no classes")
    return out


# --------------------------------------------------------------------------- writing


def report(described: Sequence[Described], dataset: str) -> dict[str, Any]:
    """The coverage figures of a run (printed, and kept in the manifest's ``source``)."""
    counts = [len(d.descriptions) for d in described]
    sources: dict[str, int] = {}
    for d in described:
        for t in d.descriptions:
            kind = t.source.split(":", 1)[0]
            sources[kind] = sources.get(kind, 0) + 1
    return {
        "dataset": dataset,
        "classes": len(described),
        "descriptions": sum(counts),
        "by_source": dict(sorted(sources.items())),
        "classes_with_synset": sum(d.synset is not None for d in described),
        "classes_with_1": sum(c >= 1 for c in counts),
        "classes_with_5": sum(c >= 5 for c in counts),
        "classes_without": [d.spec.name for d in described if not d.descriptions],
    }


def class_table(described: Sequence[Described]) -> str:
    """``class_table.tsv``: a header, then ``index, name, synset, descriptions, sources``."""
    lines = ["index\tname\tsynset\tdescriptions\tsources"]
    for i, d in enumerate(described):
        sources = ",".join(dict.fromkeys(t.source for t in d.descriptions))
        lines.append(f"{i}\t{d.spec.name}\t{d.synset or ''}\t{len(d.descriptions)}\t{sources}")
    return "\n".join(lines) + "\n"


def write(output_dir: str, described: Sequence[Described], *, dataset: str,
          source: Mapping[str, Any]) -> Any:
    """Writes the records, ``class_table.tsv`` and ``manifest.json``; returns the manifest."""
    import tensorflow as tf

    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records, schema

    tf.io.gfile.makedirs(output_dir)
    encoded = [schema.encode_class_description(
                   example_id=f"{dataset}:{label}:{k}", label=label, name=d.spec.name,
                   text=t.text)
               for label, d in enumerate(described) for k, t in enumerate(d.descriptions)]
    shard = records.write_shard(output_dir, records.shard_name(SPLIT, 0, 1), encoded)
    records.write_bytes(output_dir, CLASS_TABLE, class_table(described).encode("utf-8"))
    figures = report(described, dataset)
    per_class = [len(d.descriptions) for d in described]
    fields: dict[str, Any] = dict(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0,
        class_names=[d.spec.name for d in described],
        splits={SPLIT: manifest_lib.Split(count=len(encoded), class_counts=per_class,
                                          shards=[shard])},
        compression="",
        counts={"read": len(described), "written": len(encoded), "rejected": 0,
                "rejected_by_reason": {}, "augmented": 0},
        rejected_file="",
        source={"writer": "beam_jobs.describe_classes", **dict(source), "class_table": CLASS_TABLE,
                "report": figures},
        dataset=dataset,
        kind=schema.KIND_CLASS_DESCRIPTIONS,
    )
    fields["classes"] = [{"name": d.spec.name, "text": ", ".join(d.spec.names).replace("_", " "),
                          "wnid": d.spec.wnid, "synset": d.synset or "",
                          "descriptions": len(d.descriptions)} for d in described]
    manifest = manifest_lib.Manifest(**fields)
    if shard.records != sum(per_class):
        raise RuntimeError(f"wrote {shard.records} records for {sum(per_class)} descriptions")
    manifest_lib.write(manifest, output_dir)
    return manifest


def run(classes: Sequence[ClassSpec], output_dir: str, *, dataset: str,
        gcide: str | Dictionary | None, under: Sequence[str] = (),
        exclude: Sequence[str] = ()) -> tuple[Any, list[Described]]:
    """Describes ``classes`` and writes them to ``output_dir``; ``gcide`` is the dictionary's
    path, a loaded :class:`Dictionary`, or None for WordNet alone."""
    from tfpipe.data import manifest as manifest_lib

    source: dict[str, Any] = {"wordnet": "3.0", "under": list(under), "exclude": list(exclude)}
    dictionary = None
    if isinstance(gcide, str):
        dictionary = Dictionary.load(gcide)
        source["gcide"] = {"file": os.path.basename(gcide), "sha256": manifest_lib.file_sha256(gcide),
                           "headwords": len(dictionary)}
    elif gcide is not None:
        dictionary = gcide
        source["gcide"] = {"file": gcide.name, "headwords": len(gcide)}
    describer = Describer(dictionary, under=under, exclude=exclude)
    described = [describer.describe(spec) for spec in classes]
    return write(output_dir, described, dataset=dataset, source=source), described


# --------------------------------------------------------------------------- command line


def _synset_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from tfpipe import cli

    parser = cli.ArgumentParser(
        prog="python -m beam_jobs.describe_classes",
        description="Dictionary descriptions (WordNet glosses, GCIDE definitions) of every class "
                    "of an image dataset, as class_descriptions records.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", choices=DATASETS, help="a dataset under --data_root")
    which.add_argument("--classes", metavar="FILE",
                       help="one class per line: name, or name<TAB>wnid")
    parser.add_argument("--data_root", default=DEFAULT_DATA_ROOT,
                        help=f"where the datasets are (default {DEFAULT_DATA_ROOT})")
    parser.add_argument("--gcide", default=None, metavar="FILE",
                        help=f"the GCIDE dictd file (default DATA_ROOT/{GCIDE_FILE}); "
                             "'none' for WordNet glosses only")
    parser.add_argument("--under", type=_synset_list, default=None, metavar="SYNSETS",
                        help="comma-separated synsets the class names are looked up under "
                             "(e.g. bird.n.01); a dataset has its own")
    parser.add_argument("--exclude", type=_synset_list, default=None, metavar="SYNSETS",
                        help="comma-separated synsets whose subtrees are never a class's sense")
    parser.add_argument("--name", default=None,
                        help="the manifest's dataset name (default the dataset, or the class "
                             "file's base name)")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    problem = cli.output_dir_problem("--output_dir", args.output_dir, "the description records")
    if args.classes:
        problem = problem or cli.first_problem(
            ("--classes", args.classes, cli.FILE, "give a file with one class name per line"))
    if args.gcide is None:
        args.gcide = os.path.join(args.data_root, GCIDE_FILE)
    if args.gcide != "none":
        problem = problem or cli.first_problem(
            ("--gcide", args.gcide, cli.FILE,
             f"give the GCIDE dictd file ({GCIDE_FILE} under --data_root), or --gcide none"))
    if problem:
        parser.error(problem)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from tfpipe import cli

    args = parse(argv)
    try:
        if args.dataset:
            classes = read_classes(args.dataset, args.data_root)
            under, exclude = DOMAINS[args.dataset]
        else:
            classes = read_class_file(args.classes)
            under, exclude = (), ()
        under = args.under if args.under is not None else under
        exclude = args.exclude if args.exclude is not None else exclude
        from tfpipe.text import wordnet

        for s in [*under, *exclude]:
            wordnet.gloss(s)  # a misspelt synset is an error here, not a silent "never under"
        name = args.name or args.dataset or os.path.splitext(os.path.basename(args.classes))[0]
        manifest, _ = run(classes, args.output_dir, dataset=name,
                          gcide=None if args.gcide == "none" else args.gcide,
                          under=under, exclude=exclude)
    except (FileNotFoundError, ImportError, ValueError) as e:
        return cli.print_error(str(e))
    print(json.dumps(manifest.source["report"], sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
