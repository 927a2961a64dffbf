"""Ranking and softmax losses for joint image/text embeddings, written from their papers.

Every loss is a small pure function of TensorFlow ops: it runs eagerly or inside
``tf.function``, computes in float32 whatever float dtype it is given (float16,
bfloat16, float32, float64 inputs all give a float32 loss), and is differentiable
with respect to its embedding inputs.  Static shapes are checked up front and a
mismatch raises ``ValueError``; integer ids are range-checked (``ValueError`` when
their value is known, a TF assertion inside a traced graph).

============================================  =========================================
function                                      paper, equation
============================================  =========================================
:func:`devise_hinge_rank_loss`                Frome et al. 2013 (DeViSE), eq. 1
:func:`devise_truncated_hinge_rank_loss`      Frome et al. 2013, eq. 1, truncated sum
:func:`sje_loss`                              Reed et al. 2016, eqs. 1-7, authors' code
:func:`sje_max_loss`                          Reed et al. 2016, eqs. 5-7 (max form)
:func:`bidirectional_ranking_loss`            You et al. 2018, eq. 1 (and eq. 5 via mask)
:func:`ranking_active_pairs`                  You et al. 2018, eq. 6
:func:`intermediate_ranking_loss`             You et al. 2018, eq. 5
:func:`cosine_softmax_loss`                   predicted-context paper, eq. 1 (full)
:func:`sampled_cosine_softmax_loss`           predicted-context paper, eq. 1 (sampled)
:func:`class_prototypes`                      predicted-context paper, eq. 2
:func:`in_batch_softmax_loss`                 dual-encoder in-batch softmax (see its doc)
============================================  =========================================

Keras wrappers: :class:`DeViSEHingeRankLoss` and :class:`CosineSoftmaxLoss` are
``keras.losses.Loss`` objects (``y_true`` = integer ids, ``y_pred`` = embeddings);
:class:`StructuredJointEmbeddingLoss`, :class:`BidirectionalRankingLoss` and
:class:`InBatchSoftmaxLoss` are layers over a pair of embedding batches that add
their value with ``add_loss`` and return it.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

TensorLike = Any  # tf.Tensor, np.ndarray, nested Python lists of numbers, ...
SeedLike = Any  # int, or an int tensor / sequence of shape [2]

DEVISE_MARGIN = 0.1
"""Frome et al. 2013, Sec. 3.3: "a fixed margin of 0.1 was used in all experiments"."""

SJE_DELTA = 1.0
"""Reed et al. 2016: Delta is the 0-1 loss, so a wrong class costs 1 (the hinge margin)."""

YOU2018_GLOBAL_MARGIN = 0.5
"""You et al. 2018, Sec. 4.1: the margin alpha of the global loss (eq. 1) is 0.5."""

YOU2018_INTERMEDIATE_MARGIN = 0.0
"""You et al. 2018, Sec. 4.1: the margin gamma of the intermediate loss (eq. 5) is 0."""

PREDICTED_CONTEXT_SCALE = 1.0
"""The predicted-context paper's eq. 1 is ``softmax(-d(w, x))`` with the cosine distance and
no scale or temperature, i.e. a scale of 1 (the paper states no other value)."""

_NEG_LARGE = -1e30  # a logit that softmax treats as absent (exp underflows to exactly 0)

# --------------------------------------------------------------------------- helpers


def _float_tensor(x: TensorLike, name: str, rank: int | None = None) -> tf.Tensor:
    """``x`` as a float32 tensor (floats of any width are cast; integers are refused), with an
    optional rank check."""
    t = tf.convert_to_tensor(x)
    if not t.dtype.is_floating:
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype.name}")
    if t.dtype != tf.float32:
        t = tf.cast(t, tf.float32)
    if rank is not None and t.shape.rank is not None and t.shape.rank != rank:
        want = {1: "[batch]", 2: "[batch, dim]"}.get(rank, f"rank {rank}")
        raise ValueError(f"{name} must be a rank-{rank} {want} tensor, got shape {t.shape}")
    return t


def _id_tensor(x: TensorLike, name: str, rank: int | None = 1) -> tf.Tensor:
    """``x`` as an int64 tensor of the given rank (None: any); floats holding whole numbers
    are accepted (Keras may hand labels over as floats)."""
    t = tf.convert_to_tensor(x)
    if t.dtype.is_floating:
        value = tf.get_static_value(t)
        if value is not None and not np.all(np.asarray(value) == np.round(value)):
            raise ValueError(f"{name} must hold integer ids, got non-integral values")
        t = tf.cast(tf.round(t), tf.int64)
    elif t.dtype.is_integer:
        t = tf.cast(t, tf.int64)
    else:
        raise ValueError(f"{name} must be an integer tensor, got dtype {t.dtype.name}")
    if rank is not None and t.shape.rank is not None and t.shape.rank != rank:
        if rank == 1 and t.shape.rank == 2 and t.shape[-1] == 1:
            t = tf.squeeze(t, axis=-1)  # Keras-style [batch, 1] labels
        else:
            raise ValueError(f"{name} must be a rank-{rank} tensor of ids, got shape {t.shape}")
    return t


def _check_ids_in_range(ids: tf.Tensor, upper: tf.Tensor | int, name: str) -> tf.Tensor:
    """``ids`` unchanged; raises ValueError (static values) or asserts (graph) ``0 <= ids < upper``."""
    value = tf.get_static_value(ids)
    upper_value = tf.get_static_value(upper) if isinstance(upper, tf.Tensor) else upper
    if value is not None and upper_value is not None:
        value = np.asarray(value)
        if value.size and (value.min() < 0 or value.max() >= int(upper_value)):
            raise ValueError(
                f"{name} must lie in [0, {int(upper_value)}), got values in "
                f"[{value.min()}, {value.max()}]"
            )
        return ids
    upper_t = tf.cast(upper, tf.int64)
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(ids, message=f"{name} has negative ids"),
        tf.debugging.assert_less(ids, upper_t, message=f"{name} has ids >= the number of rows"),
    ]):
        return tf.identity(ids)


def _check_dim(a: tf.Tensor, b: tf.Tensor, axis: int, what: str) -> None:
    """ValueError when two static sizes along ``axis`` are known and differ."""
    da, db = a.shape[axis], b.shape[axis]
    if da is not None and db is not None and da != db:
        raise ValueError(f"{what}: {da} != {db} (shapes {a.shape} and {b.shape})")


def _check_scale(scale: float | tf.Tensor) -> tf.Tensor:
    if isinstance(scale, (int, float)):
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive finite number, got {scale}")
    return tf.cast(scale, tf.float32)


def _check_margin(margin: float | tf.Tensor, name: str = "margin") -> tf.Tensor:
    if isinstance(margin, (int, float)) and (not math.isfinite(margin) or margin < 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {margin}")
    return tf.cast(margin, tf.float32)


def _seed_pair(seed: SeedLike) -> tf.Tensor:
    """A stateless-RNG seed: an int ``s`` becomes ``[s, 0]``; a length-2 sequence is kept."""
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], dtype=tf.int64)
    t = tf.convert_to_tensor(seed)
    if not t.dtype.is_integer:
        raise ValueError(f"seed must be an int or an int tensor of shape [2], got dtype {t.dtype.name}")
    if t.shape.rank is not None and t.shape.as_list() != [2]:
        raise ValueError(f"seed must be an int or an int tensor of shape [2], got shape {t.shape}")
    return tf.cast(t, tf.int64)


def _l2_normalize(x: tf.Tensor) -> tf.Tensor:
    """Unit rows (a zero row stays zero: ``tf.math.l2_normalize`` guards with epsilon)."""
    return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


def _similarity(a: tf.Tensor, b: tf.Tensor, similarity: str) -> tf.Tensor:
    """``[A, B]`` matrix ``f(a_i, b_j)``: cosine (rows normalised first) or plain dot product."""
    if similarity == "cosine":
        a, b = _l2_normalize(a), _l2_normalize(b)
    elif similarity != "dot":
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    return tf.matmul(a, b, transpose_b=True)


# --------------------------------------------------------------------------- 1. DeViSE


def _devise_terms(
    image_embeddings: TensorLike, label_embeddings: TensorLike, labels: TensorLike, margin: float | tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """``[B, C]`` hinge terms ``max(0, margin - t_label.Mv + t_j.Mv)`` (0 at ``j = label``) and labels."""
    v = _float_tensor(image_embeddings, "image_embeddings", rank=2)
    t = _float_tensor(label_embeddings, "label_embeddings", rank=2)
    _check_dim(v, t, -1, "image_embeddings and label_embeddings must have the same dim")
    y = _id_tensor(labels, "labels")
    _check_dim(v, y, 0, "image_embeddings and labels must have the same batch size")
    y = _check_ids_in_range(y, tf.shape(t, out_type=tf.int64)[0], "labels")
    m = _check_margin(margin)
    scores = tf.matmul(v, t, transpose_b=True)  # [B, C]: t_j . M v(image)
    true_score = tf.gather(scores, y, axis=1, batch_dims=1)  # [B]
    terms = tf.nn.relu(m - true_score[:, None] + scores)
    is_label = tf.one_hot(y, tf.shape(t)[0], on_value=True, off_value=False, dtype=tf.bool)
    return tf.where(is_label, tf.zeros_like(terms), terms), y


def devise_hinge_rank_loss(
    image_embeddings: TensorLike,
    label_embeddings: TensorLike,
    labels: TensorLike,
    margin: float | tf.Tensor = DEVISE_MARGIN,
) -> tf.Tensor:
    """Per-example DeViSE hinge rank loss, the full sum (Frome et al. 2013, eq. 1).

    ``loss(image, label) = sum_{j != label} max(0, margin - t_label . M v(image) + t_j . M v(image))``

    Args:
      image_embeddings: ``[B, D]`` projected image vectors, already ``M v(image)``.
      label_embeddings: ``[C, D]`` label vectors ``t_j`` (the paper keeps them unit norm;
        nothing is normalised here: eq. 1 is a plain dot product).
      labels: ``[B]`` (or ``[B, 1]``) integer label ids in ``[0, C)``.
      margin: the hinge margin; the paper uses 0.1 in all experiments.

    Returns:
      ``[B]`` float32 losses.  A wrong label scoring exactly ``margin`` below the true one
      contributes 0 (the hinge is closed at 0).
    """
    terms, _ = _devise_terms(image_embeddings, label_embeddings, labels, margin)
    return tf.reduce_sum(terms, axis=1)


def random_label_order(batch_size: int | tf.Tensor, num_classes: int | tf.Tensor, seed: SeedLike) -> tf.Tensor:
    """``[batch_size, num_classes]`` int32: one independent random permutation of the label
    ids per example, from a stateless RNG (the same ``seed`` gives the same orders)."""
    keys = tf.random.stateless_uniform(tf.stack([batch_size, num_classes]), seed=_seed_pair(seed))
    return tf.argsort(keys, axis=1, stable=True)


def devise_truncated_hinge_rank_loss(
    image_embeddings: TensorLike,
    label_embeddings: TensorLike,
    labels: TensorLike,
    margin: float | tf.Tensor = DEVISE_MARGIN,
    order: TensorLike | None = None,
    seed: SeedLike | None = None,
) -> tf.Tensor:
    """Per-example DeViSE loss with the paper's truncated sum (Frome et al. 2013, eq. 1, Sec. 3.3).

    The paper randomises eq. 1 by "truncating the sum after the first margin-violating false
    term was encountered": the wrong labels are visited in a random order and the loss is the
    sum of the terms visited up to and including the first one that violates the margin.
    "Violates" means its hinge term ``margin - t_label.Mv + t_j.Mv`` is strictly positive; every
    term visited before it is therefore 0, so the truncated sum equals that one violating
    term.  A wrong label exactly ``margin`` below the true one does not violate (its term is 0)
    and the scan moves on.  An example with no violating label visited has loss 0.

    Args:
      image_embeddings: ``[B, D]`` projected image vectors ``M v(image)``.
      label_embeddings: ``[C, D]`` label vectors ``t_j``.
      labels: ``[B]`` integer label ids in ``[0, C)``.
      margin: the hinge margin (0.1 in the paper).
      order: the visiting order, ``[B, K]`` (one row per example) or ``[K]`` (shared), of ids
        in ``[0, C)``; typically a permutation of ``range(C)`` (``K = C``), but a shorter list
        caps the number of wrong labels tried.  Entries equal to an example's own label are
        skipped.  Takes precedence over ``seed``.
      seed: when ``order`` is None, an int or ``[2]`` int seed for :func:`random_label_order`
        (deterministic).  With neither, a fresh random order is drawn on every call.

    Returns:
      ``[B]`` float32 losses; gradients flow through the selected term.
    """
    terms, _ = _devise_terms(image_embeddings, label_embeddings, labels, margin)
    batch = tf.shape(terms)[0]
    num_classes = tf.shape(terms)[1]
    if order is not None:
        o = tf.convert_to_tensor(order)
        if not o.dtype.is_integer:
            raise ValueError(f"order must be an integer tensor of label ids, got dtype {o.dtype.name}")
        if o.shape.rank not in (None, 1, 2):
            raise ValueError(f"order must have shape [K] or [B, K], got {o.shape}")
        o = tf.cast(o, tf.int64)
        if o.shape.rank == 1:
            o = tf.tile(o[None, :], tf.stack([batch, 1]))
        else:
            _check_dim(o, terms, 0, "order and image_embeddings must have the same batch size")
        o = _check_ids_in_range(o, tf.cast(num_classes, tf.int64), "order")
    elif seed is not None:
        o = random_label_order(batch, num_classes, seed)
    else:
        o = tf.argsort(tf.random.uniform(tf.stack([batch, num_classes])), axis=1)
    visited = tf.gather(terms, o, axis=1, batch_dims=1)  # [B, K], label entries are 0
    violates = visited > 0.0
    first = tf.argmax(tf.cast(violates, tf.int32), axis=1, output_type=tf.int32)  # 0 if none
    chosen = tf.gather(visited, first, axis=1, batch_dims=1)
    return tf.where(tf.reduce_any(violates, axis=1), chosen, tf.zeros_like(chosen))


# --------------------------------------------------------------------------- 2. SJE


def _sje_scores(image_embeddings: TensorLike, text_embeddings: TensorLike) -> tf.Tensor:
    v = _float_tensor(image_embeddings, "image_embeddings", rank=2)
    t = _float_tensor(text_embeddings, "text_embeddings", rank=2)
    _check_dim(v, t, 0, "image_embeddings and text_embeddings must have the same batch size")
    _check_dim(v, t, 1, "image_embeddings and text_embeddings must have the same dim")
    return tf.matmul(v, t, transpose_b=True)  # S[i, j] = F(v_i, t_j) = theta(v_i)^T phi(t_j), eq. 2


def sje_loss(image_embeddings: TensorLike, text_embeddings: TensorLike, symmetric: bool = True) -> tf.Tensor:
    """Structured joint embedding loss in the form of the authors' code (Reed et al. 2016).

    Reed et al. replace the 0-1 risk of eq. 1 by hinge surrogates (eqs. 5-7) of the image
    classifier ``f_v`` (eq. 3: classify an image by the texts) and the text classifier ``f_t``
    (eq. 4: classify a text by the images), with compatibility ``F(v, t) = theta(v)^T phi(t)``
    (eq. 2).  Their training code (``JointEmbeddingLoss`` in ``train_sje_hybrid.lua`` of
    reedscot/cvpr2016) draws a minibatch of B *distinct* classes, one image and one text
    each, so pair ``(i, i)`` is the match, and per direction sums the hinge over every wrong
    class instead of taking eq. 5's max, divided by ``B * B``:

      image direction (eq. 5 / ``f_v``): ``sum_i sum_{j != i} max(0, 1 + S_ij - S_ii) / B^2``
      text direction  (eq. 6 / ``f_t``): ``sum_i sum_{j != i} max(0, 1 + S_ji - S_ii) / B^2``

    with ``S = V T^T``.  DS-SJE (symmetric) is the sum of both directions; DA-SJE
    (asymmetric) keeps only "the first term" of eq. 1, the image direction: it trains the
    embeddings to classify images by their text (the ``-symmetric 0`` setting of that code).

    Args:
      image_embeddings: ``[B, D]`` ``theta(v_i)``, one image per class.
      text_embeddings: ``[B, D]`` ``phi(t_i)``, row i describing the class of image i; all B
        classes must differ (a repeated class would count its own text as wrong).
      symmetric: True for DS-SJE, False for DA-SJE.

    Returns:
      A float32 scalar.  The margin is 1 (``Delta`` is the 0-1 loss).
    """
    s = _sje_scores(image_embeddings, text_embeddings)
    diag = tf.linalg.diag_part(s)
    off_diagonal = 1.0 - tf.eye(tf.shape(s)[0], dtype=s.dtype)
    b = tf.cast(tf.shape(s)[0], tf.float32)
    image_dir = tf.reduce_sum(tf.nn.relu(SJE_DELTA + s - diag[:, None]) * off_diagonal) / (b * b)
    if not symmetric:
        return image_dir
    text_dir = tf.reduce_sum(tf.nn.relu(SJE_DELTA + s - diag[None, :]) * off_diagonal) / (b * b)
    return image_dir + text_dir


def sje_max_loss(
    image_embeddings: TensorLike,
    text_embeddings: TensorLike,
    labels: TensorLike | None = None,
    symmetric: bool = True,
) -> tf.Tensor:
    """Structured joint embedding loss in the paper's max form (Reed et al. 2016, eqs. 5-7).

      (5) ``l_v(n) = max_y [0, Delta(y_n, y) + E_{t~T(y)} F(v_n, t) - F(v_n, t_n)]``
      (6) ``l_t(n) = max_y [0, Delta(y_n, y) + E_{v~V(y)} F(v, t_n) - F(v_n, t_n)]``
      (7) ``(1/N) sum_n l_v(n) + l_t(n)``  (DS-SJE; DA-SJE keeps only ``l_v``)

    ``Delta`` is the 0-1 loss, so a wrong class adds 1 and the true class adds 0: the max
    runs over the wrong classes present in the batch and is floored at 0 (the true class's
    term is the floor).  ``F`` is linear in each argument (eq. 2), so the expectations are
    estimated by the mean score over the batch's texts (eq. 5) or images (eq. 6) of class y.
    ``l_v`` is the image side (eq. 3, classify an image among class texts); ``l_t`` the text
    side (eq. 4).  (The project's excerpt of the paper, ``zhang2015-char-cnn-and-reed2016-
    fine-grained-descriptions.txt``, carries eqs. 1-4 and 8 only; eqs. 5-7 are the published
    paper's.)

    Args:
      image_embeddings: ``[B, D]`` ``theta(v_n)``.
      text_embeddings: ``[B, D]`` ``phi(t_n)``, paired with image n.
      labels: optional ``[B]`` class ids ``y_n``; None means every row is its own class (the
        authors' batches of distinct classes).  A row with no other class in the batch has
        loss 0.
      symmetric: True for DS-SJE (``l_v + l_t``), False for DA-SJE (``l_v``).

    Returns:
      A float32 scalar: the batch mean of eq. 7's summand.
    """
    s = _sje_scores(image_embeddings, text_embeddings)  # [B, B]
    n = tf.shape(s)[0]
    if labels is None:
        same = tf.eye(n, dtype=tf.bool)
    else:
        y = _id_tensor(labels, "labels")
        _check_dim(s, y, 0, "image_embeddings and labels must have the same batch size")
        same = tf.equal(y[:, None], y[None, :])
    same_f = tf.cast(same, tf.float32)
    counts = tf.reduce_sum(same_f, axis=0)  # [B]: batch rows of the class of column j
    true_score = tf.linalg.diag_part(s)  # F(v_n, t_n)
    # class_of_text[n, j] = mean over texts k of class y_j of F(v_n, t_k); class_of_image likewise.
    class_of_text = tf.matmul(s, same_f) / counts[None, :]
    class_of_image = tf.matmul(s, same_f, transpose_a=True) / counts[None, :]

    def side(expected: tf.Tensor) -> tf.Tensor:
        excess = SJE_DELTA + expected - true_score[:, None]
        excess = tf.where(same, tf.fill(tf.shape(excess), tf.float32.min), excess)
        return tf.nn.relu(tf.reduce_max(excess, axis=1))

    loss = side(class_of_text)
    if symmetric:
        loss = loss + side(class_of_image)
    return tf.reduce_mean(loss)


# --------------------------------------------------------------------------- 3. You et al. 2018

Directions = Literal["both", "contrastive_sentences", "contrastive_images"]
Negatives = Literal["sum", "hardest"]
NEGATIVES = ("sum", "hardest")


def _ranking_terms(
    images: TensorLike,
    sentences: TensorLike,
    margin: float | tf.Tensor,
    similarity: str,
) -> tuple[tf.Tensor, tf.Tensor]:
    """``[B, B]`` hinge terms, both indexed ``[anchor i, contrastive j]`` (diagonal zeroed):
    ``rows[i, j] = [a - f(v_i, s_i) + f(v_i, s_j)]_+`` and ``cols[i, j] = [a - f(v_i, s_i) + f(v_j, s_i)]_+``."""
    v = _float_tensor(images, "images", rank=2)
    s = _float_tensor(sentences, "sentences", rank=2)
    _check_dim(v, s, 0, "images and sentences must have the same batch size")
    _check_dim(v, s, 1, "images and sentences must have the same dim")
    a = _check_margin(margin)
    sim = _similarity(v, s, similarity)  # sim[i, j] = f(v_i, s_j)
    diag = tf.linalg.diag_part(sim)
    off = 1.0 - tf.eye(tf.shape(sim)[0], dtype=tf.float32)
    rows = tf.nn.relu(a - diag[:, None] + sim) * off
    cols = tf.nn.relu(a - diag[:, None] + tf.transpose(sim)) * off
    return rows, cols


def _pair_mask(mask: TensorLike, like: tf.Tensor) -> tf.Tensor:
    m = _float_tensor(mask, "mask")
    if m.shape.rank == 1:
        _check_dim(m, like, 0, "a [B] mask must match the batch size")
        return m[:, None]
    if m.shape.rank == 2:
        if m.shape.is_fully_defined() and like.shape.is_fully_defined() and m.shape != like.shape:
            raise ValueError(f"mask must have shape [B, B] = {like.shape} (or [B]), got {m.shape}")
        return m
    raise ValueError(f"mask must have shape [B, B] or [B], got {m.shape}")


def bidirectional_ranking_loss(
    images: TensorLike,
    sentences: TensorLike,
    margin: float | tf.Tensor = YOU2018_GLOBAL_MARGIN,
    mask: TensorLike | None = None,
    similarity: Literal["cosine", "dot"] = "cosine",
    directions: Directions = "both",
    negatives: Negatives = "sum",
) -> tf.Tensor:
    """Bidirectional hinge ranking loss over a batch of matched pairs (You et al. 2018, eq. 1).

      ``sum_i sum_{j != i} [a - f(v_i, s_i) + f(v_i, s_j)]_+``   (contrastive sentences)
      ``+ sum_i sum_{j != i} [a - f(v_i, s_i) + f(v_j, s_i)]_+``  (contrastive images)

    Pair ``(v_i, s_i)`` is matched and every other row of the batch is a contrastive example
    (the paper computes the loss "within each mini-batch").  Eq. 1 as printed omits the
    ``[.]_+``; the text calls it a hinge ranking loss that penalises only pairs closer than the
    margin, following Kiros et al. [19], so the hinge is applied.  ``f`` is the cosine
    similarity ("the same settings as [19]"); ``similarity="dot"`` takes plain dot products
    (equal to cosine for unit-norm inputs).  The loss is a **sum** over the batch, as in the
    paper, not a mean.

    Args:
      images: ``[B, D]`` global image features ``v_i``.
      sentences: ``[B, D]`` global sentence features ``s_i``.
      margin: ``alpha``; 0.5 in the paper for eq. 1 (``gamma = 0`` for eq. 5).
      mask: optional weights, ``[B, B]`` or ``[B]``: ``mask[i, j]`` multiplies the two terms
        with anchor pair i and contrastive index j (image i vs sentence j, and sentence i vs
        image j); a ``[B]`` mask weights every term of anchor i (eq. 5's ``I(i)``, see
        :func:`ranking_active_pairs`).  The diagonal never counts.
      similarity: ``"cosine"`` (the paper) or ``"dot"``.
      directions: ``"both"`` (eq. 1), or only the ``"contrastive_sentences"`` (first) or
        ``"contrastive_images"`` (second) sum.
      negatives: ``"sum"`` (eq. 1: every contrastive example of the batch) or ``"hardest"``
        (VSE++, Faghri et al. 2018: per anchor only the largest term of each direction,
        ``sum_i max_j [.]_+``).

    Returns:
      A float32 scalar.
    """
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {list(NEGATIVES)}, got {negatives!r}")
    if directions not in ("both", "contrastive_sentences", "contrastive_images"):
        raise ValueError(
            "directions must be 'both', 'contrastive_sentences' or 'contrastive_images', "
            f"got {directions!r}"
        )
    rows, cols = _ranking_terms(images, sentences, margin, similarity)
    if mask is not None:
        m = _pair_mask(mask, rows)
        rows, cols = rows * m, cols * m
    reduce = tf.reduce_sum if negatives == "sum" else tf.reduce_max
    total = tf.constant(0.0, tf.float32)
    if directions in ("both", "contrastive_sentences"):
        total += tf.reduce_sum(reduce(rows, axis=1))
    if directions in ("both", "contrastive_images"):
        total += tf.reduce_sum(reduce(cols, axis=1))
    return total


def ranking_active_pairs(
    images: TensorLike,
    sentences: TensorLike,
    margin: float | tf.Tensor = YOU2018_GLOBAL_MARGIN,
    similarity: Literal["cosine", "dot"] = "cosine",
) -> tf.Tensor:
    """``I(i)`` of You et al. 2018, eq. 6: ``[B]`` float32, 1 where the global loss (eq. 1) of
    pair i, its contrastive-sentence and contrastive-image terms together, is positive, else 0.
    No gradient flows through it (it is an indicator)."""
    rows, cols = _ranking_terms(images, sentences, margin, similarity)
    per_pair = tf.reduce_sum(rows, axis=1) + tf.reduce_sum(cols, axis=1)
    return tf.stop_gradient(tf.cast(per_pair > 0.0, tf.float32))


def intermediate_ranking_loss(
    context_images: TensorLike,
    sentences: TensorLike,
    images: TensorLike,
    context_sentences: TensorLike,
    active: TensorLike,
    margin: float | tf.Tensor = YOU2018_INTERMEDIATE_MARGIN,
    similarity: Literal["cosine", "dot"] = "cosine",
    negatives: Negatives = "sum",
) -> tf.Tensor:
    """The intermediate (local) loss of You et al. 2018, eq. 5:

      ``sum_i I(i) sum_{j != i} [g - f(c_vi, s_i) + f(c_vi, s_j)]_+``
      ``+ sum_i I(i) sum_{j != i} [g - f(v_i, c_si) + f(v_j, c_si)]_+``

    i.e. the contrastive-sentence sum of eq. 1 on ``(c_v, s)`` plus its contrastive-image sum
    on ``(v, c_s)``, each masked per anchor by ``I(i)`` (eq. 6, :func:`ranking_active_pairs` of
    the global features).  ``gamma`` is 0 in the paper; the hinge is applied as in eq. 1.

    Args:
      context_images: ``[B, D]`` visual context vectors ``c_v`` (eq. 4).
      sentences: ``[B, D]`` global sentence features ``s``.
      images: ``[B, D]`` global image features ``v``.
      context_sentences: ``[B, D]`` textual context vectors ``c_s``.
      active: ``[B]`` the indicator ``I(i)``.
      margin: ``gamma``.
      similarity: ``"cosine"`` (the paper) or ``"dot"``.
      negatives: ``"sum"`` (eq. 5) or ``"hardest"`` (the largest term per anchor, as in
        :func:`bidirectional_ranking_loss`).

    Returns:
      A float32 scalar (a sum, like eq. 1).
    """
    first = bidirectional_ranking_loss(
        context_images, sentences, margin, mask=active, similarity=similarity,
        directions="contrastive_sentences", negatives=negatives,
    )
    second = bidirectional_ranking_loss(
        images, context_sentences, margin, mask=active, similarity=similarity,
        directions="contrastive_images", negatives=negatives,
    )
    return first + second


# --------------------------------------------------------------------------- 4. cosine softmax


def _cosine_inputs(
    predictions: TensorLike, targets: TensorLike, table: TensorLike
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    x = _float_tensor(predictions, "predictions", rank=2)
    w = _float_tensor(table, "table", rank=2)
    _check_dim(x, w, 1, "predictions and table must have the same dim")
    y = _id_tensor(targets, "targets")
    _check_dim(x, y, 0, "predictions and targets must have the same batch size")
    y = _check_ids_in_range(y, tf.shape(w, out_type=tf.int64)[0], "targets")
    return _l2_normalize(x), w, y


def cosine_softmax_loss(
    predictions: TensorLike,
    targets: TensorLike,
    table: TensorLike,
    scale: float | tf.Tensor = PREDICTED_CONTEXT_SCALE,
) -> tf.Tensor:
    """Per-example cross-entropy of the full softmax over cosine distances (predicted-context
    paper, eq. 1): ``p_c = exp(-d(w_c, x)) / sum_i exp(-d(w_i, x))`` with the cosine distance
    ``d = 1 - cos``, scaled: logits ``-scale * d(w_i, x)``.  The constant ``-scale`` is the same
    for every class and cancels in the softmax, so the logits used are ``scale * cos(x, w_i)``.
    ``scale = 1`` is eq. 1 exactly (the paper gives no scale); larger values sharpen it.

    Args:
      predictions: ``[B, D]`` predicted embeddings ``x`` (the paper's 64-d bottleneck).
      targets: ``[B]`` integer ids in ``[0, N)``.
      table: ``[N, D]`` class / query embeddings ``w_i`` (or prototypes, eq. 2).
      scale: positive multiplier of the cosine logits.

    Returns:
      ``[B]`` float32 ``-log p_target``.
    """
    x, w, y = _cosine_inputs(predictions, targets, table)
    s = _check_scale(scale)
    logits = s * tf.matmul(x, _l2_normalize(w), transpose_b=True)  # [B, N]
    true_logit = tf.gather(logits, y, axis=1, batch_dims=1)
    return tf.reduce_logsumexp(logits, axis=1) - true_logit


def sampled_cosine_softmax_loss(
    predictions: TensorLike,
    targets: TensorLike,
    table: TensorLike,
    sampled_ids: TensorLike,
    scale: float | tf.Tensor = PREDICTED_CONTEXT_SCALE,
    remove_accidental_hits: bool = True,
    true_log_q: TensorLike | None = None,
    sampled_log_q: TensorLike | None = None,
) -> tf.Tensor:
    """Per-example sampled-softmax cross-entropy over cosine distances (predicted-context paper,
    eq. 1, trained with the sampled softmax of Jean et al. [17] because of its 40 million
    queries): the softmax of eq. 1 restricted to the true target plus a shared set of sampled
    negatives, logits ``scale * cos(x, w_k)`` as in :func:`cosine_softmax_loss`.

    Args:
      predictions: ``[B, D]`` predicted embeddings.
      targets: ``[B]`` true ids in ``[0, N)``.
      table: ``[N, D]`` class / query embeddings.
      sampled_ids: ``[S]`` negative ids in ``[0, N)`` shared by the batch (e.g. from
        :func:`sample_candidates`).
      scale: positive multiplier of the cosine logits (1 in eq. 1).
      remove_accidental_hits: drop a sampled id that equals the row's own target (its logit
        becomes ``-1e30``), so the target is never counted as its own negative.  With this on
        and every id sampled once, the loss equals :func:`cosine_softmax_loss`.
      true_log_q / sampled_log_q: optional ``[B]`` / ``[S]`` log sampling probabilities (from
        :func:`candidate_log_probs`); when given they are subtracted from the logits (the
        importance-sampling correction of Jean et al.; exact for sampling with replacement).
        A constant ``log q`` (uniform sampling) cancels.  Give both or neither.

    Returns:
      ``[B]`` float32 losses.
    """
    x, w, y = _cosine_inputs(predictions, targets, table)
    ids = _id_tensor(sampled_ids, "sampled_ids")
    ids = _check_ids_in_range(ids, tf.shape(w, out_type=tf.int64)[0], "sampled_ids")
    s = _check_scale(scale)
    if (true_log_q is None) != (sampled_log_q is None):
        raise ValueError("give both true_log_q and sampled_log_q, or neither")
    true_w = _l2_normalize(tf.gather(w, y))  # [B, D]
    neg_w = _l2_normalize(tf.gather(w, ids))  # [S, D]
    true_logit = s * tf.reduce_sum(x * true_w, axis=1)  # [B]
    neg_logits = s * tf.matmul(x, neg_w, transpose_b=True)  # [B, S]
    if true_log_q is not None:
        tq = _float_tensor(true_log_q, "true_log_q", rank=1)
        sq = _float_tensor(sampled_log_q, "sampled_log_q", rank=1)
        _check_dim(tq, x, 0, "true_log_q must have one entry per example")
        _check_dim(sq, ids, 0, "sampled_log_q must have one entry per sampled id")
        true_logit -= tq
        neg_logits -= sq[None, :]
    if remove_accidental_hits:
        hits = tf.equal(y[:, None], ids[None, :])
        neg_logits = tf.where(hits, tf.fill(tf.shape(neg_logits), _NEG_LARGE), neg_logits)
    all_logits = tf.concat([true_logit[:, None], neg_logits], axis=1)
    return tf.reduce_logsumexp(all_logits, axis=1) - true_logit


Distribution = Literal["uniform", "log_uniform"]


def sample_candidates(
    num_sampled: int,
    num_classes: int,
    distribution: Distribution = "uniform",
    seed: SeedLike = 0,
    unique: bool = True,
) -> tf.Tensor:
    """``[num_sampled]`` int64 negative ids in ``[0, num_classes)`` from a stateless RNG (the same
    ``seed`` gives the same ids).

    ``"uniform"``: every id equally likely.  ``"log_uniform"`` (Zipfian, for ids sorted by
    decreasing frequency): ``q(k) = log((k + 2) / (k + 1)) / log(num_classes + 1)``, the
    distribution of TF's log-uniform candidate sampler.  ``unique=True`` samples without
    replacement (uniform: a random permutation's prefix; log-uniform: Gumbel top-k, which
    draws successively without replacement; both cost O(num_classes) per call),
    ``unique=False`` with replacement (O(num_sampled)).
    """
    if distribution not in ("uniform", "log_uniform"):
        raise ValueError(f"distribution must be 'uniform' or 'log_uniform', got {distribution!r}")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if int(num_sampled) < 0:
        raise ValueError(f"num_sampled must be non-negative, got {num_sampled}")
    if unique and int(num_sampled) > int(num_classes):
        raise ValueError(f"cannot sample {num_sampled} unique ids from {num_classes} classes")
    seed_t = _seed_pair(seed)
    n, k = int(num_classes), int(num_sampled)
    if not unique:
        if distribution == "uniform":
            return tf.random.stateless_uniform([k], seed=seed_t, minval=0, maxval=n, dtype=tf.int64)
        u = tf.random.stateless_uniform([k], seed=seed_t, dtype=tf.float64)
        ids = tf.cast(tf.floor(tf.exp(u * math.log(n + 1.0))), tf.int64) - 1  # inverse CDF
        return tf.clip_by_value(ids, 0, n - 1)
    if distribution == "uniform":
        keys = tf.random.stateless_uniform([n], seed=seed_t)
    else:
        u = tf.random.stateless_uniform([n], seed=seed_t, minval=1e-20, maxval=1.0, dtype=tf.float64)
        gumbel = -tf.math.log(-tf.math.log(u))
        keys = tf.cast(candidate_log_probs(tf.range(n, dtype=tf.int64), n, "log_uniform"), tf.float64) + gumbel
    return tf.cast(tf.math.top_k(keys, k=k, sorted=True).indices, tf.int64)


def candidate_log_probs(ids: TensorLike, num_classes: int, distribution: Distribution = "uniform") -> tf.Tensor:
    """float32 ``log q(ids)`` of one draw of :func:`sample_candidates`'s distribution (for the
    ``true_log_q`` / ``sampled_log_q`` correction of :func:`sampled_cosine_softmax_loss`)."""
    i = _id_tensor(ids, "ids", rank=None)
    n = int(num_classes)
    if distribution == "uniform":
        return tf.fill(tf.shape(i), tf.constant(-math.log(n), tf.float32))
    if distribution != "log_uniform":
        raise ValueError(f"distribution must be 'uniform' or 'log_uniform', got {distribution!r}")
    k = tf.cast(i, tf.float64)
    log_q = tf.math.log(tf.math.log1p(1.0 / (k + 1.0))) - math.log(math.log(n + 1.0))
    return tf.cast(log_q, tf.float32)


def class_prototypes(embeddings: TensorLike, ids: TensorLike, num_classes: int | tf.Tensor) -> tf.Tensor:
    """``[num_classes, D]`` prototypes ``phi_c = (1 / |S_c|) sum_{i in S_c} x_i`` (predicted-context
    paper, eq. 2, after prototypical networks): the mean embedding of the images of each
    query; a class with no image gets a zero row.  Usable as the ``table`` of eq. 1."""
    x = _float_tensor(embeddings, "embeddings", rank=2)
    y = _id_tensor(ids, "ids")
    _check_dim(x, y, 0, "embeddings and ids must have the same batch size")
    y = _check_ids_in_range(y, tf.cast(num_classes, tf.int64), "ids")
    return tf.math.unsorted_segment_mean(x, y, num_segments=num_classes)


# --------------------------------------------------------------------------- 5. in-batch softmax


def in_batch_softmax_loss(
    queries: TensorLike,
    candidates: TensorLike,
    scale: float | tf.Tensor = 1.0,
    normalize: bool = True,
    symmetric: bool = False,
) -> tf.Tensor:
    """In-batch softmax cross-entropy for a dual encoder: ``logits = scale * q c^T`` (``[B, B]``,
    rows and columns L2-normalised first when ``normalize``), and row i's target is column i,
    so every other candidate of the batch is a negative.

    No paper in this project defines this loss; it is the predicted-context paper's eq. 1
    (softmax over ``scale * cos``) with the batch's own candidates as the candidate set in
    place of sampled ones.  The default ``scale = 1`` (plain cosine logits) is that eq. 1
    setting, not a tuned value.

    Args:
      queries: ``[B, D]``.
      candidates: ``[B, D]``, row i the positive of query i.
      scale: positive multiplier of the logits.
      normalize: cosine (True) or raw dot-product (False) logits.
      symmetric: also classify each candidate among the queries (columns) and return the
        average of the two directions' means (so both settings are on the same scale).

    Returns:
      A float32 scalar, the mean over the batch.
    """
    q = _float_tensor(queries, "queries", rank=2)
    c = _float_tensor(candidates, "candidates", rank=2)
    _check_dim(q, c, 0, "queries and candidates must have the same batch size")
    _check_dim(q, c, 1, "queries and candidates must have the same dim")
    s = _check_scale(scale)
    logits = s * _similarity(q, c, "cosine" if normalize else "dot")
    diag = tf.linalg.diag_part(logits)
    rows = tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - diag)
    if not symmetric:
        return rows
    cols = tf.reduce_mean(tf.reduce_logsumexp(logits, axis=0) - diag)
    return 0.5 * (rows + cols)


# --------------------------------------------------------------------------- Keras wrappers


def _reduce(losses: tf.Tensor, sample_weight: TensorLike | None, reduction: str | None) -> tf.Tensor:
    """Keras's reductions for a ``[B]`` loss vector (with an optional ``[B]`` sample weight)."""
    if sample_weight is not None:
        w = tf.reshape(_float_tensor(sample_weight, "sample_weight"), [-1])
        losses = losses * w
    if reduction in (None, "none"):
        return losses
    total = tf.reduce_sum(losses)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return tf.math.divide_no_nan(total, tf.reduce_sum(w))
    return tf.math.divide_no_nan(total, tf.cast(tf.size(losses), tf.float32))


class _IdTargetLoss(keras.losses.Loss):
    """A Loss whose ``y_true`` are integer ids: Keras's base ``__call__`` would cast them to
    float32 (exact only below 2**24), so ids pass through uncast and are reduced here."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        with tf.name_scope(self.name):
            return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)


def _table_config(table: tf.Tensor) -> list:
    return np.asarray(table).tolist()


@keras.saving.register_keras_serializable(package="tfpipe")
class DeViSEHingeRankLoss(_IdTargetLoss):
    """``keras.losses.Loss`` for the DeViSE hinge rank loss (Frome et al. 2013, eq. 1).

    ``y_true``: ``[B]`` label ids; ``y_pred``: ``[B, D]`` projected image vectors ``M v``.  The
    label table is fixed (the paper holds the text vectors fixed; its config stores it as a
    list, so keep it to label-set sizes).  ``truncated=True`` uses the paper's truncated sum
    with a fresh random order per call drawn from a ``keras.random.SeedGenerator(seed)``, or,
    after :meth:`attach` ``(optimizer.iterations)``, from ``(seed, step)``: the same orders at
    the same step, so a resumed run draws what an uninterrupted one does.  A model that
    outputs the scores ``t_j . M v`` themselves takes the identity as ``label_embeddings``
    (``s . e_j = s_j``: the same terms and gradients).
    """

    def __init__(
        self,
        label_embeddings: TensorLike,
        margin: float = DEVISE_MARGIN,
        truncated: bool = False,
        seed: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "devise_hinge_rank_loss",
        dtype: Any = None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_embeddings = tf.constant(_float_tensor(label_embeddings, "label_embeddings", rank=2))
        _check_margin(margin)
        self.margin = float(margin)
        self.truncated = bool(truncated)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed) if truncated else None
        self._step = None

    def attach(self, step_variable) -> None:
        """Draws the truncated sum's orders from ``(seed, step_variable)`` from now on."""
        self._step = step_variable

    def call(self, y_true, y_pred):
        if not self.truncated:
            return devise_hinge_rank_loss(y_pred, self.label_embeddings, y_true, self.margin)
        if self._step is not None:
            seed = tf.stack([tf.constant(self.seed or 0, tf.int64), tf.cast(self._step, tf.int64)])
        else:
            seed = self._seed_generator.next()
        return devise_truncated_hinge_rank_loss(
            y_pred, self.label_embeddings, y_true, self.margin, seed=seed
        )

    def get_config(self):
        return {
            **super().get_config(),
            "label_embeddings": _table_config(self.label_embeddings),
            "margin": self.margin,
            "truncated": self.truncated,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="tfpipe")
class CosineSoftmaxLoss(_IdTargetLoss):
    """``keras.losses.Loss`` for the cosine softmax of the predicted-context paper (eq. 1).

    ``y_true``: ``[B]`` target ids; ``y_pred``: ``[B, D]`` predicted embeddings; the ``[N, D]``
    table is fixed (e.g. prototypes, eq. 2; a learned table belongs in a layer calling
    :func:`sampled_cosine_softmax_loss`).  ``num_sampled=None`` is the full softmax; an int draws
    that many negatives per call (:func:`sample_candidates`, from a
    ``keras.random.SeedGenerator(seed)``), optionally with the ``log q`` correction.
    """

    def __init__(
        self,
        table: TensorLike,
        scale: float = PREDICTED_CONTEXT_SCALE,
        num_sampled: int | None = None,
        distribution: Distribution = "uniform",
        unique: bool = True,
        subtract_log_q: bool = False,
        remove_accidental_hits: bool = True,
        seed: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_softmax_loss",
        dtype: Any = None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.table = tf.constant(_float_tensor(table, "table", rank=2))
        _check_scale(scale)
        self.scale = float(scale)
        num_classes = int(self.table.shape[0])
        if num_sampled is not None:
            if int(num_sampled) < 1:
                raise ValueError(f"num_sampled must be a positive int or None, got {num_sampled}")
            if unique and int(num_sampled) > num_classes:
                raise ValueError(f"cannot sample {num_sampled} unique ids from {num_classes} classes")
        if distribution not in ("uniform", "log_uniform"):
            raise ValueError(f"distribution must be 'uniform' or 'log_uniform', got {distribution!r}")
        self.num_sampled = None if num_sampled is None else int(num_sampled)
        self.distribution = distribution
        self.unique = bool(unique)
        self.subtract_log_q = bool(subtract_log_q)
        self.remove_accidental_hits = bool(remove_accidental_hits)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed) if num_sampled is not None else None

    def call(self, y_true, y_pred):
        if self.num_sampled is None:
            return cosine_softmax_loss(y_pred, y_true, self.table, self.scale)
        n = int(self.table.shape[0])
        ids = sample_candidates(self.num_sampled, n, self.distribution, self._seed_generator.next(), self.unique)
        log_q = {}
        if self.subtract_log_q:
            log_q = {
                "true_log_q": candidate_log_probs(_id_tensor(y_true, "y_true"), n, self.distribution),
                "sampled_log_q": candidate_log_probs(ids, n, self.distribution),
            }
        return sampled_cosine_softmax_loss(
            y_pred, y_true, self.table, ids, self.scale, self.remove_accidental_hits, **log_q
        )

    def get_config(self):
        return {
            **super().get_config(),
            "table": _table_config(self.table),
            "scale": self.scale,
            "num_sampled": self.num_sampled,
            "distribution": self.distribution,
            "unique": self.unique,
            "subtract_log_q": self.subtract_log_q,
            "remove_accidental_hits": self.remove_accidental_hits,
            "seed": self.seed,
        }


class _PairLossLayer(keras.layers.Layer):
    """A layer over ``[a, b]`` (two ``[B, D]`` batches) that adds a scalar loss and returns it."""

    def _pair(self, inputs) -> tuple[Any, Any]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"{type(self).__name__} takes a list of two [B, D] tensors")
        return inputs[0], inputs[1]

    def _emit(self, value: tf.Tensor) -> tf.Tensor:
        self.add_loss(value)
        return value

    def compute_output_shape(self, input_shape):
        return ()


