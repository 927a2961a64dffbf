"""Character alphabets of Zhang, Zhao & LeCun (2015), section 2.2 and 3.3.

An alphabet maps a character to a 1-based index; index 0 means "not in the
alphabet" and becomes an all-zero one-hot row in the model.  The paper's
alphabet has 70 entries: 26 letters, 10 digits, 33 other characters and the
new-line character.  The 33 "others" as printed (and as in the authors' Torch
code) list the hyphen twice; like the original code we keep all 70 positions
and let the *last* occurrence of a repeated character win, so one row of the
70 (the first hyphen) never fires.  This keeps the model's input width at the
paper's 70 while every character maps to exactly one index.
"""
from __future__ import annotations

import dataclasses
import string

# The paper's non-space characters (section 2.2), in the paper's order.
PAPER_LETTERS = "abcdefghijklmnopqrstuvwxyz"
PAPER_DIGITS = "0123456789"
PAPER_OTHERS = "-,;.!?:'\"/\\|_@#$%^&*~`+-=<>()[]{}"
NEWLINE = "\n"
SPACE = " "
# The paper's input length (section 2.2: "l0 = 1014"): characters kept per text.
PAPER_L0 = 1014
# Reed et al. (2016) section 5: "maximum length ... 201 for character-level models".
REED_L0 = 201

assert len(PAPER_OTHERS) == 33


@dataclasses.dataclass(frozen=True)
class Alphabet:
    """An ordered character set with case handling.

    Attributes:
      name: registry name ("paper" or "full").
      chars: the ordered characters; position i has index i + 1.
      lowercase: fold upper-case ASCII letters onto lower-case ones first.
      backward: read texts backward (Zhang et al.: the latest character first) rather
        than forward (Reed et al.); see ``tfpipe.text.quantize``.
    """

    name: str
    chars: str
    lowercase: bool
    backward: bool = True

    @property
    def size(self) -> int:
        """Width of the one-hot vector (number of positions, duplicates included)."""
        return len(self.chars)

    def index_map(self) -> dict[str, int]:
        """Character -> 1-based index; a repeated character keeps its last position."""
        table = {c: i + 1 for i, c in enumerate(self.chars)}
        if self.lowercase:
            for upper in string.ascii_uppercase:
                if upper.lower() in table and upper not in table:
                    table[upper] = table[upper.lower()]
        return table


PAPER = Alphabet(
    name="paper",
    chars=PAPER_LETTERS + PAPER_DIGITS + PAPER_OTHERS + NEWLINE,
    lowercase=True,
)

# Section 3.3 "Full": distinguishes upper- and lower-case letters.
FULL = Alphabet(
    name="full",
    chars=PAPER_LETTERS + string.ascii_uppercase + PAPER_DIGITS + PAPER_OTHERS + NEWLINE,
    lowercase=False,
)

# Reed et al. (2016): the paper's 70 positions, space for new-line, read forward.
REED = Alphabet(
    name="reed",
    chars=PAPER_LETTERS + PAPER_DIGITS + PAPER_OTHERS + SPACE,
    lowercase=True,
    backward=False,
)

_ALPHABETS = {a.name: a for a in (PAPER, FULL, REED)}


def get(name: str) -> Alphabet:
    """Returns the alphabet registered as ``name``; unknown names list the valid ones."""
    try:
        return _ALPHABETS[name]
    except KeyError:
        raise ValueError(
            f"unknown alphabet {name!r}; valid alphabets: {sorted(_ALPHABETS)}"
        ) from None


def names() -> list[str]:
    return sorted(_ALPHABETS)
