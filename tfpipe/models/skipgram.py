"""Skip-gram word vectors (Mikolov et al. 2013), the language model of DeViSE (Frome et al. 2013).

The model holds two tables indexed by the data directory's word ids
(``vocab_size`` rows: padding, OOV, then the vocabulary):

* ``input_vectors`` ``[vocab_size, dim]``: the word vectors (word2vec's
  ``syn0``), initialised uniformly in ``[-0.5 / dim, 0.5 / dim]`` as word2vec.c;
* ``output_vectors``: the context side (``syn1neg``, ``[vocab_size, dim]``) for
  negative sampling, or the inner nodes of the Huffman tree (``syn1``,
  ``[trained words - 1, dim]``) for hierarchical softmax; zeros at the start,
  as word2vec.c.

For a pair (target word ``w_I``, context word ``w_O``), with
``v = input_vectors[w_I]``, ``u`` rows of ``output_vectors`` and ``s`` the
logistic sigmoid, the loss is

* negative sampling (default, ``negatives = 5``):
  ``-log s(v.u_{w_O}) - sum_k log s(-v.u_{n_k})``, the ``n_k`` drawn from the
  unigram distribution raised to ``noise_power = 0.75`` over the trained
  words; a negative equal to ``w_O`` is skipped, as word2vec.c does;
* hierarchical softmax: ``-sum_j log s((1 - 2 code_j) v.u_{point_j})`` along
  the Huffman path of ``w_O`` (:func:`huffman_tree`, word2vec.c's
  ``CreateBinaryTree``).

Two training kernels (``kernel``):

* ``fused`` (the default through ``auto`` wherever it builds, i.e. wherever
  g++ and TensorFlow's headers are): word2vec.c's own loop as one C++ op
  (:mod:`tfpipe.ops.skipgram`).  A step takes a batch of whole sentences
  (``{"word_ids": [B, L]}``) and does the subsampling, the reduced windows, the
  negative draws (independent per pair, from a Walker alias table) and a plain
  SGD update after every pair, in ``threads`` Hogwild threads.  As in
  word2vec.c the pair's input vector is the context word's and the output rows
  are the centre word's.  Plain SGD only.
* ``graph``: the batched TensorFlow step below on shuffled (target, context)
  pairs; any Keras optimizer, ``share_negatives`` and ``row_update_cap``.

Both minimise the same per-pair loss; ``auto`` falls back to ``graph`` (saying
why) when the fused kernel does not apply or cannot be built.  The rest of this
docstring describes the graph kernel's batching.

Negatives shared by a group of pairs (``share_negatives``, default 16): the
pairs of a batch are taken ``share_negatives`` at a time (the pairs arrive
shuffled) and each group uses one draw of ``negatives`` noise words.  Every
pair still has exactly ``negatives`` negatives drawn from the noise
distribution, so each pair's loss and its expected gradient are word2vec's;
only pairs of a group are correlated.  It turns the negative side into
small matrix products and cuts the rows gathered and updated per pair from
``negatives + 2`` to about 2, the main cost of a batched step on a CPU
(about 3x faster at 300 dimensions; ``share_negatives: 1`` is word2vec.c's
independent draws).  tests/test_skipgram.py checks both settings train.

The training step differentiates the *sum* of the batch's pair losses, so
the learning rate is word2vec's per-pair step size (``alpha = 0.025`` for
skip-gram, decaying linearly with the words trained); the reported loss is
the mean per pair.

Batch size and stability: word2vec.c applies its per-pair updates one after
the other, each seeing the previous ones; a batch adds them up from the same
starting point.  For a very frequent word (its row reached by hundreds of the
batch's pairs, as context or negative) the sum can overshoot: on AG's News
(5 epochs, t = 1e-3) 4,096 pairs per step train as well as gensim (held-out
pair loss 2.470 vs gensim's 2.461 on the same tokens), 16,384 diverge (loss
10^8).  ``row_update_cap`` (default 0 = off) bounds that: in one step a
row's summed update is scaled by ``min(1, row_update_cap / n)``, ``n`` being
the pairs whose gradient reaches the row; rows reached by fewer pairs get
exactly word2vec's sum.  It costs accuracy (4,096 pairs, cap 32: 2.490;
16,384 pairs, cap 128: 2.489, cap 32: 2.555), so keep batches moderate
first; the trainer stops a diverging run with a message saying so.  Under plain SGD (word2vec's optimizer) the step writes
out word2vec.c's gradients (``g = (label - s(score)) * alpha``) and adds them
to the batch's rows only (``scatter_add``); any other optimizer gets the
autodiff gradients (``IndexedSlices``), which Keras' momentum/Adam updates
apply densely (much slower).

Word2vec.c trains the window's word as input and the centre word as output;
here ``target`` (the centre word, whose reduced window made the pair) is the
input, as in the paper's ``p(w_{t+j} | w_t)``.  Every pair occurs in both
orientations with the same probability, so the objective is the same.

Data-side settings (``window``, ``subsample``, ``min_count``) are model keys
too, read by the trainer (``tfpipe.tasks.word_vectors``) to make the pairs
(``tfpipe.data.skipgram_pairs``); defaults are word2vec.c's: window 5,
subsampling ``t = 1e-3`` (word2vec.c's and gensim's default; the paper's
``1e-5`` is meant for billion-word corpora and would drop most of a corpus
the size of AG's News), ``min_count`` 5.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfpipe.models import register
from tfpipe.text.tokenize import FIRST_WORD_ID

LOSSES = ("negative_sampling", "hierarchical_softmax")
# Training kernels: the fused C++ loop (tfpipe.ops.skipgram), the batched TF graph step, or the
# fused one when it builds on this machine and applies (plain SGD, no row_update_cap).
KERNELS = ("auto", "fused", "graph")
SCHEDULES = ("linear", "cosine", "constant")
# word2vec.c never lets the rate fall below this fraction of the starting rate.
MIN_RATE_FRACTION = 1e-4
# word2vec.c's MAX_CODE_LENGTH: a Huffman code longer than this is an error there.
MAX_CODE_LENGTH = 40
MIN_DIM, MAX_DIM = 1, 4096


# --------------------------------------------------------------------------- Huffman tree


def huffman_tree(counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """word2vec.c's Huffman tree over words with ``counts`` (most frequent first).

    Returns ``(codes int32 [n, L], points int32 [n, L], lengths int32 [n])``:
    word ``i``'s path from the root has ``lengths[i]`` inner nodes
    ``points[i, :lengths[i]]`` (inner-node ids ``0 .. n - 2``, the root is
    ``n - 2``) and at each the branch ``codes[i, j]`` (0 or 1); entries past
    the length are 0.  Ties are broken as word2vec.c's two-queue merge does
    (the counts are visited in the given order, which must be non-increasing).
    A single word gets an empty code.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    if n == 0:
        raise ValueError("a Huffman tree needs at least one word")
    if np.any(counts < 0):
        raise ValueError("counts must be >= 0")
    if np.any(np.diff(counts) > 0):
        raise ValueError("counts must be sorted most frequent first (as vocab.tsv is)")
    if n == 1:
        z = np.zeros((1, 0), dtype=np.int32)
        return z, z, np.zeros(1, dtype=np.int32)
    big = np.iinfo(np.int64).max // 4
    count = np.concatenate([counts, np.full(n, big, dtype=np.int64)])
    parent = np.zeros(2 * n, dtype=np.int64)
    binary = np.zeros(2 * n, dtype=np.int8)
    pos1, pos2 = n - 1, n
    for a in range(n - 1):
        mins = []
        for _ in range(2):
            if pos1 >= 0 and count[pos1] < count[pos2]:
                mins.append(pos1)
                pos1 -= 1
            else:
                mins.append(pos2)
                pos2 += 1
        count[n + a] = count[mins[0]] + count[mins[1]]
        parent[mins[0]] = parent[mins[1]] = n + a
        binary[mins[1]] = 1
    root = 2 * n - 2
    paths_codes, paths_points = [], []
    for a in range(n):
        codes, points = [], []
        b = a
        while b != root:
            codes.append(int(binary[b]))
            b = int(parent[b])
            points.append(b - n)
        paths_codes.append(codes[::-1])
        paths_points.append(points[::-1])
    longest = max(len(c) for c in paths_codes)
    if longest > MAX_CODE_LENGTH:
        raise ValueError(f"Huffman code of length {longest} exceeds word2vec.c's limit of {MAX_CODE_LENGTH}")
    codes_arr = np.zeros((n, longest), dtype=np.int32)
    points_arr = np.zeros((n, longest), dtype=np.int32)
    lengths = np.zeros(n, dtype=np.int32)
    for a in range(n):
        k = len(paths_codes[a])
        codes_arr[a, :k] = paths_codes[a]
        points_arr[a, :k] = paths_points[a]
        lengths[a] = k
    return codes_arr, points_arr, lengths


