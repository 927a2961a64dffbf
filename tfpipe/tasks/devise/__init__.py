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

import dataclasses
import os
import time
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks.base import Plan, Task
from tfpipe.tasks.devise import evaluation
from tfpipe.tasks.devise import labels as labels_lib

SOFTMAX, DEVISE, RANDOM = "devise_softmax", "devise", "devise_random"
MODELS = (SOFTMAX, DEVISE, RANDOM)
LOSS_FORMS = ("truncated", "full")
OPTIMIZERS = ("adagrad",) + tuple(config_lib.OPTIMIZERS)
SCHEDULES = ("constant", "paper_step", "cosine")
# Every model key, its default, and the models that read it.
MODEL_KEYS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "optimizer": ("adagrad", MODELS),
    "label_vectors": (None, (DEVISE, SOFTMAX)),
    "label_sets": (None, (DEVISE, SOFTMAX)),
    "center_vectors": (False, (DEVISE, SOFTMAX)),
    "loss_form": ("truncated", (DEVISE, RANDOM)),
    "margin": (0.1, (DEVISE, RANDOM)),
    "loss_seed": (0, (DEVISE, RANDOM)),
    "classes_with_vectors": (None, (SOFTMAX, RANDOM)),
    "dim": (500, (RANDOM,)),
    "label_seed": (0, (RANDOM,)),
    "conse_top": (10, (SOFTMAX,)),
    "scann_from": (10_000, MODELS),
    "visual_top": (None, MODELS),
    "init_from": (None, MODELS),
}
OUTPUT = "pooled"
LABELS_FILE = labels_lib.LABELS_FILE
TRAIN_KEYS = ("training_time_s", "examples_per_sec", "epochs_run", "mixed_precision", "params")


# --------------------------------------------------------------------------- model parts


def _keras():
    import keras

    return keras


def build_model(name: str, *, input_dim: int, num_classes: int, label_matrix: np.ndarray | None = None,
                visual_top: dict[str, Any] | None = None):
    """The Keras model of ``name``: ``features [B, input_dim]`` -> softmax probabilities
    (``devise_softmax``) or DeViSE scores ``T M v`` (``[B, C]`` with ``T = label_matrix``).

    ``visual_top`` (``{"model", "tap", "shape", "image_size"}``): the features are the flattened
    ``tap`` maps and the visual model's top (``tfpipe.models.vision.top``) turns them into ``v``
    before the head: DeViSE's stage 2."""
    keras = _keras()
    from tfpipe.models import heads

    inputs = keras.Input(shape=(int(input_dim),), name="features")
    v = inputs
    if visual_top is not None:
        from tfpipe.models import vision

        maps = keras.layers.Reshape(tuple(visual_top["shape"]), name="feature_map")(inputs)
        v = vision.top(visual_top["model"], tap=visual_top["tap"], image_size=visual_top["image_size"])(maps)
    if name == SOFTMAX:
        out = heads.apply("softmax", v, num_classes=int(num_classes))
        return keras.Model(inputs, out, name=name)
    if label_matrix is None:
        raise ValueError(f"model {name!r} needs its label matrix")
    table = np.asarray(label_matrix, np.float32)
    if table.shape[0] != num_classes:
        raise ValueError(f"{table.shape[0]} label vectors for {num_classes} classes")
    from tfpipe.layers import LabelScores

    projected = heads.apply("projection", v, dim=int(table.shape[1]), use_bias=False, name="projection")
    scores_layer = LabelScores(table.shape[0], table.shape[1], name="label_scores")
    out = scores_layer(projected)
    scores_layer.table.assign(table)
    return keras.Model(inputs, out, name=name)


def hinge_loss(num_labels: int, *, margin: float, form: str, seed: int):
    """Eq. 1 on the scores the model outputs: ``losses.DeViSEHingeRankLoss`` with the identity as
    the label table (the model's ``LabelScores`` already applied ``T``); ``attach`` it to the
    optimizer's step for exact resume."""
    from tfpipe import losses

    return losses.DeViSEHingeRankLoss(np.eye(num_labels, dtype=np.float32), margin=margin,
                                      truncated=form == "truncated", seed=seed)


def make_optimizer(cfg: config_lib.Config):
    keras = _keras()
    from tfpipe.training import optimizers

    t = cfg.train
    name = model_key(cfg, "optimizer")
    if name == "adagrad":
        if t.clipnorm is not None and t.global_clipnorm is not None:
            raise config_lib.ConfigError("set train.clipnorm or train.global_clipnorm, not both")
        return keras.optimizers.Adagrad(learning_rate=t.learning_rate, clipnorm=t.clipnorm,
                                        global_clipnorm=t.global_clipnorm, weight_decay=t.weight_decay or None)
    return optimizers.make_optimizer(dataclasses.replace(t, optimizer=name))


