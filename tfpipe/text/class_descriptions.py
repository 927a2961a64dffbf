"""Short dictionary texts about a class: WordNet glosses and GCIDE definitions that fit it.

Reed et al. (2016) train zero-shot models on texts that describe each class; ours are
dictionary texts (``beam_jobs.describe_classes`` writes them as records).
:class:`Describer` ``(dictionary, under=, exclude=)`` gives a :class:`ClassSpec` its
:class:`Description` s; :class:`Dictionary` holds GCIDE (``tfpipe.text.dictd``) by
lower-case headword.

The texts of a class, in this order, each once (compared case-insensitively):

1. ``wordnet:<synset>``: the gloss of the class's synset (the wnid's, else
   :func:`tfpipe.text.wordnet.synset_for_name` of its name under the domain).
2. ``wordnet:<synset>``: the gloss of the head noun's right sense (the last word of
   the name: "king penguin" -> ``penguin.n.01``): the synset of that word among the
   class synset's hypernyms, or, for a class without a synset, the word's synset
   under the domain (``synset_for_name(head, under=...)``).
3. ``gcide:<Headword>#<n>``: definition ``n`` (``dictd.definitions``, counted over the
   headword's entries in file order) of the noun entries headed by the class name
   (any spelling of ``wordnet.spellings``, a plural's singular) or by another
   name of the class (a lemma of its synset, a name of ``words.txt``).
4. ``gcide:<Phrase>#under <Headword>``: the definition of the whole name inside the
   entry of one of its words (``{Tiger lily} (Bot.), Lilium tigrinum, ...`` in
   ``Lily``), where GCIDE keeps most compound names.
5. ``gcide:<Headword>#<n>``: the definitions of the head noun's entries.

GCIDE definitions go sentence by sentence ("See ..."/"Same as ..." pointers and
fragments under three words dropped (a WordNet gloss is kept however short), a leading ``(Zool.)`` label or ``(a)``
removed, the same text never twice).  A dictionary word has many senses (a penguin
is also a West Indian fruit), so a definition is kept only when it fits the class:

- its domain label does not contradict the class (``(Zool.)`` and the like only for
  animals, ``(Bot.)`` never for animals or artifacts, ``(Anat.)``/``(Med.)`` never);
- it names the class's kind where a definition puts its genus, among its first
  words (after Latin names in parentheses and "Any one of numerous species of"):
  a lemma of a hypernym at most three links above the class's synset (``bird`` for
  a king penguin; "creature" is too far to tell anything), of the domain
  (``plant``), or the last word of such a lemma when it names an ancestor too
  (an aquatic bird is a bird); a lemma sharing a word with the entry's headword
  does not count ("the flower of an army" is not about a plant).  Without a class
  synset the kinds are those of the ambiguous name's senses in the domain, else
  of the head noun's sense, else of all its senses in the domain, else the
  domain's own;
- or, for the first definition of the class name's own entry only, its domain
  label agrees with the class (an animal's ``(Zool.)``).
- A definition in a head noun's entry that defines another compound ("Evening
  primrose, ..." in Primrose) is left out; so are the head noun's entries when the
  domain excludes all its senses (every moss is a bryophyte: not "ball moss").

With nothing to judge by (no synset, no domain) only the first definition of the
name's own entry is kept.  This is a heuristic with known misses both ways
(``Organ#1`` "An instrument or medium by which ..." passes for the pipe organ on
"instrument"); ``class_table.tsv`` lists every class's sources for checking.  A
class with no text at all is listed in the report (``classes_without``), never
dropped: it keeps its index and its place in ``class_names``, with no record.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Iterable, Iterator, Sequence

ANIMAL, PLANT, ARTIFACT = "animal.n.01", "plant.n.02", "artifact.n.01"
# GCIDE's domain labels (character codes already translated: "(Zo[o^]l.)" -> "(Zool.)").
_ANIMAL_LABELS = {"zool", "ornith", "ich", "ichth", "herpet", "entom", "conch", "paleon", "zoophytes"}
_PLANT_LABELS = {"bot", "hort"}
_BODY_LABELS = {"anat", "physiol", "med", "surg"}  # body parts and ailments: no class of ours
KIND_HOPS = 3  # a definition names the class's kind: a hypernym at most this many links up
GENUS_WORDS = 8  # ... among its first words (a two-word kind may end two words later)
_BOILERPLATE = re.compile(
    r"^\s*(?:(?:any|one|any one|each|either)\s+)?(?:of\s+)?(?:(?:a|the|many|several|various|"
    r"numerous|two|three|certain|some)\s+)*(?:(?:species|kinds?|varieties|sorts?|genera|"
    r"genus|forms?)\s+of\s+)+", re.IGNORECASE)
_LABEL = re.compile(r"\(([A-Z][a-z]+)\.\)")
_LEADING = re.compile(r"^(?:\s*(?:\([A-Z][a-z]+\.(?:\s*[A-Z][a-z]+\.)*\)|\([a-z]\)|\d+\.)[\s,.]*)+")
_NOUN = re.compile(r"(?:^|[\s,;])n\.(?=$|[\s,;])")
_OTHER_POS = re.compile(r"(?:^|[\s,;])(?:v|a|adj|adv|prep|conj|interj|pron|p\. ?p|imp|pr)\.(?=$|[\s,;])")
_POINTER = re.compile(r"^(?:See|Cf\.|Compare|Same as)\b")
_SEE_UNDER = re.compile(r"\bSee under\b")
# Tokens before a period that do not end a sentence.
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "cf", "viz", "sp", "spp", "var", "fig", "no", "st", "mt", "mr", "mrs",
    "dr", "u.s", "zool", "bot", "lat", "gr", "fr", "obs", "esp", "syn", "ft", "in", "lb", "oz",
    "vol", "ch", "pl", "pp", "ca", "fl", "gen", "ord", "fam", "subsp", "n.a", "s.a", "w.i",
}
# Hypernym lemmas too general to show that a definition is about the class's kind.
_GENERAL = {"entity", "physical entity", "object", "physical object", "whole", "unit", "thing",
            "being", "living thing", "animate thing", "abstraction", "abstract entity", "matter"}


@dataclasses.dataclass(frozen=True)
class ClassSpec:
    """A class to describe: ``name`` as in the records, its readable ``names`` (first the
    name itself, or ``words.txt``'s for a wnid) and its ``wnid`` ("" when none)."""

    name: str
    names: tuple[str, ...] = ()
    wnid: str = ""

    @property
    def primary(self) -> str:
        return self.names[0] if self.names else self.name


@dataclasses.dataclass(frozen=True)
class Description:
    text: str
    source: str  # "wordnet:<synset>" or "gcide:<headword>#<sense>"


@dataclasses.dataclass
class Described:
    """What :func:`describe` found for one class."""

    spec: ClassSpec
    synset: str | None
    head_synset: str | None
    descriptions: list[Description]


# --------------------------------------------------------------------------- GCIDE


def key(word: str) -> str:
    """A dictionary lookup key: lower case, hyphens, underscores and spaces as one space."""
    return re.sub(r"[\s_-]+", " ", word.strip().lower()).strip()


class Dictionary:
    """A dictd dictionary (GCIDE) read once: lookup key -> its entries in file order."""

    def __init__(self, entries: Iterable[Any], name: str = ""):
        self.name = name
        self._entries: dict[str, list[Any]] = {}
        for entry in entries:
            self._entries.setdefault(key(entry.headword), []).append(entry)

    @classmethod
    def load(cls, path: str) -> "Dictionary":
        from tfpipe.text import dictd

        return cls(dictd.iter_entries(path), name=os.path.basename(path))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self, word: str) -> list[Any]:
        return self._entries.get(key(word), [])

    def senses(self, word: str) -> list[tuple[Any, int, bool, str]]:
        """``(entry, n, first, definition)`` for the noun entries of ``word`` (``n.`` on the
        headword line, or no part of speech at all: ``Black-eyed Susan (Bot.)``): ``n`` counts
        the definitions of all the headword's entries (every part of speech) from 1,
        ``first`` marks an entry's first definition."""
        from tfpipe.text import dictd

        out, n = [], 0
        for entry in self.entries(word):
            defs = dictd.definitions(entry)
            head_line = entry.text.split("\n", 1)[0]
            if _NOUN.search(head_line) or not _OTHER_POS.search(head_line):
                out += [(entry, n + i, i == 1, d) for i, d in enumerate(defs, start=1)]
            n += len(defs)
        return out


