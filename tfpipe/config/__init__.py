"""Experiment configuration: one YAML file per experiment, a task and four sections.

A config file names its ``task`` (``classification``, ``word_vectors`` ...: see
``tfpipe.tasks``; omitted, it is the task of ``model.name``) and has the
sections ``data``, ``model``, ``train`` and ``eval``;
every key, its default and its meaning is declared once below (the dataclass
fields and their ``help``).  ``python -m tfpipe.config`` prints them all.

* ``data``, ``train`` and ``eval`` keys are fixed: an unknown key is an error
  that lists the valid ones, and enum-valued keys name their valid choices.
* ``model`` holds ``name`` (a registered builder, see ``tfpipe.models.names()``)
  plus that builder's own keys, passed through to ``tfpipe.models.build``.  The
  data-derived keys (``tfpipe.models.DATA_KEYS``: number of classes, ``l0``,
  alphabet and vocabulary sizes, word cap) come from the data manifest and may
  not be set here.

Overrides use ``section.key=value`` (``--set train.epochs=3``); the value is
parsed as YAML, so ``null``, ``true``, ``3`` and ``1e-3`` mean what they look
like (a float written ``1e-3``, which plain YAML 1.1 reads as a string, is
accepted for float keys).
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from typing import Any, Iterable, Sequence

import yaml

from tfpipe import paths
from tfpipe.data import inputs

SECTIONS = ("data", "model", "train", "eval")
TASK_KEY = "task"  # the one top-level key that is not a section

# Repository root (the parent of the ``tfpipe`` package): configs/ lives here.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join("configs", "char_cnn_small_default.yaml")

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("paper_step", "constant", "cosine", "linear")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "one_device", "mirrored")
# Model inputs and shard checks: defined once in tfpipe.data.inputs (no TensorFlow).
FEATURES = inputs.FEATURES
VERIFY = inputs.VERIFY_MODES
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
# The validation split carved out of "train" by data.validation_fraction (tfpipe.data.pipeline.Holdout).
HOLDOUT = "holdout"


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says why."""