# --------------------------------------------------------------------------- config


def model_key(cfg: config_lib.Config, key: str) -> Any:
    default, _ = MODEL_KEYS[key]
    value = cfg.model.get(key, default)
    if key == "margin" and isinstance(value, str):
        value = float(value)
    return value


def _check_model(cfg: config_lib.Config) -> None:
    name = cfg.model_name
    valid = [k for k, (_, users) in MODEL_KEYS.items() if name in users]
    unknown = sorted(set(cfg.model_kwargs) - set(valid))
    if unknown:
        raise config_lib.ConfigError(
            f"unknown key(s) for model {name!r}: {', '.join(unknown)}; valid keys: name, {', '.join(valid)}")
    if model_key(cfg, "optimizer") not in OPTIMIZERS:
        raise config_lib.ConfigError(
            f"model.optimizer={model_key(cfg, 'optimizer')!r}; valid optimizers: {', '.join(OPTIMIZERS)} "
            "(adagrad: the paper's)")
    if name in (DEVISE, RANDOM):
        if model_key(cfg, "loss_form") not in LOSS_FORMS:
            raise config_lib.ConfigError(
                f"model.loss_form={model_key(cfg, 'loss_form')!r}; valid forms: {', '.join(LOSS_FORMS)} "
                "(truncated: the paper's)")
        try:
            margin = float(model_key(cfg, "margin"))
        except (TypeError, ValueError):
            margin = -1.0
        if not margin > 0:
            raise config_lib.ConfigError(f"model.margin={cfg.model.get('margin')!r} must be a positive number "
                                         "(the paper: 0.1)")
    if name == RANDOM and (not isinstance(model_key(cfg, "dim"), int) or model_key(cfg, "dim") < 1):
        raise config_lib.ConfigError(f"model.dim={cfg.model.get('dim')!r} must be a positive int (e.g. 500)")
    if name == DEVISE and not model_key(cfg, "label_vectors"):
        raise config_lib.ConfigError(
            "model devise needs model.label_vectors: a skip-gram run directory (vectors.npy + words.txt, "
            "e.g. artifacts/runs/skipgram_text_corpora_ns) or a word2vec file; devise_random uses random "
            "unit vectors instead, devise_softmax none")
    if name == SOFTMAX and model_key(cfg, "label_vectors") and model_key(cfg, "classes_with_vectors"):
        raise config_lib.ConfigError("set model.label_vectors (classes with a vector, ConSE and zero-shot sets) "
                                     "or model.classes_with_vectors (classes with a vector only), not both")
    if labels_lib.parse_label_sets(model_key(cfg, "label_sets")) and not model_key(cfg, "label_vectors"):
        raise config_lib.ConfigError("model.label_sets needs model.label_vectors: the zero-shot labels' vectors")
    if not isinstance(model_key(cfg, "center_vectors"), bool):
        raise config_lib.ConfigError(f"model.center_vectors={cfg.model.get('center_vectors')!r} must be true or false")
    if model_key(cfg, "visual_top") is not None:
        from tfpipe.models import vision

        if model_key(cfg, "visual_top") not in vision.TOP_TAPS:
            raise config_lib.ConfigError(f"model.visual_top={model_key(cfg, 'visual_top')!r}; valid: "
                                         f"{', '.join(vision.TOP_TAPS)} (the cached map the fine-tuned top starts from)")
    init = model_key(cfg, "init_from")
    if init is not None and not isinstance(init, str):
        raise config_lib.ConfigError(f"model.init_from={init!r} must be a run directory (stage 1)")
    for key in ("conse_top", "scann_from"):
        value = model_key(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a positive int "
                                         f"(default {MODEL_KEYS[key][0]})")


