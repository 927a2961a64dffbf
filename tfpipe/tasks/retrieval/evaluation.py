"""Test-time scores of the convolutional semantic embeddings (CSE) and their fusions (You et al. 2018,
section 3.2 eqs. 2-4, section 4.4 and Table 4), on NumPy arrays.

Inputs, for ``N`` test images and ``M`` test sentences in a ``d``-dimensional space:

* ``v [N, d]``: the global image embeddings; ``s [M, d]``: the global sentence embeddings;
* ``lv [N, R, d]``: each image's projected local features ``l'_v = T(l_v) W_v + b_v`` (eq. 2)
  over its ``R = h_v * w_v`` regions; ``ls [M, T, d]``: each sentence's projected local textual
  features over its ``T`` (padded) positions, with ``texts_mask [M, T]`` True at real positions
  (an optional ``images_mask [N, R]`` likewise for the regions).

The attention context (eqs. 3-4) of one item's local features ``l' [R, d]`` under a query ``q [d]``
of the other modality is ``alpha = softmax_r(l'_r . q)`` over the unmasked positions and
``c = sum_r alpha_r l'_r``.  The vectors are used as given (the model's outputs, normalised or
not, as the model feeds them to its attention).  For sentence retrieval the image's context is
computed with the candidate sentence's ``s`` as the query, for image retrieval the sentence's
context with the candidate image's ``v``, so every (image, sentence) pair has its own contexts.

Table 4's rows (sentence retrieval scored from the ``i2t`` matrix, image retrieval from ``t2i``):

=========  ===============================================  ===============================================
row        sentence retrieval ``[i, j]``                    image retrieval ``[i, j]``
=========  ===============================================  ===============================================
global     ``cos(v_i, s_j)`` (CSE itself)                   ``cos(v_i, s_j)``
context    ``cos(c_v(i; s_j), s_j)``                        ``cos(v_i, c_s(j; v_i))``
early      ``cos((c_v(i; s_j) + v_i) / 2, s_j)``            ``cos(v_i, (c_s(j; v_i) + s_j) / 2)``
late       ``F = (f + f_c) / 2``: the mean of the global    the same with the image-retrieval context
           and the context cosines
best       per query ``min(r, r_c)`` of its global and      the same per sentence query
           context ranks (an oracle: the paper's upper
           bound of fusing the two rankings)
=========  ===============================================  ===============================================

No context vector is materialised per pair (``N * M * d`` floats): with ``a_r = l'_r . q``,
``c . q = sum_r alpha_r a_r``, ``|c|^2 = alpha^T G alpha`` with the item's Gram matrix
``G = l' l'^T`` and ``c . u = sum_r alpha_r (l'_r . u)`` for the item's own global vector ``u``;
the early-fusion norms follow from ``|c + u|^2 = |c|^2 + 2 c . u + |u|^2``.  The work is done in
float64 in blocks of items so that each temporary holds about ``max_block_elements`` numbers.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from tfpipe import metrics

ROWS = ("global", "context", "early", "late", "best")
"""The rows of :func:`fusion_table`, in the order of You et al.'s Table 4 (global = "CSE")."""

MAX_BLOCK_ELEMENTS = 1 << 22
"""About how many float64 numbers one blocked temporary of :func:`context_scores` holds (32 MiB)."""

_EPS = 1e-12


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is (numerically) zero: the cosine of a zero vector is 0."""
    return np.where(den > _EPS, num / np.maximum(den, _EPS), 0.0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``float64[N, M]``: the cosine similarity of every row of ``a [N, d]`` with every row of
    ``b [M, d]`` (the ``f`` of You et al. 2018, eqs. 1 and 5); 0 against a zero vector."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"cosine needs [N, d] and [M, d], got {a.shape} and {b.shape}")
    return _divide(a @ b.T, np.linalg.norm(a, axis=1)[:, None] * np.linalg.norm(b, axis=1)[None, :])


def _local(local: np.ndarray, mask: np.ndarray | None, name: str, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``(float64[n, P, d] with masked rows zeroed, bool[n, P])``; every item needs a real position."""
    x = np.array(local, dtype=np.float64)  # a copy: the padding is zeroed in place below
    if x.ndim != 3 or x.shape[0] != n or x.shape[2] != d:
        raise ValueError(f"{name} must be [{n}, positions, {d}], got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no positions")
    if mask is None:
        m = np.ones(x.shape[:2], bool)
    else:
        m = np.asarray(mask)
        if m.shape != x.shape[:2]:
            raise ValueError(f"the mask of {name} has shape {m.shape} but {name} has {x.shape[:2]} positions")
        if m.dtype != np.bool_:
            if not np.isin(m, (0, 1)).all():
                raise ValueError(f"the mask of {name} must be bool or 0/1")
            m = m.astype(bool)
        empty = np.flatnonzero(~m.any(axis=1))
        if empty.size:
            raise ValueError(f"item {int(empty[0])} of {name} has every position masked: its context is undefined")
    x[~m] = 0.0  # padding (even NaN or inf there) cannot reach the sums
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite values at unmasked positions")
    return x, m


