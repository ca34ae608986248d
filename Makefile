# facecam: the everyday commands. `make demo` and `make test` set everything up
# themselves on a fresh machine (a Python virtualenv with torch 2.11.0 for libtorch,
# plus onnx/onnxruntime as the reference peer in tests).

SHELL := /bin/bash
VENV ?= $(HOME)/.cache/facecam/venv
TORCH_VERSION := 2.11.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.facecam-torch-$(TORCH_VERSION)

# tch 0.24 builds against the torch wheel's libtorch; binaries find it at run time here.
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(VENV)/bin:$(PATH)
export LD_LIBRARY_PATH := $(shell ls -d $(VENV)/lib/python3*/site-packages/torch/lib 2>/dev/null):$(LD_LIBRARY_PATH)
export FACECAM_PYTHON := $(PY)

CARGO_TARGET_DIR ?= target
BIN := $(CARGO_TARGET_DIR)/debug
DEMO := out/demo

.PHONY: setup build demo test check clean

setup: $(STAMP)

$(STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q torch==$(TORCH_VERSION) onnx onnxruntime numpy
	touch $@

# One profile for everything (dependencies optimised, see Cargo.toml), so the demo and
# the tests share one build.
build: setup
	$(MAKE) --no-print-directory _build

_build:
	cargo build --workspace --bins

# The main job on a built-in default: until a trained default model ships, train one on
# synthetic faces (about two minutes on two CPU cores), then detect faces in the sample
# photos that ship with the repository and in held-out synthetic images.
demo: build
	$(MAKE) --no-print-directory _demo

_demo:
	$(BIN)/facecam-train synth --out $(DEMO)/synth-train --count 400 --seed 1
	$(BIN)/facecam-train synth --out $(DEMO)/synth-test --count 6 --seed 99
	$(BIN)/facecam-train train --data labelme:$(DEMO)/synth-train --input 160x120 --epochs 48 --lr 3e-3 \
	    --no-augment --device auto --out $(DEMO)/checkpoint --export $(DEMO)/model.onnx
	$(BIN)/facecam detect samples $(DEMO)/synth-test --model $(DEMO)/model.onnx --out $(DEMO)/detect
	@echo "annotated images and detections.jsonl are in $(DEMO)/detect"

test: build
	$(MAKE) --no-print-directory _test

_test:
	FACECAM_REQUIRE_PEER=1 cargo test --workspace

check:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf out target/test-scratch
