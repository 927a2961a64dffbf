"""``task: devise``: DeViSE and its baselines on cached visual features (Frome et al. 2013).

    python -m tfpipe.train --config configs/devise_tiny_imagenet.yaml
    python -m tfpipe.evaluate --model_dir artifacts/runs/devise_tiny_imagenet
    python -m tfpipe.export --model_dir artifacts/runs/devise_tiny_imagenet

Reads a features data directory (``kind: features``, ``beam_jobs.extract_features``: the pooled
1280-d EfficientNet-Lite0 output standing for the paper's 4,096-d top layer, held fixed as in its
first stage) and trains one of three models (``model.name``), the rows of the paper's Table 1:

``devise_softmax``  the softmax baseline: pooled feature -> dense softmax over the training
                    classes (sparse cross-entropy).  With ``model.label_vectors`` it ranks the
                    classes those vectors cover and gives ConSE's zero-shot rows.
``devise``          pooled feature ``v`` -> linear projection ``M`` (no bias) into the
                    word-vector space; the score of class ``j`` is ``t_j . M v`` against the
                    frozen, unit-normed label matrix ``T`` (``labels``: ``model.label_vectors``,
                    ``model.center_vectors``); the hinge rank loss of eq. 1 with margin
                    ``model.margin`` (0.1), ``model.loss_form`` ``truncated`` (the paper's: the
                    wrong labels visited in a random order, the sum stopped at the first one that
                    violates the margin) or ``full``.
``devise_random``   the same with random unit label vectors (``model.dim``, ``model.label_seed``)
                    on the classes ``model.classes_with_vectors`` covers.

Stage 2 (section 3.3, "back-propagated into the core visual model"): ``model.visual_top:
stride16`` reads the cached stride-16 maps instead and trains the visual model's top blocks on
them (``tfpipe.models.vision.top``), starting from the stage-1 run ``model.init_from``.

The training classes are those with images in ``train`` (Tiny-ImageNet by class: the 162 seen
ones).  A class without a label vector is left out of the candidates, and its images out of
training and evaluation, printed and listed (``uncovered_classes``); zero-shot candidate sets are
``model.label_sets`` (``labels``).  Training: ``train.batch_size``, ``train.epochs``,
``train.learning_rate`` with ``train.schedule`` (constant, paper_step, cosine), ``train.seed``;
``model.optimizer``: ``adagrad`` (the default, the paper's; Keras' initial accumulator 0.1) or one
of ``train.optimizer``'s choices.  The features are read once into memory; epoch ``e`` visits train
in a permutation drawn from ``(train.seed, e)`` and the truncated loss's orders come from
``(model.loss_seed, optimizer step)``, so a resumed run is exact.  ``val_accuracy`` (flat hit@1 on
``data.validation_fraction``'s holdout of train, else the validation split) picks the best epoch.

After training: ``evaluation`` (Tables 1 and 2 into ``results.json``), ``monitoring``
(TensorBoard projector and mistakes image), ``labels`` (``labels.json`` and ``label_index/``),
``serving`` (``tfpipe.export``), ``report`` (``tfpipe.report``).
"""
from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks import base
from tfpipe.tasks.base import FeatureTask, Plan
from tfpipe.tasks.devise import evaluation
from tfpipe.tasks.devise import labels as labels_lib
from tfpipe.tasks.devise.data import (epoch_batches, feature_output, left_out, read_run_split, read_split,
                                      read_splits, to_candidates, training_classes, visual_top_spec)
from tfpipe.tasks.devise.keys import (DEVISE, LOSS_FORMS, MODEL_KEYS, MODELS, OPTIMIZERS, OUTPUT, RANDOM,
                                      SCHEDULES, SOFTMAX, check_model, model_key, require_vectors)
from tfpipe.tasks.devise.model import build_model, hinge_loss, init_head, load_model, make_optimizer

LABELS_FILE = labels_lib.LABELS_FILE
TRAIN_KEYS = base.TRAIN_KEYS
__all__ = ["DEVISE", "LOSS_FORMS", "MODEL_KEYS", "MODELS", "OPTIMIZERS", "OUTPUT", "RANDOM", "SCHEDULES", "SOFTMAX",
           "build_model", "epoch_batches", "feature_output", "hinge_loss", "init_head", "load_model",
           "make_optimizer", "model_key", "read_split", "read_splits", "require_vectors", "to_candidates",
           "visual_top_spec", "Devise"]


