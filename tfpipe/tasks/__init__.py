"""The task registry: one kind of training per module, every CLI dispatches through it.

A task (:class:`tfpipe.tasks.base.Task`) declares which models and record kinds it
takes, builds its model, owns its loss and metrics, and evaluates and exports its
runs; the one training loop (:func:`tfpipe.training.loop.run`: checkpoints, exact
resume, TensorBoard, early stopping, restore-best, precision, distribution) is
shared by all of them.  A config names its task (``task: classification``); a
config without one gets the task whose models include ``model.name``.

    task = tasks.resolve(cfg)          # validates cfg against the task
    results = loop.run(task, cfg, model_dir)
    task.evaluate(model_dir, ...); task.export(model_dir, ...)

Adding a task is a new module (or package) here, named after the task, holding a
:func:`register`-ed subclass of ``Task``; plus configs.  Listing the tasks does not
import them (nor TensorFlow).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tfpipe.config import Config
    from tfpipe.tasks.base import Task

# Modules of this package that are not tasks.
NOT_TASKS = ("base",)
_TASKS: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator registering a ``Task`` subclass under its ``name``, which must be the name
    of its module (``tfpipe/tasks/<name>.py``: how ``get`` finds it)."""
    name = cls.name
    if cls.__module__ != f"{__name__}.{name}":
        raise ValueError(f"task {name!r} is registered by {cls.__module__}; it belongs in {__name__}.{name}")
    if name in _TASKS and _TASKS[name] is not cls:
        raise ValueError(f"task {name!r} is already registered (by {_TASKS[name].__module__})")
    _TASKS[name] = cls
    return cls


def names() -> list[str]:
    """Every task name (the modules of this package), sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in NOT_TASKS and not m.name.startswith("_"))


def get(name: str) -> "Task":
    """A new instance of the task registered as ``name``; an unknown name lists the valid ones."""
    from tfpipe.config import ConfigError

    if name not in names():
        raise ConfigError(f"task={name!r} is not a task; valid tasks: {', '.join(names())}")
    if name not in _TASKS:
        importlib.import_module(f"{__name__}.{name}")
    if name not in _TASKS:
        raise RuntimeError(f"{__name__}.{name} registers no task named {name!r} (@tasks.register)")
    return _TASKS[name]()


def task_of_model(model_name: str) -> str:
    """The task that trains ``model_name`` when a config does not name one."""
    for name in names():
        if model_name in get(name).model_names():
            return name
    return "classification"  # the model check then lists the valid names


def of_config(cfg: "Config") -> "Task":
    """The config's task (``cfg.task``, else the one its model belongs to; written back to
    ``cfg.task``), not yet checked against the config (``loop.run`` checks it)."""
    if cfg.task is None:
        cfg.task = task_of_model(cfg.model_name)
    return get(cfg.task)


def resolve(cfg: "Config") -> "Task":
    """``of_config(cfg)`` after checking the config against the task (``Task.check``)."""
    task = of_config(cfg)
    task.check(cfg)
    return task
