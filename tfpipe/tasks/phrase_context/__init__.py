"""``task: phrase_context``: predicted-context multimodal image classification (the predicted-context paper).

    python -m beam_jobs.phrase_pairs ...                                   (phrases and pairs)
    python -m tfpipe.train --config configs/phrase_generator.yaml          (section 3.2)
    python -m beam_jobs.prototypes --model_dir artifacts/runs/phrase_generator   (eq. 2)
    python -m tfpipe.train --config configs/phrase_encoder.yaml            (section 3.3)
    python -m tfpipe.train --config configs/phrase_context/flowers102_multimodal_100.yaml  (section 3.5)

Three models (``model.name``, ``keys``), the trained parts of the paper's Figure 3:

``phrase_generator``  reads an ``image_phrases`` directory (``beam_jobs.phrase_pairs``: the stand-in
                      for the web query-image pairs) joined with each source's cached pooled features
                      (``model.features``); features -> 64-d bottleneck ``x`` -> eq. 1 over the
                      ``model.softmax_size`` most frequent phrases, trained with sampled softmax
                      (``model.num_sampled`` negatives by frequency, the log Q correction, scale
                      ``model.scale``) on every (image, phrase) pair.  ``val_ap_at_10`` (AP@10 of
                      the images' phrases under the full eq. 1 on ``data.validation_fraction``'s
                      holdout of images) picks the epoch.  Writes ``bottleneck.keras``,
                      ``phrase_generator.keras`` and ``softmax_index/`` (eq. 3 over the ``w_c``).
``phrase_encoder``    reads the same directory's ``pairs`` (phrases sharing an image); the dual
                      encoder over unigrams + bigrams, in-batch softmax; ``val_loss`` on the
                      holdout of pairs picks the epoch.  Writes ``phrase_tower.keras``.
``multimodal``        reads a downstream ``features`` directory (train / val / test); the classifier
                      on ``model.inputs`` (visual, the predicted context, or both) with the training
                      images cut to ``model.train_fraction`` per class (``tfpipe.data.fractions``);
                      ``val_accuracy`` picks the epoch, test top-1 / top-5 at the end.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks import base
from tfpipe.tasks.base import FeatureTask, Plan
from tfpipe.tasks.phrase_context import layout
from tfpipe.tasks.phrase_context import model as model_lib
from tfpipe.tasks.phrase_context.keys import (ENCODER, GENERATOR, MODELS, MULTIMODAL, check_model, hidden_layers,
                                              model_inputs, model_key, require_runs)

KIND_OF_MODEL = {GENERATOR: "image_phrases", ENCODER: "image_phrases", MULTIMODAL: "features"}
PAIRS_SPLIT = "pairs"
VOCABULARY_FILE = "phrases.json"
TRAIN_IDS_FILE = "train_ids.txt"   # a multimodal run's kept training ids (train_fraction), one a line
TRAIN_KEYS = base.TRAIN_KEYS + ("best_epoch",)
AP_K = 10


def _generator_scores(generator, features: np.ndarray, batch_size: int) -> np.ndarray:
    return np.asarray(generator.predict(np.asarray(features, np.float32), batch_size=batch_size, verbose=0),
                      np.float32)


def phrase_ranking(scores: np.ndarray, truth: list[np.ndarray], k: int = AP_K) -> dict[str, float]:
    """Precision@1, precision@k and AP@k (``tfpipe.metrics``) of each image's phrases (ids below
    ``scores.shape[1]``) ranked by ``scores [n, K]``; images with no such phrase are left out."""
    from tfpipe import metrics

    relevance = np.zeros(scores.shape, bool)
    for i, ids in enumerate(truth):
        ids = ids[ids < scores.shape[1]]
        relevance[i, ids] = True
    keep = relevance.any(axis=1)
    if not keep.any():
        return {"precision_at_1": 0.0, f"precision_at_{k}": 0.0, f"ap_at_{k}": 0.0, "images": 0}
    s, r = scores[keep], relevance[keep]
    k = min(k, s.shape[1])
    return {"precision_at_1": float(metrics.precision_at_k(s, r, 1).mean()),
            f"precision_at_{AP_K}": float(metrics.precision_at_k(s, r, k).mean()),
            f"ap_at_{AP_K}": metrics.mean_average_precision(s, r, k), "images": int(keep.sum())}


def _generator_callback(generator, features: np.ndarray, truth: list[np.ndarray], batch_size: int):
    import keras

    class PhraseValidation(keras.callbacks.Callback):
        """``val_precision_at_1``, ``val_precision_at_10``, ``val_ap_at_10``: the held-out images'
        phrases ranked by the full eq. 1 over the softmax vocabulary, every epoch."""

        def on_epoch_end(self, epoch, logs=None):
            r = phrase_ranking(_generator_scores(generator, features, batch_size), truth)
            if logs is not None:
                logs.update({f"val_{k}": v for k, v in r.items() if k != "images"})

    return PhraseValidation()


def _phrase_texts(phrases) -> list[str]:
    return [p.phrase for p in phrases]


@tasks.register
class PhraseContext(FeatureTask):
    """The predicted-context paper's phrase generator, text embedding and multimodal classifier."""

    name = "phrase_context"
    objective = ("val_accuracy", "max")
    models = MODELS

    def check_model(self, cfg: config_lib.Config) -> None:
        check_model(cfg)
        if cfg.model_name in (GENERATOR, ENCODER) and not cfg.data.validation_fraction:
            raise config_lib.ConfigError(
                f"model {cfg.model_name!r} validates on a holdout of its training data: set "
                "data.validation_fraction (e.g. 0.1)")

    def train_splits(self, cfg) -> list[str]:
        if cfg.model_name == ENCODER:
            return [PAIRS_SPLIT]
        if cfg.model_name == GENERATOR:
            return ["train"]
        return ["train", cfg.validation_split, cfg.eval.split]

    def open_data(self, cfg: config_lib.Config):
        from tfpipe.training import datasets

        data = datasets.open_data(cfg.data.dir)
        want = KIND_OF_MODEL[cfg.model_name]
        if data.kind != want:
            raise datasets.DataError(f"{data.path} holds {data.kind!r} records; model {cfg.model_name!r} of task "
                                     f"{self.name!r} reads {want!r} records")
        datasets.check_splits(data, self.train_splits(cfg))
        return data

    # ------------------------------------------------------------------ training
    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution) -> Plan:
        builder = {GENERATOR: self._build_generator, ENCODER: self._build_encoder,
                   MULTIMODAL: self._build_multimodal}[cfg.model_name]
        return builder(cfg, data, first_epoch=first_epoch, steps_per_execution=steps_per_execution)

    def _build_generator(self, cfg, data, *, first_epoch, steps_per_execution) -> Plan:
        import tensorflow as tf

        from tfpipe.data import phrase_records
        from tfpipe.data.phrase_images import read_phrase_images
        from tfpipe.tasks.phrase_context import data as data_lib
        from tfpipe.training import datasets

        t = cfg.train
        phrases = phrase_records.read_phrases(data.path)
        softmax_ids, prototype_ids = phrase_records.vocabularies(
            phrases, int(model_key(cfg, "softmax_size")), int(model_key(cfg, "prototype_min_images")))
        k = len(softmax_ids)
        with datasets.reading(data, ["train"]):
            images = read_phrase_images(data.path, model_key(cfg, "features"), verify=cfg.data.verify)
        held = data_lib.holdout_rows(images.ids, cfg.data.validation_fraction)
        train, val = images.subset(np.flatnonzero(~held)), images.subset(np.flatnonzero(held))
        rows, targets = train.pairs(below=k)
        if not len(rows):
            raise datasets.DataError(f"{data.path}: no training image has a phrase among the {k} softmax phrases")
        train_model, generator, bottleneck = model_lib.build_generator(cfg, feature_dim=images.features.shape[1],
                                                                       num_phrases=k)
        steps = -(-len(rows) // t.batch_size)
        train_model.compile(optimizer=model_lib.make_optimizer(cfg), loss=None,
                            steps_per_execution=steps_per_execution(steps))
        table = tf.constant(train.features)
        pairs = datasets.epoch_batches({"row": rows, "phrase": targets}, np.zeros(len(rows), np.float32),
                                       batch_size=t.batch_size, seed=t.seed, first_epoch=first_epoch,
                                       epochs=t.epochs)
        train_ds = pairs.map(lambda x, y: ({"features": tf.gather(table, x["row"]), "phrase": x["phrase"]}, y))
        callbacks = [_generator_callback(generator, val.features, val.phrase_ids, cfg.eval.batch_size)]
        by_source = {s: train.sources.count(s) for s in sorted(set(train.sources))}
        describe = (
            f"tfpipe.train: phrase generator ({train_model.count_params():,} parameters: features "
            f"{images.features.shape[1]} -> {list(hidden_layers(cfg))} -> bottleneck {model_key(cfg, 'dim')} "
            f"-> eq. 1 over {k} phrases, scale {model_key(cfg, 'scale')}) on {data.path}: {len(train)} train images "
            f"({', '.join(f'{s} {n}' for s, n in by_source.items())}), {len(rows)} image-phrase pairs, "
            f"{len(val)} held-out images; sampled softmax with {model_key(cfg, 'num_sampled')} {model_key(cfg, 'sampler')} "
            f"negatives{' and log Q' if model_key(cfg, 'subtract_log_q') else ''}; {t.epochs} epochs x {steps} steps of "
            f"{t.batch_size}, {t.optimizer} lr {t.learning_rate}; val_ap_at_{AP_K} picks the epoch; "
            f"{len(prototype_ids)} phrases get a prototype")
        return Plan(model=train_model, train_ds=train_ds, val_ds=None, steps=steps, examples_per_epoch=len(rows),
                    describe=describe, splits=["train"], data=data, callbacks=callbacks,
                    monitor=f"val_ap_at_{AP_K}", monitor_mode="max",
                    state={"generator": generator, "bottleneck": bottleneck, "phrases": phrases,
                           "softmax_ids": softmax_ids, "prototype_ids": prototype_ids, "val": val,
                           "train_images": len(train), "train_pairs": int(len(rows)), "by_source": by_source})

    def _build_encoder(self, cfg, data, *, first_epoch, steps_per_execution) -> Plan:
        from tfpipe.data import phrase_records
        from tfpipe.models.phrase_encoder import gram_vocabulary
        from tfpipe.tasks.phrase_context import data as data_lib
        from tfpipe.training import datasets

        t = cfg.train
        phrases = phrase_records.read_phrases(data.path)
        texts = np.asarray(_phrase_texts(phrases), dtype=object)
        with datasets.reading(data, [PAIRS_SPLIT]):
            first, second, images = phrase_records.read_pairs(data.path)
        keys = [f"{a} {b}" for a, b in zip(first.tolist(), second.tolist())]
        held = data_lib.holdout_rows(keys, cfg.data.validation_fraction)
        vocabulary = gram_vocabulary(list(texts), min_count=int(model_key(cfg, "min_gram_count")))
        train_model, tower = model_lib.build_encoder(cfg, vocabulary=vocabulary)
        tr = np.flatnonzero(~held)
        if not len(tr):
            raise datasets.DataError(f"{data.path}: no phrase pairs to train on")
        steps = -(-len(tr) // t.batch_size)
        train_model.compile(optimizer=model_lib.make_optimizer(cfg), loss=None,
                            steps_per_execution=steps_per_execution(steps))
        x_train = {"first": texts[first[tr]].astype(str), "second": texts[second[tr]].astype(str)}
        train_ds = datasets.epoch_batches(x_train, np.zeros(len(tr), np.float32), batch_size=t.batch_size,
                                          seed=t.seed, first_epoch=first_epoch, epochs=t.epochs)
        va = np.flatnonzero(held)
        val_ds = None
        if len(va):
            import tensorflow as tf

            val_ds = tf.data.Dataset.from_tensor_slices(
                ({"first": texts[first[va]].astype(str), "second": texts[second[va]].astype(str)},
                 np.zeros(len(va), np.float32))).batch(t.batch_size)
        describe = (
            f"tfpipe.train: phrase encoder (dual encoder over {len(vocabulary)} unigrams + bigrams -> "
            f"{model_key(cfg, 'dim')}, {tower.count_params():,} parameters) on {data.path}: {len(tr)} train / {len(va)} "
            f"held-out phrase pairs of {len(texts)} phrases; in-batch softmax scale {model_key(cfg, 'scale')}"
            f"{' both ways' if model_key(cfg, 'symmetric') else ''}; {t.epochs} epochs x {steps} steps of "
            f"{t.batch_size}, {t.optimizer} lr {t.learning_rate}; val_loss picks the epoch")
        return Plan(model=train_model, train_ds=train_ds, val_ds=val_ds, steps=steps, examples_per_epoch=len(tr),
                    describe=describe, splits=[PAIRS_SPLIT], data=data, monitor="val_loss", monitor_mode="min",
                    state={"tower": tower, "phrases": list(texts), "vocabulary": vocabulary,
                           "held_pairs": (first[va], second[va]), "train_pairs": int(len(tr))})

    def _build_multimodal(self, cfg, data, *, first_epoch, steps_per_execution) -> Plan:
        import keras
        import tensorflow as tf

        from tfpipe.data.fractions import fraction_subset
        from tfpipe.tasks.phrase_context import features as features_lib
        from tfpipe.training import datasets

        t = cfg.train
        require_runs(cfg)
        val_split = cfg.validation_split
        with datasets.reading(data, ["train", val_split]):
            train = features_lib.read(cfg, data, "train")
            val = features_lib.read(cfg, data, val_split)
        keep = fraction_subset(train.ids, train.labels, float(model_key(cfg, "train_fraction")), seed=t.seed)
        train = train.subset(keep)
        num_classes = len(data.manifest.class_names)
        inputs = model_inputs(cfg)
        ctx = features_lib.context_model(cfg) if "context" in inputs else None
        x_train, x_val = train.inputs(inputs, ctx, cfg), val.inputs(inputs, ctx, cfg)
        classifier = model_lib.build_classifier(cfg, num_classes=num_classes, visual_dim=train.features.shape[1],
                                                context_dim=features_lib.context_dim(ctx))
        steps = -(-len(train) // t.batch_size)
        classifier.compile(optimizer=model_lib.make_optimizer(cfg), loss=keras.losses.SparseCategoricalCrossentropy(),
                           metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")],
                           steps_per_execution=steps_per_execution(steps))
        train_ds = datasets.epoch_batches(x_train, train.labels, batch_size=t.batch_size, seed=t.seed,
                                          first_epoch=first_epoch, epochs=t.epochs)
        val_ds = tf.data.Dataset.from_tensor_slices((x_val, val.labels)).batch(cfg.eval.batch_size)
        per_class = np.bincount(train.labels, minlength=num_classes)
        describe = (
            f"tfpipe.train: {'+'.join(inputs)} classifier ({classifier.count_params():,} parameters"
            + (f"; context: top {model_key(cfg, 'top_phrases')} {model_key(cfg, 'context')} phrases" if ctx else "")
            + f") on {data.path}: {len(train)} train images ({model_key(cfg, 'train_fraction'):g} of each class: "
            f"{int(per_class[per_class > 0].min())}-{int(per_class.max())} per class), {len(val)} {val_split}, "
            f"{num_classes} classes; {t.epochs} epochs x {steps} steps of {t.batch_size}, {t.optimizer} lr "
            f"{t.learning_rate}; val_accuracy picks the epoch")
        return Plan(model=classifier, train_ds=train_ds, val_ds=val_ds, steps=steps, examples_per_epoch=len(train),
                    describe=describe, splits=["train", val_split], data=data, monitor="val_accuracy",
                    monitor_mode="max",
                    state={"context": ctx, "train_images": len(train), "val_images": len(val),
                           "train_ids": list(train.ids), "inputs": list(inputs)})

    # ------------------------------------------------------------------ finishing
    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        finisher = {GENERATOR: self._finish_generator, ENCODER: self._finish_encoder,
                    MULTIMODAL: self._finish_multimodal}[cfg.model_name]
        head = {"model": cfg.model_name, "task": self.name, "data_dir": plan.data.path, "dataset": plan.data.name,
                "params": plan.model.count_params(), "epochs": cfg.train.epochs, "steps_per_epoch": plan.steps}
        results = {**head, **run}
        results.update(finisher(cfg, plan, model_dir, results))
        return results

    def _finish_generator(self, cfg, plan, model_dir, results) -> dict[str, Any]:
        from tfpipe.index.query_index import QueryIndex
        from tfpipe.models.phrase_generator import PHRASE_SOFTMAX
        from tfpipe.tasks.phrase_context import context as context_lib
        from tfpipe.training import runs

        s = plan.state
        s["generator"].save(os.path.join(model_dir, layout.GENERATOR_FILE))
        s["bottleneck"].save(os.path.join(model_dir, layout.BOTTLENECK_FILE))
        texts = _phrase_texts(s["phrases"])
        runs.write_json(os.path.join(model_dir, VOCABULARY_FILE), {
            "softmax": [texts[i] for i in s["softmax_ids"]],
            "prototype_ids": [int(i) for i in s["prototype_ids"]],
            "prototype_min_images": int(model_key(cfg, "prototype_min_images"))})
        kernel = np.asarray(s["generator"].get_layer(PHRASE_SOFTMAX).kernel, np.float32)
        k = len(s["softmax_ids"])
        engine = "exact" if k < int(model_key(cfg, "scann_from")) else "scann"
        QueryIndex([texts[i] for i in s["softmax_ids"]], kernel, engine=engine).save(
            os.path.join(model_dir, context_lib.SOFTMAX_INDEX_DIR))
        evaluated = self._generator_results(model_dir, cfg, plan.data.path, generator=s["generator"], val=s["val"],
                                            prototype_phrases=len(s["prototype_ids"]),
                                            trained=results)
        runs.write_json(os.path.join(model_dir, runs.RESULTS), evaluated)
        ranking = evaluated["phrase_ranking"]
        print(f"tfpipe.train: held-out images ({ranking['images']}): phrase precision@1 "
              f"{100 * ranking['precision_at_1']:.1f} %, AP@{AP_K} {100 * ranking[f'ap_at_{AP_K}']:.1f} % over {k} "
              f"softmax phrases; next: python -m beam_jobs.prototypes --model_dir {model_dir}, then python -m "
              f"tfpipe.evaluate --model_dir {model_dir} (the zero-shot rows with both output spaces)", flush=True)
        return {"train_images": s["train_images"], "train_pairs": s["train_pairs"], "by_source": s["by_source"],
                "softmax_phrases": k, "prototype_phrases": len(s["prototype_ids"]), "eval_results": evaluated}

    def _generator_results(self, model_dir, cfg, phrase_dir: str, *, generator=None, val=None,
                           prototype_phrases: int | None = None, trained: dict[str, Any]) -> dict[str, Any]:
        """The generator's results: the held-out images' phrase ranking (eq. 1 over the softmax
        vocabulary) and the zero-shot rows of every ``model.zero_shot`` set (section 4.3)."""
        from tfpipe.data import phrase_records
        from tfpipe.data.phrase_images import read_phrase_images
        from tfpipe.tasks.phrase_context import data as data_lib
        from tfpipe.tasks.phrase_context import evaluation
        from tfpipe.training import datasets

        if generator is None:
            generator = model_lib.load(model_dir, layout.GENERATOR_FILE)
        if val is None:
            images = read_phrase_images(phrase_dir, model_key(cfg, "features"), verify=cfg.data.verify)
            val = images.subset(np.flatnonzero(data_lib.holdout_rows(images.ids, cfg.data.validation_fraction)))
        if prototype_phrases is None:
            prototype_phrases = len(phrase_records.vocabularies(
                phrase_records.read_phrases(phrase_dir), 1, int(model_key(cfg, "prototype_min_images")))[1])
        k = int(generator.output_shape[-1])
        ranking = phrase_ranking(_generator_scores(generator, val.features, cfg.eval.batch_size), val.phrase_ids)
        out: dict[str, Any] = {"split": "holdout", "task": self.name, "model": cfg.model_name, "model_dir": model_dir,
                               "data_dir": phrase_dir, "held_out_images": len(val), "softmax_phrases": k,
                               "prototype_phrases": prototype_phrases,
                               "phrase_ranking": ranking, "zero_shot": {}}
        for name, fdir in model_key(cfg, "zero_shot").items():
            data = datasets.open_data(fdir)
            datasets.check_splits(data, ["test"])
            out["zero_shot"][name] = {"data_dir": fdir, "split": "test",
                                      **evaluation.zero_shot(model_dir, cfg, data, "test")}
        out.update({key: trained[key] for key in TRAIN_KEYS if key in trained})
        return out

    def _finish_encoder(self, cfg, plan, model_dir, results) -> dict[str, Any]:
        from tfpipe.tasks.phrase_context import evaluation
        from tfpipe.training import runs

        s = plan.state
        s["tower"].save(os.path.join(model_dir, layout.TOWER_FILE))
        first, second = s["held_pairs"]
        retrieval = evaluation.pair_retrieval(s["tower"], s["phrases"], first, second)
        evaluated = {"split": "holdout", "task": self.name, "model": cfg.model_name, "model_dir": model_dir,
                     "data_dir": plan.data.path, "held_out_pairs": int(len(first)), "phrases": len(s["phrases"]),
                     "grams": len(s["vocabulary"]), "pair_retrieval": retrieval}
        evaluated.update({key: results[key] for key in TRAIN_KEYS if key in results})
        runs.write_json(os.path.join(model_dir, runs.RESULTS), evaluated)
        if retrieval:
            print(f"tfpipe.train: held-out pairs ({retrieval['pairs']}): the partner phrase's median rank "
                  f"{retrieval['median_rank']:g} of {len(s['phrases'])}, R@10 {100 * retrieval['r10']:.1f} % "
                  f"(chance {100 * retrieval['chance_r10']:.2f} %)", flush=True)
        return {"train_pairs": s["train_pairs"], "grams": len(s["vocabulary"]), "eval_results": evaluated}

    def _finish_multimodal(self, cfg, plan, model_dir, results) -> dict[str, Any]:
        from tfpipe.training import runs

        s = plan.state
        plan.model.save(os.path.join(model_dir, layout.CLASSIFIER_FILE))
        evaluated = self.evaluate(model_dir, cfg, data_dir=plan.data.path, split=cfg.eval.split,
                                  classifier=plan.model, ctx=s["context"], trained=results)
        shown = int(model_key(cfg, "tensorboard_images"))
        if shown:
            from tfpipe.tasks.phrase_context import monitoring

            evaluated["tensorboard_image"] = monitoring.write_context_image(
                os.path.join(model_dir, runs.LOG_DIR), plan.data.manifest, evaluated["split"],
                evaluated["examples"], shown, model="+".join(s["inputs"]))
        runs.write_json(os.path.join(model_dir, runs.RESULTS), evaluated)
        with open(os.path.join(model_dir, TRAIN_IDS_FILE), "w", encoding="utf-8") as f:
            f.write("".join(f"{i}\n" for i in s["train_ids"]))
        print(f"tfpipe.train: {evaluated['split']} ({evaluated['images']} images): top-1 "
              f"{100 * evaluated['top1']:.2f} %, top-5 {100 * evaluated['top5']:.2f} %", flush=True)
        return {"train_images": s["train_images"], "val_images": s["val_images"], "inputs": s["inputs"],
                "train_fraction": float(model_key(cfg, "train_fraction")), "train_ids_file": TRAIN_IDS_FILE,
                "eval_results": evaluated}

    def summary_line(self, results: dict[str, Any]) -> str:
        ev = results.get("eval_results", {})
        head = f"trained {results.get('epochs_run')} epochs in {results.get('training_time_s') or 0:.1f} s"
        if "top1" in ev:
            return f"{head}; {ev['split']}: top-1 {100 * ev['top1']:.2f} %, top-5 {100 * ev['top5']:.2f} %"
        if "phrase_ranking" in ev:
            return f"{head}; held-out phrase AP@{AP_K} {100 * ev['phrase_ranking'][f'ap_at_{AP_K}']:.1f} %"
        if ev.get("pair_retrieval"):
            return f"{head}; held-out pairs R@10 {100 * ev['pair_retrieval']['r10']:.1f} %"
        return head

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str, classifier=None, ctx=None,
                 trained: dict[str, Any] | None = None) -> dict[str, Any]:
        """``multimodal``: top-1 / top-5 on ``split`` of ``data_dir``.  ``phrase_generator``: on its
        phrase data, the held-out phrase ranking and every ``model.zero_shot`` set; on a downstream
        features ``data_dir``, the zero-shot baseline (section 4.3) on its ``split``."""
        from tfpipe.tasks.phrase_context import evaluation
        from tfpipe.training import datasets, runs

        if trained is None:
            trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
        data = datasets.open_data(data_dir)
        if cfg.model_name == GENERATOR and data.kind == KIND_OF_MODEL[GENERATOR]:
            return self._generator_results(model_dir, cfg, data_dir, trained=trained)
        datasets.check_splits(data, [split])
        if cfg.model_name == GENERATOR:
            results = evaluation.zero_shot(model_dir, cfg, data, split)
        elif cfg.model_name == MULTIMODAL:
            results = evaluation.classify(model_dir, cfg, data, split, classifier=classifier, ctx=ctx)
        else:
            raise config_lib.ConfigError(f"model {cfg.model_name!r} is evaluated when it trains (results.json: "
                                         "held-out pair retrieval); evaluate a phrase_generator or multimodal run")
        results.update({"task": self.name, "model": cfg.model_name, "model_dir": model_dir, "data_dir": data_dir,
                        "dataset": data.name, "split": split})
        results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})
        return results

    def results_file(self, cfg, *, data_dir: str, split: str) -> str:
        """A generator evaluated on a downstream features directory (its zero-shot rows alone) writes
        ``results_zero_shot_<dataset>_<split>.json``, keeping its own ``results.json``."""
        if cfg.model_name == GENERATOR and os.path.abspath(data_dir) != os.path.abspath(cfg.data.dir):
            from tfpipe.data.datadir import DataDir

            return f"results_zero_shot_{DataDir.open(data_dir).name}_{split}.json"
        return super().results_file(cfg, data_dir=data_dir, split=split)

    def format_results(self, results: dict[str, Any]) -> str:
        from tfpipe.tasks.phrase_context import evaluation

        return evaluation.format_results(results)

    # ------------------------------------------------------------------ serving
    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        """A multimodal run as a SavedModel: image bytes -> top phrases and class (``serving``)."""
        from tfpipe.tasks.phrase_context import serving

        return serving.export(model_dir, cfg, out, data_dir=data_dir)

    def export_usage(self, out: str) -> list[str]:
        from tfpipe.tasks.phrase_context import serving

        return serving.usage(out)


__all__ = ["PhraseContext", "phrase_ranking"]