# --------------------------------------------------------------------------- texts


def sentences(text: str) -> list[str]:
    """``text`` cut after each ``.``/``!``/``?`` that ends a sentence: outside parentheses,
    followed by a space and a capital letter, not after an abbreviation or an initial."""
    out: list[str] = []
    start = depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ".!?" and depth == 0:
            ends = i + 1 == len(text) or (text[i + 1] == " " and text[i + 2:i + 3].isupper())
            if not ends:
                continue
            last = text[start:i].split()[-1:] or [""]
            token = last[0].lstrip("(\"'").lower()
            if ch == "." and i + 1 < len(text) and (len(token) == 1 or token in _ABBREVIATIONS):
                continue
            out.append(text[start:i + 1].strip())
            start = i + 1
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return [s for s in out if s]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", _LEADING.sub("", text)).strip(" ,;")
    return text[:1].upper() + text[1:]


def _labels(text: str) -> set[str]:
    return {m.group(1).lower() for m in _LABEL.finditer(text)}


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z]+", text.lower())]


class Context:
    """What a class is: the lemmas that show a definition is about its kind (those of the
    hypernyms at most :data:`KIND_HOPS` links above ``synsets`` -- their kinds, not their
    synonyms, and not the far ones such as "creature" -- and of the ``domain``
    synsets, with the last word of each multi-word one: an aquatic bird is a bird), and
    whether it is an animal, a plant or an artifact (every hypernym)."""

    def __init__(self, synsets: Sequence[str], domain: Sequence[str] = ()):
        from tfpipe.text import wordnet

        near: list[str] = []
        every: set[str] = set(synsets)
        for s in synsets:
            every.update(wordnet.hypernym_closure(s))
            near += [n for n in wordnet.hypernym_closure(s, max_hops=KIND_HOPS) if n not in near]
        near += [d for d in domain if d not in near]
        self.synsets = list(synsets)
        self.animal = ANIMAL in every
        self.plant = PLANT in every
        self.artifact = ARTIFACT in every
        phrases = set()
        for name in near:
            for lemma in wordnet.lemmas(name):
                words = tuple(_tokens(lemma))
                if lemma.lower() not in _GENERAL and words:
                    phrases.add(words)
        # An aquatic bird is a bird: the last word of a multi-word kind when it names an
        # ancestor too ("plant life" does not make "life" a kind of plant).
        ancestors = {w for name in every for lemma in wordnet.lemmas(name)
                     for w in [tuple(_tokens(lemma))] if len(w) == 1}
        phrases |= {p[-1:] for p in phrases if len(p) > 1 and p[-1:] in ancestors
                    and p[-1] not in _GENERAL}
        self.phrases = phrases

    def names_kind(self, text: str, headword: str = "") -> bool:
        """Whether ``text`` names one of the lemmas (plurals folded) among its first
        :data:`GENUS_WORDS` words, where a definition puts its genus ("A perfume derived
        from ... the flower of the red jasmine" is not a flower) -- not counting
        parentheses (Latin names) nor an opening "Any one of numerous species of" --
        leaving out lemmas that
        share a word with ``headword`` (the entry's own word proves nothing: "the flower
        of an army" is not about a plant)."""
        text = _BOILERPLATE.sub("", re.sub(r"\([^()]*\)", " ", _LEADING.sub("", text)))
        tokens = _tokens(text)[:GENUS_WORDS + 2]
        own = set(_tokens(headword))
        for phrase in self.phrases:
            if own.intersection(phrase):
                continue
            n = len(phrase)
            if any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1)):
                return True
        return False

    def contradicted_by(self, labels: set[str]) -> bool:
        """Whether a definition's domain labels contradict the class."""
        if labels & _BODY_LABELS or (labels & _ANIMAL_LABELS and not self.animal):
            return True
        return bool(labels & _PLANT_LABELS) and (self.animal or self.artifact)


