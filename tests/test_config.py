"""Config files, overrides and their error messages."""
from __future__ import annotations

import glob
import os

import pytest
import yaml

from tfpipe import config, paths

CONFIG_DIR = os.path.join(config.REPO_ROOT, "configs")


def test_defaults_are_the_papers():
    cfg = config.load()
    assert cfg.data.dir == paths.DEFAULT_DATA_DIR
    assert cfg.data.epoch_samples is None
    t = cfg.train
    assert (t.optimizer, t.momentum, t.learning_rate, t.batch_size) == ("sgd", 0.9, 0.01, 128)
    assert (t.schedule, t.lr_decay_every, t.lr_decay_factor, t.lr_decay_times) == ("paper_step", 3, 0.5, 10)
    assert t.mixed_precision == "auto" and t.distribute == "auto"
    assert cfg.eval.split == "test" and cfg.validation_split == "test"
    assert cfg.model_name == "char_cnn_small"


def test_overrides_are_yaml_typed():
    cfg = config.from_dict(
        {"train": {"epochs": 5}},
        ["train.epochs=3", "train.learning_rate=1e-3", "train.clipnorm=null", "data.cache=true",
         "data.epoch_samples=1e4", "model.name=char_cnn_large", "model.dropout=0.25", "eval.split=valid"],
    )
    assert cfg.train.epochs == 3
    assert cfg.train.learning_rate == 0.001  # "1e-3" is a string to YAML 1.1; accepted for floats
    assert cfg.train.clipnorm is None and cfg.data.cache is True
    assert cfg.data.epoch_samples == 10000
    assert cfg.model == {"name": "char_cnn_large", "dropout": 0.25}
    assert cfg.model_kwargs == {"dropout": 0.25}
    assert cfg.validation_split == "valid"
    assert cfg.flat()["train.epochs"] == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.bogus=1"], r"unknown key\(s\) in section 'train': bogus; valid keys: epochs, batch_size, optimizer"),
        (["data.dirr=x"], r"valid keys: dir, feature, epoch_samples"),
        (["foo.x=1"], r"unknown section 'foo'; valid sections: data, model, train, eval"),
        (["epochs=3"], r"section\.key=value"),
        (["train.optimizer=lbfgs"], r"train.optimizer='lbfgs' is not valid; valid choices: sgd, adam, adamw, rmsprop"),
        (["train.schedule=exponential"], r"valid choices: paper_step, constant, cosine, linear"),
        (["train.mixed_precision=float16"], r"valid choices: auto, float32, mixed_float16, mixed_bfloat16"),
        (["train.distribute=tpu"], r"valid choices: auto, default, one_device, mirrored"),
        (["data.feature=bytes"], r"valid choices: chars, word_ids, bow, bow_tfidf, ngrams, ngrams_tfidf, bag_of_means"),
        (["data.verify=md5"], r"valid choices: size, sha256, none"),
        (["train.epochs=0"], r"train.epochs must be > 0"),
        (["train.epochs=2.5"], r"train.epochs must be an integer"),
        (["train.learning_rate=fast"], r"train.learning_rate must be a number"),
        (["train.momentum=1"], r"train.momentum must be < 1"),
        (["data.cache=yes please"], r"data.cache must be true or false"),
        (["train.optimizer=null"], r"train.optimizer may not be null"),
    ],
)
def test_errors_name_the_valid_keys_and_choices(overrides, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_dict({}, overrides)


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  epochs: 3\n")
    with pytest.raises(config.ConfigError, match=r"unknown section\(s\) training; valid sections: data, model, train, eval"):
        config.load(str(bad))
    bad.write_text("train: [1, 2]\n")
    with pytest.raises(config.ConfigError, match="section 'train' must be a mapping"):
        config.load(str(bad))
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(str(tmp_path / "missing.yaml"))


def test_model_keys_are_checked_against_the_registry():
    from tfpipe import models

    with pytest.raises(config.ConfigError, match=r"model.name='nope' is not registered; valid names: .*char_cnn_small"):
        config.validate_model(config.from_dict({"model": {"name": "nope"}}))
    with pytest.raises(config.ConfigError, match=r"unknown key\(s\) for model 'char_cnn_small': bogus; valid keys: name"):
        config.validate_model(config.from_dict({"model": {"name": "char_cnn_small", "bogus": 1}}))
    with pytest.raises(config.ConfigError, match=r"model.l0 is read from the data manifest"):
        config.validate_model(config.from_dict({"model": {"l0": 100}}))
    assert "l0" in models.DATA_KEYS


def test_feature_and_verify_choices_match_the_pipeline():
    from tfpipe import models
    from tfpipe.data import features, pipeline

    assert config.FEATURES == models.FEATURES == features.FEATURES
    assert set(features.STORED) <= set(pipeline.FEATURES)
    assert set(config.VERIFY) == set(pipeline.VERIFY_MODES)


def test_data_feature_defaults_to_the_models_and_must_agree_with_it():
    cfg = config.from_dict({"model": {"name": "char_cnn_small"}})
    assert cfg.data.feature is None and config.feature(cfg) == "chars"
    config.validate_model(config.from_dict({"data": {"feature": "chars"}}))
    with pytest.raises(config.ConfigError, match=r"data.feature='word_ids' but model 'char_cnn_small' takes 'chars'"):
        config.validate_model(config.from_dict({"data": {"feature": "word_ids"}}))


def test_every_shipped_config_loads_and_validates():
    files = sorted(glob.glob(os.path.join(CONFIG_DIR, "*.yaml")))
    names = {os.path.basename(f) for f in files}
    assert {
        "char_cnn_small_default.yaml", "char_cnn_large_default.yaml",
        "char_cnn_small_ag_news_paper_sgd.yaml", "char_cnn_large_ag_news_paper_sgd.yaml",
    } <= names
    # Table 4 of Zhang et al.: every row has a config per shared corpus.
    rows = ["bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means", "word_lstm"]
    rows += [f"word_cnn_{e}_{s}{th}" for e in ("w2v", "lk") for s in ("large", "small") for th in ("", "_th")]
    rows += [f"char_cnn_{s}{f}{th}" for s in ("large", "small") for f in ("", "_full") for th in ("", "_th")]
    assert len(rows) == 22
    assert {f"{row}_{ds}.yaml" for row in rows for ds in ("ag_news", "trec", "mr")} <= names
    from tfpipe import tasks

    for path in files:
        cfg = config.load(path)
        tasks.resolve(cfg)  # the config's task checks it (the model registry's rules for its models)
        # The resolved config round-trips through YAML unchanged.
        assert config.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg


def test_paper_configs_use_the_paper_schedule():
    for name in ("char_cnn_small_ag_news_paper_sgd.yaml", "char_cnn_large_ag_news_paper_sgd.yaml"):
        t = config.load(os.path.join(CONFIG_DIR, name)).train
        assert (t.optimizer, t.momentum, t.learning_rate, t.batch_size, t.schedule) == (
            "sgd", 0.9, 0.01, 128, "paper_step")
        assert (t.lr_decay_every, t.lr_decay_factor, t.lr_decay_times) == (3, 0.5, 10)


def test_default_run_dir_is_named_after_the_config():
    assert config.default_model_dir("configs/char_cnn_large_ag_news.yaml") == os.path.join(
        paths.DEFAULT_RUNS_DIR, "char_cnn_large_ag_news")
    assert config.default_model_dir(None).endswith("char_cnn_small_default")


def test_cli_lists_keys_and_rejects_bad_override_and_validates_through_the_task(capsys):
    from tfpipe.config import __main__ as config_cli

    assert config_cli.main([]) == 0
    out = capsys.readouterr().out
    assert "lr_decay_every: 3" in out and "mixed_precision: auto" in out
    assert config_cli.main(["--set", "train.nope=1"]) == 2
    assert "valid keys" in capsys.readouterr().err
    # A devise config is checked by its task (its models are not classification models).
    assert config_cli.main([os.path.join(config.REPO_ROOT, "configs", "devise_tiny_imagenet.yaml")]) == 0
    assert "task: devise" in capsys.readouterr().out
    assert config_cli.main([os.path.join(config.REPO_ROOT, "configs", "devise_tiny_imagenet.yaml"),
                            "--set", "model.loss_form=sum"]) == 2
    assert "valid forms: truncated, full" in capsys.readouterr().err


def test_lstm_configs_clip_the_global_gradient_norm_at_5():
    for ds in ("ag_news", "trec", "mr"):
        cfg = config.load(os.path.join(CONFIG_DIR, f"word_lstm_{ds}.yaml"))
        assert cfg.train.global_clipnorm == 5.0 and cfg.train.clipnorm is None


def test_linear_schedule_is_for_skipgram_only():
    config.validate_model(config.from_dict({"model": {"name": "skipgram"}, "train": {"schedule": "linear"}}))
    with pytest.raises(config.ConfigError, match=r"'linear' .* is for skipgram"):
        config.validate_model(config.from_dict({"train": {"schedule": "linear"}}))
