"""The task seam: the registry, config checks against a task, the shared loop's pieces, and
word vectors gaining resume from the shared loop."""
from __future__ import annotations

import json
import os
import random

import pytest

from tfpipe import config as config_lib
from tfpipe import tasks


def test_tasks_are_the_modules_of_the_package_and_unknown_names_list_them():
    assert tasks.names() == ["classification", "devise", "joint_embedding", "phrase_context", "retrieval", "word_vectors"]
    with pytest.raises(config_lib.ConfigError, match=r"task='clasification' is not a task; valid tasks: "
                                                      r"classification, devise, joint_embedding, phrase_context, retrieval, word_vectors"):
        tasks.get("clasification")
    assert type(tasks.get("word_vectors")).__module__ == "tfpipe.tasks.word_vectors"


def test_a_config_without_a_task_gets_its_models_task():
    cfg = config_lib.from_dict({"model": {"name": "char_cnn_small"}})
    assert cfg.task is None and "task" not in cfg.to_dict()
    assert tasks.resolve(cfg).name == "classification" and cfg.task == "classification"
    assert cfg.to_dict()["task"] == "classification" and cfg.flat()["task"] == "classification"
    skipgram = config_lib.from_dict({"model": {"name": "skipgram"}, "train": {"schedule": "linear"}})
    assert tasks.resolve(skipgram).name == "word_vectors"
    assert "skipgram" not in tasks.get("classification").model_names()
    assert {"char_cnn_small", "word_lstm", "ngrams_tfidf"} <= set(tasks.get("classification").model_names())


def test_the_task_key_in_files_and_overrides():
    cfg = config_lib.from_dict({"task": "word_vectors", "model": {"name": "skipgram"}})
    assert cfg.task == "word_vectors"
    assert config_lib.from_dict({}, ["task=word_vectors"]).task == "word_vectors"
    # The resolved config round-trips through YAML with its task.
    import yaml

    assert config_lib.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg
    with pytest.raises(config_lib.ConfigError, match="task must be a task name"):
        config_lib.from_dict({"task": 3})
    with pytest.raises(config_lib.ConfigError, match=r"unknown section\(s\) tsak; valid sections: .*'task'"):
        config_lib.from_dict({"tsak": "classification"})


def test_a_model_of_another_task_is_rejected_with_the_tasks_models():
    cfg = config_lib.from_dict({"task": "classification", "model": {"name": "skipgram"}})
    with pytest.raises(config_lib.ConfigError,
                       match=r"task 'classification' does not train model.name='skipgram' \('skipgram' is a "
                             r"word_vectors model\); its models: .*char_cnn_small"):
        tasks.resolve(cfg)
    cfg = config_lib.from_dict({"task": "word_vectors", "model": {"name": "char_cnn_small"}})
    with pytest.raises(config_lib.ConfigError, match=r"does not train model.name='char_cnn_small' .*its models: skipgram"):
        tasks.resolve(cfg)
    with pytest.raises(config_lib.ConfigError, match="valid tasks: classification, devise, joint_embedding, phrase_context, retrieval, word_vectors"):
        tasks.resolve(config_lib.from_dict({"task": "nope"}))


def test_a_key_the_task_does_not_read_is_rejected():
    cfg = config_lib.from_dict({"model": {"name": "skipgram"}, "train": {"schedule": "linear"},
                                "data": {"validation_fraction": 0.1}})
    with pytest.raises(config_lib.ConfigError, match="validation_fraction"):
        tasks.resolve(cfg)
    cfg = config_lib.from_dict({"model": {"name": "skipgram"}, "train": {"schedule": "linear"},
                                "data": {"thesaurus": "wordnet"}})
    with pytest.raises(config_lib.ConfigError, match=r"data.thesaurus='wordnet' is not read by task 'word_vectors' "
                                                      r"\(only by classification\): drop it \(default None\)"):
        tasks.resolve(cfg)


