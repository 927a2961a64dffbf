"""The record kinds of tfpipe.data.schema: one spec per kind, encode_<kind> -> parse(kind=...)
round trips on tiny in-memory examples, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfpipe.data import schema


def _jpeg(height: int, width: int) -> bytes:
    pixels = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    return tf.io.encode_jpeg(pixels).numpy()


def _parse(records: list[bytes], **kwargs) -> dict:
    return schema.parse(tf.constant(records), **kwargs)


def test_every_kind_has_one_spec_and_one_encoder():
    assert set(schema.SPECS) == set(schema.KINDS) == set(schema.ENCODERS)
    assert schema.FEATURE_SPEC is schema.SPECS[schema.KIND_TEXT]
    assert schema.encode is schema.encode_text
    assert schema.spec("image") == schema.SPECS["image"] and schema.spec("image") is not schema.SPECS["image"]
    with pytest.raises(ValueError, match=r"unknown record kind 'video'; valid kinds: \['text', 'image'"):
        schema.spec("video")


def test_text_round_trip():
    chars = bytes([3, 2, 1, 0])
    record = schema.encode_text(example_id="s:1", text="héllo", chars=chars, word_ids=[2, 5], label=1)
    parsed = _parse([record], l0=4)
    assert parsed[schema.ID].numpy().tolist() == [b"s:1"]
    assert parsed[schema.TEXT].numpy()[0].decode() == "héllo"
    assert parsed[schema.CHARS].numpy().tolist() == [[3, 2, 1, 0]]
    assert parsed[schema.WORD_IDS].to_list() == [[2, 5]]
    assert parsed[schema.LABEL].numpy().tolist() == [1]
    # Deterministic bytes, and the kind is the default of parse.
    assert record == schema.encode(example_id="s:1", text="héllo", chars=chars, word_ids=[2, 5], label=1)
    assert _parse([record], l0=4, kind="text")[schema.LABEL].numpy().tolist() == [1]
    with pytest.raises(ValueError, match="needs l0"):
        _parse([record])
    assert _parse([record], keys=[schema.ID])[schema.ID].numpy().tolist() == [b"s:1"]  # no chars: no l0


def test_image_round_trip():
    jpeg = _jpeg(2, 3)
    records = [schema.encode_image(example_id="img:0", image=jpeg, height=2, width=3, label=4,
                                   name="tiger shark"),
               schema.encode_image(example_id="img:1", image=jpeg, height=2, width=3)]
    parsed = _parse(records, kind="image")
    assert parsed[schema.NAME].numpy().tolist() == [b"tiger shark", b""]
    assert sorted(parsed) == sorted(schema.SPECS["image"])
    assert parsed[schema.ID].numpy().tolist() == [b"img:0", b"img:1"]
    assert parsed[schema.IMAGE].numpy()[0] == jpeg
    assert parsed[schema.HEIGHT].numpy().tolist() == [2, 2]
    assert parsed[schema.WIDTH].numpy().tolist() == [3, 3]
    assert parsed[schema.LABEL].numpy().tolist() == [4, schema.UNLABELLED]
    assert tf.io.decode_jpeg(parsed[schema.IMAGE][0]).shape == (2, 3, 3)


def test_image_captions_round_trip():
    jpeg = _jpeg(4, 2)
    records = [
        schema.encode_image_captions(example_id="coco:1", image=jpeg, height=4, width=2,
                                     captions=["a dog", "a brown dog runs"],
                                     caption_word_ids=[[2, 3], [2, 7, 3, 9]],
                                     caption_chars=[b"\x01\x02\x00", b"\x03\x00\x00"]),
        schema.encode_image_captions(example_id="coco:2", image=jpeg, height=4, width=2,
                                     captions=["rien"], label=1),  # text only, no ids
    ]
    with pytest.raises(ValueError, match="caption_chars needs l0"):
        _parse(records, kind="image_captions")
    parsed = _parse(records, l0=3, kind="image_captions")
    assert parsed[schema.CAPTION_CHARS].to_list() == [[[1, 2, 0], [3, 0, 0]], []]
    assert parsed[schema.CAPTION_CHARS].dtype == tf.uint8
    assert sorted(parsed) == sorted(schema.SPECS["image_captions"])
    assert schema.CAPTION_LENGTHS not in parsed  # folded into caption_word_ids
    assert [[c.decode() for c in row] for row in parsed[schema.CAPTIONS].to_list()] == [
        ["a dog", "a brown dog runs"], ["rien"]]
    assert parsed[schema.CAPTION_WORD_IDS].to_list() == [[[2, 3], [2, 7, 3, 9]], []]
    assert parsed[schema.LABEL].numpy().tolist() == [schema.UNLABELLED, 1]
    assert parsed[schema.HEIGHT].numpy().tolist() == [4, 4] and parsed[schema.IMAGE].numpy()[1] == jpeg
    with pytest.raises(ValueError, match="2 captions but word ids of 1"):
        schema.encode_image_captions(example_id="x", image=jpeg, height=4, width=2,
                                     captions=["a", "b"], caption_word_ids=[[2]])
    with pytest.raises(ValueError, match="2 captions but characters of 1"):
        schema.encode_image_captions(example_id="x", image=jpeg, height=4, width=2,
                                     captions=["a", "b"], caption_chars=[b"\x01"])


def test_class_descriptions_round_trip():
    records = [schema.encode_class_description(example_id="wiki:0", label=0, name="tiger shark",
                                               text="A large shark.", word_ids=[4, 9, 2]),
               schema.encode_class_description(example_id="wiki:1", label=0, name="tiger shark",
                                               text="Striped.")]
    parsed = _parse(records, kind="class_descriptions")
    assert sorted(parsed) == sorted(schema.SPECS["class_descriptions"])
    assert parsed[schema.LABEL].numpy().tolist() == [0, 0]
    assert parsed[schema.NAME].numpy().tolist() == [b"tiger shark", b"tiger shark"]
    assert parsed[schema.TEXT].numpy().tolist() == [b"A large shark.", b"Striped."]
    assert parsed[schema.WORD_IDS].to_list() == [[4, 9, 2], []]
    with pytest.raises(ValueError, match="class index >= 0"):
        schema.encode_class_description(example_id="x", label=-1, name="n", text="t")


def test_features_round_trip_and_dimension_check():
    vectors = np.array([[0.5, -1.0, 2.0], [1e-3, 0.0, 3.25]], np.float32)
    records = [schema.encode_features(example_id="f:0", features=vectors[0], label=2),
               schema.encode_features(example_id="f:1", features=vectors[1].tolist())]
    parsed = _parse(records, kind="features", dim=3)
    np.testing.assert_array_equal(parsed[schema.FEATURES].numpy(), vectors)
    assert parsed[schema.LABEL].numpy().tolist() == [2, schema.UNLABELLED]
    with pytest.raises(ValueError, match="needs their dimension"):
        _parse(records, kind="features")
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not hold dim=2 values"):
        _parse(records, kind="features", dim=2)
    # Inside tf.data (graph mode) the dimension is static.
    ds = tf.data.Dataset.from_tensor_slices(records).batch(2).map(
        lambda s: schema.parse(s, kind="features", dim=3)[schema.FEATURES])
    assert ds.element_spec.shape.as_list() == [None, 3]
    with pytest.raises(ValueError, match="NaN or infinity"):
        schema.encode_features(example_id="bad", features=[1.0, float("nan")])
    with pytest.raises(ValueError, match="non-empty vector"):
        schema.encode_features(example_id="bad", features=[])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="empty image bytes"):
        schema.encode_image(example_id="x", image=b"", height=1, width=1)
    with pytest.raises(ValueError, match="image size 0x3 must be positive"):
        schema.encode_image(example_id="x", image=b"\xff", height=0, width=3)
    record = schema.encode_image(example_id="x", image=b"\xff", height=1, width=1)
    with pytest.raises(ValueError, match=r"unknown feature\(s\) \['chars'\]; image features"):
        _parse([record], kind="image", keys=["chars"])
    with pytest.raises(ValueError, match="unknown record kind"):
        _parse([record], kind="images")