@keras.saving.register_keras_serializable(package="tfpipe")
class StructuredJointEmbeddingLoss(_PairLossLayer):
    """Layer for Reed et al. 2016's SJE loss on ``[image_embeddings, text_embeddings]``:
    ``form="code"`` is :func:`sje_loss` (the authors' code), ``form="max"`` :func:`sje_max_loss`
    (eqs. 5-7, every row its own class); ``symmetric`` picks DS-SJE or DA-SJE."""

    def __init__(self, symmetric: bool = True, form: Literal["code", "max"] = "code", **kwargs):
        super().__init__(**kwargs)
        if form not in ("code", "max"):
            raise ValueError(f"form must be 'code' or 'max', got {form!r}")
        self.symmetric = bool(symmetric)
        self.form = form

    def call(self, inputs):
        images, texts = self._pair(inputs)
        fn = sje_loss if self.form == "code" else sje_max_loss
        return self._emit(fn(images, texts, symmetric=self.symmetric))

    def get_config(self):
        return {**super().get_config(), "symmetric": self.symmetric, "form": self.form}


@keras.saving.register_keras_serializable(package="tfpipe")
class BidirectionalRankingLoss(_PairLossLayer):
    """Layer for You et al. 2018's eq. 1 on ``[images, sentences]`` (:func:`bidirectional_ranking_loss`)."""

    def __init__(
        self,
        margin: float = YOU2018_GLOBAL_MARGIN,
        similarity: Literal["cosine", "dot"] = "cosine",
        directions: Directions = "both",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_margin(margin)
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        if directions not in ("both", "contrastive_sentences", "contrastive_images"):
            raise ValueError(f"invalid directions {directions!r}")
        self.margin = float(margin)
        self.similarity = similarity
        self.directions = directions

    def call(self, inputs):
        images, sentences = self._pair(inputs)
        return self._emit(bidirectional_ranking_loss(
            images, sentences, self.margin, similarity=self.similarity, directions=self.directions
        ))

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "similarity": self.similarity,
            "directions": self.directions,
        }


