"""Turning labelled texts into TFRecord shards: shared by the Beam job and plain writers.

``Encoder`` computes character indices and word ids for a *batch* of texts
with the one TF quantizer/tokenizer and serializes them with the schema;
``write_shard`` writes records to one shard file and returns its manifest
entry (record count, size, sha256).  ``FeatureCounter`` counts the word and
n-gram statistics (``vocab.tsv``, ``ngrams.tsv``), ``augment_row`` makes a
row's thesaurus copies, ``romanize_rows`` romanizes texts and
:func:`build_manifest` makes the manifest of what was written: the Beam job and
:func:`write_dataset` both use them, so that their outputs are byte-identical.
"""
from __future__ import annotations

import collections
import hashlib
import operator
import os
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfpipe.data import manifest as manifest_lib
from tfpipe.data import schema
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text import ngrams as ngrams_lib
from tfpipe.text import quantize as quantize_lib
from tfpipe.text import tokenize as tokenize_lib

VOCAB_FILE = "vocab.tsv"
NGRAM_FILE = "ngrams.tsv"
AUGMENTED_ID = "#th"  # augmented copy k of example "x" has id "x#th<k>"

Row = tuple[str, str, int]  # (example_id, text, label)
Stat = tuple[bytes, int, int]  # (UTF-8 key, count, df): one line of vocab.tsv / ngrams.tsv


_TOKEN_FNS: dict[tuple, Any] = {}


def _token_fn(alphabet: str, l0: int, max_words: int):
    """A traced ``texts -> (chars, flat tokens of the first max_words, row lengths)`` per
    process and ``(alphabet, l0, max_words)``: the vocabulary lookup is left out, so
    encoders of different vocabularies share one trace (tracing the tokenizer costs about
    a second; the lookup on the flat tokens is one op)."""
    key = (alphabet, l0, max_words)
    fn = _TOKEN_FNS.get(key)
    if fn is None:
        chars_alphabet = alphabet_lib.get(alphabet)

        def tokens(texts):
            if max_words <= 0:  # tokenize.word_ids's check, at the same point (the trace)
                raise ValueError(f"max_words must be positive, got {max_words}")
            chars = quantize_lib.quantize(texts, chars_alphabet, l0)
            words = tokenize_lib.tokenize(texts)[:, :max_words]
            return chars, words.flat_values, words.row_lengths()

        fn = tf.function(tokens, input_signature=[tf.TensorSpec([None], tf.string)])
        _TOKEN_FNS[key] = fn
    return fn


