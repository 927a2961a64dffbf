"""The built-in default corpus: news-like texts the project generates itself.

No network and no copy of any real dataset: texts are assembled from templates
and small topic vocabularies written for this module, with a seeded RNG, so
the same seed always gives the same rows.  Four topic classes; each text is a
headline, a dateline and one or two sentences (~210 characters, at most ~370),
or, in a quarter of the rows, a single sentence (~90 characters),
with names, places, topic-typical figures (scores, prices, distances ...),
quotes and punctuation.  Each topic has a handful of frequent cue phrases ("in the league
match", "as shares rose on the market") on top of a wider vocabulary, which is
what lets a character-level ConvNet pick the topic up from 4,000 examples in a
few epochs.  It is not trivial: a quarter of the body sentences are borrowed
from another topic, some stories carry generic or off-topic sentences after
their headline, and 3 % of the rows carry a wrong label, so a good classifier
lands well above chance (25 %) yet short of 100 % (multinomial naive Bayes on
words: ~95 %).

``python -m beam_jobs.preprocess`` uses it when given no ``--input`` and no
``--tfds``: 4,000 train and 1,000 test rows by default, quantized to ``L0``
characters (unless ``--l0`` says otherwise).  The stories are short so that the
demo's Char-CNN trains on 258 frames instead of the paper's 1,014 (a quarter of
the compute per example); about a quarter of them are longer than that and
lose the start of their headline, as the paper's quantizer drops characters
beyond ``l0``.
"""
from __future__ import annotations

import random

from tfpipe.data.rows import RawExample

NAME = "embedded"
CLASS_NAMES = ["World", "Sports", "Business", "Science"]
DEFAULT_TRAIN = 4000
DEFAULT_TEST = 1000
# Characters kept per text (the Char-CNN's l0; (258 - 96) / 27 = 6 frames after its convolutions).
L0 = 258
# Body sentences after the headline, the dateline and the lead sentence (inclusive range).
BODY_SENTENCES = (0, 1)

# How often a story borrows a clause from another topic, carries only weak
# cues, or is labelled with a random other class.
MIX_RATE = 0.25  # per body sentence
CUE_RATE = 0.7  # a clause ends with one of its topic's frequent cue phrases
WEAK_RATE = 0.12
# A story that is one sentence on its own, without headline or dateline (what a user types
# into `tfpipe.predict`): without these a model learns that every text starts with a
# dateline and has no idea what to make of a lone sentence.
SHORT_RATE = 0.25
LABEL_NOISE = 0.03

