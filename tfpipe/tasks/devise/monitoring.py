"""TensorBoard extras of a devise run (written by ``finish`` into ``logs/``).

* **Projector** (``logs/projector``, ``tfpipe.training.projector``): the unit label vectors of
  every candidate set (metadata: set, text, synset) and a sample of projected test images
  ``M v / |M v|`` (metadata: true label, top-1 label; thumbnails as the sprite when the images
  the features were extracted from are readable), and the two in one joint tensor (metadata
  columns kind, set, text, top1): DeViSE's
  claim (section 3.3, Figure 1b) is that an image lands near the vector of its label.
* **Mistakes** (``logs/mistakes`` image summary, ``tfpipe.training.mistakes_image``): the most
  frequent (true -> predicted) confusions of the evaluated split with their distance in WordNet's
  hypernym graph (hops): "more semantically reasonable errors" (section 4.1) are short ones.
"""
from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np

SAMPLE = 256      # projected test images in the projector
THUMBNAIL = 32    # sprite tile side, pixels


def _thumbnails(image_dir: str, split: str, ids: list[str]) -> np.ndarray | None:
    """``uint8 [n, T, T, 3]`` thumbnails of the records ``ids`` of an image data directory, or None
    when the directory or one of the records is not there."""
    import tensorflow as tf

    paths = sorted(glob.glob(os.path.join(image_dir, f"{split}-*.tfrecord")))
    if not paths:
        return None
    wanted, found = set(ids), {}
    for raw in tf.data.TFRecordDataset(paths):
        ex = tf.train.Example.FromString(raw.numpy())
        key = ex.features.feature["id"].bytes_list.value[0].decode("utf-8")
        if key in wanted:
            image = tf.io.decode_image(ex.features.feature["image"].bytes_list.value[0], channels=3,
                                       expand_animations=False)
            found[key] = tf.cast(tf.image.resize(image, [THUMBNAIL, THUMBNAIL], antialias=True), tf.uint8).numpy()
            if len(found) == len(wanted):
                break
    if len(found) < len(wanted):
        return None
    return np.stack([found[k] for k in ids])


def write(log_dir: str, cfg, model, sets: dict, index, results: dict[str, Any], *, data) -> dict[str, Any]:
    """Writes the projector and the mistakes image; returns what was written."""
    from tfpipe.data import feature_records
    from tfpipe.index.base import unit_rows
    from tfpipe.tasks import devise
    from tfpipe.tasks.devise import evaluation
    from tfpipe.tasks.devise import labels as labels_lib
    from tfpipe.training import mistakes_image, projector

    written: dict[str, Any] = {}
    seen = sets[labels_lib.SEEN]
    texts = [r["text"] for r in seen.labels]
    # The mistakes of the evaluated split, from its confusion matrix (rows true, columns predicted).
    cm = np.asarray(results["confusion_matrix"], np.int64)
    true_t, pred_t = [], []
    for i, j in zip(*np.nonzero(cm)):
        true_t += [texts[i]] * int(cm[i, j])
        pred_t += [texts[j]] * int(cm[i, j])
    graph, _ = evaluation.hierarchy([r.get("synset") for r in seen.labels])
    from tfpipe import metrics

    adj = metrics.label_graph(graph)
    position = {t: k for k, t in enumerate(texts)}
    image = mistakes_image.mistakes_image(
        true_t, pred_t, lambda t, p: mistakes_image.hierarchy_hops(adj, position[t], position[p]))
    mistakes_image.write_image_summary(os.path.join(log_dir, "mistakes"), "mistakes", image)
    written["mistakes"] = os.path.join(log_dir, "mistakes")

    embeddings = []
    label_rows, label_vecs = [], []
    for s in sets.values():
        if s.matrix is None:
            continue
        label_vecs.append(s.matrix)
        label_rows += [{"kind": "label", "set": s.name, "text": r["text"], "top1": ""} for r in s.labels]
    if label_vecs:
        embeddings.append(projector.Embedding("label_vectors", np.concatenate(label_vecs), label_rows))
    if cfg.model_name != devise.SOFTMAX and index is not None:
        xs, ys, ids = [], [], []
        for x, y, i in feature_records.make_feature_dataset(data, cfg.eval.split, output=devise.feature_output(cfg),
                                                            batch_size=SAMPLE, cache=False, with_ids=True):
            xs.append(x.numpy())
            ys.append(y.numpy())
            ids += [v.decode("utf-8") for v in i.numpy()]
            if len(ids) >= SAMPLE:
                break
        x, y, ids = np.concatenate(xs)[:SAMPLE], np.concatenate(ys)[:SAMPLE], ids[:SAMPLE]
        keep, pos = devise.to_candidates(y, seen.classes)
        x, y, ids = x[keep], pos[keep], [k for k, good in zip(ids, keep) if good]
        if len(y):
            q = unit_rows(evaluation.embed(model, x, batch_size=cfg.eval.batch_size))
            top1 = index.nearest(q, 1, subset=labels_lib.SEEN).labels
            key_text = dict(zip(seen.keys, texts))
            rows = [{"kind": "image", "set": f"{cfg.eval.split} images", "text": texts[t], "top1": key_text[p[0]]}
                    for t, p in zip(y, top1)]
            source = (data.manifest.features.get("source") or {}).get("images")
            thumbs = _thumbnails(source, cfg.eval.split, ids) if source else None
            embeddings.append(projector.Embedding("image_embeddings", q, rows, thumbs))
            if label_vecs:
                embeddings.append(projector.Embedding("joint", np.concatenate([np.concatenate(label_vecs), q]),
                                                      label_rows + rows))
            written["thumbnails"] = thumbs is not None
    if embeddings:
        written["projector"] = projector.write_projector(log_dir, embeddings)["dir"]
    return written
