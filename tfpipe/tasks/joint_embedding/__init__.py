"""``task: joint_embedding``: zero-shot recognition and retrieval from text (Reed et al. 2016).

    python -m tfpipe.train --config configs/sje_char_cnn_rnn_flowers102.yaml
    python -m tfpipe.evaluate --model_dir artifacts/runs/sje_char_cnn_rnn_flowers102

Reads a features data directory (``kind: features``, ``beam_jobs.extract_features``: the frozen
pooled EfficientNet-Lite0 feature ``v``, ``theta(v) = v`` as in the authors' code) whose splits
hold disjoint classes (``train`` / ``val`` / ``test``: ``zero_shot_classes.tsv``), and the
classes' texts (``model.descriptions``, or ``model.attributes`` for CUB's class attributes).
``model.name: sje`` with

``model.encoder``     the text encoder ``phi`` (``keys.ENCODERS``: char_cnn_rnn, word_cnn_rnn,
                      char_cnn, word_cnn, char_lstm, word_lstm, bow, word2vec, attributes)
``model.embedding``   ``ds`` (DS-SJE, both directions of eq. 1) or ``da`` (DA-SJE, images
                      classified by texts only)
``model.loss_form``   ``code`` (the authors': sum over margin violators / B^2) or ``max`` (eqs. 5-7)

Training is the code's: batches of ``model.batch_classes`` (40) distinct classes with one image
and one text each (``batches``), RMSprop (``train.learning_rate`` 7e-4, ``model.rho`` 0.99), the
rate x ``model.lr_decay`` (0.98) after every epoch of n_train_classes batches, weights uniform
``+-0.08``.  ``model.selection: val`` (the default): the run trains on the train classes and the
zero-shot top-1 on the val classes (``val_top1``, every epoch) picks the best epoch; then the
final model trains on train + val classes for that many epochs (``<model_dir>/final``, a run of
its own with ``selection: none``), and that model is evaluated on the test classes.  Classes
without a text are left out of training and evaluation, and listed.

After training: ``evaluation`` (``results.json``: top-1, AP@50 both forms, chance, the Figure 4
analog), ``report`` (``tfpipe.report``).
"""
from __future__ import annotations

import copy
import os
import time
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks import base
from tfpipe.tasks.base import FEATURE_UNUSED_KEYS, FeatureTask, Plan
from tfpipe.tasks.joint_embedding import evaluation
from tfpipe.tasks.joint_embedding import texts as texts_lib
from tfpipe.tasks.joint_embedding.keys import MODELS, check_model, encoder_of, model_key, require_inputs
from tfpipe.tasks.joint_embedding.model import TEXT_MODEL_FILE, load_text_model

FINAL_DIR = "final"
TEXTS_FILE = "texts.json"
TRAIN_KEYS = base.TRAIN_KEYS


def split_classes(manifest, split: str) -> list[int]:
    """Class indices with images in ``split``."""
    return [i for i, n in enumerate(manifest.splits[split].class_counts) if n > 0]


def fit_splits(cfg: config_lib.Config) -> list[str]:
    """The splits whose classes train the run: ``train``, or ``train`` + ``val`` without selection."""
    return ["train"] if model_key(cfg, "selection") == "val" else ["train", "val"]


def encode_texts(cfg: config_lib.Config, texts: list[str], vocab: list[str] | None) -> dict[str, np.ndarray]:
    """The run's encoder inputs of raw ``texts`` (``texts`` module: chars, word ids or the BoW
    indicator over ``vocab``); an attributes run reads class vectors, not text."""
    reads = encoder_of(cfg).reads
    if reads == "chars":
        return {"chars": texts_lib.chars(texts, model_key(cfg, "l0"))}
    if reads == "bow":
        return texts_lib.bow(texts, vocab)
    if reads == "word_ids":
        length = model_key(cfg, "bag_words" if encoder_of(cfg).vectors else "max_words")
        return {"word_ids": texts_lib.word_ids(texts, vocab, length)}
    raise config_lib.ConfigError(f"a run of text encoder {model_key(cfg, 'encoder')!r} reads class attribute "
                                 "vectors, not text: it has no text queries")


