"""Nearest terms of words by cosine similarity (DeViSE's "tiger shark" example), from word vectors.

    python -m tfpipe.neighbors WORD [WORD ...] [--vectors FILE | --run_dir DIR | --index DIR]
                               [--k 10] [--engine exact|scann] [--json]

Where the vectors come from (one of):

* ``--vectors FILE``: a word2vec ``.bin`` or ``.txt`` file (ours or a user's,
  e.g. GoogleNews), or a ``.npy`` array whose words are one per line in
  ``words.txt`` beside it (what ``python -m tfpipe.train`` writes for
  skip-gram), or in ``--words FILE``;
* ``--run_dir DIR``: a skip-gram run directory (``vectors.npy`` + ``words.txt``);
* ``--index DIR``: an index saved by ``tfpipe.index`` (``idx.save`` or
  ``python -m tfpipe.index build``) whose labels are the words; its own engine
  and metric answer (a ``dot`` index ranks by dot product, and the output says so);
* none: ``--run_dir`` :data:`DEFAULT_RUN_DIR`, the vectors of all the shared
  text (``configs/skipgram_shared_all.yaml``).

Vectors read from a file are put in a :mod:`tfpipe.index` index built on the
fly, cosine metric, the ``exact`` engine unless ``--engine scann``.

A WORD is looked up as given, then case-folded as the tokenizer does
(``Paris`` finds ``paris`` in a case-folded vocabulary).  A WORD holding
spaces (quoted: ``"tiger shark"``) is a phrase: its query is the mean of its
tokens' unit vectors (:func:`tfpipe.index.text_vector`) and those tokens are
left out of its neighbours.  The query word itself is never its own
neighbour.  A word that is not in the vocabulary is an error (exit status 2)
that lists the closest vocabulary spellings; nothing is printed for the other
words then.

Output: per word, its ``k`` nearest terms with their similarities; ``--json``
prints one JSON line instead: ``{"source", "engine", "metric", "count",
"dim", "k", "neighbors": {WORD: [{"word", "score"}, ...]}}``.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
from typing import Sequence

import numpy as np

from tfpipe import cli
from tfpipe import paths

DEFAULT_RUN_DIR = os.path.join(paths.DEFAULT_RUNS_DIR, "skipgram_shared_all")
DEFAULT_K = 10
SUGGESTIONS = 5  # close vocabulary spellings offered for an unknown word


class UnknownWordError(ValueError):
    """Query words that are not in the vocabulary; ``suggestions`` maps each to close words."""

    def __init__(self, suggestions: dict[str, list[str]], count: int):
        self.suggestions = suggestions
        parts = []
        for word, close in suggestions.items():
            hint = f"closest: {', '.join(close)}" if close else "no close spelling"
            parts.append(f"{word!r} ({hint})")
        super().__init__(f"not in the vocabulary of {count:,} words: " + "; ".join(parts))


@dataclasses.dataclass(frozen=True)
class Neighbor:
    """One nearest term and its similarity to the query (cosine, or dot for a ``dot`` index)."""

    word: str
    score: float


# --------------------------------------------------------------------------- vectors -> index


def read_word_vectors(path: str, words_path: str | None = None) -> tuple[list[str], np.ndarray]:
    """``(words, vectors [n, d])`` of a word2vec ``.bin``/``.txt`` file or of a ``.npy`` array
    with its words in ``words_path`` (default: ``words.txt`` in the same directory; read by
    ``word2vec_format.load_skipgram_vectors``)."""
    from tfpipe.embeddings import word2vec_format

    if os.path.splitext(path)[1].lower() == ".npy":
        try:
            return word2vec_format.load_skipgram_vectors(path, words_path)
        except word2vec_format.MissingWordsError as e:
            raise ValueError(f"{e} (give --words FILE, or a word2vec .bin/.txt file)") from None
    from tfpipe.index import read_vectors

    vectors, labels, _ = read_vectors(path)  # a word2vec file, or an unknown type: its error
    if words_path is not None:
        raise ValueError(f"--words is for .npy vectors; {path} is a word2vec file that names its words")
    return list(labels), np.asarray(vectors, dtype=np.float32)


def word_index(words: Sequence[str], vectors: np.ndarray, *, engine: str = "exact", params: dict | None = None):
    """A cosine :class:`tfpipe.index.Index` over word ``vectors``, labelled by ``words``."""
    from tfpipe import index

    return index.build(vectors, list(words), engine=engine, metric="cosine", params=params, labels_kind="words")


def open_index(
    *,
    vectors: str | None = None,
    words: str | None = None,
    run_dir: str | None = None,
    index_dir: str | None = None,
    engine: str = "exact",
):
    """The index that answers the queries, from exactly one of the sources (none: the default run)."""
    given = [name for name, value in (("vectors", vectors), ("run_dir", run_dir), ("index", index_dir)) if value]
    if len(given) > 1:
        raise ValueError(f"give one source of vectors, got {', '.join('--' + g for g in given)}")
    if words and not vectors:
        raise ValueError("--words goes with --vectors FILE.npy")
    if index_dir:
        from tfpipe import index

        idx = index.load(index_dir)
        if not idx.has_labels:
            raise ValueError(f"the index in {index_dir} has no labels: it cannot be searched by word")
        return idx
    if vectors:
        return word_index(*read_word_vectors(vectors, words), engine=engine)
    from tfpipe.embeddings import word2vec_format

    run_dir = run_dir or DEFAULT_RUN_DIR
    if not os.path.isfile(os.path.join(run_dir, word2vec_format.VECTORS_NPY)):
        raise ValueError(
            f"{run_dir} has no vectors.npy: train skip-gram vectors there (python -m tfpipe.train --config "
            "configs/skipgram_shared_all.yaml) or give --vectors FILE / --index DIR"
        )
    return word_index(*word2vec_format.load_skipgram_vectors(run_dir), engine=engine)


# --------------------------------------------------------------------------- queries


def close_words(word: str, vocabulary: Sequence[str], n: int = SUGGESTIONS, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` vocabulary words spelled most like ``word`` (case-folded), best first.

    Similarity is difflib's ratio (at least ``cutoff``); ties keep the
    vocabulary's order (most frequent first in word2vec files).
    """
    from tfpipe.embeddings.pretrained import fold

    target = fold(word)
    slack = max(2, len(target) // 3)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    scored = []
    for row, candidate in enumerate(vocabulary):
        if abs(len(candidate) - len(target)) > slack:
            continue
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
            ratio = matcher.ratio()
            if ratio >= cutoff:
                scored.append((-ratio, row, candidate))
    return [candidate for _, _, candidate in sorted(scored)[:n]]


def _row(idx, word: str) -> int | None:
    from tfpipe.embeddings.pretrained import fold

    for candidate in dict.fromkeys([word, fold(word)]):
        try:
            return int(idx.rows_of([candidate])[0])
        except ValueError:
            continue
    return None


def neighbors(idx, queries: Sequence[str], k: int = DEFAULT_K) -> dict[str, list[Neighbor]]:
    """The ``k`` nearest terms of each query word (or quoted phrase), best first.

    Raises :class:`UnknownWordError` (listing close spellings) when a word is
    not in ``idx``'s labels, ``ValueError`` for a bad ``k``.
    """
    from tfpipe import index as index_lib

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not queries:
        raise ValueError("no query word given")
    vectors, excluded, unknown = [], [], {}
    for query in queries:
        row = _row(idx, query)
        if row is not None:
            vectors.append(idx.vectors[row])
            excluded.append({row})
            continue
        if len(query.split()) > 1:
            from tfpipe.text.tokenize import tokenize

            tokens = [t.decode("utf-8") for t in tokenize([query]).to_list()[0]]
            missing = [t for t in tokens if _row(idx, t) is None]
            if missing:
                for token in missing:
                    unknown[token] = close_words(token, idx.labels)
                continue
            vector, known, _ = index_lib.text_vector(idx, query)  # needs an index of words: says so
            vectors.append(vector)
            excluded.append({int(r) for r in idx.rows_of(known)})
            continue
        unknown[query] = close_words(query, idx.labels)
    if unknown:
        raise UnknownWordError(unknown, len(idx))
    widest = max(len(e) for e in excluded)
    available = len(idx) - widest
    if k > available:
        raise ValueError(f"k={k} but the vocabulary has {len(idx)} words ({available} besides the query): k <= {available}")
    result = idx.search(np.stack(vectors), k=min(len(idx), k + widest))
    answers: dict[str, list[Neighbor]] = {}
    for query, ids, scores, skip in zip(queries, result.ids, result.scores, excluded):
        kept = [(int(i), float(s)) for i, s in zip(ids, scores) if int(i) not in skip][:k]
        answers[query] = [Neighbor(idx.label_of(i), s) for i, s in kept]
    return answers


def format_text(answers: dict[str, list[Neighbor]], idx, source: str) -> str:
    """The neighbours as aligned text, one block per query."""
    measure = "cosine" if idx.metric == "cosine" else "dot product"
    lines = [f"# {source}: {len(idx):,} words, dim {idx.dim}, {idx.engine} engine, by {measure}"]
    for query, found in answers.items():
        lines.append(f"{query}:")
        width = max((len(n.word) for n in found), default=0)
        lines += [f"  {rank:>3}  {n.word:<{width}}  {n.score:.4f}" for rank, n in enumerate(found, start=1)]
    return "\n".join(lines)


def to_json(answers: dict[str, list[Neighbor]], idx, source: str, k: int) -> str:
    """The neighbours as one JSON line."""
    return json.dumps({
        "source": source, "engine": idx.engine, "metric": idx.metric, "count": len(idx), "dim": idx.dim, "k": k,
        "neighbors": {q: [{"word": n.word, "score": round(n.score, 6)} for n in found] for q, found in answers.items()},
    }, ensure_ascii=False)


_NOT_RUN_DIRS = (cli.FILE, cli.DATA_DIR, cli.INDEX_DIR, cli.SAVED_MODEL, cli.TUNE_DIR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.neighbors",
        description="Nearest terms of words by cosine similarity of their vectors (exact by default).",
    )
    parser.add_argument("queries", nargs="+", metavar="WORD",
                        help="query words; a quoted WORD with spaces is a phrase (mean of its word vectors)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--vectors", metavar="FILE",
                        help="word2vec .bin/.txt file, or .npy with words.txt beside it (or --words)")
    source.add_argument("--run_dir", metavar="DIR", help=f"skip-gram run directory (default: {DEFAULT_RUN_DIR})")
    source.add_argument("--index", metavar="DIR", help="index directory saved by tfpipe.index (labels = words)")
    parser.add_argument("--words", dest="words_file", metavar="FILE", help="words of a --vectors .npy file, one per line")
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="neighbours per word (default: %(default)s)")
    parser.add_argument("--engine", default="exact", choices=("exact", "scann"),
                        help="engine of the index built from --vectors/--run_dir (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error(f"--k must be >= 1, got {args.k}")
    problem = cli.first_problem(
        ("--vectors", args.vectors, cli.FILE,
         "give a word2vec .bin/.txt file or a .npy array (a skip-gram run directory goes with "
         "--run_dir)"),
        ("--words", args.words_file, cli.FILE, "give a text file with one word per line"),
        ("--index", args.index, cli.INDEX_DIR), missing=False)
    if problem is None and args.run_dir and cli.path_kind(args.run_dir) in _NOT_RUN_DIRS:
        # (a folder without vectors.npy is told so by open_index)
        problem = cli.path_problem(
            "--run_dir", args.run_dir, cli.RUN_DIR,
            "train skip-gram vectors with python -m tfpipe.train --config "
            "configs/skipgram_shared_all.yaml, or give --vectors FILE / --index DIR")
    if problem:
        return cli.print_error(problem)
    label = args.vectors or args.index or args.run_dir or DEFAULT_RUN_DIR
    try:
        idx = open_index(vectors=args.vectors, words=args.words_file, run_dir=args.run_dir, index_dir=args.index,
                         engine=args.engine)
        answers = neighbors(idx, args.queries, args.k)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(to_json(answers, idx, label, args.k) if args.json else format_text(answers, idx, label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
