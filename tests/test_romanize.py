"""Pinyin romanization (the paper's Sogou News recipe): jieba words, pypinyin TONE3."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tfpipe.text import romanize

# Hand-checked Mandarin readings (tone digit after the syllable, neutral tone without one,
# ü written v).  The heteronyms 行 (hang2 in 银行, not xing2), 重 (chong2 in 重庆, not
# zhong4) and 长 (chang2 in 长江, not zhang3) need the word, not the character.
EXPECTED = {
    "中国人民银行在北京": "zhong1 guo2 ren2 min2 yin2 hang2 zai4 bei3 jing1",
    "女儿在银行工作": "nv3 er2 zai4 yin2 hang2 gong1 zuo4",
    "重庆的长江大桥": "chong2 qing4 de chang2 jiang1 da4 qiao2",
    "了解了": "liao3 jie3 le",
    "體育新聞": "ti3 yu4 xin1 wen2",  # traditional characters
}


@pytest.fixture(scope="module")
def pinyin():
    pytest.importorskip("jieba")
    pytest.importorskip("pypinyin")
    return romanize.romanizer("pinyin")


@pytest.mark.parametrize("text", sorted(EXPECTED))
def test_pinyin_of_chinese_words(pinyin, text):
    assert pinyin(text) == EXPECTED[text]


def test_non_chinese_text_is_kept_as_it_is(pinyin):
    assert pinyin("Hello, world! 123 -- ok?") == "Hello, world! 123 -- ok?"
    assert pinyin("") == ""
    # A romanized word is set off by one space; existing white space, Latin words, digits
    # and (full-width) punctuation stay exactly as they were.
    assert pinyin("我爱NLP和T恤！") == "wo3 ai4 NLP he2 T xu4 ！"
    assert pinyin("他说：“你好吗？”2008年") == "ta1 shuo1 ：“ ni3 hao3 ma ？”2008 nian2"
    assert pinyin("  你好  世界\n") == "  ni3 hao3  shi4 jie4\n"
    assert pinyin("北京。") == "bei3 jing1 。"


def test_romanizer_names():
    assert romanize.NAMES == ("pinyin",)
    assert romanize.romanizer("pinyin") is romanize.pinyin
    with pytest.raises(ValueError, match=r"unknown romanizer 'wade-giles'; choose one of \['pinyin'\]"):
        romanize.romanizer("wade-giles")


def test_missing_packages_name_the_extra(monkeypatch):
    monkeypatch.setattr(romanize, "_BACKEND", None)
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'tfpipe\[chinese\]'"):
        romanize.pinyin("中国")


def test_jieba_start_up_is_silent(pinyin):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-c", "from tfpipe.text.romanize import pinyin; print(pinyin('中国'))"],
        cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("zhong1 guo2\n", "")
