# The two commands: `make bench` (main job) and `make test` (suite). Everything else is a step of those.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

HOST_PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?= reference
IMAGE ?= tflite
VARIANT ?= float32
export CLOTHING_DATASET ?= $(CURDIR)/data/clothing-dataset-small
DATA_URL := https://github.com/alexeygrigorev/clothing-dataset-small
DATA_COMMIT := 11961516512414bf9f6c150a832cfd21b54a6b54

.PHONY: help venv apt data train models eval base build build-all bench bench-run report deploy undeploy test lint clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.lock
	@test -x $(PY) || $(HOST_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.lock
	@touch $@

venv: $(STAMP)  ## project venv from pinned requirements

apt:  ## Debian packages (mmdebstrap, docker-registry, pigz) when missing
	@bash scripts/apt-deps.sh

data:  ## clone the dataset at its pinned commit into data/ (git-ignored)
	@if [ -d "$(CLOTHING_DATASET)/train" ]; then echo "dataset present at $(CLOTHING_DATASET)"; else \
	  git clone -q $(DATA_URL) "$(CLOTHING_DATASET)" && git -C "$(CLOTHING_DATASET)" checkout -q $(DATA_COMMIT) && \
	  echo "dataset cloned at $(DATA_COMMIT) into $(CLOTHING_DATASET)"; fi

train: venv  ## retrain the committed reference model (seeded; ~60 min on 2 cores)
	$(PY) -m models.train --arch reference --out build/train/reference/model.keras --epochs 18
	$(PY) -m models.card --train-dir build/train/reference --publish models/reference

models: venv  ## convert MODEL to SavedModel / TFLite / ONNX with a manifest
	$(PY) -m models.convert --model $(MODEL)

eval: models  ## accuracy + agreement of every artefact -> results/accuracy.csv
	$(PY) -m models.eval --model $(MODEL)
