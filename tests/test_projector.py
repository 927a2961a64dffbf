"""tfpipe.training.projector: the files TensorBoard's Embedding Projector reads."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tfpipe.training.projector import (Embedding, escape_tsv, metadata_tsv, read_metadata_tsv, sprite_grid,
                                       unescape_tsv, write_projector)


def _embeddings(n_images: int = 10, thumb: tuple[int, int] = (8, 6)):
    rng = np.random.default_rng(0)
    labels = Embedding("labels", rng.normal(size=(5, 4)).astype(np.float32),
                       [{"label": f"class {i}"} for i in range(5)])
    images = Embedding("images", rng.normal(size=(n_images, 4)).astype(np.float32),
                       [{"true": f"t{i}", "pred": "a\tb" if i == 0 else f"p{i}", "hops": i % 3}
                        for i in range(n_images)],
                       rng.integers(0, 256, (n_images, *thumb, 3), dtype=np.uint8))
    return labels, images


def test_tsv_escaping_round_trips():
    for s in ["plain", "tab\there", "new\nline", "cr\rx", "back\\slash", "\\t literal", ""]:
        assert "\t" not in escape_tsv(s) and "\n" not in escape_tsv(s)
        assert unescape_tsv(escape_tsv(s)) == s
    assert metadata_tsv([{"label": "a"}, {"label": "b\tc"}]) == "a\nb\\tc\n"  # one column: no header
    assert metadata_tsv([{"x": 1, "y": "u"}, {"y": "v", "x": 2}]) == "x\ty\n1\tu\n2\tv\n"
    with pytest.raises(ValueError, match="keys"):
        metadata_tsv([{"x": 1}, {"y": 2}])


def test_sprite_grid_size_and_layout():
    images = np.arange(5 * 2 * 3 * 3, dtype=np.uint8).reshape(5, 2, 3, 3)
    sprite, dim = sprite_grid(images)
    assert dim == (3, 2)  # (width, height)
    assert sprite.shape == (3 * 2, 3 * 3, 3)  # ceil(sqrt(5)) = 3 rows and columns
    np.testing.assert_array_equal(sprite[0:2, 3:6], images[1])  # row-major
    np.testing.assert_array_equal(sprite[2:4, 3:6], images[4])
    assert not sprite[2:4, 6:9].any() and not sprite[4:6].any()  # empty cells are black
    # 100 thumbnails of 100 x 50 would be 1000 x 500: scaled to fit max_size (8192 by default)
    big, dim = sprite_grid(np.zeros((100, 100, 50, 3), np.uint8), max_size=819)
    assert dim == (40, 81) and big.shape == (10 * 81, 10 * 40, 3)
    assert sprite_grid(np.zeros((100, 100, 50, 3), np.uint8))[1] == (50, 100)  # within 8192: kept
    grey, _ = sprite_grid(np.full((4, 2, 2), 7, np.uint8))
    assert grey.shape == (4, 4, 3) and (grey == 7).all()
    with pytest.raises(ValueError, match="uint8"):
        sprite_grid(np.zeros((2, 2, 2, 3), np.float32))


def test_write_projector_files(tmp_path):
    import tensorflow as tf
    from google.protobuf import text_format
    from PIL import Image
    from tensorboard.plugins.projector import ProjectorConfig

    labels, images = _embeddings()
    paths = write_projector(str(tmp_path), [labels, images])
    out = str(tmp_path / "projector")
    assert paths["dir"] == out
    assert paths["config"] == os.path.join(out, "projector_config.pbtxt")

    # The checkpoint holds each embedding's vectors under the tensor name the config gives.
    reader = tf.train.load_checkpoint(paths["checkpoint"])
    assert tf.train.latest_checkpoint(out) == paths["checkpoint"]  # how the plugin finds it
    for e in (labels, images):
        np.testing.assert_array_equal(reader.get_tensor(paths["tensors"][e.name]), e.vectors)

    config = text_format.Parse(open(paths["config"]).read(), ProjectorConfig())
    assert not config.model_checkpoint_path  # found in the config's directory
    by_name = {info.tensor_name: info for info in config.embeddings}
    assert set(by_name) == {"labels/.ATTRIBUTES/VARIABLE_VALUE", "images/.ATTRIBUTES/VARIABLE_VALUE"}
    lab, img = by_name[paths["tensors"]["labels"]], by_name[paths["tensors"]["images"]]
    assert lab.metadata_path == "labels.tsv" and not lab.sprite.image_path
    assert img.metadata_path == "images.tsv"
    assert img.sprite.image_path == "images_sprite.png" and list(img.sprite.single_image_dim) == [6, 8]

    # Metadata: one column without a header, several with one; values escaped; rows round-trip.
    assert open(os.path.join(out, lab.metadata_path)).read().splitlines() == [f"class {i}" for i in range(5)]
    text = open(os.path.join(out, img.metadata_path)).read()
    assert text.splitlines()[:2] == ["true\tpred\thops", "t0\ta\\tb\t0"]
    assert read_metadata_tsv(os.path.join(out, img.metadata_path)) == [
        {k: str(v) for k, v in row.items()} for row in images.metadata]
    assert read_metadata_tsv(os.path.join(out, lab.metadata_path)) == labels.metadata

    # The sprite: 10 thumbnails of 6 x 8 in a 4 x 4 grid.
    sprite = np.asarray(Image.open(os.path.join(out, img.sprite.image_path)))
    assert sprite.shape == (4 * 8, 4 * 6, 3)
    np.testing.assert_array_equal(sprite[8:16, 0:6], images.sprite_images[4])

    # An event file makes the directory a run TensorBoard lists.
    assert paths["events"] and os.path.basename(paths["events"]).startswith("events.out.tfevents.")

    # Written again (next epoch): the newest checkpoint replaces the old one.
    paths2 = write_projector(str(tmp_path), [labels], step=1)
    assert tf.train.latest_checkpoint(out) == paths2["checkpoint"] != paths["checkpoint"]
    assert not tf.io.gfile.glob(paths["checkpoint"] + ".*")
    config = text_format.Parse(open(paths2["config"]).read(), ProjectorConfig())
    assert [info.tensor_name for info in config.embeddings] == [paths["tensors"]["labels"]]


def test_write_projector_into_log_dir_itself_without_metadata(tmp_path):
    import tensorflow as tf

    e = Embedding("vecs", np.eye(3, dtype=np.float32))
    paths = write_projector(str(tmp_path), [e], subdir=None)
    assert paths["dir"] == str(tmp_path) and os.path.exists(tmp_path / "projector_config.pbtxt")
    assert paths["metadata"] == {} and paths["sprite"] == {}
    np.testing.assert_array_equal(tf.train.load_checkpoint(paths["checkpoint"]).get_tensor(paths["tensors"]["vecs"]),
                                  np.eye(3))


@pytest.mark.parametrize("embeddings, match", [
    ([], "no embeddings"),
    ([Embedding("a b", np.zeros((2, 2)))], "identifier"),
    ([Embedding("a", np.zeros((2, 2))), Embedding("a", np.zeros((2, 2)))], "unique"),
    ([Embedding("a", np.zeros(3))], r"\[n, d\]"),
    ([Embedding("a", np.zeros((2, 2)), [{"x": 1}])], "metadata rows"),
    ([Embedding("a", np.zeros((2, 2)), sprite_images=np.zeros((3, 2, 2, 3), np.uint8))], "sprite images"),
    ([Embedding("a", np.full((2, 2), np.nan))], "finite"),
])
def test_write_projector_rejects_bad_input(tmp_path, embeddings, match):
    with pytest.raises(ValueError, match=match):
        write_projector(str(tmp_path), embeddings)


def test_tensorboard_projector_plugin_finds_the_config(tmp_path):
    """The plugin's own config reader (a private TensorBoard function: skipped if it goes) takes our
    directory as a run and finds its checkpoint."""
    projector_plugin = pytest.importorskip("tensorboard.plugins.projector.projector_plugin")
    plugin = projector_plugin.ProjectorPlugin.__new__(projector_plugin.ProjectorPlugin)
    if not hasattr(plugin, "_read_latest_config_files"):
        pytest.skip("TensorBoard's projector plugin changed")
    paths = write_projector(str(tmp_path), list(_embeddings()))
    configs, config_paths = plugin._read_latest_config_files([("run/projector", paths["dir"])])
    assert config_paths == {"run/projector": paths["config"]}
    assert configs["run/projector"].model_checkpoint_path == paths["checkpoint"]
    assert len(configs["run/projector"].embeddings) == 2
