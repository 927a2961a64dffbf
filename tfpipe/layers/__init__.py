"""Reusable Keras layers (written with ``keras.ops`` so they run on every backend)."""
from tfpipe.layers.onehot import OneHot

__all__ = ["OneHot"]