class Encoder:
    """Encodes batches of ``(example_id, text, label)`` into serialized examples.

    Word ids are ``tokenize.word_ids(texts, vocab_table(vocab), max_words)``: the tokens
    (traced once per process, :func:`_token_fn`) looked up in this vocabulary's table.
    """

    def __init__(self, alphabet: str, l0: int, vocab: Sequence[str], max_words: int):
        self.alphabet = alphabet_lib.get(alphabet)
        self.l0 = l0
        self.max_words = max_words
        self._table = tokenize_lib.vocab_table(list(vocab) if len(vocab) else [""])
        self._fn = _token_fn(alphabet, l0, max_words)

    def ids(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Character indices ``uint8[n, l0]`` and a list of word-id arrays."""
        chars, tokens, lengths = self._fn(tf.constant(list(texts), dtype=tf.string))
        flat = self._table.lookup(tokens)
        splits = np.cumsum(lengths.numpy())[:-1]
        return chars.numpy(), np.split(flat.numpy(), splits)

    def encode(self, rows: Sequence[tuple[str, str, int]]) -> list[bytes]:
        """Serialized ``tf.train.Example`` for each ``(example_id, text, label)``."""
        if not rows:
            return []
        chars, words = self.ids([text for _, text, _ in rows])
        return [
            schema.encode_text(
                example_id=example_id, text=text, chars=c.tobytes(), word_ids=w, label=label
            )
            for (example_id, text, label), c, w in zip(rows, chars, words)
        ]


def write_shard(
    data_dir: str, file: str, records: Iterable[bytes], compression: str = ""
) -> manifest_lib.Shard:
    """Writes ``records`` to ``data_dir/file`` and returns its manifest entry."""
    path = os.path.join(data_dir, file)
    tf.io.gfile.makedirs(os.path.dirname(path))
    count = 0
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type=compression)) as w:
        for record in records:
            w.write(record)
            count += 1
    return manifest_lib.Shard(
        file=file,
        records=count,
        sha256=manifest_lib.file_sha256(path),
        bytes=tf.io.gfile.stat(path).length,
    )


def shard_name(split: str, index: int, num_shards: int, compression: str = "") -> str:
    """``train-00003-of-00008.tfrecord`` (``.gz`` appended for GZIP)."""
    suffix = ".tfrecord.gz" if compression == "GZIP" else ".tfrecord"
    return f"{split}-{index:05d}-of-{num_shards:05d}{suffix}"


def shard_of(example_id: str, num_shards: int) -> int:
    """Stable shard assignment of an example id (same on every runner and run)."""
    digest = hashlib.blake2b(example_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def vocab_rank_key(item: tuple) -> tuple:
    """Order of ``vocab.tsv``/``ngrams.tsv`` (items ``(key, count[, df])``): most frequent
    first, ties broken by the key itself."""
    return (-item[1], item[0])


def select_vocab(counts: dict[str, int], top_k: int, min_count: int = 1) -> list[tuple[str, int]]:
    """The ``top_k`` most frequent words with at least ``min_count`` occurrences."""
    kept = [(w, c) for w, c in counts.items() if c >= min_count and w]
    return sorted(kept, key=vocab_rank_key)[:top_k]


# --------------------------------------------------------------------------- feature statistics


_GRAM_FNS: dict[int, Any] = {}


def _gram_fn(n_max: int):
    """A traced ``texts -> (flat grams, row splits)`` per process and ``n_max``."""
    fn = _GRAM_FNS.get(n_max)
    if fn is None:

        def grams(texts):
            ragged = ngrams_lib.ngrams(texts, n_max)
            return ragged.flat_values, ragged.row_splits

        fn = tf.function(grams, input_signature=[tf.TensorSpec([None], tf.string)])
        _GRAM_FNS[n_max] = fn
    return fn


class FeatureCounter:
    """Counts, over batches of documents, each 1..``n_max``-gram's occurrences and documents.

    ``n_max=1`` counts words only.  The grams are those of
    :func:`tfpipe.text.ngrams.ngrams` (one TF call per batch); a 1-gram is a word
    (``vocab.tsv``).  Keys are the grams' UTF-8 bytes.
    """

    def __init__(self, n_max: int):
        if n_max < 1:
            raise ValueError(f"n_max must be at least 1, got {n_max}")
        self.n_max = n_max
        self.clear()

    def __len__(self) -> int:
        """The number of distinct grams counted."""
        return len(self.counts)

    def update(self, texts: Sequence[str]) -> None:
        """Adds a batch of documents."""
        if not len(texts):
            return
        flat, splits = _gram_fn(self.n_max)(tf.constant(list(texts), dtype=tf.string))
        grams = flat.numpy().tolist()
        bounds = splits.numpy().tolist()
        self.counts.update(grams)  # C loops; a TF unique/segment-sum version was slower
        df = self.df
        for start, end in zip(bounds[:-1], bounds[1:]):
            if end > start:
                # dict.fromkeys: a document's distinct grams in first-occurrence order, so
                # df gets its keys in the order counts does (see arrays()).
                df.update(dict.fromkeys(grams[start:end]).keys())

    def arrays(self) -> tuple[list[bytes], list[int], list[int]]:
        """``(grams, counts, df)`` as parallel lists, in no particular order."""
        grams = list(self.counts)
        keys = list(self.df)
        if keys == grams:  # same insertion order (identity compares: the same objects)
            return grams, list(self.counts.values()), list(self.df.values())
        df = self.df
        return grams, list(self.counts.values()), [df[g] for g in grams]

    def items(self) -> Iterator[Stat]:
        """``(gram, count, df)`` in no particular order."""
        return zip(*self.arrays())

    def clear(self) -> None:
        self.counts: collections.Counter = collections.Counter()  # gram -> occurrences
        self.df: collections.Counter = collections.Counter()  # gram -> documents


# Statistics keep their keys as UTF-8 bytes until written: decoding ~1M n-grams costs
# more than counting them, and UTF-8 byte order is code point (str) order.


def sort_stats(items: list[Stat]) -> list[Stat]:
    """Sorts ``(key, count, df)`` items in place into file order (:func:`vocab_rank_key`)
    and returns them: two stable sorts on single fields, ~2x faster than tuple keys."""
    items.sort(key=operator.itemgetter(0))
    items.sort(key=operator.itemgetter(1), reverse=True)  # reverse keeps ties' order
    return items


def candidate_stats(
    items: Iterable[Stat], top_k: int, *, words_only: bool = False, min_count: int = 1
) -> list[Stat]:
    """Candidates for a top-``top_k`` list: the first ``top_k`` of ``items`` in file order,
    left unsorted when there are no more than ``top_k`` of them.

    ``words_only`` keeps the 1-grams (words) with at least ``min_count``
    occurrences: the ``vocab.tsv`` candidates.
    """
    if top_k <= 0:
        return []
    if words_only:
        sep = ngrams_lib.SEPARATOR.encode("utf-8")
        items = [s for s in items if s[1] >= min_count and s[0] and sep not in s[0]]
    else:
        items = list(items)  # never reorder the caller's list
    if len(items) > top_k:
        del sort_stats(items)[top_k:]
    return items


def select_stats(
    items: Iterable[Stat], top_k: int, *, words_only: bool = False, min_count: int = 1
) -> list[Stat]:
    """The first ``top_k`` items (words only: see :func:`candidate_stats`) in file order."""
    items = candidate_stats(items, top_k, words_only=words_only, min_count=min_count)
    return sort_stats(list(items))


def stats_tsv(items: Iterable[Stat]) -> bytes:
    """``key<TAB>count<TAB>df`` lines: the bytes of ``vocab.tsv`` and ``ngrams.tsv``."""
    return b"".join([b"%s\t%d\t%d\n" % item for item in items])


def tsv_keys(data: bytes) -> list[str]:
    """The first column of :func:`stats_tsv` bytes (e.g. the vocabulary words, in order)."""
    return [line.split("\t", 1)[0] for line in data.decode("utf-8").split("\n") if line]


def write_bytes(data_dir: str, file: str, data: bytes) -> str:
    """Writes ``data`` to ``data_dir/file``; returns ``file``."""
    with tf.io.gfile.GFile(os.path.join(data_dir, file), "wb") as f:
        f.write(data)
    return file


def write_stats(data_dir: str, items: Iterable[Stat], file: str) -> str:
    """Writes ``vocab.tsv`` / ``ngrams.tsv`` lines (:func:`stats_tsv`); returns ``file``."""
    return write_bytes(data_dir, file, stats_tsv(items))


# --------------------------------------------------------------------------- text transforms


def romanizer(name: str) -> Callable[[str], str]:
    """``tfpipe.text.romanize.romanizer(name)`` with its output stripped (texts are stored
    stripped); may come out empty."""
    from tfpipe.text import romanize as romanize_lib

    fn = romanize_lib.romanizer(name)
    return lambda text: fn(text).strip()


def romanize_rows(rows: Iterable[Row], name: str) -> list[Row]:
    """``rows`` with every text through :func:`romanizer`; an empty result is an error."""
    fn = romanizer(name)
    out = []
    for example_id, text, label in rows:
        new = fn(text)
        if not new:
            raise ValueError(f"{example_id}: the text is empty after romanization ({name})")
        out.append((example_id, new, label))
    return out


def augment_row(
    row: Row,
    thesaurus: Mapping[str, Sequence[str]],
    *,
    copies: int,
    seed: int,
    p: float = 0.5,
    q: float = 0.5,
) -> tuple[list[Row], int]:
    """Thesaurus copies of one train row: ``(new rows, copies skipped as identical)``.

    Copy ``k`` (1..``copies``) is ``thesaurus.augment_copies(...)[k - 1]`` with
    the row's example id as key, so it depends only on (``seed``, id, ``k``);
    its id is ``"<id>#th<k>"`` and its label the row's.  A copy equal to the
    original text (no replaceable word) would only duplicate the row: it is not
    written but counted.  Copies equal to one another are kept (they are
    independent draws of the section 2.4 sampler).
    """
    from tfpipe.text import thesaurus as thesaurus_lib

    example_id, text, label = row
    texts = thesaurus_lib.augment_copies(text, thesaurus, seed=seed, key=example_id,
                                         copies=copies, p=p, q=q)
    if len(texts) != copies:
        raise RuntimeError(f"thesaurus.augment_copies returned {len(texts)} texts, "
                           f"expected {copies}")
    out = [(f"{example_id}{AUGMENTED_ID}{k}", new, label)
           for k, new in enumerate(texts, start=1) if new != text]
    return out, copies - len(out)


def augmentation_entry(info: Mapping[str, Any], rows_augmented: int, copies_written: int,
                       copies_skipped: int) -> dict[str, Any]:
    """The manifest's ``augmentation`` record: the settings and what they produced."""
    return {**info, "rows_augmented": rows_augmented, "copies_written": copies_written,
            "copies_skipped_identical": copies_skipped}


def thesaurus_info(spec: str, thesaurus: Mapping[str, Sequence[str]], copies: int, p: float,
                   q: float, seed: int) -> dict[str, Any]:
    """Settings part of the ``augmentation`` record; a file thesaurus is named by its
    base name and identified by its sha256."""
    info: dict[str, Any] = {"thesaurus": spec, "copies": copies, "p": p, "q": q, "seed": seed,
                            "thesaurus_words": len(thesaurus)}
    if spec != "wordnet" and tf.io.gfile.exists(spec):
        info["thesaurus"] = os.path.basename(spec)
        info["thesaurus_sha256"] = manifest_lib.file_sha256(spec)
    return info


def write_dataset(
    data_dir: str,
    splits: dict[str, Sequence[Row]],
    class_names: Sequence[str],
    *,
    alphabet: str = "paper",
    l0: int = alphabet_lib.PAPER_L0,
    vocab_size: int = 50000,
    min_count: int = 1,
    max_words: int = 256,
    ngram_max: int = 5,
    ngram_vocab_size: int = 500_000,
    num_shards: int = 1,
    compression: str = "",
    batch_size: int = 512,
    dataset: str | None = None,
    romanize: str = "",
    thesaurus: str | Mapping[str, Sequence[str]] | None = None,
    augment_copies: int = 0,
    augment_p: float = 0.5,
    augment_q: float = 0.5,
    seed: int = 0,
) -> manifest_lib.Manifest:
    """Single-process writer of a complete data directory (shards, statistics, manifest).

    The plain counterpart of ``beam_jobs.preprocess`` for small corpora, tests and
    the benchmark baseline: same encoder, same shard names, same ``vocab.tsv`` and
    ``ngrams.tsv`` (``ngram_vocab_size=0``: none), same manifest fields.  ``splits``
    are the rows as read: ``romanize`` (a ``tfpipe.text.romanize`` name) is applied
    to every text first, then each train row gets ``augment_copies`` thesaurus
    copies (``thesaurus``: a spec for ``tfpipe.text.thesaurus.load`` or a loaded
    mapping; see :func:`augment_row`); the statistics are counted on the train
    split as written, copies included.
    """
    from tfpipe.text import thesaurus as thesaurus_lib

    tf.io.gfile.makedirs(data_dir)
    if romanize:
        splits = {split: romanize_rows(rows, romanize) for split, rows in splits.items()}
    splits = {split: list(rows) for split, rows in splits.items()}
    read = sum(len(rows) for rows in splits.values())
    augmentation: dict[str, Any] = {}
    augmented = 0
    if augment_copies > 0:
        if thesaurus is None:
            raise ValueError("augment_copies > 0 needs a thesaurus")
        spec = thesaurus if isinstance(thesaurus, str) else "(mapping)"
        table = thesaurus_lib.load(thesaurus) if isinstance(thesaurus, str) else thesaurus
        info = thesaurus_info(spec, table, augment_copies, augment_p, augment_q, seed)
        rows_augmented = skipped = 0
        extra: list[Row] = []
        for row in splits.get("train", []):
            copies, n_skipped = augment_row(row, table, copies=augment_copies, seed=seed,
                                            p=augment_p, q=augment_q)
            extra += copies
            skipped += n_skipped
            rows_augmented += bool(copies)
        splits["train"] = splits.get("train", []) + extra
        augmented = len(extra)
        augmentation = augmentation_entry(info, rows_augmented, augmented, skipped)

    counter = FeatureCounter(ngram_max if ngram_vocab_size > 0 else 1)
    train_texts = [text for _, text, _ in splits.get("train", [])]
    for start in range(0, len(train_texts), batch_size):
        counter.update(train_texts[start : start + batch_size])
    stats = list(counter.items())
    vocab = select_stats(stats, vocab_size, words_only=True, min_count=min_count)
    vocab_file = write_stats(data_dir, vocab, VOCAB_FILE)
    ngram_file, grams = "", []
    if ngram_vocab_size > 0:
        grams = select_stats(stats, ngram_vocab_size)
        ngram_file = write_stats(data_dir, grams, NGRAM_FILE)

    encoder = Encoder(alphabet, l0, [w.decode("utf-8") for w, *_ in vocab], max_words)
    split_shards: dict[str, list[manifest_lib.Shard]] = {}
    split_class_counts: dict[str, list[int]] = {}
    for split, rows in splits.items():
        by_shard: list[list[Row]] = [[] for _ in range(num_shards)]
        for row in rows:
            by_shard[shard_of(row[0], num_shards)].append(row)
        shards = []
        for index, shard_rows in enumerate(by_shard):
            shard_rows.sort(key=lambda r: r[0])
            records = []
            for start in range(0, len(shard_rows), batch_size):
                records.extend(encoder.encode(shard_rows[start : start + batch_size]))
            shards.append(
                write_shard(data_dir, shard_name(split, index, num_shards, compression), records, compression)
            )
        class_counts = [0] * len(class_names)
        for _, _, label in rows:
            class_counts[label] += 1
        split_shards[split] = shards
        split_class_counts[split] = class_counts
    manifest = build_manifest(
        alphabet=alphabet,
        l0=l0,
        max_words=max_words,
        class_names=class_names,
        shards=split_shards,
        class_counts=split_class_counts,
        compression=compression,
        vocab_file=vocab_file,
        vocab_words=len(vocab),
        ngram_file=ngram_file,
        ngram_max=ngram_max,
        ngram_features=len(grams),
        read=read,
        rejected_by_reason={},
        augmented=augmented,
        augmentation=augmentation,
        rejected_file="",
        source={"writer": "tfpipe.data.records.write_dataset"},
        dataset=default_dataset_name(data_dir) if dataset is None else dataset,
        romanize=romanize,
    )
    manifest_lib.write(manifest, data_dir)
    return manifest


def build_manifest(
    *,
    alphabet: str,
    l0: int,
    max_words: int,
    class_names: Sequence[str],
    shards: Mapping[str, Sequence[manifest_lib.Shard]],
    class_counts: Mapping[str, Sequence[int]],
    compression: str,
    vocab_file: str,
    vocab_words: int,
    ngram_file: str,
    ngram_max: int,
    ngram_features: int,
    read: int,
    rejected_by_reason: Mapping[str, int],
    augmented: int,
    augmentation: Mapping[str, Any],
    rejected_file: str,
    source: Mapping[str, Any],
    dataset: str,
    romanize: str,
    excluded: int | None = None,
) -> manifest_lib.Manifest:
    """The manifest of a written text data directory: the one builder of the Beam job and
    :func:`write_dataset`.

    ``shards`` and ``class_counts`` are per split (``class_counts[split][c]``: records of
    class ``c``, augmented copies included); ``read`` counts the source rows read,
    ``rejected_by_reason`` those rejected, ``augmented`` the thesaurus copies written, and
    the ``augmentation`` record is ``{}`` when there were none.  ``alphabet`` is a
    ``tfpipe.text.alphabet`` name; ``ngram_max`` is recorded as 0 without an
    ``ngram_file``.  ``excluded``: the rows left out on purpose (``--exclude_images``), recorded
    as ``counts["excluded"]``; None (no exclusion asked for) records no such count.  Checks the
    row accounting first: ``read == written + rejected (+ excluded)``, where ``written`` is the
    records in the shards less the augmented copies, and the shards hold as many records as
    the class counts add up to (a ``RuntimeError`` otherwise).
    """
    by_reason = dict(sorted(rejected_by_reason.items()))
    rejected = sum(by_reason.values())
    splits = {
        split: manifest_lib.Split(count=sum(counts), class_counts=list(counts),
                                  shards=list(shards.get(split, ())))
        for split, counts in class_counts.items()
    }
    stored = sum(s.records for entry in splits.values() for s in entry.shards)
    written = stored - augmented
    left_out = excluded or 0
    if (set(shards) - set(splits) or read != written + rejected + left_out
            or stored != sum(e.count for e in splits.values())):
        raise RuntimeError(
            f"row accounting failed: read={read}, written={written}, rejected={rejected}, "
            + (f"excluded={excluded}, " if excluded is not None else "")
            + f"augmented copies={augmented}, records in shards={stored}"
        )
    counts = {"read": read, "written": written, "rejected": rejected,
              "rejected_by_reason": by_reason, "augmented": augmented}
    if excluded is not None:
        counts["excluded"] = excluded
    chars = alphabet_lib.get(alphabet)
    return manifest_lib.Manifest(
        alphabet=chars.name,
        alphabet_chars=chars.chars,
        l0=l0,
        max_words=max_words,
        vocab_file=vocab_file,
        vocab_words=vocab_words,
        class_names=list(class_names),
        splits=splits,
        compression=compression,
        counts=counts,
        rejected_file=rejected_file,
        source=dict(source),
        dataset=dataset,
        ngram_file=ngram_file,
        ngram_max=ngram_max if ngram_file else 0,
        ngram_features=ngram_features,
        augmentation=dict(augmentation),
        romanize=romanize,
        kind=schema.KIND_TEXT,
    )


def default_dataset_name(data_dir: str) -> str:
    """The manifest's default ``dataset``: the data directory's base name."""
    return os.path.basename(data_dir.rstrip("/")) or data_dir
