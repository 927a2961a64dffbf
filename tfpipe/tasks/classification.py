"""``task: classification``: text -> one of the manifest's classes (Zhang et al. 2015, Table 4).

Every registered softmax classifier (Char-CNN, the word CNNs and LSTM, the bag
models) trains here: sparse categorical cross-entropy on the softmax output,
accuracy as its metric, the best epoch by validation accuracy.  Evaluation writes
the test error, per-class accuracy and the confusion matrix
(:func:`tfpipe.metrics.summary`); export writes a SavedModel that takes raw
strings and runs the training featurizer, then the model, in float32.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe import metrics
from tfpipe import tasks
from tfpipe.tasks import base
from tfpipe.tasks.base import Plan, Task

# Copied from train_results.json into the evaluation results when present.
TRAIN_KEYS = base.TRAIN_KEYS
SIGNATURE = "serve"
EXTRA_DIR = "assets.extra"


@tasks.register
class Classification(Task):
    name = "classification"
    objective = ("val_accuracy", "max")

    def model_names(self) -> list[str]:
        from tfpipe import models

        return [n for n in models.names() if n not in _not_classifiers()]

    # ------------------------------------------------------------------ training
    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution) -> Plan:
        import keras
        import tensorflow as tf

        from tfpipe.training import callbacks as cb
        from tfpipe.training import datasets, modeling, optimizers

        t = cfg.train
        val_split = cfg.validation_split
        featurizer = datasets.featurizer(cfg, data, model_dir)
        # Every epoch from `first_epoch` on, `steps` batches each (exact resume: tfpipe.training.loop).
        train_ds = datasets.train_dataset(cfg, data, featurizer, first_epoch=first_epoch)
        val_ds = datasets.eval_dataset(cfg, data, val_split, featurizer)
        train_count = datasets.split_count(cfg, data, "train")
        val_count = datasets.split_count(cfg, data, val_split)
        steps = datasets.train_steps(cfg, data)
        examples_per_epoch = steps * t.batch_size if cfg.data.epoch_samples else train_count

        model = modeling.build_model(cfg, data, featurizer.num_features)
        model.compile(  # under mixed_float16 Keras adds a LossScaleOptimizer itself
            optimizer=optimizers.make_optimizer(t),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution(steps),
        )
        from tfpipe.training import runs, schedules

        log_dir = os.path.join(model_dir, runs.LOG_DIR)
        strategy = tf.distribute.get_strategy()  # build runs inside the run's strategy scope
        describe = (
            f"tfpipe.train: {cfg.model_name} ({model.count_params():,} parameters) on {data.path} "
            f"[{train_count} train / {val_count} {val_split}], "
            f"{t.epochs} epochs x {steps} steps, {t.optimizer} lr {t.learning_rate} ({t.schedule}), "
            f"policy {keras.config.dtype_policy().name}, {type(strategy).__name__} x{strategy.num_replicas_in_sync}"
        )
        callbacks = [
            schedules.EpochLearningRate(t),
            cb.ImageSummaries(
                os.path.join(log_dir, "images"), class_names=data.manifest.class_names, val_data=val_ds,
                val_split=val_split, max_filters=t.tensorboard_filters, confusion_every=t.confusion_every,
            ),
        ]
        return Plan(
            model=model, train_ds=train_ds, val_ds=val_ds, steps=steps,
            examples_per_epoch=examples_per_epoch, describe=describe, splits=["train", val_split],
            data=data, callbacks=callbacks,
            monitor="val_accuracy", monitor_mode="max",
            state={"featurizer": featurizer, "train_count": train_count, "val_count": val_count},
        )

    def finish(self, cfg, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        from tfpipe.training import runs

        model, data, t = plan.model, plan.data, cfg.train
        model.save(os.path.join(model_dir, runs.MODEL_FILE))
        featurizer = plan.state["featurizer"]
        head = {
            "model": cfg.model_name,
            "feature": featurizer.feature,
            "num_features": featurizer.num_features,
            "params": model.count_params(),
            "data_dir": data.path,
            "dataset": data.name,
            "train_examples": plan.state["train_count"],
            "validation_split": cfg.validation_split,
            "validation_fraction": cfg.data.validation_fraction,
            "validation_examples": plan.state["val_count"],
            "epochs": t.epochs,
            "steps_per_epoch": plan.steps,
            "batch_size": t.batch_size,
        }
        return {**head, **run}

    def summary_line(self, results: dict[str, Any]) -> str:
        final = results["final"]
        return (
            f"trained {results['epochs_run']} epochs in {results['training_time_s']:.1f} s "
            f"({results['examples_per_sec'] or 0:.0f} examples/s); "
            + ", ".join(f"{k} {v:.4f}" for k, v in final.items()
                        if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
        )

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg, *, data_dir: str, split: str) -> dict[str, Any]:
        """Predicts every example of ``split`` once: accuracy, error %, the mean cross-entropy,
        per-class accuracy and the confusion matrix (``metrics.summary``)."""
        from tfpipe.training import datasets, inference, runs

        data = datasets.open_data(data_dir)
        datasets.check_splits(data, [split])
        manifest = data.manifest
        featurizer, model = _trained(model_dir, cfg, data)
        ds = datasets.eval_dataset(cfg, data, split, featurizer)
        with datasets.reading(data, [split]):
            labels, probs = inference.predict(model, ds)

        cm = metrics.confusion_matrix(labels, probs.argmax(axis=1), manifest.num_classes)
        summary = metrics.summary(cm, manifest.class_names)
        picked = probs[np.arange(len(labels)), labels] if len(labels) else np.zeros([0])
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))) if len(labels) else None
        results: dict[str, Any] = {
            "split": split,
            f"{split}_accuracy": summary["accuracy"],
            f"{split}_error_pct": summary["error_pct"],
            f"{split}_loss": loss,
            "loss": loss,
            **summary,
            "model": cfg.model_name,
            "feature": featurizer.feature,
            "model_dir": model_dir,
            "data_dir": data_dir,
            "dataset": data.name,
            "alphabet": manifest.alphabet,
            "augmentation": getattr(manifest, "augmentation", {}) or {},
            "thesaurus_on_the_fly": cfg.data.thesaurus,
        }
        trained = runs.read_json(os.path.join(model_dir, runs.TRAIN_RESULTS)) or {}
        results.update({k: trained[k] for k in TRAIN_KEYS if k in trained})
        return results

    def export(self, model_dir: str, cfg, out: str, *, data_dir: str) -> str:
        """A SavedModel whose ``serve`` signature takes ``text: string [None]`` and returns
        ``probabilities``, ``class_id`` and ``class_name``; ``assets.extra/`` holds the class
        names, the data manifest and the run's config."""
        import tensorflow as tf

        from tfpipe.data import manifest as manifest_lib
        from tfpipe.training import datasets, runs

        data = datasets.open_data(data_dir)
        manifest = data.manifest
        featurizer, model = _trained(model_dir, cfg, data)
        module = serving_module(model, manifest, featurizer)
        if os.path.exists(out):
            shutil.rmtree(out)
        serve = module.serve.get_concrete_function()
        tf.saved_model.save(module, out, signatures={SIGNATURE: serve, "serving_default": serve})
        extra = os.path.join(out, EXTRA_DIR)
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "class_names.json"), "w", encoding="utf-8") as f:
            json.dump(manifest.class_names, f, ensure_ascii=False)
        with open(os.path.join(extra, manifest_lib.MANIFEST_FILE), "w", encoding="utf-8") as f:
            f.write(manifest.to_json() + "\n")
        shutil.copy(os.path.join(model_dir, runs.CONFIG_FILE), os.path.join(extra, runs.CONFIG_FILE))
        return out


    def export_usage(self, out: str) -> list[str]:
        return [f"exported {out}  (signature '{SIGNATURE}': text string[None] -> probabilities, class_id, class_name)",
                f'try: python -m tfpipe.predict --model {out} "some text"']


def _trained(model_dir: str, cfg, data):
    """The run's featurizer and its trained model in float32 (``modeling.load_model``)."""
    from tfpipe.training import datasets, modeling

    featurizer = datasets.featurizer(cfg, data, model_dir)
    return featurizer, modeling.load_model(model_dir, cfg, data, featurizer.num_features)


def _not_classifiers() -> set[str]:
    """Registered models that other tasks train."""
    return {name for task in tasks.names() if task != Classification.name
            for name in tasks.get(task).model_names()}


def serving_module(model, manifest, featurizer):
    """The ``tf.Module`` whose ``serve(text)`` runs ``featurizer`` then ``model`` in float32."""
    import tensorflow as tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__(name="tfpipe_serving")
            self.model = model
            self.featurizer = featurizer
            self.class_names = tf.constant(manifest.class_names, dtype=tf.string)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            probs = tf.cast(self.model(self.featurizer(text), training=False), tf.float32)
            class_id = tf.argmax(probs, axis=-1, output_type=tf.int64)
            return {
                "probabilities": probs,
                "class_id": class_id,
                "class_name": tf.gather(self.class_names, class_id),
            }

    return Serving()