def _context_block(local: np.ndarray, mask: np.ndarray, own: np.ndarray, queries: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For items ``local [B, P, d]`` (``mask [B, P]``, own global vectors ``own [B, d]``) and
    queries ``[Q, d]``: ``c . q``, ``|c|^2`` and ``c . own``, each ``[B, Q]``, where ``c = c(b; q)``
    is item b's attention context under query q (eqs. 3-4)."""
    b, p, d = local.shape
    logits = (local.reshape(b * p, d) @ queries.T).reshape(b, p, len(queries))  # l'_r . q
    shifted = np.where(mask[:, :, None], logits, -np.inf)
    alpha = np.exp(shifted - shifted.max(axis=1, keepdims=True))  # 0 at masked positions
    alpha /= alpha.sum(axis=1, keepdims=True)
    c_q = (alpha * logits).sum(axis=1)
    gram = local @ local.transpose(0, 2, 1)  # [B, P, P]
    c_c = np.maximum((alpha * (gram @ alpha)).sum(axis=1), 0.0)  # alpha^T G alpha
    own_dots = (local * own[:, None, :]).sum(axis=2)  # l'_r . u  [B, P]
    c_own = (alpha * own_dots[:, :, None]).sum(axis=1)
    return c_q, c_c, c_own


def _blocked(local: np.ndarray, mask: np.ndarray, own: np.ndarray, queries: np.ndarray,
             max_block_elements: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_context_block` over all items, ``[items, Q]`` each, in blocks of items."""
    n, positions = local.shape[:2]
    block = max(1, int(max_block_elements) // max(1, positions * max(len(queries), positions)))
    out = [np.empty((n, len(queries))) for _ in range(3)]
    for start in range(0, n, block):
        stop = min(n, start + block)
        for o, part in zip(out, _context_block(local[start:stop], mask[start:stop], own[start:stop], queries)):
            o[start:stop] = part
    return out[0], out[1], out[2]


def context_scores(images_global: np.ndarray, images_local: np.ndarray, texts_global: np.ndarray,
                   texts_local: np.ndarray, texts_mask: np.ndarray | None = None, *,
                   images_mask: np.ndarray | None = None,
                   max_block_elements: int = MAX_BLOCK_ELEMENTS) -> dict[str, np.ndarray]:
    """The context and early-fusion similarities of every (image, sentence) pair (You et al. 2018,
    eqs. 2-4 and section 4.4), each ``float64[N, M]`` (rows images, columns sentences).

    ``images_global v [N, d]``, ``images_local lv' [N, R, d]``, ``texts_global s [M, d]``,
    ``texts_local ls' [M, T, d]``, ``texts_mask [M, T]`` (True / 1 at real tokens; None: no
    padding), ``images_mask [N, R]`` (None: every region is real).  Masked local rows are ignored
    (they take no attention and may hold anything).  Returns:

    * ``i2t_context[i, j] = cos(c_v(i; s_j), s_j)``: image i's visual context under sentence j's
      query, against s_j (Table 4 "Context", sentence retrieval);
    * ``t2i_context[i, j] = cos(v_i, c_s(j; v_i))``: sentence j's textual context under image i's
      query, against v_i (image retrieval);
    * ``i2t_early[i, j] = cos((c_v(i; s_j) + v_i) / 2, s_j)`` and
      ``t2i_early[i, j] = cos(v_i, (c_s(j; v_i) + s_j) / 2)`` (Table 4 "Early fusion");
    * ``global[i, j] = cos(v_i, s_j)``: CSE's own score (eq. 1's ``f``), both directions.

    Memory stays bounded: no per-pair context vector is formed (see the module docstring) and the
    items are processed in blocks of about ``max_block_elements`` numbers per temporary.
    """
    v = np.asarray(images_global, np.float64)
    s = np.asarray(texts_global, np.float64)
    if v.ndim != 2 or s.ndim != 2 or v.shape[1] != s.shape[1] or not v.size or not s.size:
        raise ValueError(f"images_global and texts_global must be non-empty [N, d] and [M, d], "
                         f"got {v.shape} and {s.shape}")
    d = v.shape[1]
    lv, mv = _local(images_local, images_mask, "images_local", len(v), d)
    ls, ms = _local(texts_local, texts_mask, "texts_local", len(s), d)
    v_norm, s_norm = np.linalg.norm(v, axis=1), np.linalg.norm(s, axis=1)
    v_dot_s = v @ s.T

    # Sentence retrieval: image i's context c_v(i; s_j).  [N, M]
    cv_s, cv_cv, cv_v = _blocked(lv, mv, v, s, max_block_elements)
    cv_norm = np.sqrt(cv_cv)
    early_v_norm = np.sqrt(np.maximum(cv_cv + 2.0 * cv_v + (v_norm ** 2)[:, None], 0.0))
    # Image retrieval: sentence j's context c_s(j; v_i), computed [M, N] and transposed.
    cs_v, cs_cs, cs_s = _blocked(ls, ms, s, v, max_block_elements)
    cs_v, cs_cs, cs_s = cs_v.T, cs_cs.T, cs_s.T
    cs_norm = np.sqrt(cs_cs)
    early_s_norm = np.sqrt(np.maximum(cs_cs + 2.0 * cs_s + (s_norm ** 2)[None, :], 0.0))

    return {
        "global": _divide(v_dot_s, v_norm[:, None] * s_norm[None, :]),
        "i2t_context": _divide(cv_s, cv_norm * s_norm[None, :]),
        "t2i_context": _divide(cs_v, v_norm[:, None] * cs_norm),
        "i2t_early": _divide(cv_s + v_dot_s, early_v_norm * s_norm[None, :]),  # the 1/2 cancels in the cosine
        "t2i_early": _divide(cs_v + v_dot_s, v_norm[:, None] * early_s_norm),
    }


def fusion_table(images_global: np.ndarray, images_local: np.ndarray, texts_global: np.ndarray,
                 texts_local: np.ndarray, texts_mask: np.ndarray | None, text_to_image: Sequence[int],
                 ks: Sequence[int] = (1, 5, 10), *, images_mask: np.ndarray | None = None,
                 max_block_elements: int = MAX_BLOCK_ELEMENTS) -> dict:
    """You et al. 2018's Table 4 (section 4.4): retrieval with the global embeddings (CSE), the
    context vectors, early and late fusion, and the oracle "Best".

    Arrays as for :func:`context_scores`; ``text_to_image [M]`` gives each sentence's image
    (e.g. 5 captions per image; every image needs one).  Returns ``{"rows": {row: result},
    "seconds": {"scores": ..., "total": ...}, "num_images": N, "num_texts": M}`` with ``row`` in
    :data:`ROWS` and each ``result`` in the layout of ``metrics.bidirectional_retrieval``
    (``image_to_text`` = sentence retrieval from the ``i2t`` scores, ``text_to_image`` = image
    retrieval from the ``t2i`` scores, ``sum_pct``):

    * ``global``: ``cos(v, s)``; ``context`` and ``early``: the matrices of :func:`context_scores`;
    * ``late``: per direction ``F = (f + f_c) / 2``, the mean of the global and the context cosine;
    * ``best``: per query (an image for sentence retrieval, a sentence for image retrieval) the
      smaller of its global rank and its context rank, ``R = min(r, r_c)``: an upper bound of
      fusing the two rankings that uses the ground truth, as in the paper.

    ``seconds``: the wall time of the scores (:func:`context_scores`) and of the whole table.
    """
    start = time.perf_counter()
    scores = context_scores(images_global, images_local, texts_global, texts_local, texts_mask,
                            images_mask=images_mask, max_block_elements=max_block_elements)
    scored = time.perf_counter()
    glob = scores["global"]
    g_i2t, g_t2i = metrics.retrieval_ranks(glob, text_to_image)
    c_i2t, _ = metrics.retrieval_ranks(scores["i2t_context"], text_to_image)
    _, c_t2i = metrics.retrieval_ranks(scores["t2i_context"], text_to_image)
    rows = {
        "global": metrics.retrieval_summary(g_i2t, g_t2i, ks),
        "context": metrics.retrieval_summary(c_i2t, c_t2i, ks),
        "early": metrics.bidirectional_retrieval(scores["i2t_early"], text_to_image, ks,
                                                 text_to_image_similarity=scores["t2i_early"]),
        "late": metrics.bidirectional_retrieval((glob + scores["i2t_context"]) / 2.0, text_to_image, ks,
                                                text_to_image_similarity=(glob + scores["t2i_context"]) / 2.0),
        "best": metrics.retrieval_summary(np.minimum(g_i2t, c_i2t), np.minimum(g_t2i, c_t2i), ks),
    }
    return {
        "rows": rows,
        "seconds": {"scores": scored - start, "total": time.perf_counter() - start},
        "num_images": int(glob.shape[0]),
        "num_texts": int(glob.shape[1]),
    }