def require_vectors(cfg: config_lib.Config) -> None:
    """The label vectors and zero-shot data directories the config names exist (checked when a
    run starts, like its data: a shipped config names runs and data that earlier commands write)."""
    restrict = model_key(cfg, "classes_with_vectors")
    if restrict and not os.path.exists(_vectors_file(restrict)):
        raise config_lib.ConfigError(
            f"model.classes_with_vectors={restrict!r}: {_vectors_file(restrict)} does not exist")
    path = model_key(cfg, "label_vectors")
    if path and not os.path.exists(_vectors_file(path)):
        raise config_lib.ConfigError(
            f"model.label_vectors={path!r}: {_vectors_file(path)} does not exist (train the skip-gram run "
            "first: python -m tfpipe.train --config configs/skipgram_text_corpora_ns.yaml, or point at a "
            "word2vec file)")
    init = model_key(cfg, "init_from")
    if init and not os.path.exists(os.path.join(init, "model.keras")):
        raise config_lib.ConfigError(f"model.init_from={init!r}: no model.keras there (train the stage-1 run first)")
    from tfpipe.training import datasets

    for name, spec in labels_lib.parse_label_sets(model_key(cfg, "label_sets")).items():
        try:
            datasets.open_data(spec["data"])
        except (datasets.DataError, FileNotFoundError) as e:
            raise config_lib.ConfigError(f"model.label_sets.{name}: {e}") from None


def _vectors_file(path: str) -> str:
    from tfpipe.embeddings import word2vec_format

    return os.path.join(path, word2vec_format.VECTORS_NPY) if os.path.isdir(path) else path


# --------------------------------------------------------------------------- classes and label vectors


def training_classes(manifest) -> list[int]:
    """Class indices with images in ``train``, in class order."""
    counts = manifest.splits["train"].class_counts
    return [i for i, n in enumerate(counts) if n > 0]


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


def feature_output(cfg: config_lib.Config) -> str:
    """The stored output a run reads: ``pooled``, or the ``model.visual_top`` map (stage 2)."""
    return model_key(cfg, "visual_top") or OUTPUT


def visual_top_spec(cfg: config_lib.Config, data) -> dict[str, Any] | None:
    """``build_model``'s ``visual_top`` for a run, from the features manifest (None: stage 1)."""
    tap = model_key(cfg, "visual_top")
    if not tap:
        return None
    info = data.manifest.features
    entries = {e["name"]: e for e in info["outputs"]}
    if tap not in entries:
        raise config_lib.ConfigError(
            f"model.visual_top={tap!r} but {data.path} stores {', '.join(entries)}: extract the maps with "
            f"python -m beam_jobs.extract_features --outputs {tap} --output_dir <a new features dir>")
    return {"model": info["model"], "tap": tap, "shape": list(entries[tap]["shape"]),
            "image_size": int(info["image_size"])}


