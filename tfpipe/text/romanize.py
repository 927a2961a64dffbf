"""Romanization of non-Latin corpora, so that the English models apply unchanged.

Zhang et al. 2015 (Sogou News): "we used pypinyin package combined with jieba
Chinese segmentation system to produce Pinyin -- a phonetic romanization of
Chinese.  The models for English can then be applied to this dataset without
change."  :func:`pinyin` does that; :func:`romanizer` looks a romanizer up by name
(``NAMES``), as the preprocessing job's ``romanize`` option does.

jieba and pypinyin are optional (``pip install 'tfpipe[chinese]'``) and imported
on first use.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable

NAMES = ("pinyin",)

_INSTALL_HINT = "pip install 'tfpipe[chinese]' (jieba and pypinyin)"
# CJK unified ideographs: extension A, the basic block, compatibility ideographs, extensions B+.
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_BACKEND: tuple[Any, Callable[..., list[str]], Any] | None = None
_LOCK = threading.Lock()


def _backend() -> tuple[Any, Callable[..., list[str]], Any]:
    """``(jieba, pypinyin.lazy_pinyin, pypinyin.Style)``, imported and initialized once."""
    global _BACKEND
    with _LOCK:
        if _BACKEND is None:
            try:
                import jieba
                from pypinyin import Style, lazy_pinyin
            except ImportError as e:
                raise ImportError(f"pinyin romanization needs jieba and pypinyin: {_INSTALL_HINT}") from e
            jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." on stderr
            jieba.initialize()
            _BACKEND = (jieba, lazy_pinyin, Style)
    return _BACKEND


def pinyin(text: str) -> str:
    """``text`` with its Chinese words in pinyin with tone numbers, e.g. "中国" -> "zhong1 guo2".

    jieba segments the text (its default accurate mode); pypinyin reads each word
    that holds Chinese characters (style ``TONE3``: the tone digit after the
    syllable, none for the neutral tone, "ü" written "v": "女儿" -> "nv3 er2"), so
    heteronyms get their reading in the word ("银行" -> "yin2 hang2").  Syllables
    are separated by single spaces, and a romanized word by a space from whatever
    is next to it; everything else (Latin words, digits, punctuation, full-width
    punctuation, white space) is kept exactly as it is, as are Chinese characters
    that pypinyin has no reading for.
    """
    jieba, lazy_pinyin, style = _backend()
    pieces: list[tuple[bool, str]] = []  # (romanized?, text)
    for token in jieba.cut(text):
        if _HAN.search(token):
            syllables = [s for s in lazy_pinyin(token, style=style.TONE3) if s]
            pieces.append((True, " ".join(syllables)))
        elif token:
            pieces.append((False, token))
    out: list[str] = []
    previous_romanized = False
    for romanized, piece in pieces:
        touching = out and not out[-1][-1:].isspace() and not piece[:1].isspace()
        if touching and (romanized or previous_romanized):
            out.append(" ")
        out.append(piece)
        previous_romanized = romanized
    return "".join(out)


_ROMANIZERS: dict[str, Callable[[str], str]] = {"pinyin": pinyin}


def romanizer(name: str) -> Callable[[str], str]:
    """The romanizer called ``name`` (one of :data:`NAMES`)."""
    if name not in _ROMANIZERS:
        raise ValueError(f"unknown romanizer {name!r}; choose one of {list(NAMES)}")
    return _ROMANIZERS[name]
