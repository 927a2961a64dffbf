# tfpipe: the README's commands and friends.  Everything installs into $(VENV).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tfpipe-installed
RUN_DIR := artifacts/runs/char_cnn_small_default
# Two sentences of different classes that `make demo` classifies with its exported model
# (DEMO_<CLASS>; tests/test_demo.py checks that every seed's model gets both right).
DEMO_SPORTS := The home side beat their local rivals in the cup final, the coach said after the match.
DEMO_BUSINESS := The central bank cut interest rates as shares rose on the market.
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-slow bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job end to end on the embedded default corpus.
demo: $(STAMP)
	$(PY) -m beam_jobs.preprocess --runner=DirectRunner
	$(PY) -m tfpipe.train --model_dir $(RUN_DIR) --fresh
	$(PY) -m tfpipe.evaluate --model_dir $(RUN_DIR)
	$(PY) -m tfpipe.export --model_dir $(RUN_DIR)
	$(PY) -m tfpipe.predict --model $(RUN_DIR)/export "$(DEMO_SPORTS)" "$(DEMO_BUSINESS)"
	@echo "TensorBoard: $(VENV)/bin/tensorboard --logdir $(RUN_DIR)/logs"

## Fast tests (what CI runs).
test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile

## Longer real-data checks (minutes).
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m benchmarks.input_pipeline
	$(PY) -m benchmarks.train_throughput
	$(PY) -m benchmarks.preprocess_throughput
	$(PY) -m benchmarks.image_preprocess
	$(PY) -m benchmarks.feature_extraction
	$(PY) -m benchmarks.sje_throughput
	$(PY) -m benchmarks.cse_throughput
	# the trained phrase generator's prototypes when they exist (README, predicted context), else a fallback
	$(PY) -m benchmarks.phrase_search
	# needs a trained and exported devise run (README, DeViSE): it says so and stops otherwise
	$(PY) -m benchmarks.devise_serving

clean:
	rm -rf artifacts .pytest_cache