def _key(default: Any, help: str, *, choices: Sequence[str] | None = None, min: float | None = None,
         max: float | None = None, positive: bool = False, below: float | None = None) -> Any:
    """A config key: its default, its documentation and its constraints."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "min": min, "max": max,
            "positive": positive, "below": below}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class DataConfig:
    """``data``: where the preprocessed shards are and how they are read."""

    dir: str = _key(
        paths.DEFAULT_DATA_DIR,
        "preprocessed data directory (manifest.json + shards) written by beam_jobs.preprocess; "
        "relative paths are relative to the working directory; --data_dir overrides it",
    )
    feature: str | None = _key(
        None, "model input; null = the model's own (tfpipe.models.feature_of): 'chars' (uint8 [l0] "
        "character indices), 'word_ids' (int64 [max_words] word ids, 0-padded) or a bag of features "
        "computed from the text ('bow', 'bow_tfidf', 'ngrams', 'ngrams_tfidf', 'bag_of_means'); "
        "a value other than the model's is an error",
        choices=FEATURES,
    )
    epoch_samples: int | None = _key(
        None,
        "the paper's epoch sampling: examples per epoch drawn uniformly across classes "
        "(with replacement); null = one pass over the train split per epoch",
        positive=True,
    )
    cache: bool = _key(False, "cache the parsed train split in memory after the first epoch")
    shuffle_buffer: int = _key(10000, "shuffle buffer size in examples (0 = no shuffling)", min=0)
    verify: str = _key(
        "size",
        "check shards against the manifest before reading: 'none', 'size' (cheap) or "
        "'sha256' (reads every byte)",
        choices=VERIFY,
    )
    trim_padding: bool = _key(
        False, "word_ids: cut each batch after its longest text instead of padding to max_words "
        "(for models that take any length, e.g. word_lstm: the same result in fewer steps)")
    thesaurus: str | None = _key(
        None, "on-the-fly thesaurus augmentation of the train split (Zhang et al. section 2.4): "
        "'wordnet' or a 'word<TAB>syn1<TAB>syn2 ...' file; null = off (for augmented copies written "
        "by the preprocessing job see its --thesaurus/--augment_copies)",
    )
    augment_rate: float = _key(1.0, "on-the-fly augmentation: fraction of train texts replaced by an "
                               "augmented copy each epoch", min=0.0, max=1.0)
    augment_p: float = _key(0.5, "on-the-fly augmentation: P[r words replaced] ~ p^r (the paper: 0.5)",
                            positive=True, max=1.0)
    augment_q: float = _key(0.5, "on-the-fly augmentation: P[synonym s] ~ q^s (the paper: 0.5)",
                            positive=True, max=1.0)
    validation_fraction: float = _key(
        0.0, "hold out this fraction of the train split (a stable hash of each record id; augmented "
        "copies go with their original) as the 'holdout' split: the model trains on the rest and is "
        "validated on it (model selection and tuning without the test split); 0 = off",
        min=0.0, below=1.0)
    train_splits: str = _key(
        "train", "stored split(s) the model learns from, joined by '+' ('train+test': every text of "
        "the data directory, e.g. for word vectors); only skipgram takes anything but 'train'")


@dataclasses.dataclass
class TrainConfig:
    """``train``: optimisation, precision, devices and TensorBoard extras."""

    epochs: int = _key(30, "number of epochs (the paper: 10 halvings, every 3 epochs = 30)", positive=True)
    batch_size: int = _key(128, "global batch size (split across replicas); the paper uses 128",
                           positive=True)
    optimizer: str = _key("sgd", "optimizer", choices=OPTIMIZERS)
    learning_rate: float = _key(0.01, "initial learning rate (the paper: 0.01)", positive=True)
    momentum: float = _key(0.9, "momentum of sgd and rmsprop (the paper: 0.9)", min=0.0, below=1.0)
    weight_decay: float = _key(0.0, "decoupled weight decay (0 = none); adamw needs it > 0 to differ from adam",
                               min=0.0)
    clipnorm: float | None = _key(None, "clip each gradient to this L2 norm; null = no clipping",
                                  positive=True)
    global_clipnorm: float | None = _key(
        None, "scale all gradients together so that their joint L2 norm is at most this (the "
        "paper's LSTM: 5); null = no clipping", positive=True)
    schedule: str = _key(
        "paper_step",
        "learning-rate schedule counted in epochs: 'paper_step' (multiply by lr_decay_factor every "
        "lr_decay_every epochs, at most lr_decay_times times), 'constant', or 'cosine' (from "
        "learning_rate at epoch 0 towards lr_min at the last epoch), or 'linear' (skipgram only: word2vec's "
        "decay counted in words, to learning_rate x 1e-4)",
        choices=SCHEDULES,
    )
    lr_decay_every: int = _key(3, "paper_step: epochs between decays (the paper: 3)", positive=True)
    lr_decay_factor: float = _key(0.5, "paper_step: factor per decay (the paper: halve, 0.5)",
                                  positive=True, max=1.0)
    lr_decay_times: int = _key(10, "paper_step: number of decays before the rate stays put (the paper: 10)",
                               min=0)
    lr_min: float = _key(0.0, "cosine: final learning rate", min=0.0)
    seed: int = _key(0, "seeds Python, NumPy, TensorFlow/Keras and the input pipeline", min=0)
    deterministic: bool = _key(False, "enable TensorFlow op determinism (slower; bit-identical reruns)")
    mixed_precision: str = _key(
        "auto",
        "Keras dtype policy: 'auto' = mixed_float16 when every visible GPU has compute capability "
        ">= 7.0, mixed_bfloat16 on a CPU-only machine whose CPU has avx512_bf16 or amx_bf16 "
        "(/proc/cpuinfo), float32 otherwise; an explicit mixed_bfloat16 on a CPU without them is "
        "emulated (much slower, with a warning); the softmax output and the losses stay float32",
        choices=PRECISIONS,
    )
    distribute: str = _key(
        "auto",
        "tf.distribute strategy: 'auto' = MirroredStrategy with more than one GPU, the default "
        "strategy otherwise; 'default', 'one_device' (first GPU, else CPU) or 'mirrored'",
        choices=STRATEGIES,
    )
    steps_per_execution: int = _key(1, "training steps run per tf.function call", positive=True)
    early_stopping_patience: int = _key(0, "stop after this many epochs without improvement (0 = off)",
                                        min=0)
    early_stopping_monitor: str = _key("val_loss", "metric watched by early stopping", choices=MONITORS)
    restore_best: bool = _key(
        False, "end the run with the weights of the epoch with the best validation accuracy "
        "(checkpoints/best.weights.h5) instead of the last epoch's; needs a validation split other "
        "than eval.split (e.g. data.validation_fraction), so the test split never picks the model")
    tensorboard_filters: int = _key(
        12, "first-layer filters drawn as images each epoch, like the paper's Figure 4 (0 = none)", min=0
    )
    confusion_every: int = _key(
        1, "write the validation confusion matrix image every N epochs (0 = never)", min=0
    )


@dataclasses.dataclass
class EvalConfig:
    """``eval``: the split used for validation during training and by tfpipe.evaluate."""

    split: str = _key("test", "split evaluated by tfpipe.evaluate (and validated on while training)")
    validation_split: str | None = _key(
        None, "split validated on after each training epoch; null = the same as eval.split"
    )
    batch_size: int = _key(512, "batch size for validation and evaluation", positive=True)


_SECTION_TYPES = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


@dataclasses.dataclass
class Config:
    """A complete, validated experiment configuration."""

    data: DataConfig
    model: dict[str, Any]
    train: TrainConfig
    eval: EvalConfig
    # The task (``tfpipe.tasks.names()``); None until ``tfpipe.tasks.resolve`` infers it from the model.
    task: str | None = None

    @property
    def model_name(self) -> str:
        return self.model["name"]

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """The model section minus ``name``: keyword arguments for ``models.build``."""
        return {k: v for k, v in self.model.items() if k != "name"}

    @property
    def validation_split(self) -> str:
        """``eval.validation_split``, else ``'holdout'`` with ``data.validation_fraction``, else ``eval.split``."""
        if self.data.validation_fraction:
            return HOLDOUT
        return self.eval.validation_split or self.eval.split

    def to_dict(self) -> dict[str, Any]:
        task = {TASK_KEY: self.task} if self.task is not None else {}
        return {
            **task,
            "data": dataclasses.asdict(self.data),
            "model": dict(self.model),
            "train": dataclasses.asdict(self.train),
            "eval": dataclasses.asdict(self.eval),
        }

    def flat(self) -> dict[str, Any]:
        """``{"section.key": value}`` for every key, plus ``task`` when set (hparams, comparisons)."""
        flat = {f"{s}.{k}": v for s, keys in self.to_dict().items() if s != TASK_KEY for k, v in keys.items()}
        return {TASK_KEY: self.task, **flat} if self.task is not None else flat

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)


# --------------------------------------------------------------------------- parsing


def _coerce(section: str, field: dataclasses.Field, hint: Any, value: Any) -> Any:
    """Checks ``value`` against the field's type and constraints; returns it typed."""
    name = f"{section}.{field.name}"
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ConfigError(f"{name} may not be null")
    base = next(t for t in allowed if t is not type(None))
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
    elif base is int:
        if isinstance(value, str):  # "1e6" (YAML 1.1 reads it as a string)
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    elif base is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        value = float(value)
    elif base is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
    meta = field.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(
            f"{name}={value!r} is not valid; valid choices: {', '.join(meta['choices'])}"
        )
    if meta.get("positive") and not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{name} must be >= {meta['min']}, got {value!r}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{name} must be <= {meta['max']}, got {value!r}")
    if meta.get("below") is not None and not value < meta["below"]:
        raise ConfigError(f"{name} must be < {meta['below']:g}, got {value!r}")
    return value