def test_the_cli_names_the_valid_tasks(tmp_path, capsys):
    from tfpipe import train

    assert train.main(["--set", "task=regression", "--model_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "task='regression' is not a task; valid tasks: classification, devise, joint_embedding, phrase_context, retrieval, word_vectors" in err
    assert not os.path.exists(tmp_path / "run")


def test_register_insists_on_the_module_named_after_the_task():
    from tfpipe.tasks.base import Task

    class Misplaced(Task):
        name = "misplaced"

    with pytest.raises(ValueError, match="belongs in tfpipe.tasks.misplaced"):
        tasks.register(Misplaced)


def test_summarize_picks_the_best_epoch_by_the_plans_monitor():
    from tfpipe.training import loop

    progress = [
        {"epoch": e, "session": "a", "train_time_s": 2.0, "eval_time_s": 0.5, "examples": 10,
         "logs": {"loss": loss, "val_loss": val, "val_accuracy": acc}}
        for e, (loss, val, acc) in enumerate([(3.0, 2.0, 0.5), (2.0, 1.5, 0.7), (1.0, 1.8, 0.6)])
    ]
    by_loss = loop.summarize(progress, "val_loss", "min")
    assert by_loss["best_val_loss"] == 1.5 and by_loss["best_epoch"] == 1
    by_accuracy = loop.summarize(progress, "val_accuracy", "max")
    assert by_accuracy["best_val_accuracy"] == 0.7 and by_accuracy["best_epoch"] == 1
    assert loop.summarize(progress, "loss", "min")["best_epoch"] == 2
    # 30 examples in 6 s of training
    assert by_loss["examples_per_sec"] == pytest.approx(5.0) and by_loss["epochs_run"] == 3
    assert loop.summarize(progress, "val_recall", "max")["best_epoch"] is None


def test_steps_per_execution_of_an_epoch_of_unknown_length_is_as_asked():
    from tfpipe.training import loop

    assert loop.steps_per_execution(8, None) == 8
    assert loop.steps_per_execution(8, 12) == 6 and loop.steps_per_execution(5, 7) == 1


WORDS = {"fruit": "apple pear plum fig grape lime".split(), "vehicle": "car bus tram van bike cab".split()}


@pytest.fixture(scope="module")
def words_data_dir(tmp_path_factory) -> str:
    from tfpipe.data import records

    rng = random.Random(0)
    rows = [(f"s{i:03d}", " ".join(rng.choice(WORDS["fruit" if i % 2 else "vehicle"]) for _ in range(8)), i % 2)
            for i in range(200)]
    data_dir = str(tmp_path_factory.mktemp("words"))
    records.write_dataset(data_dir, {"train": rows, "test": rows[:20]}, ["vehicle", "fruit"], l0=64, max_words=16)
    return data_dir


def _skipgram_config(data_dir: str, epochs: int = 3) -> config_lib.Config:
    return config_lib.from_dict({
        "task": "word_vectors",
        "data": {"dir": data_dir},
        "model": {"name": "skipgram", "dim": 8, "window": 2, "subsample": 0, "min_count": 1},
        "train": {"epochs": epochs, "batch_size": 128, "optimizer": "sgd", "momentum": 0.0,
                  "learning_rate": 0.025, "schedule": "linear", "seed": 0},
        "eval": {"split": "test"},
    })


def test_word_vectors_resume_from_the_shared_loops_backup(words_data_dir, tmp_path, monkeypatch):
    """Killed after epoch 1 of 3 (the epoch's backup committed), the same command resumes at
    epoch 2: the run's record covers all three epochs and two sessions, and the learning
    rate's words-seen count carried over (the words of three epochs)."""
    from tfpipe import train
    from tfpipe.training import callbacks as cb
    from tfpipe.training import runs

    run = str(tmp_path / "run")
    original = cb.EpochBackup.on_epoch_end

    class Killed(Exception):
        pass

    def backup_then_die(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise Killed()

    monkeypatch.setattr(cb.EpochBackup, "on_epoch_end", backup_then_die)
    with pytest.raises(Killed):
        train.train(_skipgram_config(words_data_dir), run, verbose=0)
    assert runs.backup_epoch(run) == 1 and not os.path.exists(os.path.join(run, "vectors.npy"))
    monkeypatch.setattr(cb.EpochBackup, "on_epoch_end", original)

    results = train.train(_skipgram_config(words_data_dir), run, verbose=0)
    assert results["resumed_from_epoch"] == 1 and results["epochs_run"] == 3 and results["sessions"] == 2
    assert [h["epoch"] for h in results["history"]] == [1, 2, 3]
    # Every epoch trains on every word of the train split once (no subsampling).
    assert results["words_trained"] == pytest.approx(3 * results["words_per_epoch"])
    assert os.path.exists(os.path.join(run, "vectors.npy")) and not os.path.exists(os.path.join(run, runs.BACKUP_DIR))
    with open(os.path.join(run, runs.TRAIN_RESULTS), encoding="utf-8") as f:
        assert json.load(f)["task"] == "word_vectors"
    # The best-epoch checkpoint watches the held-out pair loss.
    assert os.path.exists(os.path.join(run, runs.BEST_WEIGHTS))
    assert results["best_epoch"] in (0, 1, 2)


def test_a_finished_word_vectors_run_is_replaced_only_with_fresh(words_data_dir, tmp_path):
    from tfpipe import train

    run = str(tmp_path / "run")
    train.train(_skipgram_config(words_data_dir, epochs=1), run, verbose=0)
    with pytest.raises(train.TrainError, match="holds a finished run"):
        train.train(_skipgram_config(words_data_dir, epochs=1), run, verbose=0)
    assert train.train(_skipgram_config(words_data_dir, epochs=1), run, verbose=0, fresh=True)["epochs_run"] == 1


def test_evaluate_and_export_of_a_word_vectors_run_say_where_its_figures_and_vectors_are(words_data_dir, tmp_path, capsys):
    from tfpipe import evaluate, export, train

    run = str(tmp_path / "run")
    train.train(_skipgram_config(words_data_dir, epochs=1), run, verbose=0)
    assert evaluate.main(["--model_dir", run]) == 2
    assert "word_vectors run: its held-out pair loss" in capsys.readouterr().err
    assert export.main(["--model_dir", run]) == 2
    assert "python -m tfpipe.index build --vectors" in capsys.readouterr().err


NEW_TASK = '''
import os
import keras
from tfpipe import tasks
from tfpipe.tasks.base import Plan, Task
from tfpipe.training import datasets, modeling


@tasks.register
class TopTwo(Task):
    name, objective = "top_two", ("val_top2", "max")

    def model_names(self):
        return ["bow"]

    def build(self, cfg, data, model_dir, *, first_epoch, verbose, steps_per_execution):
        featurizer = datasets.featurizer(cfg, data, model_dir)
        steps = datasets.train_steps(cfg, data)
        model = modeling.build_model(cfg, data, featurizer.num_features)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
                      steps_per_execution=steps_per_execution(steps))
        return Plan(model, datasets.train_dataset(cfg, data, featurizer, first_epoch=first_epoch),
                    datasets.eval_dataset(cfg, data, "test", featurizer), steps,
                    examples_per_epoch=data.count("train"), describe="top two", splits=["train", "test"],
                    data=data, monitor="val_top2", monitor_mode="max")

    def finish(self, cfg, plan, model_dir, run):
        plan.model.save(os.path.join(model_dir, "model.keras"))
        return {"model": cfg.model_name, **run}
'''


def test_a_new_task_is_a_new_file_in_the_package(tiny_data_dir, tmp_path, monkeypatch):
    """The README's recipe: a module named after its task, found by the registry, trained by
    the shared loop (its own metric picks the best epoch)."""
    from tfpipe import train

    package = tmp_path / "extra_tasks"
    package.mkdir()
    (package / "top_two.py").write_text(NEW_TASK)
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(package)])
    assert "top_two" in tasks.names()
    cfg = config_lib.from_dict({
        "task": "top_two", "data": {"dir": tiny_data_dir},
        "model": {"name": "bow"},
        "train": {"epochs": 2, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.01,
                  "schedule": "constant"},
    })
    results = train.train(cfg, str(tmp_path / "run"), verbose=0)
    assert results["epochs_run"] == 2 and results["best_epoch"] in (0, 1)
    assert 0.0 <= results["best_val_top2"] <= 1.0 and "val_top2" in results["final"]
    assert os.path.exists(tmp_path / "run" / "model.keras") and os.path.exists(tmp_path / "run" / "checkpoints")
