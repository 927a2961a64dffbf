"""Decoding, checking, resizing and re-encoding one image file (PIL), for the image job.

:func:`prepare` turns an image file into the JPEG bytes stored in a record, or raises
:class:`ImageError` whose ``reason`` goes to the dead letter:

``empty_file``          the file has zero bytes
``unreadable_file``     the file cannot be opened or read
``undecodable_image``   not an image PIL can identify or decode
``truncated_image``     the data ends before the image does (PIL: "image file is truncated")

The stored image is RGB.  :class:`Resize` decides its size: ``shorter`` scales the
shorter side to ``size`` (keeping the aspect ratio; only down unless ``upscale``),
``exact`` to ``size x size``, ``none`` keeps it.  A JPEG that needs no change (RGB, no
resize) keeps its original bytes, so nothing is lost to a second compression; any
other image is encoded as JPEG at ``quality`` (4:4:4 chroma, no subsampling).
Decoding pixels for a model is tf.data's job (``tfpipe.data.image_pipeline``).
"""
from __future__ import annotations

import dataclasses
import io
from typing import NamedTuple

EMPTY_FILE = "empty_file"
UNREADABLE_FILE = "unreadable_file"
UNDECODABLE_IMAGE = "undecodable_image"
TRUNCATED_IMAGE = "truncated_image"
REASONS = (EMPTY_FILE, UNREADABLE_FILE, UNDECODABLE_IMAGE, TRUNCATED_IMAGE)

RESIZE_MODES = ("shorter", "exact", "none")
MAX_PIXELS = 89_478_485  # PIL's decompression-bomb limit, stated here so it is one number


class ImageError(ValueError):
    """An image that cannot be stored, with the dead letter's ``reason``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Resize:
    """How stored images are sized (module docstring)."""

    mode: str = "shorter"
    size: int = 256
    upscale: bool = False
    quality: int = 95

    def __post_init__(self):
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {self.mode!r}; valid modes: {list(RESIZE_MODES)}")
        if self.mode != "none" and self.size < 1:
            raise ValueError(f"resize size must be positive, got {self.size}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"JPEG quality must be in [1, 100], got {self.quality}")

    def target(self, width: int, height: int) -> tuple[int, int]:
        """The stored ``(width, height)`` of a ``width x height`` image."""
        if self.mode == "none":
            return width, height
        if self.mode == "exact":
            return self.size, self.size
        shorter = min(width, height)
        if shorter <= self.size and not self.upscale:
            return width, height
        scale = self.size / shorter
        return max(1, round(width * scale)), max(1, round(height * scale))

    def describe(self) -> dict:
        return dataclasses.asdict(self)


class Prepared(NamedTuple):
    jpeg: bytes
    height: int
    width: int
    original_height: int
    original_width: int


def prepare(data: bytes, resize: Resize, name: str = "image") -> Prepared:
    """The stored JPEG of the image file ``data`` (module docstring), or an ImageError."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(EMPTY_FILE, f"{name} has zero bytes")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(UNDECODABLE_IMAGE,
                                 f"{name} is {im.width}x{im.height}, over {MAX_PIXELS} pixels")
            im.load()
            original = (im.width, im.height)
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            width, height = resize.target(*original)
            if (width, height) != original:
                rgb = rgb.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
            if fmt == "JPEG" and rgb is im and (width, height) == original:
                jpeg = data
            else:
                out = io.BytesIO()
                rgb.save(out, format="JPEG", quality=resize.quality, subsampling=0)
                jpeg = out.getvalue()
    except ImageError:
        raise
    except UnidentifiedImageError as e:
        raise ImageError(UNDECODABLE_IMAGE, f"{name}: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:  # PIL's decoder errors
        message = str(e)
        lowered = message.lower()
        reason = TRUNCATED_IMAGE if "truncated" in lowered or "premature" in lowered \
            else UNDECODABLE_IMAGE
        raise ImageError(reason, f"{name}: {message}") from None
    return Prepared(jpeg, height, width, original[1], original[0])


def read_file(path: str) -> bytes:
    """The bytes of an image file (local or remote, ``gs://...``), or
    ImageError(``unreadable_file``)."""
    from tfpipe.data.rows import open_binary

    try:
        with open_binary(path) as f:
            return f.read()
    except Exception as e:  # noqa: BLE001  (OSError locally; tf.errors remotely)
        raise ImageError(UNREADABLE_FILE, f"{path}: {e}") from None
