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
#: core/catalogue.py's DEFAULT_ARCH (IMAGE, VARIANT and it are checked against the catalogue by
#: tests/unit/test_catalogue_one_place.py)
DEFAULT_ARCH := x86_64
#: the default, or arm64 (built and run under qemu emulation on an x86_64 host: docs/images.md)
ARCH ?= $(DEFAULT_ARCH)
export CLOTHING_DATASET ?= $(CURDIR)/data/clothing-dataset-small
DATA_URL := https://github.com/alexeygrigorev/clothing-dataset-small
DATA_COMMIT := 11961516512414bf9f6c150a832cfd21b54a6b54

.PHONY: help venv apt data train card models eval base build build-all bench bench-run throughput report deploy undeploy test lint unit clean \
	package sam-venv sam-validate sam-invoke

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.lock
	@test -x $(PY) || $(HOST_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.lock
	@touch $@

venv: $(STAMP)  ## project venv from pinned requirements

apt:  ## Debian packages (mmdebstrap, docker-registry, pigz, qemu-user-static...) when missing; arm64 emulation
	@bash scripts/apt-deps.sh

data:  ## clone the dataset at its pinned commit into data/ (git-ignored)
	@if [ -d "$(CLOTHING_DATASET)/train" ]; then echo "dataset present at $(CLOTHING_DATASET)"; else \
	  git clone -q $(DATA_URL) "$(CLOTHING_DATASET)" && git -C "$(CLOTHING_DATASET)" checkout -q $(DATA_COMMIT) && \
	  echo "dataset cloned at $(DATA_COMMIT) into $(CLOTHING_DATASET)"; fi

train: venv  ## retrain the committed reference model (seeded; ~60 min on 2 cores)
	$(PY) -m models.train --arch reference --out build/train/reference/model.keras --epochs 18
	mkdir -p models/reference && cp build/train/reference/model.keras models/reference/model.keras
	cp build/train/reference/model.train.json models/reference/model.train.json
	$(PY) -m models.card --train-json models/reference/model.train.json --model models/reference/model.keras --name reference

card: venv  ## card for your own model: make card MODEL=path/to/model.keras [CLASSES=a,b,c] [PREPROCESSING=tf|torch|caffe|raw|unit] [INPUT_PX=HxW] [RESIZE=bilinear] [LOADER=dataset|load_img] [ASPECT=stretch|crop|pad]
	@case "$(MODEL)" in *.keras|*.h5) ;; *) echo "make card is for your own model file: MODEL=path/to/model.keras"; exit 2;; esac
	$(PY) -m models.card --model "$(MODEL)" $(if $(CLASSES),--classes "$(CLASSES)",) \
	  $(if $(PREPROCESSING),--preprocessing "$(PREPROCESSING)",) $(if $(INPUT_PX),--input-px "$(INPUT_PX)",) \
	  $(if $(RESIZE),--resize "$(RESIZE)",) $(if $(LOADER),--loader "$(LOADER)",) $(if $(ASPECT),--aspect "$(ASPECT)",)

models: venv  ## convert MODEL to SavedModel / TFLite / ONNX with a manifest
	$(PY) -m models.convert --model $(MODEL)

eval: models  ## accuracy + agreement of every artefact (tflite-runtime: inside its built image) -> results/accuracy.csv
	$(PY) -m models.eval --model $(MODEL)

base: venv apt  ## Lambda base images: the AWS one when present/pullable, else local stand-ins (ARCH=arm64: emulated)
	$(if $(filter $(DEFAULT_ARCH),$(ARCH)),$(PY) -m images.base,$(PY) -m images.arch --arch $(ARCH))

build: venv apt  ## one image: make build IMAGE=tflite MODEL=xception VARIANT=int8 [ARCH=arm64]
	$(PY) -m images.build --image $(IMAGE) --model $(MODEL) --variant $(VARIANT) --arch $(ARCH)

build-all: models base  ## every image x default variant for MODEL, with a size table [ARCH=arm64]
	$(PY) -m images.build --all --model $(MODEL) --arch $(ARCH)

bench-run: venv  ## the benchmarks (pytest-benchmark): results/runs/*.csv + results/latest.csv
	$(PY) -m pytest bench --benchmark-only -p no:cacheprovider

throughput: venv  ## load test: P = 1, 2, 4 processes per vCPU, saturation + 50/80 % -> results/throughput.csv (docs/throughput.md); THROUGHPUT_ARGS="..."
	$(PY) -m bench.measure.throughput $(THROUGHPUT_ARGS)

report: venv  ## results/report.md, results/plots/*.png, results/winner.json, README's results block
	$(PY) -m bench.report
	$(PY) -m bench.report.readme