def _singulars(name: str) -> list[str]:
    words = key(name).split(" ")
    last = words[-1]
    out = []
    if len(last) > 4 and last.endswith("ies"):
        out.append(last[:-3] + "y")
    elif len(last) > 3 and last.endswith("s") and not last.endswith("ss"):
        out.append(last[:-1])
    return [" ".join(words[:-1] + [s]) for s in out]


def _name_keys(name: str) -> list[str]:
    """Dictionary keys of a class name: its spellings (``wordnet.spellings``) and singulars."""
    from tfpipe.text import wordnet

    keys: list[str] = []
    for form in [name, *wordnet.spellings(name), *_singulars(name)]:
        k = key(form)
        if k and k not in keys:
            keys.append(k)
    return keys


_PHRASE = re.compile(r"^(?P<phrase>[^,.;:()]+?)\s*(?P<label>\([^()]*\))?\s*[,.]\s*(?P<rest>.+)$")


def phrase_definitions(dictionary: Dictionary, name: str) -> list[tuple[str, str, str]]:
    """``(phrase, entry headword, definition)`` for each paragraph, in the entries of the
    words of a multi-word ``name``, that defines the whole name (``Tiger lily (Bot.),
    Lilium tigrinum ...`` in ``Lily``); pointers (``See under Lily.``) are left out."""
    words = [w for w in key(name).split(" ") if w]
    if len(words) < 2:
        return []
    wanted = set(_name_keys(name))
    out, seen = [], set()
    for word in dict.fromkeys(reversed(words)):  # the head noun's entries first
        for entry in dictionary.entries(word):
            for paragraph in entry.text.split("\n")[1:]:
                match = _PHRASE.match(re.sub(r"^\d+\.\s+", "", paragraph))
                if not match or key(match.group("phrase")) not in wanted:
                    continue
                rest = match.group("rest").strip()
                if _POINTER.match(_LEADING.sub("", rest)) or _SEE_UNDER.search(rest):
                    continue
                label = match.group("label") or ""
                item = (match.group("phrase").strip(), entry.headword, f"{label} {rest}".strip())
                if item not in seen:
                    seen.add(item)
                    out.append(item)
    return out


