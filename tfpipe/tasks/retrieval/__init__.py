"""``task: retrieval``: image-sentence retrieval with convolutional semantic embeddings (You et al. 2018).

    python -m tfpipe.train --config configs/cse_flickr8k.yaml
    python -m tfpipe.evaluate --model_dir artifacts/runs/cse_flickr8k

Reads a features data directory (``kind: features``, ``beam_jobs.extract_features --outputs
stride16``: the frozen lower part of EfficientNet-Lite0, computed once) whose images have
captions in the ``image_captions`` directory they came from (``model.captions``, default the
features' source).  ``model.name``: ``cse`` (the paper's text CNN with conv highways, ``model.
intermediate`` adds eqs. 5-6) or ``vse`` (the VSE-style baseline: mean word vector -> linear).
Both use the image tower of ``model`` (``model.visual: top`` fine-tunes stages 6-7 and the head
from the cached maps; ``frozen`` caches them too) and eq. 1 (``model.negatives``: ``sum``, or
VSE++'s ``hardest``).  Adam lr 1e-3, batch 128 distinct images (``batches``), word vectors
``model.word_vectors`` (300-d skip-gram; the vocabulary is the training captions' words).
``val_sum`` (Sum of R@1/5/10 both ways on the val split, every epoch) picks the epoch whose
weights are kept (``train.restore_best``); the test split is evaluated once, at the end.

After training: ``results.json`` (``evaluation``: R@K and median rank both ways, Sum, chance,
the Table 4 fusion rows for a model with context vectors, every ``model.cross_test`` set),
search indexes of the test images and captions (``index search --model_dir RUN --text ...``).
"""
from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks import base
from tfpipe.tasks.base import FEATURE_UNUSED_KEYS, FeatureTask, Plan
from tfpipe.tasks.retrieval import captions as captions_lib
from tfpipe.tasks.retrieval.keys import MODELS, check_model, model_key, require_inputs

VOCAB_FILE = "vocab.json"
FROZEN_TOP_KEYS = ("local", "pooled")
IMAGE_INDEX_DIR = "image_index"
CAPTION_INDEX_DIR = "caption_index"
TRAIN_KEYS = base.TRAIN_KEYS + ("best_epoch",)
KS = (1, 5, 10)


def image_inputs(cfg: config_lib.Config, split: captions_lib.Split, map_shape: list[int], image_size: int,
                 batch_size: int = 64) -> dict[str, np.ndarray]:
    """The image tower's inputs for ``split``'s cached maps: the maps themselves (the visual top
    trains), or the frozen top's ``local``/``pooled`` outputs computed once."""
    maps = split.features.reshape([-1, *map_shape]).astype(np.float32)
    if model_key(cfg, "visual") == "top":
        return {"maps": maps}
    from tfpipe.tasks.retrieval.model import frozen_top

    out = frozen_top(image_size).predict(maps, batch_size=batch_size, verbose=0)
    return {k: np.asarray(out[k], np.float32) for k in FROZEN_TOP_KEYS}