comma := ,
empty :=
space := $(empty) $(empty)
#: models `make bench` covers: MODEL when given (your own model), else the reference and the Xception.
BENCH_MODELS ?= $(if $(filter command line environment,$(origin MODEL)),$(MODEL),reference xception)
BENCH_MODEL_LIST := $(strip $(subst $(comma),$(space),$(BENCH_MODELS)))

PHASE := $(PY) -m bench.measure.phases mark
bench: venv apt  ## THE MAIN JOB: models -> images -> eval -> benchmarks -> report, for BENCH_MODELS
	@$(PHASE) start
	@for m in $(BENCH_MODEL_LIST); do $(PHASE) "set-up $$m"; $(MAKE) --no-print-directory build-all eval MODEL=$$m || exit 1; \
	  $(PY) -m models.skew --model $$m || echo "skew check failed for $$m: its cells cannot win (results/skew.csv)"; done
	@$(PHASE) package
	$(PY) -m images.package
	@rc=0; $(PHASE) benchmarks; \
	  BENCH_MODELS="$(subst $(space),$(comma),$(BENCH_MODEL_LIST))" $(MAKE) --no-print-directory bench-run || rc=$$?; \
	  $(PHASE) report; $(MAKE) --no-print-directory report; $(PHASE) "load test"; \
	  $(PY) -m bench.measure.throughput --models "$(subst $(space),$(comma),$(BENCH_MODEL_LIST))" || rc=$$?; \
	  $(PHASE) "full split"; $(PY) -m bench.measure.fullsplit || rc=$$?; \
	  $(PHASE) report; $(PY) -m bench.measure.phases end; $(MAKE) --no-print-directory report; \
	  if [ $$rc != 0 ]; then echo "benchmarks: some checks failed (exit $$rc); the report shows what was measured"; fi; exit $$rc

deploy: venv  ## deploy results/winner.json's image to AWS Lambda (alias live); DEPLOY_ARGS="--dry-run ..."
	$(PY) -m deploy deploy $(DEPLOY_ARGS)

undeploy: venv  ## remove what deploy created (tag-tracked)
	$(PY) -m deploy undeploy $(DEPLOY_ARGS)

# --- ship it other ways (docs/ship.md): zip + layer, AWS SAM ------------------------------------------
SAM_VENV := build/sam-venv
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

package: models base  ## zip + layer (python3.13, x86_64 + arm64) of the TFLite function -> build/package/
	$(PY) -m images.package $(if $(filter command line environment,$(origin VARIANT)),--variant $(VARIANT))

$(SAM_VENV)/.installed: requirements/sam.lock
	@test -x $(SAM_VENV)/bin/python || $(HOST_PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q -r requirements/sam.lock
	@touch $@

sam-venv: $(SAM_VENV)/.installed  ## aws-sam-cli in its own venv (its click pin conflicts with dev.lock)

sam-validate: sam-venv  ## sam validate --lint on template.yaml (offline)
	$(SAM) validate --lint

sam-invoke: sam-venv  ## sam local invoke the winner's function; EVENT=file.json (default: a test image, base64)
	@ev="$(EVENT)"; if [ -z "$$ev" ]; then ev=build/sam-event.json; $(PY) -c "import base64, glob, json, sys; \
	  img = sorted(glob.glob(sys.argv[1] + '/test/*/*.jpg'))[0]; \
	  json.dump({'image_b64': base64.b64encode(open(img, 'rb').read()).decode()}, open(sys.argv[2], 'w'))" \
	  "$(CLOTHING_DATASET)" "$$ev"; fi; \
	  $(SAM) local invoke $$($(PY) -m images.sam function) -e "$$ev" --skip-pull-image \
	  --parameter-overrides $$($(PY) -m images.sam params)

lint: venv  ## ruff, mypy (strict on core/, runtimes/, the handler), the import rules (tests/unit/test_layers.py)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -m pytest tests/unit/test_layers.py -q -p no:cacheprovider

unit: venv  ## the fast tests: no docker, no built images, no converted model (under a minute)
	$(PY) -m pytest tests/unit -p no:cacheprovider

test: venv apt lint  ## THE TEST SUITE: lint, unit + handler + runtimes, images under the Lambda emulator, deploy vs moto, quick bench
	$(PY) -m models.convert --model reference
	$(PY) -m images.build --all --model reference
	$(PY) -m models.eval --model reference --out build/quick-results/accuracy.csv
	$(PY) -m pytest tests -p no:cacheprovider
	$(PY) -m images.package
	BENCH_QUICK=1 BENCH_RESULTS_DIR=build/quick-results $(PY) -m pytest bench --benchmark-only -p no:cacheprovider
	BENCH_QUICK=1 $(PY) -m bench.report --csv build/quick-results/latest.csv --out build/quick-results \
	  --accuracy build/quick-results/accuracy.csv
	test -s build/quick-results/report.md

clean:  ## remove build outputs (keeps the venv and committed models)
	rm -rf build/context build/models build/logs
