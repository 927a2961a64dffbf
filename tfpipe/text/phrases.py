"""What a phrase is: the one definition of the predicted-context task's output vocabulary.

The paper's phrases are web search queries that led to an image (section 3.2); ours are
their stand-in (``beam_jobs.phrase_pairs``): the frequent 1- to 3-grams of an image's
captions that are not stop words only, and the WordNet lemmas of an image's class and
its hypernyms.  Every place that compares phrase strings goes through :func:`normalize`,
so a caption n-gram and a lemma that spell the same words are one phrase.

* :func:`words`: a text's words -- case-folded runs of letters, or of digits (the word
  rule of ``tfpipe.embeddings.label_vectors.words``, the words of the skip-gram and
  caption vocabularies; restated here because ``tfpipe.text`` imports nothing above it
  and this module must run without TensorFlow).  Punctuation, ``_``, hyphens and
  apostrophes separate words: ``"Dog's frisbee-catch"`` -> ``dog s frisbee catch``.
* :func:`normalize`: those words joined by single spaces.
* :func:`caption_phrases`: a caption's 1..``max_n``-grams, stop-word-only ones dropped.
* :func:`class_phrases`: a class synset's lemma names and those of its hypernyms.
* :data:`STOP_WORDS`: NLTK's English stop-word list (``nltk.corpus.stopwords.words(
  "english")``, the 179 words of the NLTK data package ``stopwords``), embedded so that
  no corpus download is needed.  Its entries with an apostrophe ("don't") can never be a
  word of :func:`words`; their pieces ("don", "t") are in the list themselves.

Pure Python (WordNet through ``tfpipe.text.wordnet``, NLTK's reader, for
:func:`class_phrases` only).
"""
from __future__ import annotations

import re
import unicodedata

# NLTK's English stop words (nltk_data corpora/stopwords/english, 179 words), in its order.
_NLTK_ENGLISH = (
    "i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself "
    "yourselves he him his himself she she's her hers herself it it's its itself they them "
    "their theirs themselves what which who whom this that that'll these those am is are was "
    "were be been being have has had having do does did doing a an the and but if or because "
    "as until while of at by for with about against between into through during before after "
    "above below to from up down in out on off over under again further then once here there "
    "when where why how all any both each few more most other some such no nor not only own "
    "same so than too very s t can will just don don't should should've now d ll m o re ve y "
    "ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven "
    "haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn "
    "shouldn't wasn wasn't weren weren't won won't wouldn wouldn't"
).split()
STOP_WORDS: frozenset[str] = frozenset(_NLTK_ENGLISH)

SEPARATOR = " "  # between the words of a phrase (a word never holds white space)
_TOKEN = re.compile(r"[^\W\d_]+|\d+")  # label_vectors._TOKEN: runs of letters, or of digits


def _fold(word: str) -> str:
    """Case folding as ``tfpipe.embeddings.pretrained.fold`` (ICU's NFKC_Casefold, the
    tokenizer's): ASCII lower-cased, else NFKC, Unicode case folding, NFKC."""
    if word.isascii():
        return word.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())


def words(text: str) -> list[str]:
    """The words of ``text``: case-folded runs of letters, or of digits, in order."""
    return [w for w in (_fold(t) for t in _TOKEN.findall(text)) if w]


def normalize(text: str) -> str:
    """``text`` as a phrase string: its :func:`words` joined by single spaces (``""`` when it
    has none): ``"  A Dog's  ball!"`` -> ``"a dog s ball"``."""
    return SEPARATOR.join(words(text))


def is_stop_only(phrase: str) -> bool:
    """Whether every word of ``phrase`` is a stop word (true for a phrase without words)."""
    return all(w in STOP_WORDS for w in words(phrase))


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def caption_phrases(text: str, max_n: int = 3) -> list[str]:
    """The phrases of a caption: every n-gram (n = 1..``max_n``) of consecutive
    :func:`words` of ``text``, joined by single spaces, except those made only of
    :data:`STOP_WORDS`; each once, in first-seen order (all 1-grams in word order, then the
    2-grams, ..., as ``tfpipe.text.ngrams`` orders them).

    ``"A dog on the grass"`` -> ``["dog", "grass", "a dog", "dog on", "the grass",
    "a dog on", "dog on the", "on the grass"]``.
    """
    _check_positive("max_n", max_n)
    ws = words(text)
    stop = [w in STOP_WORDS for w in ws]
    out: dict[str, None] = {}
    for n in range(1, max_n + 1):
        for i in range(len(ws) - n + 1):
            if not all(stop[i:i + n]):
                out.setdefault(SEPARATOR.join(ws[i:i + n]))
    return list(out)


_WNID = re.compile(r"n\d{8}")


def class_synset(wnid_or_synset: str) -> str:
    """The synset name of an ImageNet id (``"n01443537"`` -> ``"goldfish.n.01"``) or of a
    synset name (checked, returned as given); a ``ValueError`` names what is wrong."""
    from tfpipe.text import wordnet

    name = wnid_or_synset.strip() if isinstance(wnid_or_synset, str) else wnid_or_synset
    if isinstance(name, str) and _WNID.fullmatch(name):
        return wordnet.synset_of_wnid(name)
    if not isinstance(name, str) or name.count(".") < 2:
        raise ValueError(f"{wnid_or_synset!r} is neither an ImageNet id (n + 8 digits) nor a "
                         "WordNet synset name such as 'goldfish.n.01'")
    wordnet.lemmas(name)  # a ValueError naming the synset when WordNet has none
    return name


def class_phrases(wnid_or_synset: str, hypernym_depth: int = 1) -> list[str]:
    """The phrases of a class: the lemma names of its synset, then those of its hypernyms
    (and instance hypernyms) up to ``hypernym_depth`` links up, nearest first
    (``tfpipe.text.wordnet.hypernym_closure``), underscores as spaces, each through
    :func:`normalize`; each once, the synset's own first.  A lemma made only of stop
    words, or of no word, is left out (a phrase never is one).

    ``class_phrases("n01443537", 1)`` -> ``["goldfish", "carassius auratus", "cyprinid",
    "cyprinid fish"]``.
    """
    from tfpipe.text import wordnet

    if isinstance(hypernym_depth, bool) or not isinstance(hypernym_depth, int) or hypernym_depth < 0:
        raise ValueError(f"hypernym_depth must be an integer >= 0, got {hypernym_depth!r}")
    synset = class_synset(wnid_or_synset)
    synsets = [synset] + (wordnet.hypernym_closure(synset, max_hops=hypernym_depth)
                          if hypernym_depth else [])
    out: dict[str, None] = {}
    for s in synsets:
        for lemma in wordnet.lemmas(s):
            phrase = normalize(lemma.replace("_", " "))
            if phrase and not is_stop_only(phrase):
                out.setdefault(phrase)
    return list(out)