def _build_section(section: str, raw: dict[str, Any]) -> Any:
    cls = _SECTION_TYPES[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) in section '{section}': {', '.join(unknown)}; "
            f"valid keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    return cls(**{k: _coerce(section, fields[k], hints[k], v) for k, v in raw.items()})


def _build_model(raw: dict[str, Any]) -> dict[str, Any]:
    model = dict(raw)
    model.setdefault("name", "char_cnn_small")
    if not isinstance(model["name"], str):
        raise ConfigError(f"model.name must be a string, got {model['name']!r}")
    for key in model:
        if not isinstance(key, str):
            raise ConfigError(f"model keys must be strings, got {key!r}")
    return model


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"train.epochs=3"`` -> ``("train", "epochs", 3)`` (value parsed as YAML)."""
    key, sep, value = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name or "." in name:
        raise ConfigError(
            f"override {text!r} must look like section.key=value with a section among "
            f"{', '.join(SECTIONS)} (e.g. train.epochs=3)"
        )
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({e})") from None
    return section, name, parsed


def from_dict(raw: dict[str, Any] | None, overrides: Iterable[str] = (), *, source: str = "<dict>") -> Config:
    """Builds and validates a Config from a nested dict plus ``section.key=value`` overrides."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config must be a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(str(s) for s in set(raw) - set(SECTIONS) - {TASK_KEY})
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {', '.join(unknown)}; valid sections: {', '.join(SECTIONS)} "
            f"(and the top-level key {TASK_KEY!r})"
        )
    task = raw.get(TASK_KEY)
    if task is not None and not isinstance(task, str):
        raise ConfigError(f"{source}: {TASK_KEY} must be a task name (a string), got {task!r}")
    sections: dict[str, dict[str, Any]] = {}
    for s in SECTIONS:
        value = raw.get(s) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: section '{s}' must be a mapping, got {value!r}")
        sections[s] = dict(value)
    for text in overrides:
        if text.partition("=")[0].strip() == TASK_KEY:
            value = yaml.safe_load(text.partition("=")[2]) if text.partition("=")[2].strip() else None
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"override {text!r}: {TASK_KEY} must be a task name, got {value!r}")
            task = value
            continue
        section, name, value = parse_override(text)
        if section not in SECTIONS:
            raise ConfigError(
                f"override {text!r}: unknown section {section!r}; valid sections: {', '.join(SECTIONS)}"
            )
        sections[section][name] = value
    cfg = Config(
        data=_build_section("data", sections["data"]),
        model=_build_model(sections["model"]),
        train=_build_section("train", sections["train"]),
        eval=_build_section("eval", sections["eval"]),
        task=task,
    )
    _check_holdout(cfg, source)
    return cfg