class Describer:
    """Describes classes with WordNet and (optionally) a :class:`Dictionary`."""

    def __init__(self, dictionary: Dictionary | None = None, *, under: Sequence[str] = (),
                 exclude: Sequence[str] = ()):
        self.dictionary = dictionary
        self.under = tuple(under) or None
        self.exclude = tuple(exclude) or None

    def synsets(self, spec: ClassSpec) -> tuple[str | None, str | None]:
        """The class's synset and its head noun's right sense (either may be None)."""
        from tfpipe.text import wordnet

        if spec.wnid:
            synset = wordnet.synset_of_wnid(spec.wnid)
        else:
            synset = wordnet.synset_for_name(spec.primary, under=self.under, exclude=self.exclude)
        head = wordnet.head_noun(spec.primary)
        head_synset = None
        if head and key(head) != key(spec.primary):
            if synset is not None:
                above = wordnet.hypernym_closure(synset)
                head_synset = next((s for s in wordnet.noun_synsets(head) if s in above), None)
            else:
                head_synset = wordnet.synset_for_name(head, under=self.under, exclude=self.exclude)
        return synset, head_synset

    def context(self, spec: ClassSpec, synset: str | None, head_synset: str | None) -> Context | None:
        """What judges the definitions of a class: its synset, else the senses of its
        ambiguous name in the domain, else its head noun's sense, else every sense of the
        head noun in the domain (they share the kind: both goldfinches are finches), else
        the domain; None with nothing to go by."""
        from tfpipe.text import wordnet

        domain = list(self.under or ())
        if synset:
            return Context([synset], domain)
        if self.under:  # an ambiguous name's senses in the domain (all plants, say)
            senses = wordnet.noun_synsets(spec.primary, under=self.under, exclude=self.exclude)
            if senses:
                return Context(senses, domain)
        if head_synset:
            return Context([head_synset], domain)
        head = wordnet.head_noun(spec.primary)
        basis = (wordnet.noun_synsets(head, under=self.under, exclude=self.exclude)
                 if head and self.under else [])
        return Context(basis or domain, domain) if basis or domain else None

    def describe(self, spec: ClassSpec) -> Described:
        from tfpipe.text import wordnet

        synset, head_synset = self.synsets(spec)
        texts: list[Description] = []
        seen: set[str] = set()

        def add(text: str, source: str, min_words: int = 3) -> None:
            text = _tidy(text)
            norm = " ".join(re.findall(r"[a-z0-9]+", text.lower()))
            if len(norm.split()) < min_words or norm in seen or _POINTER.match(text):
                return
            seen.add(norm)
            texts.append(Description(text, source))

        for s in (synset, head_synset):
            if s is not None:
                add(wordnet.gloss(s), f"wordnet:{s}", min_words=1)  # "domestic swine" too
        if self.dictionary is not None:
            context = self.context(spec, synset, head_synset)
            for text, source in self._gcide(spec, synset, context):
                add(text, source)
        return Described(spec, synset, head_synset, texts)

    def _gcide(self, spec: ClassSpec, synset: str | None,
               context: Context | None) -> Iterator[tuple[str, str]]:
        from tfpipe.text import wordnet

        d = self.dictionary
        assert d is not None
        names = list(spec.names) or [spec.name]
        if synset is not None:
            names += wordnet.lemmas(synset)
        own = _name_keys(spec.primary)
        others = [k for n in names[1:] for k in [key(n)] if k not in own]
        head = wordnet.head_noun(spec.primary)

        def senses(words: Iterable[str], strict: bool) -> Iterator[tuple[str, str]]:
            done = set()
            for word in words:
                for entry, n, first, definition in d.senses(word):
                    if (entry.headword, n) in done:
                        continue
                    done.add((entry.headword, n))
                    if not self._fits(entry, first, definition, context, strict):
                        continue
                    match = _PHRASE.match(_LEADING.sub("", definition))
                    if match and key(match.group("phrase")) not in own and set(
                            key(entry.headword).split()) & set(key(match.group("phrase")).split()):
                        continue  # another compound's definition ("Evening primrose, ..." in Primrose)
                    for sentence in sentences(_tidy(definition)):
                        yield sentence, f"gcide:{entry.headword}#{n}"

        yield from senses(own, strict=False)
        for phrase, headword, definition in phrase_definitions(d, spec.primary):
            labels = _labels(definition)
            if context is not None and context.contradicted_by(labels):
                continue
            for sentence in sentences(_tidy(definition)):
                yield sentence, f"gcide:{phrase}#under {headword}"
        yield from senses(dict.fromkeys(others), strict=True)
        if head and key(head) not in own and not self._excluded(head):
            yield from senses([head], strict=True)

    def _excluded(self, word: str) -> bool:
        """Whether every sense of ``word`` in the domain is excluded ("ball moss" is a
        bromeliad, but every moss is a bryophyte: Moss's definitions do not describe it)."""
        from tfpipe.text import wordnet

        if not (self.under and self.exclude):
            return False
        return bool(wordnet.noun_synsets(word, under=self.under)) and not wordnet.noun_synsets(
            word, under=self.under, exclude=self.exclude)

    @staticmethod
    def _fits(entry: Any, first: bool, definition: str, context: Context | None,
              strict: bool) -> bool:
        """Whether a definition is about the class (the module docstring's rule)."""
        own_labels = _labels(definition[:40])  # the sense's, at its start
        labels = own_labels | _labels(entry.text.split("\n", 1)[0])  # and the entry's
        if context is None:
            return not strict and first  # nothing to judge by: the name's first sense only
        if context.contradicted_by(own_labels or labels):
            return False
        if context.names_kind(definition, entry.headword):
            return True
        if strict:
            return False
        fitting = ((own_labels & _ANIMAL_LABELS and context.animal)
                   or (own_labels & _PLANT_LABELS and context.plant))
        return bool(fitting) and first  # "Scorpion 2. (Zool.) The pine lizard": not a label alone
