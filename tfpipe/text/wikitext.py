"""Plain paragraphs of MediaWiki markup (the ``<text>`` of a Wikipedia dump's page).

:func:`paragraphs` removes, in this order:

- HTML comments ``<!-- ... -->``; references ``<ref ...>...</ref>`` and ``<ref .../>``; the
  whole content of ``<math>``, ``<gallery>``, ``<timeline>``, ``<source>``,
  ``<syntaxhighlight>``, ``<score>``, ``<imagemap>``, ``<chem>``, ``<hiero>``, ``<graph>``;
- templates ``{{...}}`` (nested, across lines: infoboxes, citations) and tables ``{| ... |}``
  (opened and closed at the start of a line, as MediaWiki requires);
- links: ``[[target|label]]`` -> ``label``, ``[[target]]`` -> ``target``; ``[[File:...]]``,
  ``[[Image:...]]``, ``[[Category:...]]`` and interlanguage links ``[[fr:...]]`` are dropped
  with their captions (what an unbalanced one leaves: its head and layout options go, the
  caption stays; stray ``[[`` / ``]]`` go); external links ``[http://x label]`` -> ``label``, ``[http://x]`` -> "";
- bold / italic quotes (``'''``, ``''``), the remaining HTML tags (their text is kept),
  magic words (``__TOC__``); HTML entities are decoded (``&nbsp;`` -> space);
- list markers (``*``, ``#``, ``:``, ``;`` at the start of a line).

Headings ``==History==`` stay, as a paragraph of their own (``History``).  Paragraphs are
the blocks between blank lines, their lines joined by one space; empty ones are dropped.
"""
from __future__ import annotations

import html
import re

__all__ = ["paragraphs", "plain_text"]

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_REF = re.compile(r"<ref\b[^>]*/>|<ref\b[^>]*>.*?</ref\s*>", re.DOTALL | re.IGNORECASE)
_DROPPED_TAGS = ("math", "gallery", "timeline", "source", "syntaxhighlight", "score", "imagemap",
                 "chem", "hiero", "graph", "templatedata", "mapframe", "ce")
_DROPPED = re.compile(
    r"<(" + "|".join(_DROPPED_TAGS) + r")\b[^>]*?(?:/>|>.*?</\1\s*>)", re.DOTALL | re.IGNORECASE)
# template and table brackets; a table opens / closes only at the start of a line
_BRACES = re.compile(r"\{\{|\}\}|^[ \t:]*\{\||^[ \t]*\|\}", re.MULTILINE)
_INNER_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_EXTERNAL = re.compile(r"(?<!\[)\[(?:https?:|ftp:|//|mailto:)[^\s\]]*(?:\s+([^\]]*))?\]")
_DROPPED_NAMESPACES = ("file", "image", "category", "media")
_LANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*:")
_QUOTES = re.compile(r"'{2,}")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*?/?>")
_MAGIC = re.compile(r"__[A-Z]+__")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$")
_LIST_MARKER = re.compile(r"^[*#:;]+\s*")
# what an unbalanced File link leaves: its head and layout options (the caption stays)
_LEFTOVER_FILE = re.compile(
    r"\[\[(?:File|Image|Category|Media):[^|\]\n]*(?:\|(?:thumb|thumbnail|left|right|center|centre|"
    r"none|upright[^|\]\n]*|frame|frameless|border|baseline|\d*x?\d+px|alt=[^|\]\n]*))*\|?",
    re.IGNORECASE)


def _strip_braces(text: str) -> str:
    """``text`` without its templates and tables (nested); an opener never closed is kept as
    text, so one stray ``{{`` cannot swallow the rest of an article."""
    while True:
        out: list[str] = []
        stack: list[tuple[str, int]] = []
        pos = 0
        for match in _BRACES.finditer(text):
            token = match.group().strip(" \t:")
            opener = token in ("{{", "{|")
            if opener:
                if not stack:
                    out.append(text[pos:match.start()])
                stack.append((token, match.start()))
                continue
            want = "{{" if token == "}}" else "{|"
            if stack and stack[-1][0] == want:
                stack.pop()
                if not stack:
                    pos = match.end()
            elif not stack:  # a closer with no opener: keep it as text
                continue
        if not stack:
            out.append(text[pos:])
            return "".join(out)
        # unclosed: keep the outermost opener as text ("{" "{" stays literal, below), retry
        start = stack[0][1]
        text = text[:start] + text[start:].replace("{{", "{\u200b{", 1).replace("{|", "{\u200b|", 1)


def _link(match: re.Match) -> str:
    inner = match.group(1)
    target, pipe, label = inner.partition("|")
    target = target.strip()
    if target.startswith(":"):  # [[:Category:X]] is a link to the category page
        target = target[1:]
    elif target.split(":", 1)[0].strip().lower() in _DROPPED_NAMESPACES and ":" in target:
        return ""
    elif not pipe and _LANGUAGE_PREFIX.match(target):
        return ""
    if pipe:
        label = label.rsplit("|", 1)[-1] if "|" in label else label
        return label if label.strip() else target.split(":", 1)[-1].split("#", 1)[0]
    return target


def plain_text(wikitext: str) -> str:
    """The page as plain text: :func:`paragraphs` joined by blank lines."""
    return "\n\n".join(paragraphs(wikitext))


def paragraphs(wikitext: str) -> list[str]:
    """The plain paragraphs of ``wikitext`` (see the module docstring)."""
    text = _COMMENT.sub("", wikitext)
    text = _REF.sub("", text)
    text = _DROPPED.sub("", text)
    text = _strip_braces(text).replace("\u200b", "")
    text = _EXTERNAL.sub(lambda m: m.group(1) or "", text)
    for _ in range(8):  # nested links (a File caption holds links) go from the inside out
        text, n = _INNER_LINK.subn(_link, text)
        if not n:
            break
    text = _LEFTOVER_FILE.sub("", text).replace("[[", "").replace("]]", "")
    text = _QUOTES.sub("", text)
    text = _TAG.sub(lambda m: " " if m.group().lower().startswith("<br") else "", text)
    text = _MAGIC.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    out: list[str] = []
    block: list[str] = []

    def close() -> None:
        joined = re.sub(r"\s+", " ", " ".join(block)).strip()
        if re.search(r"\w", joined):
            out.append(joined)
        block.clear()

    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            close()
            continue
        heading = _HEADING.match(stripped)
        if heading:
            close()
            block.append(heading.group(2))
            close()
            continue
        block.append(_LIST_MARKER.sub("", stripped))
    close()
    return out