_TOPICS: dict[str, dict[str, list[str]]] = {
    "World": {
        "cues": ["as government troops moved in", "ahead of the election", "after talks at the embassy",
                 "as rebels rejected the treaty", "the foreign minister said", "during peace talks with rebels",
                 "as the government faced the election", "while troops guarded the embassy"],
        "actors": ["the prime minister", "rebel leaders", "the foreign ministry", "peacekeepers",
                   "the opposition party", "election officials", "the president", "diplomats",
                   "border guards", "the parliament", "aid agencies", "the ruling coalition",
                   "protesters", "the defence minister", "UN envoys", "the military junta"],
        "verbs": ["signed", "rejected", "called for", "condemned", "postponed", "negotiated",
                  "announced", "withdrew from", "demanded", "backed", "vetoed", "proposed"],
        "objects": ["a ceasefire", "the peace accord", "new sanctions", "a border treaty",
                    "the runoff vote", "an emergency summit", "the refugee plan",
                    "a coalition deal", "troop withdrawals", "the constitutional reform",
                    "a humanitarian corridor", "the referendum", "talks on disarmament"],
        "extras": ["after days of clashes near the capital", "as voters queued at polling stations",
                   "amid fears of renewed fighting", "while the embassy was evacuated",
                   "following an overnight curfew", "as thousands marched through the streets"],
    },
    "Sports": {
        "cues": ["in the league match", "as the coach praised the team", "after a late goal",
                 "in the cup final", "for the third time this season", "to top the league table",
                 "as the team scored again", "the coach said after the match"],
        "actors": ["the home side", "the defending champions", "the striker", "the head coach",
                   "the captain", "the rookie pitcher", "the veteran goalkeeper", "the sprinter",
                   "the national team", "the title holders", "the underdogs", "the midfielder",
                   "the tennis star", "the quarterback", "the relay squad", "the league leaders"],
        "verbs": ["beat", "drew with", "lost to", "clinched", "scored twice against",
                  "edged past", "thrashed", "knocked out", "equalised against", "upset"],
        "objects": ["their local rivals", "the cup final", "a playoff berth", "the world record",
                    "the semi-final", "a gold medal", "the season opener", "the derby",
                    "the grand slam title", "a penalty shootout", "the championship round",
                    "a hat-trick", "the away fixture"],
        "extras": ["in front of a sold-out stadium", "with a late goal in stoppage time",
                   "after a rain delay", "despite an early injury", "in extra time",
                   "to stay top of the table"],
    },
    "Business": {
        "cues": ["as shares rose on the market", "after profit beat forecasts", "as investors sold stocks",
                 "the bank said", "as oil prices fell", "in a deal backed by investors",
                 "as the market closed higher", "sending bank shares lower"],
        "actors": ["the central bank", "shareholders", "the retailer", "the carmaker",
                   "investors", "the airline", "the oil producer", "the chief executive",
                   "the regulator", "the insurer", "the chipmaker", "analysts", "the board",
                   "the hedge fund", "the steel group", "the telecom operator"],
        "verbs": ["raised", "cut", "reported", "forecast", "acquired", "sold", "merged with",
                  "warned of", "posted", "slashed", "doubled", "reviewed"],
        "objects": ["interest rates", "quarterly profits", "its earnings outlook",
                    "a rival firm", "the dividend", "bond yields", "the share price",
                    "its stake in the venture", "operating costs", "annual revenue",
                    "a takeover bid", "crude prices", "the pension fund"],
        "extras": ["as stocks slipped on Wall Street", "sending its shares up in early trading",
                   "ahead of the earnings season", "amid weak consumer demand",
                   "as the dollar weakened", "after a surprise jump in inflation"],
    },
    "Science": {
        "cues": ["researchers said in the study", "in tests at the lab", "as space scientists had predicted",
                 "in a study of human cells", "according to the physics team", "in orbit around the planet",
                 "the lab said in the study", "using a new genome method"],
        "actors": ["researchers", "astronomers", "the space agency", "biologists",
                   "a team of physicists", "engineers", "the lab", "climate scientists",
                   "software developers", "geneticists", "the rover", "chemists",
                   "the telescope team", "doctors", "neuroscientists", "the startup's engineers"],
        "verbs": ["discovered", "sequenced", "launched", "tested", "observed", "mapped",
                  "measured", "released", "patched", "simulated", "identified", "cloned"],
        "objects": ["a new exoplanet", "the genome of a rare plant", "a satellite",
                    "a faster processor", "signs of water on Mars", "a vaccine candidate",
                    "the open-source browser", "a quantum chip", "a security flaw",
                    "ancient DNA", "a solar storm", "the protein structure", "a fusion reactor"],
        "extras": ["according to a study in a leading journal", "using data from the orbiter",
                   "after years of experiments", "in a paper published online",
                   "with help from a supercomputer", "in results shared at a conference"],
    },
}

_PLACES = ["LONDON", "PARIS", "TOKYO", "NAIROBI", "SYDNEY", "TORONTO", "BERLIN", "MUMBAI",
           "CAIRO", "MADRID", "SEOUL", "LIMA", "OSLO", "BOSTON", "DENVER", "GENEVA",
           "JAKARTA", "MEXICO CITY", "CAPE TOWN", "NEW YORK"]
_AGENCIES = ["Reuters", "AP", "AFP", "Wire", "Staff", "NewsDesk"]
_FIRST = ["Anna", "Omar", "Li", "Carlos", "Priya", "John", "Fatima", "Ivan", "Grace", "Kenji",
          "Maria", "David", "Amara", "Lucas", "Sofia", "Ahmed", "Elena", "Tom"]
_LAST = ["Smith", "Okafor", "Chen", "Garcia", "Patel", "Muller", "Haddad", "Petrov", "Kim",
         "Tanaka", "Rossi", "Brown", "Silva", "Novak", "Jensen", "Dubois"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.",
           "Nov.", "Dec."]
_WEAK = ["officials said the situation was being watched closely",
         "the announcement came earlier than expected",
         "more details are due later this week",
         "a spokesperson declined to comment further",
         "the news surprised many observers",
         "reactions were mixed on social media"]
_SAID = ["said", "told reporters", "said in a statement", "confirmed", "wrote on its website"]


def _number(rng: random.Random, topic: str) -> str:
    """A figure in the style of ``topic`` (scores, prices, distances, casualties ...)."""
    r = rng.randint
    kind = rng.randrange(4)
    if topic == "Sports":
        return [f"{r(0, 5)}-{r(0, 5)}", f"{r(2, 40)} points", f"the {r(2, 90)}th minute",
                f"{r(10, 99)} yards"][kind]
    if topic == "Business":
        return [f"${r(1, 99)}.{r(0, 9)} billion", f"{r(1, 30)}.{r(0, 9)} percent",
                f"{r(5, 95)} cents a share", f"Q{r(1, 4)} {r(1999, 2024)}"][kind]
    if topic == "Science":
        return [f"{r(2, 900)} km", f"{r(4, 400)} light-years", f"{r(3, 90)} nanometers",
                f"{r(1, 9)}.{r(0, 9)} GHz"][kind]
    return [f"{r(2, 90)},000 people", f"{r(100, 999)} troops", f"{r(2, 50)} provinces",
            f"{r(3, 40)} countries"][kind]


