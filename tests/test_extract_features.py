"""``beam_jobs.extract_features``: cached features equal the visual model run end to end on the
training input's views; the features directory mirrors the images (ids, labels, splits,
classes); the reader's view modes."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs import extract_features
from tests.test_image_pipeline import quadrants, write_data
from tfpipe.data import feature_records
from tfpipe.data import image_pipeline as ip
from tfpipe.data.datadir import DataDir

SIZE = 32  # small images: EfficientNet-Lite0 runs at any size that is a multiple of 32


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = [(f"img:{i}", i % 3, rng.integers(0, 255, [40 + i, 48, 3]), "train") for i in range(5)]
    rows += [(f"t:{i}", i % 3, quadrants(36, 36), "test") for i in range(2)]
    return write_data(tmp_path_factory.mktemp("images"), rows)


def _run(images, out, *extra):
    job, args = extract_features.parse(["--data_dir", images.path, "--image_size", str(SIZE),
                                        "--output_dir", str(out), "--batch_size", "3", *extra])
    m, stats = extract_features.execute(job, args)
    return DataDir.open(str(out)), stats


def test_cached_features_equal_the_model_on_the_eval_view(images, tmp_path):
    feats, stats = _run(images, tmp_path / "f", "--outputs", "pooled,logits")
    m = feats.manifest
    assert m.kind == "features" and m.class_names == images.manifest.class_names
    assert {s: e.count for s, e in m.splits.items()} == {"train": 5, "test": 2}
    assert [e["name"] for e in m.features["outputs"]] == ["pooled", "logits"]
    assert m.features["view_dim"] == 1280 + 1000 and stats["images"] == 7
    got = list(feature_records.make_feature_dataset(feats, "train", with_ids=True, batch_size=10))
    x, labels, ids = (t.numpy() for t in got[0])
    # End to end: the tf.data eval view through the same frozen model.
    batch = next(iter(ip.make_image_dataset(images, "train", image_size=SIZE, batch_size=10)))
    model = extract_features._extractor(extract_features.parse(
        ["--data_dir", images.path, "--image_size", str(SIZE)])[0]).model
    want = model(batch["image"], training=False)["pooled"].numpy()
    assert ids.tolist() == batch["id"].numpy().tolist() and labels.tolist() == [0, 1, 2, 0, 1]
    np.testing.assert_allclose(x, want, rtol=1e-4, atol=1e-4)
    logits = next(iter(feature_records.make_feature_dataset(feats, "train", output="logits",
                                                            batch_size=10)))[0]
    assert logits.shape == (5, 1000)
    with pytest.raises(ValueError, match="stored outputs: \\['pooled', 'logits'\\]"):
        feature_records.make_feature_dataset(feats, "train", output="stride16")


def test_ten_views_and_view_modes(images, tmp_path):
    feats, _ = _run(images, tmp_path / "v10", "--views", "10")
    assert feats.manifest.features["views"] == 10
    every = next(iter(feature_records.make_feature_dataset(feats, "test", views="all")))[0].numpy()
    assert every.shape == (2, 10, 1280)
    mean = next(iter(feature_records.make_feature_dataset(feats, "test", views="mean")))[0].numpy()
    np.testing.assert_allclose(mean, every.mean(axis=1), rtol=1e-5, atol=1e-6)
    # View 5 mirrors view 0 (the top-left crop) and the quadrant image's views differ.
    assert not np.allclose(every[0, 0], every[0, 1])
    one = next(iter(feature_records.make_feature_dataset(feats, "test", views="random",
                                                         training=True)))[0].numpy()
    assert all(any(np.allclose(row, v, atol=1e-5) for v in every[0]) for row in one)


def test_bad_arguments(images, tmp_path, capsys):
    with pytest.raises(SystemExit):
        extract_features.parse(["--data_dir", images.path, "--model", "resnet50"])
    assert "valid models" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        extract_features.parse(["--data_dir", str(tmp_path)])
    assert "manifest.json" in capsys.readouterr().err
