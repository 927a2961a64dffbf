"""The joint_embedding task's texts: class descriptions or attribute vectors, as encoder inputs.

Reed et al. (2016) pair every image with its own sentences; ours are per-class texts (WordNet
glosses and GCIDE definitions, ``beam_jobs.describe_classes``) and, for CUB, the class attribute
vectors (section 5.1: "class attributes ... as the text").  :func:`read_texts` returns one row
per text with its class; :func:`encode` turns the rows into the inputs the run's encoder reads:

``chars``       ``uint8 [T, l0]`` quantized with Reed's forward alphabet (``tfpipe.text.alphabet.REED``)
``word_ids``    ``int64 [T, max_words]`` the first words of each text (0 pads; a word outside the
                vocabulary is dropped)
``bow``         ``feature_ids int32 [T, K]`` / ``feature_values float32 [T, K]``: the binary
                indicator of the vocabulary words a text holds (the ``bag`` encoder's layout:
                ``x[id - 1] = 1``, id 0 pads)
``attributes``  ``float32 [T, A]``: the class's attribute vector (CUB's percentages / 100)

The vocabulary of the learned word encoders is every word of the *training* classes' texts (so
no word of a held-out class's text shapes training; its unseen words are dropped at test time);
word2vec reads fixed vectors learned on other text, so its vocabulary is every word of the
dataset's texts that has a vector.  Words are ``tfpipe.embeddings.label_vectors.words``
(case-folded runs of letters or digits), the words of the skip-gram vectors.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from tfpipe.embeddings.label_vectors import words as words_of
from tfpipe.data.word_inputs import vocabulary, word_ids  # noqa: F401  (the task's word inputs)

ATTRIBUTE_CLASSES = "cub200_classes.txt"
ATTRIBUTE_MATRIX = "cub200_class_attribute_labels_continuous.txt"


class TextError(ValueError):
    """Texts that do not fit the image data (another dataset's classes, a missing class)."""


@dataclasses.dataclass
class Texts:
    """Every text of the dataset: ``labels int64[T]`` (class index of the image data),
    ``texts`` (the raw strings; an attribute row's is ``"attributes: <class>"``), ``ids`` and
    ``source`` (where they came from)."""

    labels: np.ndarray
    texts: list[str]
    ids: list[str]
    source: str

    def of_classes(self, classes: Sequence[int]) -> np.ndarray:
        """The rows of the texts of ``classes`` (a bool mask)."""
        return np.isin(self.labels, np.asarray(list(classes), np.int64))

    def count(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)


def read_descriptions(path: str, class_names: Sequence[str]) -> Texts:
    """The texts of ``path`` (every split), checked against the image data's ``class_names``
    (same classes in the same order): ``class_descriptions`` records, or ``image_captions``
    records (Reed et al.'s own sentences, ``beam_jobs.preprocess_images --layout reed``), each
    caption a text of its image's class: a batch then pairs an image with a sentence of its class
    drawn at random, where the authors' loader takes one of that image's own."""
    import tensorflow as tf

    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    data = DataDir.open(path)
    if data.kind not in (schema.KIND_CLASS_DESCRIPTIONS, schema.KIND_IMAGE_CAPTIONS):
        raise TextError(f"{path} holds {data.kind!r} records, not class_descriptions (python -m "
                        "beam_jobs.describe_classes) or image_captions (Reed's text_c10 sentences)")
    names = list(data.manifest.class_names)
    if names != list(class_names):
        diff = next((i for i, (a, b) in enumerate(zip(names, class_names)) if a != b), min(len(names), len(class_names)))
        raise TextError(f"{path} describes other classes than the image data ({len(names)} against "
                        f"{len(class_names)}; the first difference is at class {diff}): describe the image data's "
                        "classes (beam_jobs.describe_classes --data_dir <its image directory>)")
    labels, texts, ids = [], [], []
    captions = data.kind == schema.KIND_IMAGE_CAPTIONS
    for split in data.manifest.splits:
        for batch in tf.data.TFRecordDataset(data.shard_paths(split)).batch(256):
            if not captions:
                parsed = schema.parse(batch, kind=data.kind, keys=["id", "label", "text"])
                labels.extend(parsed["label"].numpy().tolist())
                texts.extend(t.decode("utf-8") for t in parsed["text"].numpy())
                ids.extend(i.decode("utf-8") for i in parsed["id"].numpy())
                continue
            parsed = schema.parse(batch, kind=data.kind, keys=["id", "label", "captions"])
            for rid, label, caps in zip(parsed["id"].numpy(), parsed["label"].numpy(), parsed["captions"].to_list()):
                for k, cap in enumerate(caps):
                    labels.append(int(label))
                    texts.append(cap.decode("utf-8"))
                    ids.append(f"{rid.decode('utf-8')}#{k}")
    return Texts(np.asarray(labels, np.int64), texts, ids, source=path)


def read_attribute_matrix(path: str, class_names: Sequence[str]) -> np.ndarray:
    """``float32 [C, A]``: CUB's continuous class attributes (``cub200_class_attribute_labels_
    continuous.txt``, row i = line i of ``cub200_classes.txt``, percentages) / 100, for the image
    data's classes matched by name without the ``NNN.`` prefix; a class CUB lacks is an error."""
    with open(os.path.join(path, ATTRIBUTE_CLASSES), encoding="utf-8") as f:
        cub = [line.split()[1].split(".", 1)[1] for line in f if line.strip()]
    matrix = np.loadtxt(os.path.join(path, ATTRIBUTE_MATRIX), dtype=np.float64, ndmin=2)
    if matrix.shape[0] != len(cub):
        raise TextError(f"{path}: {len(cub)} classes in {ATTRIBUTE_CLASSES} but {matrix.shape[0]} attribute rows")
    row = {name: i for i, name in enumerate(cub)}
    missing = [n for n in class_names if n not in row]
    if missing:
        raise TextError(f"{path}: no attributes for {len(missing)} of the image data's classes, e.g. "
                        f"{', '.join(missing[:3])} (attributes exist for CUB's 200 classes only)")
    return (matrix[[row[n] for n in class_names]] / 100.0).astype(np.float32)


def read_attributes(path: str, class_names: Sequence[str]) -> tuple[Texts, np.ndarray]:
    """One "text" per class: its attribute row (``Texts`` and the ``[C, A]`` matrix, row = text)."""
    matrix = read_attribute_matrix(path, class_names)
    texts = Texts(np.arange(len(class_names), dtype=np.int64), [f"attributes: {n}" for n in class_names],
                  [f"attributes:{i}" for i in range(len(class_names))], source=path)
    return texts, matrix


def bow(texts: Sequence[str], vocab: Sequence[str]) -> dict[str, np.ndarray]:
    """The binary word indicator of each text as the ``bag`` encoder's padded ``feature_ids``
    (vocabulary position + 1) and ``feature_values`` (1.0)."""
    index = {w: i + 1 for i, w in enumerate(vocab)}
    rows = [sorted({index[w] for w in words_of(t) if w in index}) for t in texts]
    width = max([len(r) for r in rows] + [1])
    ids = np.zeros((len(texts), width), np.int32)
    values = np.zeros((len(texts), width), np.float32)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = row
        values[r, :len(row)] = 1.0
    return {"feature_ids": ids, "feature_values": values}


def chars(texts: Sequence[str], l0: int) -> np.ndarray:
    """``uint8 [T, l0]``: Reed's forward 70-symbol quantization of each text's first ``l0`` characters."""
    from tfpipe.text import alphabet
    from tfpipe.text.quantize import quantize_py

    reed = alphabet.get("reed")
    return np.asarray([quantize_py(t, reed, int(l0)) for t in texts], np.uint8).reshape(len(texts), int(l0))
