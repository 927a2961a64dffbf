"""``tfpipe.tasks.phrase_context.monitoring``: the TensorBoard picture of a multimodal run (thumbnail,
top-3 phrases, the truth, the run's and the visual-only baseline's predictions), drawn by hand-checked
rules: line order and colours, where the thumbnail goes, where the image records are found."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest

from tfpipe.tasks.phrase_context import monitoring as mon

ROW = {"id": "jpg/a.jpg", "label": "rose", "predicted": "rose", "baseline": "tulip",
       "phrases": ["red petals", "garden", "bee"]}


def test_row_lines_order_and_colours():
    lines = mon.row_lines(ROW, "visual+context")
    assert [t for t, _ in lines] == ["jpg/a.jpg: phrases: red petals; garden; bee", "true: rose",
                                     "visual+context: rose", "visual-only: tulip"]
    assert [c for _, c in lines] == [mon.PLAIN, mon.PLAIN, mon.RIGHT, mon.WRONG]
    wrong = {**ROW, "predicted": "lily", "baseline": "rose"}
    assert [c for _, c in mon.row_lines(wrong)][2:] == [mon.WRONG, mon.RIGHT]
    bare = mon.row_lines({"id": "x", "label": "a", "predicted": "b"})   # no phrases, no baseline
    assert [t for t, _ in bare] == ["x: (no phrases)", "true: a", "multimodal: b"]
    long = mon.row_lines({**ROW, "label": "x" * 200})[1][0]
    assert len(long) == 90 and long.endswith("...")


def test_the_picture_has_a_row_per_example_and_the_thumbnail_at_its_left():
    thumb = np.zeros([mon.THUMBNAIL, mon.THUMBNAIL, 3], np.uint8)
    thumb[..., 0] = 255                     # pure red
    picture = mon.context_image([thumb, None], [ROW, {**ROW, "predicted": "lily"}])
    height = max(mon.THUMBNAIL, mon.LINE * 4) + 8
    assert picture.shape == (2 * height, mon.THUMBNAIL + 16 + mon.TEXT_WIDTH, 3) and picture.dtype == np.uint8
    assert picture[4 + 10, 4 + 10].tolist() == [255, 0, 0]                # row 1: the thumbnail
    assert picture[height + 4 + 10, 4 + 10].tolist() == [255, 255, 255]   # row 2: none, left white
    text = picture[:height, mon.THUMBNAIL + 12:]
    assert ((text[..., 1] > text[..., 0] + 60) & (text[..., 1] > text[..., 2] + 60)).any()  # a green line
    assert ((text[..., 0] > text[..., 1] + 60) & (text[..., 0] > text[..., 2] + 60)).any()  # a red line
    with pytest.raises(ValueError, match="1 thumbnails for 2 rows"):
        mon.context_image([thumb], [ROW, ROW])


def test_the_image_records_are_named_by_the_features_manifest():
    m = types.SimpleNamespace(source={"images": "/a", "job": "beam_jobs.extract_features"},
                              features={"source": {"images": "/b"}})
    assert mon.image_source(m) == "/a"
    assert mon.image_source(types.SimpleNamespace(source={"job": "x"}, features={"source": {"images": "/b"}})) == "/b"
    assert mon.image_source(types.SimpleNamespace(source={}, features={})) is None


def test_without_image_records_the_rows_are_drawn_without_thumbnails(tmp_path):
    m = types.SimpleNamespace(source={"images": str(tmp_path / "gone")}, features={})
    out = mon.write_context_image(str(tmp_path / "logs"), m, "test", [ROW, ROW, ROW], 2, model="visual")
    assert out == {"dir": str(tmp_path / "logs" / "context"), "images": 2, "thumbnails": 0,
                   "image_dir": str(tmp_path / "gone")}
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out["dir"]))