def seen_labels(cfg: config_lib.Config, manifest, classes: list[int]) -> labels_lib.LabelSet:
    """The run's training candidates (``labels.seen_set``) as the model and config ask."""
    name = cfg.model_name
    if name == RANDOM:
        return labels_lib.seen_set(manifest, classes, vectors=None, restrict=model_key(cfg, "classes_with_vectors"),
                                   random=(int(model_key(cfg, "dim")), int(model_key(cfg, "label_seed"))))
    if name == SOFTMAX and not model_key(cfg, "label_vectors"):
        return labels_lib.seen_set(manifest, classes, vectors=None, restrict=model_key(cfg, "classes_with_vectors"))
    return labels_lib.seen_set(manifest, classes, vectors=model_key(cfg, "label_vectors"),
                               center=bool(model_key(cfg, "center_vectors")))


def zero_shot_sets(cfg: config_lib.Config) -> list[labels_lib.LabelSet]:
    """Every zero-shot set of ``model.label_sets`` (DeViSE, and the softmax baseline with label
    vectors: its softmax and ConSE rows), in config order."""
    vectors = model_key(cfg, "label_vectors")
    return [labels_lib.zero_shot_set(name, spec, vectors, center=bool(model_key(cfg, "center_vectors")))
            for name, spec in labels_lib.parse_label_sets(model_key(cfg, "label_sets")).items()]


# --------------------------------------------------------------------------- the task


