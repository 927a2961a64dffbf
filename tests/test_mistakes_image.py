"""tfpipe.training.mistakes_image: hierarchy hops, the top-mistakes rows, the table image, the image summary."""
from __future__ import annotations

import glob

import numpy as np
import pytest

from tfpipe.metrics import label_graph
from tfpipe.training.mistakes_image import (Mistake, hierarchy_hops, mistakes_image, top_mistakes,
                                            write_image_summary)

# animal -> {dog -> {0 poodle, 1 terrier}, cat -> 2 tabby}; 3 is isolated (a class without a synset);
# 4 -> 5 is a separate component.
EDGES = [("animal", "dog"), ("animal", "cat"), ("dog", 0), ("dog", 1), ("cat", 2), (3, 3), (4, 5)]


@pytest.mark.parametrize("a, b, hops", [
    (0, 1, 2),            # siblings
    ("dog", 0, 1),        # parent - child
    (0, "dog", 1),        # undirected
    (0, "animal", 2),     # grandparent
    (0, 2, 4),            # cousins: 0 - dog - animal - cat - 2
    (1, 1, 0),
    (np.int64(0), 1, 2),  # NumPy integers are the same nodes
    (0, 3, None),         # isolated node
    (0, 5, None),         # other component
    (0, "unknown", None),  # not in the graph
    (None, None, None),   # no node (e.g. a label without a class id)
])
def test_hierarchy_hops_on_a_toy_tree(a, b, hops):
    assert hierarchy_hops(EDGES, a, b) == hops


def test_hierarchy_hops_takes_a_prebuilt_adjacency():
    adj = label_graph(EDGES)
    assert hierarchy_hops(adj, 0, 2) == 4
    assert hierarchy_hops(adj, 4, 5) == 1


TRUE = ["dog", "dog", "dog", "cat", "cat", "car", "car", "cat", "car"]
PRED = ["wolf", "wolf", "cat", "dog", "cat", "truck", "truck", "dog", "car"]
# per-example hops: dog->wolf 2, dog->cat 4, cat->dog 4, car->truck unknown; correct ones anything
HOPS = [2, 2, 4, 4, 0, None, float("nan"), 4, 0]


def test_top_mistakes_order_counts_and_hops():
    rows = top_mistakes(TRUE, PRED, HOPS)
    assert rows == [
        Mistake("car", "truck", 2, None),  # count 2 ties: by true label
        Mistake("cat", "dog", 2, 4),
        Mistake("dog", "wolf", 2, 2),
        Mistake("dog", "cat", 1, 4),
    ]
    assert top_mistakes(TRUE, PRED, HOPS, top=2) == rows[:2]
    assert top_mistakes(TRUE, PRED, HOPS, top=0) == []
    assert [r.hops for r in top_mistakes(TRUE, PRED)] == [None] * 4


def test_top_mistakes_hops_as_mapping_or_function():
    table = {("dog", "wolf"): 2, ("cat", "dog"): 4, ("dog", "cat"): "-"}
    rows = top_mistakes(TRUE, PRED, table)
    assert [(r.true, r.pred, r.hops) for r in rows] == [
        ("car", "truck", None), ("cat", "dog", 4), ("dog", "wolf", 2), ("dog", "cat", None)]
    ids = {"dog": 0, "cat": 2, "wolf": 1}  # toy: wolf as the poodle's sibling
    calls = []

    def hops(t, p):
        calls.append((t, p))
        return hierarchy_hops(EDGES, ids.get(t), ids.get(p))

    rows = top_mistakes(TRUE, PRED, hops, top=3)
    assert [r.hops for r in rows] == [None, 4, 2]
    assert len(calls) == 3  # only for the rows kept


def test_top_mistakes_rejects_bad_input():
    with pytest.raises(ValueError, match="predictions"):
        top_mistakes(["a"], ["b", "c"])
    with pytest.raises(ValueError, match="hops has"):
        top_mistakes(["a"], ["b"], [1, 2])
    with pytest.raises(ValueError, match="disagree"):
        top_mistakes(["a", "a"], ["b", "b"], [1, 2])


def test_mistakes_image_is_a_table_with_a_row_per_mistake():
    image = mistakes_image(TRUE, PRED, HOPS)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    short = mistakes_image(TRUE, PRED, HOPS, top=1)
    empty = mistakes_image(["a"], ["a"])
    assert empty.shape[0] < short.shape[0] < image.shape[0]
    # title + header + rows, all of one height: 4 rows vs 1 row
    line = (image.shape[0] - short.shape[0]) // 3
    assert image.shape[0] == (2 + 4) * line and short.shape[0] == (2 + 1) * line
    assert (image < 128).any() and (image == 255).any()  # dark text on white
    # green for hops <= 2 and dark red for the others are both drawn
    r, g, b = (image[..., i].astype(int) for i in range(3))
    assert ((g > r + 60) & (g > b + 60)).any() and ((r > g + 60) & (r > b + 60)).any()
    # long labels are cut, so the width is bounded
    long = mistakes_image(["x" * 500], ["y"], max_label_chars=20)
    assert long.shape[1] < mistakes_image(["x" * 500], ["y"], max_label_chars=200).shape[1]


def test_write_image_summary_round_trips(tmp_path):
    import tensorflow as tf

    image = mistakes_image(TRUE, PRED, HOPS)
    write_image_summary(str(tmp_path), "devise/mistakes", image, step=3)
    writer = tf.summary.create_file_writer(str(tmp_path / "w"))
    write_image_summary(writer, "again", image)
    writer.close()
    found = {}
    for path in glob.glob(str(tmp_path / "**" / "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found[value.tag] = (event.step, tf.make_ndarray(value.tensor))
    step, tensor = found["devise/mistakes"]
    assert step == 3
    width, height, png = tensor  # tf.summary.image stores [width, height, encoded images...]
    assert (int(width), int(height)) == (image.shape[1], image.shape[0])
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)
    assert "again" in found
    with pytest.raises(ValueError, match="image must be"):
        write_image_summary(str(tmp_path), "bad", np.zeros((4, 4), np.uint8))
