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
``word<TAB>syn1<TAB>syn2 ...`` file format.
"""
from __future__ import annotations

import random
import re
from typing import Mapping, Sequence

# Words are runs of letters (with inner apostrophes/hyphens); everything else is kept as is.
_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")


def load_tsv(path: str) -> dict[str, list[str]]:
    """Reads ``word<TAB>syn1<TAB>syn2 ...`` lines (ranked synonyms); '#' lines are comments.

    A line without a synonym, or a word listed twice, is an error naming the line.
    """
    thesaurus: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
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