@tasks.register
class Devise(FeatureTask):
    """DeViSE and its baselines on frozen features (Frome et al. 2013, Tables 1 and 2)."""

    name = "devise"
    objective = ("val_accuracy", "max")
    models = MODELS

    def check_model(self, cfg: config_lib.Config) -> None:
        if cfg.train.optimizer != config_lib.TrainConfig.optimizer:
            raise config_lib.ConfigError(
                f"train.optimizer={cfg.train.optimizer!r} is not read by task 'devise': set model.optimizer "
                f"({', '.join(OPTIMIZERS)}; default adagrad, the paper's)")
        if cfg.train.schedule not in SCHEDULES:
            raise config_lib.ConfigError(
                f"train.schedule={cfg.train.schedule!r} does not apply to devise; valid: {', '.join(SCHEDULES)}")
        check_model(cfg)

    def train_splits(self, cfg) -> list[str]:
        return ["train", cfg.validation_split]

    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution) -> Plan:
        import keras
        import tensorflow as tf

        from tfpipe.training import datasets, schedules

        require_vectors(cfg)
        t, manifest = cfg.train, data.manifest
        val_split = cfg.validation_split
        classes = training_classes(manifest)
        seen = seen_labels(cfg, manifest, classes)
        candidates = seen.classes
        if seen.uncovered and verbose:
            print(f"tfpipe.train: {len(seen.uncovered)} of {len(classes)} training classes have no label "
                  f"vector in {model_key(cfg, 'label_vectors') or model_key(cfg, 'classes_with_vectors')} and are "
                  "left out (candidates, training and evaluation): "
                  + ", ".join(f"{r['text']!r}" for r in seen.uncovered), flush=True)
        stored = list(dict.fromkeys(["train", datasets.stored_split(cfg, val_split)[0]]))
        with datasets.reading(data, stored):
            x_train, y_train = read_run_split(cfg, data, "train", batch_size=t.batch_size)
            x_val, y_val = read_run_split(cfg, data, val_split, batch_size=cfg.eval.batch_size)
        keep_tr, pos_tr = to_candidates(y_train, candidates)
        keep_va, pos_va = to_candidates(y_val, candidates)
        dropped = {"train": left_out(y_train, keep_tr, manifest), val_split: left_out(y_val, keep_va, manifest)}
        x_train, y_train = x_train[keep_tr], pos_tr[keep_tr]
        x_val, y_val = x_val[keep_va], pos_va[keep_va]
        n = len(y_train)
        if n == 0:
            raise datasets.DataError(f"no train images of a candidate class in {data.path}")
        steps = -(-n // t.batch_size)
        train_ds = epoch_batches(x_train, y_train, batch_size=t.batch_size, seed=t.seed,
                                 first_epoch=first_epoch, epochs=t.epochs)
        val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(cfg.eval.batch_size) if len(y_val) else None

        name = cfg.model_name
        model = build_model(name, input_dim=x_train.shape[1], num_classes=len(candidates),
                            label_matrix=None if name == SOFTMAX else seen.matrix,
                            visual_top=visual_top_spec(cfg, data))
        if model_key(cfg, "init_from") and first_epoch == 0:
            init_head(model, model_key(cfg, "init_from"))
        optimizer = make_optimizer(cfg)
        if name == SOFTMAX:
            loss = keras.losses.SparseCategoricalCrossentropy()
        else:
            loss = hinge_loss(len(candidates), margin=float(model_key(cfg, "margin")),
                              form=model_key(cfg, "loss_form"), seed=int(model_key(cfg, "loss_seed")))
            loss.attach(optimizer.iterations)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                      steps_per_execution=steps_per_execution(steps))
        form = "" if name == SOFTMAX else f", {model_key(cfg, 'loss_form')} hinge rank loss margin {model_key(cfg, 'margin')}"
        describe = (
            f"tfpipe.train: {name} ({model.count_params():,} parameters) on {data.path} [{n} train / {len(y_val)} "
            f"{val_split}], {len(candidates)} candidate classes{form}, {model_key(cfg, 'optimizer')} lr "
            f"{t.learning_rate} ({t.schedule}), {t.epochs} epochs x {steps} steps of {t.batch_size}"
        )
        return Plan(
            model=model, train_ds=train_ds, val_ds=val_ds, steps=steps, examples_per_epoch=n,
            describe=describe, splits=stored, data=data,
            callbacks=[schedules.EpochLearningRate(t)], monitor="val_accuracy", monitor_mode="max",
            state={"seen": seen, "classes": classes, "left_out": dropped, "train_count": n,
                   "val_count": int(len(y_val)), "val_split": val_split},
        )

    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        from tfpipe.training import runs

        model, state, seen = plan.model, plan.state, plan.state["seen"]
        model.save(os.path.join(model_dir, runs.MODEL_FILE))
        sets = [seen] + zero_shot_sets(cfg)
        index = labels_lib.build_index(sets, scann_from=int(model_key(cfg, "scann_from")))
        labels_lib.save(model_dir, cfg.model_name, sets, state["classes"], index)
        head = {
            "model": cfg.model_name, "task": self.name, "data_dir": plan.data.path, "dataset": plan.data.name,
            "params": model.count_params(), "train_examples": state["train_count"],
            "validation_split": state["val_split"], "validation_examples": state["val_count"],
            "training_classes": len(state["classes"]), "candidate_classes": len(seen.labels),
            "uncovered_classes": [r["text"] for r in seen.uncovered],
            "partial_classes": [r["text"] for r in seen.partial],
            "images_left_out": state["left_out"], "label_vectors": seen.source,
            "classes_with_vectors": model_key(cfg, "classes_with_vectors"),
            "label_sets": {s.name: len(s.labels) for s in sets[1:]},
            "optimizer": model_key(cfg, "optimizer"),
            "loss_form": None if cfg.model_name == SOFTMAX else model_key(cfg, "loss_form"),
            "epochs": cfg.train.epochs, "steps_per_epoch": plan.steps, "batch_size": cfg.train.batch_size,
        }
        results = {**head, **run}
        # The evaluation of eval.split, as tfpipe.evaluate writes it (results.json).
        evaluated = self.evaluate(model_dir, cfg, data_dir=plan.data.path, split=cfg.eval.split,
                                  model=model, trained=results)
        runs.write_json(os.path.join(model_dir, runs.RESULTS), evaluated)
        from tfpipe.tasks.devise import monitoring

        results["tensorboard_extras"] = monitoring.write(os.path.join(model_dir, runs.LOG_DIR), cfg, model,
                                                         {s.name: s for s in sets}, index, evaluated, data=plan.data)
        results["eval"] = {k: evaluated[k] for k in ("split", "num_examples", "hit_at_k", "hierarchical_precision_at_k")}
        print(f"tfpipe.train: {cfg.model_name} on {evaluated['split']} ({evaluated['num_examples']} images): "
              + _metrics_line(evaluated), flush=True)
        for set_name, zs in evaluated.get("zero_shot", {}).items():
            for row, values in zs["rows"].items():
                print(f"tfpipe.train: zero-shot {set_name} ({zs['images']} images), {row} "
                      f"[{values['candidates']} candidates]: {_metrics_line(values)}", flush=True)
        return results

    def summary_line(self, results: dict[str, Any]) -> str:
        ev = results.get("eval", {})
        return (f"trained {results['epochs_run']} epochs in {results['training_time_s']:.1f} s "
                f"({results['examples_per_sec'] or 0:.0f} examples/s); {ev.get('split')}: {_metrics_line(ev)}")

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str, model=None,
                 trained: dict[str, Any] | None = None) -> dict[str, Any]:
        """Table 1 on ``split`` (flat hit@k and hierarchical precision@k over the training
        candidates) and, when the run has zero-shot label sets, Table 2 for each of them
        (``zero_shot``): see ``tfpipe.tasks.devise.evaluation``."""
        from tfpipe import metrics
        from tfpipe.training import datasets, runs

        started = time.perf_counter()
        data = datasets.open_data(data_dir)
        datasets.check_splits(data, [split])
        sets, index = labels_lib.load(model_dir)
        seen = sets[labels_lib.SEEN]
        if model is None:
            model = load_model(model_dir)
        with datasets.reading(data, [datasets.stored_split(cfg, split)[0]]):
            x, y = read_run_split(cfg, data, split, batch_size=cfg.eval.batch_size)
        keep, pos = to_candidates(y, seen.classes)
        dropped = left_out(y, keep, data.manifest)
        x, y = x[keep], pos[keep]
        if not len(y):
            raise datasets.DataError(f"split {split!r} of {data_dir} has no image of the run's {len(seen.labels)} "
                                     "candidate classes")
        scores = self.seen_scores(cfg, model, index, x, k=max(evaluation.HIERARCHICAL_KS + evaluation.FLAT_KS))
        graph, _ = evaluation.hierarchy([r.get("synset") for r in seen.labels])
        table1 = evaluation.metrics_of(scores, y, graph, flat_ks=evaluation.FLAT_KS,
                                       hierarchical_ks=evaluation.HIERARCHICAL_KS)
        texts = [r["text"] for r in seen.labels]
        cm = metrics.confusion_matrix(y, scores.argmax(axis=1), len(seen.labels))
        results: dict[str, Any] = {
            # top-1 over the candidates (named by their readable text): accuracy, error %,
            # per-class accuracy, confusion matrix (what python -m tfpipe.evaluate prints)
            **metrics.summary(cm, texts),
            "split": split, "model": cfg.model_name, "task": self.name, "model_dir": model_dir,
            "data_dir": data_dir, "dataset": data.name, "num_examples": int(len(y)),
            "candidate_classes": len(seen.labels), **table1,
            "label_dim": None if seen.matrix is None or cfg.model_name == SOFTMAX else int(seen.matrix.shape[1]),
            "chance": evaluation.chance(len(y), y, len(seen.labels), graph, flat_ks=evaluation.FLAT_KS,
                                        hierarchical_ks=evaluation.HIERARCHICAL_KS),
            "classes_without_synset": [r["text"] for r in seen.labels if not r.get("synset")],
            "uncovered_classes": [r["text"] for r in seen.uncovered],
            "partial_classes": [r["text"] for r in seen.partial],
            "images_left_out": dropped, "images_left_out_count": int((~keep).sum()),
            "label_vectors": seen.source,
        }
        zero_shot = {name: self.zero_shot(cfg, model, index, seen, s)
                     for name, s in sets.items() if name != labels_lib.SEEN}
        if zero_shot:
            results["zero_shot"] = zero_shot
        results["eval_time_s"] = time.perf_counter() - started
        if trained is None:
            trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
        results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})
        return results

    def seen_scores(self, cfg, model, index, x: np.ndarray, *, k: int) -> np.ndarray:
        """``[N, seen candidates]``: the softmax's probabilities, or the label index's nearest
        ``k`` training labels of ``M v`` (the rest -inf)."""
        if cfg.model_name == SOFTMAX:
            return np.asarray(model.predict(x, batch_size=cfg.eval.batch_size, verbose=0), np.float32)
        queries = evaluation.embed(model, x, batch_size=cfg.eval.batch_size)
        return evaluation.ranked_scores(index, queries, index.subsets[labels_lib.SEEN], k)

    def zero_shot(self, cfg, model, index, seen: labels_lib.LabelSet, zs: labels_lib.LabelSet) -> dict[str, Any]:
        """Table 2 on one zero-shot set: its images (the covered classes) ranked against the set's
        labels (``-0``) and the set's + the training labels (``+seen``)."""
        from tfpipe.training import datasets

        data = datasets.open_data(zs.data_dir)
        with datasets.reading(data, zs.splits):
            x, y = read_splits(data, zs.splits, batch_size=cfg.eval.batch_size, verify=cfg.data.verify,
                               output=feature_output(cfg))
        keep, pos = to_candidates(y, zs.classes)
        x, truth = x[keep], pos[keep]
        out: dict[str, Any] = {"data_dir": zs.data_dir, "splits": zs.splits, "images": int(len(truth)),
                               "images_left_out_count": int((~keep).sum()), "candidates": len(zs.labels),
                               "uncovered_classes": [r["text"] for r in zs.uncovered],
                               "partial_classes": [r["text"] for r in zs.partial],
                               "classes_without_synset": [r["text"] for r in zs.labels if not r.get("synset")],
                               "rows": {}}
        if not len(truth):
            return out
        k = max(evaluation.ZERO_SHOT_KS)
        alone = zs.keys
        both = zs.keys + seen.keys
        graph_alone, _ = evaluation.hierarchy([r.get("synset") for r in zs.labels])
        graph_both, dropped = evaluation.hierarchy([r.get("synset") for r in zs.labels + seen.labels])
        out["seen_classes_sharing_a_synset"] = [(zs.labels + seen.labels)[i]["text"] for i in dropped]
        ks = {"flat_ks": evaluation.ZERO_SHOT_KS, "hierarchical_ks": evaluation.ZERO_SHOT_KS}

        def row(name, scores, graph):
            out["rows"][name] = {"candidates": int(scores.shape[1]), **evaluation.metrics_of(scores, truth, graph, **ks)}

        if cfg.model_name == SOFTMAX:
            probs = np.asarray(model.predict(x, batch_size=cfg.eval.batch_size, verbose=0), np.float32)
            softmax = np.concatenate([np.full((len(x), len(alone)), -np.inf, np.float32), probs], axis=1)
            row("softmax", softmax, graph_both)
            # It names training labels only: no zero-shot hit at any k (the metric's k >= C rule
            # would count the -inf labels as predictions).
            out["rows"]["softmax"]["hit_at_k"] = {str(k): 0.0 for k in evaluation.ZERO_SHOT_KS}
            queries = evaluation.conse_embedding(probs, seen.matrix, int(model_key(cfg, "conse_top")))
            prefix = f"ConSE(T={int(model_key(cfg, 'conse_top'))})"
        else:
            queries = evaluation.embed(model, x, batch_size=cfg.eval.batch_size)
            prefix = "DeViSE"
        row(f"{prefix}-0", evaluation.ranked_scores(index, queries, alone, k), graph_alone)
        row(f"{prefix}+seen", evaluation.ranked_scores(index, queries, both, k), graph_both)
        out["chance"] = {
            "-0": {"candidates": len(alone), **evaluation.chance(len(truth), truth, len(alone), graph_alone, **ks)},
            "+seen": {"candidates": len(both), **evaluation.chance(len(truth), truth, len(both), graph_both, **ks)},
        }
        return out

    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        from tfpipe.tasks.devise import serving

        return serving.export(model_dir, cfg, out, model=load_model(model_dir))


    def export_usage(self, out: str) -> list[str]:
        from tfpipe.tasks.devise import serving

        info = serving.read_info(out)
        names = ", ".join(f"{n} ({v['candidates']} labels)" for n, v in info["signatures"].items())
        return [f"exported {out}  (images string[None] -> top-{info['k']} labels, texts, scores; signatures: {names})",
                f"try: python -m tfpipe.predict --model {out} --image FILE.jpg [--labels SIGNATURE]"]


def _metrics_line(results: dict[str, Any]) -> str:
    line = ", ".join(f"hit@{k} {100 * v:.1f}%" for k, v in results.get("hit_at_k", {}).items())
    return line + "; " + ", ".join(f"hp@{k} {v:.3f}" for k, v in results.get("hierarchical_precision_at_k", {}).items())