def read_split(data, split: str, *, batch_size: int, verify: str,
               holdout=None, output: str = OUTPUT) -> tuple[np.ndarray, np.ndarray]:
    """``(features float32[n, d], class index int64[n])`` of a stored split (the mean of its
    views); ``holdout`` (``pipeline.Holdout``): only the records on its side (the stable hash of
    each record id, as every task's ``data.validation_fraction`` holdout)."""
    from tfpipe.data import feature_records, pipeline

    xs, ys = [], []
    for x, y, ids in feature_records.make_feature_dataset(data, split, output=output, views="mean",
                                                          batch_size=max(batch_size, 1024), training=False,
                                                          cache=False, verify=verify, with_ids=True):
        if holdout is not None:
            keep = pipeline.in_holdout(ids, holdout.fraction).numpy() == holdout.take
            x, y = x.numpy()[keep], y.numpy()[keep]
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    dim = int({e["name"]: e for e in data.manifest.features["outputs"]}[output]["size"])
    if not xs:
        return np.zeros([0, dim], np.float32), np.zeros([0], np.int64)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def read_run_split(cfg: config_lib.Config, data, split: str, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``read_split`` of a run's split name: ``holdout`` and ``train`` are the two sides of
    ``data.validation_fraction`` when it is set (``datasets.stored_split``)."""
    from tfpipe.training import datasets

    stored, holdout = datasets.stored_split(cfg, split)
    return read_split(data, stored, batch_size=batch_size, verify=cfg.data.verify, holdout=holdout,
                      output=feature_output(cfg))


def read_splits(data, splits, *, batch_size: int, verify: str, output: str = OUTPUT) -> tuple[np.ndarray, np.ndarray]:
    """``read_split`` of several stored splits, concatenated."""
    parts = [read_split(data, s, batch_size=batch_size, verify=verify, output=output) for s in splits]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def to_candidates(labels: np.ndarray, candidates: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(keep mask, candidate position)`` of class indices ``labels``."""
    position = {c: k for k, c in enumerate(candidates)}
    mapped = np.array([position.get(int(c), -1) for c in labels], np.int64)
    return mapped >= 0, mapped


def _left_out(labels: np.ndarray, keep: np.ndarray, manifest) -> dict[str, int]:
    names = manifest.class_names
    out: dict[str, int] = {}
    for c in labels[~keep].tolist():
        out[names[c]] = out.get(names[c], 0) + 1
    return out


# --------------------------------------------------------------------------- the task


@tasks.register
class Devise(Task):
    """DeViSE and its baselines on frozen features (Frome et al. 2013, Tables 1 and 2)."""

    name = "devise"
    record_kind = "features"
    objective = ("val_accuracy", "max")
    unused_keys = ("data.feature", "data.epoch_samples", "data.trim_padding", "data.thesaurus",
                   "data.train_splits")

    def model_names(self) -> list[str]:
        return list(MODELS)

    def check(self, cfg: config_lib.Config) -> None:
        if cfg.model_name not in MODELS:
            super().check(cfg)  # names the task's models (and another task's owner)
            raise config_lib.ConfigError(
                f"task 'devise' does not train model.name={cfg.model_name!r}; its models: {', '.join(MODELS)}")
        if cfg.train.optimizer != config_lib.TrainConfig.optimizer:
            raise config_lib.ConfigError(
                f"train.optimizer={cfg.train.optimizer!r} is not read by task 'devise': set model.optimizer "
                f"({', '.join(OPTIMIZERS)}; default adagrad, the paper's)")
        if cfg.train.schedule not in SCHEDULES:
            raise config_lib.ConfigError(
                f"train.schedule={cfg.train.schedule!r} does not apply to devise; valid: {', '.join(SCHEDULES)}")
        _check_model(cfg)
        self._check_unused(cfg)

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
        left_out = {"train": _left_out(y_train, keep_tr, manifest), val_split: _left_out(y_val, keep_va, manifest)}
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
            state={"seen": seen, "classes": classes, "left_out": left_out, "train_count": n,
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

        sets_saved, index_saved = labels_lib.load(model_dir)
        results["tensorboard_extras"] = monitoring.write(os.path.join(model_dir, runs.LOG_DIR), cfg, model,
                                                         sets_saved, index_saved, evaluated, data=plan.data)
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
        left_out = _left_out(y, keep, data.manifest)
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
            "images_left_out": left_out, "images_left_out_count": int((~keep).sum()),
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


def init_head(model, run_dir: str) -> list[str]:
    """Stage 2 starts from stage 1: the weights of every layer of ``run_dir``'s ``model.keras``
    that ``model`` has under the same name (the projection M, or the softmax layer), checked
    to have the same shapes; returns the layer names copied."""
    stage1 = load_model(run_dir)
    ours = {layer.name: layer for layer in model.layers}
    copied = []
    for layer in stage1.layers:
        if not layer.weights or layer.name not in ours or layer.name == "label_scores":
            continue
        target = ours[layer.name]
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [tuple(w.shape) for w in target.get_weights()]:
            raise config_lib.ConfigError(f"model.init_from={run_dir!r}: layer {layer.name!r} has shapes {shapes}, "
                                         f"this model {[tuple(w.shape) for w in target.get_weights()]} "
                                         "(the runs must rank the same candidates in the same label space)")
        target.set_weights(layer.get_weights())
        copied.append(layer.name)
    if not copied:
        raise config_lib.ConfigError(f"model.init_from={run_dir!r}: no layer of its model.keras matches this model")
    return copied


def _metrics_line(results: dict[str, Any]) -> str:
    line = ", ".join(f"hit@{k} {100 * v:.1f}%" for k, v in results.get("hit_at_k", {}).items())
    return line + "; " + ", ".join(f"hp@{k} {v:.3f}" for k, v in results.get("hierarchical_precision_at_k", {}).items())


def load_model(model_dir: str):
    """The run's ``model.keras`` (features in, probabilities or label scores out)."""
    import keras

    import tfpipe.layers  # noqa: F401  (registers LabelScores for loading)
    from tfpipe.training import runs

    return keras.saving.load_model(os.path.join(model_dir, runs.MODEL_FILE), compile=False)


def epoch_batches(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, first_epoch: int, epochs: int):
    """Endless-by-epoch ``(features, label)`` batches: epoch ``e`` (from ``first_epoch`` to ``epochs``)
    is a permutation of the rows drawn from ``(seed, e)``, ``ceil(n / batch_size)`` batches."""
    import tensorflow as tf

    n = len(y)
    xs, ys = tf.constant(x), tf.constant(y)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    ds = tf.data.Dataset.range(first_epoch, max(epochs, first_epoch + 1)).flat_map(epoch)
    ds = ds.map(lambda idx: (tf.gather(xs, idx), tf.gather(ys, idx)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