def _check_holdout(cfg: Config, source: str) -> None:
    """``eval.validation_split: holdout`` needs ``data.validation_fraction``, which validates on it."""
    named = cfg.eval.validation_split
    if cfg.data.validation_fraction and named not in (None, HOLDOUT):
        raise ConfigError(
            f"{source}: data.validation_fraction={cfg.data.validation_fraction} validates on the "
            f"{HOLDOUT!r} split it carves from train, but eval.validation_split={named!r}: drop one of them"
        )
    if cfg.train.restore_best and cfg.validation_split == cfg.eval.split:
        raise ConfigError(
            f"{source}: train.restore_best picks the epoch by validation accuracy, but the run "
            f"validates on eval.split={cfg.eval.split!r}, the split it reports: set "
            "data.validation_fraction (a holdout of train) or eval.validation_split"
        )
    if HOLDOUT in (named, cfg.eval.split) and not cfg.data.validation_fraction:
        raise ConfigError(
            f"{source}: the {HOLDOUT!r} split is carved from train by data.validation_fraction, "
            "which is 0: set it (e.g. data.validation_fraction=0.1)"
        )


def resolve_path(path: str) -> str:
    """A config path as given, else relative to the repository root (for ``configs/...``)."""
    if os.path.exists(path) or os.path.isabs(path):
        return path
    candidate = os.path.join(REPO_ROOT, path)
    return candidate if os.path.exists(candidate) else path


def load(path: str | None = None, overrides: Iterable[str] = ()) -> Config:
    """Reads a YAML config (``None``: all defaults) and applies overrides."""
    raw: Any = {}
    source = "<defaults>"
    if path is not None:
        source = resolve_path(path)
        if not os.path.exists(source):
            raise ConfigError(f"config file {path!r} not found")
        if os.path.isdir(source):
            raise ConfigError(
                f"config file {path!r} is a directory, not a YAML config: pass one of its files "
                "(e.g. configs/char_cnn_small_ag_news.yaml; python -m tfpipe.config lists every key)")
        with open(source, encoding="utf-8") as f:
            try:
                raw = yaml.safe_load(f)
            except yaml.YAMLError as e:
                raise ConfigError(f"{source}: not valid YAML: {e}") from None
    return from_dict(raw, overrides, source=source)