def embed(image_encoder, text_encoder, images: dict[str, np.ndarray], word_ids: np.ndarray,
          batch_size: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The towers' outputs (``global`` and, with context vectors, ``local`` / ``mask``) of every
    image and caption, as numpy.  Captions run shortest first, each batch cut to its longest
    caption (trailing padding changes no output of the text tower), and return in their order;
    per-position outputs are zero-padded to the longest caption."""
    im = image_encoder.predict(images, batch_size=batch_size, verbose=0)
    ids = np.asarray(word_ids)
    lengths = (ids != 0).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    width = max(int(lengths.max(initial=1)), 1)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(ids), batch_size):
        rows = order[start:start + batch_size]
        out = text_encoder(ids[rows, :max(int(lengths[rows].max()), 1)], training=False)
        for k, v in out.items():
            v = np.asarray(v, np.float32)
            if v.ndim >= 2 and k != "global":
                v = np.pad(v, [(0, 0), (0, width - v.shape[1])] + [(0, 0)] * (v.ndim - 2))
            parts.setdefault(k, []).append(v)
    tx = {k: np.concatenate(v)[np.argsort(order, kind="stable")] for k, v in parts.items()}
    return {k: np.asarray(v, np.float32) for k, v in im.items()}, tx


def score(images: dict[str, np.ndarray], texts: dict[str, np.ndarray], text_to_image: np.ndarray,
          similarity: np.ndarray | None = None) -> dict[str, Any]:
    """R@K both ways, median ranks and Sum of the global embeddings (You et al. 2018, Tables 1-2),
    the chance figures, and the Table 4 fusion rows when the towers give local features.
    ``similarity``: the global cosines ``[images, texts]`` when the caller has them already."""
    from tfpipe import metrics
    from tfpipe.tasks.retrieval import evaluation

    started = time.perf_counter()
    if similarity is None:
        similarity = evaluation.cosine(images["global"], texts["global"])
    out: dict[str, Any] = {"global": metrics.bidirectional_retrieval(similarity, text_to_image, KS)}
    out["global_eval_time_s"] = time.perf_counter() - started
    out["chance"] = metrics.chance_retrieval(text_to_image, KS)
    if "local" in images and "local" in texts:
        out["fusion"] = evaluation.fusion_table(images["global"], images["local"], texts["global"], texts["local"],
                                                texts["mask"], text_to_image, KS)
    return out


def _val_callback(image_encoder, text_encoder, images, word_ids, text_to_image, batch_size: int):
    import keras

    from tfpipe import metrics
    from tfpipe.tasks.retrieval import evaluation

    class RetrievalValidation(keras.callbacks.Callback):
        """``val_sum`` and ``val_{i2t,t2i}_r{1,5,10}``, ``val_{i2t,t2i}_median_rank``: retrieval on
        the val split with the global embeddings, every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            im, tx = embed(image_encoder, text_encoder, images, word_ids, batch_size)
            r = metrics.bidirectional_retrieval(evaluation.cosine(im["global"], tx["global"]), text_to_image, KS)
            if logs is not None:
                logs["val_sum"] = r["sum_pct"]
                for short, d in (("i2t", "image_to_text"), ("t2i", "text_to_image")):
                    logs.update({f"val_{short}_{k}": float(v) for k, v in r[d].items()})

    return RetrievalValidation()


def _line(r: dict[str, Any]) -> str:
    i2t, t2i = r["image_to_text"], r["text_to_image"]
    return (f"sentence R@1/5/10 {100 * i2t['r1']:.1f}/{100 * i2t['r5']:.1f}/{100 * i2t['r10']:.1f} "
            f"(med {i2t['median_rank']:g}), image R@1/5/10 {100 * t2i['r1']:.1f}/{100 * t2i['r5']:.1f}/"
            f"{100 * t2i['r10']:.1f} (med {t2i['median_rank']:g}), Sum {r['sum_pct']:.1f}")


@tasks.register
class Retrieval(FeatureTask):
    """CSE and its baselines and ablations (You et al. 2018, Tables 2-5)."""

    name = "retrieval"
    objective = ("val_sum", "max")
    unused_keys = FEATURE_UNUSED_KEYS + ("data.validation_fraction",)
    models = MODELS

    def check_model(self, cfg: config_lib.Config) -> None:
        check_model(cfg)

    def train_splits(self, cfg) -> list[str]:
        return ["train", "val"]

    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution) -> Plan:
        from tfpipe.embeddings.label_vectors import WordTable
        from tfpipe.tasks.retrieval import batches
        from tfpipe.tasks.retrieval import model as model_lib
        from tfpipe.training import datasets

        require_inputs(cfg)
        t = cfg.train
        caps = model_key(cfg, "captions")
        map_shape = captions_lib.map_shape(data.path)
        image_size = int(data.manifest.features.get("image_size", 224))
        with datasets.reading(data, ["train", "val"]):
            train = captions_lib.read_split(data.path, caps, "train", verify=cfg.data.verify)
            val = captions_lib.read_split(data.path, caps, "val", verify=cfg.data.verify)
        vocab = captions_lib.train_vocabulary(train)
        vectors = model_key(cfg, "word_vectors")
        vectors_file = os.path.join(vectors, "vectors.bin") if os.path.isdir(vectors) else vectors
        vector_dim = WordTable.load(vectors).dim
        max_words = int(model_key(cfg, "max_words"))
        image_encoder = model_lib.build_image_encoder(cfg, map_shape=map_shape, image_size=image_size)
        text_encoder = model_lib.build_text_encoder(cfg, vocab=vocab, vectors=vectors_file, vector_dim=vector_dim)
        model = model_lib.build_model(cfg, image_encoder, text_encoder)
        rows = train.caption_rows()
        steps = batches.steps_per_epoch(rows, t.batch_size)
        loss, metrics_ = model_lib.retrieval_loss(cfg)
        model.compile(optimizer=model_lib.make_optimizer(cfg), loss=loss, metrics=metrics_,
                      steps_per_execution=steps_per_execution(steps))
        train_images = image_inputs(cfg, train, map_shape, image_size)
        train_ids = captions_lib.caption_ids(train.captions, vocab, max_words)
        train_ds = batches.epoch_batches(train_images, train_ids, rows, batch_size=t.batch_size, seed=t.seed,
                                         first_epoch=first_epoch, epochs=t.epochs)
        val_images = image_inputs(cfg, val, map_shape, image_size)
        val_ids = captions_lib.caption_ids(val.captions, vocab, max_words)
        callbacks = [_val_callback(image_encoder, text_encoder, val_images, val_ids, val.text_to_image,
                                   cfg.eval.batch_size)]
        describe = (
            f"tfpipe.train: {cfg.model_name.upper()} retrieval ({'global + intermediate' if model_key(cfg, 'intermediate') else 'global'} "
            f"loss, {model_key(cfg, 'negatives')} of negatives, visual top {model_key(cfg, 'visual')}; "
            f"{model.count_params():,} parameters, {sum(int(np.prod(w.shape)) for w in model.trainable_weights):,} "
            f"trainable) on {data.path}: {train.num_images} images, {len(train.captions)} captions, vocabulary "
            f"{len(vocab)} words; {t.epochs} epochs x {steps} batches of <= {t.batch_size} distinct images, "
            f"{t.optimizer} lr {t.learning_rate}; val_sum on {val.num_images} val images / {len(val.captions)} "
            "captions picks the epoch")
        return Plan(model=model, train_ds=train_ds, val_ds=None, steps=steps, examples_per_epoch=len(train.captions),
                    describe=describe, splits=["train", "val"], data=data, callbacks=callbacks, monitor="val_sum",
                    monitor_mode="max",
                    state={"image_encoder": image_encoder, "text_encoder": text_encoder, "vocab": vocab,
                           "train_images": train.num_images, "train_captions": len(train.captions),
                           "val_images": val.num_images, "val_captions": len(val.captions)})

    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        from tfpipe.tasks.retrieval.model import IMAGE_MODEL_FILE, TEXT_MODEL_FILE
        from tfpipe.training import runs

        state = plan.state
        state["image_encoder"].save(os.path.join(model_dir, IMAGE_MODEL_FILE))
        state["text_encoder"].save(os.path.join(model_dir, TEXT_MODEL_FILE))
        runs.write_json(os.path.join(model_dir, VOCAB_FILE), {"vocab": state["vocab"]})
        head = {
            "model": cfg.model_name, "task": self.name, "data_dir": plan.data.path, "dataset": plan.data.name,
            "intermediate": bool(model_key(cfg, "intermediate")), "negatives": model_key(cfg, "negatives"),
            "visual": model_key(cfg, "visual"), "params": plan.model.count_params(),
            "trainable_params": int(sum(int(np.prod(w.shape)) for w in plan.model.trainable_weights)),
            "vocabulary": len(state["vocab"]),
            **{k: state[k] for k in ("train_images", "train_captions", "val_images", "val_captions")},
            "epochs": cfg.train.epochs, "steps_per_epoch": plan.steps,
        }
        results = {**head, **run}
        evaluated = self.evaluate(model_dir, cfg, data_dir=plan.data.path, split=cfg.eval.split,
                                  encoders=(state["image_encoder"], state["text_encoder"]), vocab=state["vocab"],
                                  trained=results)
        print(f"tfpipe.train: {evaluated['split']} ({evaluated['images']} images, {evaluated['captions']} captions): "
              f"{_line(evaluated['global'])}", flush=True)
        for name, r in evaluated.get("cross_test", {}).items():
            print(f"tfpipe.train: cross-dataset {name} ({r['images']} images, {r['captions']} captions): "
                  f"{_line(r['global'])}", flush=True)
        results["eval_results"] = evaluated
        runs.write_json(os.path.join(model_dir, runs.RESULTS), evaluated)
        return results

    def summary_line(self, results: dict[str, Any]) -> str:
        ev = results.get("eval_results", {})
        return (f"trained in {results.get('training_time_s') or 0:.1f} s; {ev.get('split')}: "
                + (_line(ev["global"]) if "global" in ev else "not evaluated"))

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str, encoders=None, vocab=None,
                 trained: dict[str, Any] | None = None, write_indexes: bool = True) -> dict[str, Any]:
        """Retrieval on ``split`` of ``data_dir`` and on every ``model.cross_test`` set (their
        ``test`` split), with the search indexes of ``split``'s images and captions."""
        from tfpipe.tasks.retrieval import model as model_lib
        from tfpipe.training import datasets, runs

        if encoders is None:
            encoders = model_lib.load_encoders(model_dir)
            vocab = (runs.read_json(os.path.join(model_dir, VOCAB_FILE)) or {})["vocab"]
        image_encoder, text_encoder = encoders
        data = datasets.open_data(data_dir)
        datasets.check_splits(data, [split])
        results: dict[str, Any] = {"split": split, "task": self.name, "model": cfg.model_name, "model_dir": model_dir,
                                   "data_dir": data_dir, "dataset": data.name}
        results.update(self._evaluate_set(cfg, data_dir, model_key(cfg, "captions"), split, image_encoder,
                                          text_encoder, vocab,
                                          index_dir=model_dir if write_indexes and split == cfg.eval.split else None))
        cross = {}
        for name, spec in model_key(cfg, "cross_test").items():
            cross_split = "test"
            cross[name] = {"data_dir": spec["data"], "split": cross_split,
                           **self._evaluate_set(cfg, spec["data"], spec.get("captions"), cross_split, image_encoder,
                                                text_encoder, vocab, index_dir=None)}
        if cross:
            results["cross_test"] = cross
        if trained is None:
            trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
        results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})
        return results

    def _evaluate_set(self, cfg, data_dir: str, caps: str | None, split: str, image_encoder, text_encoder, vocab,
                      *, index_dir: str | None) -> dict[str, Any]:
        from tfpipe.data.datadir import DataDir
        from tfpipe.data.word_inputs import words_of
        from tfpipe.tasks.retrieval import evaluation

        started = time.perf_counter()
        data = DataDir.open(data_dir)
        map_shape = captions_lib.map_shape(data_dir)
        image_size = int(data.manifest.features.get("image_size", 224))
        part = captions_lib.read_split(data_dir, caps, split, verify=cfg.data.verify)
        ids = captions_lib.caption_ids(part.captions, vocab, int(model_key(cfg, "max_words")))
        known = set(vocab)
        words = [w for c in part.captions for w in words_of(c)]
        im, tx = embed(image_encoder, text_encoder, image_inputs(cfg, part, map_shape, image_size), ids,
                       cfg.eval.batch_size)
        embedded = time.perf_counter()
        similarity = evaluation.cosine(im["global"], tx["global"])  # scored, and drawn for TensorBoard
        out: dict[str, Any] = {"images": part.num_images, "captions": len(part.captions),
                               "out_of_vocabulary_words": float(np.mean([w not in known for w in words])) if words else 0.0,
                               **score(im, tx, part.text_to_image, similarity)}
        out["embed_time_s"] = embedded - started
        out["eval_time_s"] = time.perf_counter() - started
        if index_dir is not None:
            out["indexes"] = self._write_indexes(cfg, index_dir, im["global"], tx["global"], part)
            shown = int(model_key(cfg, "tensorboard_images"))
            if shown:
                from tfpipe.tasks.retrieval import monitoring
                from tfpipe.training import runs

                out["tensorboard_image"] = monitoring.write_retrieval_image(
                    os.path.join(index_dir, runs.LOG_DIR), captions_lib.captions_dir(data_dir, caps), split,
                    part.image_ids, part.captions, part.text_to_image, similarity, shown)
        return out

    def _write_indexes(self, cfg, model_dir: str, v: np.ndarray, s: np.ndarray, part) -> dict[str, Any]:
        """The evaluated images' and captions' unit global embeddings in two indexes (cosine as a
        dot product; exact below ``model.scann_from`` items, ScaNN above)."""
        from tfpipe import index
        from tfpipe.index.base import unit_rows

        written = {}
        for name, x, labels in ((IMAGE_INDEX_DIR, v, list(part.image_ids)),
                                (CAPTION_INDEX_DIR, s, [f"{part.image_ids[i]}: {c}" for i, c in
                                                        zip(part.text_to_image, part.captions)])):
            engine = "exact" if len(x) < int(model_key(cfg, "scann_from")) else "scann"
            idx = index.build(unit_rows(x), labels, engine=engine, metric="dot")
            path = os.path.join(model_dir, name)
            idx.save(path)
            written[name] = {"dir": path, "engine": engine, "items": len(labels)}
        return written

    def format_results(self, results: dict[str, Any]) -> str:
        lines = [f"{results['model'].upper()} retrieval on {results['dataset']} {results['split']}: "
                 f"{results['images']} images, {results['captions']} captions",
                 f"  {_line(results['global'])}", f"  chance: {_line(results['chance'])}"]
        for row, r in results.get("fusion", {}).get("rows", {}).items():
            lines.append(f"  {row}: {_line(r)}")
        for name, r in results.get("cross_test", {}).items():
            lines.append(f"  cross-dataset {name} ({r['images']} images, {r['captions']} captions): {_line(r['global'])}")
        if results.get("training_time_s") is not None:
            lines.append(f"  training time {results['training_time_s']:.1f} s")
        return "\n".join(lines)

    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        from tfpipe.tasks.retrieval import serving

        return serving.export(model_dir, out, data_dir=data_dir)

    def export_usage(self, out: str) -> list[str]:
        from tfpipe.tasks.retrieval import serving

        return serving.usage(out)

    def text_queries(self, model_dir: str, texts: list[str]) -> tuple[np.ndarray, str]:
        """``([n, d] unit s of raw texts through the run's text tower, the test images' index)``."""
        from tfpipe.index.base import unit_rows
        from tfpipe.tasks.retrieval import model as model_lib
        from tfpipe.training import runs

        cfg = runs.load_config(model_dir)
        vocab = (runs.read_json(os.path.join(model_dir, VOCAB_FILE)) or {})["vocab"]
        _, text_encoder = model_lib.load_encoders(model_dir)
        ids = captions_lib.caption_ids(list(texts), vocab, int(model_key(cfg, "max_words")))
        s = np.asarray(text_encoder.predict(ids, verbose=0)["global"], np.float32)
        return unit_rows(s), os.path.join(model_dir, IMAGE_INDEX_DIR)