def _clause(rng: random.Random, topic: str) -> str:
    vocab = _TOPICS[topic]
    text = f"{rng.choice(vocab['actors'])} {rng.choice(vocab['verbs'])} {rng.choice(vocab['objects'])}"
    if rng.random() < 0.5:
        text += f" {rng.choice(vocab['extras'])}"
    return text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _headline(rng: random.Random, clause: str) -> str:
    words = clause.split()[: rng.randint(4, 8)]
    title = " ".join(w if w.isupper() else w.capitalize() for w in words)
    if rng.random() < 0.3:
        title += f" ({rng.choice(_AGENCIES)})"
    elif rng.random() < 0.2:
        title += "?"
    return title


def _sentence(rng: random.Random, topic: str) -> str:
    """One body sentence about ``topic``: a clause, often with a figure or a quote."""
    kind = rng.randrange(4)
    clause = _clause(rng, topic)
    if rng.random() < CUE_RATE:
        clause += f" {rng.choice(_TOPICS[topic]['cues'])}"
    if kind == 0:
        return f"{_cap(clause)}, a figure of {_number(rng, topic)}."
    if kind == 1:
        return f'"{_cap(clause)}," {rng.choice(_LAST)} {rng.choice(_SAID)}.'
    if kind == 2:
        return f"Earlier, {clause} ({_number(rng, topic)})."
    return f"{_cap(clause)}."


def _story(rng: random.Random, topic: str) -> str:
    """Headline, dateline, a lead sentence and ``BODY_SENTENCES`` more; most are about ``topic``.

    A short story (``SHORT_RATE``) is only its lead sentence or one body sentence.  A body sentence is borrowed from another topic with probability
    ``MIX_RATE``; in a weak story (``WEAK_RATE``) only the headline and the
    lead are on topic, the body sentence generic or borrowed.
    """
    weak = rng.random() < WEAK_RATE
    main = _clause(rng, topic)
    person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    when = rng.choice([f"on {rng.choice(_DAYS)}", f"on {rng.choice(_MONTHS)} {rng.randint(1, 28)}",
                       "late on Tuesday", "this week"])
    cue = f" {rng.choice(_TOPICS[topic]['cues'])}" if rng.random() < CUE_RATE else ""
    lead = f"{_cap(main)}{cue}, {person} {rng.choice(_SAID)} {when}."
    if rng.random() < SHORT_RATE:
        return lead if rng.random() < 0.5 else _sentence(rng, topic)
    parts = [_headline(rng, main),
             f"{rng.choice(_PLACES)} ({rng.choice(_AGENCIES)}) -",
             lead]
    for _ in range(rng.randint(*BODY_SENTENCES)):
        if weak:
            if rng.random() < 0.5:
                parts.append(_cap(rng.choice(_WEAK)) + ".")
            else:
                other = rng.choice([t for t in CLASS_NAMES if t != topic])
                parts.append(_sentence(rng, other))
        elif rng.random() < MIX_RATE:
            other = rng.choice([t for t in CLASS_NAMES if t != topic])
            parts.append(_sentence(rng, other))
        else:
            parts.append(_sentence(rng, topic))
    return " ".join(parts)


def rows(split: str, n: int, seed: int = 0) -> list[RawExample]:
    """``n`` balanced rows of ``split`` ("train" / "test"), ids ``embedded/<split>:<i>``."""
    rng = random.Random(f"tfpipe-embedded:{seed}:{split}")
    labels = [i % len(CLASS_NAMES) for i in range(n)]
    rng.shuffle(labels)
    out = []
    for index, label in enumerate(labels):
        text = _story(rng, CLASS_NAMES[label])
        if rng.random() < LABEL_NOISE:
            label = rng.choice([k for k in range(len(CLASS_NAMES)) if k != label])
        out.append(RawExample(f"{NAME}/{split}:{index}", text, label, index))
    return out


def generate(
    n_train: int = DEFAULT_TRAIN, n_test: int = DEFAULT_TEST, seed: int = 0
) -> dict[str, list[RawExample]]:
    """``{"train": rows, "test": rows}`` of the default corpus."""
    return {"train": rows("train", n_train, seed), "test": rows("test", n_test, seed)}