@keras.saving.register_keras_serializable(package="tfpipe")
class InBatchSoftmaxLoss(_PairLossLayer):
    """Layer for the dual-encoder in-batch softmax on ``[queries, candidates]`` (:func:`in_batch_softmax_loss`)."""

    def __init__(self, scale: float = 1.0, normalize: bool = True, symmetric: bool = False, **kwargs):
        super().__init__(**kwargs)
        _check_scale(scale)
        self.scale = float(scale)
        self.normalize = bool(normalize)
        self.symmetric = bool(symmetric)

    def call(self, inputs):
        queries, candidates = self._pair(inputs)
        return self._emit(in_batch_softmax_loss(
            queries, candidates, self.scale, normalize=self.normalize, symmetric=self.symmetric
        ))

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "normalize": self.normalize,
            "symmetric": self.symmetric,
        }


class SampledCosineSoftmaxLoss(keras.layers.Layer):
    """Layer for the predicted-context paper's eq. 1 trained with sampled softmax, on
    ``[embeddings, targets]`` (``[B, D]`` bottleneck ``x`` and ``[B]`` query ids): adds
    :func:`sampled_cosine_softmax_loss` (the batch mean) against the learned table
    ``table_layer.kernel`` (``[N, D]``, e.g. ``tfpipe.layers.CosineSoftmax``'s ``w_c``, which this
    layer tracks, so the table trains with it) and returns the per-example losses.

    Each call draws ``num_sampled`` unique negatives shared by the batch (:func:`sample_candidates`
    with ``distribution``: ``log_uniform`` for ids in decreasing-frequency order) from a
    ``keras.random.SeedGenerator(seed)`` whose state is a variable of this layer (saved with the
    weights, so a resumed run draws what an uninterrupted one does); ``subtract_log_q`` applies
    the log Q correction.  Not serialisable: the training graph is rebuilt from its config.
    """

    def __init__(self, table_layer, *, scale: float = PREDICTED_CONTEXT_SCALE, num_sampled: int = 100,
                 distribution: Distribution = "log_uniform", subtract_log_q: bool = True,
                 remove_accidental_hits: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        _check_scale(scale)
        if distribution not in ("uniform", "log_uniform"):
            raise ValueError(f"distribution must be 'uniform' or 'log_uniform', got {distribution!r}")
        if int(num_sampled) < 1:
            raise ValueError(f"num_sampled must be a positive int, got {num_sampled}")
        self.table_layer = table_layer
        self.scale = float(scale)
        self.num_sampled = int(num_sampled)
        self.distribution = distribution
        self.subtract_log_q = bool(subtract_log_q)
        self.remove_accidental_hits = bool(remove_accidental_hits)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("SampledCosineSoftmaxLoss takes [embeddings [B, D], targets [B]]")
        x, y = inputs
        table = self.table_layer.kernel
        n = int(table.shape[0])
        if self.num_sampled > n:
            raise ValueError(f"cannot sample {self.num_sampled} unique negatives from {n} classes")
        ids = sample_candidates(self.num_sampled, n, self.distribution, self.seed_generator.next(), unique=True)
        log_q = {}
        if self.subtract_log_q:
            log_q = {"true_log_q": candidate_log_probs(_id_tensor(y, "targets"), n, self.distribution),
                     "sampled_log_q": candidate_log_probs(ids, n, self.distribution)}
        losses = sampled_cosine_softmax_loss(tf.cast(x, tf.float32), y, table, ids, self.scale,
                                             self.remove_accidental_hits, **log_q)
        self.add_loss(tf.reduce_mean(losses))
        return losses

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)


__all__ = [
    "DEVISE_MARGIN",
    "SJE_DELTA",
    "YOU2018_GLOBAL_MARGIN",
    "YOU2018_INTERMEDIATE_MARGIN",
    "PREDICTED_CONTEXT_SCALE",
    "devise_hinge_rank_loss",
    "devise_truncated_hinge_rank_loss",
    "random_label_order",
    "sje_loss",
    "sje_max_loss",
    "bidirectional_ranking_loss",
    "ranking_active_pairs",
    "intermediate_ranking_loss",
    "cosine_softmax_loss",
    "sampled_cosine_softmax_loss",
    "sample_candidates",
    "candidate_log_probs",
    "class_prototypes",
    "in_batch_softmax_loss",
    "SampledCosineSoftmaxLoss",
    "DeViSEHingeRankLoss",
    "CosineSoftmaxLoss",
    "StructuredJointEmbeddingLoss",
    "BidirectionalRankingLoss",
    "InBatchSoftmaxLoss",
]

