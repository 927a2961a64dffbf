"""Reusable Keras layers (written with ``keras.ops`` so they run on every backend)."""
from tfpipe.layers.attention_context import AttentionContext
from tfpipe.layers.conv_highway import ConvHighway
from tfpipe.layers.cosine_softmax import CosineSoftmax
from tfpipe.layers.index_conv import IndexConv1D
from tfpipe.layers.label_scores import LabelScores
from tfpipe.layers.length_chunks import LengthChunked
from tfpipe.layers.onehot import OneHot
from tfpipe.layers.peephole_lstm import PeepholeLSTMCell
from tfpipe.layers.pooling import MeanOverTime
from tfpipe.layers.sparse_linear import SparseLinear

__all__ = [
    "AttentionContext", "ConvHighway", "CosineSoftmax", "IndexConv1D", "LabelScores", "LengthChunked", "MeanOverTime", "OneHot", "PeepholeLSTMCell",
    "SparseLinear",
]
