"""``task: devise``: DeViSE on frozen visual features (Frome et al. 2013, section 3.3, Table 1).

    python -m tfpipe.train --config configs/devise_tiny_imagenet.yaml
    python -m tfpipe.evaluate --model_dir artifacts/runs/devise_tiny_imagenet

Reads a features data directory (``kind: features``, ``beam_jobs.extract_features``:
the pooled 1280-d EfficientNet-Lite0 output standing for the paper's 4,096-d top
layer, held fixed as the paper does in its first stage) and trains one of three
models (``model.name``), the three rows of the paper's Table 1:

``devise_softmax``  the softmax baseline: pooled feature -> dense softmax over the
                    training classes (sparse cross-entropy).
``devise``          pooled feature ``v`` -> linear projection ``M`` (no bias) into the
                    word-vector space; the score of class ``j`` is ``t_j . M v`` against
                    the frozen, unit-normed label matrix ``T`` of the training classes;
                    the hinge rank loss of eq. 1 with margin ``model.margin`` (0.1), in
                    ``model.loss_form`` ``truncated`` (the paper's: the wrong labels
                    visited in a random order, the sum stopped at the first one that
                    violates the margin) or ``full`` (the whole sum).  The label vectors
                    are ``tfpipe.embeddings.label_vectors.label_vector`` of each class's
                    readable text (the class table's ``text``: Tiny-ImageNet's
                    ``words.txt`` names, synonyms split at commas) in the skip-gram run
                    (or word2vec file) ``model.label_vectors``, unit-normed.
``devise_random``   the same with random unit label vectors (``model.dim``, seeded by
                    ``model.label_seed``): the paper's "random embeddings" row.

The classes: the training classes are the classes with images in ``train`` (Tiny-ImageNet
split by class: the 162 seen ones), in class-table order.  **A training class without a
label vector** (no word of any of its synonyms in the vocabulary) cannot be a DeViSE target:
it is left out of the candidate set, and its images out of training and evaluation; it is
printed when the run starts and listed in ``labels.json``, ``train_results.json`` and
``results.json`` (``uncovered_classes``, with the images left out per split).  A class covered
only in part (some words of its first covered synonym missing) keeps the mean of its covered
words and is listed as ``partial_classes``.  The softmax baseline and the random embeddings
use every training class, or with ``model.classes_with_vectors: <the same vectors>`` only the
classes those vectors cover (the devise run's candidates: the three rows then rank the same
classes; the others are listed as uncovered the same way).  Evaluation images of a class that is not a candidate (an unseen
class) are left out and counted as well (zero-shot evaluation is not part of this task yet).

Training: ``train.batch_size``, ``train.epochs``, ``train.learning_rate`` with
``train.schedule`` (constant, paper_step, cosine), ``train.seed``; the optimizer is
``model.optimizer``: ``adagrad`` (the default, the paper's; ``keras.optimizers.Adagrad``, whose
initial accumulator is 0.1) or one of ``train.optimizer``'s choices (``sgd`` ... read with the
``train`` section's momentum, weight decay and clipping) -- ``train.optimizer`` itself has no
Adagrad and is not read.  The features of ``train`` and of the validation split
(``eval.validation_split``, else ``eval.split``) are read once into memory
(``feature_records.make_feature_dataset``, the mean of the stored views); epoch ``e`` visits the
train split in a permutation drawn from ``(train.seed, e)`` and the truncated loss's visiting
orders from ``(model.loss_seed, optimizer step)``, so a resumed run is exact.  Validation
metric: ``val_accuracy`` (flat hit@1 over the candidates), which picks the best epoch.

Evaluation (at the end of training into ``results.json``, and by ``python -m tfpipe.evaluate``
for any split): flat hit@1/2/5/10 (``metrics.top_k_accuracy``) over the candidate classes and
hierarchical precision@2/5/10/20 (``metrics.hierarchical_precision_at_k``; @1 equals hit@1)
over WordNet's hypernym graph of the candidates' synsets (``wordnet.hierarchy_edges``).  The run
directory also holds ``model.keras`` (features in, scores or probabilities over the candidates
out) and ``labels.json`` (the candidates in score order: class index, name, text, synset, the
words their vectors came from).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks.base import Plan, Task

SOFTMAX, DEVISE, RANDOM = "devise_softmax", "devise", "devise_random"
MODELS = (SOFTMAX, DEVISE, RANDOM)
LOSS_FORMS = ("truncated", "full")
OPTIMIZERS = ("adagrad",) + tuple(config_lib.OPTIMIZERS)
SCHEDULES = ("constant", "paper_step", "cosine")
# Every model key, its default, and the models that read it.
MODEL_KEYS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "optimizer": ("adagrad", MODELS),
    "label_vectors": (None, (DEVISE,)),
    "loss_form": ("truncated", (DEVISE, RANDOM)),
    "margin": (0.1, (DEVISE, RANDOM)),
    "loss_seed": (0, (DEVISE, RANDOM)),
    "classes_with_vectors": (None, (SOFTMAX, RANDOM)),
    "dim": (500, (RANDOM,)),
    "label_seed": (0, (RANDOM,)),
}
FLAT_KS = (1, 2, 5, 10)
HIERARCHICAL_KS = (2, 5, 10, 20)
OUTPUT = "pooled"
LABELS_FILE = "labels.json"
TRAIN_KEYS = ("training_time_s", "examples_per_sec", "epochs_run", "mixed_precision", "params")


# --------------------------------------------------------------------------- model parts


def _keras():
    import keras

    return keras


def build_model(name: str, *, input_dim: int, num_classes: int, label_matrix: np.ndarray | None = None):
    """The Keras model of ``name``: ``features [B, input_dim]`` -> softmax probabilities
    (``devise_softmax``) or DeViSE scores ``T M v`` (``[B, C]`` with ``T = label_matrix``)."""
    keras = _keras()
    from tfpipe.models import heads

    inputs = keras.Input(shape=(int(input_dim),), name="features")
    if name == SOFTMAX:
        out = heads.apply("softmax", inputs, num_classes=int(num_classes))
        return keras.Model(inputs, out, name=name)
    if label_matrix is None:
        raise ValueError(f"model {name!r} needs its label matrix")
    table = np.asarray(label_matrix, np.float32)
    if table.shape[0] != num_classes:
        raise ValueError(f"{table.shape[0]} label vectors for {num_classes} classes")
    from tfpipe.layers import LabelScores

    projected = heads.apply("projection", inputs, dim=int(table.shape[1]), use_bias=False, name="projection")
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


def require_vectors(cfg: config_lib.Config) -> None:
    """The label vectors the config names exist (checked when a run starts, like its data: a
    shipped config names a run that an earlier command writes)."""
    restrict = model_key(cfg, "classes_with_vectors") if cfg.model_name != DEVISE else None
    if restrict and not os.path.exists(_vectors_file(restrict)):
        raise config_lib.ConfigError(
            f"model.classes_with_vectors={restrict!r}: {_vectors_file(restrict)} does not exist")
    if cfg.model_name == DEVISE:
        path = model_key(cfg, "label_vectors")
        if not os.path.exists(_vectors_file(path)):
            raise config_lib.ConfigError(
                f"model.label_vectors={path!r}: {_vectors_file(path)} does not exist (train the skip-gram run "
                "first: python -m tfpipe.train --config configs/skipgram_text_corpora.yaml, or point at a "
                "word2vec file)")


def _vectors_file(path: str) -> str:
    from tfpipe.embeddings import word2vec_format

    return os.path.join(path, word2vec_format.VECTORS_NPY) if os.path.isdir(path) else path


# --------------------------------------------------------------------------- classes and label vectors


def training_classes(manifest) -> list[int]:
    """Class indices with images in ``train``, in class order."""
    counts = manifest.splits["train"].class_counts
    return [i for i, n in enumerate(counts) if n > 0]


def class_text(entry: dict[str, Any], name: str) -> str:
    return entry.get("text") or name


def label_table(cfg: config_lib.Config, manifest, classes: list[int]) -> dict[str, Any]:
    """The candidates and their label matrix: ``candidates`` (class indices, score order),
    ``matrix`` (unit rows, or None for the softmax), ``uncovered`` / ``partial`` (class records),
    ``labels`` (one record per candidate)."""
    from tfpipe.embeddings import label_vectors as lv

    table = manifest.classes or [{} for _ in manifest.class_names]
    records = []
    for i in classes:
        entry = table[i] if i < len(table) else {}
        records.append({"index": i, "name": manifest.class_names[i], "text": class_text(entry, manifest.class_names[i]),
                        "synset": entry.get("synset"), "wnid": entry.get("wnid")})
    name = cfg.model_name
    if name in (SOFTMAX, RANDOM):
        uncovered: list[dict[str, Any]] = []
        restrict = model_key(cfg, "classes_with_vectors")
        if restrict:  # the candidates of a devise run on these vectors: the rows share their classes
            words = lv.WordTable.load(restrict)
            found = [lv.label_vector(r["text"], words) for r in records]
            uncovered = [{**r, "missing": list(f.missing)} for r, f in zip(records, found) if not f.covered]
            records = [r for r, f in zip(records, found) if f.covered]
        kept = [r["index"] for r in records]
        if name == SOFTMAX:
            return {"candidates": kept, "matrix": None, "uncovered": uncovered, "partial": [], "labels": records,
                    "source": None, "classes_with_vectors": restrict}
        rng = np.random.default_rng(int(model_key(cfg, "label_seed")))
        m = rng.standard_normal((len(kept), int(model_key(cfg, "dim")))).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        return {"candidates": kept, "matrix": m, "uncovered": uncovered, "partial": [], "labels": records,
                "source": f"random unit vectors, dim {m.shape[1]}, seed {model_key(cfg, 'label_seed')}",
                "classes_with_vectors": restrict}
    path = model_key(cfg, "label_vectors")
    words = lv.WordTable.load(path)
    kept, rows, uncovered, partial = [], [], [], []
    for rec in records:
        found = lv.label_vector(rec["text"], words)
        if not found.covered:
            uncovered.append({**rec, "missing": list(found.missing)})
            continue
        info = {**rec, "synonym": found.synonym, "words": list(found.words), "status": found.status}
        if not found.full:
            info["missing"] = list(found.missing)
            partial.append(info)
        kept.append(info)
        rows.append(lv.unit(found.vector))
    if len(kept) < 2:
        raise config_lib.ConfigError(
            f"only {len(kept)} of {len(records)} training classes have a vector in {path}: nothing to rank")
    return {"candidates": [r["index"] for r in kept], "matrix": np.stack(rows).astype(np.float32),
            "uncovered": uncovered, "partial": partial, "labels": kept, "source": path}


def read_split(data, split: str, *, batch_size: int, verify: str) -> tuple[np.ndarray, np.ndarray]:
    """``(features float32[n, d], class index int64[n])`` of a split (the mean of its views)."""
    from tfpipe.data import feature_records

    xs, ys = [], []
    for x, y in feature_records.make_feature_dataset(data, split, output=OUTPUT, views="mean",
                                                     batch_size=max(batch_size, 1024), training=False,
                                                     cache=False, verify=verify):
        xs.append(x.numpy())
        ys.append(y.numpy())
    dim = int({e["name"]: e for e in data.manifest.features["outputs"]}[OUTPUT]["size"])
    if not xs:
        return np.zeros([0, dim], np.float32), np.zeros([0], np.int64)
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


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
    """DeViSE and its two baselines on frozen features (Frome et al. 2013, Table 1)."""

    name = "devise"
    record_kind = "features"
    objective = ("val_accuracy", "max")
    unused_keys = ("data.validation_fraction", "data.feature", "data.epoch_samples", "data.trim_padding",
                   "data.thesaurus", "data.train_splits")

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
        labels = label_table(cfg, manifest, classes)
        candidates = labels["candidates"]
        if labels["uncovered"] and verbose:
            print(f"tfpipe.train: {len(labels['uncovered'])} of {len(classes)} training classes have no label "
                  f"vector in {labels.get('classes_with_vectors') or labels['source']} and are left out (candidates, training and evaluation): "
                  + ", ".join(f"{r['text']!r}" for r in labels["uncovered"]), flush=True)
        with datasets.reading(data, ["train", val_split]):
            x_train, y_train = read_split(data, "train", batch_size=t.batch_size, verify=cfg.data.verify)
            x_val, y_val = read_split(data, val_split, batch_size=cfg.eval.batch_size, verify=cfg.data.verify)
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
                            label_matrix=labels["matrix"])
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
            describe=describe, splits=["train", val_split], data=data,
            callbacks=[schedules.EpochLearningRate(t)], monitor="val_accuracy", monitor_mode="max",
            state={"labels": labels, "classes": classes, "left_out": left_out, "train_count": n,
                   "val_count": int(len(y_val)), "val_split": val_split},
        )

    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        from tfpipe.training import runs

        model, state, labels = plan.model, plan.state, plan.state["labels"]
        model.save(os.path.join(model_dir, runs.MODEL_FILE))
        write_labels(model_dir, cfg, labels, state["classes"])
        head = {
            "model": cfg.model_name, "task": self.name, "data_dir": plan.data.path, "dataset": plan.data.name,
            "params": model.count_params(), "train_examples": state["train_count"],
            "validation_split": state["val_split"], "validation_examples": state["val_count"],
            "training_classes": len(state["classes"]), "candidate_classes": len(labels["candidates"]),
            "uncovered_classes": [r["text"] for r in labels["uncovered"]],
            "partial_classes": [r["text"] for r in labels["partial"]],
            "images_left_out": state["left_out"], "label_vectors": labels["source"],
            "classes_with_vectors": labels.get("classes_with_vectors"),
            "optimizer": model_key(cfg, "optimizer"),
            "loss_form": None if cfg.model_name == SOFTMAX else model_key(cfg, "loss_form"),
            "epochs": cfg.train.epochs, "steps_per_epoch": plan.steps, "batch_size": cfg.train.batch_size,
        }
        results = {**head, **run}
        # The evaluation of eval.split, as tfpipe.evaluate writes it (results.json).
        evaluated = self.evaluate(model_dir, cfg, data_dir=plan.data.path, split=cfg.eval.split,
                                  model=model, trained=results)
        runs.write_json(os.path.join(model_dir, runs.RESULTS), evaluated)
        results["eval"] = {k: evaluated[k] for k in ("split", "num_examples", "hit_at_k", "hierarchical_precision_at_k")}
        line = ", ".join(f"hit@{k} {100 * v:.1f}%" for k, v in evaluated["hit_at_k"].items())
        line += "; " + ", ".join(f"hp@{k} {v:.3f}" for k, v in evaluated["hierarchical_precision_at_k"].items())
        print(f"tfpipe.train: {cfg.model_name} on {evaluated['split']} ({evaluated['num_examples']} images): {line}",
              flush=True)
        return results

    def summary_line(self, results: dict[str, Any]) -> str:
        ev = results.get("eval", {})
        hits = ", ".join(f"hit@{k} {100 * v:.1f}%" for k, v in ev.get("hit_at_k", {}).items())
        hps = ", ".join(f"hp@{k} {v:.3f}" for k, v in ev.get("hierarchical_precision_at_k", {}).items())
        return (f"trained {results['epochs_run']} epochs in {results['training_time_s']:.1f} s "
                f"({results['examples_per_sec'] or 0:.0f} examples/s); {ev.get('split')}: {hits}; {hps}")

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str, model=None,
                 trained: dict[str, Any] | None = None) -> dict[str, Any]:
        """Scores every image of ``split`` against the run's candidates: flat hit@k and
        hierarchical precision@k (the module docstring), with the classes and images left out."""
        from tfpipe import metrics
        from tfpipe.text import wordnet
        from tfpipe.training import datasets, runs

        started = time.perf_counter()
        data = datasets.open_data(data_dir)
        datasets.check_splits(data, [split])
        saved = read_labels(model_dir)
        candidates = [r["index"] for r in saved["labels"]]
        if model is None:
            import keras

            import tfpipe.layers  # noqa: F401  (registers LabelScores for loading)

            model = keras.saving.load_model(os.path.join(model_dir, runs.MODEL_FILE), compile=False)
        with datasets.reading(data, [split]):
            x, y = read_split(data, split, batch_size=cfg.eval.batch_size, verify=cfg.data.verify)
        keep, pos = to_candidates(y, candidates)
        left_out = _left_out(y, keep, data.manifest)
        x, y = x[keep], pos[keep]
        if not len(y):
            raise datasets.DataError(f"split {split!r} of {data_dir} has no image of the run's {len(candidates)} "
                                     "candidate classes")
        scores = np.asarray(model.predict(x, batch_size=cfg.eval.batch_size, verbose=0), np.float32)
        hits = metrics.top_k_accuracy(scores, y, ks=FLAT_KS)  # k >= candidates: 1.0
        synsets = [r.get("synset") for r in saved["labels"]]
        graph = wordnet.hierarchy_edges(synsets)
        hks = [k for k in HIERARCHICAL_KS if k <= len(candidates)]  # precision@k needs k predictions
        hp = metrics.hierarchical_precision_at_k(scores, y, graph, ks=hks) if hks else {}
        texts = [r["text"] for r in saved["labels"]]
        cm = metrics.confusion_matrix(y, scores.argmax(axis=1), len(candidates))
        results: dict[str, Any] = {
            # top-1 over the candidates (named by their readable text): accuracy, error %,
            # per-class accuracy, confusion matrix (what python -m tfpipe.evaluate prints)
            **metrics.summary(cm, texts),
            "split": split, "model": cfg.model_name, "task": self.name, "model_dir": model_dir,
            "data_dir": data_dir, "dataset": data.name, "num_examples": int(len(y)),
            "candidate_classes": len(candidates),
            "hit_at_k": {str(k): v for k, v in hits.items()},
            "hierarchical_precision_at_k": {str(k): v for k, v in hp.items()},
            "classes_without_synset": [r["text"] for r in saved["labels"] if not r.get("synset")],
            "uncovered_classes": [r["text"] for r in saved["uncovered"]],
            "partial_classes": [r["text"] for r in saved["partial"]],
            "images_left_out": left_out, "images_left_out_count": int((~keep).sum()),
            "label_vectors": saved["source"], "eval_time_s": time.perf_counter() - started,
        }
        if trained is None:
            trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
        results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})
        return results

    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        raise config_lib.ConfigError(
            f"task 'devise' has no export yet: {model_dir}/model.keras (features in, scores over the candidates "
            f"of {LABELS_FILE} out) is the trained model")


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


def write_labels(model_dir: str, cfg, labels: dict[str, Any], classes: list[int]) -> str:
    path = os.path.join(model_dir, LABELS_FILE)
    body = {"model": cfg.model_name, "source": labels["source"], "training_classes": classes,
            "labels": labels["labels"], "uncovered": labels["uncovered"], "partial": labels["partial"]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return path


def read_labels(model_dir: str) -> dict[str, Any]:
    path = os.path.join(model_dir, LABELS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: {model_dir} is not a finished devise run")
    with open(path, encoding="utf-8") as f:
        return json.load(f)
