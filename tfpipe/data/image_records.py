"""Image rows into ``image`` / ``image_captions`` records and their manifest.

An :class:`ImageRow` is a decoded, checked image ready to store (``tfpipe.data.images``
made its JPEG).  :class:`RecordEncoder` serializes batches of rows with the schema;
for captioned rows it computes every caption's character indices and word ids with
:class:`tfpipe.data.records.Encoder` -- the one quantizer and tokenizer of the text
job and of the exported models -- so a caption gets the same ids here, in the text
job and in a serving graph.  :func:`build_manifest` is the one manifest builder of
the image job: it checks the accounting (``read == written + rejected``, the shards
hold what the class counts add up to) and records the class table.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

from tfpipe.data import manifest as manifest_lib
from tfpipe.data import records
from tfpipe.data import schema
from tfpipe.text import alphabet as alphabet_lib

UNLABELLED = schema.UNLABELLED


class ImageRow(NamedTuple):
    image_id: str
    label: int  # class index, UNLABELLED for none
    name: str  # class name, "" for none
    jpeg: bytes
    height: int
    width: int
    captions: tuple[str, ...] = ()


class RecordEncoder:
    """Serializes :class:`ImageRow` s of ``kind``; captions through ``records.Encoder``
    (``alphabet``, ``l0``, ``vocab``, ``max_words``)."""

    def __init__(self, kind: str, *, alphabet: str = "reed", l0: int = alphabet_lib.REED_L0,
                 vocab: Sequence[str] = (), max_words: int = 50):
        self.kind = schema.check_kind(kind)
        if kind not in (schema.KIND_IMAGE, schema.KIND_IMAGE_CAPTIONS):
            raise ValueError(f"an image row is stored as 'image' or 'image_captions', not {kind!r}")
        self._text = (records.Encoder(alphabet, l0, vocab, max_words)
                      if kind == schema.KIND_IMAGE_CAPTIONS else None)

    def encode(self, rows: Sequence[ImageRow]) -> list[bytes]:
        if not rows:
            return []
        if self._text is None:
            return [schema.encode_image(example_id=r.image_id, image=r.jpeg, height=r.height,
                                        width=r.width, label=r.label, name=r.name) for r in rows]
        texts = [c for r in rows for c in r.captions]
        chars, words = self._text.ids(texts) if texts else ([], [])
        out, at = [], 0
        for r in rows:
            n = len(r.captions)
            out.append(schema.encode_image_captions(
                example_id=r.image_id, image=r.jpeg, height=r.height, width=r.width,
                captions=r.captions, caption_word_ids=[w.tolist() for w in words[at:at + n]],
                caption_chars=[c.tobytes() for c in chars[at:at + n]], label=r.label,
                name=r.name))
            at += n
        return out


def build_manifest(
    *,
    kind: str,
    class_table: Sequence[Mapping[str, Any]],
    shards: Mapping[str, Sequence[manifest_lib.Shard]],
    class_counts: Mapping[str, Sequence[int]],
    counts: Mapping[str, int],
    read: int,
    rejected_by_reason: Mapping[str, int],
    rejected_file: str,
    compression: str,
    images: Mapping[str, Any],
    source: Mapping[str, Any],
    dataset: str,
    alphabet: str = "",
    l0: int = 0,
    max_words: int = 0,
    vocab_file: str = "",
    vocab_words: int = 0,
) -> manifest_lib.Manifest:
    """The manifest of an image data directory.

    ``class_counts[split][c]``: records of class ``c`` (for data without classes, an
    empty list and ``counts[split]`` the records); ``read`` counts every listed item,
    ``rejected_by_reason`` the rejected ones.  Raises ``RuntimeError`` unless ``read ==
    written + rejected`` and every split's shards hold its count.
    """
    by_reason = dict(sorted(rejected_by_reason.items()))
    rejected = sum(by_reason.values())
    splits = {}
    for split, per_class in class_counts.items():
        total = sum(per_class) if class_table else counts.get(split, 0)
        splits[split] = manifest_lib.Split(count=total, class_counts=list(per_class),
                                           shards=list(shards.get(split, ())))
    written = sum(s.count for s in splits.values())
    stored = sum(sh.records for s in splits.values() for sh in s.shards)
    if set(shards) - set(splits) or read != written + rejected or stored != written:
        raise RuntimeError(f"image accounting failed: read={read}, written={written}, "
                           f"rejected={rejected}, records in shards={stored}")
    chars = alphabet_lib.get(alphabet) if alphabet else None
    return manifest_lib.Manifest(
        alphabet=chars.name if chars else "",
        alphabet_chars=chars.chars if chars else "",
        l0=l0,
        max_words=max_words,
        vocab_file=vocab_file,
        vocab_words=vocab_words,
        class_names=[c["name"] for c in class_table],
        splits=splits,
        compression=compression,
        counts={"read": read, "written": written, "rejected": rejected,
                "rejected_by_reason": by_reason, "augmented": 0},
        rejected_file=rejected_file,
        source=dict(source),
        dataset=dataset,
        kind=kind,
        classes=[dict(c) for c in class_table],
        images=dict(images),
    )