class RunTexts:
    """The run's texts and their encoder inputs: every text of the dataset (``texts``), the
    vocabulary (from the texts of ``vocab_classes``), and :meth:`inputs` of any rows."""

    def __init__(self, cfg: config_lib.Config, class_names, *, vocab_classes, vocab: list[str] | None = None):
        enc = encoder_of(cfg)
        self.cfg, self.reads, self.attribute_matrix = cfg, enc.reads, None
        if enc.reads == "attributes":
            self.texts, self.attribute_matrix = texts_lib.read_attributes(model_key(cfg, "attributes"), class_names)
        else:
            self.texts = texts_lib.read_descriptions(model_key(cfg, "descriptions"), class_names)
        self.vectors, self.vector_dim = None, None
        if enc.vectors:
            path = model_key(cfg, "word_vectors")
            self.vectors = os.path.join(path, "vectors.bin") if os.path.isdir(path) else path
        if vocab is None and enc.reads in ("word_ids", "bow"):
            if enc.vectors:
                from tfpipe.embeddings.label_vectors import WordTable

                table = WordTable.load(model_key(cfg, "word_vectors"))
                self.vector_dim = table.dim
                vocab = texts_lib.vocabulary(self.texts.texts, known=table)
            else:
                rows = np.flatnonzero(self.texts.of_classes(vocab_classes))
                vocab = texts_lib.vocabulary([self.texts.texts[r] for r in rows])
        self.vocab = vocab

    def inputs(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The encoder inputs of text rows ``rows``."""
        if self.reads == "attributes":
            return {"attributes": self.attribute_matrix[self.texts.labels[rows]]}
        return encode_texts(self.cfg, [self.texts.texts[r] for r in rows], self.vocab)

    def model_kwargs(self, dim: int) -> dict[str, Any]:
        if self.vectors and self.vector_dim is None:
            from tfpipe.embeddings.label_vectors import WordTable

            self.vector_dim = WordTable.load(model_key(self.cfg, "word_vectors")).dim
        return {"dim": dim, "vocab": self.vocab, "vectors": self.vectors, "vector_dim": self.vector_dim,
                "num_attributes": None if self.attribute_matrix is None else self.attribute_matrix.shape[1]}


def covered(classes: list[int], texts: texts_lib.Texts, names) -> tuple[list[int], list[str]]:
    """``(classes with a text, names of those without)``."""
    counts = texts.count(len(names))
    return [c for c in classes if counts[c] > 0], [names[c] for c in classes if counts[c] == 0]


IMAGE_MEAN_FILE = "image_mean.npy"
IMAGE_INDEX_DIR = "image_index"


def write_image_index(path: str, x: np.ndarray, labels: list[str], *, scann_from: int) -> dict[str, Any]:
    """The index of the evaluated images' ``theta(v)`` (dot product, the compatibility of eq. 2;
    exact below ``scann_from`` images, ScaNN above), labelled ``"<image id> (<class>)"``."""
    from tfpipe import index

    engine = "exact" if len(x) < scann_from else "scann"
    idx = index.build(x, labels, engine=engine, metric="dot")
    idx.save(path)
    return {"dir": path, "engine": engine, "images": len(labels)}


def image_embedding(x: np.ndarray, mean: np.ndarray | None) -> np.ndarray:
    """``theta(v)``: ``v`` itself (``mean`` None, the code's ``-image_noop``), or with
    ``model.image_norm: center_l2`` ``(v - mean) / |v - mean|`` with the training images' ``mean``."""
    if mean is None:
        return np.asarray(x, np.float32)
    c = np.asarray(x, np.float32) - mean
    return (c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def positions(labels: np.ndarray, classes: list[int]) -> np.ndarray:
    where = {c: k for k, c in enumerate(classes)}
    return np.array([where.get(int(c), -1) for c in labels], np.int64)


def embed_texts(text_model, inputs: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    x = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    return np.asarray(text_model.predict(x, batch_size=batch_size, verbose=0), np.float32)


def _validation_callback(text_model, val_inputs, val_text_pos, x_val, y_val, num_classes: int, batch_size: int):
    import keras

    class ZeroShotValidation(keras.callbacks.Callback):
        """``val_top1`` / ``val_top1_per_class`` / ``val_precision_at_50`` / ``val_ap_at_50``: the
        zero-shot figures of the val classes' images against their texts' class embeddings (eq. 8)."""

        def on_epoch_end(self, epoch, logs=None):
            phi = embed_texts(text_model, val_inputs, batch_size)
            r = evaluation.zero_shot(x_val, y_val, evaluation.class_embeddings(phi, val_text_pos, num_classes))
            if logs is not None:
                logs.update({f"val_{k}": float(v) for k, v in r.items()})

    return ZeroShotValidation()


@tasks.register
class JointEmbedding(FeatureTask):
    """DS-SJE and DA-SJE with every text encoder of Reed et al. 2016 (Table 1)."""

    name = "joint_embedding"
    objective = ("val_top1", "max")
    unused_keys = FEATURE_UNUSED_KEYS + ("data.validation_fraction",)
    models = MODELS

    def check_model(self, cfg: config_lib.Config) -> None:
        for key, what in (("optimizer", "RMSprop, the authors' (model.rho, model.epsilon)"),
                          ("schedule", "x model.lr_decay per epoch, the authors'")):
            if getattr(cfg.train, key) != getattr(config_lib.TrainConfig, key):
                raise config_lib.ConfigError(f"train.{key}={getattr(cfg.train, key)!r} is not read by task "
                                             f"'joint_embedding': it trains with {what}")
        check_model(cfg)

    def train_splits(self, cfg) -> list[str]:
        return ["train", "val"]

    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution) -> Plan:
        from tfpipe.data.feature_records import read_split
        from tfpipe.tasks.joint_embedding import batches
        from tfpipe.tasks.joint_embedding import model as model_lib
        from tfpipe.training import datasets, schedules

        require_inputs(cfg)
        t, manifest = cfg.train, data.manifest
        names = list(manifest.class_names)
        wanted = sorted({c for s in fit_splits(cfg) for c in split_classes(manifest, s)})
        run_texts = RunTexts(cfg, names, vocab_classes=wanted)
        fit, fit_uncovered = covered(wanted, run_texts.texts, names)
        if len(fit) < 2:
            raise datasets.DataError(f"{len(fit)} training classes with a text: a batch needs two")
        with datasets.reading(data, ["train", "val"]):
            parts = [read_split(data, s, batch_size=cfg.eval.batch_size, verify=cfg.data.verify)
                     for s in fit_splits(cfg)]
            x = np.concatenate([p[0] for p in parts])
            y = np.concatenate([p[1] for p in parts])
            val = None
            if model_key(cfg, "selection") == "val":
                val = read_split(data, "val", batch_size=cfg.eval.batch_size, verify=cfg.data.verify)
        keep = np.isin(y, fit)
        x, y = x[keep], y[keep]
        mean = x.mean(axis=0).astype(np.float32) if model_key(cfg, "image_norm") == "center_l2" else None
        x = image_embedding(x, mean)
        text_rows = np.flatnonzero(run_texts.texts.of_classes(fit))
        text_inputs = run_texts.inputs(text_rows)
        dim = int(x.shape[1])
        text_model = model_lib.build_text_model(cfg, **run_texts.model_kwargs(dim))
        model = model_lib.build_model(cfg, text_model, dim=dim)
        if first_epoch == 0:
            model_lib.uniform_init(model, float(model_key(cfg, "init_range")), t.seed)
        optimizer = model_lib.make_optimizer(cfg)
        symmetric = model_key(cfg, "embedding") == "ds"
        model.compile(optimizer=optimizer,
                      loss=model_lib.SJELoss(dim, symmetric=symmetric, form=model_key(cfg, "loss_form")),
                      steps_per_execution=steps_per_execution(len(fit)))
        train_ds, steps = batches.epoch_batches(
            x, y, text_inputs, run_texts.texts.labels[text_rows], fit, batch_classes=model_key(cfg, "batch_classes"),
            seed=t.seed, first_epoch=first_epoch, epochs=t.epochs)
        callbacks = [schedules.EpochLearningRate(model_lib.schedule(cfg))]
        monitor, mode, val_info = "loss", "min", {}
        if val is not None:
            val_classes, val_uncovered = covered(split_classes(manifest, "val"), run_texts.texts, names)
            vrows = np.flatnonzero(run_texts.texts.of_classes(val_classes))
            vkeep = np.isin(val[1], val_classes)
            callbacks.append(_validation_callback(
                text_model, run_texts.inputs(vrows), positions(run_texts.texts.labels[vrows], val_classes),
                image_embedding(val[0][vkeep], mean), positions(val[1][vkeep], val_classes), len(val_classes), cfg.eval.batch_size))
            monitor, mode = "val_top1", "max"
            val_info = {"val_classes": len(val_classes), "val_images": int(vkeep.sum()),
                        "val_classes_without_text": val_uncovered}
        b = min(int(model_key(cfg, "batch_classes")), len(fit))
        describe = (
            f"tfpipe.train: {'DS' if symmetric else 'DA'}-SJE ({model_key(cfg, 'loss_form')} form), text encoder "
            f"{model_key(cfg, 'encoder')} ({text_model.count_params():,} parameters) on {data.path}: "
            f"{len(fit)} classes of {'+'.join(fit_splits(cfg))} [{len(y)} images, {len(text_rows)} texts], "
            f"{t.epochs} epochs x {steps} batches of {b} distinct classes, RMSprop lr {t.learning_rate} "
            f"x {model_key(cfg, 'lr_decay')}/epoch" + (f"; val_top1 on {val_info['val_classes']} val classes picks the "
                                                       "epoch" if val_info else ""))
        return Plan(model=model, train_ds=train_ds, val_ds=None, steps=steps, examples_per_epoch=steps * b,
                    describe=describe, splits=["train", "val"], data=data, callbacks=callbacks, monitor=monitor,
                    monitor_mode=mode,
                    state={"text_model": text_model, "texts": run_texts, "fit": fit, "fit_uncovered": fit_uncovered,
                           "image_mean": mean, "train_images": int(len(y)), "train_texts": int(len(text_rows)), **val_info})

    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        from tfpipe.training import runs

        state = plan.state
        text_model, run_texts = state["text_model"], state["texts"]
        text_model.save(os.path.join(model_dir, TEXT_MODEL_FILE))
        if state["image_mean"] is not None:
            np.save(os.path.join(model_dir, IMAGE_MEAN_FILE), state["image_mean"])
        names = list(plan.data.manifest.class_names)
        runs.write_json(os.path.join(model_dir, TEXTS_FILE), {
            "reads": run_texts.reads, "vocab": run_texts.vocab, "source": run_texts.texts.source,
            "fit_classes": [names[c] for c in state["fit"]], "classes_without_text": state["fit_uncovered"]})
        head = {
            "model": cfg.model_name, "task": self.name, "encoder": model_key(cfg, "encoder"),
            "embedding": model_key(cfg, "embedding"), "loss_form": model_key(cfg, "loss_form"),
            "data_dir": plan.data.path, "dataset": plan.data.name, "params": text_model.count_params(),
            "fit_splits": fit_splits(cfg), "fit_classes": len(state["fit"]), "train_images": state["train_images"],
            "train_texts": state["train_texts"], "classes_without_text": state["fit_uncovered"],
            "vocabulary": None if run_texts.vocab is None else len(run_texts.vocab),
            **{k: state[k] for k in ("val_classes", "val_images", "val_classes_without_text") if k in state},
            "epochs": cfg.train.epochs, "steps_per_epoch": plan.steps,
        }
        results = {**head, **run}
        if model_key(cfg, "selection") == "val":
            final = self.final_config(cfg, run)
            from tfpipe.training import loop

            best = run.get("best_epoch")  # counted from 0; the progress lines count from 1
            print(f"tfpipe.train: val_top1 {run.get('best_val_top1', float('nan')):.4f} at epoch "
                  f"{'?' if best is None else best + 1}: training the final model on train + val classes for "
                  f"{final.train.epochs} epochs in {os.path.join(model_dir, FINAL_DIR)}", flush=True)
            final_dir = os.path.join(model_dir, FINAL_DIR)
            saved = runs.read_saved_config(final_dir)
            same = (saved is not None and not runs.config_differences(saved, final)
                    and saved.get("train", {}).get("epochs") == final.train.epochs)
            if same and runs.is_finished(final_dir):
                final_results = runs.read_json(os.path.join(final_dir, runs.TRAIN_RESULTS))
            else:  # resumes an unfinished final run of this config; replaces one of another config
                final_results = loop.run(self, final, final_dir, verbose=2, fresh=saved is not None and not same)
            results["selection_time_s"] = run.get("training_time_s")
            results["final_model"] = {k: final_results.get(k) for k in
                                      ("fit_classes", "train_images", "train_texts", "epochs", "training_time_s",
                                       "examples_per_sec", "classes_without_text")}
            results["training_time_s"] = (run.get("training_time_s") or 0.0) + (final_results.get("training_time_s") or 0.0)
            evaluated = final_results["eval_results"]
        else:
            evaluated = self.evaluate(model_dir, cfg, data_dir=plan.data.path, split=cfg.eval.split,
                                      text_model=text_model, run_texts=run_texts, trained=results,
                                      index_dir=os.path.join(model_dir, IMAGE_INDEX_DIR))
            print(f"tfpipe.train: zero-shot on {evaluated['split']} ({evaluated['classes']} classes, "
                  f"{evaluated['images']} images): {_line(evaluated['metrics'])}; chance {_line(evaluated['chance'])}",
                  flush=True)
        results["eval_results"] = evaluated
        runs.write_json(os.path.join(model_dir, runs.RESULTS), {**evaluated, **{k: results[k] for k in TRAIN_KEYS
                                                                               if k in results}})
        return results

    def final_config(self, cfg, run: dict[str, Any]) -> config_lib.Config:
        """The final model's config: ``selection: none`` (train + val classes) for the selected
        number of epochs (the best val_top1 epoch, counted from 1), no best-epoch restore."""
        final = copy.deepcopy(cfg)
        final.model["selection"] = "none"
        best = run.get("best_epoch")
        final.train.epochs = int(best) + 1 if best is not None else cfg.train.epochs
        final.train.restore_best = False
        return final

    def run_with_model(self, model_dir: str) -> str:
        """The run directory holding the evaluated model: ``<model_dir>/final`` after selection."""
        from tfpipe.training import runs

        final = os.path.join(model_dir, FINAL_DIR)
        return final if runs.is_finished(final) else model_dir

    def text_queries(self, model_dir: str, texts: list[str]) -> tuple[np.ndarray, str]:
        """``([n, D] phi of raw texts through the run's trained text encoder, the run's index of
        the evaluated images)``: ``python -m tfpipe.index search --model_dir RUN --text ...``."""
        from tfpipe.training import runs

        run_dir = self.run_with_model(model_dir)
        cfg = runs.load_config(run_dir)
        saved = runs.read_json(os.path.join(run_dir, TEXTS_FILE)) or {}
        inputs = encode_texts(cfg, list(texts), saved.get("vocab"))
        text_model = load_text_model(run_dir)
        return embed_texts(text_model, inputs, 64), os.path.join(run_dir, IMAGE_INDEX_DIR)

    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        from tfpipe.tasks.joint_embedding import serving

        return serving.export(self.run_with_model(model_dir), out)

    def export_usage(self, out: str) -> list[str]:
        from tfpipe.tasks.joint_embedding import serving

        return serving.usage(out)

    def format_results(self, results: dict[str, Any]) -> str:
        lines = [f"{results['embedding'].upper()}-SJE ({results['loss_form']} form), text encoder {results['encoder']}, "
                 f"zero-shot on {results['dataset']} {results['split']}: {results['classes']} classes, "
                 f"{results['images']} images, {results['texts']} texts",
                 f"  {_line(results['metrics'])}", f"  chance: {_line(results['chance'])}",
                 "  Figure 4 (texts per class -> top-1 per class): " + ", ".join(
                     f"{r['texts']}: {100 * r['top1_per_class']:.1f}%" for r in results.get("figure4", []))]
        if results.get("classes_without_text"):
            lines.append(f"  left out (no text): {', '.join(results['classes_without_text'])}")
        if results.get("training_time_s") is not None:
            lines.append(f"  training time {results['training_time_s']:.1f} s")
        return "\n".join(lines)

    def summary_line(self, results: dict[str, Any]) -> str:
        ev = results.get("eval_results", {})
        return (f"trained in {results.get('training_time_s') or 0:.1f} s; zero-shot {ev.get('split')}: "
                f"{_line(ev.get('metrics', {}))}")

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str, text_model=None, run_texts=None,
                 trained: dict[str, Any] | None = None, index_dir: str | None = None) -> dict[str, Any]:
        """Zero-shot recognition and retrieval on ``split``'s classes (``evaluation``): the final
        model's (``<model_dir>/final`` when the run selected on val).  With ``index_dir`` it also
        writes the index of the split's image embeddings that text queries search."""
        from tfpipe.data.feature_records import read_split
        from tfpipe.training import datasets, runs

        if text_model is None and model_key(cfg, "selection") == "val":
            final_dir = os.path.join(model_dir, FINAL_DIR)
            results = self.evaluate(final_dir, runs.load_config(final_dir), data_dir=data_dir, split=split,
                                    index_dir=index_dir)
            trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
            results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})  # selection + final
            return results
        started = time.perf_counter()
        data = datasets.open_data(data_dir)
        datasets.check_splits(data, [split])
        names = list(data.manifest.class_names)
        if text_model is None:
            if index_dir is None and split == cfg.eval.split:
                index_dir = os.path.join(model_dir, IMAGE_INDEX_DIR)
            text_model = load_text_model(model_dir)
            saved = runs.read_json(os.path.join(model_dir, TEXTS_FILE)) or {}
            run_texts = RunTexts(cfg, names, vocab_classes=[], vocab=saved.get("vocab"))
        classes, uncovered = covered(split_classes(data.manifest, split), run_texts.texts, names)
        with datasets.reading(data, [split]):
            x, y, ids = read_split(data, split, batch_size=cfg.eval.batch_size, verify=cfg.data.verify, with_ids=True)
        keep = np.isin(y, classes)
        mean_file = os.path.join(model_dir, IMAGE_MEAN_FILE)
        mean = np.load(mean_file) if model_key(cfg, "image_norm") == "center_l2" else None
        y_all = y
        x, y = image_embedding(x[keep], mean), positions(y[keep], classes)
        rows = np.flatnonzero(run_texts.texts.of_classes(classes))
        text_pos = positions(run_texts.texts.labels[rows], classes)
        phi = embed_texts(text_model, run_texts.inputs(rows), cfg.eval.batch_size)
        emb = evaluation.class_embeddings(phi, text_pos, len(classes))
        scored = time.perf_counter()
        results: dict[str, Any] = {
            "split": split, "task": self.name, "model_dir": model_dir, "data_dir": data_dir, "dataset": data.name,
            "encoder": model_key(cfg, "encoder"), "embedding": model_key(cfg, "embedding"),
            "loss_form": model_key(cfg, "loss_form"), "classes": len(classes), "images": int(len(y)),
            "texts": int(len(rows)), "classes_without_text": uncovered, "images_left_out": int((~keep).sum()),
            "metrics": evaluation.zero_shot(x, y, emb),
            "chance": evaluation.chance(y, len(classes)),
            "figure4": evaluation.figure4(phi, text_pos, x, y, len(classes), draws=int(model_key(cfg, "figure4_draws")),
                                          seed=cfg.train.seed),
            "texts_per_class": np.bincount(text_pos, minlength=len(classes)).tolist(),
        }
        results["zero_shot_eval_time_s"] = scored - started
        results["eval_time_s"] = time.perf_counter() - started
        if index_dir is not None:
            labels = [f"{i} ({names[c]})" for i, c, k in zip(ids, np.asarray(y_all), keep) if k]
            results["image_index"] = write_image_index(index_dir, x, labels, scann_from=int(model_key(cfg, "scann_from")))
        if trained is None:
            trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
        results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})
        return results


def _line(m: dict[str, Any]) -> str:
    return ", ".join(f"{k} {100 * v:.1f}%" for k, v in m.items() if isinstance(v, float) and k != "ap_draws")