# --------------------------------------------------------------------------- the model


def _softplus(x: tf.Tensor) -> tf.Tensor:
    """``log(1 + e^x) = -log s(-x)``."""
    return tf.math.softplus(x)


def _plain_sgd(o) -> bool:
    """Whether optimizer ``o`` is plain SGD (no momentum, decay, clipping, EMA or accumulation):
    the update :meth:`SkipGram.train_step` and the fused kernel apply themselves, row by row."""
    return (
        type(o) is keras.optimizers.SGD and not o.momentum and not o.nesterov and not o.weight_decay
        and o.clipnorm is None and o.global_clipnorm is None and o.clipvalue is None
        and not getattr(o, "use_ema", False) and not getattr(o, "gradient_accumulation_steps", None)
    )


class SkipGram(keras.Model):
    """Skip-gram with negative sampling or hierarchical softmax (see the module docstring).

    ``call({"target", "context"})`` returns the per-pair loss ``[P]`` (pairs
    whose target is padding get 0).  ``fit`` on a dataset of such dicts (with
    ``"words"``, see ``skipgram_data.pairs_dataset``) trains, the learning
    rate following :meth:`configure_schedule`.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        vocab_counts: Sequence[int],
        dim: int = 300,
        loss: str = "negative_sampling",
        negatives: int = 5,
        share_negatives: int = 16,
        row_update_cap: int = 0,
        noise_power: float = 0.75,
        window: int = 5,
        subsample: float = 1e-3,
        min_count: int = 5,
        kernel: str = "auto",
        threads: int = 0,
        seed: int = 0,
        name: str = "skipgram",
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        counts = np.asarray(vocab_counts, dtype=np.int64)
        if vocab_size != len(counts) + FIRST_WORD_ID:
            raise ValueError(
                f"vocab_size={vocab_size} but {len(counts)} vocabulary counts (vocab_size must be "
                f"len(vocab_counts) + {FIRST_WORD_ID}: padding and OOV come first)"
            )
        if np.any(np.diff(counts) > 0):
            raise ValueError("vocab_counts must be sorted most frequent first (as vocab.tsv is)")
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}; valid losses: {', '.join(LOSSES)}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}; valid kernels: {', '.join(KERNELS)}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = one per CPU core), got {threads}")
        if not MIN_DIM <= dim <= MAX_DIM:
            raise ValueError(f"dim must be in [{MIN_DIM}, {MAX_DIM}] (DeViSE: 500 or 1000), got {dim}")
        if negatives < 1:
            raise ValueError(f"negatives must be >= 1, got {negatives}")
        if share_negatives < 1:
            raise ValueError(f"share_negatives must be >= 1 (1 = a draw per pair), got {share_negatives}")
        if row_update_cap < 0:
            raise ValueError(f"row_update_cap must be >= 0 (0 = no cap), got {row_update_cap}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if subsample < 0:
            raise ValueError(f"subsample must be >= 0 (0 = off), got {subsample}")
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        trained = counts >= min_count
        if not trained.any():
            raise ValueError(
                f"no vocabulary word occurs min_count={min_count} times (largest count: "
                f"{int(counts.max()) if len(counts) else 0}): nothing to train"
            )
        self.vocab_size = int(vocab_size)
        self.vocab_counts = [int(c) for c in counts]
        self.dim = int(dim)
        self.loss_name = loss
        self.negatives = int(negatives)
        self.share_negatives = int(share_negatives)
        self.row_update_cap = int(row_update_cap)
        self.noise_power = float(noise_power)
        self.window = int(window)
        self.subsample = float(subsample)
        self.min_count = int(min_count)
        self.seed = int(seed)
        self.kernel = kernel
        self.threads = int(threads)
        self.num_trained = int(trained.sum())  # trained words are a prefix: vocab is sorted by count

        bound = 0.5 / dim
        self.input_vectors = self.add_weight(
            shape=(vocab_size, dim), name="input_vectors",
            initializer=keras.initializers.RandomUniform(-bound, bound, seed=seed),
        )
        if loss == "negative_sampling":
            rows = vocab_size
            noise = np.zeros(vocab_size, dtype=np.float64)
            noise[FIRST_WORD_ID:] = np.where(trained, counts.astype(np.float64) ** noise_power, 0.0)
            self._noise_weights = noise
            cdf = np.cumsum(noise / noise.sum())
            cdf[np.flatnonzero(noise)[-1]:] = 1.0  # no draw can land past the last trained word
            self._noise_cdf = tf.constant(cdf[None, :], dtype=tf.float64)
        else:
            rows = max(self.num_trained - 1, 1)
            codes, points, lengths = huffman_tree(counts[: self.num_trained])
            depth = max(codes.shape[1], 1)
            full = {name: np.zeros((vocab_size, depth), np.int32) for name in ("codes", "points")}
            full_lengths = np.zeros(vocab_size, np.int32)
            end = FIRST_WORD_ID + self.num_trained
            full["codes"][FIRST_WORD_ID:end, : codes.shape[1]] = codes
            full["points"][FIRST_WORD_ID:end, : codes.shape[1]] = points
            full_lengths[FIRST_WORD_ID:end] = lengths
            self._labels = tf.constant(1.0 - full["codes"], tf.float32)  # branch label = 1 - code
            self._points = tf.constant(full["points"], tf.int64)
            self._path_mask = tf.constant(np.arange(depth)[None, :] < full_lengths[:, None], tf.float32)
            self._path_lengths = full_lengths
        self.output_vectors = self.add_weight(shape=(rows, dim), name="output_vectors", initializer="zeros")
        # Words trained so far (all epochs): drives the learning-rate schedule.
        self.words_seen = self.add_weight(
            shape=(), name="words_seen", initializer="zeros", dtype="float64", trainable=False
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.words_tracker = keras.metrics.Sum(name="words")
        self.pairs_tracker = keras.metrics.Sum(name="pairs")
        self._plain_sgd = False
        self._fused = None  # the fused kernel's constant inputs once compile() picks it
        self.configure_schedule()
        # Every variable exists now (no input-dependent shapes): built, so that its weights can be
        # saved before the first step (the training loop's best-epoch checkpoint and epoch backup).
        self.built = True

    # ---------------------------------------------------------------- loss

    def sample_negatives(self, n: tf.Tensor) -> tf.Tensor:
        """``int64 [n, negatives]`` word ids drawn from the noise distribution."""
        u = keras.random.uniform((1, n * self.negatives), dtype="float64", seed=self.seed_generator)
        ids = tf.searchsorted(self._noise_cdf, u, side="right", out_type=tf.int64)
        return tf.reshape(ids, (n, self.negatives))

    def _groups(self, target: tf.Tensor, context: tf.Tensor):
        """Pads the pairs with filler (target 0) to a multiple of ``share_negatives``."""
        g = self.share_negatives
        p = tf.shape(target, out_type=tf.int64)[0]
        pad = (-p) % g
        target = tf.concat([target, tf.zeros([pad], tf.int64)], 0)
        context = tf.concat([context, tf.zeros([pad], tf.int64)], 0)
        return target, context, p, (p + pad) // g

    def _terms(self, target: tf.Tensor, context: tf.Tensor, negatives: tf.Tensor | None):
        """The per-pair loss and what an SGD step needs: ``(loss [P], v [P', d], parts)``.

        ``v`` holds the input vectors (``P'``: pairs padded to whole groups).
        ``parts`` carries the output rows involved, their vectors and
        word2vec.c's factors ``g = (label - s(score)) * mask`` (a row's
        gradient is ``-g v``, ``v``'s is ``-sum g u``): for negative sampling
        ``("ns", context, u, g_context, negatives, u_negatives, v_grouped,
        g_negatives, real_pairs, negatives_mask)``, for hierarchical softmax
        ``("hs", path_rows, u, g, mask)``.
        """
        target = tf.cast(target, tf.int64)
        context = tf.cast(context, tf.int64)
        if self.loss_name == "negative_sampling":
            target, context, p, groups = self._groups(target, context)
            if negatives is None:
                negatives = self.sample_negatives(groups)
            negatives = tf.reshape(tf.cast(negatives, tf.int64), (groups, self.negatives))
            real = tf.cast(target >= FIRST_WORD_ID, tf.float32)
            v = tf.gather(self.input_vectors.value, target)  # [P', d]
            u = tf.gather(self.output_vectors.value, context)  # [P', d]
            un = tf.gather(self.output_vectors.value, negatives)  # [groups, K, d]
            vg = tf.reshape(v, (groups, self.share_negatives, self.dim))
            pos = tf.reduce_sum(v * u, axis=-1)  # [P']
            neg = tf.matmul(vg, un, transpose_b=True)  # [groups, G, K]
            mask = tf.cast(
                negatives[:, None, :] != tf.reshape(context, (groups, self.share_negatives))[:, :, None],
                tf.float32,
            ) * tf.reshape(real, (groups, self.share_negatives, 1))
            loss = real * _softplus(-pos) + tf.reshape(tf.reduce_sum(_softplus(neg) * mask, -1), [-1])
            g_pos = real * (1.0 - tf.sigmoid(pos))
            g_neg = -tf.sigmoid(neg) * mask
            return loss[:p], v, ("ns", context, u, g_pos, negatives, un, vg, g_neg, real, mask)
        rows = tf.gather(self._points, context)  # [P, L]
        labels = tf.gather(self._labels, context)
        mask = tf.gather(self._path_mask, context) * tf.cast(target >= FIRST_WORD_ID, tf.float32)[:, None]
        v = tf.gather(self.input_vectors.value, target)
        u = tf.gather(self.output_vectors.value, rows)  # [P, L, d]
        scores = tf.reduce_sum(u * v[:, None, :], axis=-1)
        loss = tf.reduce_sum(_softplus(-(2.0 * labels - 1.0) * scores) * mask, axis=-1)
        return loss, v, ("hs", rows, u, (labels - tf.sigmoid(scores)) * mask, mask)

    def pair_loss(self, target: tf.Tensor, context: tf.Tensor, negatives: tf.Tensor | None = None) -> tf.Tensor:
        """Per-pair loss ``[P]`` (0 for pairs whose target is padding).

        ``negatives`` (``[ceil(P / share_negatives), negatives]``) fixes the
        negative samples, one row per group of pairs; drawn when ``None``.
        """
        return self._terms(target, context, negatives)[0]

    def initial_loss(self) -> float:
        """An upper bound of the mean pair loss before training (output table at zero: every
        logistic term is ln 2): ``(negatives + 1) ln 2``, or the longest Huffman path ``x ln 2``."""
        terms = self.negatives + 1 if self.loss_name == "negative_sampling" else int(self._labels.shape[1])
        return terms * float(np.log(2.0))

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        return self.pair_loss(inputs["target"], inputs["context"])

    # ---------------------------------------------------------------- training

    def configure_schedule(
        self, *, base: float | None = None, schedule: str = "constant", total_words: float = 1.0,
        lr_min: float = 0.0,
    ) -> None:
        """The learning rate as a function of the words trained so far (``words_seen``):
        ``"linear"`` (word2vec.c: ``base * max(1e-4, 1 - words / total_words)``),
        ``"cosine"`` (from ``base`` to ``lr_min``) or ``"constant"``; ``base=None``
        leaves the optimizer's rate untouched."""
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule={schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
        if total_words <= 0:
            raise ValueError(f"total_words must be positive, got {total_words}")
        self._schedule = (None if base is None else float(base), schedule, float(total_words), float(lr_min))

    def current_learning_rate(self) -> tf.Tensor:
        """The rate for the next step (float32 scalar), from the schedule and ``words_seen``."""
        base, schedule, total, lr_min = self._schedule
        if base is None:
            return tf.cast(self.optimizer.learning_rate, tf.float32)
        progress = tf.minimum(tf.cast(self.words_seen, tf.float32) / total, 1.0)
        if schedule == "linear":
            return base * tf.maximum(MIN_RATE_FRACTION, 1.0 - progress)
        if schedule == "cosine":
            return lr_min + 0.5 * (base - lr_min) * (1.0 + tf.cos(np.pi * progress))
        return tf.constant(base, tf.float32)

    @property
    def metrics(self):
        return [self.loss_tracker, self.words_tracker, self.pairs_tracker]

    def compile(self, optimizer="sgd", **kwargs):
        """Keras ``compile``; notes whether the optimizer is plain SGD (no momentum, decay
        or clipping), whose update :meth:`train_step` then applies itself, row by row, and
        picks the training kernel (:attr:`active_kernel`, :attr:`kernel_note` says why)."""
        super().compile(optimizer=optimizer, **kwargs)
        self._plain_sgd = _plain_sgd(self.optimizer)
        self.active_kernel, self.kernel_note = self.pick_kernel(self.optimizer)

    def pick_kernel(self, optimizer) -> tuple[str, str]:
        """The kernel :meth:`compile` with ``optimizer`` (a Keras optimizer) will train with,
        ``("fused" | "graph", why)``; raises ``ValueError`` for ``kernel="fused"`` when the fused
        kernel cannot train this run.  A task asks before compiling, as the kernel decides what
        a step takes (sentences or pairs)."""
        if self.kernel == "graph":
            return "graph", "model.kernel: graph"
        blocker = None
        if not _plain_sgd(optimizer):
            blocker = "it needs plain SGD (train.optimizer: sgd, train.momentum: 0)"
        elif self.row_update_cap:
            blocker = "row_update_cap applies to the graph kernel's batched step only"
        if blocker is None:
            from tfpipe.ops import skipgram as fused_ops

            try:
                fused_ops.load()
            except fused_ops.KernelUnavailable as e:
                blocker = f"it is not available here: {e}"
        if blocker is None:
            threads = self.threads or os.cpu_count() or 1
            return "fused", f"fused C++ loop (tfpipe/ops/skipgram_sgd.cc), {threads} thread(s)"
        if self.kernel == "fused":
            raise ValueError(f"model.kernel: fused cannot train this run: {blocker}; valid kernels: "
                             f"{', '.join(KERNELS)} (graph: the batched TF step)")
        return "graph", f"batched TF graph step (the fused kernel does not apply: {blocker})"

    @property
    def trains_sentences(self) -> bool:
        """Whether :meth:`fit` takes batches of sentences (``{"word_ids": int [B, L]}``, the fused
        kernel) rather than pairs (after :meth:`compile`)."""
        return getattr(self, "active_kernel", None) == "fused"

    def set_keep_probabilities(self, keep_prob: np.ndarray) -> None:
        """The subsampling table of the fused kernel (``float64 [vocab_size]`` by model word id,
        ``tfpipe.data.skipgram_pairs.keep_probabilities`` of :attr:`vocab_counts`): 0 for words
        never trained, word2vec.c's keep probability otherwise."""
        keep_prob = np.asarray(keep_prob, dtype=np.float64)
        if keep_prob.shape != (self.vocab_size,):
            raise ValueError(f"keep_prob must be [{self.vocab_size}] (one entry per word id), got {keep_prob.shape}")
        if self.loss_name == "negative_sampling":
            from tfpipe.ops import skipgram as fused_ops

            prob, alias = fused_ops.alias_table(self._noise_weights)
            points = np.zeros((self.vocab_size, 1), np.int64)
            labels = np.zeros((self.vocab_size, 1), np.float32)
            lengths = np.zeros(self.vocab_size, np.int32)
        else:
            prob, alias = np.zeros(self.vocab_size), np.zeros(self.vocab_size, np.int64)
            points, labels, lengths = self._points.numpy(), self._labels.numpy(), self._path_lengths
        self._fused = tuple(tf.constant(a) for a in (keep_prob, prob, alias, points, labels, lengths))

    def fused_step(self, word_ids: tf.Tensor, rate: tf.Tensor | float) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Trains a batch of sentences with the fused kernel (word2vec.c's loop: subsampling,
        reduced windows, per-pair SGD at ``rate``); returns ``(words, pairs, summed loss)``."""
        if self._fused is None:
            raise ValueError("the fused kernel needs the subsampling table: call set_keep_probabilities first")
        from tfpipe.ops import skipgram as fused_ops

        keep, prob, alias, points, labels, lengths = self._fused
        step = tf.cast(self.optimizer.iterations, tf.int64)
        seed = tf.constant(self.seed, tf.int64) * 1_000_003 + step
        threads = self.threads or os.cpu_count() or 1
        words, pairs, loss = fused_ops.load().skipgram_sgd(
            self.input_vectors.value.handle, self.output_vectors.value.handle, tf.cast(word_ids, tf.int64),
            keep, prob, alias, points, labels, lengths, tf.cast(rate, tf.float32), seed,
            window=self.window, negatives=self.negatives if self.loss_name == "negative_sampling" else 0,
            threads=threads,
        )
        self.optimizer.iterations.assign_add(1)
        return words, pairs, loss

    def train_step(self, data):
        rate = self.current_learning_rate()
        if self._schedule[0] is not None:
            self.optimizer.learning_rate.assign(rate)
        if "word_ids" in data:
            words, pairs, loss = self.fused_step(data["word_ids"], tf.cast(self.optimizer.learning_rate, tf.float32))
            pairs = tf.cast(pairs, tf.float32)
            self.loss_tracker.update_state(tf.cast(loss, tf.float32) / tf.maximum(pairs, 1.0), sample_weight=pairs)
            self.pairs_tracker.update_state(pairs)
            self.words_tracker.update_state(tf.cast(words, tf.float32))
            self.words_seen.assign_add(tf.cast(words, tf.float64))
            return {**{m.name: m.result() for m in self.metrics}, "learning_rate": rate}
        target = tf.cast(data["target"], tf.int64)
        if self._plain_sgd:
            per_pair = self.sgd_step(target, data["context"], tf.cast(self.optimizer.learning_rate, tf.float32))
        else:
            with tf.GradientTape() as tape:
                per_pair = self.pair_loss(target, data["context"])
                total = tf.reduce_sum(per_pair)
            variables = [self.input_vectors, self.output_vectors]
            self.optimizer.apply(tape.gradient(total, variables), variables)
        real = tf.reduce_sum(tf.cast(target >= FIRST_WORD_ID, tf.float32))
        self.loss_tracker.update_state(tf.reduce_sum(per_pair) / tf.maximum(real, 1.0), sample_weight=real)
        self.pairs_tracker.update_state(real)
        if "words" in data:
            words = tf.reduce_sum(data["words"])
            self.words_tracker.update_state(words)
            self.words_seen.assign_add(tf.cast(words, tf.float64))
        return {**{m.name: m.result() for m in self.metrics}, "learning_rate": rate}

    def sgd_step(self, target: tf.Tensor, context: tf.Tensor, rate: tf.Tensor | float,
                 negatives: tf.Tensor | None = None) -> tf.Tensor:
        """One plain-SGD step on the summed pair losses; returns the per-pair loss before it.

        The gradients are written out as word2vec.c does and added to the
        batch's rows only: the same update as ``keras.optimizers.SGD`` applying
        the autodiff gradient of ``sum(pair_loss)`` (a test checks it), without
        per-op gradient tensors.
        """
        target = tf.cast(target, tf.int64)
        loss, v, parts = self._terms(target, context, negatives)
        rate = tf.cast(rate, tf.float32)
        if parts[0] == "ns":
            _, ctx, u, g_pos, negs, un, vg, g_neg, real, mask = parts
            g_pos, g_neg = g_pos * rate, g_neg * rate
            dv = g_pos[:, None] * u + tf.reshape(tf.matmul(g_neg, un), (-1, self.dim))
            rows = tf.concat([ctx, tf.reshape(negs, [-1])], 0)
            du = tf.concat([
                g_pos[:, None] * v,
                tf.reshape(tf.matmul(g_neg, vg, transpose_a=True), (-1, self.dim)),
            ], 0)
            padded = tf.concat([target, tf.zeros([tf.shape(v)[0] - tf.shape(target)[0]], tf.int64)], 0)
            input_pairs = real
            # a negative's row update sums the pairs of its group that use it
            output_pairs = tf.concat([real, tf.reshape(tf.reduce_sum(mask, axis=1), [-1])], 0)
        else:
            _, path, u, g, mask = parts
            g = g * rate
            dv = tf.reduce_sum(u * g[:, :, None], axis=1)
            rows = tf.reshape(path, [-1])
            du = tf.reshape(g[:, :, None] * v[:, None, :], (-1, self.dim))
            padded = target
            input_pairs = tf.reduce_max(mask, axis=1)
            output_pairs = tf.reshape(mask, [-1])
        if self.row_update_cap:
            dv *= self._cap_scale(padded, input_pairs)[:, None]
            du *= self._cap_scale(rows, output_pairs)[:, None]
        self.input_vectors.value.scatter_add(tf.IndexedSlices(dv, padded))
        self.output_vectors.value.scatter_add(tf.IndexedSlices(du, rows))
        self.optimizer.iterations.assign_add(1)
        return loss

    def _cap_scale(self, rows: tf.Tensor, pairs: tf.Tensor) -> tf.Tensor:
        """Per update entry: ``min(1, row_update_cap / n)``, ``n`` the pairs touching its row."""
        unique, index = tf.unique(rows)
        per_row = tf.math.unsorted_segment_sum(pairs, index, tf.shape(unique)[0])
        scale = tf.minimum(1.0, self.row_update_cap / tf.maximum(per_row, 1.0))
        return tf.gather(scale, index)

    def test_step(self, data):
        target = tf.cast(data["target"], tf.int64)
        per_pair = self.pair_loss(target, data["context"])
        real = tf.reduce_sum(tf.cast(target >= FIRST_WORD_ID, tf.float32))
        self.loss_tracker.update_state(tf.reduce_sum(per_pair) / tf.maximum(real, 1.0), sample_weight=real)
        return {"loss": self.loss_tracker.result()}

    # ---------------------------------------------------------------- results

    def trained_ids(self) -> np.ndarray:
        """Word ids of the trained words (count >= min_count), most frequent first."""
        return np.arange(FIRST_WORD_ID, FIRST_WORD_ID + self.num_trained)

    def word_vectors(self) -> np.ndarray:
        """``float32 [trained words, dim]``: the input vectors of :meth:`trained_ids`."""
        return keras.ops.convert_to_numpy(self.input_vectors)[self.trained_ids()].astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name, "vocab_size": self.vocab_size, "vocab_counts": self.vocab_counts,
            "dim": self.dim, "loss": self.loss_name, "negatives": self.negatives,
            "share_negatives": self.share_negatives, "row_update_cap": self.row_update_cap,
            "noise_power": self.noise_power,
            "window": self.window, "subsample": self.subsample, "min_count": self.min_count,
            "kernel": self.kernel, "threads": self.threads, "seed": self.seed,
        }


@register("skipgram", feature="word_ids")
def skipgram(
    *,
    vocab_size: int,
    vocab_counts: Sequence[int],
    dim: int = 300,
    loss: str = "negative_sampling",
    negatives: int = 5,
    share_negatives: int = 16,
    row_update_cap: int = 0,
    noise_power: float = 0.75,
    window: int = 5,
    subsample: float = 1e-3,
    min_count: int = 5,
    kernel: str = "auto",
    threads: int = 0,
    seed: int = 0,
) -> keras.Model:
    """Skip-gram (Mikolov et al. 2013) over the data directory's vocabulary.

    ``vocab_size`` and ``vocab_counts`` (the vocabulary file's counts, most
    frequent first) come from the data.  ``dim``: vector size (DeViSE: 500
    and 1000; default 300); ``loss``: ``negative_sampling`` or
    ``hierarchical_softmax``; ``negatives`` noise words per pair, drawn once
    per group of ``share_negatives`` pairs (1 = per pair, as word2vec.c) from
    the unigram distribution to the power ``noise_power``; ``row_update_cap``:
    most pairs' worth of update one table row takes in one plain-SGD step (0 =
    no cap; see the module docstring); ``window``,
    ``subsample`` (``t``; 0 = off) and ``min_count`` as word2vec.c;
    ``kernel``: ``fused`` (word2vec.c's per-pair loop as one C++ op,
    :mod:`tfpipe.ops.skipgram`), ``graph`` (the batched TF step; the only one
    that takes other optimizers, ``share_negatives`` and ``row_update_cap``) or
    ``auto`` (fused when it builds here and applies, else graph);
    ``threads``: the fused kernel's Hogwild threads (0 = one per CPU core; 1 is
    deterministic); ``seed`` seeds the initial vectors and the random draws.
    """
    return SkipGram(**locals())