def check_model_keys(cfg: Config, valid) -> None:
    """Raises ``ConfigError`` naming the valid keys when ``cfg.model`` has a key not in ``valid``
    (a task's own model keys)."""
    valid = list(valid)
    unknown = sorted(set(cfg.model_kwargs) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key(s) for model {cfg.model_name!r}: {', '.join(unknown)}; valid keys: "
                          f"name, {', '.join(valid)}")


def validate_model(cfg: Config) -> None:
    """Checks the model name and keys against the registry (imports tfpipe.models)."""
    from tfpipe import models

    name = cfg.model_name
    if name not in models.names():
        raise ConfigError(f"model.name={name!r} is not registered; valid names: {', '.join(models.names())}")
    data_keys = sorted(set(cfg.model_kwargs) & set(models.DATA_KEYS))
    if data_keys:
        raise ConfigError(
            f"model.{data_keys[0]} is read from the data manifest and may not be set in the config "
            f"(data-derived keys: {', '.join(models.DATA_KEYS)})"
        )
    if cfg.train.schedule == "linear" and name != "skipgram":
        raise ConfigError(
            "train.schedule='linear' (word2vec's decay counted in words) is for skipgram; "
            f"{name!r} takes constant, paper_step or cosine"
        )
    if cfg.data.train_splits != "train" and name != "skipgram":
        raise ConfigError(
            f"data.train_splits={cfg.data.train_splits!r}: learning from splits other than 'train' is "
            f"for skipgram (unsupervised word vectors); {name!r} trains on 'train' only"
        )
    declared = models.feature_of(name)
    if cfg.data.feature is not None and cfg.data.feature != declared:
        raise ConfigError(
            f"data.feature={cfg.data.feature!r} but model {name!r} takes {declared!r}: drop data.feature "
            "(it defaults to the model's input) or pick a model that takes it"
        )
    valid = models.config_keys(name, include_data_keys=False)
    unknown = sorted(set(cfg.model_kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown key(s) for model {name!r}: {', '.join(unknown)}; valid keys: name, {', '.join(valid)}"
        )
    if "first_layer" in cfg.model_kwargs:  # the char models' conv1 (tfpipe.layers.index_conv)
        from tfpipe.layers.index_conv import FIRST_LAYERS

        if cfg.model_kwargs["first_layer"] not in FIRST_LAYERS:
            raise ConfigError(f"model.first_layer={cfg.model_kwargs['first_layer']!r}; valid choices: "
                              f"{', '.join(FIRST_LAYERS)}")


def feature(cfg: Config) -> str:
    """The model input of ``cfg``: ``data.feature``, else the model's declared feature."""
    if cfg.data.feature is not None:
        return cfg.data.feature
    from tfpipe import models

    return models.feature_of(cfg.model_name)


def run_name(config_path: str | None) -> str:
    """Default run directory name: the config file's stem."""
    path = config_path or DEFAULT_CONFIG
    return os.path.splitext(os.path.basename(path))[0]


def default_model_dir(config_path: str | None) -> str:
    return os.path.join(paths.DEFAULT_RUNS_DIR, run_name(config_path))


def describe() -> str:
    """Every key with its default, choices and meaning (the reference for config files)."""
    lines = [f"{TASK_KEY}: null  # [classification|word_vectors ...: tfpipe.tasks.names()] the kind of "
             "training; null: the task of model.name"]
    for section in SECTIONS:
        lines.append(f"{section}:")
        if section == "model":
            lines.append("  name: char_cnn_small  # a registered model (tfpipe.models.names());")
            lines.append("  # plus that model's own keys (tfpipe.models.config_keys(name)), passed to models.build;")
            lines.append("  # num_classes, l0, alphabet_size, vocab_size and max_words come from the manifest.")
            continue
        for field in dataclasses.fields(_SECTION_TYPES[section]):
            meta = field.metadata
            default = yaml.safe_dump(field.default, default_flow_style=True).strip().removesuffix("...").strip()
            choices = f" [{'|'.join(meta['choices'])}]" if meta.get("choices") else ""
            lines.append(f"  {field.name}: {default}  #{choices} {meta['help']}")
    return "\n".join(lines)
